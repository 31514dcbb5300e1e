"""Whether a CUDA device (or numba's CUDA simulator) is there, its name, and how kernels are
compiled for it (:func:`exact_arithmetic`: no FMA contraction, to round as CPU runs do).

Low-level on purpose: run specs check ``device="cuda"`` with it before anything compiles,
without importing the CUDA engines (``optbench.cuda``), which sit above the run loops.
"""
from __future__ import annotations

import contextlib
import os
import threading

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
    _probe_kernel_compiler()
    try:
        ok = cuda.is_available()
    except Exception:  # noqa: BLE001 - driver errors mean "not available" here
        ok = False
    if not ok:
        raise OptbenchInputError(NO_GPU)


def _probe_kernel_compiler():
    """numba-cuda loads its NumPy support at the first kernel compile; a numba-cuda older than
    the installed NumPy fails there (numba-cuda 0.30 with NumPy 2.5: ``numpy.row_stack`` was
    removed). Say so before anything runs, instead of one error row per run."""
    try:
        from numba.cuda.np import arrayobj  # noqa: F401
    except AttributeError as e:
        import numpy
        from numba import cuda

        version = getattr(cuda, "__version__", None) or "this numba-cuda"
        raise OptbenchInputError(
            f"numba-cuda ({version}) cannot compile kernels with NumPy {numpy.__version__} "
            f"({e}); install a NumPy it supports, e.g. pip install 'numpy<2.5'") from None
    except ImportError:   # another numba-cuda layout: its first compile will tell
        pass


def device_name() -> str:
    """The current CUDA device's name ("CUDA simulator" on the simulator)."""
    if simulator():
        return "CUDA simulator"
    from numba import cuda
    name = cuda.get_current_device().name
    return name.decode() if isinstance(name, bytes) else str(name)


_NO_CONTRACT = threading.local()
_WRAPPED = []


def _install_no_contract():
    """Wrap numba-cuda's NVVM entry point and its linker once: inside :func:`exact_arithmetic`
    a compile without fastmath is passed ``fma=0`` and a linker is made with ``lto=False``. A
    numba-cuda without those entry points is left alone."""
    if _WRAPPED:
        return
    _WRAPPED.append(True)
    try:
        from numba.cuda.cudadrv import nvvm
    except ImportError:
        return
    inner = getattr(nvvm, "compile_ir", None)
    if inner is None:
        return

    def compile_ir(llvmir, **options):
        if getattr(_NO_CONTRACT, "depth", 0) and not options.get("fastmath"):
            options.setdefault("fma", False)
        return inner(llvmir, **options)

    compile_ir.__wrapped__ = inner
    nvvm.compile_ir = compile_ir
    try:
        from numba.cuda.cudadrv import driver
    except ImportError:
        return
    linker = getattr(driver, "_Linker", None)
    if linker is None:
        return
    linker_init = linker.__init__

    def no_lto_init(self, *args, **kwargs):
        # numba-cuda 0.30 links with LTO wherever nvJitLink is installed, whatever the
        # kernel's lto=False says; nvJitLink then generates code with its own contraction.
        # _Linker(max_registers, lineinfo, cc, lto, ...): lto is the fourth argument
        if getattr(_NO_CONTRACT, "depth", 0):
            if len(args) >= 4:
                args = args[:3] + (False,) + args[4:]
            else:
                kwargs["lto"] = False
        linker_init(self, *args, **kwargs)

    no_lto_init.__wrapped__ = linker_init
    linker.__init__ = no_lto_init


def kernel_options() -> dict:
    """Options of optbench's ``cuda.jit`` kernels: no link-time optimisation (with LTO the
    linker, nvJitLink, generates the machine code with its own FMA contraction, not NVVM's
    ``-fma=0``). numba-cuda 0.30 does not pass this option on to its linker, so
    :func:`exact_arithmetic` also turns LTO off at the linker. Nothing on the simulator."""
    return {} if simulator() else {"lto": False}


@contextlib.contextmanager
def exact_arithmetic():
    """CUDA kernels compiled inside this block get no FMA contraction (NVVM's ``-fma=0``) and
    are linked without LTO.

    NVVM fuses ``a * b + c`` into one fused multiply-add by default; the CPU path (numba without
    fastmath) never does. Without contraction every ``+ - * /`` is emitted with its own IEEE
    rounding (``.rn``), as on the CPU. That holds only if the PTX is what the GPU runs: numba-cuda
    0.30 links with LTO wherever nvJitLink is installed (the kernel's ``lto=False`` is not passed
    on to its linker), and nvJitLink then generates the code from NVVM's LTO-IR with its own
    contraction. So inside this block the linker is also made with ``lto=False``. Measured on an
    NVIDIA H200 (300 steps, Rosenbrock and a 1,000-d quadratic): sgd, adam and rmsprop end
    bit-identical to the CPU run, traces included; before the linker fix, 1 ulp differed in
    0.2 % of ``x - a*b`` results. Calls to ``pow``, ``exp``, ``log`` and ``cos`` still come from
    CUDA's libdevice on the GPU and from the CPU's libm, and may differ in the last bit.
    ``OPTBENCH_CUDA_FMA=1`` keeps numba-cuda's defaults. A no-op on the simulator."""
    if os.environ.get("OPTBENCH_CUDA_FMA", "") == "1" or simulator():
        yield
        return
    _install_no_contract()
    _NO_CONTRACT.depth = getattr(_NO_CONTRACT, "depth", 0) + 1
    try:
        yield
    finally:
        _NO_CONTRACT.depth -= 1
