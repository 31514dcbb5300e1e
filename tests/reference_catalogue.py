r"""Plain-NumPy implementations of the catalogue optimizers — lion, adabelief, yogi, adan, adopt,
ademamix, madgrad — written from their papers' update rules with the departures of the
reference implementations (pytorch-optimizer 4.1.0; adan-pytorch for Adan's idle first step)
that optbench follows and documents in each family's docstring.

Nothing here imports optbench or torch. The arithmetic is the textbook one (β m + (1 − β) g,
m̂ = m / (1 − βᵗ), √(v / (1 − βᵗ)), powers βᵗ, np.cbrt, np.sign), not the references' lerps
and orders, so agreement with optbench is at rounding level, not bitwise.

Per step t = 1, 2, …: g = ∇f(x) (negated under ``maximize``), then the family's weight decay
(pytorch-optimizer's ``apply_weight_decay`` for lion, adabelief, yogi, adopt, ademamix:
coupled g ← g + λx, decoupled x ← x(1 − αλ), fixed x ← x(1 − λ); adan and madgrad decay in
their own steps), then the update with the step's learning rate α.
"""
from __future__ import annotations

import math

import numpy as np

# the reference implementations' defaults (pytorch-optimizer 4.1.0 signatures; optbench's own
# options last)
_PO_DECAY = dict(weight_decay=0.0, fixed_decay=False)
DEFAULTS = {
    "lion": dict(lr=1e-4, beta1=0.9, beta2=0.99, weight_decouple=True, **_PO_DECAY),
    "adabelief": dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-16, weight_decouple=True,
                      rectify=False, n_sma_threshold=5, degenerated_to_sgd=True,
                      ams_bound=False, **_PO_DECAY),
    "yogi": dict(lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-3, initial_accumulator=1e-6,
                 weight_decouple=True, bias_correction=True, **_PO_DECAY),
    "adan": dict(lr=1e-3, beta1=0.98, beta2=0.92, beta3=0.99, eps=1e-8, weight_decay=0.0,
                 weight_decouple=False, idle_first_step=False),
    "adopt": dict(lr=1e-3, beta1=0.9, beta2=0.9999, eps=1e-6, weight_decouple=False,
                  clip=True, clip_exponent=0.25, **_PO_DECAY),
    "ademamix": dict(lr=1e-3, beta1=0.9, beta2=0.999, beta3=0.9999, alpha=5.0,
                     t_alpha_beta3=None, eps=1e-8, weight_decouple=False, **_PO_DECAY),
    "madgrad": dict(lr=1e-3, momentum=0.9, eps=1e-6, weight_decay=0.0, weight_decouple=False),
}


def po_decay(x, g, lr, h):
    """pytorch-optimizer's weight decay: (x, g) after it."""
    wd = h["weight_decay"]
    if wd == 0.0:
        return x, g
    if not h["weight_decouple"]:
        return x, g + wd * x
    return x * (1.0 - (wd if h["fixed_decay"] else lr * wd)), g


class Lion:
    def __init__(self, dim, h):
        self.h, self.m = h, np.zeros(dim)

    def step(self, x, g, lr, t):
        b1, b2 = self.h["beta1"], self.h["beta2"]
        x, g = po_decay(x, g, lr, self.h)
        c = b1 * self.m + (1.0 - b1) * g
        self.m = b2 * self.m + (1.0 - b2) * g
        return x - lr * np.sign(c)


class AdaBelief:
    def __init__(self, dim, h):
        self.h, self.m, self.s, self.smax = h, np.zeros(dim), np.zeros(dim), np.zeros(dim)

    def step(self, x, g, lr, t):
        h = self.h
        b1, b2, eps = h["beta1"], h["beta2"], h["eps"]
        x, g = po_decay(x, g, lr, h)
        self.m = b1 * self.m + (1.0 - b1) * g
        self.s = b2 * self.s + (1.0 - b2) * (g - self.m) ** 2 + eps
        s = self.s
        if h["ams_bound"]:
            self.smax = np.maximum(self.smax, self.s)
            s = self.smax
        mhat = self.m / (1.0 - b1 ** t)
        if not h["rectify"]:
            return x - lr * mhat / (np.sqrt(s / (1.0 - b2 ** t)) + eps)
        rho_inf = 2.0 / (1.0 - b2) - 1.0
        rho = rho_inf - 2.0 * t * b2 ** t / (1.0 - b2 ** t)
        if rho >= h["n_sma_threshold"]:
            r = math.sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho))
            return x - lr * r * mhat * math.sqrt(1.0 - b2 ** t) / (np.sqrt(s) + eps)
        return x - lr * mhat if h["degenerated_to_sgd"] else x


class Yogi:
    def __init__(self, dim, h):
        self.h = h
        self.m = np.full(dim, h["initial_accumulator"])
        self.v = np.full(dim, h["initial_accumulator"])

    def step(self, x, g, lr, t):
        h = self.h
        b1, b2, eps = h["beta1"], h["beta2"], h["eps"]
        x, g = po_decay(x, g, lr, h)
        self.m = b1 * self.m + (1.0 - b1) * g
        self.v = self.v - (1.0 - b2) * np.sign(self.v - g * g) * g * g
        if h["bias_correction"]:
            return x - lr * (self.m / (1.0 - b1 ** t)) / (np.sqrt(self.v / (1.0 - b2 ** t)) + eps)
        return x - lr * self.m / (np.sqrt(self.v) + eps)


class Adan:
    """The paper's rule in the reference's betas (β = 1 − the paper's), bias-corrected; the
    previous gradient is g itself at t = 1; ``idle_first_step``: adan-pytorch's first step."""

    def __init__(self, dim, h):
        self.h, self.m, self.v, self.n = h, np.zeros(dim), np.zeros(dim), np.zeros(dim)
        self.prev = None

    def step(self, x, g, lr, t):
        h = self.h
        b1, b2, b3, eps, wd = h["beta1"], h["beta2"], h["beta3"], h["eps"], h["weight_decay"]
        prev = g if self.prev is None else self.prev
        self.prev = g
        if not (h["idle_first_step"] and t == 1):
            d = g - prev
            self.m = b1 * self.m + (1.0 - b1) * g
            self.v = b2 * self.v + (1.0 - b2) * d
            self.n = b3 * self.n + (1.0 - b3) * (g + b2 * d) ** 2
        eta = lr / (np.sqrt(self.n / (1.0 - b3 ** t)) + eps)
        u = self.m / (1.0 - b1 ** t) + b2 * self.v / (1.0 - b2 ** t)
        if h["weight_decouple"]:
            return x * (1.0 - lr * wd) - eta * u
        return (x - eta * u) / (1.0 + lr * wd)


class ADOPT:
    def __init__(self, dim, h):
        self.h, self.m, self.v = h, np.zeros(dim), np.zeros(dim)

    def step(self, x, g, lr, t):
        h = self.h
        b1, b2 = h["beta1"], h["beta2"]
        x, g = po_decay(x, g, lr, h)
        if t == 1:
            self.v = g * g
            return x
        gh = g / np.maximum(np.sqrt(self.v), h["eps"])
        if h["clip"]:
            c = t ** h["clip_exponent"]
            gh = np.clip(gh, -c, c)
        self.m = b1 * self.m + (1.0 - b1) * gh
        self.v = b2 * self.v + (1.0 - b2) * g * g
        return x - lr * self.m


class AdEMAMix:
    def __init__(self, dim, h):
        self.h, self.m1, self.v, self.m2 = h, np.zeros(dim), np.zeros(dim), np.zeros(dim)

    def step(self, x, g, lr, t):
        h = self.h
        b1, b2, b3, alpha, T = h["beta1"], h["beta2"], h["beta3"], h["alpha"], h["t_alpha_beta3"]
        if T is not None:
            alpha = min(alpha * t / T, alpha)
            l1, l3 = math.log(b1), math.log(b3)
            b3 = min(math.exp(l1 * l3 / ((1.0 - t / T) * l3 + (t / T) * l1)), b3)
        x, g = po_decay(x, g, lr, h)
        self.m1 = b1 * self.m1 + (1.0 - b1) * g
        self.v = b2 * self.v + (1.0 - b2) * g * g
        self.m2 = b3 * self.m2 + (1.0 - b3) * g
        u = self.m1 / (1.0 - b1 ** t) + alpha * self.m2
        return x - lr * u / (np.sqrt(self.v / (1.0 - b2 ** t)) + h["eps"])


class MADGRAD:
    """Dual averaging from x0 (kept for every momentum), the official code's γ = lr + ε."""

    def __init__(self, dim, h):
        self.h, self.nu, self.s, self.x0 = h, np.zeros(dim), np.zeros(dim), None

    def step(self, x, g, lr, t):
        h = self.h
        eps, mu, wd = h["eps"], h["momentum"], h["weight_decay"]
        if self.x0 is None:
            self.x0 = x.copy()
        if not h["weight_decouple"]:
            g = g + wd * x
        gamma = lr + eps
        lam = gamma * math.sqrt(t)
        self.nu = self.nu + lam * g * g
        self.s = self.s + lam * g
        rms = np.cbrt(self.nu) + eps
        rms = np.where(rms == 0.0, np.inf, rms)
        z = self.x0 - self.s / rms
        new = mu * x + (1.0 - mu) * z
        return new - gamma * wd * x if h["weight_decouple"] else new


CLASSES = {"lion": Lion, "adabelief": AdaBelief, "yogi": Yogi, "adan": Adan, "adopt": ADOPT,
           "ademamix": AdEMAMix, "madgrad": MADGRAD}


def run(value, grad, x0, name, hyper, steps, maximize=False, step_lr=None):
    """(final x, f at steps 0 … steps). ``step_lr`` = (step_size, gamma): torch's StepLR."""
    h = {**DEFAULTS[name], **hyper}
    opt = CLASSES[name](len(x0), h)
    x = np.array(x0, dtype=float)
    fs = [value(x)]
    for t in range(1, steps + 1):
        g = grad(x)
        g = -g if maximize else g
        lr = h["lr"] if step_lr is None else h["lr"] * step_lr[1] ** ((t - 1) // step_lr[0])
        x = opt.step(x, g, lr, t)
        fs.append(value(x))
    return x, np.array(fs)
