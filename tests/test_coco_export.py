"""``optbench export coco``: bbob runs in COCO's data format, read back by COCO's cocopp.

A small bbob sweep (f1 sphere and f8 Rosenbrock, 2-D and 3-D, instances 1-3, two random
starts each; gd and adam at two learning rates) is stored, exported, loaded with cocopp's own
reader, and cocopp's aRT is compared with optbench's for every (function, dimension, target
of COCO's ladder). Second-order costs are checked on those runs relabelled as a second-order
method with fractional gradient-equivalent costs (a real second-order sweep on bbob compiles
for a minute). cocopp also runs as a program on an export. Skipped with a reason where
cocopp is not installed (the ``coco`` extra; CI installs it)."""
import json
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

import optbench as ob
from optbench.analysis import metrics as M
from optbench.analysis.coco_export import export_coco, folder_name
from optbench.record.store import Store
from optbench.record.targets import COCO_LADDER
from optbench.validate import OptbenchInputError

with warnings.catch_warnings():   # cocopp looks for its online archives on import
    warnings.simplefilter("ignore")
    cocopp = pytest.importorskip("cocopp", reason="cocopp not installed (pip install "
                                 "optbench[coco])")
    from cocopp import pproc

# cocopp's bbob targets (testbedsettings: 10 ** np.arange(2, -8.2, -0.2)); its rows are
# 10 ** (i / 5), which lie up to 4e-15 above optbench's 10 ** linspace(2, -8, 51), so cocopp
# is queried with its own values, the same ladder to 1e-14
COCOPP_TARGETS = 10 ** np.arange(2, -8.2, -0.2)

SUITE = {
    "name": "bbob-export", "steps": 300, "seeds": 2, "targets": "coco", "stop": "target",
    "problems": [{"problem": "bbob", "function": [1, 8], "instance": [1, 2, 3], "dim": [2, 3],
                  "start": "random"}],
    "optimizers": [{"optimizer": "gd", "lr": 0.01}, {"optimizer": "adam", "lr": [0.01, 0.1]}],
}
FIRST_ORDER = ("gd", "adam_lr0.01", "adam_lr0.1")


def cli(*args, cwd=None, module="optbench.cli", timeout=300):
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True,
                          text=True, cwd=cwd, timeout=timeout)


def load(folder):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {(ds.funcId, ds.dim): ds for ds in pproc.DataSetList(str(folder))}


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    d = tmp_path_factory.mktemp("coco")
    runs, traces = ob.run_suite(SUITE, d / "results", executor="serial", progress=False)
    r = cli("export", "coco", str(d / "results"), str(d / "out"))
    assert r.returncode == 0, r.stderr
    return d, runs, traces, r


def by_function_dim(runs):
    spec = [json.loads(s) for s in runs["problem_params"]]
    return runs.assign(instance=[f"f{p['function']} {p['dim']}D" for p in spec])


def test_the_sweep_covers_what_the_export_must_handle(sweep):
    _, runs, _, r = sweep
    assert len(runs) == 2 * 2 * 3 * 2 * 3
    assert (runs["status"] == "diverged").any()          # gd on f8 blows up: a trial too
    assert {"converged", "budget"} <= set(runs["status"])
    assert sorted(p.name for p in (sweep[0] / "out").iterdir()) == sorted(FIRST_ORDER)
    assert "python -m cocopp" in r.stdout


def test_cocopp_art_equals_optbench_art_for_every_function_dimension_and_target(sweep):
    d, runs, _, _ = sweep
    assert np.allclose(COCOPP_TARGETS, COCO_LADDER, rtol=1e-14, atol=0)
    art = M.art(M.runtimes(by_function_dim(runs), "ladder"), measure="evals", n_boot=0)
    art["algorithm"] = art["solver"].map(folder_name)
    compared = 0
    for alg in FIRST_ORDER:
        sets = load(d / "out" / alg)
        assert sorted(sets) == [(1, 2), (1, 3), (8, 2), (8, 3)]
        for (fn, dim), ds in sets.items():
            assert sorted(ds.instancenumbers) == [1, 1, 2, 2, 3, 3]
            ours = art[(art["algorithm"] == alg) & (art["instance"] == f"f{fn} {dim}D")]
            ours = ours.sort_values("target", ascending=False)["aRT"].to_numpy()
            theirs = np.asarray(ds.detERT(list(COCOPP_TARGETS)), float)
            assert ours.size == theirs.size == 51
            assert np.array_equal(np.isinf(ours), np.isinf(theirs)), (alg, fn, dim)
            fin = np.isfinite(ours)
            np.testing.assert_allclose(theirs[fin], ours[fin], rtol=1e-12)
            compared += fin.sum()
    assert compared > 200     # most targets were met by someone: a real comparison


def test_second_order_methods_count_gradient_equivalents(sweep, tmp_path):
    """A second-order method's cost is its gradient-equivalents (HVPs, Hessians and values
    counted): the adam runs relabelled as one, at 1.5 gradient-equivalents per gradient."""
    _, runs, _, _ = sweep
    so = runs[runs["optimizer"] == "adam"].copy()
    so["optimizer"], so["optimizer_params"], so["kind"] = "newton", '{"optimizer":"newton"}', \
        "second_order"
    so["hit_grad_equiv"] = [1.5 * np.asarray(h, float) for h in so["hit_ngev"]]
    so["grad_equiv"] = 1.5 * so["ngev"]
    assert (np.round(so["grad_equiv"]) != so["grad_equiv"]).any()    # fractional costs too
    res = export_coco(so, tmp_path)
    assert list(res["measure"]) == ["grad_equiv"]
    sets = load(tmp_path / "newton")
    for (fn, dim), ds in sets.items():
        g = so[[(json.loads(s)["function"], json.loads(s)["dim"]) == (fn, dim)
                for s in so["problem_params"]]]
        cost = np.stack(g["hit_grad_equiv"].to_numpy())             # runs × 51
        succ = np.isfinite(cost).sum(axis=0)
        total = np.where(np.isfinite(cost), cost, g["grad_equiv"].to_numpy()[:, None]).sum(0)
        want = np.where(succ > 0, total / np.maximum(succ, 1), np.inf)
        got = np.asarray(ds.detERT(list(COCOPP_TARGETS)), float)
        assert np.array_equal(np.isinf(got), np.isinf(want))
        np.testing.assert_allclose(got[np.isfinite(want)], want[np.isfinite(want)], rtol=1e-12)
    res = export_coco(so, tmp_path, measure="ngev")                   # gradients only
    assert list(res["measure"]) == ["ngev"]
    ds = load(tmp_path / "newton")[(1, 2)]
    g = so[so["problem_params"].str.contains('"function":1') & (so["dim"] == 2)]
    assert sorted(ds.maxevals) == sorted(g["ngev"].astype(float))


def test_final_lines_carry_the_budget_and_the_final_best(sweep):
    d, runs, _, _ = sweep
    ds = load(d / "out" / "gd")[(8, 3)]
    g = runs[(runs["optimizer"] == "gd") & runs["problem_params"].str.contains('"function":8')
             & runs["problem_params"].str.contains('"dim":3')]
    g = g.assign(i=[json.loads(s)["instance"] for s in g["problem_params"]])
    g = g.sort_values(["i", "seed"])
    assert list(ds.maxevals) == [float(v) for v in g["ngev"]]
    np.testing.assert_allclose(ds.finalfunvals, g["best_f"] - g["f_star"], rtol=1e-9)
    info = (d / "out" / "gd" / "bbobexp_f8.info").read_text()
    assert "DIM = 3" in info and "algId = 'gd'" in info


@pytest.mark.slow
def test_python_m_cocopp_runs_on_the_export(sweep, tmp_path):
    d = sweep[0]
    r = cli(str(d / "out" / "adam_lr0.1"), cwd=tmp_path, module="cocopp", timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    out = tmp_path / "ppdata"
    assert (out / "index.html").is_file() and (out / "cocopp_commands.tex").is_file()
    (alg,) = [p for p in out.iterdir() if p.is_dir()]
    assert alg.name.startswith("adam_lr0.1")
    assert (alg / "index1.html").is_file() and (alg / "pptable.html").is_file()
    assert {p.name for p in alg.glob("pptable_f*_*D.tex")} == {
        "pptable_f001_02D.tex", "pptable_f001_03D.tex", "pptable_f008_02D.tex",
        "pptable_f008_03D.tex"}


def test_error_rows_are_left_out_and_counted_other_problems_skipped(sweep, tmp_path):
    _, runs, traces, _ = sweep
    gd = runs[runs["optimizer"] == "gd"].reset_index(drop=True)
    err = gd.iloc[[0]].copy()
    err["status"], err["message"], err["run_id"] = "error", "boom", "e" * 16
    err["f0"] = err["best_f"] = np.nan
    err["ngev"], err["grad_equiv"] = 0, 0.0
    err["hit_ngev"] = err["hit_grad_equiv"] = [[np.nan] * 51]
    other = gd.iloc[[1]].copy()
    other["problem"] = "rosenbrock"
    res = export_coco(pd.concat([gd, err, other], ignore_index=True), tmp_path, traces=traces)
    (row,) = res.itertuples()
    assert (row.errors_left_out, row.error_message, row.trials) == (1, "boom", len(gd))
    assert res.attrs["skipped_runs"] == 1 and res.attrs["skipped_problems"] == ["rosenbrock"]
    p = json.loads(gd.iloc[0]["problem_params"])
    info = (tmp_path / "gd" / f"bbobexp_f{p['function']}.info").read_text()
    assert "1 error rows (nothing evaluated) left out" in info
    assert sum(len(ds.instancenumbers) for ds in load(tmp_path / "gd").values()) == len(gd)


def test_algorithm_choice_replacing_an_export_and_refusals(sweep, tmp_path):
    _, runs, _, _ = sweep
    res = export_coco(runs, tmp_path, algorithm="adam(lr=0.1)")
    assert list(res["algorithm"]) == ["adam_lr0.1"]
    res = export_coco(runs, tmp_path, algorithm=["adam_lr0.1"], measure="ngev")  # replaced
    assert [p.name for p in tmp_path.iterdir()] == ["adam_lr0.1"]
    with pytest.raises(OptbenchInputError, match="no algorithm 'sgd'.*adam_lr0.01"):
        export_coco(runs, tmp_path, algorithm="sgd")
    with pytest.raises(OptbenchInputError, match="measure must be one of"):
        export_coco(runs, tmp_path, measure="steps")
    (tmp_path / "gd").mkdir()
    (tmp_path / "gd" / "mine.txt").write_text("keep me")
    with pytest.raises(OptbenchInputError, match="not written by 'optbench export coco'"):
        export_coco(runs, tmp_path, algorithm="gd")
    assert (tmp_path / "gd" / "mine.txt").read_text() == "keep me"
    short = runs.head(2).copy()
    short["targets"] = [[1.0, 0.1]] * 2
    with pytest.raises(OptbenchInputError, match="COCO's target ladder"):
        export_coco(short, tmp_path / "x")


def test_cli_refusals_are_one_line_and_exit_2(sweep, tmp_path):
    d = sweep[0]
    plain = tmp_path / "plain"
    runs, traces = ob.sweep([ob.problem("rosenbrock", dim=2)], [ob.optimizer("gd", lr=1e-3)],
                            steps=20)
    Store(plain).append(runs, traces)
    cases = {
        "missing": (str(tmp_path / "nowhere"), "not an optbench results folder"),
        "no bbob": (str(plain), "no runs on bbob problems to export (1 runs on rosenbrock)"),
        "measure": (str(d / "results"), "measure must be one of evals, grad_equiv, ngev"),
        "algorithm": (str(d / "results"), "no algorithm 'lbfgs'"),
    }
    for case, (results, message) in cases.items():
        extra = {"measure": ["--measure", "steps"], "algorithm": ["--algorithm", "lbfgs"]}
        r = cli("export", "coco", results, str(tmp_path / "out"), *extra.get(case, []))
        assert r.returncode == 2, (case, r.stderr)
        assert r.stderr.count("optbench: error:") == 1 and message in r.stderr, (case, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1, (case, r.stderr)
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_bbob_page_draws_both_ecdfs_and_the_art_tables(sweep, tmp_path):
    """python -m optbench.plots.bbob_page: optbench's ECDF and cocopp's per dimension, and
    aRT tables whose cells are optbench's aRT / d with the successes."""
    from optbench.analysis import metrics as M
    from optbench.plots import bbob_page as BP

    d, runs, _, _ = sweep
    readme = BP.page(d / "results", tmp_path / "page", cocopp=True)
    text = readme.read_text()
    for dim in (2, 3):
        assert f"figures/ecdf-{dim:02d}D.svg" in text
        assert f"cocopp/pprldmany_{dim:02d}D_noiselessall.svg" in text
        assert (tmp_path / "page" / "cocopp" / f"pprldmany_{dim:02d}D_noiselessall.svg").stat().st_size
    table = BP.art_table(BP._with_coco_columns(runs), 3, 1e-3)
    assert list(table["function"]) == ["f1 Sphere", "f8 Rosenbrock original"]
    R = runs[[json.loads(s)["dim"] == 3 and json.loads(s)["function"] == 1
              for s in runs["problem_params"]]]
    rt = M.runtimes(R, [1e-3]).assign(instance="f1")   # COCO's aRT: over the instances
    a = M.art(rt, n_boot=0)
    cell = table.loc[0, "gd"]
    (row,) = a[a["solver"] == "gd"].itertuples()
    want = "∞" if not np.isfinite(row.aRT) else f"{row.aRT / 3:.3g}"
    assert cell == f"{want} ({int(row.successes)}/{int(row.runs)})"
