"""2-D contour plots with optimizer trajectories, and their 1-D counterparts.

Trajectories are the real iterates of the compiled runs (:mod:`optbench.analysis.trajectory`:
the same spec re-run with budgets 1 … n, at most ``max_points`` of them, log-spaced for
long runs), never a re-implementation of the update rules. Contour levels are log-spaced in
f − min f over the window when f is bounded below there, linear otherwise (saddles).
Known critical points are marked (★ minima, + saddles, ▽ maxima). A diverged trajectory
ends with ×. Cost: a 160×160 grid of f values plus the trajectory runs.
"""
from __future__ import annotations

import numpy as np

from optbench import optimizers as O
from optbench import problems as P
from optbench.analysis.landscape import evaluator
from optbench.analysis.trajectory import as_array, trajectory
from optbench.validate import OptbenchInputError

from . import style as S


def _problem(p):
    return P.make(p)


def _opt(o):
    return O.make(o)


def label_of(opt) -> str:
    return f"{opt.name} (α={opt.lr:g})"


def trajectories(problem, optimizers, steps, *, x0=None, seed=0, max_points=200):
    """{label: trajectory DataFrame} for several optimizers from the same start."""
    prob = _problem(problem)
    out = {}
    for o in optimizers:
        opt = _opt(o)
        lab = label_of(opt)
        if lab in out:
            lab = f"{opt.name} {len(out)}"
        out[lab] = trajectory(prob, opt.spec, steps, x0=x0, seed=seed, max_points=max_points)
    return out


def _window(prob, X_all, bounds):
    if bounds is not None:
        return [tuple(map(float, b)) for b in bounds]
    b = prob.bounds or ((-2.0, 2.0), (-2.0, 2.0))
    out = []
    for k in range(2):
        lo, hi = b[k]
        pts = np.concatenate([X[:, k] for X in X_all]) if X_all else np.zeros(0)
        pts = pts[np.isfinite(pts)]
        span = hi - lo
        if pts.size:  # include the iterates, at most 3 box widths beyond the box
            lo = max(min(lo, pts.min() - 0.05 * span), lo - 3 * span)
            hi = min(max(hi, pts.max() + 0.05 * span), hi + 3 * span)
        out.append((lo, hi))
    return out


def _mark_critical(ax, prob, window, dim):
    for x, f, index, kind in prob.known_critical_points():
        x = np.atleast_1d(np.asarray(x, float))
        if dim == 2 and not all(window[k][0] <= x[k] <= window[k][1] for k in range(2)):
            continue
        if dim == 1 and not window[0] <= x[0] <= window[1]:
            continue
        kind = str(kind)
        m = "*" if "min" in kind else ("v" if "max" in kind else
                                      ("+" if "saddle" in kind or 0 < index < dim else "D"))
        xy = (x[0], x[1]) if dim == 2 else (x[0], f)
        ax.plot(*xy, marker=m, color="#DDCC77" if dim == 2 else "0.3", markersize=7,
                markeredgecolor="black", markeredgewidth=0.5, linestyle="none", zorder=5,
                label="_critical")


def contour(problem, optimizers, steps: int = 200, *, x0=None, seed: int = 0,
            max_points: int = 200, bounds=None, levels: int = 25, w="column", title=None,
            trajs=None):
    """Contours of a 2-D problem with the trajectories of ``optimizers`` (names, dicts or
    Optimizer objects) from the same start; ``trajs`` reuses trajectories already run."""
    prob = _problem(problem)
    if prob.dim == 1:
        return curve(prob, optimizers, steps, x0=x0, seed=seed, max_points=max_points,
                     w=w, title=title, trajs=trajs)
    if prob.dim != 2:
        raise OptbenchInputError(f"contour plots need a 1-D or 2-D problem, {prob!r} has "
                                 f"dimension {prob.dim} (use the landscape plots)")
    trajs = trajs or trajectories(prob, optimizers, steps, x0=x0, seed=seed, max_points=max_points)
    Xs = [as_array(t) for t in trajs.values()]
    win = _window(prob, Xs, bounds)
    f = evaluator(prob)
    gx = np.linspace(*win[0], 160)
    gy = np.linspace(*win[1], 160)
    Z = np.array([[f(np.array([a, b])) for a in gx] for b in gy])
    fig, ax = S.figure(w, h=S.width(w) * 0.8)
    st = S.styles(trajs)
    with S.paper():
        fin = Z[np.isfinite(Z)]
        zmin = fin.min() if fin.size else 0.0
        if fin.size and not _unbounded(prob):
            zz = Z - zmin
            pos = zz[zz > 0]
            lv = np.geomspace(max(pos.min(), pos.max() * 1e-8), pos.max(), levels) if pos.size \
                else levels
            if pos.size:
                zz = np.maximum(zz, lv[0])
            ax.contourf(gx, gy, zz, levels=lv, cmap="Greys_r", alpha=0.35,
                        norm=_lognorm(lv) if pos.size else None, extend="both")
            ax.contour(gx, gy, zz, levels=lv, colors="0.45", linewidths=0.35)
        else:
            ax.contourf(gx, gy, Z, levels=levels, cmap="Greys_r", alpha=0.35)
            ax.contour(gx, gy, Z, levels=levels, colors="0.45", linewidths=0.35)
        _mark_critical(ax, prob, win, 2)
        for (lab, t), X in zip(trajs.items(), Xs):
            kw = st[lab]
            ax.plot(X[:, 0], X[:, 1], color=kw["color"], linestyle=kw["linestyle"],
                    linewidth=1.0, marker=kw["marker"], markersize=2.5, markevery=0.1,
                    label=lab + (" (diverged)" if (t["status"] == "diverged").any() else ""))
            ax.plot(X[-1, 0], X[-1, 1], marker="x" if (t["status"] == "diverged").any() else "o",
                    color=kw["color"], markersize=5, linestyle="none", label="_end")
        ax.plot(Xs[0][0, 0], Xs[0][0, 1], marker="o", markerfacecolor="white",
                markeredgecolor="black", markersize=5, linestyle="none", label="start")
        ax.set_xlim(win[0])
        ax.set_ylim(win[1])
        ax.set_xlabel(r"$x_1$")
        ax.set_ylabel(r"$x_2$")
        ax.set_title(title or f"{prob.name}, {steps} steps")
        ax.grid(False)
        ax.legend(loc="best", fontsize=6)
    return fig


def _unbounded(prob) -> bool:
    return prob.f_star is None and prob.family == "saddle"


def _lognorm(lv):
    from matplotlib.colors import LogNorm
    return LogNorm(vmin=lv[0], vmax=lv[-1])


def curve(problem, optimizers, steps: int = 200, *, x0=None, seed: int = 0,
          max_points: int = 200, bounds=None, w="column", title=None, trajs=None):
    """A 1-D problem: f(x) with each optimizer's iterates (x_t, f(x_t)) on it."""
    prob = _problem(problem)
    if prob.dim != 1:
        raise OptbenchInputError(f"curve plots need a 1-D problem, {prob!r} has dimension {prob.dim}")
    trajs = trajs or trajectories(prob, optimizers, steps, x0=x0, seed=seed, max_points=max_points)
    Xs = [as_array(t)[:, 0] for t in trajs.values()]
    lo, hi = bounds or prob.init_box()
    allx = np.concatenate(Xs)
    allx = allx[np.isfinite(allx)]
    lo, hi = min(lo, allx.min()), max(hi, allx.max())
    f = evaluator(prob)
    gx = np.linspace(lo, hi, 600)
    fig, ax = S.figure(w)
    st = S.styles(trajs)
    with S.paper():
        ax.plot(gx, [f(np.array([v])) for v in gx], color="0.35", linewidth=0.9, label="$f(x)$")
        _mark_critical(ax, prob, (lo, hi), 1)
        for (lab, t), X in zip(trajs.items(), Xs):
            kw = st[lab]
            ax.plot(X, t["f"].to_numpy(float), color=kw["color"], linestyle="none",
                    marker=kw["marker"], markersize=3, alpha=0.8, label=lab)
            ax.plot(X[-1], t["f"].iloc[-1], marker="o", color=kw["color"], markersize=6,
                    markeredgecolor="black", markeredgewidth=0.5, linestyle="none", label="_end")
        ax.set_xlabel("$x$")
        ax.set_ylabel("$f(x)$")
        ax.set_title(title or f"{prob.name}, {steps} steps")
        ax.legend(loc="best", fontsize=6)
    return fig


def iterates(trajs: dict, *, coordinate: int = 0, reference=None, w="column", title=None):
    """x_t (one coordinate) against the step, log step axis; ``reference``: horizontal
    lines {label: value} (e.g. the flat point −π of x + sin x)."""
    fig, ax = S.figure(w)
    st = S.styles(trajs)
    with S.paper():
        for lab, t in trajs.items():
            X = as_array(t)[:, coordinate]
            kw = st[lab]
            ax.plot(t["step"].to_numpy(), X, color=kw["color"], linestyle=kw["linestyle"],
                    marker=kw["marker"], markevery=0.1, label=lab)
        for name, v in (reference or {}).items():
            ax.axhline(v, color="0.3", linewidth=0.7, linestyle="--", label=name)
        ax.set_xscale("symlog", linthresh=1.0)
        ax.set_xlim(left=0)  # steps are ≥ 0: no empty negative half
        ax.set_xlabel(S.LABELS["step"])
        ax.set_ylabel("$x_t$" if coordinate == 0 else f"$x_{{t,{coordinate + 1}}}$")
        if title:
            ax.set_title(title)
        ax.legend(loc="best", fontsize=6)
    return fig
