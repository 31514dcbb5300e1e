"""Suites: TOML files naming problems, optimizers, hyperparameter grids, seeds and budget.

Format (see optbench/suites/quick.toml)::

    name = "quick"
    steps = 5000            # budget per run (optimizer steps)
    # budget_per_dim = 100  # or: a budget proportional to each problem's dimension
    #                       # (steps = budget_per_dim × d; COCO's protocol; not with steps)
    seeds = 3               # an int (range) or a list
    stop = "target"         # target | gtol | budget
    record = "log"          # log | every:K | none
    targets = "coco"        # or a list of Δf values

    [[problems]]
    problem = "rosenbrock"
    dim = [2, 10]           # a list expands into one problem per value

    [[optimizers]]
    optimizer = "adam"
    lr = [1e-3, 1e-2, 1e-1] # lists expand into a grid

    plugins = ["my_module", "my_file.py"]  # optional: imported first (optbench.plugins);
                                           # a relative file path is from the suite's folder
    incompatible = "skip"   # optional: leave out (problem, optimizer) pairs the optimizer
                            # refuses (Muon without matrix blocks, ...); default "error"

Built-in suites live in optbench/suites/*.toml; any path to a .toml file works too.
"""
from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path

from optbench.validate import OptbenchInputError, number, unknown

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

BUILTIN_DIR = Path(__file__).resolve().parents[1] / "suites"
_TOP_KEYS = {"name", "description", "steps", "budget_per_dim", "seeds", "stop", "record",
             "targets", "gtol", "incompatible",
             "device", "dtype", "problems", "optimizers", "plugins"}


def builtin_suites() -> dict[str, Path]:
    return {p.stem: p for p in sorted(BUILTIN_DIR.glob("*.toml"))}


def load_suite(name_or_path) -> dict:
    """Read and check a suite (a built-in name or a path); returns the parsed dict."""
    if isinstance(name_or_path, dict):
        suite = dict(name_or_path)
    else:
        s = str(name_or_path)
        path = builtin_suites().get(s)
        if path is None:
            path = Path(s)
            if not path.suffix == ".toml" and not path.exists():
                raise unknown("suite", s, builtin_suites())
        try:
            text = path.read_text()
        except OSError as e:
            raise OptbenchInputError(f"cannot read suite file {path}: {e.strerror}") from None
        try:
            suite = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise OptbenchInputError(f"malformed suite file {path}: {e}") from None
        suite.setdefault("name", path.stem)
        if isinstance(suite.get("plugins"), list):  # a file plugin is found from the suite's folder
            suite["plugins"] = [str((path.parent / p).resolve()) if isinstance(p, str) and
                                p.endswith(".py") and not Path(p).is_absolute() else p
                                for p in suite["plugins"]]
    extra = set(suite) - _TOP_KEYS
    if extra:
        raise OptbenchInputError(
            f"suite: unknown key(s) {', '.join(sorted(extra))}; valid: {', '.join(sorted(_TOP_KEYS))}")
    suite.setdefault("name", "suite")
    name = suite["name"]
    if not isinstance(name, str) or not name.strip() or "/" in name or "\\" in name:
        raise OptbenchInputError(f"suite: name must be a non-empty string without slashes, "
                                 f"got {name!r}")
    for key, field in (("problems", "problem"), ("optimizers", "optimizer")):
        if not isinstance(suite.get(key), list) or not suite[key]:
            raise OptbenchInputError(f"suite needs a non-empty [[{key}]] list")
        for t in suite[key]:
            if not isinstance(t, dict):
                raise OptbenchInputError(f"suite: each [[{key}]] entry must be a table, got {t!r}")
            if not isinstance(t.get(field), str):
                raise OptbenchInputError(
                    f"suite: each [[{key}]] entry needs a {field} name (a string), got {t!r}")
            for k, v in t.items():
                if isinstance(v, list) and not v:
                    raise OptbenchInputError(f"suite: [[{key}]] {t[field]}.{k} is an empty list")
    _check_run_fields(suite)
    return suite


def _check_run_fields(suite: dict):
    """Types of the top-level run fields (their values are checked by RunSpec.make)."""
    def bad(key, want):
        return OptbenchInputError(f"suite: {key} must be {want}, got {suite[key]!r}")

    def is_int(v):
        return isinstance(v, int) and not isinstance(v, bool)

    if "seeds" in suite:
        v = suite["seeds"]
        if not (is_int(v) or (isinstance(v, list) and all(is_int(x) for x in v))):
            raise bad("seeds", "a count or a list of integer seeds")
    if "steps" in suite and not is_int(suite["steps"]):
        raise bad("steps", "an integer")
    if "budget_per_dim" in suite:
        if "steps" in suite:
            raise OptbenchInputError("suite: give steps or budget_per_dim, not both")
        if not is_int(suite["budget_per_dim"]) or suite["budget_per_dim"] < 1:
            raise bad("budget_per_dim", "a positive integer (steps per dimension)")
    if "record" in suite:
        v = suite["record"]
        if not (isinstance(v, str) or (isinstance(v, list) and all(is_int(x) for x in v))):
            raise bad("record", "'log', 'every:K', 'none' or a list of integer steps")
    if "targets" in suite:
        v = suite["targets"]
        num = (int, float)
        if not (v == "coco" or (isinstance(v, list) and v and all(
                isinstance(x, num) and not isinstance(x, bool) for x in v))):
            raise bad("targets", "'coco' or a non-empty list of numbers")
    if "plugins" in suite:
        v = suite["plugins"]
        if not (isinstance(v, list) and all(isinstance(x, str) and x.strip() for x in v)):
            raise bad("plugins", "a list of module names or .py file paths")
    for key in ("stop", "description", "incompatible"):
        if key in suite and not isinstance(suite[key], str):
            raise bad(key, "a string")


def suite_specs(suite: dict, *, seeds=None, steps=None, device=None, dtype=None) -> list:
    """All validated run specs of a suite (overrides for seeds, steps, device and dtype):
    :func:`optbench.runner.expand.expand` of its tables, seeds and settings."""
    from .expand import expand

    seeds = suite.get("seeds", 1) if seeds is None else seeds
    kw = {k: suite[k] for k in ("stop", "record", "targets", "gtol", "device", "dtype",
                                "incompatible") if k in suite}
    kw.update({k: v for k, v in (("device", device), ("dtype", dtype)) if v is not None})
    if steps is None and "budget_per_dim" in suite:   # an explicit steps override wins
        return _per_dim_specs(suite, seeds, kw)
    steps = suite.get("steps", 1000) if steps is None else steps
    return expand(suite["problems"], suite["optimizers"], seeds=seeds, steps=steps, **kw)


def _per_dim_specs(suite: dict, seeds, kw: dict) -> list:
    """``budget_per_dim``: each problem's runs get ``budget_per_dim × d`` steps (the same
    order as :func:`expand`: problem, optimizer, grid combination, seed)."""
    from optbench import problems as P

    from .expand import _combinations, expand

    per = suite["budget_per_dim"]
    out = []
    for entry in suite["problems"]:
        for combo in _combinations(entry):
            prob = P.make(combo)
            out.extend(expand([prob], suite["optimizers"], seeds=seeds, steps=per * prob.dim,
                              **kw))
    return out


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C during a sweep: every finished run is stored; the message says how to resume."""


def run_suite(suite, out=None, *, seeds=None, steps=None, device=None, dtype=None,
              parallel=None, progress=True,
              executor=None, address=None, workers=None, task_runs: int | None = None,
              chunk_runs: int = 8192, flush_s: float | None = None, retry_errors: bool = False,
              load: str = "all", plugins=()):
    """Run a suite into a results folder, skipping runs already stored there.

    ``executor``: ``"serial"``, ``"processes"`` or ``"dask"`` (``address``: a dask scheduler;
    none starts a LocalCluster of ``workers`` processes). Default: ``"dask"`` when an address
    is given, else ``processes`` when more than one core is usable and the sweep has more than
    one execution group, else ``serial``. Finished tasks stream to disk: the first finished
    task is written at once, then a chunk once ``chunk_runs`` runs have accumulated or the
    flush interval has passed (1, 2, 4, 8, 16 s, then ``flush_s``: default 30, env
    ``OPTBENCH_FLUSH_S``), so memory stays bounded and a kill -9 loses at most the unwritten
    chunk. ``task_runs``: the largest batch (see ``executors.plan_tasks``). ``retry_errors``
    re-runs stored runs whose status is ``error``. ``plugins``: module names or .py files
    imported (with the suite's ``plugins`` and the ``optbench.plugins`` entry points) here
    and in every worker before any spec is built (:mod:`optbench.plugins`). Only one sweep
    may write ``out`` at a time (``Store.lock``), and only the suite and settings already
    stored there, seeds aside (``results_folder.check_same_sweep``); ``meta.json`` records
    the overrides and the plugins. A sweep that
    fails before storing anything removes the folder it created. Ctrl-C writes what has
    finished and raises :class:`SweepInterrupted`, whose message says how to resume.

    Returns ``(runs, traces)`` for the whole folder (``load="runs"``: ``(runs, None)``;
    ``load="none"``: ``{"runs", "new", "already_stored"}``, counts of the suite's runs)."""
    from optbench.progress import Progress
    from optbench.record.store import Store
    from optbench.validate import choice, number

    from . import executors as X
    from . import results_folder as F

    choice("load", load, ("all", "runs", "none"))
    if flush_s is None:
        flush_s = number("OPTBENCH_FLUSH_S", os.environ.get("OPTBENCH_FLUSH_S", 30.0), lo=0.0,
                         text=True)
    flush_s = number("flush_s", flush_s, lo=0.0)
    chunk_runs = number("chunk_runs", chunk_runs, lo=1, integer=True)
    task_runs = X.DEFAULT_TASK_RUNS if task_runs is None else task_runs
    task_runs = number("task_runs", task_runs, lo=1, integer=True)
    if executor is not None and executor not in X.EXECUTORS:
        raise unknown("executor", executor, X.EXECUTORS)
    suite = load_suite(suite)
    from optbench import plugins as PL

    plugin_records = PL.load([*suite.get("plugins", ()), *(plugins or ())])
    specs = suite_specs(suite, seeds=seeds, steps=steps, device=device, dtype=dtype)
    _check_memory(specs, executor=executor, address=address, workers=workers,
                  task_runs=task_runs)   # the batches that run at once must fit
    out = Path(out) if out is not None else Path("results") / suite["name"]
    created = F.first_missing(out)
    store = Store(out).lock()
    ex = bar = ids = None
    stored = 0
    buf_r, buf_t = [], []
    flush_sleep = float(os.environ.get("OPTBENCH_TEST_FLUSH_SLEEP", 0) or 0)  # test hook
    try:
        meta = store.meta()
        if store.has_chunks():
            F.check_same_sweep(out, meta, F.identity(suite, specs))
        _repair(store)
        done = store.done_ids(with_status=True)
        if retry_errors:
            done = {k: v for k, v in done.items() if v != "error"}
        ids = [s.run_id for s in specs]  # (a hash each: computed once)
        stored = already = sum(i in done for i in ids)
        # (with an address, dask is chosen before the run loop is imported: a bad address
        # fails in OPTBENCH_DASK_TIMEOUT seconds plus start-up)
        ex = make_executor(executor, address=address, workers=workers, parallel=parallel,
                           n_groups=1 if address else len(X.group_specs(specs)),
                           plugins=PL.names_for_workers(plugin_records))
        store.write_meta(**F.meta_fields(meta, suite, specs, dict(
            seeds=seeds, steps=steps, device=device, dtype=dtype, executor=ex.name,
            address=address, workers=workers, task_runs=task_runs, retry_errors=retry_errors)),
            plugins=plugin_records)
        tasks = X.plan_tasks(specs, task_runs=task_runs, workers=ex.workers, skip=done,
                             ids=ids)
        bar = Progress(len(specs), stored, enabled=progress)
        # the first finished task is written at once, then after 1, 2, 4, ... s up to flush_s:
        # a kill early in a (re)start loses about as much as is already stored, at most
        nbuf, t_flush, wait_s = 0, time.monotonic(), 0.0
        for _specs, runs, traces in X.stream(ex, tasks):
            buf_r.append(runs)
            buf_t.append(traces)
            nbuf += len(runs)
            bar.update_from(runs)
            if nbuf >= chunk_runs or time.monotonic() - t_flush >= wait_s:
                stored += _flush(store, buf_r, buf_t)
                nbuf, t_flush = 0, time.monotonic()
                wait_s = min(flush_s, max(1.0, 2 * wait_s))
                if flush_sleep:
                    time.sleep(flush_sleep)
        stored += _flush(store, buf_r, buf_t)
    except KeyboardInterrupt:
        if ex is not None:
            ex.close(interrupted=True)
            ex = None
        _flush(store, buf_r, buf_t)
        have = store.done_ids()
        stored = sum(i in have for i in ids) if ids else 0
        raise SweepInterrupted(
            f"interrupted: {stored} of {len(specs)} runs are stored in {out}; run the same "
            "command again to compute only the missing runs") from None
    finally:
        if bar is not None:
            bar.close()
        if ex is not None:
            ex.close()
        if created is not None:
            store.discard_if_empty(created)
        store.unlock()
    if load == "none":
        return {"runs": len(specs), "new": stored - already, "already_stored": already}
    return store.load(load)


def _flush(store, buf_r, buf_t) -> int:
    """Write the finished tasks as one chunk (a second Ctrl-C waits for the write)."""
    if not buf_r:
        return 0
    import pandas as pd

    runs = pd.concat(buf_r, ignore_index=True)
    traces = pd.concat(buf_t, ignore_index=True)
    buf_r.clear()
    buf_t.clear()
    with _sigint_deferred():
        store.append(runs, traces)
    return len(runs)


@contextlib.contextmanager
def _sigint_deferred():
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    got = []
    old = signal.signal(signal.SIGINT, lambda *a: got.append(a))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)
        if got:
            raise KeyboardInterrupt


def _repair(store):
    """Before writing: delete temporaries of killed writes, set damaged parts and runs parts
    whose traces part is missing aside."""
    store.clean_incomplete()
    for f, why in store.missing_partners():
        store.quarantine([f])
        print(f"optbench: warning: incomplete results: {why} for {f}; moved the runs part to "
              f"{store.path / 'quarantine'}, its runs are recomputed", file=sys.stderr)
    bad = store.corrupted()
    if bad:
        moved = store.quarantine([f for f, _ in bad])
        for f, why in bad:
            print(f"optbench: warning: corrupted results file {f} ({why}); moved to "
                  f"{store.path / 'quarantine'} with its partner part, its runs are recomputed",
                  file=sys.stderr)
        return moved
    return []


def _check_memory(specs, *, executor=None, address=None, workers=None,
                  task_runs: int = 1024) -> None:
    """``memory.check_specs`` for ``run_suite``: batches of at most ``task_runs`` runs, as many
    at once as the executor runs tasks (1 serially, else ``workers``, default the usable
    cores). A remote dask cluster (``address``) is not checked here: its memory is on its
    workers."""
    if address is not None:
        return
    from optbench.memory import check_specs
    from optbench.runner import executors as X

    groups = X.group_specs(specs)
    if executor is None:
        executor = X.default_executor(len(groups))
    if workers is not None:
        workers = number("workers", workers, lo=1, integer=True)
    at_once = 1 if executor == "serial" else (workers or X.usable_cores())
    check_specs(specs, batch_runs=task_runs, at_once=at_once, groups=groups)


def make_executor(name=None, *, address=None, workers=None, parallel=None, n_groups=2,
                  plugins=()):
    """Build the named executor (``None``: dask if an address is given, else the default).

    Here, above both ``executors`` and ``dask_executor`` (which builds on ``executors``), so
    that neither imports the other back."""
    from optbench.runner import executors as X
    if name is None:
        name = "dask" if address else X.default_executor(n_groups)
    if name not in X.EXECUTORS:
        raise unknown("executor", name, X.EXECUTORS)
    if address and name != "dask":
        raise OptbenchInputError(f"--address is for the dask executor, not {name!r}")
    if workers is not None:
        workers = number("workers", workers, lo=1, integer=True)
    hooks = X.hooks_from_env()
    if name == "serial":
        return X.SerialExecutor(parallel)
    if name == "processes":
        return X.ProcessExecutor(workers, hooks, plugins)
    from .dask_executor import DaskExecutor

    return DaskExecutor(address, workers, hooks, plugins=plugins)
