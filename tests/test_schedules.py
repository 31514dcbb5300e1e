"""Learning-rate schedules: ``Schedule(kind, **params).lr_sequence(lr, n)`` against the NumPy
reference's closed forms (tests/reference_optim.py), against torch.optim.lr_scheduler (StepLR,
ExponentialLR, LambdaLR, CosineAnnealingLR, CyclicLR, LinearLR) when torch is installed, and
against a few values read off the definitions; bad names and parameters are rejected.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import optbench as ob
from optbench.optimizers import SCHEDULES, Schedule

import reference_optim as R

N = 600
LR = 0.05

SPECS = [
    ("constant", {}),
    ("constant", {"warmup": 40}),
    ("constant", {"warmup": 40, "warmup_start": 0.0}),
    ("step", {}),
    ("step", {"step_size": 50, "gamma": 0.5}),
    ("step", {"step_size": 7, "gamma": 0.9, "warmup": 20, "warmup_start": 0.25}),
    ("exponential", {}),
    ("exponential", {"gamma": 0.99, "warmup": 100}),
    ("inverse-time", {}),
    ("inverse-time", {"decay": 0.05, "power": 0.5}),
    ("cosine", {}),
    ("cosine", {"T_max": 150, "eta_min": 1e-3}),
    ("cosine", {"T_max": 1000, "warmup": 60, "warmup_start": 0.01}),
    ("cyclic", {}),
    ("cyclic", {"max_lr": 0.2, "step_size_up": 45}),
    ("cyclic", {"max_lr": 0.01, "step_size_up": 30}),       # descending triangle (max < base)
]


def _id(s):
    return s[0] + "".join(f"-{k}={v}" for k, v in s[1].items())


def test_every_kind_is_covered():   # the later kinds: tests/test_schedules_v2.py
    assert {s[0] for s in SPECS} | {"onecycle", "polynomial", "reduce-on-plateau"} \
        == set(SCHEDULES)


@pytest.mark.parametrize("kind,params", SPECS, ids=[_id(s) for s in SPECS])
def test_lr_sequence_matches_reference(kind, params):
    seq = Schedule(kind, **params).lr_sequence(LR, N)
    ref = np.array([R.schedule_lr(kind, params, LR, k, N) for k in range(N)])
    assert seq.shape == (N,)
    # cosine near T_max: 1 + cos(πk/T) cancels, so allow an absolute error of rounding size
    np.testing.assert_allclose(seq, ref, rtol=1e-12, atol=1e-16 * LR)


def test_budget_sets_cosine_period():
    s = Schedule("cosine")
    seq = s.lr_sequence(LR, 101, budget=100)
    assert seq[0] == LR and abs(seq[50] - LR / 2) < 1e-15 and abs(seq[100]) < 1e-17


def test_values_from_the_definitions():
    s = Schedule("step", step_size=10, gamma=0.5).lr_sequence(1.0, 31)
    assert s[9] == 1.0 and s[10] == 0.5 and s[19] == 0.5 and s[20] == 0.25 and s[30] == 0.125
    c = Schedule("cosine", T_max=8, eta_min=0.2).lr_sequence(1.0, 9)
    assert c[0] == 1.0 and abs(c[4] - 0.6) < 1e-15 and abs(c[8] - 0.2) < 1e-15
    y = Schedule("cyclic", max_lr=3.0, step_size_up=4).lr_sequence(1.0, 17)
    np.testing.assert_allclose(y, [1, 1.5, 2, 2.5, 3, 2.5, 2, 1.5, 1, 1.5, 2, 2.5, 3, 2.5, 2,
                                   1.5, 1], rtol=1e-15)
    w = Schedule("constant", warmup=4, warmup_start=0.2).lr_sequence(1.0, 6)
    np.testing.assert_allclose(w, [0.2, 0.4, 0.6, 0.8, 1.0, 1.0], rtol=1e-15)
    i = Schedule("inverse-time", decay=0.5, power=2.0).lr_sequence(1.0, 3)
    np.testing.assert_allclose(i, [1.0, 1 / 1.5 ** 2, 1 / 4.0], rtol=1e-15)
    e = Schedule("exponential", gamma=0.5).lr_sequence(2.0, 4)
    np.testing.assert_allclose(e, [2.0, 1.0, 0.5, 0.25], rtol=1e-15)


@pytest.mark.parametrize("kind,params", SPECS, ids=[_id(s) for s in SPECS])
def test_lr_sequence_matches_torch(kind, params):
    torch = pytest.importorskip("torch")
    from test_optimizers_torch import _torch_scheduler

    p = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([p], lr=LR)
    sched = _torch_scheduler(opt, {"kind": kind, **params}, LR, N)
    if sched is None:
        pytest.skip("no torch equivalent (non-multiplicative chain, or LinearLR start 0)")
    want = []
    for _ in range(N):
        want.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    seq = Schedule(kind, **params).lr_sequence(LR, N)
    # torch's StepLR/ExponentialLR/CosineAnnealingLR/LinearLR are recursive (lr ← lr·ratio),
    # optbench's closed forms: rounding differences grow like k·eps
    np.testing.assert_allclose(seq, want, rtol=1e-12, atol=1e-16 * LR)


BAD = [
    (("warp",), {}, "warp"),
    (("step",), {"gamma": 0.0}, "gamma"),
    (("step",), {"step_size": 0}, "step_size"),
    (("step",), {"step_size": 2.5}, "step_size"),
    (("exponential",), {"gamma": float("nan")}, "gamma"),
    (("inverse-time",), {"decay": -1.0}, "decay"),
    (("cosine",), {"T_max": -5}, "T_max"),
    (("cosine",), {"eta_min": -1e-3}, "eta_min"),
    (("cyclic",), {"max_lr": 0.0}, "max_lr"),
    (("cyclic",), {"step_size_up": 0}, "step_size_up"),
    (("constant",), {"warmup": -1}, "warmup"),
    (("constant",), {"warmup_start": 1.5}, "warmup_start"),
    (("exponential",), {"step_size": 3}, "step_size"),
]


@pytest.mark.parametrize("args,params,field", BAD, ids=[b[2] + "-" + b[0][0] for b in BAD])
def test_bad_schedules_rejected(args, params, field):
    with pytest.raises(ob.OptbenchInputError) as ei:
        Schedule(*args, **params)
    msg = str(ei.value)
    assert field in msg and "\n" not in msg, msg


def test_unknown_schedule_lists_kinds_and_bad_spec_types():
    with pytest.raises(ob.OptbenchInputError) as ei:
        Schedule("cosinus")
    for k in SCHEDULES:
        assert k in str(ei.value)
    with pytest.raises(ob.OptbenchInputError):
        Schedule.make(3.0)
    with pytest.raises(ob.OptbenchInputError, match="gamma"):
        ob.optimizer("sgd", schedule={"kind": "exponential", "gamma": -0.5})
    # a dict spec round-trips through the optimizer's spec
    o = ob.optimizer("sgd", schedule={"kind": "step", "step_size": 5})
    assert o.schedule.spec["step_size"] == 5 and o.schedule.kind == "step"
    assert math.isclose(o.schedule.lr_sequence(1.0, 6)[5], 0.1)
