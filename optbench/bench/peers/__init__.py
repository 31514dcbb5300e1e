"""optbench against the tools a user would otherwise use, on the same work, in one process.

    python -m optbench.bench peers [--quick] [--only NAME,...] [--write BENCHMARKS.md]
                                   [--json FILE]

Runs every comparison below, prints one table, and (``--write``) rewrites the "Performance
against peers" section of BENCHMARKS.md with the figures, the machine (CPU model, cores,
GPU), package versions and the date. Every figure is a median of repeated runs after a
warm-up; compile time is reported apart and never inside a timing. A peer that is not
installed (torch, scipy) is reported as skipped, never silently dropped.

Comparisons (one module each): ``adam_small`` (2-D Rosenbrock per step), ``adam_large``
(2²²-dim quadratic per step, with the bandwidth against a STREAM-like triad), ``sweep``
(4,096 runs × 10⁴ steps), ``second_order`` (L-BFGS and Newton-CG against scipy), ``mlp``
(an epoch of small MLPs against PyTorch and NumPy), ``compile`` (cold and warm processes),
``gpu`` (the GPU path, when a CUDA GPU is present, and JAX + optax on the same GPU:
``gpu_jax``).
"""
from __future__ import annotations

import time

from .common import Row, table  # noqa: F401  (table: re-exported)

NAMES = ("adam_small", "adam_large", "sweep", "second_order", "mlp", "compile", "gpu")
TITLE = "## Performance against peers (issue: performance against peers)"


def _gpu(quick: bool) -> list[Row]:
    from .common import gpu_name

    if gpu_name() is None:
        return [Row("GPU sweep and large-d run", "CPU path", None, None,
                    skipped="no CUDA GPU on this machine (see the GPU section when one is)")]
    from ..gpu import gpu

    r = gpu(runs=10_000 if quick else 262_144, quick=quick)
    if "skipped" in r:
        return [Row("GPU sweep", "CPU path", None, None, skipped=r["skipped"])]
    rows = [Row(f"Adam 2-D sweep on {r['device']}, float64", "the CPU path (this machine)",
                r["sweep_steps_per_s_float64"], r["cpu_sweep_steps_per_s"], unit="/s",
                note=f"float32 {r['sweep_steps_per_s_float32']:.3g} steps/s; 2^26 quadratic "
                     f"{r['quadratic_GBps']:.0f} GB/s = {100 * r['bandwidth_fraction']:.0f} % "
                     "of a device copy")]
    return rows + [Row.from_dict(j) for j in r["jax_rows"]]


def run(names=NAMES, quick: bool = False, log=print) -> list[Row]:
    """Run the named comparisons; ``quick`` uses small sizes (a check, not a figure)."""
    from . import adam_large, adam_small, compile_time, mlp, second_order, sweep

    plan = {
        "adam_small": lambda: adam_small.run(steps=2_000 if quick else 20_000,
                                             python_steps=200 if quick else 2_000,
                                             repeats=2 if quick else 5),
        "adam_large": lambda: adam_large.run(dim=2 ** 16 if quick else 2 ** 22,
                                             steps=5 if quick else 30,
                                             repeats=2 if quick else 3),
        "sweep": lambda: sweep.run(n_lr=8, n_seed=8, steps=200, repeats=1) if quick
        else sweep.run(repeats=5),
        "second_order": lambda: second_order.run(dim=50 if quick else 1000,
                                                 repeats=1 if quick else 3),
        "mlp": lambda: mlp.run(widths=(16,) if quick else (16, 32, 64, 128),
                               repeats=1 if quick else 5),
        "compile": lambda: compile_time.run(suites=("smoke",) if quick else ("smoke", "quick")),
        "gpu": lambda: _gpu(quick),
    }
    unknown = [n for n in names if n not in plan]
    if unknown:
        from optbench.validate import OptbenchInputError
        raise OptbenchInputError(f"unknown comparison {unknown[0]!r}; valid: {', '.join(NAMES)}")
    rows: list[Row] = []
    for n in names:
        t0 = time.perf_counter()
        got = plan[n]()
        log(f"[{n}] {len(got)} rows in {time.perf_counter() - t0:.1f} s")
        rows.extend(got)
    return rows


def to_markdown(rows: list[Row], mach: dict, quick: bool = False, commentary: str = "") -> str:
    versions = ", ".join(f"{k} {mach[k]}" for k in ("python", "numba", "numpy", "scipy", "torch",
                                                       "pandas"))
    head = [TITLE, "",
            f"Measured {mach['date']} by `python -m optbench.bench peers"
            f"{' --quick' if quick else ''}` on {mach['cpu']} ({mach['cores']} cores), GPU: "
            f"{mach['gpu']}; {versions}; optbench commit {mach['optbench_commit']}. Medians of "
            "repeated runs after a warm-up; compile time apart. \"optbench vs peer\" is how many "
            "times faster optbench is (a rate: how many times more steps per second).", ""]
    met = [r for r in rows if r.met is not None]
    tail = ["", f"Goals met: {sum(r.met for r in met)} of {len(met)}; skipped peers: "
                f"{sum(bool(r.skipped) for r in rows)}.", "", ""]
    if commentary:
        tail += [commentary.strip(), ""]
    return "\n".join(head) + "\n" + table(rows) + "\n" + "\n".join(tail)
