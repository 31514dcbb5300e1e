"""GPU execution with numba.cuda, from the same kernel sources as the CPU path.

One thread runs one run (small problems): the problem, optimizer and run-loop kernels are
compiled as CUDA device functions by :mod:`optbench.kernels.compile` and called from one
batch kernel per (problem, optimizer) pair (``kernels.py``); large separable problems run
the whole grid on one run (``large.py``). ``execute.py`` holds the two CUDA engines (the
engine interface of :mod:`optbench.runner.engines`). Tests run it on the CUDA simulator
(``NUMBA_ENABLE_CUDASIM=1``, set before numba is imported).

Layering: this package builds on the run loops (``runner/loop.py``, ``runner/fused.py``,
``runner/batch.py``, ``runner/engines/base.py``) and is imported by the engine list in
``runner/execute.py`` only; nothing below imports it. The availability check lives in
:mod:`optbench.kernels.device` (re-exported here).
"""
from __future__ import annotations

from optbench.kernels.device import NO_GPU, check_available, device_name, simulator

__all__ = ["NO_GPU", "check_available", "device_name", "simulator"]
