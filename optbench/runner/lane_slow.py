"""The lane driver's per-lane bookkeeping (step 3 of its step, ``runner/lanes.py``): the lanes
whose step is not surely quiet, one by one.

A lane at a recording step with nothing else to do (no target, stop, divergence, observed
schedule or metric: the common case, since every lane of a sweep records at the same steps)
gets its trace row written here directly (in the lane passes; the whole step of
``lane_step.py`` writes such rows itself, after the update); any other goes through the one-run bookkeeping
(``quiet_step``, ``bookkeep``, metrics, ``book_finish``) on a copy of its point, and a lane
that stops is written back to its run's arrays and masked. Compiled apart from the hot step
(called rarely) and bound per problem.
"""
from __future__ import annotations

import math

import numpy as np

from optbench.kernels import compile as kc
from optbench.kernels.compile import placeholder, template
from optbench.kernels.slots import N_SCALARS
from optbench.optimizers.schedules import SP_OBSERVES

from .lane_rows import V_BEST, V_DIV, V_F, V_FTHR, V_H, V_NEXT, V_QUIET, V_S, W_LIVE, \
    W_STOPPED, no_event
from .loop import (B_JR, B_NEXTREC, B_NREC, F_BEST, F_DIV, F_FTHR, F_GTHR, _distance,
                   book_finish, book_targets, book_thresholds, is_record_step, quiet_step,
                   trace_row)

VALUE = placeholder("VALUE")
METRICS = placeholder("METRICS")
BOOK_SLOW = placeholder("BOOK_SLOW")


@kc.kernel
def _thresholds(j, bk, bf, rec, V, W):
    """The lane's next-event thresholds, from its bookkeeping state: f target, squared-norm
    bound (above which the norm is surely above the next gradient target), divergence level,
    next recording step."""
    V[V_FTHR, j] = bf[F_FTHR]
    g = bf[F_GTHR]
    if g < 0.0:
        V[V_H, j] = -1.0
    elif g > 1e-140:
        V[V_H, j] = g * g * (1.0 + 1e-14)
    else:
        V[V_H, j] = np.inf       # a tiny target: the exact check every step
    V[V_DIV, j] = bf[F_DIV]
    V[V_NEXT, j] = rec[bk[B_JR]] if bk[B_JR] < rec.shape[0] else -1.0


@kc.kernel
def record_row(t, j, f, best, gn, dist, tick, trace, bk, rec, V):
    """Lane j's trace row at recording step t when recording is all its step asks for
    (``bookkeep``'s row and counters, without its call), and its next recording step."""
    trace_row(trace, bk[B_NREC], t, f, best, gn, dist, tick)
    bk[B_NREC] += 1
    bk[B_JR] += 1
    nxt = rec[bk[B_JR]] if bk[B_JR] < rec.shape[0] else -1
    bk[B_NEXTREC] = nxt
    V[V_NEXT, j] = nxt


@template("VALUE", "METRICS", "BOOK_SLOW")
def lane_slow(t, r0, k, stoch, XL, STL, SCL, shr, V, W, BK, BF, clk, xr, X, ST, SC, data,
              idata, CTL, SP, nsteps, xstar, ftargets, gtargets, rec, HITF, HITG, TRACE, MET,
              OUT, IOUT):
    """Step 3 of the lane step: the lanes not surely quiet, one by one, through the one-run
    bookkeeping; a lane that stops is written back to its run's arrays and masked (its
    scalars the rows ``shr`` marks from lane 0: the uniform forms keep them there only).
    Returns how many stopped. Compiled apart (called rarely): the hot step stays small."""
    d = XL.shape[0]
    ns = STL.shape[0]
    stopped = 0
    records_only = not stoch and MET.shape[2] == 0 and t > 0
    vf = V.reshape(V.shape[0] * V.shape[1])
    for j in range(k):
        if V[V_QUIET, j] != 0.0 or W[W_LIVE, j] == 0:
            continue
        r = r0 + j
        bk = BK[j]
        bf = BF[j]
        for i in range(d):
            xr[i] = XL[i, j]
        f = V[V_F, j]
        gn = math.sqrt(V[V_S, j])
        nst = nsteps[r]
        if records_only and no_event(f, V[V_S, j], float(t), vf, j) \
                and float(t) == V[V_NEXT, j] and SP[r, SP_OBSERVES] == 0.0:
            # a recording step and nothing else (all lanes of a sweep record at the same
            # steps): bookkeep's trace row and counters, without its call
            b = V[V_BEST, j]
            best = f if f < b else b
            record_row(t, j, f, best, gn, _distance(xr, xstar), clk[j], TRACE[r], bk, rec, V)
            V[V_BEST, j] = best
            continue
        quiet = False
        if stoch:
            quiet = not is_record_step(bk, rec, t) and t < nst and math.isfinite(f) \
                and math.isfinite(gn)
            if not quiet:
                f = VALUE(xr, data, idata)
        bf[F_BEST] = V[V_BEST, j]
        if not quiet and not quiet_step(t, f, gn, nst, bk, bf):
            nrec = bk[B_NREC]
            stop = BOOK_SLOW(t, f, gn, xr, CTL[r], nst, xstar, ftargets, gtargets, rec,
                             HITF[r], HITG[r], TRACE[r], bk, bf, clk[j], SP[r])
            if bk[B_NREC] > nrec and MET.shape[2] > 0:
                METRICS(xr, data, idata, MET[r, nrec])
            if stop:
                book_finish(t, f, gn, TRACE[r], OUT[r], IOUT[r], bk, bf)
                for i in range(d):
                    X[r, i] = xr[i]
                for s in range(ns):
                    for i in range(d):
                        ST[r, s, i] = STL[s, i, j]
                for s in range(N_SCALARS):
                    SC[r, s] = SCL[s, 0] if shr[s] != 0 else SCL[s, j]
                W[W_LIVE, j] = 0
                W[W_STOPPED, j] = 1
                stopped += 1
            _thresholds(j, bk, bf, rec, V, W)
        V[V_BEST, j] = bf[F_BEST]
    return stopped


@kc.kernel
def lane_deferred(t, j, V, W, bk, bf, ctl, ftargets, gtargets, rec, hitf, hitg):
    """The targets lane j reached in step t, its update already done (``quiet_select``'s
    V_QUIET 2.0: a run of the budget, not at a recording step, finite and below its divergence
    level). For such a step the one-run bookkeeping (``loop.bookkeep``) neither stops nor
    records a trace row: it is ``book_targets`` and ``book_thresholds``, which read f and
    ‖∇f‖ only — not the point or the optimizer's state — so after the update they give the bits
    they give before it."""
    bf[F_BEST] = V[V_BEST, j]
    book_targets(t, V[V_F, j], math.sqrt(V[V_S, j]), ctl, ftargets, gtargets, hitf, hitg, bk,
                 bf)
    book_thresholds(ctl, ftargets, gtargets, rec, bk, bf)
    V[V_BEST, j] = bf[F_BEST]
    _thresholds(j, bk, bf, rec, V, W)
