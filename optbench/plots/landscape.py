"""Loss-landscape figures (Li et al. 2018): 1-D and 2-D slices along filter-normalised random
directions around a point, 1-D interpolation between two points, and a trajectory drawn on
the plane of its two principal directions (computations in
:mod:`optbench.analysis.landscape`). Cost: n (1-D) or n² (2-D) evaluations of f.
"""
from __future__ import annotations

import numpy as np

from optbench.analysis import landscape as LS
from optbench.analysis.trajectory import as_array, trajectory

from . import style as S
from .contour import _opt, _problem


def slice_1d(problem, theta, *, seed: int = 0, span: float = 1.0, n: int = 81, w="column",
             title=None):
    """f(θ + α δ), α ∈ [−span, span], δ filter-normalised Gaussian."""
    prob = _problem(problem)
    d = LS.random_direction(prob, theta, seed, 0)
    a = np.linspace(-span, span, n)
    fv = LS.slice_1d(prob, theta, d, a)
    fig, ax = S.figure(w)
    with S.paper():
        ax.plot(a, fv, color="black", label="random direction (filter-normalised)")
        ax.axvline(0.0, color="0.5", linewidth=0.6, linestyle="--")
        ax.set_xlabel(r"$\alpha$")
        ax.set_ylabel(r"$f(\theta + \alpha\delta)$")
        ax.set_title(title or f"{prob.name}: 1-D slice")
        ax.legend(loc="best")
    return fig


def slice_2d(problem, theta, *, seed: int = 0, span: float = 1.0, n: int = 41, levels=20,
             w="column", title=None):
    """Contours of f(θ + α δ + β η) with two filter-normalised Gaussian directions."""
    prob = _problem(problem)
    d1 = LS.random_direction(prob, theta, seed, 0)
    d2 = LS.random_direction(prob, theta, seed, 1)
    a = np.linspace(-span, span, n)
    F = LS.slice_2d(prob, theta, d1, d2, a, a)
    fig, ax = S.figure(w, h=S.width(w) * 0.8)
    with S.paper():
        cs = ax.contourf(a, a, F, levels=levels, cmap="viridis")
        ax.contour(a, a, F, levels=levels, colors="white", linewidths=0.3)
        fig.colorbar(cs, ax=ax, label=r"$f$")
        ax.plot(0, 0, marker="*", color="white", markeredgecolor="black", markersize=8,
                linestyle="none")
        ax.set_xlabel(r"$\alpha$ ($\delta$)")
        ax.set_ylabel(r"$\beta$ ($\eta$)")
        ax.set_title(title or f"{prob.name}: 2-D slice")
        ax.grid(False)
    return fig


def interpolation(problem, theta_a, theta_b, *, n: int = 81, extend: float = 0.25, w="column",
                  title=None):
    """f((1 − α) θ_a + α θ_b) for α ∈ [−extend, 1 + extend]."""
    prob = _problem(problem)
    a = np.linspace(-extend, 1 + extend, n)
    fv = LS.interpolate(prob, theta_a, theta_b, a)
    fig, ax = S.figure(w)
    with S.paper():
        ax.plot(a, fv, color="black", label="linear interpolation")
        ax.plot([0, 1], LS.interpolate(prob, theta_a, theta_b, [0.0, 1.0]), marker="o",
                linestyle="none", color="#D55E00", label=r"$\theta_a$, $\theta_b$")
        ax.set_xlabel(r"$\alpha$")
        ax.set_ylabel(r"$f((1-\alpha)\theta_a + \alpha\theta_b)$")
        ax.set_title(title or f"{prob.name}: interpolation")
        ax.legend(loc="best")
    return fig


def trajectory_pca(problem, optimizer, steps: int, *, seed: int = 0, n: int = 41,
                   max_points: int = 200, levels=20, w="column", title=None):
    """The trajectory projected on its two principal directions (around its end point),
    over the contours of f on that plane; axis labels give the explained variance."""
    prob = _problem(problem)
    opt = _opt(optimizer)
    t = trajectory(prob, opt.spec, steps, seed=seed, max_points=max_points)
    X = as_array(t)
    X = X[np.all(np.isfinite(X), axis=1)]
    d1, d2, ratio, xy = LS.pca_directions(X)
    lim = 1.15 * max(np.abs(xy).max(), 1e-12)
    a = np.linspace(-lim, lim, n)
    F = LS.slice_2d(prob, X[-1], d1, d2, a, a)
    fig, ax = S.figure(w, h=S.width(w) * 0.8)
    st = S.style_for(opt.name)
    with S.paper():
        fin = F[np.isfinite(F)]
        Z = F - fin.min() if fin.size else F
        pos = Z[Z > 0]
        lv = np.geomspace(max(pos.min(), pos.max() * 1e-8), pos.max(), levels) if pos.size else levels
        ax.contour(a, a, Z, levels=lv, cmap="viridis", linewidths=0.5)
        ax.plot(xy[:, 0], xy[:, 1], color=st["color"], marker=st["marker"], markersize=2.5,
                markevery=0.1, label=f"{opt.name} (α={opt.lr:g})")
        ax.plot(0, 0, marker="*", color="#DDCC77", markeredgecolor="black", markersize=8,
                linestyle="none", label="end point")
        ax.set_xlabel(f"1st PCA direction ({100 * ratio[0]:.1f} %)")
        ax.set_ylabel(f"2nd PCA direction ({100 * ratio[1]:.1f} %)")
        ax.set_title(title or f"{prob.name}: trajectory on its PCA plane")
        ax.grid(False)
        ax.legend(loc="best", fontsize=6)
    return fig
