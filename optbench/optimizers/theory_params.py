r"""Optimal constant parameters on quadratics with Hessian spectrum in [μ, L] (docs/reference.md).

| method | parameters | rate per step |
|---|---|---|
| ``gd`` | α = 2/(L+μ) | (κ−1)/(κ+1) |
| ``momentum`` (heavy ball) | α = (2/(√L+√μ))², β = ((√κ−1)/(√κ+1))² | (√κ−1)/(√κ+1) |
| ``nesterov`` | α = 1/L, β = (√κ−1)/(√κ+1) | ≈ 1 − 1/√κ |
| ``linear-cg``, ``newton`` | none | CG: 2((√κ−1)/(√κ+1))^k bound; Newton: one step |

Sources: Polyak, *Introduction to Optimization* (1987) §3.2; Nesterov, *Introductory Lectures on
Convex Optimization* (2004) §2.2. The literal values in the ``quadratic-theory`` suite come
from :func:`optimal_parameters`; :func:`matched` keeps the runs whose parameters are the
optimal ones for their problem's κ. Cost: O(1). The rates themselves (and the same
:func:`tuned`) are in :mod:`optbench.analysis.theory`, which imports these formulas: the
optimizers' layer never imports analysis.
"""
from __future__ import annotations

import json
import math

from optbench.validate import OptbenchInputError

METHODS = ("gd", "momentum", "nesterov", "linear-cg", "newton")


def tuned(method: str, L: float, mu: float) -> dict:
    """The optimizer spec of the table's tuning (``gd``, ``momentum`` = heavy ball,
    ``nesterov``) for eigenvalues in [μ, L] (also :func:`optbench.analysis.theory.tuned`,
    beside the rates it attains)."""
    if not (L >= mu > 0):
        raise OptbenchInputError(f"need L >= mu > 0, got L={L!r}, mu={mu!r}")
    s = math.sqrt(L / mu)
    root_rate = (s - 1) / (s + 1)           # (√κ−1)/(√κ+1), the heavy-ball rate
    if method == "gd":
        return {"optimizer": "gd", "lr": 2.0 / (L + mu)}
    if method == "momentum":
        return {"optimizer": "momentum", "lr": (2.0 / (math.sqrt(L) + math.sqrt(mu))) ** 2,
                "momentum": root_rate ** 2}
    if method == "nesterov":
        return {"optimizer": "nesterov", "lr": 1.0 / L, "momentum": root_rate}
    raise OptbenchInputError(f"method must be gd, momentum or nesterov, got {method!r}")


def optimal_parameters(method: str, L: float, mu: float) -> dict:
    """Optimizer spec ({"optimizer": name, ...}) with the optimal constant parameters
    (the tunings of :func:`tuned`; CG and Newton have none)."""
    if method in ("linear-cg", "newton"):
        if not (math.isfinite(L) and math.isfinite(mu) and L >= mu > 0):
            raise OptbenchInputError(f"need L >= mu > 0, got L={L!r}, mu={mu!r}")
        return {"optimizer": method}
    if method not in METHODS:
        raise OptbenchInputError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    return tuned(method, L, mu)


def matched(runs, rtol: float = 1e-9):
    """Rows of a runs table on ``quadratic`` problems whose optimizer parameters are the
    optimal ones for the problem's (L, μ = L/cond) (parameter-free methods always match)."""
    keep = []
    for pp, op in zip(runs["problem_params"], runs["optimizer_params"]):
        p, o = json.loads(pp), json.loads(op)
        if p.get("problem") != "quadratic" or o["optimizer"] not in METHODS:
            keep.append(False)
            continue
        want = optimal_parameters(o["optimizer"], p["L"], p["L"] / p["cond"])
        keep.append(all(k in o and math.isclose(float(o[k]), float(v), rel_tol=rtol)
                        for k, v in want.items() if k != "optimizer"))
    return runs[keep]
