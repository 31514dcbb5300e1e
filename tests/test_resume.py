"""Never lose work: kill -9 and Ctrl-C at several points then resume; corrupted files, a
leftover temporary file, a newer schema, two writers on one folder, an unwritable path."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import optbench as ob
from optbench import OptbenchInputError
from optbench.record.store import Store, load
from optbench.runner.suites import run_suite
from test_executors import N_RUNS, SUITE, TASK_RUNS, same_tables

CHUNK = 4  # every finished task is its own chunk: many kill points


def sweep(out, **kw):
    kw.setdefault("task_runs", TASK_RUNS)
    kw.setdefault("chunk_runs", CHUNK)
    kw.setdefault("executor", "serial")
    return run_suite(SUITE, out, progress=False, **kw)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return sweep(tmp_path_factory.mktemp("ref") / "out")


@pytest.fixture(scope="module")
def suite_file(tmp_path_factory):
    d = tmp_path_factory.mktemp("suite")  # the SUITE dict as a TOML file (written by hand)
    lines = [f'name = "{SUITE["name"]}"', f'steps = {SUITE["steps"]}', f'seeds = {SUITE["seeds"]}',
             f'targets = {SUITE["targets"]}']
    for key, tables in (("problems", SUITE["problems"]), ("optimizers", SUITE["optimizers"])):
        for t in tables:
            lines.append(f"[[{key}]]")
            lines += [f"{k} = {json.dumps(v)}" for k, v in t.items()]
    (d / "s.toml").write_text("\n".join(lines) + "\n")
    return d / "s.toml"


def part_ids(out):
    """Run ids per stored runs part (raw files, no de-duplication)."""
    return {f.name: pq.read_table(f, columns=["run_id"]).column(0).to_pylist()
            for f in sorted((out / "runs").glob("part-*.parquet"))}


def no_duplicates(out):
    ids = [i for v in part_ids(out).values() for i in v]
    assert len(ids) == len(set(ids)) == N_RUNS


CHILD = ("import sys; from optbench.runner.suites import run_suite; "
         "from test_executors import SUITE; "
         "run_suite(SUITE, sys.argv[1], executor=sys.argv[2], task_runs=4, chunk_runs=4, "
         "progress=False)")


def _child_env(**extra):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).parent),
                                                        os.environ.get("PYTHONPATH", "")]))
    env.update(extra)
    return env


def _wait_for(pred, proc, timeout=120):
    t0 = time.monotonic()
    while not pred():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() - t0 < timeout
        time.sleep(0.02)


@pytest.mark.parametrize("executor, k", [("serial", 1), ("serial", 5), ("processes", 2)])
def test_kill9_then_resume_equals_uninterrupted(reference, tmp_path, executor, k):
    out = tmp_path / "out"
    env = _child_env(OPTBENCH_TEST_FLUSH_SLEEP="0.3", OPTBENCH_TEST_TASK_SLEEP="0.1")
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(out), executor], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        _wait_for(lambda: len(list((out / "runs").glob("part-*.parquet"))) >= k, proc)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the sweep and any workers, mid-flight
        proc.wait()
    # a write killed between its two renames: traces part in place, runs part not
    last = sorted((out / "runs").glob("part-*.parquet"))[-1]
    last.unlink()
    assert (out / "traces" / last.name).exists()
    before = part_ids(out)
    assert k - 1 <= len(before) and sum(map(len, before.values())) < N_RUNS
    # a write killed between temporary file and rename leaves garbage: it must not count
    (out / "runs" / ".part-999999-deadbeef.parquet.0123abcd.tmp").write_bytes(b"PAR1 half")
    (out / "traces" / ".part-999999-deadbeef.parquet.0123abcd.tmp").write_bytes(b"")
    runs, traces = load(out)                       # what was stored is readable as it is
    assert set(runs.get("run_id", [])) == {i for v in before.values() for i in v}
    assert set(traces.get("run_id", [])) <= set(runs.get("run_id", []))   # orphan ignored

    res = sweep(out)                               # resume: only the missing runs
    after = part_ids(out)
    assert all(after[name] == ids for name, ids in before.items())   # nothing recomputed
    no_duplicates(out)
    assert not list(out.rglob("*.tmp"))            # the killed write's leftovers are cleaned
    assert sorted(f.name for f in (out / "traces").glob("part-*")) == sorted(after)
    same_tables(res, reference)


def _first_tasks_stored(out, suite_file, monkeypatch, n_tasks=2):
    """Store the first ``n_tasks`` tasks of the sweep (serial, in process, interrupted after
    them): a results folder to resume. Returns the number of runs stored."""
    from optbench.runner import executors as X
    from optbench.runner.suites import SweepInterrupted

    real, calls = X.run_task, []

    def run_task(*a, **k):
        calls.append(1)
        if len(calls) > n_tasks:
            raise KeyboardInterrupt
        return real(*a, **k)

    with monkeypatch.context() as m:
        m.setattr(X, "run_task", run_task)
        with pytest.raises(SweepInterrupted):
            run_suite(suite_file, out, executor="serial", progress=False)
    return len(load(out)[0])


def test_ctrl_c_stops_cleanly_and_says_how_to_resume(tmp_path, suite_file, monkeypatch):
    """Ctrl-C during a resumed sweep on worker processes. Every task of the resumed sweep
    sleeps 600 s first (test hook), so the sweep cannot finish before the Ctrl-C, however
    loaded the machine: the signal is sent once the sweep has (re)written meta.json, that is
    once it is inside its interrupt handling; no fixed sleep decides the outcome."""
    out = tmp_path / "out"
    before = _first_tasks_stored(out, suite_file, monkeypatch)
    assert 0 < before < N_RUNS
    meta = out / "meta.json"
    stamp = (meta.stat().st_ino, meta.stat().st_mtime_ns)
    cmd = [sys.executable, "-m", "optbench.cli", "run", str(suite_file), "--out", str(out),
           "--executor", "processes", "--workers", "2", "--no-progress"]
    proc = subprocess.Popen(cmd, env=_child_env(OPTBENCH_TEST_TASK_SLEEP="600",
                                                OPTBENCH_FLUSH_S="0"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        _wait_for(lambda: meta.exists() and (meta.stat().st_ino, meta.stat().st_mtime_ns)
                  != stamp, proc)                  # the sweep has started
        os.killpg(proc.pid, signal.SIGINT)         # Ctrl-C reaches the whole process group
        _, err = proc.communicate(timeout=60)      # sleeping workers do not delay the stop
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    lock = out / ".lock"
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    line = [x for x in err.splitlines() if "interrupted" in x][0]
    stored = int(line.split("interrupted: ")[1].split()[0])
    assert f"of {N_RUNS} runs are stored in {out}" in line and "run the same command" in line
    runs, _ = load(out)
    assert len(runs) == stored == before                  # what was stored is kept, and said
    assert lock.read_text() == ""                         # lock released
    r = subprocess.run(cmd, env=_child_env(), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    ref = run_suite(SUITE, tmp_path / "ref", executor="serial", progress=False)
    same_tables(load(out), ref)


def test_ctrl_c_in_process_keeps_finished_tasks(reference, tmp_path, monkeypatch):
    """Serial executor, Python API: Ctrl-C after three tasks raises SweepInterrupted."""
    from optbench.runner import executors as X
    from optbench.runner.suites import SweepInterrupted

    real, calls = X.run_task, []

    def run_task(*a, **k):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(X, "run_task", run_task)
    out = tmp_path / "out"
    with pytest.raises(SweepInterrupted, match=r"of 45 runs are stored .*run the same") as e:
        sweep(out, chunk_runs=1000)                # nothing flushed before the interrupt
    runs, _ = load(out)
    assert 0 < len(runs) <= 3 * TASK_RUNS           # the three finished tasks were written
    assert str(e.value).startswith(f"interrupted: {len(runs)} of 45")
    assert Store(out).lock().unlock() is None       # the lock was released
    monkeypatch.setattr(X, "run_task", real)
    same_tables(sweep(out), reference)


# -- damaged files -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def stored_template(tmp_path_factory):
    out = tmp_path_factory.mktemp("stored") / "out"
    sweep(out)
    return out


@pytest.fixture
def stored(stored_template, tmp_path):
    """A complete results folder (a copy: each test may damage its own)."""
    import shutil

    return Path(shutil.copytree(stored_template, tmp_path / "out"))


def _part(out, kind, i=1):
    return sorted((out / kind).glob("part-*.parquet"))[i]


def _snapshot(out, skip=()):
    return {f: f.read_bytes() for f in out.rglob("*.parquet") if f not in skip}


@pytest.mark.parametrize("kind, damage", [("runs", "truncate"), ("traces", "truncate"),
                                          ("runs", "flip"), ("traces", "flip")])
def test_corrupted_part_named_then_set_aside_and_recomputed(stored, reference, kind, damage,
                                                            capsys):
    bad = _part(stored, kind)
    data = bytearray(bad.read_bytes())
    if damage == "truncate":
        bad.write_bytes(bytes(data[: len(data) // 2]))
    else:  # flip bits inside the first data page (checksummed)
        for j in range(8, 40):
            data[j] ^= 0xFF
        bad.write_bytes(bytes(data))
    others = _snapshot(stored, skip={bad})
    with pytest.raises(OptbenchInputError) as e:
        load(stored)
    msg = str(e.value)
    assert "corrupted results file" in msg and str(bad) in msg and "\n" not in msg
    assert _snapshot(stored, skip={bad}) == others            # nothing else touched
    res = sweep(stored)                                       # resume repairs
    err = capsys.readouterr().err
    assert f"corrupted results file {bad}" in err and "quarantine" in err
    assert (stored / "quarantine" / kind / bad.name).exists()
    other = "traces" if kind == "runs" else "runs"
    assert (stored / "quarantine" / other / bad.name).exists()  # its partner part as well
    no_duplicates(stored)
    same_tables(res, reference)


def test_corrupted_meta_json_is_named_and_nothing_else_is_touched(stored):
    meta = stored / "meta.json"
    meta.write_text(meta.read_text()[:37])
    parts = _snapshot(stored)
    for call in (lambda: load(stored), lambda: sweep(stored)):
        with pytest.raises(OptbenchInputError, match="meta.json is corrupted") as e:
            call()
        assert str(meta) in str(e.value)
    assert _snapshot(stored) == parts
    meta.unlink()                       # the message's advice: delete it, re-run
    assert len(sweep(stored)[0]) == N_RUNS and _snapshot(stored) == parts


def test_part_from_a_newer_schema_is_refused_by_name(stored):
    f = _part(stored, "runs", 0)
    t = pq.read_table(f)
    t = t.replace_schema_metadata({**t.schema.metadata,
                                   b"optbench_schema": str(ob.SCHEMA_VERSION + 1).encode()})
    pq.write_table(t, f)
    for call in (lambda: load(stored), lambda: sweep(stored)):
        with pytest.raises(OptbenchInputError, match="upgrade optbench") as e:
            call()
        assert str(f) in str(e.value)


# -- writers and paths -------------------------------------------------------------------
def test_second_writer_is_locked_out_with_a_clear_message(stored, reference, suite_file):
    holder = Store(stored).lock()
    try:
        with pytest.raises(OptbenchInputError, match="being written by another sweep") as e:
            sweep(stored, retry_errors=True)
        assert f"pid {os.getpid()}" in str(e.value)
        r = subprocess.run([sys.executable, "-m", "optbench.cli", "run", str(suite_file), "--out",
                            str(stored), "--no-progress"], capture_output=True, text=True,
                           timeout=300, env=_child_env())
        assert r.returncode == 2 and "being written by another sweep" in r.stderr
    finally:
        holder.unlock()
    no_duplicates(stored)
    same_tables(sweep(stored), reference)          # free again once the holder is gone


def test_output_path_that_is_not_writable(tmp_path):
    f = tmp_path / "somefile"
    f.write_text("a file, not a folder")
    with pytest.raises(OptbenchInputError, match="cannot create results folder") as e:
        sweep(f / "out")
    assert str(f / "out") in str(e.value)
    from optbench.cli import main

    assert main(["run", "smoke", "--out", str(f / "out"), "--no-progress"]) == 2


def test_retry_errors_reruns_only_error_rows(stored, reference):
    runs, _ = load(stored)
    victim = runs.run_id.iloc[3]
    with Store(stored) as s:                       # a stored error row (e.g. a dead worker)
        from optbench.runner.executors import error_tables
        from optbench.runner.suites import suite_specs

        spec = next(x for x in suite_specs(SUITE) if x.run_id == victim)
        s.append(*error_tables([spec], "worker died"))
    assert load(stored)[0].set_index("run_id").status[victim] == "error"
    n_parts = len(part_ids(stored))
    sweep(stored)                                  # a plain resume keeps it
    assert len(part_ids(stored)) == n_parts
    res = sweep(stored, retry_errors=True, task_runs=TASK_RUNS)
    assert res[0].set_index("run_id").status[victim] != "error"
