"""The learning-rate protocol (DeepOBS; docs/reference.md "Benchmark metrics").

1. For every (instance, setting) — a setting is an optimizer with all hyperparameters but
   the tuned one (``lr`` by default) — score each grid value over its seeds by a stated
   criterion: ``final_f`` (median final f), ``best_f`` (median best-so-far f) or ``steps``
   (median steps to ``target``; instances without f* fall back to ``final_f``, and the
   ``criterion`` column says so). Ties (e.g. every value missed the target) are broken by
   the median final f, then by the smaller value.
2. :func:`rerun` re-runs the best value with ≥ 10 seeds; :func:`seed_quantiles` reports
   median and quartiles. :func:`sensitivity` gives final f against the learning rate.

Diverged and error runs are never dropped: their criterion value is +∞ (a miss), so a
value that diverges on most seeds cannot win. Quantiles are empirical (no interpolation).
Cost: O(runs) pandas work; :func:`rerun` runs seeds × settings runs.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from optbench.validate import OptbenchInputError

from .labels import config_labels, with_labels
from .metrics import quantile, runtimes

CRITERIA = ("final_f", "best_f", "steps")
VALUES = ("final_gap", "final_f", "best_gap", "best_f")
FAILED = ("diverged", "error")


def _run_values(R: pd.DataFrame, value: str) -> np.ndarray:
    bad = R["status"].isin(FAILED).to_numpy()
    col = "fun" if value.startswith("final") else "best_f"
    v = R[col].to_numpy(float)
    if value.endswith("gap"):
        v = v - R["_fstar"].to_numpy(float)
    return np.where(bad | np.isnan(v), np.inf, v)


def _prepare(runs, param):
    R = with_labels(runs, "config")
    R["setting"] = config_labels(R, exclude=(param,)).astype(str)
    if param == "lr":
        R["_param"] = R["lr"].astype(float)
    else:
        from optbench.record.tables import hyper_columns
        h = hyper_columns(R)
        if f"hp_{param}" not in h:
            raise OptbenchInputError(f"no hyperparameter {param!r} in the runs table")
        R["_param"] = h[f"hp_{param}"].astype(float)
    R["_fstar"] = R["instance"].map(R.groupby("instance")["f_star"].max())
    return R


def setting_scores(runs: pd.DataFrame, criterion: str = "final_f", *, target: float = 1e-3,
                   param: str = "lr") -> pd.DataFrame:
    """One row per (instance, setting, grid value): n, failed, criterion, median, q25, q75,
    tiebreak (median final f), optimizer_params (JSON of that value)."""
    if criterion not in CRITERIA:
        raise OptbenchInputError(f"criterion must be one of {', '.join(CRITERIA)}, got {criterion!r}")
    R = _prepare(runs, param)
    R["_final"] = _run_values(R, "final_f")
    if criterion == "steps":
        rt = runtimes(R.drop(columns=["solver"]), [target], solver=None)
        steps = dict(zip(rt["run_id"], np.where(rt["hit"], rt["steps"], np.inf)))
        R["_crit"] = R["run_id"].map(steps).astype(float)
        nof = ~np.isfinite(R["_fstar"].to_numpy(float))
        R.loc[nof, "_crit"] = R.loc[nof, "_final"]
        R["_cname"] = np.where(nof, "final_f", f"steps to {target:g}")
    else:
        R["_crit"] = _run_values(R, criterion)
        R["_cname"] = criterion
    rows = []
    for (inst, setting, pv), g in R.groupby(["instance", "setting", "_param"], sort=True):
        c = g["_crit"].to_numpy(float)
        rows.append({"instance": inst, "setting": setting, param: pv,
                     "optimizer": g["optimizer"].iloc[0],
                     "optimizer_params": g["optimizer_params"].iloc[0],
                     "n": len(g), "failed": int(g["status"].isin(FAILED).sum()),
                     "criterion": g["_cname"].iloc[0], "median": quantile(c, 0.5),
                     "q25": quantile(c, 0.25), "q75": quantile(c, 0.75),
                     "tiebreak": quantile(g["_final"], 0.5)})
    return pd.DataFrame(rows)


def best_settings(runs: pd.DataFrame, criterion: str = "final_f", *, target: float = 1e-3,
                  param: str = "lr") -> pd.DataFrame:
    """The best grid value of every (instance, setting) (see the module docstring)."""
    s = setting_scores(runs, criterion, target=target, param=param)
    s = s.sort_values(["instance", "setting", "median", "tiebreak", param], kind="stable")
    return s.groupby(["instance", "setting"], sort=True).head(1).reset_index(drop=True)


def select_best(runs: pd.DataFrame, best: pd.DataFrame | None = None, **kw) -> pd.DataFrame:
    """The runs of the best settings, with ``solver`` = setting (so profiles compare
    optimizers, each at its own tuned value per instance)."""
    if best is None:
        best = best_settings(runs, **kw)
    R = with_labels(runs, "config")
    R["setting"] = config_labels(R, exclude=(kw.get("param", "lr"),)).astype(str)
    keep = set(zip(best["instance"], best["optimizer_params"]))
    mask = [(i, o) in keep for i, o in zip(R["instance"], R["optimizer_params"])]
    out = R[mask].copy()
    out["solver"] = out["setting"]
    return out.drop(columns=["setting"]).reset_index(drop=True)


def rerun(best: pd.DataFrame, runs: pd.DataFrame, seeds=10, *, parallel=None):
    """Re-run every best setting with ``seeds`` (an int n → 0 … n−1, or a list; at least 10),
    same problem, budget, targets and stop rule as the tuning runs. Returns (runs, traces)."""
    from optbench.runner.execute import execute
    from optbench.runner.spec import RunSpec

    seeds = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    if len(set(seeds)) < 10:
        raise OptbenchInputError(f"the protocol re-runs with at least 10 seeds, got {len(set(seeds))}")
    R = with_labels(runs, "config")
    specs = []
    for b in best.to_dict("records"):
        src = R[(R["instance"] == b["instance"]) & (R["optimizer_params"] == b["optimizer_params"])]
        if src.empty:
            raise OptbenchInputError(f"no run of {b['setting']} on {b['instance']} in the table")
        r = src.iloc[0]
        for s in seeds:
            specs.append(RunSpec.make(_js(r["problem_params"]), _js(r["optimizer_params"]),
                                      seed=s, steps=int(r["budget"]), targets=list(r["targets"]),
                                      stop=str(r["stop"])))
    return execute(specs, parallel=parallel)


def _js(s):
    import json
    return json.loads(s)


def seed_quantiles(runs: pd.DataFrame, value: str = "final_f", *, solver=None) -> pd.DataFrame:
    """Median and quartiles of ``value`` over the runs of each (instance, solver)."""
    if value not in VALUES:
        raise OptbenchInputError(f"value must be one of {', '.join(VALUES)}, got {value!r}")
    R = with_labels(runs, solver)
    R["_fstar"] = R["instance"].map(R.groupby("instance")["f_star"].max())
    R["_v"] = _run_values(R, value)
    g = R.groupby(["instance", "solver"], sort=True)
    return pd.DataFrame({
        "n": g.size(), "failed": g["status"].agg(lambda s: int(s.isin(FAILED).sum())),
        "median": g["_v"].agg(lambda s: quantile(s, 0.5)),
        "q25": g["_v"].agg(lambda s: quantile(s, 0.25)),
        "q75": g["_v"].agg(lambda s: quantile(s, 0.75))}).reset_index()


def sensitivity(runs: pd.DataFrame, value: str = "final_gap", *, param: str = "lr") -> pd.DataFrame:
    """Sensitivity curves: per (instance, setting, value of ``param``) the median and
    quartiles of ``value`` over seeds (∞ for failed runs), n and failed. ``final_gap``
    falls back to ``final_f`` on instances without f* (column ``value``)."""
    if value not in VALUES:
        raise OptbenchInputError(f"value must be one of {', '.join(VALUES)}, got {value!r}")
    R = _prepare(runs, param)
    rows = []
    for (inst, setting, pv), g in R.groupby(["instance", "setting", "_param"], sort=True):
        v = value
        if v.endswith("gap") and not np.isfinite(g["_fstar"].iloc[0]):
            v = v.replace("gap", "f")
        x = _run_values(g, v)
        rows.append({"instance": inst, "setting": setting, param: pv, "value": v,
                     "n": len(g), "failed": int(g["status"].isin(FAILED).sum()),
                     "median": quantile(x, 0.5), "q25": quantile(x, 0.25),
                     "q75": quantile(x, 0.75)})
    return pd.DataFrame(rows)
