"""``optbench compare OPT... --problems SPECS --lr LO:HI:N --seeds N``: a comparison without
a suite file, with the learning-rate protocol (:mod:`optbench.analysis.lr_protocol`).

1. **Tune**: every problem × optimizer × learning rate of the log grid, ``tune_seeds`` seeds
   (default 1), into ``OUT/tune`` (a suite named ``compare``: resumable like ``optbench run``).
2. **Pick**: per (problem, optimizer) the lr with the fewest median steps to ``target``
   (problems without f*: the lowest median final f; ties: lower final f, then smaller lr).
3. **Re-run** each pick with ``seeds`` seeds into ``OUT/seeds`` (resumable: stored runs are
   skipped) and print, per problem and optimizer, the median steps and gradient evaluations
   to the targets over the seeds, the hits, and the winner per problem (fewest median steps
   to ``target``, misses = ∞; if every optimizer misses, the lowest median final f).
4. ``plot=True``: ``optbench report`` of ``OUT/seeds`` into ``OUT/report``.

Syntax: ``--problems "rosenbrock:dim=10,quadratic:cond=1e4,dim=20"`` (a comma piece with
``:`` or without ``=`` starts a new problem; ``k=v`` pieces add parameters to the last one);
``--lr 1e-4:1e-1:16`` (16 log-spaced values, ends included) or one value.
"""
from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np

from optbench.validate import OptbenchInputError, unknown

TABLE_TARGETS = (1e-1, 1e-3, 1e-6)


def _value(text: str):
    t = text.strip()
    if t.lower() in ("true", "false"):
        return t.lower() == "true"
    for conv in (int, float):
        try:
            return conv(t)
        except ValueError:
            pass
    return t


def parse_problems(text: str) -> list[dict]:
    """``name:k=v,k=v,name2`` → ``[{"problem": name, k: v, ...}, ...]`` (names checked)."""
    from optbench import problems as P

    out: list[dict] = []
    for piece in (text or "").split(","):
        piece = piece.strip()
        if not piece:
            raise OptbenchInputError(f"--problems: empty entry in {text!r} (syntax: "
                                     "name:key=value,key=value,name2,...)")
        if ":" in piece or "=" not in piece:
            name, _, rest = piece.partition(":")
            name = name.strip()
            if name not in P.REGISTRY:
                raise unknown("problem", name, P.REGISTRY)
            out.append({"problem": name})
            piece = rest.strip()
            if not piece:
                continue
        if not out:
            raise OptbenchInputError(f"--problems must start with a problem name, got {text!r}")
        key, eq, val = piece.partition("=")
        if not eq or not key.strip() or not val.strip():
            raise OptbenchInputError(f"--problems: {piece!r} is not key=value (syntax: "
                                     "name:key=value,key=value,name2,...)")
        out[-1][key.strip()] = _value(val)
    return out


def parse_lr(text: str) -> list[float]:
    """``LO:HI:N`` → N log-spaced values from LO to HI; a single number → [it]."""
    parts = str(text).split(":")
    try:
        if len(parts) == 1:
            vals = [float(parts[0])]
        elif len(parts) == 3:
            lo, hi, n = float(parts[0]), float(parts[1]), int(parts[2])
            if not (0 < lo <= hi and n >= 1) or (n == 1 and lo != hi):
                raise ValueError
            vals = np.geomspace(lo, hi, n).tolist() if n > 1 else [lo]
        else:
            raise ValueError
    except ValueError:
        raise OptbenchInputError(f"--lr must be LO:HI:N (0 < LO <= HI, N >= 1 values, log "
                                 f"spaced) or one positive number, got {text!r}") from None
    if not all(math.isfinite(v) and v > 0 for v in vals):
        raise OptbenchInputError(f"--lr values must be finite and > 0, got {text!r}")
    return [float(f"{v:.6g}") for v in vals]


def check_optimizers(names) -> list[str]:
    from optbench import optimizers as O

    if not names:
        raise OptbenchInputError("compare needs at least one optimizer name")
    for n in names:
        if n not in O.REGISTRY:
            raise unknown("optimizer", n, O.REGISTRY)
    if len(set(names)) != len(names):
        raise OptbenchInputError(f"an optimizer is named twice: {' '.join(names)}")
    return list(names)


def make_suite(optimizers, problems, lrs, *, steps=2000, tune_seeds=1) -> dict:
    return {"name": "compare", "steps": int(steps), "seeds": int(tune_seeds),
            "problems": problems,
            "optimizers": [{"optimizer": o, "lr": list(lrs)} for o in optimizers]}


def default_out(suite: dict) -> Path:
    h = hashlib.sha1(json.dumps(suite, sort_keys=True).encode()).hexdigest()[:8]
    return Path("results") / f"compare-{h}"


def compare(optimizers, problems, lrs, *, seeds=10, steps=2000, tune_seeds=1, out=None,
            target=1e-3, executor=None, progress=False, plot=False, plugins=()):
    """Run the protocol (module docstring). Returns (table DataFrame, out Path, report page
    or None); ``problems``: specs as from :func:`parse_problems`; ``plugins``: module names
    or .py files defining the families (loaded here first by the caller, see the CLI)."""
    from optbench.analysis import lr_protocol as LP
    from optbench.runner.suites import run_suite
    from optbench.validate import number

    seeds = number("--seeds", seeds, lo=1, integer=True)
    tune_seeds = number("--tune-seeds", tune_seeds, lo=1, integer=True)
    steps = number("--steps", steps, lo=1, integer=True)
    target = number("--target", target, lo=0.0, lo_open=True)
    suite = make_suite(check_optimizers(optimizers), problems, lrs, steps=steps,
                       tune_seeds=tune_seeds)
    if plugins:   # imported by the main process and every worker (optbench.plugins)
        from optbench.plugins import resolve
        suite["plugins"] = [resolve(p) for p in plugins]
    out = Path(out) if out is not None else default_out(suite)
    runs, _ = run_suite(suite, out / "tune", executor=executor, progress=progress, load="all")
    best = LP.best_settings(runs, "steps", target=target)
    final = _rerun(best, runs, seeds, out / "seeds", suite)
    table = summary(final, target)
    page = None
    if plot:
        from optbench.plots.report import report
        page = report(out / "seeds", out / "report", target=target)
    return table, out, page


def _rerun(best, runs, seeds, folder: Path, suite: dict):
    """The best settings with seeds 0..seeds-1 into ``folder`` (stored runs are skipped)."""
    from optbench.analysis.labels import with_labels
    from optbench.record.store import Store
    from optbench.runner.execute import execute
    from optbench.runner.spec import RunSpec

    R = with_labels(runs, "config")
    specs = []
    for b in best.to_dict("records"):
        r = R[(R["instance"] == b["instance"])
              & (R["optimizer_params"] == b["optimizer_params"])].iloc[0]
        for s in range(seeds):
            specs.append(RunSpec.make(json.loads(r["problem_params"]),
                                      json.loads(r["optimizer_params"]), seed=s,
                                      steps=int(r["budget"]), targets=list(r["targets"]),
                                      stop=str(r["stop"])))
    store = Store(folder).lock()
    try:
        done = store.done_ids()
        todo = [s for s in specs if s.run_id not in done]
        if todo:
            new_runs, new_traces = execute(todo)
            store.append(new_runs, new_traces)
        store.write_meta(suite={**suite, "name": "compare-seeds", "seeds": seeds},
                         n_runs=len(specs), protocol="best lr per problem and optimizer "
                         "(steps to target), re-run with the seeds")
        all_runs, _ = store.load("runs")
    finally:
        store.unlock()
    ids = {s.run_id for s in specs}
    return all_runs[all_runs["run_id"].isin(ids)].reset_index(drop=True)


def summary(runs, target=1e-3):
    """One row per (problem instance, optimizer): lr, hits of ``target``, median steps and
    evaluations to the targets (∞ = median run missed), median final f − f*, winner mark."""
    import pandas as pd

    from optbench.analysis.labels import with_labels
    from optbench.analysis.metrics import quantile, runtimes

    targets = sorted(set(TABLE_TARGETS) | {float(target)}, reverse=True)
    R = with_labels(runs, "optimizer")
    rt = runtimes(R.drop(columns=["solver"]), targets, solver="optimizer")
    fstar = R.groupby("instance")["f_star"].max()
    rows = []
    for (inst, opt), g in R.groupby(["instance", "solver"], sort=True):
        row = {"problem": inst, "optimizer": opt, "lr": float(g["lr"].iloc[0]),
               "seeds": len(g)}
        fs = fstar[inst]
        gap = g["fun"].to_numpy(float) - (fs if np.isfinite(fs) else 0.0)
        gap[g["status"].isin(("diverged", "error")).to_numpy()] = np.inf
        sub = rt[(rt["instance"] == inst) & (rt["solver"] == opt)]
        for t in targets:
            s = sub[np.isclose(sub["target"], t)]
            hit = s["hit"].to_numpy(bool)
            row[f"steps {t:g}"] = quantile(np.where(hit, s["steps"], np.inf), 0.5)
            row[f"evals {t:g}"] = quantile(np.where(hit, s["evals"], np.inf), 0.5)
            if t == target:
                row["hits"] = f"{int(hit.sum())}/{len(g)}"
        row["final f-f*" if np.isfinite(fs) else "final f"] = quantile(gap, 0.5)
        rows.append(row)
    T = pd.DataFrame(rows)
    T["winner"] = ""
    key = f"steps {target:g}"
    for inst, g in T.groupby("problem", sort=False):
        fcol = "final f-f*" if "final f-f*" in g and g["final f-f*"].notna().any() else "final f"
        order = g.sort_values([key, fcol, "optimizer"], kind="stable")
        w = order.index[0]
        by_final = not np.isfinite(order[key].iloc[0])
        T.loc[w, "winner"] = "← (final f)" if by_final else "←"
    return T


def to_text(T, target=1e-3) -> str:
    def cell(c, v):
        if isinstance(v, float):
            if c == "lr":
                return f"{v:.3g}"
            if math.isinf(v):
                return "miss" if c.startswith(("steps", "evals")) else "inf"
            if math.isnan(v):
                return "-"
            return f"{v:.0f}" if c.startswith(("steps", "evals")) else f"{v:.3g}"
        return str(v)

    cols = [c for c in T.columns if T[c].notna().any()]
    lines = [cols] + [[cell(c, r[c]) for c in cols] for r in T.to_dict("records")]
    w = [max(len(x[i]) for x in lines) for i in range(len(cols))]
    text = "\n".join("  ".join(s.ljust(n) if i < 2 else s.rjust(n)
                               for i, (s, n) in enumerate(zip(x, w))) for x in lines)
    return (text + f"\n\nsteps / evals: median over the seeds of the steps (gradient "
            f"evaluations) until f - f* <= target ('miss': the median run never got there); "
            f"hits: runs that reached {target:g}; ← winner per problem: fewest median steps "
            f"to {target:g}")
