"""The traces table's core columns gathered from a batch's trace buffer in one compiled pass.

The drivers write each run's recorded rows into ``TRACE`` (runs × rows × ``loop.N_TRACE``,
``runner/batch.py``). The traces table wants them run-major and column by column: step and
gradient count as integers, f, best f, gradient norm and distance, and the time stamp in
seconds. NumPy does that as one strided copy per column plus the conversions, each a pass
over memory (a 4,096-run sweep's 348,160 rows: 5–7 ms); :func:`gather` reads the buffer
once (for a large batch the runs split over the cores: 1.4 ms), and computes each value as NumPy would (the step and gradient count
truncated to integers, the time stamp ``(ticks − tick₀) / rate`` or, without a cycle
counter, the run's wall time × (step + 1) / (nit + 1): same operations, same order, tested
against the NumPy expressions). Every column is its own row of memory: an edit of one
column never reaches another.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

import optbench.kernels  # noqa: F401  (numba's cache folder, before the dispatcher below)

from optbench.kernels.compile import with_constants

from .. import loop as L

INTS = ("step", "ngev", "nfev")                  # rows of the int output
FLOATS = ("f", "best_f", "grad_norm", "dist_to_opt", "time_s", "grad_equiv")   # float rows
_FLOAT_SRC = np.array([L.T_F, L.T_BEST, L.T_GNORM, L.T_DIST], np.int64)


def _gather_rows(TR, nrec, start, tick0, rate, walls, nit, src, I, F):
    for r in prange(TR.shape[0]):     # runs write disjoint rows: one pass, every core
        o = start[r]
        for k in range(nrec[r]):
            row = TR[r, k]
            step = row[L.T_STEP]
            ngev = np.int64(row[L.T_NGEV])
            I[0, o + k] = np.int64(step)
            I[1, o + k] = ngev
            I[2, o + k] = ngev                   # first-order: one f with each gradient
            F[5, o + k] = np.float64(ngev)
            for c in range(src.shape[0]):
                F[c, o + k] = row[src[c]]
            if rate > 0.0:
                F[4, o + k] = (row[L.T_TICKS] - np.float64(tick0[r])) / rate
            else:
                F[4, o + k] = walls[r] * (step + 1.0) / np.float64(nit[r] + 1)


# one source, two compilations (each its own name: numba's disk cache keys by name): a batch
# with at least PARALLEL_ROWS rows splits its runs over the cores (the 4,096-run sweep's
# 348,160 rows: 4 ms on one core, 1.4 on two); a smaller one stays on its thread, and a
# process that never gathers that many rows never compiles (0.7 s cold) nor loads the
# parallel one (it would start the thread pool of a process that may have none)
_gather = njit(cache=True, error_model="numpy")(
    with_constants(_gather_rows, "_gather_serial"))
_gather_parallel = njit(cache=True, error_model="numpy", parallel=True)(
    with_constants(_gather_rows, "_gather_parallel"))
PARALLEL_ROWS = 65_536


def gather(TR: np.ndarray, iout: np.ndarray, nrec: np.ndarray, walls: np.ndarray,
           rate: float) -> dict:
    """The columns ``INTS`` + ``FLOATS`` of the recorded rows (``nrec`` per run) of ``TR``:
    each a contiguous row of one int64 or float64 array (rows never overlap)."""
    nrec = np.ascontiguousarray(nrec, np.int64)
    start = np.zeros(len(nrec), np.int64)
    np.cumsum(nrec[:-1], out=start[1:])
    n = int(nrec.sum())
    ints = np.empty((len(INTS), n), np.int64)
    floats = np.empty((len(FLOATS), n))
    fn = _gather_parallel if n >= PARALLEL_ROWS else _gather
    fn(np.ascontiguousarray(TR), nrec, start, np.ascontiguousarray(iout[:, L.I_TICK0]),
       float(rate), np.ascontiguousarray(walls, np.float64),
       np.ascontiguousarray(iout[:, L.I_NIT]), _FLOAT_SRC, ints, floats)
    out = {name: ints[i] for i, name in enumerate(INTS)}
    out.update({name: floats[i] for i, name in enumerate(FLOATS)})
    return out


def numpy_reference(TR, iout, nrec, walls, rate) -> dict:
    """The same columns by the NumPy expressions the compiled pass replaced (one strided
    gather per column, then the conversions): the reference of its tests and of
    ``python -m optbench.bench parts``' ``traces`` figure."""
    mask = np.arange(TR.shape[1])[None, :] < nrec[:, None]
    step = TR[:, :, L.T_STEP][mask]
    if rate > 0:
        tsec = (TR[:, :, L.T_TICKS][mask] - np.repeat(iout[:, L.I_TICK0], nrec)) / rate
    else:
        tsec = np.repeat(walls, nrec) * (step + 1) / (np.repeat(iout[:, L.I_NIT], nrec) + 1)
    ngev = TR[:, :, L.T_NGEV][mask].astype(np.int64)
    return {"step": step.astype(np.int64), "ngev": ngev, "nfev": ngev.copy(),
            "f": TR[:, :, L.T_F][mask], "best_f": TR[:, :, L.T_BEST][mask],
            "grad_norm": TR[:, :, L.T_GNORM][mask], "dist_to_opt": TR[:, :, L.T_DIST][mask],
            "time_s": np.asarray(tsec, np.float64), "grad_equiv": ngev.astype(np.float64)}
