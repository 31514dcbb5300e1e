"""The lane driver's per-lane vectors: rows of its float scratch ``V`` and int scratch ``W``
(``runner/lanes.py``, ``runner/lane_fused.py``), one column per lane."""
from __future__ import annotations

# per-lane float vectors (rows of V) and int vectors (rows of W)
V_F, V_S, V_BEST, V_FTHR, V_H, V_DIV, V_COEF, V_CV, V_WD, V_DWD, V_LR, V_NEXT, V_NST, \
    V_QUIET = range(14)
N_V = 14
W_SEED, W_LIVE, W_STOPPED = range(3)
N_W = 3
