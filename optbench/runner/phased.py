"""The compiled run loop of contract-v2 optimizers (``optimizers/phased.py``): the loop of
``loop.run_core`` with the update replaced by the step protocol.

Per step t: gradient at x_t (counted), bookkeeping on f(x_t) (targets, divergence, trace),
schedule / clipping / weight decay as in ``run_core``, then ``step(x, g, st, sc, hy, blk,
wk, stage)`` for stage 0, 1, … until it returns DONE, serving its requests in between: a
gradient at ``wk[0]`` (the step's minibatch, modified like g; one more gradient), or a
Hessian-vector product at x along ``wk[0]`` (one more HVP). Recorded rows carry the true
running counts (``ngev``; ``PH[:, 0]`` the HVPs) and, for optimizers with an averaged point
(``avg``), f at that point (``PH[:, 1]``, the traces column ``f_avg``).

``phased_serial`` / ``phased_parallel`` take the kernels as first-class function values
with explicit signatures, like ``loop.batch_serial``: compiled once, cached on disk, they
serve every (problem, optimizer) pair, so a new optimizer costs the compilation of its own
step only.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
from numba import njit, prange, types
from numba.core.errors import NumbaExperimentalFeatureWarning

from optbench.kernels import signatures as S
from optbench.kernels.clock import _readcyclecounter
from optbench.kernels.compile import kernel

from . import loop as L
from .loop import (B_NREC, C_CLIPN, C_CLIPV, C_MAX, C_STOCH, C_WD, I_NFEV, I_NGEV, I_NHEV,
                   I_TICK0, T_NGEV, book_finish, book_start, bookkeep, grad_sumsq,
                   is_record_step, modified_grad, modify_step, quiet_step, step_scalars)

PH_NHEV, PH_FAVG = 0, 1
N_PH = 2


@njit(cache=True, inline="always", _nrt=False)
@kernel
def modify_request(gp, xp, ctl):
    """The requested gradient gp at xp, modified as the loop modifies g: norm clipping by its
    own norm, value clipping, coupled weight decay at xp, sign under maximize."""
    coef = 1.0
    cn = ctl[C_CLIPN]
    if cn > 0.0:
        s = 0.0
        for i in range(gp.shape[0]):
            s += gp[i] * gp[i]
        c = cn / (math.sqrt(s) + 1e-6)
        if c < 1.0:
            coef = c
    if ctl[C_MAX] != 0.0:
        coef = -coef
    cv = ctl[C_CLIPV]
    wd = ctl[C_WD]
    if coef != 1.0 or cv > 0.0 or wd != 0.0:
        for i in range(gp.shape[0]):
            gp[i] = modified_grad(gp[i], xp[i], coef, cv, wd)


@njit(cache=True, _nrt=False)
@kernel
def phased_core(fg, value, hvp, step, avg, metrics, has_avg, x, g, st, sc, hy, data, idata,
                seed, ctl, skind, sp, nsteps, xstar, ftargets, gtargets, rec, hitf, hitg,
                trace, met, ph, out, iout, bk, bf, blk, wk):
    """One run of a contract-v2 optimizer (see the module docstring)."""
    d = x.shape[0]
    book_start(bk, bf, hitf, hitg)
    stoch = ctl[C_STOCH] != 0.0
    t = 0
    ngev = 0
    nhev = 0
    iout[I_TICK0] = _readcyclecounter()
    while True:
        f = fg(x, g, data, idata, seed, t)
        ngev += 1
        gn = math.sqrt(grad_sumsq(g, d))
        quiet = False
        if stoch:
            quiet = not is_record_step(bk, rec, t) and t < nsteps and math.isfinite(f) \
                and math.isfinite(gn)
            if not quiet:
                f = value(x, data, idata)
        if not quiet and not quiet_step(t, f, gn, nsteps, bk, bf):
            nrec = bk[B_NREC]
            stop = bookkeep(t, f, gn, np.nan, x, ctl, nsteps, xstar, ftargets, gtargets, rec,
                            hitf, hitg, trace, bk, bf, sp)
            if bk[B_NREC] > nrec:
                trace[nrec, T_NGEV] = ngev
                ph[nrec, PH_NHEV] = nhev
                if has_avg:
                    avg(x, st, sc, hy, wk[2])
                    ph[nrec, PH_FAVG] = value(wk[2], data, idata)
                else:
                    ph[nrec, PH_FAVG] = np.nan
                if met.shape[1] > 0:
                    metrics(x, data, idata, met[nrec])
            if stop:
                break
        coef = step_scalars(t, ctl, skind, sp, sc, gn)
        modify_step(x, g, sc, ctl, coef)
        stage = 0
        while True:
            req = step(x, g, st, sc, hy, blk, wk, stage)
            if req == 0:
                break
            if req == 1:
                fg(wk[0], wk[1], data, idata, seed, t)
                ngev += 1
                modify_request(wk[1], wk[0], ctl)
            elif req == 2:
                hvp(x, wk[0], wk[1], data, idata)
                nhev += 1
            stage += 1
        t += 1
    book_finish(t, f, gn, trace, out, iout, bk, bf)
    iout[I_NGEV] = ngev
    iout[I_NFEV] = ngev
    iout[I_NHEV] = nhev


def _batch(fg, value, hvp, step, avg, metrics, has_avg, X, G, ST, SC, HY, data, idata, seeds,
           CTL, skinds, SP, nsteps, xstar, ftargets, gtargets, rec, HITF, HITG, TRACE, MET, PH,
           OUT, IOUT, BLK):
    for r in prange(X.shape[0]):
        bk = np.empty(L.N_BK, np.int64)
        bf = np.empty(L.N_BF)
        wk = np.zeros((3, X.shape[1]))
        phased_core(fg, value, hvp, step, avg, metrics, has_avg, X[r], G[r], ST[r], SC[r],
                    HY[r], data, idata, seeds[r], CTL[r], skinds[r], SP[r], nsteps[r], xstar,
                    ftargets, gtargets, rec, HITF[r], HITG[r], TRACE[r], MET[r], PH[r], OUT[r],
                    IOUT[r], bk, bf, BLK, wk)


_A, _IA, _A2 = S.A, S.IA, S.A2
_A3 = types.float64[:, :, ::1]
_IA2 = types.int64[:, ::1]
PHASED_SIG = types.void(
    S.FG_T, S.VALUE_T, S.HVP_T, S.STEP_T, S.AVG_T, S.METRICS_T, types.boolean,
    _A2, _A2, _A3, _A2, _A2,          # X, G, ST, SC, HY
    _A, _IA, _IA,                     # data, idata, seeds
    _A2, _IA, _A2, _IA,               # CTL, skinds, SP, nsteps
    _A, _A, _A, _IA,                  # xstar, ftargets, gtargets, rec
    _IA2, _IA2, _A3, _A3, _A3, _A2, _IA2,  # HITF, HITG, TRACE, MET, PH, OUT, IOUT
    _IA2)                             # BLK

_DRIVERS: dict = {}


def phased_driver(parallel: bool):
    """``phased_parallel`` or ``phased_serial`` (compiled, or loaded from the disk cache, on
    first use: a process that runs no phased optimizer pays nothing)."""
    name = "phased_parallel" if parallel else "phased_serial"
    if name not in _DRIVERS:
        with warnings.catch_warnings():   # first-class function values: numba calls them
            warnings.simplefilter("ignore", NumbaExperimentalFeatureWarning)   # experimental
            _DRIVERS[name] = njit(PHASED_SIG, cache=True, parallel=parallel)(
                L._named(_batch, name))
    return _DRIVERS[name]


@kernel
def no_hvp(x, v, out, data, idata):
    """HVP kernel for problems without one (no phased optimizer that asks is admitted)."""
    for i in range(out.shape[0]):
        out[i] = np.nan


@kernel
def no_avg(x, st, sc, hy, out):
    """AVG kernel of optimizers without an averaged point (never called: has_avg False)."""
    pass
