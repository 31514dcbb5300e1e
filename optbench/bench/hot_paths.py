"""The hot paths of the coordinate-wise optimizers, per step (``python -m optbench.bench hot``):
a figure to compare two trees (run it in each, one after the other, on a quiet machine).

Each figure is the minimum over repeats of a run's own time per step (``wall_s``, compile
excluded; the minimum is the least disturbed by other work on the machine), through
``optbench.run`` / the runner as a user calls it: Adam and heavy-ball momentum on 2-D
Rosenbrock in the pair-specialised loop (200,000 steps) and Adam in the generic loop (5,000
steps); a 1,024-run sweep in the lockstep driver (wall time of the whole batch per
run-step); Adam on a 2²⁰-dim quadratic in the fused loop; an MLP epoch (2,048 spirals,
batch 32, two hidden layers of 16) in the generic loop.
"""
from __future__ import annotations

import time

import numpy as np

import optbench as ob

TITLE = "## Hot paths (before / after a change)"


def per_step(prob, opt, steps: int, runs: int = 1, reps: int = 5) -> float:
    """Minimum over ``reps`` (after one warm-up) of the seconds per (run-)step."""
    from optbench.runner import execute as E
    from optbench.runner.spec import RunSpec

    best = np.inf
    for k in range(reps + 1):
        if runs == 1:
            res = ob.run(prob, opt, steps=steps, stop="budget", record="none")
            w = res.wall_s / steps
        else:
            specs = [RunSpec.make(prob, opt, seed=s, steps=steps, stop="budget", record="none")
                     for s in range(runs)]
            t0 = time.perf_counter()
            E.execute(specs)
            w = (time.perf_counter() - t0) / (steps * runs)
        if k > 0:
            best = min(best, w)
    return float(best)


def hot(quick: bool = False) -> dict:
    scale = 10 if quick else 1
    rosen = ob.problem("rosenbrock", dim=2)
    adam = ob.optimizer("adam", lr=1e-3)
    out = {
        "adam, 2-D Rosenbrock, special loop (ns/step)":
            per_step(rosen, adam, 200_000 // scale) * 1e9,
        "momentum, 2-D Rosenbrock, special loop (ns/step)":
            per_step(rosen, ob.optimizer("momentum", lr=1e-4), 200_000 // scale) * 1e9,
        "adam, 2-D Rosenbrock, generic loop (ns/step)": per_step(rosen, adam, 5_000) * 1e9,
        "adam, 1,024-run sweep, lockstep (ns/run-step)":
            per_step(rosen, adam, 10_000 // scale, runs=1024, reps=3) * 1e9,
    }
    q = ob.problem("quadratic", dim=2 ** (16 if quick else 20), cond=1e3, start="random")
    out["adam, 2^20-dim quadratic, fused loop (ms/step)"] = per_step(q, adam, 20) * 1e3
    mlp = ob.problem("mlp", width=16, depth=2, n=2048, batch=32, dataset="spirals")
    out["adam, MLP epoch (64 steps), generic loop (ms)"] = per_step(mlp, adam, 64) * 64e3
    return out


def to_markdown(res: dict) -> str:
    rows = "\n".join(f"| {k} | {v:.4g} |" for k, v in res.items())
    return (f"{TITLE}\n\n`python -m optbench.bench hot`: minimum over repeats.\n\n"
            f"| path | figure |\n|---|---|\n{rows}\n")
