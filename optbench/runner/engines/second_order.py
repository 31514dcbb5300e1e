"""The engine of the second-order, line-search and zero-order methods (``kind`` ≠
``first_order``): their compiled loop is ``runner/second_order.py``, imported on first use
(loading its drivers takes a moment, and first-order sweeps never need them).

Besides the shared batch arrays the loop keeps its scratch (``ST``, ``HM``, ``IW``, ``SV``,
sized by each optimizer's ``layout(d)``), its counts (``CNT``), the costs at each target hit
(``HCF``, ``HCG``: gradients, gradient-equivalents) and per recorded row (``TX``).
"""
from __future__ import annotations

import numpy as np

from optbench.kernels import compile as kc
from optbench.kernels import signatures as S
from optbench.kernels.clock import tick_rate
from optbench.optimizers import so_common as K
from optbench.optimizers.linalg import (CNT_FAIL, CNT_HESS, CNT_HVP, CNT_INNER, CNT_LS,
                                        CNT_NFEV, CNT_NGEV, CNT_REJ, N_CNT)
from optbench.record import tables as T
from optbench.record.schema import grad_equiv
from optbench.validate import OptbenchInputError

from ..batch import Batch, zero_step
from .base import BatchTables, Engine, Job, timed
from .outputs import frames, run_columns, run_walls, trace_columns, trace_rows


def kernels(prob, opt):
    """(fg, value, hvp, hess) for the loop; refuses what the method cannot run on."""
    from .. import second_order as SOL

    if prob.stochastic:
        raise OptbenchInputError(
            f"optimizer {opt.name} ({opt.kind}) needs a deterministic objective; problem "
            f"{prob.name} is stochastic")
    if opt.needs_hvp and prob.HVP is None:
        raise OptbenchInputError(
            f"optimizer {opt.name} needs Hessian-vector products; problem {prob.name} has none")
    fg, val, hvp = prob.cpu_kernels()
    hvp = hvp if hvp is not None else kc.cpu(SOL.no_hvp, S.HVP_SIG)
    hess = kc.cpu(prob.HESS if prob.HESS is not None else SOL.no_hess, S.HESS_SIG)
    return fg, val, hvp, hess


def add_arrays(b: Batch) -> dict:
    """Add the loop's scratch and counts to the batch's arrays (``b.a``); returns them."""
    from .. import second_order as SOL

    prob, opts, a = b.prob, b.opts, b.a
    R, d = len(b), prob.dim
    lay = [o.layout(d) for o in opts]
    mx = {k: max(l[k] for l in lay) for k in lay[0]}
    a["ST"] = np.zeros((R, mx["rows"], d))
    a["HM"] = np.zeros((R, mx["nmat"], mx["md"], mx["md"]))
    a["IW"] = np.zeros((R, mx["niw"]), np.int64)
    a["SV"] = np.zeros((R, mx["nsv"]))
    a["HY"] = np.stack([o.hy(prob) for o in opts])
    for r, o in enumerate(opts):
        o.init_sv(a["SV"][r], d)
        n = o.n_samples(d) if o.kind == "zero_order" else None
        if n is not None:
            a["nsteps"][r] = min(a["nsteps"][r], n - 1)
    nt, nrec = a["ftg"].size, a["TRACE"].shape[1]
    a["CNT"] = np.zeros((R, N_CNT), np.int64)
    a["HCF"] = np.full((R, nt, 2), np.nan)
    a["HCG"] = np.full((R, a["gtg"].size, 2), np.nan)
    a["TX"] = np.full((R, nrec, SOL.N_TX), np.nan)
    return a


class SecondOrderEngine(Engine):
    name = "second-order"
    reason = ("the optimizer's kind is not first_order (Newton, line searches, zero order): "
              "its own loop, which counts values, gradients, HVPs and Hessians")

    def applies(self, job: Job) -> bool:
        return job.kind != "first_order"

    def compile(self, job: Job) -> float:
        from .. import second_order as SOL

        if job.device != "cpu":
            raise OptbenchInputError(f"optimizer {job.opts[0].name} runs on the CPU only, "
                                     f"not on device {job.device!r}")

        def drivers():
            kern = kernels(job.prob, job.opts[0])
            return kern, SOL.so_batch_parallel() if job.parallel_runs() else SOL.so_batch_serial
        (job.extra["kernels"], job.driver), seconds = timed(drivers)
        job.batch = Batch(job.specs, job.prob, job.opts)
        w = zero_step(add_arrays(job.batch), SOL.PER_RUN)
        return seconds + timed(job.driver, *job.extra["kernels"],
                               *[w[k] for k in SOL.ARG_NAMES])[1]

    def run(self, job: Job) -> float:
        from .. import second_order as SOL

        a = job.batch.a
        return timed(job.driver, *job.extra["kernels"], *[a[k] for k in SOL.ARG_NAMES])[1]

    def results(self, job: Job, compile_s: float, wall: float) -> BatchTables:
        from .. import second_order as SOL

        b, rate = job.batch, tick_rate()
        a, d, opts = b.a, b.prob.dim, b.opts
        walls = run_walls(a["IOUT"], rate, wall)
        cols = run_columns(b, compile_s, walls)
        cnt, hcf = a["CNT"], a["HCF"]
        nfev, ngev, nhev, nhess = (cnt[:, k] for k in (CNT_NFEV, CNT_NGEV, CNT_HVP, CNT_HESS))
        cols["message"] = [_message(o, s, c, n, m, d) for o, s, c, n, m in
                           zip(opts, cols["status"], cnt, cols["nit"].tolist(), cols["message"])]
        cols.update({"nfev": nfev, "ngev": ngev, "nhev": nhev, "nhess": nhess,
                     "grad_equiv": grad_equiv(nfev, ngev, nhev, nhess, d),
                     "n_inner": cnt[:, CNT_INNER], "n_ls_evals": cnt[:, CNT_LS],
                     "n_rejected": cnt[:, CNT_REJ],
                     "hit_ngev": hcf[:, :, 0], "hit_grad_equiv": hcf[:, :, 1]})
        for lab, j in T.table_target_index(a["ftg"]):
            cols[f"ngev_{lab}"] = hcf[:, j, 0] if j >= 0 else np.nan
            cols[f"grad_equiv_{lab}"] = hcf[:, j, 1] if j >= 0 else np.nan
        tcols, n = trace_columns(b, walls, rate)
        tx = a["TX"][trace_rows(b)[0]]
        tn = [tx[:, k] for k in (SOL.TX_NFEV, SOL.TX_NGEV, SOL.TX_NHEV, SOL.TX_NHESS)]
        tcols.update({"nfev": tn[0].astype(np.int64), "nhev": tn[2].astype(np.int64),
                      "nhess": tn[3].astype(np.int64), "grad_equiv": grad_equiv(*tn, d),
                      "step_size": tx[:, SOL.TX_ALPHA], "slope": tx[:, SOL.TX_SLOPE]})
        runs, traces = frames(self.name, b, cols, tcols, n)
        xs = [(b.x0s[r] if o.kind != "zero_order" else None, a["X"][r].copy())
              for r, o in enumerate(opts)]
        return BatchTables(runs, traces, xs)


def _message(o, status, cnt, nit, default, d):
    if status == "failed":
        return f"failed at step {nit}: {K.FAIL_MESSAGES.get(int(cnt[CNT_FAIL]), 'unknown')}"
    n_samples = o.n_samples(d) if o.kind == "zero_order" else None
    if status == "budget" and n_samples is not None and nit >= n_samples - 1:
        return f"grid exhausted ({n_samples} points)"
    return default
