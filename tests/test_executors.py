"""Executors: serial, a process pool and dask.distributed give the same runs table; dead
workers become `error` rows and the sweep goes on; bad executor input gets a clear error."""
import os
import signal
import socket
import threading
import time

import numpy as np
import pandas as pd
import pytest

from optbench import OptbenchInputError
from optbench.progress import Progress
from optbench.runner import executors as X
from optbench.runner.execute import _group_key
from optbench.runner.suites import run_suite, suite_specs

SUITE = {
    "name": "exec",
    "steps": 60,
    "targets": [1.0, 1e-3],
    "seeds": 3,
    "problems": [{"problem": "rosenbrock"}, {"problem": "quadratic", "dim": 3, "cond": 10.0},
                 {"problem": "quadratic-1d"}],
    "optimizers": [{"optimizer": "adam", "lr": [1e-2, 1e-1]},
                   {"optimizer": "gd", "lr": [0.05, 3.0]},   # 3.0 diverges: rows are kept
                   {"optimizer": "momentum", "lr": 1e-2}],
}
N_RUNS = 3 * 5 * 3
TASK_RUNS = 4  # groups of 6 runs split 4 + 2: batches differ from whole groups
TIMINGS = {"wall_s", "compile_s", "time_s"}
PROVENANCE = {"env_id"}  # hashes the environment, git commit included: may change mid-test


def same_tables(a, b):
    """Equal (runs, traces): every column except timings and env id, numbers bit for bit."""
    (ra, ta), (rb, tb) = a, b
    assert ra.run_id.is_unique and rb.run_id.is_unique
    for x, y, key in ((ra, rb, ["run_id"]), (ta, tb, ["run_id", "step"])):
        x = x.sort_values(key).reset_index(drop=True)
        y = y.sort_values(key).reset_index(drop=True)
        assert list(x.columns) == list(y.columns)
        assert len(x) == len(y)
        for c in x.columns:
            if c in TIMINGS or c in PROVENANCE:
                continue
            if pd.api.types.is_numeric_dtype(x[c]):
                assert np.array_equal(x[c].to_numpy(), y[c].to_numpy(), equal_nan=True), c
            else:   # lists compared as their exact repr (NaN, a missed target, equals NaN)
                assert [repr(np.asarray(v).tolist()) if not isinstance(v, str) else v
                        for v in x[c]] == [repr(np.asarray(v).tolist())
                                           if not isinstance(v, str) else v for v in y[c]], c


def sweep(out, **kw):
    kw.setdefault("task_runs", TASK_RUNS)
    return run_suite(SUITE, out, progress=False, **kw)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    runs, traces = sweep(tmp_path_factory.mktemp("ref") / "out", executor="serial")
    assert len(runs) == N_RUNS and set(traces.run_id) == set(runs.run_id)
    assert {"converged", "diverged"} <= set(runs.status)
    assert runs.batch_size.max() == TASK_RUNS
    return runs, traces


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    import logging

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=logging.ERROR) as c:
        yield c


# -- planning --------------------------------------------------------------------------------
def test_plan_tasks_cuts_whole_groups_identically_for_any_worker_count():
    specs = suite_specs(SUITE)
    groups = X.group_specs(specs)
    plans = {w: X.plan_tasks(specs, task_runs=TASK_RUNS, workers=w) for w in (1, 2, 16)}
    batches = {}
    for w, tasks in plans.items():
        ids = [s.run_id for t in tasks for s in t]
        assert sorted(ids) == sorted(s.run_id for s in specs)          # each run exactly once
        # the batches execute() forms (group key within a task) are the same for any plan
        got = set()
        for t in tasks:
            for key, g in X.group_specs(t).items():
                assert len(g) <= TASK_RUNS
                got.add(frozenset(s.run_id for s in g))
        batches[w] = got
    assert batches[1] == batches[2] == batches[16]
    # pieces of one group: all full except one
    for key, g in groups.items():
        sizes = sorted(len(b) for b in batches[1] if next(iter(b)) in {s.run_id for s in g})
        assert sum(sizes) == len(g) and sizes.count(TASK_RUNS) >= len(sizes) - 1
    assert len(plans[16]) > len(plans[1])                              # more tasks to share
    done = {specs[0].run_id, specs[7].run_id}
    left = [s.run_id for t in X.plan_tasks(specs, task_runs=TASK_RUNS, skip=done) for s in t]
    assert sorted(left) == sorted(s.run_id for s in specs if s.run_id not in done)


def test_suite_specs_equal_one_run_spec_make_per_run():
    """suite_specs copies one checked spec per seed: the same specs as RunSpec.make each."""
    import optbench as ob
    from optbench.runner.expand import _combinations
    from optbench.runner.spec import RunSpec

    suite = dict(SUITE, seeds=[4, 0, 7], stop="gtol", gtol=1e-9, record="every:7")
    naive = [RunSpec.make(ob.problems.make(p), ob.optimizers.make(o), seed=sd,
                          steps=suite["steps"], targets=suite["targets"], stop="gtol",
                          gtol=1e-9, record="every:7")
             for tp in suite["problems"] for p in _combinations(tp)
             for to in suite["optimizers"] for o in _combinations(to) for sd in suite["seeds"]]
    got = suite_specs(suite)
    assert got == naive and [s.run_id for s in got] == [s.run_id for s in naive]
    with pytest.raises(OptbenchInputError, match="seed must be >= 0"):
        suite_specs(dict(SUITE, seeds=[1, -2]))


def test_default_executor(monkeypatch):
    monkeypatch.setattr(X, "usable_cores", lambda: 4)
    assert X.default_executor(5) == "processes" and X.default_executor(1) == "serial"
    monkeypatch.setattr(X, "usable_cores", lambda: 1)
    assert X.default_executor(5) == "serial"


# -- the same table everywhere ---------------------------------------------------------------
def test_processes_equal_serial(reference, tmp_path):
    same_tables(sweep(tmp_path / "p", executor="processes", workers=2), reference)


def test_dask_local_cluster_equals_serial(reference, cluster, tmp_path):
    same_tables(sweep(tmp_path / "d", executor="dask", address=cluster.scheduler_address),
                reference)


def test_dask_worker_killed_mid_sweep_loses_nothing(reference, cluster, tmp_path, monkeypatch):
    from distributed import Client

    monkeypatch.setenv("OPTBENCH_TEST_TASK_SLEEP", "0.25")
    with Client(cluster.scheduler_address, set_as_default=False) as c:
        pids = list(c.run(os.getpid).values())
    killed, out = [], tmp_path / "d"

    def kill_one():  # once the first chunk is stored, tasks are running on both workers
        t0 = time.monotonic()
        while not list((out / "runs").glob("part-*")) and time.monotonic() - t0 < 60:
            time.sleep(0.02)
        os.kill(pids[0], signal.SIGKILL)
        killed.append(time.monotonic())

    th = threading.Thread(target=kill_one, daemon=True)
    th.start()
    res = sweep(out, executor="dask", address=cluster.scheduler_address, chunk_runs=1)
    t_end = time.monotonic()
    th.join()
    assert killed and killed[0] < t_end                      # killed while the sweep ran
    assert len(list((out / "runs").glob("part-*"))) > 1
    same_tables(res, reference)  # dask re-ran the lost task elsewhere; nothing is missing


def _victim_group(victim):
    """The runs of the victim's batch: its group's piece (the task the worker died on)."""
    for t in X.plan_tasks(suite_specs(SUITE), task_runs=TASK_RUNS):
        if victim in t:
            return sorted(s.run_id for s in t if _group_key(s) == _group_key(victim))


def _check_error_rows(res, reference, victim, words):
    runs, traces = res
    err = runs[runs.status == "error"]
    assert sorted(err.run_id) == _victim_group(victim)      # exactly the culprit's group
    for m in err.message:
        assert all(w in m for w in words), m
    assert not traces.run_id.isin(err.run_id).any()
    ok = (runs[runs.status != "error"], traces)
    ref = (reference[0][~reference[0].run_id.isin(err.run_id)],
           reference[1][~reference[1].run_id.isin(err.run_id)])
    same_tables(ok, ref)


def test_processes_worker_death_becomes_error_rows(reference, tmp_path, monkeypatch):
    victim = suite_specs(SUITE)[10]
    monkeypatch.setenv("OPTBENCH_TEST_WORKER_EXIT", victim.run_id)
    res = sweep(tmp_path / "p", executor="processes", workers=2)
    _check_error_rows(res, reference, victim, ["worker process died"])
    msg = res[0][res[0].status == "error"].message.iloc[0]
    assert "exit code" not in msg or "exit code 70" in msg   # when known, the real one


def test_dask_worker_that_keeps_dying_becomes_error_rows(reference, cluster, tmp_path,
                                                         monkeypatch):
    victim = suite_specs(SUITE)[15]  # first of a full piece: a task of its own (2 deaths)
    monkeypatch.setenv("OPTBENCH_TEST_WORKER_EXIT", victim.run_id)
    old = cluster.scheduler.allowed_failures
    cluster.scheduler.allowed_failures = 0
    try:
        res = sweep(tmp_path / "d", executor="dask", address=cluster.scheduler_address)
    finally:
        cluster.scheduler.allowed_failures = old
    _check_error_rows(res, reference, victim, ["dask worker died"])


# -- bad input -------------------------------------------------------------------------------
def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_scheduler_fails_fast_with_clear_error(tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    monkeypatch.setenv("OPTBENCH_DASK_TIMEOUT", "2")
    addr = f"tcp://127.0.0.1:{_free_port()}"
    t0 = time.perf_counter()
    with pytest.raises(OptbenchInputError, match="cannot reach the dask scheduler at") as e:
        sweep(tmp_path / "d", executor="dask", address=addr)
    assert time.perf_counter() - t0 < 10
    assert addr in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("argv, words", [
    (["--executor", "threads"], ["invalid choice", "serial", "processes", "dask"]),
    (["--workers", "0"], ["--workers must be >= 1"]),
    (["--executor", "serial", "--address", "tcp://127.0.0.1:1"], ["--address is for the dask"]),
])
def test_cli_executor_bad_input_exit_2(argv, words, tmp_path, capsys):
    from optbench.cli import main

    try:
        code = main(["run", "smoke", "--out", str(tmp_path / "o"), "--no-progress", *argv])
    except SystemExit as e:  # argparse's own errors
        code = e.code
    err = capsys.readouterr().err
    assert code == 2
    assert all(w in err for w in words), err
    assert "Traceback" not in err


def test_cli_unreachable_scheduler_exit_2(tmp_path, capsys, monkeypatch):
    pytest.importorskip("distributed")
    from optbench.cli import main

    monkeypatch.setenv("OPTBENCH_DASK_TIMEOUT", "1")
    addr = f"tcp://127.0.0.1:{_free_port()}"
    code = main(["run", "smoke", "--out", str(tmp_path / "o"), "--address", addr, "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "cannot reach the dask scheduler" in err and "within 1 s" in err


def test_python_api_unknown_executor_lists_valid(tmp_path):
    with pytest.raises(OptbenchInputError, match="unknown executor 'thread'.*dask.*processes"):
        sweep(tmp_path / "o", executor="thread")
    with pytest.raises(OptbenchInputError, match="workers must be >= 1"):
        sweep(tmp_path / "o", executor="processes", workers=0)


# -- progress --------------------------------------------------------------------------------
def test_progress_counts_runs_errors_and_divergence():
    p = Progress(10, 2, enabled=False)
    runs = pd.DataFrame({"status": ["converged", "error", "diverged", "diverged", "budget"]})
    p.update_from(runs)
    assert (p.done, p.errors, p.diverged) == (7, 1, 2)
    p.close()


def test_progress_bar_is_drawn_on_a_terminal(tmp_path):
    import io

    class Tty(io.StringIO):
        def isatty(self):
            return True

    f = Tty()
    p = Progress(5, 1, file=f)
    p.update(2, errors=1)
    p.close()
    out = f.getvalue()
    assert "3/5" in out and "error=1" in out


def _sleep_long():
    time.sleep(600)


def test_interrupted_close_terminates_a_worker_the_pool_had_not_registered():
    """A Ctrl-C inside submit can land between a worker's start and its entry in the pool's
    table; closing after the interrupt must stop that worker too, or the pool's exit hook
    waits for its task (600 s here). Simulated: a child started from the pool's context and
    left out of its table. A child that was there before the pool is left alone."""
    import multiprocessing as mp

    other = mp.get_context("spawn").Process(target=time.sleep, args=(60,))
    other.start()
    ex = X.ProcessExecutor(workers=1)
    stray = None
    try:
        ex._submit(_sleep_long)
        stray = ex._pool._mp_context.Process(target=_sleep_long)
        stray.start()
        t0 = time.monotonic()
        ex.close(interrupted=True)
        stray.join(timeout=10)
        assert not stray.is_alive() and time.monotonic() - t0 < 15
        assert other.is_alive()                       # not the pool's: untouched
    finally:
        for p in (stray, other):
            if p is not None and p.is_alive():
                p.kill()
                p.join()


def test_a_fork_server_gone_at_submit_is_a_broken_pool_not_a_crash(monkeypatch):
    """EOF on the fork server's socket while a worker is spawned (the server was killed) is
    reported like a dead worker: a failed future the stream re-runs as a suspect."""
    from concurrent.futures.process import BrokenProcessPool

    ex = X.ProcessExecutor(workers=1)
    try:
        ex._submit(time.time).result(timeout=120)          # the pool exists
        monkeypatch.setattr(ex._pool, "submit",
                            lambda *a, **k: (_ for _ in ()).throw(EOFError("unexpected EOF")))
        fut = ex._submit(("a task",))
        assert isinstance(fut.exception(), BrokenProcessPool)
        assert "fork server" in str(fut.exception())
    finally:
        monkeypatch.undo()
        ex.close()


def test_a_ctrl_c_inside_submit_is_held_until_the_worker_is_started():
    """A Ctrl-C that arrives while a worker starts is raised after submit returns, not inside
    it (where it would leave a worker this process does not know of, failing later on the
    pool's semaphores): simulated by signalling this process from inside the held block."""
    done = []
    with pytest.raises(KeyboardInterrupt):
        with X._ctrl_c_held():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)                 # the signal is delivered here, and held
            done.append(True)
    assert done == [True]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler   # restored


def _sig_mask(pid: int, field: str) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1], 16)
    raise AssertionError(field)


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc")
def test_the_fork_server_starts_with_ctrl_c_blocked_and_then_ignores_it():
    """A Ctrl-C to the process group while the fork server's interpreter starts must not kill
    it: it is started with SIGINT blocked (inherited), and ignores SIGINT once its first
    preloaded module ran. Checked on the running server: SIGINT blocked or ignored; and this
    process's own mask is back as it was."""
    from multiprocessing import forkserver

    ctx = X._mp_context()
    if ctx.get_start_method() != "forkserver":
        pytest.skip("no fork server on this platform")
    before = signal.pthread_sigmask(signal.SIG_BLOCK, set())
    ex = X.ProcessExecutor(workers=1)
    try:
        assert ex._submit(_warm_ok).result(timeout=300) == "ok"
        pid = forkserver._forkserver._forkserver_pid
        bit = 1 << (signal.SIGINT - 1)
        assert _sig_mask(pid, "SigBlk") & bit and _sig_mask(pid, "SigIgn") & bit
        assert signal.pthread_sigmask(signal.SIG_BLOCK, set()) == before
        assert signal.SIGINT not in before
    finally:
        ex.close()


def _warm_ok():
    return "ok"
