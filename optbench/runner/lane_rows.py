"""The lane driver's per-lane vectors: rows of its float scratch ``V`` and int scratch ``W``
(``runner/lanes.py``, ``runner/lane_fused.py``, ``runner/lane_step.py``,
``runner/lane_slow.py``), one column per lane; and the one test on them that decides whether a
lane's step needs its bookkeeping."""
from __future__ import annotations

import numpy as np

from optbench.kernels.compile import kernel

LANES = 64           # runs per chunk (the vector loop's trip count)

# per-lane float vectors (rows of V) and int vectors (rows of W); V_REC and V_RDIST: the
# whole step's lanes that record at this step after their update, and their point's distance
# to x* taken before it (lane_step.py)
V_F, V_S, V_BEST, V_FTHR, V_H, V_DIV, V_COEF, V_CV, V_WD, V_DWD, V_LR, V_NEXT, V_NST, \
    V_QUIET, V_REDO, V_DEFER, V_DEAD, V_REC, V_RDIST = range(19)
N_V = 19
W_SEED, W_LIVE, W_STOPPED = range(3)
N_W = 3


@kernel
def no_event(f, s, tf, V, j):
    """Lane j's step tf (f, its squared gradient norm s) hits no f or gradient target, does
    not diverge and is not its last: the thresholds of its next event are V's rows. Recording
    aside. In doubles: t, the budget and the recording steps are exact in float64; NaN never
    passes. ``V`` is the (N_V, LANES) scratch flat (row r of lane j at r * LANES + j: strides
    the compiler knows, so a loop over lanes that also stores to other rows vectorises)."""
    return (f > V[V_FTHR * LANES + j]) & (s > V[V_H * LANES + j]) \
        & (f <= V[V_DIV * LANES + j]) & (s < np.inf) & (tf < V[V_NST * LANES + j])


@kernel
def quiet_select(f, s, tf, V, j):
    """1 when lane j's update may go ahead in this step, else 0 (its step needs the
    bookkeeping first). V_QUIET says why: 1.0 when the step is surely quiet (no event, no
    recording), 2.0 when its only event is a target reached that cannot stop it (the lane's
    ``V_DEFER`` set: a run of the budget, in the whole step of ``lane_step.py``; its targets
    are recorded after the update, from V_F and V_S, which the update does not change), 0.0
    when the bookkeeping comes first (the caller keeps f and s in V_F and V_S for it). An
    updated lane's best-so-far f is updated by a select, not a branch (f goes up and down at
    random). ``V`` flat, as for :func:`no_event`."""
    calm = (f > V[V_FTHR * LANES + j]) & (s > V[V_H * LANES + j])
    go = (f <= V[V_DIV * LANES + j]) & (f > -np.inf) & (s < np.inf) \
        & (tf < V[V_NST * LANES + j]) & (tf != V[V_NEXT * LANES + j]) \
        & (calm | (V[V_DEFER * LANES + j] != 0.0))
    b = V[V_BEST * LANES + j]
    nb = f if f < b else b
    V[V_BEST * LANES + j] = nb if go else b
    V[V_QUIET * LANES + j] = (2.0 if not calm else 1.0) if go else 0.0
    return 1 if go else 0
