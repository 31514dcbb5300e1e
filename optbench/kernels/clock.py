"""A cycle counter readable from compiled code (cacheable, no Python objects).

``ticks()`` returns the CPU's time-stamp counter (``llvm.readcyclecounter``). The run
loop stores ticks at recording points; the Python wrapper converts them to seconds by
calibrating against the wall time it measures around the whole compiled call, so trace
times are exact up to the counter's constant rate. On targets without a counter the
intrinsic returns 0 and the wrapper falls back to interpolating by step. ``tick_rate()`` is
that calibration (ticks per second, measured once per process).
"""
import time

from numba import njit, types
from numba.core import cgutils  # noqa: F401  (kept for llvmlite IR helpers)
from numba.extending import intrinsic
from llvmlite import ir


@intrinsic
def _readcyclecounter(typingctx):
    sig = types.int64()

    def codegen(context, builder, signature, args):
        fnty = ir.FunctionType(ir.IntType(64), [])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.readcyclecounter")
        return builder.call(fn, [])

    return sig, codegen


def no_ticks():
    """Device stand-in for the cycle counter: 0 (times are then spread over the steps)."""
    return 0


def _register():
    from .compile import cuda_substitute
    cuda_substitute(_readcyclecounter, no_ticks)


@njit(cache=True)
def _ticks():
    return _readcyclecounter()


_TICK_RATE: list = []


def tick_rate() -> float:
    """Cycle-counter ticks per second (0 if the counter is unavailable), measured once per
    process against ``time.perf_counter`` (20 ms). The drivers convert the ticks they store
    to seconds with it."""
    if not _TICK_RATE:
        _ticks()
        t0, k0 = time.perf_counter(), _ticks()
        while time.perf_counter() - t0 < 0.02:
            pass
        t1, k1 = time.perf_counter(), _ticks()
        _TICK_RATE.append((k1 - k0) / (t1 - t0) if k1 > k0 else 0.0)
    return _TICK_RATE[0]


_register()
