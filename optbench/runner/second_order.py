"""The compiled run loop of the second-order, line-search and zero-order families.

One iteration may evaluate the objective several times (line searches, damping retries) and use
Hessian-vector products or the dense Hessian, so this loop keeps its own evaluation counts;
targets, trace sampling, divergence and stopping are loop.py's bookkeeping helpers
(``book_start``, ``quiet_step``, ``bookkeep``, ``step_scalars``, ``book_finish``), unchanged.

Conventions (as the first-order loop): step t records x_t, then the method moves to x_{t+1}.
A step that cannot be taken (singular or indefinite system, failed line search, NaN
curvature) ends the run with status ``failed`` and a message, x stays at x_t. The counts
``nfev`` (values), ``ngev`` (gradients), ``nhev`` (HVPs), ``nhess`` (dense Hessians) give
``grad_equiv = ngev + ½(nfev − ngev) + nhev + d·nhess`` (a value computed with its gradient is
free). Steps to each target are reported in iterations, gradients and gradient-equivalents.

The drivers take the problem kernels (fg, value, hvp, hess) as first-class function values with
an explicit signature: compiled once, cached on disk, shared by every (problem, method) pair.
"""
from __future__ import annotations

import math
import os
import time
import warnings

import numpy as np
from numba import njit, prange, types
from numba.core.errors import NumbaExperimentalFeatureWarning

from optbench.kernels import compile as kc
from optbench.kernels import signatures as S
from optbench.kernels.clock import _readcyclecounter
from optbench.optimizers import line_search as LS
from optbench.optimizers import second_order as SO
from optbench.optimizers import so_common as K
from optbench.optimizers import zero_order as ZO
from optbench.optimizers.linalg import (CNT_FAIL, CNT_HESS, CNT_HVP, CNT_INNER, CNT_LS,
                                        CNT_NFEV, CNT_NGEV, CNT_REJ, N_CNT)
from optbench.record import tables as T
from optbench.record.env import environment_id
from optbench.record.targets import TABLE_TARGETS
from optbench.validate import OptbenchInputError

from . import loop as L
from .batch import Batch

STATUS_FAILED = L.STATUS.index("failed")
COST_MODEL = T.COST_MODEL
TX_NFEV, TX_NGEV, TX_NHEV, TX_NHESS, TX_ALPHA, TX_SLOPE = range(6)
N_TX = 6

_newton = kc.cpu(SO.newton_step)
_damped = kc.cpu(SO.damped_step)
_sfn = kc.cpu(SO.sfn_step)
_sd = kc.cpu(LS.sd_step)
_ncg = kc.cpu(LS.ncg_step)
_lcg = kc.cpu(LS.lcg_step)
_lbfgs = kc.cpu(LS.lbfgs_step)
_zo = kc.cpu(ZO.zo_step)
_zo_point = kc.cpu(ZO.zo_point)

_OPTS = dict(cache=True, error_model="numpy")


@njit(**_OPTS)
def dispatch(method, fg, value, hvp, hess, x, g, f, st, hm, iw, sv, hy, data, idata, seed, t, cnt):
    """One iteration of the method with code ``method``: returns (f(x_{t+1}), failure code)."""
    if method == K.M_NEWTON:
        return _newton(fg, value, hvp, hess, x, g, f, st, hm, iw, sv, hy, data, idata, seed, t, cnt)
    if method == K.M_DAMPED:
        return _damped(fg, value, hvp, hess, x, g, f, st, hm, iw, sv, hy, data, idata, seed, t, cnt)
    if method == K.M_SFN:
        return _sfn(fg, value, hvp, hess, x, g, f, st, hm, iw, sv, hy, data, idata, seed, t, cnt)
    if method == K.M_SD:
        return _sd(fg, value, hvp, hess, x, g, f, st, hm, iw, sv, hy, data, idata, seed, t, cnt)
    if method == K.M_NCG:
        return _ncg(fg, value, hvp, hess, x, g, f, st, hm, iw, sv, hy, data, idata, seed, t, cnt)
    if method == K.M_LCG:
        return _lcg(fg, value, hvp, hess, x, g, f, st, hm, iw, sv, hy, data, idata, seed, t, cnt)
    if method == K.M_LBFGS:
        return _lbfgs(fg, value, hvp, hess, x, g, f, st, hm, iw, sv, hy, data, idata, seed, t, cnt)
    return _zo(fg, value, hvp, hess, x, g, f, st, hm, iw, sv, hy, data, idata, seed, t, cnt)


@njit(**_OPTS)
def grad_equiv(cnt, d):
    """The cost model: value+gradient 1, value alone ½, HVP 1, dense Hessian d."""
    return (cnt[CNT_NGEV] + 0.5 * (cnt[CNT_NFEV] - cnt[CNT_NGEV]) + cnt[CNT_HVP]
            + d * cnt[CNT_HESS])


@njit(**_OPTS)
def after_book(jf, jg, nrec, bk, trace, cnt, sv, hcf, hcg, tx, d):
    """Costs at newly hit targets; counts, step size and slope of a newly recorded row."""
    ge = grad_equiv(cnt, d)
    for j in range(jf, bk[L.B_JF]):
        hcf[j, 0] = cnt[CNT_NGEV]
        hcf[j, 1] = ge
    for j in range(jg, bk[L.B_JG]):
        hcg[j, 0] = cnt[CNT_NGEV]
        hcg[j, 1] = ge
    if bk[L.B_NREC] > nrec:
        trace[nrec, L.T_NGEV] = cnt[CNT_NGEV]
        tx[nrec, TX_NFEV] = cnt[CNT_NFEV]
        tx[nrec, TX_NGEV] = cnt[CNT_NGEV]
        tx[nrec, TX_NHEV] = cnt[CNT_HVP]
        tx[nrec, TX_NHESS] = cnt[CNT_HESS]
        tx[nrec, TX_ALPHA] = sv[K.S_ALPHA]
        tx[nrec, TX_SLOPE] = sv[K.S_SLOPE]


@njit(**_OPTS)
def so_core(fg, value, hvp, hess, x, g, st, hm, iw, sv, hy, data, idata, seed, ctl, skind, sp,
            nsteps, xstar, ftg, gtg, rec, hitf, hitg, trace, out, iout, cnt, hcf, hcg, tx):
    """One run of a second-order / line-search / zero-order method."""
    d = x.shape[0]
    bk = np.empty(L.N_BK, np.int64)
    bf = np.empty(L.N_BF)
    L.book_start(bk, bf, hitf, hitg)
    for j in range(cnt.shape[0]):
        cnt[j] = 0
    for j in range(hcf.shape[0]):
        hcf[j, 0] = np.nan
        hcf[j, 1] = np.nan
        hcg[j, 0] = np.nan
        hcg[j, 1] = np.nan
    method = int(hy[K.H_METHOD])
    zero = method >= K.M_GRID
    sv[K.S_ALPHA] = np.nan
    sv[K.S_SLOPE] = np.nan
    iout[L.I_TICK0] = _readcyclecounter()
    if zero:
        _zo_point(method, x, hy, seed, np.int64(0))
    f = fg(x, g, data, idata, seed, 0)
    cnt[CNT_NFEV] += 1
    if not zero:
        cnt[CNT_NGEV] += 1
    t = np.int64(0)       # not the literal 0: one compilation of the callees, not two
    gn = 0.0
    while True:
        s = 0.0
        for i in range(d):
            s += g[i] * g[i]
        gn = math.sqrt(s)
        if not L.quiet_step(t, f, gn, nsteps, bk, bf):
            nrec, jf, jg = bk[L.B_NREC], bk[L.B_JF], bk[L.B_JG]
            stop = L.bookkeep(t, f, gn, np.nan, x, ctl, nsteps, xstar, ftg, gtg, rec, hitf, hitg,
                              trace, bk, bf)
            after_book(jf, jg, nrec, bk, trace, cnt, sv, hcf, hcg, tx, d)
            if stop:
                break
        L.step_scalars(t, ctl, skind, sp, sv, gn)
        code = 0
        a_in, s_in = sv[K.S_ALPHA], sv[K.S_SLOPE]    # of the step that arrived at x_t
        sv[K.S_ALPHA] = 0.0             # a zero gradient is a fixed point: no step, no cost
        sv[K.S_SLOPE] = 0.0
        if gn > 0.0 or zero:
            f, code = dispatch(method, fg, value, hvp, hess, x, g, f, st, hm, iw, sv, hy, data,
                               idata, seed, t, cnt)
        if code != 0:
            cnt[CNT_FAIL] = code
            nrec = bk[L.B_NREC]
            if nrec == 0 or trace[nrec - 1, L.T_STEP] != t:    # the final point's record
                jf, jg = bk[L.B_JF], bk[L.B_JG]
                sv[K.S_ALPHA] = a_in
                sv[K.S_SLOPE] = s_in
                L.bookkeep(t, f, gn, np.nan, x, ctl, t, xstar, ftg, gtg, rec, hitf, hitg, trace,
                           bk, bf)
                after_book(jf, jg, nrec, bk, trace, cnt, sv, hcf, hcg, tx, d)
            bk[L.B_STATUS] = STATUS_FAILED
            break
        t += 1
    L.book_finish(t, f, gn, trace, out, iout, bk, bf)
    iout[L.I_NGEV] = cnt[CNT_NGEV]
    iout[L.I_NFEV] = cnt[CNT_NFEV]


_A, _IA, _A2 = S.A, S.IA, S.A2
_A3 = types.float64[:, :, ::1]
_A4 = types.float64[:, :, :, ::1]
_IA2 = types.int64[:, ::1]
HVP_T = types.FunctionType(S.HVP_SIG)
HESS_T = types.FunctionType(S.HESS_SIG)
ARG_NAMES = ("X", "G", "ST", "HM", "IW", "SV", "HY", "data", "idata", "seeds", "CTL", "skinds",
             "SP", "nsteps", "xstar", "ftg", "gtg", "rec", "HITF", "HITG", "TRACE", "OUT", "IOUT",
             "CNT", "HCF", "HCG", "TX")
PER_RUN = {"X", "G", "ST", "HM", "IW", "SV", "HY", "seeds", "CTL", "skinds", "SP", "nsteps",
           "HITF", "HITG", "TRACE", "OUT", "IOUT", "CNT", "HCF", "HCG", "TX"}
SO_SIG = types.void(S.FG_T, S.VALUE_T, HVP_T, HESS_T,
                    _A2, _A2, _A3, _A4, _IA2, _A2, _A2, _A, _IA, _IA, _A2, _IA, _A2, _IA,
                    _A, _A, _A, _IA, _IA2, _IA2, _A3, _A2, _IA2, _IA2, _A3, _A3, _A3)


def _batch(fg, value, hvp, hess, X, G, ST, HM, IW, SV, HY, data, idata, seeds, CTL, skinds, SP,
           nsteps, xstar, ftg, gtg, rec, HITF, HITG, TRACE, OUT, IOUT, CNT, HCF, HCG, TX):
    for r in prange(X.shape[0]):
        so_core(fg, value, hvp, hess, X[r], G[r], ST[r], HM[r], IW[r], SV[r], HY[r], data, idata,
                seeds[r], CTL[r], skinds[r], SP[r], nsteps[r], xstar, ftg, gtg, rec, HITF[r],
                HITG[r], TRACE[r], OUT[r], IOUT[r], CNT[r], HCF[r], HCG[r], TX[r])


def _compile(**opts):
    # numba flags first-class function types as experimental: the design relies on them
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NumbaExperimentalFeatureWarning)
        name = "so_batch_parallel" if opts.get("parallel") else "so_batch_serial"
        return njit(SO_SIG, **opts, **_OPTS)(L._named(_batch, name))


so_batch_serial = _compile()
_PARALLEL: list = []


def so_batch_parallel():
    """The prange-over-runs driver, compiled (or loaded from the cache) on first use."""
    if not _PARALLEL:
        _PARALLEL.append(_compile(parallel=True))
    return _PARALLEL[0]


@kc.kernel
def no_hess(x, H, data, idata):
    """Placeholder HESS kernel of problems without one (the loop then assembles from HVPs)."""
    pass


@kc.kernel
def no_hvp(x, v, out, data, idata):
    """Placeholder HVP kernel (never called: methods that need HVPs are refused)."""
    for i in range(out.shape[0]):
        out[i] = math.nan


def _kernels(prob, opt):
    if prob.stochastic:
        raise OptbenchInputError(
            f"optimizer {opt.name} ({opt.kind}) needs a deterministic objective; problem "
            f"{prob.name} is stochastic")
    needs_hvp = opt.needs_hvp
    if needs_hvp and prob.HVP is None:
        raise OptbenchInputError(
            f"optimizer {opt.name} needs Hessian-vector products; problem {prob.name} has none")
    fg, val, hvp = prob.cpu_kernels()
    hvp = hvp if hvp is not None else kc.cpu(no_hvp, S.HVP_SIG)
    hess = kc.cpu(prob.HESS, S.HESS_SIG) if prob.HESS is not None else kc.cpu(no_hess,
                                                                               S.HESS_SIG)
    return fg, val, hvp, hess


def arrays(b: Batch) -> dict:
    """The driver's arrays: the shared Batch ones plus this loop's scratch and counts."""
    prob, opts, a = b.prob, b.opts, dict(b.a)
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
    a["TX"] = np.full((R, nrec, N_TX), np.nan)
    return a


def run_batch(batch, *, parallel: bool | None = None, prob=None, opts=None):
    """Run specs that share problem, method, budget, recording and targets (as
    ``execute.run_batch``); returns (rows, traces, [(x0, x)])."""
    from .execute import tick_rate

    t_c0 = time.perf_counter()
    prob = prob if prob is not None else batch[0].build_problem()
    opts = opts if opts is not None else [s.build_optimizer() for s in batch]
    if batch[0].device != "cpu":
        raise OptbenchInputError(f"optimizer {opts[0].name} runs on the CPU only, "
                                 f"not on device {batch[0].device!r}")
    kern = _kernels(prob, opts[0])
    b = Batch(batch, prob, opts)
    a = arrays(b)
    compile_s = time.perf_counter() - t_c0
    if not prob.parallel_safe:
        parallel = False
    if parallel is None:
        parallel = len(b) > 1 and (os.cpu_count() or 1) > 1
    drv = so_batch_parallel() if parallel else so_batch_serial
    one = [a[k][:1].copy() if k in PER_RUN else a[k] for k in ARG_NAMES]
    one[ARG_NAMES.index("nsteps")] = np.zeros(1, np.int64)
    t_w = time.perf_counter()
    drv(*kern, *one)
    compile_s += time.perf_counter() - t_w
    t0 = time.perf_counter()
    drv(*kern, *[a[k] for k in ARG_NAMES])
    wall = time.perf_counter() - t0
    return results(b, a, compile_s, wall, tick_rate())


def _message(o, status, cnt, nit, n_samples):
    if status == "failed":
        return f"failed at step {nit}: {K.FAIL_MESSAGES.get(int(cnt[CNT_FAIL]), 'unknown')}"
    if status == "budget" and n_samples is not None and nit >= n_samples - 1:
        return f"grid exhausted ({n_samples} points)"
    return None


def results(b: Batch, a: dict, compile_s: float, batch_wall: float, rate: float):
    prob, R, d = b.prob, len(b), b.prob.dim
    rows, traces, xf = [], [], []
    env = environment_id()
    ladder = a["ftg"]
    for r, (s, o) in enumerate(zip(b.specs, b.opts)):
        iout = a["IOUT"][r].copy()
        cnt = a["CNT"][r]
        failed = iout[L.I_STATUS] == STATUS_FAILED
        if failed:
            iout[L.I_STATUS] = 1          # placeholder for tables.run_row; fixed below
        nrec = int(iout[L.I_NREC])
        tr = a["TRACE"][r, :nrec]
        if rate > 0:
            wall = (iout[L.I_TICK1] - iout[L.I_TICK0]) / rate
            tsec = (tr[:, L.T_TICKS] - iout[L.I_TICK0]) / rate
        else:
            wall = batch_wall / R
            tsec = wall * (tr[:, L.T_STEP] + 1) / (iout[L.I_NIT] + 1)
        row = T.run_row(s, o, prob, a["OUT"][r], iout, a["HITF"][r], a["HITG"][r], ladder, wall,
                        compile_s, R, env)
        nit = int(iout[L.I_NIT])
        status = "failed" if failed else row["status"]
        msg = _message(o, status, cnt, nit, o.n_samples(d) if o.kind == "zero_order" else None)
        ge = float(cnt[CNT_NGEV] + 0.5 * (cnt[CNT_NFEV] - cnt[CNT_NGEV]) + cnt[CNT_HVP]
                   + d * cnt[CNT_HESS])
        row.update({"status": status, "kind": o.kind, "nfev": int(cnt[CNT_NFEV]),
                    "ngev": int(cnt[CNT_NGEV]), "nhev": int(cnt[CNT_HVP]),
                    "nhess": int(cnt[CNT_HESS]), "grad_equiv": ge, "cost_model": COST_MODEL,
                    "n_inner": int(cnt[CNT_INNER]), "n_ls_evals": int(cnt[CNT_LS]),
                    "n_rejected": int(cnt[CNT_REJ])})
        if msg:
            row["message"] = msg
        hcf = a["HCF"][r]
        row["hit_ngev"] = [float(v) for v in hcf[:, 0]]
        row["hit_grad_equiv"] = [float(v) for v in hcf[:, 1]]
        for tg in TABLE_TARGETS:
            j = np.nonzero(np.isclose(ladder, tg, rtol=1e-9, atol=0))[0]
            lab = T.target_label(tg)
            row[f"ngev_{lab}"] = float(hcf[j[0], 0]) if j.size else np.nan
            row[f"grad_equiv_{lab}"] = float(hcf[j[0], 1]) if j.size else np.nan
        rows.append(row)
        tf = T.trace_frame(s.run_id, tr, tsec)
        tx = a["TX"][r, :nrec]
        tf["nfev"] = tx[:, TX_NFEV].astype(np.int64)
        tf["nhev"] = tx[:, TX_NHEV].astype(np.int64)
        tf["nhess"] = tx[:, TX_NHESS].astype(np.int64)
        tf["grad_equiv"] = (tx[:, TX_NGEV] + 0.5 * (tx[:, TX_NFEV] - tx[:, TX_NGEV])
                            + tx[:, TX_NHEV] + d * tx[:, TX_NHESS])
        tf["step_size"] = tx[:, TX_ALPHA]
        tf["slope"] = tx[:, TX_SLOPE]
        traces.append(tf)
        xf.append((b.x0s[r] if o.kind != "zero_order" else None, a["X"][r].copy()))
    return rows, traces, xf
