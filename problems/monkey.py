r"""The monkey saddle :math:`f(x, y) = x^3 - 3 x y^2 = \mathrm{Re}\,(x + iy)^3` (family ``saddle``).

The origin is the only critical point, and it is degenerate: gradient
:math:`(3x^2 - 3y^2, -6xy)` and Hessian :math:`[[6x, -6y], [-6y, -6x]]` both vanish there.
Counting negative Hessian eigenvalues gives index 0, yet it is not a minimum: f changes sign
three times around every circle about 0 (three "valleys", two for the legs and one for the
monkey's tail), so it is listed with kind "degenerate saddle". The Hessian has eigenvalues
±6‖(x, y)‖ elsewhere, so second-order methods see a strict saddle everywhere except at 0.
f is unbounded below (f* unknown), and first-order methods that approach 0 slow down like
1/t because the gradient is quadratic in the distance.

Standard start (1, 1e-3) (optbench's convention, as for ``saddle``): gradient descent moves
towards the origin along the x-axis, then escapes along a valley. Box [−2, 2]².

Source: Hilbert & Cohn-Vossen, *Geometry and the Imagination* (1932/1952), §29.
Cost: O(1) time and memory.
"""
from __future__ import annotations

import numpy as np

from .base import Problem, register


def monkey_fg(x, g, data, idata, seed, step):
    a = x[0]
    b = x[1]
    g[0] = 3.0 * (a * a - b * b)
    g[1] = -6.0 * a * b
    return a * (a * a - 3.0 * b * b)


def monkey_value(x, data, idata):
    return x[0] * (x[0] * x[0] - 3.0 * x[1] * x[1])


def monkey_hvp(x, v, out, data, idata):
    out[0] = 6.0 * (x[0] * v[0] - x[1] * v[1])
    out[1] = -6.0 * (x[1] * v[0] + x[0] * v[1])


def monkey_hess(x, H, data, idata):
    H[0, 0] = 6.0 * x[0]
    H[0, 1] = -6.0 * x[1]
    H[1, 0] = -6.0 * x[1]
    H[1, 1] = -6.0 * x[0]


@register
class MonkeySaddle(Problem):
    name = "monkey-saddle"
    family = "saddle"
    min_dim = 2
    formula = r"f(x, y) = x^3 - 3 x y^2"
    source = "Hilbert & Cohn-Vossen, Geometry and the Imagination (1952), §29"
    params = {}
    FG, VALUE = staticmethod(monkey_fg), staticmethod(monkey_value)
    HVP, HESS = staticmethod(monkey_hvp), staticmethod(monkey_hess)

    def build(self):
        return np.zeros(1), np.zeros(1, np.int64), 2

    def x_standard(self):
        return np.array([1.0, 1e-3])

    def known_critical_points(self):
        # index 0 by eigenvalue count (the Hessian is zero), but not a minimum
        return [(np.zeros(2), 0.0, 0, "degenerate saddle")]

    def cost(self):
        return "O(1) time, O(1) memory"
