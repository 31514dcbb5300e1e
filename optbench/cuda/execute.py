"""Run a batch on the GPU (or the CUDA simulator): same arrays, same tables as the CPU path.

Timing: the kernel is launched once on a one-run, zero-step copy first (compilation and
module load, reported as compile_s); transfers to and from the device are timed apart
(``transfer_s``); the kernel time is taken between ``cuda.synchronize()`` calls and spread
over the batch's runs (there is no per-run clock on the device). A batch larger than the free
device memory is run in chunks.
"""
from __future__ import annotations

import time

import numpy as np

from optbench.runner.batch import ARG_NAMES, PER_RUN, Batch

from . import check_available, device_name
from .kernels import batch_kernel

THREADS = 128
STATE = ("X", "G", "ST", "SC", "HY", "data")   # converted to the requested dtype


def _to_dtype(a: dict, dtype) -> dict:
    return {k: (np.ascontiguousarray(v, dtype=dtype) if k in STATE else v) for k, v in a.items()}


def _chunk_size(a: dict, R: int) -> int:
    from numba import cuda

    per_run = sum(a[k].nbytes for k in PER_RUN) / max(R, 1)
    try:
        free, _ = cuda.current_context().get_memory_info()
    except Exception:  # noqa: BLE001 - the simulator has no memory info
        return R
    if not np.isfinite(free):
        return R
    return max(1, min(R, int(0.5 * free / max(per_run, 1.0))))


def _launch(kern, arrays: list):
    from numba import cuda

    R = arrays[0].shape[0]
    kern[(R + THREADS - 1) // THREADS, THREADS](*arrays)
    cuda.synchronize()


GRID_MIN_DIM = 4096   # separable problems at least this large: the whole grid on one run


def run_batch_cuda(specs, prob, opts):
    check_available()
    if prob.elementwise() and prob.dim >= GRID_MIN_DIM:
        return _run_grid_per_run(specs, prob, opts)
    return _run_thread_per_run(specs, prob, opts)


def _run_grid_per_run(specs, prob, opts):
    from numba import cuda

    from . import large

    dtype = np.float32 if specs[0].dtype == "float32" else np.float64
    t_c = time.perf_counter()
    ks = large.kernels(prob, opts[0])
    b = Batch(specs, prob, opts)
    a = _to_dtype(b.a, dtype)
    blocks = min(1024, (prob.dim + large.THREADS - 1) // large.THREADS)
    warm = dict(a)
    warm["nsteps"] = np.zeros_like(a["nsteps"])
    large.run_one(ks, warm, 0, blocks)
    compile_s = time.perf_counter() - t_c
    kernel_s = 0.0
    for r in range(len(b)):
        t0 = time.perf_counter()
        res = large.run_one(ks, a, r, blocks)
        cuda.synchronize()
        kernel_s += time.perf_counter() - t0
        for k, v in res.items():
            b.a[k][r] = v
    rows, traces, xf = b.results(compile_s, kernel_s, 0.0, device_name())
    for row in rows:
        row["gpu_layout"] = f"grid per run ({blocks} blocks x {large.THREADS} threads)"
    return rows, traces, xf


def _run_thread_per_run(specs, prob, opts):
    from numba import cuda

    dtype = np.float32 if specs[0].dtype == "float32" else np.float64
    t_c = time.perf_counter()
    kern = batch_kernel(prob, opts[0])
    b = Batch(specs, prob, opts)
    a = _to_dtype(b.a, dtype)
    warm = [a[k][:1].copy() if k in PER_RUN else a[k] for k in ARG_NAMES]
    warm[ARG_NAMES.index("nsteps")] = np.zeros(1, np.int64)
    _launch(kern, [cuda.to_device(w) for w in warm])
    compile_s = time.perf_counter() - t_c

    R = len(b)
    # problems whose kernels keep scratch in their (shared) data run one run per launch
    step = _chunk_size(a, R) if prob.parallel_safe else 1
    kernel_s = transfer_s = 0.0
    for lo in range(0, R, step):
        hi = min(R, lo + step)
        t0 = time.perf_counter()
        dev = [cuda.to_device(a[k][lo:hi] if k in PER_RUN else a[k]) for k in ARG_NAMES]
        cuda.synchronize()
        t1 = time.perf_counter()
        _launch(kern, dev)
        t2 = time.perf_counter()
        for k, d in zip(ARG_NAMES, dev):
            if k in PER_RUN:
                host = d.copy_to_host()
                b.a[k][lo:hi] = host
        t3 = time.perf_counter()
        kernel_s += t2 - t1
        transfer_s += (t1 - t0) + (t3 - t2)
    rows, traces, xf = b.results(compile_s, kernel_s, 0.0, device_name())
    for row in rows:
        row["transfer_s"] = transfer_s / R
        row["gpu_layout"] = "thread per run"
    return rows, traces, xf
