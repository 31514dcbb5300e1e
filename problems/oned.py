r"""One-dimensional functions of the classic gradient-descent examples (docs/reference.md).

* ``quadratic-1d``: :math:`x^2 + 3x + 2`, minimum −0.25 at x = −1.5.
* ``x-plus-sin``: :math:`x + \sin x` has no minimum: :math:`f' = 1 + \cos x \ge 0`, with flat
  inflection points at :math:`x = (2k+1)\pi`. Gradient descent from 2.5 creeps towards −π.
* ``x2-minus-25sin``: :math:`x^2 - 25 \sin x` has several local minima; gradient descent
  stops at a non-global one from some starts. All its critical points are listed.

Source: classic textbook examples of gradient descent (docs/reference.md). Cost: O(1).
"""
from __future__ import annotations

import math

import numpy as np

from optbench.params import F

from .base import Problem, register


def q1_fg(x, g, data, idata, seed, step):
    g[0] = 2.0 * x[0] + 3.0
    return x[0] * x[0] + 3.0 * x[0] + 2.0


def q1_value(x, data, idata):
    return x[0] * x[0] + 3.0 * x[0] + 2.0


def q1_hvp(x, v, out, data, idata):
    out[0] = 2.0 * v[0]


def xsin_fg(x, g, data, idata, seed, step):
    g[0] = 1.0 + math.cos(x[0])
    return x[0] + math.sin(x[0])


def xsin_value(x, data, idata):
    return x[0] + math.sin(x[0])


def xsin_hvp(x, v, out, data, idata):
    out[0] = -math.sin(x[0]) * v[0]


def x25_fg(x, g, data, idata, seed, step):
    g[0] = 2.0 * x[0] - 25.0 * math.cos(x[0])
    return x[0] * x[0] - 25.0 * math.sin(x[0])


def x25_value(x, data, idata):
    return x[0] * x[0] - 25.0 * math.sin(x[0])


def x25_hvp(x, v, out, data, idata):
    out[0] = (2.0 + 25.0 * math.sin(x[0])) * v[0]


class _OneD(Problem):
    family = "oned"
    params = {"x0": F(None, doc="starting point (default: the family's standard start)")}

    def build(self):
        return np.zeros(1), np.zeros(1, np.int64), 1

    def x_standard(self):
        x0 = self.p["x0"]
        return np.array([self._x0 if x0 is None else x0])


@register
class Quadratic1D(_OneD):
    name = "quadratic-1d"
    formula = r"f(x) = x^2 + 3x + 2"
    source = "classic 1-D gradient-descent example (docs/reference.md)"
    _x0 = 2.0
    FG, VALUE, HVP = staticmethod(q1_fg), staticmethod(q1_value), staticmethod(q1_hvp)

    def init_box(self):
        return (-5.0, 5.0)

    @property
    def f_star(self):
        return -0.25

    @property
    def x_star(self):
        return np.array([-1.5])


@register
class XPlusSin(_OneD):
    name = "x-plus-sin"
    formula = r"f(x) = x + \sin x"
    source = "classic 1-D example (docs/reference.md): no minimum, flat inflections at (2k+1)π"
    _x0 = 2.5
    FG, VALUE, HVP = staticmethod(xsin_fg), staticmethod(xsin_value), staticmethod(xsin_hvp)

    def init_box(self):
        return (-10.0, 10.0)

    def known_critical_points(self):
        # degenerate (flat inflection) critical points: f' = 0 and f'' = 0; index 0
        return [(np.array([(2 * k + 1) * math.pi]), (2 * k + 1) * math.pi, 0, "flat inflection")
                for k in range(-3, 3)]


def _roots_x25() -> list[float]:
    """All roots of 2x − 25 cos x (they lie in |x| ≤ 12.5), to machine precision."""
    grid = np.linspace(-13.0, 13.0, 26001)
    d = 2 * grid - 25 * np.cos(grid)
    roots = []
    for i in np.nonzero(np.sign(d[:-1]) != np.sign(d[1:]))[0]:
        a, b = grid[i], grid[i + 1]
        for _ in range(200):  # bisection, then Newton polish
            m = 0.5 * (a + b)
            if (2 * a - 25 * math.cos(a)) * (2 * m - 25 * math.cos(m)) <= 0:
                b = m
            else:
                a = m
        r = 0.5 * (a + b)
        for _ in range(3):
            r -= (2 * r - 25 * math.cos(r)) / (2 + 25 * math.sin(r))
        roots.append(r)
    return roots


@register
class XSquaredMinus25Sin(_OneD):
    name = "x2-minus-25sin"
    formula = r"f(x) = x^2 - 25 \sin x"
    source = "classic 1-D example (docs/reference.md): maximise 25 sin x − x²"
    _x0 = -4.0
    FG, VALUE, HVP = staticmethod(x25_fg), staticmethod(x25_value), staticmethod(x25_hvp)

    def init_box(self):
        return (-10.0, 10.0)

    def known_critical_points(self):
        out = []
        for r in _roots_x25():
            h = 2 + 25 * math.sin(r)
            f = r * r - 25 * math.sin(r)
            out.append((np.array([r]), f, 0 if h > 0 else 1, "min" if h > 0 else "max"))
        fmin = min(c[1] for c in out if c[2] == 0)
        return [(x, f, k, "global min" if (k == 0 and f == fmin) else
                 ("local min" if k == 0 else kind)) for x, f, k, kind in out]

    @property
    def f_star(self):
        return min(c[1] for c in self.known_critical_points())

    @property
    def x_star(self):
        return min(self.known_critical_points(), key=lambda c: c[1])[0]
