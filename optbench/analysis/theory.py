r"""Convergence rates on quadratics :math:`f = \tfrac12 x^\top A x`, κ = L/μ (docs/reference.md).

| method | tuning | rate per step |
|---|---|---|
| gradient descent | α = 2/(L+μ) | (κ−1)/(κ+1) |
| heavy ball | α = (2/(√L+√μ))², β = ((√κ−1)/(√κ+1))² | (√κ−1)/(√κ+1) |
| Nesterov | α = 1/L, β = (√κ−1)/(√κ+1) | 1 − 1/√κ (the double root at λ = μ) |
| conjugate gradient | — | ‖e_k‖_A ≤ 2((√κ−1)/(√κ+1))^k ‖e_0‖_A |

Steps to tolerance ε: ln(1/ε)/ln(1/rate). The rate bounds the error ‖x_k − x*‖ (and
f − f* by rate^{2k}). :func:`linear_rate` gives the asymptotic rate of any constant-lr
``sgd``-family setting (gd, momentum, nesterov, dampening, coupled weight decay) on a given
spectrum: the largest spectral radius of the 2×2 per-eigenvalue iteration matrices — the
linear-systems view of Polyak (1964) and Lessard, Recht & Packard (2016).
Cost: O(number of eigenvalues).
"""
from __future__ import annotations

import json
import math

import numpy as np

from optbench.optimizers.theory_params import tuned  # noqa: F401  (public here too: the
#   tunings next to their rates; they live with the optimizers, the lower layer)
from optbench.validate import OptbenchInputError


def _kappa(kappa):
    if not kappa >= 1:
        raise OptbenchInputError(f"condition number must be >= 1, got {kappa!r}")
    return float(kappa)


def gd_rate(kappa: float) -> float:
    k = _kappa(kappa)
    return (k - 1) / (k + 1)


def heavy_ball_rate(kappa: float) -> float:
    s = math.sqrt(_kappa(kappa))
    return (s - 1) / (s + 1)


def nesterov_rate(kappa: float) -> float:
    return 1.0 - 1.0 / math.sqrt(_kappa(kappa))


def cg_bound(kappa: float, k) -> np.ndarray:
    """Bound on ‖e_k‖_A / ‖e_0‖_A after k conjugate-gradient steps."""
    return 2.0 * heavy_ball_rate(kappa) ** np.asarray(k, float)


RATES = {"gd": gd_rate, "momentum": heavy_ball_rate, "nesterov": nesterov_rate}


def steps_to_tolerance(rate: float, eps: float) -> float:
    """≈ ln(1/ε) / ln(1/rate) steps to shrink the error by ε."""
    if not 0 < eps < 1:
        raise OptbenchInputError(f"eps must be in (0, 1), got {eps!r}")
    if rate <= 0:
        return 1.0
    if rate >= 1:
        return math.inf
    return math.log(1 / eps) / math.log(1 / rate)


def iteration_matrix(lam: float, lr: float, momentum=0.0, dampening=0.0, nesterov=False,
                     weight_decay=0.0) -> np.ndarray:
    """2×2 matrix of the torch-SGD iteration on the eigen-coordinate (x, b) for eigenvalue
    λ: b' = βb + (1−τ)(λ+wd)x, x' = x − α b' (Nesterov: x' = x − α((λ+wd)x + β b'))."""
    h = lam + weight_decay
    a, b, c = lr, momentum, 1.0 - dampening
    if nesterov:
        return np.array([[1 - a * h - a * b * c * h, -a * b * b], [c * h, b]])
    return np.array([[1 - a * c * h, -a * b], [c * h, b]])


def linear_rate(optimizer_params, eigenvalues) -> float | None:
    """Asymptotic rate per step of a constant-lr sgd-family setting on a quadratic with the
    given Hessian eigenvalues (None for other optimizers, schedules or clipping)."""
    o = json.loads(optimizer_params) if isinstance(optimizer_params, str) else dict(optimizer_params)
    if o.get("optimizer") not in ("gd", "sgd", "momentum", "nesterov"):
        return None
    sched = o.get("schedule") or {"kind": "constant"}
    if sched.get("kind", "constant") != "constant" or sched.get("warmup", 0) or \
            o.get("clip_norm") or o.get("clip_value"):
        return None
    defaults = {"gd": (0.0, False), "sgd": (0.0, False), "momentum": (0.9, False),
                "nesterov": (0.9, True)}[o["optimizer"]]
    mom = float(o.get("momentum", defaults[0]))
    nest = bool(o.get("nesterov", defaults[1]))
    lr = float(o.get("lr", 1e-2))
    rho = 0.0
    for lam in np.asarray(eigenvalues, float).ravel():
        wd = float(o.get("weight_decay", 0.0))
        if mom == 0.0:  # no buffer: x' = (1 − α(λ + wd)) x
            r = abs(1.0 - lr * (lam + wd))
        else:
            M = iteration_matrix(lam, lr, mom, float(o.get("dampening", 0.0)), nest, wd)
            r = float(np.max(np.abs(np.linalg.eigvals(M))))
        rho = max(rho, r)
    return rho


def quadratic_eigenvalues(problem_params) -> np.ndarray | None:
    """Hessian eigenvalues of a ``quadratic`` problem spec (None for other problems)."""
    p = json.loads(problem_params) if isinstance(problem_params, str) else dict(problem_params)
    if p.get("problem") != "quadratic":
        return None
    from optbench.problems.quadratic import spectrum
    return spectrum(int(p["dim"]), float(p["cond"]), float(p["L"]), p["spectrum"])
