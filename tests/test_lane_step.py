"""The lane driver's whole step (optbench/runner/lane_step.py) and the flat at forms it is
built from (optbench/kernels/lane_flat.py). Kernel level: the flat forms compute the one-run
kernel's bits, and a guarded store keeps the old value when the lane's flag is off. Driver
level: a sweep in the whole step gives the generic loop's tables bit for bit, with targets
reached by runs of the budget (recorded after their update), target stops and divergence
(bookkeeping first, then the update), traces, and a chunk shorter than LANES."""
from __future__ import annotations

import math

import numpy as np
import pytest

import optbench as ob
from optbench import optimizers as O
from optbench.kernels import compile as kc
from optbench.kernels.lane_flat import flat_form
from optbench.kernels.lanes import LaneError
from optbench.kernels.slots import N_SCALARS
from optbench.kernels.lane_options import option_tests, options_check, outcomes
from optbench.runner.lane_step import STEP_MAX_DIM, step_forms, step_options, vectorises
from optbench.runner.lanes import LANES, lane_driver, uniform_kernels
from optbench.runner.spec import RunSpec

from test_lanes import NL, _same_results

FG_SHAPES = {"x": (), "g": ()}


def _forms(name, prob="rosenbrock"):
    o = O.make(name)
    return step_forms(ob.problem(prob), o, uniform_kernels(o)[2])


# the whole step's optimizers: every coordinate-wise one whose PREP splits into shared and
# per-lane statements and whose per-lane statements vectorise (the rest keep the passes)
WHOLE = ["adabelief", "adadelta", "adagrad", "adam", "adamax", "adamw", "ademamix", "adopt",
         "amsgrad", "gd", "lion", "momentum", "nadam", "nesterov", "radam", "rmsprop", "rprop",
         "sgd", "yogi"]


def test_the_sweep_optimizers_have_the_whole_step_and_the_rest_say_why_not():
    assert [n for n in WHOLE if _forms(n) is None] == []
    # PREP statements that mix shared and per-lane values: the lane driver's passes, which
    # the other tests cover (yogi's and ademamix's option branches decided, their statements
    # split; nadam's locals read only by its shared statements left out with them)
    assert _forms("asgd") is None
    # libm calls (pow, exp, log) on a lane's values (madgrad's cube root), or more than one
    # on shared values in per-lane statements (adan's two bias corrections, each divided into
    # its run's lr; adabelief keeps its own in shared rows), in the update or in FG
    assert all(_forms(n) is None for n in ("adan", "madgrad"))
    assert _forms("adam", "ackley") is None and _forms("adam", "x-plus-sin") is None
    assert _forms("adam", "noisy-rosenbrock") is None            # noise: the lane forms
    assert step_forms(ob.problem("rosenbrock", dim=STEP_MAX_DIM + 1), O.make("adam"),
                      uniform_kernels(O.make("adam"))[2]) is None
    name = lane_driver(ob.problem("rosenbrock"), O.make("adam"), True).py_func.__qualname__
    assert "__step" in name


def test_flat_form_of_fg_is_the_one_run_kernel_bit_for_bit():
    for pname in ("rosenbrock", "himmelblau", "beale", "ackley"):
        prob = ob.problem(pname)
        d = prob.dim
        fgf = kc.cpu(flat_form(prob.FG, dim=d, lanes=NL, shapes=FG_SHAPES, scalars=("seed",)))
        fg_1 = kc.cpu(prob.FG)
        rng = np.random.default_rng(3)
        X = rng.uniform(-2, 2, (NL, d))
        xl = np.ascontiguousarray(X.T).reshape(-1)
        gl = np.full(d * NL, np.nan)
        seeds = np.arange(NL, dtype=np.int64)
        for j in range(NL):
            f = fgf(xl, gl, prob.data, prob.idata, seeds, 5, j)
            g = np.empty(d)
            assert f == fg_1(X[j].copy(), g, prob.data, prob.idata, seeds[j], 5), pname
            assert np.array_equal(gl.reshape(d, NL)[:, j], g), pname


@pytest.mark.parametrize("name", ["adam", "amsgrad", "rmsprop", "lion", "adagrad"])
def test_guarded_update_is_the_one_run_update_or_nothing(name):
    """ELEM's flat form with the flag on gives the one-run kernel's bits (its shared scalar
    rows read from the step's column), with the flag off leaves x and the state untouched."""
    o = O.make(name)
    d, ns = 2, max(1, o.n_state())
    scu = uniform_kernels(o)[2]
    shared = {s for s in range(N_SCALARS) if scu[s]}
    elem = kc.cpu(flat_form(o.ELEM, dim=d, lanes=NL, shapes={"x": (), "st": (d,), "sc": ()},
                            shared={"sc": shared}, guard=True, fixed=step_options(o)[1]))
    elem_1 = kc.cpu(o.ELEM)
    rng = np.random.default_rng(7)
    st0, sc0 = o.init_state(d)
    sc0 = sc0.copy()
    sc0[1:] = np.where(sc0[1:] == 0.0, 0.3, sc0[1:])   # non-trivial scalars
    hy = o.hyper_array()
    X = rng.uniform(-1, 1, (NL, d))
    ST = np.abs(rng.normal(size=(NL, ns, d))) * 0.1
    G = rng.normal(size=(NL, d))
    xl = np.ascontiguousarray(X.T).reshape(-1)
    stl = np.ascontiguousarray(ST.transpose(1, 2, 0)).reshape(-1)
    scl = np.repeat(sc0[:, None], NL, axis=1).reshape(-1)
    for j in range(NL):
        for q in (False, True):
            x1, s1 = xl.copy(), stl.copy()
            for i in range(d):
                elem(x1, G[j, i], s1, scl, hy, i, sc0, q, j)
            if not q:
                assert np.array_equal(x1, xl) and np.array_equal(s1, stl)
                continue
            xo, so = X[j].copy(), ST[j].copy()
            for i in range(d):
                elem_1(xo, G[j, i], so, sc0.copy(), hy, i)
            assert np.array_equal(x1.reshape(d, NL)[:, j], xo), (name, j)
            assert np.array_equal(s1.reshape(ns, d, NL)[:, :, j], so), (name, j)


def _optioned(x, st, sc, hy, i):
    k = hy[1]
    if hy[0] != 0.0:
        x[i] = math.exp(x[i])
    else:
        x[i] = x[i] * 2.0 if hy[2] > 0.5 else x[i]
    if x[i] > k:            # reads a local: not an option test
        st[0, i] = x[i]


def test_option_tests_are_found_decided_and_checked():
    """The tests on hyperparameters alone are option tests; one that reads a local or the
    state is not. Decided in the flat form, the arm left out no longer counts against
    vectorising (exp in it); the check kernel tells a chunk's hyperparameters apart."""
    assert option_tests(_optioned) == ("hy[0] != 0.0", "hy[2] > 0.5")
    assert option_tests(O.make("adam").ELEM) == ("hy[HY.amsgrad] != 0.0",)
    assert option_tests(O.make("rmsprop").ELEM) == ("hy[HY.centered] != 0.0",
                                                     "hy[HY.momentum] > 0.0")
    assert "den" not in " ".join(option_tests(O.make("adopt").ELEM))
    hy = np.array([0.0, 1.0, 0.7])
    dec = outcomes(_optioned, hy)
    assert dec == {"hy[0] != 0.0": False, "hy[2] > 0.5": True}
    shapes = {"x": (), "st": (2,), "sc": ()}
    off = flat_form(_optioned, dim=2, lanes=NL, shapes=shapes, guard=True, fixed=dec)
    on = flat_form(_optioned, dim=2, lanes=NL, shapes=shapes, guard=True,
                   fixed={**dec, "hy[0] != 0.0": True})
    assert vectorises(off) and not vectorises(on)
    assert "exp" not in off.flat_source and "exp" in on.flat_source
    check = kc.cpu(options_check([(_optioned, dec)]))
    assert check(hy) and check(np.array([0.0, 5.0, 0.9]))
    assert not check(np.array([1.0, 1.0, 0.7])) and not check(np.array([0.0, 1.0, 0.2]))
    o = O.make("rmsprop")
    ok = kc.cpu(options_check([(o.ELEM, step_options(o)[1]), (o.PREP, step_options(o)[0])]))
    assert ok(o.hyper_array())
    assert not ok(O.make("rmsprop", centered=True).hyper_array())
    assert not ok(O.make("rmsprop", momentum=0.9).hyper_array())


def _uniform_pow(x, st, sc, hy, i):
    b = hy[1]
    x[i] = x[i] * math.pow(hy[0], sc[0])     # sc[0] shared below: one value for every lane


def _lane_pow(x, st, sc, hy, i):
    x[i] = math.pow(x[i], hy[0])


def _two_pows(x, st, sc, hy, i):
    x[i] = x[i] * math.pow(hy[0], 2.5) / math.pow(hy[1], 2.5)


def _pow_and_power(x, st, sc, hy, i):
    x[i] = x[i] * math.pow(hy[0], 2.5) / hy[1] ** 2.5


def _lane_power(x, st, sc, hy, i):
    x[i] = x[i] ** hy[0] + x[i] ** 2


def test_a_libm_call_on_shared_values_vectorises_one_on_a_lanes_values_does_not():
    shapes = {"x": (), "st": (2,), "sc": ()}
    form = {f: flat_form(f, dim=2, lanes=NL, shapes=shapes, shared={"sc": {0}}, guard=True)
            for f in (_uniform_pow, _lane_pow, _two_pows, _lane_power, _pow_and_power)}
    assert vectorises(form[_uniform_pow])
    assert not vectorises(form[_lane_pow]) and not vectorises(form[_lane_power])
    assert not vectorises(form[_two_pows])       # lane_step.MAX_HOISTED: one per kernel
    assert not vectorises(form[_pow_and_power])


def test_flat_form_refuses_a_shared_store_and_an_unknown_row():
    def store_shared(sc, hy):
        sc[1] = sc[1] * 2.0

    def unknown_row(sc, hy):
        k = int(hy[0])
        sc[0] = sc[k]

    with pytest.raises(LaneError, match="shared row"):
        flat_form(store_shared, dim=2, lanes=NL, shapes={"sc": ()}, shared={"sc": {1}})
    with pytest.raises(LaneError, match="not known"):
        flat_form(unknown_row, dim=2, lanes=NL, shapes={"sc": ()}, shared={"sc": {1}})


def test_locals_only_the_shared_statements_read_leave_with_them():
    """drop_shared leaves out the statements that only store to shared rows, then the local
    assignments nothing kept reads (NAdam's mu and running product: they read a shared row
    that a left-out statement writes, which a kept statement must not); a local that a
    per-lane statement reads keeps the refusal."""
    def prod_then_store(sc, hy):
        mu = hy[0] * (1.0 - 0.5 * 0.96 ** (sc[4] * hy[1]))
        prod = sc[1] * mu            # reads shared row 1, written below
        sc[1] = prod
        sc[2] = 1.0 - prod
        lr = sc[0]
        sc[3] = -lr / sc[2]

    def prod_read_by_a_lane(sc, hy):
        prod = sc[1] * hy[0]
        sc[1] = prod
        sc[3] = sc[0] / prod         # needs the old row 1: cannot be split

    form = flat_form(prod_then_store, dim=2, lanes=NL, shapes={"sc": ()},
                     shared={"sc": {1, 2, 4}}, guard=True, drop_shared=True)
    body = form.flat_source.split("\n", 1)[1]
    assert "mu =" not in body and "prod" not in body and "**" not in body
    assert "sc__0[2]" in body and vectorises(form)
    with pytest.raises(LaneError, match="before it is written"):
        flat_form(prod_read_by_a_lane, dim=2, lanes=NL, shapes={"sc": ()},
                  shared={"sc": {1}}, guard=True, drop_shared=True)


# one of each kind of update (moments, a branch on a hyperparameter, signs, per-coordinate
# step sizes, momentum): each pair compiles its own driver, so not all of WHOLE
SWEEP = ["adam", "amsgrad", "lion", "rmsprop", "adagrad", "nesterov", "adopt", "rprop", "sgd",
         "yogi", "ademamix", "adabelief", "nadam"]


@pytest.mark.parametrize("name", SWEEP)
def test_whole_step_sweep_bit_for_bit(name):
    """One batch, uniform chunks (runs differ in lr and seed only): runs of the budget with
    a target ladder (targets recorded after the update), runs that stop at their last target,
    a divergent learning rate, a log-spaced trace, 2·LANES + 5 runs (a short last chunk)."""
    prob = ob.problem("rosenbrock", start="random")
    base = {"rprop": 1e-3, "lion": 3e-4, "adagrad": 0.1, "nesterov": 1e-5, "sgd": 1e-4,
            "adopt": 1e-3}.get(name, 3e-3)
    specs = []
    for s in range(2 * LANES + 5):
        lr = base * (10.0 ** (s % 3)) if s % 11 else 1e6
        stop = "budget" if s % 2 else "target"
        specs.append(RunSpec.make(prob, ob.optimizer(name, lr=lr), seed=s, steps=500,
                                  stop=stop, targets=[10.0, 1.0, 0.1, 1e-2, 1e-4],
                                  record="log"))
    got = _same_results(specs)
    budget = got.runs[got.runs.stop == "budget"]
    assert budget.hit_step.map(lambda h: int((np.asarray(h) >= 0).sum())).sum() > 0
    # rprop's steps are bounded (its largest step size), whatever the lr: no divergence
    assert {"budget", "diverged"} - ({"diverged"} if name == "rprop" else set()) \
        <= set(got.runs.status)


def test_chunks_whose_options_differ_from_the_compiled_ones_bit_for_bit():
    """The whole step is compiled for the batch's first optimizer's options (plain RMSprop):
    a chunk of centered RMSprop with momentum in the same batch takes the lane passes."""
    prob = ob.problem("rosenbrock", start="random")
    opts = [ob.optimizer("rmsprop", lr=1e-3),
            ob.optimizer("rmsprop", lr=1e-3, centered=True, momentum=0.9)]
    specs = [RunSpec.make(prob, opts[s // LANES], seed=s, steps=400, stop="budget",
                          targets=[10.0, 1.0, 0.1, 1e-2], record="log")
             for s in range(2 * LANES)]
    got = _same_results(specs)
    assert len(set(got.runs.optimizer_params)) == 2


def test_one_dimensional_problem_in_the_whole_step_bit_for_bit():
    prob = ob.problem("quadratic-1d", start="random")
    assert prob.dim == 1 and _forms("adam", "quadratic-1d") is not None
    specs = [RunSpec.make(prob, ob.optimizer("adam", lr=lr), seed=s, steps=300,
                          stop="budget", targets=[1.0, 1e-2, 1e-4], record="log")
             for s in range(LANES + 9) for lr in (1e-2,)]
    _same_results(specs)


@pytest.mark.parametrize("record", ["every:1", "every:7"])
def test_rows_recorded_after_the_update_bit_for_bit(record):
    """Recording steps in the whole step: a lane whose step only records (or records and
    reaches targets, as a run of the budget) is updated in the vector loop and gets its row
    afterwards, from f, the gradient norm and the distance taken before the update; a lane
    held back at a recording step (a target stop, a divergence) records in its bookkeeping.
    Recording every step makes every target reached coincide with a row."""
    prob = ob.problem("rosenbrock", start="random")
    specs = [RunSpec.make(prob, ob.optimizer("adam", lr=3e-3 * 10.0 ** (s % 3) if s % 13
                                             else 1e6),
                          seed=s, steps=300, stop="budget" if s % 2 else "target",
                          targets=[10.0, 1.0, 0.1, 1e-2], record=record)
             for s in range(2 * LANES + 3)]
    got = _same_results(specs)
    every = int(record.split(":")[1])
    budget = got.runs[got.runs.stop == "budget"]
    hits = np.concatenate([np.asarray(h) for h in budget.hit_step])
    assert (hits[hits > 0] % every == 0).any()      # targets reached at recording steps
    assert {"budget", "diverged", "converged"} <= set(got.runs.status)


def test_chunks_share_lr_per_chunk_of_lanes():
    from optbench.runner.engines.cpu import chunks_share_lr

    a, b = ob.optimizer("adam", lr=1e-3), ob.optimizer("adam", lr=1e-2)
    assert chunks_share_lr([a] * LANES + [b] * LANES + [a] * 3)
    assert not chunks_share_lr([a] * (LANES - 1) + [b] * (LANES + 1))
    assert not chunks_share_lr([a] * LANES + [b, a])
    # equal rates in distinct optimizer objects count as one rate
    assert chunks_share_lr([ob.optimizer("adam", lr=1e-3) for _ in range(LANES + 2)])


def test_the_lr_is_shared_where_that_takes_a_division_out_of_the_per_run_statements():
    """The whole step with the lr shared replaces the plain one where the per-run statements
    lose a division (Adam's step size); not where none goes (sgd, rmsprop, lion: measured no
    faster), nor where the pair has no plain whole step (adan: its would be slower than its
    passes)."""
    from optbench.runner.lane_step import lr_sharing_pays
    from optbench.runner.lanes import uniform_kernels

    prob = ob.problem("rosenbrock")

    def pays(name):
        o = O.make(name)
        return lr_sharing_pays(prob, o, uniform_kernels(o)[2],
                               uniform_kernels(o, lr_shared=True)[2])

    assert all(map(pays, ["adam", "nadam", "adagrad", "yogi", "adabelief", "amsgrad"]))
    assert not any(map(pays, ["sgd", "rmsprop", "lion", "momentum", "adan"]))


# four of the optimizers it is taken for (each pair compiles its driver): the step size's
# division (adam), nadam's coefficients, adagrad's lr decay, yogi's sign update
@pytest.mark.parametrize("name", ["adam", "nadam", "adagrad", "yogi"])
def test_whole_step_with_the_lr_shared_bit_for_bit(name):
    """A sweep whose seeds vary fastest, LANES per learning rate: every chunk's runs share
    the lr, and the whole step computes the step size once per chunk-step (one division per
    step, not one per run). Runs of the budget with targets, runs that stop at their last
    target, a divergent rate, traces and a short last chunk give the generic loop's bits;
    forced on a batch whose chunks mix rates, the mixed chunks take the passes, same bits."""
    from optbench.runner.engines.cpu import LaneEngine, chunks_share_lr
    from optbench.runner.lanes import uniform_kernels

    o = O.make(name)
    assert sum(uniform_kernels(o, lr_shared=True)[2]) > sum(uniform_kernels(o)[2])
    prob = ob.problem("rosenbrock", start="random")
    base = {"adagrad": 0.1}.get(name, 3e-3)
    rates = [base, 10 * base, 1e6]
    specs = [RunSpec.make(prob, ob.optimizer(name, lr=rates[s // LANES]), seed=s, steps=400,
                          stop="budget" if s % 2 else "target",
                          targets=[10.0, 1.0, 0.1, 1e-2, 1e-4], record="log")
             for s in range(2 * LANES + 7)]
    assert chunks_share_lr([s.build_optimizer() for s in specs])
    got = _same_results(specs)
    assert {"budget", "diverged"} <= set(got.runs.status)
    mixed = [RunSpec.make(prob, ob.optimizer(name, lr=rates[s % 2]), seed=s, steps=300,
                          stop="budget", targets=[10.0, 1.0, 0.1], record="log")
             for s in range(LANES)] + specs[:LANES]
    _same_results(mixed, engine=LaneEngine(lr_shared=True))
