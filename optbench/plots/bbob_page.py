"""A comparison page for runs on COCO's bbob functions, drawn twice: by optbench and by COCO.

    python -m optbench.plots.bbob_page RESULTS --out DIR [--no-cocopp]

Writes ``DIR/README.md`` with

* optbench's own figures (``DIR/figures``): per dimension, the runtime ECDF over every
  (function, instance) and the 51 targets f_opt + 10^(2 … −8), x = evaluations / d (COCO's
  axis; evaluations as in the runs table: gradients, or gradient-equivalents for second-order
  methods); and the aRT tables (aRT / d at Δf = 10⁻¹, 10⁻³, 10⁻⁸ per function, largest
  dimension) from :func:`optbench.analysis.metrics.art`;
* COCO's own (``DIR/cocopp``): the runs exported with :func:`optbench.analysis.coco_export.
  export_coco` (into a temporary folder) and post-processed by ``cocopp``; its ECDF over all
  functions per dimension (``pprldmany_<d>D_noiselessall.svg``) is copied next to optbench's.

Both ECDFs aggregate the same runs and the same targets; cocopp's aRT equals optbench's
(tests/test_coco_export.py). cocopp bootstraps the ECDF of unsuccessful trials (simulated
restarts) where optbench's ECDF counts each run once, so the two curves differ after the
largest budget. Cost: the figures O(runs × targets); cocopp about a minute.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from optbench.analysis.export import to_markdown
from optbench.validate import OptbenchInputError

from . import profiles as PR
from . import style as S

TABLE_TARGETS = (1e-1, 1e-3, 1e-8)


def _with_coco_columns(runs: pd.DataFrame) -> pd.DataFrame:
    import json

    bb = runs[runs["problem"].astype(str) == "bbob"].reset_index(drop=True)
    if bb.empty:
        raise OptbenchInputError("no runs on bbob problems in this results folder")
    spec = [json.loads(s) for s in bb["problem_params"]]
    return bb.assign(function=[int(p["function"]) for p in spec])   # (``dim``: a run column)


def art_table(runs: pd.DataFrame, dim: int, target: float) -> pd.DataFrame:
    """aRT / d to f_opt + target per function (rows) and algorithm (columns: optimizer
    settings, labelled as in every optbench figure) at ``dim``, with the successes:
    ``"12.3 (15/15)"``, ``"∞ (0/15)"``."""
    from optbench.analysis import metrics as M
    from optbench.problems.bbob import functions

    R = runs[runs["dim"] == dim]
    rt = M.runtimes(R, [target])      # COCO's aRT is per function, over its instances:
    rt["instance"] = rt["run_id"].map(dict(zip(R["run_id"], "f" + R["function"].astype(str))))
    a = M.art(rt, measure="evals", n_boot=0)
    names = {f"f{k}": f.name for k, f in functions().items()}
    rows = []
    for inst in sorted(a["instance"].unique(), key=lambda s: int(s[1:])):
        row = {"function": f"{inst} {names.get(inst, '')}"}
        for r in a[a["instance"] == inst].itertuples():
            v = "∞" if not np.isfinite(r.aRT) else f"{r.aRT / dim:.3g}"
            row[r.solver] = f"{v} ({int(r.successes)}/{int(r.runs)})"
        rows.append(row)
    return pd.DataFrame(rows)


def cocopp_figures(runs, traces, out: Path, dims) -> dict[int, Path]:
    """Export, run cocopp (in a temporary folder), copy its all-functions ECDF per dimension
    into ``out``; returns {dim: file}."""
    import subprocess

    from optbench.analysis.coco_export import export_coco

    out.mkdir(parents=True, exist_ok=True)
    got = {}
    with tempfile.TemporaryDirectory() as tmp:
        res = export_coco(runs, Path(tmp) / "data", traces=traces)
        cmd = [sys.executable, "-m", "cocopp", "-o", str(Path(tmp) / "pp"), *res["path"]]
        r = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp, timeout=3600)
        if r.returncode != 0:
            raise RuntimeError(f"cocopp failed: {r.stderr[-2000:]}")
        for d in dims:
            found = sorted((Path(tmp) / "pp").rglob(f"pprldmany_{d:02d}D_noiselessall.svg"))
            if found:
                got[d] = out / found[0].name
                shutil.copyfile(found[0], got[d])
    return got


def page(results, out, *, cocopp: bool = True) -> Path:
    """Write the page (module docstring) into ``out``; returns README.md's path."""
    from optbench.record.store import Store

    out = Path(out)
    runs, traces = Store(results, create=False).load()
    B = _with_coco_columns(runs)
    dims = sorted(B["dim"].unique())
    figdir = out / "figures"
    n_inst = B["problem_params"].str.extract(r'"instance":(\d+)')[0].nunique()
    lines = ["# optbench on COCO's bbob suite", "",
             f"Runs: `{Path(results).name}` — {len(B):,} runs of "
             f"{B['optimizer'].nunique()} optimizers on {B['function'].nunique()} bbob "
             f"functions, dimensions {', '.join(map(str, dims))}, {n_inst} instances per "
             "function. Written by `python -m optbench.plots.bbob_page`.", "",
             "## Runtime ECDFs: optbench (left) and cocopp (right)", "",
             "Fraction of (function, instance, target) triples reached against evaluations / d "
             "(targets f_opt + 10^(2 … −8), 51 per instance).", ""]
    theirs = cocopp_figures(runs, traces, out / "cocopp", dims) if cocopp else {}
    for d in dims:
        fig = PR.ecdf(B[B["dim"] == d], targets="ladder", per_dim=True, w="column",
                      title=f"bbob, {d}-D, all functions (optbench)")
        paths = S.save(fig, figdir / f"ecdf-{d:02d}D", ("png", "svg"))
        mine = [p for p in paths if p.suffix == ".svg"][0].relative_to(out)
        cell = f"![optbench ECDF {d}-D]({mine})"
        if d in theirs:
            cell += f" ![cocopp ECDF {d}-D]({theirs[d].relative_to(out)})"
        lines += [f"**{d}-D**", "", cell, ""]
    dmax = dims[-1]
    lines += [f"## aRT / d in {dmax}-D (successful trials / trials)", "",
              "aRT: all evaluations of all trials / successes (COCO's definition; equal to "
              "cocopp's on the export); ∞: no trial reached the target.", ""]
    for t in TABLE_TARGETS:
        lines += [f"**Δf = {t:g}**", "", to_markdown(art_table(B, dmax, t)).rstrip("\n"), ""]
    out.mkdir(parents=True, exist_ok=True)
    readme = out / "README.md"
    readme.write_text("\n".join(lines) + "\n")
    return readme


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m optbench.plots.bbob_page",
                                description=__doc__.split("\n")[0])
    p.add_argument("results")
    p.add_argument("--out", required=True)
    p.add_argument("--no-cocopp", action="store_true", help="optbench's figures only")
    a = p.parse_args(argv)
    try:
        print(page(a.results, a.out, cocopp=not a.no_cocopp))
    except OptbenchInputError as e:
        print(f"optbench: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
