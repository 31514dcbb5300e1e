"""Execute run specs on the CPU: group them into batches of one (problem, optimizer family)
pair, run each batch in one compiled call, and return the runs and traces as tables."""
from __future__ import annotations

import os
import time
from collections import defaultdict
from functools import partial

import numpy as np
import pandas as pd
from numba import njit

from optbench.kernels import compile as kc
from optbench.kernels import signatures as S
from optbench.kernels.clock import _readcyclecounter
from optbench.record import tables as T

from . import loop as L
from .batch import Batch
from .fused import fused_driver
from .lockstep import LOCKSTEP_K, LOCKSTEP_MAX_DIM, lockstep_driver

SPECIAL_MIN_STEPS = 10_000  # single runs at least this long use the pair-specialised driver
SPECIAL_MIN_WORK = 10_000_000  # and batches of at least this many steps in all
FUSED_MIN_DIM = 4096  # separable problems at least this large use the fused parallel loop
from .spec import RunSpec


@njit(cache=True)
def _ticks():
    return _readcyclecounter()


def _group_key(spec: RunSpec):
    o = spec.optimizer_params
    return (spec.problem, o["optimizer"], bool(o.get("amsgrad", False)), spec.steps, spec.record,
            spec.targets, spec.device, spec.dtype)


def execute(specs: list[RunSpec], *, parallel: bool | None = None, progress=None,
            keep_x: bool = False):
    """Run every spec; returns (runs DataFrame, traces DataFrame[, final x list])."""
    groups: dict = defaultdict(list)
    for i, s in enumerate(specs):
        groups[_group_key(s)].append(i)
    run_rows: list = [None] * len(specs)
    trace_parts: list = []
    xs: list = [None] * len(specs)
    for idx in groups.values():
        batch = [specs[i] for i in idx]
        try:
            rows, traces, xf = run_batch(batch, parallel=parallel)
        except Exception as exc:  # a failure is a status, never a lost row
            rows = [T.error_row(s, f"{type(exc).__name__}: {exc}") for s in batch]
            traces = T.empty_trace("")
            xf = [None] * len(batch)
        # a batch's traces: one frame (or a list of per-run frames)
        trace_parts.append(traces if isinstance(traces, pd.DataFrame) else
                           T.traces_frame(traces))
        for j, i in enumerate(idx):
            run_rows[i], xs[i] = rows[j], xf[j]
        if progress is not None:
            progress(len(batch), sum(r["status"] in ("diverged", "error") for r in rows))
    runs = T.runs_frame(run_rows)
    traces = T.traces_frame(trace_parts)
    return (runs, traces, xs) if keep_x else (runs, traces)


_TICK_RATE: list = []


def tick_rate() -> float:
    """Cycle-counter ticks per second (0 if the counter is unavailable), measured once."""
    if not _TICK_RATE:
        _ticks()
        t0, k0 = time.perf_counter(), _ticks()
        while time.perf_counter() - t0 < 0.02:
            pass
        t1, k1 = time.perf_counter(), _ticks()
        _TICK_RATE.append((k1 - k0) / (t1 - t0) if k1 > k0 else 0.0)
    return _TICK_RATE[0]


def run_batch(batch: list[RunSpec], *, parallel: bool | None = None):
    """Run specs that share problem, optimizer family, budget, recording and targets."""
    t_c0 = time.perf_counter()
    prob = batch[0].build_problem()
    memo: dict = {}   # a sweep's runs share few distinct optimizer specs (built once each)
    opts = [memo[s.optimizer] if s.optimizer in memo
            else memo.setdefault(s.optimizer, s.build_optimizer()) for s in batch]
    if getattr(opts[0], "kind", "first_order") != "first_order":
        from . import second_order
        return second_order.run_batch(batch, parallel=parallel, prob=prob, opts=opts)
    if batch[0].device == "cuda":
        from optbench.cuda.execute import run_batch_cuda
        return run_batch_cuda(batch, prob, opts)
    fused = prob.elementwise() and prob.dim >= FUSED_MIN_DIM
    if not fused:
        fg, val, _ = prob.cpu_kernels()
        upd = opts[0].cpu_update()
        met_k = kc.cpu(prob.METRICS or L.no_metrics, S.METRICS_SIG)
    compile_s = time.perf_counter() - t_c0
    b = Batch(batch, prob, opts)
    if fused:
        a = b.a
        compile_s, batch_wall = _call_fused(prob, opts[0], a["X"], a["ST"], a["SC"], a["HY"],
                                            a["CTL"], a["skinds"], a["SP"], a["nsteps"],
                                            a["xstar"], a["ftg"], a["gtg"], a["rec"], a["HITF"],
                                            a["HITG"], a["TRACE"], a["OUT"], a["IOUT"], compile_s)
    else:
        if not prob.parallel_safe:
            parallel = False
        if parallel is None:
            parallel = len(b) > 1 and (os.cpu_count() or 1) > 1
        if use_lockstep(prob, len(b), batch[0].steps):
            # a sweep of small runs: stepped together, chunk by chunk (bit-identical results)
            t_s = time.perf_counter()
            driver = lockstep_driver(prob, opts[0], parallel)
            compile_s += time.perf_counter() - t_s
        elif use_special(prob, len(b), batch[0].steps):
            # long work: the pair's kernels inlined (compiled once per pair, cached on disk)
            t_s = time.perf_counter()
            driver = L.special_driver(prob, opts[0], parallel)
            compile_s += time.perf_counter() - t_s
        else:
            driver = partial(L.batch_parallel if parallel else L.batch_serial, fg, val, upd,
                             met_k)
        t_w = time.perf_counter()
        driver(*b.warmup_args())
        compile_s += time.perf_counter() - t_w
        t0 = time.perf_counter()
        driver(*b.args())
        batch_wall = time.perf_counter() - t0
    return b.results(compile_s, batch_wall, tick_rate())


def use_lockstep(prob, runs: int, steps: int) -> bool:
    """Whether a batch runs in the lockstep driver: small problems (d <= LOCKSTEP_MAX_DIM), at
    least two chunks of runs, and SPECIAL_MIN_WORK steps in all (its compilation, seconds
    once per pair and then cached, must pay for itself)."""
    return prob.dim <= LOCKSTEP_MAX_DIM and runs >= 2 * LOCKSTEP_K \
        and runs * steps >= SPECIAL_MIN_WORK


def use_special(prob, runs: int, steps: int) -> bool:
    """Whether a batch is long enough to pay for compiling its pair-specialised driver once
    (seconds, then cached on disk): a single run of SPECIAL_MIN_STEPS steps, or a batch of
    SPECIAL_MIN_WORK steps in all. Stochastic problems keep the generic driver."""
    if prob.stochastic:
        return False
    return (runs == 1 and steps >= SPECIAL_MIN_STEPS) or runs * steps >= SPECIAL_MIN_WORK


def _call_fused(prob, opt, X, ST, SC, HY, CTL, skinds, SP, nsteps, xstar, ftg, gtg, rec, HITF,
                HITG, TRACE, OUT, IOUT, compile_s):
    t_c = time.perf_counter()
    drv = fused_driver(prob, opt)
    scratch = (np.empty(L.N_BK, np.int64), np.empty(L.N_BF), np.empty(4))
    drv(X[0].copy(), ST[0].copy(), SC[0].copy(), HY[0].copy(), prob.data, prob.idata,
        CTL[0].copy(), skinds[0], SP[0].copy(), 0, xstar, ftg, gtg, rec, HITF[0].copy(),
        HITG[0].copy(), TRACE[0].copy(), OUT[0].copy(), IOUT[0].copy(), *scratch)
    compile_s += time.perf_counter() - t_c
    t0 = time.perf_counter()
    for r in range(X.shape[0]):
        drv(X[r], ST[r], SC[r], HY[r], prob.data, prob.idata, CTL[r], skinds[r], SP[r], nsteps[r],
            xstar, ftg, gtg, rec, HITF[r], HITG[r], TRACE[r], OUT[r], IOUT[r], *scratch)
    return compile_s, time.perf_counter() - t0
