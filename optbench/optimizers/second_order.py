r"""Newton-type methods: Newton, damped (Levenberg) Newton, saddle-free Newton.

* ``newton``: :math:`x \leftarrow x + \alpha p`, :math:`H p = -g`, α = lr (or Armijo
  backtracking from lr, ``line_search="armijo"``). ``solver``: ``dense`` (LU with partial
  pivoting of the assembled Hessian: the exact step for any nonsingular H, so Newton is
  attracted by saddles), ``cg`` (Newton-CG on Hessian-vector products, forcing term
  :math:`\eta = \min(\tfrac12, \sqrt{\lVert g\rVert_1})` unless ``cg_rtol`` > 0, inner stop
  :math:`\lVert r\rVert_1 \le \eta \lVert g\rVert_1` — scipy's rule; non-positive
  curvature fails: the Newton system is indefinite), ``minres`` (the exact step for indefinite
  H on HVPs), ``auto`` (dense for d ≤ 200, else cg). Nocedal & Wright (2006) §3.3, §7.1.
* ``damped-newton``: :math:`(H + \lambda I) p = -g`, the trial x + p accepted iff the gain ratio
  :math:`\rho = (f(x) - f(x+p)) / (\tfrac12 p^\top(\lambda p - g)) > 0`; then
  :math:`\lambda \leftarrow \lambda \max(\tfrac13, 1 - (2\rho - 1)^3)`, ν = 2, else
  λ ← λν, ν ← 2ν and retry (also when H + λI is not positive definite). Levenberg (1944);
  Marquardt (1963); the update rule of Nielsen (1999), Madsen, Nielsen & Tingleff (2004) §3.2.
* ``saddle-free-newton``: :math:`p = -(|H| + \delta I)^{-1} g` with
  :math:`|H| = \sum_i |\lambda_i| e_i e_i^\top` (``dense``: Jacobi eigen-decomposition), or in
  the k-dimensional Krylov subspace of (H, g) (``lanczos``: :math:`p = -V |T|^{-1} V^\top g`,
  T = VᵀHV from k Lanczos steps). Dauphin et al., *Identifying and attacking the saddle point
  problem in high-dimensional non-convex optimization*, NeurIPS 2014.

Cost per iteration: dense — one Hessian (the HESS kernel, or d HVPs) and O(d³) time, O(d²)
memory (Jacobi: about 10 d³); Krylov — one HVP per inner iteration, O(d) memory per vector
(Lanczos O(k d) memory and O(k² d) reorthogonalisation); plus one value-and-gradient
evaluation per trial point.
"""
from __future__ import annotations

import math

from optbench.kernels.compile import kernel
from optbench.params import C, F, I

from . import so_common as K
from .base import register
from .line_search import line_step
from .linalg import (CNT_HESS, CNT_HVP, CNT_NFEV, CNT_NGEV, CNT_REJ, chol_shift, chol_solve,
                     cg_shift, jacobi_eig, lanczos, lu_factor, lu_solve, minres, vdot, EPS)


@kernel
def assemble(hvp, hess, x, H, e, col, has_hess, data, idata, cnt):
    """Dense Hessian into H (HESS kernel, or column by column from d HVPs), symmetrised.
    Returns False if it has a non-finite entry."""
    n = x.shape[0]
    if has_hess:
        hess(x, H, data, idata)
        cnt[CNT_HESS] += 1
    else:
        for i in range(n):
            e[i] = 0.0
        for j in range(n):
            e[j] = 1.0
            hvp(x, e, col, data, idata)
            e[j] = 0.0
            for i in range(n):
                H[i, j] = col[i]
        cnt[CNT_HVP] += n
    for i in range(n):
        if not math.isfinite(H[i, i]):
            return False
        for j in range(i + 1, n):
            a = 0.5 * (H[i, j] + H[j, i])
            if not math.isfinite(a):
                return False
            H[i, j] = a
            H[j, i] = a
    return True


@kernel
def krylov_rtol(hy, g):
    """The inner solve's relative tolerance: ``cg_rtol``, or the forcing term min(½, √‖g‖₁)
    (1-norms, as scipy's Newton-CG: on 1000-dim Rosenbrock it takes scipy's iteration count,
    where the 2-norm version took 1.5× as many)."""
    r = hy[K.H_RTOL]
    if r > 0.0:
        return r
    g1 = 0.0
    for i in range(g.shape[0]):
        g1 += abs(g[i])
    return min(0.5, math.sqrt(g1))


@kernel
def take_step(fg, x, g, f, p, st, sv, hy, data, idata, seed, t, cnt):
    """x + lr p, or a line search from lr: Armijo, or strong Wolfe (first trial after the
    first iteration min(lr, 1.01·2(f_k − f_{k−1})/gᵀp), as scipy's line_search_wolfe1)."""
    slope = vdot(g, p)
    sv[K.S_SLOPE] = slope
    if not math.isfinite(slope):
        return f, 5
    lr = sv[K.S_LR]
    if hy[K.H_LS] != K.LS_NONE:
        a0 = lr
        if hy[K.H_LS] == K.LS_WOLFE and sv[K.S_ITER] > 0.0:
            a = 1.01 * 2.0 * (f - sv[K.S_PREV]) / slope     # scipy's first trial step
            if a > 0.0:
                a0 = min(lr, a)
        sv[K.S_PREV] = f
        sv[K.S_ITER] += 1.0
        return line_step(fg, x, g, f, p, slope, a0, st, sv, hy, data, idata, seed, t, cnt)
    for i in range(x.shape[0]):
        x[i] += lr * p[i]
    fn = fg(x, g, data, idata, seed, t)
    cnt[CNT_NFEV] += 1
    cnt[CNT_NGEV] += 1
    sv[K.S_ALPHA] = lr
    return fn, 0


@kernel
def newton_step(fg, value, hvp, hess, x, g, f, st, hm, iw, sv, hy, data, idata, seed, t, cnt):
    n = x.shape[0]
    p = st[K.R_P]
    solver = int(hy[K.H_SOLVER])
    if solver == 0:
        M = hm[0]
        if not assemble(hvp, hess, x, M, st[K.R_XT], st[K.R_HV], hy[K.H_HASHESS] != 0.0,
                        data, idata, cnt):
            return f, 5
        for i in range(n):
            p[i] = -g[i]
        code = lu_factor(M, iw)
        if code != 0:
            return f, code
        lu_solve(M, iw, p)
    else:
        b = st[K.R_XT]
        for i in range(n):
            b[i] = -g[i]
        rtol = krylov_rtol(hy, g)
        mi = int(hy[K.H_INNER])
        r = K.R_MORE
        if solver == 1:
            code = cg_shift(hvp, x, b, p, st[r], st[r + 1], st[r + 2], 0.0, rtol, mi,
                            hy[K.H_A] != 0.0, data, idata, cnt)
        else:
            code = minres(hvp, x, b, p, st[r], st[r + 1], st[r + 2], st[r + 3], st[r + 4],
                          st[r + 5], rtol, mi, data, idata, cnt)
        if code != 0:
            return f, code
    return take_step(fg, x, g, f, p, st, sv, hy, data, idata, seed, t, cnt)


@kernel
def damped_step(fg, value, hvp, hess, x, g, f, st, hm, iw, sv, hy, data, idata, seed, t, cnt):
    n = x.shape[0]
    p = st[K.R_P]
    xt = st[K.R_XT]
    gt = st[K.R_GT]
    hd = st[K.R_MORE]
    dense = int(hy[K.H_SOLVER]) == 0
    lam = sv[K.S_LAM]
    nu = sv[K.S_NU]
    scale = 1.0
    if dense:
        M = hm[0]
        if not assemble(hvp, hess, x, M, xt, st[K.R_HV], hy[K.H_HASHESS] != 0.0, data, idata,
                        cnt):
            return f, 5
        for i in range(n):
            hd[i] = M[i, i]
            scale = max(scale, abs(hd[i]))
    floor = 1e-10 * scale
    rtol = krylov_rtol(hy, g)
    for tries in range(int(hy[K.H_A])):
        if dense:
            ok = chol_shift(hm[0], hd, lam)
            if ok:
                for i in range(n):
                    p[i] = -g[i]
                chol_solve(hm[0], p)
        else:
            for i in range(n):
                xt[i] = -g[i]
            r = K.R_MORE + 1
            code = cg_shift(hvp, x, xt, p, st[r], st[r + 1], st[r + 2], lam, rtol,
                            int(hy[K.H_INNER]), False, data, idata, cnt)
            if code == 5:
                return f, 5
            ok = code == 0
        if ok:
            slope = vdot(g, p)
            pred = 0.5 * (lam * vdot(p, p) - slope)
            for i in range(n):
                xt[i] = x[i] + p[i]
            ft = fg(xt, gt, data, idata, seed, t)
            cnt[CNT_NFEV] += 1
            cnt[CNT_NGEV] += 1
            rho = (f - ft) / pred
            if pred <= 64.0 * EPS * abs(f) and not rho > 0.0:
                return f, 8
            if math.isfinite(ft) and pred > 0.0 and rho > 0.0:
                for i in range(n):
                    x[i] = xt[i]
                    g[i] = gt[i]
                c = 2.0 * rho - 1.0
                sv[K.S_LAM] = lam * max(1.0 / 3.0, 1.0 - c * c * c)
                sv[K.S_NU] = 2.0
                sv[K.S_ALPHA] = 1.0
                sv[K.S_SLOPE] = slope
                return ft, 0
        cnt[CNT_REJ] += 1
        lam = max(lam * nu, floor)
        nu *= 2.0
    sv[K.S_LAM] = lam
    sv[K.S_NU] = nu
    return f, 7


@kernel
def sfn_step(fg, value, hvp, hess, x, g, f, st, hm, iw, sv, hy, data, idata, seed, t, cnt):
    n = x.shape[0]
    p = st[K.R_P]
    delta = hy[K.H_B]
    if int(hy[K.H_SOLVER]) == 0:
        A = hm[0]
        V = hm[1]
        w = st[K.R_MORE]
        c = st[K.R_MORE + 1]
        if not assemble(hvp, hess, x, A, st[K.R_XT], st[K.R_HV], hy[K.H_HASHESS] != 0.0,
                        data, idata, cnt):
            return f, 5
        if jacobi_eig(A, V, w, n) < 0:
            return f, 5
        wmax = 0.0
        for i in range(n):
            wmax = max(wmax, abs(w[i]))
        for i in range(n):
            den = abs(w[i]) + delta
            if den <= n * EPS * wmax or den == 0.0:
                return f, 1
            s = 0.0
            for k in range(n):
                s += V[k, i] * g[k]
            c[i] = s / den
        for k in range(n):
            s = 0.0
            for i in range(n):
                s += V[k, i] * c[i]
            p[k] = -s
    else:
        kd = int(hy[K.H_A])
        b0 = K.SV_BASE
        al = sv[b0:b0 + kd]
        be = sv[b0 + kd:b0 + 2 * kd]
        w = sv[b0 + 2 * kd:b0 + 3 * kd]
        c = sv[b0 + 3 * kd:b0 + 4 * kd]
        Vr = st[K.R_MORE:K.R_MORE + kd]
        m = lanczos(hvp, x, g, Vr, kd, al, be, st[K.R_HV], data, idata, cnt)
        if m < 0:
            return f, 5
        if m == 0:
            return f, 0
        T = hm[0]
        U = hm[1]
        for i in range(m):
            for j in range(m):
                T[i, j] = 0.0
        for i in range(m):
            T[i, i] = al[i]
            if i + 1 < m:
                T[i, i + 1] = be[i]
                T[i + 1, i] = be[i]
        if jacobi_eig(T, U, w, m) < 0:
            return f, 5
        wmax = 0.0
        for i in range(m):
            wmax = max(wmax, abs(w[i]))
        gn = math.sqrt(vdot(g, g))
        for i in range(m):   # coefficient of eigenvector i: uᵢᵀ(‖g‖e₁) / (|θᵢ| + δ)
            den = abs(w[i]) + delta
            if den <= m * EPS * wmax or den == 0.0:
                return f, 1
            w[i] = U[0, i] * gn / den
        for j in range(m):
            s = 0.0
            for i in range(m):
                s += U[j, i] * w[i]
            c[j] = s
        for k in range(n):
            s = 0.0
            for j in range(m):
                s += Vr[j, k] * c[j]
            p[k] = -s
    return take_step(fg, x, g, f, p, st, sv, hy, data, idata, seed, t, cnt)


_SOLVE = {"cg_rtol": F(0.0, 0.0, 1.0, hi_open=True,
                       doc="relative residual of the inner solve (0: min(½, √‖g‖₁))"),
          "inner_maxiter": I(0, 0, doc="inner Krylov iterations per step (0: 2d + 10)")}
_LS = {"line_search": C("none", ("none", "armijo", "wolfe"),
                        doc="none: x + lr·p; armijo / wolfe: line search from lr"),
       **K.LS_PARAMS, "c2": F(0.9, 0.0, 1.0, lo_open=True, hi_open=True,
                              doc="Wolfe curvature constant")}


@register
class Newton(K.CurvatureOptimizer):
    """Newton's method: dense solve, Newton-CG or Newton-MINRES."""

    name = "newton"
    METHOD = K.M_NEWTON
    params = {"lr": F(1.0, 0.0, lo_open=True, doc="step scale (first trial step with Armijo)"),
              "solver": C("auto", ("auto", "dense", "cg", "minres")),
              "negative_curvature": C("auto", ("auto", "fail", "truncate"),
                                      doc="CG on an indefinite H: fail, or truncate (Newton-CG "
                                      "of Nocedal & Wright Alg. 7.1); auto: truncate with a line "
                                      "search, fail without"), **_SOLVE, **_LS}

    def fill(self, a, d):
        nc = self.hyper["negative_curvature"]
        if nc == "auto":
            nc = "fail" if self.hyper["line_search"] == "none" else "truncate"
        a[K.H_A] = 1.0 if nc == "truncate" else 0.0

    def layout(self, d):
        s = self.solver(d)
        if s == "dense":
            return {**super().layout(d), "nmat": 1, "md": d, "niw": d}
        return {**super().layout(d), "rows": K.R_MORE + (3 if s == "cg" else 6)}


@register
class DampedNewton(K.CurvatureOptimizer):
    """Levenberg-damped Newton with the adaptive (gain-ratio) damping rule."""

    name = "damped-newton"
    METHOD = K.M_DAMPED
    params = {"lam": F(1e-3, 0.0, doc="initial damping λ"),
              "max_tries": I(30, 1, doc="damping increases allowed per iteration"),
              "solver": C("auto", ("auto", "dense", "cg")), **_SOLVE}

    def layout(self, d):
        if self.solver(d) == "dense":
            return {**super().layout(d), "rows": K.R_MORE + 1, "nmat": 1, "md": d}
        return {**super().layout(d), "rows": K.R_MORE + 4}

    def fill(self, a, d):
        a[K.H_A] = self.hyper["max_tries"]

    def init_sv(self, sv, d):
        sv[K.S_LAM] = self.hyper["lam"]
        sv[K.S_NU] = 2.0


@register
class SaddleFreeNewton(K.CurvatureOptimizer):
    """Saddle-free Newton: |H| from the eigen-decomposition, dense or in a Krylov subspace."""

    name = "saddle-free-newton"
    METHOD = K.M_SFN
    large_solver = "lanczos"
    params = {"lr": F(1.0, 0.0, lo_open=True, doc="step scale (first trial step with Armijo)"),
              "solver": C("auto", ("auto", "dense", "lanczos"),
                          doc="auto: dense for d ≤ 200, else lanczos"),
              "krylov_dim": I(20, 1, doc="Lanczos subspace dimension k"),
              "damping": F(0.0, 0.0, doc="δ added to every |λᵢ|"), **_LS}

    def _k(self, d):
        return min(self.hyper["krylov_dim"], d)

    def layout(self, d):
        if self.solver(d) == "dense":
            return {**super().layout(d), "rows": K.R_MORE + 2, "nmat": 2, "md": d}
        k = self._k(d)
        return {**super().layout(d), "rows": K.R_MORE + k, "nmat": 2, "md": k,
                "nsv": K.SV_BASE + 4 * k}

    def fill(self, a, d):
        a[K.H_A] = self._k(d)
        a[K.H_B] = self.hyper["damping"]
