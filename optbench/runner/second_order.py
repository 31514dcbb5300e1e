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
Its engine (arrays, warm-up, timing, tables) is ``runner/engines/second_order.py``.
"""
from __future__ import annotations

import math
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
from optbench.optimizers.linalg import CNT_FAIL, CNT_HESS, CNT_HVP, CNT_NFEV, CNT_NGEV
from optbench.record import schema

from . import loop as L

STATUS_FAILED = L.STATUS.index("failed")
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


_cost = njit(inline="always", **_OPTS)(schema.grad_equiv)


@njit(**_OPTS)
def grad_equiv(cnt, d):
    """The cost model (``record/schema.py``): value+gradient 1, value alone ½, HVP 1, dense
    Hessian d."""
    return _cost(cnt[CNT_NFEV], cnt[CNT_NGEV], cnt[CNT_HVP], cnt[CNT_HESS], d)


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
        gn = math.sqrt(L.grad_sumsq(g, d))
        if not L.quiet_step(t, f, gn, nsteps, bk, bf):
            nrec, jf, jg = bk[L.B_NREC], bk[L.B_JF], bk[L.B_JG]
            stop = L.bookkeep(t, f, gn, np.nan, x, ctl, nsteps, xstar, ftg, gtg, rec, hitf, hitg,
                              trace, bk, bf, sp)
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
                           bk, bf, sp)
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
