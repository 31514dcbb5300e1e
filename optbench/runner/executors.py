"""Executors: where the tasks of a sweep run (serial, a local process pool, dask.distributed).

A **task** is a list of run specs made of whole execution groups (same problem, optimizer
family, budget, recording and targets; see ``execute._group_key``), so each compiled batch
is loaded once per task. Groups larger than ``task_runs`` are split into pieces of exactly
``task_runs`` runs (the last piece shorter). The split depends only on the full list of specs,
never on the executor or the number of workers, so every run has the same batch on every
executor and after any resume: the runs table (``batch_size`` included) is the same.

* ``serial``: in this process; a batch uses ``prange`` over runs when cores allow.
* ``processes``: a ``concurrent.futures`` pool (``forkserver`` on Linux, else ``spawn``);
  every worker imports optbench once, so kernels load warm from numba's disk cache, and the
  sweep's plugins (``optbench.plugins``) before its first task.
* ``dask``: a ``dask.distributed`` client to ``address`` (for example a dask-jobqueue
  SLURM/PBS cluster), or a ``LocalCluster`` with one single-threaded worker process per core
  (``dask_executor.py``).

Default (``default_executor``): ``processes`` when more than one core is usable by this
process and the sweep has more than one execution group, else ``serial``.

A worker that dies (killed, out of memory, a crash in compiled code) never stops the sweep:
the tasks in flight are re-run one at a time to find the culprit, the culprit is split into
its groups, and a group that kills its worker again becomes ``error`` rows with the message.
A Python exception in a run is already an ``error`` row (``execute``).
"""
from __future__ import annotations

import contextlib
import math
import os
import signal
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from optbench.validate import number

EXECUTORS = ("serial", "processes", "dask")
DEFAULT_TASK_RUNS = 1024

# test hooks (read in the driving process, passed to workers explicitly):
#   OPTBENCH_TEST_WORKER_EXIT=<run id>  a worker running a task with this run exits at once
#   OPTBENCH_TEST_TASK_SLEEP=<seconds>  every task sleeps first (to kill workers mid-sweep)
_HOOK_ENV = {"exit_on": "OPTBENCH_TEST_WORKER_EXIT", "sleep": "OPTBENCH_TEST_TASK_SLEEP"}


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def group_specs(specs) -> dict:
    """Execution groups in first-appearance order: group key -> list of specs."""
    from .execute import _group_key, group_indices

    specs = list(specs)
    groups: dict = {}
    for idx in group_indices(specs):
        groups[_group_key(specs[idx[0]])] = [specs[i] for i in idx]
    return groups


def default_executor(n_groups: int) -> str:
    return "processes" if usable_cores() > 1 and n_groups > 1 else "serial"


def plan_tasks(specs, *, task_runs: int = DEFAULT_TASK_RUNS, workers: int = 1,
               skip=frozenset(), ids=None) -> list[list]:
    """Cut ``specs`` into tasks of whole groups (pieces of ``task_runs`` for large groups),
    leaving out run ids in ``skip`` (``ids``: the specs' run ids, if already computed);
    small pieces of different groups share a task."""
    task_runs = number("task_runs", task_runs, lo=1, integer=True)
    if skip:
        ids = [s.run_id for s in specs] if ids is None else ids
        keep = {id(s) for s, i in zip(specs, ids) if i not in skip}
    pieces = []
    for key, g in group_specs(specs).items():
        for i in range(0, len(g), task_runs):
            p = [s for s in g[i:i + task_runs] if not skip or id(s) in keep]
            if p:
                pieces.append((key, p))
    total = sum(len(p) for _, p in pieces)
    target = max(1, min(task_runs, math.ceil(total / (4 * max(1, workers)))))
    tasks, cur, keys = [], [], set()
    for key, p in pieces:
        if len(p) >= target:
            tasks.append(p)
            continue
        if cur and (len(cur) + len(p) > target or key in keys):
            tasks.append(cur)
            cur, keys = [], set()
        cur = cur + p
        keys.add(key)
    if cur:
        tasks.append(cur)
    return tasks


def hooks_from_env() -> dict:
    out = {}
    for k, env in _HOOK_ENV.items():
        v = os.environ.get(env)
        if v:
            out[k] = float(v) if k == "sleep" else v
    return out


def run_task(specs, hooks=None, parallel=False, plugins=()):
    """Worker side: run one task (after importing the ``plugins``, once per process);
    returns ``(runs, traces)`` DataFrames."""
    from optbench import plugins as PL

    PL.load(plugins)
    if hooks:
        if hooks.get("exit_on") and any(s.run_id == hooks["exit_on"] for s in specs):
            os._exit(70)
        if hooks.get("sleep"):
            time.sleep(hooks["sleep"])
    from .execute import execute

    return execute(list(specs), parallel=parallel)


def error_tables(specs, message: str):
    from optbench.record import tables as T

    return (T.runs_frame([T.error_row(s, message) for s in specs]),
            T.traces_frame([T.empty_trace(s.run_id) for s in specs]))


class _Queue:
    def __init__(self, tasks):
        self.q = deque(tasks)

    def pop(self):
        return self.q.popleft() if self.q else None

    def push(self, task):
        self.q.append(task)


def stream(executor, tasks):
    """Run ``tasks`` on ``executor``; yield ``(specs, runs, traces)`` as tasks finish.

    A task whose worker died is re-run split into single groups; a single group whose worker
    died becomes ``error`` rows. Any other failure of a task becomes ``error`` rows."""
    queue = _Queue(tasks)
    for specs, (kind, payload) in executor.imap(queue):
        if kind == "ok":
            yield specs, payload[0], payload[1]
            continue
        groups = list(group_specs(specs).values())
        if kind == "died" and len(groups) > 1:
            for g in groups:
                queue.push(g)
            continue
        runs, traces = error_tables(specs, payload)
        yield specs, runs, traces


# -- executors --------------------------------------------------------------------------
class SerialExecutor:
    name = "serial"
    workers = 1

    def __init__(self, parallel=None):  # (in this process: run_suite loaded the plugins)
        self.parallel = parallel

    def imap(self, queue):
        while (t := queue.pop()) is not None:
            try:
                out = ("ok", run_task(t, None, self.parallel))
            except Exception as e:  # execute() catches per group; this is a last resort
                out = ("error", f"{type(e).__name__}: {e}")
            yield t, out

    def close(self, interrupted: bool = False):
        pass


class _AsyncExecutor:
    """Keeps a bounded number of tasks in flight (memory stays bounded however many tasks).

    A task whose worker died is a *suspect* (it may only have shared the worker with the
    culprit): suspects are re-run one at a time with nothing else in flight, and one that
    kills its worker alone is reported as ``died``."""

    def imap(self, queue):
        inflight: dict = {}  # handle -> (task, alone)
        suspects: deque = deque()
        while True:
            if suspects:
                if not inflight:
                    t = suspects.popleft()
                    inflight[self._submit(t)] = (t, True)
            else:
                while len(inflight) < self._limit() and (t := queue.pop()) is not None:
                    inflight[self._submit(t)] = (t, False)
            if not inflight:
                return
            for h, out in self._next_done(inflight):
                t, alone = inflight.pop(h)
                if out[0] == "died" and not alone:
                    suspects.append(t)
                else:
                    yield t, out


def _worker_init(plugins=()):
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the driving process handles Ctrl-C
    import threading

    threading.Thread(target=_exit_with_parent, daemon=True).start()
    import optbench.runner.execute  # noqa: F401  (warm: numba, drivers, kernel cache)
    from optbench import plugins as PL
    from optbench.validate import OptbenchInputError

    try:  # plugins before any task; a failure here is reported by each task (run_task)
        PL.load(plugins)
    except OptbenchInputError:
        pass


def _exit_with_parent():
    """A pool worker whose driving process was killed (kill -9) would wait forever for work:
    exit as soon as the parent is gone."""
    import multiprocessing as mp

    parent = mp.parent_process()
    if parent is None:  # pragma: no cover
        return
    parent.join()
    os._exit(0)


def _mp_context():
    import multiprocessing as mp

    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["optbench.runner.forkserver_init", "optbench.runner.execute"])
        return ctx
    return mp.get_context("spawn")  # pragma: no cover - not Linux


@contextlib.contextmanager
def _ctrl_c_held():
    """Hold a Ctrl-C that arrives inside the block and raise it at the end. Starting a pool
    worker is not atomic (the fork server forks it, then this process sends it its pickled
    start-up state and records it as a child): a KeyboardInterrupt inside would leave a worker
    this process does not know of, which starts after the pool is gone and fails on its
    semaphores (a FileNotFoundError traceback). Main thread only (elsewhere: no-op)."""
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


def _start_forkserver_shielded(ctx):
    """Start the fork server without losing a Ctrl-C and without letting one kill it.

    A Ctrl-C at the terminal reaches the whole process group, the fork server too, and while
    its interpreter starts (before ``forkserver_init``, its first preloaded module, ignores
    Ctrl-C) it would die of it ("Fatal Python error" on stderr). So the server is started with
    SIGINT blocked in this thread: it inherits the blocked signal, and one that arrives before
    it ignores SIGINT stays pending and is then discarded. Here a Ctrl-C that comes meanwhile
    is held and raised once the server is started. (The resource tracker is started first: its
    own start unblocks SIGINT.)"""
    import threading

    if ctx.get_start_method() != "forkserver" or \
            threading.current_thread() is not threading.main_thread():
        return
    from multiprocessing import forkserver, resource_tracker

    resource_tracker.ensure_running()
    with _ctrl_c_held():
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            forkserver.ensure_running()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)   # a held Ctrl-C arrives here


_DIED = ("a worker process died while running these runs (killed, out of memory, or a crash "
         "in compiled code)")


class ProcessExecutor(_AsyncExecutor):
    name = "processes"

    def __init__(self, workers=None, hooks=None, plugins=()):
        self.workers = number("workers", workers, lo=1, integer=True) if workers else usable_cores()
        self.hooks = hooks or {}
        self.plugins = tuple(plugins)
        self._pool = None
        self._before: set = set()
        self._ok = 0

    def _limit(self):
        return 2 * self.workers

    def _submit(self, task):
        if self._pool is None:
            import multiprocessing as mp

            ctx = _mp_context()
            _start_forkserver_shielded(ctx)
            self._before = set(mp.active_children())   # children that are not the pool's
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx,
                                             initializer=_worker_init,
                                             initargs=(self.plugins,))
        if callable(task):
            with _ctrl_c_held():   # submit may start a worker
                return self._pool.submit(task)
        try:
            with _ctrl_c_held():
                return self._pool.submit(run_task, task, self.hooks, False, self.plugins)
        except (BrokenProcessPool, EOFError, ConnectionError) as e:
            # a worker died since the last look, or the fork server did (EOF on its socket):
            # the task did not run; it is re-run as a suspect, like the others
            f = Future()
            f.set_exception(e if isinstance(e, BrokenProcessPool) else
                            BrokenProcessPool(f"the fork server stopped: {e!r}"))
            return f

    def _next_done(self, inflight):
        done, _ = wait(list(inflight), return_when=FIRST_COMPLETED)
        codes = ""
        if any(isinstance(f.exception(), BrokenProcessPool) for f in done):
            done, _ = wait(list(inflight))  # every other future of a broken pool fails too
            codes = self._exit_codes()
            self._drop_pool()
            if not self._ok:
                self._canary()
        for f in done:
            exc = f.exception()
            if exc is None:
                self._ok += 1
                yield f, ("ok", f.result())
            elif isinstance(exc, BrokenProcessPool):
                yield f, ("died", _DIED + (f" (exit code {codes})" if codes else ""))
            else:
                yield f, ("error", f"{type(exc).__name__}: {exc}")

    def _canary(self):
        """No task has succeeded yet and a worker died: can workers start at all?"""
        try:
            self._submit(_warm_worker).result()
        except BrokenProcessPool:
            self._drop_pool()
            raise RuntimeError("worker processes of the 'processes' executor die at start-up "
                               "(see the messages above); use --executor serial") from None

    def _exit_codes(self) -> str:
        procs = getattr(self._pool, "_processes", None) or {}
        # 255: forkserver's "status unknown"; SIGTERM: the pool ending a broken pool's survivors
        codes = {p.exitcode for p in procs.values() if p.exitcode not in (None, 0, 255)}
        if len(codes) > 1:
            codes.discard(-signal.SIGTERM)
        return ", ".join(str(c) for c in sorted(codes))

    def _drop_pool(self, kill: bool = False):
        pool, self._pool = self._pool, None
        if pool is None:
            return
        procs = list((getattr(pool, "_processes", None) or {}).values())
        if kill:
            # a Ctrl-C inside submit can land between a worker's start and its entry in the
            # pool's table: that worker is a child of ours all the same, and the pool's exit
            # hook would wait for it (a task sleeping or computing) — terminate it too
            import multiprocessing as mp

            procs += [p for p in mp.active_children()
                      if p not in self._before and p not in procs]
        if kill:
            # workers go before the pool: the pool's queues and their named semaphores are
            # released once it is shut down, and a worker still starting (unpickling them)
            # would fail with a FileNotFoundError traceback
            for p in procs:
                if p.is_alive():
                    p.terminate()
            for p in procs:
                p.join(timeout=5)
        pool.shutdown(wait=not kill, cancel_futures=True)

    def close(self, interrupted: bool = False):
        self._drop_pool(kill=interrupted)


def _warm_worker(plugins=()):
    import optbench
    import optbench.runner.execute  # noqa: F401
    from optbench import plugins as PL

    PL.load(plugins)

    return optbench.__version__
