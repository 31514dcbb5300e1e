"""Int / float inference over a kernel's source, for the lane rewrite (``kernels/lanes.py``).

A local the rewrite keeps across lane loops lives in a row of typed scratch (float64 or
int64): its type is read off the source — constants, the declared parameter types, array
dtypes, arithmetic, ``math`` functions and the return types of the helper kernels it calls.
Anything else is "?", and a promoted local of type "?" makes the rewrite refuse the kernel.
"""
from __future__ import annotations

import ast
import inspect
import textwrap


class LaneError(ValueError):
    """A kernel the lane rewrite cannot express (the runner falls back to one-run drivers)."""


def _join(a, b):
    if a is None:
        return b
    if b is None:
        return a
    if isinstance(a, tuple) or isinstance(b, tuple):
        if isinstance(a, tuple) and isinstance(b, tuple) and len(a) == len(b):
            return tuple(_join(x, y) for x, y in zip(a, b))
        return "?"
    if "?" in (a, b):
        return "?"
    return "f" if "f" in (a, b) else "i"


class LocalTypes:
    """Int / float inference over a kernel's source (enough for kernels: numbers and tuples
    of numbers; anything else is "?", and a promoted local of type "?" is a LaneError)."""

    RET: dict = {}   # (helper, argument types) -> return type

    def __init__(self, fdef, g, params: dict, int_arrays: set):
        self.g, self.t, self.int_arrays = g, dict(params), int_arrays
        self.fdef = fdef
        for _ in range(6):
            before = dict(self.t)
            for n in ast.walk(fdef):
                if isinstance(n, ast.Assign):
                    vt = self.expr(n.value)
                    for tg in n.targets:
                        self.assign(tg, vt)
                elif isinstance(n, ast.AugAssign) and isinstance(n.target, ast.Name):
                    vt = self.expr(n.value)
                    if isinstance(n.op, ast.Div):
                        vt = "f"
                    self.assign(n.target, _join(self.t.get(n.target.id), vt))
                elif isinstance(n, ast.For) and isinstance(n.target, ast.Name):
                    it = n.iter
                    if isinstance(it, ast.Call) and isinstance(it.func, ast.Name) \
                            and it.func.id == "range":
                        self.assign(n.target, "i")
                    else:
                        self.assign(n.target, "?")
            if self.t == before:
                break

    def assign(self, tg, vt):
        if isinstance(tg, ast.Name):
            self.t[tg.id] = _join(self.t.get(tg.id), vt)
        elif isinstance(tg, ast.Tuple):
            for k, e in enumerate(tg.elts):
                self.assign(e, vt[k] if isinstance(vt, tuple) and k < len(vt) else "?")

    def ret(self):
        out = None
        for n in ast.walk(self.fdef):
            if isinstance(n, ast.Return) and n.value is not None:
                out = _join(out, self.expr(n.value))
        return out

    def expr(self, e):
        if isinstance(e, ast.Constant):
            return "f" if isinstance(e.value, float) else "i" \
                if isinstance(e.value, (bool, int)) else "?"
        if isinstance(e, ast.Name):
            if e.id in self.t:
                return self.t[e.id]
            v = self.g.get(e.id)
            return "f" if isinstance(v, float) else "i" if isinstance(v, int) else None
        if isinstance(e, ast.Tuple):
            return tuple(self.expr(x) for x in e.elts)
        if isinstance(e, ast.Subscript):
            v = e.value
            if isinstance(v, ast.Attribute) and v.attr == "shape":
                return "i"
            if isinstance(v, ast.Name):
                return "i" if v.id in self.int_arrays else "f"
            return "?"
        if isinstance(e, ast.BinOp):
            if isinstance(e.op, ast.Div) or isinstance(e.op, ast.Pow) and \
                    self.expr(e.right) == "f":
                return "f"
            return _join(self.expr(e.left), self.expr(e.right))
        if isinstance(e, ast.UnaryOp):
            return "i" if isinstance(e.op, ast.Not) else self.expr(e.operand)
        if isinstance(e, (ast.Compare, ast.BoolOp)):
            return "i"
        if isinstance(e, ast.IfExp):
            return _join(self.expr(e.body), self.expr(e.orelse))
        if isinstance(e, ast.Attribute):
            v = getattr(self.g.get(e.value.id), e.attr, None) \
                if isinstance(e.value, ast.Name) else None
            return "f" if isinstance(v, float) else "i" if isinstance(v, int) else "?"
        if isinstance(e, ast.Call):
            f = e.func
            if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) \
                    and f.value.id == "math":
                return "i" if f.attr in ("floor", "ceil", "isnan", "isinf", "isfinite") else "f"
            if isinstance(f, ast.Name):
                if f.id == "float":
                    return "f"
                if f.id in ("int", "len"):
                    return "i"
                if f.id in ("min", "max", "abs"):
                    out = None
                    for a in e.args:
                        out = _join(out, self.expr(a))
                    return out
                fn = getattr(self.g.get(f.id), "py_func", self.g.get(f.id))
                if getattr(fn, "_optbench_kernel", False):
                    return _ret_type(fn, tuple(self.expr(a) for a in e.args))
        return "?"


def _ret_type(fn, argtypes):
    key = (fn, argtypes)
    if key not in LocalTypes.RET:
        LocalTypes.RET[key] = "?"        # recursion guard
        fdef = ast.parse(textwrap.dedent(inspect.getsource(fn))).body[0]
        params = {a.arg: t for a, t in zip(fdef.args.args, argtypes)}
        LocalTypes.RET[key] = LocalTypes(fdef, fn.__globals__, params, set()).ret()
    return LocalTypes.RET[key]
