"""Plugins: modules or files that register problems and optimizers outside the repository.

A plugin is named by a module (``"my_module"``, imported from ``sys.path``) or a path to a
Python file (``"path/to/file.py"``, imported under the module name ``optbench_plugin_<stem>``);
installed packages can also declare one in the entry-point group ``optbench.plugins``, which
is loaded everywhere without being named. :func:`load` imports them once per process (the
main process before any spec is built; every worker of the ``processes`` and ``dask``
executors before it runs a task) and returns one record per plugin for ``meta.json``:
``{"plugin", "module", "version", "sha256", "path"}``.

A plugin that fails to import, or that registers a name a built-in (or an earlier plugin)
already has, is refused with one line (:class:`OptbenchInputError`).
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path

from optbench.validate import OptbenchInputError

GROUP = "optbench.plugins"
_LOADED: dict[str, dict] = {}  # resolved plugin name -> record (one import per process)
_EPS: dict[tuple, list] = {}     # sys.path -> the entry points found there (run_task asks often)


def resolve(name) -> str:
    """A plugin name as workers can load it: a file path made absolute, a module as it is."""
    if not isinstance(name, str) or not name.strip():
        raise OptbenchInputError(f"plugin must be a module name or a .py file path, got {name!r}")
    name = name.strip()
    if name.endswith(".py") or "/" in name or "\\" in name:
        return str(Path(name).expanduser().resolve())
    return name


def load(names=(), *, entry_points: bool = True) -> list[dict]:
    """Import the plugins ``names`` (and those of the ``optbench.plugins`` entry points), each
    once per process; returns their records (entry points first, in a stable order)."""
    from optbench import optimizers as O
    from optbench import problems as P

    P.REGISTRY.load()  # built-ins first: a plugin clashing with one is then caught here
    O.REGISTRY.load()
    out, seen = [], set()
    todo = [(resolve(n), None) for n in names]
    if entry_points:
        todo = _entry_points() + todo
    for key, ep in todo:
        if key in seen:
            continue
        seen.add(key)
        if key not in _LOADED:
            _LOADED[key] = _import(key, ep)
        out.append(_LOADED[key])
    return out


def names_for_workers(records) -> list[str]:
    """The plugin names a worker loads (entry points aside: workers find those themselves)."""
    return [r["plugin"] for r in records if not r["plugin"].startswith("entry-point:")]


def _entry_points() -> list:
    from importlib.metadata import entry_points

    key = tuple(sys.path)
    if key not in _EPS:
        eps = sorted(entry_points(group=GROUP), key=lambda e: (e.name, e.value))
        _EPS[key] = [(f"entry-point:{e.name}={e.value}", e) for e in eps]
    return _EPS[key]


def _import(key: str, ep=None) -> dict:
    from optbench import optimizers as O
    from optbench import problems as P

    zoos = (P.REGISTRY, O.REGISTRY)
    before = [set(z._classes) for z in zoos]
    label = key.split(":", 1)[1] if ep is not None else key
    if ep is None and Path(key).is_absolute() and not Path(key).is_file():
        raise OptbenchInputError(f"plugin {label!r} failed to import: no such file")
    try:
        mod = _import_module(key, ep)
    except RuntimeError as e:
        if "registered twice" in str(e):
            raise OptbenchInputError(
                f"plugin {label!r} refused: {_line(e).replace(' registered twice', '')} is "
                "already registered (a built-in or an earlier plugin); rename it") from None
        raise OptbenchInputError(f"plugin {label!r} failed to import: {_err(e)}") from None
    except BaseException as e:  # SyntaxError, ImportError, SystemExit, ... of plugin code
        if isinstance(e, KeyboardInterrupt):
            raise
        raise OptbenchInputError(f"plugin {label!r} failed to import: {_err(e)}") from None
    added = {z.kind: sorted(set(z._classes) - b) for z, b in zip(zoos, before)}
    src = getattr(mod, "__file__", None)
    dist = ep.dist.name if ep is not None and getattr(ep, "dist", None) else None
    return {"plugin": key, "module": mod.__name__, "version": _version(mod, dist),
            "sha256": _source_hash(src), "path": src,
            "registers": {k: v for k, v in added.items() if v}}


def _import_module(key: str, ep=None):
    if ep is not None:
        return importlib.import_module(ep.module)
    if not Path(key).is_absolute():
        return importlib.import_module(key)
    path = Path(key)
    modname = f"optbench_plugin_{_ident(path.stem)}_{hashlib.sha1(key.encode()).hexdigest()[:8]}"
    spec = importlib.util.spec_from_file_location(modname, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[modname] = mod  # before exec: pickling and numba's cache locate it by name
    try:
        spec.loader.exec_module(mod)
    except BaseException:
        sys.modules.pop(modname, None)
        raise
    return mod


def _ident(s: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in s)


def _version(mod, dist=None):
    from importlib import metadata

    try:
        if dist is None:
            top = mod.__name__.split(".")[0]
            dist = (metadata.packages_distributions().get(top) or [None])[0]
        return metadata.version(dist) if dist else getattr(mod, "__version__", None)
    except Exception:  # noqa: BLE001 - no package metadata: no version
        return getattr(mod, "__version__", None)


def _source_hash(src) -> str | None:
    """sha256 of the plugin's source: its file, or every .py file of its package."""
    if not src:
        return None
    p = Path(src)
    try:
        if p.name != "__init__.py":  # a single file: sha256 of its bytes (`sha256sum FILE`)
            return hashlib.sha256(p.read_bytes()).hexdigest()
        h = hashlib.sha256()
        for f in sorted(p.parent.rglob("*.py")):
            h.update(f.relative_to(p.parent).as_posix().encode() + b"\0" + f.read_bytes())
        return h.hexdigest()
    except OSError:
        return None


def _line(e) -> str:
    s = str(e).strip()
    return s.splitlines()[0] if s else ""


def _err(e) -> str:
    msg = _line(e)
    return f"{type(e).__name__}: {msg}" if msg else type(e).__name__
