"""Peak memory of a large sweep that streams to disk (not a test; run by hand).

    python -m optbench.bench_sweep [--runs 100000] [--steps 20] [--executor serial]
                                   [--chunk-runs 8192] [--out DIR]

Runs one 2-D Rosenbrock × Adam grid (learning rates × seeds) with traces recorded on the
default log schedule, through ``run_suite`` into a fresh results folder, and prints one JSON
line: runs, trace rows, wall time, peak resident memory of this process (the sweep driver)
and of its worker processes, and the size on disk. Memory stays bounded by the chunk size
(``--chunk-runs``) and the tasks in flight, not by the number of runs: compare ``--runs``
10000 with 100000. The run specs themselves (about 1 KB each) are the part that grows.
"""
from __future__ import annotations

import argparse
import json
import math
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path


def _mb(kb: int) -> float:
    return round(kb / 1024, 1)  # ru_maxrss is in KiB on Linux


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m optbench.bench_sweep",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=100_000)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--executor", default="serial", choices=["serial", "processes", "dask"])
    ap.add_argument("--workers", type=int)
    ap.add_argument("--chunk-runs", type=int, default=8192)
    ap.add_argument("--out", help="results folder (default: a temporary one, deleted)")
    a = ap.parse_args(argv)

    from optbench.runner.suites import run_suite

    seeds = 1000 if a.runs >= 1000 else 1
    n_lr = math.ceil(a.runs / seeds)
    lrs = [float(x) for x in __import__("numpy").logspace(-4, 0, n_lr)]
    suite = {"name": "bench-sweep", "steps": a.steps, "seeds": seeds, "record": "log",
             "problems": [{"problem": "rosenbrock", "dim": 2}],
             "optimizers": [{"optimizer": "adam", "lr": lrs}]}
    tmp = None
    out = Path(a.out) if a.out else Path(tmp := tempfile.mkdtemp(prefix="optbench-bench-")) / "o"
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    try:
        run_suite(suite, out, executor=a.executor, workers=a.workers, progress=False,
                  chunk_runs=a.chunk_runs, load="none")
        wall = time.perf_counter() - t0
        import pyarrow.parquet as pq

        runs = sum(pq.read_metadata(f).num_rows for f in (out / "runs").glob("part-*.parquet"))
        rows = sum(pq.read_metadata(f).num_rows for f in (out / "traces").glob("part-*.parquet"))
        disk = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
        parts = len(list((out / "runs").glob("part-*.parquet")))
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps({
        "runs": runs, "trace_rows": rows, "steps": a.steps, "executor": a.executor,
        "chunk_runs": a.chunk_runs, "parts": parts, "wall_s": round(wall, 1),
        "peak_rss_mb": _mb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss),
        "rss_before_sweep_mb": _mb(rss0),
        # largest finished child process (the pool's workers; for serial only short-lived
        # helper processes, whose figure is meaningless)
        "peak_rss_workers_mb": _mb(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
        if a.executor != "serial" else None,
        "disk_mb": round(disk / 2**20, 1)}))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
