"""The lane driver: sweeps of small problems with the runs as the innermost, vectorised axis.

A chunk of up to ``LANES`` runs of one batch is gathered into structure-of-arrays form — x is
(d, lanes), the optimizer state (slots, d, lanes), its scalars (16, lanes) — and stepped
together by the *lane forms* of the problem's ``FG`` and the optimizer's ``PREP`` / ``ELEM``
(:mod:`optbench.kernels.lanes`: the same kernel sources, rewritten so that the loop over runs
is innermost), which the compiler vectorises across runs. Per-run decisions are taken after
the vectorised step, from per-lane values:

1. ``FG`` for every lane, then each lane's squared gradient norm (one vector loop);
2. a vector pass flags the lanes whose step is surely quiet (no target, record, stop or
   divergence: the thresholds of the next event are per-lane vectors) and updates their
   best-so-far f with a select;
3. the other lanes (rare) go one by one through the one-run bookkeeping (``quiet_step``,
   ``bookkeep``, metrics, ``book_finish``) on a copy of their point; a lane that stops is
   written back to its run's arrays and masked (it keeps computing, its results unused). A
   lane at a recording step with nothing else to do gets its trace row directly
   (``runner/lane_slow.py``);
4. learning rates and clipping factors (a vector loop; schedules, norm clipping and
   ``maximize`` per lane through the one-run ``step_scalars`` when any lane has them),
   clipping and weight decay, then the optimizer's lane-form update.

For a deterministic problem of dimension 1 or 2 whose ``FG`` loops over coordinates only,
steps 1 and 2 are one loop over the lanes instead (``runner/lane_fused.py``: ``FG``'s one-run
body per lane, its *at form*, inlined with the norm and the test; the values stay in
registers). When such a chunk is also a sweep (below) without schedules, clipping or weight
decay, and the pair's kernels have flat forms, the whole step is one loop over the lanes
(``runner/lane_step.py``): steps 1, 2 and 4 together, the lanes that need step 3 first
updated after it.

When a chunk's runs differ only in the learning rate and the seed (a sweep; checked once per
chunk), the update runs the optimizer's *uniform* lane forms: what depends on the shared
hyperparameters and scalars alone (bias corrections, momentum schedules, branches on options)
is computed once, on lane 0, and written to every lane; otherwise the general lane forms.

Each lane does the operations of :func:`~optbench.runner.loop.run_core` in the same order, so
results are bit-identical to the one-run loop's (tested for every coordinate-wise optimizer,
with targets, divergence, traces, schedules, clipping, noisy and minibatch gradients). The
gradient norm's square root is taken only where a value is needed: the vector pass compares
the squared norm with a threshold a little above the square of the next target, so "surely
not reached" never errs, and a lane near a target goes through the exact check.

Time. As in the lockstep driver, each step's elapsed time is split evenly between the lanes
active in it; the shares are summed once per chunk and added to the lanes' clocks only when
the set of live lanes changes or a clock is read (the bookkeeping stamps traces with it), not
in a lane loop every step. Chunks run in parallel (``prange``). Compiled per (problem,
optimizer) pair, cached on disk.
"""
from __future__ import annotations

import math

import numpy as np
from numba import prange

from optbench.kernels import compile as kc
from optbench.kernels.clock import _readcyclecounter
from optbench.kernels.compile import placeholder, template
from optbench.kernels.lanes import LaneError, lane_form
from optbench.kernels.slots import N_SCALARS, SC_LR, SC_SEED, SC_STEP
from optbench.optimizers.schedules import SP_WARMUP

from . import loop as L
from .lane_fused import FUSE_MAX_DIM, fused_pass, no_fused_pass
from .lane_rows import (LANES, N_V, N_W, V_BEST, V_COEF, V_CV, V_DWD, V_F, V_LR, V_NEXT,
                        V_NST, V_QUIET, V_S, V_WD, V_DEAD, V_DEFER, W_LIVE, W_SEED,
                        W_STOPPED, quiet_select)
from .lane_slow import _thresholds, lane_slow
from .lane_step import lane_steps_kernel, lr_sharing_pays, no_lane_steps, no_options
from .lockstep import book_slow, chunk_clocks
from .loop import (C_CLIPN, C_CLIPV, C_DWD, C_LR, C_MAX, C_STOCH, C_STOP, C_WD, F_BEST, N_BF,
                   N_BK, book_start, modified_grad, step_scalars)

LANE_MAX_DIM = 64    # beyond this a step is long enough to vectorise over coordinates


FGL = placeholder("FGL")            # the problem's FG, lane form
QPASS = placeholder("QPASS")        # FG, norm and quiet test fused (lane_fused.py), or -1
PREPL = placeholder("PREPL")        # the optimizer's PREP and ELEM, lane forms
ELEML = placeholder("ELEML")
PREPU = placeholder("PREPU")        # their uniform lane forms (runs differ in lr only)
ELEMU = placeholder("ELEMU")
SLOW = placeholder("SLOW")          # lane_slow bound for the pair
FAST = placeholder("FAST")          # the whole-step loop (lane_step.py), or a stub
OPTIONS = placeholder("OPTIONS")    # whether hy gives the whole step's option tests its outcomes
CHUNK = placeholder("CHUNK")


@template("FGL", "QPASS", "PREPL", "ELEML", "PREPU", "ELEMU", "SLOW", "FAST", "OPTIONS")
def lane_chunk(X, G, ST, SC, HY, data, idata, seeds, CTL, skinds, SP, nsteps, xstar, ftargets,
               gtargets, rec, HITF, HITG, TRACE, MET, OUT, IOUT, r0, r1, XL, GL, STL, SCL, HYL,
               V, W, lw, lwi, BK, BF, clk, xr, scu, shr, scn, hy0, cnt):
    """Runs r0 … r1−1 of the batch as lanes (the module docstring has the step). XL … xr are
    the caller's scratch (lanes wide). Compiled without NRT: views cost no reference count."""
    k = r1 - r0
    d = X.shape[1]
    ns = ST.shape[1]
    nh = HY.shape[1]
    stoch = CTL[r0, C_STOCH] != 0.0
    sched = False
    modify = False
    for j in range(k):
        r = r0 + j
        for i in range(d):
            XL[i, j] = X[r, i]
            GL[i, j] = 0.0
        for s in range(ns):
            for i in range(d):
                STL[s, i, j] = ST[r, s, i]
        for s in range(N_SCALARS):
            SCL[s, j] = SC[r, s]
        for h in range(nh):
            HYL[h, j] = HY[r, h]
        ctl = CTL[r]
        W[W_SEED, j] = seeds[r]
        V[V_NST, j] = nsteps[r]
        W[W_LIVE, j] = 1
        W[W_STOPPED, j] = 0
        V[V_LR, j] = ctl[C_LR]
        V[V_CV, j] = ctl[C_CLIPV]
        V[V_WD, j] = ctl[C_WD]
        V[V_DWD, j] = ctl[C_DWD]
        V[V_COEF, j] = 1.0
        V[V_DEFER, j] = 0.0
        V[V_DEAD, j] = 0.0
        if skinds[r] != 0 or SP[r, SP_WARMUP] != 0.0 or ctl[C_CLIPN] > 0.0 \
                or ctl[C_MAX] != 0.0:
            sched = True
        if ctl[C_CLIPN] > 0.0 or ctl[C_MAX] != 0.0 or ctl[C_CLIPV] > 0.0 or ctl[C_WD] != 0.0:
            modify = True
        clk[j] = 0
        book_start(BK[j], BF[j], HITF[r], HITG[r])
        V[V_BEST, j] = BF[j, F_BEST]
        _thresholds(j, BK[j], BF[j], rec, V, W)
    dwd = False
    for j in range(k):
        if V[V_DWD, j] != 0.0:
            dwd = True
    # the uniform update when the runs of the chunk differ only in what may vary (scu[s] = 0:
    # the lr, the seed and what the optimizer computes from them): hyperparameters and the
    # other scalars equal in every lane (NaN never counts as equal)
    uni = True
    for j in range(1, k):
        for s in range(N_SCALARS):
            if scu[s] != 0 and not SCL[s, j] == SCL[s, 0]:
                uni = False
        for h in range(nh):
            if not HYL[h, j] == HYL[h, 0]:
                uni = False
    # the scalars a uniform chunk keeps on lane 0 only (its runs' copies are stale): a run
    # that stops is written back with lane 0's (runner/lane_slow.py)
    for s in range(N_SCALARS):
        shr[s] = 1 if LANE0 and uni and scu[s] != 0 else 0
    # the whole step in one loop (lane_step.py): a uniform, deterministic chunk without
    # schedules, clipping or weight decay, the step number shared, its options those the
    # whole step was compiled for
    for h in range(nh):
        hy0[h] = HYL[h, 0]
    fast = HAS_STEP and uni and not stoch and not sched and not modify and not dwd \
        and scu[SC_STEP] != 0 and OPTIONS(hy0)
    if fast and LR_SHARED:
        # the whole step compiled with the lr shared (STEP_UNIFORM): every run of the chunk
        # has the same lr, else the passes
        for j in range(1, k):
            if not V[V_LR, j] == V[V_LR, 0]:
                fast = False
        if fast:
            for s in range(N_SCALARS):
                shr[s] = STEP_UNIFORM[s]
    xf = XL.reshape(d * LANES)
    gf = GL.reshape(d * LANES)
    stf = STL.reshape(ns * d * LANES)
    scf = SCL.reshape(N_SCALARS * LANES)
    vf = V.reshape(N_V * LANES)
    if fast:
        for j in range(k):
            SCL[SC_LR, j] = V[V_LR, j]     # fixed: no schedule
            # a run of the budget: a target reached does not hold its update back
            V[V_DEFER, j] = 1.0 if CTL[r0 + j, C_STOP] == 0.0 else 0.0
        for j in range(k, LANES):          # the loop's scratch columns: lane 0's values
            for i in range(d):
                XL[i, j] = XL[i, 0]
            for s in range(ns):
                for i in range(d):
                    STL[s, i, j] = STL[s, i, 0]
            for s in range(N_SCALARS):
                SCL[s, j] = SCL[s, 0]
            for s in range(N_V):
                V[s, j] = V[s, 0]
            W[W_SEED, j] = W[W_SEED, 0]
            V[V_DEAD, j] = 1.0             # neither updated nor counted
    if fast:
        FAST(X, ST, SC, data, idata, CTL, SP, nsteps, xstar, ftargets, gtargets, rec, HITF,
             HITG, TRACE, MET, OUT, IOUT, r0, k, XL, STL, SCL, HYL, V, W, lw, lwi, BK, BF, clk,
             xr, scu, shr, scn, hy0, cnt, xf, gf, stf, scf, vf)
        chunk_clocks(r0, k, clk, BK, IOUT, TRACE)
        return
    active = k
    t = 0
    pend = 0
    while active > 0:
        c0 = _readcyclecounter()
        n_in = active
        # 1 and 2 fused into one loop over the lanes, for a small deterministic problem
        nq = -1 if stoch else QPASS(t, XL, GL, vf, W, data, idata, k)
        fused = nq >= 0
        if not fused:
            FGL(XL, GL, data, idata, W[W_SEED], t, lw, lwi, V[V_F], k)
            # squared gradient norms, summed over coordinates in the one-run loop's order
            # (0.0 + g0² is g0²: the first term initialises)
            for j in range(k):
                V[V_S, j] = GL[0, j] * GL[0, j]
            for i in range(1, d):
                for j in range(k):
                    V[V_S, j] += GL[i, j] * GL[i, j]
            nq = 0
        # 2. lanes surely quiet (a vector pass, in doubles: t, the budget and the next
        # recording step are exact in float64; the count is an integer sum, which the
        # compiler vectorises — a float sum it must keep in order)
        tf = float(t)
        if stoch:
            for j in range(k):
                f = V[V_F, j]
                s = V[V_S, j]
                q = (tf > 0.0) & (tf != V[V_NEXT, j]) & (tf < V[V_NST, j]) \
                    & (abs(f) < np.inf) & (s < np.inf)
                V[V_QUIET, j] = 1.0 if q else 0.0
                nq += q
        elif not fused:
            for j in range(k):
                nq += quiet_select(V[V_F, j], V[V_S, j], tf, vf, j)
        # 3. the others, one by one, through the one-run bookkeeping
        stopped = 0
        if nq < k:
            if pend != 0:       # the lanes' clocks up to date: the bookkeeping stamps them
                for j in range(k):
                    clk[j] += pend if W[W_LIVE, j] != 0 else 0
                pend = 0
            stopped = SLOW(t, r0, k, stoch, XL, STL, SCL, shr, V, W, BK, BF, clk, xr, X, ST,
                           SC, data, idata, CTL, SP, nsteps, xstar, ftargets, gtargets, rec, HITF,
                           HITG, TRACE, MET, OUT, IOUT)
            active -= stopped
        # 4. learning rates, clipping factors, weight decay; the update
        if sched:
            for j in range(k):
                r = r0 + j
                V[V_COEF, j] = step_scalars(t, CTL[r], skinds[r], SP[r], SCL[:, j],
                                            math.sqrt(V[V_S, j]))
        else:
            for j in range(k):
                SCL[SC_LR, j] = V[V_LR, j]
            if LANE0 and uni and scu[SC_STEP] != 0:
                SCL[SC_STEP, 0] = t + 1.0   # shared: the uniform forms read it on lane 0
            else:
                for j in range(k):
                    SCL[SC_STEP, j] = t + 1.0
        if modify:
            for i in range(d):
                for j in range(k):
                    c = V[V_COEF, j]
                    cv = V[V_CV, j]
                    wd = V[V_WD, j]
                    if c != 1.0 or cv > 0.0 or wd != 0.0:
                        GL[i, j] = modified_grad(GL[i, j], XL[i, j], c, cv, wd)
        if dwd:
            for i in range(d):
                for j in range(k):
                    if V[V_DWD, j] != 0.0:
                        XL[i, j] = XL[i, j] * (1.0 - SCL[SC_LR, j] * V[V_DWD, j])
        if uni:
            PREPU(SCL, HYL, lw, lwi, V[V_F], k)
            for i in range(d):
                ELEMU(XL, GL[i], STL, SCL, HYL, i, lw, lwi, V[V_F], k)
        else:
            PREPL(SCL, HYL, lw, lwi, V[V_F], k)
            for i in range(d):
                ELEML(XL, GL[i], STL, SCL, HYL, i, lw, lwi, V[V_F], k)
        # each live lane's share of the step, pending until the set of live lanes changes
        # or a lane's clock is read (integer sums: the same totals as adding every step)
        pend += (_readcyclecounter() - c0) // n_in
        if stopped > 0:       # lanes that stopped in this step had their share of it
            for j in range(k):
                if W[W_LIVE, j] != 0 or W[W_STOPPED, j] != 0:
                    clk[j] += pend
                W[W_STOPPED, j] = 0
            pend = 0
        t += 1
    # the loop ends in the step where the last lanes stopped: pend was handed out there
    chunk_clocks(r0, k, clk, BK, IOUT, TRACE)


@template("CHUNK")
def _lane_batch(X, G, ST, SC, HY, data, idata, seeds, CTL, skinds, SP, nsteps, xstar,
                ftargets, gtargets, rec, HITF, HITG, TRACE, MET, OUT, IOUT):
    R = X.shape[0]
    d = X.shape[1]
    ns = ST.shape[1]
    nh = HY.shape[1]
    nchunk = (R + LANES - 1) // LANES
    for c in prange(nchunk):
        r0 = c * LANES
        r1 = min(r0 + LANES, R)
        CHUNK(X, G, ST, SC, HY, data, idata, seeds, CTL, skinds, SP, nsteps, xstar, ftargets,
              gtargets, rec, HITF, HITG, TRACE, MET, OUT, IOUT, r0, r1,
              np.empty((d, LANES)), np.empty((d, LANES)), np.empty((ns, d, LANES)),
              np.empty((N_SCALARS, LANES)), np.empty((nh, LANES)), np.empty((N_V, LANES)),
              np.empty((N_W, LANES), np.int64), np.zeros((LW_ROWS, LANES)),
              np.zeros((LWI_ROWS, LANES), np.int64), np.empty((LANES, N_BK), np.int64),
              np.empty((LANES, N_BF)), np.empty(LANES, np.int64), np.empty(d),
              np.array(SC_UNIFORM, np.int64), np.zeros(N_SCALARS, np.int64),
              np.empty((N_SCALARS, 1)), np.empty(max(nh, 1)), np.zeros(1, np.int64))


LW_ROWS = 1     # rebound per pair: the lane forms' scratch rows (float, int)
LWI_ROWS = 1
SC_UNIFORM = (0,) * N_SCALARS   # rebound per pair: 1 for the scalars the uniform form shares
LANE0 = True    # rebound per driver: the uniform forms keep the shared scalars on lane 0 only
HAS_STEP = False    # rebound per driver: the pair has the whole step (lane_step.py; with LANE0)
LR_SHARED = False   # rebound per driver: the whole step takes the lr as shared (one per chunk)
STEP_UNIFORM = (0,) * N_SCALARS   # rebound: the whole step's shared scalar rows (with LR_SHARED)

FG_LANES = dict(arrays=("x", "g"), scalars=("seed",), ints=("seed", "step"),
                int_arrays=("idata",))
PREP_LANES = dict(arrays=("sc", "hy"))
ELEM_LANES = dict(arrays=("x", "st", "sc", "hy"), scalars=("gi",), ints=("i",))


def lane_kernels(problem, optimizer):
    """The lane forms of the pair's FG, PREP and ELEM (LaneError when one has none)."""
    fg = lane_form(problem.FG, **FG_LANES)
    prep = lane_form(optimizer.PREP, **PREP_LANES)
    elem = lane_form(optimizer.ELEM, **ELEM_LANES)
    return fg, prep, elem


def uniform_kernels(optimizer, lane0: bool = True, lr_shared: bool = False):
    """The uniform lane forms of PREP and ELEM, and the tuple SC_UNIFORM (1: a scalar both
    share across lanes; the lr, the seed and what PREP computes from them vary; with
    ``lr_shared``, for chunks whose runs share the lr, the seed and what comes from it). An
    optimizer whose kernels have no uniform form gets its plain lane forms and no shared
    scalar (then the chunk's check is about the hyperparameters only, and both paths are the
    same code)."""
    try:
        return _uniform_kernels(optimizer, ("sc",) if lane0 else (), lr_shared)
    except LaneError:
        prep = lane_form(optimizer.PREP, **PREP_LANES)
        elem = lane_form(optimizer.ELEM, **ELEM_LANES)
        return prep, elem, (0,) * N_SCALARS


def _uniform_kernels(optimizer, lane0=(), lr_shared=False):
    prep = lane_form(optimizer.PREP, **PREP_LANES,
                     varying={"sc": {SC_SEED} if lr_shared else {SC_LR, SC_SEED}, "hy": set()},
                     lane0=lane0)
    vary = set(prep.lane_varying["sc"])
    elem = lane_form(optimizer.ELEM, **ELEM_LANES, varying={"sc": vary, "hy": set()},
                     lane0=lane0)
    vary |= set(elem.lane_varying["sc"])
    return prep, elem, tuple(0 if s in vary else 1 for s in range(N_SCALARS))


def lane_driver(problem, optimizer, parallel: bool, fuse_max_dim: int = FUSE_MAX_DIM,
                lane0: bool = True, whole_step: bool = True, lr_shared: bool = False):
    """The lane batch driver for this (problem, optimizer) pair (SPECIAL_SIG arguments), with
    the fused first pass where the problem's dimension is at most ``fuse_max_dim``,
    (``lane0``) the uniform forms keeping the shared scalars on lane 0 only, and
    (``whole_step``, with ``lane0``) the whole step in one lane loop where the pair has it
    (``lane_step.py``). With ``lr_shared`` the whole step takes the chunk's lr as one of its
    shared scalars (the step size ``lr / (1 − β₁ᵗ)`` once per step, not once per run: one
    division less per run-step for Adam), for chunks whose runs share the lr; a chunk whose
    runs do not takes the passes. Where that takes no division out of the per-run statements
    (``lane_step.lr_sharing_pays``), the plain driver."""
    fg, prep, elem = lane_kernels(problem, optimizer)
    prepu, elemu, scu = uniform_kernels(optimizer, lane0)
    step_prepu, step_scu = prepu, scu
    if lr_shared and lane0 and whole_step:
        step_prepu, _, step_scu = uniform_kernels(optimizer, lane0, lr_shared=True)
    lr_shared = step_scu != scu and lr_sharing_pays(problem, optimizer, scu, step_scu)
    if not lr_shared:
        step_prepu, step_scu = prepu, scu
    rows = {k: max(1, *(f.lane_rows[k] for f in (fg, prep, elem, prepu, elemu, step_prepu)))
            for k in "fi"}
    tag = f"{type(problem).__name__}__{optimizer.ELEM.__name__}"
    slow = kc.cpu(lane_slow, bind={"VALUE": problem.VALUE,
                                   "METRICS": problem.METRICS or L.no_metrics,
                                   "BOOK_SLOW": kc.cpu(book_slow, name="lockstep_book_slow")},
                  name=f"lane_slow__{type(problem).__name__}", inline=True)
    qpass = fused_pass(problem, fuse_max_dim)
    if qpass is not no_fused_pass:
        tag += f"__fused{problem.dim}"
    if lane0:
        tag += "__lane0"
    found = lane_steps_kernel(problem, optimizer, step_scu, step_prepu, slow) \
        if whole_step and lane0 else None
    has_step = found is not None
    lr_shared = lr_shared and has_step
    if found is None:     # a call (over 30 arguments: Python passes them as *args, which
        found = kc.cpu(no_lane_steps), no_options    # numba's inliner refuses), never made
    fast, options = found

    if has_step:
        tag += "__step"
    if lr_shared:
        tag += "__lrs"
    chunk = kc.cpu(kc.with_constants(lane_chunk, f"lane_chunk__l{int(lane0)}{int(has_step)}"
                                     f"{int(lr_shared)}" + "".join(map(str, step_scu)),
                                     LANE0=lane0, HAS_STEP=has_step, LR_SHARED=lr_shared,
                                     STEP_UNIFORM=step_scu),
                   bind={"FGL": fg, "QPASS": qpass, "PREPL": prep, "ELEML": elem,
                                     "PREPU": prepu, "ELEMU": elemu, "SLOW": slow,
                                     "FAST": fast, "OPTIONS": options},
                   name=f"lane_chunk__{tag}", inline=True)
    # the scratch sizes and the shared scalars: compile-time constants of the specialisation
    batch = kc.with_constants(_lane_batch, LW_ROWS=rows["f"], LWI_ROWS=rows["i"],
                              SC_UNIFORM=scu)
    uk = "".join(map(str, scu))
    return kc.cpu(batch, L.SPECIAL_SIG, bind={"CHUNK": chunk},
                  name=f"lane_batch__{tag}__{rows['f']}_{rows['i']}_{uk}__"
                       f"{'par' if parallel else 'ser'}", parallel=parallel, nrt=True)
