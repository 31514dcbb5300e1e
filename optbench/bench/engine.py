"""The engine's speed against hand-written peers, measured side by side in one process.

    python -m optbench.bench engine [--quick] [--write BENCHMARKS.md]

Each figure is a median over repeats, after a warm-up; compile time is reported apart.
Comparisons (engine issue):
  * Adam on 2-D Rosenbrock, 20,000 steps, through ``optbench.run`` with default recording,
    against a hand-written single-function Numba loop doing the same arithmetic, and a plain
    Python loop over NumPy;
  * Adam on a 2**22-dimensional diagonal quadratic (the fused loop) against a hand-written
    parallel Numba loop (blocked so that its update vectorises: ``peers.adam_large``);
  * compile time of the smoke suite in a cold and in a warm second process.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile

import numpy as np

import optbench as ob
from optbench.record.env import environment

from .common import median_time
from .peers.adam_large import hand_run
from .peers.adam_small import hand_adam_rosen, numpy_adam_rosen

TITLE = "## Engine (issue: core engine)"


def _median_step(p, steps, repeats):
    """The last result and the median wall time per step of ``repeats`` Adam runs on ``p``
    (a discarded first run warms up)."""
    o = ob.optimizer("adam", lr=1e-3)
    walls = []
    res = None
    for _ in range(repeats + 1):
        res = ob.run(p, o, steps=steps, stop="budget")
        walls.append(res.wall_s)
    return res, statistics.median(walls[1:]) / steps


def bench_rosenbrock(repeats=7, steps=20_000):
    p = ob.problem("rosenbrock")
    res, ours = _median_step(p, steps, repeats)
    hand = median_time(lambda: hand_adam_rosen(np.array([-1.2, 1.0]), steps, 1e-3, 0.9, 0.999, 1e-8),
                   repeats) / steps
    n_np = 2000
    npy = median_time(lambda: numpy_adam_rosen(np.array([-1.2, 1.0]), n_np, 1e-3), 3) / n_np
    xh = np.array([-1.2, 1.0])
    hand_adam_rosen(xh, steps, 1e-3, 0.9, 0.999, 1e-8)
    return {"optbench_us_per_step": ours * 1e6, "hand_numba_us_per_step": hand * 1e6,
            "numpy_loop_us_per_step": npy * 1e6, "ratio_vs_hand": ours / hand,
            "speedup_vs_numpy": npy / ours, "same_x_as_hand": bool(np.allclose(res.x, xh, rtol=1e-9)),
            "compile_s": res.compile_s}


def bench_diag_quadratic(dim=2 ** 22, steps=50, repeats=5):
    p = ob.problem("quadratic", dim=dim, cond=1e3, start="random")
    res, ours = _median_step(p, steps, repeats)
    lam = p.data[:dim]
    x0 = p.x0(0)

    def hand():                       # the peer of `bench peers`: blocked, vectorised
        x = x0.copy()
        return hand_run(x, lam, steps), x

    hand()
    hs = [hand() for _ in range(repeats)]
    hand_t = statistics.median(h[0] for h in hs) / steps
    bytes_per_step = 7 * 8 * dim   # read x, m, v, λ; write x, m, v
    return {"dim": dim, "optbench_ms_per_step": ours * 1e3, "hand_numba_ms_per_step": hand_t * 1e3,
            "ratio_vs_hand": ours / hand_t, "optbench_GBps": bytes_per_step / ours / 1e9,
            "same_x_as_hand": bool(np.allclose(res.x, hs[0][1], rtol=1e-12, atol=0)),
            "compile_s": res.compile_s}


_WARM = ("import time, json\nt=time.perf_counter()\nimport optbench as ob\n"
         "from optbench.runner.suites import load_suite, suite_specs\n"
         "from optbench.runner.execute import execute\n"
         "runs, _ = execute(suite_specs(load_suite('smoke')))\n"
         "c = runs.groupby(['problem_params', 'optimizer']).compile_s.first().sum()\n"
         "print(json.dumps({'compile_s': float(c), 'total_s': time.perf_counter() - t}))\n")


def bench_warm_start():
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, NUMBA_CACHE_DIR=tmp)
        out = []
        for _ in range(2):
            r = subprocess.run([sys.executable, "-c", _WARM], capture_output=True, text=True,
                               env=env, timeout=900)
            out.append(json.loads(r.stdout.strip().splitlines()[-1]))
    return {"cold_compile_s": out[0]["compile_s"], "cold_total_s": out[0]["total_s"],
            "warm_compile_s": out[1]["compile_s"], "warm_total_s": out[1]["total_s"]}


def engine(quick=False) -> dict:
    res = {"rosenbrock_2d_adam": bench_rosenbrock(repeats=3 if quick else 7),
           "diag_quadratic_adam": bench_diag_quadratic(dim=2 ** 18 if quick else 2 ** 22,
                                                       steps=20 if quick else 50),
           "smoke_suite_compile": bench_warm_start()}
    return res


def to_markdown(res: dict) -> str:
    env = environment()
    r, q, w = res["rosenbrock_2d_adam"], res["diag_quadratic_adam"], res["smoke_suite_compile"]
    lines = [
        TITLE,
        "",
        f"Measured {dt.date.today().isoformat()} by `python -m optbench.bench engine` on "
        f"{env['cpu']} ({env['cores']} cores), numba {env['numba']}, numpy {env['numpy']}, "
        f"python {env['python']}. Medians of repeats after a warm-up; compile time apart.",
        "",
        "| work | optbench | peer | ratio (goal) |",
        "|---|---|---|---|",
        f"| Adam, 2-D Rosenbrock, 20k steps, `ob.run` with default recording, per step | "
        f"{r['optbench_us_per_step']:.3f} µs | hand-fused Numba loop {r['hand_numba_us_per_step']:.3f} µs | "
        f"{r['ratio_vs_hand']:.2f}× (≤ 2×) |",
        f"| same | | Python loop over NumPy {r['numpy_loop_us_per_step']:.2f} µs | "
        f"optbench {r['speedup_vs_numpy']:.0f}× faster |",
        f"| Adam, {q['dim']}-dim diagonal quadratic (fused loop), per step | "
        f"{q['optbench_ms_per_step']:.2f} ms ({q['optbench_GBps']:.1f} GB/s) | hand-written parallel "
        f"Numba loop {q['hand_numba_ms_per_step']:.2f} ms | {q['ratio_vs_hand']:.2f}× (≤ 1.25×) |",
        f"| smoke suite compilation, cold process / warm second process | "
        f"{w['cold_compile_s']:.1f} s / {w['warm_compile_s']:.2f} s | — | warm ≤ 2 s |",
        "",
        f"Both loops reach the same point: Rosenbrock {r['same_x_as_hand']}, quadratic "
        f"{q['same_x_as_hand']}. Whole warm smoke process (imports included): "
        f"{w['warm_total_s']:.1f} s.",
        "",
    ]
    return "\n".join(lines)
