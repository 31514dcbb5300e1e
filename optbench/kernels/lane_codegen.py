"""Shaping and writing out a lane form (the second half of the lane rewrite, ``lanes.py``).

After the analysis has marked per-run values and grouped the statements, :class:`LaneCodegen`
(a mixin of the rewrite) copies uniform branches out of the lane loops (the uniform form),
wraps each group of per-run statements in ``for _l_ in range(_nl_)``, indexes per-run arrays
with the lane (or with lane 0 in shared statements), loads the uniform rows a lane loop reads
once before it, copies what a shared statement writes to every lane, and turns a call that
receives a per-run array into a call of the callee's own lane form.
"""
from __future__ import annotations

import ast
import copy
import inspect

from .lane_types import LaneError

L, NL, LW, LWI, RET = "_l_", "_nl_", "_lw_", "_lwi_", "_ret_"


class LaneCodegen:
    """Methods of the lane rewrite that shape and emit code (``lanes._Rewrite`` mixes it in:
    they use its analysis — ``is_lane``, ``stmt_is_lane``, ``array_call``, ``row_of``…)."""

    MAX_UNSWITCH = 8    # uniform branches copied out of one kernel's lane loops at most

    def _plain_lane(self, s) -> bool:
        """A per-run statement that can move into another lane loop: no call receiving a
        per-run array, no break or continue."""
        return self.stmt_is_lane(s) and not (
            isinstance(s, (ast.Assign, ast.Expr)) and self.array_call(s.value)) and not any(
            isinstance(n, (ast.Break, ast.Continue)) for n in ast.walk(s))

    def _shared_local(self, s) -> bool:
        """A shared assignment to plain locals (``mom = hy[HY.momentum]``): it reads no
        per-run value, and per-run statements write no shared local."""
        return isinstance(s, ast.Assign) and all(isinstance(t, ast.Name) for t in s.targets) \
            and not self.stmt_is_lane(s) and not self.array_call(s.value)

    def _uniform_if(self, s) -> bool:
        """A shared ``if`` whose branches hold only what may be copied into lane loops."""
        return isinstance(s, ast.If) and not self.is_lane(s.test) \
            and all(self._movable(x) for x in s.body + s.orelse)

    def _movable(self, s) -> bool:
        return self._plain_lane(s) or self._shared_local(s) or self._uniform_if(s)

    def unswitch(self, stmts):
        """The uniform form: a shared ``if`` (its test the same in every lane) whose branches
        hold per-run statements, shared locals and such ``if``s only, between per-run
        statements A and the statements C that may follow it into a branch, becomes ``if test:
        A B C else: A E C`` (recursively), so each path is one lane loop and what A computes
        for C stays in registers. The test reads no per-run value and no row a per-run
        statement writes, so evaluating it before A is the same; a shared local set among A
        (``mom = …``) is set before the ``if`` instead, unless a per-run statement of A ahead
        of it reads the name (then A starts after it)."""
        out = list(stmts)
        k = 0
        while k < len(out):
            s = out[k]
            if isinstance(s, (ast.For, ast.While)) and not self.stmt_is_lane(s):
                s.body = self.unswitch(s.body)
            if self._uniform_if(s) and self.n_unswitched < self.MAX_UNSWITCH:
                a = k
                while a > 0 and (self._plain_lane(out[a - 1]) or self._shared_local(out[a - 1])):
                    a -= 1
                c = k + 1
                while c < len(out) and self._movable(out[c]):
                    c += 1
                pre, post = out[a:k], out[k + 1:c]
                # a shared local of A moves before the if when no per-run statement of A ahead
                # of it reads the name (they would see its old value); else A starts after it
                for j in range(len(pre) - 1, -1, -1):
                    if not self._shared_local(pre[j]):
                        continue
                    ahead = set().union(*(names(x) for x in pre[:j] if self._plain_lane(x)))
                    if set(self._targets(pre[j])) & ahead:
                        a += j + 1
                        pre = pre[j + 1:]
                        break
                hoisted = [x for x in pre if self._shared_local(x)]
                pre = [x for x in pre if not self._shared_local(x)]
                lanes_around = any(self._plain_lane(x) for x in pre + post)
                nested = any(self._uniform_if(x) for x in s.body + s.orelse + post)
                if lanes_around or nested:
                    self.n_unswitched += 1
                    new = ast.If(test=s.test,
                                 body=copy.deepcopy(pre) + s.body + copy.deepcopy(post),
                                 orelse=copy.deepcopy(pre) + s.orelse + copy.deepcopy(post))
                    new.body = self.unswitch(new.body)
                    new.orelse = self.unswitch(new.orelse)
                    out[a:c] = hoisted + [new]
                    k = a + len(hoisted) + 1
                    continue
            k += 1
        return out

    def _iter_grouped(self, grouped):
        for kind, s in grouped:
            yield kind, s
            if kind == "shared" and isinstance(s, (ast.If, ast.While, ast.For)):
                yield from self._iter_grouped(s.body)
                yield from self._iter_grouped(s.orelse)

    def _lane_loop(self, body):
        return ast.For(target=ast.Name(L, ast.Store()),
                       iter=ast.Call(ast.Name("range", ast.Load()), [ast.Name(NL, ast.Load())],
                                     []), body=body, orelse=[])

    def emit(self, grouped):
        out = []
        for kind, s in grouped:
            if kind == "lane":
                hoist = _Fix(self, hoist={})
                body = [hoist.visit(x) for x in s]
                # uniform rows read in the loop: loaded once before it, on lane 0
                out += [ast.Assign(targets=[ast.Name(v, ast.Store())], value=e)
                        for e, v in hoist.hoisted.values()]
                out.append(self._lane_loop(body))
            elif kind == "call":
                out += self.emit_call(s)
            else:
                lane0 = _Fix(self, lane0=True)   # shared: per-run arrays read on lane 0
                if isinstance(s, (ast.If, ast.While, ast.For)):
                    s.body = self.emit(s.body) or [ast.Pass()]
                    s.orelse = self.emit(s.orelse)
                    if isinstance(s, ast.For):
                        s.iter = lane0.visit(s.iter)
                    else:
                        s.test = lane0.visit(s.test)
                    out.append(s)
                else:
                    out.append(lane0.visit(s))
                    out += self._broadcast(s)
        return out

    def _broadcast(self, s):
        """After a shared statement that writes a per-run array (the uniform form): copy the
        value written on lane 0 to every lane (not for the arrays of ``lane0``, whose shared
        rows the caller reads on lane 0 only)."""
        if not isinstance(s, (ast.Assign, ast.AugAssign)):
            return []
        out = []
        for t in (s.targets if isinstance(s, ast.Assign) else [s.target]):
            if isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name) \
                    and t.value.id in self.arrays and t.value.id not in self.lane0_arrays:
                elts = list(t.slice.elts) if isinstance(t.slice, ast.Tuple) else [t.slice]
                elts = elts[:-1] if elts and isinstance(elts[-1], ast.Constant) and \
                    elts[-1].value == 0 and len(elts) > 1 else elts
                dst = ast.Subscript(ast.Name(t.value.id, ast.Load()), ast.Tuple(
                    elts + [ast.Name(L, ast.Load())], ast.Load()), ast.Store())
                src = ast.Subscript(ast.Name(t.value.id, ast.Load()), ast.Tuple(
                    elts + [ast.Constant(0)], ast.Load()), ast.Load())
                out.append(ast.For(target=ast.Name(L, ast.Store()), iter=ast.Call(
                    ast.Name("range", ast.Load()), [ast.Constant(1), ast.Name(NL, ast.Load())],
                    []), body=[ast.Assign(targets=[dst], value=src)], orelse=[]))
        return out

    def emit_call(self, s):
        call = s.value
        callee = self.g.get(call.func.id) if isinstance(call.func, ast.Name) else None
        base = getattr(callee, "py_func", callee)
        if base is None or not getattr(base, "_optbench_kernel", False):
            raise LaneError(f"{self.fn.__qualname__}: per-run array passed to a non-kernel")
        cparams = list(inspect.signature(base).parameters)
        if len(call.args) != len(cparams) or call.keywords:
            raise LaneError(f"{self.fn.__qualname__}: call of {base.__name__} with keywords")
        arrays, scalars, args, pre, ints, int_arrays = set(), set(), [], [], set(), set()
        if self.varying is not None and any(isinstance(a, ast.Name) and a.id in self.varying
                                            for a in call.args):
            raise LaneError(f"{self.fn.__qualname__}: the uniform form does not follow "
                            f"{base.__name__}'s writes (it receives a per-run array)")
        fix = _Fix(self)
        for p, a in zip(cparams, call.args):
            if isinstance(a, ast.Name) and a.id in self.arrays:
                arrays.add(p)
                args.append(ast.Name(a.id, ast.Load()))
            elif isinstance(a, ast.Name) and a.id in self.int_arrays:
                int_arrays.add(p)
                args.append(ast.Name(a.id, ast.Load()))
            elif self.is_lane(a):
                scalars.add(p)
                if isinstance(a, ast.Name) and a.id in self.row_of:
                    row = self.row_of[a.id]
                else:       # an expression: evaluated into a scratch row first
                    row = self.new_row(self.types.expr(a), ast.unparse(a))
                    pre.append(self._lane_loop([ast.Assign(
                        targets=[_lw(row, ast.Store())], value=fix.visit(a))]))
                args.append(_lw_row(row))
                if row[0] == "i":
                    ints.add(p)
            else:
                args.append(_Fix(self, lane0=True).visit(a))
        for p, a in zip(cparams, call.args):
            if p not in arrays and p not in scalars and self.types.expr(a) == "i":
                ints.add(p)
        lf = self.callee_form(base, arrays, scalars, ints=ints, int_arrays=int_arrays,
                       name=f"{base.__name__}__lanes_{'_'.join(sorted(arrays | scalars))}")
        gname = f"_lane_{lf.__name__}"
        self.extra_globals[gname] = lf
        if isinstance(s, ast.Assign):
            if len(s.targets) != 1 or not isinstance(s.targets[0], ast.Name):
                raise LaneError(f"{self.fn.__qualname__}: result of {base.__name__} unpacked")
            ret_row = self.row_of[s.targets[0].id]
            if lf.lane_ret != ret_row[0]:
                raise LaneError(f"{self.fn.__qualname__}: {s.targets[0].id!r} takes an int and "
                                "a float")
        else:               # the result (if any) is dropped: a scratch row takes it
            ret_row = self.new_row(lf.lane_ret or "f", base.__name__)
        start = dict(self.rows)
        for k in ("f", "i"):
            self.callee_rows[k] = max(self.callee_rows[k], lf.lane_rows[k])
        sub = [ast.parse(f"{LW}[{start['f']}:]").body[0].value,
               ast.parse(f"{LWI}[{start['i']}:]").body[0].value]
        c = ast.Expr(ast.Call(ast.Name(gname, ast.Load()),
                              args + sub + [_lw_row(ret_row), ast.Name(NL, ast.Load())], []))
        return pre + [c]



def names(node) -> set:
    """Every name in ``node`` (read or written)."""
    if node is None:
        return set()
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _lw(row, ctx):
    ty, k = row
    return ast.Subscript(ast.Name(LW if ty == "f" else LWI, ast.Load()),
                         ast.Tuple([ast.Constant(k), ast.Name(L, ast.Load())], ast.Load()), ctx)


def _lw_row(row):
    ty, k = row
    return ast.Subscript(ast.Name(LW if ty == "f" else LWI, ast.Load()), ast.Constant(k),
                         ast.Load())


class _Fix(ast.NodeTransformer):
    """Per-run arrays gain the lane index; promoted lane locals become lw rows."""

    def __init__(self, rw, lane0: bool = False, hoist: dict | None = None):
        self.rw = rw
        self.lane0 = lane0      # index per-run arrays with lane 0 (shared statements)
        # the uniform form's lane loops: reads of a uniform row (the same value in every lane,
        # never written in a lane loop) become locals set before the loop; source -> (load,
        # name)
        self.hoisted = hoist

    def visit_Name(self, n):
        if n.id in self.rw.row_of:
            return ast.copy_location(_lw(self.rw.row_of[n.id], n.ctx), n)
        if n.id in self.rw.arrays:
            raise LaneError(f"{self.rw.fn.__qualname__}: per-run array {n.id!r} used whole")
        return n

    def visit_Attribute(self, n):
        if isinstance(n.value, ast.Name) and n.value.id in self.rw.arrays and n.attr == "shape":
            return n
        return self.generic_visit(n)

    def visit_Subscript(self, n):
        if isinstance(n.value, ast.Name) and n.value.id in self.rw.arrays:
            sl = self.visit(n.slice)
            elts = list(sl.elts) if isinstance(sl, ast.Tuple) else [sl]
            if any(isinstance(e, ast.Slice) for e in elts):
                raise LaneError(f"{self.rw.fn.__qualname__}: slice of per-run array "
                                f"{n.value.id!r}")
            if self.hoisted is not None and isinstance(n.ctx, ast.Load) \
                    and self.rw.uniform_row(n):
                load = ast.Subscript(n.value, ast.Tuple(elts + [ast.Constant(0)], ast.Load()),
                                     ast.Load())
                key = ast.unparse(load)
                if key not in self.hoisted:
                    self.rw.n_hoisted += 1
                    self.hoisted[key] = (load, f"_u{self.rw.n_hoisted}_")
                return ast.copy_location(ast.Name(self.hoisted[key][1], ast.Load()), n)
            idx = ast.Constant(0) if self.lane0 else ast.Name(L, ast.Load())
            return ast.copy_location(ast.Subscript(
                n.value, ast.Tuple(elts + [idx], ast.Load()), n.ctx), n)
        return self.generic_visit(n)
