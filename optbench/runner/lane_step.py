"""The lane driver's whole step in one loop over the lanes, for sweeps of small problems.

The lane driver (``runner/lanes.py``) steps a chunk of runs as several passes over the lanes:
``FG``, the norm and the quiet test (fused for d ≤ 2, ``lane_fused.py``), then the learning
rates, then the optimizer's ``PREP`` and one ``ELEM`` pass per coordinate. Each pass loads and
stores its rows again, and the passes run one after another, so the divisions and square roots
of the update never overlap the loads and stores of the gradient. When a chunk is *uniform* (its
runs differ in the learning rate and the seed only: a sweep), deterministic, without schedules,
clipping or weight decay, and its problem's ``FG`` has an at form at d ≤ ``STEP_MAX_DIM``, the
driver calls :func:`lane_step` instead: one loop over the lanes doing, for each lane,

1. ``FG``'s one-run body (its flat at form, ``kernels/lane_flat.py``), the squared norm and the
   quiet test (``lane_rows.quiet_select``);
2. the per-lane statements of ``PREP`` (the step size from the lane's learning rate) and
   ``ELEM`` for every coordinate, their stores *guarded* by the lane's quiet flag: a lane whose
   step needs bookkeeping first (a stop, a divergence, a target of a run that stops at its
   targets) keeps its point and state.

Two kinds of event do not hold a lane back, because the one-run bookkeeping reads nothing the
update changes for them: a target reached by a run of the budget (recorded after the update
from the lane's f and gradient norm, ``lane_slow.lane_deferred``), and a recording step
(every lane of a sweep records at the same steps; without metric columns, after step 0): the
distance of each recording lane's point is taken before the loop, and its trace row written
after it, from f, the best f, the gradient norm and that distance, stamped with the lane's
clock read after the loop (as the bookkeeping stamped it).

The values ``PREP`` computes from the shared scalars alone (bias corrections) are computed
once per step, before the loop, into a scratch column (the uniform lane form of ``PREP`` run on
one lane) and read there as constants; they stay in that column from step to step, and lane 0's
column gets the previous step's (the rows ``SHARED``, compile-time constants) before ``PREP``
advances them, so a run that stops in this step is written back with the scalars it stopped
with. The lanes that were not quiet go through the one-run bookkeeping (``lane_slow.py``);
those that go on get their update from a second loop, the ``REDO`` variant (flag ``V_REDO``),
whose ``FG`` gives the same bits. The two are compiled apart: one loop that branched on which
it was cost the vector loop a third of its time.

The optimizer's option branches (``if hy[HY.amsgrad] != 0.0:``) are decided when compiling,
for the options of the optimizer the driver is built for (``kernels/lane_options.py``): a
branch left in the lane loop is vectorised with masked stores in both arms (Adam on 2-D
Rosenbrock: 1.6 against 1.1 ns per run-step with this and the split above). A chunk whose
options decide otherwise takes the passes.

Each lane does the one-run loop's operations in its order: results are bit-identical (tested
for every coordinate-wise optimizer with targets, divergence and traces). Compiled with the
``noalias`` promise (the lane scratch arrays are distinct allocations), which with the flat
strides lets the compiler vectorise the loop; called once per step, not inlined.
"""
from __future__ import annotations

import ast
import inspect
import math
import textwrap
from functools import lru_cache

from numba.cpython.unsafe.numbers import trailing_zeros

from optbench.kernels import compile as kc
from optbench.kernels.clock import _readcyclecounter
from optbench.kernels.compile import placeholder, template
from optbench.kernels.lane_at import LANE as LANE_NAME, stored_names
from optbench.kernels.lane_flat import GUARD, flat_form
from optbench.kernels.lane_options import options_check, outcomes
from optbench.kernels.lanes import LaneError
from optbench.kernels.slots import N_SCALARS, SC_STEP

from .lane_rows import (LANES, V_BEST, V_DEAD, V_F, V_NEXT, V_QUIET, V_RDIST, V_REC, V_REDO,
                        V_S, W_LIVE, W_SEED, W_STOPPED, quiet_select)
from .lane_slow import lane_deferred, record_row
from .loop import _distance

STEP_MAX_DIM = 2     # the unrolled body; as lane_fused.FUSE_MAX_DIM
assert LANES <= 64   # a lane's bit in one int64
DIM = 1              # rebound per dimension (a compile-time constant of the specialisation)
REDO = False         # rebound: the variant that updates the lanes flagged V_REDO
FGF = placeholder("FGF")        # the problem's FG, flat at form
PREPV = placeholder("PREPV")    # PREP's per-lane statements, flat at form, guarded
ELEMF = placeholder("ELEMF")    # ELEM, flat at form, guarded
STEP = placeholder("STEP")      # lane_step bound for the pair (compiled apart: noalias)
PREPU = placeholder("PREPU")    # the optimizer's uniform PREP, lane form
SLOW = placeholder("SLOW")      # lane_slow bound for the pair
SHARED = (0,)   # rebound per pair: the shared scalar rows (the uniform forms' scu)


@template("FGF", "PREPV", "ELEMF")
def lane_step(t, XL, GL, STL, SCL, hy0, scn, V, seeds, data, idata, cnt):
    """One step of the chunk's lanes (the module docstring): the arrays flat, ``hy0`` the
    chunk's hyperparameters, ``scn`` this step's shared scalars. Returns how many live lanes
    were held back for their bookkeeping, and sets ``cnt[0]`` to the bits (1 << j) of the
    updated lanes j that have targets to record (``quiet_select``): an OR over the lanes in
    the vector loop, not a second pass over V_QUIET. Compiled twice: with ``REDO`` it
    updates the lanes flagged ``V_REDO`` instead (after their bookkeeping), returning 0. A lane whose run has
    stopped (``V_DEAD``; also the scratch columns from k on) is neither updated nor counted:
    its point may be NaN (a divergence), and it would otherwise call for the bookkeeping
    every step. The loop runs over all LANES columns (a constant trip count: the compiler
    then knows the rows' accesses apart), with no branch and no test of the column against
    k (each costs the vector loop time)."""
    nb = 0
    m = 0
    tf = float(t)
    for j in range(LANES):
        f = FGF(XL, GL, data, idata, seeds, t, j)
        s = GL[j] * GL[j]
        for i in range(1, DIM):
            s += GL[i * LANES + j] * GL[i * LANES + j]
        live = V[V_DEAD * LANES + j] == 0.0
        if REDO:
            q = V[V_REDO * LANES + j] != 0.0
            ev = False
        else:
            V[V_F * LANES + j] = f
            V[V_S * LANES + j] = s
            q = (quiet_select(f, s, tf, V, j) != 0) & live
            ev = (V[V_QUIET * LANES + j] == 2.0) & live
        PREPV(SCL, hy0, scn, q, j)
        for i in range(DIM):
            ELEMF(XL, GL[i * LANES + j], STL, SCL, hy0, i, scn, q, j)
        if not REDO:    # (counted after the update: measured faster than before it)
            nb += (1 if live else 0) - (1 if q else 0)     # q implies live
            m |= (1 << j) if ev else 0
    cnt[0] = m
    return nb


@kc.kernel
def live_shares(cyc, n_in, k, clk, W):
    """Each live lane's equal share of the ``cyc`` cycles its ``n_in`` lanes spent since
    the last event, added to its clock."""
    share = cyc // n_in
    for j in range(k):
        clk[j] += share if W[W_LIVE, j] != 0 else 0


@template("STEP", "REDO_STEP", "PREPU", "SLOW")
def lane_steps(X, ST, SC, data, idata, CTL, SP, nsteps, xstar, ftargets, gtargets, rec, HITF,
               HITG, TRACE, MET, OUT, IOUT, r0, k, XL, STL, SCL, HYL, V, W, lw, lwi, BK, BF,
               clk, xr, scu, shr, scn, hy0, cnt, xf, gf, stf, scf, vf):
    """The steps of a chunk in the whole-step form, until its last lane stops (the module
    docstring; the arguments are ``lanes.lane_chunk``'s, ``xf`` … ``vf`` its scratch flat).

    Time: the cycles since the last event are pending until the set of live lanes changes or
    a lane's clock is read (the bookkeeping stamps traces with it); then the counter is read
    and each live lane gets an equal share of them (a quiet step reads no counter)."""
    active = k
    t = 0
    cyc = 0
    scn1 = scn.reshape(N_SCALARS)
    seeds = W[W_SEED]
    d = XL.shape[0]
    nrec = rec.shape[0]
    jr = 0          # the next recording step of the batch's schedule: rec[jr]
    # a lane's trace row at a recording step is written after its update (as its targets,
    # lane_deferred), from its f, gradient norm and the distance of its point taken before
    # the update; without metric columns (which read the point) and not at step 0
    defer_rec = MET.shape[2] == 0
    # the shared scalars live in scn from step to step; lane 0's column gets the last step's
    # (the rows SHARED) before PREP advances them: the bookkeeping reads them there, and a run
    # that stops is written back with the scalars of the step it stopped in
    for s in range(N_SCALARS):
        scn[s, 0] = SCL[s, 0]
    c0 = _readcyclecounter()
    while active > 0:
        n_in = active
        # this step's shared scalars: the last step's, advanced by PREP's shared statements
        for s in SHARED:
            SCL[s, 0] = scn[s, 0]
        scn[SC_STEP, 0] = t + 1.0
        PREPU(scn, HYL, lw, lwi, V[V_F], 1)
        while jr < nrec and rec[jr] < t:
            jr += 1
        tf = float(t)
        recnow = defer_rec and t > 0 and jr < nrec and rec[jr] == t
        if recnow:      # the lanes that record now: their update need not wait for it
            for j in range(k):
                p = V[V_NEXT, j] == tf and W[W_LIVE, j] != 0
                V[V_REC, j] = 1.0 if p else 0.0
                if p:
                    V[V_NEXT, j] = -1.0
                    for i in range(d):
                        xr[i] = XL[i, j]
                    V[V_RDIST, j] = _distance(xr, xstar)
        nb = STEP(t, xf, gf, stf, scf, hy0, scn1, vf, seeds, data, idata, cnt)
        if recnow:
            c1 = _readcyclecounter()    # the lanes' clocks up to date: the rows' stamps
            live_shares(cyc + c1 - c0, n_in, k, clk, W)
            c0 = c1
            cyc = 0
            for j in range(k):
                if V[V_REC, j] == 0.0:
                    continue
                if V[V_QUIET, j] == 0.0:    # held back: its bookkeeping records the row
                    V[V_NEXT, j] = tf
                    continue
                record_row(t, j, V[V_F, j], V[V_BEST, j], math.sqrt(V[V_S, j]),
                           V[V_RDIST, j], clk[j], TRACE[r0 + j], BK[j], rec, V)
        m = cnt[0]     # targets reached by lanes already updated: each lane by its bit
        while m != 0:
            j = trailing_zeros(m)
            m &= m - 1
            r = r0 + j
            lane_deferred(t, j, V, W, BK[j], BF[j], CTL[r], ftargets, gtargets, rec,
                          HITF[r], HITG[r])
        stopped = 0
        if nb > 0:
            c1 = _readcyclecounter()    # the lanes' clocks up to date: the bookkeeping reads
            live_shares(cyc + c1 - c0, n_in, k, clk, W)
            c0 = c1
            cyc = 0
            stopped = SLOW(t, r0, k, False, XL, STL, SCL, shr, V, W, BK, BF, clk, xr, X, ST,
                           SC, data, idata, CTL, SP, nsteps, xstar, ftargets, gtargets, rec,
                           HITF, HITG, TRACE, MET, OUT, IOUT)
            active -= stopped
        if nb > 0:      # the lanes that went through the bookkeeping and go on
            nr = 0
            for j in range(k):
                r = V[V_QUIET, j] == 0.0 and W[W_LIVE, j] != 0
                V[V_REDO, j] = 1.0 if r else 0.0
                nr += 1 if r else 0
            if nr > 0:
                REDO_STEP(t, xf, gf, stf, scf, hy0, scn1, vf, seeds, data, idata, cnt)
        if stopped > 0:       # lanes that stopped in this step had their share of it
            c1 = _readcyclecounter()
            cyc += c1 - c0
            c0 = c1
            share = cyc // n_in
            for j in range(k):
                if W[W_LIVE, j] != 0 or W[W_STOPPED, j] != 0:
                    clk[j] += share
                W[W_STOPPED, j] = 0
                V[V_DEAD, j] = 0.0 if W[W_LIVE, j] != 0 else 1.0
            cyc = 0
        t += 1


@kc.kernel
def no_options(hy):
    """For a pair without the whole step."""
    return False


@kc.kernel
def no_lane_steps(X, ST, SC, data, idata, CTL, SP, nsteps, xstar, ftargets, gtargets, rec, HITF,
                  HITG, TRACE, MET, OUT, IOUT, r0, k, XL, STL, SCL, HYL, V, W, lw, lwi, BK, BF,
                  clk, xr, scu, shr, scn, hy0, cnt, xf, gf, stf, scf, vf):
    """For a pair without the whole step (never called: the driver's HAS_STEP is False)."""
    return


# calls the compiler turns into vector instructions; any other (``math.pow``, ``exp``, ``sin``:
# libm calls, one lane at a time) makes the whole step a scalar loop, which can be slower than
# the passes, which keep it to one of their loops (measured: adan 1.38x the passes' time on
# Rosenbrock, Adam on x + sin x 1.10x; Adam on Ackley 0.86x, but one rule for all)
VECTOR_CALLS = {"sqrt", "fabs", "copysign", "abs", "min", "max", "float", "int", "range"}


_VECTORISES: dict = {}
# libm calls on values the same in every lane, per kernel: the compiler computes one once
# before the loop; of adan's two bias corrections (math.pow each) it kept the second in the
# loop, one lane at a time (20 ns per run-step against the passes' 3.3)
MAX_HOISTED = 1


def vectorises(fn, seen=None, lane_params=()) -> bool:
    """Whether kernel ``fn`` (or a flat form: its statements for each lane) and the kernels
    it calls vectorise over the lanes: they call nothing but ``VECTOR_CALLS``, except one
    call (``MAX_HOISTED``) on values that are the same in every lane
    (``math.pow(hy[HY.beta1], t)``: the compiler computes it once, before the loop); a power
    whose exponent is not an integer constant counts as such a call. In a flat form the
    values of lane ``_l_``, its flag and the parameters ``lane_params`` (``gi``) differ
    between lanes, and so does what is computed from them or under a test on them; in a
    kernel it calls, every parameter. Memoised (the driver is looked up per batch)."""
    fn = getattr(fn, "py_func", fn)
    key = (fn, tuple(lane_params))
    if seen is None and key in _VECTORISES:
        return _VECTORISES[key]
    top = seen is None
    seen = set() if seen is None else seen
    if fn in seen:
        return True
    seen.add(fn)
    if top:
        _VECTORISES[key] = out = _vectorises(fn, seen, lane_params)
        return out
    return _vectorises(fn, seen, lane_params)


def _mentions(node, names) -> bool:
    return any(isinstance(n, ast.Name) and n.id in names for n in ast.walk(node))


def lane_values(tree, seeds) -> set:
    """The names in function ``tree`` whose values differ between lanes: ``seeds``, what is
    assigned from them, and what is assigned under a test or in a loop over them (to a fixed
    point)."""
    lane = set(seeds)
    while True:
        n0 = len(lane)
        for n in ast.walk(tree):
            if isinstance(n, (ast.Assign, ast.AugAssign, ast.AnnAssign)) and n.value is not None \
                    and (_mentions(n.value, lane) or (isinstance(n, ast.AugAssign)
                                                      and _mentions(n.target, lane))):
                lane |= set(stored_names(n))
            elif isinstance(n, (ast.If, ast.While)) and _mentions(n.test, lane):
                lane |= set(stored_names(n))
            elif isinstance(n, ast.For) and _mentions(n.iter, lane):
                lane |= set(stored_names(n))
        if len(lane) == n0:
            return lane


def _vectorises(fn, seen, lane_params) -> bool:
    flat = getattr(fn, "flat_source", None)
    tree = ast.parse(flat or textwrap.dedent(inspect.getsource(fn)))
    fdef = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef))
    params = [a.arg for a in fdef.args.args]
    lane = lane_values(fdef, {LANE_NAME, GUARD, *lane_params} if flat else set(params))
    hoisted = 0
    for n in ast.walk(tree):
        if isinstance(n, ast.BinOp) and isinstance(n.op, ast.Pow):
            e = n.right
            if not (isinstance(e, ast.Constant) and isinstance(e.value, int)):
                hoisted += 1            # libm's pow, as math.pow below
                if _mentions(n, lane) or hoisted > MAX_HOISTED:
                    return False
        if not isinstance(n, ast.Call):
            continue
        f = n.func
        name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", None)
        if name in VECTOR_CALLS:
            continue
        callee = fn.__globals__.get(name) if isinstance(f, ast.Name) else None
        if callee is None or not getattr(getattr(callee, "py_func", callee),
                                         "_optbench_kernel", False):
            hoisted += 1
            if _mentions(n, lane) or hoisted > MAX_HOISTED:   # one lane at a time
                return False
            continue
        if not vectorises(callee, seen):
            return False
    return True


def step_options(optimizer) -> tuple[dict, dict]:
    """The outcomes of the option tests of the optimizer's PREP and ELEM for its own
    hyperparameters (``kernels/lane_options.py``): the whole step is compiled with them."""
    hy = optimizer.hyper_array()
    return outcomes(optimizer.PREP, hy), outcomes(optimizer.ELEM, hy)


def step_forms(problem, optimizer, scu, max_dim: int = STEP_MAX_DIM):
    """The flat at forms of the pair's FG, PREP (per-lane statements) and ELEM for the whole
    step, their option tests decided for the optimizer's hyperparameters (``step_options``),
    or None (above ``max_dim``, a kernel the rewrite cannot express, or an update that calls
    what does not vectorise). ``scu``: the uniform forms' shared scalar rows
    (``lanes.uniform_kernels``)."""
    d = problem.dim
    if d > max_dim or problem.stochastic or not any(scu):
        return None
    shared = {"sc": {s for s in range(N_SCALARS) if scu[s]}}
    fixed_prep, fixed_elem = step_options(optimizer)
    try:
        fg = flat_form(problem.FG, dim=d, lanes=LANES, shapes={"x": (), "g": ()},
                       scalars=("seed",))
        prep = flat_form(optimizer.PREP, dim=d, lanes=LANES, shapes={"sc": ()},
                         shared=shared, guard=True, drop_shared=True, fixed=fixed_prep)
        elem = flat_form(optimizer.ELEM, dim=d, lanes=LANES,
                         shapes={"x": (), "st": (d,), "sc": ()}, shared=shared, guard=True,
                         fixed=fixed_elem)
    except LaneError:
        return None
    if not (vectorises(fg) and vectorises(prep) and vectorises(elem, lane_params=("gi",))):
        return None
    return fg, prep, elem


def _divisions(fn) -> int:
    """The divisions in a flat form's statements (``/``, ``/=``)."""
    return _source_divisions(fn.flat_source)


@lru_cache(maxsize=256)
def _source_divisions(source: str) -> int:
    # (memoised: the lane engine asks once per batch, and walking the tree cost a sweep's
    # driver lookup about 1 ms)
    return sum(isinstance(n, (ast.BinOp, ast.AugAssign)) and isinstance(n.op, ast.Div)
               for n in ast.walk(ast.parse(source)))


def lr_sharing_pays(problem, optimizer, scu, scu_lr) -> bool:
    """Whether the whole step with the lr shared (the uniform forms' shared rows ``scu_lr``)
    should replace the plain one (``scu``) for chunks whose runs share the lr: both exist and
    the per-run statements (``PREP``'s and ``ELEM``'s flat forms) have fewer divisions with it
    (Adam's step size lr / (1 − β₁ᵗ)). Divisions bound the loop; where none goes, the plain
    step is as fast or faster (``bench fused``: sgd, rmsprop), and a pair without a plain
    whole step keeps its passes (adan's would become a whole step slower than its passes)."""
    plain = step_forms(problem, optimizer, scu)
    shared = step_forms(problem, optimizer, scu_lr)
    if plain is None or shared is None:
        return False
    return sum(map(_divisions, shared[1:])) < sum(map(_divisions, plain[1:]))


def lane_steps_kernel(problem, optimizer, scu, prepu, slow, max_dim: int = STEP_MAX_DIM):
    """The whole-step loop for the pair (``prepu``: its uniform PREP lane form, ``slow``: its
    compiled ``lane_slow``) and the kernel that tells whether a chunk's hyperparameters give
    its option tests the outcomes it was compiled with, or None where it has none."""
    forms = step_forms(problem, optimizer, scu, max_dim)
    if forms is None:
        return None
    fg, prep, elem = forms
    fixed_prep, fixed_elem = step_options(optimizer)
    check = options_check([(optimizer.ELEM, fixed_elem), (optimizer.PREP, fixed_prep)])
    d = problem.dim
    tag = f"{type(problem).__name__}__{optimizer.ELEM.__name__}__d{d}"
    step, redo = (kc.cpu(kc.with_constants(lane_step, f"lane_step__d{d}_r{int(r)}", DIM=d,
                                           REDO=r),
                         bind={"FGF": fg, "PREPV": prep, "ELEMF": elem},
                         name=f"lane_step__{tag}__r{int(r)}", inline=True, noalias=True)
                  for r in (False, True))
    shared = tuple(s for s in range(N_SCALARS) if scu[s])
    steps = kc.cpu(kc.with_constants(lane_steps, "lane_steps__s" + "_".join(map(str, shared)),
                                     SHARED=shared),
                   bind={"STEP": step, "REDO_STEP": redo, "PREPU": prepu, "SLOW": slow},
                   name=f"lane_steps__{tag}", inline=True)
    return steps, check
