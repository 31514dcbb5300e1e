"""GPU benchmarks (run where a CUDA GPU is present; reported as skipped otherwise).

    python -m optbench.bench gpu [--runs 262144] [--quick] [--write BENCHMARKS.md]

* Adam on 2-D Rosenbrock, a batched sweep (``runs`` × 10⁴ steps, thread per run): aggregate
  optimizer steps per second in float64 and float32, and the same sweep's rate on the CPU path
  (on fewer runs: the rate per second is what is compared);
* one Adam run on a 2²⁶-dimensional diagonal quadratic (whole grid on one run): bytes moved per
  step / time, as a fraction of a device-to-device copy measured in the same process;
* JAX + optax on the GPU against the CUDA path (``peers/gpu_jax.py``), where JAX has a GPU;
* ``exactness``: GPU runs against CPU runs (sgd, rmsprop, lion, adam; 300 steps on Rosenbrock
  and a 1,000-d quadratic), bit for bit or by how much;
* ``contraction``: ``x - a*b`` against NumPy, compiled with numba-cuda's defaults and without
  contraction (``exact_arithmetic``).
"""
from __future__ import annotations

import time

import numpy as np

import optbench as ob

try:
    from numba import cuda       # module level: the simulator swaps it in a kernel's globals
except ImportError:  # pragma: no cover - no CUDA support in numba: gpu() says so first
    cuda = None

TITLE = "## GPU (issue: GPU execution)"


def _sweep_rate(runs: int, steps: int, device: str, dtype: str = "float64") -> float:
    """Run-steps per second of kernel time (each run's ``wall_s`` is its share of the batch's
    kernel time): Adam on 2-D Rosenbrock, 64 learning rates × runs/64 random starts."""
    from optbench.runner.execute import execute

    from .peers.gpu_jax import sweep_specs

    runs_df, _ = execute(sweep_specs(64, max(1, runs // 64), steps, "none", device, dtype))
    bad = runs_df[runs_df.status == "error"]
    if len(bad):
        raise RuntimeError(f"{len(bad)} of {len(runs_df)} runs failed on {device}: "
                           f"{bad.message.iloc[0]}")
    return float(runs_df["nit"].sum()) / float(runs_df["wall_s"].sum())


EXACT_OPTIMIZERS = ("sgd", "rmsprop", "lion", "adam")


def exactness(names=EXACT_OPTIMIZERS, steps: int = 300) -> list[dict]:
    """The GPU run against the CPU run, 300 steps on Rosenbrock and on a 1,000-d quadratic:
    end points and trace f bit for bit or not, and the largest per-coordinate relative
    difference of the end points."""
    q = ob.problem("quadratic", dim=1000, cond=1e3, start="random")
    out = []
    for name in names:
        o = ob.optimizer(name, lr=1e-3 if name in ("sgd", "gd", "momentum", "nesterov")
                         else 1e-2)
        for label, p in (("rosenbrock", "rosenbrock"), ("quadratic-1000", q)):
            g = ob.run(p, o, steps=steps, stop="budget", device="cuda")
            c = ob.run(p, o, steps=steps, stop="budget")
            out.append({"optimizer": name, "problem": label,
                        "x_equal": bool(np.array_equal(g.x, c.x)),
                        "trace_equal": bool(g.trace.f.equals(c.trace.f)),
                        "max_rel_dx": float(np.max(np.abs(g.x - c.x)
                                                   / np.maximum(np.abs(c.x), 1e-300)))})
    return out


def _axpy(x, a, b, out):
    i = cuda.grid(1)
    if i < x.shape[0]:
        out[i] = x[i] - a[i] * b[i]


def contraction(n: int = 2 ** 20) -> dict:
    """How many of n results of ``x - a*b`` (a CUDA kernel) differ from NumPy's, compiled with
    numba-cuda's defaults and inside ``exact_arithmetic`` (no contraction, no LTO): the probe
    that found numba-cuda linking with LTO (H200: 2,208 of 2²⁰ before the linker fix, with
    NVVM -fma=0 or without; 0 after). The kernel is compiled afresh for each."""
    import contextlib

    from optbench.kernels.device import exact_arithmetic, kernel_options

    rng = np.random.default_rng(0)
    x, b = rng.standard_normal(n), rng.standard_normal(n)
    a = rng.standard_normal(n) * 1e-3
    ref = x - a * b
    out = {}
    for label, ctx, opts in (("default", contextlib.nullcontext, {}),
                             ("exact", exact_arithmetic, kernel_options())):
        k = cuda.jit(**opts)(_axpy)
        res = cuda.device_array(n)
        with ctx():
            k[(n + 255) // 256, 256](cuda.to_device(x), cuda.to_device(a), cuda.to_device(b),
                                     res)
        out[label] = int(np.count_nonzero(res.copy_to_host() != ref))
    return {"n": n, "mismatches": out}


def _copy_bandwidth(nbytes: int) -> float:
    a = cuda.device_array(nbytes // 8, dtype=np.float64)
    b = cuda.device_array_like(a)
    b.copy_to_device(a)
    cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(10):
        b.copy_to_device(a)
    cuda.synchronize()
    return 2 * nbytes * 10 / (time.perf_counter() - t0)   # read + write


def gpu(runs: int = 262_144, steps: int = 10_000, dim: int = 2 ** 26,
        quick: bool = False) -> dict:
    from optbench.cuda import check_available, device_name
    try:
        check_available()
    except ob.OptbenchInputError as e:
        return {"skipped": str(e)}
    res = {"device": device_name(), "dim": dim, "runs": runs}
    from .peers import gpu_jax

    # JAX's rows first: where JAX has a GPU, its big sweep and its d = dim run are the
    # figures below too (measured once, not twice)
    rows = gpu_jax.run(quick=quick, big_seeds=max(1, runs // 64), dims=(2 ** 22, dim))
    res["jax_rows"] = [r.as_dict() for r in rows]
    kind = {(r.extra.get("kind"), r.extra.get("dim")): r for r in rows if not r.skipped}
    big = kind.get(("big-sweep", None))
    res["sweep_steps_per_s_float64"] = big.ours if big and not quick else \
        _sweep_rate(runs, steps, "cuda", "float64")
    res["sweep_steps_per_s_float32"] = _sweep_rate(runs, steps, "cuda", "float32")
    res["cpu_sweep_steps_per_s"] = _sweep_rate(min(runs, 4096), steps, "cpu")
    res["gpu_over_cpu"] = res["sweep_steps_per_s_float64"] / res["cpu_sweep_steps_per_s"]
    large = kind.get(("large", dim))
    if large and not quick:
        res["quadratic_GBps"] = large.extra["optbench_GBps"]
    else:
        p = ob.problem("quadratic", dim=dim, cond=1e3, start="random")
        r = ob.run(p, ob.optimizer("adam", lr=1e-3), steps=50, stop="budget", device="cuda")
        res["quadratic_GBps"] = 7 * 8 * dim * r.nit / r.wall_s / 1e9  # x, m, v r+w, λ read
    res["copy_GBps"] = _copy_bandwidth(8 * dim) / 1e9
    res["bandwidth_fraction"] = res["quadratic_GBps"] / res["copy_GBps"]
    res["exact"] = exactness(steps=30 if quick else 300)
    res["contraction"] = contraction(2 ** 14 if quick else 2 ** 20)
    return res


def to_markdown(res: dict) -> str:
    if "skipped" in res:
        return (TITLE + "\n\nNot measured: " + res["skipped"] +
                ". Run `python -m optbench.bench gpu --write BENCHMARKS.md` on a machine with a "
                "CUDA GPU.\n")
    return "\n".join([
        TITLE, "",
        f"Measured by `python -m optbench.bench gpu` on {res['device']}.", "",
        "| work | figure | goal |", "|---|---|---|",
        f"| Adam, 2-D Rosenbrock sweep of {res.get('runs', 0):,} runs, float64 | {res['sweep_steps_per_s_float64']:.3g} steps/s | ≥ 1e10 on an H100 |",
        f"| same, float32 | {res['sweep_steps_per_s_float32']:.3g} steps/s | |",
        f"| same sweep on the CPU path | {res['cpu_sweep_steps_per_s']:.3g} steps/s | GPU/CPU = {res['gpu_over_cpu']:.0f}× |",
        f"| Adam, {res.get('dim', 2 ** 26):,}-dim quadratic, one run | {res['quadratic_GBps']:.0f} GB/s = "
        f"{100 * res['bandwidth_fraction']:.0f} % of copy ({res['copy_GBps']:.0f} GB/s) | ≥ 70 % |",
        "", _exact_md(res.get("exact", [])), _contraction_md(res.get("contraction")),
        _jax_md(res.get("jax_rows", []))])


def _contraction_md(c: dict | None) -> str:
    if not c:
        return ""
    m = c["mismatches"]
    return (f"`x - a*b` on {c['n']:,} elements against NumPy (`contraction`): "
            f"{m['default']:,} differ with numba-cuda's defaults, {m['exact']:,} inside "
            "`exact_arithmetic`.\n")


def _exact_md(rows: list) -> str:
    if not rows:
        return ""
    lines = ["GPU run against CPU run (`exactness`; kernels compiled without FMA contraction "
             "and without LTO):", "", "| optimizer | problem | end point bit-identical | "
             "trace f bit-identical | largest relative difference |", "|---|---|---|---|---|"]
    lines += [f"| {r['optimizer']} | {r['problem']} | {r['x_equal']} | {r['trace_equal']} | "
              f"{r['max_rel_dx']:.1e} |" for r in rows]
    return "\n".join(lines) + "\n"


def _jax_md(rows: list) -> str:
    if not rows:
        return ""
    from .peers.common import Row, table

    rs = [Row.from_dict(r) for r in rows]
    return ("Against JAX + optax on the same GPU (`optbench/bench/peers/gpu_jax.py`; float64; "
            "JAX's compile time apart):\n\n" + table(rs) + "\n")
