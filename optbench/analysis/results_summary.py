"""The summary of a results folder: one row per (problem instance, optimizer setting).

Printed at the end of ``optbench run`` and by ``optbench show``, written as ``summary.md``
and ``summary.csv`` into the results folder. :data:`EXPLAIN` says what each column means.

* An **instance** is a problem with its parameters (``rosenbrock(dim=2)`` and
  ``rosenbrock(dim=10)`` are two rows); a **setting** is an optimizer with every
  hyperparameter but ``lr`` (the learning rates of a row are its grid).
* **Misses count as ∞**: a run that diverged, ended in an error, went unbounded below or never
  reached the target has steps ∞; a median that is ∞ prints ``miss`` (empirical medians, no
  interpolation, as in :mod:`optbench.analysis.metrics`).
* The **best lr** has the fewest median steps to the target, then the lowest median best f;
  diverged, error and unbounded runs are ∞ in both, so such a setting never wins, and a row
  whose every learning rate fails on most seeds has no best lr (``none``).

Only the runs columns listed in :func:`needed_columns` are read (never the traces).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from optbench.analysis.labels import config_labels, instance_labels
from optbench.record.tables import target_label
from optbench.record.targets import TABLE_TARGETS
from optbench.validate import OptbenchInputError

FAILED = ("diverged", "error")
STATUSES = ("converged", "budget", "diverged", "failed", "error")
CATEGORIES = ("problem", "problem_params", "optimizer", "optimizer_params", "status")
BASE_COLUMNS = ("problem", "problem_params", "dim", "optimizer", "optimizer_params", "lr",
                "seed", "status", "nit", "f0", "fun", "best_f", "f_star", "wall_s")


def _is_table_target(target: float) -> bool:
    return any(math.isclose(target, t, rel_tol=1e-9) for t in TABLE_TARGETS)


def needed_columns(target: float = 1e-3) -> list[str]:
    """The runs columns the summary reads (a target off the table also needs the ladders)."""
    extra = ([f"steps_{target_label(target)}"] if _is_table_target(target)
             else ["targets", "hit_step"])
    return [*BASE_COLUMNS, *extra]


def read_runs(path, target: float = 1e-3) -> pd.DataFrame:
    """The runs of a results folder, only the columns the summary needs."""
    from optbench.record.store import Store

    runs, _ = Store(path, create=False).load("runs", columns=needed_columns(target),
                                             categories=CATEGORIES)
    if runs.empty:
        raise OptbenchInputError(f"{path} holds no runs")
    return runs


def check_target(target) -> float:
    if isinstance(target, bool) or not isinstance(target, (int, float)) \
            or not math.isfinite(target) or target <= 0:
        raise OptbenchInputError(f"--target must be a positive number, got {target!r}")
    return float(target)


def _steps(runs: pd.DataFrame, target: float) -> np.ndarray:
    """First step at which best f − f* ≤ target (NaN: not reached)."""
    col = f"steps_{target_label(target)}"
    if col in runs:
        return runs[col].to_numpy(float)
    out = np.full(len(runs), np.nan)
    for i, (lad, hit, st) in enumerate(zip(runs["targets"], runs["hit_step"], runs["status"])):
        lad = np.asarray(lad, float)
        j = np.nonzero(np.isclose(lad, target, rtol=1e-9, atol=0.0))[0] if lad.size else []
        if len(j):
            out[i] = float(hit[j[0]]) if hit[j[0]] >= 0 else np.nan
        elif st != "error":
            raise OptbenchInputError(
                f"target {target:g} is not on the runs' target ladder: use one of "
                + ", ".join(f"{t:g}" for t in TABLE_TARGETS) + " or a ladder value")
    return out


def _labelled(runs: pd.DataFrame, target: float) -> pd.DataFrame:
    """Runs with ``_instance``, ``_setting``, ``_unbounded``, ``_steps`` (∞ for a miss, NaN
    without f*) and ``_value`` (best f; ∞ for a diverged, error or unbounded run)."""
    R = pd.DataFrame({c: (runs[c].astype("category") if c in CATEGORIES else runs[c])
                      if c in runs else np.nan for c in BASE_COLUMNS}, index=runs.index)
    for key, name_col, fn, kw in (("_instance", "problem", instance_labels, {}),
                                  ("_setting", "optimizer", config_labels, {"exclude": ("lr",)})):
        par = f"{name_col}_params"   # labelled once per distinct value
        u = R[[name_col, par]].drop_duplicates().astype(str).reset_index(drop=True)
        lab = dict(zip(u[par], fn(u, **kw).astype(str)))
        R[key] = R[par].map(lab).astype(str).to_numpy()
    R["status"] = R["status"].astype(str)
    status = R["status"].to_numpy()
    f0, best = R["f0"].to_numpy(float), R["best_f"].to_numpy(float)
    fstar = R.groupby("_instance")["f_star"].transform("max").to_numpy(float)
    # unbounded below: non-finite, or fallen as far below f0 as a divergence rises above it
    ref = np.where(np.isfinite(fstar), fstar, 0.0)
    unbounded = (status != "error") & (~np.isfinite(best)
                                       | (best < f0 - 1e8 * (1 + np.abs(f0 - ref))))
    failed = np.isin(status, FAILED) | unbounded
    steps = _steps(runs, target)
    R["_unbounded"] = unbounded
    R["_steps"] = np.where(np.isfinite(fstar), np.where(failed | np.isnan(steps), np.inf, steps),
                           np.nan)
    R["_value"] = np.where(failed | np.isnan(best), np.inf, best)
    return R


def _median(a) -> float:
    a = np.asarray(a, float)
    a = a[~np.isnan(a)]
    return float(np.quantile(a, 0.5, method="inverted_cdf")) if a.size else np.nan


KEYS = ["_instance", "_setting"]


def _identical_seeds(R: pd.DataFrame) -> pd.Series:
    """Per row (instance, setting): every setting with several seeds gave bit-identical runs
    (a deterministic problem started at its standard point repeats one run per seed)."""
    ok = R[R["status"] != "error"]
    vals = ["f0", "best_f", "fun", "nit"]
    per = ok.groupby([*KEYS, "optimizer_params"], observed=True, sort=False).agg(
        seeds=("seed", "nunique"), **{c: (c, "nunique") for c in vals})
    per = per[per["seeds"] > 1]
    return (per[vals].max(axis=1) <= 1).groupby(level=[0, 1]).all()


def _no_best_note(statuses: set) -> str:
    if statuses == {"diverged"}:
        return "no best lr: every run diverged"
    if statuses == {"error"}:
        return "no best lr: every run is an error"
    return "no best lr: every lr diverged, failed or went unbounded on most seeds"


def _best(per_lr: pd.DataFrame, has_fstar: bool):
    """``(lr, median steps, median value)`` of the best lr of one row (NaN lr: none)."""
    key = per_lr.assign(_k=per_lr["ms"] if has_fstar else 0.0).sort_values(["_k", "mv", "_lr"])
    lr, ms, mv = key.index[0], key["ms"].iloc[0], key["mv"].iloc[0]
    if not np.isfinite(mv):
        return np.nan, np.nan, np.nan
    return (lr if np.isfinite(lr) else np.nan), (ms if has_fstar else np.nan), mv


def summary_table(runs: pd.DataFrame, target: float = 1e-3) -> pd.DataFrame:
    """One row per (instance, setting); columns as in :data:`EXPLAIN`. Numbers stay numbers:
    ``inf`` is a miss, ``NaN`` not applicable (no f*, no best lr)."""
    target = check_target(target)
    lab = target_label(target)
    R = _labelled(runs, target)
    R["_lr"] = R["lr"].fillna(np.inf)  # an optimizer without lr: one group
    R["_reached"] = np.isfinite(R["_steps"])
    per_lr = R.groupby([*KEYS, "_lr"], sort=False).agg(ms=("_steps", _median),
                                                       mv=("_value", _median))
    g = R.groupby(KEYS, sort=False)
    agg = g.agg(runs=("status", "size"), fstar=("f_star", "max"), reached=("_reached", "sum"),
                unbounded=("_unbounded", "sum"), wall=("wall_s", _median),
                problem=("problem", "first"), dim=("dim", "max"))
    counts = R.groupby([*KEYS, "status"]).size().unstack(fill_value=0)
    same = _identical_seeds(R)
    rows = []
    for (inst, setting), a in agg.iterrows():
        has_fstar = bool(np.isfinite(a["fstar"]))
        best_lr, med_steps, med_value = _best(per_lr.loc[(inst, setting)], has_fstar)
        c = counts.loc[(inst, setting)]
        notes = []
        if best_lr != best_lr and med_value != med_value:
            notes.append(_no_best_note({k for k, n in c.items() if n > 0}))
        if not has_fstar:
            notes.append("no f*: ranked by best f")
        if a["unbounded"]:
            notes.append(f"{int(a['unbounded'])} runs unbounded below")
        if bool(same.get((inst, setting), False)):
            notes.append("seeds identical")
        row = {"instance": inst, "optimizer": setting, "runs": int(a["runs"])}
        row.update({("errors" if k == "error" else k): int(c.get(k, 0)) for k in STATUSES})
        row.update({
            f"reached_{lab}": int(a["reached"]) if has_fstar else np.nan,
            "best_lr": best_lr,
            "median_best_f": med_value,
            f"median_steps_to_{lab}": med_steps,
            "median_wall_ms": 1e3 * a["wall"],
            "note": "; ".join(notes),
        })
        dim = a["dim"] if a["dim"] == a["dim"] else -1
        rows.append(((str(a["problem"]), dim, inst, setting), row))
    out = pd.DataFrame([r for _, r in sorted(rows, key=lambda t: t[0])])
    if not (out["failed"] > 0).any():
        out = out.drop(columns="failed")
    out[f"reached_{lab}"] = out[f"reached_{lab}"].astype("Int64")  # <NA> without f*
    return out.set_index(["instance", "optimizer"])


def identical_seed_instances(table: pd.DataFrame) -> list[str]:
    """Instances with a row whose seeds all gave the same run."""
    same = table["note"].str.contains("seeds identical", regex=False)
    return [i for i, ok in same.groupby(level="instance", sort=False).any().items() if ok]


def warnings_for(table: pd.DataFrame) -> list[str]:
    same = identical_seed_instances(table)
    if not same:
        return []
    return [f"seeds gave identical runs on {', '.join(same)}: a deterministic problem started "
            "at its standard point repeats one run per seed; add start = \"random\" to its "
            "[[problems]] entry for distinct starts"]


def explain(target: float = 1e-3) -> str:
    lab = target_label(target)
    return EXPLAIN.format(t=lab)


EXPLAIN = """\
One row per problem instance (a problem with its parameters) and optimizer setting (the
optimizer with every hyperparameter but lr; the lrs of its grid are pooled in the row).
  runs            runs of the row: every lr x every seed
  converged       runs whose status is 'converged': they met the suite's stop rule (by
                  default the last target of the ladder, best f - f* <= 1e-08; |grad f| <= gtol
                  when f* is unknown)
  budget          runs that used their whole step budget without converging
  diverged        runs stopped by a non-finite or exploding f or gradient
  failed, errors  second-order steps that could not be taken; runs that raised an error
  reached_{t:<7} runs (all lrs) whose best f - f* reached {t}; diverged, error and unbounded
                  runs count as misses (n/a without f*)
  best_lr         the lr with the fewest median steps to {t} (misses count as infinity), ties
                  and all-miss rows broken by the lowest median best f; diverged, error and
                  unbounded runs are infinity in both, so they never win ('none' when every
                  lr fails on most seeds). Without f*: the lowest median best f.
  median_best_f   median over seeds, at best_lr, of the best f the run reached
  median_steps_to_{t}
                  median over seeds, at best_lr, of the first step with best f - f* <= {t};
                  'miss' when that median is infinity (half the seeds or more missed)
  median_wall_ms  median wall time of one run over all runs of the row
  note            unbounded runs (f fell below f0 - 1e8 (1 + |f0 - f*|)), rows without f*,
                  and 'seeds identical' (every seed gave the same run)
Medians are empirical (the middle run, no interpolation)."""

FOOTER = """\
converged: met the stop rule (by default the last target, best f - f* <= 1e-08).
reached_{t}: runs (all lrs) with best f - f* <= {t}; diverged/error/unbounded runs are misses.
best_lr: fewest median steps to {t}, then lowest median best f; never a diverged, error or
unbounded setting. median_* are at best_lr over seeds; miss: the median is a miss (infinity).
Every column: optbench show --explain"""


def _cell(col: str, v) -> str:
    if isinstance(v, str):
        return v
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return "none" if col == "best_lr" else "n/a" if col.startswith(("reached", "median_steps")) else "-"
    if isinstance(v, float) and math.isinf(v):
        return "miss"
    if col == "best_lr":
        return f"{v:g}"
    if col == "median_best_f":
        return f"{v:.4g}"
    if col.startswith(("median_steps", "reached")):
        return f"{int(v)}"
    if col == "median_wall_ms":
        return f"{v:.3g}"
    return str(v)


def display(table: pd.DataFrame) -> pd.DataFrame:
    """The table as strings: ``miss`` for ∞, ``none`` for no best lr, ``n/a`` without f*."""
    flat = table.reset_index()
    return pd.DataFrame({c: [_cell(c, v) for v in flat[c]] for c in flat.columns})


def to_text(table: pd.DataFrame, target: float = 1e-3) -> str:
    """Fixed-width table (labels left-aligned, numbers right-aligned) and the footer."""
    d = display(table)
    left = ("instance", "optimizer", "note")
    width = {c: max(len(c), *(len(v) for v in d[c])) for c in d.columns}

    def line(cells):
        return "  ".join(v.ljust(width[c]) if c in left else v.rjust(width[c])
                         for c, v in zip(d.columns, cells)).rstrip()
    rows = [line(d.columns)] + [line(r) for r in d.itertuples(index=False)]
    return "\n".join(rows) + "\n\n" + FOOTER.format(t=target_label(target))


def to_markdown(table: pd.DataFrame, target: float = 1e-3, title: str = "") -> str:
    d = display(table)
    esc = [[str(x).replace("|", "\\|") for x in r] for r in d.itertuples(index=False)]
    lines = [f"# Summary{': ' + title if title else ''}", "",
             "| " + " | ".join(d.columns) + " |", "|" + "---|" * len(d.columns)]
    lines += ["| " + " | ".join(r) + " |" for r in esc]
    warn = warnings_for(table)
    if warn:
        lines += ["", *[f"**Warning**: {w}." for w in warn]]
    lines += ["", "```", explain(target), "```", ""]
    return "\n".join(lines)


def write(folder, table: pd.DataFrame, target: float = 1e-3, title: str = "") -> list[Path]:
    """Write ``summary.md`` and ``summary.csv`` (numbers: ``inf`` = miss) into ``folder``."""
    from optbench.record.store import _atomic_write

    folder = Path(folder)
    md, csv = folder / "summary.md", folder / "summary.csv"
    _atomic_write(md, to_markdown(table, target, title).encode())
    _atomic_write(csv, table.reset_index().to_csv(index=False).encode())
    return [md, csv]
