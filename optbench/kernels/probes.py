r"""Random probe vectors for curvature estimates (Hutchinson's estimator), drawn from the run.

:func:`rademacher` ``(seed, t, i)`` is entry ``i`` of the probe of step ``t`` in the run with
seed ``seed``: +1 or −1 with equal probability, a pure function of the three integers (no
generator state), so a run is reproducible serial or parallel, on the CPU or on CUDA, and a
reference implementation draws the same probes with :func:`rademacher_vector`.

The hash is MurmurHash3's 32-bit finaliser ``fmix32`` chained over the seed's two 32-bit
halves, the step and the index; the sign is the top bit. Every product stays below 2⁶³ in
magnitude (the minibatch order and noise of :mod:`optbench.problems.minibatch` use the same
:func:`mul32` and :func:`fmix32`), so the same source gives the same bits in
plain Python, ``numba.njit`` and ``numba.cuda``. Seeds, steps and indices lie in [0, 2⁶²).
"""
from __future__ import annotations

import numpy as np

from optbench.kernels.compile import kernel

_M = 0xFFFFFFFF


@kernel
def mul32(a, b):
    """``a * b mod 2**32`` for 32-bit ``a``, ``b``: one multiplication. ``b`` is read as a
    signed 32-bit value (``b - 2**32`` when ``b >= 2**31``: the product changes by a multiple of
    2**32), so ``|a·b| < 2**63`` never overflows an int64, and the mask keeps the low 32 bits
    of a negative product too (two's complement in int64, as in Python's integers)."""
    if b >= 0x80000000:
        b -= 0x100000000
    return (a * b) & 0xFFFFFFFF


@kernel
def fmix32(x):
    """MurmurHash3's 32-bit finaliser (a bijection of 0 … 2**32 − 1)."""
    x = x ^ (x >> 16)
    x = mul32(x, 0x85EBCA6B)
    x = x ^ (x >> 13)
    x = mul32(x, 0xC2B2AE35)
    return x ^ (x >> 16)


@kernel
def rademacher(seed, t, i):
    """±1.0: entry i of the probe of step t in the run with seed ``seed`` (integers)."""
    h = fmix32((seed & 0xFFFFFFFF) ^ 0x9E3779B9)
    h = fmix32(h ^ ((seed >> 32) & 0xFFFFFFFF))
    h = fmix32(h ^ (t & 0xFFFFFFFF) ^ 0x7F4A7C15)
    h = fmix32(h ^ (i & 0xFFFFFFFF) ^ 0x85EBCA77)
    return 1.0 if (h >> 31) == 1 else -1.0


def rademacher_vector(seed: int, t: int, d: int) -> np.ndarray:
    """The whole probe of step t (length d), in NumPy: equal to ``rademacher(seed, t, i)``."""
    M = np.uint64(_M)

    def mul(a, b):
        return ((a & np.uint64(0xFFFF)) * np.uint64(b)
                + ((((a >> np.uint64(16)) * np.uint64(b)) & np.uint64(0xFFFF)) << np.uint64(16))) & M

    def fmix(x):
        x = x ^ (x >> np.uint64(16))
        x = mul(x, 0x85EBCA6B)
        x = x ^ (x >> np.uint64(13))
        x = mul(x, 0xC2B2AE35)
        return x ^ (x >> np.uint64(16))

    h = fmix(np.uint64((seed & _M) ^ 0x9E3779B9))
    h = fmix(h ^ np.uint64((seed >> 32) & _M))
    h = fmix(h ^ np.uint64(t & _M) ^ np.uint64(0x7F4A7C15))
    i = np.arange(d, dtype=np.uint64)
    h = fmix(np.full(d, h, dtype=np.uint64) ^ (i & M) ^ np.uint64(0x85EBCA77))
    return np.where((h >> np.uint64(31)) == 1, 1.0, -1.0)
