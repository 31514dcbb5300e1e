"""The lane driver's whole step, fused first pass and lane forms against each other
(``python -m optbench.bench fused``), in one process.

Per problem: a sweep of 64 learning rates × ``seeds`` random starts (Adam, stop "budget", the
log-spaced trace), its arrays built as ``execute()`` builds them, run by two lane drivers
compiled in this process: the one the runner uses (``runner/lanes.py``, with the fused pass of
``runner/lane_fused.py`` where the problem has one) and the same driver with the lane forms'
passes instead (``fuse_max_dim=0``). The two alternate, ``rounds`` times; the figure is each
one's best, in ns of thread time per run-step (one thread: the drivers run serially), and the
end points, traces (time stamps apart), hit steps, states and scalars must hold the same bits. A
second figure, ``recording``: the runner's driver on the same sweep recording the log-spaced
trace and recording nothing, alternating: what the trace rows cost. A third, ``lane0``: per
optimizer on 2-D Rosenbrock, the driver whose uniform forms leave the shared scalars they write
on lane 0 against the same driver whose forms copy them to every lane, same bits checked. A
fourth, ``whole``: per optimizer on 2-D Rosenbrock, the runner's driver (the whole step in one
loop over the lanes, ``runner/lane_step.py``) against the same driver with the passes
(``whole_step=False``), same bits checked. The first and third compare drivers without the
whole step, which would otherwise run in both arms.

The tables and the parallel loop are left out on purpose: this is the driver's step alone.
Problems above the runner's limit (``FUSE_MAX_DIM``, d = 2) get a fused driver built here
only (``fuse_max_dim`` raised to their dimension), to show the measurement behind the limit.
"""
from __future__ import annotations

import time

import numpy as np

TITLE = "## Lane driver: fused first pass against lane forms"
PROBLEMS = ({"problem": "rosenbrock"}, {"problem": "beale"}, {"problem": "himmelblau"},
            {"problem": "ackley"}, {"problem": "six-hump-camel"}, {"problem": "x-plus-sin"},
            {"problem": "wood"}, {"problem": "rosenbrock", "dim": 8})


def _sweep(problem: dict, seeds: int, steps: int, record: str = "log",
           optimizer: str = "adam", n_lr: int = 64):
    from optbench.runner.suites import suite_specs

    suite = {"name": "fused-ab", "steps": steps, "seeds": seeds, "stop": "budget",
             "record": record, "problems": [{**problem, "start": "random"}],
             "optimizers": [{"optimizer": optimizer,
                             "lr": [float(v) for v in np.logspace(-4, -1, n_lr)]}]}
    specs = suite_specs(suite)
    return specs, specs[0].build_problem(), [s.build_optimizer() for s in specs]


def _outputs(a) -> tuple:
    from optbench.runner.loop import T_TICKS

    tr = a["TRACE"].copy()
    tr[..., T_TICKS] = 0.0
    return tuple(np.copy(a[k]) for k in ("X", "ST", "SC", "HITF", "HITG")) + (tr,)


def _time(driver, sweep) -> tuple[float, tuple]:
    from optbench.runner.batch import Batch

    specs, prob, opts = sweep
    b = Batch(specs, prob, opts)
    t0 = time.perf_counter()
    driver(*b.args())
    wall = time.perf_counter() - t0
    return 1e9 * wall / (len(specs) * specs[0].steps), _outputs(b.a)


def _same(a: tuple, b: tuple) -> bool:
    return all(np.array_equal(u, v, equal_nan=True) for u, v in zip(a, b))


def _alternate(drivers: dict, sweep, rounds: int) -> tuple[dict, bool]:
    """({name: best ns per run-step}, whether every driver's outputs hold the same bits): the
    drivers run the sweep in turn, ``rounds`` times."""
    best = {k: np.inf for k in drivers}
    outs: dict = {}
    for _ in range(rounds):
        for k, drv in drivers.items():
            ns, outs[k] = _time(drv, sweep)
            best[k] = min(best[k], ns)
    first = next(iter(outs.values()))
    return best, all(_same(first, o) for o in outs.values())


def ab(problem: dict, seeds: int = 16, steps: int = 10_000, rounds: int = 8) -> dict:
    """The fused driver against the lane forms' on one problem (see the module docstring)."""
    from optbench.runner.lane_fused import FUSE_MAX_DIM, fused_pass, no_fused_pass
    from optbench.runner.lanes import lane_driver

    sweep = _sweep(problem, seeds, steps)
    prob, opt = sweep[1], sweep[2][0]
    forced = prob.dim > FUSE_MAX_DIM      # beyond the runner's limit: built here to show why
    fused = lane_driver(prob, opt, parallel=False, fuse_max_dim=max(FUSE_MAX_DIM, prob.dim),
                        whole_step=False)
    has = fused_pass(prob, max(FUSE_MAX_DIM, prob.dim)) is not no_fused_pass
    forms = lane_driver(prob, opt, parallel=False, fuse_max_dim=0, whole_step=False)
    best, same = _alternate({"fused": fused, "forms": forms}, sweep, rounds)
    return {"problem": problem["problem"], "dim": prob.dim, "runs": len(sweep[0]),
            "steps": steps, "fused_used": has, "forced": forced and has,
            "fused_ns": best["fused"], "forms_ns": best["forms"], "same_bits": same}


def recording(seeds: int = 16, steps: int = 10_000, rounds: int = 8) -> dict:
    """The runner's driver (Adam × 2-D Rosenbrock) recording the log-spaced trace against
    recording nothing, alternating: ns of thread time per run-step, best of ``rounds``."""
    from optbench.runner.lanes import lane_driver

    sweeps = {rec: _sweep(PROBLEMS[0], seeds, steps, rec) for rec in ("log", "none")}
    drv = lane_driver(sweeps["log"][1], sweeps["log"][2][0], parallel=False)
    best = {rec: np.inf for rec in sweeps}
    for _ in range(rounds):
        for rec, sw in sweeps.items():
            best[rec] = min(best[rec], _time(drv, sw)[0])
    return {"log_ns": best["log"], "none_ns": best["none"]}


LANE0_OPTIMIZERS = ("sgd", "rmsprop", "adam", "nadam")


def lane0(optimizer: str, seeds: int = 16, steps: int = 10_000, rounds: int = 8) -> dict:
    """The runner's driver (shared scalars left on lane 0) against the same driver whose
    uniform forms copy them to every lane, ``optimizer`` × 2-D Rosenbrock, alternating: ns
    of thread time per run-step, best of ``rounds``, and whether the bits agree."""
    from optbench.runner.lanes import lane_driver

    sweep = _sweep(PROBLEMS[0], seeds, steps, optimizer=optimizer)
    prob, opt = sweep[1], sweep[2][0]
    best, same = _alternate({"lane0": lane_driver(prob, opt, parallel=False, whole_step=False),
                             "copied": lane_driver(prob, opt, parallel=False, lane0=False)},
                            sweep, rounds)
    return {"optimizer": optimizer, "lane0_ns": best["lane0"], "copied_ns": best["copied"],
            "same_bits": same}


WHOLE_OPTIMIZERS = ("sgd", "momentum", "rmsprop", "adagrad", "adam", "amsgrad", "lion", "adopt",
                    "yogi", "ademamix", "adabelief", "nadam", "adan")


def whole(optimizer: str, seeds: int = 16, steps: int = 10_000, rounds: int = 8,
          problem: dict = PROBLEMS[0]) -> dict:
    """The runner's driver (the whole step, where the pair has it) against the same driver
    with the passes, ``optimizer`` × ``problem``, alternating: ns of thread time per
    run-step, best of ``rounds``, and whether the bits agree. The sweep's seeds vary fastest,
    64 (one chunk) per learning rate, so that a third driver, the whole step with the lr
    shared by a chunk's runs (``lane_driver(lr_shared=True)``, what the runner uses for such
    a sweep), runs it too."""
    from optbench.runner.lane_step import lr_sharing_pays, step_forms
    from optbench.runner.lanes import LANES, lane_driver, uniform_kernels

    n_lr = max(1, seeds * 64 // LANES)
    sweep = _sweep(problem, LANES, steps, optimizer=optimizer, n_lr=n_lr)
    prob, opt = sweep[1], sweep[2][0]
    best, same = _alternate({"whole": lane_driver(prob, opt, parallel=False),
                             "whole_lr": lane_driver(prob, opt, parallel=False, lr_shared=True),
                             "passes": lane_driver(prob, opt, parallel=False,
                                                   whole_step=False)}, sweep, rounds)
    return {"optimizer": optimizer, "problem": problem["problem"], "dim": prob.dim,
            "whole_ns": best["whole"], "whole_lr_ns": best["whole_lr"],
            "passes_ns": best["passes"],
            "used": step_forms(prob, opt, uniform_kernels(opt)[2]) is not None,
            "lr_used": lr_sharing_pays(prob, opt, uniform_kernels(opt)[2],
                                       uniform_kernels(opt, lr_shared=True)[2]),
            "same_bits": same}


def run(quick: bool = False) -> dict:
    seeds, steps, rounds = (2, 400, 2) if quick else (16, 10_000, 8)
    probs = PROBLEMS[:1] if quick else PROBLEMS
    opts = LANE0_OPTIMIZERS[2:3] if quick else LANE0_OPTIMIZERS
    wopts = WHOLE_OPTIMIZERS[4:5] if quick else WHOLE_OPTIMIZERS
    # Adam on the problems of d <= 2 (the whole step's limit)
    wprobs = () if quick else [p for p in PROBLEMS[1:6]]
    return {"rows": [ab(p, seeds, steps, rounds) for p in probs],
            "recording": recording(seeds, steps, rounds),
            "lane0": [lane0(o, seeds, steps, rounds) for o in opts],
            "whole": [whole(o, seeds, steps, rounds) for o in wopts]
            + [whole("adam", seeds, steps, rounds, p) for p in wprobs], "quick": quick}


def _used(r: dict) -> str:
    if not r["fused_used"]:
        return "no (no at form)"
    return "built here only (the runner stops at d = 2)" if r["forced"] else "yes"


def to_markdown(res: dict) -> str:
    lines = [TITLE, "",
             "`python -m optbench.bench fused` (`optbench/bench/lane_ab.py`): Adam, 64 learning "
             "rates × random starts, the lane driver with its fused first pass "
             "(`runner/lane_fused.py`) against the same driver with the lane forms' passes, "
             "alternating in one process, one thread, best of the rounds; thread ns per "
             "run-step.", "",
             "| problem | d | runs × steps | fused pass used | fused (ns) | lane forms (ns) | "
             "fused / forms | same bits |", "|---|---|---|---|---|---|---|---|"]
    for r in res["rows"]:
        lines.append(f"| {r['problem']} | {r['dim']} | {r['runs']:,} × {r['steps']:,} | "
                     f"{_used(r)} | "
                     f"{r['fused_ns']:.2f} | {r['forms_ns']:.2f} | "
                     f"{r['fused_ns'] / r['forms_ns']:.2f} | {r['same_bits']} |")
    rc = res["recording"]
    lines += ["", f"Trace rows (Adam × Rosenbrock, the runner's driver): recording the "
              f"log-spaced trace {rc['log_ns']:.2f} ns per run-step, recording nothing "
              f"{rc['none_ns']:.2f}."]
    lines += ["", "Shared scalars on lane 0 (2-D Rosenbrock, the runner's driver against the "
              "same driver whose uniform forms copy each shared scalar they write to every "
              "lane; ns per run-step):", "",
              "| optimizer | on lane 0 (ns) | copied (ns) | ratio | same bits |",
              "|---|---|---|---|---|"]
    for r in res.get("lane0", []):
        lines.append(f"| {r['optimizer']} | {r['lane0_ns']:.2f} | {r['copied_ns']:.2f} | "
                     f"{r['lane0_ns'] / r['copied_ns']:.2f} | {r['same_bits']} |")
    lines += ["", "The whole step (the runner's driver, one loop over the lanes per step, "
              "`runner/lane_step.py`, against the same driver with its passes; the 51-target "
              "ladder, targets of the budget's runs recorded after the update; ns per "
              "run-step; where it is not used, both columns are the passes: a libm call on a "
              "lane's values, or more than one on shared values, `lane_step.vectorises`; "
              "the sweep's 64 seeds per learning rate make each chunk's runs share the lr, "
              "and the third driver is the whole step with the lr shared, the step size "
              "computed once per chunk-step, which the runner uses for such a sweep where "
              "that takes a division out of the per-run statements "
              "(`lane_step.lr_sharing_pays`); elsewhere the third column is the plain "
              "driver again):",
              "",
              "| optimizer | problem | whole step (ns) | lr shared (ns) | passes (ns) | "
              "whole / passes | lr shared / passes | whole step used | lr shared used | "
              "same bits |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in res.get("whole", []):
        lr_ns = r.get("whole_lr_ns", float("nan"))
        lines.append(f"| {r['optimizer']} | {r.get('problem', 'rosenbrock')} | "
                     f"{r['whole_ns']:.2f} | {lr_ns:.2f} | {r['passes_ns']:.2f} | "
                     f"{r['whole_ns'] / r['passes_ns']:.2f} | "
                     f"{lr_ns / r['passes_ns']:.2f} | {r['used']} | "
                     f"{r.get('lr_used', False)} | {r['same_bits']} |")
    return "\n".join(lines) + "\n"
