"""Compilation: a cold process (empty numba cache) against a warm second process.

Each suite runs twice in fresh Python processes sharing one new, empty cache folder: the
first compiles every kernel and driver it needs (cold), the second loads them (warm).
Reported: the compile time the runner measured (``compile_s``, summed over batches) and the
whole process's wall time, imports included.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

from .common import Row

_CODE = ("import time, json\nt = time.perf_counter()\n"
         "from optbench.runner.suites import load_suite, suite_specs\n"
         "from optbench.runner.execute import execute\n"
         "runs, _ = execute(suite_specs(load_suite({suite!r})))\n"
         "c = runs.groupby(['problem_params', 'optimizer', 'budget']).compile_s.first().sum()\n"
         "print(json.dumps({{'compile_s': float(c), 'total_s': time.perf_counter() - t, "
         "'runs': len(runs), 'errors': int((runs.status == 'error').sum())}}))\n")


def measure(suite: str) -> list[dict]:
    """[cold, warm] measurements of one suite."""
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, NUMBA_CACHE_DIR=tmp)
        out = []
        for _ in range(2):
            r = subprocess.run([sys.executable, "-c", _CODE.format(suite=suite)],
                               capture_output=True, text=True, env=env, timeout=1800)
            if r.returncode != 0:
                raise RuntimeError(f"suite {suite}: {r.stderr.strip().splitlines()[-1:]}")
            out.append(json.loads(r.stdout.strip().splitlines()[-1]))
    return out


def run(suites=("smoke", "quick")) -> list[Row]:
    rows = []
    for s in suites:
        cold, warm = measure(s)
        note = (f"{cold['runs']} runs; whole process cold {cold['total_s']:.1f} s, warm "
                f"{warm['total_s']:.1f} s (imports included); error rows {warm['errors']}")
        rows.append(Row(f"compile, {s} suite: warm second process", "goal 2 s",
                        warm["compile_s"], 2.0, goal=1.0, note=note,
                        extra={"cold_compile_s": cold["compile_s"],
                               "warm_compile_s": warm["compile_s"],
                               "cold_total_s": cold["total_s"], "warm_total_s": warm["total_s"]}))
        if s == "quick":
            rows.append(Row(f"compile, {s} suite: cold process", "goal 60 s",
                            cold["compile_s"], 60.0, goal=1.0, note=note))
    return rows
