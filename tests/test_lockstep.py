"""The lockstep batch driver (runner/lockstep.py) gives bit-identical results to the one-run
loop, for runs that stop at different steps, diverge, record traces, and use noisy gradients."""
import numpy as np
import pytest

import optbench as ob
from optbench.runner import execute as E
from optbench.runner import loop as L
from optbench.runner.batch import Batch
from optbench.runner.lockstep import LOCKSTEP_K, lockstep_driver
from optbench.runner.suites import suite_specs

CASES = {
    # targets stop runs at different steps; the largest learning rates diverge
    "rosenbrock-adam-targets": ({"problem": "rosenbrock", "dim": 2, "start": "random"},
                                {"optimizer": "adam", "lr": [1e-3, 1e-2, 0.1, 3.0, 50.0]},
                                dict(stop="target", targets=[1.0, 0.1], record="log")),
    "noisy-sgd-schedule-clip": ({"problem": "noisy-rosenbrock", "dim": 2, "sigma": 0.5},
                                {"optimizer": "nesterov", "lr": [1e-4, 1e-3], "momentum": 0.9,
                                 "clip_norm": 10.0, "schedule": {"kind": "cosine"}},
                                dict(stop="budget", record="every:7")),
    "himmelblau-rmsprop-wd": ({"problem": "himmelblau", "start": "random"},
                              {"optimizer": "rmsprop", "lr": [1e-3, 1e-2], "weight_decay": 0.01},
                              dict(stop="gtol", gtol=1e-6, record="log")),
}


def _run(driver, specs):
    prob = specs[0].build_problem()
    opts = [s.build_optimizer() for s in specs]
    b = Batch(specs, prob, opts)
    driver(prob, opts)(*b.args())
    a = b.a
    trace = a["TRACE"].copy()
    trace[:, :, L.T_TICKS] = 0.0       # time stamps differ by construction
    iout = a["IOUT"].copy()
    iout[:, [L.I_TICK0, L.I_TICK1]] = 0
    return a["X"], trace, a["HITF"], a["HITG"], a["OUT"], iout, a["ST"]


@pytest.mark.parametrize("case", sorted(CASES))
def test_lockstep_is_bit_identical_to_the_one_run_loop(case):
    prob, opt, kw = CASES[case]
    seeds = 19    # runs = 19 × lrs: at least two full chunks of LOCKSTEP_K and a partial one
    specs = suite_specs({"name": "t", "steps": 400, "seeds": seeds, "problems": [prob],
                         "optimizers": [opt], **kw})
    assert len(specs) > 2 * LOCKSTEP_K and len(specs) % LOCKSTEP_K != 0

    def generic(p, o):
        fg, val, _ = p.cpu_kernels()
        from functools import partial

        from optbench.kernels import compile as kc
        from optbench.kernels import signatures as S
        return partial(L.batch_serial, fg, val, o[0].cpu_update(),
                       kc.cpu(p.METRICS or L.no_metrics, S.METRICS_SIG))

    ref = _run(generic, specs)
    for parallel in (False, True):
        got = _run(lambda p, o: lockstep_driver(p, o[0], parallel), specs)
        for r, g in zip(ref, got):
            np.testing.assert_array_equal(r, g)
    status = ref[5][:, L.I_STATUS]
    nit = ref[5][:, L.I_NIT]
    if case.startswith("rosenbrock"):
        # the case covers what it claims: early stops, divergence, and full budgets
        assert {0, 2} <= set(status.tolist()) and len(set(nit.tolist())) > 3


def test_lockstep_time_shares_add_up():
    """Each run's wall time is its share of its chunk's time: positive, and the trace's
    time stamps never decrease within a run."""
    specs = suite_specs({"name": "t", "steps": 2000, "seeds": 40, "stop": "budget",
                         "problems": [{"problem": "rosenbrock", "dim": 2, "start": "random"}],
                         "optimizers": [{"optimizer": "adam", "lr": 1e-3}]})
    prob = specs[0].build_problem()
    opts = [s.build_optimizer() for s in specs]
    b = Batch(specs, prob, opts)
    lockstep_driver(prob, opts[0], False)(*b.args())
    iout, tr = b.a["IOUT"], b.a["TRACE"]
    assert np.all(iout[:, L.I_TICK1] > iout[:, L.I_TICK0])
    for r in range(len(specs)):
        ticks = tr[r, :iout[r, L.I_NREC], L.T_TICKS]
        assert np.all(np.diff(ticks) >= 0) and ticks[-1] == iout[r, L.I_TICK1]


def test_sweeps_of_small_problems_choose_the_lockstep_driver():
    small = ob.problem("rosenbrock")
    big = ob.problem("rosenbrock", dim=1000)
    assert E.use_lockstep(small, 4096, 10_000)
    assert not E.use_lockstep(small, 4096, 100)          # too little work to pay compilation
    assert not E.use_lockstep(small, LOCKSTEP_K, 10**7)  # a single chunk gains nothing
    assert not E.use_lockstep(big, 4096, 10_000)         # large steps keep a core busy alone


def test_long_batches_of_larger_problems_use_the_pair_specialised_driver_bit_identically():
    """Batches with 10⁷ steps in all but d > LOCKSTEP_MAX_DIM run in the pair-specialised
    driver (kernels inlined, prange over runs); it gives the generic driver's results."""
    from functools import partial

    from optbench.kernels import compile as kc
    from optbench.kernels import signatures as S

    prob = ob.problem("rosenbrock", dim=80)
    assert not E.use_lockstep(prob, 1000, 10**4) and E.use_special(prob, 1000, 10**4)
    specs = suite_specs({"name": "t", "steps": 300, "seeds": 5, "stop": "target",
                         "targets": [1e2, 1.0], "record": "log",
                         "problems": [{"problem": "rosenbrock", "dim": 80, "start": "random"}],
                         "optimizers": [{"optimizer": "adam", "lr": [1e-3, 1e-2, 0.5]}]})

    def generic(p, o):
        fg, val, _ = p.cpu_kernels()
        return partial(L.batch_serial, fg, val, o[0].cpu_update(),
                       kc.cpu(p.METRICS or L.no_metrics, S.METRICS_SIG))

    ref = _run(generic, specs)
    got = _run(lambda p, o: L.special_driver(p, o[0], True), specs)
    for r, g in zip(ref, got):
        np.testing.assert_array_equal(r, g)
