"""airspeed-velocity (asv) benchmarks for optbench (configuration: ../asv.conf.json).

Modules:

* ``bench_speed``       ``time_*``: one run of each optimizer family on a 2-D and a 2**20-dim
  problem, a batched sweep, an MLP epoch and the GPU path (both skipped until they exist);
  ``track_*``: compile time in fresh processes, cold (empty cache) and warm (disk cache).
* ``bench_convergence`` ``track_*`` with units: steps and gradient evaluations to a target,
  final f - f* after a fixed budget, aRT over a small fixed suite, the runner's compile time.
* ``bench_memory``      ``peakmem_*``: a large run and a large sweep.
* ``recorded``          the user's own result sets, recorded with ``optbench asv-record``
  (see optbench/asv_bridge.py); skipped in ordinary runs.

Everything is seeded; ``setup`` runs each benchmark's work once so that compilation and
cache loading are never timed.

Test hook: ``OPTBENCH_ASV_HANDICAP`` (comma-separated optimizer names, e.g. ``adam``) builds a
deliberately worse variant of the named optimizers: every timed benchmark that runs one of
them does its work ``HANDICAP_REPEAT`` times (a 10x slowdown), and every convergence benchmark
divides its learning rate by ``HANDICAP_LR_DIVISOR``. tests/test_asv.py uses it to prove that
``asv compare`` flags exactly the affected benchmarks. Leave it unset for real measurements.
"""
from __future__ import annotations

import os

HANDICAP_ENV = "OPTBENCH_ASV_HANDICAP"
HANDICAP_REPEAT = 10
HANDICAP_LR_DIVISOR = 10.0

# one representative per optimizer module (optbench/optimizers/*.py), with the learning rate
# used by the speed benchmarks
FAMILIES = {"sgd": 1e-3, "adagrad": 1e-1, "rmsprop": 1e-3, "adam": 1e-2}


def handicapped(optimizer: str) -> bool:
    """True when the test hook asks for a worse variant of ``optimizer``."""
    names = {s.strip() for s in os.environ.get(HANDICAP_ENV, "").split(",") if s.strip()}
    return optimizer in names


def repeat_count(optimizer: str) -> int:
    """How many times a timed benchmark of ``optimizer`` repeats its work (1 unless handicapped)."""
    return HANDICAP_REPEAT if handicapped(optimizer) else 1


def lr_for(optimizer: str, lr: float) -> float:
    """The learning rate a convergence benchmark uses (divided when handicapped)."""
    return lr / HANDICAP_LR_DIVISOR if handicapped(optimizer) else lr
