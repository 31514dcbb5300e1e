"""Execute run specs: group them into batches (one problem, optimizer family and state size,
budget, recording, targets, device and dtype), run each batch with the first engine of
:data:`ENGINES` that applies to it, and return the runs and traces tables.

A batch that raises becomes ``error`` rows: a failure is a status, never a lost row.
"""
from __future__ import annotations

import time

import numpy as np
import pandas as pd

from optbench.allocator import keep_freed_memory

# The CUDA engines build on this package's run loops (loop, fused, batch, engines); the engine
# list below is the one place the runner imports them (nothing under optbench.cuda imports
# this module, so there is no cycle). They load numba.cuda only when they run a batch.
from optbench.cuda.execute import CudaGridEngine, CudaThreadEngine
from optbench.kernels.clock import tick_rate  # noqa: F401 (moved to kernels/clock.py)
from optbench.record import tables as T

from .engines.base import BatchTables, Engine, Job
from .engines.bridge import BridgeEngine
from .engines.cpu import (FUSED_MIN_DIM, SPECIAL_MIN_STEPS, SPECIAL_MIN_WORK,  # noqa: F401
                          FusedEngine, GenericEngine, LaneEngine, LockstepEngine,
                          SpecialEngine, use_lanes, use_lockstep, use_special)
from .engines.phased import PhasedEngine
from .engines.second_order import SecondOrderEngine
from .spec import RunSpec

# a batch's arrays reuse the previous batch's pages (optbench/allocator.py)
keep_freed_memory()

# Which engine runs a batch: the first that applies, in this order (each one's ``reason``
# says when it applies; docs/architecture.md has the table).
ENGINES: tuple[Engine, ...] = (
    BridgeEngine(),        # torch.optim / optax bridges (optbench/bridges.py): Python loop
    SecondOrderEngine(),   # kind != first_order: Newton, line searches, zero order
    PhasedEngine(),        # contract-v2 optimizers (a STEP kernel), CPU
    CudaGridEngine(),      # device cuda, separable, d >= GRID_MIN_DIM
    CudaThreadEngine(),    # device cuda
    FusedEngine(),         # separable, d >= FUSED_MIN_DIM
    LaneEngine(),          # sweeps of small problems, runs innermost (vectorised)
    LockstepEngine(),      # sweeps of small problems the lane rewrite cannot express
    SpecialEngine(),       # long work: a single long run or a large batch
    GenericEngine(),       # everything else on the CPU
)


def choose_engine(job: Job) -> Engine:
    """The first engine of ENGINES that applies to ``job``."""
    for engine in ENGINES:
        if engine.applies(job):
            return engine
    raise ValueError(f"no engine runs this batch (device {job.device!r}, kind {job.kind!r})")


_FAMILY: dict = {}


def _family(spec: RunSpec) -> tuple:
    """(family name, state rows ``n_state()``) of the spec's optimizer: one build per
    distinct optimizer string (a sweep's runs share few)."""
    hit = _FAMILY.get(spec.optimizer)
    if hit is None:
        if len(_FAMILY) > 65536:
            _FAMILY.clear()
        try:
            n = spec.build_optimizer().n_state()
        except Exception:  # noqa: BLE001 - its batch fails again and becomes error rows
            n = -1
        hit = _FAMILY[spec.optimizer] = (spec.optimizer_params["optimizer"], n)
    return hit


def group_key(spec: RunSpec) -> tuple:
    """Specs with equal keys run as one batch: one problem, one optimizer family with one
    state size (the family says how many rows, ``n_state()``), one budget, recording,
    target ladder, device and dtype."""
    return _key(spec, spec.targets)


def _key(spec: RunSpec, ladder) -> tuple:
    """:func:`group_key` with ``ladder`` standing for the spec's target ladder."""
    return (spec.problem, *_family(spec), spec.steps, spec.record, ladder, spec.device,
            spec.dtype)


_group_key = group_key   # the name executors and older callers use


def group_indices(specs) -> list[list[int]]:
    """The positions of the specs of each group, groups in order of first appearance: the
    grouping by :func:`group_key`, without hashing each spec's target ladder (a tuple of 51
    floats; tuples do not keep their hash, and hashing it was 1.9 ms of a 4,096-run sweep's
    2.5 ms of grouping). Each distinct ladder object is hashed once (the specs hold their
    ladders, so no id is reused while this runs) and stands in the key as its number."""
    groups: dict = {}
    by_id: dict = {}
    ladders: dict = {}
    for i, s in enumerate(specs):
        t = s.targets
        c = by_id.get(id(t))
        if c is None:
            c = by_id[id(t)] = ladders.setdefault(t, len(ladders))
        key = _key(s, c)
        g = groups.get(key)
        if g is None:
            groups[key] = [i]
        else:
            g.append(i)
    return list(groups.values())


def execute(specs: list[RunSpec], *, parallel: bool | None = None, progress=None,
            keep_x: bool = False):
    """Run every spec; returns (runs DataFrame, traces DataFrame[, final (x0, x) list])."""
    runs_parts, trace_parts, order = [], [], []
    xs: list = [None] * len(specs)
    for idx in group_indices(specs):
        batch = [specs[i] for i in idx]
        try:
            res = run_batch(batch, parallel=parallel)
        except Exception as exc:  # a failure is a status, never a lost row
            res = BatchTables(T.error_runs(batch, f"{type(exc).__name__}: {exc}"),
                              T.empty_trace(), [None] * len(batch))
        runs_parts.append(res.runs)
        trace_parts.append(res.traces)
        order += idx
        if keep_x:
            for j, i in enumerate(idx):
                xs[i] = res.xs[j]
        if progress is not None:
            progress(len(batch), int(res.runs["status"].isin(("diverged", "error")).sum()))
    if not runs_parts:
        runs = T.runs_frame([])
    elif len(runs_parts) == 1:
        runs = runs_parts[0]
    else:   # back to the order of the specs
        runs = pd.concat(runs_parts, ignore_index=True)
        runs = runs.iloc[np.argsort(order, kind="stable")].reset_index(drop=True)
    traces = T.traces_frame(trace_parts)
    return (runs, traces, xs) if keep_x else (runs, traces)


def run_batch(specs: list[RunSpec], *, parallel: bool | None = None,
              engine: Engine | None = None) -> BatchTables:
    """Run specs of one group (see :func:`group_key`) with the engine that applies (or with
    ``engine``, to compare drivers).

    compile_s: building the problem and optimizers plus the engine's ``compile``; wall: its
    ``run``."""
    t0 = time.perf_counter()
    prob = specs[0].build_problem()
    memo: dict = {}   # a sweep's runs share few distinct optimizer specs (built once each)
    opts = [memo[s.optimizer] if s.optimizer in memo
            else memo.setdefault(s.optimizer, s.build_optimizer()) for s in specs]
    job = Job(specs, prob, opts, parallel)
    engine = engine or choose_engine(job)
    compile_s = time.perf_counter() - t0
    compile_s += engine.compile(job)
    wall = engine.run(job)
    return engine.results(job, compile_s, wall)
