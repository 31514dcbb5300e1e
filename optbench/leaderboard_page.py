"""The leaderboard's docs page (``optbench leaderboard --docs DIR``, committed as
``docs/leaderboard``): light enough to keep in the repository.

Writes into ``DIR``

* ``README.md``: what ran (instances, optimizers, grid, steps, seeds, run counts, read off
  the runs themselves), the overall table, the fastest optimizer per instance, the figures,
  links to the per-instance tables and the command that regenerates the page;
* the tables of :func:`optbench.leaderboard.tables` as CSV (``overall``, ``art``,
  ``success``, ``lr``) and, for the three per-instance ones, as Markdown pages;
* ``figures/``: PNG only, at :data:`optbench.plots.leaderboard.DOCS_DPI` on a 128-colour
  palette — the runtime ECDF, the performance profile and one sensitivity grid (a panel
  per optimizer, in the order of the overall table) instead of a PNG and PDF per optimizer
  (the publication figures stay in ``OUT/board`` of a run without ``--docs``).

Nothing on the page depends on timing or the machine: the Markdown and CSV files are
byte-identical across runs and executors, the PNGs too with the same matplotlib and Pillow.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def per_instance(target: float) -> dict[str, str]:
    return {"art": f"aRT to f − f* ≤ {target:g} (gradient evaluations)",
            "success": f"seeds that reached f − f* ≤ {target:g}",
            "lr": "tuned learning rates"}


def write(tune: pd.DataFrame, final: pd.DataFrame, folder, *, seeds: int,
          command: str, tabs: dict, target: float, table_md, overall_note: str) -> list[Path]:
    """Write the page (module docstring) into ``folder``; ``command``: the line that
    regenerates it, shown on the page; ``tabs``, ``target``, ``table_md`` and ``overall_note``:
    :mod:`optbench.leaderboard`'s tables, target, Markdown formatter and overall-table note
    (passed in, so that this module does not import it back). Returns the files written."""
    from optbench.plots import leaderboard as PL

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, df in tabs.items():
        p = folder / f"{name}.csv"
        df.to_csv(p, index=False, float_format="%.17g", lineterminator="\n")
        written.append(p)
    for name, title in per_instance(target).items():
        p = folder / f"{name}.md"
        p.write_text(_table_page(name, title, tabs[name], seeds, table_md))
        written.append(p)
    order = tabs["overall"]["optimizer"].tolist()
    figs = PL.docs_figures(tune, final, folder / "figures", order, target=target)
    written += figs
    readme = folder / "README.md"
    readme.write_text(_readme(tabs, figs, folder, tune, final, seeds, command, target,
                              table_md, overall_note))
    return written + [readme]


def _table_page(name: str, title: str, df: pd.DataFrame, seeds: int, table_md) -> str:
    notes = {"art": "All evaluations of all seeds / seeds that reached the target (COCO's "
                    "aRT). ∞: no seed reached it; n/a: the optimizer does not run on that "
                    "instance.",
             "success": f"Of {seeds} seeds; n/a: the optimizer does not run on that instance.",
             "lr": "The learning rate of the grid picked per (instance, optimizer) by the "
                   "tuning runs (fewest steps to the target; ties and misses: lower final f, "
                   "then the smaller lr) and used by the re-runs."}
    return "\n".join([f"# Leaderboard: {title}", "", notes[name], "",
                      f"Also as [{name}.csv]({name}.csv); back to the [leaderboard](README.md).",
                      "", table_md(df, name), ""])


def fastest(tabs: dict) -> pd.DataFrame:
    """Per instance: the smallest aRT, the optimizers that reach it, and how many
    optimizers reach the target at all (any seed)."""
    art = tabs["art"].set_index("instance")
    rows = []
    for inst, r in art.iterrows():
        v = r.to_numpy(float)
        ok = np.isfinite(v)
        if not ok.any():
            rows.append({"instance": inst, "aRT": "∞", "fastest": "—",
                         "reached by": f"0 of {int(r.notna().sum())}"})
            continue
        best = np.nanmin(np.where(ok, v, np.nan))
        names = [str(c) for c, x in zip(art.columns, v) if np.isfinite(x) and x == best]
        rows.append({"instance": inst, "aRT": f"{best:.0f}", "fastest": ", ".join(names),
                     "reached by": f"{int(ok.sum())} of {int(r.notna().sum())}"})
    return pd.DataFrame(rows, columns=["instance", "aRT", "fastest", "reached by"])


def departures(tune: pd.DataFrame) -> list[str]:
    """Per optimizer, the hyperparameters besides the learning rate that the suite sets away
    from the family's defaults (read from the runs themselves), as ``name (k = v, …)``."""
    import json

    import optbench as ob

    out = []
    for name, params in sorted(tune.groupby("optimizer")["optimizer_params"].first().items()):
        given = json.loads(params)
        try:
            default = ob.optimizer(name).spec
        except Exception:  # noqa: BLE001 - a plugin not loaded here: nothing to compare
            continue
        diff = [f"{k} = {json.dumps(v)}" for k, v in sorted(given.items())
                if k not in ("lr", "optimizer") and default.get(k) != v]
        if diff:
            out.append(f"`{name}` ({', '.join(diff)})")
    return out


def _readme(tabs, figs, folder: Path, tune, final, seeds: int, command: str,
            target: float, table_md, overall_note: str) -> str:
    from optbench.analysis.export import to_markdown

    rel = {p.stem: p.relative_to(folder).as_posix() for p in figs}
    overall = tabs["overall"]
    insts = tabs["art"]["instance"].tolist()
    opts = sorted(overall["optimizer"])
    grid = ", ".join(f"{v:g}" for v in sorted(tune["lr"].astype(float).unique()))
    steps = ", ".join(f"{int(s):,}" for s in sorted(tune["budget"].unique()))
    dtype = ", ".join(sorted(tune["dtype"].astype(str).unique()))
    refused = int(tabs["art"].set_index("instance").isna().to_numpy().sum())
    lines = [
        "# optbench leaderboard", "",
        f"{len(opts)} first-order optimizers of optbench, each tuned on one learning-rate "
        f"grid and re-run with {seeds} seeds on {len(insts)} instances of the zoo. Written "
        "by `optbench leaderboard --docs` (do not edit by hand: regenerate it, see the last "
        "section).", "",
        "## What ran", "",
        "- **Suite** `leaderboard` (`optbench/suites/leaderboard.toml`; protocol in "
        f"`optbench/leaderboard.py`): {steps} steps per run, {dtype}, random starts where "
        "the problem has them, COCO's 51 targets f − f* ≤ 10² … 10⁻⁸ (a run stops at the "
        "last one).",
        f"- **Instances** ({len(insts)}): " + ", ".join(f"`{i}`" for i in insts) + ".",
        f"- **Optimizers** ({len(opts)}, each with its defaults but the learning rate"
        + (", except " + "; ".join(dep) + ", set in the suite file, which says why"
           if (dep := departures(tune)) else "") + "): "
        + ", ".join(f"`{o}`" for o in opts) + ".",
        f"- **Tuning**: every optimizer on every instance at each lr of the grid {grid}, one "
        f"seed: {len(tune):,} runs ({refused} (instance, optimizer) pairs the optimizer "
        "refuses are left out, shown as n/a). Per (instance, optimizer) the lr with the "
        f"fewest steps to f − f* ≤ {target:g} is picked (ties and misses: lower final f, "
        "then the smaller lr).",
        f"- **Re-runs**: each pick with seeds 0 … {seeds - 1}: {len(final):,} runs; every "
        "table and figure but the sensitivity grid is computed from them.", "",
        "## Overall", "", overall_note, "",
        table_md(overall, "overall"), "",
        f"Also as [overall.csv](overall.csv). Per instance: [aRT](art.md) ([csv](art.csv)), "
        f"[seeds that reached {target:g}](success.md) ([csv](success.csv)), "
        "[tuned learning rates](lr.md) ([csv](lr.csv)).", "",
        "![runtime ECDF](" + rel["ecdf"] + ")", "",
        "Runtime ECDF: the fraction of (instance, target) pairs reached against gradient "
        "evaluations, over the instances with a known f* and the 51 targets.", "",
        "![performance profile](" + rel["profile"] + ")", "",
        f"Performance profile at {target:g}: the fraction of instances on which an "
        "optimizer's aRT is within a factor τ of the best; the legend gives the score.", "",
        f"## Fastest per instance (aRT to {target:g})", "",
        "`reached by`: optimizers with at least one seed at the target, of those that run on "
        "the instance.", "", to_markdown(fastest(tabs)).rstrip("\n"), "",
        "## Sensitivity to the learning rate", "",
        "Per optimizer (panels in the order of the overall table), the median final "
        "(f − f*)/(f₀ − f*) of the tuning runs against the learning rate, one line per "
        "instance with a known f* (× on the top edge: diverged). A flat panel tolerates any lr "
        "of the grid; a narrow valley needs tuning.", "",
        "![sensitivity to the learning rate](" + rel["sensitivity"] + ")", "",
        "## Regenerate", "",
        "```", command, "```", "",
        "runs into `results/leaderboard` (`--out DIR` elsewhere) and writes this folder. Both "
        "stages resume: runs already stored in the results folder are skipped, so with the "
        "runs in place only the report is computed. A results folder written with another "
        "suite (before an optimizer joined it, say) is refused with one line: give a new "
        "`--out`. Without `--docs` the page goes to `OUT/board/leaderboard.md`, with a PNG and "
        "a PDF per figure and per optimizer (publication quality).", ""]
    return "\n".join(lines)
