"""``optbench compare``: syntax of --problems / --lr, bad input (one line, exit 2), and one
small comparison end to end (the lr protocol's pick, the re-run, the table, the winner, the
figures, resuming)."""
import json

import numpy as np
import pytest

import optbench as ob
from optbench import compare as C
from optbench.analysis import lr_protocol as LP
from optbench.cli import main
from optbench.record.store import Store


def test_parse_problems_and_lr():
    assert C.parse_problems("rosenbrock:dim=10,quadratic:cond=1e4,dim=20,booth") == [
        {"problem": "rosenbrock", "dim": 10},
        {"problem": "quadratic", "cond": 1e4, "dim": 20}, {"problem": "booth"}]
    assert C.parse_problems("quadratic:spectrum=uniform")[0]["spectrum"] == "uniform"
    lrs = C.parse_lr("1e-4:1e-1:4")
    assert lrs == pytest.approx([1e-4, 1e-3, 1e-2, 1e-1])
    assert C.parse_lr("0.03") == [0.03]


@pytest.mark.parametrize("argv,msg", [
    (["adma", "--problems", "booth"], "unknown optimizer 'adma'"),
    (["adam", "--problems", "rosenbrok"],
     "unknown problem 'rosenbrok' (did you mean 'rosenbrock'?); valid:"),
    (["adam", "--problems", "rosenbrock:dim"], "'dim' is not key=value"),
    (["adam", "--problems", ",booth"], "empty entry"),
    (["adam", "--problems", "booth", "--lr", "1e-3:1e-1"], "--lr must be LO:HI:N"),
    (["adam", "--problems", "booth", "--lr", "1e-1:1e-3:4"], "--lr must be LO:HI:N"),
    (["adam", "--problems", "booth", "--lr", "fast"], "--lr must be LO:HI:N"),
    (["adam", "--problems", "rosenbrock:dim=0"], "rosenbrock.dim must be >= 2"),
    (["adam", "adam", "--problems", "booth"], "named twice"),
    (["adam", "--problems", "booth", "--seeds", "0"], "--seeds"),
])
def test_bad_input_one_line_exit_2(argv, msg, capsys, tmp_path):
    assert main(["compare", *argv, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert msg in err and "\n" not in err
    assert not (tmp_path / "o").exists()


def test_compare_end_to_end(tmp_path, capsys):
    out = tmp_path / "cmp"
    argv = ["compare", "adam", "sgd", "--problems", "quadratic:dim=4,cond=10,booth",
            "--lr", "1e-2:1e-1:2", "--seeds", "2", "--steps", "150", "--out", str(out),
            "--serial", "--no-progress"]
    assert main([*argv, "--plot"]) == 0
    text = capsys.readouterr().out
    assert "winner" in text and "steps 0.001" in text and "evals 0.001" in text
    tune, _ = Store(out / "tune", create=False).load("runs")
    assert len(tune) == 2 * 2 * 2                       # problems × optimizers × lr, 1 seed
    seeds, _ = Store(out / "seeds", create=False).load("runs")
    assert len(seeds) == 2 * 2 * 2 and set(seeds["seed"]) == {0, 1}
    # every re-run uses the lr that the protocol picked on the grid for its problem
    best = LP.best_settings(tune, "steps", target=1e-3)
    want = {(p, o): lr for p, o, lr in zip(best["instance"], best["optimizer"], best["lr"])}
    T = C.summary(seeds)
    assert {(p, o): lr for p, o, lr in zip(T["problem"], T["optimizer"], T["lr"])} == want
    # one winner per problem: the fewest median steps to 1e-3 (ties: final f)
    for _, g in T.groupby("problem"):
        w = g[g["winner"] != ""]
        assert len(w) == 1
        assert w["steps 0.001"].iloc[0] == g["steps 0.001"].min()
    # the table's numbers are those of the plain API run
    r = T.iloc[0]
    spec = seeds[(seeds["optimizer"] == r["optimizer"]) & (seeds["seed"] == 0)
                 & (seeds["problem"] == r["problem"])].iloc[0]
    pp, op = json.loads(spec["problem_params"]), json.loads(spec["optimizer_params"])
    res = ob.run(ob.problem(pp.pop("problem"), **pp), ob.optimizer(op.pop("optimizer"), **op),
                 steps=150, seed=0)
    assert res.nit == spec["nit"] and np.isclose(res.fun, spec["fun"], rtol=1e-12)
    assert (out / "report" / "index.html").exists()
    assert any((out / "report").rglob("*.png")) or any((out / "report").rglob("*.svg"))
    # same command again: everything is stored, same table
    assert main(argv) == 0
    assert capsys.readouterr().out.splitlines()[:5] == text.splitlines()[:5]


def test_compare_a_plugin_optimizer(tmp_path, capsys):
    pytest.importorskip("optbench.plugins")
    from optbench import scaffold
    mod, _ = scaffold.write("optimizer", "cmp-heavy-ball", tmp_path)
    out = tmp_path / "cmp"
    argv = ["compare", "cmp-heavy-ball", "gd", "--problems", "quadratic:dim=4,cond=10",
            "--lr", "0.05:0.2:2", "--seeds", "2", "--steps", "100", "--out", str(out),
            "--serial", "--no-progress", "--plugin", str(mod)]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "cmp-heavy-ball" in text and "gd" in text
    seeds, _ = Store(out / "seeds", create=False).load("runs")
    assert set(seeds["optimizer"]) == {"cmp-heavy-ball", "gd"} and len(seeds) == 4
    assert set(seeds["status"]) <= {"converged", "budget"}
