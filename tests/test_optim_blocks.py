"""The optimizers that work per block (contract v2): ``lamb`` against pytorch-optimizer's Lamb
(500 steps), ``adafactor`` and ``muon`` against torch.optim (1,000 steps), ≤ 1e-10 relative
in float64 (tests/optim_v2_cases.py: final x in norm, the f trace elementwise).

Learning rates are chosen so that the runs progress without reaching the regime where a
normalised step bounces around the minimum and amplifies rounding differences chaotically.
torch.optim.Muon runs its Newton–Schulz iteration in bfloat16 whatever the dtype; it is
compared here with that iteration re-executed from torch's own source without the bfloat16
cast (optbench computes in float64), and once, unmodified, to bfloat16 precision.
"""
from __future__ import annotations

import inspect

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import optbench as ob  # noqa: E402
from optbench import OptbenchInputError  # noqa: E402

from optim_v2_cases import PROBLEMS, assert_close, optbench_run, torch_run  # noqa: E402

COVERED = {"lamb", "adafactor", "muon"}
# a small two-layer linear net: W1 4 x 6 (wide), W2 5 x 4 (tall: Newton–Schulz transposes it)
LINEAR_NET = ob.problem("linear-net", in_dim=6, hidden=4, out_dim=5, seed=1)


def _problem(key):
    return LINEAR_NET if key == "linear-net" else PROBLEMS[key]


def _compare(key, opt, make_torch, steps):
    prob = _problem(key)
    x, f, _ = optbench_run(prob, opt, steps=steps)
    xr, fr = torch_run(prob, make_torch, steps=steps)
    assert fr[-1] < 0.9 * fr[0]           # the runs progress: not two frozen trajectories
    assert_close(x, xr, f, fr)


# ---------------------------------------------------------------------------- adafactor
ADAFACTOR = [("rosen", {}), ("quad20", {"lr": 3e-3}), ("mlp", {}),
             ("mlp", {"weight_decay": 0.1, "d": 1.5, "eps1": 1e-12, "eps2": 1e-2,
                      "beta2_decay": -0.5})]


@pytest.mark.parametrize("key, hyper", ADAFACTOR, ids=[f"{k}-{len(h)}" for k, h in ADAFACTOR])
def test_adafactor_matches_torch(key, hyper):
    th = dict(hyper)
    if "eps1" in th or "eps2" in th:
        th["eps"] = (th.pop("eps1", None), th.pop("eps2", 1e-3))
    _compare(key, ob.optimizer("adafactor", **hyper),
             lambda p: torch.optim.Adafactor(p, **th), steps=1000)


# --------------------------------------------------------------------------------- lamb
LAMB = [("rosen", {"lr": 1e-2}), ("quad20", {"lr": 1e-2, "weight_decay": 0.1}),
        ("mlp", {"lr": 3e-3}),
        ("mlp", {"lr": 1e-3, "weight_decay": 0.1, "weight_decouple": False,
                 "grad_averaging": False}),
        ("mlp", {"lr": 1e-3, "weight_decay": 0.01, "fixed_decay": True, "adam": True,
                 "beta1": 0.8, "beta2": 0.99, "eps": 1e-8})]


@pytest.mark.parametrize("key, hyper", LAMB, ids=[f"{k}-{len(h)}" for k, h in LAMB])
def test_lamb_matches_pytorch_optimizer(key, hyper):
    po = pytest.importorskip("pytorch_optimizer")
    th = dict(hyper)
    if "beta1" in th:
        th["betas"] = (th.pop("beta1"), th.pop("beta2"))
    _compare(key, ob.optimizer("lamb", **hyper), lambda p: po.Lamb(p, **th), steps=500)


# --------------------------------------------------------------------------------- muon
def _ns_float64():
    """torch's ``_zeropower_via_newtonschulz``, its own source without the bfloat16 cast."""
    import torch.optim._muon as tm

    src = inspect.getsource(tm._zeropower_via_newtonschulz)
    assert src.count("grad.bfloat16()") == 1, "torch's Newton–Schulz changed: revisit"
    scope = dict(vars(tm))
    exec(src.replace("grad.bfloat16()", "grad.clone()"), scope)
    return scope["_zeropower_via_newtonschulz"]


def _torch_muon(muon_kw, adamw_kw):
    """torch's recipe: Muon on the 2-D parameters, AdamW on the others, stepped together."""
    def make(params):
        mats = [p for p in params if p.ndim == 2]
        rest = [p for p in params if p.ndim != 2]
        opts = [torch.optim.Muon(mats, **muon_kw)]
        opts += [torch.optim.AdamW(rest, **adamw_kw)] if rest else []

        class Both:
            def zero_grad(self):
                for o in opts:
                    o.zero_grad()

            def step(self):
                for o in opts:
                    o.step()
        return Both()
    return make


MUON = [("mlp", {"lr": 1e-3}),
        ("mlp", {"lr": 1e-3, "weight_decay": 0.05, "adamw_lr": 3e-3, "adamw_beta1": 0.8,
                 "adamw_beta2": 0.99, "adamw_eps": 1e-6, "adamw_weight_decay": 0.1}),
        ("linear-net", {"lr": 1e-3}),
        ("linear-net", {"lr": 1e-3, "nesterov": False, "momentum": 0.9, "ns_steps": 3,
                        "adjust_lr_fn": "match_rms_adamw", "weight_decay": 0.0,
                        "ns_a": 3.0, "ns_b": -3.2, "ns_c": 1.2, "eps": 1e-9})]


def _split_muon(hyper):
    muon = {k: v for k, v in hyper.items() if not k.startswith("adamw_")}
    adamw = {k[len("adamw_"):]: v for k, v in hyper.items() if k.startswith("adamw_")}
    if any(k in muon for k in ("ns_a", "ns_b", "ns_c")):
        muon["ns_coefficients"] = (muon.pop("ns_a"), muon.pop("ns_b"), muon.pop("ns_c"))
    if "beta1" in adamw:
        adamw["betas"] = (adamw.pop("beta1"), adamw.pop("beta2"))
    return muon, adamw


@pytest.mark.parametrize("key, hyper", MUON, ids=[f"{k}-{len(h)}" for k, h in MUON])
def test_muon_matches_torch(key, hyper, monkeypatch):
    import torch.optim._muon as tm

    monkeypatch.setattr(tm, "_zeropower_via_newtonschulz", _ns_float64())
    _compare(key, ob.optimizer("muon", **hyper), _torch_muon(*_split_muon(hyper)), steps=1000)


@pytest.mark.parametrize("key", ["mlp", "linear-net"])
def test_muon_step_agrees_with_torch_bfloat16_to_its_precision(key):
    prob = _problem(key)
    x0 = prob.x0(0)
    x, _, _ = optbench_run(prob, ob.optimizer("muon", lr=1e-2), steps=1)
    xr, _ = torch_run(prob, _torch_muon({"lr": 1e-2}, {}), steps=1)
    err = np.linalg.norm((x - x0) - (xr - x0)) / np.linalg.norm(xr - x0)
    assert 1e-6 < err < 5e-2, err      # bfloat16's 8-bit mantissa, not float64 rounding


# ----------------------------------------------------------------------------- refusals
def test_muon_refuses_a_problem_without_matrix_blocks():
    with pytest.raises(OptbenchInputError) as e:
        ob.run(ob.problem("rosenbrock", dim=2), ob.optimizer("muon"), steps=5)
    msg = str(e.value)
    assert "\n" not in msg and "muon" in msg and "matrix blocks" in msg and "mlp" in msg


@pytest.mark.parametrize("name, hyper, words", [
    ("muon", {"ns_steps": 100}, ["muon.ns_steps", "99"]),
    ("muon", {"ns_steps": 2.5}, ["muon.ns_steps", "integer"]),
    ("muon", {"adjust_lr_fn": "rms"}, ["adjust_lr_fn", "match_rms_adamw"]),
    ("muon", {"momentum": 1.0}, ["muon.momentum", "< 1.0"]),
    ("muon", {"adamw_beta2": -0.1}, ["muon.adamw_beta2", ">= 0.0"]),
    ("muon", {"ns_coefficients": (1, 2, 3)}, ["unknown parameter 'ns_coefficients'", "ns_a"]),
    ("adafactor", {"beta2_decay": 0.5}, ["adafactor.beta2_decay", "<= 0.0"]),
    ("adafactor", {"d": 0.5}, ["adafactor.d", ">= 1.0"]),
    ("adafactor", {"eps1": -1e-30}, ["adafactor.eps1", ">= 0.0"]),
    ("adafactor", {"eps": (None, 1e-3)}, ["unknown parameter 'eps'", "eps1", "eps2"]),
    ("lamb", {"beta1": 1.0}, ["lamb.beta1", "< 1.0"]),
    ("lamb", {"weight_decouple": 1}, ["lamb.weight_decouple", "true or false"]),
])
def test_bad_hyperparameters_one_line(name, hyper, words):
    with pytest.raises(OptbenchInputError) as e:
        ob.optimizer(name, **hyper)
    msg = str(e.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg, (w, msg)
