"""The *at form* of a kernel: its one-run body for one lane of structure-of-arrays state.

The lane form (``lanes.py``) puts the loop over runs innermost in every statement group, so a
problem's ``FG`` becomes several passes over the lanes, its accumulators rows in memory. For a
small problem whose loops run over the coordinates only, the lane driver can do better: call
the one-run body once per lane *inside its own loop over lanes*, fused with the squared
gradient norm and the quiet-step test (``runner/lanes.py``). With the dimension a compile-time
constant the coordinate loops unroll, the body is straight-line code, and the compiler
vectorises the driver's lane loop, the function's values staying in registers.

``at_form(fn, arrays=..., scalars=..., dim=d)`` rewrites ``fn``'s source into a function with
``fn``'s parameters plus the lane index ``l`` last:

* ``x[e]`` becomes ``x[e, l]`` for a per-run array (its lane axis last), ``x.shape[0]`` and
  ``len(x)`` the constant ``dim``;
* a per-run scalar ``p`` arrives as the (nl,) array ``p__in`` and is read as ``p__in[l]``;
* everything else is the one-run code, in the same order: the results are the one-run
  kernel's bits.

What would not vectorise, or cannot be expressed, raises :class:`LaneError` (the driver then
keeps the lane form): a loop whose bound is not a constant once ``dim`` is (a loop over a
data set's samples), ``while``, ``break``, or a per-run array used whole (passed to another
kernel, sliced). Calls to other kernels with numbers (``f(x[i])``) are kept, and inlined.
"""
from __future__ import annotations

import ast
import hashlib
import inspect
import textwrap

from .lane_types import LaneError

__all__ = ["at_form"]
_CACHE: dict = {}
LANE = "_l_"


def at_form(fn, arrays=(), scalars=(), *, dim: int, ints=(), int_arrays=(),
            name: str | None = None):
    """The at form of kernel ``fn`` for dimension ``dim`` (memoised; see the module
    docstring). ``ints`` / ``int_arrays`` are accepted for the lane form's signature and
    not needed here."""
    fn = getattr(fn, "py_func", fn)
    key = (fn, frozenset(arrays), frozenset(scalars), int(dim), name)
    hit = _CACHE.get(key)
    if hit is None:
        hit = _CACHE[key] = _build(fn, set(arrays), set(scalars), int(dim), name)
    return hit


class _At(ast.NodeTransformer):
    def __init__(self, fn, arrays, scalars, dim, consts):
        self.fn, self.arrays, self.scalars, self.dim = fn, arrays, scalars, dim
        self.consts = consts          # locals that hold constants (n = x.shape[0])

    def fail(self, why):
        raise LaneError(f"{self.fn.__qualname__}: {why} (no at form)")

    def visit_Subscript(self, node):
        if isinstance(node.value, ast.Attribute) and isinstance(node.value.value, ast.Name) \
                and node.value.value.id in self.arrays and node.value.attr == "shape":
            if isinstance(node.slice, ast.Constant) and node.slice.value == 0:
                return ast.copy_location(ast.Constant(self.dim), node)
            self.fail("a per-run array's shape beyond its length")
        if isinstance(node.value, ast.Name) and node.value.id in self.arrays:
            idx = node.slice
            if isinstance(idx, ast.Slice) or (isinstance(idx, ast.Tuple) and any(
                    isinstance(e, ast.Slice) for e in idx.elts)):
                self.fail("a slice of a per-run array")
            idx = self.visit(idx)
            elts = list(idx.elts) if isinstance(idx, ast.Tuple) else [idx]
            node.slice = ast.Tuple(elts=elts + [ast.Name(LANE, ast.Load())], ctx=ast.Load())
            return node
        return self.generic_visit(node)

    def visit_Name(self, node):
        if node.id in self.arrays:
            self.fail(f"the per-run array {node.id!r} used whole")
        if node.id in self.scalars and isinstance(node.ctx, ast.Load):
            return ast.copy_location(ast.Subscript(ast.Name(f"{node.id}__in", ast.Load()),
                                                   ast.Name(LANE, ast.Load()), ast.Load()), node)
        if node.id in self.scalars:
            self.fail(f"the per-run parameter {node.id!r} assigned")
        return node

    def visit_Call(self, node):
        f = node.func
        if isinstance(f, ast.Name) and f.id == "len" and len(node.args) == 1 \
                and isinstance(node.args[0], ast.Name) and node.args[0].id in self.arrays:
            return ast.copy_location(ast.Constant(self.dim), node)
        # a call to another kernel with numbers (x[i], not x) is inlined where the at form
        # is compiled; one given a per-run array whole fails in visit_Name
        return self.generic_visit(node)

    def visit_While(self, node):
        self.fail("a while loop")

    def visit_For(self, node):
        it = node.iter
        if not (isinstance(it, ast.Call) and isinstance(it.func, ast.Name)
                and it.func.id == "range" and all(self._const(a) for a in it.args)):
            self.fail("a loop whose bound is not the dimension")
        return self.generic_visit(node)

    def _const(self, e) -> bool:
        """An expression of constants, the dimension and constant locals only."""
        for n in ast.walk(e):
            if isinstance(n, ast.Name) and n.id not in self.consts and n.id not in self.arrays:
                return False
            if isinstance(n, ast.Subscript) and not (
                    isinstance(n.value, ast.Attribute) and n.value.attr == "shape"):
                return False
            if isinstance(n, ast.Call) and not (isinstance(n.func, ast.Name)
                                                 and n.func.id in ("len", "min", "max")):
                return False
        return True


def stored_names(node) -> list:
    """The local names ``node`` assigns (plain, unpacked, augmented, loop targets), once per
    store; a store into an array element assigns no local."""
    return [n.id for n in ast.walk(node) if isinstance(n, ast.Name)
            and isinstance(n.ctx, ast.Store)]


def store_counts(body) -> dict:
    """``{local: how many stores body makes to it}``."""
    stores: dict = {}
    for s in body:
        for name in stored_names(s):
            stores[name] = stores.get(name, 0) + 1
    return stores


def _constant_locals(body, arrays) -> set:
    """Locals assigned once, from constants and the dimension (``n = x.shape[0]``)."""
    stores = store_counts(body)
    consts: set = set()
    for s in body:
        if isinstance(s, ast.Assign) and len(s.targets) == 1 \
                and isinstance(s.targets[0], ast.Name) and stores[s.targets[0].id] == 1:
            ok = True
            for n in ast.walk(s.value):
                if isinstance(n, ast.Name) and n.id not in consts and n.id not in arrays:
                    ok = False
                if isinstance(n, ast.Name) and n.id in arrays:
                    ok = ok and _is_shape_use(s.value, n)
            if ok:
                consts.add(s.targets[0].id)
    return consts


def _is_shape_use(expr, name_node) -> bool:
    for n in ast.walk(expr):
        if isinstance(n, ast.Attribute) and n.value is name_node and n.attr == "shape":
            return True
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "len" \
                and n.args and n.args[0] is name_node:
            return True
    return False


def module_int(fn, e):
    """The value of expression ``e`` (an index such as ``SC.sqrt_bc2``) evaluated in kernel
    ``fn``'s module if it is an int there, else None."""
    try:
        v = eval(compile(ast.Expression(e), "<row>", "eval"),  # noqa: S307
                 dict(fn.__globals__))
    except Exception:
        return None
    return v if isinstance(v, int) else None


def parse_kernel(fn, form: str = "at form"):
    """(function node, body without its docstring) of kernel ``fn``'s source, refusing with
    :class:`LaneError` what a one-lane form cannot hold (``form`` names it in the message)."""
    node = ast.parse(textwrap.dedent(inspect.getsource(fn))).body[0]
    if not isinstance(node, ast.FunctionDef) or node.args.vararg or node.args.kwarg \
            or node.args.kwonlyargs:
        raise LaneError(f"{fn.__qualname__}: not a plain kernel function (no {form})")
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    for s in body:
        for n in ast.walk(s):
            if isinstance(n, (ast.Yield, ast.Global, ast.Nonlocal, ast.Lambda, ast.FunctionDef,
                              ast.With, ast.Try, ast.Break, ast.Continue)):
                raise LaneError(f"{fn.__qualname__}: {type(n).__name__.lower()} (no {form})")
    return node, body


def _build(fn, arrays, scalars, dim, name):
    node, body = parse_kernel(fn)
    at = _At(fn, arrays, scalars, dim, _constant_locals(body, arrays))
    body = [at.visit(s) for s in body]
    params = [a.arg for a in node.args.args]
    args = [f"{p}__in" if p in scalars else p for p in params] + [LANE]
    out = emit(fn, name or f"{fn.__name__}__at{dim}", args, body)
    out.at_dim = dim
    out.at_source = out.source
    return out


def emit(fn, fname: str, args: list, body: list):
    """Compile the function ``fname(*args)`` with ``body`` (statements rewritten from kernel
    ``fn``) in ``fn``'s globals, its name suffixed with a hash of its source (numba's disk
    cache keys entries by name), marked a kernel; its source in ``.source``."""
    fdef = ast.FunctionDef(name=fname, args=ast.arguments(
        posonlyargs=[], args=[ast.arg(a) for a in args], vararg=None, kwonlyargs=[],
        kw_defaults=[], kwarg=None, defaults=[]), body=body or [ast.Pass()],
        decorator_list=[], returns=None)
    digest = hashlib.sha1(ast.unparse(ast.fix_missing_locations(
        ast.Module(body=[fdef], type_ignores=[]))).encode()).hexdigest()[:8]
    fdef.name = f"{fname}_{digest}"
    mod = ast.fix_missing_locations(ast.Module(body=[fdef], type_ignores=[]))
    ast.increment_lineno(mod, fn.__code__.co_firstlineno - 1)
    ns = dict(fn.__globals__)
    exec(compile(mod, inspect.getsourcefile(fn), "exec"), ns)  # noqa: S102
    out = ns[fdef.name]
    out.__qualname__ = fdef.name
    out.__module__ = fn.__module__
    out._optbench_kernel = True
    out.source = ast.unparse(mod)
    return out
