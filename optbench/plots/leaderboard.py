"""The leaderboard's figures (:mod:`optbench.leaderboard`): the runtime ECDF and the
performance profile of the re-runs (solvers = optimizer names: each runs its own tuned
learning rate per instance), and one sensitivity figure per optimizer from the tuning runs.

Sensitivity: per instance, the median over seeds of the final relative gap
(f − f*)/(f₀ − f*) (floored at 1e−16; a diverged or failed run is +∞, drawn as × on the top
edge) against the learning rate, one line per instance in a fixed colour per instance (Paul
Tol's muted palette, cycled, with line styles), so the shape of each optimizer's tolerance to
its step size reads off one panel. Instances without f* are left out there.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from . import profiles as PR
from . import style as S

FORMATS = ("png", "pdf")
_COLOURS = ("#332288", "#88CCEE", "#44AA99", "#117733", "#999933", "#DDCC77", "#CC6677",
            "#882255", "#AA4499", "#000000")
_LINES = ("-", "--", ":", "-.")
FLOOR = 1e-16


def figures(tune: pd.DataFrame, final: pd.DataFrame, folder, target: float = 1e-3) -> list[Path]:
    """Write ecdf, profile (at ``target``) and sensitivity-<optimizer> into ``folder``;
    returns the files."""
    folder = Path(folder)
    out = []
    fig = PR.ecdf(final, targets="ladder", solver="optimizer", w="double",
                  title="runtime ECDF of the tuned optimizers (51 targets per instance)")
    out += S.save(fig, folder / "ecdf", FORMATS)
    fig = PR.performance_profile(final, target=target, solver="optimizer", w="double")
    out += S.save(fig, folder / "profile", FORMATS)
    curves = relative_gaps(tune)
    insts = sorted(curves["instance"].unique())
    for opt, g in curves.groupby("optimizer", sort=True):
        out += S.save(sensitivity(g, opt, insts), folder / f"sensitivity-{opt}", FORMATS)
    return out


def relative_gaps(tune: pd.DataFrame) -> pd.DataFrame:
    """Per (optimizer, instance, lr): the median over seeds of (f − f*)/(f₀ − f*), +∞ for a
    run that diverged or failed (instances with a known f* only)."""
    from optbench.analysis.labels import with_labels
    from optbench.analysis.metrics import quantile

    R = with_labels(tune, "optimizer")
    fstar = R.groupby("instance")["f_star"].transform("max").to_numpy(float)
    keep = np.isfinite(fstar)
    R, fstar = R[keep], fstar[keep]
    gap0 = np.maximum(R["f0"].to_numpy(float) - fstar, FLOOR)
    rel = np.maximum((R["fun"].to_numpy(float) - fstar) / gap0, FLOOR)
    bad = R["status"].isin(("diverged", "error")).to_numpy() | ~np.isfinite(rel)
    R = R.assign(_rel=np.where(bad, np.inf, rel))
    rows = [{"optimizer": o, "instance": i, "lr": float(lr), "median": quantile(g["_rel"], 0.5)}
            for (o, i, lr), g in R.groupby(["optimizer", "instance", "lr"], sort=True)]
    return pd.DataFrame(rows, columns=["optimizer", "instance", "lr", "median"])


def sensitivity(curves: pd.DataFrame, optimizer: str, instances: list[str]):
    """One optimizer's panel: relative gap against lr, a line per instance."""
    fig, ax = S.figure("double", h=3.4)
    with S.paper():
        for k, inst in enumerate(instances):
            g = curves[curves["instance"] == inst].sort_values("lr")
            if g.empty:
                continue
            x = g["lr"].to_numpy(float)
            y = g["median"].to_numpy(float)
            colour = _COLOURS[k % len(_COLOURS)]
            ls = _LINES[(k // len(_COLOURS)) % len(_LINES)]
            ax.plot(x, np.where(np.isfinite(y), y, np.nan), color=colour, linestyle=ls,
                    marker="o", markersize=2.5, label=inst)
            bad = ~np.isfinite(y)
            if bad.any():
                ax.plot(x[bad], np.full(bad.sum(), 10.0), linestyle="none", marker="x",
                        color=colour, markersize=4, label="_diverged")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_ylim(FLOOR / 2, 30.0)
        ax.set_xlabel(S.LABELS.get("lr", "learning rate"))
        ax.set_ylabel(r"median final $(f - f^\star)/(f_0 - f^\star)$")
        ax.set_title(f"{optimizer}: sensitivity to the learning rate (tuning runs)")
        S.legend_below(fig, ax, fontsize=6)
    return fig
