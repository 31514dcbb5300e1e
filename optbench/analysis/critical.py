r"""Critical-point analysis: gradient norm, extreme Hessian eigenvalues, Hessian index, the
class of a point and its distance to the nearest known critical point.

* **Dense** (d ≤ ``dense_max`` = 2000): ``numpy.linalg.eigvalsh`` of the symmetrised Hessian
  (``problem.hess``; O(d³) time, O(d²) memory). Exact up to rounding, about d·eps·‖H‖.
* **Lanczos** (larger d, or ``method="lanczos"``): Hessian-vector products only, O(d·m)
  memory. λ_max from m Lanczos steps (full reorthogonalisation); the eigenvalues below
  +``eig_tol`` are found one cluster at a time by Lanczos with **deflation**: every Ritz pair
  with residual ‖Hy − θy‖ ≤ ``rtol``·‖H‖ and θ < +eig_tol is locked and projected out, and the
  search restarts in the orthogonal complement until the smallest Ritz value of the deflated
  operator is ≥ +eig_tol (converged to ``rtol``·‖H‖). Deflation resolves multiplicities
  (a single Krylov space sees one vector per distinct eigenvalue); invariant subspaces restart
  from a random vector. **Accuracy of the count:** exact when every locked pair converged and
  the Lanczos runs found the extreme eigenvalue of each deflated operator (probability one
  from random starts in exact arithmetic); eigenvalues within about rtol·‖H‖ of ±eig_tol may
  be counted on either side. ``index_exact`` is False when ``max_count`` eigenvalues were
  locked before the end (the index is then a lower bound). Cost: about (number of clusters +
  1)·m HVPs plus O(m² d) per run (Golub & Van Loan, *Matrix Computations*, §10.1;
  Saad, *Numerical Methods for Large Eigenvalue Problems*, §4.2 and §6.3 on deflation).

Classification (thresholds): **not stationary** if ‖∇f‖ > ``gtol`` (default 1e-5); otherwise
with eig_tol = ``eig_rtol``·max|λ| (default 1e-8) and index = #{λ < −eig_tol},
n_zero = #{|λ| ≤ eig_tol}: **maximum** if index = d, **saddle** if 0 < index < d,
**degenerate** if index = 0 and n_zero > 0 (the second-order test is inconclusive),
else **minimum**.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd

from optbench.validate import OptbenchInputError, choice

DENSE_MAX = 2000
KINDS = ("minimum", "saddle", "maximum", "degenerate", "not stationary")


def dense_eigenvalues(problem, x) -> np.ndarray:
    """All Hessian eigenvalues at x (ascending), from the dense symmetrised Hessian."""
    H = problem.hess(x)
    return np.linalg.eigvalsh(0.5 * (H + H.T))


def _orth(v, *bases):
    for _ in range(2):
        for B in bases:
            if B.shape[1]:
                v = v - B @ (B.T @ v)
    return v


def _lanczos(matvec, d, Q, m, v0, rng):
    """m Lanczos steps on P H P (P projects out the columns of Q), full reorthogonalisation,
    restarting from a random vector on an invariant subspace. Returns (θ ascending, Ritz
    vectors (d, k), residual norms)."""
    V = np.zeros((d, m))
    al, be = np.zeros(m), np.zeros(m)
    v = _orth(v0, Q)
    v /= np.linalg.norm(v)
    k = m
    anorm = 0.0
    b = 0.0
    for j in range(m):
        V[:, j] = v
        w = _orth(matvec(v), Q)
        al[j] = v @ w
        w = _orth(w, V[:, :j + 1], Q)
        b = float(np.linalg.norm(w))
        anorm = max(anorm, abs(al[j]) + b)
        if j == m - 1:
            break
        if b <= 1e-10 * anorm:            # invariant subspace: continue with a fresh vector
            w = _orth(rng.standard_normal(d), V[:, :j + 1], Q)
            nw = np.linalg.norm(w)
            if nw <= 1e-8 or Q.shape[1] + j + 1 >= d:
                k = j + 1
                b = 0.0
                break
            be[j], v = 0.0, w / nw
        else:
            be[j], v = b, w / b
    T = np.diag(al[:k]) + np.diag(be[:k - 1], 1) + np.diag(be[:k - 1], -1)
    th, S = np.linalg.eigh(T)
    return th, V[:, :k] @ S, b * np.abs(S[-1, :])


def lanczos_spectrum(problem, x, *, eig_rtol=1e-8, rtol=1e-8, steps=100, max_count=200,
                     seed=0):
    """Extreme eigenvalues and the eigenvalues below +eig_tol by Lanczos with deflation.
    Returns dict(lam_min, lam_max, low (sorted eigenvalues < +eig_tol), eig_tol, exact, nhvp)."""
    x = problem._x(x)
    d = problem.dim
    nhvp = [0]

    def mv(v):
        nhvp[0] += 1
        return problem.hvp(x, np.ascontiguousarray(v))

    rng = np.random.default_rng(seed)
    m = min(steps, d)
    th, _, _ = _lanczos(mv, d, np.zeros((d, 0)), m, rng.standard_normal(d), rng)
    hnorm = max(abs(th[0]), abs(th[-1]), 1e-300)
    lam_max = float(th[-1])
    tol = eig_rtol * hnorm
    Q = np.zeros((d, 0))
    low: list = []
    exact, v0, mm, stuck = False, rng.standard_normal(d), m, 0
    lam_min = float(th[0])
    while len(low) < max_count and Q.shape[1] < d and stuck < 8:
        mm = min(mm, d - Q.shape[1])
        th, Y, res = _lanczos(mv, d, Q, mm, v0, rng)
        conv = res <= rtol * hnorm
        hnorm = max(hnorm, abs(th[0]), abs(th[-1]))
        lam_min = min(lam_min, float(th[0]))
        if conv[0] and th[0] >= tol:
            exact = True
            break
        sel = np.nonzero(conv & (th < tol))[0][: max_count - len(low)]
        if sel.size == 0:                 # smallest not converged: longer run from its vector
            v0, mm, stuck = Y[:, 0], min(2 * mm, d), stuck + 1
            continue
        stuck = 0
        Qn, _ = np.linalg.qr(_orth(Y[:, sel], Q))
        Q = np.hstack([Q, Qn])
        low.extend(float(t) for t in th[sel])
        v0, mm = rng.standard_normal(d), m
    if Q.shape[1] >= d:
        exact = True
    return {"lam_min": lam_min, "lam_max": max(lam_max, lam_min), "low": np.sort(low),
            "eig_tol": tol, "exact": exact, "nhvp": nhvp[0]}


def analyse(problem, x, *, method="auto", gtol=1e-5, eig_rtol=1e-8, dense_max=DENSE_MAX,
            max_count=200, seed=0) -> dict:
    """Gradient norm, extreme eigenvalues, index, its fraction, zero count and class at x."""
    choice("method", method, ("auto", "dense", "lanczos"))
    x = problem._x(x)
    d = problem.dim
    g = problem.grad(x)
    gn = float(np.linalg.norm(g))
    if method == "dense" or (method == "auto" and d <= dense_max):
        lam = dense_eigenvalues(problem, x)
        tol = eig_rtol * max(abs(lam[0]), abs(lam[-1]), 1e-300)
        idx, nz = int(np.sum(lam < -tol)), int(np.sum(np.abs(lam) <= tol))
        lo, hi, used, exact = float(lam[0]), float(lam[-1]), "dense", True
    else:
        if problem.HVP is None:
            raise OptbenchInputError(f"problem {problem.name} has no Hessian-vector product")
        r = lanczos_spectrum(problem, x, eig_rtol=eig_rtol, max_count=max_count, seed=seed)
        tol, low = r["eig_tol"], r["low"]
        idx, nz = int(np.sum(low < -tol)), int(np.sum(np.abs(low) <= tol))
        lo, hi, used, exact = r["lam_min"], r["lam_max"], "lanczos", r["exact"]
    if gn > gtol:
        kind = "not stationary"
    elif idx == d:
        kind = "maximum"
    elif idx > 0:
        kind = "saddle"
    else:
        kind = "degenerate" if nz > 0 else "minimum"
    return {"grad_norm": gn, "f": problem.value(x), "lam_min": lo, "lam_max": hi, "index": idx,
            "index_fraction": idx / d, "n_zero": nz, "kind": kind, "method": used,
            "index_exact": exact, "eig_tol": tol}


def classify(problem, x, **kw) -> tuple[str, int]:
    """(kind, index): kind is one of KINDS (see the module docstring for the thresholds)."""
    a = analyse(problem, x, **kw)
    return a["kind"], a["index"]


def nearest_known(problem, x) -> dict:
    """Distance to the nearest of ``problem.critical_points()`` (NaN when none are listed),
    with that point's index, kind and f."""
    cps = problem.critical_points()
    if cps.empty:
        return {"dist": np.nan, "index": -1, "kind": "", "f": np.nan}
    x = np.asarray(x, float)
    dist = np.array([np.linalg.norm(x - c) for c in cps["x"]])
    j = int(np.argmin(dist))
    return {"dist": float(dist[j]), "index": int(cps["index"].iloc[j]),
            "kind": str(cps["kind"].iloc[j]), "f": float(cps["f"].iloc[j])}


def critical_columns(runs: pd.DataFrame, xs, **kw) -> pd.DataFrame:
    """``runs`` with critical-point columns for each run's final x (``xs``: a list aligned with
    the rows, of x arrays or of (x0, x) pairs as ``execute(..., keep_x=True)`` returns; None
    leaves NaN). Columns: cp_grad_norm, cp_lam_min, cp_lam_max, cp_index, cp_index_fraction,
    cp_n_zero, cp_kind, cp_method, cp_index_exact, cp_nearest_dist, cp_nearest_index,
    cp_nearest_kind."""
    if len(xs) != len(runs):
        raise OptbenchInputError(f"need one x per run: {len(xs)} x for {len(runs)} runs")
    from optbench import problems as P

    probs: dict = {}
    rows = []
    for pp, xv in zip(runs["problem_params"], xs):
        if isinstance(xv, tuple):
            xv = xv[1]
        if xv is None:
            rows.append({})
            continue
        if pp not in probs:
            probs[pp] = P.make(json.loads(pp))
        p = probs[pp]
        a = analyse(p, xv, **kw)
        nk = nearest_known(p, xv)
        rows.append({"cp_grad_norm": a["grad_norm"], "cp_lam_min": a["lam_min"],
                     "cp_lam_max": a["lam_max"], "cp_index": a["index"],
                     "cp_index_fraction": a["index_fraction"], "cp_n_zero": a["n_zero"],
                     "cp_kind": a["kind"], "cp_method": a["method"],
                     "cp_index_exact": a["index_exact"], "cp_nearest_dist": nk["dist"],
                     "cp_nearest_index": nk["index"], "cp_nearest_kind": nk["kind"]})
    cols = pd.DataFrame(rows, index=runs.index)
    return pd.concat([runs, cols], axis=1)
