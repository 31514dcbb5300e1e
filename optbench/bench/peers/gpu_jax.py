"""JAX + optax on the GPU against optbench's CUDA path (the ``gpu`` rows of ``peers``).

Run where a CUDA GPU is present and JAX has its GPU backend (``jax.devices()`` on a GPU);
float64 on both sides, the same starts and learning rates, JAX's compile time apart:

* the 4,096-run sweep of ``sweep.py`` (Adam, 2-D Rosenbrock, 10⁴ steps, random starts):
  optbench's ``execute(specs)`` with ``device="cuda"`` (a thread per run; the runs and traces
  tables, the target ladder and the trace included) against ``jit(vmap(lax.scan(optax.adam)))``
  on the GPU (``sweep_floor.jax_optax``; the best f per run, no traces);
* the same sweep at 2¹⁸ runs (64 learning rates × 4,096 seeds, ``record="none"``): optbench's
  kernel time (the batch's ``wall_s``, tables apart) against JAX's call;
* Adam on the diagonal quadratic (``adam_large.py``) at d = 2²² and 2²⁶, one run: optbench's
  grid-per-run engine (``ob.run``'s ``wall_s``) against ``jit(lax.scan)`` on the GPU;
* an MLP epoch (``bench/mlp.py``, widths 16–128): JAX on the GPU against optbench on this
  machine's CPU (optbench's MLP runs a thread per run on the GPU: no data-parallel epoch).
"""
from __future__ import annotations

import time

import numpy as np

from .common import Row

SWEEP_BIG_SEEDS = 4_096
LARGE_DIMS = (2 ** 22, 2 ** 26)


def jax_gpu() -> str | None:
    """The name of JAX's GPU device, or None (no JAX, or JAX without a GPU backend)."""
    try:
        import jax
    except ImportError:
        return None
    try:
        devs = [d for d in jax.devices() if d.platform == "gpu"]
    except RuntimeError:
        return None
    return devs[0].device_kind if devs else None


def sweep_specs(n_lr: int, n_seed: int, steps: int, record: str | None = None,
                device: str = "cuda", dtype: str = "float64"):
    """The run specs of ``sweep.py``'s sweep (n_lr learning rates × n_seed random starts) on
    ``device`` in ``dtype``."""
    from optbench.runner.suites import suite_specs

    from .sweep import _suite

    s = dict(_suite(n_lr, n_seed, steps), device=device, dtype=dtype)
    if record:
        s["record"] = record
    return suite_specs(s)


def sweep_rows(n_lr: int = 64, n_seed: int = 64, steps: int = 10_000, repeats: int = 3,
               big_seeds: int = SWEEP_BIG_SEEDS) -> list[Row]:
    from optbench.runner.execute import execute, run_batch

    from . import sweep_floor as F
    from .sweep import starts

    rows = []
    for seeds, tables in ((n_seed, True), (big_seeds, False)):
        specs = sweep_specs(n_lr, seeds, steps, None if tables else "none")
        R, total = len(specs), len(specs) * steps
        t0 = time.perf_counter()
        runs, _ = execute(specs)                   # compile, load and one run
        first = time.perf_counter() - t0
        walls, kern = [first], [float(runs.wall_s.sum())]
        for _ in range(repeats if tables else 0):   # the big one: its kernel time, once
            t0 = time.perf_counter()
            runs, _ = execute(specs)
            walls.append(time.perf_counter() - t0)
            kern.append(float(runs.wall_s.sum()))
        if tables:
            walls, kern = walls[1:], kern[1:]
        wall, kernel = float(np.median(walls)), float(np.median(kern))
        ours = total / (wall if tables else kernel)
        X = starts(specs)
        lr = np.array([s.optimizer_params["lr"] for s in specs])
        xo = np.array([x for _, x in run_batch(specs).xs]) if tables else None
        xj, tj, cj, _ = F.jax_optax(X, lr, steps, repeats=repeats)
        agree = (f"; end points vs optbench (lr ≤ 1e-2): {F.agreement(xo, xj, lr):.1e} rel."
                 if xo is not None else "")
        what = ("whole sweep incl. tables" if tables else "kernel time, tables apart")
        rows.append(Row(f"{R:,}-run lr × seed sweep, 2-D Rosenbrock, Adam, {steps:,} steps, "
                        "GPU", "JAX + optax on the GPU, jit(vmap(lax.scan))", ours, total / tj,
                        unit="/s",
                        note=f"optbench {what}: {wall if tables else kernel:.3f} s (first call "
                             f"{first:.1f} s); JAX {tj:.3f} s, compile {cj:.1f} s{agree}",
                        extra={"optbench_s": wall if tables else kernel, "jax_s": tj,
                               "jax_compile_s": cj, "runs": R,
                               "kind": "sweep" if tables else "big-sweep"}))
    return rows


def large_rows(dims=LARGE_DIMS, steps: int = 30, repeats: int = 3) -> list[Row]:
    import optbench as ob

    from ..common import time_jax
    from .adam_large import LR, _jax

    rows = []
    for dim in dims:
        p = ob.problem("quadratic", dim=dim, cond=1e3, start="random")
        o = ob.optimizer("adam", lr=LR)
        first = ob.run(p, o, steps=steps, stop="budget", record="none", device="cuda")
        ours = float(np.median([ob.run(p, o, steps=steps, stop="budget", record="none",
                                       device="cuda").wall_s for _ in range(repeats)])) / steps
        fn, args = _jax(p.x0(0), p.data[:dim].copy(), steps)
        out, cj, walls, _ = time_jax(fn, args, repeats)
        xj = np.asarray(out[0])
        dev = float(np.max(np.abs(xj - first.x)) / np.max(np.abs(first.x)))
        gbps = 7 * 8 * dim / ours / 1e9
        rows.append(Row(f"Adam, {dim:,}-dim diagonal quadratic, per step, GPU",
                        "JAX + optax on the GPU (jit of a lax.scan)", ours,
                        float(np.median(walls)) / steps,
                        note=f"optbench {gbps:.0f} GB/s ({first.row.get('gpu_layout')}); JAX "
                             f"compile {cj:.1f} s; end points differ by {dev:.1e} (relative)",
                        extra={"optbench_GBps": gbps, "dim": dim, "kind": "large"}))
    return rows


def mlp_rows(widths=(16, 32, 64, 128), repeats: int = 3) -> list[Row]:
    from .. import mlp as M

    rows = []
    for w in widths:
        p = M.problem(w)
        epochs = M.default_epochs(p)
        ours, _, xo = M.optbench_epoch(p, epochs, repeats)
        jt, xj, cj, _ = M.run_jax(p, p.x0(0), M.batches(epochs), repeats=repeats)
        rows.append(Row(f"MLP epoch, width {w} (2,048 spirals, batch 32, Adam)",
                        "JAX + optax on the GPU (optbench on the CPU)", ours, jt,
                        note=f"JAX compile {cj:.1f} s; max |Δx| {np.abs(xj - xo).max():.1e}"))
    return rows


def run(quick: bool = False, big_seeds: int = SWEEP_BIG_SEEDS, dims=LARGE_DIMS) -> list[Row]:
    """Every GPU row against JAX (one skipped row when JAX has no GPU backend)."""
    name = jax_gpu()
    if name is None:
        return [Row("GPU rows against JAX", "JAX + optax on the GPU", None, None,
                    skipped="JAX with a GPU backend is not installed here")]
    if quick:
        return (sweep_rows(n_lr=8, n_seed=8, steps=200, repeats=1, big_seeds=64)
                + large_rows(dims=(2 ** 16,), steps=5, repeats=1)
                + mlp_rows(widths=(16,), repeats=1))
    return sweep_rows(big_seeds=big_seeds) + large_rows(dims=dims) + mlp_rows()
