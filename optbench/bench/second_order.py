"""Second-order speed and iteration counts against scipy.optimize (same method, same start).

    python -m optbench.bench second-order [--dim 1000] [--target 1e-10] [--repeats 3] [--quick]

L-BFGS (memory 10, strong Wolfe) against ``minimize(method='L-BFGS-B')`` (maxcor 10) and
Newton-CG (truncated CG on Hessian-vector products, strong-Wolfe line search) against
``minimize(method='Newton-CG')``, on the chained Rosenbrock function from its standard start.
Both run until f − f* ≤ target (scipy: the first iteration whose callback sees it). Reported:
iterations, value/gradient/HVP evaluations, wall time of the run (optbench: the compiled loop,
compile time apart; scipy: the whole ``minimize`` call with its NumPy ``rosen`` functions, as a
user would run it), and time per iteration. Median wall time over ``repeats``. Needs scipy.
"""
from __future__ import annotations

import statistics
import time
import warnings

import pandas as pd

import optbench as ob

METHODS = {
    "L-BFGS": ({"optimizer": "lbfgs", "memory": 10}, "L-BFGS-B", {"maxcor": 10, "gtol": 0.0,
                                                                  "ftol": 0.0}),
    "Newton-CG": ({"optimizer": "newton", "solver": "cg", "line_search": "wolfe"}, "Newton-CG",
                  {"xtol": 1e-30}),
}


class _Hit(Exception):
    pass


def _scipy_run(method, x0, target, opts, maxiter):
    """(iterations, wall seconds, {nfev, ngev, nhev}) when f first met the target."""
    import scipy.optimize as so

    c = {"nit": 0, "nfev": 0, "ngev": 0, "nhev": 0}

    def f(x):
        c["nfev"] += 1
        return so.rosen(x)

    def g(x):
        c["ngev"] += 1
        return so.rosen_der(x)

    def hp(x, v):
        c["nhev"] += 1
        return so.rosen_hess_prod(x, v)

    def cb(xk, *a):
        c["nit"] += 1
        if so.rosen(xk) <= target:
            raise _Hit

    kw = {"hessp": hp} if method == "Newton-CG" else {}
    t0 = time.perf_counter()
    hit = False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            so.minimize(f, x0, jac=g, method=method, callback=cb,
                        options={**opts, "maxiter": maxiter}, **kw)
        except _Hit:
            hit = True
    return c, time.perf_counter() - t0, hit


def bench(dim: int = 1000, target: float = 1e-10, repeats: int = 3,
          maxiter: int = 20000) -> pd.DataFrame:
    p = ob.problem("rosenbrock", dim=dim)
    x0 = p.x0()
    rows = []
    for name, (ospec, sm, sopts) in METHODS.items():
        o = dict(ospec)
        opt = ob.optimizer(o.pop("optimizer"), **o)
        res = [ob.run(p, opt, steps=maxiter, targets=[target], record="none")
               for _ in range(repeats)]
        r = res[-1]
        wall = statistics.median(x.wall_s for x in res)
        rows.append({"method": name, "implementation": "optbench", "dim": dim,
                     "reached": r.status == "converged", "nit": r.nit, "nfev": r.nfev,
                     "ngev": r.ngev, "nhev": r.nhev, "wall_s": wall,
                     "us_per_iter": 1e6 * wall / max(r.nit, 1), "compile_s": r.compile_s})
        sc = [_scipy_run(sm, x0, target, sopts, maxiter) for _ in range(repeats)]
        c, _, hit = sc[-1]
        wall = statistics.median(s[1] for s in sc)
        rows.append({"method": name, "implementation": f"scipy {sm}", "dim": dim,
                     "reached": hit, "nit": c["nit"], "nfev": c["nfev"], "ngev": c["ngev"],
                     "nhev": c["nhev"], "wall_s": wall,
                     "us_per_iter": 1e6 * wall / max(c["nit"], 1), "compile_s": 0.0})
    return pd.DataFrame(rows)
