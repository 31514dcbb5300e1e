"""The at form (optbench/kernels/lane_at.py) and the lane driver's fused first pass
(runner/lane_fused.py): the one-run FG body for one lane, inlined into the driver's loop over
lanes with the norm and the quiet test, for small deterministic problems. Kernel level: the
at form computes the one-run kernel's bits lane by lane. Driver level: the fused pass gives
the generic loop's tables bit for bit, with targets, divergence and traces."""
from __future__ import annotations

import numpy as np
import pytest

import optbench as ob
from optbench.kernels import compile as kc
from optbench.kernels.lane_at import at_form
from optbench.kernels.lanes import LaneError
from optbench.runner.lane_fused import FUSE_MAX_DIM, fused_form, fused_pass, no_fused_pass
from optbench.runner.lanes import LANES
from optbench.runner.spec import RunSpec

from test_lanes import NL, SMALL, _same_results, lane_inputs

AT = dict(arrays=("x", "g"), scalars=("seed",))


def _at_or_none(prob):
    try:
        return at_form(prob.FG, **AT, dim=prob.dim)
    except LaneError:
        return None


WITH_AT = [(n, p) for n, p in SMALL if _at_or_none(p) is not None]


def test_the_small_classics_have_an_at_form():
    names = {n for n, _ in WITH_AT}
    assert {"rosenbrock", "himmelblau", "beale", "ackley", "wood"} <= names
    # loops over a data set's samples, or the point passed whole to another kernel
    assert not names & {"least-squares", "logistic", "noisy-rosenbrock", "quadratic"}


@pytest.mark.parametrize("name,prob", WITH_AT, ids=[n for n, _ in WITH_AT])
def test_at_form_is_the_one_run_kernel_bit_for_bit(name, prob):
    fga = kc.cpu(at_form(prob.FG, **AT, dim=prob.dim))
    fg_1 = kc.cpu(prob.FG)
    d = prob.dim
    X, seeds, XL, GL = lane_inputs(prob)
    for step in (0, 3, 41):
        for j in range(NL):
            f_at = fga(XL, GL, prob.data, prob.idata, seeds, step, j)
            g = np.full(d, np.nan)
            f = fg_1(X[j].copy(), g, prob.data, prob.idata, seeds[j], step)
            assert np.array_equal(GL[:, j], g), (name, step, j)
            assert f_at == f or (np.isnan(f_at) and np.isnan(f)), (name, step, j)


def test_at_form_refuses_what_would_not_vectorise():
    def samples(x, g, data, idata, seed, step):
        f = 0.0
        for k in range(idata[0]):          # a loop over samples: its bound is data
            f += data[k] * x[0]
        g[0] = f
        return f

    def whole(x, g, data, idata, seed, step):
        return helper(x)                   # noqa: F821  (the point passed whole)

    def loop(x, g, data, idata, seed, step):
        while x[0] > 0:
            x[0] -= 1.0
        return 0.0

    for fn, why in ((samples, "loop whose bound"), (whole, "used whole"), (loop, "while")):
        with pytest.raises(LaneError, match=why):
            at_form(fn, **AT, dim=2)


def test_at_form_makes_the_dimension_a_constant():
    src = at_form(ob.problem("rosenbrock").FG, **AT, dim=2).at_source
    assert "n = 2" in src and "x.shape" not in src and "x[i + 1, _l_]" in src


def test_the_fused_pass_is_for_small_deterministic_problems():
    assert fused_pass(ob.problem("rosenbrock")) is not no_fused_pass
    assert fused_form(ob.problem("rosenbrock", dim=FUSE_MAX_DIM + 2)) is None
    assert fused_pass(ob.problem("noisy-rosenbrock")) is no_fused_pass


@pytest.mark.parametrize("opt", ["adam", "sgd", "lion", "rmsprop"])
def test_fused_driver_targets_divergence_traces_bit_for_bit(opt):
    """Himmelblau (fused): learning rates from quiet to divergent, targets and a log-spaced
    trace, runs stopping at different steps inside one chunk."""
    prob = ob.problem("himmelblau", start="random")
    assert fused_pass(prob) is not no_fused_pass
    # lion's sign steps end in an oscillation of size lr: its last target is coarser
    targets = [10.0, 1.0, 1e-2] if opt == "lion" else [10.0, 1.0, 1e-3, 1e-9]
    specs = [RunSpec.make(prob, ob.optimizer(opt, lr=lr), seed=s, steps=700, stop="target",
                          targets=targets, record="log")
             for s in range(LANES // 2 + 3) for lr in (1e-3, 3e-2, 5.0)]
    got = _same_results(specs)
    assert len(set(got.runs.status)) >= 2 and len(set(got.runs.nit)) > 3


def test_fused_driver_with_schedule_clipping_and_weight_decay_bit_for_bit():
    prob = ob.problem("beale", start="random")
    opt = ob.optimizer("adamw", lr=1e-2, weight_decay=1e-2, clip_norm=3.0,
                       schedule={"kind": "cosine", "warmup": 30})
    specs = [RunSpec.make(prob, opt, seed=s, steps=400, stop="budget", record="log")
             for s in range(LANES + 7)]
    _same_results(specs)


def test_recording_steps_with_a_plateau_schedule_take_the_full_bookkeeping_bit_for_bit():
    """A recording step with nothing else to do gets its trace row without the one-run
    bookkeeping (runner/lane_slow.py); one whose schedule observes f there
    (reduce-on-plateau) must not: same bits as the generic loop either way, with x* (the
    trace's distance) and a dense trace."""
    prob = ob.problem("rosenbrock", start="random")
    plain = ob.optimizer("adam", lr=2e-2)
    plateau = ob.optimizer("adam", lr=2e-2, schedule={"kind": "reduce-on-plateau",
                                                       "patience": 3, "factor": 0.5})
    for opt in (plain, plateau):
        specs = [RunSpec.make(prob, opt, seed=s, steps=600, stop="budget", record="every:1")
                 for s in range(LANES + 3)]
        got = _same_results(specs)
        assert got.traces.dist_to_opt.notna().all() and len(got.traces) == len(specs) * 601
