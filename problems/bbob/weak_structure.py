r"""bbob f20–f24, the multimodal functions with weak global structure (COCO's code).

i = 0 … d−1; R and Q are COCO's rotations from the instance seed + 10⁶ and the seed;
:math:`\Lambda^\alpha`, :math:`T_\text{osz}` and
:math:`f_\text{pen}(x) = \sum_i \max(0, |x_i| - 5)^2` as in :mod:`.transforms`.

* f20 Schwefel :math:`x \sin\sqrt{|x|}`: :math:`x_\text{opt} = \pm 4.2096874637/2` (signs
  :math:`\sigma_i` from ``unif(d, seed)``), :math:`\hat x = 2\sigma \odot x`,
  :math:`\hat z_0 = \hat x_0`, :math:`\hat z_i = \hat x_i + \frac14(\hat x_{i-1} -
  2|x_{\text{opt},i-1}|)`, :math:`z = 100\,(\Lambda^{10}(\hat z - 2|x_\text{opt}|) +
  2|x_\text{opt}|)`, :math:`f = 0.01\,\bigl(f_\text{pen}^{500}(z) + 418.9828872724339 -
  \frac1d\sum_i z_i \sin\sqrt{|z_i|}\bigr) + f_\text{opt}` with the penalty
  :math:`f_\text{pen}^{500}(z) = \sum_i \max(0, |z_i| - 500)^2` on z (the 2009 document's
  :math:`-\frac{1}{100 d}\sum + 4.189828872724339 + 100 f_\text{pen}(z/100)`, the same
  function; the document's x_opt constant 4.2096874633 is 4.2096874637 in COCO's code, which
  wins). f(x_opt) = f_opt to ~1e-15 relative (the 1-D optimum 420.968746359982… is rounded).
* f21 / f22 Gallagher's Gaussian 101-me / 21-hi peaks: :math:`y = Rx`,
  :math:`f = T_\text{osz}\bigl(10 - \max_k w_k \exp(-\frac{1}{2d}(y - y_k)^\top C_k (y -
  y_k))\bigr)^2 + f_\text{pen}(x) + f_\text{opt}` (n = 101 / 21 peaks): :math:`y_k = R u_k`
  with :math:`u_k` uniform in :math:`[-5, 5]^d` (101) or :math:`[-4.9, 4.9]^d` (21), the
  optimum :math:`x_\text{opt} = 0.8\,u_0` (peak 0 at :math:`R x_\text{opt}`);
  :math:`w_0 = 10`, :math:`w_k = 1.1 + 8\frac{k-1}{n-2}`; :math:`C_k` diagonal, its condition
  :math:`c_k` (peak 0: :math:`1000^{1/2}` for 101 peaks, 1000 for 21; the others
  :math:`1000^{\pi(k)/(n-2)}`, π a random permutation of 0 … n−2) raised to a random
  permutation of :math:`j/(d-1) - \frac12` (COCO's ``f_gallagher.c``; its ``qsort``s of
  uniforms are reproduced with a stable argsort; the penalty is added before f_opt, as COCO
  does).
* f23 Katsuura: :math:`z = R\Lambda^{100}Q(x - x_\text{opt})` (one matrix),
  :math:`f = \frac{10}{d^2}\bigl(\prod_i (1 + (i+1)\sum_{j=1}^{32}
  |2^j z_i - [2^j z_i]| 2^{-j})^{10/d^{1.2}} - 1\bigr) + f_\text{pen}(x) + f_\text{opt}`,
  [·] rounding half up (COCO's ``floor(v + 0.5)``).
* f24 Lunacek bi-Rastrigin: :math:`x_\text{opt} = \pm\mu_0/2` (signs of ``gauss(d, seed)``),
  :math:`\hat x = 2\,\mathrm{sign}(x_\text{opt}) \odot x`, :math:`\mu_0 = 2.5`,
  :math:`s = 1 - \frac{1}{2\sqrt{d+20} - 8.2}`, :math:`\mu_1 = -\sqrt{(\mu_0^2 - 1)/s}`,
  :math:`z = R(\Lambda^{100}Q(\hat x - \mu_0))` (two steps, as COCO computes it),
  :math:`f = \min(\sum(\hat x_i - \mu_0)^2, d + s\sum(\hat x_i - \mu_1)^2) + 10(d - \sum\cos
  2\pi z_i) + 10^4 f_\text{pen}(x) + f_\text{opt}`.

Kernels: f20 is O(d) (its linear map is bidiagonal); f23 computes z row by row (no scratch;
its 32-term sums twice, once for the product and once for the gradient); f21/f22 keep y = Rx
and one more vector in scratch, f24 COCO's intermediate ΛQ(x̂ − μ0) and two more
(``scratch=True``; one product R Λ Q instead moved f24's values by up to 1.6e-12 relative).
Every HVP is analytic and O(d²) (f20 O(d)); Katsuura's is the Hessian of the smooth piece
that contains x. What FG returns where f is not differentiable: each function's
``gradient_note``. No departures from the 2009 document beyond the ones noted.

Source: N. Hansen, S. Finck, R. Ros, A. Auger, *Real-Parameter Black-Box Optimization
Benchmarking 2009: Noiseless Functions Definitions*, INRIA RR-6829 (2009); COCO's
``f_schwefel.c``, ``f_gallagher.c``, ``f_katsuura.c``, ``f_lunacek_bi_rastrigin.c``,
``transform_vars_x_hat.c``, ``transform_vars_z_hat.c``.
"""
from __future__ import annotations

import math

import numpy as np

from optbench.kernels.compile import kernel

from . import coco_random as CR
from .common import XOPT, BbobFunction, base_arrays, define
from .matrix import (ROTATION_MAX_DIM, data_scatter, fill, rlq, rotation, row, row_data,
                     scatter_row, shifted_row)
from .multimodal import TWO_PI
from .transforms import penalty_fg, penalty_hvp, penalty_value, t_osz

SCHWEFEL_XOPT = 0.5 * 4.2096874637


# ---------------------------------------------------------------- f20 Schwefel
@kernel
def schwefel_z(x, data, i, d, yprev):
    """(ŷ_i = 2σ_i x_i, z_i) of f20; ``yprev`` is ŷ_{i−1}."""
    xo = data[XOPT + i]
    y = 2.0 * (x[i] if xo >= 0.0 else -x[i])
    zh = y
    if i > 0:
        zh = y + 0.25 * (yprev - 2.0 * abs(data[XOPT + i - 1]))
    a = 2.0 * abs(xo)
    return y, 100.0 * (data[XOPT + d + i] * (zh - a) - (-a))


@kernel
def schwefel_h(z):
    """(f-term, d/dz, d²/dz²) of max(0, |z| − 500)² and z sin√|z| (the latter's d² = 0 at
    z = 0, where it is unbounded)."""
    r = math.sqrt(abs(z))
    p = abs(z) - 500.0
    pen, dpen, d2pen = 0.0, 0.0, 0.0
    if p > 0.0:
        pen, dpen, d2pen = p * p, 2.0 * p * (1.0 if z > 0.0 else -1.0), 2.0
    d2 = 0.0
    if r > 0.0:
        d2 = (1.5 * math.cos(r) - 0.5 * r * math.sin(r)) / (2.0 * r) * (1.0 if z > 0.0 else -1.0)
    return pen, z * math.sin(r), dpen, math.sin(r) + 0.5 * r * math.cos(r), d2pen, d2


def schwefel_value(x, data, idata):
    d = x.shape[0]
    pen = 0.0
    s = 0.0
    y = 0.0
    for i in range(d):
        y, z = schwefel_z(x, data, i, d, y)
        p, t, _, _, _, _ = schwefel_h(z)
        pen += p
        s += t
    return 0.01 * (pen + 418.9828872724339 - s / d) + data[0]


def schwefel_fg(x, g, data, idata, seed, step):
    d = x.shape[0]
    pen = 0.0
    s = 0.0
    y = 0.0
    gprev = 0.0
    for i in range(d):
        y, z = schwefel_z(x, data, i, d, y)
        p, t, dp, dt, _, _ = schwefel_h(z)
        pen += p
        s += t
        gi = data[XOPT + d + i] * (dp - dt / d)         # 0.01 · 100 · λ_i · ∂h/∂z_i
        if i > 0:
            g[i - 1] = 2.0 * (gprev + 0.25 * gi) * (1.0 if data[XOPT + i - 1] >= 0.0 else -1.0)
        gprev = gi
    g[d - 1] = 2.0 * gprev * (1.0 if data[XOPT + d - 1] >= 0.0 else -1.0)
    return 0.01 * (pen + 418.9828872724339 - s / d) + data[0]


def schwefel_hvp(x, v, out, data, idata):
    d = x.shape[0]
    y = 0.0
    vprev = 0.0
    wprev = 0.0
    for i in range(d):
        y, z = schwefel_z(x, data, i, d, y)
        _, _, _, _, d2p, d2t = schwefel_h(z)
        sg = 1.0 if data[XOPT + i] >= 0.0 else -1.0
        vh = 2.0 * sg * v[i]                             # ŷ-direction
        lam = data[XOPT + d + i]
        w = 100.0 * lam * lam * (d2p - d2t / d) * (vh + 0.25 * vprev)
        if i > 0:
            out[i - 1] = 2.0 * (wprev + 0.25 * w) * (1.0 if data[XOPT + i - 1] >= 0.0 else -1.0)
        vprev = vh
        wprev = w
    out[d - 1] = 2.0 * wprev * (1.0 if data[XOPT + d - 1] >= 0.0 else -1.0)


def _schwefel_setup(dim, instance):
    seed = CR.instance_seed(20, instance)
    xopt = np.where(CR.unif(dim, seed) < 0.5, -1.0, 1.0) * SCHWEFEL_XOPT
    lam = [math.pow(10.0, 0.5 * i / (dim - 1.0)) for i in range(dim)]
    return base_arrays(20, instance, dim, xopt, CR.compute_fopt(20, instance), extra=[lam])


define(BbobFunction(
    20, "Schwefel x*sin(x)", schwefel_fg, schwefel_value, schwefel_hvp, _schwefel_setup,
    smooth=True,
    gradient_note=("C¹: z sin√|z| has the continuous derivative sin√|z| + ½√|z| cos√|z| "
                   "(0 at z = 0); its second derivative is unbounded as z_i → 0, where the HVP "
                   "takes that coordinate's curvature as 0 (z_i = 0 exactly).")))


# ---------------------------------------------------------------- f21, f22 Gallagher
@kernel
def gallagher_offsets(d, n):
    ro = XOPT + d
    wo = ro + d * d
    yo = wo + n
    co = yo + n * d
    return ro, wo, yo, co, co + n * d


@kernel
def gallagher_peak(x, data, idata):
    """y = Rx into scratch; (max_k w_k exp(−q_k/(2d)), k of the max, −1 if all are 0)."""
    d = idata[0]
    n = idata[2]
    ro, wo, yo, co, so = gallagher_offsets(d, n)
    for i in range(d):
        data[so + i] = row(data, ro, i, x, d)
    fac = -0.5 / d
    m = 0.0
    best = -1
    for k in range(n):
        q = 0.0
        for j in range(d):
            t = data[so + j] - data[yo + k * d + j]
            q += data[co + k * d + j] * t * t
        val = data[wo + k] * math.exp(fac * q)
        if val > m:
            m = val
            best = k
    return m, best


def gallagher_value(x, data, idata):
    pen = penalty_value(x)
    m, _ = gallagher_peak(x, data, idata)
    t = t_osz(10.0 - m)[0]
    return t * t + pen + data[0]


def gallagher_fg(x, g, data, idata, seed, step):
    d = x.shape[0]
    n = idata[2]
    ro, wo, yo, co, so = gallagher_offsets(d, n)
    m, k = gallagher_peak(x, data, idata)
    t, dt, _ = t_osz(10.0 - m)
    fill(g, 0.0)
    if k >= 0:
        c = 2.0 * t * dt * m / d                 # −2 T T' · m · (−1/(2d)) · 2
        for j in range(d):
            cj = c * data[co + k * d + j] * (data[so + j] - data[yo + k * d + j])
            scatter_row(data, ro, j, cj, g, d)
    pen = penalty_fg(x, g, 1.0)
    return t * t + pen + data[0]


def gallagher_hvp(x, v, out, data, idata):
    d = x.shape[0]
    n = idata[2]
    ro, wo, yo, co, so = gallagher_offsets(d, n)
    uo = so + d
    m, k = gallagher_peak(x, data, idata)
    fill(out, 0.0)
    if k >= 0:
        t, dt, d2t = t_osz(10.0 - m)
        fac = -0.5 / d
        p1 = -2.0 * t * dt                        # dφ/dm, φ(m) = T(10 − m)²
        p2 = 2.0 * (dt * dt + t * d2t)
        dot = 0.0
        for j in range(d):                        # u = Rv; e_j = 2 C_kj (y_j − y_kj)
            data[uo + j] = row(data, ro, j, v, d)
            e = 2.0 * data[co + k * d + j] * (data[so + j] - data[yo + k * d + j])
            dot += e * data[uo + j]
        a = fac * fac * m * (p2 * m + p1) * dot
        b = p1 * m * fac * 2.0
        for j in range(d):
            ck = data[co + k * d + j]
            w = a * 2.0 * ck * (data[so + j] - data[yo + k * d + j]) + b * ck * data[uo + j]
            scatter_row(data, ro, j, w, out, d)
    penalty_hvp(x, v, out, 1.0)


def _gallagher_setup(number):
    n = 101 if number == 21 else 21
    b, c, cond0 = (10.0, 5.0, math.sqrt(1000.0)) if n == 101 else (9.8, 4.9, 1000.0)

    def setup(dim, instance):
        seed = CR.instance_seed(number, instance)
        R = rotation(seed, dim)
        perm = np.argsort(CR.unif(n - 1, seed), kind="stable")
        cond = [cond0] + [math.pow(1000.0, perm[k - 1] / (n - 2.0)) for k in range(1, n)]
        w = [10.0] + [(k - 1.0) / (n - 2.0) * (9.1 - 1.1) + 1.1 for k in range(1, n)]
        C = np.empty((n, dim))
        for k in range(n):
            order = np.argsort(CR.unif(dim, seed + 1000 * k), kind="stable")
            C[k] = [math.pow(cond[k], order[j] / (dim - 1.0) - 0.5) for j in range(dim)]
        u = b * CR.unif(dim * n, seed) - c          # peak k's point: u[k*d:(k+1)*d]
        Y = np.zeros((dim, n))
        for j in range(dim):                        # COCO's order: Σ_j R[i, j] u_k[j]
            Y += np.outer(R[:, j], u[j::dim][:n])
        Y[:, 0] *= 0.8
        return base_arrays(number, instance, dim, 0.8 * u[:dim],
                           CR.compute_fopt(number, instance),
                           extra=[R, w, Y.T, C, np.zeros(2 * dim)], iextra=[n])
    return setup


_GALLAGHER_NOTE = ("f is the best peak's value: not differentiable where two peaks tie for "
                   "the max; FG returns the gradient of the first (lowest-numbered) of them, "
                   "and 0 (besides the penalty) where every peak underflows to 0.")
define(BbobFunction(21, "Gallagher's Gaussian 101-me peaks", gallagher_fg, gallagher_value,
                    gallagher_hvp, _gallagher_setup(21), smooth=False, scratch=True,
                    max_dim=ROTATION_MAX_DIM, gradient_note=_GALLAGHER_NOTE))
define(BbobFunction(22, "Gallagher's Gaussian 21-hi peaks", gallagher_fg, gallagher_value,
                    gallagher_hvp, _gallagher_setup(22), smooth=False, scratch=True,
                    max_dim=ROTATION_MAX_DIM, gradient_note=_GALLAGHER_NOTE))


# ---------------------------------------------------------------- f23 Katsuura
@kernel
def katsuura_term(z):
    """(Σ_{j=1}^{32} |2^j z − [2^j z]| / 2^j, its slope Σ_j sign(2^j z − [2^j z]))."""
    s = 0.0
    slope = 0.0
    p = 1.0
    for j in range(32):
        p *= 2.0
        r = p * z - math.floor(p * z + 0.5)
        s += abs(r) / p
        if r > 0.0:
            slope += 1.0
        elif r < 0.0:
            slope -= 1.0
    return s, slope


@kernel
def katsuura_rho(x, data, i, d):
    """(t_i = 1 + (i+1)·Σ, t_i'/t_i) of row i."""
    s, slope = katsuura_term(shifted_row(data, XOPT + d, i, x, d))
    t = 1.0 + (i + 1.0) * s
    return t, (i + 1.0) * slope / t


def katsuura_value(x, data, idata):
    d = x.shape[0]
    prod = 1.0
    for i in range(d):
        prod *= math.pow(katsuura_rho(x, data, i, d)[0], 10.0 / math.pow(d, 1.2))
    return 10.0 / d / d * (-1.0 + prod) + data[0] + penalty_value(x)


def katsuura_fg(x, g, data, idata, seed, step):
    d = x.shape[0]
    e = 10.0 / math.pow(d, 1.2)
    prod = 1.0
    for i in range(d):
        prod *= math.pow(katsuura_rho(x, data, i, d)[0], e)
    c = 10.0 / d / d * prod * e
    fill(g, 0.0)
    for i in range(d):
        scatter_row(data, XOPT + d, i, c * katsuura_rho(x, data, i, d)[1], g, d)
    f = 10.0 / d / d * (-1.0 + prod) + data[0]
    return f + penalty_fg(x, g, 1.0)


def katsuura_hvp(x, v, out, data, idata):
    d = x.shape[0]
    mo = XOPT + d
    e = 10.0 / math.pow(d, 1.2)
    prod = 1.0
    dot = 0.0
    for i in range(d):
        t, rho = katsuura_rho(x, data, i, d)
        prod *= math.pow(t, e)
        dot += rho * row(data, mo, i, v, d)
    c = 10.0 / d / d * prod * e
    fill(out, 0.0)
    for i in range(d):
        rho = katsuura_rho(x, data, i, d)[1]
        w = c * rho * (e * dot - rho * row(data, mo, i, v, d))
        scatter_row(data, mo, i, w, out, d)
    penalty_hvp(x, v, out, 1.0)


def _katsuura_setup(dim, instance):
    seed = CR.instance_seed(23, instance)
    return base_arrays(23, instance, dim, CR.compute_xopt(seed, dim),
                       CR.compute_fopt(23, instance), extra=[rlq(seed, dim, 10.0)])


define(BbobFunction(
    23, "Katsuura", katsuura_fg, katsuura_value, katsuura_hvp, _katsuura_setup, smooth=False,
    max_dim=ROTATION_MAX_DIM,
    gradient_note=("the 32-term sums are piecewise linear in each z_i with kinks at every "
                   "multiple of 2^-33 (≈ 1.2e-10): FG returns the gradient of the piece that "
                   "contains z (term j contributes sign(2^j z_i − [2^j z_i]), 0 on its kink), "
                   "the HVP that piece's Hessian (the product's curvature; the kinks' is not "
                   "represented). Finite differences with steps above ~1e-10 average over "
                   "kinks.")))


# ---------------------------------------------------------------- f24 Lunacek bi-Rastrigin
@kernel
def lunacek_branch(x, data, d):
    """(min of the two quadratics, sign of x̂ per x (read from xopt), 0 or 1 for the branch
    taken, μ1, s)."""
    s = 1.0 - 0.5 / (math.sqrt(d + 20.0) - 4.1)
    mu1 = -math.sqrt((2.5 * 2.5 - 1.0) / s)
    s1 = 0.0
    s2 = 0.0
    for i in range(d):
        xh = 2.0 * x[i]
        if data[XOPT + i] < 0.0:
            xh = -xh
        s1 += (xh - 2.5) * (xh - 2.5)
        s2 += (xh - mu1) * (xh - mu1)
    if s1 <= 1.0 * d + s * s2:
        return s1, 0, mu1, s
    return 1.0 * d + s * s2, 1, mu1, s


@kernel
def lunacek_xh(x, data, j):
    return -2.0 * x[j] if data[XOPT + j] < 0.0 else 2.0 * x[j]


@kernel
def lunacek_t(x, data, d, po, to):
    """COCO's intermediate vector ΛQ(x̂ − μ0) into scratch ``data[to]``."""
    for i in range(d):
        t = 0.0
        r = po + i * d
        for j in range(d):
            t += data[r + j] * (lunacek_xh(x, data, j) - 2.5)
        data[to + i] = t


def lunacek_value(x, data, idata):
    d = x.shape[0]
    ro = XOPT + d
    po = ro + d * d
    to = po + d * d
    q, _, _, _ = lunacek_branch(x, data, d)
    lunacek_t(x, data, d, po, to)
    s3 = 0.0
    for i in range(d):
        s3 += math.cos(TWO_PI * row_data(data, ro, i, to, d))
    return q + 10.0 * (d - s3) + 1e4 * penalty_value(x) + data[0]


def lunacek_fg(x, g, data, idata, seed, step):
    d = x.shape[0]
    ro = XOPT + d
    po = ro + d * d
    to = po + d * d
    ao = to + d
    q, br, mu1, s = lunacek_branch(x, data, d)
    lunacek_t(x, data, d, po, to)
    s3 = 0.0
    for j in range(d):
        data[ao + j] = 0.0
    for i in range(d):                      # Rᵀ (20π sin 2πz) into scratch
        z = row_data(data, ro, i, to, d)
        s3 += math.cos(TWO_PI * z)
        data_scatter(data, ro, i, 10.0 * TWO_PI * math.sin(TWO_PI * z), ao, d)
    fill(g, 0.0)
    for i in range(d):
        scatter_row(data, po, i, data[ao + i], g, d)
    for j in range(d):
        xh = lunacek_xh(x, data, j)
        gq = 2.0 * (xh - 2.5) if br == 0 else 2.0 * s * (xh - mu1)
        sg = -2.0 if data[XOPT + j] < 0.0 else 2.0
        g[j] = sg * (g[j] + gq)
    pen = penalty_fg(x, g, 1e4)
    return q + 10.0 * (d - s3) + 1e4 * pen + data[0]


def lunacek_hvp(x, v, out, data, idata):
    d = x.shape[0]
    ro = XOPT + d
    po = ro + d * d
    to = po + d * d
    uo = to + d
    ao = uo + d
    _, br, _, s = lunacek_branch(x, data, d)
    lunacek_t(x, data, d, po, to)
    for i in range(d):                      # ΛQ (2 sign(xopt) v)
        u = 0.0
        r = po + i * d
        for j in range(d):
            u += data[r + j] * (-2.0 * v[j] if data[XOPT + j] < 0.0 else 2.0 * v[j])
        data[uo + i] = u
    for j in range(d):
        data[ao + j] = 0.0
    for i in range(d):
        z = row_data(data, ro, i, to, d)
        w = 10.0 * TWO_PI * TWO_PI * math.cos(TWO_PI * z) * row_data(data, ro, i, uo, d)
        data_scatter(data, ro, i, w, ao, d)
    fill(out, 0.0)
    for i in range(d):
        scatter_row(data, po, i, data[ao + i], out, d)
    c = 2.0 if br == 0 else 2.0 * s
    for j in range(d):
        sg = -2.0 if data[XOPT + j] < 0.0 else 2.0
        out[j] = sg * out[j] + 4.0 * c * v[j]
    penalty_hvp(x, v, out, 1e4)


def _lunacek_setup(dim, instance):
    seed = CR.instance_seed(24, instance)
    xopt = np.where(CR.gauss(dim, seed) < 0.0, -1.25, 1.25)
    R, Q = rotation(seed + 1000000, dim), rotation(seed, dim)
    lam = [math.pow(math.sqrt(100.0), i / (dim - 1.0)) for i in range(dim)]
    return base_arrays(24, instance, dim, xopt, CR.compute_fopt(24, instance),
                       extra=[R, np.array(lam)[:, None] * Q, np.zeros(3 * dim)])


define(BbobFunction(
    24, "Lunacek bi-Rastrigin", lunacek_fg, lunacek_value, lunacek_hvp, _lunacek_setup,
    smooth=False, scratch=True, max_dim=ROTATION_MAX_DIM,
    gradient_note=("f takes the smaller of the two quadratics (around μ0 and μ1): not "
                   "differentiable where they are equal; FG returns the μ0 branch's gradient "
                   "there (COCO's min keeps the first on ties).")))
