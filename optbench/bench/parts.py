"""The parts behind the sweep and MLP figures (``python -m optbench.bench parts``): a figure
per kernel, to compare two trees or to see where a whole-run figure's time goes.

* ``update``: a lane sweep's uniform update alone — the optimizer's uniform ``PREP`` and
  ``ELEM`` lane forms (``kernels/lanes.py``) on 64 lanes of a 2-D point, runs differing in lr
  only — ns per run-step, best of repeats;
* ``products``: the MLP's dense products (``problems/mlp_gemm.py``) at a w × w layer and a
  tile of 32 samples, GFLOP/s (2 flops per multiply-add): z = W h, ∂W += δ hᵀ and Wᵀδ, each
  by ``gemm`` (vector registers) and by ``gemm_loops`` (the plain loops that define its
  order, what CUDA compiles);
* ``norm``: µs per ‖g‖² of the run loops at d = 17,154 (the width-128 MLP;
  ``runner/grad_norm.py``): in a vector register (``grad_sumsq``), as its plain loops
  (``grad_sumsq_loops``, eight scalar partial sums) and as one serial sum (the order before);
* ``quotient``: ns per coordinate of the whole-vector update at d = 17,154 (the width-128
  MLP) of the optimizers whose ELEM has a quotient form (``kernels/quotient.py``): the plain
  ``vector_update`` against ``vector_update_q`` (same bits), alternating, best of repeats;
* ``perm``: ns per minibatch index (``problems/minibatch.perm_index``: key and Feistel walk),
  one index at a time and 32 at once (``perm_block``, as the MLP's tiles load them);
* ``phases``: where one ``execute()`` of the 4,096-run Adam sweep of ``peers --only sweep``
  spends its time: ms of the grouping, the engine's compile (the batch's arrays), the
  driver's call (the lane driver), the tables and three parts of them, and the whole call
  (each phase timed by wrapping its function with the clock; median of 10 calls);
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
from optbench.kernels.compile import kernel, placeholder, template
from optbench.problems.minibatch import (perm_apply, perm_bits, perm_block, perm_key,
                                         perm_round_keys)
from optbench.problems.mlp_gemm import gemm, gemm_loops
from optbench.runner.grad_norm import grad_sumsq, grad_sumsq_loops

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


TS = 32   # samples per tile of the mlp kernels
# (label, (M, K, N) of a w × w layer, A's (row, k) strides): the MLP's three products
PRODUCTS = (("z = W h", lambda w: (w, w, TS), lambda w: (w, 1)),
            ("∂W += δ hᵀ", lambda w: (w, TS, w), lambda w: (TS, 1)),
            ("Wᵀδ", lambda w: (w, w, TS), lambda w: (1, w)))


def _product_loop(n, C, A, B, ars, aks, K, M, N, vector):
    for _ in range(n):
        if vector:
            gemm(C, 0, N, A, 0, ars, aks, B, 0, N, K, M, N, 1)
        else:
            gemm_loops(C, 0, N, A, 0, ars, aks, B, 0, N, K, M, N, 1)


def products(width: int, flops: float) -> dict:
    """GFLOP/s of each of the MLP's products at a w × w layer (32 samples), vector and loops."""
    loop = kc.cpu(_product_loop, name="parts_products")
    rng = np.random.default_rng(0)
    out = {}
    for label, shape, strides in PRODUCTS:
        M, K, N = shape(width)
        ars, aks = strides(width)
        n = max(1, int(flops // (2 * M * K * N)))
        A, B = rng.standard_normal(M * K), rng.standard_normal(K * N)
        for vector, how in ((1, "gemm"), (0, "gemm_loops")):
            t = _best(loop, n, np.zeros(M * N), A, B, ars, aks, K, M, N, vector)
            out[f"{label}, {how}"] = 2 * M * K * N * n / t / 1e9
    return out


@kernel
def _serial_sumsq(g, d):
    """Σ g_i² in the order i = 0, 1, … (the run loops' order at every d before grad_sumsq)."""
    s = 0.0
    for i in range(d):
        s += g[i] * g[i]
    return s


def _norm_loop(n, g, d, which):
    acc = 0.0
    for _ in range(n):
        if which == 0:
            acc += grad_sumsq(g, d)
        elif which == 1:
            acc += grad_sumsq_loops(g, d)
        else:
            acc += _serial_sumsq(g, d)
    return acc


NORMS = ("vector register (grad_sumsq)", "plain loops (grad_sumsq_loops)", "one serial sum")


def norm(d: int = 17_154, calls: int = 2000) -> dict:
    """µs per ‖g‖² at dimension d, each of the three ways (best of repeats)."""
    loop = kc.cpu(_norm_loop, name="parts_norm")
    g = np.random.default_rng(0).standard_normal(d)
    return {how: 1e6 * _best(loop, calls, g, d, which) / calls
            for which, how in enumerate(NORMS)}


def quotient(name: str, calls: int, rounds: int = 5) -> dict:
    """ns per coordinate of ``name``'s whole-vector update at d = 17,154: the plain update
    and the one with its quotient form, alternating, best of ``rounds`` each."""
    from optbench import optimizers as O
    from optbench.kernels import signatures as S
    from optbench.kernels.slots import N_SCALARS, SC_LR
    from optbench.optimizers.base import update_template, vector_update

    opt = O.make(name)
    tpl, bind, tag = update_template(opt)
    fns = {"plain": kc.cpu(vector_update, S.UPDATE_SIG, bind={"PREP": opt.PREP, "ELEM": opt.ELEM},
                           name=f"vector_update__{name.replace('-', '_')}", inline=True),
           "quotient form": kc.cpu(tpl, S.UPDATE_SIG, bind=bind, inline=True,
                                   name=f"vector_update__{name.replace('-', '_')}{tag}")}
    d = 17_154
    g = np.random.default_rng(0).standard_normal(d)
    hy = opt.hyper_array()

    def loop(fn):
        x, st, sc = np.zeros(d), np.zeros((opt.n_state(), d)), np.zeros(N_SCALARS)
        opt.init_scalars(sc)
        sc[SC_LR] = 1e-3
        for _ in range(calls):
            fn(x, g, st, sc, hy)

    best = {k: np.inf for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            best[k] = min(best[k], _best(loop, fn, repeats=1))
    return {k: 1e9 * v / (calls * d) for k, v in best.items()}


def perm(n: int, steps: int) -> dict:
    """ns per index of the minibatch order (a permutation key per step, 32 indices each): one
    index at a time (``perm_apply``) and the step's 32 at once (``perm_block``)."""
    loop = kc.cpu(_perm_loop, name="parts_perm")
    seeds = np.arange(64, dtype=np.int64)
    out = np.zeros(32)
    return {how: 1e9 * _best(loop, n, seeds, steps, 32, block, out) / (64 * steps * 32)
            for block, how in ((0, "one at a time"), (1, "32 at once"))}


def _perm_loop(n, seeds, steps, bs, block, out):
    acc = 0.0
    hb = perm_bits(n)
    for s in range(seeds.shape[0]):
        for k in range(steps):
            kh, kl = perm_key(seeds[s], k)
            if block:
                perm_block(out, 0, n, hb, perm_round_keys(kh, kl), 0, bs)
                acc += out[bs - 1]
            else:
                for t in range(bs):
                    acc += perm_apply(n, kh, kl, t)
    return acc


def phases(quick: bool, calls: int = 10) -> dict:
    """Where one ``execute()`` of the peers' 4,096-run sweep spends its time: ms of each phase
    (median over ``calls`` calls after two warm ones), timed by wrapping the phase's function
    with the clock (no profiler: cProfile's cost per Python call inflated the tables' share).
    The grouping, the engine's ``compile`` (driver lookup, the batch's arrays, the warm-up
    call on one run), its ``run`` (the driver's call), its ``results`` (the tables) and three
    parts of the tables; what is left of the whole call is building the problem and
    optimizers and putting the frames together."""
    from contextlib import ExitStack

    from optbench.runner import execute as E
    from optbench.runner.engines import cpu as C
    from optbench.runner.engines import outputs as O

    specs = _sweep_specs(quick)
    acc: dict = {}
    sites = [(E, "group_indices", "grouping the specs"),
             (C.BatchDriverEngine, "compile", "the engine's compile (batch arrays, warm-up)"),
             (C.BatchDriverEngine, "run", "the driver's call"),
             (C.BatchDriverEngine, "results", "the runs and traces tables"),
             (O, "run_columns", "  of which the runs columns"),
             (O, "trace_columns", "  of which the traces columns"),
             (O, "frames", "  of which the two frames")]

    def timed_site(fn, label):
        def wrapper(*a, **k):
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                acc[label] = acc.get(label, 0.0) + time.perf_counter() - t0
        return wrapper

    per_call: dict = {}
    with ExitStack() as stack:
        for owner, name, label in sites:
            fn = owner.__dict__[name]
            stack.callback(setattr, owner, name, fn)
            setattr(owner, name, timed_site(fn, label))
        for i in range(calls + 2):
            acc.clear()
            t0 = time.perf_counter()
            E.execute(specs)
            acc["whole execute()"] = time.perf_counter() - t0
            if i >= 2:
                for k, v in acc.items():
                    per_call.setdefault(k, []).append(v)
    order = ["whole execute()"] + [label for _, _, label in sites]
    return {f"{k} (ms)": round(float(np.median(per_call[k])) * 1e3, 2) for k in order
            if k in per_call}


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
        "products (GFLOP/s, the MLP's dense products, 32 samples)":
            {w: products(w, 2e6 if quick else 2e7) for w in ((16, 64) if quick else (16, 64, 128))},
        "norm (µs per ‖g‖², d = 17,154)": norm(calls=200 if quick else 2000),
        "quotient (ns per coordinate, whole-vector update, d = 17,154)":
            {name: quotient(name, 20 if quick else 200)
             for name in (("adam",) if quick else ("adam", "adabelief", "yogi", "ademamix"))},
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
