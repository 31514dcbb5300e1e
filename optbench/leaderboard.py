"""``optbench leaderboard``: every first-order optimizer, tuned and re-run on a fixed set of zoo
instances, summarised in byte-reproducible tables and figures.

Protocol (the learning-rate protocol of :mod:`optbench.analysis.lr_protocol`):

1. **Tune** — the built-in suite ``leaderboard`` (``optbench/suites/leaderboard.toml``): each
   optimizer on every instance with each learning rate of one fixed grid (1e−4 … 1, two per
   decade), one seed, 2,000 steps, random starts, into ``OUT/tune`` (resumable like
   ``optbench run``; pairs an optimizer refuses, e.g. Muon without matrix blocks, are left out
   and shown as "n/a").
2. **Pick** — per (instance, optimizer) the learning rate with the fewest steps to
   f − f* ≤ 1e−3 (ties and misses: lower final f, then the smaller lr).
3. **Re-run** — each pick with 10 seeds into ``OUT/seeds`` (resumable).
4. **Report** — into ``OUT/board`` (``--docs DIR``: the light docs page of
   :mod:`optbench.leaderboard_page` instead): ``leaderboard.md`` with the tables
   (``overall``: per optimizer the share of (instance, target) pairs solved, the
   performance-profile score at 1e−3 and its median aRT rank; ``art``: aRT to 1e−3 in gradient
   evaluations per instance; ``success``: seeds that reached 1e−3; ``lr``: the tuned learning
   rates), each also as CSV; figures: the runtime ECDF over the COCO ladder, the performance
   profile at 1e−3, and per optimizer its sensitivity curves (median final (f − f*)/(f₀ − f*)
   against the learning rate, one line per instance).

The tables contain no timing and are sorted, so they are byte-identical across runs,
executors and machines with the same floating-point results (tests/test_leaderboard.py
checks serial against processes). ``optbench asv-record OUT/seeds --name leaderboard`` puts
the per-(instance, optimizer) convergence figures into the asv history.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

SUITE = "leaderboard"
TARGET = 1e-3
SEEDS = 10
OVERALL_NOTE = (
    "`solved`: share of (instance, seed, target) triples reached by the re-runs over the "
    "instances with a known f* and the 51 COCO targets 10² … 10⁻⁸ (an instance the "
    "optimizer does not run on counts as unsolved, here and in the score); `score`: the "
    f"performance-profile score ∫₁⁴ ρ(τ)dτ / 3 at {TARGET:g} with aRT as the cost; `median "
    "rank`: the median over the instances of the optimizer's aRT rank (1 = fastest); "
    "`instances`: where it runs (Muon needs matrix blocks).")
QUICK = {"problems": 1, "optimizers": ("adam", "muon"), "lrs": (1e-2, 1e-1),
         "steps": 200, "seeds": 2}


def first_order() -> list[str]:
    """Every first-order family of the zoo (torch.optim's and the modern ones)."""
    from optbench.optimizers import REGISTRY
    from optbench.optimizers.groups import grouped_listing

    g = grouped_listing()
    return [r["optimizer"] for k in ("torch.optim", "modern") for r in g.get(k, [])
            if REGISTRY[r["optimizer"]].kind == "first_order"]


def suite(quick: bool = False) -> dict:
    """The tuning suite (``quick``: a few instances and optimizers, a short grid — a check of
    the machinery, not a leaderboard)."""
    from optbench.runner.suites import load_suite

    s = load_suite(SUITE)
    if not quick:
        return s
    s = {**s, "name": f"{SUITE}-quick", "steps": QUICK["steps"],
         "problems": s["problems"][:QUICK["problems"]] + [{"problem": "linear-net",
                                                             "in_dim": 4, "hidden": 3,
                                                             "out_dim": 4}],
         "optimizers": [{"optimizer": o, "lr": list(QUICK["lrs"])} for o in QUICK["optimizers"]]}
    return s


def run(out=None, *, quick: bool = False, docs=None, executor=None, workers=None,
        progress: bool = True, seeds: int | None = None) -> dict:
    """Tune, pick, re-run and report (module docstring). Returns the paths written, the
    counts and the wall time of each stage."""
    from optbench.analysis import lr_protocol as LP
    from optbench.compare import _rerun
    from optbench.runner.suites import run_suite
    from optbench.validate import number

    s = suite(quick)
    seeds = QUICK["seeds"] if quick and seeds is None else (SEEDS if seeds is None else seeds)
    seeds = number("--seeds", seeds, lo=1, integer=True)
    out = Path(out) if out is not None else Path("results") / s["name"]
    t0 = time.perf_counter()
    tune, _ = run_suite(s, out / "tune", executor=executor, workers=workers,
                        progress=progress, load="runs")
    t1 = time.perf_counter()
    best = LP.best_settings(tune, "steps", target=TARGET)
    final = _rerun(best, tune, seeds, out / "seeds", s)
    t2 = time.perf_counter()
    if docs is None:
        board = out / "board"
        paths = report(tune, final, board, seeds=seeds)
        page = board / "leaderboard.md"
    else:
        from optbench import leaderboard_page

        board = Path(docs)
        paths = leaderboard_page.write(tune, final, board, seeds=seeds,
                                       tabs=tables(tune, final, seeds), target=TARGET,
                                       table_md=to_markdown, overall_note=OVERALL_NOTE,
                                       command=command(docs=docs, quick=quick, seeds=seeds))
        page = board / "README.md"
    t3 = time.perf_counter()
    return {"out": out, "board": board, "page": page, "paths": paths, "tune_runs": len(tune),
            "seed_runs": len(final), "tune_s": t1 - t0, "rerun_s": t2 - t1,
            "report_s": t3 - t2}


def command(*, docs=None, quick: bool = False, seeds: int = SEEDS) -> str:
    """The ``optbench leaderboard`` line with these options (the docs page shows it)."""
    parts = ["optbench leaderboard"] + (["--quick"] if quick else [])
    if seeds != (QUICK["seeds"] if quick else SEEDS):
        parts.append(f"--seeds {seeds}")
    if docs is not None:
        parts.append(f"--docs {Path(docs).as_posix()}")
    return " ".join(parts)


# ---------------------------------------------------------------- tables
def _label(runs: pd.DataFrame) -> pd.DataFrame:
    from optbench.analysis.labels import with_labels

    R = with_labels(runs, "optimizer")
    return R.drop(columns=["solver"]).assign(solver=R["optimizer"])


def tables(tune: pd.DataFrame, final: pd.DataFrame, seeds: int) -> dict[str, pd.DataFrame]:
    """The leaderboard's tables (see the module docstring), deterministic in content and
    order."""
    from optbench.analysis import metrics as M

    R = _label(final)
    T = _label(tune)
    insts = sorted(T["instance"].unique())
    opts = sorted(T["solver"].unique())
    rt = M.runtimes(R.drop(columns=["solver"]), "ladder", solver="optimizer")
    costs = M.cost_matrix(rt, TARGET).reindex(index=insts, columns=opts)
    ran = R.groupby(["instance", "solver"]).size().unstack("solver").reindex(
        index=insts, columns=opts)
    art = costs.where(ran.notna())            # NaN: the optimizer refuses the instance
    hits = rt[np.isclose(rt["target"], TARGET)].groupby(["instance", "solver"])["hit"].sum()
    success = hits.unstack("solver").reindex(index=insts, columns=opts)
    defined = M._defined(rt)   # the instances with a known f*; n/a counts as unsolved
    n_pairs = defined["instance"].nunique() * seeds * max(defined["target"].nunique(), 1)
    solved = (defined.groupby("solver")["hit"].sum().reindex(opts).fillna(0) / n_pairs)
    score = M.profile_score(costs.fillna(np.inf))
    ranks = costs.rank(axis=1, method="min").where(ran.notna()).median(axis=0)
    lr = R.groupby(["instance", "solver"])["lr"].first().unstack("solver").reindex(
        index=insts, columns=opts)
    overall = pd.DataFrame({
        "optimizer": opts,
        "solved": [float(solved[o]) for o in opts],
        "score": [float(score[o]) for o in opts],
        "median rank": [float(ranks[o]) for o in opts],
        "instances": [int(ran[o].notna().sum()) for o in opts]})
    overall = overall.sort_values(["score", "solved", "optimizer"],
                                  ascending=[False, False, True], kind="stable")
    overall.insert(0, "#", range(1, len(overall) + 1))
    return {"overall": overall.reset_index(drop=True),
            "art": art.rename_axis("instance").reset_index(),
            "success": success.rename_axis("instance").reset_index(),
            "lr": lr.rename_axis("instance").reset_index()}


def _fmt(v, kind: str) -> str:
    if isinstance(v, str):
        return v
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "n/a"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if np.isinf(v):
        return "∞"
    if kind == "art":
        return f"{v:.0f}"
    if kind == "success":
        return f"{int(v)}"
    if kind == "lr":
        return f"{v:g}"
    return f"{v:.3f}"


def to_markdown(df: pd.DataFrame, kind: str) -> str:
    """The project's Markdown table (:func:`optbench.analysis.export.to_markdown`) of the
    cells written by :func:`_fmt` (n/a, ∞ and each table's number format)."""
    from optbench.analysis.export import to_markdown as md

    return md(df.astype(object).map(lambda v: _fmt(v, kind))).rstrip("\n")


# ---------------------------------------------------------------- report
def report(tune: pd.DataFrame, final: pd.DataFrame, folder, *, seeds: int) -> list[Path]:
    """Write the tables (Markdown and CSV), the figures and ``leaderboard.md`` into
    ``folder``; returns the files written."""
    from optbench.plots import leaderboard as PL

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tabs = tables(tune, final, seeds)
    written = []
    for name, df in tabs.items():
        p = folder / f"{name}.csv"
        df.to_csv(p, index=False, float_format="%.17g", lineterminator="\n")
        written.append(p)
    figs = PL.figures(tune, final, folder / "figures", target=TARGET)
    written += figs
    page = folder / "leaderboard.md"
    page.write_text(_page(tabs, figs, folder, tune, final, seeds))
    written.append(page)
    return written


def _page(tabs, figs, folder: Path, tune, final, seeds: int) -> str:
    n_inst = len(tabs["art"])
    n_opt = len(tabs["overall"])
    pngs = sorted(p for p in figs if p.suffix == ".png")
    main = [p for p in pngs if p.stem in ("ecdf", "profile")]
    sens = [p for p in pngs if p.stem.startswith("sensitivity-")]
    rel = [str(p.relative_to(folder)) for p in main]
    lines = [
        "# optbench leaderboard", "",
        f"{n_opt} first-order optimizers on {n_inst} zoo instances: each tuned on a fixed "
        f"learning-rate grid ({len(tune):,} tuning runs, one seed), then its best learning "
        f"rate per instance re-run with {seeds} seeds ({len(final):,} runs). Best = fewest "
        f"steps to f − f* ≤ {TARGET:g} (ties and misses: lower final f). Written by "
        "`optbench leaderboard`; the protocol is in `optbench/leaderboard.py` and the "
        "instances and grid in `optbench/suites/leaderboard.toml`.", "",
        "## Overall", "", OVERALL_NOTE, "",
        to_markdown(tabs["overall"], "overall"), "",
    ]
    lines += [f"![{Path(r).stem}]({r})" for r in rel] + [""]
    lines += ["## aRT to f − f* ≤ " + f"{TARGET:g}" + " (gradient evaluations)", "",
              "∞: no seed reached it; n/a: the optimizer does not run on that instance.", "",
              to_markdown(tabs["art"], "art"), "",
              f"## Seeds that reached {TARGET:g} (of {seeds})", "",
              to_markdown(tabs["success"], "success"), "",
              "## Tuned learning rates", "", to_markdown(tabs["lr"], "lr"), "",
              "## Sensitivity to the learning rate", "",
              "Median final (f − f*)/(f₀ − f*) over the tuning runs against the learning rate, "
              "one line per instance (× on the top edge: diverged).", ""]
    lines += [f"![{p.stem}]({p.relative_to(folder)})" for p in sens]
    return "\n".join(lines) + "\n"


def summary_text(res: dict) -> str:
    o = pd.read_csv(Path(res["board"]) / "overall.csv")
    top = ", ".join(f"{r.optimizer} ({r.score:.2f})" for r in o.head(5).itertuples())
    return (f"tuning: {res['tune_runs']:,} runs in {res['tune_s']:.0f} s; re-runs: "
            f"{res['seed_runs']:,} runs in {res['rerun_s']:.0f} s; report "
            f"{res['report_s']:.0f} s\nbest by score: {top}\npage: "
            f"{res['page']}\nhistory: optbench asv-record "
            f"{Path(res['out']) / 'seeds'} --name leaderboard")

