"""The engine of contract-v2 optimizers (``optimizers/phased.py``): the phased run loop
(``runner/phased.py``) on the CPU, every run of the batch in parallel."""
from __future__ import annotations

from functools import partial

import numpy as np

from optbench.kernels import compile as kc
from optbench.kernels import signatures as S
from optbench.kernels.clock import tick_rate

from .. import loop as L
from .. import phased as P
from ..batch import ARG_NAMES, PER_RUN, Batch, zero_step
from .base import BatchTables, Engine, Job, timed
from .cpu import FusedEngine
from .outputs import first_order_tables

PH_ARGS = ARG_NAMES[:ARG_NAMES.index("OUT")] + ("PH",) + ARG_NAMES[ARG_NAMES.index("OUT"):] \
    + ("BLK",)
PH_PER_RUN = PER_RUN + ("PH",)


def phased_batch(specs, prob, opts) -> Batch:
    """A batch's arrays plus the phased loop's own: ``PH`` (per recorded row: HVPs so far,
    f at the averaged point) and ``BLK`` (the problem's block table)."""
    b = Batch(specs, prob, opts)
    a = b.a
    a["PH"] = np.full((len(specs), a["TRACE"].shape[1], P.N_PH), np.nan)
    a["BLK"] = np.ascontiguousarray(prob.blocks(), dtype=np.int64)
    return b


class PhasedEngine(Engine):
    name = "phased"
    reason = ("a contract-v2 optimizer (STEP kernel: reductions, blocks, matrix operations, "
              "extra gradients or Hessian-vector products), or a coordinate-wise one with an "
              "averaged point (AVG: the traces column f_avg) that the fused loop does not run, "
              "on the CPU")

    def applies(self, job: Job) -> bool:
        o = job.opts[0]
        if job.device != "cpu" or job.kind != "first_order":
            return False
        if getattr(o, "phased", False):
            return True
        # a coordinate-wise optimizer with an averaged point: here, for its f_avg column,
        # unless the fused loop runs it (large separable problems: speed first, f_avg NaN)
        return getattr(o, "AVG", None) is not None and not FusedEngine().applies(job)

    def compile(self, job: Job) -> float:
        def build():
            prob, opt = job.prob, job.opts[0]
            fg, val, hvp = prob.cpu_kernels()
            hvp = hvp if hvp is not None else kc.cpu(P.no_hvp, S.HVP_SIG)
            avg = opt.cpu_avg()
            met = kc.cpu(prob.METRICS or L.no_metrics, S.METRICS_SIG)
            drv = P.phased_driver(job.parallel_runs())
            return partial(drv, fg, val, hvp, opt.cpu_step(),
                           avg if avg is not None else kc.cpu(P.no_avg, S.AVG_SIG), met,
                           avg is not None)
        job.driver, seconds = timed(build)
        job.batch = phased_batch(job.specs, job.prob, job.opts)
        w = zero_step(job.batch.a, PH_PER_RUN)
        return seconds + timed(job.driver, *[w[k] for k in PH_ARGS])[1]

    def run(self, job: Job) -> float:
        return timed(job.driver, *[job.batch.a[k] for k in PH_ARGS])[1]

    def results(self, job: Job, compile_s: float, wall: float) -> BatchTables:
        return first_order_tables(self.name, job.batch, compile_s, wall, tick_rate(),
                                  nhev=job.batch.a["IOUT"][:, L.I_NHEV])
