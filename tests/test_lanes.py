"""The lane form (optbench/kernels/lanes.py) and the lane sweep driver (runner/lanes.py).

Kernel level: for every coordinate-wise optimizer and every small problem, the lane form
computes, lane by lane, exactly the one-run kernel's bits (different hyperparameters, seeds
and states per lane). Driver level: the lane engine gives the generic loop's results bit for
bit, with targets, divergence, traces, schedules, clipping, weight decay, noisy and
minibatch gradients (tests/test_engines.py, test_schema.py and test_schedules_v2.py run it
on Adam × Rosenbrock too).
"""
from __future__ import annotations

import numpy as np
import pytest

import optbench as ob
from optbench import optimizers as O
from optbench import problems as P
from optbench.kernels import compile as kc
from optbench.kernels.lanes import LaneError, lane_form
from optbench.kernels.slots import SC_LR, SC_STEP
from optbench.runner import execute as E
from optbench.runner.engines.cpu import SPECIAL_MIN_WORK, LaneEngine, has_lane_forms
from optbench.runner.lanes import ELEM_LANES, FG_LANES, LANES, PREP_LANES
from optbench.runner.spec import RunSpec

NL = 5   # lanes in the kernel-level checks (not a multiple of the vector width)
NO_LANE_FORM = {"double-well": "early return", "mlp": "slices of weight blocks"}


def _scratch(*kernels):
    rf = max(1, *(k.lane_rows["f"] for k in kernels))
    ri = max(1, *(k.lane_rows["i"] for k in kernels))
    return np.zeros((rf, NL)), np.zeros((ri, NL), np.int64), np.zeros(NL)


# -- kernel level: optimizers --------------------------------------------------------------
_VARIANTS = {"lr": [1e-3, 3e-2, 0.3], "weight_decay": [0.0, 0.1]}


def _lane_optimizers(name):
    """NL optimizers of family ``name`` with different hyperparameters (lr, and the family's
    own float hyperparameters nudged) so that every lane differs."""
    base = O.make(name)
    out = []
    for j in range(NL):
        kw = {"lr": _VARIANTS["lr"][j % 3] * (1 + 0.1 * j)}
        for k, v in base.hyper.items():
            if k in ("lr", "weight_decay") or isinstance(v, bool) or not isinstance(v, float):
                continue
            if 0.0 < v < 1.0:
                kw[k] = v ** (1 + 0.05 * j)        # momenta, betas, alphas stay in (0, 1)
        try:
            out.append(O.make(name, **kw))
        except Exception:   # a combination the family refuses: its defaults but the lr
            out.append(O.make(name, lr=kw["lr"]))
    return out


def _step_both(opts, one, prep_c, elem_c, G, lrs, t, runs, lanes, scratch, name,
               on_lane0=()):
    """Step t: each run through the one-run update ``one``, the lanes through the lane-form
    PREP / ELEM; then x, the state and the scalars must hold the same bits (the scalar rows
    ``on_lane0``, shared and kept on lane 0 by the form: on lane 0)."""
    X, ST, SC, HY = runs
    XL, STL, SCL, HYL = lanes
    GL = G.T.copy()
    for j in range(len(opts)):
        SC[j, SC_LR], SC[j, SC_STEP] = lrs[j], t + 1.0
        one(X[j], G[j].copy(), ST[j], SC[j], HY[j])
    SCL[SC_LR], SCL[SC_STEP] = SC[:, SC_LR], SC[:, SC_STEP]
    prep_c(SCL, HYL, *scratch, NL)
    for i in range(X.shape[1]):
        elem_c(XL, GL[i], STL, SCL, HYL, i, *scratch, NL)
    assert np.array_equal(XL, X.T), (name, t)
    assert np.array_equal(STL, ST.transpose(1, 2, 0)), (name, t)
    rows = [s for s in range(SC.shape[1]) if s not in on_lane0]
    assert np.array_equal(SCL[rows], SC.T[rows], equal_nan=True), (name, t)
    for s in on_lane0:
        assert np.array_equal(SC[:, s], np.full(len(opts), SCL[s, 0]), equal_nan=True), \
            (name, t, s)


@pytest.mark.parametrize("name", O.coordinate_wise())
def test_optimizer_lane_form_is_the_one_run_kernel_bit_for_bit(name):
    opts = _lane_optimizers(name)
    d = 3
    rng = np.random.default_rng(7)
    prep = lane_form(opts[0].PREP, **PREP_LANES)
    elem = lane_form(opts[0].ELEM, **ELEM_LANES)
    prep_c, elem_c = kc.cpu(prep), kc.cpu(elem)
    one = opts[0].cpu_update()
    ns = max(max(1, o.n_state()) for o in opts)
    X = rng.normal(size=(NL, d))
    ST = np.abs(rng.normal(size=(NL, ns, d))) * 0.1
    SC = np.zeros((NL, 16))
    HY = np.zeros((NL, max(len(o.hyper_array()) for o in opts)))
    for j, o in enumerate(opts):
        ST[j, :max(1, o.n_state())], SC[j] = o.init_state(d)[0] + ST[j, :max(1, o.n_state())], \
            o.init_state(d)[1]
        HY[j, :len(o.hyper_array())] = o.hyper_array()
    XL, STL = X.T.copy(), np.ascontiguousarray(ST.transpose(1, 2, 0))
    SCL, HYL = SC.T.copy(), HY.T.copy()
    lw, lwi, ret = _scratch(prep, elem)
    for t in range(6):
        G = rng.normal(size=(NL, d)) * (10.0 if t == 3 else 1.0)
        _step_both(opts, one, prep_c, elem_c, G, [o.lr * (1 - 0.1 * t) for o in opts], t,
                   (X, ST, SC, HY), (XL, STL, SCL, HYL), (lw, lwi, ret), name)


def _option_variants():
    """Each coordinate-wise family with its defaults, and with each boolean option flipped
    (where the family accepts it): every branch of the uniform forms is taken."""
    out = []
    for name in O.coordinate_wise():
        out.append((name, {}))
        for k, v in O.make(name).hyper.items():
            if isinstance(v, bool):
                try:
                    O.make(name, **{k: not v})
                except Exception:   # an option the family refuses alone
                    continue
                out.append((name, {k: not v}))
    return out


OPTION_VARIANTS = _option_variants()


@pytest.mark.parametrize("lane0", [True, False], ids=["lane0", "broadcast"])
@pytest.mark.parametrize("name,kw", OPTION_VARIANTS,
                         ids=[n + "".join(f" {k}={v}" for k, v in kw.items())
                              for n, kw in OPTION_VARIANTS])
def test_uniform_lane_form_is_the_one_run_kernel_bit_for_bit(name, kw, lane0):
    """Runs that differ in the lr only (a sweep): the uniform form computes what depends on
    the shared scalars once, on lane 0, and branches once for all lanes (its branches copied
    out of the lane loops) — same bits, for every option. The driver's form (``lane0``)
    leaves the shared scalars it writes on lane 0; the other copies them to every lane."""
    from optbench.runner.lanes import uniform_kernels

    opts = [O.make(name, lr=1e-3 * (1.7 ** j), **kw) for j in range(NL)]
    prep, elem, scu = uniform_kernels(opts[0], lane0)
    on_lane0 = [s for s in range(len(scu)) if scu[s]] if lane0 else []
    prep_c, elem_c = kc.cpu(prep), kc.cpu(elem)
    one = opts[0].cpu_update()
    d, rng = 3, np.random.default_rng(11)
    ns = max(1, opts[0].n_state())
    X = rng.normal(size=(NL, d))
    ST = np.abs(rng.normal(size=(NL, ns, d))) * 0.1
    SC = np.array([o.init_state(d)[1] for o in opts])
    HY = np.array([o.hyper_array() for o in opts])
    XL, STL = X.T.copy(), np.ascontiguousarray(ST.transpose(1, 2, 0))
    SCL, HYL = SC.T.copy(), HY.T.copy()
    lw, lwi, ret = _scratch(prep, elem)
    for t in range(6):
        _step_both(opts, one, prep_c, elem_c, rng.normal(size=(NL, d)), [o.lr for o in opts],
                   t, (X, ST, SC, HY), (XL, STL, SCL, HYL), (lw, lwi, ret), name, on_lane0)
        # what the form shares is equal in every lane, as the driver's check requires
        shared = [s for s in range(SC.shape[1]) if scu[s] and not lane0]
        assert all(np.array_equal(SCL[s], np.full(NL, SCL[s, 0]), equal_nan=True)
                   for s in shared), (name, t)


# -- kernel level: problems ----------------------------------------------------------------
def _small_problems():
    out = []
    for name in P.names():
        p = P.make(name)
        if p.FG is None:
            continue
        if p.dim > 64:
            if "dim" not in p.params:
                continue
            p = P.make(name, dim=8 if name != "linear-net" else p.params["dim"].default)
            if p.dim > 64:
                continue
        out.append((name, p))
    out.append(("least-squares batch=7", P.make("least-squares", batch=7, n=50)))
    out.append(("logistic batch=5", P.make("logistic", batch=5, n=40)))
    out.append(("noisy-quadratic dim=6", P.make("noisy-quadratic", dim=6, sigma=0.3)))
    return out


SMALL = _small_problems()


def lane_inputs(prob):
    """NL different points of ``prob`` (its starts, shifted apart) and seeds, per run (X,
    seeds) and as lanes (XL; GL, the lanes' gradient, NaN until written)."""
    X = np.array([prob.x0(s) for s in range(NL)]) + 0.01 * np.arange(NL)[:, None]
    seeds = np.arange(NL, dtype=np.int64) * 977 + 5
    return X, seeds, X.T.copy(), np.full((prob.dim, NL), np.nan)


@pytest.mark.parametrize("name,prob", SMALL, ids=[n for n, _ in SMALL])
def test_problem_lane_form_is_the_one_run_kernel_bit_for_bit(name, prob):
    base = name.split()[0]
    if base in NO_LANE_FORM:
        with pytest.raises(LaneError):
            lane_form(prob.FG, **FG_LANES)
        return
    lf = lane_form(prob.FG, **FG_LANES)
    fg_l = kc.cpu(lf)
    fg_1 = kc.cpu(prob.FG)
    d = prob.dim
    X, seeds, XL, GL = lane_inputs(prob)
    lw, lwi, F = _scratch(lf)
    for step in (0, 3, 41):
        fg_l(XL, GL, prob.data, prob.idata, seeds, step, lw, lwi, F, NL)
        for j in range(NL):
            g = np.full(d, np.nan)
            f = fg_1(X[j].copy(), g, prob.data, prob.idata, seeds[j], step)
            assert np.array_equal(GL[:, j], g), (name, step, j)
            assert F[j] == f or (np.isnan(F[j]) and np.isnan(f)), (name, step, j)


def test_problems_without_a_lane_form_keep_the_lockstep_driver():
    dw = P.make("double-well", dim=4)
    assert not has_lane_forms(dw, O.make("adam"))
    steps = SPECIAL_MIN_WORK // (2 * LANES) + 1
    specs = [RunSpec.make(dw, "adam", seed=s, steps=steps, stop="budget")
             for s in range(2 * LANES)]
    from optbench.runner.engines.base import Job
    job = Job(specs, dw, [s.build_optimizer() for s in specs], None)
    assert E.choose_engine(job).name == "lockstep"


def test_the_rewrite_refuses_what_it_cannot_express_in_one_line():
    def early(x, g, data, idata, seed, step):
        if x[0] > 0:
            return 1.0
        return 0.0
    with pytest.raises(LaneError, match="return before the end"):
        lane_form(early, **FG_LANES)


def test_lane_locals_live_across_loops_get_rows_of_their_type():
    lf = lane_form(P.make("least-squares", batch=7).FG, **FG_LANES)
    # the minibatch keys and row offsets are ints, the residual and f floats
    assert lf.lane_rows["i"] >= 2 and lf.lane_rows["f"] >= 2
    assert "for _l_ in range(_nl_)" in lf.lane_source


def test_uniform_form_copies_shared_branches_out_and_loads_shared_rows_once():
    """Adam's uniform ELEM: the amsgrad branch (the same for every lane) is taken before the
    lane loop, one loop per branch, so m and v stay numbers; the hyperparameters and shared
    scalars are read once, on lane 0, before each loop."""
    import ast

    from optbench.runner.lanes import uniform_kernels

    _, elem, _ = uniform_kernels(O.make("adam"))
    fn = ast.parse(elem.lane_source).body[0]
    top = [s for s in fn.body if not isinstance(s, ast.Assign)]
    assert len(top) == 1 and isinstance(top[0], ast.If)      # the branch, outside
    for branch in (top[0].body, top[0].orelse):
        loops = [s for s in branch if isinstance(s, ast.For)]
        assert len(loops) == 1                                # one lane loop per branch
        src = ast.unparse(loops[0])
        assert "_lw_" not in src                              # m, v: numbers
        assert "hy[" not in src and "sc[SC.sqrt_bc2" not in src   # shared rows: hoisted
    # the general form (lanes may differ in every hyperparameter) keeps per-lane reads
    general = lane_form(O.make("adam").ELEM, **ELEM_LANES)
    assert "hy[HY.beta1, _l_]" in general.lane_source


@pytest.mark.parametrize("name", ["sgd", "rmsprop", "adam", "adagrad"])
def test_uniform_update_is_one_lane_loop_per_path(name):
    """Shared locals (``mom = hy[...]``) move above the branches, nested and consecutive
    branches on options are copied out: every path through the uniform ELEM is one loop over
    the lanes, and no local needs a scratch row."""
    import ast

    from optbench.runner.lanes import uniform_kernels

    _, elem, _ = uniform_kernels(O.make(name))
    fn = ast.parse(elem.lane_source).body[0]
    assert "_lw_[" not in elem.lane_source

    def lane_loops(stmts):
        return [x for x in stmts if isinstance(x, ast.For) and x.target.id == "_l_"]

    def check(stmts):
        assert len(lane_loops(stmts)) <= 1
        for x in stmts:
            if isinstance(x, ast.If):
                check(x.body)
                check(x.orelse)
    check(fn.body)


# -- driver level ----------------------------------------------------------------------------
def _same_results(specs, engine=None):
    """The lane engine's (or ``engine``'s) tables and end points equal the generic loop's,
    every column but the timings."""
    ref = E.run_batch(specs, parallel=False)
    got = E.run_batch(specs, parallel=True, engine=engine or LaneEngine())
    skip = {"wall_s", "compile_s", "env_id", "time_s"}
    for a, b in ((ref.runs, got.runs), (ref.traces, got.traces)):
        assert list(a.columns) == list(b.columns) and len(a) == len(b)
        for c in a.columns:
            if c in skip:
                continue
            for u, v in zip(a[c].tolist(), b[c].tolist()):
                if isinstance(u, (list, np.ndarray)):
                    assert np.array_equal(u, v, equal_nan=True), c
                else:
                    assert u == v or (u != u and v != v), c
    for (_, xa), (_, xb) in zip(ref.xs, got.xs):
        assert np.array_equal(xa, xb)
    return got


def test_noisy_gradients_schedule_and_norm_clipping_bit_for_bit():
    prob = ob.problem("noisy-rosenbrock", sigma=0.5, start="random")
    opt = ob.optimizer("nesterov", lr=2e-3, momentum=0.9, clip_norm=5.0,
                       schedule={"kind": "cosine", "warmup": 20})
    specs = [RunSpec.make(prob, opt, seed=s, steps=600, stop="budget", record="log")
             for s in range(2 * LANES + 3)]
    got = _same_results(specs)
    assert got.traces.groupby("run_id").size().min() > 5


def test_minibatch_value_clipping_decoupled_decay_targets_and_divergence_bit_for_bit():
    prob = ob.problem("least-squares", dim=6, n=64, batch=8, start="random")
    specs = [RunSpec.make(prob, ob.optimizer("adamw", lr=lr, weight_decay=1e-3, clip_value=2.0),
                          seed=s, steps=500, stop="target", targets=[1.0, 0.3, 0.2])
             for s in range(LANES + 5) for lr in (1e-2, 1e6)]
    got = _same_results(specs)
    assert {"diverged"} <= set(got.runs.status) and len(set(got.runs.nit)) > 2


def test_runs_with_different_hyperparameters_take_the_general_form_bit_for_bit():
    """A chunk whose runs differ in more than the lr (beta1 here) cannot share scalars: the
    driver checks and takes the general lane form; the results are the same bits."""
    prob = ob.problem("rosenbrock", start="random")
    specs = [RunSpec.make(prob, ob.optimizer("adam", lr=1e-2, beta1=b1), seed=s, steps=400,
                          stop="target", targets=[1.0, 1e-2])
             for s in range(LANES) for b1 in (0.9, 0.5)]
    _same_results(specs)


def test_each_lane_is_charged_its_share_of_the_steps_it_ran():
    """Time: each step's cycles are split among the lanes live in it. Within a chunk a run
    that ran longer was charged for every step of a shorter one and more; each trace's time
    stamps grow from its first step on (a lane's clock is up to date whenever it is read), and
    its last one is the run's time."""
    prob = ob.problem("rosenbrock", start="random")
    specs = [RunSpec.make(prob, ob.optimizer("adam", lr=lr), seed=s, steps=3000,
                          stop="target", targets=[1.0, 1e-2, 1e-4], record="log")
             for s in range(LANES // 4) for lr in (3e-3, 1e-2, 3e-2, 1e-1)]
    got = E.run_batch(specs, engine=LaneEngine())
    runs = got.runs
    assert len(runs) == LANES and runs.nit.nunique() > 5
    assert (runs.wall_s > 0).all()
    order = runs.sort_values("nit")
    assert (np.diff(order.wall_s.to_numpy()) >= 0).all()
    for rid, tr in got.traces.groupby("run_id", sort=False):
        t = tr.time_s.to_numpy()
        assert (np.diff(t) >= 0).all() and (t[tr.step.to_numpy() > 0] > 0).all()
        assert t[-1] == pytest.approx(float(runs.set_index("run_id").wall_s[rid]), rel=1e-12)


def test_the_drivers_uniform_forms_leave_shared_scalars_on_lane_0():
    """adam's PREP writes its bias-correction powers from shared values: the form the driver
    uses leaves them on lane 0 (read there by ELEM's form and put back per run when a run
    stops); the broadcasting form copies each to every lane."""
    from optbench.runner.lanes import uniform_kernels

    kept, _, _ = uniform_kernels(O.make("adam"), lane0=True)
    copied, _, _ = uniform_kernels(O.make("adam"), lane0=False)
    assert "range(1, _nl_)" not in kept.lane_source
    assert copied.lane_source.count("range(1, _nl_)") == 3
