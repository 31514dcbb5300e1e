"""The compiled drivers' raw outputs as the columns of the declared schema.

Every driver writes the same per-run arrays (``runner/batch.py``): ``OUT`` / ``IOUT``
(final values and counts, slots ``loop.O_*`` / ``loop.I_*``), ``HITF`` / ``HITG`` (first hit
step per target), ``TRACE`` (recorded rows, columns ``loop.T_*``) and ``MET`` (the problem's
metric columns). :func:`run_columns` and :func:`trace_columns` turn them into columns for
:func:`optbench.record.tables.table`, whole-batch array operations, no loop over steps;
engines add or replace the columns only they fill (second-order counts, CUDA layout).
"""
from __future__ import annotations

import numpy as np

from optbench.record import tables as T
from optbench.record.env import environment_id
from optbench.record.schema import COST_MODEL, column

from .. import loop as L
from .base import BatchTables, EndPoints
from .trace_gather import gather

_STATUS = np.array(L.STATUS, dtype=object)


def run_walls(iout: np.ndarray, rate: float, batch_wall: float) -> np.ndarray:
    """Each run's seconds: its cycle-counter ticks / ``rate`` (ticks per second), or with no
    counter (``rate`` 0) the batch's wall time spread evenly over its runs."""
    if rate > 0:
        return (iout[:, L.I_TICK1] - iout[:, L.I_TICK0]) / rate
    return np.full(iout.shape[0], batch_wall / iout.shape[0])


def _message(status: str, nit: int, spec, f_star) -> str:
    # (of the spec it reads the stop rule only: _messages relies on it)
    if status == "converged":
        return ("reached the final target" if spec.stop != "gtol" and f_star is not None
                else "gradient norm below gtol")
    if status == "budget":
        return "step budget exhausted"
    if status == "diverged":
        return f"diverged at step {nit} (non-finite or exploding f or gradient)"
    return f"{status} at step {nit}"        # failed: engines give the cause


def _messages(status: np.ndarray, codes: np.ndarray, nit: np.ndarray, specs, f_star) -> list:
    """The runs' messages, one per run (engines rewrite some, run by run). When every run
    gives :func:`_message` the same inputs (status, step count and stop rule: a sweep's
    budget runs), it is called once and the list repeats that one string (the table then
    sees one value)."""
    if len(codes) and (codes == codes[0]).all() and (nit == nit[0]).all() \
            and len({sp.stop for sp in specs}) == 1:
        return [_message(status[0], int(nit[0]), specs[0], f_star)] * len(codes)
    return [_message(s, n, sp, f_star) for s, n, sp in zip(status, nit.tolist(), specs)]


def _kinds(opts) -> list:
    """Each run's optimizer kind (a batch's runs share a few optimizer objects: when they
    all say the same, each is asked once and the list repeats the one string)."""
    distinct = dict(zip(map(id, opts), opts)).values()
    kinds = {getattr(o, "kind", "first_order") for o in distinct}
    if len(kinds) == 1:
        return [kinds.pop()] * len(opts)
    return [getattr(o, "kind", "first_order") for o in opts]


def run_columns(b, compile_s: float, walls: np.ndarray) -> dict:
    """Runs columns of batch ``b`` (a ``runner.batch.Batch`` after its driver ran), as the
    first-order drivers count: t + 1 gradients (each with its value) by step t."""
    a, prob, specs = b.a, b.prob, b.specs
    R = len(specs)
    iout, out, hitf, hitg, ladder = a["IOUT"], a["OUT"], a["HITF"], a["HITG"], a["ftg"]
    codes = iout[:, L.I_STATUS]
    status = _STATUS[codes]
    nit = iout[:, L.I_NIT]
    fstar = prob.f_star
    # the gradients (and HVPs) spent by each target's hit step (NaN: missed): t + 1 for a
    # plain first-order step; a contract-v2 optimizer says (``evaluations``)
    ngev_at, nhev_at = b.opts[0].evaluations(np.where(hitf >= 0, hitf, 0))
    hit_evals = np.where(hitf >= 0, ngev_at, np.nan).astype(np.float64)
    hit_ge = np.where(hitf >= 0, ngev_at + nhev_at, np.nan).astype(np.float64)
    ge = (iout[:, L.I_NGEV] + iout[:, L.I_NHEV]).astype(np.float64)
    cols = T.spec_columns(specs)
    cols.update({
        "dim": prob.dim, "status": status,
        "message": _messages(status, codes, nit, specs, fstar),
        "nit": nit, "nfev": iout[:, L.I_NFEV], "ngev": iout[:, L.I_NGEV],
        "grad_equiv": ge, "cost_model": COST_MODEL,
        "f0": out[:, L.O_F0], "fun": out[:, L.O_F], "best_f": out[:, L.O_BEST],
        "f_star": np.nan if fstar is None else float(fstar),
        "grad_norm": out[:, L.O_GNORM], "dist_to_opt": out[:, L.O_DIST],
        "wall_s": walls, "compile_s": float(compile_s), "batch_size": R,
        "env_id": environment_id(),
        "targets": np.broadcast_to(ladder, hitf.shape), "hit_step": hitf, "hit_step_grad": hitg,
        "kind": _kinds(b.opts),
        "hit_ngev": hit_evals, "hit_grad_equiv": hit_ge,
    })
    nan = np.full(R, np.nan)
    for lab, j in T.table_target_index(ladder):
        cols[f"steps_{lab}"] = np.where(hitf[:, j] >= 0, hitf[:, j], np.nan) if j >= 0 else nan
        cols[f"ngev_{lab}"] = hit_evals[:, j] if j >= 0 else nan
        cols[f"grad_equiv_{lab}"] = hit_ge[:, j] if j >= 0 else nan
    return cols


def trace_rows(b) -> tuple[np.ndarray, np.ndarray]:
    """(mask of the recorded rows of each run's TRACE buffer, rows per run)."""
    nrec = b.a["IOUT"][:, L.I_NREC].astype(np.int64)
    return np.arange(b.a["TRACE"].shape[1])[None, :] < nrec[:, None], nrec


def trace_columns(b, walls: np.ndarray, rate: float) -> tuple[dict, int]:
    """Traces columns of batch ``b`` (all runs, run-major) and their row count. Time stamps
    come from the cycle counter, or (``rate`` 0) spread over the run's steps. The core
    columns in one compiled pass (``trace_gather.py``); the phased loop's and the problem's
    metric columns by NumPy."""
    a = b.a
    mask, nrec = trace_rows(b)
    # every run with the same number of rows (a sweep's budget runs): a slice, not a mask
    m = int(nrec[0]) if len(nrec) and bool((nrec == nrec[0]).all()) else -1

    def column(buf, k):
        # one column of the recorded rows, gathered straight from the (run, row, column)
        # buffer: no copy of the whole buffer's rows first
        c = buf[:, :, k]
        return np.ascontiguousarray(c[:, :m]).reshape(-1) if m >= 0 else c[mask]

    cols = {"run_id": T.repeat_ids([s.run_id for s in b.specs], nrec)}
    cols.update(gather(a["TRACE"], a["IOUT"], nrec, walls, rate))
    if "PH" in a:     # the phased loop: HVPs so far and f at the averaged point
        hv = column(a["PH"], 0)
        cols["nhev"] = hv.astype(np.int64)
        cols["f_avg"] = column(a["PH"], 1)
        cols["grad_equiv"] = cols["ngev"] + hv
    for k, name in enumerate(b.metric_names):
        cols[name] = column(a["MET"], k)
    return cols, int(nrec.sum())


def frames(engine: str, b, cols: dict, tcols: dict, n: int) -> tuple:
    """(runs, traces) frames of batch ``b`` from ``engine``'s columns; the problem's metric
    columns are dropped (left to the schema's default) if the engine does not fill them."""
    if engine not in column("traces", "<metric>").filled:
        for name in b.metric_names:
            tcols.pop(name, None)
    return (T.table("runs", engine, cols, len(b)),
            T.table("traces", engine, tcols, n, b.metric_names))


def first_order_tables(engine: str, b, compile_s: float, wall: float, rate: float,
                       **extra) -> BatchTables:
    """The tables of a first-order batch run by ``engine``; ``extra``: runs columns only that
    engine fills (one value for every run)."""
    walls = run_walls(b.a["IOUT"], rate, wall)
    cols = run_columns(b, compile_s, walls)
    cols.update(extra)
    tcols, n = trace_columns(b, walls, rate)
    runs, traces = frames(engine, b, cols, tcols, n)
    return BatchTables(runs, traces, EndPoints(b.x0s, b.a["X"]))
