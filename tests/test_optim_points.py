"""Optimizers that take gradients somewhere other than the iterate, more than one per step, or
curvature, each against an independent reference over 500 steps in float64 on the three
problems of tests/optim_v2_cases.py:

* ``schedule-free-adamw`` / ``-sgd``: the ``schedulefree`` package (1.4.1) in train mode,
  and ``f_avg`` = f at the package's eval-mode x;
* ``sam`` (and ASAM): NumPy from Foret et al. 2021 / Kwon et al. 2021 as davda54/sam
  arranges it, around NumPy bases (tests/reference_optim.py);
* ``lookahead``: NumPy from Zhang et al. 2019 (pytorch-optimizer's convention);
* ``sophia``: NumPy from Liu et al. 2023 (Algorithm 3, Hutchinson) with the same probes.

Every run also checks the traces' ``ngev`` / ``nhev`` against ``evaluations()``.
"""
from __future__ import annotations

import inspect
import json
import subprocess
import sys

import numpy as np
import pytest

import optbench as ob
from optbench.kernels.probes import rademacher_vector
from optbench.record.store import load
from optbench.runner.spec import RunSpec
from optbench.validate import OptbenchInputError

import reference_optim as R
from optim_v2_cases import PROBLEMS, assert_close, optbench_run, torch_run

COVERED = {"schedule-free-adamw", "schedule-free-sgd", "sam", "lookahead", "sophia"}
STEPS = 500
LR = {"rosen": 1e-3, "quad20": 1e-2, "mlp": 1e-2}


def run_counted(prob, opt):
    """optbench's run (final x, f at every step), its ngev / nhev checked against
    ``opt.evaluations``; also returns the trace."""
    x, f, res = optbench_run(prob, opt, steps=STEPS)
    tr = res.trace.sort_values("step")
    ngev, nhev = opt.evaluations(tr["step"].to_numpy())
    np.testing.assert_array_equal(tr["ngev"].to_numpy(), ngev)
    np.testing.assert_array_equal(tr["nhev"].to_numpy(), nhev)
    return x, f, tr


# ------------------------------------------------------------------ schedule-free
SF = {"schedule-free-adamw": ("AdamWScheduleFree", dict(lr=0.01, beta1=0.8, weight_decay=0.01,
                                                        warmup_steps=20, r=0.5)),
      "schedule-free-sgd": ("SGDScheduleFree", dict(lr=1e-3, momentum=0.7, weight_decay=0.01,
                                                    warmup_steps=30, weight_lr_power=1.0))}


def _package_kwargs(h):
    h = dict(h)
    if "beta1" in h or "beta2" in h:
        h["betas"] = (h.pop("beta1", 0.9), h.pop("beta2", 0.999))
    return h


class EvalRecorder:
    """The package's optimizer in train mode; after every step, f at its eval-mode x (the
    package's own ``eval()``, then ``train()`` again)."""

    def __init__(self, opt, params, prob):
        self.opt, self.params, self.prob = opt, params, prob
        opt.train()
        self.f_avg = [prob.value(self.flat())]

    def flat(self):
        return np.concatenate([p.detach().numpy().ravel() for p in self.params])

    def zero_grad(self):
        self.opt.zero_grad()

    def step(self):
        self.opt.step()
        self.opt.eval()
        self.f_avg.append(self.prob.value(self.flat()))
        self.opt.train()


@pytest.mark.parametrize("name", sorted(SF))
def test_schedule_free_matches_the_package_in_train_mode(name):
    sf = pytest.importorskip("schedulefree")
    pytest.importorskip("torch")
    cls_name, hyper = SF[name]
    cls = getattr(sf, cls_name)
    # defaults and names: the package's (betas -> beta1/beta2)
    sig = {k: p.default for k, p in inspect.signature(cls).parameters.items()
           if k not in ("params", "foreach")}
    assert _package_kwargs(ob.optimizer(name).hyper) == sig
    for pkey, prob in PROBLEMS.items():
        x, f, tr = run_counted(prob, ob.optimizer(name, **hyper))
        made = []

        def make(params):
            made.append(EvalRecorder(cls(params, **_package_kwargs(hyper)), params, prob))
            return made[0]

        xr, fr = torch_run(prob, make, steps=STEPS)
        assert_close(x, xr, f, fr)
        f_avg = tr["f_avg"].to_numpy()
        np.testing.assert_allclose(f_avg, made[0].f_avg, rtol=1e-10, atol=0)
        assert fr[-1] < fr[0] and np.max(np.abs(f_avg - f) / f) > 1e-3, pkey   # x is not y


# ------------------------------------------------------------------ sam
BASES = {"sgd": R.SGD, "adam": R.Adam, "adamw": R.Adam, "rmsprop": R.RMSprop}


def ref_sam(prob, lr, base, rho=0.05, adaptive=False, weight_decay=0.0, **hyper):
    """davda54/sam: e = ρ T²g / (‖Tg‖ + 1e-12) (T = |x| for ASAM, else 1), the gradient at
    x + e, then the base's step at x (its weight decay at x). ``rho=None``: the base alone."""
    x = prob.x0(0).copy()
    opt = BASES[base](x.size, **hyper)
    fs = [prob.value(x)]
    for t in range(1, STEPS + 1):
        g = prob.grad(x)
        if rho is not None:
            T = np.abs(x) if adaptive else 1.0
            e = (x ** 2 if adaptive else 1.0) * g * (rho / (np.linalg.norm(T * g) + 1e-12))
            g = prob.grad(x + e)
        if base == "adamw":
            x = x * (1.0 - lr * weight_decay)
        else:
            g = g + weight_decay * x
        x = opt.step(x, g, lr, t)
        fs.append(prob.value(x))
    return x, np.array(fs)


SAM_CASES = [("sgd", dict(momentum=0.9, weight_decay=0.01, rho=0.05)),
             ("adamw", dict(weight_decay=0.01, rho=0.05)),
             ("adam", dict(adaptive=True, rho=0.1))]


@pytest.mark.parametrize("base, hyper", SAM_CASES, ids=[c[0] for c in SAM_CASES])
def test_sam_matches_reference(base, hyper):
    for pkey, prob in PROBLEMS.items():
        lr = LR[pkey]
        opt = ob.optimizer("sam", base=base, lr=lr, **hyper)
        x, f, _ = run_counted(prob, opt)
        xr, fr = ref_sam(prob, lr, base, **hyper)
        assert_close(x, xr, f, fr)
        xb, _ = ref_sam(prob, lr, base, **{**hyper, "rho": None})
        assert fr[-1] < fr[0] and np.linalg.norm(xb - xr) > 1e-6 * np.linalg.norm(xr), pkey


# ------------------------------------------------------------------ lookahead
def ref_lookahead(prob, lr, base, k=5, alpha=0.5, weight_decay=0.0, steps=STEPS, **hyper):
    """Zhang et al.: φ = x₀; the base steps x; every k steps φ ← φ + α (x − φ), x ← φ
    (``base_<name>``: the base's ``<name>``)."""
    x = prob.x0(0).copy()
    opt = BASES[base](x.size, **{k.removeprefix("base_"): v for k, v in hyper.items()})
    slow = x.copy()
    fs = [prob.value(x)]
    for t in range(1, steps + 1):
        g = prob.grad(x)
        if base == "adamw":
            x = x * (1.0 - lr * weight_decay)
        else:
            g = g + weight_decay * x
        x = opt.step(x, g, lr, t)
        if t % k == 0:
            slow = slow + alpha * (x - slow)
            x = slow.copy()
        fs.append(prob.value(x))
    return x, np.array(fs)


LA_CASES = [("adam", dict(k=5, alpha=0.5, weight_decay=0.01)),
            ("adamw", dict(k=7, alpha=0.8, weight_decay=0.01))]


@pytest.mark.parametrize("base, hyper", LA_CASES, ids=[c[0] for c in LA_CASES])
def test_lookahead_matches_reference(base, hyper):
    for pkey, prob in PROBLEMS.items():
        lr = LR[pkey]
        x, f, _ = run_counted(prob, ob.optimizer("lookahead", base=base, lr=lr, **hyper))
        xr, fr = ref_lookahead(prob, lr, base, **hyper)
        assert_close(x, xr, f, fr)
        xb, _ = ref_lookahead(prob, lr, base, **{**hyper, "k": STEPS + 1})   # never synced
        assert fr[-1] < fr[0] and np.linalg.norm(xb - xr) > 1e-6 * np.linalg.norm(xr), pkey


def test_lookahead_alpha_and_rmsprop_base_alpha_are_told_apart():
    """rmsprop's own ``alpha`` clashes with lookahead's: it is spelled ``base_alpha``."""
    opt = ob.optimizer("lookahead", base="rmsprop", lr=1e-3, k=3, alpha=0.8, base_alpha=0.9)
    assert (opt.hyper["alpha"], opt.hyper["base_alpha"], opt.base.hyper["alpha"]) == \
        (0.8, 0.9, 0.9)
    assert ob.optimizers.make(opt.spec).spec == opt.spec        # the spec rebuilds it
    prob = PROBLEMS["quad20"]
    x, f, _ = run_counted(prob, opt)
    xr, fr = ref_lookahead(prob, 1e-3, "rmsprop", k=3, alpha=0.8, base_alpha=0.9)
    assert_close(x, xr, f, fr)


# ------------------------------------------------------------------ sophia
def ref_sophia(prob, seed=0, lr=1e-4, beta1=0.965, beta2=0.99, rho=0.01, eps=1e-12,
               weight_decay=0.1, k=10):
    """Liu et al. 2023, Algorithm 3 with Hutchinson's estimate u ⊙ Hu every k steps."""
    x = prob.x0(0).copy()
    m, h = np.zeros_like(x), np.zeros_like(x)
    fs = [prob.value(x)]
    for t in range(1, STEPS + 1):
        g = prob.grad(x)
        m = beta1 * m + (1.0 - beta1) * g
        if t % k == 1 % k:
            u = rademacher_vector(seed, t, x.size)
            h = beta2 * h + (1.0 - beta2) * (u * prob.hvp(x, u))
        x = x * (1.0 - lr * weight_decay)
        x = x - lr * np.clip(m / np.maximum(rho * h, eps), -1.0, 1.0)
        fs.append(prob.value(x))
    return x, np.array(fs)


def test_sophia_matches_reference_with_the_same_probes():
    for pkey, prob in PROBLEMS.items():
        hyper = dict(lr=10 * LR[pkey], k=3)
        x, f, _ = run_counted(prob, ob.optimizer("sophia", **hyper))
        xr, fr = ref_sophia(prob, **hyper)
        assert_close(x, xr, f, fr)
        xs, _ = ref_sophia(prob, **hyper, seed=1)       # the probes matter
        assert fr[-1] < fr[0] and np.linalg.norm(xs - xr) > 1e-6 * np.linalg.norm(xr), pkey


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize("make, words", [
    (lambda: ob.optimizer("sam", base="adamm"), ["unknown sam base optimizer 'adamm'",
                                                 "did you mean 'adam'", "adamw, ", "sgd"]),
    (lambda: ob.optimizer("lookahead", base="sophia"), ["base must be a first-order optimizer",
                                                        "'sophia'"]),
    (lambda: ob.optimizer("sam", base="adam", rhoo=0.1), ["optimizer sam: unknown parameter "
                                                          "'rhoo'", "rho, adaptive, lr, beta1"]),
    (lambda: ob.optimizer("sam", rho=-1), ["optimizer sam.rho"]),
    (lambda: ob.optimizer("sam", base="adam", lr=0), ["optimizer adam.lr"]),
    (lambda: ob.optimizer("lookahead", k=0), ["optimizer lookahead.k"]),
    (lambda: ob.optimizer("lookahead", alpha=1.5), ["optimizer lookahead.alpha"]),
    (lambda: ob.optimizer("lookahead", base="rmsprop", base_alpha=1.5), ["rmsprop.alpha"]),
    (lambda: ob.optimizer("lookahead", base="sgd", base_alpha=0.5), ["'base_alpha'"]),
    (lambda: ob.optimizer("sophia", k=0), ["optimizer sophia.k"]),
    (lambda: ob.optimizer("sophia", eps=0.0), ["optimizer sophia.eps"]),
    (lambda: ob.optimizer("sophia", beta2=1.0), ["optimizer sophia.beta2"]),
    (lambda: ob.optimizer("schedule-free-sgd", momentum=0.0), ["schedule-free-sgd.momentum"]),
    (lambda: ob.optimizer("schedule-free-adamw", beta1=0.0), ["schedule-free-adamw.beta1"]),
    (lambda: ob.optimizer("schedule-free-adamw", warmup_steps=2.5), ["warmup_steps"]),
    (lambda: ob.optimizer("schedule-free-sgd", weight_lr_power=-1), ["weight_lr_power"]),
])
def test_bad_hyperparameters_refused_in_one_line(make, words):
    with pytest.raises(OptbenchInputError) as e:
        make()
    msg = str(e.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg, (w, msg)
    if "base optimizer" in msg:      # the valid bases: first-order ones that request nothing
        assert not {"sam", "lookahead", "sophia"} & set(msg.split("valid: ")[1].split(", "))


def test_sophia_refused_on_a_problem_without_hessian_vector_products():
    quad = ob.problem("quadratic", dim=4)
    no_hvp = type("NoHVP", (type(quad),), {"HVP": None})(**quad.p)
    with pytest.raises(OptbenchInputError, match="optimizer sophia needs Hessian-vector "
                       "products; problem quadratic has none") as e:
        RunSpec.make(no_hvp, ob.optimizer("sophia"))
    assert "\n" not in str(e.value)
    RunSpec.make(quad, ob.optimizer("sophia"))                     # with them: admitted


def test_listed_and_run_from_the_command_line(tmp_path):
    listed = {r["optimizer"]: r for r in ob.optimizers.listing()}
    assert COVERED <= set(listed) and "base=sgd" in listed["sam"]["defaults"]
    (tmp_path / "s.toml").write_text(
        'name = "points"\nsteps = 50\nseeds = 1\n[[problems]]\nproblem = "rosenbrock"\n'
        '[[optimizers]]\noptimizer = "sam"\nbase = "adam"\nrho = 0.05\nlr = [1e-3, 1e-2]\n')
    r = subprocess.run([sys.executable, "-m", "optbench.cli", "run", str(tmp_path / "s.toml"),
                        "--out", str(tmp_path / "out"), "--no-progress", "--executor", "serial",
                        "--serial"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    runs, _ = load(tmp_path / "out")
    assert len(runs) == 2 and set(runs.optimizer) == {"sam"}
    assert (runs.ngev == 2 * runs.nit + 1).all() and (runs.nit == 50).all()
    assert all(json.loads(s)["base"] == "adam" for s in runs.optimizer_params)
