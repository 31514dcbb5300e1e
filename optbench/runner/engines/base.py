"""The engine interface: one way of running a batch of runs.

A batch is a list of run specs that share problem, optimizer family (and state size),
budget, recording, targets and device (``execute.group_key``). An :class:`Engine` runs it
in four steps, driven by ``execute.run_batch``:

* ``applies(job)``: whether this engine runs the batch (``execute.ENGINES`` asks each
  engine in order; the first that applies wins);
* ``compile(job)``: compile or load its drivers from the disk cache, fill the batch's
  arrays and call the drivers once on a one-run, zero-step copy of them (so machine code is
  loaded before the clock starts); returns those seconds, array set-up excluded;
* ``run(job)``: the timed call(s); returns the batch's wall seconds;
* ``results(job, compile_s, wall)``: the runs and traces frames (built to the declared
  schema, ``record/schema.py``, under the engine's ``name``) and each run's (x0, x).

State of one batch lives on its :class:`Job`; engines are stateless and shared.
"""
from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd


@dataclass
class Job:
    """One batch: its specs, the problem and optimizers built once, and what the engine made
    (``batch``: the arrays, ``driver``: the compiled driver, ``extra``: engine scratch)."""

    specs: list
    prob: Any
    opts: list
    parallel: bool | None = None
    batch: Any = None
    driver: Any = None
    extra: dict = field(default_factory=dict)

    @property
    def runs(self) -> int:
        return len(self.specs)

    @property
    def steps(self) -> int:
        return self.specs[0].steps

    @property
    def device(self) -> str:
        return self.specs[0].device

    @property
    def kind(self) -> str:
        return getattr(self.opts[0], "kind", "first_order")

    def parallel_runs(self) -> bool:
        """Whether the batch's runs go in parallel (``prange``): asked for (default: more than
        one run and more than one core), and the problem allows it (``parallel_safe``)."""
        if not self.prob.parallel_safe:
            return False
        if self.parallel is None:
            return self.runs > 1 and (os.cpu_count() or 1) > 1
        return bool(self.parallel)


@dataclass
class BatchTables:
    """What an engine returns: runs and traces frames, and (x0, x) per run (None: not kept)."""

    runs: pd.DataFrame
    traces: pd.DataFrame
    xs: Sequence


class EndPoints(Sequence):
    """(x0, x) of each run of a batch, made when read (a sweep's callers seldom ask: 4,096
    tuples and copies were 2 ms of its tables): ``x0s`` and ``X`` are (runs, d) arrays; each
    read gives a copy of the run's row of ``X``."""

    def __init__(self, x0s: np.ndarray, X: np.ndarray):
        self.x0s, self.X = x0s, X

    def __len__(self) -> int:
        return len(self.x0s)

    def __getitem__(self, r):
        if isinstance(r, slice):
            return [self[i] for i in range(*r.indices(len(self)))]
        return self.x0s[r], self.X[r].copy()


class Engine:
    """A driver of batches (see the module docstring). ``name`` is its driver tag in the
    schema (``record/schema.py`` DRIVERS); ``reason`` says when it applies, in words."""

    name: ClassVar[str] = ""
    reason: ClassVar[str] = ""

    def applies(self, job: Job) -> bool:
        raise NotImplementedError

    def compile(self, job: Job) -> float:
        raise NotImplementedError

    def run(self, job: Job) -> float:
        raise NotImplementedError

    def results(self, job: Job, compile_s: float, wall: float) -> BatchTables:
        raise NotImplementedError

    def __repr__(self):
        return f"<engine {self.name}: {self.reason}>"


def timed(fn, *args):
    """(fn(*args), seconds it took)."""
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0

