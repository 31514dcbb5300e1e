r"""Runs on COCO's bbob functions written in COCO's data format, for COCO's ``cocopp``.

``export_coco(runs, OUT)`` writes one folder per algorithm, ``OUT/<algorithm>/``, laid out
as COCO's ``bbob`` logger lays out an experiment, so that ``python -m cocopp OUT/<algorithm>``
(or several folders) draws COCO's tables and figures::

    OUT/<algorithm>/bbobexp_f<k>.info               one 3-line block per dimension
    OUT/<algorithm>/data_f<k>/bbobexp_f<k>_DIM<d>.dat    target-triggered lines, one block
    OUT/<algorithm>/data_f<k>/bbobexp_f<k>_DIM<d>.tdat   evaluation-triggered lines  per trial
    OUT/<algorithm>/optbench-export.json            what was exported, from what

* **Algorithms** are optbench's *solvers* (:func:`optbench.analysis.labels.with_labels`):
  an optimizer with the hyperparameters in which the table's bbob runs of it differ, named
  for the file system (``adam(lr=0.01)`` → ``adam_lr0.01``; a dash where a key ends in a
  digit or a value is not a number: ``beta1-0.9``, ``kind-cosine``). ``algorithm`` picks some
  of them by either name.
* **Trials**: one per run, i.e. per (instance, seed) and start; the .info lists its instance.
* **Evaluations** (``measure``): ``"evals"`` (default) counts gradient evaluations
  (``hit_ngev``; ``ngev`` spent) for an algorithm whose runs are all first-order, and
  gradient-equivalents (``hit_grad_equiv``; ``grad_equiv`` spent; see ``COST_MODEL``) for
  second- and zero-order methods, whose gradient count alone leaves out line-search values,
  HVPs and Hessians; ``"grad_equiv"`` and ``"ngev"`` force one of the two for everyone. A
  fractional gradient-equivalent cost is written as is (cocopp reads floats); the .info's
  integer budget is then rounded up (cocopp only compares it and warns).
* **.dat lines**: the first evaluation (Δf = f(x₀) − f*), then one line per cost at which the
  run first met a ladder target, whose Δf is the deepest target met (an upper bound of the
  best Δf there: the runs table keeps the costs, not the values), and a final line with the
  total cost and the final best Δf. cocopp's evaluations to reach each target of COCO's ladder
  are therefore exactly optbench's ``hit_*`` counts, and its budget of a trial that missed is
  the run's total, so cocopp's aRT equals :func:`optbench.analysis.metrics.art` (tested).
  The runs must carry COCO's ladder (the default ``targets``); others are refused.
* **.tdat lines**: the same points plus every recorded trace point (``traces``), best Δf so far.
* **Diverged and failed runs** are trials like any other: they met the targets they met and
  spent what they spent (COCO's aRT charges a stopped run its evaluations, as optbench's).
  **Error rows** (a batch that raised: nothing evaluated, no cost, no value) are no trials:
  they are left out and counted in the returned table (``errors_left_out``) and the .info
  comment; optbench's aRT is the same either way (they add no cost and no success), the
  success rates differ. Runs on other problems are skipped and counted
  (``attrs["skipped_runs"]``); a table without any bbob run is refused.
* cocopp weighs instances equally when they have different numbers of trials
  (``genericsettings.balance_instances``), optbench weighs runs: the aRTs agree when every
  instance has the same number of runs (as a sweep over seeds gives).

An existing ``OUT/<algorithm>`` is replaced only if an earlier export wrote it (its
``optbench-export.json``); any other non-empty folder there is refused.
Cost: O(runs × targets + trace rows) time; files of a few lines per target and trace point.
"""
from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from optbench.record.schema import COST_MODEL
from optbench.record.targets import COCO_LADDER
from optbench.validate import OptbenchInputError

from .labels import _require, with_labels

MEASURES = ("evals", "grad_equiv", "ngev")
PRECISION = 1e-8
MARKER = "optbench-export.json"
_COLUMNS = {"ngev": ("hit_ngev", "ngev"), "grad_equiv": ("hit_grad_equiv", "grad_equiv")}
_WORDS = {"ngev": "gradient evaluations", "grad_equiv": "gradient-equivalents"}


def folder_name(label: str) -> str:
    """A solver label as a folder name: ``adam(lr=0.01, beta1=0.9)`` → ``adam_lr0.01_beta1-0.9``
    (a dash where a key ends in a digit or its value is not a number: ``kind-cosine``)."""
    s = re.sub(r"\((.*)\)$", r"_\1", label.strip()).replace(", ", "_")
    s = re.sub(r"([A-Za-z0-9_.]+)=(.?)", lambda m: m.group(1) + (
        "" if m.group(1)[-1].isalpha() and m.group(2)[:1] in set("0123456789.") else "-")
        + m.group(2), s)
    s = re.sub(r"-{2,}", "-", re.sub(r"[^A-Za-z0-9._+-]+", "-", s)).strip("-.")
    return s or "algorithm"


def check_measure(measure: str) -> str:
    if measure not in MEASURES:
        raise OptbenchInputError(f"measure must be one of {', '.join(MEASURES)}, got {measure!r}")
    return measure


def export_folder(results, out, **kw) -> pd.DataFrame:
    """:func:`export_coco` of a results folder (its runs, and its traces for the .tdat)."""
    from optbench.record.store import Store

    check_measure(kw.get("measure", "evals"))
    store = Store(results, create=False)
    runs, _ = store.load("runs")
    if runs.empty:
        raise OptbenchInputError(f"{results} holds no runs")
    traces = None
    if (runs["problem"].astype(str) == "bbob").any():
        runs, traces = store.load()
    return export_coco(runs, out, traces=traces, **kw)


def report(res: pd.DataFrame) -> tuple[list[str], list[str]]:
    """(lines, warnings) saying what :func:`export_coco` wrote and what it left out."""
    lines = [f"{r.path}: {r.trials} trials of {r.label} (f{','.join(map(str, r.functions))}; "
             f"{','.join(map(str, r.dims))}-D; evaluations: {_WORDS[r.measure]}"
             + (f"; {r.diverged} diverged" if r.diverged else "") + ")"
             for r in res.itertuples()]
    lines.append("cocopp: python -m cocopp " + " ".join(res["path"]))
    warns = [f"{r.algorithm}: {r.errors_left_out} error rows left out (nothing evaluated): "
             f"{r.error_message}" for r in res.itertuples() if r.errors_left_out]
    if res.attrs.get("skipped_runs"):
        warns.append(f"{res.attrs['skipped_runs']} runs on other problems skipped "
                     f"({', '.join(res.attrs['skipped_problems'])}): COCO's format is for bbob")
    return lines, warns


def export_coco(runs: pd.DataFrame, out, *, traces: pd.DataFrame | None = None,
                measure: str = "evals", algorithm=None, solver=None) -> pd.DataFrame:
    """Write the bbob runs of ``runs`` in COCO's format under ``out`` (see the module doc).

    ``traces``: the traces table, for richer .tdat files (optional). ``algorithm``: a name or
    list of names (folder name or solver label) to export; default all. ``solver``: how runs
    group into algorithms (:func:`~optbench.analysis.labels.with_labels`). Returns one row
    per algorithm written: algorithm, label, path, measure, functions, dims, trials,
    diverged, errors_left_out, error_message; ``attrs["skipped_runs"]``: runs of other
    problems (``attrs["skipped_problems"]`` names them)."""
    check_measure(measure)
    _require(runs, ("problem", "problem_params", "optimizer", "optimizer_params", "status",
                    "seed", "targets", "hit_ngev", "hit_grad_equiv", "ngev", "grad_equiv",
                    "f0", "best_f", "f_star"))
    is_bbob = runs["problem"].astype(str).to_numpy() == "bbob"
    other = runs.loc[~is_bbob, "problem"].astype(str)
    if not is_bbob.any():
        raise OptbenchInputError(f"no runs on bbob problems to export ({len(runs)} runs on "
                                 f"{', '.join(sorted(other.unique())) or 'nothing'})")
    R = with_labels(runs[is_bbob].reset_index(drop=True), solver)
    spec = [json.loads(s) for s in R["problem_params"]]
    R["function"] = [int(p["function"]) for p in spec]
    R["coco_instance"] = [int(p["instance"]) for p in spec]
    R["coco_dim"] = [int(p["dim"]) for p in spec]
    names = _names(R["solver"])
    R["algorithm"] = R["solver"].map(names)
    chosen = _choose(algorithm, names)
    by_run = ({k: g.sort_values("step") for k, g in traces.groupby("run_id")}
              if traces is not None and len(traces) else {})
    rows = []
    for label in chosen:
        A = R[R["solver"] == label]
        rows.append(_write_algorithm(A, Path(out), names[label], label, measure, by_run))
    res = pd.DataFrame(rows, columns=["algorithm", "label", "path", "measure", "functions",
                                      "dims", "trials", "diverged", "errors_left_out",
                                      "error_message"])
    res.attrs["skipped_runs"] = int(len(other))
    res.attrs["skipped_problems"] = sorted(other.unique())
    return res


def _names(labels: pd.Series) -> dict:
    out, used = {}, set()
    for lab in sorted(labels.unique()):
        base = name = folder_name(lab)
        n = 2
        while name in used:
            name, n = f"{base}-{n}", n + 1
        used.add(name)
        out[lab] = name
    return out


def _choose(algorithm, names: dict) -> list:
    if algorithm is None:
        return sorted(names)
    wanted = [algorithm] if isinstance(algorithm, str) else list(algorithm)
    by_name = {v: k for k, v in names.items()}
    chosen = []
    for w in wanted:
        lab = w if w in names else by_name.get(w)
        if lab is None:
            raise OptbenchInputError(f"no algorithm {w!r} among the bbob runs; they are: "
                                     + ", ".join(sorted(by_name)))
        chosen.append(lab)
    return list(dict.fromkeys(chosen))


def _resolve(measure: str, A: pd.DataFrame) -> str:
    if measure != "evals":
        return measure
    kinds = set(A.loc[A["status"] != "error", "kind"].astype(str)) if "kind" in A else set()
    return "ngev" if kinds <= {"first_order"} else "grad_equiv"


def _prepare(folder: Path):
    if folder.exists():
        if not folder.is_dir():
            raise OptbenchInputError(f"{folder} exists and is not a folder")
        if any(folder.iterdir()):
            if not (folder / MARKER).is_file():
                raise OptbenchInputError(f"{folder} is not empty and was not written by "
                                         "'optbench export coco'; choose another OUT")
            shutil.rmtree(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OptbenchInputError(f"cannot create {folder}: {e.strerror}") from None


def _write_algorithm(A, out: Path, name: str, label: str, measure: str, by_run) -> dict:
    used = _resolve(measure, A)
    errors = A[A["status"] == "error"]
    ok = A[A["status"] != "error"]
    f0_bad = ~np.isfinite(ok["f0"].to_numpy(float))
    if f0_bad.any():   # never evaluated to a number: no COCO trial either
        errors = pd.concat([errors, ok[f0_bad]])
        ok = ok[~f0_bad]
    folder = out / name
    _prepare(folder)
    msg = str(errors["message"].iloc[0]) if len(errors) and "message" in errors else ""
    info: dict[int, list[str]] = {}
    for (fn, dim), G in ok.groupby(["function", "coco_dim"], sort=True):
        G = G.sort_values(["coco_instance", "seed"], kind="stable")
        if not np.all(np.isfinite(G["f_star"].to_numpy(float))):
            raise OptbenchInputError(f"bbob f{fn} in {dim}-D: runs without a finite f_star")
        rel = f"data_f{fn}/bbobexp_f{fn}_DIM{dim}"
        (folder / f"data_f{fn}").mkdir(exist_ok=True)
        dat, tdat, entries = [], [], []
        for r in G.to_dict("records"):
            fopt = float(r["f_star"])   # COCO's fopt of the run's instance
            lines_dat, lines_tdat, total, final = _trial(r, used, fopt, by_run.get(r["run_id"]))
            head = (f"% evaluations: {_WORDS[used]} | g evaluations | best noise-free fitness -"
                    f" Fopt ({fopt:.12e}) | best fitness | best fitness | optbench run "
                    f"{r.get('run_id', '')} seed {r['seed']} status {r['status']}\n")
            dat += [head, *lines_dat]
            tdat += [head, *lines_tdat]
            entries.append(f"{r['coco_instance']}:{math.ceil(total)}|{final:.1e}")
        (folder / f"{rel}.dat").write_text("".join(dat))
        (folder / f"{rel}.tdat").write_text("".join(tdat))
        n_err = int(((errors["function"] == fn) & (errors["coco_dim"] == dim)).sum())
        comment = (f"% optbench export of {label}: {len(G)} runs; evaluations: {_WORDS[used]}"
                   + (f" ({COST_MODEL})" if used == "grad_equiv" else "")
                   + (f"; {n_err} error rows (nothing evaluated) left out" if n_err else ""))
        info.setdefault(fn, []).append(
            f"suite = 'bbob', funcId = {fn}, DIM = {dim}, Precision = {PRECISION:.3e}, "
            f"algId = '{name}', logger = 'optbench', data_format = 'bbob-new2'\n"
            f"{comment}\n{rel}.dat, " + ", ".join(entries) + "\n")
    for fn, blocks in info.items():
        (folder / f"bbobexp_f{fn}.info").write_text("".join(blocks))
    record = {"algorithm": name, "label": label, "measure": used, "requested": measure,
              "trials": int(len(ok)), "errors_left_out": int(len(errors))}
    (folder / MARKER).write_text(json.dumps(record, indent=2) + "\n")
    return {"algorithm": name, "label": label, "path": str(folder), "measure": used,
            "functions": sorted(int(f) for f in ok["function"].unique()),
            "dims": sorted(int(d) for d in ok["coco_dim"].unique()), "trials": int(len(ok)),
            "diverged": int((ok["status"] == "diverged").sum()),
            "errors_left_out": int(len(errors)), "error_message": msg}


def _check_ladder(lad: np.ndarray):
    """Refuse a run whose target ladder lacks one of COCO's targets."""
    for t in COCO_LADDER:
        if not np.isclose(lad, t, rtol=1e-9, atol=0.0).any():
            raise OptbenchInputError(
                f"the runs' targets lack COCO's Δf = {t:g}: COCO's export needs runs recorded "
                "on COCO's target ladder (the default targets, or targets = \"coco\")")


def _trial(r: dict, used: str, fopt: float, trace):
    """(.dat lines, .tdat lines, total cost, final best Δf) of one run."""
    hit_col, spent_col = _COLUMNS[used]
    lad = np.asarray(r["targets"], float)
    _check_ladder(lad)
    cost = np.asarray(r[hit_col], float)
    step = np.asarray(r["hit_step"], np.int64) if "hit_step" in r else np.full(lad.size, -1)
    total = float(r[spent_col])
    hit = np.isfinite(cost)
    at0 = hit & (step == 0)
    first = float(cost[at0].min()) if at0.any() else 1.0   # one evaluation at x0
    if hit.any():
        first = min(first, float(cost[hit].min()))
    df0 = float(r["f0"]) - fopt
    points = [(first, df0)] + [(float(c), float(t)) for c, t in zip(cost[hit], lad[hit])]
    dat = _improving(points)
    final = float(r["best_f"]) - fopt
    last = dat[-1][1]
    final = last if not math.isfinite(final) else min(final, last)
    total = max(total, dat[-1][0])
    dat = _improving(dat + [(total, final)], keep_last=True)
    tpoints = list(dat)
    if trace is not None and len(trace):
        tcol = "ngev" if used == "ngev" else "grad_equiv"
        tc = trace[tcol].to_numpy(float)
        tb = trace["best_f"].to_numpy(float) - fopt
        keep = np.isfinite(tc) & np.isfinite(tb) & (tc <= total)
        tpoints += list(zip(tc[keep].tolist(), tb[keep].tolist()))
    tdat = _running_best(tpoints)
    return [_line(e, d, fopt) for e, d in dat], [_line(e, d, fopt) for e, d in tdat], total, final


def _improving(points, keep_last: bool = False):
    """Points sorted by cost, one per cost (its smallest Δf), only those that improve Δf;
    ``keep_last``: the last point stays even without improvement (the final line)."""
    best = {}
    for e, d in points:
        best[e] = min(d, best.get(e, math.inf))
    out = []
    es = sorted(best)
    for e in es:
        d = best[e]
        if not out or d < out[-1][1]:
            out.append((e, d))
        elif keep_last and e == es[-1]:
            out.append((e, out[-1][1]))
    return out


def _running_best(points):
    """Every cost once, sorted, with the best Δf up to it."""
    best = {}
    for e, d in points:
        best[e] = min(d, best.get(e, math.inf))
    out, run = [], math.inf
    for e in sorted(best):
        run = min(run, best[e])
        out.append((e, run))
    return out


def _line(evals: float, df: float, fopt: float) -> str:
    e = f"{int(evals)}" if float(evals).is_integer() else f"{evals:.17g}"
    f = df + fopt
    return f"{e} 0 {df:+.16e} {f:+.16e} {f:+.16e}\n"
