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
    stored = _stored_files(root / "a")
    # the same results folder again, now writing the docs page: only the report is computed
    again = LB.run(root / "a", quick=True, executor="serial", progress=False,
                   docs=root / "docs")
    again["stored_before"], again["stored_after"] = stored, _stored_files(root / "a")
    return a, b, again


def _stored_files(out):
    return {str(p.relative_to(out)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(out.glob("*/runs/*")) + sorted(out.glob("*/traces/*"))}


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
    # the second call found every run stored: the same counts, nothing recomputed or rewritten
    assert again["tune_runs"] == a["tune_runs"] and again["seed_runs"] == a["seed_runs"]
    assert again["stored_before"] and again["stored_after"] == again["stored_before"]
    assert (again["board"] / "overall.csv").read_bytes() == (a["board"] / "overall.csv").read_bytes()


def test_cli_quick_leaderboard_rejects_bad_seeds(tmp_path):
    r = subprocess.run([sys.executable, "-m", "optbench.cli", "leaderboard", "--quick",
                        "--seeds", "0", "--out", str(tmp_path / "x"), "--no-progress",
                        "--executor", "serial"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 2 and "seeds" in r.stderr and r.stderr.count("\n") == 1


def test_docs_page_is_light_and_links_its_tables_and_figures(boards):
    import re

    from PIL import Image

    a, _, docs = boards
    folder = docs["board"]
    assert docs["page"] == folder / "README.md"
    files = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert files == {p.relative_to(folder).as_posix() for p in docs["paths"]}
    assert files >= {"README.md", "overall.csv", "art.csv", "art.md", "success.csv",
                     "success.md", "lr.csv", "lr.md", "figures/ecdf.png",
                     "figures/profile.png", "figures/sensitivity.png"}
    assert not [f for f in files if f.endswith((".pdf", ".svg"))]   # PNG only, one grid
    assert not [f for f in files if "sensitivity-" in f]
    for name in ("overall", "art", "success", "lr"):    # the tables of the full report
        assert (folder / f"{name}.csv").read_bytes() == (a["board"] / f"{name}.csv").read_bytes()
    readme = (folder / "README.md").read_text()
    full = (a["board"] / "leaderboard.md").read_text()   # the full report's overall table
    overall = full[full.index("| # | optimizer"):].split("\n\n")[0]
    assert overall.count("\n") == 1 + len(LB.QUICK["optimizers"]) and overall in readme
    assert f"optbench leaderboard --quick --docs {folder.as_posix()}" in readme
    for page in ("README.md", "art.md", "success.md", "lr.md"):
        links = re.findall(r"\]\(([^)]+)\)", (folder / page).read_text())
        assert links and all((folder / link).is_file() for link in links), page
    assert set(re.findall(r"!\[[^]]*\]\(([^)]+)\)", readme)) == {
        "figures/ecdf.png", "figures/profile.png", "figures/sensitivity.png"}
    for f in ("ecdf", "profile", "sensitivity"):
        with Image.open(folder / "figures" / f"{f}.png") as im:
            assert im.mode == "P" and im.size[0] <= 1600, (f, im.mode, im.size)
    assert sum((folder / f).stat().st_size for f in files) < 600_000


def test_sensitivity_grid_of_many_optimizers_stays_small(tmp_path):
    """The docs page's one sensitivity figure at the full leaderboard's scale (38 optimizers,
    20 instances, 9 learning rates; valley-shaped curves like the real ones): one panel each,
    a palette PNG of at most 500 KB (matplotlib's RGBA PNG at 300 dpi: several MB)."""
    import numpy as np
    from PIL import Image

    from optbench.plots import leaderboard as PL
    from optbench.plots import style as S

    rng = np.random.default_rng(0)
    opts = [f"opt-{k:02d}" for k in range(38)]
    insts = [f"instance-{k:02d}" for k in range(20)]
    x = np.log10([1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0])
    rows = []
    for o in opts:
        for i in insts:
            centre, depth, width = rng.uniform(-4, 0), rng.uniform(1, 15), rng.uniform(0.5, 3)
            y = 10.0 ** np.minimum(-depth + depth / 4 * ((x - centre) / width) ** 2, 1.0)
            y[rng.random(x.size) < 0.03] = np.inf           # a few diverged runs
            rows += [{"optimizer": o, "instance": i, "lr": 10.0 ** a, "median": b}
                     for a, b in zip(x, y)]
    fig = PL.sensitivity_grid(pd.DataFrame(rows), opts, insts)
    assert [ax.get_title() for ax in fig.axes if ax.get_visible()] == opts
    (png,) = S.save(fig, tmp_path / "sensitivity", ("png",), dpi=PL.DOCS_DPI)
    PL.light_png(png)
    with Image.open(png) as im:
        assert im.mode == "P" and im.size[0] <= 1600
    assert png.stat().st_size < 500_000


def test_the_page_names_each_departure_from_the_defaults():
    """The page says which hyperparameters besides the lr the suite sets (read from the runs):
    weight decay off for AdamW, MARS with optimize_1d, nothing for Adam."""
    import json

    import pandas as pd

    import optbench as ob
    from optbench.leaderboard_page import departures

    def row(name, **kw):
        return {"optimizer": name,
                "optimizer_params": json.dumps({**ob.optimizer(name, **kw).spec, "lr": 0.1})}

    tune = pd.DataFrame([row("adam"), row("adamw", weight_decay=0.0),
                         row("mars", optimize_1d=True)])
    assert departures(tune) == ["`adamw` (weight_decay = 0.0)", "`mars` (optimize_1d = true)"]
