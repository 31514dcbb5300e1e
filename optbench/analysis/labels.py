"""Labels that aggregation groups by: problem *instances* and *solvers*.

An instance is a problem name plus the parameters in which the table's runs of that name
differ (``quadratic(cond=100, rotation=haar)``; just ``rosenbrock`` when there is one
variant). A solver is, by default, an optimizer name plus the hyperparameters in which the
table's runs of that optimizer differ (``adam(lr=0.01)``). A ``solver`` column already in
the table wins (the learning-rate protocol sets one), so tuned tables aggregate by optimizer.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd

from optbench.validate import OptbenchInputError


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flat(v, key + "."))
        else:
            out[key] = v
    return out


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def _labels(names: pd.Series, params: pd.Series, name_key: str, exclude=()) -> pd.Series:
    flat = [_flat({k: v for k, v in json.loads(s).items() if k != name_key}) for s in params]
    out = pd.Series(names.astype(str).to_numpy(), index=names.index, dtype=object)
    for name in pd.unique(names.astype(str)):
        rows = np.nonzero(names.astype(str).to_numpy() == name)[0]
        keys = sorted({k for i in rows for k in flat[i]} - set(exclude))
        vary = [k for k in keys
                if len({json.dumps(flat[i].get(k), sort_keys=True, default=str) for i in rows}) > 1]
        if not vary:
            continue
        for i in rows:
            parts = ", ".join(f"{k}={_fmt(flat[i].get(k))}" for k in vary)
            out.iloc[i] = f"{name}({parts})"
    return out


def instance_labels(runs: pd.DataFrame) -> pd.Series:
    """``problem`` plus the problem parameters that vary among the runs of that problem."""
    return _labels(runs["problem"], runs["problem_params"], "problem")


def config_labels(runs: pd.DataFrame, exclude=()) -> pd.Series:
    """``optimizer`` plus the hyperparameters (not in ``exclude``) that vary among its runs."""
    return _labels(runs["optimizer"], runs["optimizer_params"], "optimizer", exclude)


def with_labels(runs: pd.DataFrame, solver=None) -> pd.DataFrame:
    """A copy of ``runs`` with ``instance`` and ``solver`` columns.

    ``solver``: None (keep an existing ``solver`` column, else ``"config"``), ``"config"``
    (optimizer + varying hyperparameters), ``"optimizer"`` (name only: runs of different
    settings are pooled), or the name of any column."""
    _require(runs, ("problem", "problem_params", "optimizer", "optimizer_params"))
    out = runs.copy()
    if "instance" not in out:
        out["instance"] = instance_labels(out)
    if solver is None:
        solver = "solver" if "solver" in out else "config"
    if solver == "config":
        out["solver"] = config_labels(out)
    elif solver == "optimizer":
        out["solver"] = out["optimizer"].astype(str)
    elif solver != "solver":
        if solver not in out:
            raise OptbenchInputError(f"solver column {solver!r} is not in the runs table")
        out["solver"] = out[solver].astype(str)
    out["solver"] = out["solver"].astype(str)
    out["instance"] = out["instance"].astype(str)
    return out


def fstar_by_instance(runs: pd.DataFrame) -> pd.Series:
    """f* of each instance (NaN where no run knows it: error rows carry NaN)."""
    r = runs if "instance" in runs else with_labels(runs)
    return r.groupby("instance")["f_star"].max()


def _require(df: pd.DataFrame, cols):
    miss = [c for c in cols if c not in df]
    if miss:
        raise OptbenchInputError(f"the table lacks column(s) {', '.join(miss)} "
                                 "(is it an optbench runs table?)")
