r"""Small dense matrix kernels for the optimizers that work on a parameter block's matrix shape
(Muon's Newton–Schulz orthogonalisation, Adafactor's row and column moments).

A matrix lives in a flat float64 array, row-major from an offset: element (i, j) of an
r × c matrix ``A`` stored at ``a[ao:]`` is ``a[ao + i * c + j]`` — the layout of a weight
block of x (:mod:`optbench.kernels.blocks`) and of the optimizer's state rows at the same
offset. Every kernel is plain loops and writes only into arrays the caller passes (the
optimizer's state rows, each of length d, serve as scratch: an r × c block's products of
size r·r, r·c or c·c, with r ≤ c, fit in the block's own range of a row). No allocation.
"""
from __future__ import annotations

import math

from optbench.kernels.compile import kernel


@kernel
def norm2(a, ao, n):
    """Euclidean norm of ``a[ao:ao + n]`` (a vector block, or a matrix's Frobenius norm)."""
    s = 0.0
    for k in range(ao, ao + n):
        s += a[k] * a[k]
    return math.sqrt(s)


@kernel
def row_sumsq(a, ao, c, i):
    """Sum of squares of row i of the r × c matrix at ``a[ao:]``."""
    s = 0.0
    base = ao + i * c
    for j in range(c):
        s += a[base + j] * a[base + j]
    return s


@kernel
def col_sumsq(a, ao, r, c, j):
    """Sum of squares of column j of the r × c matrix at ``a[ao:]``."""
    s = 0.0
    for i in range(r):
        v = a[ao + i * c + j]
        s += v * v
    return s


@kernel
def transpose(a, ao, r, c, out, oo):
    """``out[oo:]`` (c × r) = Aᵀ for the r × c matrix A at ``a[ao:]`` (distinct arrays)."""
    for i in range(r):
        for j in range(c):
            out[oo + j * r + i] = a[ao + i * c + j]


@kernel
def gram(a, ao, r, c, out, oo):
    """``out[oo:]`` (r × r) = A Aᵀ for the r × c matrix A at ``a[ao:]``."""
    for i in range(r):
        for k in range(i, r):
            s = 0.0
            for j in range(c):
                s += a[ao + i * c + j] * a[ao + k * c + j]
            out[oo + i * r + k] = s
            out[oo + k * r + i] = s


@kernel
def matmul(a, ao, b, bo, n, k, m, out, oo):
    """``out[oo:]`` (n × m) = A B for A (n × k) at ``a[ao:]`` and B (k × m) at ``b[bo:]``;
    ``out`` must not overlap A or B."""
    for i in range(n):
        for j in range(m):
            out[oo + i * m + j] = 0.0
        for p in range(k):
            aip = a[ao + i * k + p]
            for j in range(m):
                out[oo + i * m + j] += aip * b[bo + p * m + j]


@kernel
def newton_schulz(x, xo, r, c, ca, cb, cc, steps, s1, s2):
    r"""``steps`` quintic Newton–Schulz iterations in place on the r × c matrix X at ``x[xo:]``
    (r ≤ c; X already scaled to spectral norm ≤ 1):
    :math:`A = X X^\top,\ B = b A + c A A,\ X \leftarrow a X + B X` (torch.optim.Muon's
    ``_zeropower_via_newtonschulz``). Scratch: ``s1[xo:]`` and ``s2[xo:]``, r·c each."""
    for _ in range(steps):
        gram(x, xo, r, c, s1, xo)                  # A (r × r)
        matmul(s1, xo, s1, xo, r, r, r, s2, xo)    # A A
        for k in range(xo, xo + r * r):
            s1[k] = cb * s1[k] + cc * s2[k]        # B = b A + c A A
        matmul(s1, xo, x, xo, r, r, c, s2, xo)     # B X (r × c)
        for k in range(xo, xo + r * c):
            x[k] = ca * x[k] + s2[k]


@kernel
def lerp(a, b, w):
    """torch's ``lerp(a, b, w)`` = a + w (b − a), with torch's arrangement for w ≥ 0.5
    (b − (b − a)(1 − w)), so the rounding matches."""
    if abs(w) < 0.5:
        return a + w * (b - a)
    return b - (b - a) * (1.0 - w)
