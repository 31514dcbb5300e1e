"""The command line and the results store, run as a user would (subprocesses)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import optbench as ob
from optbench.record.store import Store, load

TINY = """
name = "tiny"
steps = 300
seeds = 2
[[problems]]
problem = "rosenbrock"
[[problems]]
problem = "quadratic"
dim = [3, 4]
[[optimizers]]
optimizer = "adam"
lr = [1e-2, 1e-1]
[[optimizers]]
optimizer = "gd"
lr = 3.0
"""


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "optbench.cli", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=300)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("suite")
    (d / "tiny.toml").write_text(TINY)
    out = d / "out"
    r = cli("run", str(d / "tiny.toml"), "--out", str(out), "--no-progress")
    assert r.returncode == 0, r.stderr
    return d, out, r


def test_run_writes_tables_and_meta(tiny):
    d, out, r = tiny
    runs, traces = load(out)
    assert len(runs) == 3 * 3 * 2        # 3 problems × (2 adam lrs + 1 gd) × 2 seeds
    assert set(runs.status) <= {"converged", "budget", "diverged"}
    assert (runs[runs.optimizer == "gd"].status == "diverged").all()   # lr = 3 explodes: rows kept
    assert set(traces.run_id) == set(runs.run_id)
    meta = json.loads((out / "meta.json").read_text())
    assert meta["schema_version"] == ob.SCHEMA_VERSION
    for key in ("python", "numba", "numpy", "cpu", "cores", "timestamp"):
        assert key in meta["environment"]
    assert "rosenbrock" in r.stdout and "18 runs" in r.stdout


def test_rerun_skips_stored_runs(tiny):
    d, out, _ = tiny
    before = sorted(p.name for p in (out / "runs").iterdir())
    r = cli("run", str(d / "tiny.toml"), "--out", str(out), "--no-progress")
    assert r.returncode == 0
    assert sorted(p.name for p in (out / "runs").iterdir()) == before
    # more seeds: only the new runs are computed, into new chunks (the old ones untouched)
    r = cli("run", str(d / "tiny.toml"), "--out", str(out), "--seeds", "3", "--no-progress")
    assert r.returncode == 0
    runs, _ = load(out)
    new = [p for p in (out / "runs").iterdir() if p.name not in before]
    assert len(runs) == 27 and set(before) <= {p.name for p in (out / "runs").iterdir()}
    assert sum(len(pd.read_parquet(p, columns=["run_id"])) for p in new) == 27 - 18


def test_show(tiny):
    _, out, _ = tiny
    r = cli("show", str(out))
    assert r.returncode == 0 and "adam" in r.stdout and "quadratic" in r.stdout


@pytest.mark.parametrize("args, text", [
    (("run", "no-such-suite"), "unknown suite 'no-such-suite'"),
    (("run", "smoke", "--steps", "0"), "--steps must be >= 1"),
    (("run", "smoke", "--seeds", "-2"), "--seeds must be >= 1"),
    (("list", "problemz"), "invalid choice"),
    (("show", "/nonexistent/folder"), "not an optbench results folder"),
])
def test_cli_bad_input_exit_2(args, text):
    r = cli(*args)
    assert r.returncode == 2, r.stderr
    assert text in r.stderr
    assert "Traceback" not in r.stderr


def test_cli_bad_suite_files(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("steps = [1,\n")
    r = cli("run", str(bad))
    assert r.returncode == 2 and "malformed suite file" in r.stderr
    bad.write_text('[[problems]]\nproblem="rosenbrock"\n[[optimizers]]\noptimizer="adma"\n')
    r = cli("run", str(bad), "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "unknown optimizer 'adma'" in r.stderr
    bad.write_text('[[problems]]\nproblem="rosenbrock"\n[[optimizers]]\noptimizer="adam"\nlr=-1\n')
    r = cli("run", str(bad), "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "adam.lr" in r.stderr
    r = cli("run", str(tmp_path / "missing.toml"))
    assert r.returncode == 2 and "cannot read suite file" in r.stderr


def test_list_commands():
    for what, word in (("problems", "rosenbrock"), ("optimizers", "adamw"), ("suites", "smoke"),
                       ("schedules", "cosine")):
        r = cli("list", what)
        assert r.returncode == 0 and word in r.stdout


def test_store_refuses_newer_schema_and_corrupted_files(tmp_path):
    runs, traces = ob.sweep("rosenbrock", "adam", steps=50)
    s = Store(tmp_path / "r")
    s.append(runs, traces)
    s.write_meta()
    assert len(load(tmp_path / "r")[0]) == 1
    meta = json.loads((tmp_path / "r" / "meta.json").read_text())
    meta["schema_version"] = ob.SCHEMA_VERSION + 1
    (tmp_path / "r" / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ob.OptbenchInputError, match="upgrade optbench"):
        load(tmp_path / "r")
    meta["schema_version"] = ob.SCHEMA_VERSION
    (tmp_path / "r" / "meta.json").write_text(json.dumps(meta))
    part = next((tmp_path / "r" / "runs").iterdir())
    part.write_bytes(part.read_bytes()[: 100])
    with pytest.raises(ob.OptbenchInputError, match="corrupted results file"):
        load(tmp_path / "r")


def test_second_process_starts_warm(tmp_path):
    """After one process compiled the kernels, a new process loads every one from the cache."""
    code = (
        "import optbench as ob\n"
        "from optbench.runner import loop as L\n"
        "r = ob.run('rosenbrock', ob.optimizer('adam', lr=1e-2), steps=100)\n"
        "p = ob.problem('rosenbrock'); fg, val, _ = p.cpu_kernels()\n"
        "u = ob.optimizer('adam').cpu_update()\n"
        "d = [L.batch_serial, fg, val, u]\n"
        "print(sum(sum(x.stats.cache_misses.values()) for x in d),"
        " sum(sum(x.stats.cache_hits.values()) for x in d))\n")
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    first = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           timeout=300, env=env)
    assert first.returncode == 0, first.stderr
    assert int(first.stdout.split()[0]) >= 4           # a cold cache really compiles
    second = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=300, env=env)
    misses, hits = map(int, second.stdout.split())
    assert misses == 0 and hits >= 4
