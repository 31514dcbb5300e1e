"""The lane driver's per-lane vectors: rows of its float scratch ``V`` and int scratch ``W``
(``runner/lanes.py``, ``runner/lane_fused.py``, ``runner/lane_slow.py``), one column per lane;
and the one test on them that decides whether a lane's step needs its bookkeeping."""
from __future__ import annotations

import numpy as np

from optbench.kernels.compile import kernel

# per-lane float vectors (rows of V) and int vectors (rows of W)
V_F, V_S, V_BEST, V_FTHR, V_H, V_DIV, V_COEF, V_CV, V_WD, V_DWD, V_LR, V_NEXT, V_NST, \
    V_QUIET = range(14)
N_V = 14
W_SEED, W_LIVE, W_STOPPED = range(3)
N_W = 3


@kernel
def no_event(f, s, tf, V, j):
    """Lane j's step tf (f, its squared gradient norm s) hits no f or gradient target, does
    not diverge and is not its last: the thresholds of its next event are V's rows. Recording
    aside. In doubles: t, the budget and the recording steps are exact in float64; NaN never
    passes."""
    return (f > V[V_FTHR, j]) & (s > V[V_H, j]) & (f <= V[V_DIV, j]) & (s < np.inf) \
        & (tf < V[V_NST, j])


@kernel
def quiet_select(f, s, tf, V, j):
    """1 when lane j's step is surely quiet (no event, no recording; then its best-so-far f is
    updated by a select, not a branch: f goes up and down at random), else 0; V_QUIET says
    which."""
    q = no_event(f, s, tf, V, j) & (tf != V[V_NEXT, j])
    b = V[V_BEST, j]
    nb = f if f < b else b
    V[V_BEST, j] = nb if q else b
    V[V_QUIET, j] = 1.0 if q else 0.0
    return 1 if q else 0
