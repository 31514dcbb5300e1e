r"""Moré–Garbow–Hillstrom least-squares problems (family ``mgh``).

Each is :math:`f(x) = \sum_i r_i(x)^2`, with gradient :math:`2 J^\top r` and Hessian
:math:`2 J^\top J + 2 \sum_i r_i \nabla^2 r_i` (hand-derived below), started from the paper's
standard point. Numbers in brackets are the paper's problem numbers. Source: J. J. Moré,
B. S. Garbow, K. E. Hillstrom, *Testing unconstrained optimization software*, ACM TOMS 7(1)
(1981) 17–41.

* ``powell-badly-scaled`` [3], n = 2: r = (10⁴ x₁x₂ − 1, e^{−x₁} + e^{−x₂} − 1.0001);
  x0 = (0, 1); f* = 0 at x* ≈ (1.098159e−5, 9.106146) (solved to machine precision at first
  use); the mirror image (x₂, x₁) is a second global minimiser.
* ``brown-badly-scaled`` [4], n = 2: r = (x₁ − 10⁶, x₂ − 2·10⁻⁶, x₁x₂ − 2); x0 = (1, 1);
  f* = 0 at (10⁶, 2·10⁻⁶).
* ``powell-singular`` [13], n = 4: r = (x₁ + 10x₂, √5 (x₃ − x₄), (x₂ − 2x₃)², √10 (x₁ − x₄)²);
  x0 = (3, −1, 0, 1); f* = 0 at 0, where the Hessian is singular (rank 2).
* ``wood`` [14], n = 4: r = (10(x₂ − x₁²), 1 − x₁, √90 (x₄ − x₃²), 1 − x₃, √10 (x₂ + x₄ − 2),
  (x₂ − x₄)/√10); x0 = (−3, −1, −3, −1); f* = 0 at (1, 1, 1, 1). It also has a stationary
  point near (−0.968, 0.947, −0.970, 0.951), f ≈ 7.877, an index-1 saddle (Newton-polished
  at first use) on which some methods stall.
* ``extended-powell`` [22], n a multiple of 4 (default 8): ``powell-singular`` on each block
  of 4; x0 = (3, −1, 0, 1, 3, −1, 0, 1, …); f* = 0 at 0.
* (in ``problems/mgh_nd.py``) ``trigonometric`` [26], n ≥ 2 (default 10): r_i = n − Σ_j cos x_j + i(1 − cos x_i) − sin x_i;
  x0 = (1/n, …, 1/n); f* = 0 (x* not in closed form and not unique; local minima with f > 0
  exist, e.g. f ≈ 2.795e−5 for n = 10).
* (in ``problems/mgh_nd.py``) ``broyden-tridiagonal`` [30], n ≥ 2 (default 10): r_i = (3 − 2x_i)x_i − x_{i−1} − 2x_{i+1} + 1
  with x₀ = x_{n+1} = 0; x0 = (−1, …, −1); f* = 0 (x* not in closed form).

Cost: fixed-size problems O(1); extended Powell and Broyden tridiagonal O(n) time, O(1) extra
memory per gradient or HVP; trigonometric O(n) (two or three passes over x); dense Hessians
O(n²).
"""
from __future__ import annotations

import functools
import math

import numpy as np

from optbench.kernels.compile import kernel
from optbench.params import I
from optbench.validate import OptbenchInputError

from .base import Problem, register

_Z = np.zeros(1)
_ZI = np.zeros(1, np.int64)


# ---------------------------------------------------------------- Powell badly scaled [3]
@kernel
def _pbs_h(a, b):
    e1 = math.exp(-a)
    e2 = math.exp(-b)
    r1 = 1e4 * a * b - 1.0
    r2 = e1 + e2 - 1.0001
    return (2.0 * (1e8 * b * b + e1 * e1 + r2 * e1),
            2.0 * (1e8 * a * b + e1 * e2 + 1e4 * r1),
            2.0 * (1e8 * a * a + e2 * e2 + r2 * e2))


def pbs_fg(x, g, data, idata, seed, step):
    e1 = math.exp(-x[0])
    e2 = math.exp(-x[1])
    r1 = 1e4 * x[0] * x[1] - 1.0
    r2 = e1 + e2 - 1.0001
    g[0] = 2.0 * (1e4 * x[1] * r1 - e1 * r2)
    g[1] = 2.0 * (1e4 * x[0] * r1 - e2 * r2)
    return r1 * r1 + r2 * r2


def pbs_value(x, data, idata):
    r1 = 1e4 * x[0] * x[1] - 1.0
    r2 = math.exp(-x[0]) + math.exp(-x[1]) - 1.0001
    return r1 * r1 + r2 * r2


# ---------------------------------------------------------------- Brown badly scaled [4]
@kernel
def _bbs_h(a, b):
    return 2.0 * (1.0 + b * b), 2.0 * (2.0 * a * b - 2.0), 2.0 * (1.0 + a * a)


def bbs_fg(x, g, data, idata, seed, step):
    r1 = x[0] - 1e6
    r2 = x[1] - 2e-6
    r3 = x[0] * x[1] - 2.0
    g[0] = 2.0 * (r1 + x[1] * r3)
    g[1] = 2.0 * (r2 + x[0] * r3)
    return r1 * r1 + r2 * r2 + r3 * r3


def bbs_value(x, data, idata):
    r1 = x[0] - 1e6
    r2 = x[1] - 2e-6
    r3 = x[0] * x[1] - 2.0
    return r1 * r1 + r2 * r2 + r3 * r3


def pbs_hvp(x, v, out, data, idata):
    a, b, c = _pbs_h(x[0], x[1])
    out[0] = a * v[0] + b * v[1]
    out[1] = b * v[0] + c * v[1]


def pbs_hess(x, H, data, idata):
    a, b, c = _pbs_h(x[0], x[1])
    H[0, 0], H[0, 1], H[1, 0], H[1, 1] = a, b, b, c


def bbs_hvp(x, v, out, data, idata):
    a, b, c = _bbs_h(x[0], x[1])
    out[0] = a * v[0] + b * v[1]
    out[1] = b * v[0] + c * v[1]


def bbs_hess(x, H, data, idata):
    a, b, c = _bbs_h(x[0], x[1])
    H[0, 0], H[0, 1], H[1, 0], H[1, 1] = a, b, b, c


# -------------------------------------------------------- (extended) Powell singular [13, 22]
# per block (x1, x2, x3, x4): p = x1 + 10 x2, q = x3 - x4, u = x2 - 2 x3, w = x1 - x4,
# f = p^2 + 5 q^2 + u^4 + 10 w^4
def psing_fg(x, g, data, idata, seed, step):
    f = 0.0
    for k in range(0, x.shape[0], 4):
        p = x[k] + 10.0 * x[k + 1]
        q = x[k + 2] - x[k + 3]
        u = x[k + 1] - 2.0 * x[k + 2]
        w = x[k] - x[k + 3]
        u3 = u * u * u
        w3 = w * w * w
        f += p * p + 5.0 * q * q + u3 * u + 10.0 * w3 * w
        g[k] = 2.0 * p + 40.0 * w3
        g[k + 1] = 20.0 * p + 4.0 * u3
        g[k + 2] = 10.0 * q - 8.0 * u3
        g[k + 3] = -10.0 * q - 40.0 * w3
    return f


def psing_value(x, data, idata):
    f = 0.0
    for k in range(0, x.shape[0], 4):
        p = x[k] + 10.0 * x[k + 1]
        q = x[k + 2] - x[k + 3]
        u = x[k + 1] - 2.0 * x[k + 2]
        w = x[k] - x[k + 3]
        f += p * p + 5.0 * q * q + u * u * u * u + 10.0 * w * w * w * w
    return f


def psing_hvp(x, v, out, data, idata):
    for k in range(0, x.shape[0], 4):
        u2 = x[k + 1] - 2.0 * x[k + 2]
        u2 = u2 * u2
        w2 = x[k] - x[k + 3]
        w2 = w2 * w2
        v1, v2, v3, v4 = v[k], v[k + 1], v[k + 2], v[k + 3]
        out[k] = (2.0 + 120.0 * w2) * v1 + 20.0 * v2 - 120.0 * w2 * v4
        out[k + 1] = 20.0 * v1 + (200.0 + 12.0 * u2) * v2 - 24.0 * u2 * v3
        out[k + 2] = -24.0 * u2 * v2 + (10.0 + 48.0 * u2) * v3 - 10.0 * v4
        out[k + 3] = -120.0 * w2 * v1 - 10.0 * v3 + (10.0 + 120.0 * w2) * v4


def psing_hess(x, H, data, idata):
    n = x.shape[0]
    for i in range(n):
        for j in range(n):
            H[i, j] = 0.0
    for k in range(0, n, 4):
        u2 = x[k + 1] - 2.0 * x[k + 2]
        u2 = u2 * u2
        w2 = x[k] - x[k + 3]
        w2 = w2 * w2
        H[k, k] = 2.0 + 120.0 * w2
        H[k, k + 1] = H[k + 1, k] = 20.0
        H[k, k + 3] = H[k + 3, k] = -120.0 * w2
        H[k + 1, k + 1] = 200.0 + 12.0 * u2
        H[k + 1, k + 2] = H[k + 2, k + 1] = -24.0 * u2
        H[k + 2, k + 2] = 10.0 + 48.0 * u2
        H[k + 2, k + 3] = H[k + 3, k + 2] = -10.0
        H[k + 3, k + 3] = 10.0 + 120.0 * w2


# ---------------------------------------------------------------- Wood [14]
def wood_fg(x, g, data, idata, seed, step):
    a = x[1] - x[0] * x[0]
    b = 1.0 - x[0]
    c = x[3] - x[2] * x[2]
    d = 1.0 - x[2]
    e = x[1] + x[3] - 2.0
    h = x[1] - x[3]
    g[0] = -400.0 * x[0] * a - 2.0 * b
    g[1] = 200.0 * a + 20.0 * e + 0.2 * h
    g[2] = -360.0 * x[2] * c - 2.0 * d
    g[3] = 180.0 * c + 20.0 * e - 0.2 * h
    return 100.0 * a * a + b * b + 90.0 * c * c + d * d + 10.0 * e * e + 0.1 * h * h


def wood_value(x, data, idata):
    a = x[1] - x[0] * x[0]
    b = 1.0 - x[0]
    c = x[3] - x[2] * x[2]
    d = 1.0 - x[2]
    e = x[1] + x[3] - 2.0
    h = x[1] - x[3]
    return 100.0 * a * a + b * b + 90.0 * c * c + d * d + 10.0 * e * e + 0.1 * h * h


def wood_hvp(x, v, out, data, idata):
    h11 = 1200.0 * x[0] * x[0] - 400.0 * x[1] + 2.0
    h33 = 1080.0 * x[2] * x[2] - 360.0 * x[3] + 2.0
    out[0] = h11 * v[0] - 400.0 * x[0] * v[1]
    out[1] = -400.0 * x[0] * v[0] + 220.2 * v[1] + 19.8 * v[3]
    out[2] = h33 * v[2] - 360.0 * x[2] * v[3]
    out[3] = 19.8 * v[1] - 360.0 * x[2] * v[2] + 200.2 * v[3]


def wood_hess(x, H, data, idata):
    for i in range(4):
        for j in range(4):
            H[i, j] = 0.0
    H[0, 0] = 1200.0 * x[0] * x[0] - 400.0 * x[1] + 2.0
    H[0, 1] = H[1, 0] = -400.0 * x[0]
    H[1, 1] = 220.2
    H[1, 3] = H[3, 1] = 19.8
    H[2, 2] = 1080.0 * x[2] * x[2] - 360.0 * x[3] + 2.0
    H[2, 3] = H[3, 2] = -360.0 * x[2]
    H[3, 3] = 200.2


# ---------------------------------------------------------------- stationary points
@functools.lru_cache(maxsize=None)
def pbs_xstar():
    """Newton on r(x) = 0 for Powell badly scaled (square system), from MGH's x*."""
    x = np.array([1.098e-5, 9.106])
    for _ in range(50):
        e1, e2 = math.exp(-x[0]), math.exp(-x[1])
        r = np.array([1e4 * x[0] * x[1] - 1.0, e1 + e2 - 1.0001])
        J = np.array([[1e4 * x[1], 1e4 * x[0]], [-e1, -e2]])
        dx = np.linalg.solve(J, r)
        x = x - dx
        if np.all(np.abs(dx) <= 1e-16 * np.abs(x)):
            break
    return x


@functools.lru_cache(maxsize=None)
def wood_saddle():
    """Newton on ∇f = 0 (the uncompiled kernels) from the point quoted in the literature."""
    x = np.array([-0.968, 0.947, -0.970, 0.951])
    g = np.empty(4)
    H = np.empty((4, 4))
    for _ in range(50):
        wood_fg(x, g, _Z, _ZI, 0, 0)
        wood_hess(x, H, _Z, _ZI)
        dx = np.linalg.solve(H, g)
        x = x - dx
        if np.linalg.norm(dx) <= 1e-16 * np.linalg.norm(x):
            break
    return x


# ---------------------------------------------------------------- problem classes
class _MGH(Problem):
    family = "mgh"
    params = {}
    _n = 2
    _box = (-2.0, 2.0)

    def build(self):
        return np.zeros(1), np.zeros(1, np.int64), self.p.get("dim", self._n)

    def init_box(self):
        return self._box

    @property
    def f_star(self):
        return 0.0

    def cost(self):
        return "O(1) time, O(1) memory" if "dim" not in self.p else \
            "O(d) time, O(1) extra memory per gradient/HVP; dense Hessian O(d^2)"


def _kernels(fg, val, hvp, hess):
    return staticmethod(fg), staticmethod(val), staticmethod(hvp), staticmethod(hess)


@register
class PowellBadlyScaled(_MGH):
    name = "powell-badly-scaled"
    min_dim = 2
    formula = r"f(x) = (10^4 x_1 x_2 - 1)^2 + (e^{-x_1} + e^{-x_2} - 1.0001)^2"
    source = "Moré, Garbow & Hillstrom, ACM TOMS 7 (1981), problem 3"
    FG, VALUE, HVP, HESS = _kernels(pbs_fg, pbs_value, pbs_hvp, pbs_hess)
    _box = (0.0, 10.0)

    def x_standard(self):
        return np.array([0.0, 1.0])

    @property
    def x_star(self):
        return pbs_xstar().copy()

    def known_critical_points(self):
        xs = pbs_xstar()
        return [(xs.copy(), 0.0, 0, "global min"), (xs[::-1].copy(), 0.0, 0, "global min")]


@register
class BrownBadlyScaled(_MGH):
    name = "brown-badly-scaled"
    min_dim = 2
    formula = r"f(x) = (x_1 - 10^6)^2 + (x_2 - 2 \cdot 10^{-6})^2 + (x_1 x_2 - 2)^2"
    source = "Moré, Garbow & Hillstrom, ACM TOMS 7 (1981), problem 4"
    FG, VALUE, HVP, HESS = _kernels(bbs_fg, bbs_value, bbs_hvp, bbs_hess)

    def x_standard(self):
        return np.array([1.0, 1.0])

    @property
    def x_star(self):
        return np.array([1e6, 2e-6])


@register
class PowellSingular(_MGH):
    name = "powell-singular"
    min_dim = 4
    _n = 4
    formula = r"f(x) = (x_1 + 10x_2)^2 + 5(x_3 - x_4)^2 + (x_2 - 2x_3)^4 + 10(x_1 - x_4)^4"
    source = "Moré, Garbow & Hillstrom, ACM TOMS 7 (1981), problem 13"
    FG, VALUE, HVP, HESS = _kernels(psing_fg, psing_value, psing_hvp, psing_hess)
    _box = (-4.0, 4.0)

    def x_standard(self):
        return np.tile([3.0, -1.0, 0.0, 1.0], self.dim // 4)

    @property
    def x_star(self):
        return np.zeros(self.dim)

    def known_critical_points(self):
        return [(np.zeros(self.dim), 0.0, 0, "global min (singular Hessian)")]


@register
class ExtendedPowell(PowellSingular):
    name = "extended-powell"
    min_dim = 4
    formula = (r"f(x) = \sum_{i=1}^{n/4} (x_{4i-3} + 10x_{4i-2})^2 + 5(x_{4i-1} - x_{4i})^2"
               r" + (x_{4i-2} - 2x_{4i-1})^4 + 10(x_{4i-3} - x_{4i})^4")
    source = "Moré, Garbow & Hillstrom, ACM TOMS 7 (1981), problem 22"
    params = {"dim": I(8, 4, doc="dimension n, a multiple of 4")}

    def build(self):
        n = self.p["dim"]
        if n % 4:
            raise OptbenchInputError(
                f"problem {self.name}: dim must be a multiple of 4, got {n}")
        return np.zeros(1), np.zeros(1, np.int64), n


@register
class Wood(_MGH):
    name = "wood"
    min_dim = 4
    _n = 4
    formula = (r"f(x) = 100(x_2 - x_1^2)^2 + (1 - x_1)^2 + 90(x_4 - x_3^2)^2 + (1 - x_3)^2"
               r" + 10(x_2 + x_4 - 2)^2 + 0.1(x_2 - x_4)^2")
    source = "Moré, Garbow & Hillstrom, ACM TOMS 7 (1981), problem 14"
    FG, VALUE, HVP, HESS = _kernels(wood_fg, wood_value, wood_hvp, wood_hess)
    _box = (-3.0, 3.0)

    def x_standard(self):
        return np.array([-3.0, -1.0, -3.0, -1.0])

    @property
    def x_star(self):
        return np.ones(4)

    def known_critical_points(self):
        xs = wood_saddle()
        return [(np.ones(4), 0.0, 0, "global min"),
                (xs.copy(), float(wood_value(xs, _Z, _ZI)), 1, "saddle")]
