"""Zoo speed: compiled gradient kernels against NumPy vectorised versions (same process).

    python -m optbench.bench zoo [--quick] [--write BENCHMARKS.md]
"""
from __future__ import annotations

import tracemalloc

import numpy as np

import optbench as ob

from .common import median_time

TITLE = "## Zoo (issue: problem zoo)"


def _kernel_timer(p, x):
    fg = p.cpu_kernels()[0]
    g = np.empty(p.dim)
    return (lambda: fg(x, g, p.data, p.idata, 0, 0)), g


def double_well(dim=100_000, repeats=51):
    p = ob.problem("double-well", dim=dim)
    x = np.random.default_rng(0).uniform(-1.5, 1.5, dim)
    call, g = _kernel_timer(p, x)
    ours = median_time(call, repeats)

    def numpy_fg():
        x2 = x * x
        return 0.25 * np.sum((x2 - 1.0) ** 2), x * x2 - x

    peer = median_time(numpy_fg, repeats)
    call()
    assert np.allclose(g, numpy_fg()[1], rtol=1e-12, atol=1e-14)
    # memory: the kernel allocates nothing; NumPy's version allocates temporaries
    tracemalloc.start()
    call()
    ours_mem = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    tracemalloc.start()
    numpy_fg()
    np_mem = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"dim": dim, "optbench_us": ours * 1e6, "numpy_us": peer * 1e6, "ratio": ours / peer,
            "optbench_alloc_bytes": ours_mem, "numpy_alloc_bytes": np_mem,
            "problem_bytes": p.data.nbytes + p.idata.nbytes}


def rotated_quadratic(dim=2000, repeats=21):
    p = ob.problem("quadratic", dim=dim, cond=1e4, rotation="haar")
    A = p.matrix()
    x = np.random.default_rng(0).standard_normal(dim)
    call, g = _kernel_timer(p, x)
    ours = median_time(call, repeats)

    def numpy_fg():
        gg = A @ x
        return 0.5 * x @ gg, gg

    peer = median_time(numpy_fg, repeats)
    from threadpoolctl import threadpool_info, threadpool_limits
    threads = max((t.get("num_threads", 1) for t in threadpool_info()), default=1)
    with threadpool_limits(1):
        peer1 = median_time(numpy_fg, repeats)
    call()
    assert np.allclose(g, numpy_fg()[1], rtol=1e-10, atol=1e-12)
    return {"dim": dim, "optbench_us": ours * 1e6, "numpy_us": peer * 1e6, "ratio": ours / peer,
            "numpy_1thread_us": peer1 * 1e6, "ratio_1thread": ours / peer1,
            "blas_threads": threads, "problem_bytes": p.data.nbytes}


def zoo(quick: bool = False) -> dict:
    """Both comparisons; ``quick`` uses small sizes (a check, not a figure)."""
    if quick:
        return {"double_well": double_well(dim=10_000, repeats=5),
                "rotated_quadratic": rotated_quadratic(dim=200, repeats=5)}
    return {"double_well": double_well(), "rotated_quadratic": rotated_quadratic()}


def to_markdown(res: dict, env: dict) -> str:
    dw, rq = res["double_well"], res["rotated_quadratic"]
    return "\n".join([
        TITLE,
        "",
        f"Measured by `python -m optbench.bench zoo` on {env['cpu']} ({env['cores']} cores), "
        f"numba {env['numba']}, numpy {env['numpy']}. Median of repeated calls of the compiled "
        "value-and-gradient kernel against a NumPy vectorised version of the same formula.",
        "",
        "| work | optbench kernel | NumPy vectorised | ratio |",
        "|---|---|---|---|",
        f"| double well, d = {dw['dim']:,}, value + gradient | {dw['optbench_us']:.0f} µs | "
        f"{dw['numpy_us']:.0f} µs | {dw['ratio']:.2f}× |",
        f"| rotated quadratic, d = {rq['dim']:,}, value + gradient | {rq['optbench_us']:.0f} µs | "
        f"{rq['numpy_1thread_us']:.0f} µs (BLAS matvec, 1 thread) | {rq['ratio_1thread']:.2f}× |",
        f"| same | | {rq['numpy_us']:.0f} µs (BLAS matvec, {rq['blas_threads']} threads) | "
        f"{rq['ratio']:.2f}× |",
        "",
        "Kernels are single-threaded by design: a run is one thread, and a sweep uses the cores "
        "across runs (one kernel source also compiles as a CUDA device function). Against BLAS "
        "on the same single core the rotated gradient is faster; it streams A column-wise, "
        "eight columns per pass, in a fixed summation order, so its results are bit-identical "
        "on every machine (BLAS's are not: they depend on its kernels and thread count). "
        "NumPy with all cores is faster on one gradient; a sweep of two or more runs uses "
        "both cores in optbench too.",
        "",
        f"Memory: the double-well kernel allocates no arrays (tracemalloc sees "
        f"{dw['optbench_alloc_bytes']} bytes of Python call overhead) "
        f"(NumPy: {dw['numpy_alloc_bytes']:,} bytes of temporaries); separable families store "
        f"O(d) data ({dw['problem_bytes']:,} bytes here), the rotated quadratic O(d²) "
        f"({rq['problem_bytes']:,} bytes at d = {rq['dim']:,}).",
        "",
    ])
