"""A 4,096-run learning-rate × seed sweep: Adam on 2-D Rosenbrock, 10⁴ steps per run.

64 learning rates (log-spaced 1e-4 … 1e-1) × 64 seeds (random starts in the plotting box),
stop "budget". Aggregate steps per second (runs × steps / wall time) of:

* optbench: ``execute(specs)`` — the whole sweep as a user runs it: the batch is set up,
  run on every core (the lockstep driver for small problems), and its runs and traces tables
  are built (the trace on a log schedule, the 51-target ladder). Run specs are built before
  the clock starts; compile time is reported apart;
* NumPy batched over runs: one (4096, 2) array, Adam vectorised across runs, f tracked (the
  best f per run; no traces or targets), one thread as NumPy runs it;
* ``torch.optim.Adam`` in a Python loop over runs (one optimizer per run, hand-written
  gradient, 1 thread): at ~10⁴ steps/s this sweep would take over an hour, so a sample of
  runs and steps is timed and the rate reported (its per-step cost does not depend on which
  run it is);
* ``torch.optim.Adam`` batched: one (64, 2) tensor per learning rate, 64 parameter groups,
  ``foreach=True``, the gradient by hand.
"""
from __future__ import annotations

import os
import time

import numpy as np

from ..common import median_time
from .common import Row

N_LR, N_SEED, STEPS = 64, 64, 10_000
B1, B2, EPS = 0.9, 0.999, 1e-8


def _suite(n_lr, n_seed, steps):
    return {"name": "peers-sweep", "steps": steps, "seeds": n_seed, "stop": "budget",
            "problems": [{"problem": "rosenbrock", "dim": 2, "start": "random"}],
            "optimizers": [{"optimizer": "adam",
                            "lr": [float(v) for v in np.logspace(-4, -1, n_lr)]}]}


def starts(specs) -> np.ndarray:
    prob = specs[0].build_problem()
    return np.array([prob.x0(s.seed) for s in specs])


def numpy_batched(X, lr, steps):
    X = X.copy()
    lr = lr[:, None]
    m, v, g = np.zeros_like(X), np.zeros_like(X), np.empty_like(X)
    best = np.full(X.shape[0], np.inf)
    for t in range(1, steps + 1):
        x0, x1 = X[:, 0], X[:, 1]
        a = x1 - x0 * x0
        b = 1.0 - x0
        np.minimum(best, 100.0 * a * a + b * b, out=best)
        g[:, 0] = -400.0 * a * x0 - 2.0 * b
        g[:, 1] = 200.0 * a
        m *= B1
        m += (1 - B1) * g
        v *= B2
        v += (1 - B2) * g * g
        X -= (lr / (1 - B1 ** t)) * m / (np.sqrt(v / (1 - B2 ** t)) + EPS)
    return X


def torch_loop(X, lr, steps):
    import torch

    out = []
    for r in range(X.shape[0]):
        x = torch.tensor(X[r], dtype=torch.float64)
        x.grad = torch.zeros(2, dtype=torch.float64)
        opt = torch.optim.Adam([x], lr=float(lr[r]))
        xv, gv = x.numpy(), x.grad.numpy()
        for _ in range(steps):
            a = xv[1] - xv[0] * xv[0]
            gv[0] = -400.0 * a * xv[0] - 2.0 * (1.0 - xv[0])
            gv[1] = 200.0 * a
            opt.step()
        out.append(xv.copy())
    return np.array(out)


def torch_groups(X, lr, steps, n_lr):
    import torch

    per = X.shape[0] // n_lr
    ps = [torch.tensor(X[k * per:(k + 1) * per], dtype=torch.float64) for k in range(n_lr)]
    for p in ps:
        p.grad = torch.zeros_like(p)
    opt = torch.optim.Adam([{"params": [p], "lr": float(lr[k * per])} for k, p in enumerate(ps)],
                           foreach=True)
    with torch.no_grad():
        for _ in range(steps):
            for p in ps:
                x0, x1 = p[:, 0], p[:, 1]
                a = x1 - x0 * x0
                p.grad[:, 0] = -400.0 * a * x0 - 2.0 * (1.0 - x0)
                p.grad[:, 1] = 200.0 * a
            opt.step()
    return np.concatenate([p.numpy() for p in ps])


def _driver(specs) -> str:
    from optbench.runner.engines.base import Job
    from optbench.runner.execute import choose_engine

    job = Job(specs, specs[0].build_problem(), [specs[0].build_optimizer()] * len(specs))
    return choose_engine(job).name


def _lockstep_row(work, ours, specs, repeats) -> Row:
    """The same sweep in the lockstep driver (the one small-problem sweeps had before the
    lane driver), through ``run_batch`` with the engine forced: the sweep is one batch, so
    this is ``execute()``'s work less its grouping. Compiled (or loaded) before timing."""
    from optbench.runner.engines.cpu import LockstepEngine
    from optbench.runner.execute import run_batch

    total = len(specs) * specs[0].steps
    run_batch(specs, engine=LockstepEngine())
    walls, busy = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        res = run_batch(specs, engine=LockstepEngine())
        walls.append(time.perf_counter() - t0)
        busy.append(float(res.runs.wall_s.sum()))
    wall = float(np.median(walls))
    return Row(work, "optbench's lockstep driver (before the lane driver)", ours, total / wall,
               unit="/s", note=f"whole batch {wall:.2f} s incl. tables; "
                               f"{1e9 * float(np.median(busy)) / total:.1f} ns of thread time "
                               "per run-step", extra={"lockstep_wall_s": wall})


def _floor_rows(work, ours, X, lr, steps, specs) -> list[Row]:
    """JAX + optax and the hand-written SIMD loop (sweep_floor.py), same starts and lrs."""
    from optbench.runner.execute import run_batch

    from . import sweep_floor as F

    R = len(X)
    xo = np.array([x for _, x in run_batch(specs).xs])
    xf, tf = F.simd_floor(X, lr, steps)
    rows = [Row(work, "hand-written Numba SIMD loop, runs innermost (no tables)", ours,
                R * steps / tf, unit="/s", goal=0.6,
                note=f"{os.cpu_count()} threads; torch's arithmetic, no bookkeeping; end "
                     f"points vs optbench (lr ≤ 1e-2): {F.agreement(xo, xf, lr):.1e} rel.",
                extra={"simd_s": tf})]
    try:
        xj, tj, cj, threads = F.jax_optax(X, lr, steps)
    except ImportError as e:
        return rows + [Row(work, "JAX + optax, jit(vmap(lax.scan(optax.adam)))", ours, None,
                           unit="/s", skipped=f"{e.name} not installed (extra 'bench')")]
    rows.append(Row(work, "JAX + optax, jit(vmap(lax.scan(optax.adam)))", ours, R * steps / tj,
                    unit="/s", goal=2.3,
                    note=f"{F.jax_threads_note(threads)}; compile {cj:.2f} s apart; end points "
                         f"vs optbench (lr ≤ 1e-2): {F.agreement(xo, xj, lr):.1e} rel.",
                    extra={"jax_s": tj, "jax_compile_s": cj, "jax_threads": threads}))
    return rows


def run(n_lr: int = N_LR, n_seed: int = N_SEED, steps: int = STEPS, repeats: int = 3) -> list[Row]:
    from optbench.runner.execute import execute
    from optbench.runner.suites import suite_specs

    specs = suite_specs(_suite(n_lr, n_seed, steps))
    R = len(specs)
    total = R * steps
    t0 = time.perf_counter()
    execute(specs)            # compiles the pair's driver (or loads it) and runs once
    first = time.perf_counter() - t0
    X = starts(specs)
    lr = np.array([s.optimizer_params["lr"] for s in specs])
    ns = max(100, steps // 10)
    walls, kernel, npys = [], [], []
    numpy_batched(X, lr, 10)
    for _ in range(repeats):          # optbench and the NumPy peer alternate
        t0 = time.perf_counter()
        runs, _ = execute(specs)
        walls.append(time.perf_counter() - t0)
        kernel.append(float(runs.wall_s.sum()))
        t0 = time.perf_counter()
        numpy_batched(X, lr, ns)
        npys.append((time.perf_counter() - t0) / ns)
    wall = float(np.median(walls))
    ours = total / wall
    bad = int((runs.status == "error").sum())
    work = f"{R:,}-run lr × seed sweep, 2-D Rosenbrock, Adam, {steps:,} steps"
    extra = {"optbench_wall_s": wall, "runs": R, "steps": steps,
             "thread_busy_s": float(np.median(kernel)), "compile_or_load_s": first}
    rows = [Row(work, "goal: aggregate steps/s on this machine", ours, 3e8, unit="/s", goal=1.0,
                note=f"whole sweep {wall:.2f} s incl. tables; {bad} error rows; "
                     f"{1e9 * extra['thread_busy_s'] / total:.1f} ns of thread time per "
                     f"run-step; driver {_driver(specs)}", extra=extra)]
    rows.append(_lockstep_row(work, ours, specs, repeats))
    rows += _floor_rows(work, ours, X, lr, steps, specs)
    t = float(np.median(npys))
    rows.append(Row(work, "NumPy batched over runs (1 thread)", ours, R / t, unit="/s",
                    note=f"timed on {ns:,} steps"))
    try:
        import torch
    except ImportError:
        rows.append(Row(work, "torch.optim.Adam, Python loop over runs", ours, None, unit="/s",
                        skipped="torch not installed"))
        rows.append(Row(work, "torch.optim.Adam, 64 param groups, foreach", ours, None,
                        unit="/s", skipped="torch not installed"))
        return rows
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        sample_runs, sample_steps = 8, max(100, steps // 20)
        t = median_time(lambda: torch_loop(X[:sample_runs], lr[:sample_runs], sample_steps), 1)
        rows.append(Row(work, "torch.optim.Adam, Python loop over runs", ours,
                        sample_runs * sample_steps / t, unit="/s",
                        note=f"1 thread; timed on {sample_runs} runs × {sample_steps:,} steps"))
        ns = max(50, steps // 50)
        t = median_time(lambda: torch_groups(X, lr, ns, n_lr), 1) / ns
        rows.append(Row(work, f"torch.optim.Adam, {n_lr} param groups, foreach", ours, R / t,
                        unit="/s", note=f"1 thread; timed on {ns:,} steps"))
    finally:
        torch.set_num_threads(threads)
    return rows
