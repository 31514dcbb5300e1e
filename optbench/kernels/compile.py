"""Compile plain-Python kernel sources for the CPU (``numba.njit``) or CUDA (device functions).

A kernel is a module-level Python function written as scalar loops without allocation.
Kernels may call other kernels marked with :func:`kernel`; when a kernel is compiled for a
target, every marked helper it names is compiled for the same target and bound in its place,
so a formula is written exactly once for both targets.

A *template* is a kernel that calls kernels it does not define: the optimizer's ``PREP`` and
``ELEM``, the problem's ``EFG``, a driver's ``CORE``... It declares them with
:func:`template`, names them in its module as :func:`placeholder` stubs (defined for readers
and linters; calling one unbound raises), and is specialised by *binding* those names to
kernels (``bind=`` of :func:`cpu` / :func:`cuda_device`): the bound kernels become globals of a
copy of the template, compiled for the target. Binding checks the names against the
template's :func:`needs` (its own and those of the templates it calls) and raises
:class:`TemplateError`, one line, on a missing or unknown name. Globals, not closures, because
numba cannot cache closures on disk: each binding gets its own qualified name, so numba's
on-disk cache keeps one entry per specialisation and a second process starts warm.
:func:`without_params` turns a function's kernel parameters into such names (the
pair-specialised drivers and the CUDA path re-parse ``run_core`` this way).
"""
from __future__ import annotations

import ast
import hashlib
import importlib.util
import inspect
import os
import textwrap
import types as pytypes
from pathlib import Path

import numba
from numba import njit
from numba.core.compiler import Compiler

_CPU: dict = {}
_CUDA: dict = {}


def _source_hash(roots) -> str:
    """Hash of every kernel source file under ``roots``, so the numba cache never serves stale
    helpers."""
    h = hashlib.sha1(numba.__version__.encode())
    for root in roots:
        for f in sorted(Path(root).rglob("*.py")):
            h.update(f.read_bytes())
    return h.hexdigest()[:12]


def source_roots() -> list[Path]:
    """The folders of the package's kernel sources: the package and the problem zoo.

    The zoo (``problems/``, installed as ``optbench.problems``) is located by name, not
    imported: its kernels are compiled into the drivers, so they belong in the cache key, and
    importing it here would create its modules before the cache folder is set."""
    pkg = Path(__file__).resolve().parents[1]
    roots = [pkg]
    try:
        spec = importlib.util.find_spec(f"{pkg.name}.problems")
    except (ImportError, ValueError):  # pragma: no cover - a partial install
        spec = None
    for loc in (spec.submodule_search_locations or []) if spec else []:
        if not Path(loc).resolve().is_relative_to(pkg):
            roots.append(Path(loc).resolve())
    return roots


def configure_cache(roots=None) -> str:
    """Point numba's cache at a folder keyed by the kernel sources under ``roots`` (default
    :func:`source_roots`), unless the user chose one (``NUMBA_CACHE_DIR``)."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return os.environ["NUMBA_CACHE_DIR"]
    base = Path(os.environ.get("OPTBENCH_CACHE", Path.home() / ".cache" / "optbench"))
    path = base / f"numba-{_source_hash(source_roots() if roots is None else roots)}"
    path.mkdir(parents=True, exist_ok=True)
    numba.config.CACHE_DIR = str(path)
    return str(path)


class TemplateError(TypeError):
    """A template bound with a kernel name missing or unknown (a programming error)."""


def template(*names: str):
    """Declare the decorated kernel a template whose source calls the kernels ``names``, which
    its module defines as :func:`placeholder` stubs and :func:`cpu` / :func:`cuda_device`
    bind (``bind={name: kernel}``)."""
    def mark(fn):
        fn._optbench_kernel = True
        fn._optbench_needs = tuple(sorted(names))
        return fn
    return mark


def placeholder(name: str):
    """The stand-in for kernel ``name`` in template sources until binding replaces it."""
    def unbound(*args):
        raise TemplateError(f"{name} is a template placeholder: compile the template with "
                            f"{name} bound (optbench.kernels.compile.cpu(..., bind=...))")
    unbound.__name__ = unbound.__qualname__ = name
    unbound._optbench_placeholder = True
    return unbound


def needs(fn) -> tuple[str, ...]:
    """The names binding ``fn`` must supply: those it declares (:func:`template`,
    :func:`without_params`) and those of every template it calls, sorted."""
    own = getattr(fn, "_optbench_needs", ())
    out = set(own)
    g = fn.__globals__
    for n in fn.__code__.co_names:
        if n in own:
            continue
        h = g.get(n)
        h = getattr(h, "py_func", h)
        if h is not fn and getattr(h, "_optbench_needs", None):
            out.update(needs(h))
    return tuple(sorted(out))


def check_binding(fn, bind: dict | None, label: str | None = None) -> None:
    """Raise :class:`TemplateError` (one line) unless ``bind`` names exactly ``needs(fn)``."""
    want = set(needs(fn))
    got = set(bind or ())
    if want == got:
        return
    parts = []
    if want - got:
        parts.append("missing " + ", ".join(sorted(want - got)))
    if got - want:
        parts.append("unknown " + ", ".join(sorted(got - want)))
    need = ", ".join(sorted(want)) or "nothing"
    raise TemplateError(f"template {label or fn.__qualname__}: {'; '.join(parts)} "
                        f"(it needs {need})")


def without_params(fn, drop: list[str]):
    """A copy of plain function ``fn`` whose parameters ``drop`` become global names: a
    template that needs them, so that binding them (see :func:`cpu`, :func:`cuda_device`)
    specialises the same source."""
    missing = [p for p in drop if p not in inspect.signature(fn).parameters]
    if missing:
        raise TemplateError(f"{fn.__qualname__} has no parameter {', '.join(missing)}")
    tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    node = tree.body[0]
    node.decorator_list = []
    node.args.args = [a for a in node.args.args if a.arg not in drop]
    ns = dict(fn.__globals__)
    code = compile(ast.Module(body=[node], type_ignores=[]), inspect.getsourcefile(fn), "exec")
    exec(code, ns)  # noqa: S102 - our own source, re-parsed
    out = ns[node.name]
    out._optbench_kernel = True
    out._optbench_needs = tuple(sorted(drop))
    return out


_CONSTANTS: dict = {}


def with_constants(fn, qualname: str | None = None, **values):
    """A copy of kernel (or template) ``fn`` whose global names ``values`` hold these values:
    compile-time constants of the specialisation compiled from it (memoised per values)."""
    key = (fn, qualname, tuple(sorted(values.items())))
    if key not in _CONSTANTS:
        g = dict(fn.__globals__)
        g.update(values)
        new = pytypes.FunctionType(fn.__code__, g, fn.__name__, fn.__defaults__, fn.__closure__)
        new.__qualname__ = qualname or fn.__qualname__
        new.__module__ = fn.__module__
        for a in ("_optbench_kernel", "_optbench_needs"):
            if hasattr(fn, a):
                setattr(new, a, getattr(fn, a))
        _CONSTANTS[key] = new
    return _CONSTANTS[key]


def kernel(fn):
    """Mark ``fn`` as a kernel that other kernels may call (bound per target when compiled)."""
    fn._optbench_kernel = True
    return fn


_CUDA_SUBSTITUTES: dict[int, object] = {}


def cuda_substitute(obj, fn):
    """Use kernel ``fn`` in place of the CPU-only object ``obj`` (e.g. an intrinsic) on CUDA."""
    _CUDA_SUBSTITUTES[id(obj)] = fn


def _rebind(fn, target_compile, bind: dict | None, name: str | None, cuda: bool = False):
    """Copy ``fn`` with its kernel globals compiled for the target by ``target_compile(h, sub)``.

    ``bind`` names are bound in ``fn`` and passed down (as ``sub``) to every template helper
    that needs one of them, so a helper written against, say, ``EFG`` is specialised with
    ``fn``."""
    check_binding(fn, bind, name)
    g = dict(fn.__globals__)
    bind = bind or {}

    def sub(h):
        return {k: bind[k] for k in needs(h) if k in bind} or None

    for n in fn.__code__.co_names:
        obj = g.get(n)
        if hasattr(obj, "py_func"):                 # a CPU dispatcher (of a kernel, or not)
            if cuda and getattr(obj.py_func, "_optbench_kernel", False):
                g[n] = target_compile(obj.py_func, sub(obj.py_func))
            elif cuda and id(obj) in _CUDA_SUBSTITUTES:
                g[n] = target_compile(_CUDA_SUBSTITUTES[id(obj)], None)
        elif getattr(obj, "_optbench_kernel", False):
            g[n] = target_compile(obj, sub(obj))
        elif cuda and id(obj) in _CUDA_SUBSTITUTES:
            g[n] = target_compile(_CUDA_SUBSTITUTES[id(obj)], None)
    for n, obj in bind.items():
        # plain kernels are compiled for the target; already-compiled dispatchers pass through
        g[n] = obj if hasattr(obj, "py_func") or hasattr(obj, "_dispatcher") \
            or type(obj).__module__.startswith("numba.cuda") else target_compile(obj, None)
    new = pytypes.FunctionType(fn.__code__, g, fn.__name__, fn.__defaults__, fn.__closure__)
    new.__qualname__ = name or fn.__qualname__
    new.__module__ = fn.__module__
    new.__doc__ = fn.__doc__
    return new


def _bind_key(bind):
    return tuple(sorted(bind.items(), key=lambda kv: kv[0])) if bind else None


_FILE_HASH: dict = {}


def _file_hash(path: str) -> str:
    """sha1 of a source file's bytes, memoised by (path, mtime, size)."""
    try:
        st = os.stat(path)
    except OSError:
        return "nofile"
    key = (path, st.st_mtime_ns, st.st_size)
    hit = _FILE_HASH.get(key)
    if hit is None:
        with open(path, "rb") as fh:
            hit = _FILE_HASH[key] = hashlib.sha1(fh.read()).hexdigest()
    return hit


def bound_sources_tag(bind: dict | None) -> str:
    """Short hash of the source files and names of the kernels in ``bind``.

    A specialisation's on-disk cache entry is keyed by the template's file and the name it is
    given; the cache folder is keyed by optbench's own sources. A kernel defined elsewhere (a
    user's optimizer or problem) is compiled into the specialisation too, so its file is part
    of the name: editing it compiles afresh instead of serving the old machine code."""
    if not bind:
        return ""
    h = hashlib.sha1()
    for k in sorted(bind):
        obj = bind[k]
        # a specialisation made by cpu() carries the tag of what was bound into it
        tag = getattr(obj, "_optbench_sources", None)
        if tag is None:
            code = getattr(getattr(obj, "py_func", obj), "__code__", None)
            if code is None:
                continue
            tag = _file_hash(code.co_filename)
        # ... and the bound kernel's own name: two kernels of one file bound into one
        # template (bbob's f8 and f9, both in moderate.py) must not share a cache entry
        fn = getattr(obj, "py_func", obj)
        ident = f"{getattr(fn, '__module__', '')}.{getattr(fn, '__qualname__', '')}"
        h.update(k.encode())
        h.update(tag.encode())
        h.update(ident.encode())
    return h.hexdigest()[:10]


def _mark(disp, fn, bind):
    """Record on a specialisation the sources compiled into it (its template's file and what
    was bound), so that binding it into another template passes them on."""
    try:
        disp._optbench_sources = _file_hash(fn.__code__.co_filename) + bound_sources_tag(bind)
    except AttributeError:  # pragma: no cover - an object without a __dict__
        pass
    return disp


def _tagged(name: str | None, fn, bind: dict | None) -> str | None:
    tag = bound_sources_tag(bind)
    return f"{name or fn.__qualname__}__k{tag}" if tag else name


def _sub_name(h, sub, parent):
    return f"{h.__qualname__}__{parent}" if sub else None


# Kernels allocate nothing, so they are compiled without numba's reference counting (NRT):
# with it, an array touched inside a branch of an inlined per-coordinate kernel costs an atomic
# incref/decref pair per call — measured 15 ns per coordinate against 0.3 ns without.
NO_NRT = {"_nrt": False}


def cpu(fn, sig=None, *, bind: dict | None = None, name: str | None = None, parallel=False,
        inline: bool = False, nrt: bool = False, noalias: bool = False):
    """``numba.njit`` version of kernel ``fn`` (explicit ``sig`` compiles eagerly and caches).

    ``inline=True`` compiles the helpers it binds with ``inline='always'`` (numba-IR inlining),
    which hot loops need: a call per coordinate otherwise blocks vectorisation. ``nrt=True``
    is for drivers that allocate (kernels never do). ``noalias=True`` promises the compiler
    that no two array arguments share memory (LLVM's ``noalias``), so a loop that stores to
    some and reads others vectorises without run-time overlap checks; the caller must keep
    the promise, and the function must be called, not inlined at numba-IR level."""
    key = (fn, sig, _bind_key(bind), name, parallel, inline, nrt, noalias)
    hit = _CPU.get(key)
    if hit is not None:
        return hit
    check_binding(fn, bind, name)      # named as the caller named it
    name = _tagged(name, fn, bind)
    parent = name or fn.__qualname__
    if inline:
        def tc(h, sub):
            return _cpu_inline(h, sub, _sub_name(h, sub, parent))
    else:
        def tc(h, sub):
            return cpu(h, bind=sub, name=_sub_name(h, sub, parent))
    new = _rebind(fn, tc, bind, name)
    opts = dict(cache=True, fastmath=False, error_model="numpy", parallel=parallel,
                **({} if nrt else NO_NRT), **({"pipeline_class": _NoAlias} if noalias else {}))
    disp = njit(sig, **opts)(new) if sig is not None else njit(**opts)(new)
    _CPU[key] = _mark(disp, fn, bind)
    return disp


class _NoAlias(Compiler):
    """numba's compiler with its (unexposed) ``noalias`` flag set: array arguments get LLVM's
    ``noalias`` attribute."""

    def __init__(self, typingctx, targetctx, library, args, return_type, flags, locals):
        flags.noalias = True
        super().__init__(typingctx, targetctx, library, args, return_type, flags, locals)


def cpu_inline(fn, *, bind: dict | None = None, name: str | None = None):
    """``numba.njit(inline='always')`` version of kernel ``fn`` with ``bind`` bound: bound into
    a template, it is inlined there (numba-IR inlining) rather than called."""
    return _cpu_inline(fn, bind, name)


def _cpu_inline(fn, bind=None, name=None):
    key = ("inline", fn, _bind_key(bind), name)
    hit = _CPU.get(key)
    if hit is None:
        check_binding(fn, bind, name)
        name = _tagged(name, fn, bind)
        parent = name or fn.__qualname__
        new = _rebind(fn, lambda h, sub: _cpu_inline(h, sub, _sub_name(h, sub, parent)), bind,
                      name)
        hit = _CPU[key] = _mark(njit(inline="always", cache=True, error_model="numpy",
                                     **NO_NRT)(new), fn, bind)
    return hit


def cuda_device(fn, *, bind: dict | None = None, name: str | None = None):
    """``numba.cuda.jit(device=True)`` version of kernel ``fn`` (also on the CUDA simulator)."""
    key = (fn, _bind_key(bind), name)
    hit = _CUDA.get(key)
    if hit is not None:
        return hit
    from numba import cuda

    new = _rebind(fn, lambda h, sub: cuda_device(h, bind=sub), bind, name, cuda=True)
    dev = cuda.jit(device=True)(new)
    _CUDA[key] = dev
    return dev


configure_cache()  # before any cached dispatcher is created
