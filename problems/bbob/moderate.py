r"""bbob f6–f9, the functions of low or moderate conditioning (COCO's code; notes where it
departs from the 2009 definitions). :math:`y = x - x_\text{opt}`, i = 0 … d−1; R and Q are
COCO's rotations from the instance seed + 10⁶ and the seed; :math:`\Lambda^\alpha`,
:math:`T_\text{osz}` and :math:`f_\text{pen}` as in :mod:`.transforms`.

* f6 Attractive sector: :math:`z = R\Lambda^{10}Q\,y` (one matrix, multiplied as COCO does),
  :math:`s = \sum_i w_i z_i^2` with :math:`w_i = 10^4` where :math:`z_i x_{\text{opt},i} > 0`
  (COCO tests the sign against x_opt's entry), else 1;
  :math:`f = T_\text{osz}(s)^{0.9} + f_\text{opt}` (T_osz on the objective value).
* f7 Step ellipsoid: :math:`\hat z = \Lambda^{10} Q\,y`; :math:`\tilde z_i =
  \lfloor \hat z_i + \frac12 \rfloor` where :math:`|\hat z_i| > 0.5`, else
  :math:`\lfloor 10 \hat z_i + \frac12\rfloor / 10` (COCO rounds half up and tests
  :math:`|\hat z_i|`); :math:`z = R\tilde z`;
  :math:`f = 0.1 \max(10^{-4}|\hat z_0|, \sum_i 10^{2i/(d-1)} z_i^2) + f_\text{pen}(x) +
  f_\text{opt}`. Kernels keep :math:`\tilde z` in scratch (``scratch=True``).
* f8 Rosenbrock (original): :math:`z = \max(1, \sqrt d/8)\,(x - x_\text{opt}) + 1` with
  :math:`x_\text{opt}` = 0.75 × COCO's random x_opt;
  :math:`f = \sum_{i<d-1} 100 (z_i^2 - z_{i+1})^2 + (z_i - 1)^2 + f_\text{opt}`.
* f9 Rosenbrock (rotated): :math:`z = \max(1, \sqrt d/8)\,R x + \frac12` (R from the seed
  itself), f as f8; ``x_star`` is COCO's :math:`R^\top \mathbf 1 / (2\max(1, \sqrt d/8))`, where
  f equals fopt to rounding (≈ 10⁻³⁰ above it).

Gradients and HVPs are analytic and O(d²) (rotations applied row by row, :mod:`.matrix`):
f6's s is C¹ (its weights jump where :math:`z_i = 0`, where :math:`w_i z_i` vanishes) and
its gradient tends to 0 at the optimum, so f6 is ``smooth``; its Hessian jumps across the
sector boundaries (the HVP takes the branch of the value) and is unbounded at the optimum
(HVP 0 there, gradient 0). f7 is piecewise constant: see its ``gradient_note``. f8 and f9 are
smooth with the Rosenbrock Hessian (tridiagonal in z).

Source: Hansen, Finck, Ros & Auger, *Real-Parameter Black-Box Optimization Benchmarking
2009: Noiseless Functions Definitions*, INRIA RR-6829 (2009); COCO's
``f_attractive_sector.c``, ``f_step_ellipsoid.c``, ``f_rosenbrock.c``,
``transform_obj_oscillate.c``, ``transform_obj_power.c``.
"""
from __future__ import annotations

import math

import numpy as np

from optbench.kernels.compile import kernel

from . import coco_random as CR
from .common import XOPT, BbobFunction, base_arrays, define
from .matrix import (ROTATION_MAX_DIM, fill, rlq, rotation, row, row_data, scatter_row,
                     shifted_row)
from .transforms import penalty_fg, penalty_hvp, penalty_value, t_osz


# ---------------------------------------------------------------- f6 attractive sector
def _sector_setup(dim, instance):
    seed = CR.instance_seed(6, instance)
    return base_arrays(6, instance, dim, CR.compute_xopt(seed, dim),
                       CR.compute_fopt(6, instance), extra=[rlq(seed, dim)])


def sector_value(x, data, idata):
    d = x.shape[0]
    m = XOPT + d
    s = 0.0
    for i in range(d):
        z = shifted_row(data, m, i, x, d)
        if data[XOPT + i] * z > 0.0:
            s += 100.0 * 100.0 * z * z
        else:
            s += z * z
    if s != 0.0:
        s = t_osz(s)[0]
    return math.pow(s, 0.9) + data[0]


def sector_fg(x, g, data, idata, seed, step):
    d = x.shape[0]
    m = XOPT + d
    fill(g, 0.0)
    s = 0.0
    for i in range(d):
        z = shifted_row(data, m, i, x, d)
        if data[XOPT + i] * z > 0.0:
            s += 100.0 * 100.0 * z * z
            scatter_row(data, m, i, 2.0e4 * z, g, d)
        else:
            s += z * z
            scatter_row(data, m, i, 2.0 * z, g, d)
    if s == 0.0:
        fill(g, 0.0)
        return math.pow(s, 0.9) + data[0]
    t, dt, d2t = t_osz(s)
    c = 0.9 * math.pow(t, -0.1) * dt          # d(T_osz(s)^0.9)/ds
    for j in range(d):
        g[j] *= c
    return math.pow(t, 0.9) + data[0]


def sector_hvp(x, v, out, data, idata):
    d = x.shape[0]
    m = XOPT + d
    s = 0.0
    a = 0.0                                   # (∇_z s) · (M v)
    for i in range(d):
        z = shifted_row(data, m, i, x, d)
        u = row(data, m, i, v, d)
        w = 1.0e4 if data[XOPT + i] * z > 0.0 else 1.0
        s += w * z * z
        a += 2.0 * w * z * u
    fill(out, 0.0)
    if s == 0.0:
        return
    t, dt, d2t = t_osz(s)
    p1 = 0.9 * math.pow(t, -0.1) * dt
    p2 = 0.9 * (math.pow(t, -0.1) * d2t - 0.1 * math.pow(t, -1.1) * dt * dt)
    for i in range(d):
        z = shifted_row(data, m, i, x, d)
        u = row(data, m, i, v, d)
        w = 1.0e4 if data[XOPT + i] * z > 0.0 else 1.0
        scatter_row(data, m, i, p2 * a * 2.0 * w * z + p1 * 2.0 * w * u, out, d)


define(BbobFunction(6, "Attractive sector", sector_fg, sector_value, sector_hvp, _sector_setup,
                    smooth=True, max_dim=ROTATION_MAX_DIM))


# ---------------------------------------------------------------- f7 step ellipsoid
def _step_setup(dim, instance):
    seed = CR.instance_seed(7, instance)
    c1 = np.array([math.sqrt(math.pow(100.0 / 10.0, float(i) / float(dim - 1)))
                   for i in range(dim)])
    Q = rotation(seed, dim) * c1[:, None]           # COCO: c1 * rot2[i][j], then * y_j
    w = np.array([math.pow(100.0, float(i) / (dim - 1.0)) for i in range(dim)])
    return base_arrays(7, instance, dim, CR.compute_xopt(seed, dim), CR.compute_fopt(7, instance),
                       extra=[Q, rotation(seed + 1000000, dim), w, np.zeros(dim)])


@kernel
def _step_core(x, data, d):
    """(value without the penalty and fopt, ẑ_0, which term the max took: 1 for 10⁻⁴|ẑ_0|)."""
    q = XOPT + d
    r = q + d * d
    w = r + d * d
    sc = w + d
    for i in range(d):
        z = shifted_row(data, q, i, x, d)
        if i == 0:
            z0 = z
        if abs(z) > 0.5:
            data[sc + i] = math.floor(z + 0.5)
        else:
            data[sc + i] = math.floor(10.0 * z + 0.5) / 10.0
    s = 0.0
    for i in range(d):
        zz = row_data(data, r, i, sc, d)
        s += data[w + i] * zz * zz
    lin = abs(z0) * 1.0e-4
    if lin >= s:
        return 0.1 * lin, z0, 1
    return 0.1 * s, z0, 0


def step_value(x, data, idata):
    d = x.shape[0]
    pen = penalty_value(x) * 1.0
    core, z0, lin = _step_core(x, data, d)
    return core + pen + data[0]


def step_fg(x, g, data, idata, seed, step):
    d = x.shape[0]
    core, z0, lin = _step_core(x, data, d)
    fill(g, 0.0)
    if lin == 1 and z0 != 0.0:
        scatter_row(data, XOPT + d, 0, 1.0e-5 if z0 > 0.0 else -1.0e-5, g, d)
    pen = penalty_fg(x, g, 1.0)
    return core + pen + data[0]


def step_hvp(x, v, out, data, idata):
    fill(out, 0.0)
    penalty_hvp(x, v, out, 1.0)


define(BbobFunction(
    7, "Step ellipsoid", step_fg, step_value, step_hvp, _step_setup, smooth=False, scratch=True,
    max_dim=ROTATION_MAX_DIM,
    gradient_note="the rounded ellipsoid is piecewise constant: FG returns 0 for it (its "
                  "gradient a.e.; also on the plateau edges, where f jumps); where the max "
                  "takes 10⁻⁴ |ẑ_0| (near x_opt) FG returns that term's gradient (0 at "
                  "ẑ_0 = 0); plus the boundary penalty's gradient; the HVP is the penalty's"))


# ---------------------------------------------------------------- f8 / f9 Rosenbrock
def _rosen_factor(dim):
    return max(1.0, math.sqrt(float(dim)) / 8.0)


def _rosen_setup(dim, instance):
    seed = CR.instance_seed(8, instance)
    xopt = CR.compute_xopt(seed, dim) * 0.75
    return base_arrays(8, instance, dim, xopt, CR.compute_fopt(8, instance),
                       extra=[np.array([_rosen_factor(dim)])])


@kernel
def rosen_dz(zp, z, zn, i, d):
    """∂/∂z_i of Σ_{k<d-1} 100 (z_k² − z_{k+1})² + (z_k − 1)², from z_{i−1}, z_i, z_{i+1}."""
    g = 0.0
    if i < d - 1:
        g += 400.0 * z * (z * z - zn) + 2.0 * (z - 1.0)
    if i > 0:
        g -= 200.0 * (zp * zp - z)
    return g


@kernel
def rosen_hz(zp, z, zn, up, u, un, i, d):
    """Row i of that sum's Hessian (tridiagonal) times u (u_{i−1}, u_i, u_{i+1})."""
    h = 0.0
    if i < d - 1:
        h += (1200.0 * z * z - 400.0 * zn + 2.0) * u - 400.0 * z * un
    if i > 0:
        h += 200.0 * u - 400.0 * zp * up
    return h


@kernel
def _rosen_z(x, data, i, d):
    """f8's z_i = factor·(x_i − x_opt,i) − (−1), in COCO's order."""
    return data[XOPT + d] * (x[i] - data[XOPT + i]) - (-1.0)


def rosen_value(x, data, idata):
    d = x.shape[0]
    s1 = 0.0
    s2 = 0.0
    for i in range(d - 1):
        z = _rosen_z(x, data, i, d)
        t = z * z - _rosen_z(x, data, i + 1, d)
        s1 += t * t
        t = z - 1.0
        s2 += t * t
    return 100.0 * s1 + s2 + data[0]


def rosen_fg(x, g, data, idata, seed, step):
    d = x.shape[0]
    c = data[XOPT + d]
    s1 = 0.0
    s2 = 0.0
    zp = 0.0
    z = _rosen_z(x, data, 0, d)
    for i in range(d):
        zn = _rosen_z(x, data, i + 1, d) if i + 1 < d else 0.0
        g[i] = c * rosen_dz(zp, z, zn, i, d)
        if i < d - 1:
            t = z * z - zn
            s1 += t * t
            t = z - 1.0
            s2 += t * t
        zp = z
        z = zn
    return 100.0 * s1 + s2 + data[0]


def rosen_hvp(x, v, out, data, idata):
    d = x.shape[0]
    c = data[XOPT + d]
    for i in range(d):
        zp = _rosen_z(x, data, i - 1, d) if i > 0 else 0.0
        up = v[i - 1] if i > 0 else 0.0
        zn = _rosen_z(x, data, i + 1, d) if i + 1 < d else 0.0
        un = v[i + 1] if i + 1 < d else 0.0
        out[i] = c * c * rosen_hz(zp, _rosen_z(x, data, i, d), zn, up, v[i], un, i, d)


define(BbobFunction(8, "Rosenbrock original", rosen_fg, rosen_value, rosen_hvp, _rosen_setup,
                    smooth=True))


def _rosen_rot_setup(dim, instance):
    seed = CR.instance_seed(9, instance)
    R = rotation(seed, dim)
    c = _rosen_factor(dim)
    xopt = np.array([sum(R[r, col] for r in range(dim)) for col in range(dim)]) / (2.0 * c)
    return base_arrays(9, instance, dim, xopt, CR.compute_fopt(9, instance), extra=[c * R])


@kernel
def _rot_z(x, data, i, d):
    """f9's z_i = 0.5 + Σ_j x_j M_ij (COCO's affine map with b = 0.5)."""
    s = 0.5
    r = XOPT + d + i * d
    for j in range(d):
        s += x[j] * data[r + j]
    return s


def rosen_rot_value(x, data, idata):
    d = x.shape[0]
    s1 = 0.0
    s2 = 0.0
    zn = _rot_z(x, data, 0, d)
    for i in range(d - 1):
        z = zn
        zn = _rot_z(x, data, i + 1, d)
        t = z * z - zn
        s1 += t * t
        t = z - 1.0
        s2 += t * t
    return 100.0 * s1 + s2 + data[0]


def rosen_rot_fg(x, g, data, idata, seed, step):
    d = x.shape[0]
    m = XOPT + d
    fill(g, 0.0)
    s1 = 0.0
    s2 = 0.0
    zp = 0.0
    z = _rot_z(x, data, 0, d)
    for i in range(d):
        zn = _rot_z(x, data, i + 1, d) if i + 1 < d else 0.0
        scatter_row(data, m, i, rosen_dz(zp, z, zn, i, d), g, d)
        if i < d - 1:
            t = z * z - zn
            s1 += t * t
            t = z - 1.0
            s2 += t * t
        zp = z
        z = zn
    return 100.0 * s1 + s2 + data[0]


def rosen_rot_hvp(x, v, out, data, idata):
    d = x.shape[0]
    m = XOPT + d
    fill(out, 0.0)
    zp = 0.0
    up = 0.0
    z = _rot_z(x, data, 0, d)
    u = row(data, m, 0, v, d)
    for i in range(d):
        zn = 0.0
        un = 0.0
        if i + 1 < d:
            zn = _rot_z(x, data, i + 1, d)
            un = row(data, m, i + 1, v, d)
        scatter_row(data, m, i, rosen_hz(zp, z, zn, up, u, un, i, d), out, d)
        zp = z
        up = u
        z = zn
        u = un


define(BbobFunction(9, "Rosenbrock rotated", rosen_rot_fg, rosen_rot_value, rosen_rot_hvp,
                    _rosen_rot_setup, smooth=True, max_dim=ROTATION_MAX_DIM))
