"""Eight-double SIMD vectors for CPU kernels (numba intrinsics emitting LLVM ``<8 x double>``).

The loop vectoriser handles one loop at a time, and numba exposes no vector type, so a
register-blocked product (a block of outputs held in registers across a whole sum) cannot be
written as plain loops and still vectorise. These intrinsics give the kernels that need one a
value type, ``f64x8``, that LLVM keeps in vector registers:

* ``vzero()``: eight zeros;
* ``vload(a, i)`` / ``vstore(a, i, v)``: ``a[i:i+8]`` of a contiguous float64 array (no bounds
  check, like every kernel index);
* ``vmuladd(acc, s, v)``: ``acc + s·v`` rounded **twice** (a multiply, then an add, never a
  fused multiply-add), so every lane gets the bits of the scalar expression ``acc + s * v``;
* ``vadd(a, b)``: ``a + b``;
* ``vsqadd(acc, v)``: ``acc + v·v`` (rounded twice, like ``vmuladd``);
* ``vlane(v, j)``: lane j (a constant 0 … 7) as a float.

Kernels built on them are CPU-only: each is paired with a plain-loop kernel that computes the
same bits (tested), which CUDA and the CUDA simulator use instead
(:func:`optbench.kernels.compile.cuda_substitute`).
"""
from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import errors
from numba.extending import intrinsic, models, register_model

WIDTH = 8
_VT = ir.VectorType(ir.DoubleType(), WIDTH)


class F64x8(types.Type):
    """Numba type of eight float64 lanes held in one vector register (or two)."""

    def __init__(self):
        super().__init__(name="f64x8")


f64x8 = F64x8()


@register_model(F64x8)
class _F64x8Model(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        super().__init__(dmm, fe_type, _VT)


def _check_array(arr):
    if not (isinstance(arr, types.Array) and arr.ndim == 1 and arr.dtype == types.float64
            and arr.layout == "C"):
        raise errors.TypingError(f"simd: needs a contiguous 1-D float64 array, got {arr}")


def _vec_ptr(context, builder, aty, arr, idx):
    a = context.make_array(aty)(context, builder, arr)
    return builder.bitcast(builder.gep(a.data, [idx]), _VT.as_pointer())


@intrinsic
def vload(typingctx, arr, idx):
    """``arr[idx:idx+8]`` as one vector."""
    _check_array(arr)

    def codegen(context, builder, sig, args):
        return builder.load(_vec_ptr(context, builder, sig.args[0], args[0], args[1]), align=8)
    return f64x8(arr, idx), codegen


@intrinsic
def vstore(typingctx, arr, idx, v):
    """``arr[idx:idx+8] = v``."""
    _check_array(arr)

    def codegen(context, builder, sig, args):
        builder.store(args[2], _vec_ptr(context, builder, sig.args[0], args[0], args[1]),
                      align=8)
        return context.get_dummy_value()
    return types.none(arr, idx, v), codegen


@intrinsic
def vzero(typingctx):
    """Eight zeros (+0.0)."""
    def codegen(context, builder, sig, args):
        return ir.Constant(_VT, [0.0] * WIDTH)
    return f64x8(), codegen


@intrinsic
def vmuladd(typingctx, acc, s, v):
    """``acc + s·v`` lane by lane, the product rounded before the sum (no contraction)."""
    def codegen(context, builder, sig, args):
        x = context.cast(builder, args[1], sig.args[1], types.float64)
        one = builder.insert_element(ir.Constant(_VT, ir.Undefined), x,
                                     ir.Constant(ir.IntType(32), 0))
        splat = builder.shuffle_vector(one, ir.Constant(_VT, ir.Undefined),
                                       ir.Constant(ir.VectorType(ir.IntType(32), WIDTH),
                                                   [0] * WIDTH))
        return builder.fadd(args[0], builder.fmul(splat, args[2]))
    return f64x8(acc, s, v), codegen


@intrinsic
def vadd(typingctx, a, b):
    """``a + b`` lane by lane."""
    def codegen(context, builder, sig, args):
        return builder.fadd(args[0], args[1])
    return f64x8(a, b), codegen


@intrinsic
def vsqadd(typingctx, acc, v):
    """``acc + v·v`` lane by lane, the square rounded before the sum."""
    def codegen(context, builder, sig, args):
        return builder.fadd(args[0], builder.fmul(args[1], args[1]))
    return f64x8(acc, v), codegen


@intrinsic
def vlane(typingctx, v, j):
    """Lane ``j`` of v (j an integer constant or variable, 0 ≤ j < 8)."""
    def codegen(context, builder, sig, args):
        k = context.cast(builder, args[1], sig.args[1], types.int64)
        return builder.extract_element(args[0], k)
    return types.float64(v, j), codegen
