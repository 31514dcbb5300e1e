"""Optimizer trajectories x_0, x_{k_1}, x_{k_2}, … from the real compiled runs.

The runs table stores no iterates. A run is deterministic, so the end point of a run with
budget k *is* x_k of any longer run with the same spec: :func:`trajectory` executes the same
spec with budgets k = 1 … n (stop rule ``budget``) and stacks the end points. For long runs
the budgets are every step up to ``max_points``/2 and then log-spaced up to n, at most
``max_points`` in all (each is one short compiled run: ~ms on small problems). A cosine
schedule that follows the run's budget (``T_max = 0``) is pinned to n, so every short run
follows the schedule of the long one. A run that diverges ends the trajectory there.
Cost: max_points runs of ≤ n steps (O(max_points · n · cost of a gradient)).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from optbench.validate import OptbenchInputError


def budgets(n: int, max_points: int = 200) -> np.ndarray:
    """Budgets 1 … n, all of them when n ≤ max_points, else dense then log-spaced."""
    if n < 1:
        raise OptbenchInputError(f"steps must be >= 1, got {n}")
    if max_points < 2:
        raise OptbenchInputError(f"max_points must be >= 2, got {max_points}")
    if n <= max_points:
        return np.arange(1, n + 1)
    head = max_points // 2
    tail = np.round(np.geomspace(head + 1, n, max_points - head)).astype(np.int64)
    return np.unique(np.r_[np.arange(1, head + 1), tail, n])


def _pin_schedule(ospec: dict, n: int) -> dict:
    o = dict(ospec)
    s = o.get("schedule")
    if isinstance(s, dict) and s.get("kind") == "cosine" and not s.get("T_max"):
        o["schedule"] = {**s, "T_max": int(n)}
    return o


def trajectory(problem, optimizer, steps: int, *, x0=None, seed: int = 0,
               max_points: int = 200) -> pd.DataFrame:
    """Iterates of one run: DataFrame with ``step``, ``x`` (arrays), ``f`` and ``status``
    (the status of the run that ended at that step). Row 0 is x0."""
    from optbench import optimizers as O
    from optbench import problems as P
    from optbench.runner.execute import execute
    from optbench.runner.spec import RunSpec

    prob = P.make(problem)
    ospec = _pin_schedule(O.make(optimizer).spec, steps)
    ks = budgets(int(steps), max_points)
    specs = [RunSpec.make(prob, ospec, seed=seed, steps=int(k), x0=x0, stop="budget",
                          record="none") for k in ks]
    runs, _, xs = execute(specs, parallel=False, keep_x=True)
    if runs["status"].eq("error").all():
        raise OptbenchInputError(f"trajectory runs failed: {runs['message'].iloc[0]}")
    first = next(x for x in xs if x is not None)
    rows = [{"step": 0, "x": np.asarray(first[0], float), "f": prob.value(first[0]),
             "status": "start"}]
    for k, x, (_, r) in zip(ks, xs, runs.iterrows()):
        if x is None or r["status"] == "error":
            break
        xv = np.asarray(x[1], float)
        if r["status"] == "diverged" or int(r["nit"]) < k:
            if np.all(np.isfinite(xv)):
                rows.append({"step": int(r["nit"]), "x": xv, "f": float(r["fun"]),
                             "status": "diverged"})
            break
        rows.append({"step": int(k), "x": xv, "f": float(r["fun"]), "status": str(r["status"])})
    return pd.DataFrame(rows)


def as_array(traj: pd.DataFrame) -> np.ndarray:
    """The iterates as an (n, d) array."""
    return np.vstack(traj["x"].to_list())
