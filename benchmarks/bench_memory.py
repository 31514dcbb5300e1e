"""Memory history: ``peakmem_*`` (peak resident set size of the benchmark process, bytes).

asv reports the process's peak, which includes the interpreter, numpy/pandas/numba and the
compiled code (~0.3 GB); what the history shows is growth beyond that:

* a large run: Adam on a 2**21-dim axis-aligned quadratic (fused loop), 5 steps. The arrays
  are x, x0, the problem's eigenvalues, Adam's two state vectors and the returned copies:
  about 8 vectors of 16 MiB;
* a large sweep: Adam on a 2**16-dim quadratic × 8 learning rates × 4 seeds = 32 runs of 20 steps. The
  runner holds every run's x and state at once: (32, 3, 2**16) float64 = 48 MiB, plus traces.

No warm-up in ``setup``: the peak is a property of the work, not of its timing. (The
``OPTBENCH_ASV_HANDICAP`` test hook does not touch these: repeating work leaves the peak.)
"""
from __future__ import annotations

import numpy as np

import optbench as ob  # the light part; the compiled drivers load in each benchmark process


class PeakMemRun:
    timeout = 300

    def peakmem_run_large(self):
        ob.run(ob.problem("quadratic", dim=2**21, cond=100.0), ob.optimizer("adam", lr=1e-2),
               steps=5, stop="budget")


class PeakMemSweep:
    timeout = 300

    def peakmem_sweep_large(self):
        ob.sweep([ob.problem("quadratic", dim=2**16, cond=100.0)], ["adam"],
                 grid={"lr": np.logspace(-4, -1, 8)}, seeds=range(4), steps=20)
