r"""Benchmark metrics of docs/reference.md ("Benchmark metrics"), pandas in, pandas out.

* **Runtime for a target** Δf: the first step t (and its gradient-evaluation count) at which
  the best-so-far :math:`f - f^\star \le \Delta f`; a miss keeps the budget it spent
  (``spent_steps`` = nit, ``spent_evals`` = ngev). Error and diverged runs are rows like any
  other: they are misses unless they met the target before failing.
* **aRT** :math:`= \sum_{\text{all runs}} \text{evals} / \#\text{successes}` (evals to the hit
  for a success, all evals spent for a miss), with a bootstrap confidence interval over runs.
* **ECDF**: fraction of (instance, target) pairs reached within a budget x; misses and
  solvers that never ran an instance stay in the denominator. With several runs (seeds) of a
  pair, each run weighs 1/(runs of that pair).
* **Dolan–Moré**: :math:`r(p,s) = t(p,s)/\min_s t(p,s)`,
  :math:`\rho_s(\tau) = |\{p : r(p,s) \le \tau\}| / n_p` (a failure has r = ∞).
* **Moré–Wild** data profile: p converged when :math:`f(x_0) - f \ge (1-\tau)(f(x_0) - f_L)`,
  f_L the best f found on p by any solver; :math:`d_s(\alpha) = |\{p : t(p,s)/(n_p+1) \le
  \alpha\}| / |P|` with n_p the dimension. A problem p is one (instance, seed) pair (every
  solver starts from the same x0); t is read from the traces (the first *recorded* step
  meeting the test, so its resolution is that of the trace sampling).
* **AlgoPerf score**: :math:`\int_1^{r_{max}} \rho_s(\tau)\,d\tau / (r_{max} - 1)`,
  r_max = 4, computed exactly for the step function ρ_s.

Evaluations: a hit at step t counts (t + 1)·ngev/(nit + 1) gradient evaluations, i.e. t + 1
for every optimizer that evaluates one gradient per step (the convention of the runs table).
Quantiles are empirical (``inverted_cdf``, no interpolation), so a median over runs that
missed is ∞ when more than half missed. Instances with no known f* have no f targets: they
are left out of f-target aggregates with a warning naming them.
Cost: O(runs × targets) plus O(trace rows) for data profiles; bootstrap O(B × runs).
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from optbench.record.targets import MW_TAUS, TABLE_TARGETS
from optbench.validate import OptbenchInputError

from .labels import with_labels

MEASURES = ("evals", "steps")
GROUP = ["instance", "solver", "target"]


def quantile(a, q):
    """Empirical quantile (inverted CDF): infinities propagate, no interpolation."""
    a = np.asarray(a, dtype=float)
    a = a[~np.isnan(a)]
    if a.size == 0:
        return np.nan
    return float(np.quantile(a, q, method="inverted_cdf"))


def _measure(m):
    if m not in MEASURES:
        raise OptbenchInputError(f"measure must be one of {', '.join(MEASURES)}, got {m!r}")
    return m


def _targets(runs, targets):
    if targets is None:
        return np.asarray(TABLE_TARGETS, float)
    if isinstance(targets, str) and targets == "ladder":
        ok = runs[runs["status"] != "error"] if "status" in runs else runs
        src = ok if len(ok) else runs
        return np.asarray(src["targets"].iloc[0], float) if len(src) else np.zeros(0)
    t = np.atleast_1d(np.asarray(targets, float))
    if t.size == 0 or np.any(~np.isfinite(t)) or np.any(t <= 0):
        raise OptbenchInputError(f"targets must be positive finite numbers, got {targets!r}")
    return t


def _from_trace(tr, fstar, t, kind):
    if tr is None or len(tr) == 0:
        return -1
    v = tr["best_f"].to_numpy() - fstar if kind == "f" else tr["grad_norm"].to_numpy()
    j = np.nonzero(v <= t)[0]
    return int(tr["step"].to_numpy()[j[0]]) if j.size else -1


def runtimes(runs: pd.DataFrame, targets=None, *, kind: str = "f", traces=None,
             solver=None) -> pd.DataFrame:
    """One row per (run, target): ``hit``, ``steps``/``evals`` (NaN for a miss),
    ``spent_steps``/``spent_evals`` and the labels. ``targets``: values (default the table
    targets 10 … 1e−7) or ``"ladder"`` (the runs' whole ladder). A target outside a run's
    ladder is read from ``traces`` (at their resolution) or refused without them.
    ``kind``: ``"f"`` (best-so-far f − f*) or ``"grad"`` (‖∇f‖)."""
    if kind not in ("f", "grad"):
        raise OptbenchInputError(f"kind must be 'f' or 'grad', got {kind!r}")
    R = with_labels(runs, solver)
    tg = _targets(R, targets)
    fstar_inst = R.groupby("instance")["f_star"].max()
    by_run = dict(tuple(traces.groupby("run_id"))) if traces is not None and len(traces) else {}
    hcol = "hit_step" if kind == "f" else "hit_step_grad"
    out = []
    for r in R.to_dict("records"):
        lad = np.asarray(r["targets"], float)
        hits = np.asarray(r[hcol], np.int64)
        nit, ngev = int(r["nit"]), int(r["ngev"])
        rate = ngev / (nit + 1) if nit + 1 > 0 and ngev > 0 else 1.0
        fstar = fstar_inst[r["instance"]]
        defined = kind == "grad" or bool(np.isfinite(fstar))
        for t in tg:
            j = np.nonzero(np.isclose(lad, t, rtol=1e-9, atol=0.0))[0] if lad.size else []
            if len(j):
                h = int(hits[j[0]])
            elif r["status"] == "error":
                h = -1
            elif r["run_id"] in by_run or traces is not None:
                h = _from_trace(by_run.get(r["run_id"]), fstar, t, kind) if defined else -1
            else:
                raise OptbenchInputError(
                    f"target {t:g} is not in the ladder of run {r['run_id']}; pass traces= "
                    "to read it from the traces")
            hit = h >= 0
            out.append({
                "run_id": r["run_id"], "instance": r["instance"], "problem": r["problem"],
                "solver": r["solver"], "optimizer": r["optimizer"], "seed": r["seed"],
                "dim": r["dim"], "status": r["status"], "target": float(t), "hit": hit,
                "steps": float(h) if hit else np.nan,
                "evals": (h + 1) * rate if hit else np.nan,
                "spent_steps": float(nit), "spent_evals": float(ngev), "defined": defined})
    cols = ["run_id", "instance", "problem", "solver", "optimizer", "seed", "dim", "status",
            "target", "hit", "steps", "evals", "spent_steps", "spent_evals", "defined"]
    return pd.DataFrame(out, columns=cols)


def _defined(rt: pd.DataFrame) -> pd.DataFrame:
    bad = sorted(rt.loc[~rt["defined"].astype(bool), "instance"].unique())
    if bad:
        warnings.warn("no known f*, left out of the f-target aggregate: " + ", ".join(bad),
                      stacklevel=3)
    return rt[rt["defined"].astype(bool)]


def _art(cost, succ):
    s = succ.sum()
    return cost.sum() / s if s > 0 else np.inf


def art(rt: pd.DataFrame, *, measure: str = "evals", n_boot: int = 1000, ci: float = 0.95,
        seed: int = 0) -> pd.DataFrame:
    """aRT per (instance, solver, target) with a bootstrap CI (runs resampled with
    replacement, ``n_boot`` times; empirical quantiles). Columns: runs, successes,
    success_rate, aRT, aRT_lo, aRT_hi (∞ where no run succeeded)."""
    m = _measure(measure)
    if not 0 < ci < 1:
        raise OptbenchInputError(f"ci must be in (0, 1), got {ci!r}")
    rng = np.random.default_rng(seed)
    rows = []
    for key, g in rt.groupby(GROUP, sort=True):
        succ = g["hit"].to_numpy(bool)
        cost = np.where(succ, g[m].to_numpy(float), g[f"spent_{m}"].to_numpy(float))
        a = _art(cost, succ)
        lo = hi = a
        if n_boot > 0 and len(g) > 1:
            idx = rng.integers(0, len(g), size=(n_boot, len(g)))
            s = succ[idx].sum(axis=1)
            c = cost[idx].sum(axis=1)
            b = np.where(s > 0, c / np.maximum(s, 1), np.inf)
            lo, hi = quantile(b, (1 - ci) / 2), quantile(b, 1 - (1 - ci) / 2)
        rows.append({**dict(zip(GROUP, key)), "runs": len(g), "successes": int(succ.sum()),
                     "success_rate": succ.mean(), "aRT": a, "aRT_lo": lo, "aRT_hi": hi})
    return pd.DataFrame(rows, columns=GROUP + ["runs", "successes", "success_rate", "aRT",
                                               "aRT_lo", "aRT_hi"])


def summary(rt: pd.DataFrame, *, measure: str = "steps", **art_kw) -> pd.DataFrame:
    """Per (instance, solver, target): runs, successes, median and quartiles of the runtime
    (misses as ∞) and aRT with its CI (see :func:`art`)."""
    m = _measure(measure)
    a = art(rt, measure=m, **art_kw).set_index(GROUP)
    v = rt.assign(_v=np.where(rt["hit"], rt[m], np.inf))
    q = v.groupby(GROUP, sort=True)["_v"].agg(
        median=lambda s: quantile(s, 0.5), q25=lambda s: quantile(s, 0.25),
        q75=lambda s: quantile(s, 0.75))
    return a.join(q).reset_index()


def ecdf(rt: pd.DataFrame, *, measure: str = "evals", per_dim: bool = False) -> pd.DataFrame:
    """Runtime ECDF per solver: rows (solver, budget, fraction), fraction = share of the
    (instance, target) pairs reached within ``budget`` (cumulative; the last row of a solver
    is its final fraction). Pairs are the union over all solvers (of defined instances), so
    misses, failed runs and missing solvers count in the denominator. ``attrs``: ``pairs``
    and ``max_budget`` (largest budget spent by any run)."""
    m = _measure(measure)
    d = _defined(rt)
    pairs = d[["instance", "target"]].drop_duplicates()
    npairs = len(pairs)
    scale = np.where(d["dim"].to_numpy(float) > 0, d["dim"].to_numpy(float), 1.0) if per_dim else 1.0
    d = d.assign(_x=d[m].to_numpy(float) / scale, _spent=d[f"spent_{m}"].to_numpy(float) / scale)
    rows = []
    for s, g in d.groupby("solver", sort=True):
        n_runs = g.groupby(["instance", "target"])["run_id"].transform("size").to_numpy(float)
        w = 1.0 / (npairs * n_runs)
        hit = g["hit"].to_numpy(bool)
        x, w = g["_x"].to_numpy(float)[hit], w[hit]
        order = np.argsort(x, kind="stable")
        x, c = x[order], np.cumsum(w[order])
        if x.size == 0:
            rows.append((s, np.nan, 0.0))
            continue
        last = np.r_[x[1:] != x[:-1], True]
        rows.extend((s, float(b), float(f)) for b, f in zip(x[last], c[last]))
    out = pd.DataFrame(rows, columns=["solver", "budget", "fraction"])
    out.attrs["pairs"] = npairs
    out.attrs["max_budget"] = float(d["_spent"].max()) if len(d) else np.nan
    return out


def ecdf_at(ec: pd.DataFrame, budgets) -> pd.DataFrame:
    """Evaluate the ECDF step functions at ``budgets`` (columns: solvers)."""
    b = np.asarray(budgets, float)
    cols = {}
    for s, g in ec.groupby("solver", sort=True):
        g = g.dropna(subset=["budget"])
        idx = np.searchsorted(g["budget"].to_numpy(), b, side="right")
        f = np.r_[0.0, g["fraction"].to_numpy()]
        cols[s] = f[idx]
    return pd.DataFrame(cols, index=pd.Index(b, name="budget"))


def cost_matrix(rt: pd.DataFrame, target: float, *, measure: str = "evals",
                stat: str = "art") -> pd.DataFrame:
    """t(p, s) for one target: instances × solvers, ∞ for a failure (no success, or a solver
    that has no run on the instance). ``stat``: ``"art"`` or ``"median"``."""
    m = _measure(measure)
    if stat not in ("art", "median"):
        raise OptbenchInputError(f"stat must be 'art' or 'median', got {stat!r}")
    d = _defined(rt)
    d = d[np.isclose(d["target"], target, rtol=1e-9, atol=0)]
    if d.empty:
        raise OptbenchInputError(f"no runtimes for target {target:g}")
    if stat == "art":
        v = art(d, measure=m, n_boot=0).set_index(["instance", "solver"])["aRT"]
    else:
        v = d.assign(_v=np.where(d["hit"], d[m], np.inf)).groupby(
            ["instance", "solver"])["_v"].agg(lambda s: quantile(s, 0.5))
    c = v.unstack("solver").reindex(index=sorted(d["instance"].unique()),
                                    columns=sorted(rt["solver"].unique()))
    return c.fillna(np.inf).astype(float)


def performance_ratios(costs: pd.DataFrame) -> pd.DataFrame:
    """r(p, s) = t(p, s) / min_s t(p, s); ∞ for a failure and on problems no solver solved."""
    c = costs.to_numpy(float)
    c = np.where(np.isnan(c), np.inf, c)
    best = c.min(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(np.isfinite(c) & (best > 0), c / best, np.inf)
        r = np.where(np.isfinite(c) & (best == 0), np.where(c == 0, 1.0, np.inf), r)
    return pd.DataFrame(r, index=costs.index, columns=costs.columns)


def performance_profile(costs: pd.DataFrame, taus=None) -> pd.DataFrame:
    """Dolan–Moré ρ_s(τ) (index τ, one column per solver). Default τ: 1 and every finite
    ratio, up to 1.05 × the largest."""
    r = performance_ratios(costs)
    fin = r.to_numpy()[np.isfinite(r.to_numpy())]
    if taus is None:
        top = max(1.0, fin.max() if fin.size else 1.0)
        taus = np.unique(np.r_[1.0, fin, 1.05 * top])
    taus = np.asarray(taus, float)
    n_p = max(len(r), 1)
    data = {s: [(r[s].to_numpy() <= t).sum() / n_p for t in taus] for s in r.columns}
    return pd.DataFrame(data, index=pd.Index(taus, name="tau"))


def profile_score(costs: pd.DataFrame, r_max: float = 4.0) -> pd.Series:
    """AlgoPerf-style ∫₁^{r_max} ρ_s(τ) dτ / (r_max − 1), exact: each problem adds
    (r_max − r)/(r_max − 1) when r ≤ r_max (r ≥ 1), divided by the number of problems."""
    if not r_max > 1:
        raise OptbenchInputError(f"r_max must be > 1, got {r_max!r}")
    r = performance_ratios(costs).to_numpy()
    part = np.where(r <= r_max, (r_max - np.maximum(r, 1.0)) / (r_max - 1.0), 0.0)
    return pd.Series(part.sum(axis=0) / max(len(r), 1), index=costs.columns, name="score")


def mw_costs(runs: pd.DataFrame, traces: pd.DataFrame, taus=MW_TAUS, *, solver=None,
             normalise: str | None = "dim") -> dict:
    """Moré–Wild t(p, s) per τ: {τ: DataFrame (instance, seed) × solver}, in gradient
    evaluations divided by n_p + 1 (``normalise="dim"``) or raw (None); ∞ = not converged.
    A solver must have one run per (instance, seed): tune first (see lr_protocol)."""
    if normalise not in ("dim", None):
        raise OptbenchInputError(f"normalise must be 'dim' or None, got {normalise!r}")
    R = with_labels(runs, solver)
    dup = R.duplicated(["instance", "seed", "solver"])
    if dup.any():
        r0 = R[dup].iloc[0]
        raise OptbenchInputError(
            f"solver {r0['solver']!r} has several runs on {r0['instance']} seed {r0['seed']}: "
            "pick one setting per solver first (optbench.analysis.lr_protocol.select_best) "
            "or use solver='config'")
    ok = R["status"] != "error"
    g = R.groupby(["instance", "seed"])
    fL = g["best_f"].min()
    f0 = R[ok].groupby(["instance", "seed"])["f0"].median().reindex(fL.index)
    dim = R.groupby("instance")["dim"].max()
    tr = traces.sort_values(["run_id", "step"]) if len(traces) else traces
    by_run = {k: (v["ngev"].to_numpy(float), v["best_f"].to_numpy(float))
              for k, v in tr.groupby("run_id")} if len(tr) else {}
    out = {}
    for tau in np.atleast_1d(np.asarray(taus, float)):
        vals = {}
        for r in R.to_dict("records"):
            p = (r["instance"], r["seed"])
            t = np.inf
            if r["status"] != "error" and r["run_id"] in by_run:
                ng, best = by_run[r["run_id"]]
                need = (1.0 - tau) * (f0[p] - fL[p])
                with np.errstate(invalid="ignore"):
                    j = np.nonzero(f0[p] - best >= need)[0]
                if j.size:
                    t = ng[j[0]] / (dim[r["instance"]] + 1.0 if normalise == "dim" else 1.0)
            vals[(p, r["solver"])] = t
        s = pd.Series(vals)
        s.index = pd.MultiIndex.from_tuples([(a[0], a[1], b) for a, b in s.index],
                                            names=["instance", "seed", "solver"])
        out[float(tau)] = s.unstack("solver").reindex(fL.index).fillna(np.inf)
    return out


def data_profile(runs: pd.DataFrame, traces: pd.DataFrame, taus=MW_TAUS, *, alphas=None,
                 solver=None, normalise: str | None = "dim") -> pd.DataFrame:
    """Moré–Wild d_s(α) as rows (tau, solver, alpha, fraction); default α: 0 and every
    finite t(p, s) of that τ (the jumps of the step functions)."""
    costs = mw_costs(runs, traces, taus, solver=solver, normalise=normalise)
    rows = []
    for tau, c in costs.items():
        v = c.to_numpy(float)
        a = alphas
        if a is None:
            a = np.unique(np.r_[0.0, v[np.isfinite(v)]])
        a = np.asarray(a, float)
        n = max(len(c), 1)
        for j, s in enumerate(c.columns):
            frac = (v[:, j][None, :] <= a[:, None]).sum(axis=1) / n
            rows.extend((tau, s, float(x), float(f)) for x, f in zip(a, frac))
    return pd.DataFrame(rows, columns=["tau", "solver", "alpha", "fraction"])
