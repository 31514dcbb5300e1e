"""Runtime ECDFs, Dolan–Moré performance profiles, Moré–Wild data profiles and learning-rate
sensitivity curves (definitions in :mod:`optbench.analysis.metrics`).

Every curve is a step function drawn exactly (``drawstyle="steps-post"``); the ECDF is
extended flat to the largest budget any run spent, and its final value is the fraction of
(instance, target) pairs reached, misses included. Legends sit below the axes, outside
them (:func:`optbench.plots.style.legend_below`), so they never cover a curve.
Cost: O(runs × targets).
"""
from __future__ import annotations

import numpy as np

from optbench.analysis import lr_protocol as LP
from optbench.analysis import metrics as M
from optbench.analysis.labels import with_labels
from optbench.record.targets import MW_TAUS
from optbench.validate import OptbenchInputError

from . import style as S


def _line(ax, x, y, label, st):
    ax.plot(x, y, drawstyle="steps-post", label=label, color=st["color"],
            linestyle=st["linestyle"], marker=st["marker"], markevery=0.15, markersize=3.5)


def ecdf(runs, *, targets="ladder", measure="evals", per_dim=False, solver=None, w="column",
         title=None):
    """Runtime ECDF over (instance, target) pairs; x log-scaled budget."""
    rt = M.runtimes(runs, targets, solver=solver)
    ec = M.ecdf(rt, measure=measure, per_dim=per_dim)
    if ec.attrs["pairs"] == 0:
        raise OptbenchInputError("no instance with a known f*: nothing to draw an ECDF of")
    fig, ax = S.figure(w)
    st = S.styles(ec["solver"].unique())
    xmax = ec.attrs["max_budget"]
    with S.paper():
        for s, g in ec.groupby("solver", sort=True):
            g = g.dropna(subset=["budget"])
            xs = np.r_[g["budget"].to_numpy(), max(xmax, g["budget"].max() if len(g) else 1)]
            ys = np.r_[g["fraction"].to_numpy(), g["fraction"].iloc[-1] if len(g) else 0.0]
            if len(g) == 0:
                xs, ys = np.array([1.0, max(xmax, 1.0)]), np.zeros(2)
            xs = np.r_[xs[0], xs]
            ys = np.r_[0.0, ys]
            _line(ax, xs, ys, s, st[s])
        ax.set_xscale("log")
        ax.set_ylim(-0.02, 1.02)
        unit = "gradient evaluations" if measure == "evals" else "steps"
        ax.set_xlabel(unit + (" / dimension" if per_dim else ""))
        ax.set_ylabel("fraction of (problem, target) pairs")
        ax.set_title(title or f"runtime ECDF, {ec.attrs['pairs']} pairs")
        S.legend_below(fig, ax)
    return fig


def performance_profile(runs, *, target=1e-3, measure="evals", stat="art", solver=None,
                        w="column", title=None):
    """Dolan–Moré ρ_s(τ) at one target (cost: aRT by default), τ on a log₂ axis; the legend
    gives each solver's AlgoPerf-style score."""
    rt = M.runtimes(runs, [target], solver=solver)
    costs = M.cost_matrix(rt, target, measure=measure, stat=stat)
    prof = M.performance_profile(costs)
    score = M.profile_score(costs)
    fig, ax = S.figure(w)
    st = S.styles(prof.columns)
    with S.paper():
        for s in prof.columns:
            _line(ax, prof.index.to_numpy(), prof[s].to_numpy(), f"{s} ({score[s]:.2f})", st[s])
        ax.set_xscale("log", base=2)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel(r"performance ratio $\tau$")
        ax.set_ylabel(r"$\rho_s(\tau)$")
        ax.set_title(title or f"performance profile, target {target:g}, {len(costs)} problems")
        S.legend_below(fig, ax, title="solver (score)")
    return fig


def data_profiles(runs, traces, *, taus=MW_TAUS, solver=None, normalise="dim", w="double"):
    """Moré–Wild d_s(α), one panel per τ."""
    dp = M.data_profile(runs, traces, taus, solver=solver, normalise=normalise)
    taus = sorted(dp["tau"].unique(), reverse=True)
    fig, axes = S.figure(w, ncols=len(taus), sharey=True)
    axes = np.atleast_1d(axes)
    st = S.styles(dp["solver"].unique())
    with S.paper():
        for ax, tau in zip(axes, taus):
            d = dp[dp["tau"] == tau]
            for s, g in d.groupby("solver", sort=True):
                a = g["alpha"].to_numpy(float)
                pos = dp["alpha"].to_numpy(float)
                pos = pos[(pos > 0) & np.isfinite(pos)]
                a = np.where(a > 0, a, pos.min() / 2 if pos.size else 1.0)
                _line(ax, a, g["fraction"].to_numpy(), s, st[s])
            ax.set_xscale("log")
            ax.set_ylim(-0.02, 1.02)
            ax.set_title(rf"$\tau = 10^{{{int(round(np.log10(tau)))}}}$")
            ax.set_xlabel(r"$\alpha$ (gradient evaluations / $(n_p + 1)$)"
                          if normalise == "dim" else r"$\alpha$ (gradient evaluations)")
        axes[0].set_ylabel(r"$d_s(\alpha)$")
        S.legend_below(fig, axes)
    return fig


def sensitivity(runs, *, instance=None, value="final_gap", param="lr", w="column"):
    """Final f (− f*) against the learning rate: median and IQR over seeds per setting;
    a grid value whose median run failed is marked × on the top edge."""
    L = with_labels(runs)
    insts = sorted(L["instance"].unique())
    if instance is None:
        if len(insts) != 1:
            raise OptbenchInputError(f"several instances: pick one of {', '.join(insts)}")
        instance = insts[0]
    if instance not in insts:
        raise OptbenchInputError(f"unknown instance {instance!r}; valid: {', '.join(insts)}")
    d = LP.sensitivity(L[L["instance"] == instance], value, param=param)  # that instance only
    v = d["value"].iloc[0]
    fig, ax = S.figure(w)
    st = S.styles(d["setting"].unique())
    with S.paper():
        fin = d[["median", "q25", "q75"]].to_numpy(float)
        fin = fin[np.isfinite(fin)]
        top = fin.max() if fin.size else 1.0
        for s, g in d.groupby("setting", sort=True):
            x = g[param].to_numpy(float)
            med = g["median"].to_numpy(float)
            n, failed = int(g["n"].sum()), int(g["failed"].sum())
            lab = s + (f" ({failed}/{n} runs failed)" if failed else "")
            ax.plot(x, np.where(np.isfinite(med), med, np.nan), label=lab, color=st[s]["color"],
                    marker=st[s]["marker"], linestyle=st[s]["linestyle"])
            lo, hi = g["q25"].to_numpy(float), g["q75"].to_numpy(float)
            ok = np.isfinite(lo) & np.isfinite(hi)
            ax.fill_between(x, np.where(ok, lo, np.nan), np.where(ok, hi, np.nan),
                            color=st[s]["color"], alpha=0.18, linewidth=0)
            bad = ~np.isfinite(med)
            if bad.any():
                ax.plot(x[bad], np.full(bad.sum(), top), linestyle="none", marker="x",
                        color=st[s]["color"], markersize=5, label="_failed")
        ax.set_xscale("log")
        if v.endswith("gap"):
            ax.set_yscale("log")
        else:
            ax.set_yscale("symlog", linthresh=max(1e-3, 1e-3 * abs(top)))
        ax.set_xlabel(S.LABELS.get(param, param))
        ax.set_ylabel(S.LABELS[v] + " (median, IQR)")
        ax.set_title(instance)
        S.legend_below(fig, ax)
    return fig


def instances(runs) -> list[str]:
    return sorted(with_labels(runs)["instance"].unique())
