"""L-BFGS and Newton-CG on the 1,000-dim Rosenbrock function against scipy.optimize.

Same method, same start (the standard one), run until f ≤ 1e−10 (see
:mod:`optbench.bench.second_order` for the exact settings); time per iteration and
iterations to the target. Needs scipy (reported skipped without it).
"""
from __future__ import annotations

from .common import Row


def run(dim: int = 1000, repeats: int = 3) -> list[Row]:
    rows = []
    try:
        import scipy  # noqa: F401
    except ImportError:
        for m in ("L-BFGS", "Newton-CG"):
            rows.append(Row(f"{m}, {dim}-dim Rosenbrock, per iteration", f"scipy {m}", None,
                            None, goal=1.0, skipped="scipy not installed"))
        return rows
    from ..second_order import bench

    df = bench(dim=dim, repeats=repeats)
    for m, g in df.groupby("method", sort=False):
        ours = g[g.implementation == "optbench"].iloc[0]
        peer = g[g.implementation != "optbench"].iloc[0]
        work = f"{m}, {dim}-dim Rosenbrock to f ≤ 1e−10, per iteration"
        rows.append(Row(work, peer.implementation, ours.us_per_iter * 1e-6,
                        peer.us_per_iter * 1e-6, goal=1.0,
                        # equal (within 1 %: two correct implementations differ by
                        # line-search details) or fewer iterations, and the target reached
                        also_ok=bool(ours.nit <= 1.01 * peer.nit and ours.reached),
                        note=f"iterations {ours.nit} vs {peer.nit} (goal: equal within 1 % or fewer); "
                             f"reached: {bool(ours.reached)} vs {bool(peer.reached)}",
                        extra={"nit_optbench": int(ours.nit), "nit_peer": int(peer.nit),
                               "iterations_ok": bool(ours.nit <= peer.nit)}))
    return rows
