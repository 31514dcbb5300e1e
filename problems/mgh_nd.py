r"""Moré–Garbow–Hillstrom problems in n dimensions: trigonometric (26), Broyden tridiagonal (30).

Sums of squares :math:`f(x) = \sum_i r_i(x)^2` with hand-derived gradient, HVP and Hessian;
f* = 0 (x* not in closed form). The shared base class and the fixed-size problems are in
``problems/mgh.py``. Source: J. J. Moré, B. S. Garbow, K. E. Hillstrom, *Testing unconstrained
optimization software*, ACM TOMS 7(1) (1981) 17–41. Cost: trigonometric O(n) per gradient
(O(n²) per dense Hessian); Broyden tridiagonal O(n) time, O(1) extra memory.
"""
from __future__ import annotations

import math

import numpy as np

from optbench.kernels.compile import kernel
from optbench.params import I

from .base import register
from .mgh import _MGH, _kernels

# ---------------------------------------------------------------- trigonometric [26]
def trig_fg(x, g, data, idata, seed, step):
    n = x.shape[0]
    C = 0.0
    for j in range(n):
        C += math.cos(x[j])
    f = 0.0
    R = 0.0
    for j in range(n):
        cj = math.cos(x[j])
        sj = math.sin(x[j])
        r = n - C + (j + 1) * (1.0 - cj) - sj
        f += r * r
        R += r
        g[j] = 2.0 * r * ((j + 1) * sj - cj)          # 2 r_j d_j
    for j in range(n):
        g[j] += 2.0 * math.sin(x[j]) * R              # 2 sin x_j sum_i r_i
    return f


def trig_value(x, data, idata):
    n = x.shape[0]
    C = 0.0
    for j in range(n):
        C += math.cos(x[j])
    f = 0.0
    for j in range(n):
        r = n - C + (j + 1) * (1.0 - math.cos(x[j])) - math.sin(x[j])
        f += r * r
    return f


def trig_hvp(x, v, out, data, idata):
    # J_ij = sin x_j + delta_ij d_j, d_j = j sin x_j - cos x_j (j 1-based)
    # H v = 2 [s (n Sv + Dv) + d * (Sv + d v) + R cos x * v + r (j cos x + sin x) v]
    n = x.shape[0]
    C = 0.0
    Sv = 0.0
    for j in range(n):
        C += math.cos(x[j])
        Sv += math.sin(x[j]) * v[j]
    R = 0.0
    Dv = 0.0
    for j in range(n):
        cj = math.cos(x[j])
        sj = math.sin(x[j])
        r = n - C + (j + 1) * (1.0 - cj) - sj
        d = (j + 1) * sj - cj
        R += r
        Dv += d * v[j]
        out[j] = 2.0 * (d * (Sv + d * v[j]) + r * ((j + 1) * cj + sj) * v[j])
    W = n * Sv + Dv
    for j in range(n):
        out[j] += 2.0 * (math.sin(x[j]) * W + R * math.cos(x[j]) * v[j])


def trig_hess(x, H, data, idata):
    n = x.shape[0]
    C = 0.0
    for j in range(n):
        C += math.cos(x[j])
    R = 0.0
    for j in range(n):
        R += n - C + (j + 1) * (1.0 - math.cos(x[j])) - math.sin(x[j])
    for j in range(n):
        sj = math.sin(x[j])
        dj = (j + 1) * sj - math.cos(x[j])
        for k in range(n):
            sk = math.sin(x[k])
            dk = (k + 1) * sk - math.cos(x[k])
            H[j, k] = 2.0 * (n * sj * sk + sj * dk + dj * sk)
        cj = math.cos(x[j])
        r = n - C + (j + 1) * (1.0 - cj) - sj
        H[j, j] += 2.0 * (dj * dj + R * cj + r * ((j + 1) * cj + sj))


# ---------------------------------------------------------------- Broyden tridiagonal [30]
@kernel
def _bt_r(x, i, n):
    xm = x[i - 1] if i > 0 else 0.0
    xp = x[i + 1] if i < n - 1 else 0.0
    return (3.0 - 2.0 * x[i]) * x[i] - xm - 2.0 * xp + 1.0


@kernel
def _bt_j(x, i, a):
    """J[i, a] for |i − a| ≤ 1."""
    if a == i:
        return 3.0 - 4.0 * x[i]
    return -1.0 if a < i else -2.0


def bt_fg(x, g, data, idata, seed, step):
    n = x.shape[0]
    for i in range(n):
        g[i] = 0.0
    f = 0.0
    for i in range(n):
        r = _bt_r(x, i, n)
        f += r * r
        g[i] += 2.0 * r * (3.0 - 4.0 * x[i])
        if i > 0:
            g[i - 1] -= 2.0 * r
        if i < n - 1:
            g[i + 1] -= 4.0 * r
    return f


def bt_value(x, data, idata):
    n = x.shape[0]
    f = 0.0
    for i in range(n):
        r = _bt_r(x, i, n)
        f += r * r
    return f


def bt_hvp(x, v, out, data, idata):
    n = x.shape[0]
    for i in range(n):
        out[i] = 0.0
    for i in range(n):
        lo = max(0, i - 1)
        hi = min(n, i + 2)
        w = 0.0                                        # (J v)_i
        for a in range(lo, hi):
            w += _bt_j(x, i, a) * v[a]
        for a in range(lo, hi):
            out[a] += 2.0 * _bt_j(x, i, a) * w
        out[i] -= 8.0 * _bt_r(x, i, n) * v[i]          # 2 r_i (d^2 r_i / dx_i^2 = -4)


def bt_hess(x, H, data, idata):
    n = x.shape[0]
    for i in range(n):
        for j in range(n):
            H[i, j] = 0.0
    for i in range(n):
        lo = max(0, i - 1)
        hi = min(n, i + 2)
        for a in range(lo, hi):
            for b in range(lo, hi):
                H[a, b] += 2.0 * _bt_j(x, i, a) * _bt_j(x, i, b)
        H[i, i] -= 8.0 * _bt_r(x, i, n)



@register
class Trigonometric(_MGH):
    name = "trigonometric"
    min_dim = 2
    formula = (r"f(x) = \sum_{i=1}^n \left(n - \sum_j \cos x_j + i(1 - \cos x_i)"
               r" - \sin x_i\right)^2")
    source = "Moré, Garbow & Hillstrom, ACM TOMS 7 (1981), problem 26"
    params = {"dim": I(10, 2, doc="dimension n")}
    FG, VALUE, HVP, HESS = _kernels(trig_fg, trig_value, trig_hvp, trig_hess)
    _box = (-math.pi, math.pi)

    def x_standard(self):
        return np.full(self.dim, 1.0 / self.dim)


@register
class BroydenTridiagonal(_MGH):
    name = "broyden-tridiagonal"
    min_dim = 2
    formula = (r"f(x) = \sum_{i=1}^n \left((3 - 2x_i)x_i - x_{i-1} - 2x_{i+1} + 1\right)^2,"
               r"\ x_0 = x_{n+1} = 0")
    source = "Moré, Garbow & Hillstrom, ACM TOMS 7 (1981), problem 30"
    params = {"dim": I(10, 2, doc="dimension n")}
    FG, VALUE, HVP, HESS = _kernels(bt_fg, bt_value, bt_hvp, bt_hess)

    def x_standard(self):
        return np.full(self.dim, -1.0)
