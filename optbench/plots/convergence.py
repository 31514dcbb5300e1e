r"""Convergence curves: median over seeds with the inter-quartile band, log axes.

y: :math:`f - f^\star` (default), best-so-far gap, ‖∇f‖, ‖x − x*‖ or f; x: gradient
evaluations (default), steps or wall time. Gaps are floored at machine epsilon·max(1,|f*|)
(a gap of 0 cannot sit on a log axis). Instances without f* fall back to f on a symlog
axis. Failed runs stay in the quantiles (a diverged seed is +∞ from its divergence on) and
the legend (below the axes, never over a curve) says how many failed. On ``quadratic``
instances the theory rate of a constant-lr gd/momentum/nesterov setting
(:func:`optbench.analysis.theory.linear_rate`) is drawn dotted from the measured start:
ρ^{2k} for f − f*, ρ^k for ‖x − x*‖ and ‖∇f‖. Titles give each solver's learning rate and
the aggregation over seeds (:func:`describe`); log y axes carry at least three labelled
ticks (:class:`optbench.plots.style.LogTicks`).
Cost: O(runs × trace points).
"""
from __future__ import annotations

import numpy as np

from optbench.analysis import theory
from optbench.analysis.curves import NEEDS_FSTAR, trace_quantiles
from optbench.analysis.labels import with_labels
from optbench.validate import OptbenchInputError

from . import style as S

EPS = np.finfo(float).eps


def _pick(R, instance):
    insts = sorted(R["instance"].unique())
    if instance is None:
        if len(insts) != 1:
            raise OptbenchInputError(f"several instances: pick one of {', '.join(insts)}")
        return insts[0]
    if instance not in insts:
        raise OptbenchInputError(f"unknown instance {instance!r}; valid: {', '.join(insts)}")
    return instance


def draw(ax, runs, traces, instance, *, y="f_gap", x="ngev", band=True, show_theory=True,
         legend=True):
    """Draw the curves of one instance on ``ax``; returns the y kind actually drawn."""
    R = runs[runs["instance"] == instance]
    fstar = R["f_star"].max()
    if y in NEEDS_FSTAR and not np.isfinite(fstar):
        y = "f"
    traces = traces[traces["run_id"].isin(R["run_id"])]  # grouping all traces costs O(table)
    q = trace_quantiles(R, traces, y=y, x=x, solver="solver", floor=EPS)
    st = S.styles(R["solver"].unique())
    top = -np.inf
    pending = []
    for s, g in q.groupby("solver", sort=True):
        xv, med = g[x].to_numpy(float), g["median"].to_numpy(float)
        if x == "ngev":
            keep = xv >= 1
        elif x == "time_s":
            keep = xv > 0
        else:
            keep = np.ones(xv.size, bool)
        xv, med = xv[keep], med[keep]
        lo, hi = g["q25"].to_numpy(float)[keep], g["q75"].to_numpy(float)[keep]
        n, failed = int(g["n"].iloc[0]), int(g["failed"].iloc[0])
        lab = s + (f" ({failed}/{n} failed)" if failed else "")
        kw = st[s]
        ax.plot(xv, np.where(np.isfinite(med), med, np.nan), label=lab, color=kw["color"],
                marker=kw["marker"], linestyle=kw["linestyle"], markevery=0.12,
                markersize=3.5)
        if band and n > 1:
            ok = np.isfinite(lo) & np.isfinite(hi)
            ax.fill_between(xv, np.where(ok, lo, np.nan), np.where(ok, hi, np.nan),
                            color=kw["color"], alpha=0.18, linewidth=0)
        fin = med[np.isfinite(med)]
        if fin.size:
            top = max(top, fin.max())
        if show_theory and x in ("ngev", "step") and y in ("f_gap", "best_gap", "dist_to_opt",
                                                            "grad_norm"):
            pending.append((R[R["solver"] == s], xv, med, kw["color"], s))
    ax.set_xlabel(S.LABELS[x])
    ax.set_ylabel(S.LABELS[y])
    if x in ("ngev", "time_s"):
        ax.set_xscale("log")
    else:
        ax.set_xscale("symlog", linthresh=1.0)
        ax.set_xlim(left=0)  # steps are ≥ 0: no empty negative half
    if y == "f" or y == "best_f":
        _symlog(ax, q["median"].to_numpy(float))
    else:
        ax.set_yscale("log")
        S.log_ticks(ax.yaxis)  # ≥ 3 labelled ticks however small the panel
    if pending:  # theory lines last, inside the data's y-range
        ax.relim()
        ax.autoscale_view()
        ylim = ax.get_ylim()
        for args in pending:
            _theory(ax, *args[:3], x, y, *args[3:])
        ax.set_ylim(ylim)
    if legend:
        S.legend_below(ax.figure, ax)
    return y


def describe(runs, instance, *, band=True, tuned=None) -> str:
    """What a convergence panel shows: each solver's learning rate (unless its label names
    it) and how seeds are combined, e.g. ``α: adam 0.1, gd 0.01; median over 3 seeds,
    shaded 25–75 %``. ``tuned``: how α was picked (e.g. ``"steps to Δf = 0.001"``): the
    α part then reads ``best α per optimizer (steps to Δf = 0.001): …``."""
    R = runs[runs["instance"] == instance]
    lrs, n_runs, n_seeds = [], set(), set()
    for s, g in R.groupby("solver", sort=True):
        n_runs.add(len(g))
        n_seeds.add(g["seed"].nunique())
        vals = sorted(set(g["lr"].dropna().astype(float))) if "lr" in g else []
        if "lr=" in s or not vals:
            continue
        lrs.append(f"{s} {vals[0]:g}" if len(vals) == 1 else f"{s} {len(vals)} values pooled")
    parts = []
    if lrs:
        head = f"best α per optimizer ({tuned})" if tuned else "α"
        parts.append(f"{head}: " + ", ".join(lrs))
    if n_runs == n_seeds and len(n_seeds) == 1:
        n, unit = n_seeds.pop(), "seed"
    else:
        n, unit = max(n_runs, default=0), "run"
    if n <= 1:
        parts.append(f"one {unit}")
    else:
        parts.append(f"median over {n} {unit}s" + (", shaded 25–75 %" if band else ""))
    return "; ".join(parts)


def _title(head, note, inches, size=7.0):
    """``head`` over ``note`` wrapped to ``inches`` of ``size``-pt text."""
    import textwrap
    width = max(20, int(inches * 72 / (0.56 * size)))
    return "\n".join([head] + textwrap.wrap(note, width)) if note else head


def _theory(ax, Rs, xv, med, x, y, colour, label):
    ops = Rs["optimizer_params"].unique()
    if len(ops) != 1 or xv.size < 2 or not np.isfinite(med[0]):
        return
    eig = theory.quadratic_eigenvalues(Rs["problem_params"].iloc[0])
    if eig is None:
        return
    rate = theory.linear_rate(ops[0], eig)
    if rate is None or not 0 < rate < 1:
        return
    k = xv - xv[0]
    power = 2.0 if y in ("f_gap", "best_gap") else 1.0
    yt = med[0] * rate ** (power * k)
    yt = np.where(yt >= EPS * med[0] * 1e-2, yt, np.nan)
    ax.plot(xv, yt, color=colour, linestyle=":", linewidth=0.9, marker=None,
            label=f"{label}: theory $\\rho^{{{'2k' if power == 2 else 'k'}}}$, "
                  f"$\\rho={rate:.3g}$")


def _symlog(ax, values):
    """Symlog y axis for f of either sign, with about five decade ticks whatever the range."""
    from matplotlib.ticker import SymmetricalLogLocator

    v = np.abs(values[np.isfinite(values)])
    v = v[v > 0]
    lo = max(float(v.min()), 1e-300) if v.size else 1.0
    hi = float(v.max()) if v.size else 1.0
    linthresh = max(lo, min(1.0, hi))
    ax.set_yscale("symlog", linthresh=linthresh)
    decades = max(1.0, np.log10(hi / linthresh)) if hi > linthresh else 1.0
    step = max(1, int(np.ceil(decades / 4)))
    ax.yaxis.set_major_locator(SymmetricalLogLocator(base=10.0 ** step, linthresh=linthresh))


def convergence(runs, traces, *, instance=None, y="f_gap", x="ngev", solver=None, band=True,
                theory=True, w="column", title=True, tuned=None):
    """One instance, one panel: median and IQR band per solver (+ theory on quadratics).
    The title names the instance, each solver's learning rate and the aggregation over
    seeds (:func:`describe`; ``tuned`` says how α was picked)."""
    R = with_labels(runs, solver)
    inst = _pick(R, instance)
    fig, ax = S.figure(w)
    with S.paper():
        draw(ax, R, traces, inst, y=y, x=x, band=band, show_theory=theory)
        if title:
            ax.set_title(_title(inst, describe(R, inst, band=band, tuned=tuned), S.width(w)),
                         fontsize=7)
    return fig


def convergence_grid(runs, traces, *, instances=None, y="f_gap", x="ngev", solver=None,
                     ncols: int = 3, band=True, theory=False, tuned=None):
    """One panel per instance (two-column width), one shared legend; each panel's title
    gives its learning rates and the aggregation over seeds (:func:`describe`)."""
    R = with_labels(runs, solver)
    insts = sorted(R["instance"].unique()) if instances is None else list(instances)
    if not insts:
        raise OptbenchInputError("no instances to draw")
    ncols = min(ncols, len(insts))
    nrows = -(-len(insts) // ncols)
    panel = S.DOUBLE / ncols
    fig, axes = S.figure("double", nrows=nrows, ncols=ncols,
                         h=nrows * (panel * S.GOLDEN + 0.55) + 0.3)
    axes = np.atleast_1d(axes).ravel()
    with S.paper():
        for ax, inst in zip(axes, insts):
            draw(ax, R, traces, _pick(R, inst), y=y, x=x, band=band, show_theory=theory,
                 legend=False)
            ax.set_title(_title(inst, describe(R, inst, band=band, tuned=tuned), panel),
                         fontsize=6.5)
        for ax in axes[len(insts):]:
            ax.set_visible(False)
        h, lab = _legend_items(axes[:len(insts)])
        fig.legend(h, lab, loc="outside upper center", ncols=min(len(lab), 4))
    return fig


def _legend_items(axes):
    seen = {}
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(lab.split(" (")[0], h)
    return list(seen.values()), list(seen)


def escape(runs, traces, *, instance=None, solver=None, x="step", w="double"):
    """Saddle escape: ‖∇f‖ (log) and f (symlog) against steps, median and IQR."""
    R = with_labels(runs, solver)
    inst = _pick(R, instance)
    fig, axes = S.figure(w, ncols=2)
    with S.paper():
        draw(axes[0], R, traces, inst, y="grad_norm", x=x, show_theory=False, legend=False)
        draw(axes[1], R, traces, inst, y="f", x=x, show_theory=False)
        fig.suptitle(_title(f"{inst}: escape from the saddle", describe(R, inst), S.width(w), 8),
                     fontsize=8)
    return fig
