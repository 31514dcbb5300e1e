"""The sweep columns of the modern catalogue's table (:mod:`.catalogue`): one learning-rate ×
seed sweep per optimizer on 2-D Rosenbrock (random starts), the same starts, learning rates and
steps on every side, in run-steps per second, in one process.

* **optbench**: ``execute(specs)`` as :mod:`.lane_matrix` runs it — the whole sweep as a user
  runs it (the lane driver for coordinate-wise optimizers at this size, the phased loop for
  the others; runs and traces tables, the target ladder, divergence per run). The first call
  (compile or load, and one run, whose end points are kept) is reported apart; then the median
  of ``repeats`` timed calls.
* **JAX + optax**, where optax has the optimizer: ``jax.jit(jax.vmap(run))`` with ``run`` a
  ``lax.scan`` of the optax transformation, ``jax.grad`` of the same objective, the best f
  tracked, float64 (the harness of :func:`.lane_matrix.jax_sweep`); compile time apart, then
  the median of ``repeats`` calls. Its end points are compared with optbench's.
* **PyTorch**, the reference implementation stepping every run at once. The runs' points are
  one float64 (runs, d) tensor; the gradient is written by hand (vectorised over all runs)
  into one (runs, d) gradient tensor whose views are the parameters' ``.grad`` (or, for
  references that differentiate the gradient, by ``backward(create_graph=True)`` of the summed
  losses), then ``step()``. How the runs map to the reference's parameters (``layout``):

  - ``batched``: one (runs per lr, d) parameter per learning rate, each its own param group:
    for coordinate-wise optimizers, whose update treats every element alike;
  - ``per-run``: one (d,) parameter per run (``(1, d)`` where the reference scales only
    matrices), grouped by learning rate: for optimizers with per-parameter reductions (norms,
    trust ratios), which a (runs, d) parameter would take across runs;
  - ``per-optimizer``: one optimizer instance per run, stepped in a Python loop: for
    optimizers whose estimate is global over every group of an instance (prodigyopt,
    dadaptation: one d for all groups).

  A full sweep would take hours at PyTorch's per-call cost, so after one untimed step (state
  allocation) it is timed on as many steps as fit in ``budget_s`` seconds (at least 3; the
  cost per step does not depend on which step it is); the row says how many.
"""
from __future__ import annotations

import importlib
import statistics
import time

import numpy as np

N_LR, N_SEED, STEPS = 64, 64, 10_000          # the 4,096-run sweep
QUICK = {"n_lr": 8, "n_seed": 16, "steps": 300}
LAYOUTS = ("batched", "per-run", "per-optimizer")


def sweep_specs(name: str, hyper: dict, lrs, n_seed: int, steps: int) -> list:
    """The run specs of the sweep: ``lrs`` × seeds 0 … n_seed − 1 (lr outer), stop "budget"."""
    from optbench.runner.suites import suite_specs

    suite = {"name": "bench-catalogue", "steps": steps, "seeds": n_seed, "stop": "budget",
             "problems": [{"problem": "rosenbrock", "dim": 2, "start": "random"}],
             "optimizers": [{"optimizer": name, "lr": [float(v) for v in lrs], **hyper}]}
    return suite_specs(suite)


def ours(specs, repeats: int) -> dict:
    """optbench's sweep: seconds (median of ``repeats`` calls of ``execute``), first call,
    engine, thread ns per run-step, runs that stopped before the budget, starts, end points."""
    from optbench.runner.engines.base import Job
    from optbench.runner.execute import choose_engine, execute, run_batch

    prob = specs[0].build_problem()
    engine = choose_engine(Job(specs, prob, [specs[0].build_optimizer()] * len(specs))).name
    t0 = time.perf_counter()
    first = run_batch(specs)                    # compiles (or loads) the driver; end points
    first_s = time.perf_counter() - t0
    walls, busy = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        runs, _ = execute(specs)
        walls.append(time.perf_counter() - t0)
        busy.append(float(runs.wall_s.sum()))
    steps = specs[0].steps
    return {"seconds": statistics.median(walls), "first_s": first_s, "engine": engine,
            "thread_ns": 1e9 * statistics.median(busy) / (len(specs) * steps),
            "early": int((first.runs.status != "budget").sum()),
            "X0": np.array([x0 for x0, _ in first.xs]), "X": np.array([x for _, x in first.xs])}


def resolve(path: str):
    """``"optax.contrib.prodigy"`` -> the function (ImportError / AttributeError if absent)."""
    module, _, attr = path.rpartition(".")
    return getattr(importlib.import_module(module), attr)


def optax_sweep(path: str, kw: dict, X, lr, steps: int, repeats: int) -> dict:
    """The sweep in JAX + optax: seconds (median), compile seconds, busy threads, end points."""
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import optax

    from .common import time_jax

    ctor = resolve(path)

    def f(x):
        return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)

    fg = jax.value_and_grad(f)

    def run(x0, lr):
        opt = ctor(lr, **kw)

        def body(carry, _):
            x, s, best = carry
            v, g = fg(x)
            u, s = opt.update(g, s, x)
            return (optax.apply_updates(x, u), s, jnp.minimum(best, v)), None

        (x, _, best), _ = jax.lax.scan(body, (x0, opt.init(x0), jnp.asarray(jnp.inf)), None,
                                       length=steps)
        return x, best

    fn = jax.jit(jax.vmap(run))
    (x, _), compile_s, walls, busy = time_jax(fn, (jnp.asarray(X), jnp.asarray(lr)), repeats)
    return {"seconds": statistics.median(walls), "compile_s": compile_s,
            "busy": statistics.median(busy), "X": np.asarray(x)}


def agreement(a, b) -> float:
    """Median over runs of ‖a − b‖ / ‖a‖ (runs where both are finite); NaN if none."""
    ok = np.isfinite(a).all(axis=1) & np.isfinite(b).all(axis=1)
    if not ok.any():
        return float("nan")
    num = np.linalg.norm(a[ok] - b[ok], axis=1)
    return float(np.median(num / np.maximum(np.linalg.norm(a[ok], axis=1), 1e-300)))


def _rosenbrock_grad(P, G):
    """∇f of 2-D Rosenbrock for every row of P, written into G (torch, no autograd)."""
    x0, x1 = P[:, 0], P[:, 1]
    a = x1 - x0 * x0
    G[:, 0] = -400.0 * a * x0 - 2.0 * (1.0 - x0)
    G[:, 1] = 200.0 * a


def _rosenbrock_loss(p):
    q = p.reshape(-1, 2)
    return (100.0 * (q[:, 1] - q[:, 0] ** 2) ** 2 + (1.0 - q[:, 0]) ** 2).sum()


def torch_stepper(make, X, lr, n_lr: int, layout: str, matrix_view=False, autograd=False):
    """``(step, points)``: ``step()`` does one step of every run in the reference (see the
    module docstring); ``points()`` returns the runs' current points, (runs, d)."""
    import torch

    if layout not in LAYOUTS:
        raise ValueError(f"layout {layout!r}: one of {LAYOUTS}")
    R, d = X.shape
    per = R // n_lr
    L = np.asarray(lr, dtype=float).reshape(n_lr, per) if R % n_lr == 0 else None
    if L is None or not (L == L[:, :1]).all() or len(set(L[:, 0])) != n_lr:
        raise ValueError("the runs of each learning rate must be contiguous and equal in number")
    lrs = [float(v) for v in L[:, 0]]
    P = torch.tensor(X, dtype=torch.float64)
    G = torch.zeros_like(P)
    if layout == "batched":
        parts = [slice(k * per, (k + 1) * per) for k in range(n_lr)]
        shape = None
    else:
        parts = list(range(R))
        shape = (1, d) if matrix_view else (d,)
    params = []
    for s in parts:
        p, g = P[s], G[s]
        if shape is not None:
            p, g = p.view(shape), g.view(shape)
        if autograd:                      # a true leaf: the loss is differentiated through it
            p = p.clone().requires_grad_(True)
        else:
            p.grad = g                    # a view of G: one vectorised gradient per step
        params.append(p)
    lr_of = [lrs[(k if layout == "batched" else k // per)] for k in range(len(params))]
    if layout == "per-optimizer":
        opts = [make([p], lr_of[k]) for k, p in enumerate(params)]
    else:
        groups = [{"params": params[k * len(params) // n_lr:(k + 1) * len(params) // n_lr],
                   "lr": lrs[k]} for k in range(n_lr)]
        opts = [make(groups, lrs[0])]

    def step():
        if autograd:
            for o in opts:
                o.zero_grad(set_to_none=True)
            sum(_rosenbrock_loss(p) for p in params).backward(create_graph=True)
        else:
            with torch.no_grad():
                _rosenbrock_grad(P, G)
        for o in opts:
            o.step()

    def points():
        if not autograd:
            return P.numpy().copy()
        return np.concatenate([p.detach().numpy().reshape(-1, d) for p in params])

    return step, points


def torch_sweep(make, X, lr, n_lr: int, layout: str, steps: int, budget_s: float,
                matrix_view=False, autograd=False) -> dict:
    """Run-steps per second of the reference stepping every run (see the module docstring)."""
    step, _ = torch_stepper(make, X, lr, n_lr, layout, matrix_view, autograd)
    step()                                # state allocation: not timed
    t0 = time.perf_counter()
    step()
    one = time.perf_counter() - t0
    n = int(min(max(budget_s / max(one, 1e-9), 3), steps))
    t0 = time.perf_counter()
    for _ in range(n):
        step()
    per_step = (time.perf_counter() - t0) / n
    return {"rate": X.shape[0] / per_step, "steps_timed": n, "layout": layout}


def sweep_row(name: str, member, quick: bool = False, repeats: int | None = None,
              log=lambda m: None) -> dict:
    """The sweep figures of one member (``member``: a :class:`.catalogue.Member`)."""
    import optbench as ob

    size = QUICK if quick else {"n_lr": N_LR, "n_seed": N_SEED, "steps": STEPS}
    repeats = repeats or (1 if quick else 3)
    n_lr, steps = size["n_lr"], size["steps"]
    lr0 = ob.optimizer(name, **member.hyper).hyper["lr"]
    lrs = lr0 * np.logspace(*member.lr_decades, n_lr)
    specs = sweep_specs(name, member.hyper, lrs, size["n_seed"], steps)
    R = len(specs)
    lr = np.array([s.optimizer_params["lr"] for s in specs])
    row = {"runs": R, "steps": steps, "lr_range": (float(lrs[0]), float(lrs[-1]))}
    o = ours(specs, repeats)
    row.update(ours_rate=R * steps / o["seconds"], ours_engine=o["engine"],
               ours_first_s=o["first_s"], ours_thread_ns=o["thread_ns"], early=o["early"])
    log(f"{name}: optbench {row['ours_rate']:.3g} run-steps/s ({o['engine']})")
    if member.optax:
        path, kw = member.optax
        try:
            j = optax_sweep(path, kw, o["X0"], lr, steps, repeats)
            row.update(optax=path, optax_rate=R * steps / j["seconds"],
                       optax_compile_s=j["compile_s"], optax_busy=j["busy"],
                       optax_agreement=agreement(o["X"], j["X"]))
            log(f"{name}: {path} {row['optax_rate']:.3g} run-steps/s")
        except (ImportError, AttributeError) as e:
            row.update(optax=path, optax_skipped=f"{path} not available ({e})")
    try:
        t = torch_sweep(member.make, o["X0"], lr, n_lr, member.layout, steps,
                        0.2 if quick else 5.0, member.matrix_view, member.autograd)
        row.update(torch_rate=t["rate"], torch_steps_timed=t["steps_timed"],
                   torch_layout=t["layout"])
        log(f"{name}: {member.reference} {row['torch_rate']:.3g} run-steps/s")
    except ImportError as e:
        row["torch_skipped"] = f"{e.name} not installed"
    return row
