"""COCO's seeded generators for the bbob instances (xopt, fopt, rotations), reproduced in NumPy.

COCO (the ``bbob`` suite of ``coco-experiment``) draws every instance from one legacy generator
of the 2009 BBOB code: a Park–Miller minimal-standard congruential generator (multiplier
16807, modulus 2³¹ − 1, Schrage's factorisation) behind a 32-entry shuffle table
(:func:`unif`), and Box–Muller normals built from it (:func:`gauss`). From these:

* ``xopt`` (:func:`compute_xopt`): uniform in [−4, 4) on a grid of 8·10⁻⁴, a zero replaced by
  −10⁻⁵;
* ``fopt`` (:func:`compute_fopt`): 100·g₁/g₂ of two normals rounded to two decimals (half away
  from zero, as C's ``round``) and clipped to [−1000, 1000];
* rotations (:func:`compute_rotation`): a d×d matrix of normals (column-major) made orthogonal
  by classical Gram–Schmidt on its columns.

The seed of function k, instance i is ``k + 10000·i`` (:func:`instance_seed`); COCO derives
the rotations R and Q from ``seed + 1000000`` and ``seed``. Setup-time code (plain NumPy), not
kernels. Checked value for value against ``cocoex`` in tests/test_bbob.py.

Source: N. Hansen, S. Finck, R. Ros, A. Auger, *Real-Parameter Black-Box Optimization
Benchmarking 2009: Noiseless Functions Definitions*, INRIA RR-6829; COCO's
``suite_bbob_legacy_code.c``.
"""
from __future__ import annotations

import math

import numpy as np

_M = 2147483647            # 2^31 - 1
_A, _Q, _R = 16807, 127773, 2836


def _next(seed: int) -> int:
    tmp = seed // _Q                   # floor of a non-negative ratio
    seed = _A * (seed - tmp * _Q) - _R * tmp
    return seed + _M if seed < 0 else seed


def unif(n: int, seed: int) -> np.ndarray:
    """COCO's ``bbob2009_unif``: n uniforms in (0, 1) from ``seed`` (a 0 becomes 1e-99)."""
    seed = abs(int(seed))
    seed = max(seed, 1)
    table = [0] * 32
    for i in range(39, -1, -1):
        seed = _next(seed)
        if i < 32:
            table[i] = seed
    cur = table[0]
    out = np.empty(n)
    for i in range(n):
        seed = _next(seed)
        k = cur // 67108865
        cur = table[k]
        table[k] = seed
        r = cur / 2.147483647e9
        out[i] = 1e-99 if r == 0.0 else r
    return out


def gauss(n: int, seed: int) -> np.ndarray:
    """COCO's ``bbob2009_gauss``: n Box–Muller normals from ``unif(2n, seed)``."""
    u = unif(2 * n, seed)
    out = np.empty(n)
    for i in range(n):
        g = math.sqrt(-2.0 * math.log(u[i])) * math.cos(2.0 * math.pi * u[n + i])
        out[i] = 1e-99 if g == 0.0 else g
    return out


def instance_seed(function: int, instance: int) -> int:
    """COCO's seed of (function, instance): ``function + 10000 * instance``."""
    return int(function) + 10000 * int(instance)


def compute_xopt(seed: int, dim: int) -> np.ndarray:
    """COCO's ``bbob2009_compute_xopt``: 8·⌊10⁴u⌋/10⁴ − 4, a zero made −10⁻⁵."""
    u = unif(dim, seed)
    x = np.array([8.0 * math.floor(1e4 * v) / 1e4 - 4.0 for v in u])
    x[x == 0.0] = -1e-5
    return x


def _c_round(v: float) -> float:
    return math.copysign(math.floor(abs(v) + 0.5), v)


def compute_fopt(function: int, instance: int) -> float:
    """COCO's ``bbob2009_compute_fopt`` (functions 4 and 18 share the seeds of 3 and 17)."""
    base = {4: 3, 18: 17}.get(int(function), int(function))
    seed = base + 10000 * int(instance)
    g1 = gauss(1, seed)[0]
    g2 = gauss(1, seed + 1)[0]
    return min(1000.0, max(-1000.0, _c_round(100.0 * 100.0 * g1 / g2) / 100.0))


def compute_rotation(seed: int, dim: int) -> np.ndarray:
    """COCO's ``bbob2009_compute_rotation``: classical Gram–Schmidt on the columns of a d×d
    matrix of normals (B[i, j] = gauss[j·d + i]); dot products summed left to right as COCO's
    loop does (``np.add.accumulate``: a BLAS dot's order moved f7's values by 1e-12)."""
    B = gauss(dim * dim, seed).reshape(dim, dim).T.copy()
    for i in range(dim):
        for j in range(i):
            B[:, i] -= _dot_in_order(B[:, i], B[:, j]) * B[:, j]
        B[:, i] /= math.sqrt(_dot_in_order(B[:, i], B[:, i]))
    return B


def _dot_in_order(a: np.ndarray, b: np.ndarray) -> float:
    """Σ_k a_k b_k summed left to right (np.add.accumulate is sequential), as COCO's C loop."""
    return float(np.add.accumulate(a * b)[-1])
