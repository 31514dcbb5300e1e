r"""Dense symmetric eigendecompositions, inverse matrix roots and QR factorisations for the
Kronecker-factored preconditioners (Shampoo, SOAP), as plain loops without allocation.

Layout as in :mod:`optbench.optimizers.matrix`: a matrix lives in a flat float64 array from
an offset; here every product takes explicit strides, so a transpose is a swap of strides:
element (i, j) of A is ``a[ao + i * ars + j * acs]`` (row-major r × c: ``ars = c, acs = 1``;
its transpose: ``ars = 1, acs = c``).

* :func:`jacobi_eigh` — the cyclic Jacobi method on a symmetric s × s matrix, accumulating
  the rotations into Vᵀ (eigenvectors as rows: every update runs along contiguous memory). Started from V = I it diagonalises A; started from the previous step's
  eigenvectors (A replaced by Vᵀ P V) it converges in a sweep or two when P moved little.
  Rotations whose off-diagonal entry is below 1e-17·√|a_pp a_qq| are skipped (Demmel and
  Veselić's criterion), so small eigenvalues keep their relative accuracy.
* :func:`inverse_root` — V diag(|λ|^(−1/p)) Vᵀ, the inverse p-th root of a symmetric positive
  semidefinite matrix (|λ|: its singular values, as an SVD would give them).
* :func:`qr_columns` — Q of a thin QR factorisation by modified Gram–Schmidt, applied twice
  ("twice is enough": orthogonality to rounding); Q's columns are those of any QR up to sign.
* :func:`sort_rows_desc` — eigenpairs ordered by decreasing eigenvalue.
"""
from __future__ import annotations

import math

from optbench.kernels.compile import kernel

JACOBI_SWEEPS = 60     # cyclic Jacobi converges quadratically: 6-10 sweeps from scratch


@kernel
def gemm(a, ao, ars, acs, b, bo, brs, bcs, n, k, m, out, oo):
    """``out[oo:]`` (n × m, row-major) = A B, A (n × k) and B (k × m) given by strides;
    ``out`` must not overlap A or B."""
    for i in range(n):
        for j in range(m):
            out[oo + i * m + j] = 0.0
        for p in range(k):
            aip = a[ao + i * ars + p * acs]
            if aip == 0.0:
                continue
            for j in range(m):
                out[oo + i * m + j] += aip * b[bo + p * brs + j * bcs]


@kernel
def set_identity(a, ao, s):
    """The s × s identity at ``a[ao:]``."""
    for i in range(s):
        for j in range(s):
            a[ao + i * s + j] = 1.0 if i == j else 0.0


@kernel
def jacobi_eigh(a, ao, s, vt, vo, sweeps):
    """Diagonalise the symmetric s × s matrix at ``a[ao:]`` in place by Jacobi rotations J
    (its diagonal ends as the eigenvalues), applying each to the s × s matrix at ``vt[vo:]``
    from the left (Vᵀ ← Jᵀ Vᵀ: its *rows* end as the eigenvectors when it starts as I; rows,
    so that every update runs along contiguous memory). Returns the sweeps made."""
    for sweep in range(sweeps):
        rotated = False
        for p in range(s - 1):
            rp = ao + p * s
            for q in range(p + 1, s):
                rq = ao + q * s
                apq = a[rp + q]
                if apq == 0.0:
                    continue
                app = a[rp + p]
                aqq = a[rq + q]
                if abs(apq) <= 1e-17 * math.sqrt(abs(app * aqq)):
                    continue
                rotated = True
                theta = (aqq - app) / (2.0 * apq)
                if abs(theta) > 1e150:
                    t = 0.5 / theta
                else:
                    t = 1.0 / (abs(theta) + math.sqrt(theta * theta + 1.0))
                    if theta < 0.0:
                        t = -t
                c = 1.0 / math.sqrt(t * t + 1.0)
                sn = t * c
                # rows p and q of Jᵀ A J (off the 2 × 2 pivot they depend on the old rows
                # only); the columns follow by symmetry
                for k in range(s):
                    apk = a[rp + k]
                    aqk = a[rq + k]
                    a[rp + k] = c * apk - sn * aqk
                    a[rq + k] = sn * apk + c * aqk
                a[rp + p] = app - t * apq
                a[rq + q] = aqq + t * apq
                a[rp + q] = 0.0
                a[rq + p] = 0.0
                for k in range(s):
                    if k != p and k != q:
                        a[ao + k * s + p] = a[rp + k]
                        a[ao + k * s + q] = a[rq + k]
                vp = vo + p * s
                vq = vo + q * s
                for k in range(s):
                    x = vt[vp + k]
                    y = vt[vq + k]
                    vt[vp + k] = c * x - sn * y
                    vt[vq + k] = sn * x + c * y
        if not rotated:
            return sweep
    return sweeps


@kernel
def warm_eigh(pm, po, s, vt, vo, w, wo, sweeps):
    """Eigenvectors of the symmetric s × s matrix P at ``pm[po:]`` into the rows of
    ``vt[vo:]``, starting from the basis already there (orthogonal rows: the last call's
    eigenvectors, or I); the eigenvalues end on the diagonal of ``w[wo:]`` (s × s scratch,
    and ``w[wo + s*s:]``, s × s more). The rows are re-orthonormalised first, so rounding
    does not pile up over the steps. Returns the sweeps made."""
    t = wo + s * s
    orthonormal_rows(vt, vo, s)
    gemm(vt, vo, s, 1, pm, po, s, 1, s, s, s, w, t)          # Vᵀ P
    gemm(w, t, s, 1, vt, vo, 1, s, s, s, s, w, wo)           # (Vᵀ P) V
    for i in range(s):                                       # symmetric to rounding
        for j in range(i + 1, s):
            m = 0.5 * (w[wo + i * s + j] + w[wo + j * s + i])
            w[wo + i * s + j] = m
            w[wo + j * s + i] = m
    return jacobi_eigh(w, wo, s, vt, vo, sweeps)


@kernel
def inverse_root(vt, vo, lam, lo, ls, s, power, out, oo):
    """``out[oo:]`` (s × s) = V diag(|λ|^(−1/power)) Vᵀ for the eigenvectors in the rows of
    ``vt[vo:]`` and the eigenvalues λ_k at ``lam[lo + k * ls]`` (the diagonal of a
    diagonalised matrix: ``ls = s + 1``), which are replaced by |λ_k|^(−1/power)."""
    for k in range(s):
        lam[lo + k * ls] = abs(lam[lo + k * ls]) ** (-1.0 / power)
    for k in range(s * s):
        out[oo + k] = 0.0
    for k in range(s):
        lk = lam[lo + k * ls]
        rk = vo + k * s
        for i in range(s):
            vi = vt[rk + i] * lk
            if vi == 0.0:
                continue
            for j in range(i, s):
                out[oo + i * s + j] += vi * vt[rk + j]
    for i in range(s):
        for j in range(i + 1, s):
            out[oo + j * s + i] = out[oo + i * s + j]


@kernel
def sort_rows_desc(vt, vo, lam, lo, ls, s):
    """Order the eigenpairs (λ_i at ``lam[lo + i * ls]``, row i of the s × s matrix at
    ``vt[vo:]``) by decreasing λ (selection sort: s swaps at most)."""
    for i in range(s):
        best = i
        for j in range(i + 1, s):
            if lam[lo + j * ls] > lam[lo + best * ls]:
                best = j
        if best != i:
            tmp = lam[lo + i * ls]
            lam[lo + i * ls] = lam[lo + best * ls]
            lam[lo + best * ls] = tmp
            for k in range(s):
                tmp = vt[vo + i * s + k]
                vt[vo + i * s + k] = vt[vo + best * s + k]
                vt[vo + best * s + k] = tmp


@kernel
def orthonormal_rows(a, ao, s):
    """Gram–Schmidt (modified, twice) over the rows of the s × s matrix at ``a[ao:]``."""
    for j in range(s):
        rj = ao + j * s
        for _ in range(2):
            for k in range(j):
                rk = ao + k * s
                dot = 0.0
                for i in range(s):
                    dot += a[rk + i] * a[rj + i]
                for i in range(s):
                    a[rj + i] -= dot * a[rk + i]
        nrm = 0.0
        for i in range(s):
            nrm += a[rj + i] * a[rj + i]
        inv = 1.0 / math.sqrt(nrm) if nrm > 0.0 else 0.0
        for i in range(s):
            a[rj + i] *= inv


@kernel
def qr_columns(a, ao, s):
    """Replace the s × s matrix at ``a[ao:]`` by the Q of its QR factorisation (modified
    Gram–Schmidt over the columns, twice). A column with nothing left after its
    projections (a rank-deficient A) is left as zeros."""
    for j in range(s):
        for _ in range(2):
            for k in range(j):
                dot = 0.0
                for i in range(s):
                    dot += a[ao + i * s + k] * a[ao + i * s + j]
                for i in range(s):
                    a[ao + i * s + j] -= dot * a[ao + i * s + k]
        nrm = 0.0
        for i in range(s):
            nrm += a[ao + i * s + j] * a[ao + i * s + j]
        nrm = math.sqrt(nrm)
        inv = 1.0 / nrm if nrm > 0.0 else 0.0
        for i in range(s):
            a[ao + i * s + j] *= inv
