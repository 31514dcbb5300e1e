"""The catalogue's coordinate-wise optimizers (issue 19, first batch) — lion, adabelief, yogi,
adan, adopt, ademamix, madgrad — each against its reference implementation(s) and a NumPy
implementation of its formulas (tests/reference_catalogue.py).

Every case runs 500 steps in float64 on one of tests/optim_v2_cases.py's problems (2-D
Rosenbrock, a 20-dim Haar-rotated quadratic, a 2-layer MLP whose blocks are torch's
parameters): the final x (relative, in norm) and the whole f trace (elementwise) agree to
1e-10 with pytorch-optimizer 4.1.0, with lion-pytorch 0.2.5 / adan-pytorch 0.1.0 where the
case names them, and with the NumPy reference. Learning rates keep the runs progressing
without the chaotic regime where any two roundings part (tests/test_optimizers_numpy.py).
Then: defaults equal the references', the lane sweep driver takes every one of them, bad
hyperparameters are one line.
"""
from __future__ import annotations

import functools
import inspect
import math

import numpy as np
import pytest

import optbench as ob
from optbench.runner import execute as E
from optbench.runner.engines.base import Job
from optbench.runner.engines.cpu import SPECIAL_MIN_WORK
from optbench.runner.lanes import LANES, _uniform_kernels
from optbench.runner.spec import RunSpec

import reference_catalogue as R
from optim_v2_cases import PROBLEMS, assert_close, optbench_run, torch_run

STEPS = 500
NAMES = ("lion", "adabelief", "yogi", "adan", "adopt", "ademamix", "madgrad")
COVERED = {"lion", "adabelief", "yogi", "adan", "adopt", "ademamix", "madgrad"}
PO_CLASS = {"lion": "Lion", "adabelief": "AdaBelief", "yogi": "Yogi", "adan": "Adan",
            "adopt": "ADOPT", "ademamix": "AdEMAMix", "madgrad": "MADGRAD"}
WHY = "the reference implementations are in the 'reference' extra (CI installs it)"


def case(name, pkey, refs=("po",), mods=(), **hyper):
    return (name, pkey, tuple(refs), dict(mods), hyper)


STEP_LR = {"step_lr": (100, 0.5)}     # torch's StepLR(100, 0.5) = optbench's "step" schedule
CASES = [
    case("lion", "rosen", ("po", "lucid"), lr=1e-3),
    case("lion", "quad20", ("po", "lucid"), lr=1e-3, weight_decay=0.1),
    case("lion", "mlp", ("po", "lucid"), lr=3e-4, beta1=0.95, beta2=0.98),
    case("lion", "quad20", ("po", "lucid"), lr=1e-3, weight_decay=0.5, fixed_decay=True),
    case("lion", "mlp", lr=3e-4, weight_decay=0.01, weight_decouple=False),
    case("lion", "quad20", mods={"maximize": True}, lr=1e-3, weight_decay=0.01),
    case("adabelief", "rosen", lr=1e-2),
    case("adabelief", "quad20", lr=1e-2, weight_decay=0.1),
    case("adabelief", "mlp", lr=1e-3),
    case("adabelief", "quad20", lr=1e-2, rectify=True),
    case("adabelief", "rosen", lr=1e-2, rectify=True, degenerated_to_sgd=False,
         n_sma_threshold=8, weight_decay=1e-3, fixed_decay=True),
    case("adabelief", "mlp", lr=1e-3, ams_bound=True, weight_decay=0.01, weight_decouple=False,
         eps=1e-12),
    case("yogi", "rosen"),
    case("yogi", "quad20", weight_decay=0.1),
    case("yogi", "mlp", lr=1e-3, initial_accumulator=1e-3, beta1=0.8),
    case("yogi", "quad20", weight_decay=0.05, weight_decouple=False, eps=1e-4),
    case("yogi", "quad20", (), bias_correction=False),             # the paper's step
    case("adan", "rosen", lr=1e-2),
    case("adan", "quad20", lr=1e-2, weight_decay=0.1),
    case("adan", "mlp", lr=3e-3),
    case("adan", "quad20", lr=1e-2, weight_decay=0.1, weight_decouple=True, beta1=0.9,
         beta2=0.9, beta3=0.999),
    case("adan", "quad20", mods=STEP_LR, lr=1e-2, weight_decay=0.05),
    case("adan", "quad20", mods={"maximize": True}, lr=1e-3, weight_decay=0.01),
    case("adan", "rosen", ("lucid",), lr=1e-2, idle_first_step=True),
    case("adan", "quad20", ("lucid",), lr=1e-2, weight_decay=0.1, idle_first_step=True),
    case("adan", "mlp", ("lucid",), lr=3e-3, idle_first_step=True),
    case("adopt", "rosen", lr=1e-2),
    case("adopt", "quad20", lr=1e-2, weight_decay=0.05),
    case("adopt", "mlp", lr=1e-3),
    case("adopt", "mlp", lr=1e-3, clip=False, weight_decouple=True, weight_decay=0.1),
    case("adopt", "mlp", lr=1e-3, clip_exponent=0.5, beta2=0.999),   # the clip acts on mlp
    case("ademamix", "rosen", lr=1e-2),
    case("ademamix", "quad20", lr=1e-2, weight_decay=0.05),
    case("ademamix", "mlp", lr=1e-3),
    case("ademamix", "quad20", lr=1e-2, t_alpha_beta3=200.0, alpha=8.0, beta3=0.999,
         weight_decouple=True, weight_decay=0.1),
    case("ademamix", "mlp", lr=1e-3, t_alpha_beta3=100.0, weight_decouple=True,
         fixed_decay=True, weight_decay=1e-3),
    case("madgrad", "rosen", lr=1e-2),
    case("madgrad", "quad20", lr=3e-3, weight_decay=0.05),
    case("madgrad", "mlp", lr=1e-3),
    case("madgrad", "quad20", lr=1e-2, momentum=0.0),
    case("madgrad", "quad20", lr=1e-2, momentum=0.0, eps=0.0),
    case("madgrad", "mlp", lr=1e-3, weight_decouple=True, weight_decay=0.1, eps=0.0),
    case("madgrad", "rosen", mods=STEP_LR, lr=1e-2, momentum=0.5),
]


def _id(c):
    name, pkey, refs, mods, hyper = c
    return "-".join([name, pkey, *refs] + [f"{k}={v}" for k, v in {**mods, **hyper}.items()])


IDS = [_id(c) for c in CASES]


def _opt_mods(mods):
    out = {"maximize": True} if mods.get("maximize") else {}
    if "step_lr" in mods:
        size, gamma = mods["step_lr"]
        out["schedule"] = {"kind": "step", "step_size": size, "gamma": gamma}
    return out


@functools.lru_cache(maxsize=None)
def _optbench(k):
    """(final x, f trace) of optbench's run of CASES[k] (shared by the reference tests)."""
    name, pkey, _, mods, hyper = CASES[k]
    x, f, _ = optbench_run(PROBLEMS[pkey], ob.optimizer(name, **hyper, **_opt_mods(mods)),
                           steps=STEPS)
    return x, f


def _progress(f, mods):
    if mods.get("maximize"):
        assert f[-1] > 1.2 * f[0], f[[0, -1]]
    else:
        assert f[-1] < 0.9 * f[0], f[[0, -1]]    # not two frozen trajectories


def pytorch_optimizer_factory(name, hyper, mods):
    """``params -> pytorch_optimizer.<cls>`` with optbench's full hyperparameters (defaults
    included, so a default that differed would show) in the reference's spelling."""
    po = pytest.importorskip("pytorch_optimizer", reason=WHY)
    h = dict(ob.optimizer(name, **hyper).hyper)
    if "beta1" in h:
        h["betas"] = tuple(h.pop(b) for b in ("beta1", "beta2", "beta3") if b in h)
    if name == "yogi":
        assert h.pop("bias_correction"), "the reference always corrects the bias"
    if name == "adan":
        assert not h.pop("idle_first_step"), "adan-pytorch's first step"
    if name == "adopt":
        clip, p = h.pop("clip"), h.pop("clip_exponent")
        h["clip_lambda"] = (lambda step: math.pow(step, p)) if clip else None
    cls = getattr(po, PO_CLASS[name])
    maximize = bool(mods.get("maximize")) and name != "adan"      # see _NegatedGradient
    return lambda params: cls(params, **h, maximize=maximize)


class _NegatedGradient:
    """The problem with ∇f negated: the reference's view of maximize=True for Adan, whose
    pytorch-optimizer version starts its previous gradient from the un-negated g under
    maximize=True (a first difference of −2g instead of 0; optbench negates g for every
    optimizer before the step)."""

    def __init__(self, prob):
        self.prob = prob

    def __getattr__(self, k):
        return getattr(self.prob, k)

    def grad(self, x):
        return -self.prob.grad(x)


def authors_package_factory(name, hyper):
    """lion-pytorch's Lion (decoupled decay; its decoupled_weight_decay = fixed_decay under a
    constant lr) or adan-pytorch's Adan (the paper's betas, 1 − optbench's)."""
    h = ob.optimizer(name, **hyper).hyper
    if name == "lion":
        lion = pytest.importorskip("lion_pytorch", reason=WHY)
        assert h["weight_decouple"]
        return lambda p: lion.Lion(p, lr=h["lr"], betas=(h["beta1"], h["beta2"]),
                                   weight_decay=h["weight_decay"],
                                   decoupled_weight_decay=h["fixed_decay"])
    adan = pytest.importorskip("adan_pytorch", reason=WHY)
    assert h["idle_first_step"] and not h["weight_decouple"]
    return lambda p: adan.Adan(p, lr=h["lr"], eps=h["eps"], weight_decay=h["weight_decay"],
                               betas=tuple(1.0 - h[b] for b in ("beta1", "beta2", "beta3")))


def _scheduler(mods):
    if "step_lr" not in mods:
        return None
    import torch
    return lambda opt: torch.optim.lr_scheduler.StepLR(opt, *mods["step_lr"])


TORCH_CASES = [(k, ref) for k, c in enumerate(CASES) for ref in c[2]]


@pytest.mark.parametrize("k, ref", TORCH_CASES, ids=[f"{IDS[k]}:{r}" for k, r in TORCH_CASES])
def test_matches_reference_implementation(k, ref):
    pytest.importorskip("torch", reason=WHY)
    name, pkey, _, mods, hyper = CASES[k]
    make = (pytorch_optimizer_factory(name, hyper, mods) if ref == "po"
            else authors_package_factory(name, hyper))
    x, f = _optbench(k)
    prob = PROBLEMS[pkey]
    if mods.get("maximize") and name == "adan" and ref == "po":
        prob = _NegatedGradient(prob)
    xr, fr = torch_run(prob, make, steps=STEPS, scheduler=_scheduler(mods))
    _progress(fr, mods)
    assert_close(x, xr, f, fr)


@pytest.mark.parametrize("k", range(len(CASES)), ids=IDS)
def test_matches_numpy_formulas(k):
    name, pkey, _, mods, hyper = CASES[k]
    prob = PROBLEMS[pkey]
    x, f = _optbench(k)
    xr, fr = R.run(prob.value, prob.grad, prob.x0(0), name, hyper, STEPS,
                   maximize=bool(mods.get("maximize")), step_lr=mods.get("step_lr"))
    _progress(fr, mods)
    assert_close(x, xr, f, fr)


def test_variants_change_the_run():
    """The options tested above are not no-ops: each one moves the end point."""
    pairs = [("yogi", "quad20", {}, {"bias_correction": False}),
             ("adan", "quad20", {"lr": 1e-2}, {"lr": 1e-2, "idle_first_step": True}),
             ("adopt", "mlp", {}, {"clip": False}),
             ("adopt", "mlp", {}, {"clip_exponent": 0.5}),
             ("lion", "quad20", {"weight_decay": 0.5, "lr": 1e-3},
              {"weight_decay": 0.5, "lr": 1e-3, "fixed_decay": True})]
    for name, pkey, a, b in pairs:
        prob = PROBLEMS[pkey]
        xa = R.run(prob.value, prob.grad, prob.x0(0), name, a, 200)[0]
        xb = R.run(prob.value, prob.grad, prob.x0(0), name, b, 200)[0]
        assert np.linalg.norm(xa - xb) > 1e-6 * np.linalg.norm(xa), (name, b)


def test_defaults_are_the_references():
    po = pytest.importorskip("pytorch_optimizer", reason=WHY)
    for name in NAMES:
        ours = ob.optimizer(name).hyper
        assert ours == R.DEFAULTS[name], name
        sig = {k: p.default for k, p in inspect.signature(getattr(po, PO_CLASS[name])).parameters
               .items() if p.default is not inspect.Parameter.empty}
        betas = tuple(ours[b] for b in ("beta1", "beta2", "beta3") if b in ours)
        assert sig.get("betas", ()) == betas, name
        for k, v in ours.items():
            if k in sig:
                assert sig[k] == v, (name, k)


@pytest.mark.parametrize("name", NAMES)
def test_sweeps_take_the_lane_driver(name):
    """A sweep of >= 128 runs of a small problem picks the lane driver for each of them (no
    lockstep fallback: the kernels have lane forms, uniform ones included). The kernels'
    lane forms equal the one-run kernels bit for bit in tests/test_lanes.py."""
    prob = ob.problem("rosenbrock", start="random")
    spec = RunSpec.make(prob, ob.optimizer(name), steps=SPECIAL_MIN_WORK // (2 * LANES))
    specs = [RunSpec.make(prob, ob.optimizer(name, lr=1e-3 * (1 + j % 8)), seed=j,
                          steps=spec.steps) for j in range(2 * LANES)]
    job = Job(specs, prob, [s.build_optimizer() for s in specs])
    assert E.choose_engine(job).name == "lanes"
    _uniform_kernels(job.opts[0])        # raises LaneError if the uniform forms were missing


@pytest.mark.slow
def test_a_lane_sweep_equals_the_one_run_loop():
    """ob.sweep of 128 runs × 80,000 steps (Adan: four state rows, decay inside the step) runs
    in the lane driver and gives the one-run loop's results bit for bit."""
    lane = next(e for e in E.ENGINES if e.name == "lanes")
    ran = []
    run = lane.run
    lane.run = lambda job: (ran.append(job.runs), run(job))[1]
    try:
        prob = ob.problem("rosenbrock", start="random")
        opts = [ob.optimizer("adan", lr=lr, weight_decay=1e-4)
                for lr in np.geomspace(1e-4, 0.3, 16)]
        runs, _ = ob.sweep(problems=[prob], optimizers=opts, seeds=range(8), steps=80_000,
                           targets=[1e-1, 1e-6])
    finally:
        lane.run = run
    assert ran == [128] and len(runs) == 128 and (runs.status == "converged").sum() > 20
    for _, r in runs.iloc[[3, 77]].iterrows():
        one = ob.run(prob, ob.optimizer("adan", lr=r.lr, weight_decay=1e-4), seed=r.seed,
                     steps=80_000, targets=[1e-1, 1e-6])
        assert (one.fun, one.nit, one.status) == (r.fun, r.nit, r.status)


BAD = [
    ("lion", {"beta1": 1.0}, "lion.beta1"),
    ("lion", {"weight_decouple": "yes"}, "lion.weight_decouple"),
    ("adabelief", {"n_sma_threshold": 4}, "adabelief.n_sma_threshold"),
    ("adabelief", {"eps": -1.0}, "adabelief.eps"),
    ("yogi", {"initial_accumulator": -1e-6}, "yogi.initial_accumulator"),
    ("adan", {"beta3": 1.0}, "adan.beta3"),
    ("adan", {"betas": (0.98, 0.92, 0.99)}, "unknown parameter 'betas'"),
    ("adopt", {"clip_exponent": -0.25}, "adopt.clip_exponent"),
    ("ademamix", {"t_alpha_beta3": 0.0}, "ademamix.t_alpha_beta3"),
    ("ademamix", {"t_alpha_beta3": 100.0, "beta1": 0.0}, "needs beta1 > 0"),
    ("ademamix", {"alpha": float("nan")}, "ademamix.alpha"),
    ("madgrad", {"momentum": 1.0}, "madgrad.momentum"),
]


@pytest.mark.parametrize("name, hyper, words", BAD, ids=[f"{n}-{w}" for n, h, w in BAD])
def test_bad_hyperparameters_refused_in_one_line(name, hyper, words):
    with pytest.raises(ob.OptbenchInputError) as e:
        ob.optimizer(name, **hyper)
    assert words in str(e.value) and "\n" not in str(e.value), str(e.value)
