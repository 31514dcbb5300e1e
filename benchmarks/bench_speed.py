"""Speed history: ``time_*`` for one run of each optimizer family, small and large, a sweep,
an MLP epoch and the GPU path; ``track_*`` for compile time in fresh processes.

Every ``setup`` performs the timed work once (compiling or loading the disk cache), so a
timed call never includes compilation; ``warmup_time = 0`` because that warm-up is exact.
The runs use a fixed budget (``stop="budget"``), so the work per call does not depend on how
fast an optimizer converges (that is bench_convergence's job).

Cost per call (2 cores): ~15-30 ms for a 2-D run (100,000 steps; the compiled loop
dominates the Python bookkeeping of ``ob.run``), ~0.2 s for a 2**20-dim run (10 steps of
the fused loop: 6-7 arrays of 8 MiB streamed per step), ~1 s for the sweep (128 runs).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

import optbench as ob  # the light part; the compiled drivers load in each benchmark process

from . import FAMILIES, repeat_count

SMALL_STEPS = 100_000
LARGE_DIM = 2**20
LARGE_STEPS = 10


class TimeRunSmall:
    """One run, 2-D Rosenbrock, 100,000 steps, per optimizer family.

    Timed in CPU time of the process (``timer = time.process_time``): the work is one
    thread, so this equals the wall time on an idle machine and stays put on a shared one
    (CI runners, laptops), where a 2-D run's ~20 ms is easily stretched by other processes."""

    params = list(FAMILIES)
    param_names = ["optimizer"]
    warmup_time = 0.0
    timer = time.process_time
    timeout = 300

    def setup(self, optimizer):
        self.prob = ob.problem("rosenbrock", dim=2)
        self.opt = ob.optimizer(optimizer, lr=FAMILIES[optimizer])
        self.n = repeat_count(optimizer)
        self._run()  # compile / load the cache: never timed

    def _run(self):
        return ob.run(self.prob, self.opt, steps=SMALL_STEPS, stop="budget", seed=0)

    def time_run(self, optimizer):
        for _ in range(self.n):
            self._run()


class TimeRunLarge:
    """One run, 2**20-dim axis-aligned quadratic (κ = 100; the fused parallel loop), 10 steps."""

    params = list(FAMILIES)
    param_names = ["optimizer"]
    warmup_time = 0.0
    number = 1
    timeout = 300

    def setup(self, optimizer):
        self.prob = ob.problem("quadratic", dim=LARGE_DIM, cond=100.0, rotation="none")
        self.opt = ob.optimizer(optimizer, lr=FAMILIES[optimizer])
        self.n = repeat_count(optimizer)
        self._run()

    def _run(self):
        return ob.run(self.prob, self.opt, steps=LARGE_STEPS, stop="budget", seed=0)

    def time_run(self, optimizer):
        for _ in range(self.n):
            self._run()


class TimeSweep:
    """A batched sweep: (2-D Rosenbrock, 100-dim quadratic) × (sgd, adam) × 8 learning rates ×
    4 seeds = 128 runs of 5,000 steps, ``prange`` over runs."""

    warmup_time = 0.0
    number = 1
    timeout = 300
    optimizers = ("sgd", "adam")

    def setup(self):
        self.problems = ["rosenbrock", ob.problem("quadratic", dim=100, cond=1e3)]
        self.n = max(repeat_count(o) for o in self.optimizers)
        self._run()

    def _run(self):
        return ob.sweep(self.problems, list(self.optimizers),
                             grid={"lr": np.logspace(-4, -1, 8)}, seeds=range(4), steps=5000)

    def time_sweep(self):
        for _ in range(self.n):
            self._run()


class TimeMLPEpoch:
    """One epoch of minibatch Adam (batch 32) on a 2×64 ReLU MLP over 2,048 training samples
    (teacher-student data): 64 steps. Skipped on versions without the MLP family."""

    warmup_time = 0.0
    timeout = 300

    def setup(self):
        from optbench import problems as P

        if "mlp" not in P.names():
            raise NotImplementedError("no 'mlp' problem in this version")
        self.prob = ob.problem("mlp", dataset="teacher", n=2560, val_frac=0.2, depth=2,
                               width=64, activation="relu", batch=32)
        spe = self.prob.steps_per_epoch
        self.steps = int(spe() if callable(spe) else spe)
        self.n = repeat_count("adam")
        self._run()

    def _run(self):
        # recorded at the start and the end only: the full-batch loss of a trace point costs
        # a whole epoch's worth of forward passes (stochastic problems record with full f)
        return ob.run(self.prob, ob.optimizer("adam"), steps=self.steps, stop="budget",
                      record=f"every:{self.steps}")

    def time_epoch(self):
        for _ in range(self.n):
            self._run()


class TimeGPU:
    """The CUDA path (skipped without a GPU or before the runner has device="cuda"):
    a sweep of 1,024 Adam runs on 2-D Rosenbrock and one run on a 2**20-dim quadratic."""

    params = ["sweep", "large"]
    param_names = ["work"]
    warmup_time = 0.0
    number = 1
    timeout = 300

    def setup(self, work):
        from optbench.runner.spec import DEVICES

        if "cuda" not in DEVICES:
            raise NotImplementedError("the runner has no cuda device yet")
        from numba import cuda

        if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1" or not cuda.is_available():
            raise NotImplementedError("no CUDA GPU")
        self.work = work
        self._run()

    def _run(self):
        if self.work == "sweep":
            return ob.sweep(["rosenbrock"], ["adam"], grid={"lr": np.logspace(-4, -1, 1024)},
                            steps=10_000, device="cuda")
        return ob.run(ob.problem("quadratic", dim=LARGE_DIM), ob.optimizer("adam"),
                      steps=LARGE_STEPS, stop="budget", device="cuda")

    def time_gpu(self, work):
        self._run()


_COMPILE_SCRIPT = """
import json, time
t0 = time.perf_counter()
import optbench as ob
r = ob.run(ob.problem("rosenbrock", dim=2), ob.optimizer("adam", lr=1e-2), steps=1000,
           stop="budget")
print(json.dumps({"compile_s": r.compile_s, "first_result_s": time.perf_counter() - t0}))
"""


def _fresh_process(cache_dir: str) -> dict:
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    out = subprocess.run([sys.executable, "-c", _COMPILE_SCRIPT], env=env, capture_output=True,
                         text=True, timeout=600, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


class TrackCompile:
    """Compile time in a fresh Python process, Adam on 2-D Rosenbrock: ``cold`` with an empty
    numba cache, then ``warm`` in a second process that finds the disk cache.

    ``track_first_result_s``: from ``import optbench`` to the first result (what a user
    waits: imports, the drivers compiled at import, the run's own compilation, 1,000 steps);
    ``track_compile_s``: the part optbench reports as ``compile_s`` (problem build, kernel
    compilation or cache load, driver warm-up)."""

    params = ["cold", "warm"]
    param_names = ["cache"]
    timeout = 900
    repeat = 1
    processes = 1

    def setup_cache(self):
        with tempfile.TemporaryDirectory(prefix="optbench-asv-cache-") as d:
            return {"cold": _fresh_process(d), "warm": _fresh_process(d)}

    def track_first_result_s(self, res, cache):
        return res[cache]["first_result_s"]

    track_first_result_s.unit = "seconds"

    def track_compile_s(self, res, cache):
        return res[cache]["compile_s"]

    track_compile_s.unit = "seconds"
