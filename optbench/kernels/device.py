"""Whether a CUDA device (or numba's CUDA simulator) is there, and its name.

Low-level on purpose: run specs check ``device="cuda"`` with it before anything compiles,
without importing the CUDA engines (``optbench.cuda``), which sit above the run loops.
"""
from __future__ import annotations

from optbench.validate import OptbenchInputError

NO_GPU = ("no CUDA GPU is available (numba.cuda found none); to run the GPU path on the CPU, "
          "set NUMBA_ENABLE_CUDASIM=1 before starting Python (slow: for tests)")


def simulator() -> bool:
    """True when numba's CUDA simulator is on (``NUMBA_ENABLE_CUDASIM=1``)."""
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
    """The current CUDA device's name ("CUDA simulator" on the simulator)."""
    if simulator():
        return "CUDA simulator"
    from numba import cuda
    name = cuda.get_current_device().name
    return name.decode() if isinstance(name, bytes) else str(name)
