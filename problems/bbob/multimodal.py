r"""bbob f15–f19, the multimodal functions with adequate global structure (COCO's code).

:math:`u = R(x - x_\text{opt})`, i = 0 … d−1; R and Q are COCO's rotations from the instance
seed + 10⁶ and the seed; :math:`\Lambda^\alpha`, :math:`T_\text{osz}`, :math:`T_\text{asy}^\beta`
and :math:`f_\text{pen}(x) = \sum_i \max(0, |x_i| - 5)^2` as in :mod:`.transforms`.

* f15 Rastrigin (rotated): :math:`z = R\Lambda^{10}Q\,T_\text{asy}^{0.2}(T_\text{osz}(u))`,
  :math:`f = 10\,(d - \sum_i \cos 2\pi z_i) + \|z\|^2 + f_\text{opt}`.
* f16 Weierstrass: :math:`z = R\Lambda^{1/100}Q\,T_\text{osz}(u)`,
  :math:`f = 10\,\bigl(\frac1d \sum_i \sum_{k=0}^{11} 2^{-k}\cos(2\pi 3^k(z_i + \frac12))
  - f_0\bigr)^3 + \frac{10}{d} f_\text{pen}(x) + f_\text{opt}`,
  :math:`f_0 = \sum_k 2^{-k}\cos(\pi 3^k)`. Its minimum is not unique (COCO: "non unique best
  value"); ``x_star`` = x_opt is one minimiser.
* f17 / f18 Schaffers F7, condition 10 / 1000:
  :math:`z = \Lambda^{10\,|\,1000} Q\,T_\text{asy}^{0.5}(u)`, :math:`s_i = z_i^2 + z_{i+1}^2`,
  :math:`f = \bigl(\frac{1}{d-1}\sum_{i<d-1} s_i^{1/4}(1 + \sin^2(50 s_i^{1/10}))\bigr)^2 +
  10 f_\text{pen}(x) + f_\text{opt}`. f18 takes f17's seed (x_opt, R, Q and f_opt equal f17's;
  COCO's ``rseed_17``).
* f19 Composite Griewank-Rosenbrock F8F2: :math:`z = \max(1, \sqrt d/8)\,R x + \frac12` (R
  from the seed itself), :math:`s_i = 100(z_i^2 - z_{i+1})^2 + (z_i - 1)^2`,
  :math:`f = 10 + \frac{10}{d-1}\sum_{i<d-1}(s_i/4000 - \cos s_i) + f_\text{opt}`.
  ``x_star`` = :math:`R^\top\mathbf 1/(2\max(1,\sqrt d/8))` (z = 1), COCO's best parameter
  for every d it defines (d ≤ 44: the factor is 1).

COCO's evaluation order is kept: the transforms compose as COCO's wrappers do, f_opt is added
before the penalty, and the products :math:`R\Lambda Q` (f15, f16) and :math:`\Lambda Q` (f17,
f18) are single matrices accumulated as COCO accumulates them (values equal ``cocoex``'s bit
for bit at the tests' points). These five follow the 2009 document; COCO's f19 sets its best
parameter to :math:`R^\top\mathbf 1/2`, the optimum only while the factor is 1 (d ≤ 64; the
rotation limits d to 44 anyway).

Kernels. f15–f18 apply a coordinate-wise nonlinearity between two matrices, so their kernels
keep vectors in scratch at the end of ``data`` (``scratch=True``: 5d doubles): y = T(u) and
T'(u), z = M y, then :math:`g = R^\top(T'(u) \odot M^\top \nabla h(z))` + the penalty's
gradient. HVPs are exact and O(d²): :math:`R^\top[T' \odot M^\top H_z M (T' \odot Rv) +
(M^\top\nabla h) \odot T'' \odot Rv]` (+ the penalty's diagonal). f19 needs no scratch (z
computed row by row, the tridiagonal coupling kept in a rolling window). Non-differentiable
points and what FG returns there: each function's ``gradient_note``.

Source: N. Hansen, S. Finck, R. Ros, A. Auger, *Real-Parameter Black-Box Optimization
Benchmarking 2009: Noiseless Functions Definitions*, INRIA RR-6829 (2009); COCO's
``f_rastrigin.c``, ``f_weierstrass.c``, ``f_schaffers.c``, ``f_griewank_rosenbrock.c``,
``suite_bbob.c``.
"""
from __future__ import annotations

import math

import numpy as np

from optbench.kernels.compile import kernel

from . import coco_random as CR
from .common import XOPT, BbobFunction, base_arrays, define
from .matrix import (ROTATION_MAX_DIM, data_scatter, fill, rlq, rotation, row, row_data,
                     scatter_row, shifted_row)
from .transforms import penalty_fg, penalty_hvp, penalty_value, t_asy, t_osz

TWO_PI = 2.0 * math.pi
W_F0 = 0.0                                 # Weierstrass f0, summed as COCO sums it
for _k in range(12):
    W_F0 += math.pow(0.5, _k) * math.cos(2.0 * math.pi * math.pow(3.0, _k) * 0.5)


# ---------------------------------------------------------------- shared row kernels
# ---------------------------------------------------------------- f15–f18: h(M T(R(x - xopt)))
@kernel
def inner(u, i, d, fn):
    """The coordinate-wise transform of f15–f18 and its first two derivatives."""
    if fn == 15:
        y1, a1, b1 = t_osz(u)
        y, a2, b2 = t_asy(y1, 0.2, i, d)
        return y, a2 * a1, b2 * a1 * a1 + a2 * b1
    if fn == 16:
        return t_osz(u)
    return t_asy(u, 0.5, i, d)


@kernel
def schaffers_pair(a, b):
    """One Schaffers term at (z_i, z_{i+1}): (t, t'(s), s t''(s)) with s = a² + b²."""
    s = a * a + b * b
    th = 50.0 * math.pow(s, 0.1)
    sn = math.sin(th)
    t = math.pow(s, 0.25) * (1.0 + math.pow(sn, 2.0))
    if s == 0.0:
        return t, 0.0, 0.0
    s2 = math.sin(2.0 * th)
    c2 = math.cos(2.0 * th)
    tp = 0.25 * math.pow(s, -0.75) * (1.0 + sn * sn) + 5.0 * math.pow(s, -0.65) * s2
    ts2 = (-0.1875 * math.pow(s, -0.75) * (1.0 + sn * sn) - 2.0 * math.pow(s, -0.65) * s2
           + 50.0 * math.pow(s, -0.55) * c2)
    return t, tp, ts2


@kernel
def outer(data, zo, gz, go, d, fn, grad):
    """h(z) for z at ``data[zo]``; with ``grad``, ∇h(z) into ``gz[go:go + d]``."""
    if fn == 15:
        s1 = 0.0
        s2 = 0.0
        for i in range(d):
            z = data[zo + i]
            s1 += math.cos(TWO_PI * z)
            s2 += z * z
            if grad:
                gz[go + i] = 2.0 * z + 10.0 * TWO_PI * math.sin(TWO_PI * z)
        if math.isinf(s2):
            return s2
        return 10.0 * (d - s1) + s2
    if fn == 16:
        s = 0.0
        for i in range(d):
            zh = data[zo + i] + 0.5
            ak = 1.0
            bk = 1.0
            di = 0.0
            for k in range(12):
                arg = TWO_PI * zh * bk
                s += math.cos(arg) * ak
                if grad:
                    di -= ak * TWO_PI * bk * math.sin(arg)
                ak *= 0.5
                bk *= 3.0
            if grad:
                gz[go + i] = di
        w = s / d - W_F0
        if grad:
            c = 30.0 * w * w / d
            for i in range(d):
                gz[go + i] *= c
        return 10.0 * math.pow(w, 3.0)
    if grad:
        for i in range(d):
            gz[go + i] = 0.0
    s = 0.0
    for i in range(d - 1):
        a = data[zo + i]
        b = data[zo + i + 1]
        if math.isinf(a * a + b * b):
            return math.inf
        t, tp, _ = schaffers_pair(a, b)
        s += t
        if grad:
            gz[go + i] += 2.0 * a * tp
            gz[go + i + 1] += 2.0 * b * tp
    F = s / (d - 1.0)
    if grad:
        for i in range(d):
            gz[go + i] *= 2.0 * F / (d - 1.0)
    return math.pow(F, 2.0)


@kernel
def outer_hv(data, zo, m, go, ho, d, fn):
    """∇h(z) into ``data[go:go+d]`` and H_z(z)·m into ``data[ho:ho+d]``."""
    if fn == 15:
        for i in range(d):
            z = data[zo + i]
            data[go + i] = 2.0 * z + 10.0 * TWO_PI * math.sin(TWO_PI * z)
            data[ho + i] = (2.0 + 10.0 * TWO_PI * TWO_PI * math.cos(TWO_PI * z)) * m[i]
        return
    if fn == 16:
        s = 0.0
        dot = 0.0
        for i in range(d):
            zh = data[zo + i] + 0.5
            ak = 1.0
            bk = 1.0
            d1 = 0.0
            d2 = 0.0
            for k in range(12):
                arg = TWO_PI * zh * bk
                s += math.cos(arg) * ak
                d1 -= ak * TWO_PI * bk * math.sin(arg)
                d2 -= ak * (TWO_PI * bk) ** 2 * math.cos(arg)
                ak *= 0.5
                bk *= 3.0
            data[go + i] = d1
            data[ho + i] = d2 * m[i]
            dot += d1 * m[i]
        w = s / d - W_F0
        for i in range(d):
            data[ho + i] = (60.0 * w / (d * d) * dot * data[go + i]
                            + 30.0 * w * w / d * data[ho + i])
            data[go + i] *= 30.0 * w * w / d
        return
    for i in range(d):
        data[go + i] = 0.0
        data[ho + i] = 0.0
    s = 0.0
    for i in range(d - 1):
        a = data[zo + i]
        b = data[zo + i + 1]
        t, tp, ts2 = schaffers_pair(a, b)
        s += t
        data[go + i] += 2.0 * a * tp
        data[go + i + 1] += 2.0 * b * tp
        q = 0.0
        if a * a + b * b > 0.0:
            q = (a * m[i] + b * m[i + 1]) * 4.0 * ts2 / (a * a + b * b)
        data[ho + i] += q * a + 2.0 * tp * m[i]
        data[ho + i + 1] += q * b + 2.0 * tp * m[i + 1]
    dot = 0.0
    for i in range(d):
        dot += data[go + i] * m[i]
    c = 2.0 / ((d - 1.0) * (d - 1.0))
    for i in range(d):
        data[ho + i] = c * (data[go + i] * dot + s * data[ho + i])
        data[go + i] *= c * s


@kernel
def pen_factor(fn, d):
    if fn == 15:
        return 0.0
    if fn == 16:
        return 10.0 / d
    return 10.0


@kernel
def chain_y(x, data, d, fn, yo, dyo):
    """y = T(R(x − xopt)) into ``data[yo]`` and T' into ``data[dyo]`` (when dyo ≥ 0)."""
    for i in range(d):
        y, dy, _ = inner(shifted_row(data, XOPT + d, i, x, d), i, d, fn)
        data[yo + i] = y
        if dyo >= 0:
            data[dyo + i] = dy


def chain_value(x, data, idata):
    d = x.shape[0]
    fn = idata[1]
    mo = XOPT + d + d * d
    s0 = mo + d * d
    chain_y(x, data, d, fn, s0, -1)
    for i in range(d):
        data[s0 + d + i] = row_data(data, mo, i, s0, d)
    f = outer(data, s0 + d, x, 0, d, fn, False) + data[0]
    if fn != 15:
        f += pen_factor(fn, d) * penalty_value(x)
    return f


def chain_fg(x, g, data, idata, seed, step):
    d = x.shape[0]
    fn = idata[1]
    ro = XOPT + d
    mo = ro + d * d
    s0 = mo + d * d                      # y, then Mᵀ∇h ⊙ T'
    s1 = s0 + d                          # T'(u)
    s2 = s1 + d                          # z
    chain_y(x, data, d, fn, s0, s1)
    for i in range(d):
        data[s2 + i] = row_data(data, mo, i, s0, d)
    f = outer(data, s2, g, 0, d, fn, True) + data[0]
    for j in range(d):
        data[s0 + j] = 0.0
    for i in range(d):
        data_scatter(data, mo, i, g[i], s0, d)
    fill(g, 0.0)
    for i in range(d):
        scatter_row(data, ro, i, data[s0 + i] * data[s1 + i], g, d)
    if fn != 15:
        c = pen_factor(fn, d)
        f += c * penalty_fg(x, g, c)
    return f


def chain_hvp(x, v, out, data, idata):
    d = x.shape[0]
    fn = idata[1]
    ro = XOPT + d
    mo = ro + d * d
    s0 = mo + d * d
    s1, s2, s3, s4 = s0 + d, s0 + 2 * d, s0 + 3 * d, s0 + 4 * d
    for i in range(d):                   # s0 = y, s1 = T' Rv, s2 = T'' Rv, s3 = T'
        y, dy, d2y = inner(shifted_row(data, ro, i, x, d), i, d, fn)
        w = row(data, ro, i, v, d)
        data[s0 + i] = y
        data[s1 + i] = dy * w
        data[s2 + i] = d2y * w
        data[s3 + i] = dy
    for i in range(d):                   # s4 = z, out = M (T' Rv)
        data[s4 + i] = row_data(data, mo, i, s0, d)
        out[i] = row_data(data, mo, i, s1, d)
    outer_hv(data, s4, out, s0, s1, d, fn)   # s0 = ∇h, s1 = H_z M T' Rv
    fill(out, 0.0)
    for j in range(d):
        data[s4 + j] = 0.0
    for i in range(d):                   # out = Mᵀ H_z M T' Rv, s4 = Mᵀ ∇h
        scatter_row(data, mo, i, data[s1 + i], out, d)
        data_scatter(data, mo, i, data[s0 + i], s4, d)
    for i in range(d):
        data[s0 + i] = data[s3 + i] * out[i] + data[s4 + i] * data[s2 + i]
    fill(out, 0.0)
    for i in range(d):
        scatter_row(data, ro, i, data[s0 + i], out, d)
    if fn != 15:
        penalty_hvp(x, v, out, pen_factor(fn, d))


def _chain_setup(number):
    def setup(dim, instance):
        seed = CR.instance_seed(17 if number == 18 else number, instance)
        R = rotation(seed + 1000000, dim)
        if number in (15, 16):
            M = rlq(seed, dim, math.sqrt(10.0) if number == 15 else 1.0 / math.sqrt(100.0))
        else:
            cond = 10.0 if number == 17 else 1000.0
            lam = [math.pow(math.sqrt(cond), 1.0 * i / (dim - 1.0)) for i in range(dim)]
            M = rotation(seed, dim) * np.array(lam)[:, None]
        return base_arrays(number, instance, dim, CR.compute_xopt(seed, dim),
                           CR.compute_fopt(number, instance),
                           extra=[R, M, np.zeros(5 * dim)])
    return setup


_T_OSZ_NOTE = ("T_osz has no derivative where a coordinate of u = R(x − xopt) is 0 (its "
               "difference quotient oscillates): FG uses T_osz'(0) = 1 there")
define(BbobFunction(
    15, "Rastrigin (rotated)", chain_fg, chain_value, chain_hvp, _chain_setup(15),
    smooth=False, scratch=True, max_dim=ROTATION_MAX_DIM,
    gradient_note=_T_OSZ_NOTE + " (and T_osz''(0) = 0 in the HVP)."))
define(BbobFunction(
    16, "Weierstrass", chain_fg, chain_value, chain_hvp, _chain_setup(16),
    smooth=False, scratch=True, max_dim=ROTATION_MAX_DIM,
    gradient_note=_T_OSZ_NOTE + " (and T_osz''(0) = 0 in the HVP); the 12-term sum is smooth."))
_SCHAFFERS_NOTE = ("each term s^(1/4)(1 + sin²(50 s^(1/10))), s = z_i² + z_(i+1)², has an "
                   "unbounded gradient as s → 0 (f is not differentiable where two "
                   "consecutive z vanish, the optimum included): FG and HVP take that term's "
                   "gradient and Hessian as 0 where s = 0 exactly.")
define(BbobFunction(
    17, "Schaffers F7", chain_fg, chain_value, chain_hvp, _chain_setup(17),
    smooth=False, scratch=True, max_dim=ROTATION_MAX_DIM, gradient_note=_SCHAFFERS_NOTE))
define(BbobFunction(
    18, "Schaffers F7, moderately ill-conditioned", chain_fg, chain_value, chain_hvp,
    _chain_setup(18), smooth=False, scratch=True, max_dim=ROTATION_MAX_DIM,
    gradient_note=_SCHAFFERS_NOTE))


# ---------------------------------------------------------------- f19 Griewank-Rosenbrock
@kernel
def gr_pair(a, b):
    """s, ∂s/∂a, ∂s/∂b of s = 100(a² − b)² + (1 − a)²."""
    c1 = a * a - b
    c2 = 1.0 - a
    return 100.0 * c1 * c1 + c2 * c2, 400.0 * a * c1 - 2.0 * c2, -200.0 * c1


def gr_value(x, data, idata):
    d = x.shape[0]
    mo = XOPT + d
    za = row(data, mo, 0, x, d) + 0.5
    acc = 0.0
    for i in range(d - 1):
        zb = row(data, mo, i + 1, x, d) + 0.5
        s = gr_pair(za, zb)[0]
        acc += s / 4000.0 - math.cos(s)
        za = zb
    return 10.0 + 10.0 * acc / (d - 1.0) + data[0]


def gr_fg(x, g, data, idata, seed, step):
    d = x.shape[0]
    mo = XOPT + d
    c = 10.0 / (d - 1.0)
    fill(g, 0.0)
    za = row(data, mo, 0, x, d) + 0.5
    acc = 0.0
    carry = 0.0                          # ∂/∂z_i from the pair (i − 1, i)
    for i in range(d - 1):
        zb = row(data, mo, i + 1, x, d) + 0.5
        s, sa, sb = gr_pair(za, zb)
        acc += s / 4000.0 - math.cos(s)
        hp = c * (1.0 / 4000.0 + math.sin(s))
        scatter_row(data, mo, i, carry + hp * sa, g, d)
        carry = hp * sb
        za = zb
    scatter_row(data, mo, d - 1, carry, g, d)
    return 10.0 + 10.0 * acc / (d - 1.0) + data[0]


def gr_hvp(x, v, out, data, idata):
    d = x.shape[0]
    mo = XOPT + d
    c = 10.0 / (d - 1.0)
    fill(out, 0.0)
    za = row(data, mo, 0, x, d) + 0.5
    ua = row(data, mo, 0, v, d)
    carry = 0.0
    for i in range(d - 1):
        zb = row(data, mo, i + 1, x, d) + 0.5
        ub = row(data, mo, i + 1, v, d)
        s, sa, sb = gr_pair(za, zb)
        hp = c * (1.0 / 4000.0 + math.sin(s))
        hpp = c * math.cos(s) * (sa * ua + sb * ub)
        haa = 400.0 * (3.0 * za * za - zb) + 2.0
        hab = -400.0 * za
        scatter_row(data, mo, i, carry + hpp * sa + hp * (haa * ua + hab * ub), out, d)
        carry = hpp * sb + hp * (hab * ua + 200.0 * ub)
        za, ua = zb, ub
    scatter_row(data, mo, d - 1, carry, out, d)


def _gr_setup(dim, instance):
    seed = CR.instance_seed(19, instance)
    scale = max(1.0, math.sqrt(dim) / 8.0)
    M = rotation(seed, dim) * scale
    xopt = np.zeros(dim)
    for i in range(dim):                 # COCO's sum order; = Rᵀ1/2 (scale is 1 for d ≤ 44)
        xopt += M[i, :]
    xopt /= 2.0 * scale * scale
    return base_arrays(19, instance, dim, xopt, CR.compute_fopt(19, instance), extra=[M])


define(BbobFunction(19, "Composite Griewank-Rosenbrock F8F2", gr_fg, gr_value, gr_hvp,
                    _gr_setup, smooth=True, max_dim=ROTATION_MAX_DIM))
