"""The leaderboard (issue: modern catalogue and leaderboard): its suite names every
first-order optimizer; its tables are byte-identical across executors; it resumes."""
import subprocess
import sys

import pandas as pd
import pytest

from optbench import leaderboard as LB
from optbench.runner.suites import load_suite


def test_the_suite_runs_every_first_order_optimizer_on_the_same_grid():
    s = load_suite("leaderboard")
    names = [o["optimizer"] for o in s["optimizers"]]
    assert sorted(names) == sorted(LB.first_order()), "add new optimizers to leaderboard.toml"
    grids = {tuple(o["lr"]) for o in s["optimizers"]}
    assert len(grids) == 1 and len(next(iter(grids))) >= 7
    assert s["incompatible"] == "skip"


@pytest.fixture(scope="module")
def boards(tmp_path_factory):
    root = tmp_path_factory.mktemp("lb")
    a = LB.run(root / "a", quick=True, executor="serial", progress=False)
    b = LB.run(root / "b", quick=True, executor="processes", workers=2, progress=False)
    again = LB.run(root / "a", quick=True, executor="serial", progress=False)
    return a, b, again


def test_tables_are_byte_identical_across_executors(boards):
    a, b, _ = boards
    files = sorted(p.relative_to(a["board"]) for p in a["paths"]
                   if p.suffix in (".csv", ".md"))
    assert {str(f) for f in files} >= {"overall.csv", "art.csv", "success.csv", "lr.csv",
                                       "leaderboard.md"}
    for f in files:
        assert (a["board"] / f).read_bytes() == (b["board"] / f).read_bytes(), f


def test_tables_say_what_ran_and_resume(boards):
    a, _, again = boards
    overall = pd.read_csv(a["board"] / "overall.csv")
    assert list(overall["optimizer"]) and set(overall["optimizer"]) == set(LB.QUICK["optimizers"])
    assert overall["#"].tolist() == list(range(1, len(overall) + 1))
    assert overall["score"].is_monotonic_decreasing
    art = pd.read_csv(a["board"] / "art.csv")
    # Muon runs only where there are matrix blocks: n/a (NaN) on the quadratics
    q = art[art["instance"].str.startswith("quadratic")]
    assert q["muon"].isna().all() and q["adam"].notna().all()
    page = (a["board"] / "leaderboard.md").read_text()
    assert "![ecdf](figures/ecdf.png)" in page and "sensitivity-adam" in page
    assert "| n/a |" in page
    for p in a["paths"]:
        assert p.exists() and p.stat().st_size > 0
    # the second call found every run stored: the same counts, nothing recomputed
    assert again["tune_runs"] == a["tune_runs"] and again["seed_runs"] == a["seed_runs"]
    assert (again["board"] / "overall.csv").read_bytes() == (a["board"] / "overall.csv").read_bytes()


def test_cli_quick_leaderboard_rejects_bad_seeds(tmp_path):
    r = subprocess.run([sys.executable, "-m", "optbench.cli", "leaderboard", "--quick",
                        "--seeds", "0", "--out", str(tmp_path / "x"), "--no-progress",
                        "--executor", "serial"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 2 and "seeds" in r.stderr and r.stderr.count("\n") == 1
