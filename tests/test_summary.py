"""The summary of ``optbench run`` / ``optbench show`` (optbench/analysis/results_summary.py):
instances, misses as ∞, best lr, column meanings, identical seeds, what is read, files
written."""
import json
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from optbench import cli
from optbench.analysis import results_summary as S
from optbench.record import store as store_mod
from optbench.record.store import Store

TARGET = "0.001"


def run_rows(problem="rosenbrock", dim=2, optimizer="adam", lr=0.1, seeds=(0, 1, 2),
             status="budget", best_f=1.0, steps=None, f0=10.0, f_star=0.0, start="standard",
             identical=False, **pparams):
    """Runs rows of one (instance, optimizer, lr): ``best_f``, ``steps``, ``status`` are one
    value or one per seed."""
    n = len(seeds)

    def per(v):
        return list(v) if isinstance(v, (list, tuple)) else [v] * n
    pp = json.dumps({"problem": problem, "dim": dim, "start": start, **pparams}, sort_keys=True)
    op = json.dumps({"optimizer": optimizer, "lr": lr}, sort_keys=True)
    best = per(best_f)
    jitter = [0.0] * n if identical else [1e-9 * (i + 1) for i in range(n)]
    return [{"run_id": f"{pp}|{op}|{s}", "problem": problem, "problem_params": pp, "dim": dim,
             "optimizer": optimizer, "optimizer_params": op, "lr": lr, "seed": s,
             "status": st, "nit": 100, "f0": f0 + j, "fun": b, "best_f": b,
             "f_star": np.nan if f_star is None else f_star, "wall_s": 1e-3,
             f"steps_{TARGET}": np.nan if h is None else float(h)}
            for s, st, b, h, j in zip(seeds, per(status), best, per(steps), jitter)]


def table(*groups):
    return S.summary_table(pd.DataFrame([r for g in groups for r in g]))


def test_instances_of_one_problem_are_separate_rows():
    t = table(run_rows(dim=2, best_f=[2e-4, 2.25e-4, 3e-4]),
              run_rows(dim=10, best_f=[1e-3, 2.027e-3, 3e-3]))
    assert list(t.index) == [("rosenbrock(dim=2)", "adam"), ("rosenbrock(dim=10)", "adam")]
    # the median of each instance's own seeds (one pooled row gave the mean of the two)
    assert t["median_best_f"].tolist() == [2.25e-4, 2.027e-3]
    assert t["runs"].tolist() == [3, 3]


def test_misses_count_as_infinity_in_median_steps():
    t = table(run_rows(best_f=[1e-4, 1e-4, 0.5], steps=[10, 20, None]))
    assert t[f"median_steps_to_{TARGET}"].iloc[0] == 20     # not 15: the miss is ∞
    t = table(run_rows(best_f=[1e-4, 0.5, 0.5], steps=[10, None, None]))
    assert math.isinf(t[f"median_steps_to_{TARGET}"].iloc[0])
    assert "miss" in S.to_text(t)


def test_status_counts_and_reached_columns_are_consistent():
    t = table(run_rows(lr=0.1, status=["converged", "budget", "budget"], best_f=[1e-9, 1e-4, 0.5],
                       steps=[5, 50, None]),
              run_rows(lr=1.0, status="diverged", best_f=-1.0, steps=3))
    r = t.iloc[0]
    assert r["runs"] == r["converged"] + r["budget"] + r["diverged"] + r["errors"] == 6
    assert (r["converged"], r["budget"], r["diverged"]) == (1, 2, 3)
    assert r[f"reached_{TARGET}"] == 2          # diverged runs are misses, whatever they hit
    assert "failed" not in t                    # shown only when a run has that status


def test_diverged_or_unbounded_lr_is_never_best():
    # the diverging lr has the lowest best f and steps to the target: still not best
    t = table(run_rows(lr=1.0, status="diverged", best_f=-8.8e307, steps=1),
              run_rows(lr=0.01, best_f=0.5))
    assert t["best_lr"].iloc[0] == 0.01 and t["median_best_f"].iloc[0] == 0.5
    # unbounded problem (no f*): a "budget" run that fell to -1e300 is not best either
    t = table(run_rows(problem="saddle", lr=1.0, best_f=-1e300, f_star=None, f0=1.0),
              run_rows(problem="saddle", lr=1e-3, best_f=-400.0, f_star=None, f0=1.0))
    r = t.iloc[0]
    assert r["best_lr"] == 1e-3 and r["median_best_f"] == -400.0
    assert pd.isna(r[f"reached_{TARGET}"]) and math.isnan(r[f"median_steps_to_{TARGET}"])
    assert "3 runs unbounded below" in r["note"] and "no f*" in r["note"]


def test_no_best_lr_when_every_setting_diverged():
    t = table(run_rows(lr=1000.0, status="diverged", best_f=10.0),
              run_rows(lr=100.0, status="diverged", best_f=10.0))
    r = t.iloc[0]
    assert math.isnan(r["best_lr"]) and math.isnan(r["median_best_f"])
    assert "every run diverged" in r["note"]
    shown = S.display(t).iloc[0]
    assert shown["best_lr"] == "none" and shown["median_best_f"] == "-"


def test_identical_seeds_are_flagged_and_warned():
    t = table(run_rows(identical=True), run_rows(problem="quadratic", identical=False))
    notes = dict(zip(t.index.get_level_values("instance"), t["note"]))
    assert "seeds identical" in notes["rosenbrock"] and "seeds identical" not in notes["quadratic"]
    (w,) = S.warnings_for(t)
    assert "rosenbrock" in w and "quadratic" not in w and 'start = "random"' in w


def test_columns_are_explained():
    t = table(run_rows())
    text = S.explain(1e-3)
    for col in t.reset_index().columns:
        assert col in text, col
    assert "converged" in S.to_text(t).split("\n\n")[1]      # the footer says what it means


def _folder(tmp_path, rows):
    runs = pd.DataFrame(rows)
    traces = pd.DataFrame({"run_id": runs["run_id"], "step": 0, "ngev": 1, "f": runs["f0"],
                           "best_f": runs["f0"], "grad_norm": 1.0, "dist_to_opt": 1.0,
                           "time_s": 0.0})
    st = Store(tmp_path / "res")
    st.append(runs, traces)
    st.write_meta()
    return tmp_path / "res"


def test_show_reads_no_traces_and_only_needed_columns(tmp_path, monkeypatch, capsys):
    res = _folder(tmp_path, run_rows(dim=2) + run_rows(dim=10))
    seen = []
    real = store_mod._read

    def spy(path, columns=None, **kw):
        seen.append((path.parent.name, None if columns is None else tuple(columns)))
        return real(path, columns=columns, **kw)
    monkeypatch.setattr(store_mod, "_read", spy)
    assert cli.main(["show", str(res)]) == 0
    assert seen and all(kind == "runs" for kind, _ in seen)
    assert all(cols is not None and set(cols) <= {"run_id", *S.needed_columns()}
               for _, cols in seen)
    assert "rosenbrock(dim=10)" in capsys.readouterr().out


def test_show_works_with_unreadable_traces(tmp_path, capsys):
    res = _folder(tmp_path, run_rows())
    part = next((res / "traces").iterdir())
    data = bytearray(part.read_bytes())
    data[4:len(data) // 2] = b"\0" * (len(data) // 2 - 4)   # pages gone, footer intact
    part.write_bytes(bytes(data))
    assert cli.main(["show", str(res)]) == 0
    assert "rosenbrock" in capsys.readouterr().out


def test_show_explain_write_and_bad_target(tmp_path, capsys):
    res = _folder(tmp_path, run_rows(dim=2) + run_rows(dim=3, lr=1.0, status="diverged"))
    assert cli.main(["show", str(res), "--explain", "--write"]) == 0
    out = capsys.readouterr().out
    assert "median_steps_to_0.001" in out and "best_lr  " in out
    csv = pd.read_csv(res / "summary.csv")
    assert list(csv["instance"]) == ["rosenbrock(dim=2)", "rosenbrock(dim=3)"]
    assert math.isnan(csv["best_lr"].iloc[1])
    md = (res / "summary.md").read_text()
    assert "| rosenbrock(dim=3) | adam |" in md and "no best lr" in md
    for bad in ("0", "-1", "nan"):
        assert cli.main(["show", str(res), "--target", bad]) == 2


TINY = """
name = "tiny-summary"
steps = 200
seeds = 2
[[problems]]
problem = "rosenbrock"
dim = [2, 3]
[[optimizers]]
optimizer = "adam"
lr = [1e-2, 1e-1]
"""


def test_run_writes_summary_and_a_rerun_says_nothing_ran(tmp_path):
    (tmp_path / "s.toml").write_text(TINY)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "optbench.cli", "run", str(tmp_path / "s.toml"), "--out",
           str(out), "--no-progress"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "rosenbrock(dim=2)" in r.stdout and "rosenbrock(dim=3)" in r.stdout
    assert "8 new runs" in r.stdout
    assert "seeds gave identical runs" in r.stderr          # standard start, deterministic
    csv = pd.read_csv(out / "summary.csv")
    assert len(csv) == 2 and (csv["runs"] == 4).all()
    assert (out / "summary.md").read_text().startswith("# Summary: tiny-summary")
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "0 new runs: all 8 runs" in r.stdout and "nothing ran" in r.stdout
