"""The leaderboard's figures (:mod:`optbench.leaderboard`): the runtime ECDF and the
performance profile of the re-runs (solvers = optimizer names: each runs its own tuned
learning rate per instance), and one sensitivity figure per optimizer from the tuning runs
(:func:`figures`: PNG and PDF at 300 dpi); for the docs page (:func:`docs_figures`) the same
ECDF and profile and one grid of every optimizer's sensitivity panel, as palette PNGs at
:data:`DOCS_DPI` (a few hundred KB in all).

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
from matplotlib.figure import Figure
from matplotlib.ticker import NullLocator

from . import profiles as PR
from . import style as S

FORMATS = ("png", "pdf")
_COLOURS = ("#332288", "#88CCEE", "#44AA99", "#117733", "#999933", "#DDCC77", "#CC6677",
            "#882255", "#AA4499", "#000000")
_LINES = ("-", "--", ":", "-.")
FLOOR = 1e-16
DOCS_DPI = 150      # the docs page's PNGs (then cut to DOCS_COLOURS colours): ~100-300 KB
DOCS_COLOURS = 128
GRID_COLUMNS = 6    # panels per row of the sensitivity grid


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


def docs_figures(tune: pd.DataFrame, final: pd.DataFrame, folder, order: list[str],
                 target: float = 1e-3) -> list[Path]:
    """The docs page's light figures, PNG only at :data:`DOCS_DPI`: ``ecdf``, ``profile`` and
    one ``sensitivity`` grid of every optimizer (panels in the order ``order``, e.g. the
    overall ranking); returns the files."""
    folder = Path(folder)
    out = []
    fig = PR.ecdf(final, targets="ladder", solver="optimizer", w="double",
                  title="runtime ECDF of the tuned optimizers (51 targets per instance)")
    out += S.save(fig, folder / "ecdf", ("png",), dpi=DOCS_DPI)
    fig = PR.performance_profile(final, target=target, solver="optimizer", w="double")
    out += S.save(fig, folder / "profile", ("png",), dpi=DOCS_DPI)
    curves = relative_gaps(tune)
    fig = sensitivity_grid(curves, order, sorted(curves["instance"].unique()))
    out += S.save(fig, folder / "sensitivity", ("png",), dpi=DOCS_DPI)
    for p in out:
        light_png(p)
    return out


def light_png(path, colours: int = DOCS_COLOURS) -> Path:
    """Rewrite a PNG with a palette of ``colours`` colours (median cut, no dithering: flat
    lines and text stay crisp), about a quarter of matplotlib's RGBA file; deterministic."""
    from PIL import Image

    with Image.open(path) as im:
        q = im.convert("RGB").quantize(colors=colours, method=Image.Quantize.MEDIANCUT,
                                       dither=Image.Dither.NONE)
    q.save(path, optimize=True)
    return Path(path)


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


def _curves(ax, curves: pd.DataFrame, instances: list[str], *, markersize: float = 2.5,
            linewidth: float | None = None):
    """One line per instance (fixed colour and style by its place in ``instances``), × on the
    top edge where the run diverged or failed."""
    for k, inst in enumerate(instances):
        g = curves[curves["instance"] == inst].sort_values("lr")
        if g.empty:
            continue
        x = g["lr"].to_numpy(float)
        y = g["median"].to_numpy(float)
        colour = _COLOURS[k % len(_COLOURS)]
        ls = _LINES[(k // len(_COLOURS)) % len(_LINES)]
        ax.plot(x, np.where(np.isfinite(y), y, np.nan), color=colour, linestyle=ls,
                marker="o", markersize=markersize, linewidth=linewidth, label=inst)
        bad = ~np.isfinite(y)
        if bad.any():
            ax.plot(x[bad], np.full(bad.sum(), 10.0), linestyle="none", marker="x",
                    color=colour, markersize=1.6 * markersize, label="_diverged")


def sensitivity(curves: pd.DataFrame, optimizer: str, instances: list[str]):
    """One optimizer's panel: relative gap against lr, a line per instance."""
    fig, ax = S.figure("double", h=3.4)
    with S.paper():
        _curves(ax, curves, instances)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_ylim(FLOOR / 2, 30.0)
        ax.set_xlabel(S.LABELS.get("lr", "learning rate"))
        ax.set_ylabel(r"median final $(f - f^\star)/(f_0 - f^\star)$")
        ax.set_title(f"{optimizer}: sensitivity to the learning rate (tuning runs)")
        S.legend_below(fig, ax, fontsize=6)
    return fig


def sensitivity_grid(curves: pd.DataFrame, optimizers: list[str], instances: list[str]):
    """Small multiples: one panel per optimizer (in the order given), the lines of
    :func:`sensitivity`, shared axes and one legend of the instances below."""
    n = len(optimizers)
    ncols = min(GRID_COLUMNS, max(n, 1))
    nrows = max(1, -(-n // ncols))
    with S.paper():
        fig = Figure(figsize=(1.75 * ncols, 1.25 * nrows + 0.3), layout="constrained")
        axes = np.atleast_1d(fig.subplots(nrows, ncols, sharex=True, sharey=True,
                                          squeeze=False)).ravel()
        for ax, opt in zip(axes, optimizers):
            _curves(ax, curves[curves["optimizer"] == opt], instances, markersize=1.6,
                    linewidth=0.8)
            ax.set_title(opt, fontsize=7, pad=2)
        for ax in axes[n:]:
            ax.set_visible(False)
        for ax in axes[max(n - ncols, 0):n]:     # the lowest panel of each column: x labels
            ax.xaxis.set_tick_params(labelbottom=True)
        ax = axes[0]
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_ylim(FLOOR / 2, 30.0)
        ax.set_yticks([1e-16, 1e-12, 1e-8, 1e-4, 1.0])
        ax.set_xticks([1e-4, 1e-2, 1.0])
        for a in axes[:n]:
            a.tick_params(labelsize=6)
            a.yaxis.set_minor_locator(NullLocator())
            a.xaxis.set_minor_locator(NullLocator())
        fig.supxlabel(S.LABELS.get("lr", "learning rate"), fontsize=8)
        fig.supylabel(r"median final $(f - f^\star)/(f_0 - f^\star)$ (tuning runs)",
                      fontsize=8)
        S.legend_below(fig, axes[:n], fontsize=6.5)
    return fig
