"""The first-order CPU engines: generic, pair-specialised, lockstep and fused.

The first three call one batch driver on every run at once, with the arguments of
``batch.ARG_NAMES``; they differ in the driver (``loop.batch_serial`` / ``batch_parallel``
with the kernels as arguments, ``loop.special_driver`` and ``lockstep.lockstep_driver``
with the pair's kernels inlined, compiled once per pair and cached on disk). The fused
engine calls its per-run driver once per run, each call parallel over coordinates.
"""
from __future__ import annotations

from functools import partial

import numpy as np

from optbench.kernels import compile as kc
from optbench.kernels import signatures as S
from optbench.kernels.clock import tick_rate

from .. import loop as L
from ..batch import ARG_NAMES, PER_RUN, Batch, zero_step
from ..fused import fused_driver
from optbench.kernels.lanes import LaneError

from ..lanes import LANE_MAX_DIM, LANES, lane_driver, lane_kernels
from ..lockstep import LOCKSTEP_K, LOCKSTEP_MAX_DIM, lockstep_driver
from .base import BatchTables, Engine, Job, timed
from .outputs import first_order_tables

SPECIAL_MIN_STEPS = 10_000  # single runs at least this long use the pair-specialised driver
SPECIAL_MIN_WORK = 10_000_000  # and batches of at least this many steps in all
FUSED_MIN_DIM = 4096  # separable problems at least this large use the fused parallel loop


def use_lockstep(prob, runs: int, steps: int) -> bool:
    """Whether a batch runs in the lockstep driver: small problems (d <= LOCKSTEP_MAX_DIM) that
    gain from their kernels inlined (``specialise``), at least two chunks of runs, and
    SPECIAL_MIN_WORK steps in all (its compilation, seconds once per pair and then cached,
    must pay for itself)."""
    return prob.dim <= LOCKSTEP_MAX_DIM and prob.specialise and runs >= 2 * LOCKSTEP_K \
        and runs * steps >= SPECIAL_MIN_WORK


def use_special(prob, runs: int, steps: int) -> bool:
    """Whether a batch is long enough to pay for compiling its pair-specialised driver once
    (seconds, then cached on disk): a single run of SPECIAL_MIN_STEPS steps, or a batch of
    SPECIAL_MIN_WORK steps in all. Stochastic problems keep the generic driver, and so do
    problems that say the specialisation gains them nothing (``specialise = False``: mlp)."""
    if prob.stochastic or not prob.specialise:
        return False
    return (runs == 1 and steps >= SPECIAL_MIN_STEPS) or runs * steps >= SPECIAL_MIN_WORK


def first_order_cpu(job: Job) -> bool:
    return job.device == "cpu" and job.kind == "first_order"


class BatchDriverEngine(Engine):
    """An engine whose driver takes the whole batch (``ARG_NAMES``) in one call."""

    def driver(self, job: Job, parallel: bool):
        raise NotImplementedError

    def compile(self, job: Job) -> float:
        job.driver, seconds = timed(self.driver, job, job.parallel_runs())
        job.batch = Batch(job.specs, job.prob, job.opts)
        w = zero_step(job.batch.a, PER_RUN)
        return seconds + timed(job.driver, *[w[k] for k in ARG_NAMES])[1]

    def run(self, job: Job) -> float:
        return timed(job.driver, *job.batch.args())[1]

    def results(self, job: Job, compile_s: float, wall: float) -> BatchTables:
        return first_order_tables(self.name, job.batch, compile_s, wall, tick_rate())


class GenericEngine(BatchDriverEngine):
    name = "generic"
    reason = "any other first-order batch on the CPU (short work: nothing to compile per pair)"

    def applies(self, job):
        return first_order_cpu(job)

    def driver(self, job, parallel):
        fg, val, _ = job.prob.cpu_kernels()
        upd = job.opts[0].cpu_update()
        met = kc.cpu(job.prob.METRICS or L.no_metrics, S.METRICS_SIG)
        return partial(L.batch_parallel if parallel else L.batch_serial, fg, val, upd, met)


class SpecialEngine(BatchDriverEngine):
    name = "special"
    reason = (f"not stochastic, a problem that gains from it (specialise), and a single run "
              f"of at least {SPECIAL_MIN_STEPS:,} steps or {SPECIAL_MIN_WORK:,} steps in all: "
              "the pair's kernels inlined")

    def applies(self, job):
        return first_order_cpu(job) and use_special(job.prob, job.runs, job.steps)

    def driver(self, job, parallel):
        return L.special_driver(job.prob, job.opts[0], parallel)


class LockstepEngine(BatchDriverEngine):
    name = "lockstep"
    reason = (f"d <= {LOCKSTEP_MAX_DIM}, a problem that gains from it (specialise), at least "
              f"{2 * LOCKSTEP_K} runs and {SPECIAL_MIN_WORK:,} steps in all: chunks of "
              f"{LOCKSTEP_K} runs stepped together")

    def applies(self, job):
        return first_order_cpu(job) and use_lockstep(job.prob, job.runs, job.steps)

    def driver(self, job, parallel):
        return lockstep_driver(job.prob, job.opts[0], parallel)


class LaneEngine(BatchDriverEngine):
    name = "lanes"
    reason = (f"d <= {LANE_MAX_DIM}, at least {2 * LANES} runs and {SPECIAL_MIN_WORK:,} steps in "
              f"all, a coordinate-wise optimizer: chunks of {LANES} runs as the vectorised, "
              "innermost axis")

    def __init__(self, lr_shared: bool | None = None):
        # the whole step with the lr shared by a chunk's runs: None, when every chunk's runs
        # share it (chunks_share_lr); True / False to compare drivers (a chunk whose runs do
        # not share it takes the passes either way)
        self.lr_shared = lr_shared

    def applies(self, job):
        return first_order_cpu(job) and use_lanes(job.prob, job.runs, job.steps) \
            and has_lane_forms(job.prob, job.opts[0])

    def driver(self, job, parallel):
        share = chunks_share_lr(job.opts) if self.lr_shared is None else self.lr_shared
        return lane_driver(job.prob, job.opts[0], parallel, lr_shared=share)


def chunks_share_lr(opts) -> bool:
    """Whether the runs of every chunk of ``LANES`` runs (in batch order) share one learning
    rate: a sweep whose seeds vary fastest, LANES or a multiple of it per rate. Then the lane
    driver's whole step computes the step size once per chunk-step."""
    lr_of = {id(o): float(o.lr) for o in dict(zip(map(id, opts), opts)).values()}
    lrs = np.fromiter(map(lr_of.__getitem__, map(id, opts)), np.float64, len(opts))
    full = len(lrs) // LANES * LANES
    head, rest = lrs[:full].reshape(-1, LANES), lrs[full:]
    return bool((head == head[:, :1]).all() and (rest == rest[:1]).all())


def use_lanes(prob, runs: int, steps: int) -> bool:
    """Whether a batch is a sweep for the lane driver: small problems (d <= LANE_MAX_DIM), at
    least two chunks of runs, SPECIAL_MIN_WORK steps in all (its compilation must pay), and
    kernels without scratch in ``data`` (``parallel_safe``: a lane loop interleaves the runs'
    statements, so runs sharing scratch would overwrite each other's)."""
    return prob.dim <= LANE_MAX_DIM and runs >= 2 * LANES and runs * steps >= SPECIAL_MIN_WORK \
        and prob.parallel_safe


_HAS_LANES: dict = {}


def has_lane_forms(prob, opt) -> bool:
    """Whether the pair's FG, PREP and ELEM have lane forms (:mod:`optbench.kernels.lanes`);
    a kernel the rewrite cannot express keeps the lockstep driver."""
    if getattr(opt, "PREP", None) is None or getattr(opt, "ELEM", None) is None \
            or prob.FG is None:
        return False
    key = (prob.FG, opt.PREP, opt.ELEM)
    if key not in _HAS_LANES:
        try:
            lane_kernels(prob, opt)
            _HAS_LANES[key] = True
        except LaneError:
            _HAS_LANES[key] = False
    return _HAS_LANES[key]


# the fused driver's arguments (one run; then the scratch arrays bk, bf, stepv)
FUSED_ARGS = ("X", "ST", "SC", "HY", "data", "idata", "CTL", "skinds", "SP", "nsteps", "xstar",
              "ftg", "gtg", "rec", "HITF", "HITG", "TRACE", "OUT", "IOUT")


def fused_args(a: dict, r: int) -> list:
    """Run r's arguments of the fused driver, from a batch's arrays."""
    return [a[k][r] if k in PER_RUN else a[k] for k in FUSED_ARGS]


class FusedEngine(Engine):
    name = "fused"
    reason = (f"separable problem (EFG, not stochastic, no metric columns) with "
              f"d >= {FUSED_MIN_DIM:,}: one parallel pass per step, runs one after another")

    def applies(self, job):
        p = job.prob
        return first_order_cpu(job) and p.elementwise() and p.dim >= FUSED_MIN_DIM \
            and not p.metric_names()

    def compile(self, job):
        job.driver, seconds = timed(fused_driver, job.prob, job.opts[0])
        job.batch = Batch(job.specs, job.prob, job.opts)
        scratch = job.extra["scratch"] = (np.empty(L.N_BK, np.int64), np.empty(L.N_BF),
                                          np.empty(4))
        w = zero_step(job.batch.a, PER_RUN)
        return seconds + timed(job.driver, *fused_args(w, 0), *scratch)[1]

    def run(self, job):
        drv, scratch = job.driver, job.extra["scratch"]
        args = [fused_args(job.batch.a, r) for r in range(job.runs)]

        def all_runs():
            for a in args:
                drv(*a, *scratch)
        return timed(all_runs)[1]

    def results(self, job, compile_s, wall):
        return first_order_tables(self.name, job.batch, compile_s, wall, tick_rate())
