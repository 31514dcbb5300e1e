r"""The n-dimensional (chained) Rosenbrock function.

:math:`f(x) = \sum_{i=1}^{n-1} 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2`, minimum 0 at
:math:`(1, \dots, 1)`; at the 2-D minimum the Hessian is [[802, −400], [−400, 200]]
(κ ≈ 2508). Standard start (−1.2, 1, −1.2, 1, …).

Source: H. H. Rosenbrock, *An automatic method for finding the greatest or least value of a
function*, The Computer Journal 3 (1960) 175–184. Cost: O(d) time and memory.
"""
from __future__ import annotations

import numpy as np

from optbench.kernels.compile import kernel
from optbench.params import I

from .base import Problem, register


@kernel  # called by the noisy variant (problems/noisy.py)
def rosen_fg(x, g, data, idata, seed, step):
    n = x.shape[0]
    # g[i + 1] is assigned (not zeroed then added to): a zeroing loop becomes a memset call,
    # which costs more than the whole 2-D gradient
    g[0] = 0.0
    f = 0.0
    for i in range(n - 1):
        a = x[i + 1] - x[i] * x[i]
        b = 1.0 - x[i]
        f += 100.0 * a * a + b * b
        g[i] += -400.0 * a * x[i] - 2.0 * b
        g[i + 1] = 200.0 * a
    return f


def rosen_value(x, data, idata):
    f = 0.0
    for i in range(x.shape[0] - 1):
        a = x[i + 1] - x[i] * x[i]
        b = 1.0 - x[i]
        f += 100.0 * a * a + b * b
    return f


def rosen_hvp(x, v, out, data, idata):
    n = x.shape[0]
    for i in range(n):
        out[i] = 0.0
    for i in range(n - 1):
        # block of term i on coordinates (i, i+1)
        hii = 1200.0 * x[i] * x[i] - 400.0 * x[i + 1] + 2.0
        hij = -400.0 * x[i]
        out[i] += hii * v[i] + hij * v[i + 1]
        out[i + 1] += hij * v[i] + 200.0 * v[i + 1]


@register
class Rosenbrock(Problem):
    name = "rosenbrock"
    family = "classic"
    min_dim = 2
    formula = r"f(x) = \sum_{i=1}^{n-1} 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2"
    source = "Rosenbrock (1960), The Computer Journal 3:175-184"
    params = {"dim": I(2, 2, doc="dimension n")}
    FG = staticmethod(rosen_fg)
    VALUE = staticmethod(rosen_value)
    HVP = staticmethod(rosen_hvp)

    def build(self):
        return np.zeros(1), np.zeros(1, np.int64), self.p["dim"]

    def x_standard(self):
        x = np.ones(self.dim)
        x[0::2] = -1.2
        return x

    def init_box(self):
        return (-2.0, 2.0)

    @property
    def bounds(self):
        return ((-2.0, 2.0), (-1.0, 3.0)) if self.dim == 2 else None

    @property
    def f_star(self):
        return 0.0

    @property
    def x_star(self):
        return np.ones(self.dim)
