"""torch.optim's remaining coordinate-wise optimizers — adamax, nadam, radam, adadelta, asgd,
rprop — against torch.optim itself (single-tensor path, float64), 1,000 steps on the three
problems of tests/optim_v2_cases.py: final x and the whole f trace to 1e-10 relative, with
non-default options; ASGD's averaged iterate (the traces column f_avg) against f at torch's
state['ax']; maximize; bad input.

torch keeps some per-parameter scalars in its default dtype: NAdam's product of momentum
coefficients, ASGD's eta and mu (float32 unless the default is float64; optbench keeps them in
float64). The torch side therefore runs with ``torch.set_default_dtype(torch.float64)``; under
float32 the two differ by ~1e-10 (NAdam) and ~1e-9 (ASGD) over these runs.
"""
from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import optbench as ob  # noqa: E402

from optim_v2_cases import PROBLEMS, assert_close, optbench_run, torch_run  # noqa: E402

# (optimizer, hyperparameters, problem); the first-order coverage check
# (test_optimizers_numpy.py) reads COVERED
CASES = [
    ("adamax", {"lr": 1e-2}, "rosen"),
    ("adamax", {"weight_decay": 0.05}, "quad20"),
    ("adamax", {"lr": 1e-3, "beta1": 0.8, "beta2": 0.99, "eps": 1e-4}, "mlp"),
    ("nadam", {"lr": 1e-2}, "rosen"),
    ("nadam", {"momentum_decay": 0.01, "weight_decay": 0.05}, "quad20"),
    ("nadam", {"decoupled_weight_decay": True, "weight_decay": 0.1, "beta1": 0.8}, "quad20"),
    ("nadam", {"lr": 5e-3, "decoupled_weight_decay": True, "weight_decay": 0.1}, "mlp"),
    ("radam", {"lr": 2e-3}, "rosen"),
    ("radam", {"weight_decay": 0.05, "beta2": 0.99}, "quad20"),
    ("radam", {"lr": 5e-3, "decoupled_weight_decay": True, "weight_decay": 0.1}, "mlp"),
    ("adadelta", {}, "rosen"),
    ("adadelta", {"rho": 0.95, "eps": 1e-5, "weight_decay": 0.01}, "quad20"),
    ("adadelta", {"lr": 0.5}, "mlp"),
    ("asgd", {"lr": 1e-3, "t0": 100.0, "lambd": 1e-2}, "rosen"),
    ("asgd", {"t0": 50.0, "weight_decay": 0.01}, "quad20"),
    ("asgd", {"lr": 0.05, "t0": 10.0, "alpha": 0.6}, "mlp"),
    ("rprop", {}, "rosen"),
    ("rprop", {"lr": 1e-3, "etaminus": 0.3, "etaplus": 1.5, "step_size_min": 1e-4,
               "step_size_max": 0.1}, "quad20"),
    ("rprop", {"lr": 1e-3}, "mlp"),
]
COVERED = {"adamax", "nadam", "radam", "adadelta", "asgd", "rprop"}
TORCH_CLASS = {"adamax": "Adamax", "nadam": "NAdam", "radam": "RAdam", "adadelta": "Adadelta",
               "asgd": "ASGD", "rprop": "Rprop"}
# torch's tuple hyperparameters, two scalars each in optbench
TUPLES = {"betas": ("beta1", "beta2"), "etas": ("etaminus", "etaplus"),
          "step_sizes": ("step_size_min", "step_size_max")}


@contextmanager
def float64_scalars():
    """torch's per-parameter scalar state (NAdam's mu_product, ASGD's eta, mu) in float64."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        yield
    finally:
        torch.set_default_dtype(old)


def make_torch(name, hyper, **flags):
    """``params -> torch.optim.<name>`` with optbench's full hyperparameters (defaults
    included, so a default that differed would show) in torch's spelling."""
    h = dict(ob.optimizer(name, **hyper).hyper)
    for tup, parts in TUPLES.items():
        if parts[0] in h:
            h[tup] = tuple(h.pop(p) for p in parts)
    return lambda params: getattr(torch.optim, TORCH_CLASS[name])(params, **h, **flags)


def _ids(c):
    return "-".join([c[0], c[2]] + [f"{k}={v}" for k, v in c[1].items()])


@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_matches_torch(case):
    name, hyper, pkey = case
    prob = PROBLEMS[pkey]
    x, f, _ = optbench_run(prob, ob.optimizer(name, **hyper))
    with float64_scalars():
        xt, ft = torch_run(prob, make_torch(name, hyper))
    assert ft[-1] < 0.5 * ft[0], ft[[0, -1]]      # the run made progress
    assert_close(x, xt, f, ft)


class AxRecorder:
    """torch_run's per-step hook (its ``scheduler``): f at ASGD's state['ax'] after each
    step."""

    def __init__(self, prob, opt):
        self.prob, self.opt, self.f = prob, opt, []

    def step(self):
        params = self.opt.param_groups[0]["params"]
        ax = np.concatenate([self.opt.state[p]["ax"].numpy().ravel() for p in params])
        self.f.append(self.prob.value(ax))


@pytest.mark.parametrize("pkey", ["quad20", "mlp"])
def test_asgd_f_avg_is_f_at_torchs_ax(pkey):
    """With t0 = 10 averaging starts at step 12 (μ = 1 / (t − t0) < 1): ax departs from x,
    and f_avg is f(ax) at every step (f(x0) at step 0, by the problem's VALUE kernel: its
    FG sums in another order, which on the rotated quadratic may round the last bit
    differently, depending on the machine's LAPACK rotation)."""
    hyper = {"lr": 0.05, "t0": 10.0}
    prob = PROBLEMS[pkey]
    _, f, res = optbench_run(prob, ob.optimizer("asgd", **hyper), steps=300)
    assert res.trace.sort_values("step")["f_avg"].iloc[0] == prob.value(prob.x0(0))
    rec = []

    def recorder(opt):
        rec.append(AxRecorder(prob, opt))
        return rec[0]

    with float64_scalars():
        torch_run(prob, make_torch("asgd", hyper), steps=300, scheduler=recorder)
    f_avg = res.trace.sort_values("step")["f_avg"].to_numpy()
    np.testing.assert_allclose(f_avg[0], f[0], rtol=1e-15)
    np.testing.assert_allclose(f_avg[1:], rec[0].f, rtol=1e-10, atol=1e-300)
    np.testing.assert_allclose(f_avg[1:12], f[1:12], rtol=1e-14)   # ax = x before averaging
    assert np.all(f_avg[20:] != f[20:]) and f_avg[-1] < f_avg[0]


def test_maximize_matches_torch():
    """maximize=True on a minimisation problem climbs: optbench and torch climb alike (the
    gradient is negated before coupled weight decay in both)."""
    hyper = {"lr": 1e-3, "weight_decay": 0.01}
    prob = PROBLEMS["quad20"]
    x, f, _ = optbench_run(prob, ob.optimizer("nadam", maximize=True, **hyper), steps=200)
    with float64_scalars():
        xt, ft = torch_run(prob, make_torch("nadam", hyper, maximize=True), steps=200)
    assert ft[-1] > 1.5 * ft[0]
    assert_close(x, xt, f, ft)


@pytest.mark.parametrize("name", ["nadam", "radam"])
def test_decoupled_weight_decay_changes_the_run(name):
    """decoupled_weight_decay=True is not coupled L2 (both are checked against torch above)."""
    prob = PROBLEMS["quad20"]
    h = {"weight_decay": 0.1, "lr": 1e-2}
    xc, _, _ = optbench_run(prob, ob.optimizer(name, **h), steps=200)
    xd, _, _ = optbench_run(prob, ob.optimizer(name, decoupled_weight_decay=True, **h), steps=200)
    assert ob.optimizer(name, decoupled_weight_decay=True, **h).weight_decay == (0.0, 0.1)
    assert np.linalg.norm(xc - xd) > 1e-3 * np.linalg.norm(xc)


def test_rprop_step_size_starts_at_the_first_steps_lr():
    """torch sets Rprop's step sizes to lr at the first step; a schedule changes nothing after:
    a step-decayed lr gives the run of the constant one."""
    prob = PROBLEMS["quad20"]
    x1, _, _ = optbench_run(prob, ob.optimizer("rprop", lr=1e-3), steps=100)
    x2, _, _ = optbench_run(prob, ob.optimizer(
        "rprop", lr=1e-3, schedule={"kind": "step", "step_size": 10, "gamma": 0.1}), steps=100)
    assert np.array_equal(x1, x2) and not np.array_equal(x1, prob.x0(0))


BAD = [
    ("rprop", {"etaminus": 1.0}, "rprop.etaminus"),
    ("rprop", {"etaminus": 0.0}, "rprop.etaminus"),
    ("rprop", {"etaplus": 1.0}, "rprop.etaplus"),
    ("rprop", {"step_size_min": -1.0}, "rprop.step_size_min"),
    ("rprop", {"step_size_min": 1.0, "step_size_max": 0.5}, "step_size_min (1.0) must be <="),
    ("rprop", {"etas": (0.5, 1.2)}, "unknown parameter 'etas'"),
    ("rprop", {"weight_decay": 0.1}, "unknown parameter 'weight_decay'"),
    ("nadam", {"momentum_decay": -1e-3}, "nadam.momentum_decay"),
    ("nadam", {"decoupled_weight_decay": "yes"}, "nadam.decoupled_weight_decay"),
    ("radam", {"beta1": 1.0}, "radam.beta1"),
    ("radam", {"decoupled_weight_decay": 1}, "radam.decoupled_weight_decay"),
    ("adamax", {"beta2": 1.0}, "adamax.beta2"),
    ("adamax", {"eps": -1.0}, "adamax.eps"),
    ("adadelta", {"rho": 1.5}, "adadelta.rho"),
    ("asgd", {"t0": -1.0}, "asgd.t0"),
    ("asgd", {"lambd": -1e-4}, "asgd.lambd"),
    ("asgd", {"alpha": float("nan")}, "asgd.alpha"),
]


@pytest.mark.parametrize("name,hyper,words", BAD, ids=[f"{n}-{w}" for n, h, w in BAD])
def test_bad_hyperparameters_refused_in_one_line(name, hyper, words):
    with pytest.raises(ob.OptbenchInputError) as e:
        ob.optimizer(name, **hyper)
    assert words in str(e.value) and "\n" not in str(e.value), str(e.value)


def test_cli_refuses_bad_rprop_eta_with_exit_2(tmp_path, capsys):
    from optbench.cli import main

    suite = tmp_path / "s.toml"
    suite.write_text('name = "s"\nsteps = 10\n[[problems]]\nproblem = "rosenbrock"\n'
                     '[[optimizers]]\noptimizer = "rprop"\netaminus = 1.0\n')
    code = main(["run", str(suite), "--out", str(tmp_path / "out"), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("optbench: error: ") and "\n" not in err, (code, err)
    assert "rprop.etaminus" in err and not (tmp_path / "out").exists()
