r"""bbob f10–f14, the functions of high conditioning, all unimodal (COCO's code; notes where it
departs from the 2009 definitions). :math:`y = x - x_\text{opt}`, i = 0 … d−1; R and Q are
COCO's rotations from the instance seed + 10⁶ and the seed; :math:`T_\text{osz}`,
:math:`T_\text{asy}^\beta`, :math:`\Lambda^\alpha` as in :mod:`.transforms`.

* f10 Ellipsoid (rotated): :math:`z = T_\text{osz}(R y)`,
  :math:`f = \sum_i 10^{6 i/(d-1)} z_i^2 + f_\text{opt}`.
* f11 Discus: :math:`z = T_\text{osz}(R y)`, :math:`f = 10^6 z_0^2 + \sum_{i>0} z_i^2 +
  f_\text{opt}`.
* f12 Bent cigar: :math:`z = R\,T_\text{asy}^{0.5}(R y)`,
  :math:`f = z_0^2 + 10^6 \sum_{i>0} z_i^2 + f_\text{opt}`; COCO draws this x_opt from the
  seed + 10⁶ (the rotation's seed), not from the seed. Kernels keep
  :math:`T_\text{asy}(Ry)` and its derivatives in scratch (``scratch=True``).
* f13 Sharp ridge: :math:`z = R\Lambda^{10}Q\,y` (one matrix),
  :math:`f = z_0^2 + 100\sqrt{\sum_{i>0} z_i^2} + f_\text{opt}`.
* f14 Different powers: :math:`z = R y`,
  :math:`f = \sqrt{\sum_i |z_i|^{2 + 4 i/(d-1)}} + f_\text{opt}`.

Gradients are analytic and O(d²) (rotations applied row by row, :mod:`.matrix`); so are the
HVPs. f10–f12 are ``smooth`` (T_osz's derivative has no limit at 0 but is multiplied by a
z_i that vanishes there; T_asy is C¹); the kernels use T' = 1, T'' = 0 at 0. f13 is not
differentiable on its ridge :math:`z_1 = \dots = z_{d-1} = 0` (a line through x_opt) and f14
not at x_opt (a cone: :math:`f - f_\text{opt} \approx |z_0|` along the first axis): see their
``gradient_note``.

Source: Hansen, Finck, Ros & Auger, *Real-Parameter Black-Box Optimization Benchmarking
2009: Noiseless Functions Definitions*, INRIA RR-6829 (2009); COCO's ``f_ellipsoid.c``,
``f_discus.c``, ``f_bent_cigar.c``, ``f_sharp_ridge.c``, ``f_different_powers.c``.
"""
from __future__ import annotations

import math

import numpy as np

from optbench.kernels.compile import kernel

from . import coco_random as CR
from .common import XOPT, BbobFunction, base_arrays, define
from .matrix import ROTATION_MAX_DIM, fill, rlq, rotation, row, row_data, scatter_row, shifted_row
from .transforms import t_asy, t_osz


def _xopt(number, instance, dim, offset=0):
    return CR.compute_xopt(CR.instance_seed(number, instance) + offset, dim)


# ---------------------------------------------------------------- f10, f11: Σ w_i T_osz(Ry)_i²
def _osz_quadratic_setup(number, weights):
    def setup(dim, instance):
        seed = CR.instance_seed(number, instance)
        return base_arrays(number, instance, dim, _xopt(number, instance, dim),
                           CR.compute_fopt(number, instance),
                           extra=[rotation(seed + 1000000, dim), weights(dim)])
    return setup


def osz_quadratic_value(x, data, idata):
    d = x.shape[0]
    m = XOPT + d
    w = m + d * d
    f = 0.0
    for i in range(d):
        z = t_osz(shifted_row(data, m, i, x, d))[0]
        f += data[w + i] * z * z
    return f + data[0]


def osz_quadratic_fg(x, g, data, idata, seed, step):
    d = x.shape[0]
    m = XOPT + d
    w = m + d * d
    fill(g, 0.0)
    f = 0.0
    for i in range(d):
        z, dz, d2z = t_osz(shifted_row(data, m, i, x, d))
        f += data[w + i] * z * z
        scatter_row(data, m, i, 2.0 * data[w + i] * z * dz, g, d)
    return f + data[0]


def osz_quadratic_hvp(x, v, out, data, idata):
    d = x.shape[0]
    m = XOPT + d
    w = m + d * d
    fill(out, 0.0)
    for i in range(d):
        z, dz, d2z = t_osz(shifted_row(data, m, i, x, d))
        h = 2.0 * data[w + i] * (dz * dz + z * d2z)
        scatter_row(data, m, i, h * row(data, m, i, v, d), out, d)


def _ellipsoid_weights(dim):
    return np.array([math.pow(1.0e6, 1.0 * i / (dim - 1.0)) for i in range(dim)])


def _discus_weights(dim):
    w = np.ones(dim)
    w[0] = 1.0e6
    return w


define(BbobFunction(10, "Ellipsoid", osz_quadratic_fg, osz_quadratic_value, osz_quadratic_hvp,
                    _osz_quadratic_setup(10, _ellipsoid_weights), smooth=True,
                    max_dim=ROTATION_MAX_DIM))
define(BbobFunction(11, "Discus", osz_quadratic_fg, osz_quadratic_value, osz_quadratic_hvp,
                    _osz_quadratic_setup(11, _discus_weights), smooth=True,
                    max_dim=ROTATION_MAX_DIM))


# ---------------------------------------------------------------- f12 bent cigar
def _cigar_setup(dim, instance):
    seed = CR.instance_seed(12, instance)
    w = np.full(dim, 1.0e6)
    w[0] = 1.0
    return base_arrays(12, instance, dim, _xopt(12, instance, dim, offset=1000000),
                       CR.compute_fopt(12, instance),
                       extra=[rotation(seed + 1000000, dim), w, np.zeros(3 * dim)])


def cigar_value(x, data, idata):
    d = x.shape[0]
    m = XOPT + d
    w = m + d * d
    a = w + d
    for i in range(d):
        data[a + i] = t_asy(shifted_row(data, m, i, x, d), 0.5, i, d)[0]
    f = 0.0
    for i in range(d):
        z = row_data(data, m, i, a, d)
        f += data[w + i] * z * z
    return f + data[0]


def cigar_fg(x, g, data, idata, seed, step):
    d = x.shape[0]
    m = XOPT + d
    w = m + d * d
    a = w + d
    da = a + d
    for i in range(d):
        t, dt, d2t = t_asy(shifted_row(data, m, i, x, d), 0.5, i, d)
        data[a + i] = t
        data[da + i] = dt
    fill(g, 0.0)
    f = 0.0
    for i in range(d):
        z = row_data(data, m, i, a, d)
        f += data[w + i] * z * z
        scatter_row(data, m, i, 2.0 * data[w + i] * z, g, d)     # g = Rᵀ 2W z
    for j in range(d):
        data[a + j] = data[da + j] * g[j]
    fill(g, 0.0)
    for i in range(d):
        scatter_row(data, m, i, data[a + i], g, d)
    return f + data[0]


def cigar_hvp(x, v, out, data, idata):
    d = x.shape[0]
    m = XOPT + d
    w = m + d * d
    a = w + d
    da = a + d
    d2a = da + d
    for i in range(d):
        t, dt, d2t = t_asy(shifted_row(data, m, i, x, d), 0.5, i, d)
        data[a + i] = t
        data[da + i] = dt
        data[d2a + i] = d2t
    fill(out, 0.0)
    for i in range(d):                                           # out = p = Rᵀ 2W R a
        scatter_row(data, m, i, 2.0 * data[w + i] * row_data(data, m, i, a, d), out, d)
    for i in range(d):
        u = row(data, m, i, v, d)
        data[d2a + i] = out[i] * data[d2a + i] * u               # p ∘ T'' ∘ (R v)
        data[a + i] = data[da + i] * u                           # T' ∘ (R v)
    fill(out, 0.0)
    for i in range(d):
        scatter_row(data, m, i, 2.0 * data[w + i] * row_data(data, m, i, a, d), out, d)
    for j in range(d):
        data[a + j] = data[da + j] * out[j] + data[d2a + j]
    fill(out, 0.0)
    for i in range(d):
        scatter_row(data, m, i, data[a + i], out, d)


define(BbobFunction(12, "Bent cigar", cigar_fg, cigar_value, cigar_hvp, _cigar_setup,
                    smooth=True, scratch=True, max_dim=ROTATION_MAX_DIM))


# ---------------------------------------------------------------- f13 sharp ridge
def _ridge_setup(dim, instance):
    seed = CR.instance_seed(13, instance)
    return base_arrays(13, instance, dim, _xopt(13, instance, dim),
                       CR.compute_fopt(13, instance), extra=[rlq(seed, dim)])


def ridge_value(x, data, idata):
    d = x.shape[0]
    m = XOPT + d
    s = 0.0
    for i in range(1, d):
        z = shifted_row(data, m, i, x, d)
        s += z * z
    z0 = shifted_row(data, m, 0, x, d)
    return 100.0 * math.sqrt(s) + z0 * z0 + data[0]


def ridge_fg(x, g, data, idata, seed, step):
    d = x.shape[0]
    m = XOPT + d
    fill(g, 0.0)
    s = 0.0
    for i in range(1, d):
        z = shifted_row(data, m, i, x, d)
        s += z * z
        scatter_row(data, m, i, z, g, d)
    r = math.sqrt(s)
    c = 100.0 / r if r > 0.0 else 0.0
    for j in range(d):
        g[j] *= c
    z0 = shifted_row(data, m, 0, x, d)
    scatter_row(data, m, 0, 2.0 * z0, g, d)
    return 100.0 * r + z0 * z0 + data[0]


def ridge_hvp(x, v, out, data, idata):
    d = x.shape[0]
    m = XOPT + d
    s = 0.0
    zu = 0.0
    for i in range(1, d):
        z = shifted_row(data, m, i, x, d)
        s += z * z
        zu += z * row(data, m, i, v, d)
    r = math.sqrt(s)
    fill(out, 0.0)
    scatter_row(data, m, 0, 2.0 * row(data, m, 0, v, d), out, d)
    if r > 0.0:
        for i in range(1, d):
            z = shifted_row(data, m, i, x, d)
            u = row(data, m, i, v, d)
            scatter_row(data, m, i, 100.0 * (u - z * zu / s) / r, out, d)


define(BbobFunction(
    13, "Sharp ridge", ridge_fg, ridge_value, ridge_hvp, _ridge_setup, smooth=False,
    max_dim=ROTATION_MAX_DIM,
    gradient_note="not differentiable on the ridge z_1 = … = z_(d−1) = 0 (a line through "
                  "x_opt): there FG returns the gradient of z_0² alone (the norm term's "
                  "minimum-norm subgradient, 0) and the HVP that of z_0²"))


# ---------------------------------------------------------------- f14 different powers
def _powers_setup(dim, instance):
    seed = CR.instance_seed(14, instance)
    p = np.array([2.0 + (4.0 * i) / (dim - 1.0) for i in range(dim)])
    return base_arrays(14, instance, dim, _xopt(14, instance, dim),
                       CR.compute_fopt(14, instance), extra=[rotation(seed + 1000000, dim), p])


def powers_value(x, data, idata):
    d = x.shape[0]
    m = XOPT + d
    pw = m + d * d
    s = 0.0
    for i in range(d):
        s += math.pow(abs(shifted_row(data, m, i, x, d)), data[pw + i])
    return math.sqrt(s) + data[0]


@kernel
def _power_dz(z, p):
    """d/dz |z|^p = p |z|^{p−1} sign z."""
    if z == 0.0:
        return 0.0
    t = p * math.pow(abs(z), p - 1.0)
    return t if z > 0.0 else -t


def powers_fg(x, g, data, idata, seed, step):
    d = x.shape[0]
    m = XOPT + d
    pw = m + d * d
    fill(g, 0.0)
    s = 0.0
    for i in range(d):
        z = shifted_row(data, m, i, x, d)
        s += math.pow(abs(z), data[pw + i])
        scatter_row(data, m, i, _power_dz(z, data[pw + i]), g, d)
    f = math.sqrt(s)
    c = 0.5 / f if f > 0.0 else 0.0
    for j in range(d):
        g[j] *= c
    return f + data[0]


def powers_hvp(x, v, out, data, idata):
    d = x.shape[0]
    m = XOPT + d
    pw = m + d * d
    s = 0.0
    b = 0.0                                   # ∇_z S · (R v)
    for i in range(d):
        z = shifted_row(data, m, i, x, d)
        s += math.pow(abs(z), data[pw + i])
        b += _power_dz(z, data[pw + i]) * row(data, m, i, v, d)
    fill(out, 0.0)
    if s == 0.0:
        return
    f = math.sqrt(s)
    for i in range(d):
        z = shifted_row(data, m, i, x, d)
        p = data[pw + i]
        u = row(data, m, i, v, d)
        h = p * (p - 1.0) * math.pow(abs(z), p - 2.0) * u / (2.0 * f)
        scatter_row(data, m, i, h - _power_dz(z, p) * b / (4.0 * f * s), out, d)


define(BbobFunction(
    14, "Different powers", powers_fg, powers_value, powers_hvp, _powers_setup, smooth=False,
    max_dim=ROTATION_MAX_DIM,
    gradient_note="not differentiable at x_opt (a cone: f − f_opt ≈ |z_0| along the first "
                  "axis): there FG returns 0 and the HVP 0; smooth elsewhere"))
