r"""Styblinski–Tang in d dimensions: :math:`f(x) = \tfrac12 \sum_i (x_i^4 - 16 x_i^2 + 5 x_i)`.

Separable: :math:`\partial_i f = 2x_i^3 - 16x_i + 2.5`, Hessian :math:`\mathrm{diag}(6x_i^2 - 16)`.
The per-coordinate critical points are the three real roots of :math:`4x^3 - 32x + 5 = 0`
(computed at import from the trigonometric formula and polished by Newton's method to
machine precision): a ≈ −2.903534 (global min), b ≈ 0.156731 (max),
c ≈ 2.746803 (local min), with per-coordinate values g(a) ≈ −39.16617, g(b) ≈ 0.19561,
g(c) ≈ −25.02945. Every x with coordinates in {a, b, c} is critical (3^d points); its
Hessian index is the number of coordinates at b and f is the sum of the per-coordinate
values. f* = d·g(a) ≈ −39.16617·d at x* = (a, …, a).

``known_critical_points()`` lists the global min (all a), the local min (all c), the maximum
(all b) and, for k = 1..min(d, 8), the point with its first k coordinates at b and the rest
at a. ``critical_point(index, seed)`` puts ``index`` seeded coordinates at b and draws each
other coordinate from {a, c}. ``near_index``/``near_radius`` start near such a point.

Standard start: the origin; ``start="random"`` draws uniformly from the box [−5, 5]^d.

Source: M. A. Styblinski and T.-S. Tang, *Experiments in nonconvex optimization: stochastic
approximation with function smoothing and simulated annealing*, Neural Networks 3 (1990)
467–483. Cost per gradient: O(d) time, O(d) memory (and an elementwise kernel ``EFG``).
"""
from __future__ import annotations

import math

import numpy as np

from optbench.kernels.compile import kernel
from optbench.params import I

from .base import Problem, register, rng
from .near_critical import NEAR_PARAMS, NearCritical, representative_indices


def _cubic_roots() -> tuple[float, float, float]:
    """Roots of 4x³ − 32x + 5 = 0 (i.e. x³ − 8x + 5/4 = 0), ascending, to machine precision."""
    p, q = -8.0, 1.25
    m = 2.0 * math.sqrt(-p / 3.0)
    th = math.acos(3.0 * q / (p * m)) / 3.0
    roots = sorted(m * math.cos(th - 2.0 * math.pi * k / 3.0) for k in range(3))
    out = []
    for x in roots:
        for _ in range(8):
            fx = 4.0 * x ** 3 - 32.0 * x + 5.0
            x -= fx / (12.0 * x * x - 32.0)
        out.append(x)
    return tuple(out)


def st_coord(x: float) -> float:
    """Per-coordinate term g(x) = ½(x⁴ − 16x² + 5x)."""
    return 0.5 * (x ** 4 - 16.0 * x ** 2 + 5.0 * x)


X_MIN, X_MAX, X_LOC = _cubic_roots()     # ≈ −2.903534, 0.156731, 2.746803
G_MIN, G_MAX, G_LOC = st_coord(X_MIN), st_coord(X_MAX), st_coord(X_LOC)
F_STAR_PER_COORD = G_MIN                 # ≈ −39.16617; f* = d·G_MIN


@kernel
def st_efg(xi, data, idata, i):
    """Elementwise term: (½(xi⁴ − 16xi² + 5xi), 2xi³ − 16xi + 2.5)."""
    x2 = xi * xi
    return 0.5 * (x2 * x2 - 16.0 * x2 + 5.0 * xi), xi * (2.0 * x2 - 16.0) + 2.5


def st_fg(x, g, data, idata, seed, step):
    f = 0.0
    for i in range(x.shape[0]):
        fi, gi = st_efg(x[i], data, idata, i)
        g[i] = gi
        f += fi
    return f


def st_value(x, data, idata):
    f = 0.0
    for i in range(x.shape[0]):
        x2 = x[i] * x[i]
        f += 0.5 * (x2 * x2 - 16.0 * x2 + 5.0 * x[i])
    return f


def st_hvp(x, v, out, data, idata):
    for i in range(x.shape[0]):
        out[i] = (6.0 * x[i] * x[i] - 16.0) * v[i]


def st_hess(x, H, data, idata):
    n = x.shape[0]
    for j in range(n):
        for k in range(n):
            H[j, k] = 0.0
    for i in range(n):
        H[i, i] = 6.0 * x[i] * x[i] - 16.0


@register
class StyblinskiTang(NearCritical, Problem):
    name = "styblinski-tang"
    family = "critical"
    formula = r"f(x) = \tfrac12 \sum_{i=1}^d (x_i^4 - 16 x_i^2 + 5 x_i)"
    source = "Styblinski & Tang (1990), Neural Networks 3:467-483"
    params = {"dim": I(1000, 1, doc="dimension d"), **NEAR_PARAMS}
    FG = staticmethod(st_fg)
    VALUE = staticmethod(st_value)
    HVP = staticmethod(st_hvp)
    HESS = staticmethod(st_hess)
    EFG = staticmethod(st_efg)

    def build(self):
        return np.zeros(1), np.zeros(1, np.int64), self.p["dim"]

    def x_standard(self):
        return np.zeros(self.dim)

    def init_box(self):
        return (-5.0, 5.0)

    @property
    def f_star(self):
        return self.dim * G_MIN

    @property
    def x_star(self):
        return np.full(self.dim, X_MIN)

    def _point(self, n_max: int, n_loc: int, c: np.ndarray):
        n_min = self.dim - n_max - n_loc
        return c, n_min * G_MIN + n_max * G_MAX + n_loc * G_LOC, n_max

    def critical_point(self, index: int, seed: int = 0):
        """(x, f, index): ``index`` seeded coordinates at the maximiser b, each other one at
        a (global min) or c (local min) with probability ½."""
        k = self._index_ok(index)
        r = rng(seed, 22)
        c = np.where(r.random(self.dim) < 0.5, X_MIN, X_LOC)
        c[r.choice(self.dim, size=k, replace=False)] = X_MAX
        return self._point(k, int(np.sum(c == X_LOC)), c)

    def known_critical_points(self):
        d = self.dim
        out = [(np.full(d, X_MIN), d * G_MIN, 0, "global min")]
        if d > 0:
            out.append((np.full(d, X_LOC), d * G_LOC, 0, "local min"))
        for k in representative_indices(d)[1:]:
            c = np.full(d, X_MIN)
            c[:k] = X_MAX
            x, f, idx = self._point(k, 0, c)
            out.append((x, f, idx, "max" if k == d else "saddle"))
        return out

    def cost(self):
        return "O(d) time, O(d) memory"
