"""The peer-comparison harness (python -m optbench.bench peers): rows, skipped peers, the
BENCHMARKS.md section it rewrites, and bad input. Small sizes: this checks the harness, the
figures themselves come from a full run (BENCHMARKS.md)."""
import json
import math
import subprocess
import sys

import pytest

from optbench.bench import peers
from optbench.bench.common import write_section
from optbench.bench.peers.common import Row, machine
from optbench.record.env import cpu_signature


def test_rows_speedup_and_goals():
    r = Row("w", "p", ours=1e-6, theirs=2e-3, goal=1000)
    assert r.speedup == pytest.approx(2000) and r.met is True
    assert Row("w", "p", ours=2e-6, theirs=1e-6, goal_max=2.0).met is True     # 2× its time
    assert Row("w", "p", ours=3e-6, theirs=1e-6, goal_max=2.0).met is False
    rate = Row("w", "p", ours=5e7, theirs=4e7, unit="/s", goal=1.0)
    assert rate.speedup == pytest.approx(1.25) and rate.met is True
    skipped = Row("w", "p", ours=1.0, theirs=None, goal=3.0, skipped="torch not installed")
    assert math.isnan(skipped.speedup) and skipped.met is None


def test_machine_names_the_cpu_family_and_model():
    """A VM's model name can be bare ("AMD EPYC"): the report's header adds the x86 family and
    model from /proc/cpuinfo, and AVX-512 when the flags list it."""
    import re
    from pathlib import Path

    info = Path("/proc/cpuinfo")
    text = info.read_text() if info.exists() else ""
    sig = cpu_signature()
    if "cpu family" not in text:
        assert sig == ""
        return
    fam = re.search(r"^cpu family\s*:\s*(\d+)", text, re.M).group(1)
    mod = re.search(r"^model\s*:\s*(\d+)", text, re.M).group(1)
    avx = "avx512f" in re.search(r"^flags\s*:(.*)$", text, re.M).group(1).split()
    assert sig == f"family {fam} model {mod}" + (", AVX-512" if avx else "")
    assert machine()["cpu"].endswith(f"({sig})")


def test_quick_run_compares_against_every_peer_and_reports_missing_ones(monkeypatch):
    """adam_small with torch importable measures both torch variants; with torch hidden the
    same rows are present and marked skipped (never dropped)."""
    rows = peers.run(["adam_small", "second_order"], quick=True, log=lambda m: None)
    by_peer = {r.peer: r for r in rows}
    assert {"hand-fused Numba loop", "Python loop over NumPy"} <= set(by_peer)
    for r in rows:
        assert r.ours and r.ours > 0
        if not r.skipped:
            assert r.theirs and r.theirs > 0
    assert "same end point: True" in by_peer["hand-fused Numba loop"].note
    so = [r for r in rows if r.work.startswith(("L-BFGS", "Newton-CG"))]
    assert len(so) == 2 and all(r.extra["nit_optbench"] > 0 for r in so if not r.skipped)
    monkeypatch.setitem(sys.modules, "torch", None)          # import torch -> ImportError
    rows = peers.run(["adam_small"], quick=True, log=lambda m: None)
    torch_rows = [r for r in rows if r.peer.startswith("torch")]
    assert len(torch_rows) == 2 and all(r.skipped == "torch not installed" for r in torch_rows)
    md = peers.to_markdown(rows, machine(), quick=True)
    assert md.startswith(peers.TITLE) and md.count("skipped: torch not installed") == 2


def test_section_rewrite_keeps_the_rest_of_the_file(tmp_path):
    f = tmp_path / "B.md"
    f.write_text("# Benchmarks\n\n## Engine\n\nold engine\n\n" + peers.TITLE +
                 "\n\nold peers\n\n## Notes\n\nkeep me\n")
    rows = [Row("w", "p", 1.0, 2.0, goal=1.5)]
    write_section(f, peers.TITLE, peers.to_markdown(rows, machine()))
    text = f.read_text()
    assert "old engine" in text and "keep me" in text and "old peers" not in text
    assert "| w | p | 1 s | 2 s | 2× faster | ≥ 1.5× faster | yes |" in text
    assert "AMD" in text or machine()["cpu"] in text


def test_cli_writes_json_and_rejects_unknown_comparisons(tmp_path):
    out = tmp_path / "rows.json"
    r = subprocess.run([sys.executable, "-m", "optbench.bench", "peers", "--quick", "--only",
                        "second_order", "--json", str(out)], capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr
    data = json.loads(out.read_text())
    assert data["machine"]["cores"] >= 1 and len(data["rows"]) == 2
    assert "| L-BFGS" in r.stdout
    r = subprocess.run([sys.executable, "-m", "optbench.bench", "peers", "--only", "nope"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert "unknown comparison 'nope'" in r.stderr and "adam_small" in r.stderr


def test_jax_peers_do_the_same_work_as_optbench():
    """The JAX + optax rows (MLP epoch, Adam at large d) end where optbench ends: the same
    network, weights, minibatch order and update (issue: sweeps and small nets vs JAX)."""
    pytest.importorskip("jax")
    pytest.importorskip("optax")
    import numpy as np

    import optbench as ob
    from optbench.bench import mlp as M
    from optbench.bench.peers import adam_large as A

    p = M.problem(16)
    ms, x, compile_s, threads = M.run_jax(p, p.x0(0), M.batches(1), repeats=1)
    assert ms > 0 and compile_s > 0 and threads > 0
    assert np.abs(x - M.run_optbench(p, 1)[1]).max() <= 1e-12
    q = ob.problem("quadratic", dim=4096, cond=1e3, start="random")
    r = ob.run(q, ob.optimizer("adam", lr=A.LR), steps=5, stop="budget", record="none")
    row = A._jax_row("w", r.wall_s / 5, q.x0(0), q.data[:4096].copy(), 5, 1, r.x)
    assert row.theirs > 0 and not row.skipped
    assert float(row.note.split("differ by ")[1].split(" ")[0]) <= 1e-12
