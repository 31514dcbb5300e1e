r"""Line searches and the methods built on them: steepest descent with the exact step of the
local quadratic model, nonlinear conjugate gradients, linear CG, L-BFGS.

* Backtracking (Armijo): the first α in a0, ρa0, ρ²a0, … with
  :math:`f(x + \alpha p) \le f(x) + c_1 \alpha\, g^\top p`; any descent direction p
  (:math:`g^\top p < 0`, else the run fails). Armijo (1966); Nocedal & Wright (2006), Alg. 3.1.
* Strong Wolfe: Armijo plus :math:`|g(x+\alpha p)^\top p| \le c_2 |g^\top p|`; bracketing and
  zoom with cubic/quadratic interpolation as in Nocedal & Wright Alg. 3.5–3.6 (the algorithm
  of ``scipy.optimize.line_search``).
* ``steepest-descent``: p = −g with :math:`\alpha = g^\top g / g^\top H g` (one HVP per step;
  exact minimiser along −g of the local quadratic model; fails if :math:`g^\top H g \le 0`),
  or ``step="armijo"`` (gradient descent with backtracking, first trial α = lr).
  Cauchy (1847); Nocedal & Wright §3.3.
* ``nonlinear-cg``: :math:`p_{k+1} = -g_{k+1} + \beta_k p_k`, Fletcher–Reeves
  :math:`\beta = \lVert g_{k+1}\rVert^2 / \lVert g_k\rVert^2` or Polak–Ribière+
  :math:`\beta = \max(0, g_{k+1}^\top (g_{k+1} - g_k) / \lVert g_k\rVert^2)`; restart with −g
  every ``restart`` steps (0: every d) and whenever p is not a descent direction. Fletcher &
  Reeves (1964); Polak & Ribière (1969); Gilbert & Nocedal (1992).
* ``linear-cg``: Hestenes–Stiefel CG for quadratics, α = −gᵀp / pᵀHp with one HVP per step and
  the true gradient as residual; at most d steps on a d-dimensional quadratic (in exact
  arithmetic). Fails on non-positive curvature. Hestenes & Stiefel (1952).
* ``lbfgs``: two-loop recursion over the last m pairs (s, y), :math:`H_0 = (s^\top y / y^\top
  y) I`, pairs with :math:`s^\top y \le \epsilon\, y^\top y` skipped; first trial step 1 (1/‖g‖
  on the first iteration, as L-BFGS-B). Nocedal (1980); Liu & Nocedal (1989).

Cost per iteration: one value-and-gradient evaluation per line-search trial, O(d) work
(L-BFGS O(m d) time and 2 m d memory; exact step and linear CG one HVP more).
"""
from __future__ import annotations

import math

from optbench.kernels.compile import kernel
from optbench.params import C, F, I

from . import so_common as K
from .base import register
from .linalg import CNT_HVP, CNT_LS, CNT_NFEV, CNT_NGEV, vdot

_NAN = math.nan


@kernel
def ls_eval(fg, x, p, a, xt, gt, data, idata, seed, t, cnt):
    """φ(a) = f(x + a p) and φ'(a) = g(x + a p)ᵀp (trial point in xt, gradient in gt)."""
    for i in range(x.shape[0]):
        xt[i] = x[i] + a * p[i]
    ft = fg(xt, gt, data, idata, seed, t)
    cnt[CNT_NFEV] += 1
    cnt[CNT_NGEV] += 1
    cnt[CNT_LS] += 1
    return ft, vdot(gt, p)


@kernel
def accept(x, g, xt, gt):
    for i in range(x.shape[0]):
        x[i] = xt[i]
        g[i] = gt[i]


@kernel
def no_step_code(f, a0, slope):
    """Failure code of a line search that found no step: 8 (stalled) when the decrease it
    could expect, a0·|gᵀp|, is below the rounding error of f, else 4."""
    return 8 if -a0 * slope <= 64.0 * 2.220446049250313e-16 * abs(f) else 4


@kernel
def armijo(fg, x, g, f, p, slope, a0, c1, rho, maxls, xt, gt, data, idata, seed, t, cnt):
    """Backtracking from a0. Returns (f_new, α, code); code 3: not a descent direction,
    4: no sufficient decrease in maxls trials (8: at rounding level), 5: non-finite slope.
    x, g move on success."""
    if not math.isfinite(slope):
        return f, 0.0, 5
    if slope >= 0.0:
        return f, 0.0, 3
    a = a0
    for it in range(maxls):
        ft, dt = ls_eval(fg, x, p, a, xt, gt, data, idata, seed, t, cnt)
        if ft <= f + c1 * a * slope:
            accept(x, g, xt, gt)
            return ft, a, 0
        a *= rho
    return f, 0.0, no_step_code(f, a0, slope)


@kernel
def cubicmin(a, fa, fpa, b, fb, c, fc):
    """Minimiser of the cubic through (a, fa, fpa), (b, fb), (c, fc); NaN if none."""
    db = b - a
    dc = c - a
    denom = (db * dc) ** 2 * (db - dc)
    if denom == 0.0:
        return _NAN
    r1 = fb - fa - fpa * db
    r2 = fc - fa - fpa * dc
    A = (dc * dc * r1 - db * db * r2) / denom
    B = (-dc * dc * dc * r1 + db * db * db * r2) / denom
    rad = B * B - 3.0 * A * fpa
    if A == 0.0 or rad < 0.0:
        return _NAN
    return a + (-B + math.sqrt(rad)) / (3.0 * A)


@kernel
def quadmin(a, fa, fpa, b, fb):
    db = b - a
    if db == 0.0:
        return _NAN
    B = (fb - fa - fpa * db) / (db * db)
    if B <= 0.0:
        return _NAN
    return a - fpa / (2.0 * B)


@kernel
def wolfe(fg, x, g, f, p, slope, a1, c1, c2, maxls, xt, gt, data, idata, seed, t, cnt):
    """Strong-Wolfe line search from the trial step a1. Returns (f_new, α, code) like
    :func:`armijo`; if zoom runs out of evaluations, the best Armijo point found is taken."""
    if not math.isfinite(slope):
        return f, 0.0, 5
    if slope >= 0.0:
        return f, 0.0, 3
    a_init = a1
    a0 = 0.0
    phi_a0 = f
    dphi_a0 = slope
    nev = 0
    first = True
    lo = 0.0
    hi = 0.0
    phi_lo = f
    phi_hi = f
    dphi_lo = slope
    bracket = False
    while nev < maxls:
        phi1, dphi1 = ls_eval(fg, x, p, a1, xt, gt, data, idata, seed, t, cnt)
        nev += 1
        if not (math.isfinite(phi1) and math.isfinite(dphi1)):
            a1 = 0.5 * (a0 + a1)
            continue
        if phi1 > f + c1 * a1 * slope or (phi1 >= phi_a0 and not first):
            lo, hi, phi_lo, phi_hi, dphi_lo = a0, a1, phi_a0, phi1, dphi_a0
            bracket = True
            break
        if abs(dphi1) <= -c2 * slope:
            accept(x, g, xt, gt)
            return phi1, a1, 0
        if dphi1 >= 0.0:
            lo, hi, phi_lo, phi_hi, dphi_lo = a1, a0, phi1, phi_a0, dphi1
            bracket = True
            break
        a0, phi_a0, dphi_a0 = a1, phi1, dphi1
        a1 = 2.0 * a1
        first = False
    if not bracket:
        if a0 > 0.0:   # out of evaluations while extrapolating: a0 satisfies Armijo
            phi1, dphi1 = ls_eval(fg, x, p, a0, xt, gt, data, idata, seed, t, cnt)
            accept(x, g, xt, gt)
            return phi1, a0, 0
        return f, 0.0, no_step_code(f, a_init, slope)
    # zoom (Nocedal & Wright Alg. 3.6; interpolation safeguards as scipy's _zoom)
    a_rec = 0.0
    phi_rec = f
    i = 0
    while nev < maxls:
        da = hi - lo
        aa = min(lo, hi)
        bb = max(lo, hi)
        aj = _NAN
        if i > 0:
            aj = cubicmin(lo, phi_lo, dphi_lo, hi, phi_hi, a_rec, phi_rec)
        if i == 0 or not math.isfinite(aj) or aj > bb - 0.2 * abs(da) or aj < aa + 0.2 * abs(da):
            aj = quadmin(lo, phi_lo, dphi_lo, hi, phi_hi)
            if not math.isfinite(aj) or aj > bb - 0.1 * abs(da) or aj < aa + 0.1 * abs(da):
                aj = lo + 0.5 * da
        phij, dphij = ls_eval(fg, x, p, aj, xt, gt, data, idata, seed, t, cnt)
        nev += 1
        i += 1
        if not math.isfinite(phij) or phij > f + c1 * aj * slope or phij >= phi_lo:
            phi_rec, a_rec = phi_hi, hi
            hi, phi_hi = aj, phij
        else:
            if abs(dphij) <= -c2 * slope:
                accept(x, g, xt, gt)
                return phij, aj, 0
            if dphij * (hi - lo) >= 0.0:
                phi_rec, a_rec = phi_hi, hi
                hi, phi_hi = lo, phi_lo
            else:
                phi_rec, a_rec = phi_lo, lo
            lo, phi_lo, dphi_lo = aj, phij, dphij
    if lo > 0.0:       # Wolfe not met in time: take the best point with sufficient decrease
        phi1, dphi1 = ls_eval(fg, x, p, lo, xt, gt, data, idata, seed, t, cnt)
        accept(x, g, xt, gt)
        return phi1, lo, 0
    return f, 0.0, no_step_code(f, a_init, slope)


@kernel
def line_step(fg, x, g, f, p, slope, a0, st, sv, hy, data, idata, seed, t, cnt):
    """Armijo or Wolfe search along p by hy[H_LS]; records α and gᵀp in sv."""
    sv[K.S_SLOPE] = slope
    if hy[K.H_LS] == K.LS_WOLFE:
        fn, a, code = wolfe(fg, x, g, f, p, slope, a0, hy[K.H_C1], hy[K.H_C2], int(hy[K.H_MAXLS]),
                            st[K.R_XT], st[K.R_GT], data, idata, seed, t, cnt)
    else:
        fn, a, code = armijo(fg, x, g, f, p, slope, a0, hy[K.H_C1], hy[K.H_RHO],
                             int(hy[K.H_MAXLS]), st[K.R_XT], st[K.R_GT], data, idata, seed, t, cnt)
    sv[K.S_ALPHA] = a
    return fn, code


@kernel
def sd_step(fg, value, hvp, hess, x, g, f, st, hm, iw, sv, hy, data, idata, seed, t, cnt):
    p = st[K.R_P]
    gg = vdot(g, g)
    for i in range(x.shape[0]):
        p[i] = -g[i]
    if hy[K.H_LS] != K.LS_NONE:
        return line_step(fg, x, g, f, p, -gg, sv[K.S_LR], st, sv, hy, data, idata, seed, t, cnt)
    hv = st[K.R_HV]
    hvp(x, g, hv, data, idata)
    cnt[CNT_HVP] += 1
    ghg = vdot(g, hv)
    sv[K.S_SLOPE] = -gg
    if not math.isfinite(ghg):
        return f, 5
    if ghg <= 0.0:
        return f, 6
    a = gg / ghg
    for i in range(x.shape[0]):
        x[i] -= a * g[i]
    fn = fg(x, g, data, idata, seed, t)
    cnt[CNT_NFEV] += 1
    cnt[CNT_NGEV] += 1
    sv[K.S_ALPHA] = a
    return fn, 0


@kernel
def ncg_step(fg, value, hvp, hess, x, g, f, st, hm, iw, sv, hy, data, idata, seed, t, cnt):
    n = x.shape[0]
    p = st[K.R_P]
    gp = st[K.R_MORE]
    k = int(sv[K.S_ITER])
    gg = vdot(g, g)
    restart = int(hy[K.H_B]) if hy[K.H_B] > 0 else n
    fresh = k == 0 or k % restart == 0
    if not fresh:
        if hy[K.H_A] == 0.0:
            beta = gg / sv[K.S_GGPREV]
        else:
            beta = max(0.0, (gg - vdot(g, gp)) / sv[K.S_GGPREV])
        for i in range(n):
            p[i] = -g[i] + beta * p[i]
        if not vdot(g, p) < 0.0:
            fresh = True
    if fresh:
        for i in range(n):
            p[i] = -g[i]
    slope = vdot(g, p)
    fprev = sv[K.S_PREV] if k > 0 else f + 0.5 * math.sqrt(gg)
    a0 = min(1.0, 1.01 * 2.0 * (f - fprev) / slope)
    if not a0 > 0.0:
        a0 = 1.0
    for i in range(n):
        gp[i] = g[i]
    sv[K.S_GGPREV] = gg
    sv[K.S_PREV] = f
    sv[K.S_ITER] = k + 1
    return line_step(fg, x, g, f, p, slope, a0, st, sv, hy, data, idata, seed, t, cnt)


@kernel
def lcg_step(fg, value, hvp, hess, x, g, f, st, hm, iw, sv, hy, data, idata, seed, t, cnt):
    n = x.shape[0]
    p = st[K.R_P]
    hv = st[K.R_HV]
    k = int(sv[K.S_ITER])
    gg = vdot(g, g)
    beta = gg / sv[K.S_GGPREV] if k > 0 else 0.0
    for i in range(n):
        p[i] = -g[i] + beta * p[i]
    hvp(x, p, hv, data, idata)
    cnt[CNT_HVP] += 1
    php = vdot(p, hv)
    slope = vdot(g, p)
    sv[K.S_SLOPE] = slope
    if not (math.isfinite(php) and math.isfinite(slope)):
        return f, 5
    if php <= 0.0:
        return f, 2
    a = -slope / php
    for i in range(n):
        x[i] += a * p[i]
    fn = fg(x, g, data, idata, seed, t)
    cnt[CNT_NFEV] += 1
    cnt[CNT_NGEV] += 1
    sv[K.S_ALPHA] = a
    sv[K.S_GGPREV] = gg
    sv[K.S_ITER] = k + 1
    return fn, 0


@kernel
def lbfgs_step(fg, value, hvp, hess, x, g, f, st, hm, iw, sv, hy, data, idata, seed, t, cnt):
    n = x.shape[0]
    m = int(hy[K.H_A])
    p = st[K.R_P]
    head = int(sv[K.S_HEAD])
    count = int(sv[K.S_COUNT])
    rho0 = K.SV_BASE
    al0 = K.SV_BASE + m
    for i in range(n):
        p[i] = g[i]
    for j in range(count):           # newest to oldest
        idx = (head - 1 - j) % m
        a = sv[rho0 + idx] * vdot(st[K.R_MORE + idx], p)
        sv[al0 + idx] = a
        yr = st[K.R_MORE + m + idx]
        for i in range(n):
            p[i] -= a * yr[i]
    gamma = sv[K.S_LAM] if count > 0 else 1.0
    for i in range(n):
        p[i] *= gamma
    for j in range(count - 1, -1, -1):   # oldest to newest
        idx = (head - 1 - j) % m
        b = sv[rho0 + idx] * vdot(st[K.R_MORE + m + idx], p)
        sr = st[K.R_MORE + idx]
        c = sv[al0 + idx] - b
        for i in range(n):
            p[i] += c * sr[i]
    for i in range(n):
        p[i] = -p[i]
    slope = vdot(g, p)
    if not slope < 0.0:              # lost descent (or NaN): forget the memory
        count = 0
        for i in range(n):
            p[i] = -g[i]
        slope = -vdot(g, g)
    a0 = 1.0 if count > 0 else 1.0 / math.sqrt(-slope)
    sr = st[K.R_MORE + head]
    yr = st[K.R_MORE + m + head]
    for i in range(n):
        sr[i] = x[i]
        yr[i] = g[i]
    fn, code = line_step(fg, x, g, f, p, slope, a0, st, sv, hy, data, idata, seed, t, cnt)
    if code != 0:
        return fn, code
    sy = 0.0
    yy = 0.0
    for i in range(n):
        sr[i] = x[i] - sr[i]
        yr[i] = g[i] - yr[i]
        sy += sr[i] * yr[i]
        yy += yr[i] * yr[i]
    if sy > 2.220446049250313e-16 * yy and yy > 0.0:
        sv[rho0 + head] = 1.0 / sy
        sv[K.S_LAM] = sy / yy
        head = (head + 1) % m
        count = min(count + 1, m)
    elif count == m:                 # the oldest pair's slot was overwritten: drop it
        count = m - 1
    sv[K.S_HEAD] = head
    sv[K.S_COUNT] = count
    return fn, 0


_WOLFE = {"line_search": C("wolfe", ("wolfe", "armijo"), doc="strong Wolfe or Armijo backtracking"),
          **K.LS_PARAMS}


@register
class SteepestDescent(K.CurvatureOptimizer):
    """Steepest descent with the exact quadratic-model step (or Armijo backtracking)."""

    name = "steepest-descent"
    family = "line_search"
    METHOD = K.M_SD
    params = {"step": C("exact", ("exact", "armijo"),
                        doc="exact: α = gᵀg/gᵀHg (one HVP); armijo: backtracking from lr"),
              "lr": F(1.0, 0.0, lo_open=True, doc="first trial step of the Armijo search"),
              **K.LS_PARAMS}

    @property
    def needs_hvp(self):
        return self.hyper["step"] == "exact"

    def hy(self, prob):
        a = super().hy(prob)
        a[K.H_LS] = K.LS_ARMIJO if self.hyper["step"] == "armijo" else K.LS_NONE
        return a


@register
class NonlinearCG(K.CurvatureOptimizer):
    """Nonlinear conjugate gradients (Fletcher–Reeves or Polak–Ribière+)."""

    name = "nonlinear-cg"
    family = "line_search"
    METHOD = K.M_NCG
    needs_hvp = False
    params = {"beta": C("pr+", ("fr", "pr+"), doc="Fletcher–Reeves or Polak–Ribière+"),
              "restart": I(0, 0, doc="restart with −g every this many steps (0: every d)"),
              **_WOLFE, "c2": F(0.1, 0.0, 1.0, lo_open=True, hi_open=True, doc="Wolfe curvature constant")}

    def layout(self, d):
        return {**super().layout(d), "rows": K.R_MORE + 1}

    def fill(self, a, d):
        a[K.H_A] = 0.0 if self.hyper["beta"] == "fr" else 1.0
        a[K.H_B] = self.hyper["restart"]


@register
class LinearCG(K.CurvatureOptimizer):
    """Linear conjugate gradients for quadratics (one HVP and one gradient per step)."""

    name = "linear-cg"
    family = "line_search"
    METHOD = K.M_LCG
    params = {}


@register
class LBFGS(K.CurvatureOptimizer):
    """Limited-memory BFGS with memory m."""

    name = "lbfgs"
    family = "line_search"
    METHOD = K.M_LBFGS
    needs_hvp = False
    params = {"memory": I(10, 1, doc="number of (s, y) pairs kept"), **_WOLFE,
              "c2": F(0.9, 0.0, 1.0, lo_open=True, hi_open=True, doc="Wolfe curvature constant")}

    def layout(self, d):
        m = self.hyper["memory"]
        return {**super().layout(d), "rows": K.R_MORE + 2 * m, "nsv": K.SV_BASE + 2 * m}

    def fill(self, a, d):
        a[K.H_A] = self.hyper["memory"]
