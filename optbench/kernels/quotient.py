r"""A square root divided by a per-step scalar, without the divider, bit for bit.

Adam's update divides every coordinate twice: :math:`m / (\sqrt{v}/c + \epsilon)` with
:math:`c = \sqrt{1-\beta_2^t}` one scalar for the whole vector at a step. Over a long vector
(an MLP's weights) the loop is bound by the vector divider, which is far slower than the
multiply-add units. The division by :math:`c` can be done on those, exactly:

:func:`sqrt_quotient` ``(a, b, y)``, with ``y = 1.0 / b`` computed once per step, returns
IEEE ``a / b`` (round to nearest) for ``a`` a square root (``math.sqrt`` of a float64: ±0,
NaN, +inf or in :math:`[2^{-537}, 2^{512}]`) and ``b`` in :math:`[2^{-500}, 2^{480}]`:

.. math::
    q_0 = \mathrm{RN}(a y),\qquad
    q_{k+1} = \mathrm{RN}\bigl(q_k - \mathrm{RN}(b q_k - a)\, y\bigr)\quad (k = 0, 1),

each step one fused multiply-add (one rounding). Why it is exact:

* :math:`y = \mathrm{RN}(1/b)` is within half an ulp of :math:`1/b`; :math:`q_0` (two
  roundings) is within about 2 ulps of :math:`a/b`, and one correction leaves :math:`q_1`
  within half an ulp plus about :math:`2^{-104}|a/b|`: a faithful rounding.
* For :math:`q` within one ulp of :math:`a/b` and :math:`y` the correctly rounded reciprocal,
  the remainder :math:`a - bq` is a float (the multiply-add gets it exactly) and
  :math:`\mathrm{RN}(q + (a - bq)\,y) = \mathrm{RN}(a/b)`: Markstein's theorem (P. Markstein,
  IBM J. Res. Dev. 34(1), 1990; J.-M. Muller et al., *Handbook of Floating-Point Arithmetic*,
  on division by Newton–Raphson iterations). So :math:`q_2` is the IEEE quotient.
* The ranges keep every intermediate normal and finite (the theorem's premise): the quotient
  lies in :math:`[2^{-1017}, 2^{1012}]` and the remainder's last bit above :math:`2^{-1074}`.
* Special values: ±0 keeps its sign (the remainder is written :math:`bq - a`, whose zero then
  has the sign that keeps :math:`q`'s; ``b`` is positive), +inf gives a NaN remainder and then
  :math:`q_0` = +inf is kept, NaN stays NaN.

The update that uses it (``optimizers/base.vector_update_q``) checks ``b`` once per step and
takes the plain loop when it is out of the range (never for Adam's
:math:`c \in [2^{-27}, 1]`) or the vector is short (one scalar chain of multiply-adds is
slower than the division). The lane driver's whole step does not use it: there the loop is
bound by instruction issue, not by the divider, and the multiply-adds cost more than the
division they replace (BENCHMARKS.md). :func:`quotient_form` rewrites an ``ELEM`` kernel's
``math.sqrt(…) / sc[K]`` into this call. ``tests/test_quotient.py`` checks the function
against the division on random, near-midpoint (the hardest to round) and special values, and
the optimizers' updates bit for bit against the plain ones.

:func:`fma` is ``llvm.fma.f64``: the CPU's (CUDA keeps the division). ``HAS_FMA``: whether
the host does it in hardware; without, no kernel is rewritten (the multiply-adds would be
library calls).
"""
from __future__ import annotations

import ast
import copy

from numba import types
from numba.extending import intrinsic

from .compile import kernel
from .lane_at import emit, module_int, parse_kernel
from .lane_types import LaneError

__all__ = ["fma", "sqrt_quotient", "quotient_form", "HAS_FMA", "B_MIN", "B_MAX"]

B_MIN = 2.0 ** -500
B_MAX = 2.0 ** 480
NAME = "_sqrt_quotient_"     # the name the rewritten kernels call it by
Y = "_qy_"                   # their extra parameter: 1.0 / b


@intrinsic
def fma(typingctx, a, b, c):
    """``a * b + c`` with one rounding (float64)."""
    if not all(isinstance(t, types.Float) for t in (a, b, c)):
        return None
    sig = types.float64(types.float64, types.float64, types.float64)

    def codegen(context, builder, signature, args):
        return builder.fma(*args)

    return sig, codegen


@kernel
def sqrt_quotient(a, b, y):
    """``a / b`` bit for bit, for ``a`` a square root, ``b`` in [B_MIN, B_MAX] and
    ``y = 1.0 / b`` (the module docstring)."""
    q0 = a * y
    r = fma(b, q0, -a)
    q = fma(-r, y, q0)
    r = fma(b, q, -a)
    q = fma(-r, y, q)
    return q if q == q else q0     # +inf: the remainder is NaN, q0 is +inf


def _host_has_fma() -> bool:
    try:
        from llvmlite import binding as llvm

        feats = llvm.get_host_cpu_features()
        return bool(feats.get("fma", False) or feats.get("fma4", False))
    except Exception:   # pragma: no cover  (an llvmlite without the query)
        return False


HAS_FMA = _host_has_fma()
_CACHE: dict = {}


class _Rewrite(ast.NodeTransformer):
    def __init__(self, fn, sc: str):
        self.fn, self.sc, self.rows = fn, sc, set()

    def visit_BinOp(self, node):
        node = self.generic_visit(node)
        if not (isinstance(node.op, ast.Div) and _is_sqrt(node.left)
                and isinstance(node.right, ast.Subscript)
                and isinstance(node.right.value, ast.Name) and node.right.value.id == self.sc):
            return node
        row = module_int(self.fn, node.right.slice)
        if row is None:
            return node
        self.rows.add(row)
        return ast.copy_location(ast.Call(ast.Name(NAME, ast.Load()),
                                          [node.left, node.right, ast.Name(Y, ast.Load())], []),
                                 node)


def _is_sqrt(e) -> bool:
    return isinstance(e, ast.Call) and isinstance(e.func, ast.Attribute) \
        and e.func.attr == "sqrt" and isinstance(e.func.value, ast.Name) \
        and e.func.value.id == "math" and len(e.args) == 1 and not e.keywords


def quotient_form(elem, sc: str = "sc"):
    """``(elem_q, row)``: kernel ``elem`` (an optimizer's ``ELEM(x, gi, st, sc, hy, i)``) with
    each ``math.sqrt(…) / sc[row]`` (``row`` a constant of its module, one row for all)
    replaced by :func:`sqrt_quotient`, taking ``1.0 / sc[row]`` as one more parameter, last;
    or None: no such division, several rows, a kernel that cannot be parsed, or a host without
    fused multiply-adds. Memoised."""
    fn = getattr(elem, "py_func", elem)
    if fn in _CACHE:
        return _CACHE[fn]
    out = None
    if HAS_FMA:
        try:
            node, body = parse_kernel(fn, "quotient form")
            params = [a.arg for a in node.args.args]
            if sc in params and not any(isinstance(n, ast.Name) and n.id in (NAME, Y)
                                        for n in ast.walk(node)):
                tr = _Rewrite(fn, sc)
                new = [tr.visit(copy.deepcopy(s)) for s in body]
                if len(tr.rows) == 1:
                    q = emit(fn, f"{fn.__name__}__q", params + [Y], new)
                    q.__globals__[NAME] = sqrt_quotient
                    out = (q, tr.rows.pop())
        except (LaneError, OSError, TypeError, SyntaxError):
            out = None
    _CACHE[fn] = out
    return out
