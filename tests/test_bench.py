"""The one entry point of the speed measurements, ``python -m optbench.bench <what>``: every
command the docs show parses, bad sizes are one line and exit status 2, and a quick command
rewrites only its own section. The comparisons themselves: tests/test_peers.py."""
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from optbench.bench import zoo
from optbench.bench.__main__ import COMMANDS, build_parser, main

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", ROOT / "BENCHMARKS.md", *sorted((ROOT / "docs").glob("*.md"))]


def doc_commands() -> list[list[str]]:
    """Argument lists of every ``python -m optbench.bench ...`` the docs show (``a|b`` is one
    command each; ``<what>`` placeholders are skipped)."""
    out = []
    for doc in DOCS:
        for m in re.finditer(r"python -m optbench\.bench ([^`#\n]*)", doc.read_text()):
            args = shlex.split(m.group(1).replace("\\|", "|"))
            if not args or args[0].startswith("<"):
                continue
            out += [[what, *args[1:]] for what in args[0].split("|")]
    return out


def test_every_command_in_the_docs_parses():
    cmds = doc_commands()
    assert {c[0] for c in cmds} == set(COMMANDS)       # each command is documented
    parser = build_parser()
    for args in cmds:
        parser.parse_args(args)                         # SystemExit(2) on a stale command
    for doc in DOCS:                                    # the modules before one package
        text = doc.read_text()
        for old in ("optbench.bench_", "optbench/bench.py", "optbench/peers", "optbench.peers"):
            assert old not in text, (doc.name, old)


@pytest.mark.parametrize("args, message", [
    (["second-order", "--dim", "0"], "--dim must be at least 1, got 0"),
    (["mlp", "--widths", "16,x"], "--widths must be comma-separated integers"),
    (["sweep", "--quick", "--runs", "-5"], "--runs must be at least 1, got -5"),
    (["peers", "--only", "nope"], "unknown comparison 'nope'"),
    (["catalogue", "--only", "lion,nope"], "--only: unknown nope"),
])
def test_bad_input_is_one_line(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err


def test_quick_zoo_rewrites_only_its_section(tmp_path):
    out = tmp_path / "B.md"
    out.write_text(f"# Benchmarks\n\n## Engine (issue: core engine)\n\nkeep me\n\n{zoo.TITLE}\n\n"
                   "old figures\n")
    r = subprocess.run([sys.executable, "-m", "optbench.bench", "zoo", "--quick", "--write",
                        str(out)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    assert "keep me" in text and "old figures" not in text
    assert text.count(zoo.TITLE) == 1 and "| double well, d = 10,000, value + gradient |" in text


# ------------------------------------------------------------------ the modern catalogue's table
CATALOGUE_NAMES = ("lion", "adabelief", "yogi", "adan", "adopt", "ademamix", "madgrad",
                   "prodigy", "dadapt-adam", "lars", "novograd", "mars", "shampoo", "soap")
# adahessian's reference draws its own probes (torch's generator): its sweep side cannot end
# where optbench's runs end; its row is configured like the others (checked below)


def test_catalogue_members_are_configured():
    """Every catalogue optimizer has a row, registered in optbench with the row's
    hyperparameters, and its optax counterpart exists in the installed optax."""
    import optbench as ob
    from optbench.bench import catalogue as cat
    from optbench.bench.catalogue_sweep import resolve
    from optbench.optimizers import names

    assert set(CATALOGUE_NAMES) | {"adahessian"} <= set(cat.MEMBERS)
    registered = set(names())
    for name in (*CATALOGUE_NAMES, "adahessian"):
        member = cat.MEMBERS[name]
        assert name in registered
        ob.optimizer(name, **member.hyper)                  # the row's departures are valid
    pytest.importorskip("optax")
    for name, member in cat.MEMBERS.items():
        if member.optax:
            assert callable(resolve(member.optax[0])), name


@pytest.mark.parametrize("name", CATALOGUE_NAMES)
def test_reference_sweep_layout_steps_each_run_as_optbench(name):
    """The PyTorch side of the sweep (every run in one reference, in the member's layout)
    ends each run where optbench's single run ends: no statistic mixes runs, and the
    reference is configured as optbench's row (hyperparameters, LARS' matrix view)."""
    pytest.importorskip("torch")
    import numpy as np

    import optbench as ob
    from optbench.bench import catalogue as cat
    from optbench.bench.catalogue_sweep import torch_stepper

    member = cat.MEMBERS[name]
    pytest.importorskip(member.reference.rsplit(".", 1)[0])
    lr0 = ob.optimizer(name, **member.hyper).hyper["lr"]
    n_lr, per, steps = 2, 3, 25
    lr = np.repeat([0.5 * lr0, 2.0 * lr0], per)
    X = np.random.default_rng(5).uniform(-1.5, 1.5, (n_lr * per, 2))
    step, points = torch_stepper(member.make, X, lr, n_lr, member.layout, member.matrix_view,
                                 member.autograd)
    for _ in range(steps):
        step()
    got = points()
    prob = ob.problem("rosenbrock", dim=2)
    for i in range(len(X)):
        res = ob.run(prob, ob.optimizer(name, lr=float(lr[i]), **member.hyper), x0=X[i],
                     steps=steps, stop="budget", record="none")
        assert np.linalg.norm(res.x - X[i]) > 0, (name, i)            # it moved
        # soap: the reference's QR runs in float32 (equal to 1e-10 with a float64 QR in
        # tests/test_catalogue_matrix.py)
        rtol = 1e-4 if name == "soap" else 1e-9
        np.testing.assert_allclose(got[i], res.x, rtol=rtol, atol=1e-12, err_msg=name)


@pytest.mark.slow
def test_quick_catalogue_writes_rows_for_each_member(tmp_path, capsys):
    """``catalogue --quick --only lion,lars --write``: for a coordinate-wise member (lane /
    fused loops, batched reference) and a phased one (per-run reference, matrix view), every
    figure is a positive finite time or rate, optax ends where optbench ends (both are the same
    optimizer here), and the section is written once, the rest of the file kept."""
    import json
    import math

    from optbench.bench import catalogue as cat

    out = tmp_path / "B.md"
    out.write_text(f"# Benchmarks\n\n## Engine (issue: core engine)\n\nkeep me\n\n{cat.TITLE}\n\n"
                   "old figures\n")
    assert main(["catalogue", "--quick", "--only", "lion,lars", "--write", str(out)]) == 0
    rows, _ = json.JSONDecoder().raw_decode(capsys.readouterr().out)
    assert [r["optimizer"] for r in rows] == ["lion", "lars"]
    for r in rows:
        keys = ["ours_2d", "ref_2d", "ours_big", "ref_big", "ours_rate", "torch_rate"]
        if "optax_skipped" not in r:
            keys.append("optax_rate")
            assert r["optax_agreement"] < 1e-9, r
        for k in keys:
            assert math.isfinite(r[k]) and r[k] > 0, (r["optimizer"], k, r[k])
        assert r["early"] == 0 and r["torch_steps_timed"] >= 3
    assert rows[1]["ours_engine"] == "phased" and rows[1]["torch_layout"] == "per-run"
    text = out.read_text()
    assert "keep me" in text and "old figures" not in text and text.count(cat.TITLE) == 1
    for name in ("lion", "lars"):
        assert text.count(f"| `{name}` |") == 2, name            # per-step and sweep tables


def test_parts_measure_each_part():
    """The parts command's figures (small sizes): the uniform lane update of a coordinate-wise
    optimizer, each MLP product both ways, the gradient norm three ways, the minibatch order
    both ways, and the sweep's
    phases, each within the whole execute() that holds it; the trace columns both ways, and
    the sweep in fresh processes with either allocator setting."""
    import math

    from optbench.bench import parts

    assert 0 < parts.update("adam", 50) < math.inf
    pr = parts.products(24, 2e5)
    assert len(pr) == 2 * len(parts.PRODUCTS)
    assert all(0 < v < math.inf for v in pr.values())
    nm = parts.norm(d=300, calls=3)
    assert set(nm) == set(parts.NORMS) and all(0 < v < math.inf for v in nm.values())
    pm = parts.perm(200, 5)
    assert set(pm) == {"one at a time", "32 at once"}
    assert all(0 < v < math.inf for v in pm.values())
    ph = parts.phases(quick=True, calls=2)
    whole = ph.pop("whole execute() (ms)")
    assert set(ph) == {"grouping the specs (ms)", "the engine's compile (batch arrays, "
                       "warm-up) (ms)", "the driver's call (ms)", "the runs and traces tables (ms)",
                       "  of which the runs columns (ms)", "  of which the traces columns (ms)",
                       "  of which the two frames (ms)"}
    assert all(0 < v <= whole for v in ph.values())
    assert sum(ph[k] for k in ph if "of which" in k) <= ph["the runs and traces tables (ms)"]
    # the wrappers are gone afterwards
    from optbench.runner import execute as E
    from optbench.runner.engines import cpu as C
    assert "wrapper" not in (E.group_indices.__name__, C.BatchDriverEngine.run.__name__)
    tr = parts.traces(quick=True, repeats=2)
    assert set(tr) == {"compiled pass (ms)", "NumPy expressions (ms)"}
    assert all(0 < v < math.inf for v in tr.values())
    al = parts.allocator(quick=True, rounds=1, calls=2)
    assert set(al) == {"glibc defaults (ms)", "optbench's settings (ms)"}
    assert all(0 < v["best"] <= v["worst"] < math.inf for v in al.values())


GPU_JAX = r"""
import json
from optbench.bench.peers import gpu_jax as G
from optbench.bench.peers.common import Row
from optbench.bench.gpu import _contraction_md, _exact_md, _jax_md, contraction, exactness
rows = (G.sweep_rows(n_lr=2, n_seed=2, steps=30, repeats=1, big_seeds=3)
        + G.large_rows(dims=(64,), steps=3, repeats=1))
md = _jax_md([r.as_dict() for r in rows])
exact = exactness(names=("sgd", "adam"), steps=5)
con = contraction(300)
back = [Row.from_dict(r.as_dict()) for r in rows]
print("RESULT" + json.dumps({"rows": [r.as_dict() for r in rows], "md": md, "exact": exact,
                             "exact_md": _exact_md(exact), "con": con,
                             "con_md": _contraction_md(con),
                             "same": all(a.ours == b.ours and a.theirs == b.theirs
                                         and a.work == b.work for a, b in zip(rows, back))},
                            default=str))
"""


def test_gpu_rows_against_jax_on_the_simulator():
    """The rows of ``peers/gpu_jax.py`` (JAX + optax on the GPU against the CUDA path), run on
    the CUDA simulator with JAX on the CPU: both sides measured, end points compared; and
    ``bench.gpu.exactness``, which on the simulator (the CPU's arithmetic) finds every GPU run
    bit-identical to its CPU run, and ``bench.gpu.contraction``, whose x - a*b matches NumPy
    there either way."""
    pytest.importorskip("jax")
    pytest.importorskip("optax")
    import json
    import subprocess
    import sys

    import cuda_mode

    r = subprocess.run([sys.executable, "-c", GPU_JAX], capture_output=True, text=True,
                       env=cuda_mode.env(), timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    got = json.loads([ln for ln in r.stdout.splitlines() if ln.startswith("RESULT")][-1][6:])
    rows = got["rows"]
    assert [row["runs"] for row in rows[:2]] == [4, 6]
    for row in rows:
        assert row["ours"] > 0 and row["theirs"] > 0 and not row["skipped"], row
    assert "end points vs optbench" in rows[0]["note"] and "e-1" in rows[0]["note"]
    assert "differ by" in rows[2]["note"]
    assert got["same"] and got["md"].count("\n| ") == 1 + len(rows)
    ex = got["exact"]
    assert [(e["optimizer"], e["problem"]) for e in ex] == [
        (o, p) for o in ("sgd", "adam") for p in ("rosenbrock", "quadratic-1000")]
    assert all(e["x_equal"] and e["trace_equal"] and e["max_rel_dx"] == 0.0 for e in ex), ex
    assert got["exact_md"].count("\n| ") == 1 + len(ex)
    assert got["con"] == {"n": 300, "mismatches": {"default": 0, "exact": 0}}
    assert "on 300 elements" in got["con_md"] and "0 inside" in got["con_md"]


def test_fused_ab_times_both_drivers_on_the_same_bits():
    """``bench fused`` (small sizes): the lane driver with its fused first pass and the same
    driver with the lane forms' passes run the same sweep to the same bits, each timed."""
    import math

    from optbench.bench import lane_ab

    res = lane_ab.run(quick=True)
    (row,) = res["rows"]
    assert row["fused_used"] and not row["forced"] and row["same_bits"]
    assert 0 < row["fused_ns"] < math.inf and 0 < row["forms_ns"] < math.inf
    assert 0 < res["recording"]["none_ns"] < math.inf
    (l0,) = res["lane0"]
    assert l0["same_bits"] and 0 < l0["lane0_ns"] < math.inf and 0 < l0["copied_ns"] < math.inf
    (w,) = res["whole"]     # the whole step, with the lr shared, and the passes: same bits
    assert w["used"] and w["lr_used"] and w["same_bits"]
    assert all(0 < w[k] < math.inf for k in ("whole_ns", "whole_lr_ns", "passes_ns"))
    md = lane_ab.to_markdown(res)
    assert md.startswith(lane_ab.TITLE) and "| rosenbrock | 2 |" in md and "| adam |" in md
