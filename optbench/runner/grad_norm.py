"""The gradient norm of the run loops: ‖g‖² in one fixed order, whatever the engine.

``grad_sumsq_loops`` states the order as plain loops (what CUDA compiles); ``grad_sumsq`` is
the CPU version, the eight partial sums in one vector register (:mod:`optbench.kernels.simd`),
with the same bits (``tests/test_mlp_gemm.py``). The generic, phased, lockstep and
second-order loops call it once per step; the fused engine sums each block of coordinates in
the same order, and the lane driver (d ≤ 64) in coordinate order, as below the split.
"""
from __future__ import annotations

from numba import njit

from optbench.kernels.compile import cuda_substitute, kernel
from optbench.kernels.simd import vlane, vload, vsqadd, vzero

NORM_SPLIT_D = 256   # from this dimension on, ‖g‖² is summed in eight partial sums (below)


@njit(cache=True, inline="always", _nrt=False)
@kernel
def tree8(s0, s1, s2, s3, s4, s5, s6, s7):
    """Eight partial sums combined in the fixed tree ((s0 + s1) + (s2 + s3)) + ((s4 + s5) +
    (s6 + s7)) (also the fused engine's block sums, ``fused.ordered_sum``)."""
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))


@njit(cache=True, inline="always", _nrt=False)
@kernel
def grad_sumsq_loops(g, d):
    """‖g‖² of g[0:d], the one order every engine uses: in the order i = 0, 1, … below
    NORM_SPLIT_D coordinates; from NORM_SPLIT_D on, eight interleaved partial sums (lane j
    adds g_i² for i ≡ j mod 8 in order, i < d − d mod 8; the last d mod 8 squares then go to
    lane 0), combined by :func:`tree8`: the order of one block of the fused engine
    (``fused.ordered_sum`` of the squares, tested). A serial sum of d squares costs d
    floating-point add latencies; eight sums are one vector register (:func:`grad_sumsq`)."""
    v = g[0:d]
    if d < NORM_SPLIT_D:
        s = 0.0
        for i in range(d):
            s += v[i] * v[i]
        return s
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    s3 = 0.0
    s4 = 0.0
    s5 = 0.0
    s6 = 0.0
    s7 = 0.0
    m = d - d % 8
    for k in range(0, m, 8):
        s0 += v[k] * v[k]
        s1 += v[k + 1] * v[k + 1]
        s2 += v[k + 2] * v[k + 2]
        s3 += v[k + 3] * v[k + 3]
        s4 += v[k + 4] * v[k + 4]
        s5 += v[k + 5] * v[k + 5]
        s6 += v[k + 6] * v[k + 6]
        s7 += v[k + 7] * v[k + 7]
    for k in range(m, d):
        s0 += v[k] * v[k]
    return tree8(s0, s1, s2, s3, s4, s5, s6, s7)


@njit(cache=True, inline="always", error_model="numpy", _nrt=False)
def grad_sumsq(g, d):
    """:func:`grad_sumsq_loops` on the CPU, the eight partial sums in one vector register (the
    same bits; CUDA compiles the loops)."""
    if d < NORM_SPLIT_D:
        return grad_sumsq_loops(g, d)
    m = d - d % 8
    acc = vzero()
    for k in range(0, m, 8):
        acc = vsqadd(acc, vload(g, k))
    s0 = vlane(acc, 0)
    for k in range(m, d):
        s0 += g[k] * g[k]
    return tree8(s0, vlane(acc, 1), vlane(acc, 2), vlane(acc, 3), vlane(acc, 4),
                 vlane(acc, 5), vlane(acc, 6), vlane(acc, 7))


cuda_substitute(grad_sumsq, grad_sumsq_loops.py_func)
