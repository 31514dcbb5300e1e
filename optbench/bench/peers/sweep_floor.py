"""Two more peers of the Adam sweep (``sweep.py``): JAX + optax, and the SIMD floor.

* ``jax_optax``: what a researcher who wants fast batched sweeps writes today —
  ``jax.jit(jax.vmap(run))`` where ``run`` is a ``lax.scan`` of ``optax.adam`` over the steps,
  the gradient written by hand (the same formula as optbench's kernel), the best f tracked;
  float64 on the CPU. Its compile time is reported apart; the figure is the median of timed
  calls. Its threads: CPU time over wall time of the timed call.
* ``simd_floor``: a hand-written Numba loop for this one pair, runs innermost (structure of
  arrays), ``error_model="numpy"``, the bias corrections once per step, a select for the best
  f, ``prange`` over chunks of runs — no targets, traces, divergence or tables: the bar the
  lane driver is measured against. (Measured here it is not yet the SIMD floor: XLA's loop
  for the same arithmetic runs faster on one thread; see BENCHMARKS.md, "Lane driver".)

Both compute torch's Adam arithmetic; their end points are checked against optbench's (the
non-chaotic runs agree to 1e-12 relative or better; the sweep's largest learning rates are
chaotic on Rosenbrock, so a last-bit difference in one operation grows).
"""
from __future__ import annotations

import math
import os
import time

import numpy as np

import optbench.kernels  # noqa: F401  (sets numba's cache folder before the dispatchers below)
from numba import njit, prange

B1, B2, EPS = 0.9, 0.999, 1e-8
CHUNK = 256


@njit(error_model="numpy", cache=True)
def _chunk(x0, x1, lr, steps, best):
    """One chunk of runs, every array contiguous and the chunk's own (the loop over runs
    vectorises: numba's parfor bodies lose that, so the parallel loop only calls this)."""
    n = x0.shape[0]
    m0 = np.zeros(n)
    m1 = np.zeros(n)
    v0 = np.zeros(n)
    v1 = np.zeros(n)
    b1t = 1.0
    b2t = 1.0
    for t in range(steps):
        b1t *= B1
        b2t *= B2
        bc1 = 1.0 - b1t
        sbc2 = math.sqrt(1.0 - b2t)
        for r in range(n):
            a = x1[r] - x0[r] * x0[r]
            b = 1.0 - x0[r]
            f = 100.0 * a * a + b * b
            best[r] = f if f < best[r] else best[r]
            g0 = -400.0 * a * x0[r] - 2.0 * b
            g1 = 200.0 * a
            m0[r] = m0[r] + (1.0 - B1) * (g0 - m0[r])
            m1[r] = m1[r] + (1.0 - B1) * (g1 - m1[r])
            v0[r] = v0[r] * B2 + (1.0 - B2) * g0 * g0
            v1[r] = v1[r] * B2 + (1.0 - B2) * g1 * g1
            step = lr[r] / bc1
            x0[r] = x0[r] - step * (m0[r] / (math.sqrt(v0[r]) / sbc2 + EPS))
            x1[r] = x1[r] - step * (m1[r] / (math.sqrt(v1[r]) / sbc2 + EPS))


@njit(parallel=True, cache=True)
def _simd(x0, x1, lr, steps, best):
    R = x0.shape[0]
    nchunk = (R + CHUNK - 1) // CHUNK
    for c in prange(nchunk):
        r0 = c * CHUNK
        r1 = min(r0 + CHUNK, R)
        _chunk(x0[r0:r1], x1[r0:r1], lr[r0:r1], steps, best[r0:r1])


def simd_floor(X, lr, steps, repeats: int = 3):
    """(end points, seconds) of the hand-written SIMD loop (compiled before the clock): the
    median of ``repeats`` calls, each from the same starts."""
    x0, x1, best = X[:, 0].copy(), X[:, 1].copy(), np.full(len(X), np.inf)
    _simd(x0[:2].copy(), x1[:2].copy(), lr[:2], 2, best[:2].copy())
    walls = []
    for _ in range(repeats):
        x0, x1, best = X[:, 0].copy(), X[:, 1].copy(), np.full(len(X), np.inf)
        t0 = time.perf_counter()
        _simd(x0, x1, lr, steps, best)
        walls.append(time.perf_counter() - t0)
    return np.stack([x0, x1], axis=1), float(np.median(walls))


def jax_optax(X, lr, steps, repeats: int = 3):
    """(end points, seconds, compile seconds, threads) of jit(vmap(scan(optax.adam)))."""
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import optax

    def run(x0, lr):
        opt = optax.adam(lr, b1=B1, b2=B2, eps=EPS)

        def body(carry, _):
            x, s, best = carry
            a = x[1] - x[0] * x[0]
            b = 1.0 - x[0]
            f = 100.0 * a * a + b * b
            g = jnp.stack([-400.0 * a * x[0] - 2.0 * b, 200.0 * a])
            u, s = opt.update(g, s, x)
            return (optax.apply_updates(x, u), s, jnp.minimum(best, f)), None

        (x, _, best), _ = jax.lax.scan(body, (x0, opt.init(x0), jnp.inf), None, length=steps)
        return x, best

    from ..common import time_jax

    fn = jax.jit(jax.vmap(run))
    out, compile_s, walls, busy = time_jax(fn, (jnp.asarray(X), jnp.asarray(lr)), repeats)
    k = int(np.argsort(walls)[len(walls) // 2])
    return np.asarray(out[0]), walls[k], compile_s, busy[k]


def agreement(ours: np.ndarray, theirs: np.ndarray, lr: np.ndarray, lr_max: float = 1e-2):
    """Largest relative difference of end points over the runs with lr <= lr_max (the
    non-chaotic part of the sweep)."""
    keep = lr <= lr_max
    a, b = ours[keep], theirs[keep]
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(a), 1e-300)))


def jax_threads_note(threads: float) -> str:
    return f"{threads:.1f} threads busy (CPU/wall); {os.cpu_count()} cores"
