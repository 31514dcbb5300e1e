"""optbench's optimizers, schedules and clipping against torch.optim itself (float64).

The torch side is an ordinary training loop: zero_grad, p.grad ← ∇f(p) (the gradient in
NumPy), optional ``clip_grad_norm_`` / ``clip_grad_value_``, ``optimizer.step()``,
``scheduler.step()`` (StepLR, ExponentialLR, LambdaLR for inverse-time, CosineAnnealingLR,
CyclicLR(cycle_momentum=False), LinearLR warm-up chained with ChainedScheduler). The same
cases as tests/test_optimizers_numpy.py (1,000 steps) are compared to 1e-10 relative: final x
in norm, the f trace elementwise (with the NumPy test this also pins the reference to torch).
Rosenbrock is held to the same 1e-10: torch and optbench round differently (torch computes
β^t as a power, optbench as a running product; torch's clip uses a foreach norm), but on the
chosen settings the valley amplifies those differences only to ~2e-12, so no looser
tolerance is needed (see test_optimizers_numpy.py for the regimes that would).
Cases torch cannot express (RMSprop's bias correction; warm-up chained with a non-
multiplicative schedule) are skipped here and covered by the NumPy reference only.
"""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import optbench as ob  # noqa: E402
from optbench import optimizers as O  # noqa: E402

import reference_optim as R  # noqa: E402
from test_optimizers_numpy import CASES, PROBLEMS, STEPS, _ids, _optbench  # noqa: E402

RTOL = 1e-10
TORCH_CLASS = {"sgd": "SGD", "adagrad": "Adagrad", "rmsprop": "RMSprop", "adam": "Adam"}


def _torch_optimizer(name, hyper, params):
    h = R.full_hyper(name, hyper)
    if h.pop("bias_correction", False):
        return None
    cls = "AdamW" if name == "adamw" else TORCH_CLASS[R.FAMILY[name]]
    if "beta1" in h:
        h["betas"] = (h.pop("beta1"), h.pop("beta2"))
    return getattr(torch.optim, cls)(params, **h)


def _torch_scheduler(opt, schedule, lr, steps):
    """torch.optim.lr_scheduler equivalent of an optbench schedule (None: not expressible)."""
    S = torch.optim.lr_scheduler
    if schedule is None:
        return S.LambdaLR(opt, lambda k: 1.0)
    sp = {"kind": schedule} if isinstance(schedule, str) else dict(schedule)
    p = {**R.SCHED_DEFAULTS[sp["kind"]], "warmup": 0, "warmup_start": 0.1, **sp}
    kind = p.pop("kind")
    scheds = []
    if p["warmup"] > 0:
        if kind not in ("constant", "exponential", "step") and not (
                kind == "cosine" and p["eta_min"] == 0.0):
            return None          # torch chains schedulers by multiplying their ratios
        if p["warmup_start"] == 0.0:
            return None          # LinearLR needs start_factor > 0
        scheds.append(S.LinearLR(opt, start_factor=p["warmup_start"], end_factor=1.0,
                                 total_iters=p["warmup"]))
    if kind == "step":
        scheds.append(S.StepLR(opt, step_size=p["step_size"], gamma=p["gamma"]))
    elif kind == "exponential":
        scheds.append(S.ExponentialLR(opt, gamma=p["gamma"]))
    elif kind == "inverse-time":
        d, pw = p["decay"], p["power"]
        scheds.append(S.LambdaLR(opt, lambda k: 1.0 / (1.0 + d * k) ** pw))
    elif kind == "cosine":
        scheds.append(S.CosineAnnealingLR(opt, T_max=p["T_max"] or steps, eta_min=p["eta_min"]))
    elif kind == "cyclic":
        scheds.append(S.CyclicLR(opt, base_lr=lr, max_lr=p["max_lr"],
                                 step_size_up=p["step_size_up"], mode="triangular",
                                 cycle_momentum=False))
    if not scheds:
        return S.LambdaLR(opt, lambda k: 1.0)
    return scheds[0] if len(scheds) == 1 else S.ChainedScheduler(scheds, optimizer=opt)


def torch_run(grad, value, x0, name, hyper, steps, schedule=None, clip_norm=None,
              clip_value=None):
    p = torch.tensor(np.array(x0, dtype=np.float64), dtype=torch.float64, requires_grad=True)
    opt = _torch_optimizer(name, hyper, [p])
    if opt is None:
        return None
    lr = R.full_hyper(name, hyper)["lr"]
    sched = _torch_scheduler(opt, schedule, lr, steps)
    if sched is None:
        return None
    fs = [value(p.detach().numpy().copy())]
    for _ in range(steps):
        opt.zero_grad()
        p.grad = torch.from_numpy(np.asarray(grad(p.detach().numpy().copy()), dtype=np.float64))
        if clip_norm:
            torch.nn.utils.clip_grad_norm_([p], clip_norm)
        if clip_value:
            torch.nn.utils.clip_grad_value_([p], clip_value)
        opt.step()
        sched.step()
        fs.append(value(p.detach().numpy().copy()))
    return p.detach().numpy().copy(), np.array(fs)


@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_matches_torch(case):
    name, hyper, mods, pkey = case
    prob, value, grad, x0 = PROBLEMS[pkey]
    out = torch_run(grad, value, x0, name, hyper, STEPS, **mods)
    if out is None:
        pytest.skip("not expressible with torch.optim (covered by the NumPy reference)")
    xt, ft = out
    assert np.all(np.isfinite(ft)) and ft[-1] < ft[0]
    x, f, _ = _optbench(name, hyper, mods, prob, x0)
    assert np.linalg.norm(x - xt) <= RTOL * np.linalg.norm(xt), (x, xt)
    np.testing.assert_allclose(f, ft, rtol=RTOL, atol=0)


# ------------------------------------------------------------------------ defaults
# torch's tuple-valued hyperparameters as optbench spells them (one number each)
TUPLES = {"betas": ("beta1", "beta2"), "eps": ("eps1", "eps2"),
          "ns_coefficients": ("ns_a", "ns_b", "ns_c"), "etas": ("etaminus", "etaplus"),
          "step_sizes": ("step_size_min", "step_size_max")}
NONE_MEANS = {"adjust_lr_fn": "original"}   # a torch default None, spelled by its meaning
FALLBACK = {"muon": ("adamw_", "AdamW")}     # prefixed hyperparameters of a fallback optimizer


def _torch_defaults(opt, torch_name=None):
    cls = getattr(torch.optim, torch_name or opt.torch_name)
    # a 2-D parameter: Muon takes no other
    d = dict(cls([torch.zeros(1, 1, dtype=torch.float64, requires_grad=True)]).defaults)
    for k, names in TUPLES.items():
        if isinstance(d.get(k), tuple):
            d.update(zip(names, d.pop(k)))
    return d


# optbench's presets: the hyperparameters each one sets on purpose (everything else must be
# torch's default). docs/reference.md / the presets' docstrings.
PRESET_OVERRIDES = {
    "gd": {"lr": 1e-2},
    "momentum": {"lr": 1e-2, "momentum": 0.9},
    "nesterov": {"lr": 1e-2, "momentum": 0.9, "nesterov": True},
    "amsgrad": {"amsgrad": True},
}
OPTBENCH_ONLY = {"bias_correction"}   # RMSprop variant; default off = torch's behaviour


@pytest.mark.parametrize("name", [n for n in O.names() if O.REGISTRY[n].torch_name])
def test_defaults_match_torch(name):
    opt = ob.optimizer(name)
    td = _torch_defaults(opt)
    over = PRESET_OVERRIDES.get(name, {})
    prefix, fallback = FALLBACK.get(name, ("", None))
    for k, v in opt.hyper.items():
        if k in OPTBENCH_ONLY:
            assert v is False, (k, v)
            continue
        if fallback and k.startswith(prefix):
            k, ref, cls = k[len(prefix):], _torch_defaults(opt, fallback), fallback
        else:
            ref, cls = td, opt.torch_name
        assert k in ref, f"{name}.{k} is not a torch.optim.{cls} hyperparameter"
        want = over.get(k, ref[k])
        if want is None or isinstance(want, str):
            assert v == (NONE_MEANS.get(k) if want is None else want), (name, k, v, want)
            continue
        assert type(v)(want) == v and float(v) == float(want), (name, k, v, want)
    # a full family (not a preset) exposes every numerical torch hyperparameter
    if name not in PRESET_OVERRIDES:
        torch_only = {"maximize", "foreach", "differentiable", "fused", "capturable",
                      "decoupled_weight_decay"}
        assert set(td) - torch_only <= set(opt.hyper), set(td) - torch_only - set(opt.hyper)


def test_adamw_is_decoupled_like_torch():
    d = _torch_defaults(ob.optimizer("adamw"))
    assert d.get("decoupled_weight_decay", True) is True
    assert ob.optimizer("adamw").weight_decay == (0.0, d["weight_decay"])
    assert ob.optimizer("adam", weight_decay=0.1).weight_decay == (0.1, 0.0)
