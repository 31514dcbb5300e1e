r"""Plain-NumPy reference implementations of optbench's optimizers, schedules and gradient
modifiers, written from docs/reference.md's formulas and torch.optim's documented algorithms.

Nothing here imports optbench: the tests compare optbench against these independent
implementations (and against torch.optim itself where torch is installed).

Per-step order (the run loop's contract), for update number k = 0, 1, … (step t = k + 1):

1. g ← ∇f(x_k);
2. clip by norm (torch ``clip_grad_norm_``): c = max_norm / (‖g‖ + 1e-6), g ← c g if c < 1;
3. clip by value: g ← min(max(g, −v), v);
4. α_k from the schedule;
5. coupled (L2) weight decay g ← g + λ x; decoupled: x ← x (1 − α_k λ);
6. the optimizer's update with learning rate α_k at step t.

Sources: torch.optim documentation (SGD, Adagrad, RMSprop, Adam, AdamW "Algorithm" boxes);
torch.optim.lr_scheduler (StepLR, ExponentialLR, CosineAnnealingLR, CyclicLR, LinearLR);
Kingma & Ba (2015); Loshchilov & Hutter (2019); Reddi et al. (2018); Tieleman & Hinton (2012).
Cost: O(d) time and memory per step.
"""
from __future__ import annotations

import math

import numpy as np

# torch.optim's documented defaults, plus optbench's presets (docs/reference.md).
TORCH_DEFAULTS = {
    "sgd": dict(lr=1e-3, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0),
    "adagrad": dict(lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0,
                    eps=1e-10),
    "rmsprop": dict(lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                    centered=False),
    "adam": dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, amsgrad=False),
    "adamw": dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-2, amsgrad=False),
}
DEFAULTS = {
    **TORCH_DEFAULTS,
    "rmsprop": {**TORCH_DEFAULTS["rmsprop"], "bias_correction": False},
    "gd": dict(lr=1e-2, weight_decay=0.0),
    "momentum": {**TORCH_DEFAULTS["sgd"], "lr": 1e-2, "momentum": 0.9},
    "nesterov": {**TORCH_DEFAULTS["sgd"], "lr": 1e-2, "momentum": 0.9, "nesterov": True},
    "amsgrad": {**TORCH_DEFAULTS["adam"], "amsgrad": True},
}
FAMILY = {"sgd": "sgd", "gd": "sgd", "momentum": "sgd", "nesterov": "sgd", "adagrad": "adagrad",
          "rmsprop": "rmsprop", "adam": "adam", "amsgrad": "adam", "adamw": "adam"}
DECOUPLED = {"adamw"}


# ---------------------------------------------------------------------------- optimizers
class SGD:
    """torch.optim.SGD: b_1 = g_1, b_t = μ b_{t−1} + (1 − τ) g_t; x ← x − α (g + μ b) (Nesterov)
    or x ← x − α b."""

    def __init__(self, dim, momentum=0.0, dampening=0.0, nesterov=False, **_):
        self.mu, self.tau, self.nesterov = momentum, dampening, nesterov
        self.b = None

    def step(self, x, g, lr, t):
        if self.mu != 0.0:
            self.b = g.copy() if self.b is None else self.mu * self.b + (1.0 - self.tau) * g
            g = g + self.mu * self.b if self.nesterov else self.b
        return x - lr * g


class Adagrad:
    """torch.optim.Adagrad: α̃ = α / (1 + (t − 1) η), r ← r + g², x ← x − α̃ g / (√r + δ)."""

    def __init__(self, dim, lr_decay=0.0, initial_accumulator_value=0.0, eps=1e-10, **_):
        self.eta, self.eps = lr_decay, eps
        self.r = np.full(dim, float(initial_accumulator_value))

    def step(self, x, g, lr, t):
        clr = lr / (1.0 + (t - 1) * self.eta)
        self.r = self.r + g * g
        return x - clr * g / (np.sqrt(self.r) + self.eps)


class RMSprop:
    """torch.optim.RMSprop (+ optional bias correction r̂ = r / (1 − ρ^t), â = a / (1 − ρ^t)):
    r ← ρ r + (1 − ρ) g²; centered: a ← ρ a + (1 − ρ) g, ṽ = r̂ − â², else ṽ = r̂;
    momentum μ > 0: b ← μ b + g / (√ṽ + ε), x ← x − α b; else x ← x − α g / (√ṽ + ε)."""

    def __init__(self, dim, alpha=0.99, eps=1e-8, momentum=0.0, centered=False,
                 bias_correction=False, **_):
        self.rho, self.eps, self.mu = alpha, eps, momentum
        self.centered, self.bc = centered, bias_correction
        self.r = np.zeros(dim)
        self.a = np.zeros(dim)
        self.b = np.zeros(dim)

    def step(self, x, g, lr, t):
        rho = self.rho
        self.r = rho * self.r + (1.0 - rho) * g * g
        corr = 1.0 - rho ** t if self.bc else 1.0
        v = self.r / corr
        if self.centered:
            self.a = rho * self.a + (1.0 - rho) * g
            v = v - (self.a / corr) ** 2
        d = np.sqrt(v) + self.eps
        if self.mu > 0.0:
            self.b = self.mu * self.b + g / d
            return x - lr * self.b
        return x - lr * g / d


class Adam:
    """Kingma & Ba: m ← β1 m + (1 − β1) g, v ← β2 v + (1 − β2) g², m̂ = m / (1 − β1^t),
    v̂ = v / (1 − β2^t), x ← x − α m̂ / (√v̂ + ε). AMSGrad (torch's documented form):
    v_max ← max(v_max, v), v̂ = v_max / (1 − β2^t)."""

    def __init__(self, dim, beta1=0.9, beta2=0.999, eps=1e-8, amsgrad=False, **_):
        self.b1, self.b2, self.eps, self.ams = beta1, beta2, eps, amsgrad
        self.m = np.zeros(dim)
        self.v = np.zeros(dim)
        self.vmax = np.zeros(dim)

    def step(self, x, g, lr, t):
        self.m = self.b1 * self.m + (1.0 - self.b1) * g
        self.v = self.b2 * self.v + (1.0 - self.b2) * g * g
        v = self.v
        if self.ams:
            self.vmax = np.maximum(self.vmax, self.v)
            v = self.vmax
        mhat = self.m / (1.0 - self.b1 ** t)
        vhat = v / (1.0 - self.b2 ** t)
        return x - lr * mhat / (np.sqrt(vhat) + self.eps)


_CLASSES = {"sgd": SGD, "adagrad": Adagrad, "rmsprop": RMSprop, "adam": Adam}


def full_hyper(name: str, hyper: dict | None = None) -> dict:
    """Documented defaults of optimizer ``name`` updated with ``hyper``."""
    h = dict(DEFAULTS[name])
    for k, v in (hyper or {}).items():
        if k not in h:
            raise KeyError(f"{name} has no hyperparameter {k}")
        h[k] = v
    return h


# ----------------------------------------------------------------------------- schedules
SCHED_DEFAULTS = {
    "constant": {},
    "step": dict(step_size=1000, gamma=0.1),
    "exponential": dict(gamma=0.999),
    "inverse-time": dict(decay=1e-3, power=1.0),
    "cosine": dict(T_max=0, eta_min=0.0),
    "cyclic": dict(max_lr=1e-2, step_size_up=2000),
}


def schedule_lr(kind: str, params: dict | None, lr: float, k: int, budget: int) -> float:
    """Learning rate of update k (0-based), closed forms of torch's lr_scheduler classes."""
    p = {**SCHED_DEFAULTS[kind], "warmup": 0, "warmup_start": 0.1, **(params or {})}
    if kind == "constant":
        out = lr
    elif kind == "step":                                    # StepLR
        out = lr * p["gamma"] ** (k // p["step_size"])
    elif kind == "exponential":                             # ExponentialLR
        out = lr * p["gamma"] ** k
    elif kind == "inverse-time":
        out = lr / (1.0 + p["decay"] * k) ** p["power"]
    elif kind == "cosine":                                  # CosineAnnealingLR, closed form
        T = p["T_max"] or budget
        out = p["eta_min"] + (lr - p["eta_min"]) * (1.0 + math.cos(math.pi * k / T)) / 2.0
    elif kind == "cyclic":                                  # CyclicLR, mode='triangular'
        total = 2.0 * p["step_size_up"]
        cycle = math.floor(1.0 + k / total)
        u = 1.0 + k / total - cycle                         # position in the cycle, [0, 1)
        scale = u / 0.5 if u <= 0.5 else (u - 1.0) / (0.5 - 1.0)
        out = lr + (p["max_lr"] - lr) * scale
    else:
        raise KeyError(kind)
    w = p["warmup"]
    if w > 0:                                               # LinearLR(start, 1.0, total_iters=w)
        s = p["warmup_start"]
        out *= s + (1.0 - s) * min(k, w) / w
    return out


# ---------------------------------------------------------------------------- the loop
def run(grad, value, x0, name, hyper=None, steps=1000, schedule=None, clip_norm=None,
        clip_value=None):
    """Reference run: returns (x_final, f trace of length steps + 1 at x_0 … x_steps)."""
    h = full_hyper(name, hyper)
    fam = FAMILY[name]
    kw = {k: v for k, v in h.items() if k not in ("lr", "weight_decay")}
    opt = _CLASSES[fam](len(x0), **kw)
    kind, sparams = "constant", {}
    if isinstance(schedule, str):
        kind = schedule
    elif isinstance(schedule, dict):
        sparams = dict(schedule)
        kind = sparams.pop("kind", "constant")
    wd = float(h.get("weight_decay", 0.0))
    x = np.array(x0, dtype=np.float64)
    fs = [value(x)]
    for k in range(steps):
        g = np.array(grad(x), dtype=np.float64)
        if clip_norm:
            c = clip_norm / (math.sqrt(float(np.sum(g * g))) + 1e-6)
            if c < 1.0:
                g = g * c
        if clip_value:
            g = np.clip(g, -clip_value, clip_value)
        lr = schedule_lr(kind, sparams, h["lr"], k, steps)
        if wd != 0.0:
            if name in DECOUPLED:
                x = x * (1.0 - lr * wd)
            else:
                g = g + wd * x
        x = opt.step(x, g, lr, k + 1)
        fs.append(value(x))
    return x, np.array(fs)


# ------------------------------------------------------------------ test problems in numpy
def rosen_value(x):
    return float(np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2))


def rosen_grad(x):
    g = np.zeros_like(x)
    a = x[1:] - x[:-1] ** 2
    g[:-1] += -400.0 * a * x[:-1] - 2.0 * (1.0 - x[:-1])
    g[1:] += 200.0 * a
    return g


def quadratic(A):
    """(value, grad) of f = ½ xᵀ A x for a symmetric matrix A."""
    A = np.asarray(A, dtype=np.float64)
    return (lambda x: float(0.5 * x @ (A @ x))), (lambda x: A @ x)
