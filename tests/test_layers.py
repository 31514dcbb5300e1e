"""The package's import graph, read from the sources with ast: every ``import`` statement, at
module level and inside functions (a lazy import is still a dependency), relative imports
resolved, ``problems/`` read as ``optbench.problems``. Checked: no import cycle, and the
benchmark package is on top (nothing else in optbench imports ``optbench.bench``). The
layers, low to high, are in ``LAYERS``; ``python tests/test_layers.py`` prints the imports
that run from a layer up to a higher one."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = {"optbench": ROOT / "optbench", "optbench.problems": ROOT / "problems"}

# low to high; a module belongs to the first layer whose prefix it starts with
LAYERS = [
    ("kernels", ("optbench.kernels",)),
    ("problems/optimizers", ("optbench.problems", "optbench.optimizers")),
    ("record", ("optbench.record",)),
    ("runner", ("optbench.runner",)),
    ("cuda engines", ("optbench.cuda",)),
    ("analysis", ("optbench.analysis", "optbench.critical", "optbench.summary")),
    ("plots", ("optbench.plots",)),
    ("cli/api/bench", ("optbench.cli", "optbench.api", "optbench.bench", "optbench.asv_bridge")),
]

# Edges left out of the cycle check: none. Add one only with a comment saying why the cycle
# is needed (``python tests/test_layers.py`` prints the cycles of the whole graph).
ALLOWED_CYCLE_EDGES: set[tuple[str, str]] = set()


def module_files() -> dict[str, tuple[Path, bool]]:
    """Dotted module name → (file, is a package's __init__)."""
    out = {}
    for prefix, base in SOURCES.items():
        for f in sorted(base.rglob("*.py")):
            parts = f.relative_to(base).with_suffix("").parts
            if any(not p.isidentifier() for p in parts):
                continue
            is_pkg = parts[-1] == "__init__"
            name = ".".join((prefix,) + (parts[:-1] if is_pkg else parts))
            if prefix == "optbench" and name.startswith("optbench.problems"):
                continue          # not a folder of optbench/ (the zoo is problems/)
            out[name] = (f, is_pkg)
    return out


def import_graph(mods=None) -> dict[str, dict[str, int]]:
    """Module → {module it imports: line of the first such import}, project modules only.
    ``from a import b`` counts as importing ``a.b`` when that is a module, else ``a``."""
    mods = module_files() if mods is None else mods
    graph: dict[str, dict[str, int]] = {m: {} for m in mods}
    for name, (path, is_pkg) in mods.items():
        package = name if is_pkg else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")
                    parts = parts[:len(parts) - node.level + 1]
                    base = ".".join(parts + ([node.module] if node.module else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base
                           for a in node.names]
            else:
                continue
            for t in targets:
                while t and t not in mods:       # a name inside a module: the module
                    t = t.rpartition(".")[0]
                if t and t != name:
                    graph[name].setdefault(t, node.lineno)
    return graph


def cycles(graph) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(graph[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(graph[w])))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return found


def layer(module: str) -> int | None:
    for i, (_, prefixes) in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return i
    return None


def upward_imports(graph=None) -> list[tuple[str, int, str]]:
    """(module, line, imported module) where the import runs to a higher layer."""
    graph = import_graph() if graph is None else graph
    out = []
    for m, targets in graph.items():
        for t, line in targets.items():
            lm, lt = layer(m), layer(t)
            if lm is not None and lt is not None and lt > lm:
                out.append((m, line, t))
    return sorted(out)


def _describe(graph, comps) -> str:
    lines = []
    for comp in comps:
        lines.append(" <-> ".join(comp))
        lines += [f"    {a}:{graph[a][b]} imports {b}" for a in comp for b in graph[a] if b in comp]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- the checks
def test_the_graph_sees_every_kind_of_import():
    """The reader resolves what the checks rely on (each of these would be missed by a
    reader of module-level absolute imports only)."""
    graph = import_graph()
    assert "optbench.problems.base" in graph["optbench.problems"]            # problems/ as zoo
    assert "optbench.bench.peers.common" in graph["optbench.bench.peers"]    # relative import
    assert "optbench.bench.common" in graph["optbench.bench.peers.common"]   # from .. import
    assert "optbench.bench.mlp" in graph["optbench.bench.peers.mlp"]         # inside a function
    assert "optbench.record.env" in graph["optbench.bench.peers.common"]     # function level
    assert cycles({"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}, "d": {"a": 1}}) == [["a", "b", "c"]]


def test_no_import_cycle():
    graph = import_graph()
    for a, b in ALLOWED_CYCLE_EDGES:
        graph.get(a, {}).pop(b, None)
    found = cycles(graph)
    assert not found, "import cycles:\n" + _describe(graph, found)


def test_the_benchmark_package_is_on_top():
    """optbench.bench measures the rest; nothing in optbench depends on it."""
    graph = import_graph()
    bad = [f"{m}:{line} imports {t}" for m, ts in graph.items() for t, line in ts.items()
           if t.startswith("optbench.bench") and not m.startswith("optbench.bench")]
    assert not bad, bad
    assert any(m.startswith("optbench.bench.") for m in graph)   # the package was read


def test_optimizers_do_not_import_analysis():
    """The theory tunings live with the optimizers; analysis imports them, not the reverse."""
    graph = import_graph()
    bad = [(m, t) for m, ts in graph.items() for t in ts
           if m.startswith(("optbench.optimizers", "optbench.problems", "optbench.kernels"))
           and layer(t) is not None and layer(t) >= layer("optbench.analysis")]
    assert not bad, bad


if __name__ == "__main__":
    for m, line, t in upward_imports():
        print(f"{m}:{line} -> {t}   ({LAYERS[layer(m)][0]} -> {LAYERS[layer(t)][0]})")
    comps = cycles(import_graph())
    print(_describe(import_graph(), comps) if comps else "no cycles")
