"""Reliability: a dask address that never answers fails fast; a lost traces part is reported
and recomputed; a sweep killed early keeps its first tasks; a results folder holds one suite
with one set of settings, and meta.json records the overrides."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from optbench import OptbenchInputError
from optbench.record.store import load
from optbench.runner.suites import run_suite

SUITE = {
    "name": "rel",
    "steps": 40,
    "seeds": 2,
    "targets": [1.0, 1e-3],
    "problems": [{"problem": "rosenbrock"}, {"problem": "quadratic", "dim": 3, "cond": 10.0},
                 {"problem": "quadratic-1d"}],
    "optimizers": [{"optimizer": "adam", "lr": [1e-2, 1e-1]}, {"optimizer": "gd", "lr": 0.05}],
}
N_RUNS = 3 * 3 * 2


def sweep(out, **kw):
    kw.setdefault("executor", "serial")
    return run_suite(kw.pop("suite", SUITE), out, progress=False, **kw)


def cli(*args, timeout=240, **env):
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "optbench.cli", *args], capture_output=True,
                       text=True, timeout=timeout, env={**os.environ, **env})
    return r, time.monotonic() - t0


def one_error_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("optbench: error: "), stderr
    return lines[0]


# -- dask addresses that never answer --------------------------------------------------------
class Listener:
    """A TCP server on 127.0.0.1 that accepts every connection and then says nothing (or, with
    ``reply``, sends those bytes once: a server speaking another protocol)."""

    def __init__(self, reply: bytes = b""):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.reply, self.conns = reply, []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            if self.reply:
                c.sendall(self.reply)
            self.conns.append(c)

    def close(self):
        for c in self.conns:
            c.close()
        self.sock.close()


@pytest.fixture
def silent():
    lst = Listener()
    yield f"tcp://127.0.0.1:{lst.port}"
    lst.close()


@pytest.fixture
def http():
    lst = Listener(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n" * 8)
    yield f"tcp://127.0.0.1:{lst.port}"
    lst.close()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_silent_listener_fails_within_the_timeout_in_process(silent):
    """The executor's own bound: timeout + 1 s, not forever (run in a thread so that the old
    behaviour, a hang, fails the test instead of hanging it)."""
    pytest.importorskip("distributed")
    from optbench.runner.dask_executor import DaskExecutor

    import distributed  # noqa: F401  (imported before the clock starts)

    box = {}

    def call():
        t0 = time.monotonic()
        try:
            DaskExecutor(silent, timeout=1.0).close()
        except OptbenchInputError as e:
            box["error"] = e
        box["elapsed"] = time.monotonic() - t0

    th = threading.Thread(target=call, daemon=True)
    th.start()
    th.join(30)
    assert not th.is_alive(), "connecting to a silent listener hangs"
    assert "elapsed" in box and box["elapsed"] < 1.0 + 1.5, box
    msg = str(box["error"])
    assert silent in msg and "within 1 s" in msg and "did not answer" in msg and "\n" not in msg


@pytest.mark.parametrize("kind", ["silent", "http", "notanaddress", "refused"])
def test_cli_bad_dask_address_one_line_exit_2_no_folder(kind, request, tmp_path):
    pytest.importorskip("distributed")
    address = {"silent": lambda: request.getfixturevalue("silent"),
               "http": lambda: request.getfixturevalue("http"),
               "notanaddress": lambda: "notanaddress",
               "refused": lambda: f"tcp://127.0.0.1:{_free_port()}"}[kind]()
    out = tmp_path / "new" / "smoke"
    r, elapsed = cli("run", "smoke", "--address", address, "--out", str(out), "--no-progress",
                     OPTBENCH_DASK_TIMEOUT="2")
    assert r.returncode == 2, (r.stdout, r.stderr)
    line = one_error_line(r.stderr)           # no Client.__del__ traceback after it
    assert address in line and "Traceback" not in r.stderr and "MemoryError" not in r.stderr
    assert not (tmp_path / "new").exists()    # no empty results folder left behind
    assert elapsed < 120                      # imports on a busy machine + 2 s, not a hang


def test_failed_connect_keeps_an_existing_folder(tmp_path):
    pytest.importorskip("distributed")
    out = tmp_path / "out"
    sweep(out)
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    with pytest.raises(OptbenchInputError, match="invalid dask scheduler address"):
        sweep(out, executor="dask", address="notanaddress")
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    assert len(load(out)[0]) == N_RUNS


def test_dask_timeout_env_is_checked(tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    monkeypatch.setenv("OPTBENCH_DASK_TIMEOUT", "soon")
    with pytest.raises(OptbenchInputError, match="OPTBENCH_DASK_TIMEOUT must be a number"):
        sweep(tmp_path / "o", executor="dask", address="tcp://127.0.0.1:1")
    assert not (tmp_path / "o").exists()


# -- a lost traces part ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def stored_template(tmp_path_factory):
    out = tmp_path_factory.mktemp("stored") / "out"
    runs, traces = sweep(out, flush_s=0)      # one chunk pair per task
    assert len(list((out / "runs").glob("part-*"))) >= 3
    assert set(traces.run_id) == set(runs.run_id)
    return out


@pytest.fixture
def stored(stored_template, tmp_path):
    return Path(shutil.copytree(stored_template, tmp_path / "out"))


def _lose(stored, how):
    parts = sorted((stored / "traces").glob("part-*.parquet"))
    victim = parts[1]
    if how == "deleted":
        victim.unlink()
    else:  # replaced by another chunk's traces with a different row count
        rows = {p: pq.read_metadata(p).num_rows for p in parts}
        other = next(p for p in parts if rows[p] != rows[victim])
        shutil.copyfile(other, victim)
    return stored / "runs" / victim.name


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_lost_traces_part_is_reported_by_load_and_show(stored, how):
    runs_part = _lose(stored, how)
    with pytest.raises(OptbenchInputError) as e:
        load(stored)
    msg = str(e.value)
    assert str(runs_part) in msg and "traces part" in msg and "\n" not in msg
    r, _ = cli("show", str(stored))
    assert r.returncode == 2 and str(runs_part) in one_error_line(r.stderr)


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_lost_traces_part_is_set_aside_and_recomputed_on_resume(stored, stored_template, how,
                                                               capsys):
    runs_part = _lose(stored, how)
    lost = set(pq.read_table(runs_part, columns=["run_id"]).column("run_id").to_pylist())
    runs, traces = sweep(stored)
    err = capsys.readouterr().err
    assert str(runs_part) in err and "recomputed" in err
    assert (stored / "quarantine" / "runs" / runs_part.name).exists()
    assert len(runs) == N_RUNS and runs.run_id.is_unique
    assert set(traces.run_id) == set(runs.run_id) and lost <= set(runs.run_id)
    ref_runs, ref_traces = load(stored_template)
    assert len(traces) == len(ref_traces)     # every trace point is back, none twice


# -- a sweep killed early ------------------------------------------------------------------------
CHILD = """
import sys, time
from pathlib import Path
from optbench.runner import executors as X
from optbench.runner.suites import run_suite
sys.path.insert(0, sys.argv[2])
from test_reliability import SUITE
real, calls = X.run_task, []
def run_task(specs, hooks=None, parallel=False):
    calls.append(len(specs))
    if len(calls) == 3:   # two tasks finished: say so, then never finish the third
        Path(sys.argv[1] + ".two-done").write_text(str(calls[0]))
        time.sleep(600)
    return real(specs, hooks, parallel)
X.run_task = run_task
run_suite(SUITE, sys.argv[1], executor="serial", task_runs=2, progress=False)
"""


def test_kill9_after_the_first_tasks_keeps_them(tmp_path):
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if k != "OPTBENCH_FLUSH_S"}  # default: 30 s
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(out), str(Path(__file__).parent)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    marker = Path(str(out) + ".two-done")
    t0 = time.monotonic()
    try:
        while not marker.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() - t0 < 240
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
    first_task = int(marker.read_text())
    runs, _ = load(out)
    assert len(runs) >= first_task > 0          # the first finished task was on disk
    res = sweep(out, task_runs=2)               # and the resume completes the sweep
    assert len(res[0]) == N_RUNS and res[0].run_id.is_unique


# -- one suite, one set of settings per folder; meta.json records the overrides ---------------
def test_meta_records_overrides_and_sweeps(tmp_path):
    out = tmp_path / "out"
    sweep(out, seeds=1, steps=30)
    sweep(out, seeds=[0, 1], steps=30, executor="processes", workers=2)  # more seeds: allowed
    meta = json.loads((out / "meta.json").read_text())
    assert meta["overrides"]["seeds"] == [0, 1] and meta["overrides"]["steps"] == 30
    assert meta["overrides"]["executor"] == "processes" and meta["overrides"]["workers"] == 2
    assert meta["settings"] == {"steps": 30, "device": "cpu", "dtype": "float64"}
    assert [s["seeds"] for s in meta["sweeps"]] == [1, [0, 1]]
    assert [s["executor"] for s in meta["sweeps"]] == ["serial", "processes"]
    assert len(load(out)[0]) == N_RUNS


def _tree(out):
    return {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file() and p.name != ".lock"}


@pytest.mark.parametrize("change, words", [
    ({"suite": {**SUITE, "name": "other"}}, ["suite 'rel', not 'other'", "--out"]),
    ({"steps": 41}, ["suite 'rel' with other settings", "steps 40 vs 41", "--out"]),
    ({"suite": {**SUITE, "optimizers": SUITE["optimizers"][:1]}}, ["[[optimizers]]", "--out"]),
])
def test_other_suite_or_settings_are_refused_and_nothing_changes(tmp_path, change, words):
    out = tmp_path / "out"
    sweep(out, seeds=1)
    before = _tree(out)
    with pytest.raises(OptbenchInputError) as e:
        sweep(out, seeds=1, **change)
    msg = str(e.value)
    assert all(w in msg for w in words) and str(out) in msg and "\n" not in msg, msg
    assert _tree(out) == before


def test_cli_other_suite_into_a_folder_exit_2(tmp_path):
    out = tmp_path / "out"
    toml = tmp_path / "rel.toml"   # the file's name is the suite's name: "rel"
    toml.write_text('steps = 20\nseeds = 1\n[[problems]]\nproblem = "quadratic-1d"\n'
                    '[[optimizers]]\noptimizer = "gd"\nlr = 0.1\n')
    r, _ = cli("run", str(toml), "--out", str(out), "--no-progress", "--serial")
    assert r.returncode == 0, r.stderr
    r, _ = cli("run", "smoke", "--out", str(out), "--no-progress", "--serial")
    assert r.returncode == 2
    line = one_error_line(r.stderr)
    assert "'rel'" in line and "'smoke'" in line
    r, _ = cli("run", str(toml), "--out", str(out), "--steps", "30", "--no-progress", "--serial")
    assert r.returncode == 2 and "steps 20 vs 30" in one_error_line(r.stderr)


# -- the processes executor under Ctrl-C and worker deaths --------------------------------------
def test_ctrl_c_while_the_fork_server_starts_is_not_lost(monkeypatch):
    """A Ctrl-C that lands while the pool's fork server starts is raised once it has started
    (it used to be ignored there, and the sweep went on)."""
    from multiprocessing import forkserver

    from optbench.runner import executors as X

    real = forkserver.ensure_running

    def start_with_ctrl_c():
        os.kill(os.getpid(), signal.SIGINT)
        real()

    monkeypatch.setattr(forkserver, "ensure_running", start_with_ctrl_c)
    ex = X.ProcessExecutor(workers=1)
    try:
        with pytest.raises(KeyboardInterrupt):
            ex._submit(X._warm_worker)
    finally:
        ex.close(interrupted=True)


def test_submit_to_a_pool_broken_meanwhile_is_a_suspect_not_a_crash():
    """A worker died between two looks at the pool: the next task submitted is reported as
    died (and so re-run alone later), not raised out of the sweep."""
    from concurrent.futures.process import BrokenProcessPool

    from optbench.runner import executors as X
    from optbench.runner.suites import load_suite, suite_specs

    specs = suite_specs(load_suite(SUITE))
    ex = X.ProcessExecutor(workers=1, hooks={"exit_on": specs[0].run_id})
    try:
        first = ex._submit([specs[0]])
        assert isinstance(first.exception(timeout=240), BrokenProcessPool)
        later = ex._submit([specs[1]])              # used to raise BrokenProcessPool here
        assert isinstance(later.exception(timeout=5), BrokenProcessPool)
    finally:
        ex.close(interrupted=True)
