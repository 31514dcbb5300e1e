"""The parts behind the sweep and MLP figures (``python -m optbench.bench parts``): a figure
per kernel, to compare two trees or to see where a whole-run figure's time goes.

* ``update``: a lane sweep's uniform update alone — the optimizer's uniform ``PREP`` and
  ``ELEM`` lane forms (``kernels/lanes.py``) on 64 lanes of a 2-D point, runs differing in lr
  only — ns per run-step, best of repeats;
* ``tiles``: the MLP's tile products (``problems/mlp_tiles.py``: 4 samples × a w × w layer),
  GFLOP/s (2 flops per multiply-add): the forward as dot products (``tile_mv``) and from Wᵀ
  (``tile_axpy``), ∂W += δhᵀ (``tile_outer``), Wᵀδ (``tile_mtv``); and µs per copy of the
  weights to Wᵀ (``transpose_weights``) for the benchmark's MLP of that width;
* ``perm``: ns per minibatch index (``problems/minibatch.perm_index``: key and Feistel walk);
* ``phases``: where one ``execute()`` of the 4,096-run Adam sweep of ``peers --only sweep``
  spends its time, by cProfile (cumulative seconds of the driver's call — the lane driver —,
  of building the tables and of building the batch's arrays, and the whole call);
* ``traces``: ms to build that sweep's trace columns, the compiled pass
  (``runner/engines/trace_gather.py``) against the NumPy expressions it replaced,
  alternating, best of repeats;
* ``allocator``: the sweep through ``execute()`` in fresh processes, alternating glibc's
  defaults (``OPTBENCH_MALLOC=system``) and optbench's settings (``optbench/allocator.py``):
  each process's median ms of timed calls after two warm ones, best and worst process.
"""
from __future__ import annotations

import time

import numpy as np

from optbench.kernels import compile as kc
from optbench.kernels.compile import placeholder, template
from optbench.problems.minibatch import perm_apply, perm_key
from optbench.problems.mlp_net import transpose_weights
from optbench.problems.mlp_tiles import tile_axpy, tile_mtv, tile_mv, tile_outer

TITLE = "## Parts of the sweep and MLP figures"
LANES = 64
EL = placeholder("EL")
PR = placeholder("PR")


def _best(fn, *args, repeats: int = 5) -> float:
    fn(*args)
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(*args)
        best = min(best, time.perf_counter() - t0)
    return best


@template("EL", "PR")
def _update_loop(n, XL, GL, STL, SCL, HYL, lw, lwi, ret, k):
    d = XL.shape[0]
    for _ in range(n):
        PR(SCL, HYL, lw, lwi, ret, k)
        for i in range(d):
            EL(XL, GL[i], STL, SCL, HYL, i, lw, lwi, ret, k)


def update(name: str, steps: int) -> float:
    """ns per run-step of the uniform lane update of optimizer ``name`` (64 lanes, d = 2)."""
    from optbench import optimizers as O
    from optbench.kernels.slots import SC_LR
    from optbench.runner.lanes import uniform_kernels

    opt = O.make(name)
    prep, elem, _ = uniform_kernels(opt)
    rows = {t: max(1, prep.lane_rows[t], elem.lane_rows[t]) for t in "fi"}
    loop = kc.cpu(_update_loop, bind={"EL": elem, "PR": prep}, name=f"parts_update__{name}",
                  inline=True)
    rng = np.random.default_rng(0)
    st, sc = opt.init_state(2)
    XL, GL = rng.random((2, LANES)), rng.random((2, LANES)) * 1e-3
    STL = np.zeros((max(1, st.shape[0]), 2, LANES))
    SCL = np.repeat(sc[:, None], LANES, 1)
    SCL[SC_LR] = np.geomspace(1e-4, 1e-2, LANES)
    HYL = np.repeat(opt.hyper_array()[:, None], LANES, 1)
    args = (XL, GL, STL, SCL, HYL, np.zeros((rows["f"], LANES)),
            np.zeros((rows["i"], LANES), np.int64), np.zeros(LANES), LANES)
    return 1e9 * _best(loop, steps, *args) / (steps * LANES)


def _tile_loop(which, n, out, w, h, nout, nin):
    for _ in range(n):
        if which == 0:
            tile_mv(out, 0, w, 0, h, 0, nout, nin)
        elif which == 1:
            tile_axpy(out, 0, w, 0, h, 0, nout, nin)
        elif which == 2:
            tile_outer(w, 0, out, 0, h, 0, nout, nin)
        else:
            tile_mtv(h, 0, w, 0, out, 0, nout, nin)


def _transpose_loop(n, x, data, idata):
    for _ in range(n):
        transpose_weights(x, data, idata)


TILE_KERNELS = ("tile_mv (forward, dot products)", "tile_axpy (forward from Wᵀ)",
                "tile_outer (∂W += δhᵀ)", "tile_mtv (Wᵀδ)")


def tiles(width: int, flops: float) -> dict:
    """GFLOP/s of each tile product at a w × w layer, and µs per Wᵀ copy of the MLP."""
    import optbench as ob

    loop = kc.cpu(_tile_loop, name="parts_tiles")
    rng = np.random.default_rng(0)
    n = max(1, int(flops // (8 * width * width)))
    out = {}
    for which, label in enumerate(TILE_KERNELS):
        w = rng.standard_normal(width * width)
        a, b = rng.standard_normal(4 * width), rng.standard_normal(4 * width)
        t = _best(loop, which, n, a, w, b, width, width)
        out[label] = 8 * width * width * n / t / 1e9
    p = ob.problem("mlp", width=width, depth=2, n=2048, batch=32, dataset="spirals")
    tr = kc.cpu(_transpose_loop, name="parts_transpose")
    x = p.x0(0)
    reps = 1000
    out["transpose_weights (µs per copy)"] = 1e6 * _best(tr, reps, x, p.data, p.idata) / reps
    return out


def perm(n: int, steps: int) -> float:
    """ns per index of the minibatch order (a permutation key per step, 16 indices each)."""
    loop = kc.cpu(_perm_loop, name="parts_perm")
    seeds = np.arange(64, dtype=np.int64)
    return 1e9 * _best(loop, n, seeds, steps, 16) / (64 * steps * 16)


def _perm_loop(n, seeds, steps, bs):
    acc = 0
    for s in range(seeds.shape[0]):
        for k in range(steps):
            kh, kl = perm_key(seeds[s], k)
            for t in range(bs):
                acc += perm_apply(n, kh, kl, t)
    return acc


def phases(quick: bool) -> dict:
    """cProfile of one ``execute()`` of the peers' 4,096-run sweep (after a warm call)."""
    import cProfile
    import pstats

    from optbench.runner.execute import execute

    specs = _sweep_specs(quick)
    execute(specs)
    prof = cProfile.Profile()
    prof.enable()
    execute(specs)
    prof.disable()
    labels = {("runner/execute.py", "execute"): "whole execute() (s)",
              ("engines/cpu.py", "run"): "the driver's call (s)",
              ("engines/outputs.py", "first_order_tables"): "runs and traces tables (s)",
              ("runner/batch.py", "__init__"): "batch arrays (s)"}
    out = {}
    for (path, _, func), (_, _, _, cum, _) in pstats.Stats(prof).stats.items():
        for (suffix, name), label in labels.items():
            if func == name and path.endswith(suffix):
                out[label] = cum
    return out


def _sweep_specs(quick: bool):
    from optbench.runner.suites import suite_specs

    from .peers.sweep import _suite

    return suite_specs(_suite(8, 8, 1000) if quick else _suite(64, 64, 10_000))


def traces(quick: bool, repeats: int = 15) -> dict:
    """ms per build of the sweep's trace columns: compiled pass against NumPy (same values)."""
    from optbench.kernels.clock import tick_rate
    from optbench.runner.engines.base import Job
    from optbench.runner.engines.outputs import run_walls, trace_rows
    from optbench.runner.engines.trace_gather import gather, numpy_reference
    from optbench.runner.execute import choose_engine

    specs = _sweep_specs(quick)
    job = Job(specs, specs[0].build_problem(), [s.build_optimizer() for s in specs])
    engine = choose_engine(job)
    engine.compile(job)
    wall = engine.run(job)
    a, rate = job.batch.a, tick_rate()
    nrec = trace_rows(job.batch)[1]
    walls = run_walls(a["IOUT"], rate, wall)
    ways = {"compiled pass (ms)": gather, "NumPy expressions (ms)": numpy_reference}
    best = {k: np.inf for k in ways}
    for _ in range(repeats):
        for k, fn in ways.items():
            t0 = time.perf_counter()
            fn(a["TRACE"], a["IOUT"], nrec, walls, rate)
            best[k] = min(best[k], 1e3 * (time.perf_counter() - t0))
    return best


_ALLOC_CHILD = """
import statistics, sys, time
from optbench.bench.parts import _sweep_specs
from optbench.runner.execute import execute
specs = _sweep_specs(sys.argv[1] == "1")
execute(specs); execute(specs)
ts = []
for _ in range(int(sys.argv[2])):
    t0 = time.perf_counter(); execute(specs); ts.append(time.perf_counter() - t0)
print(1e3 * statistics.median(ts))
"""


def allocator(quick: bool, rounds: int = 3, calls: int = 10) -> dict:
    """The sweep through execute() in fresh processes, glibc's defaults against optbench's
    allocator settings, alternating: each process's median ms; best and worst process."""
    import os
    import subprocess
    import sys

    out: dict = {"glibc defaults (ms)": [], "optbench's settings (ms)": []}
    for _ in range(rounds):
        for label, env in (("glibc defaults (ms)", {"OPTBENCH_MALLOC": "system"}),
                           ("optbench's settings (ms)", {"OPTBENCH_MALLOC": ""})):
            r = subprocess.run([sys.executable, "-c", _ALLOC_CHILD, "1" if quick else "0",
                                str(calls)], env={**os.environ, **env}, capture_output=True,
                               text=True, check=True)
            out[label].append(float(r.stdout.strip().splitlines()[-1]))
    return {k: {"best": min(v), "worst": max(v)} for k, v in out.items()}


def parts(quick: bool = False) -> dict:
    steps = 500 if quick else 10_000
    return {
        "update (ns per run-step, uniform lane forms, 64 lanes, d = 2)":
            {name: update(name, steps) for name in ("sgd", "momentum", "rmsprop", "adam")},
        "tiles (GFLOP/s; transpose µs)":
            {w: tiles(w, 2e6 if quick else 2e7) for w in ((16, 64) if quick else (16, 64, 128))},
        "perm (ns per minibatch index)":
            {n: perm(n, 50 if quick else 1000) for n in (256, 200, 2048)},
        "phases (one execute() of the 4,096-run sweep)": phases(quick),
        "traces (the sweep's trace columns)": traces(quick),
        "allocator (the sweep through execute(), median per process)":
            allocator(quick, rounds=1 if quick else 3),
    }


def to_markdown(res: dict) -> str:
    lines = [TITLE, "", "`python -m optbench.bench parts` (`optbench/bench/parts.py`).", ""]
    for part, vals in res.items():
        lines.append(f"**{part}**")
        lines.append("")
        for k, v in vals.items():
            if isinstance(v, dict):
                inner = "; ".join(f"{kk} {vv:.3g}" for kk, vv in v.items())
                lines.append(f"- {k}: {inner}")
            else:
                lines.append(f"- {k}: {v:.4g}")
        lines.append("")
    return "\n".join(lines)
