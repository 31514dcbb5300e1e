"""One epoch of minibatch Adam on small MLPs against PyTorch (CPU) and NumPy.

The work of :mod:`optbench.bench.mlp`: 2,048 two-spirals samples, batch 32, two hidden ReLU
layers of width w, float64, the same initial weights and minibatch order for every peer.
JAX + optax (when installed): ``jit`` of a ``lax.scan`` of ``optax.adam`` over the epoch's
minibatches, its busy threads (CPU time / wall) reported; goal: optbench ≥ 1.5× faster.
PyTorch is timed with its default threads and with one thread (the faster of the two on a
small machine is the one compared against: ``best PyTorch``).
"""
from __future__ import annotations

import math

from .common import Row


def run(widths=(16, 32, 64, 128), repeats: int = 5) -> list[Row]:
    from ..mlp import bench_width

    rows = []
    for w in widths:
        r = bench_width(w, repeats=repeats)
        work = f"MLP epoch, width {w} ({r['params']:,} parameters)"
        ours = r["optbench_ms"] * 1e-3
        if "torch_ms" in r:
            best = min(r["torch_ms"], r["torch_1thread_ms"])
            which = "1 thread" if r["torch_1thread_ms"] <= r["torch_ms"] else "default threads"
            rows.append(Row(work, "PyTorch CPU (best of default threads and 1 thread)", ours,
                            best * 1e-3, goal=5.0,
                            note=f"best: {which}; max |Δx| vs torch {r['torch_max_dx']:.1e}"))
        else:
            rows.append(Row(work, "PyTorch CPU", ours, None, goal=5.0,
                            skipped="torch not installed"))
        if "jax_ms" in r:
            rows.append(Row(work, "JAX + optax (jit of a lax.scan over the epoch)", ours,
                            r["jax_ms"] * 1e-3, goal=1.5,
                            note=f"{r['jax_threads']:.1f} threads busy; compile "
                                 f"{r['jax_compile_s']:.1f} s; max |Δx| {r['jax_max_dx']:.1e}"))
        else:
            rows.append(Row(work, "JAX + optax", ours, None, goal=1.5,
                            skipped="jax/optax not installed (the bench extra)"))
        rows.append(Row(work, "NumPy (hand-written batched backprop)", ours,
                        r["numpy_ms"] * 1e-3,
                        note=f"max |Δx| vs NumPy {r['numpy_max_dx']:.1e}"
                        if not math.isnan(r["numpy_max_dx"]) else ""))
    return rows
