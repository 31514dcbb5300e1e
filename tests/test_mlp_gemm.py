"""The vector kernels against the plain loops that define them, bit for bit: the MLP's dense
product (problems/mlp_gemm.py), the gradient norm of the run loops (runner/loop.py), the
minibatch order computed 32 positions at once (problems/minibatch.perm_block); and the SIMD
intrinsics' refusal of arrays they cannot load from."""
from __future__ import annotations

import numpy as np
import pytest
from numba import njit
from numba.core.errors import TypingError

from optbench.kernels import compile as kc
from optbench.kernels.simd import vload, vsqadd, vstore, vzero
from optbench.problems import minibatch as mb
from optbench.problems.mlp_gemm import gemm, gemm_loops
from optbench.runner.loop import NORM_SPLIT_D, grad_sumsq, grad_sumsq_loops

LOOPS = njit(error_model="numpy")(gemm_loops)


def bits(a):
    return np.asarray(a, dtype=np.float64).view(np.int64)


@pytest.mark.parametrize("keep", [0, 1])
@pytest.mark.parametrize("transposed", [False, True])
def test_gemm_gives_the_loops_bits_on_every_block_shape(keep, transposed):
    """Rows 1 … 9 and 33 (blocks of 4 and the rows left over), columns around 8 and 32 (the
    4 × 32, 4 × 8, 1 × 32 and 1 × 8 blocks and the scalar columns), sums of 0 … 33 terms, A
    as a matrix or its transpose, offsets everywhere, values spanning many binades (so a
    changed order would change the bits), C added to or overwritten."""
    rng = np.random.default_rng(int(keep) + 2 * int(transposed))
    for M in (1, 2, 3, 4, 5, 8, 9, 33):
        for N in (1, 2, 7, 8, 9, 16, 31, 32, 33, 40, 71):
            for K in (0, 1, 2, 5, 32, 33):
                ars, aks = (1, M) if transposed else (K, 1)
                A = rng.standard_normal(M * K + 3) * 10.0 ** rng.integers(-6, 6, M * K + 3)
                B = rng.standard_normal(K * (N + 2) + 5)
                C = rng.standard_normal(M * (N + 1) + 4)
                C2 = C.copy()
                gemm(C, 2, N + 1, A, 3, ars, aks, B, 5, N + 2, K, M, N, keep)
                LOOPS(C2, 2, N + 1, A, 3, ars, aks, B, 5, N + 2, K, M, N, keep)
                assert np.array_equal(bits(C), bits(C2)), (M, N, K)


def test_gemm_computes_the_product():
    """Against NumPy's matrix product (to rounding), C added to and overwritten, and nothing
    outside C's rows and columns written."""
    rng = np.random.default_rng(7)
    M, K, N, ldc = 6, 11, 37, 40
    A, B = rng.standard_normal((M, K)), rng.standard_normal((K, N))
    C = rng.standard_normal(M * ldc)
    old = C.copy()
    gemm(C, 0, ldc, A.ravel(), 0, K, 1, B.ravel(), 0, N, K, M, N, 1)
    got = C.reshape(M, ldc)
    assert np.allclose(got[:, :N], old.reshape(M, ldc)[:, :N] + A @ B, rtol=1e-13, atol=1e-13)
    assert np.array_equal(got[:, N:], old.reshape(M, ldc)[:, N:])
    gemm(C, 0, ldc, A.T.copy().ravel(), 0, 1, M, B.ravel(), 0, N, K, M, N, 0)
    assert np.allclose(C.reshape(M, ldc)[:, :N], A @ B, rtol=1e-13, atol=1e-13)


def test_gemm_is_the_loops_on_cuda():
    """CUDA compiles the plain loops in the vector kernel's place (a substitute of the
    dispatcher, as for the cycle counter)."""
    assert kc._CUDA_SUBSTITUTES[id(gemm)] is gemm_loops
    assert kc._CUDA_SUBSTITUTES[id(grad_sumsq)] is grad_sumsq_loops.py_func


def test_gradient_norm_gives_the_loops_bits():
    """Below NORM_SPLIT_D the serial sum, from it on eight partial sums in a vector register:
    the same bits as the plain loops at every length around the blocks of 8 and the split."""
    rng = np.random.default_rng(3)
    for d in list(range(0, 40)) + list(range(NORM_SPLIT_D - 9, NORM_SPLIT_D + 17)) + [4099]:
        g = rng.standard_normal(d + 3) * 10.0 ** rng.integers(-8, 8, d + 3)
        assert bits(grad_sumsq(g, d)) == bits(grad_sumsq_loops(g, d)), d
    g = rng.standard_normal(1000)
    assert grad_sumsq(g, 1000) == pytest.approx(float(g @ g), rel=1e-14)
    s = 0.0
    for v in g[:NORM_SPLIT_D - 1]:
        s += v * v
    assert bits(grad_sumsq(g, NORM_SPLIT_D - 1)) == bits(s)       # serial below the split


@pytest.mark.parametrize("n", [2, 3, 200, 2048, 5000])
def test_perm_block_is_perm_apply(n):
    """32 (and fewer) consecutive positions at once give exactly the one-at-a-time walk."""
    apply = kc.cpu(mb.perm_apply)
    block = kc.cpu(mb.perm_block)
    keys = kc.cpu(mb.perm_round_keys)
    for seed, epoch in [(0, 0), (7, 3), (2 ** 40 + 5, 11)]:
        kh, kl = kc.cpu(mb.perm_key)(seed, epoch)
        for p0, m in [(0, min(32, n)), (n - min(n, 9), min(n, 9)), (n // 2, 1)]:
            out = np.full(40, -1.0)
            block(out, 3, n, mb.perm_bits(n), keys(kh, kl), p0, m)
            want = [apply(n, kh, kl, p0 + s) for s in range(m)]
            assert out[3:3 + m].tolist() == want
            assert (out[:3] == -1.0).all() and (out[3 + m:] == -1.0).all()


def test_simd_refuses_arrays_it_cannot_load():
    """A strided or non-float64 array is a typing error naming what is needed, not a wrong
    load."""
    @njit
    def first(a):
        acc = vsqadd(vzero(), vload(a, 0))
        vstore(a, 0, acc)

    with pytest.raises(TypingError, match="contiguous 1-D float64"):
        first(np.zeros(32)[::2])
    with pytest.raises(TypingError, match="contiguous 1-D float64"):
        first(np.zeros(16, dtype=np.float32))
    a = np.arange(16.0)
    first(a)
    assert a[:8].tolist() == [v * v for v in range(8)] and a[8:].tolist() == list(range(8, 16))


def test_gradient_norm_is_the_fused_engines_block_order():
    """From NORM_SPLIT_D on, the run loops' ‖g‖² is the fused engine's block sum of the squares
    (fused.ordered_sum), bit for bit, so the two engines agree on ‖g‖ for a block's length."""
    from optbench.runner.fused import ordered_sum

    block = kc.cpu(ordered_sum)
    rng = np.random.default_rng(5)
    for d in (NORM_SPLIT_D, NORM_SPLIT_D + 5, 1000, 8192):
        g = rng.standard_normal(d) * 10.0 ** rng.integers(-8, 8, d)
        assert bits(grad_sumsq(g, d)) == bits(block(g * g, d)), d
