"""The lane form of a kernel: the same source, with the run index innermost.

A kernel is written for one run: ``x[i]`` is coordinate i, a local such as ``a`` is a number.
Its *lane form* runs ``nl`` runs ("lanes") at once: every per-run array gains a last axis,
the lane (``x[i]`` becomes ``x[i, l]``: x is (d, nl), run-index innermost, structure of
arrays), and every statement that depends on per-run values is wrapped in ``for l in
range(nl)``, the innermost loop, which the compiler vectorises across the runs. Loops whose
bounds are the same for every lane (``for i in range(n)``) stay outside, so the lane loop is
innermost; a branch on a per-run value stays inside (a select or a masked store after
vectorisation). Each lane does exactly the operations of the one-run kernel, in the same
order, so its results are bit-identical to the one-run kernel's (tested for every
coordinate-wise optimizer and every small problem).

``lane_form(fn, arrays=..., scalars=...)`` rewrites ``fn``'s source (re-parsed, as the
pair-specialised drivers do) into a function with the parameters of ``fn`` followed by
``lw`` (lane scratch, (rows, nl)), ``ret`` (nl: the return value per lane) and ``nl``:

* ``arrays``: parameters that are per-run arrays (given with the lane axis last);
* ``scalars``: parameters that are per-run numbers (given as (nl,) arrays);
* every other parameter is the same for every lane (shared data, the step number t).

Locals that depend on per-run values are *lane locals*: a number inside one lane loop (the
common case: ``a = x[i + 1] - x[i] * x[i]``), or, when live across lane loops (an
accumulator such as ``f`` in a loop over coordinates), a row of ``lw``. A call to a kernel
that receives a per-run array (``quad_fg(x, g, ...)`` inside a noisy problem) is rewritten to
the callee's lane form. The attribute ``lane_rows`` of the result is the number of scratch
rows it needs (their int / float types: ``kernels/lane_types.py``). The *uniform* lane form
(``varying=``) also assumes that the rows of ``sc`` and ``hy`` other than the learning rate,
the seed and what the kernel computes from them are equal in every lane, and computes what
depends on them alone once, on lane 0 (the caller checks the assumption); a lane loop reads
those rows once, before it, on lane 0, and a branch on them is copied out of the lane loops
(``A; if c: B; C`` becomes ``if c: A B C else: A C``), so that each branch is one loop whose
locals stay in registers. What the rewrite cannot express (an early return, a per-run
value as a loop bound of an array call, ``break`` out of a shared loop from a per-run branch,
a per-run array used whole) raises :class:`LaneError`; the runner then keeps the one-run drivers.

This module holds the analysis (which values are per run, the grouping into lane loops, which
locals need scratch rows); ``lane_codegen.py`` shapes and writes out the code,
``lane_types.py`` infers the int / float types of the locals.
"""
from __future__ import annotations

import ast
import hashlib
import inspect
import textwrap

from .lane_codegen import L, LW, LWI, NL, RET, LaneCodegen, _Fix
from .lane_codegen import names as _names
from .lane_types import LaneError, LocalTypes

__all__ = ["LaneError", "lane_form"]
_CACHE: dict = {}


def lane_form(fn, arrays=(), scalars=(), *, ints=(), int_arrays=(), varying=None,
              lane0=(), name: str | None = None):
    """The lane form of kernel ``fn`` (see the module docstring); memoised. ``ints``: the
    parameters that are integers (the rest are float64), ``int_arrays``: int64 arrays.

    ``varying`` (``{array: rows}``) asks for the *uniform* lane form: it assumes that every
    row of those per-run arrays other than ``rows`` (and other than the rows the kernel itself
    writes from per-run values, found here and listed in the result's ``lane_varying``) holds
    the same value in every lane — a sweep whose runs differ in the learning rate only. What
    depends on those rows alone is computed once, on lane 0, and written to every lane; a
    branch on them is taken once for all lanes. The caller checks the assumption per chunk.
    ``lane0`` (with ``varying``): arrays whose shared rows, once written, are left on lane 0
    (not copied to the other lanes): the caller reads them there only."""
    fn = getattr(fn, "py_func", fn)
    vkey = None if varying is None else tuple(sorted((k, frozenset(v))
                                                     for k, v in varying.items()))
    key = (fn, frozenset(arrays), frozenset(scalars), frozenset(ints), frozenset(int_arrays),
           vkey, frozenset(lane0), name)
    hit = _CACHE.get(key)
    if hit is None:
        hit = _CACHE[key] = _Rewrite(fn, set(arrays), set(scalars), set(ints),
                                     set(int_arrays), name, varying, set(lane0)).build()
    return hit


class _Rewrite(LaneCodegen):
    def __init__(self, fn, arrays, scalars, ints, int_arrays, name, varying=None, lane0=()):
        self.fn, self.arrays, self.scalars = fn, arrays, scalars
        self.lane0_arrays = set(lane0) if varying is not None else set()
        self.ints, self.int_arrays = ints, int_arrays
        self.varying = None if varying is None else {k: set(v) for k, v in varying.items()}
        self.name = name or f"{fn.__name__}__lanes"
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
        self.node = node = tree.body[0]
        if not isinstance(node, ast.FunctionDef):
            raise LaneError(f"{fn.__qualname__}: not a plain function")
        self.params = [a.arg for a in node.args.args]
        if node.args.vararg or node.args.kwarg or node.args.kwonlyargs:
            raise LaneError(f"{fn.__qualname__}: *args/**kwargs are not kernels")
        body = node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            body = body[1:]
        self.ret = None
        if body and isinstance(body[-1], ast.Return):
            self.ret, body = body[-1].value, body[:-1]
        for s in body:
            for n in ast.walk(s):
                if isinstance(n, (ast.Return, ast.Yield, ast.Global, ast.Nonlocal, ast.Lambda,
                                  ast.FunctionDef, ast.With, ast.Try)):
                    raise LaneError(f"{fn.__qualname__}: {type(n).__name__.lower()} before "
                                    "the end")
        # per-run scalar parameters arrive as (nl,) arrays named p__in; p is a lane local
        used = set().union(*(_names(s) for s in body)) | _names(self.ret)
        self.body = [ast.parse(f"{p} = {p}__in[{L}]").body[0] for p in self.params
                     if p in scalars and p in used] + body
        self.lane = set(scalars)
        self.local_names = {n.id for st in self.body for n in ast.walk(st)
                            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
        self.g = fn.__globals__
        self.extra_globals: dict = {}
        self.rows = {"f": 0, "i": 0}         # lw / lwi rows of its own promoted locals
        self.callee_rows = {"f": 0, "i": 0}
        self.row_of: dict[str, tuple] = {}   # promoted local -> (type, row)
        self.n_hoisted = 0                   # uniform-row loads hoisted out of lane loops
        self.n_unswitched = 0                # uniform branches copied out (unswitch)

    @staticmethod
    def callee_form(fn, *args, **kw):
        """The lane form of a kernel this one calls with a per-run array (memoised)."""
        return lane_form(fn, *args, **kw)

    # ---- which values are per run ------------------------------------------------------
    def is_lane(self, e) -> bool:
        if e is None:
            return False
        for n in ast.walk(e):
            if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) \
                    and n.value.id in self.arrays and n.attr == "shape":
                continue
            if isinstance(n, ast.Name) and n.id in self.lane:
                return True
            if isinstance(n, ast.Subscript) and isinstance(n.value, ast.Name) \
                    and n.value.id in self.arrays and not self.uniform_row(n):
                return True
        return False

    def row(self, sub):
        """The constant first index of subscript ``sub`` of a per-run array, or None."""
        sl = sub.slice
        first = sl.elts[0] if isinstance(sl, ast.Tuple) else sl
        if not all(isinstance(m, (ast.Name, ast.Attribute, ast.Constant, ast.Load))
                   for m in ast.walk(first)):
            return None
        if any(isinstance(m, ast.Name) and (m.id in self.lane or m.id in self.params or
                                            m.id in self.local_names) for m in ast.walk(first)):
            return None
        try:
            v = eval(compile(ast.Expression(first), "<row>", "eval"), dict(self.g))  # noqa: S307
        except Exception:
            return None
        return v if isinstance(v, int) else None

    def uniform_row(self, sub) -> bool:
        """In the uniform form: whether ``sub`` reads a row that is the same in every lane."""
        if self.varying is None or sub.value.id not in self.varying:
            return False
        r = self.row(sub)
        return r is not None and r not in self.varying[sub.value.id]

    def array_call(self, e):
        """``e`` if it is a call that receives a per-run array, else None."""
        if isinstance(e, ast.Call) and any(isinstance(a, ast.Name) and a.id in self.arrays
                                           for a in e.args):
            return e
        return None

    def _targets(self, s):
        if isinstance(s, ast.Assign):
            ts = s.targets
        elif isinstance(s, (ast.AugAssign, ast.AnnAssign)):
            ts = [s.target]
        elif isinstance(s, ast.For):
            ts = [s.target]
        else:
            return []
        out = []
        for t in ts:
            out += [n.id for n in ast.walk(t) if isinstance(n, ast.Name)
                    and isinstance(n.ctx, ast.Store)]
        return out

    def taint(self):
        changed = True
        while changed:
            changed = False
            for s, ctx in self._walk(self.body, False):
                value = getattr(s, "value", None) if not isinstance(s, ast.For) else s.iter
                hit = ctx or self.is_lane(value) or (
                    isinstance(s, (ast.Assign, ast.AugAssign)) and self.array_call(s.value))
                if isinstance(s, ast.AugAssign):
                    hit = hit or self.is_lane(s.target)
                for n in self._targets(s) if hit else ():
                    if n not in self.lane:
                        self.lane.add(n)
                        changed = True

    def _walk(self, stmts, ctx):
        for s in stmts:
            yield s, ctx
            if isinstance(s, (ast.If, ast.While)):
                inner = ctx or self.is_lane(s.test)
                yield from self._walk(s.body, inner)
                yield from self._walk(s.orelse, inner)
            elif isinstance(s, ast.For):
                inner = ctx or self.is_lane(s.iter)
                yield from self._walk(s.body, inner)
                yield from self._walk(s.orelse, inner)

    # ---- statements ----------------------------------------------------------------------
    def stmt_is_lane(self, s) -> bool:
        if isinstance(s, (ast.If, ast.While)):
            return self.is_lane(s.test)
        if isinstance(s, ast.For):
            if any(n in self.lane for n in self._targets(s)) and not self.is_lane(s.iter):
                raise LaneError(f"{self.fn.__qualname__}: loop variable also set per run")
            return self.is_lane(s.iter)
        if isinstance(s, (ast.Break, ast.Continue, ast.Pass)):
            return False
        names = set(self._targets(s))
        return bool(names & self.lane) or self.is_lane(getattr(s, "value", None)) or \
            (isinstance(s, (ast.Assign, ast.AugAssign)) and any(
                self.is_lane(t) for t in (s.targets if isinstance(s, ast.Assign) else [s.target])))

    def group(self, stmts, blocks):
        """Split ``stmts`` into shared statements and runs of per-run ones (lane blocks)."""
        out, cur = [], None
        for s in stmts:
            call = self.array_call(s.value) if isinstance(s, (ast.Assign, ast.Expr)) else None
            if call is not None:
                out.append(("call", s))
                cur = None
            elif self.stmt_is_lane(s) or self._hoistable(s):
                for n in ast.walk(s):
                    if isinstance(n, (ast.Break, ast.Continue)) and not self._enclosed(s, n):
                        raise LaneError(f"{self.fn.__qualname__}: break/continue of a shared "
                                        "loop under a per-run condition")
                if cur is None:
                    cur = []
                    blocks.append(cur)
                    out.append(("lane", cur))
                cur.append(s)
            else:
                cur = None
                if isinstance(s, (ast.If, ast.While, ast.For)):
                    s.body = self.group(s.body, blocks)
                    s.orelse = self.group(s.orelse, blocks)
                out.append(("shared", s))
        return out

    def _more_varying(self) -> bool:
        """Mark the rows that per-lane statements write as varying; True if any was new."""
        new = False
        for st, ctx in self._walk(self.body, False):
            if not isinstance(st, (ast.Assign, ast.AugAssign)):
                continue
            tgts = st.targets if isinstance(st, ast.Assign) else [st.target]
            lane = ctx or self.is_lane(st.value) or any(
                self.is_lane(t) for t in tgts if not isinstance(t, ast.Subscript)) or any(
                isinstance(t, ast.Subscript) and self.is_lane(t.slice) for t in tgts)
            for t in tgts:
                if isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name) \
                        and t.value.id in self.varying and lane:
                    r = self.row(t)
                    if r is None:
                        raise LaneError(f"{self.fn.__qualname__}: per-run write to a row not "
                                        "known when compiling")
                    if r not in self.varying[t.value.id]:
                        self.varying[t.value.id].add(r)
                        new = True
        return new

    def _hoistable(self, s):
        """A shared ``if`` whose branches are per-run statements only goes inside the lane loop
        (the compiler unswitches it): its locals then stay numbers instead of scratch rows.
        Not in the uniform form, whose shared branches are taken once for every lane."""
        if not isinstance(s, ast.If) or self.varying is not None:
            return False
        inner = s.body + s.orelse
        return all((self.stmt_is_lane(x) or self._hoistable(x)) and not (
            isinstance(x, (ast.Assign, ast.Expr)) and self.array_call(x.value)) and not any(
            isinstance(n, (ast.Break, ast.Continue)) for n in ast.walk(x)) for x in inner)

    @staticmethod
    def _enclosed(top, node):
        for n in ast.walk(top):
            if isinstance(n, (ast.For, ast.While)) and any(m is node for m in ast.walk(n)):
                return True
        return False

    def promote(self, blocks, grouped_calls):
        """Lane locals live across lane loops become lw rows; the rest stay numbers: a local
        whose first mention in each lane loop that uses it is a plain store (the two branches
        of an unswitched ``if`` each set their own)."""
        where: dict[str, set] = {}
        first_store: dict[tuple, bool] = {}
        for k, blk in enumerate(blocks):
            for s in blk:
                top_stores = set(self._targets(s)) if isinstance(s, (ast.Assign, ast.For)) \
                    else set()
                loads = set()
                parts = [s.value] if isinstance(s, ast.Assign) else \
                    [s.iter] if isinstance(s, ast.For) else []
                for p in parts:
                    loads |= _names(p)
                if not parts:
                    loads = _names(s)
                for n in (loads | _names(s)) & self.lane:
                    where.setdefault(n, set()).add(k)
                    if (n, k) not in first_store:
                        first_store[n, k] = n in top_stores and n not in loads
        for n in grouped_calls:
            where.setdefault(n, set()).add(-1)
        for n in sorted(self.lane):
            if n in self.row_of or n not in where:
                continue
            if not all(first_store.get((n, k), False) for k in where[n]):
                self.row_of[n] = self.new_row(self.types.t.get(n), n)

    def new_row(self, ty, what):
        if ty not in ("f", "i"):
            raise LaneError(f"{self.fn.__qualname__}: {what!r} is neither int nor float "
                            "(it must live across lane loops)")
        row = self.rows[ty]
        self.rows[ty] += 1
        return ty, row

    def build(self):
        self.taint()
        while self.varying is not None and self._more_varying():
            self.lane = set(self.scalars)   # rows written per lane: redo the analysis
            self.taint()
        ptypes = {p: "i" if p in self.ints else "f" for p in self.params if p not in self.arrays}
        self.types = LocalTypes(ast.Module(body=self.body + ([ast.Return(self.ret)] if self.ret
                                                         else []), type_ignores=[]),
                            self.g, ptypes, self.int_arrays | {f"{p}__in" for p in self.scalars
                                                               if p in self.ints})
        blocks: list = []
        if self.varying is not None:
            self.body = self.unswitch(self.body)
        grouped = self.group(self.body, blocks)
        if self.ret is not None and self.array_call(self.ret):
            self.body_ret = ast.Assign(targets=[ast.Name("_retv_", ast.Store())], value=self.ret)
            grouped.append(("call", self.body_ret))
            self.lane.add("_retv_")
            self.types.t["_retv_"] = self.types.expr(self.body_ret.value)
            self.ret = ast.Name("_retv_", ast.Load())
        call_names = set()
        for kind, s in self._iter_grouped(grouped):
            if kind == "call":
                call_names |= _names(s) & self.lane
                if isinstance(s, ast.Assign):
                    call_names |= set(self._targets(s))
        if self.ret is not None and self.is_lane(self.ret):
            blocks.append([ast.Return(value=self.ret)])
        self.promote(blocks, call_names)
        body = self.emit(grouped)
        self.ret_type = None
        if self.ret is not None:
            self.ret_type = self.types.expr(self.ret)
            if self.ret_type not in ("f", "i"):
                raise LaneError(f"{self.fn.__qualname__}: returns neither an int nor a float")
            fix = _Fix(self)
            if self.is_lane(self.ret):
                val = fix.visit(self.ret)
                body.append(self._lane_loop([ast.Assign(
                    targets=[ast.Subscript(ast.Name(RET, ast.Load()), ast.Name(L, ast.Load()),
                                           ast.Store())], value=val)]))
            else:
                body.append(ast.parse(f"_retu_ = 0.0").body[0])
                body[-1].value = self.ret
                body.append(self._lane_loop([ast.parse(f"{RET}[{L}] = _retu_").body[0]]))
        args = [ast.arg(f"{p}__in" if p in self.scalars else p) for p in self.params]
        args += [ast.arg(LW), ast.arg(LWI), ast.arg(RET), ast.arg(NL)]
        fdef = ast.FunctionDef(name=self.name, args=ast.arguments(
            posonlyargs=[], args=args, vararg=None, kwonlyargs=[], kw_defaults=[], kwarg=None,
            defaults=[]), body=body or [ast.Pass()], decorator_list=[], returns=None)
        # the name carries a hash of the generated source: numba's disk cache keys entries by
        # name and file, and one kernel has lane forms for several parameter roles
        digest = hashlib.sha1(ast.unparse(ast.fix_missing_locations(
            ast.Module(body=[fdef], type_ignores=[]))).encode()).hexdigest()[:8]
        self.name = fdef.name = f"{self.name}_{digest}"
        mod = ast.fix_missing_locations(ast.Module(body=[fdef], type_ignores=[]))
        ast.increment_lineno(mod, self.fn.__code__.co_firstlineno - 1)
        ns = dict(self.g)
        ns.update(self.extra_globals)
        exec(compile(mod, inspect.getsourcefile(self.fn), "exec"), ns)  # noqa: S102
        out = ns[self.name]
        out.__qualname__ = self.name
        out.__module__ = self.fn.__module__
        out._optbench_kernel = True
        out.lane_rows = {k: self.rows[k] + self.callee_rows[k] for k in ("f", "i")}
        out.lane_varying = None if self.varying is None else \
            {k: tuple(sorted(v)) for k, v in self.varying.items()}
        out.lane_ret = self.ret_type
        out.lane_source = ast.unparse(mod)
        return out

