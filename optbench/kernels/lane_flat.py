"""The *flat* at form of a kernel: its one-run body for lane l of flat rows, for the lane
driver's whole step (``runner/lane_step.py``).

The at form (``lane_at.py``) reads ``x[i]`` as ``x[i, l]`` of a (d, lanes) array. Inside one
loop over the lanes that also updates the optimizer's state, that is not enough for the
compiler to vectorise: the row stride of a 2-D array is a run-time value, so it cannot prove
that a store to one row does not overwrite another row it reads, and it gives up. The flat
form indexes rows of flat arrays with compile-time strides — ``x[i]`` becomes
``x[i * NL + l]``, ``st[s, i]`` becomes ``st[(s * d + i) * NL + l]`` — and the dimension is a
constant, so every access is a constant offset from the lane.

Two more rewrites serve the whole step, where a lane's update must not happen when its step
needs bookkeeping first (a target, a recording step, a stop):

* ``guard``: every store into a per-run array keeps the old value unless the lane's flag
  ``_q_`` is set (``x[i] = v`` becomes ``x[i] = v if _q_ else x[i]``; ``x[i] -= v`` likewise),
  a select after vectorisation, no branch;
* ``shared``: rows of a per-run array that are the same in every lane of a uniform chunk (the
  bias corrections of a sweep's runs that differ in the learning rate only) are read from a
  1-D array of this step's values (``sc[SC.sqrt_bc2]`` becomes ``sc__0[SC.sqrt_bc2]``), which
  the caller computes once; a store to one is refused here, and ``drop_shared`` leaves out the
  top-level statements that only write such rows (the caller has run them once).

Everything else is the one-run code, in the same order: a lane whose flag is set computes the
one-run kernel's bits. What cannot be expressed raises :class:`LaneError` (the driver then keeps
its lane-form passes).
"""
from __future__ import annotations

import ast
import copy

from .lane_at import LANE, _At, _constant_locals, emit, module_int, parse_kernel
from .lane_types import LaneError

__all__ = ["flat_form", "GUARD"]
GUARD = "_q_"
_CACHE: dict = {}


def flat_form(fn, *, dim: int, lanes: int, shapes: dict, scalars=(), shared=None,
              guard: bool = False, drop_shared: bool = False, name: str | None = None,
              fixed: dict | None = None):
    """The flat at form of kernel ``fn`` (memoised; see the module docstring).

    ``shapes`` maps each per-run array parameter to the sizes of its axes after the first
    (``{"x": (), "st": (d,), "sc": ()}``); ``scalars``: per-run number parameters (read as
    ``p__in[l]``); ``shared``: ``{array: rows}`` read from ``array__0`` (an extra parameter);
    ``guard``: stores kept only where ``_q_`` (an extra parameter) is true; ``fixed``:
    ``{test: outcome}``, option tests (``lane_options.py``, source text) decided: the arm
    taken replaces the ``if``, the other is left out. The result takes
    ``fn``'s parameters, then ``array__0`` for each shared array, ``_q_`` if guarded, and the
    lane index last."""
    fn = getattr(fn, "py_func", fn)
    sh = tuple(sorted((k, tuple(v)) for k, v in (shapes or {}).items()))
    sd = None if shared is None else tuple(sorted((k, frozenset(v)) for k, v in shared.items()))
    fx = tuple(sorted((fixed or {}).items()))
    key = (fn, int(dim), int(lanes), sh, frozenset(scalars), sd, guard, drop_shared, name, fx)
    hit = _CACHE.get(key)
    if hit is None:
        hit = _CACHE[key] = _build(fn, int(dim), int(lanes), dict(shapes), set(scalars),
                                   {k: set(v) for k, v in (shared or {}).items()}, guard,
                                   drop_shared, name, dict(fx))
    return hit


class _Flat(_At):
    def __init__(self, fn, shapes, scalars, dim, consts, lanes, shared, guard):
        super().__init__(fn, set(shapes), scalars, dim, consts)
        self.shapes, self.lanes, self.shared, self.guard = shapes, lanes, shared, guard

    def const_row(self, e):
        """The value of index expression ``e`` if it is a constant of the module, else None."""
        if any(isinstance(n, ast.Name) and (n.id in self.consts or n.id == LANE)
               for n in ast.walk(e)):
            return None
        return module_int(self.fn, e)

    def visit_Subscript(self, node):
        v = node.value
        if isinstance(v, ast.Attribute) or not (isinstance(v, ast.Name) and v.id in self.arrays):
            return super().visit_Subscript(node)
        idx = node.slice
        elts = list(idx.elts) if isinstance(idx, ast.Tuple) else [idx]
        if any(isinstance(e, ast.Slice) for e in elts):
            self.fail("a slice of a per-run array")
        trailing = self.shapes[v.id]
        if len(elts) != 1 + len(trailing):
            self.fail(f"{v.id!r} indexed with {len(elts)} indices")
        elts = [self.visit(e) for e in elts]
        if v.id in self.shared:
            row = self.const_row(elts[0])
            if row is None:
                self.fail(f"a row of {v.id!r} not known when compiling")
            if row in self.shared[v.id]:
                if isinstance(node.ctx, ast.Store):
                    self.fail(f"a store to the shared row {row} of {v.id!r}")
                return ast.copy_location(ast.Subscript(ast.Name(f"{v.id}__0", ast.Load()),
                                                       elts[0], node.ctx), node)
        flat = elts[0]
        for e, n in zip(elts[1:], trailing):
            flat = ast.BinOp(ast.BinOp(flat, ast.Mult(), ast.Constant(int(n))), ast.Add(), e)
        flat = ast.BinOp(ast.BinOp(flat, ast.Mult(), ast.Constant(self.lanes)), ast.Add(),
                         ast.Name(LANE, ast.Load()))
        return ast.copy_location(ast.Subscript(ast.Name(v.id, ast.Load()), flat, node.ctx), node)

    def _is_array_target(self, t):
        return isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name) \
            and t.value.id in self.arrays

    def visit_Assign(self, node):
        if not any(self._is_array_target(t) for t in node.targets):
            return self.generic_visit(node)
        if len(node.targets) != 1:
            self.fail("a chained store to a per-run array")
        value = self.visit(node.value)
        return self._store(node, self.visit(node.targets[0]), value)

    def visit_AugAssign(self, node):
        if not self._is_array_target(node.target):
            return self.generic_visit(node)
        value = self.visit(node.value)
        target = self.visit(node.target)
        return self._store(node, target, ast.BinOp(self._load(target), node.op, value))

    def _store(self, node, target, value):
        """``target = value``; guarded, the old value and the new one are computed first, so
        that the select has no load in its arms (a load under a condition would be a masked
        gather after vectorisation)."""
        if not self.guard:
            return ast.copy_location(ast.Assign(targets=[target], value=value), node)
        self.n_tmp = getattr(self, "n_tmp", 0) + 1
        old, new = f"_o{self.n_tmp}_", f"_v{self.n_tmp}_"
        out = [ast.Assign(targets=[ast.Name(old, ast.Store())], value=self._load(target)),
               ast.Assign(targets=[ast.Name(new, ast.Store())], value=value),
               ast.Assign(targets=[target], value=ast.IfExp(
                   test=ast.Name(GUARD, ast.Load()), body=ast.Name(new, ast.Load()),
                   orelse=ast.Name(old, ast.Load())))]
        return [ast.copy_location(a, node) for a in out]

    @staticmethod
    def _load(target):
        t = copy.deepcopy(target)
        t.ctx = ast.Load()
        return t


def _writes(stmt, arr: str, row_of) -> tuple[set, bool]:
    """(rows of ``arr`` that ``stmt`` stores to, whether it stores anything else)."""
    rows, other = set(), False
    for n in ast.walk(stmt):
        tgts = n.targets if isinstance(n, ast.Assign) else \
            [n.target] if isinstance(n, (ast.AugAssign, ast.For)) else []
        for t in tgts:
            if isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name) \
                    and t.value.id == arr:
                idx = t.slice
                r = row_of(idx.elts[0] if isinstance(idx, ast.Tuple) else idx)
                if r is None:
                    other = True
                rows.add(r)
            else:
                other = True
    return rows, other


def _reads(stmt, arr: str, row_of) -> set:
    out = set()
    for n in ast.walk(stmt):
        if isinstance(n, ast.Subscript) and isinstance(n.ctx, ast.Load) \
                and isinstance(n.value, ast.Name) and n.value.id == arr:
            idx = n.slice
            out.add(row_of(idx.elts[0] if isinstance(idx, ast.Tuple) else idx))
    return out


def _drop_shared(fn, body, shared, tr):
    """The top-level statements of ``body`` less those that only store to shared rows, and
    less the local assignments then left unread (``_dead_locals``: what only the left-out
    statements used, such as NAdam's μₜ and their running product). A statement that stores
    to shared and other rows, or a kept statement that reads a shared row a later left-out
    statement writes (it would need the old value), cannot be split."""
    keep, dropped = [], []
    for k, s in enumerate(body):
        hit = False
        for arr, rows in shared.items():
            w, other = _writes(s, arr, tr.const_row)
            if w & rows:
                if other or not w <= rows:
                    raise LaneError(f"{fn.__qualname__}: a statement stores to shared and "
                                    "per-lane values (no flat form)")
                hit = True
        (dropped if hit else keep).append((k, s))
    keep = _dead_locals(keep)
    for k, s in keep:
        for arr, rows in shared.items():
            later = set().union(*(_writes(d, arr, tr.const_row)[0] for j, d in dropped
                                  if j > k)) if dropped else set()
            if _reads(s, arr, tr.const_row) & rows & later:
                raise LaneError(f"{fn.__qualname__}: reads a shared value before it is "
                                "written (no flat form)")
    return [s for _, s in keep]


def _pure(expr) -> bool:
    """Whether evaluating ``expr`` only computes a value: no call but ``math``'s functions and
    ``abs``/``min``/``max``/``float`` (a kernel call may store into its arrays)."""
    for n in ast.walk(expr):
        if isinstance(n, ast.Call):
            f = n.func
            ok = (isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name)
                  and f.value.id == "math") or (isinstance(f, ast.Name)
                                               and f.id in ("abs", "min", "max", "float"))
            if not ok:
                return False
        elif isinstance(n, (ast.NamedExpr, ast.Await, ast.Yield, ast.YieldFrom)):
            return False
    return True


def _dead_locals(keep: list) -> list:
    """``keep`` (pairs of position and top-level statement) less each plain assignment to
    local names (``mu = …``, value without side effects) whose names no other kept statement
    reads, repeated until none is left (a local read only by a dead one is dead too)."""
    keep = list(keep)
    while True:
        for idx, (_, s) in enumerate(keep):
            if not (isinstance(s, ast.Assign) and all(isinstance(t, ast.Name) for t in s.targets)
                    and _pure(s.value)):
                continue
            names = {t.id for t in s.targets}
            read = any(isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load) and n.id in names
                       for j, (_, o) in enumerate(keep) if j != idx for n in ast.walk(o))
            if not read:
                del keep[idx]
                break
        else:
            return keep


class _Decide(ast.NodeTransformer):
    """Option tests replaced by their outcomes: an ``if`` by the statements of the arm taken
    (so a top-level ``if`` becomes top-level statements, which ``drop_shared`` can split), a
    conditional expression by the expression taken."""

    def __init__(self, fixed):
        self.fixed = fixed

    def visit_If(self, node):
        v = self.fixed.get(ast.unparse(node.test))
        if v is None:
            return self.generic_visit(node)
        arm = [self.visit(s) for s in (node.body if v else node.orelse)]
        return [x for s in arm for x in (s if isinstance(s, list) else [s])] or \
            [ast.copy_location(ast.Pass(), node)]

    def visit_IfExp(self, node):
        v = self.fixed.get(ast.unparse(node.test))
        if v is None:
            return self.generic_visit(node)
        return self.visit(node.body if v else node.orelse)


def _decide(body, fixed):
    if not fixed:
        return body
    tr = _Decide(fixed)
    out = [tr.visit(copy.deepcopy(s)) for s in body]
    return [x for s in out for x in (s if isinstance(s, list) else [s])]


def _build(fn, dim, lanes, shapes, scalars, shared, guard, drop_shared, name, fixed):
    node, body = parse_kernel(fn, "flat form")
    for s in body:
        if s is not body[-1] and any(isinstance(n, ast.Return) for n in ast.walk(s)):
            raise LaneError(f"{fn.__qualname__}: an early return (no flat form)")
    body = _decide(body, fixed)
    tr = _Flat(fn, shapes, scalars, dim, _constant_locals(body, set(shapes)), lanes, shared,
               guard)
    if drop_shared:
        body = _drop_shared(fn, body, shared, tr)
    body = [tr.visit(s) for s in body]
    body = [x for s in body for x in (s if isinstance(s, list) else [s])]
    params = [a.arg for a in node.args.args]
    args = [f"{p}__in" if p in scalars else p for p in params]
    args += [f"{a}__0" for a in sorted(shared)] + ([GUARD] if guard else []) + [LANE]
    out = emit(fn, name or f"{fn.__name__}__flat{dim}", args, body)
    out.flat_source = out.source
    return out
