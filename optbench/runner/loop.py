"""The compiled run loop (docs/architecture.md): steps, schedule, clipping, weight decay,
targets, trace sampling, evaluation counts and divergence detection, all inside numba.

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

from optbench.kernels import compile as kc
from optbench.kernels import signatures as S
from optbench.kernels.clock import _readcyclecounter
from optbench.kernels.compile import kernel
from optbench.kernels.slots import SC_LR, SC_STEP
from optbench.optimizers.schedules import SP_OBSERVES, SP_WARMUP, lr_at, plateau_observe

from .grad_norm import NORM_SPLIT_D, grad_sumsq, grad_sumsq_loops  # noqa: F401 (re-exported)

# ctl: per-run control values
C_WD, C_DWD, C_CLIPN, C_CLIPV, C_FREF, C_DIV, C_GTOL, C_STOCH, C_STOP, C_LR, C_MAX = range(11)
N_CTL = 11
# trace columns
T_STEP, T_NGEV, T_F, T_BEST, T_GNORM, T_DIST, T_TICKS = range(7)
N_TRACE = 7
# out (float) and iout (int) slots
O_F, O_BEST, O_GNORM, O_DIST, O_F0 = range(5)
N_OUT = 5
I_STATUS, I_NIT, I_NGEV, I_NFEV, I_NREC, I_TICK0, I_TICK1, I_NHEV = range(8)
N_IOUT = 8   # I_NHEV: Hessian-vector products (runner/phased.py; 0 elsewhere)

STATUS = ("converged", "budget", "diverged", "error", "failed")  # failed: runner/second_order.py

_lr_at = njit(cache=True, _nrt=False)(lr_at)
_plateau_observe = njit(cache=True, _nrt=False)(plateau_observe)


B_JF, B_JG, B_JR, B_NREC, B_STATUS, B_NEXTREC = range(6)
F_BEST, F_F0, F_DIV, F_FTHR, F_GTHR = range(5)
N_BK, N_BF = 6, 5


@njit(cache=True, _nrt=False)
@kernel
def book_start(bk, bf, hitf, hitg):
    """Reset the bookkeeping state (bk: target/record pointers and status; bf: best, f0, level)."""
    for j in range(hitf.shape[0]):
        hitf[j] = -1
    for j in range(hitg.shape[0]):
        hitg[j] = -1
    for j in range(bk.shape[0]):
        bk[j] = 0
    bk[B_STATUS] = 1
    bk[B_NEXTREC] = -1
    bf[F_BEST] = np.inf
    bf[F_F0] = np.nan
    bf[F_DIV] = np.inf
    bf[F_FTHR] = np.inf     # step 0 always takes the full path
    bf[F_GTHR] = np.inf


@njit(cache=True, inline="always", _nrt=False)
@kernel
def is_record_step(bk, rec, t):
    j = bk[B_JR]
    return j < rec.shape[0] and rec[j] == t


@njit(cache=True, inline="always", _nrt=False)
@kernel
def _distance(x, xstar):
    if xstar.shape[0] != x.shape[0]:
        return np.nan
    s = 0.0
    for i in range(x.shape[0]):
        d = x[i] - xstar[i]
        s += d * d
    return math.sqrt(s)


@njit(cache=True, inline="always", _nrt=False)
@kernel
def trace_row(trace, j, t, f, best, gn, dist, tick):
    """Trace point j: step t, gradients so far, f, best f, ‖∇f‖, ‖x − x*‖, time stamp."""
    trace[j, T_STEP] = t
    trace[j, T_NGEV] = t + 1
    trace[j, T_F] = f
    trace[j, T_BEST] = best
    trace[j, T_GNORM] = gn
    trace[j, T_DIST] = dist
    trace[j, T_TICKS] = tick


@njit(cache=True, inline="always", _nrt=False)
@kernel
def bookkeep(t, f, gn, dist, x, ctl, nsteps, xstar, ftargets, gtargets, rec, hitf, hitg, trace,
             bk, bf, sp):
    """Targets, divergence, stopping rule and trace sampling at step t (f = f(x_t),
    gn = ‖∇f(x_t)‖, dist = ‖x_t − x*‖ or NaN to compute it here). Returns True to stop.
    At a recording step a schedule that observes f (reduce-on-plateau; sp, the run's schedule
    array) sees the recorded f, before the lr of update t is set."""
    book_targets(t, f, gn, ctl, ftargets, gtargets, hitf, hitg, bk, bf)
    fref = ctl[C_FREF]
    has_ref = not math.isnan(fref)
    best = bf[F_BEST]
    stop = False
    mode = ctl[C_STOP]       # 0: run the budget, 1: stop at the last f target, 2: at gtol
    if not (math.isfinite(f) and math.isfinite(gn)) or f > bf[F_DIV]:
        bk[B_STATUS] = 2
        stop = True
    elif mode == 1.0 and has_ref and bk[B_JF] == ftargets.shape[0]:
        bk[B_STATUS] = 0
        stop = True
    elif mode == 2.0 and gn <= ctl[C_GTOL]:
        bk[B_STATUS] = 0
        stop = True
    elif t >= nsteps:
        stop = True
    rec_now = is_record_step(bk, rec, t)
    if rec_now or stop:
        trace_row(trace, bk[B_NREC], t, f, best, gn,
                  _distance(x, xstar) if math.isnan(dist) else dist, _readcyclecounter())
        bk[B_NREC] += 1
        if rec_now:
            bk[B_JR] += 1
            if sp[SP_OBSERVES] != 0.0:
                _plateau_observe(sp, f, ctl[C_LR])
    book_thresholds(ctl, ftargets, gtargets, rec, bk, bf)
    return stop


@njit(cache=True, inline="always", _nrt=False)
@kernel
def book_targets(t, f, gn, ctl, ftargets, gtargets, hitf, hitg, bk, bf):
    """Step t's part of :func:`bookkeep` that reads f and ‖∇f‖ only: the first step's f and
    divergence level, the best f so far, the targets reached (hit steps)."""
    fref = ctl[C_FREF]
    has_ref = not math.isnan(fref)
    if t == 0:
        bf[F_F0] = f
        base = abs(f - fref) if has_ref else abs(f)
        bf[F_DIV] = f + ctl[C_DIV] * (1.0 + base)
    if f < bf[F_BEST]:
        bf[F_BEST] = f
    best = bf[F_BEST]
    if has_ref:
        while bk[B_JF] < ftargets.shape[0] and best - fref <= ftargets[bk[B_JF]]:
            hitf[bk[B_JF]] = t
            bk[B_JF] += 1
    while bk[B_JG] < gtargets.shape[0] and gn <= gtargets[bk[B_JG]]:
        hitg[bk[B_JG]] = t
        bk[B_JG] += 1


@njit(cache=True, inline="always", _nrt=False)
@kernel
def book_thresholds(ctl, ftargets, gtargets, rec, bk, bf):
    """The thresholds of the next event, for the fast path of :func:`quiet_step`."""
    fref = ctl[C_FREF]
    has_ref = not math.isnan(fref)
    bf[F_FTHR] = fref + ftargets[bk[B_JF]] if has_ref and bk[B_JF] < ftargets.shape[0] else -np.inf
    gthr = gtargets[bk[B_JG]] if bk[B_JG] < gtargets.shape[0] else -1.0
    if ctl[C_STOP] == 2.0:
        gthr = max(gthr, ctl[C_GTOL])
    bf[F_GTHR] = gthr
    bk[B_NEXTREC] = rec[bk[B_JR]] if bk[B_JR] < rec.shape[0] else -1


@njit(cache=True, inline="always", _nrt=False)
@kernel
def quiet_step(t, f, gn, nsteps, bk, bf):
    """True when step t changes nothing but best-so-far f (no target, record, stop or
    divergence): then the full bookkeeping is skipped. NaN never counts as quiet."""
    if f > bf[F_FTHR] and gn > bf[F_GTHR] and f <= bf[F_DIV] and gn < np.inf and t < nsteps \
            and t != bk[B_NEXTREC]:
        b = bf[F_BEST]
        bf[F_BEST] = f if f < b else b   # a select, not a branch: f goes up and down at random
        return True
    return False


@njit(cache=True, inline="always", _nrt=False)
@kernel
def step_scalars(t, ctl, skind, sp, sc, gn):
    """Set the step's learning rate and number in sc; return the factor on the gradient:
    norm clipping, negated under ``maximize`` (value clipping commutes with the sign)."""
    lr = ctl[C_LR] if skind == 0 and sp[SP_WARMUP] == 0.0 else _lr_at(skind, sp, ctl[C_LR], t)
    sc[SC_LR] = lr
    sc[SC_STEP] = t + 1.0
    coef = 1.0
    cn = ctl[C_CLIPN]
    if cn > 0.0:
        c = cn / (gn + 1e-6)
        if c < 1.0:
            coef = c
    if ctl[C_MAX] != 0.0:
        coef = -coef
    return coef


@njit(cache=True, inline="always", _nrt=False)
@kernel
def modified_grad(gi, xi, coef, cv, wd):
    """Norm clipping (factor coef), value clipping (cv > 0), coupled weight decay (wd)."""
    gi = gi * coef
    if cv > 0.0:
        gi = min(max(gi, -cv), cv)
    return gi + wd * xi


@njit(cache=True, _nrt=False)
@kernel
def book_finish(t, f, gn, trace, out, iout, bk, bf):
    iout[I_TICK1] = _readcyclecounter()
    out[O_F] = f
    out[O_BEST] = bf[F_BEST]
    out[O_GNORM] = gn
    out[O_F0] = bf[F_F0]
    out[O_DIST] = trace[bk[B_NREC] - 1, T_DIST]
    iout[I_STATUS] = bk[B_STATUS]
    iout[I_NIT] = t
    iout[I_NGEV] = t + 1
    iout[I_NFEV] = t + 1
    iout[I_NREC] = bk[B_NREC]


@njit(cache=True, _nrt=False)
@kernel
def run_core(fg, value, update, metrics, x, g, st, sc, hy, data, idata, seed, ctl, skind, sp,
             nsteps, xstar, ftargets, gtargets, rec, hitf, hitg, trace, met, out, iout, bk, bf):
    """One run; writes results into hitf/hitg/trace/met/out/iout. ``metrics`` (problem-specific
    trace columns, e.g. accuracies) is evaluated at recording steps only, not charged.
    ``bk`` (int64, N_BK) and ``bf`` (float64, N_BF) are the caller's bookkeeping scratch."""
    d = x.shape[0]
    book_start(bk, bf, hitf, hitg)
    stoch = ctl[C_STOCH] != 0.0
    t = 0
    iout[I_TICK0] = _readcyclecounter()
    while True:
        f = fg(x, g, data, idata, seed, t)
        gn = math.sqrt(grad_sumsq(g, d))
        quiet = False
        if stoch:
            # minibatch/noisy f is not the objective: targets, the stop rule and the trace use
            # the full-batch f, evaluated (not charged) at recording steps and at the end only
            quiet = not is_record_step(bk, rec, t) and t < nsteps and math.isfinite(f) \
                and math.isfinite(gn)
            if not quiet:
                f = value(x, data, idata)
        if not quiet and not quiet_step(t, f, gn, nsteps, bk, bf):
            nrec = bk[B_NREC]
            stop = bookkeep(t, f, gn, np.nan, x, ctl, nsteps, xstar, ftargets, gtargets, rec,
                            hitf, hitg, trace, bk, bf, sp)
            if bk[B_NREC] > nrec and met.shape[1] > 0:
                metrics(x, data, idata, met[nrec])
            if stop:
                break
        coef = step_scalars(t, ctl, skind, sp, sc, gn)
        modify_step(x, g, sc, ctl, coef)
        update(x, g, st, sc, hy)
        t += 1
    book_finish(t, f, gn, trace, out, iout, bk, bf)


@njit(cache=True, inline="always", _nrt=False)
@kernel
def modify_step(x, g, sc, ctl, coef):
    """Clipping and coupled weight decay on g, decoupled weight decay on x (generic loop)."""
    d = x.shape[0]
    cv = ctl[C_CLIPV]
    wd = ctl[C_WD]
    if coef != 1.0 or cv > 0.0 or wd != 0.0:
        for i in range(d):
            g[i] = modified_grad(g[i], x[i], coef, cv, wd)
    dwd = ctl[C_DWD]
    if dwd != 0.0:
        shrink = 1.0 - sc[SC_LR] * dwd
        for i in range(d):
            x[i] = x[i] * shrink


_A, _IA, _A2 = S.A, S.IA, S.A2
_A3 = types.float64[:, :, ::1]
_IA2 = types.int64[:, ::1]
_ARRAYS = (
    _A2, _A2, _A3, _A2, _A2,          # X, G, ST, SC, HY
    _A, _IA, _IA,                     # data, idata, seeds
    _A2, _IA, _A2, _IA,               # CTL, skinds, SP, nsteps
    _A, _A, _A, _IA,                  # xstar, ftargets, gtargets, rec
    _IA2, _IA2, _A3, _A3, _A2, _IA2,  # HITF, HITG, TRACE, MET, OUT, IOUT
)
BATCH_SIG = types.void(S.FG_T, S.VALUE_T, S.UPDATE_T, S.METRICS_T, *_ARRAYS)
SPECIAL_SIG = types.void(*_ARRAYS)
KERNEL_PARAMS = ["fg", "value", "update", "metrics"]


def _batch(fg, value, update, metrics, X, G, ST, SC, HY, data, idata, seeds, CTL, skinds, SP,
           nsteps, xstar, ftargets, gtargets, rec, HITF, HITG, TRACE, MET, OUT, IOUT):
    for r in prange(X.shape[0]):
        bk = np.empty(N_BK, np.int64)
        bf = np.empty(N_BF)
        run_core(fg, value, update, metrics, X[r], G[r], ST[r], SC[r], HY[r], data, idata,
                 seeds[r], CTL[r], skinds[r], SP[r], nsteps[r], xstar, ftargets, gtargets, rec,
                 HITF[r], HITG[r], TRACE[r], MET[r], OUT[r], IOUT[r], bk, bf)


CORE = kc.placeholder("CORE")   # run_core specialised for the pair (special_driver)


@kc.template("CORE")
def _special_batch(X, G, ST, SC, HY, data, idata, seeds, CTL, skinds, SP, nsteps, xstar, ftargets,
                   gtargets, rec, HITF, HITG, TRACE, MET, OUT, IOUT):
    """The same batch with ``run_core`` specialised for one (problem, optimizer) pair."""
    for r in prange(X.shape[0]):
        bk = np.empty(N_BK, np.int64)
        bf = np.empty(N_BF)
        CORE(X[r], G[r], ST[r], SC[r], HY[r], data, idata, seeds[r], CTL[r], skinds[r],
             SP[r], nsteps[r], xstar, ftargets, gtargets, rec, HITF[r], HITG[r], TRACE[r], MET[r],
             OUT[r], IOUT[r], bk, bf)


def special_driver(problem, optimizer, parallel: bool):
    """The batch driver with the pair's kernels inlined into ``run_core`` (its source with the
    kernel parameters bound): compiled on first use of the pair (seconds), cached on disk."""
    from optbench.optimizers.base import update_template

    tag = f"{type(problem).__name__}__{optimizer.ELEM.__name__}"
    tpl, bind, q = update_template(optimizer)
    update = kc.cpu(tpl, bind=bind, name=f"vector_update__{optimizer.ELEM.__name__}__inl{q}",
                    inline=True)
    core = kc.cpu(kc.without_params(run_core.py_func, KERNEL_PARAMS),
                  bind={"fg": problem.FG, "value": problem.VALUE, "update": update,
                        "metrics": problem.METRICS or no_metrics},
                  name=f"run_core__{tag}", inline=True)
    return kc.cpu(_special_batch, SPECIAL_SIG, bind={"CORE": core},
                  name=f"special_batch__{tag}__{'par' if parallel else 'ser'}",
                  parallel=parallel, nrt=True)


@kernel
def no_metrics(x, data, idata, out):
    """Metrics kernel of problems without extra trace columns."""
    pass


def _named(fn, name):
    import types as pytypes
    new = pytypes.FunctionType(fn.__code__, fn.__globals__, name, fn.__defaults__, fn.__closure__)
    new.__qualname__ = name
    return new


# two distinct qualified names, so numba's disk cache keeps both variants apart
batch_serial = njit(BATCH_SIG, cache=True)(_named(_batch, "batch_serial"))
batch_parallel = njit(BATCH_SIG, cache=True, parallel=True)(_named(_batch, "batch_parallel"))
