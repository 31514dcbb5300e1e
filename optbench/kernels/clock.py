"""A cycle counter readable from compiled code (cacheable, no Python objects).

``ticks()`` returns the CPU's time-stamp counter (``llvm.readcyclecounter``). The run
loop stores ticks at recording points; the Python wrapper converts them to seconds by
calibrating against the wall time it measures around the whole compiled call, so trace
times are exact up to the counter's constant rate. On targets without a counter the
intrinsic returns 0 and the wrapper falls back to interpolating by step.
"""
from numba import types
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


_register()
