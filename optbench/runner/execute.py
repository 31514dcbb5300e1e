"""Execute run specs on the CPU: group them into batches of one (problem, optimizer family)
pair, run each batch in one compiled call, and return the runs and traces as tables."""
from __future__ import annotations

import json
import math
import os
import time
from collections import defaultdict

import numpy as np
import pandas as pd
from numba import njit

from functools import partial

from optbench.kernels import compile as kc
from optbench.kernels import signatures as S
from optbench.kernels.clock import _readcyclecounter
from optbench.optimizers.base import N_SCALARS
from optbench.record import tables as T
from optbench.record.env import environment_id
from optbench.record.targets import record_steps

from . import loop as L
from .fused import fused_driver

FUSED_MIN_DIM = 4096  # separable problems at least this large use the fused parallel loop
from .spec import RunSpec


@njit(cache=True)
def _ticks():
    return _readcyclecounter()


def _record_array(spec: RunSpec) -> np.ndarray:
    rec = spec.record
    if rec.startswith("list:"):
        rec = [int(s) for s in rec[5:].split(",") if s]
    return record_steps(spec.steps, rec)


def _group_key(spec: RunSpec):
    o = spec.optimizer_params
    return (spec.problem, o["optimizer"], bool(o.get("amsgrad", False)), spec.steps, spec.record,
            spec.targets)


def execute(specs: list[RunSpec], *, parallel: bool | None = None, progress=None,
            keep_x: bool = False):
    """Run every spec; returns (runs DataFrame, traces DataFrame[, final x list])."""
    groups: dict = defaultdict(list)
    for i, s in enumerate(specs):
        groups[_group_key(s)].append(i)
    run_rows: list = [None] * len(specs)
    trace_parts: list = [None] * len(specs)
    xs: list = [None] * len(specs)
    for idx in groups.values():
        batch = [specs[i] for i in idx]
        try:
            rows, traces, xf = run_batch(batch, parallel=parallel)
        except Exception as exc:  # a failure is a status, never a lost row
            rows = [T.error_row(s, f"{type(exc).__name__}: {exc}") for s in batch]
            traces = [T.empty_trace(s.run_id) for s in batch]
            xf = [None] * len(batch)
        for j, i in enumerate(idx):
            run_rows[i], trace_parts[i], xs[i] = rows[j], traces[j], xf[j]
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
    s0 = batch[0]
    t_c0 = time.perf_counter()
    prob = s0.build_problem()
    opts = [s.build_optimizer() for s in batch]
    fused = prob.elementwise() and prob.dim >= FUSED_MIN_DIM
    if not prob.parallel_safe:
        parallel = False
    if fused:
        fg = val = upd = met_k = None
    else:
        fg, val, _ = prob.cpu_kernels()
        upd = opts[0].cpu_update()
        met_k = kc.cpu(prob.METRICS or L.no_metrics, S.METRICS_SIG)
    compile_s = time.perf_counter() - t_c0

    R, d = len(batch), prob.dim
    ns = max(1, opts[0].n_state())
    X = np.empty((R, d))
    ST = np.zeros((R, ns, d))
    SC = np.zeros((R, N_SCALARS))
    hys = [o.hyper_array() for o in opts]
    HY = np.zeros((R, max(len(h) for h in hys)))
    CTL = np.zeros((R, L.N_CTL))
    SP = np.zeros((R, 6))
    skinds = np.zeros(R, np.int64)
    seeds = np.array([s.seed for s in batch], np.int64)
    nsteps = np.array([s.steps for s in batch], np.int64)
    fstar = prob.f_star
    for r, (s, o) in enumerate(zip(batch, opts)):
        X[r] = np.asarray(s.x0) if s.x0 is not None else prob.x0(s.seed)
        st, sc = o.init_state(d)
        ST[r], SC[r] = st, sc
        HY[r, :len(hys[r])] = hys[r]
        wd, dwd = o.weight_decay
        CTL[r] = [wd, dwd, o.clip_norm or 0.0, o.clip_value or 0.0,
                  np.nan if fstar is None else fstar, 1e8, s.gtol,
                  1.0 if prob.stochastic else 0.0,
                  {"budget": 0.0, "target": 1.0 if fstar is not None else 2.0, "gtol": 2.0}[s.stop],
                  o.lr]
        skinds[r], SP[r] = o.schedule.arrays(s.steps)
    x0s = X.copy()
    xstar = prob.x_star
    xstar = np.zeros(0) if xstar is None else np.ascontiguousarray(xstar, dtype=np.float64)
    ftg = np.array(s0.targets, dtype=np.float64)
    gtg = ftg.copy()
    rec = _record_array(s0)
    nrec_max = rec.size + 1
    HITF = np.zeros((R, ftg.size), np.int64)
    HITG = np.zeros((R, gtg.size), np.int64)
    TRACE = np.zeros((R, nrec_max, L.N_TRACE))
    OUT = np.zeros((R, L.N_OUT))
    IOUT = np.zeros((R, L.N_IOUT), np.int64)
    G = np.zeros((R, d)) if not fused else None
    names = prob.metric_names()
    MET = np.zeros((R, nrec_max, len(names)))
    if fused:
        compile_s, batch_wall = _call_fused(prob, opts[0], X, ST, SC, HY, CTL, skinds, SP, nsteps,
                                            xstar, ftg, gtg, rec, HITF, HITG, TRACE, OUT, IOUT,
                                            compile_s)
    else:
        if parallel is None:
            parallel = R > 1 and (os.cpu_count() or 1) > 1
        arrays = [X, G, ST, SC, HY, prob.data, prob.idata, seeds, CTL, skinds, SP, nsteps, xstar,
                  ftg, gtg, rec, HITF, HITG, TRACE, MET, OUT, IOUT]
        driver = partial(L.batch_parallel if parallel else L.batch_serial, fg, val, upd, met_k)
        compile_s, batch_wall = _call_batch(driver, arrays, compile_s)
    rate = tick_rate()
    rows, traces, xf = [], [], []
    for r, (s, o) in enumerate(zip(batch, opts)):
        nrec = int(IOUT[r, L.I_NREC])
        tr = TRACE[r, :nrec]
        if rate > 0:
            wall = (IOUT[r, L.I_TICK1] - IOUT[r, L.I_TICK0]) / rate
            tsec = (tr[:, L.T_TICKS] - IOUT[r, L.I_TICK0]) / rate
        else:  # no cycle counter: spread the batch's wall time by steps
            wall = batch_wall / R
            tsec = wall * (tr[:, L.T_STEP] + 1) / (IOUT[r, L.I_NIT] + 1)
        rows.append(T.run_row(s, o, prob, OUT[r], IOUT[r], HITF[r], HITG[r], ftg, wall,
                              compile_s, R, environment_id()))
        tf = T.trace_frame(s.run_id, tr, tsec)
        for k, name in enumerate(names):
            tf[name] = MET[r, :nrec, k]
        traces.append(tf)
        xf.append((x0s[r], X[r].copy()))
    return rows, traces, xf


def _call_batch(driver, arrays, compile_s):
    """Warm up on a one-run, zero-step copy (loads the machine code), then time the batch."""
    one = [a[:1].copy() if i in _PER_RUN else a for i, a in enumerate(arrays)]
    one[11] = np.zeros(1, np.int64)   # nsteps
    t_w = time.perf_counter()
    driver(*one)
    compile_s += time.perf_counter() - t_w
    t0 = time.perf_counter()
    driver(*arrays)
    return compile_s, time.perf_counter() - t0


# positions of the per-run arrays in the batch argument list (the others are shared)
_PER_RUN = {0, 1, 2, 3, 4, 7, 8, 9, 10, 11, 16, 17, 18, 19, 20, 21}


def _call_fused(prob, opt, X, ST, SC, HY, CTL, skinds, SP, nsteps, xstar, ftg, gtg, rec, HITF,
                HITG, TRACE, OUT, IOUT, compile_s):
    t_c = time.perf_counter()
    drv = fused_driver(prob, opt)
    drv(X[0].copy(), ST[0].copy(), SC[0].copy(), HY[0].copy(), prob.data, prob.idata,
        CTL[0].copy(), skinds[0], SP[0].copy(), 0, xstar, ftg, gtg, rec, HITF[0].copy(),
        HITG[0].copy(), TRACE[0].copy(), OUT[0].copy(), IOUT[0].copy())
    compile_s += time.perf_counter() - t_c
    t0 = time.perf_counter()
    for r in range(X.shape[0]):
        drv(X[r], ST[r], SC[r], HY[r], prob.data, prob.idata, CTL[r], skinds[r], SP[r], nsteps[r],
            xstar, ftg, gtg, rec, HITF[r], HITG[r], TRACE[r], OUT[r], IOUT[r])
    return compile_s, time.perf_counter() - t0
