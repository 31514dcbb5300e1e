"""Convergence history: ``track_*`` values with units, so that asv shows an optimizer that
suddenly needs more steps (or stops converging) as clearly as a slower step.

Canonical problems (seeded, deterministic): 2-D Rosenbrock (standard start), a 100-dim
axis-aligned quadratic with κ = 100 and Booth. Five optimizers with a fixed, reasonable
learning rate per problem (``LR``). Everything is computed once in ``setup_cache`` (a fresh
process, so the runner's reported compile time is the cost of a warm start from the disk
cache) and each ``track_*`` reads its value.

* steps / gradient evaluations to Δf = ``TARGET`` on best-so-far f − f* (a miss reports the
  whole budget + 1: a lower bound that shows as a regression even when a run diverges early);
* final f − f* after a fixed budget ``GAP_BUDGET[problem]`` (floored at ``GAP_FLOOR`` so
  that round-off below it cannot look like a change; ``GAP_DIVERGED`` when f is not finite);
* aRT (Σ gradient evaluations of all runs / number of runs that reached the target; misses
  count their whole budget) over the fixed suite: the three problems × ``ART_SEEDS`` random
  starts; with no success at all every run is charged its whole budget;
* the compile time the runner reports for the whole suite (``compile_s``, seconds).

Lower is better for every value (asv's convention). The ``OPTBENCH_ASV_HANDICAP`` test hook
divides the learning rate of the named optimizers (see benchmarks/__init__.py).
"""
from __future__ import annotations

import math

import optbench as ob  # the light part; the compiled drivers load in each benchmark process

from . import lr_for

TARGET = 1e-3
TARGET_COL = "0.001"  # optbench.record.tables.target_label(TARGET)
BUDGET = 20_000
ART_SEEDS = 5
GAP_FLOOR = 1e-10
GAP_DIVERGED = 1e300  # a non-finite final f (diverged run): JSON and asv need a number

PROBLEMS = {
    "rosenbrock": {"dim": 2},
    "quadratic": {"dim": 100, "cond": 100.0},
    "booth": {},
}
GAP_BUDGET = {"rosenbrock": 3000, "quadratic": 100, "booth": 300}
LR = {
    "rosenbrock": {"gd": 1e-3, "momentum": 1e-3, "adagrad": 0.5, "rmsprop": 1e-3, "adam": 2e-2},
    "quadratic": {"gd": 1.0, "momentum": 0.1, "adagrad": 0.5, "rmsprop": 1e-2, "adam": 5e-2},
    "booth": {"gd": 5e-2, "momentum": 1e-2, "adagrad": 1.0, "rmsprop": 1e-2, "adam": 1e-1},
}
OPTIMIZERS = list(LR["rosenbrock"])


def _hit(value, miss):
    """First-hit count, or ``miss`` for a miss (NaN in the tables)."""
    return float(miss) if value is None or math.isnan(value) else float(value)


def compute() -> dict:
    """Run the fixed suite; returns {metric: {(problem, optimizer) or optimizer: value}}."""
    out = {"steps": {}, "ngev": {}, "gap": {}, "art_num": {}, "art_ok": {}, "art_whole": {},
           "compile_s": 0.0}
    for pname, pparams in PROBLEMS.items():
        prob = ob.problem(pname, **pparams)
        prob_random = ob.problem(pname, **pparams, start="random")
        for oname in OPTIMIZERS:
            opt = ob.optimizer(oname, lr=lr_for(oname, LR[pname][oname]))
            r = ob.run(prob, opt, steps=BUDGET)
            out["steps"][pname, oname] = _hit(r.row[f"steps_{TARGET_COL}"], BUDGET + 1)
            out["ngev"][pname, oname] = _hit(r.row[f"ngev_{TARGET_COL}"], max(r.ngev, BUDGET) + 1)
            g = ob.run(prob, opt, steps=GAP_BUDGET[pname], stop="budget")
            gap = float(g.fun - prob.f_star)
            out["gap"][pname, oname] = max(gap, GAP_FLOOR) if math.isfinite(gap) else GAP_DIVERGED
            runs, _ = ob.sweep([prob_random], [opt], seeds=range(ART_SEEDS), steps=BUDGET)
            hit = runs[f"ngev_{TARGET_COL}"]
            ok = hit.notna()
            out["art_num"][oname] = out["art_num"].get(oname, 0.0) + float(
                hit.where(ok, runs["ngev"]).sum())
            out["art_ok"][oname] = out["art_ok"].get(oname, 0) + int(ok.sum())
            out["art_whole"][oname] = out["art_whole"].get(oname, 0.0) + float(
                (runs["ngev"].clip(lower=BUDGET) + 1).sum())
            out["compile_s"] += float(r.compile_s + g.compile_s + runs["compile_s"].max())
    out["art"] = {o: out["art_num"][o] / out["art_ok"][o] if out["art_ok"][o]
                  else out["art_whole"][o] for o in OPTIMIZERS}
    return out


def _suite_cache(self):
    # one function object shared by every class below: asv keys setup_cache by its source
    # location, so the suite runs once per benchmark run, not once per class
    return compute()


class ConvergenceCanonical:
    """Steps, gradient evaluations and final gap per (problem, optimizer)."""

    params = (list(PROBLEMS), OPTIMIZERS)
    param_names = ["problem", "optimizer"]
    timeout = 600

    setup_cache = _suite_cache

    def track_steps_to_target(self, res, problem, optimizer):
        return res["steps"][problem, optimizer]

    track_steps_to_target.unit = "steps"

    def track_ngev_to_target(self, res, problem, optimizer):
        return res["ngev"][problem, optimizer]

    track_ngev_to_target.unit = "gradient evaluations"

    def track_final_gap(self, res, problem, optimizer):
        return res["gap"][problem, optimizer]

    track_final_gap.unit = "f - f*"


class ConvergenceSuite:
    """aRT over the fixed suite, per optimizer."""

    params = OPTIMIZERS
    param_names = ["optimizer"]
    timeout = 600

    setup_cache = _suite_cache

    def track_art(self, res, optimizer):
        return res["art"][optimizer]

    track_art.unit = "gradient evaluations"


class ConvergenceCompile:
    """Compile time the runner reports (``compile_s``) for the whole suite, first use in a
    fresh process: loading the disk cache (or compiling when the cache is cold)."""

    timeout = 600
    setup_cache = _suite_cache

    def track_suite_compile_s(self, res):
        return res["compile_s"]

    track_suite_compile_s.unit = "seconds"
