"""The one dense product of the ``mlp`` kernels (:mod:`optbench.problems.mlp_net`):

.. math::  C_{rc} \\mathrel{+}= \\sum_{k<K} A_{rk}\\,B_{kc}\\qquad (r < M,\\ c < N)

(or, with ``keep = 0``, :math:`C_{rc} = \\sum_k A_{rk}B_{kc}`: C's old values are not read)

with ``C[co + r·ldc + c]``, ``A[ao + r·ars + k·aks]`` (any strides: a matrix or its transpose)
and ``B[bo + k·ldb + c]`` (rows contiguous). **Summation order**: each sum starts from 0.0 and
adds the products in the order k = 0, 1, …, K−1, each product rounded before it is added (no
fused multiply-add); the finished sum is then added to C (``keep = 1``) or stored in it.

:func:`gemm_loops` states that as plain loops; it is the definition, and what CUDA and the
CUDA simulator compile. :func:`gemm` is the CPU version: blocks of 4 rows × 32 columns held in
16 eight-double vector registers across the whole sum (:mod:`optbench.kernels.simd`), then
4 × 16, 4 × 8, 1 × 32 and 1 × 8 blocks, and scalar columns last (four rows at a time, so four
sums run side by side). Every entry gets the bits :func:`gemm_loops` gives it (tested on every
block shape and remainder).
"""
from __future__ import annotations

from numba import njit

from optbench.kernels.compile import NO_NRT, cuda_substitute, kernel
from optbench.kernels.simd import vadd, vload, vmuladd, vstore, vzero

_OPTS = dict(cache=True, fastmath=False, error_model="numpy", **NO_NRT)


@kernel
def gemm_loops(C, co, ldc, A, ao, ars, aks, B, bo, ldb, K, M, N, keep):
    """C[co + r·ldc + c] += Σ_k A[ao + r·ars + k·aks]·B[bo + k·ldb + c] for r < M, c < N (``=``
    when keep is 0); each sum from 0.0 in the order k = 0, 1, …"""
    for r in range(M):
        for c in range(N):
            s = 0.0
            for k in range(K):
                s += A[ao + r * ars + k * aks] * B[bo + k * ldb + c]
            q = co + r * ldc + c
            C[q] = C[q] + s if keep else s


@njit(**_OPTS)
def _b4x32(C, co, ldc, A, ao, ars, aks, B, bo, ldb, K, keep):
    a00 = vzero(); a01 = vzero(); a02 = vzero(); a03 = vzero()  # noqa: E702
    a10 = vzero(); a11 = vzero(); a12 = vzero(); a13 = vzero()  # noqa: E702
    a20 = vzero(); a21 = vzero(); a22 = vzero(); a23 = vzero()  # noqa: E702
    a30 = vzero(); a31 = vzero(); a32 = vzero(); a33 = vzero()  # noqa: E702
    for k in range(K):
        p = ao + k * aks
        q = bo + k * ldb
        b0 = vload(B, q)
        b1 = vload(B, q + 8)
        b2 = vload(B, q + 16)
        b3 = vload(B, q + 24)
        x = A[p]
        a00 = vmuladd(a00, x, b0); a01 = vmuladd(a01, x, b1)  # noqa: E702
        a02 = vmuladd(a02, x, b2); a03 = vmuladd(a03, x, b3)  # noqa: E702
        x = A[p + ars]
        a10 = vmuladd(a10, x, b0); a11 = vmuladd(a11, x, b1)  # noqa: E702
        a12 = vmuladd(a12, x, b2); a13 = vmuladd(a13, x, b3)  # noqa: E702
        x = A[p + 2 * ars]
        a20 = vmuladd(a20, x, b0); a21 = vmuladd(a21, x, b1)  # noqa: E702
        a22 = vmuladd(a22, x, b2); a23 = vmuladd(a23, x, b3)  # noqa: E702
        x = A[p + 3 * ars]
        a30 = vmuladd(a30, x, b0); a31 = vmuladd(a31, x, b1)  # noqa: E702
        a32 = vmuladd(a32, x, b2); a33 = vmuladd(a33, x, b3)  # noqa: E702
    _put4(C, co, a00, a01, a02, a03, keep)
    _put4(C, co + ldc, a10, a11, a12, a13, keep)
    _put4(C, co + 2 * ldc, a20, a21, a22, a23, keep)
    _put4(C, co + 3 * ldc, a30, a31, a32, a33, keep)


@njit(inline="always", **_OPTS)
def _put(C, c, a, keep):
    vstore(C, c, vadd(vload(C, c), a) if keep else a)


@njit(inline="always", **_OPTS)
def _put4(C, c, a0, a1, a2, a3, keep):
    _put(C, c, a0, keep)
    _put(C, c + 8, a1, keep)
    _put(C, c + 16, a2, keep)
    _put(C, c + 24, a3, keep)


@njit(**_OPTS)
def _b4x16(C, co, ldc, A, ao, ars, aks, B, bo, ldb, K, keep):
    a00 = vzero(); a01 = vzero(); a10 = vzero(); a11 = vzero()  # noqa: E702
    a20 = vzero(); a21 = vzero(); a30 = vzero(); a31 = vzero()  # noqa: E702
    for k in range(K):
        p = ao + k * aks
        q = bo + k * ldb
        b0 = vload(B, q)
        b1 = vload(B, q + 8)
        x = A[p]
        a00 = vmuladd(a00, x, b0); a01 = vmuladd(a01, x, b1)  # noqa: E702
        x = A[p + ars]
        a10 = vmuladd(a10, x, b0); a11 = vmuladd(a11, x, b1)  # noqa: E702
        x = A[p + 2 * ars]
        a20 = vmuladd(a20, x, b0); a21 = vmuladd(a21, x, b1)  # noqa: E702
        x = A[p + 3 * ars]
        a30 = vmuladd(a30, x, b0); a31 = vmuladd(a31, x, b1)  # noqa: E702
    for r, (u, v) in enumerate(((a00, a01), (a10, a11), (a20, a21), (a30, a31))):
        _put(C, co + r * ldc, u, keep)
        _put(C, co + r * ldc + 8, v, keep)


@njit(**_OPTS)
def _b4x8(C, co, ldc, A, ao, ars, aks, B, bo, ldb, K, keep):
    a0 = vzero(); a1 = vzero(); a2 = vzero(); a3 = vzero()  # noqa: E702
    for k in range(K):
        p = ao + k * aks
        b = vload(B, bo + k * ldb)
        a0 = vmuladd(a0, A[p], b)
        a1 = vmuladd(a1, A[p + ars], b)
        a2 = vmuladd(a2, A[p + 2 * ars], b)
        a3 = vmuladd(a3, A[p + 3 * ars], b)
    _put(C, co, a0, keep)
    _put(C, co + ldc, a1, keep)
    _put(C, co + 2 * ldc, a2, keep)
    _put(C, co + 3 * ldc, a3, keep)


@njit(**_OPTS)
def _b1x32(C, co, A, ao, aks, B, bo, ldb, K, keep):
    a0 = vzero(); a1 = vzero(); a2 = vzero(); a3 = vzero()  # noqa: E702
    for k in range(K):
        q = bo + k * ldb
        x = A[ao + k * aks]
        a0 = vmuladd(a0, x, vload(B, q))
        a1 = vmuladd(a1, x, vload(B, q + 8))
        a2 = vmuladd(a2, x, vload(B, q + 16))
        a3 = vmuladd(a3, x, vload(B, q + 24))
    _put4(C, co, a0, a1, a2, a3, keep)


@njit(**_OPTS)
def _b1x8(C, co, A, ao, aks, B, bo, ldb, K, keep):
    a = vzero()
    for k in range(K):
        a = vmuladd(a, A[ao + k * aks], vload(B, bo + k * ldb))
    _put(C, co, a, keep)


@njit(**_OPTS)
def _columns(C, co, ldc, A, ao, ars, aks, B, bo, ldb, K, M, c0, N, keep):
    """Scalar columns c0 … N−1, four rows side by side (four independent sums)."""
    m4 = M - M % 4
    for c in range(c0, N):
        for r in range(0, m4, 4):
            s0 = 0.0
            s1 = 0.0
            s2 = 0.0
            s3 = 0.0
            for k in range(K):
                b = B[bo + k * ldb + c]
                p = ao + r * ars + k * aks
                s0 += A[p] * b
                s1 += A[p + ars] * b
                s2 += A[p + 2 * ars] * b
                s3 += A[p + 3 * ars] * b
            q = co + r * ldc + c
            C[q] = C[q] + s0 if keep else s0
            q += ldc
            C[q] = C[q] + s1 if keep else s1
            q += ldc
            C[q] = C[q] + s2 if keep else s2
            q += ldc
            C[q] = C[q] + s3 if keep else s3
        for r in range(m4, M):
            s = 0.0
            for k in range(K):
                s += A[ao + r * ars + k * aks] * B[bo + k * ldb + c]
            q = co + r * ldc + c
            C[q] = C[q] + s if keep else s


@njit(**_OPTS)
def gemm(C, co, ldc, A, ao, ars, aks, B, bo, ldb, K, M, N, keep):
    """:func:`gemm_loops` on the CPU, in vector registers (the same bits)."""
    m4 = M - M % 4
    n32 = N - N % 32
    n16 = N - N % 16
    n8 = N - N % 8
    for r in range(0, m4, 4):
        for c in range(0, n32, 32):
            _b4x32(C, co + r * ldc + c, ldc, A, ao + r * ars, ars, aks, B, bo + c, ldb, K, keep)
        for c in range(n32, n16, 16):
            _b4x16(C, co + r * ldc + c, ldc, A, ao + r * ars, ars, aks, B, bo + c, ldb, K, keep)
        for c in range(n16, n8, 8):
            _b4x8(C, co + r * ldc + c, ldc, A, ao + r * ars, ars, aks, B, bo + c, ldb, K, keep)
    for r in range(m4, M):
        for c in range(0, n32, 32):
            _b1x32(C, co + r * ldc + c, A, ao + r * ars, aks, B, bo + c, ldb, K, keep)
        for c in range(n32, n8, 8):
            _b1x8(C, co + r * ldc + c, A, ao + r * ars, aks, B, bo + c, ldb, K, keep)
    if n8 < N:
        _columns(C, co, ldc, A, ao, ars, aks, B, bo, ldb, K, M, n8, N, keep)


cuda_substitute(gemm, gemm_loops)
