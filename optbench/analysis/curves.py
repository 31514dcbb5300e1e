r"""Convergence curves over seeds: median and quartiles of a trace quantity on a common grid.

y: ``f_gap`` (:math:`f(x_t) - f^\star`), ``best_gap`` (best-so-far − f*), ``f``, ``best_f``,
``grad_norm``, ``dist_to_opt``; x: ``ngev`` (gradient evaluations), ``step`` or ``time_s``.
Every run is a step function of x (its last recorded value holds until the next record).
A run that stopped early keeps its last value; a diverged run is +∞ from its divergence on,
an error run is +∞ throughout: failures stay in the quantiles (the upper quartile of a
solver with diverged seeds goes to ∞), and ``failed`` counts them.
Cost: O(runs × grid) per (instance, solver), grid = union of the recorded x values.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from optbench.validate import OptbenchInputError

from .labels import with_labels

Y_KINDS = ("f_gap", "best_gap", "f", "best_f", "grad_norm", "dist_to_opt")
X_KINDS = ("ngev", "step", "time_s")
NEEDS_FSTAR = ("f_gap", "best_gap")


def _y(tr: pd.DataFrame, y: str, fstar: float) -> np.ndarray:
    if y == "f_gap":
        return tr["f"].to_numpy(float) - fstar
    if y == "best_gap":
        return tr["best_f"].to_numpy(float) - fstar
    return tr[y].to_numpy(float)


def trace_quantiles(runs: pd.DataFrame, traces: pd.DataFrame, *, y: str = "f_gap",
                    x: str = "ngev", solver=None, instances=None, q=(0.25, 0.5, 0.75),
                    floor: float | None = None) -> pd.DataFrame:
    """Long table (instance, solver, x, q25, median, q75, n, failed). ``floor``: clip gap
    values below ``floor·max(1, |f*|)`` (plots use machine epsilon: a gap of 0 cannot be
    drawn on a log axis). Instances without f* are refused for the gap kinds."""
    if y not in Y_KINDS:
        raise OptbenchInputError(f"y must be one of {', '.join(Y_KINDS)}, got {y!r}")
    if x not in X_KINDS:
        raise OptbenchInputError(f"x must be one of {', '.join(X_KINDS)}, got {x!r}")
    R = with_labels(runs, solver)
    if instances is not None:
        R = R[R["instance"].isin(list(np.atleast_1d(instances)))]
    fstar = R.groupby("instance")["f_star"].max()
    by_run = {k: v.sort_values(x) for k, v in traces.groupby("run_id")} if len(traces) else {}
    rows = []
    for (inst, s), g in R.groupby(["instance", "solver"], sort=True):
        fs = fstar[inst]
        if y in NEEDS_FSTAR and not np.isfinite(fs):
            raise OptbenchInputError(f"{inst} has no known f*: use y='f' (or 'grad_norm')")
        series = []
        for r in g.to_dict("records"):
            tr = by_run.get(r["run_id"])
            if r["status"] == "error" or tr is None or len(tr) == 0:
                series.append((np.zeros(0), np.zeros(0), True))
                continue
            xv, yv = tr[x].to_numpy(float), _y(tr, y, fs)
            div = r["status"] == "diverged"
            if div:
                yv = np.where(np.isfinite(yv), yv, np.inf)
                yv[-1] = np.inf  # the recorded divergence point
            if floor is not None and y in NEEDS_FSTAR:
                yv = np.maximum(yv, floor * max(1.0, abs(fs)))
            series.append((xv, yv, div))
        grid = np.unique(np.concatenate([sx for sx, _, _ in series] or [np.zeros(0)]))
        if grid.size == 0:
            grid = np.zeros(1)
        V = np.full((len(series), grid.size), np.inf)
        for i, (sx, sy, div) in enumerate(series):
            if sx.size == 0:
                continue
            j = np.searchsorted(sx, grid, side="right") - 1
            v = np.where(j >= 0, sy[np.maximum(j, 0)], np.nan)
            if div:
                v[grid > sx[-1]] = np.inf
            V[i] = v
        Q = np.nanquantile(V, q, axis=0, method="inverted_cdf") if len(series) else \
            np.full((len(q), grid.size), np.nan)
        failed = int(sum(1 for _, _, d in series if d) + (g["status"] == "error").sum())
        n = len(series)
        for k in range(grid.size):
            rows.append((inst, s, grid[k], *Q[:, k], n, failed))
    names = [f"q{int(round(100 * v))}" if v != 0.5 else "median" for v in q]
    return pd.DataFrame(rows, columns=["instance", "solver", x, *names, "n", "failed"])
