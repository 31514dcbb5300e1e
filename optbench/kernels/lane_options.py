"""Option branches of a kernel, decided when compiling the whole step (``runner/lane_step.py``).

An optimizer's kernels branch on options: ``if hy[HY.amsgrad] != 0.0:``, ``if hy[HY.centered]
!= 0.0:``. In the lanes' uniform forms such a branch is copied out of the lane loops
(``lane_codegen.unswitch``); in the whole step the lane loop is the caller's and holds every
kernel at once, so the compiler keeps the branch inside it and pays for it in every lane (it
vectorises both arms with masked stores: measured 0.3 ns per run-step of Adam's 1.6 on 2-D
Rosenbrock). Here an *option test* is the test of an ``if`` or a conditional expression that
reads nothing but the hyperparameter array ``hy`` (at rows the module names) and constants;
its outcome is the same in every lane of a uniform chunk. :func:`option_tests` finds them,
:func:`outcomes` evaluates them for an optimizer's hyperparameters, the flat form
(``lane_flat.flat_form(fixed=…)``) replaces each by its outcome, and :func:`options_check`
is the kernel the driver calls on a chunk's hyperparameters before it takes the whole step:
a chunk whose options decide otherwise keeps the lane-form passes (the same bits, slower).
"""
from __future__ import annotations

import ast
import copy

from .lane_at import emit, parse_kernel, store_counts

__all__ = ["option_tests", "outcomes", "options_check"]
HY = "hy"
_TESTS: dict = {}
_CHECKS: dict = {}


def _is_option_test(test, fn, params: set, local: set) -> bool:
    names = [n for n in ast.walk(test) if isinstance(n, ast.Name)]
    if not any(n.id == HY for n in names) or any(
            isinstance(n, (ast.Call, ast.Lambda, ast.NamedExpr)) for n in ast.walk(test)):
        return False
    for n in names:
        if n.id == HY:
            continue
        if n.id in params or n.id in local or n.id not in fn.__globals__:
            return False
    # hy read at constant rows only (hy[HY.x], hy[3]): never at a loop index or a local
    for n in ast.walk(test):
        if isinstance(n, ast.Subscript) and isinstance(n.value, ast.Name) and n.value.id == HY:
            if any(isinstance(m, ast.Name) and m.id in params | local
                   for m in ast.walk(n.slice)):
                return False
    return True


def option_tests(fn) -> tuple[str, ...]:
    """The option tests of kernel ``fn`` (its body only, not its callees), as source text, in
    order of appearance, without repeats (memoised). A local assigned once, at the top level,
    from the hyperparameters alone (``big_t = hy[HY.t_alpha_beta3]``) may stand in a test for
    its value (``big_t > 0.0``)."""
    return tuple(_tests(fn))


def _tests(fn) -> dict:
    """``{test as written: test with the option locals replaced by their values}``."""
    fn = getattr(fn, "py_func", fn)
    hit = _TESTS.get(fn)
    if hit is None:
        hit = _TESTS[fn] = _option_tests(fn)
    return hit


class _Inline(ast.NodeTransformer):
    def __init__(self, values):
        self.values = values

    def visit_Name(self, node):
        v = self.values.get(node.id)
        return copy.deepcopy(v) if v is not None else node


def _option_tests(fn) -> dict:
    node, body = parse_kernel(fn, "option tests")
    params = {a.arg for a in node.args.args}
    if HY not in params:
        return {}
    count = store_counts(body)
    local = set(count)
    values = {}         # the option locals: assigned once, at the top level, from hy alone
    for s in body:
        if isinstance(s, ast.Assign) and len(s.targets) == 1 \
                and isinstance(s.targets[0], ast.Name) and count[s.targets[0].id] == 1:
            v = _Inline(values).visit(copy.deepcopy(s.value))
            if _is_option_test(v, fn, params, local):
                values[s.targets[0].id] = v
    out = {}
    for s in body:
        for n in ast.walk(s):
            if isinstance(n, (ast.If, ast.IfExp)):
                test = _Inline(values).visit(copy.deepcopy(n.test))
                if _is_option_test(test, fn, params, local):
                    out.setdefault(ast.unparse(n.test), ast.unparse(test))
    return out


def outcomes(fn, hy) -> dict[str, bool]:
    """``{test: outcome}`` for kernel ``fn``'s option tests with hyperparameters ``hy``."""
    fn = getattr(fn, "py_func", fn)
    ns = dict(fn.__globals__)
    ns[HY] = hy
    return {t: bool(eval(e, ns)) for t, e in _tests(fn).items()}  # noqa: S307


def options_check(fns_outcomes):
    """A kernel ``check(hy)``: whether hyperparameters ``hy`` give every test its outcome.
    ``fns_outcomes``: ``[(kernel, {test: outcome}), …]``; a test is evaluated in its own
    kernel's module (memoised)."""
    fns_outcomes = [(getattr(f, "py_func", f), o) for f, o in fns_outcomes]
    key = tuple((f, tuple(sorted(o.items()))) for f, o in fns_outcomes)
    hit = _CHECKS.get(key)
    if hit is None:
        hit = _CHECKS[key] = _options_check(fns_outcomes)
    return hit


def _options_check(fns_outcomes):
    base = fns_outcomes[0][0]
    terms = []
    for f, outs in fns_outcomes:
        expanded = _tests(f)
        for t, v in outs.items():
            e = ast.parse(expanded.get(t, t), mode="eval").body
            for n in ast.walk(e):
                if isinstance(n, ast.Name) and n.id != HY and \
                        base.__globals__.get(n.id, object()) is not f.__globals__[n.id]:
                    raise ValueError(f"{f.__qualname__}: option test {t!r} names {n.id!r}, "
                                     f"which {base.__qualname__}'s module does not share")
            terms.append(e if v else ast.UnaryOp(ast.Not(), e))
    test = ast.BoolOp(ast.And(), terms) if len(terms) > 1 else \
        terms[0] if terms else ast.Constant(True)
    return emit(base, f"{base.__name__}__options", [HY], [ast.Return(test)])
