"""Peak memory of a large sweep that streams to disk (not a test; run by hand).

    python -m optbench.bench sweep [--runs 100000] [--steps 20] [--executor serial]
                                   [--chunk-runs 8192] [--out DIR] [--quick]

Runs one 2-D Rosenbrock × Adam grid (learning rates × seeds) with traces recorded on the
default log schedule, through ``run_suite`` into a fresh results folder, and prints one JSON
line: runs, trace rows, wall time, peak resident memory of this process (the sweep driver)
and of its worker processes, and the size on disk. Memory stays bounded by the chunk size
(``--chunk-runs``) and the tasks in flight, not by the number of runs: compare ``--runs``
10000 with 100000. The run specs themselves (about 1 KB each) are the part that grows.
"""
from __future__ import annotations

import math
import resource
import shutil
import tempfile
import time
from pathlib import Path

EXECUTORS = ("serial", "processes", "dask")


def _mb(kb: int) -> float:
    return round(kb / 1024, 1)  # ru_maxrss is in KiB on Linux


def measure(runs: int = 100_000, steps: int = 20, executor: str = "serial",
            workers: int | None = None, chunk_runs: int = 8192, out=None) -> dict:
    """Run the sweep into ``out`` (default: a temporary folder, deleted) and return the figures
    printed by the command (see the module docstring)."""
    import numpy as np

    from optbench.runner.suites import run_suite

    seeds = 1000 if runs >= 1000 else 1
    n_lr = math.ceil(runs / seeds)
    lrs = [float(x) for x in np.logspace(-4, 0, n_lr)]
    suite = {"name": "bench-sweep", "steps": steps, "seeds": seeds, "record": "log",
             "problems": [{"problem": "rosenbrock", "dim": 2}],
             "optimizers": [{"optimizer": "adam", "lr": lrs}]}
    tmp = None
    out = Path(out) if out else Path(tmp := tempfile.mkdtemp(prefix="optbench-bench-")) / "o"
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    try:
        run_suite(suite, out, executor=executor, workers=workers, progress=False,
                  chunk_runs=chunk_runs, load="none")
        wall = time.perf_counter() - t0
        import pyarrow.parquet as pq

        n_runs = sum(pq.read_metadata(f).num_rows for f in (out / "runs").glob("part-*.parquet"))
        rows = sum(pq.read_metadata(f).num_rows for f in (out / "traces").glob("part-*.parquet"))
        disk = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
        parts = len(list((out / "runs").glob("part-*.parquet")))
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    return {
        "runs": n_runs, "trace_rows": rows, "steps": steps, "executor": executor,
        "chunk_runs": chunk_runs, "parts": parts, "wall_s": round(wall, 1),
        "peak_rss_mb": _mb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss),
        "rss_before_sweep_mb": _mb(rss0),
        # largest finished child process (the pool's workers; for serial only short-lived
        # helper processes, whose figure is meaningless)
        "peak_rss_workers_mb": _mb(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
        if executor != "serial" else None,
        "disk_mb": round(disk / 2**20, 1)}
