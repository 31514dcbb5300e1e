"""GPU execution with numba.cuda, from the same kernel sources as the CPU path.

One thread runs one run (small problems): the problem, optimizer and run-loop kernels are
compiled as CUDA device functions by :mod:`optbench.kernels.compile` and called from one
batch kernel per (problem, optimizer) pair. Tests run it on the CUDA simulator
(``NUMBA_ENABLE_CUDASIM=1``, set before numba is imported).
"""
from __future__ import annotations

from optbench.validate import OptbenchInputError

NO_GPU = ("no CUDA GPU is available (numba.cuda found none); to run the GPU path on the CPU, "
          "set NUMBA_ENABLE_CUDASIM=1 before starting Python (slow: for tests)")


def simulator() -> bool:
    from numba import config
    return bool(config.ENABLE_CUDASIM)


def check_available():
    """Raise OptbenchInputError with a clear line when neither a GPU nor the simulator is on."""
    try:
        from numba import cuda
    except ImportError:
        raise OptbenchInputError("device='cuda' needs numba-cuda: pip install 'optbench[cuda]'") \
            from None
    if simulator():
        return
    try:
        ok = cuda.is_available()
    except Exception:  # noqa: BLE001 - driver errors mean "not available" here
        ok = False
    if not ok:
        raise OptbenchInputError(NO_GPU)


def device_name() -> str:
    if simulator():
        return "CUDA simulator"
    from numba import cuda
    name = cuda.get_current_device().name
    return name.decode() if isinstance(name, bytes) else str(name)
