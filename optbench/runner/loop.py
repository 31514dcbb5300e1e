"""The compiled run loop (DESIGN.md §3): steps, schedule, clipping, weight decay, targets,
trace sampling, evaluation counts and divergence detection, all inside numba.

``run_core`` is one run; ``batch_serial`` / ``batch_parallel`` run many runs of one
(problem, optimizer) pair per compiled call (``prange`` over runs). The drivers take the
problem and optimizer kernels as first-class function values with explicit signatures, so
they compile once, are cached on disk, and serve every pair (a second process starts warm).

Conventions. Step t = 0, 1, …, n: the gradient is evaluated at x_t (t + 1 gradient
evaluations so far), the point is recorded and checked against the targets, then — unless
the run stops — the update x_t → x_{t+1} is applied. ``steps`` to a target is the t at which
it was first met; its evaluation count is t + 1 (the evaluation that saw it, as COCO counts).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange, types

from optbench.kernels import signatures as S
from optbench.kernels.clock import _readcyclecounter
from optbench.optimizers.schedules import lr_at

# ctl: per-run control values
C_WD, C_DWD, C_CLIPN, C_CLIPV, C_FREF, C_DIV, C_GTOL, C_STOCH, C_STOP, C_LR = range(10)
N_CTL = 10
# trace columns
T_STEP, T_NGEV, T_F, T_BEST, T_GNORM, T_DIST, T_TICKS = range(7)
N_TRACE = 7
# out (float) and iout (int) slots
O_F, O_BEST, O_GNORM, O_DIST, O_F0 = range(5)
N_OUT = 5
I_STATUS, I_NIT, I_NGEV, I_NFEV, I_NREC, I_TICK0, I_TICK1 = range(7)
N_IOUT = 7

STATUS = ("converged", "budget", "diverged", "error")

_lr_at = njit(cache=True)(lr_at)


@njit(cache=True)
def _record(trace, j, t, f, best, gn, x, xstar):
    trace[j, T_STEP] = t
    trace[j, T_NGEV] = t + 1
    trace[j, T_F] = f
    trace[j, T_BEST] = best
    trace[j, T_GNORM] = gn
    if xstar.shape[0] == x.shape[0]:
        s = 0.0
        for i in range(x.shape[0]):
            d = x[i] - xstar[i]
            s += d * d
        trace[j, T_DIST] = math.sqrt(s)
    else:
        trace[j, T_DIST] = np.nan
    trace[j, T_TICKS] = _readcyclecounter()


@njit(cache=True)
def run_core(fg, value, update, x, g, st, sc, hy, data, idata, seed, ctl, skind, sp, nsteps,
             xstar, ftargets, gtargets, rec, hitf, hitg, trace, out, iout):
    """One run; writes results into hitf/hitg/trace/out/iout. Returns nothing."""
    d = x.shape[0]
    fref = ctl[C_FREF]
    has_ref = not math.isnan(fref)
    stoch = ctl[C_STOCH] != 0.0
    stop_mode = ctl[C_STOP]       # 0: run the budget, 1: stop at last f target, 2: at gtol
    for j in range(hitf.shape[0]):
        hitf[j] = -1
    for j in range(hitg.shape[0]):
        hitg[j] = -1
    jf = 0
    jg = 0
    jr = 0
    nrec = 0
    best = np.inf
    f0 = np.nan
    div_level = np.inf
    status = 1
    t = 0
    f = np.nan
    gn = np.nan
    iout[I_TICK0] = _readcyclecounter()
    while True:
        f = fg(x, g, data, idata, seed, t)
        s = 0.0
        for i in range(d):
            s += g[i] * g[i]
        gn = math.sqrt(s)
        if stoch and (jr < rec.shape[0] and rec[jr] == t):
            f = value(x, data, idata)          # recording-only evaluation, not charged
        if t == 0:
            f0 = f
            base = abs(f0 - fref) if has_ref else abs(f0)
            div_level = f0 + ctl[C_DIV] * (1.0 + base)
        if f < best:
            best = f
        # target bookkeeping (best-so-far f − f*, and ‖∇f‖)
        if has_ref:
            while jf < ftargets.shape[0] and best - fref <= ftargets[jf]:
                hitf[jf] = t
                jf += 1
        while jg < gtargets.shape[0] and gn <= gtargets[jg]:
            hitg[jg] = t
            jg += 1
        stop = False
        if not (math.isfinite(f) and math.isfinite(gn)) or f > div_level:
            status = 2
            stop = True
        elif stop_mode == 1.0 and has_ref and jf == ftargets.shape[0]:
            status = 0
            stop = True
        elif stop_mode == 2.0 and gn <= ctl[C_GTOL]:
            status = 0
            stop = True
        elif t >= nsteps:
            stop = True
        if jr < rec.shape[0] and rec[jr] == t:
            _record(trace, nrec, t, f, best, gn, x, xstar)
            nrec += 1
            jr += 1
        elif stop:
            _record(trace, nrec, t, f, best, gn, x, xstar)
            nrec += 1
        if stop:
            break
        # --- the update x_t -> x_{t+1} ---
        lr = _lr_at(skind, sp, ctl[C_LR], t)
        sc[0] = lr
        sc[1] = t + 1.0
        cn = ctl[C_CLIPN]
        if cn > 0.0:
            coef = cn / (gn + 1e-6)
            if coef < 1.0:
                for i in range(d):
                    g[i] = g[i] * coef
        cv = ctl[C_CLIPV]
        if cv > 0.0:
            for i in range(d):
                g[i] = min(max(g[i], -cv), cv)
        wd = ctl[C_WD]
        if wd != 0.0:
            for i in range(d):
                g[i] = g[i] + wd * x[i]
        dwd = ctl[C_DWD]
        if dwd != 0.0:
            shrink = 1.0 - lr * dwd
            for i in range(d):
                x[i] = x[i] * shrink
        update(x, g, st, sc, hy)
        t += 1
    iout[I_TICK1] = _readcyclecounter()
    out[O_F] = f
    out[O_BEST] = best
    out[O_GNORM] = gn
    out[O_F0] = f0
    out[O_DIST] = trace[nrec - 1, T_DIST]
    iout[I_STATUS] = status
    iout[I_NIT] = t
    iout[I_NGEV] = t + 1
    iout[I_NFEV] = t + 1
    iout[I_NREC] = nrec


_A, _IA, _A2 = S.A, S.IA, S.A2
_A3 = types.float64[:, :, ::1]
_IA2 = types.int64[:, ::1]
BATCH_SIG = types.void(
    S.FG_T, S.VALUE_T, S.UPDATE_T,
    _A2, _A2, _A3, _A2, _A2,          # X, G, ST, SC, HY
    _A, _IA, _IA,                     # data, idata, seeds
    _A2, _IA, _A2, _IA,               # CTL, skinds, SP, nsteps
    _A, _A, _A, _IA,                  # xstar, ftargets, gtargets, rec
    _IA2, _IA2, _A3, _A2, _IA2,       # HITF, HITG, TRACE, OUT, IOUT
)


def _batch(fg, value, update, X, G, ST, SC, HY, data, idata, seeds, CTL, skinds, SP, nsteps,
           xstar, ftargets, gtargets, rec, HITF, HITG, TRACE, OUT, IOUT):
    for r in prange(X.shape[0]):
        run_core(fg, value, update, X[r], G[r], ST[r], SC[r], HY[r], data, idata, seeds[r],
                 CTL[r], skinds[r], SP[r], nsteps[r], xstar, ftargets, gtargets, rec,
                 HITF[r], HITG[r], TRACE[r], OUT[r], IOUT[r])


def _named(fn, name):
    import types as pytypes
    new = pytypes.FunctionType(fn.__code__, fn.__globals__, name, fn.__defaults__, fn.__closure__)
    new.__qualname__ = name
    return new


# two distinct qualified names, so numba's disk cache keeps both variants apart
batch_serial = njit(BATCH_SIG, cache=True)(_named(_batch, "batch_serial"))
batch_parallel = njit(BATCH_SIG, cache=True, parallel=True)(_named(_batch, "batch_parallel"))
