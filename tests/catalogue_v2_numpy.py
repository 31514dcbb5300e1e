r"""Plain-NumPy implementations of prodigy, dadapt-adam, lars, novograd and mars, written from
the formulas of their papers as the reference packages implement them (the optimizers'
docstrings say where the two differ), for tests/test_catalogue_v2.py.

Nothing here imports optbench. A run takes the objective's value and gradient (``grad(x, t)``
with t the 0-based step: the minibatch / noise draw of a stochastic problem), the start and
the block layout ``[(offset, size, ndim), ...]`` (torch's parameters), and returns the final
x and f at x₀ … x_steps. Weight decay is each method's own (coupled where noted).
The defaults are the reference packages' (prodigyopt 1.1.2, dadaptation 3.2,
pytorch-optimizer 4.1.0), written out here.
"""
from __future__ import annotations

import math

import numpy as np

DEFAULTS = {
    "prodigy": dict(lr=1.0, beta1=0.9, beta2=0.999, beta3=None, eps=1e-8, weight_decay=0.0,
                    decouple=True, use_bias_correction=False, safeguard_warmup=False, d0=1e-6,
                    d_coef=1.0, growth_rate=None, slice_p=1),
    "dadapt-adam": dict(lr=1.0, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0,
                        decouple=False, use_bias_correction=False, d0=1e-6, growth_rate=None),
    "lars": dict(lr=1e-3, weight_decay=0.0, momentum=0.9, dampening=0.0,
                 trust_coefficient=1e-3, nesterov=False, adapt_vectors=False),
    "novograd": dict(lr=1e-3, beta1=0.95, beta2=0.98, weight_decay=0.0, weight_decouple=False,
                     fixed_decay=False, grad_averaging=False, eps=1e-8),
    "mars": dict(lr=3e-3, beta1=0.95, beta2=0.99, gamma=0.025, mars_type="adamw",
                 optimize_1d=False, lr_1d=3e-3, beta1_1d=0.9, beta2_1d=0.95, weight_decay=0.0,
                 weight_decay_1d=0.1, fixed_decay=False, ams_bound=False, eps=1e-8,
                 exact=False),
}


class Prodigy:
    """Mishchenko & Defazio (2024), Algorithm 3, as prodigyopt: r, s without (1 − β₃), with
    d/d₀; the new d in the denominator's ε; x₀ and s on every p-th coordinate of a block."""

    def __init__(self, x0, blocks, h):
        self.h = h
        self.b3 = math.sqrt(h["beta2"]) if h["beta3"] is None else h["beta3"]
        self.idx = np.concatenate([np.arange(o, o + n, h["slice_p"]) for o, n, _ in blocks])
        self.x0 = x0[self.idx].copy()
        self.m, self.v, self.s = np.zeros_like(x0), np.zeros_like(x0), np.zeros(len(self.idx))
        self.d = self.d_max = h["d0"]
        self.r, self.k = 0.0, 0

    def step(self, x, g, t):
        h, d, d0 = self.h, self.d, self.h["d0"]
        b1, b2 = h["beta1"], h["beta2"]
        if h["weight_decay"] and not h["decouple"]:
            g = g + h["weight_decay"] * x
        bc = (math.sqrt(1 - b2 ** (self.k + 1)) / (1 - b1 ** (self.k + 1))
              if h["use_bias_correction"] else 1.0)
        eta = d * h["lr"] * bc
        gs = g[self.idx]
        r = self.b3 * self.r + (d / d0) * eta * float(gs @ (self.x0 - x[self.idx]))
        self.m = b1 * self.m + d * (1 - b1) * g
        self.v = b2 * self.v + d * d * (1 - b2) * g * g
        self.s = self.b3 * self.s + (d / d0) * (d if h["safeguard_warmup"] else eta) * gs
        l1 = np.abs(self.s).sum()
        if l1 == 0:
            return x
        d_hat = h["d_coef"] * r / l1
        if d == d0:
            d = max(d, d_hat)
        self.d_max = max(self.d_max, d_hat)
        growth = math.inf if h["growth_rate"] is None else h["growth_rate"]
        self.d = d = min(self.d_max, d * growth)
        self.r, self.k = r, self.k + 1
        if h["weight_decay"] and h["decouple"]:
            x = x - eta * h["weight_decay"] * x
        u = self.m if b1 > 0 else d * g
        return x - eta * u / (np.sqrt(self.v) + d * h["eps"])


class DAdaptAdam:
    """Defazio & Mishchenko (2023), the Adam variant, as dadaptation.DAdaptAdam."""

    def __init__(self, x0, blocks, h):
        self.h = h
        self.m, self.v, self.s = (np.zeros_like(x0) for _ in range(3))
        self.d, self.r, self.k = h["d0"], 0.0, 0

    def step(self, x, g, t):
        h, d = self.h, self.d
        b1, b2 = h["beta1"], h["beta2"]
        beta = math.sqrt(b2)
        if h["weight_decay"] and not h["decouple"]:
            g = g + h["weight_decay"] * x
        bc = (math.sqrt(1 - b2 ** (self.k + 1)) / (1 - b1 ** (self.k + 1))
              if h["use_bias_correction"] else 1.0)
        eta = d * h["lr"] * bc
        a = eta * float(g @ (self.s / (np.sqrt(self.v) + h["eps"])))
        self.m = b1 * self.m + eta * (1 - b1) * g
        self.v = b2 * self.v + (1 - b2) * g * g
        self.s = beta * self.s + eta * (1 - beta) * g
        l1 = np.abs(self.s).sum()
        if l1 == 0:
            return x
        r = beta * self.r + (1 - beta) * a
        d_hat = r / ((1 - beta) * l1)
        growth = math.inf if h["growth_rate"] is None else h["growth_rate"]
        self.d, self.r, self.k = max(d, min(d_hat, d * growth)), r, self.k + 1
        if h["weight_decay"] and h["decouple"]:
            x = x - eta * h["weight_decay"] * x
        return x - self.m / (np.sqrt(self.v) + h["eps"])


class LARS:
    """You, Gitman & Ginsburg (2017), Algorithm 1, γ outside the momentum; matrices only
    unless ``adapt_vectors``."""

    def __init__(self, x0, blocks, h):
        self.h, self.blocks = h, blocks
        self.b = np.zeros_like(x0)

    def step(self, x, g, t):
        h = self.h
        lam, mu = h["weight_decay"], h["momentum"]
        u = g.copy()
        for o, n, nd in self.blocks:
            if nd < 2 and not h["adapt_vectors"]:
                continue
            w, gb = x[o:o + n], g[o:o + n]
            pn, gn = np.linalg.norm(w), np.linalg.norm(gb)
            den = gn + lam * pn
            q = h["trust_coefficient"] * pn / den if pn > 0 and den > 0 else 1.0
            u[o:o + n] = q * (gb + lam * w)
        if mu > 0:
            self.b = mu * self.b + (1 - h["dampening"]) * u
            u = u + mu * self.b if h["nesterov"] else self.b
        return x - h["lr"] * u


class NovoGrad:
    """Ginsburg et al. (2019), Algorithm 1 (ε also at the first step), per block."""

    def __init__(self, x0, blocks, h):
        self.h, self.blocks = h, blocks
        self.m = np.zeros_like(x0)
        self.v = [0.0] * len(blocks)

    def step(self, x, g, t):
        h = self.h
        b1, b2, lam = h["beta1"], h["beta2"], h["weight_decay"]
        x = x.copy()
        for j, (o, n, _) in enumerate(self.blocks):
            gb = g[o:o + n]
            sq = float(gb @ gb)
            self.v[j] = sq if t == 0 else b2 * self.v[j] + (1 - b2) * sq
            u = gb / (math.sqrt(self.v[j]) + h["eps"])
            if h["weight_decouple"]:
                x[o:o + n] *= 1 - lam * (1.0 if h["fixed_decay"] else h["lr"])
            else:
                u = u + lam * x[o:o + n]
            if t == 0:
                self.m[o:o + n] = u
            else:
                self.m[o:o + n] = b1 * self.m[o:o + n] + (1 - b1 if h["grad_averaging"] else 1) * u
            x[o:o + n] -= h["lr"] * self.m[o:o + n]
        return x


class MARS:
    """Yuan et al. (2024): MARS-AdamW / MARS-Lion on matrix blocks (all with
    ``optimize_1d``), AdamW on the others; approximate (previous minibatch) or ``exact``
    (``grad_prev(x_prev, t)``: the step's minibatch) correction."""

    def __init__(self, x0, blocks, h, grad=None):
        self.h, self.blocks, self.grad = h, blocks, grad
        self.m, self.v, self.vmax, self.prev = (np.zeros_like(x0) for _ in range(4))
        self.x_prev = None

    def step(self, x, g, t):
        h = self.h
        k = t + 1
        if h["exact"]:
            gp = g if self.x_prev is None else self.grad(self.x_prev, t)
            self.x_prev = x.copy()
        else:
            gp, self.prev = self.prev, g.copy()
        x = x.copy()
        for o, n, nd in self.blocks:
            sl = slice(o, o + n)
            mixed = h["optimize_1d"] or nd >= 2
            if mixed:
                b1, b2, lr, lam = h["beta1"], h["beta2"], h["lr"], h["weight_decay"]
                c = g[sl] + h["gamma"] * b1 / (1 - b1) * (g[sl] - gp[sl])
                c = c / max(np.linalg.norm(c), 1.0)
            else:
                b1, b2, lr, lam = h["beta1_1d"], h["beta2_1d"], h["lr_1d"], h["weight_decay_1d"]
                c = g[sl]
            self.m[sl] = b1 * self.m[sl] + (1 - b1) * c
            if mixed and h["mars_type"] == "lion":
                u = np.sign(self.m[sl])
            else:
                self.v[sl] = b2 * self.v[sl] + (1 - b2) * c * c
                self.vmax[sl] = np.maximum(self.vmax[sl], self.v[sl])
                v = self.vmax[sl] if h["ams_bound"] else self.v[sl]
                mhat, vhat = self.m[sl] / (1 - b1 ** k), (v + 1e-15) / (1 - b2 ** k)
                u = mhat / (np.sqrt(vhat) + h["eps"] / math.sqrt(1 - b2 ** k))
            x[sl] = x[sl] * (1 - lam * (1.0 if h["fixed_decay"] else lr)) - lr * u
        return x


CLASSES = {"prodigy": Prodigy, "dadapt-adam": DAdaptAdam, "lars": LARS, "novograd": NovoGrad,
           "mars": MARS}


def run(name, hyper, x0, value, grad, blocks, steps):
    """(final x, f at x₀ … x_steps) of optimizer ``name`` with ``hyper`` over the defaults;
    ``grad(x, t)`` is the gradient at step t (0-based)."""
    h = {**DEFAULTS[name], **hyper}
    unknown = set(hyper) - set(DEFAULTS[name])
    assert not unknown, unknown
    x = np.array(x0, dtype=np.float64)
    kw = {"grad": grad} if name == "mars" else {}
    opt = CLASSES[name](x, blocks, h, **kw)
    fs = [value(x)]
    for t in range(steps):
        x = opt.step(x, np.asarray(grad(x, t), dtype=np.float64), t)
        fs.append(value(x))
    return x, np.array(fs)
