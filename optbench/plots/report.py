"""``optbench report RESULTS`` and ``optbench plot KIND RESULTS``: every standard figure of a
results folder, Markdown and LaTeX (booktabs) tables, and an ``index.html`` showing them.

The report first applies the learning-rate protocol (:mod:`optbench.analysis.lr_protocol`,
criterion ``steps`` to ``target`` by default): per instance, each optimizer setting is shown
at its best grid value, so profiles compare optimizers, not grid points; sensitivity
figures show the whole grid. Failed and diverged runs count as misses everywhere; the
page lists what could not be drawn and why. Trajectory contours (1-D/2-D instances) re-run
every tuned setting up to 200 times (:mod:`optbench.analysis.trajectory`): the report draws
them only when asked (``contours=True``, ``optbench report --contours``) and says so on the
page; ``optbench plot contour`` draws them alone. Progress: one line per figure (name,
seconds, elapsed) to ``progress`` (the CLI prints them on stderr).
Cost: O(runs × trace points) for the figures (about a second each, three formats), plus
the trajectory runs when asked.
"""
from __future__ import annotations

import html
import json
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from optbench.analysis import export as X
from optbench.analysis import lr_protocol as LP
from optbench.analysis import metrics as M
from optbench.analysis.labels import with_labels
from optbench.record.targets import TABLE_TARGETS
from optbench.validate import OptbenchInputError

from . import convergence as CV
from . import profiles as PR
from . import style as S
from .render import Out, slug  # noqa: F401  (slug: part of this module's API)

KINDS = ("convergence", "convergence-grid", "ecdf", "performance-profile", "data-profile",
         "sensitivity", "escape", "contour", "landscape")
REPORT_KINDS = ("convergence", "escape", "contour", "ecdf", "performance-profile",
                "data-profile", "sensitivity")


def _load(results):
    from optbench.record.store import Store
    st = Store(results, create=False)
    runs, traces = st.load()
    if runs.empty:
        raise OptbenchInputError(f"{results} holds no runs")
    return runs, traces, st.meta()


def _tuned(runs, criterion, target, best=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return LP.select_best(runs, best, criterion=criterion, target=target)


def _best(runs, criterion, target):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return LP.best_settings(runs, criterion, target=target)


def jobs(kind, runs, traces, tuned, *, target=1e-3, criterion="steps") -> list[tuple]:
    """The figures of one KIND as (section, name, caption, make) with ``make()`` → Figure;
    ``tuned``: the runs of the best settings (:func:`optbench.analysis.lr_protocol.select_best`)."""
    if kind not in KINDS:
        raise OptbenchInputError(f"unknown plot kind {kind!r}; valid: {', '.join(KINDS)}")
    L = with_labels(tuned)
    insts = sorted(L["instance"].unique())
    fstar = L.groupby("instance")["f_star"].max()
    pick = f"steps to Δf = {target:g}" if criterion == "steps" else criterion.replace("_", " ")
    how = f"best α per optimizer ({pick})"
    out = []
    if kind == "convergence":
        for i in insts:
            out.append(("Convergence", f"convergence_{i}", f"{i}: {how}; median and "
                        "inter-quartile range over seeds; dotted: theory rate (quadratics)",
                        lambda i=i: CV.convergence(tuned, traces, instance=i, tuned=pick)))
    elif kind == "convergence-grid":
        out.append(("Convergence", "convergence_all", f"every instance, {how}",
                    lambda: CV.convergence_grid(tuned, traces, tuned=pick)))
    elif kind == "escape":
        for i in insts:
            if not np.isfinite(fstar[i]):
                out.append(("Saddle escape", f"escape_{i}", f"{i}: gradient norm and f, {how}",
                            lambda i=i: CV.escape(tuned, traces, instance=i)))
    elif kind == "ecdf":
        out.append(("Profiles", "ecdf", "runtime ECDF over (instance, target) pairs, all 51 "
                    "targets of the ladder; misses stay in the denominator",
                    lambda: PR.ecdf(tuned)))
    elif kind == "performance-profile":
        out.append(("Profiles", f"performance_profile_{target:g}",
                    f"Dolan–Moré profile of aRT to Δf = {target:g}; legend: AlgoPerf-style score",
                    lambda: PR.performance_profile(tuned, target=target)))
    elif kind == "data-profile":
        out.append(("Profiles", "data_profiles", "Moré–Wild data profiles (one problem = one "
                    "instance and seed)", lambda: PR.data_profiles(tuned, traces)))
    elif kind == "sensitivity":
        Lall = with_labels(runs, "config")
        for i in sorted(Lall["instance"].unique()):
            if Lall[Lall["instance"] == i]["lr"].nunique() > 1:
                out.append(("Learning-rate sensitivity", f"sensitivity_{i}",
                            f"{i}: final f against the learning rate (median, IQR over seeds; "
                            "× = median run failed)",
                            lambda i=i: PR.sensitivity(Lall, instance=i)))
    elif kind == "contour":
        for i in insts:
            g = L[L["instance"] == i]
            if int(g["dim"].max()) > 2:
                continue
            opts = [json.loads(o) for o in g.drop_duplicates("solver")["optimizer_params"]][:6]
            r0 = g[g["status"] != "error"].iloc[0] if (g["status"] != "error").any() else g.iloc[0]
            out.append(("Trajectories", f"contour_{i}", f"{i}: trajectories of the tuned "
                        f"settings (seed {r0['seed']}, {int(r0['budget'])} steps)",
                        lambda r0=r0, opts=opts: _contour(json.loads(r0["problem_params"]), opts,
                                                            int(r0["budget"]), seed=int(r0["seed"]))))
    elif kind == "landscape":
        for i in insts:
            g = L[L["status"] != "error"]
            g = g[g["instance"] == i].sort_values("best_f")
            if g.empty:
                continue
            r0 = g.iloc[0]
            out.append(("Landscape", f"landscape_{i}", f"{i}: 2-D slice around the best end "
                        f"point ({r0['solver']}, seed {r0['seed']}), filter-normalised random "
                        "directions", lambda r0=r0: _landscape(r0)))
    return out


def draw(kind, runs, traces, out: Out, *, target=1e-3, criterion="steps", tuned=None):
    """Draw one KIND of figure for a runs table into ``out``."""
    if kind not in KINDS:
        raise OptbenchInputError(f"unknown plot kind {kind!r}; valid: {', '.join(KINDS)}")
    tuned = _tuned(runs, criterion, target) if tuned is None else tuned
    out.run(jobs(kind, runs, traces, tuned, target=target, criterion=criterion))


def _contour(*args, **kw):
    from . import contour as CT  # loads the runner: only when contours are drawn
    return CT.contour(*args, **kw)


def _landscape(r0):
    import optbench as ob

    from . import landscape as LS
    prob = ob.problems.make(json.loads(r0["problem_params"]))
    res = ob.run(prob, json.loads(r0["optimizer_params"]), steps=int(r0["budget"]),
                 seed=int(r0["seed"]), stop=str(r0["stop"]), record="none")
    return LS.slice_2d(prob, res.x, title=f"{prob.name}: around the end point of {r0['solver']}")


def plot(kind, results, out=None, formats=None, *, target=1e-3, criterion="steps",
         progress=None) -> list[Path]:
    """``optbench plot KIND RESULTS``: figures into ``out`` (default RESULTS/figures);
    returns the files written."""
    runs, traces, _ = _load(results)
    o = Out(Path(out or Path(results) / "figures"), S.parse_formats(formats), progress)
    draw(kind, runs, traces, o, target=target, criterion=criterion)
    for n in o.notes:
        print(f"optbench: note: {n}")
    return [o.figdir / f"{stem}.{f}" for _, stem, _ in o.figures for f in o.formats]


# -- tables -----------------------------------------------------------------------------
def _cell(v, hits, n, tex=False):
    c = f"{X.fmt_number(float(v), tex=tex)} ({hits}/{n})"
    return X.Tex(c) if tex else c


def tables(runs, traces, tuned, *, target=1e-3, n_boot=1000,
           best=None) -> dict[str, tuple[pd.DataFrame, pd.DataFrame, str]]:
    """{name: (markdown/HTML frame, LaTeX frame, caption)}; ``best``: the best settings by
    steps to ``target`` when already computed."""
    out = {}
    L = with_labels(runs, "config")
    st = L.groupby(["instance", "solver"])["status"].value_counts().unstack(fill_value=0)
    for c in ("converged", "budget", "diverged", "error"):
        if c not in st:
            st[c] = 0
    st = st[["converged", "budget", "diverged", "error"]].reset_index()
    out["status"] = (st, st, "Runs by status (every run of the table)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        best = LP.best_settings(runs, "steps", target=target) if best is None else best
        b = best[["instance", "setting", "lr", "criterion", "median", "failed", "n"]]
        out["tuned"] = (b, b, "Tuned learning rate per instance and setting (lower criterion is better)")
        rt = M.runtimes(tuned, TABLE_TARGETS)
        sm = M.summary(rt, measure="steps", n_boot=0)
        if len(sm):
            for tex in (False, True):
                cells = sm.assign(cell=[_cell(m, h, n, tex) for m, h, n in
                                        zip(sm["median"], sm["successes"], sm["runs"])])
                w = cells.pivot_table(index=["instance", "solver"], columns="target",
                                      values="cell", aggfunc="first")
                w = w[sorted(w.columns, reverse=True)]
                w.columns = [f"Δf={t:g}" if not tex else X.Tex(f"$\\Delta f = {t:g}$") for t in w.columns]
                if tex:
                    wt = w.reset_index()
                else:
                    wm = w.reset_index()
            out["steps"] = (wm, wt, "Median steps to target over seeds (successes/runs; "
                            "∞: more than half missed)")
        a = M.art(rt[np.isclose(rt["target"], target)], measure="evals", n_boot=n_boot)
        a = a[a["instance"].isin(rt.loc[rt["defined"], "instance"])]
        af = a[["instance", "solver", "runs", "successes", "aRT", "aRT_lo", "aRT_hi"]]
        out["art"] = (af, af, f"aRT (gradient evaluations) to Δf = {target:g} with 95 % "
                      "bootstrap interval")
        try:
            sc = M.profile_score(M.cost_matrix(rt, target)).rename("score").reset_index()
            out["scores"] = (sc, sc, f"AlgoPerf-style score (r_max = 4) at Δf = {target:g}")
        except OptbenchInputError:
            pass
    return out


# -- the report ----------------------------------------------------------------------------
def report(results, out=None, formats=None, *, target: float = 1e-3, criterion: str = "steps",
           n_boot: int = 1000, contours: bool = False, progress=None) -> Path:
    """Write every standard figure, the tables and ``index.html``; returns the page's path.
    ``contours``: also draw the trajectory contours of 1-D/2-D instances (re-runs the tuned
    settings). ``progress``: a callable that gets one line per step (None: silent)."""
    t0 = time.perf_counter()
    runs, traces, meta = _load(results)
    folder = Path(out or Path(results) / "report")
    fm = S.parse_formats(formats)
    if "png" not in fm and "svg" not in fm:
        fm = fm + ("png",)  # the page needs a bitmap or SVG
    o = Out(folder / "figures", fm, progress)
    o.t0 = t0
    best = _best(runs, criterion, target)
    tuned = _tuned(runs, criterion, target, best)
    todo = []
    for kind in REPORT_KINDS:
        if kind == "contour" and not contours:
            n = len(jobs(kind, runs, traces, tuned, target=target, criterion=criterion))
            if n:
                o.notes.append(f"Trajectories: {n} contour figure(s) of 1-D/2-D instances not "
                               "drawn; they re-run every tuned setting up to 200 times: "
                               "`optbench report --contours` (or `optbench plot contour`) "
                               "draws them")
            continue
        todo += jobs(kind, runs, traces, tuned, target=target, criterion=criterion)
    o.say(f"{len(runs)} runs loaded and tuned; {len(todo)} figures to draw "
          f"({', '.join(fm)})")
    o.run(todo)
    tabs = tables(runs, traces, tuned, target=target, n_boot=n_boot,
                  best=best if criterion == "steps" else None)
    (folder / "tables").mkdir(parents=True, exist_ok=True)
    for name, (md, tex, cap) in tabs.items():
        (folder / "tables" / f"{name}.md").write_text(f"{cap}\n\n" + X.to_markdown(md))
        (folder / "tables" / f"{name}.tex").write_text(X.to_latex(tex, cap, f"tab:{name}"))
    o.say(f"{len(tabs)} tables written")
    page = folder / "index.html"
    page.write_text(_html(results, meta, runs, o, tabs, "png" if "png" in fm else "svg"))
    o.say("index.html written")
    return page


_CSS = """body{font-family:Georgia,serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
figure{display:inline-block;margin:.6em;vertical-align:top;max-width:520px}
figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.85em;color:#444}table{border-collapse:collapse;font-size:.85em;margin:1em 0}
td,th{border-bottom:1px solid #ddd;padding:.25em .6em;text-align:right}
th{background:#f4f4f4}.note{color:#8a4b00}code{background:#f4f4f4;padding:0 .2em}"""


def _html(results, meta, runs, o: Out, tabs, fmt) -> str:
    e = html.escape
    env = meta.get("environment", {}) if isinstance(meta, dict) else {}
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<link rel="icon" href="data:,">',
             f"<title>optbench report: {e(str(results))}</title><style>{_CSS}</style></head><body>",
             f"<h1>optbench report: <code>{e(str(results))}</code></h1>",
             f"<p>{len(runs)} runs, {runs['problem'].nunique()} problems, "
             f"{runs['optimizer'].nunique()} optimizers; statuses: "
             + ", ".join(f"{e(str(k))} {v}" for k, v in runs["status"].value_counts().items())
             + ". Failed and diverged runs count as misses in every aggregate.</p>"]
    if env:
        parts.append("<p><small>" + e(", ".join(f"{k}: {v}" for k, v in list(env.items())[:8]
                                                   if not isinstance(v, (dict, list))))
                     + "</small></p>")
    sections = list(dict.fromkeys(s for s, _, _ in o.figures))
    for sec in sections:
        parts.append(f"<h2>{e(sec)}</h2>")
        for s, stem, cap in o.figures:
            if s != sec:
                continue
            links = " · ".join(f'<a href="figures/{e(stem)}.{f}">{f.upper()}</a>'
                               for f in o.formats)
            parts.append(f'<figure><img src="figures/{e(stem)}.{fmt}" alt="{e(cap)}" '
                         f'loading="eager"><figcaption>{e(cap)}<br>{links}</figcaption></figure>')
    parts.append("<h2>Tables</h2>")
    for name, (md, _, cap) in tabs.items():
        shown = md.copy()
        for c in shown.columns:
            if shown[c].dtype.kind == "f":
                shown[c] = [X.fmt_number(v) for v in shown[c]]
        parts.append(f"<h3>{e(cap)}</h3>" + shown.to_html(index=False, escape=True, border=0)
                     + f'<p><a href="tables/{name}.md">Markdown</a> · '
                       f'<a href="tables/{name}.tex">LaTeX</a></p>')
    if o.notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(f'<li class="note">{e(n)}</li>'
                                                    for n in o.notes) + "</ul>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
