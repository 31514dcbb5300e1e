r"""Saddles: :math:`f(x, y) = a x^2 - b y^2`.

The origin is the only critical point, a strict saddle of Hessian index 1 (eigenvalues 2a
and −2b); f is unbounded below, so f* is unknown (−∞) and runs are judged on ‖∇f‖ and on
escape. Standard start (1, 1e-3): close to the stable manifold, so gradient descent first
approaches the saddle and then escapes along y. Cost: O(1).
"""
from __future__ import annotations

import numpy as np

from optbench.params import F

from .base import Problem, register


def saddle_fg(x, g, data, idata, seed, step):
    a = data[0]
    b = data[1]
    g[0] = 2.0 * a * x[0]
    g[1] = -2.0 * b * x[1]
    return a * x[0] * x[0] - b * x[1] * x[1]


def saddle_value(x, data, idata):
    return data[0] * x[0] * x[0] - data[1] * x[1] * x[1]


def saddle_hvp(x, v, out, data, idata):
    out[0] = 2.0 * data[0] * v[0]
    out[1] = -2.0 * data[1] * v[1]


@register
class Saddle(Problem):
    name = "saddle"
    family = "saddle"
    min_dim = 2
    formula = r"f(x, y) = a x^2 - b y^2"
    source = "Goodfellow, Bengio, Courville, Deep Learning (2016), §4.3.1"
    params = {"a": F(1.0, 0.0, lo_open=True), "b": F(1.0, 0.0, lo_open=True)}
    FG = staticmethod(saddle_fg)
    VALUE = staticmethod(saddle_value)
    HVP = staticmethod(saddle_hvp)

    def build(self):
        return np.array([self.p["a"], self.p["b"]]), np.zeros(1, np.int64), 2

    def x_standard(self):
        return np.array([1.0, 1e-3])

    def known_critical_points(self):
        return [(np.zeros(2), 0.0, 1, "saddle")]
