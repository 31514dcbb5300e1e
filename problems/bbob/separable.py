r"""bbob f1–f5, the separable functions (COCO's code, which the notes below follow where it
departs from the 2009 definitions). Throughout, :math:`y = x - x_\text{opt}`, i = 0 … d−1,
:math:`T_\text{osz}`, :math:`T_\text{asy}^\beta`, :math:`\Lambda^\alpha` as in
:mod:`.transforms`, :math:`f_\text{pen}(x) = \sum_i \max(0, |x_i| - 5)^2`.

* f1 Sphere: :math:`f = \|y\|^2 + f_\text{opt}`.
* f2 Ellipsoid (separable): :math:`z = T_\text{osz}(y)`,
  :math:`f = \sum_i 10^{6 i/(d-1)} z_i^2 + f_\text{opt}`.
* f3 Rastrigin (separable): :math:`z = \Lambda^{10} T_\text{asy}^{0.2}(T_\text{osz}(y))`,
  :math:`f = 10\,(d - \sum_i \cos 2\pi z_i) + \|z\|^2 + f_\text{opt}` (no boundary penalty).
* f4 Büche–Rastrigin: :math:`z_i = s_i T_\text{osz}(y_i)` with
  :math:`s_i = 10^{\frac12 i/(d-1)}`, times 10 where :math:`T_\text{osz}(y_i) > 0` and i is
  even (zero-based: the definitions' odd indices); f as f3 plus :math:`100 f_\text{pen}(x)`.
  COCO takes x_opt from function 3's seed and makes its even-indexed entries non-negative (a
  step of the legacy code not in the definitions); f4 shares f3's fopt.
* f5 Linear slope: :math:`s_i = \pm 10^{i/(d-1)}` with the sign of COCO's x_opt entry;
  the optimum is :math:`x^\star_i = 5\,\mathrm{sign}(s_i)` and
  :math:`f = \sum_i (5|s_i| - s_i \hat x_i) + f_\text{opt}` with :math:`\hat x_i = x_i`
  where :math:`x_i x^\star_i < 25`, else :math:`x^\star_i` (flat beyond the optimum's face;
  COCO's boundary handling, no penalty). ``x_star`` is that corner, not COCO's random x_opt.

Gradients are analytic. f2–f4: T_osz has no derivative at 0 (T(y)/y oscillates), but each
term's derivative carries a factor z_i (or sin 2πz_i) that vanishes there, so the gradient is
continuous (``smooth``); at :math:`y_i = 0` the kernels use T' = 1, T'' = 0, which gives that
limit. The HVPs are diagonal (O(d)); at :math:`y_i = 0` and on |x_i| = 5 (f4's penalty) the
Hessian jumps and the HVP is the formula of the branch the value takes. f5: gradient
:math:`-s_i` on the slope and 0 where flat (not continuous at the face), HVP 0.

Source: Hansen, Finck, Ros & Auger, *Real-Parameter Black-Box Optimization Benchmarking
2009: Noiseless Functions Definitions*, INRIA RR-6829 (2009); COCO's ``f_sphere.c``,
``f_ellipsoid.c``, ``f_rastrigin.c``, ``f_bueche_rastrigin.c``, ``f_linear_slope.c``,
``suite_bbob.c``.
"""
from __future__ import annotations

import math

import numpy as np

from . import coco_random as CR
from .common import XOPT, BbobFunction, base_arrays, define
from .transforms import penalty_fg, penalty_hvp, penalty_value, t_asy, t_osz

TWO_PI = 2.0 * math.pi         # COCO's coco_two_pi
RAST_K = 20.0 * math.pi        # d/dz of 10 (1 − cos 2πz)
RAST_KK = 40.0 * math.pi * math.pi


def _plain_setup(number):
    def setup(dim, instance):
        seed = CR.instance_seed(number, instance)
        return base_arrays(number, instance, dim, CR.compute_xopt(seed, dim),
                           CR.compute_fopt(number, instance))
    return setup


def _exponents(dim, base, half=False):
    """COCO's ``pow(base, (½·) i / (d − 1))`` for i = 0 … d−1."""
    return np.array([math.pow(base, (0.5 * i if half else 1.0 * i) / (dim - 1.0))
                     for i in range(dim)])


# ---------------------------------------------------------------- f1 sphere
def sphere_fg(x, g, data, idata, seed, step):
    f = 0.0
    for i in range(x.shape[0]):
        z = x[i] - data[XOPT + i]
        g[i] = 2.0 * z
        f += z * z
    return f + data[0]


def sphere_value(x, data, idata):
    f = 0.0
    for i in range(x.shape[0]):
        z = x[i] - data[XOPT + i]
        f += z * z
    return f + data[0]


def sphere_hvp(x, v, out, data, idata):
    for i in range(x.shape[0]):
        out[i] = 2.0 * v[i]


define(BbobFunction(1, "Sphere", sphere_fg, sphere_value, sphere_hvp, _plain_setup(1),
                    smooth=True))


# ---------------------------------------------------------------- f2 ellipsoid (separable)
def _ellipsoid_setup(dim, instance):
    seed = CR.instance_seed(2, instance)
    return base_arrays(2, instance, dim, CR.compute_xopt(seed, dim), CR.compute_fopt(2, instance),
                       extra=[_exponents(dim, 1.0e6)])


def ellipsoid_fg(x, g, data, idata, seed, step):
    d = x.shape[0]
    w0 = XOPT + d
    f = 0.0
    for i in range(d):
        z, dz, d2z = t_osz(x[i] - data[XOPT + i])
        f += data[w0 + i] * z * z
        g[i] = 2.0 * data[w0 + i] * z * dz
    return f + data[0]


def ellipsoid_value(x, data, idata):
    d = x.shape[0]
    w0 = XOPT + d
    f = 0.0
    for i in range(d):
        z, dz, d2z = t_osz(x[i] - data[XOPT + i])
        f += data[w0 + i] * z * z
    return f + data[0]


def ellipsoid_hvp(x, v, out, data, idata):
    d = x.shape[0]
    w0 = XOPT + d
    for i in range(d):
        z, dz, d2z = t_osz(x[i] - data[XOPT + i])
        out[i] = 2.0 * data[w0 + i] * (dz * dz + z * d2z) * v[i]


define(BbobFunction(2, "Ellipsoid separable", ellipsoid_fg, ellipsoid_value, ellipsoid_hvp,
                    _ellipsoid_setup, smooth=True))


# ---------------------------------------------------------------- f3 Rastrigin (separable)
def _rastrigin_setup(dim, instance):
    seed = CR.instance_seed(3, instance)
    return base_arrays(3, instance, dim, CR.compute_xopt(seed, dim), CR.compute_fopt(3, instance),
                       extra=[_exponents(dim, 10.0, half=True)])


def rastrigin_fg(x, g, data, idata, seed, step):
    d = x.shape[0]
    s1 = 0.0
    s2 = 0.0
    for i in range(d):
        u, du, d2u = t_osz(x[i] - data[XOPT + i])
        a, da, d2a = t_asy(u, 0.2, i, d)
        z = data[XOPT + d + i] * a
        s1 += math.cos(TWO_PI * z)
        s2 += z * z
        g[i] = (RAST_K * math.sin(TWO_PI * z) + 2.0 * z) * data[XOPT + d + i] * da * du
    return 10.0 * (d - s1) + s2 + data[0]


def rastrigin_value(x, data, idata):
    d = x.shape[0]
    s1 = 0.0
    s2 = 0.0
    for i in range(d):
        u, du, d2u = t_osz(x[i] - data[XOPT + i])
        a, da, d2a = t_asy(u, 0.2, i, d)
        z = data[XOPT + d + i] * a
        s1 += math.cos(TWO_PI * z)
        s2 += z * z
    return 10.0 * (d - s1) + s2 + data[0]


def rastrigin_hvp(x, v, out, data, idata):
    d = x.shape[0]
    for i in range(d):
        u, du, d2u = t_osz(x[i] - data[XOPT + i])
        a, da, d2a = t_asy(u, 0.2, i, d)
        lam = data[XOPT + d + i]
        z = lam * a
        dz = lam * da * du
        d2z = lam * (d2a * du * du + da * d2u)
        fz = RAST_K * math.sin(TWO_PI * z) + 2.0 * z
        fzz = RAST_KK * math.cos(TWO_PI * z) + 2.0
        out[i] = (fzz * dz * dz + fz * d2z) * v[i]


define(BbobFunction(3, "Rastrigin separable", rastrigin_fg, rastrigin_value, rastrigin_hvp,
                    _rastrigin_setup, smooth=True))


# ---------------------------------------------------------------- f4 Büche-Rastrigin
def _bueche_setup(dim, instance):
    xopt = CR.compute_xopt(CR.instance_seed(3, instance), dim)      # COCO: rseed_3
    xopt[0::2] = np.abs(xopt[0::2])
    return base_arrays(4, instance, dim, xopt, CR.compute_fopt(4, instance),
                       extra=[_exponents(dim, math.sqrt(10.0))])


def bueche_fg(x, g, data, idata, seed, step):
    d = x.shape[0]
    s1 = 0.0
    s2 = 0.0
    for i in range(d):
        u, du, d2u = t_osz(x[i] - data[XOPT + i])
        s = data[XOPT + d + i]
        if u > 0.0 and i % 2 == 0:
            s *= 10.0
        z = s * u
        s1 += math.cos(TWO_PI * z)
        s2 += z * z
        g[i] = (RAST_K * math.sin(TWO_PI * z) + 2.0 * z) * s * du
    f = 10.0 * (d - s1) + s2 + 0.0 + data[0]
    return f + 100.0 * penalty_fg(x, g, 100.0)


def bueche_value(x, data, idata):
    d = x.shape[0]
    s1 = 0.0
    s2 = 0.0
    for i in range(d):
        u, du, d2u = t_osz(x[i] - data[XOPT + i])
        s = data[XOPT + d + i]
        if u > 0.0 and i % 2 == 0:
            s *= 10.0
        z = s * u
        s1 += math.cos(TWO_PI * z)
        s2 += z * z
    f = 10.0 * (d - s1) + s2 + 0.0 + data[0]
    return f + 100.0 * penalty_value(x)


def bueche_hvp(x, v, out, data, idata):
    d = x.shape[0]
    for i in range(d):
        u, du, d2u = t_osz(x[i] - data[XOPT + i])
        s = data[XOPT + d + i]
        if u > 0.0 and i % 2 == 0:
            s *= 10.0
        z = s * u
        fz = RAST_K * math.sin(TWO_PI * z) + 2.0 * z
        fzz = RAST_KK * math.cos(TWO_PI * z) + 2.0
        out[i] = (fzz * s * s * du * du + fz * s * d2u) * v[i]
    penalty_hvp(x, v, out, 100.0)


define(BbobFunction(4, "Bueche-Rastrigin", bueche_fg, bueche_value, bueche_hvp, _bueche_setup,
                    smooth=True))


# ---------------------------------------------------------------- f5 linear slope
def _slope_setup(dim, instance):
    xopt = CR.compute_xopt(CR.instance_seed(5, instance), dim)
    best = np.where(xopt < 0.0, -5.0, 5.0)
    mag = _exponents(dim, math.sqrt(100.0))
    s = np.where(best > 0.0, mag, -mag)
    return base_arrays(5, instance, dim, best, CR.compute_fopt(5, instance), extra=[s])


def slope_fg(x, g, data, idata, seed, step):
    d = x.shape[0]
    f = 0.0
    for i in range(d):
        s = data[XOPT + d + i]
        if x[i] * data[XOPT + i] < 25.0:
            f += 5.0 * abs(s) - s * x[i]
            g[i] = -s
        else:
            f += 5.0 * abs(s) - s * data[XOPT + i]
            g[i] = 0.0
    return f + data[0]


def slope_value(x, data, idata):
    d = x.shape[0]
    f = 0.0
    for i in range(d):
        s = data[XOPT + d + i]
        if x[i] * data[XOPT + i] < 25.0:
            f += 5.0 * abs(s) - s * x[i]
        else:
            f += 5.0 * abs(s) - s * data[XOPT + i]
    return f + data[0]


def slope_hvp(x, v, out, data, idata):
    for i in range(x.shape[0]):
        out[i] = 0.0


define(BbobFunction(
    5, "Linear slope", slope_fg, slope_value, slope_hvp, _slope_setup, smooth=False,
    gradient_note="−s_i on the slope; 0 in each coordinate at and beyond the optimum's face "
                  "(x_i x*_i ≥ 25, where f is flat in x_i): the gradient jumps there; the "
                  "Hessian is 0"))
