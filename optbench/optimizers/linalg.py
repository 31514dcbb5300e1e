r"""Dense and Krylov linear algebra kernels for the second-order methods (no allocation).

Every routine works in place on arrays the caller owns (the runner allocates them per run):

* ``lu_factor(A, piv)`` / ``lu_solve(A, piv, b)``: LU with partial pivoting, for the exact
  Newton step on any nonsingular (also indefinite) Hessian. O(d³/3) time, O(d²) memory.
* ``chol_shift(A, hd, lam)`` / ``chol_solve(A, b)``: Cholesky of :math:`H + \lambda I` with H
  kept in the upper triangle and ``hd`` (its diagonal), the factor written to the lower
  triangle, so the damping λ can be retried without reassembling H. O(d³/6).
* ``jacobi_eig(A, V, w, n)``: cyclic Jacobi eigen-decomposition of the leading n×n block
  (A is destroyed, eigenvectors in the columns of V, eigenvalues in w). O(n³) per sweep,
  typically 6–10 sweeps; accurate to rounding for every eigenvalue (Demmel & Veselić 1992).
* ``cg_shift``: conjugate gradients on :math:`(H + \lambda I) s = b` with Hessian-vector
  products; stops with code 2 on non-positive curvature (Hestenes & Stiefel 1952).
* ``minres``: MINRES on :math:`H s = b` for symmetric indefinite H (Paige & Saunders 1975),
  the form of ``scipy.sparse.linalg.minres`` without preconditioner; code 1 when H looks
  singular (condition estimate above 1e14).
* ``lanczos``: k steps of Lanczos with full reorthogonalisation from a start vector
  (Golub & Van Loan, *Matrix Computations*, §10.1); returns the dimension reached
  (fewer than k on an invariant subspace).

Krylov routines cost one Hessian-vector product per iteration plus O(d) (Lanczos: O(k d)
for the reorthogonalisation); they count their products in ``cnt[CNT_HVP]`` and their
iterations in ``cnt[CNT_INNER]``.
"""
from __future__ import annotations

import math

from optbench.kernels.compile import kernel

CNT_NFEV, CNT_NGEV, CNT_HVP, CNT_HESS, CNT_FAIL, CNT_INNER, CNT_LS, CNT_REJ = range(8)
N_CNT = 8
EPS = 2.220446049250313e-16


@kernel
def vdot(a, b):
    s = 0.0
    for i in range(a.shape[0]):
        s += a[i] * b[i]
    return s


@kernel
def lu_factor(A, piv):
    """In-place LU with partial pivoting of the n×n matrix A. Returns 0, or 1 if singular
    (a pivot at most d·eps·max|A|) or 5 if A has a non-finite entry."""
    n = A.shape[0]
    amax = 0.0
    for i in range(n):
        for j in range(n):
            a = abs(A[i, j])
            if not math.isfinite(a):
                return 5
            if a > amax:
                amax = a
    tol = n * EPS * amax
    for k in range(n):
        p = k
        big = abs(A[k, k])
        for i in range(k + 1, n):
            if abs(A[i, k]) > big:
                big = abs(A[i, k])
                p = i
        piv[k] = p
        if big <= tol or big == 0.0:
            return 1
        if p != k:
            for j in range(n):
                tmp = A[k, j]
                A[k, j] = A[p, j]
                A[p, j] = tmp
        inv = 1.0 / A[k, k]
        for i in range(k + 1, n):
            lik = A[i, k] * inv
            A[i, k] = lik
            if lik != 0.0:
                for j in range(k + 1, n):
                    A[i, j] -= lik * A[k, j]
    return 0


@kernel
def lu_solve(A, piv, b):
    """Solve A x = b in place (b becomes x) with the factors of :func:`lu_factor`."""
    n = A.shape[0]
    for k in range(n):
        p = piv[k]
        if p != k:
            tmp = b[k]
            b[k] = b[p]
            b[p] = tmp
    for i in range(n):
        s = b[i]
        for j in range(i):
            s -= A[i, j] * b[j]
        b[i] = s
    for i in range(n - 1, -1, -1):
        s = b[i]
        for j in range(i + 1, n):
            s -= A[i, j] * b[j]
        b[i] = s / A[i, i]


@kernel
def chol_shift(A, hd, lam):
    """Cholesky factor of H + λI (H: upper triangle of A and diagonal hd) into the lower
    triangle of A. Returns True if H + λI is numerically positive definite."""
    n = A.shape[0]
    for j in range(n):
        s = hd[j] + lam
        for k in range(j):
            s -= A[j, k] * A[j, k]
        if not (s > 0.0) or not math.isfinite(s):
            return False
        ljj = math.sqrt(s)
        A[j, j] = ljj
        for i in range(j + 1, n):
            s = A[j, i]
            for k in range(j):
                s -= A[i, k] * A[j, k]
            A[i, j] = s / ljj
    return True


@kernel
def chol_solve(A, b):
    """Solve L Lᵀ x = b in place with the lower-triangular factor in A."""
    n = A.shape[0]
    for i in range(n):
        s = b[i]
        for k in range(i):
            s -= A[i, k] * b[k]
        b[i] = s / A[i, i]
    for i in range(n - 1, -1, -1):
        s = b[i]
        for k in range(i + 1, n):
            s -= A[k, i] * b[k]
        b[i] = s / A[i, i]


@kernel
def jacobi_eig(A, V, w, n):
    """Eigen-decomposition of the symmetric leading n×n block of A: A = V diag(w) Vᵀ.
    A is overwritten. Returns the number of sweeps, or −1 if A is not finite."""
    for i in range(n):
        for j in range(n):
            V[i, j] = 1.0 if i == j else 0.0
            if not math.isfinite(A[i, j]):
                return -1
    sweeps = 0
    for sweep in range(60):
        off = 0.0
        tot = 0.0
        for i in range(n):
            tot += A[i, i] * A[i, i]
            for j in range(i + 1, n):
                off += A[i, j] * A[i, j]
        if off <= EPS * EPS * (tot + off) or off == 0.0:
            break
        sweeps += 1
        for p in range(n - 1):
            for q in range(p + 1, n):
                apq = A[p, q]
                if apq == 0.0:
                    continue
                theta = (A[q, q] - A[p, p]) / (2.0 * apq)
                if abs(theta) > 1e150:
                    t = 0.5 / theta
                else:
                    t = 1.0 / (abs(theta) + math.sqrt(theta * theta + 1.0))
                    if theta < 0.0:
                        t = -t
                c = 1.0 / math.sqrt(t * t + 1.0)
                s = t * c
                for k in range(n):
                    akp = A[k, p]
                    akq = A[k, q]
                    A[k, p] = c * akp - s * akq
                    A[k, q] = s * akp + c * akq
                for k in range(n):
                    apk = A[p, k]
                    aqk = A[q, k]
                    A[p, k] = c * apk - s * aqk
                    A[q, k] = s * apk + c * aqk
                for k in range(n):
                    vkp = V[k, p]
                    vkq = V[k, q]
                    V[k, p] = c * vkp - s * vkq
                    V[k, q] = s * vkp + c * vkq
    for i in range(n):
        w[i] = A[i, i]
    return sweeps


@kernel
def cg_shift(hvp, x, b, s, r, p, hp, lam, rtol, maxit, truncate, data, idata, cnt):
    """Conjugate gradients on (H(x) + λI) s = b from s = 0. Returns 0 (converged or maxit
    reached: s is the last iterate), 2 on non-positive curvature pᵀ(H + λI)p ≤ 0, 5 on
    non-finite curvature. With ``truncate``, non-positive curvature ends the solve with code 0
    and s = the iterate before it, or (first iteration) s = (bᵀb / |bᵀHb|) b — Newton-CG's
    rule (Nocedal & Wright Alg. 7.1; scipy's ``minimize(method='Newton-CG')``). Converged
    when ‖r‖₁ ≤ rtol·‖b‖₁ (scipy's norm)."""
    n = x.shape[0]
    rr = 0.0
    for i in range(n):
        s[i] = 0.0
        r[i] = b[i]
        p[i] = b[i]
        rr += b[i] * b[i]
    b1 = 0.0
    for i in range(n):
        b1 += abs(b[i])
    stop = rtol * b1
    if rr == 0.0:
        return 0
    for it in range(maxit):
        hvp(x, p, hp, data, idata)
        cnt[CNT_HVP] += 1
        cnt[CNT_INNER] += 1
        php = 0.0
        for i in range(n):
            hp[i] += lam * p[i]
            php += p[i] * hp[i]
        if not math.isfinite(php):
            return 5
        if php <= 0.0:
            if not truncate:
                return 2
            if it == 0:
                c = rr / -php if php < 0.0 else 1.0
                for i in range(n):
                    s[i] = c * b[i]
            return 0
        a = rr / php
        rn = 0.0
        r1 = 0.0
        for i in range(n):
            s[i] += a * p[i]
            r[i] -= a * hp[i]
            rn += r[i] * r[i]
            r1 += abs(r[i])
        if r1 <= stop:
            return 0
        beta = rn / rr
        rr = rn
        for i in range(n):
            p[i] = r[i] + beta * p[i]
    return 0


@kernel
def minres(hvp, x, b, s, r1, r2, y, v, w, w2, rtol, maxit, data, idata, cnt):
    """MINRES on H(x) s = b from s = 0 (symmetric, possibly indefinite H). Returns 0, 1 if H
    looks singular (condition estimate > 1e14), 5 on non-finite values."""
    n = x.shape[0]
    beta1 = 0.0
    for i in range(n):
        s[i] = 0.0
        r1[i] = b[i]
        r2[i] = b[i]
        w[i] = 0.0
        w2[i] = 0.0
        beta1 += b[i] * b[i]
    beta1 = math.sqrt(beta1)
    if beta1 == 0.0:
        return 0
    oldb = 0.0
    beta = beta1
    dbar = 0.0
    epsln = 0.0
    phibar = beta1
    cs = -1.0
    sn = 0.0
    tnorm2 = 0.0
    gmax = 0.0
    gmin = 1e308
    for it in range(maxit):
        sc = 1.0 / beta
        for i in range(n):
            v[i] = sc * r2[i]
        hvp(x, v, y, data, idata)
        cnt[CNT_HVP] += 1
        cnt[CNT_INNER] += 1
        if it > 0:
            c1 = beta / oldb
            for i in range(n):
                y[i] -= c1 * r1[i]
        alfa = 0.0
        for i in range(n):
            alfa += v[i] * y[i]
        c2 = alfa / beta
        bb = 0.0
        for i in range(n):
            y[i] -= c2 * r2[i]
            r1[i] = r2[i]
            r2[i] = y[i]
            bb += y[i] * y[i]
        oldb = beta
        beta = math.sqrt(bb)
        if not (math.isfinite(alfa) and math.isfinite(beta)):
            return 5
        tnorm2 += alfa * alfa + oldb * oldb + beta * beta
        oldeps = epsln
        delta = cs * dbar + sn * alfa
        gbar = sn * dbar - cs * alfa
        epsln = sn * beta
        dbar = -cs * beta
        gamma = math.sqrt(gbar * gbar + beta * beta)
        gamma = max(gamma, EPS)
        cs = gbar / gamma
        sn = beta / gamma
        phi = cs * phibar
        phibar = sn * phibar
        inv = 1.0 / gamma
        for i in range(n):
            wo = w[i]
            wn = (v[i] - oldeps * w2[i] - delta * wo) * inv
            w2[i] = wo
            w[i] = wn
            s[i] += phi * wn
        gmax = max(gmax, gamma)
        gmin = min(gmin, gamma)
        if gmax / gmin > 1e14 or gamma <= EPS * math.sqrt(tnorm2):
            return 1
        if abs(phibar) <= rtol * beta1 or beta <= EPS * math.sqrt(tnorm2):
            return 0
    return 0


@kernel
def lanczos(hvp, x, q0, V, k, al, be, hv, data, idata, cnt):
    """k steps of Lanczos with full reorthogonalisation: rows V[0..m−1] orthonormal, the
    tridiagonal T = VᵀHV has diagonal al[0..m−1] and off-diagonal be[0..m−2]. Returns m
    (m < k when an invariant subspace is found; 0 if q0 = 0), or −1 on non-finite values."""
    n = x.shape[0]
    nq = math.sqrt(vdot(q0, q0))
    if nq == 0.0 or not math.isfinite(nq):
        return 0 if nq == 0.0 else -1
    for i in range(n):
        V[0, i] = q0[i] / nq
    anorm = 0.0
    for j in range(k):
        hvp(x, V[j], hv, data, idata)
        cnt[CNT_HVP] += 1
        cnt[CNT_INNER] += 1
        a = vdot(V[j], hv)
        al[j] = a
        if not math.isfinite(a):
            return -1
        for rep in range(2):     # full reorthogonalisation, twice is enough (Kahan)
            for l in range(j + 1):
                c = vdot(V[l], hv)
                for i in range(n):
                    hv[i] -= c * V[l, i]
        b = math.sqrt(vdot(hv, hv))
        anorm = max(anorm, abs(a) + b)
        if j == k - 1:
            return k
        if b <= 1e-12 * anorm or b == 0.0:
            return j + 1
        be[j] = b
        for i in range(n):
            V[j + 1, i] = hv[i] / b
    return k
