"""The engine of the bridges (``optbench/bridges.py``: torch.optim classes, optax
transformations): a Python loop per step around the bridged optimizer, with the compiled loop's
bookkeeping (``loop.book_start`` / ``bookkeep`` / ``book_finish``: targets, divergence, stop
rules, trace sampling) and the batch arrays of every engine, so its tables are the compiled
path's. The gradient is the problem's compiled kernel (``fg(x, g, data, idata, seed, t)``, the
one ``problem.value_and_grad(x, seed, t)`` calls); stochastic problems take the full-batch f
at recorded points, as in the compiled loop.

A run whose bridged step raises becomes an ``error`` row with the exception as its message;
the batch's other runs go on.
"""
from __future__ import annotations

import math
import time

import numpy as np

from optbench.kernels import compile as kc
from optbench.kernels import signatures as S
from optbench.kernels.clock import _ticks, tick_rate
from optbench.validate import OptbenchInputError

from .. import loop as L
from ..batch import Batch
from .base import BatchTables, Engine, Job
from .outputs import first_order_tables

_ERROR = L.STATUS.index("error")


def run_one(prob, opt, step, a: dict, r: int, kernels) -> str | None:
    """Run r of the batch arrays ``a`` (in place) with ``step`` (``opt.stepper`` on row r of
    ``a["X"]``); returns an error message or None."""
    fg, value, metrics = kernels
    x, g = a["X"][r], a["G"][r]
    ctl, nsteps, sp, seed = a["CTL"][r], int(a["nsteps"][r]), a["SP"][r], int(a["seeds"][r])
    hitf, hitg, trace, met = a["HITF"][r], a["HITG"][r], a["TRACE"][r], a["MET"][r]
    data, idata, rec = prob.data, prob.idata, a["rec"]
    bk, bf = np.empty(L.N_BK, np.int64), np.empty(L.N_BF)
    L.book_start(bk, bf, hitf, hitg)
    stoch = prob.stochastic
    t, err = 0, None
    a["IOUT"][r, L.I_TICK0] = _ticks()
    while True:
        f = fg(x, g, data, idata, seed, t)
        gn = math.sqrt(float(g @ g))
        quiet = False
        if stoch:   # the minibatch f is not the objective (see loop.run_core)
            quiet = not (bk[L.B_JR] < rec.shape[0] and rec[bk[L.B_JR]] == t) and t < nsteps \
                and math.isfinite(f) and math.isfinite(gn)
            if not quiet:
                f = value(x, data, idata)
        if not quiet and not L.quiet_step(t, f, gn, nsteps, bk, bf):
            nrec = bk[L.B_NREC]
            stop = L.bookkeep(t, f, gn, np.nan, x, ctl, nsteps, a["xstar"], a["ftg"], a["gtg"],
                              rec, hitf, hitg, trace, bk, bf, sp)
            if bk[L.B_NREC] > nrec and met.shape[1] > 0:
                metrics(x, data, idata, met[nrec])
            if stop:
                break
        try:
            step(g)
        except Exception as exc:  # noqa: BLE001 - the bridged optimizer's failure: this run's
            err = f"{type(exc).__name__} in {opt.name} step {t}: {str(exc).splitlines()[0]}"
            break
        t += 1
    L.book_finish(t, f, gn, trace, a["OUT"][r], a["IOUT"][r], bk, bf)
    if err is not None:
        a["IOUT"][r, L.I_STATUS] = _ERROR
    return err


class BridgeEngine(Engine):
    name = "bridge"
    reason = ("a bridged optimizer (torch.optim class, optax transformation): a Python loop "
              "per step with the compiled loop's bookkeeping")

    def applies(self, job: Job) -> bool:
        return bool(getattr(job.opts[0], "bridge", False))

    def compile(self, job: Job) -> float:
        if job.device != "cpu":
            raise OptbenchInputError(f"the {job.opts[0].name} bridge runs on the CPU only")
        t0 = time.perf_counter()
        prob = job.prob
        fg, value, _ = prob.cpu_kernels()
        metrics = (kc.cpu(prob.METRICS, S.METRICS_SIG) if prob.METRICS is not None
                   and prob.metric_names() else None)
        job.extra["kernels"] = (fg, value, metrics)
        job.batch = b = Batch(job.specs, prob, job.opts)
        blocks = prob.blocks()     # building a stepper compiles it (jax.jit), before the clock
        job.extra["steppers"] = [o.stepper(b.a["X"][r], blocks) for r, o in enumerate(b.opts)]
        return time.perf_counter() - t0

    def run(self, job: Job) -> float:
        b = job.batch
        t0 = time.perf_counter()
        job.extra["errors"] = [run_one(b.prob, o, step, b.a, r, job.extra["kernels"])
                               for r, (o, step) in enumerate(zip(b.opts,
                                                                 job.extra["steppers"]))]
        return time.perf_counter() - t0

    def results(self, job: Job, compile_s: float, wall: float) -> BatchTables:
        b = job.batch
        out = first_order_tables(self.name, b, compile_s, wall, tick_rate(), kind="first_order",
                                 lr=[o.lr for o in b.opts])   # optax: learning_rate
        errors = job.extra["errors"]
        if any(e is not None for e in errors):
            msg = out.runs["message"].copy()
            for r, e in enumerate(errors):
                if e is not None:
                    msg.iloc[r] = e
            out.runs["message"] = msg
        return out
