"""Kernel templates declare the kernel names they call, binding checks them, and the optimizer
kernels index their scalars ``sc`` / ``hy`` by name (optbench.kernels.compile, .slots)."""
from __future__ import annotations

import ast
import builtins
import inspect
import re
import textwrap
from pathlib import Path

import numpy as np
import pytest
from numba import njit

from optbench.kernels import compile as kc
from optbench.kernels import signatures as S
from optbench.kernels.slots import N_SCALARS, SC_LR, SC_STEP, hyper_slots, scalar_slots

ROOT = Path(__file__).resolve().parents[1]
# the folders that hold kernels (templates live in runner/, optimizers/, cuda/); the problem zoo
# is installed as optbench.problems
KERNEL_FOLDERS = {"optbench/kernels": "optbench.kernels", "optbench/runner": "optbench.runner",
                  "optbench/optimizers": "optbench.optimizers", "optbench/cuda": "optbench.cuda",
                  "problems": "optbench.problems"}


class Module:
    """What the scan needs of one source file, read without importing it (importing would
    compile): its top-level names, which of them are placeholders, its imports."""

    def __init__(self, name: str, tree: ast.Module, is_package: bool):
        self.name, self.tree, self.is_package = name, tree, is_package
        self.defined = {"__name__", "__file__", "__doc__", "__spec__", "__package__",
                        "__path__", "__loader__"}
        self.placeholders: set[str] = set()
        self.imports: dict[str, tuple[str, str]] = {}   # local name -> (module, name)
        for node in _top_level(tree):
            if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
                self.defined.add(node.id)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                self.defined.add(node.name)
            elif isinstance(node, ast.Import):
                self.defined.update((a.asname or a.name).split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                src = self._resolve(node)
                for a in node.names:
                    self.defined.add(a.asname or a.name)
                    self.imports[a.asname or a.name] = (src, a.name)
            elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) \
                    and _called_name(node.value) == "placeholder":
                self.placeholders.update(t.id for t in node.targets if isinstance(t, ast.Name))

    def _resolve(self, node: ast.ImportFrom) -> str:
        if not node.level:
            return node.module or ""
        parts = self.name.split(".")
        base = parts[:len(parts) - node.level + (1 if self.is_package else 0)]
        return ".".join(base + ([node.module] if node.module else []))


def _called_name(call: ast.Call) -> str | None:
    f = call.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None


def _top_level(tree):
    """Every node of the module outside function and class bodies (the defs themselves too)."""
    todo = list(tree.body)
    while todo:
        node = todo.pop()
        yield node
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            todo.extend(ast.iter_child_nodes(node))


def _modules() -> dict[str, Module]:
    mods = {}
    for folder, pkg in KERNEL_FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT / folder).with_suffix("").parts
            is_package = rel[-1] == "__init__"
            name = ".".join((pkg,) + (rel[:-1] if is_package else rel))
            mods[name] = Module(name, ast.parse(path.read_text()), is_package)
    return mods


def _is_placeholder(mods, module: Module, name: str) -> bool:
    if name in module.placeholders:
        return True
    src = module.imports.get(name)
    return bool(src) and src[0] in mods and _is_placeholder(mods, mods[src[0]], src[1])


def _declared(fn_node) -> set[str]:
    """The names given to a ``template(...)`` decorator."""
    out = set()
    for dec in fn_node.decorator_list:
        if isinstance(dec, ast.Call) and _called_name(dec) == "template":
            out.update(a.value for a in dec.args if isinstance(a, ast.Constant))
    return out


def _free_kernel_names(fn_node, module: Module, mods) -> set[str]:
    """Names the function's source loads that are neither its own (parameters, assignments,
    imports, nested definitions) nor defined in its module, or that are placeholders there."""
    local = set()
    for node in ast.walk(fn_node):
        if isinstance(node, ast.arg):
            local.add(node.arg)
        elif isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            local.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) \
                and node is not fn_node:
            local.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            local.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            local.add(node.name)
    free = set()
    for node in ast.walk(fn_node):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in local:
            if node.id not in module.defined:
                if not hasattr(builtins, node.id):
                    free.add(node.id)
            elif _is_placeholder(mods, module, node.id):
                free.add(node.id)
    return free


def _module_functions(mods):
    """(module, ast node) of every module-level function of the kernel folders."""
    for module in mods.values():
        for node in module.tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield module, node


def test_every_template_declares_exactly_the_names_it_calls():
    mods = _modules()
    templates = {}
    for module, node in _module_functions(mods):
        free = _free_kernel_names(node, module, mods)
        declared = _declared(node)
        where = f"{module.name}.{node.name}"
        assert free == declared, (f"{where}: calls {sorted(free)}, declares {sorted(declared)} "
                                  "(declare them with optbench.kernels.compile.template)")
        if declared:
            templates[where] = declared
    # the scan saw the templates (it cannot pass by finding none)
    assert templates["optbench.optimizers.base.vector_update"] == {"PREP", "ELEM"}
    assert templates["optbench.runner.fused.fused_element"] == {"EFG", "ELEM"}
    assert templates["optbench.runner.loop._special_batch"] == {"CORE"}
    assert templates["optbench.runner.lockstep._lockstep_batch"] == {"CHUNK"}
    assert len(templates) >= 7


def test_declarations_read_by_the_scan_are_those_binding_checks():
    from optbench.optimizers.base import vector_update
    from optbench.runner import fused, lockstep

    for fn in (vector_update, fused.fused_run, fused.fused_element, lockstep.lockstep_chunk):
        node = ast.parse(textwrap.dedent(inspect.getsource(fn))).body[0]
        assert tuple(sorted(_declared(node))) == fn._optbench_needs


def test_the_scan_finds_an_undeclared_name():
    base = ast.parse(textwrap.dedent('''
        from optbench.kernels.compile import placeholder
        ELEM = placeholder("ELEM")
    '''))
    src = ast.parse(textwrap.dedent('''
        from optbench.kernels import compile as kc
        from .base import ELEM
        PREP = kc.placeholder("PREP")

        @kc.template("PREP")
        def t(x):
            PREP(x)
            ELEM(x)
            FOO(x)
            return len(x)
    '''))
    mods = {"pkg.base": Module("pkg.base", base, False), "pkg.t": Module("pkg.t", src, False)}
    node = src.body[-1]
    assert _free_kernel_names(node, mods["pkg.t"], mods) == {"PREP", "ELEM", "FOO"}
    assert _declared(node) == {"PREP"}


def test_needs_include_those_of_the_templates_called():
    from optbench.runner import fused, loop

    assert kc.needs(fused.fused_run) == ("EFG", "PASS", "PREP")   # PREP through fused_prepare
    assert kc.needs(fused.fused_pass) == ("EFG", "ELEM")          # through fused_element
    core = kc.without_params(loop.run_core.py_func, loop.KERNEL_PARAMS)
    assert kc.needs(core) == tuple(sorted(loop.KERNEL_PARAMS))


def _one_line_error(call):
    with pytest.raises(kc.TemplateError) as err:
        call()
    msg = str(err.value)
    assert "\n" not in msg
    return msg


def test_binding_with_a_missing_or_unknown_kernel_raises_one_line():
    from optbench.optimizers.adam import Adam
    from optbench.optimizers.base import vector_update
    from optbench.runner import fused, lockstep

    msg = _one_line_error(lambda: kc.cpu(vector_update, S.UPDATE_SIG, bind={"PREP": Adam.PREP},
                                         name="vector_update__test_missing"))
    assert msg == ("template vector_update__test_missing: missing ELEM "
                   "(it needs ELEM, PREP)")
    msg = _one_line_error(lambda: kc.cpu(fused.fused_run, bind={
        "EFG": Adam.ELEM, "PREP": Adam.PREP, "ELEM": Adam.ELEM}))
    assert "missing PASS" in msg and "unknown ELEM" in msg
    msg = _one_line_error(lambda: kc.cuda_device(lockstep.lockstep_chunk, bind={"fg": Adam.PREP}))
    assert "missing BOOK_SLOW, FG, METRICS, UPDATE, VALUE; unknown fg" in msg
    msg = _one_line_error(lambda: kc.cpu(vector_update))
    assert "missing ELEM, PREP" in msg
    msg = _one_line_error(lambda: kc.without_params(vector_update, ["EFG"]))
    assert msg == "vector_update has no parameter EFG"
    # a placeholder called unbound (pure Python) says what it is
    msg = _one_line_error(lambda: vector_update(np.zeros(1), np.zeros(1), np.zeros((1, 1)),
                                                np.zeros(N_SCALARS), np.zeros(1)))
    assert msg.startswith("PREP is a template placeholder")


def test_no_noqa_for_undefined_names_remains():
    hits = [f"{p.relative_to(ROOT)}:{i}"
            for folder in ("optbench", "problems") for p in sorted((ROOT / folder).rglob("*.py"))
            for i, line in enumerate(p.read_text().splitlines(), 1) if "noqa: F821" in line]
    assert hits == []


# -- named slots ------------------------------------------------------------------------------

def test_slots_are_positions_in_declared_order():
    hy = hyper_slots("beta1", "beta2", "eps")
    assert (hy.beta1, hy.beta2, hy.eps) == (0, 1, 2) and list(hy) == ["beta1", "beta2", "eps"]
    sc = scalar_slots("beta1_t", "step_size")
    assert (sc.lr, sc.step, sc.beta1_t, sc.step_size) == (SC_LR, SC_STEP, 2, 3)
    with pytest.raises(ValueError, match="repeated: eps"):
        hyper_slots("eps", "lr", "eps")
    with pytest.raises(ValueError, match="not a plain identifier"):
        hyper_slots("beta-1")
    with pytest.raises(ValueError, match=f"sc has {N_SCALARS - 1} slots"):
        scalar_slots(*[f"s{k}" for k in range(N_SCALARS - 2)])


def test_named_slots_compile_to_the_code_of_bare_indices():
    hy = hyper_slots("a", "b", "c")

    def named(h):
        return h[hy.a] * 2.0 + h[hy.c]

    def bare(h):
        return h[0] * 2.0 + h[2]

    def body(fn):
        asm = next(iter(njit("f8(f8[::1])")(fn).inspect_asm().values()))
        start = asm.index(fn.__name__)            # the compiled function itself, no wrappers
        lines = asm[start:].splitlines()
        end = next(i for i, ln in enumerate(lines) if ln.strip() in ("retq", "ret"))
        return [ln.strip() for ln in lines[1:end + 1] if ln.startswith("\t")
                and not ln.startswith("\t.")]

    assert body(named) == body(bare) and body(bare)


def test_families_fill_hy_in_slot_order():
    from optbench.optimizers import get
    from optbench.optimizers.adam import HY as ADAM_HY
    from optbench.optimizers.sgd import HY as SGD_HY

    o = get("adam", beta1=0.8, beta2=0.95, eps=1e-6, amsgrad=True)
    hy = o.hyper_array()
    assert (hy[ADAM_HY.beta1], hy[ADAM_HY.beta2], hy[ADAM_HY.eps], hy[ADAM_HY.amsgrad]) \
        == (0.8, 0.95, 1e-6, 1.0)
    _, sc = o.init_state(3)
    assert sc.shape == (N_SCALARS,) and sc[SC_LR] == 0.0
    # gd runs sgd's kernels with momentum, dampening and nesterov 0
    assert list(get("gd").slots) == list(SGD_HY)
    assert np.array_equal(get("gd").hyper_array(), np.zeros(len(SGD_HY)))


def test_optimizer_kernels_use_no_bare_scalar_indices():
    """sc[2] / hy[0] in a kernel would silently mean something else after a slot is added."""
    bare = []
    for module, node in _module_functions(_modules()):
        if not module.name.startswith(("optbench.optimizers", "optbench.runner")):
            continue
        for sub in ast.walk(node):
            if isinstance(sub, ast.Subscript) and isinstance(sub.value, ast.Name) \
                    and sub.value.id in ("sc", "hy", "sp") and isinstance(sub.slice, ast.Constant):
                bare.append(f"{module.name}.{node.name}: {ast.unparse(sub)}")
    assert bare == []


def test_register_names_tuple_slots_and_rejects_unknown_ones():
    from optbench.optimizers.base import LR, REGISTRY, Optimizer, register

    class Plugin(Optimizer):
        name = "test-templates-plugin"
        params = {"lr": LR, "beta": LR}
        slots = ("beta",)

    try:
        register(Plugin)
        assert Plugin.slots.beta == 0 and list(Plugin.slots) == ["beta"]
    finally:
        REGISTRY.pop(Plugin.name, None)

    class Bad(Plugin):
        name = "test-templates-bad"
        slots = ("beta", "gamma")

    with pytest.raises(RuntimeError, match=re.escape("slots ['gamma'] are not hyperparameters")):
        register(Bad)
    assert Bad.name not in REGISTRY

