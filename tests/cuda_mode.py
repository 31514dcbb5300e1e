"""Where the CUDA tests run: on numba's CUDA simulator (the default, everywhere, CI included),
or on a real GPU when ``OPTBENCH_TEST_GPU=1`` is set.

The CUDA tests start a subprocess, because ``NUMBA_ENABLE_CUDASIM`` must be set before numba is
imported. :func:`env` is that subprocess's environment; the scripts begin with :data:`CHECK`,
which asserts that they run where the parent meant them to (the simulator's ``cuda.jit`` or the
real one). On a GPU the same assertions hold: the kernels are compiled to machine code instead
of interpreted, and the device name is the GPU's.
"""
from __future__ import annotations

import os

REAL = os.environ.get("OPTBENCH_TEST_GPU", "") == "1"
SIMULATOR_NAME = "CUDA simulator"

CHECK = """
import os as _os
from numba import cuda as _cuda
if _os.environ.get("OPTBENCH_TEST_GPU", "") == "1":
    assert _os.environ.get("NUMBA_ENABLE_CUDASIM", "0") != "1"
    assert not _cuda.jit.__module__.startswith("numba.cuda.simulator"), _cuda.jit.__module__
    assert _cuda.is_available(), "OPTBENCH_TEST_GPU=1 but numba finds no CUDA GPU"
else:
    assert _os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"
    assert _cuda.jit.__module__.startswith("numba.cuda.simulator"), _cuda.jit.__module__
"""


def env(**extra) -> dict:
    """The environment of a CUDA test's subprocess (simulator on, unless ``REAL``)."""
    e = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    if not REAL:
        e["NUMBA_ENABLE_CUDASIM"] = "1"
    e.update(extra)
    return e


def device_name_ok(name: str) -> bool:
    """The device name a CUDA run records: the simulator's, or (``REAL``) a GPU's."""
    return (name != SIMULATOR_NAME and bool(name)) if REAL else name == SIMULATOR_NAME
