"""Compile plain-Python kernel sources for the CPU (``numba.njit``) or CUDA (device functions).

A kernel is a module-level Python function written as scalar loops without allocation.
Kernels may call other kernels marked with :func:`kernel`; when a kernel is compiled for a
target, every marked helper it names is compiled for the same target and bound in its place,
so a formula is written exactly once for both targets.

Generic sources (such as the whole-vector optimizer update built from ``prep`` and ``elem``)
are specialised by *binding* names to kernels; each binding gets its own qualified name, so
numba's on-disk cache keeps one entry per specialisation and a second process starts warm.
"""
from __future__ import annotations

import ast
import hashlib
import inspect
import os
import textwrap
import types as pytypes
from pathlib import Path

import numba
from numba import njit

_CPU: dict = {}
_CUDA: dict = {}


def _source_hash() -> str:
    """Hash of every kernel source file, so the numba cache never serves stale helpers."""
    h = hashlib.sha1(numba.__version__.encode())
    pkg = Path(__file__).resolve().parents[1]
    roots = [pkg]
    try:  # the zoo's folder, without importing it (it imports this module)
        import importlib.util
        roots += [Path(p).resolve() for p in
                  importlib.util.find_spec("optbench.problems").submodule_search_locations]
    except Exception:  # pragma: no cover
        pass
    for root in roots:
        for f in sorted(root.rglob("*.py")):
            h.update(f.read_bytes())
    return h.hexdigest()[:12]


def configure_cache() -> str:
    """Point numba's cache at a folder keyed by the kernel sources (unless the user chose one)."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return os.environ["NUMBA_CACHE_DIR"]
    base = Path(os.environ.get("OPTBENCH_CACHE", Path.home() / ".cache" / "optbench"))
    path = base / f"numba-{_source_hash()}"
    path.mkdir(parents=True, exist_ok=True)
    numba.config.CACHE_DIR = str(path)
    return str(path)


def without_params(fn, drop: list[str]):
    """A copy of plain function ``fn`` whose parameters ``drop`` become global names, so that
    binding them (see :func:`cpu`, :func:`cuda_device`) specialises the same source."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    node = tree.body[0]
    node.decorator_list = []
    node.args.args = [a for a in node.args.args if a.arg not in drop]
    ns = dict(fn.__globals__)
    code = compile(ast.Module(body=[node], type_ignores=[]), inspect.getsourcefile(fn), "exec")
    exec(code, ns)  # noqa: S102 - our own source, re-parsed
    out = ns[node.name]
    out._optbench_kernel = True
    return out


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

    ``bind`` names are bound in ``fn`` and passed down (as ``sub``) to every marked helper that
    names one of them, so a helper written against, say, ``EFG`` is specialised with ``fn``."""
    g = dict(fn.__globals__)
    bind = bind or {}

    def sub(h):
        return {k: v for k, v in bind.items() if k in h.__code__.co_names} or None

    for n in fn.__code__.co_names:
        obj = g.get(n)
        if hasattr(obj, "py_func"):                 # a CPU dispatcher (of a kernel, or not)
            if cuda and getattr(obj.py_func, "_optbench_kernel", False):
                g[n] = target_compile(obj.py_func, sub(obj.py_func))
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


def _sub_name(h, sub, parent):
    return f"{h.__qualname__}__{parent}" if sub else None


# Kernels allocate nothing, so they are compiled without numba's reference counting (NRT):
# with it, an array touched inside a branch of an inlined per-coordinate kernel costs an atomic
# incref/decref pair per call — measured 15 ns per coordinate against 0.3 ns without.
NO_NRT = {"_nrt": False}


def cpu(fn, sig=None, *, bind: dict | None = None, name: str | None = None, parallel=False,
        inline: bool = False, nrt: bool = False):
    """``numba.njit`` version of kernel ``fn`` (explicit ``sig`` compiles eagerly and caches).

    ``inline=True`` compiles the helpers it binds with ``inline='always'`` (numba-IR inlining),
    which hot loops need: a call per coordinate otherwise blocks vectorisation. ``nrt=True``
    is for drivers that allocate (kernels never do)."""
    key = (fn, sig, _bind_key(bind), name, parallel, inline, nrt)
    hit = _CPU.get(key)
    if hit is not None:
        return hit
    parent = name or fn.__qualname__
    if inline:
        def tc(h, sub):
            return _cpu_inline(h, sub, _sub_name(h, sub, parent))
    else:
        def tc(h, sub):
            return cpu(h, bind=sub, name=_sub_name(h, sub, parent))
    new = _rebind(fn, tc, bind, name)
    opts = dict(cache=True, fastmath=False, error_model="numpy", parallel=parallel,
                **({} if nrt else NO_NRT))
    disp = njit(sig, **opts)(new) if sig is not None else njit(**opts)(new)
    _CPU[key] = disp
    return disp


def _cpu_inline(fn, bind=None, name=None):
    key = ("inline", fn, _bind_key(bind), name)
    hit = _CPU.get(key)
    if hit is None:
        parent = name or fn.__qualname__
        new = _rebind(fn, lambda h, sub: _cpu_inline(h, sub, _sub_name(h, sub, parent)), bind,
                      name)
        hit = _CPU[key] = njit(inline="always", cache=True, error_model="numpy", **NO_NRT)(new)
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
