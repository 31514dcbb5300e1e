"""Terminal summary of a runs table: one row per (problem, optimizer)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from optbench.record.tables import target_label


def summary_table(runs: pd.DataFrame, target: float = 1e-3) -> pd.DataFrame:
    """Runs, statuses, the best learning rate (lowest median final f) and its median steps to
    ``target`` (misses count: NaN when fewer than half the seeds reach it)."""
    col = f"steps_{target_label(target)}"
    rows = []
    for (prob, opt), g in runs.groupby(["problem", "optimizer"], sort=True, observed=True):
        per_lr = g.groupby("lr", dropna=False)
        med_f = per_lr["best_f"].median()
        best_lr = med_f.idxmin() if med_f.notna().any() else np.nan
        best = g[g["lr"] == best_lr] if best_lr == best_lr else g
        steps = best[col] if col in best else pd.Series(dtype=float)
        reached = steps.notna().mean() if len(steps) else 0.0
        rows.append({
            "problem": prob, "optimizer": opt, "runs": len(g),
            "converged": int((g["status"] == "converged").sum()),
            "diverged": int((g["status"] == "diverged").sum()),
            "errors": int((g["status"] == "error").sum()),
            "best_lr": best_lr,
            "median_best_f": float(med_f.min()) if med_f.notna().any() else np.nan,
            f"median_steps_to_{target_label(target)}": float(steps.median()) if reached >= 0.5 else np.nan,
            "median_wall_ms": 1e3 * float(g["wall_s"].median()) if "wall_s" in g else np.nan,
        })
    return pd.DataFrame(rows).set_index(["problem", "optimizer"])
