"""The CUDA engines: run a batch on the GPU (or the CUDA simulator), same arrays and same
tables as the CPU engines (the engine interface of ``runner/engines/base.py``).

Arithmetic: kernels are compiled without FMA contraction and without link-time optimisation
(:func:`optbench.kernels.device.exact_arithmetic`, ``kernel_options``), to round as the CPU does.

Timing: the kernel is launched once on a one-run, zero-step copy first (compilation and
module load, reported in compile_s); transfers to and from the device are timed apart
(``transfer_s``, both engines); the kernel time is taken between ``cuda.synchronize()``
calls and spread over the batch's runs (there is no per-run clock on the device). A batch
larger than the free device memory is run in chunks.

numba.cuda and the kernel modules are imported on first use, so the engine list
(``runner/execute.py``) can hold these engines without loading CUDA.
"""
from __future__ import annotations

import time

import numpy as np

from optbench.kernels.device import check_available, device_name, exact_arithmetic
from optbench.runner.batch import ARG_NAMES, PER_RUN, Batch, zero_step
from optbench.runner.engines.base import Engine, Job, timed
from optbench.runner.engines.outputs import first_order_tables

THREADS = 128
STATE = ("X", "G", "ST", "SC", "HY", "data")   # converted to the requested dtype
GRID_MIN_DIM = 4096   # separable problems at least this large: the whole grid on one run


def _to_dtype(a: dict, dtype) -> dict:
    return {k: (np.ascontiguousarray(v, dtype=dtype) if k in STATE else v) for k, v in a.items()}


def _dtype(job: Job):
    return np.float32 if job.specs[0].dtype == "float32" else np.float64


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


def _cuda_first_order(job: Job) -> bool:
    return job.device == "cuda" and job.kind == "first_order"


class CudaGridEngine(Engine):
    name = "cuda-grid"
    reason = ("device='cuda', separable problem (EFG, no metric columns) with d >= "
              f"GRID_MIN_DIM ({GRID_MIN_DIM:,}): the whole grid on one run, two launches a step")

    def applies(self, job):
        p = job.prob
        return _cuda_first_order(job) and p.elementwise() and p.dim >= GRID_MIN_DIM \
            and not p.metric_names()

    def compile(self, job):
        check_available()
        from . import large

        job.driver, seconds = timed(large.kernels, job.prob, job.opts[0])
        job.batch = Batch(job.specs, job.prob, job.opts)
        a = job.extra["a"] = _to_dtype(job.batch.a, _dtype(job))
        blocks = job.extra["blocks"] = min(1024, (job.prob.dim + large.THREADS - 1)
                                           // large.THREADS)
        with exact_arithmetic():   # the kernels compile at this first launch
            return seconds + timed(large.run_one, job.driver, zero_step(a, PER_RUN), 0,
                                   blocks)[1]

    def run(self, job):
        from numba import cuda

        from . import large

        a, b, kernel_s, transfer_s = job.extra["a"], job.batch, 0.0, 0.0
        for r in range(len(b)):
            t0 = time.perf_counter()
            dev = large.upload(a, r)
            t1 = time.perf_counter()
            large.run_steps(job.driver, dev, a, r, job.extra["blocks"])
            t2 = time.perf_counter()
            res = large.download(dev)
            cuda.synchronize()
            t3 = time.perf_counter()
            kernel_s += t2 - t1
            transfer_s += (t1 - t0) + (t3 - t2)
            for k, v in res.items():
                b.a[k][r] = v
        job.extra["transfer_s"] = transfer_s
        return kernel_s

    def results(self, job, compile_s, wall):
        from . import large

        layout = f"grid per run ({job.extra['blocks']} blocks x {large.THREADS} threads)"
        return first_order_tables(self.name, job.batch, compile_s, wall, 0.0,
                                  device_name=device_name(), gpu_layout=layout,
                                  transfer_s=job.extra["transfer_s"] / job.runs)


class CudaThreadEngine(Engine):
    name = "cuda-thread"
    reason = "device='cuda', any other first-order batch: one thread runs one run"

    def applies(self, job):
        return _cuda_first_order(job)

    def compile(self, job):
        check_available()
        from numba import cuda

        from .kernels import batch_kernel

        job.driver, seconds = timed(batch_kernel, job.prob, job.opts[0])
        job.batch = Batch(job.specs, job.prob, job.opts)
        a = job.extra["a"] = _to_dtype(job.batch.a, _dtype(job))
        w = zero_step(a, PER_RUN)
        with exact_arithmetic():   # the kernel compiles at this first launch
            return seconds + timed(lambda: _launch(job.driver, [cuda.to_device(w[k])
                                                                for k in ARG_NAMES]))[1]

    def run(self, job):
        from numba import cuda

        a, b, R = job.extra["a"], job.batch, job.runs
        # problems whose kernels keep scratch in their (shared) data run one run per launch
        step = _chunk_size(a, R) if job.prob.parallel_safe else 1
        kernel_s = transfer_s = 0.0
        for lo in range(0, R, step):
            hi = min(R, lo + step)
            t0 = time.perf_counter()
            dev = [cuda.to_device(a[k][lo:hi] if k in PER_RUN else a[k]) for k in ARG_NAMES]
            cuda.synchronize()
            t1 = time.perf_counter()
            _launch(job.driver, dev)
            t2 = time.perf_counter()
            for k, d in zip(ARG_NAMES, dev):
                if k in PER_RUN:
                    b.a[k][lo:hi] = d.copy_to_host()
            t3 = time.perf_counter()
            kernel_s += t2 - t1
            transfer_s += (t1 - t0) + (t3 - t2)
        job.extra["transfer_s"] = transfer_s
        return kernel_s

    def results(self, job, compile_s, wall):
        return first_order_tables(self.name, job.batch, compile_s, wall, 0.0,
                                  device_name=device_name(), gpu_layout="thread per run",
                                  transfer_s=job.extra["transfer_s"] / job.runs)

