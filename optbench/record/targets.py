"""Targets and recording schedules (docs/reference.md, 'Conventions of a run').

The default target ladder is COCO's: Δf ∈ {10², 10^1.8, …, 10⁻⁸} (51 values) on the
best-so-far f − f*, and the same ladder on ‖∇f‖. Tables summarise at TABLE_TARGETS.
"""
from __future__ import annotations

import numpy as np

from optbench.validate import OptbenchInputError

COCO_LADDER = 10.0 ** np.linspace(2.0, -8.0, 51)
TABLE_TARGETS = (10.0, 1.0, 1e-1, 1e-2, 1e-3, 1e-5, 1e-7)
MW_TAUS = (1e-1, 1e-3, 1e-5, 1e-7)


def ladder(targets=None) -> np.ndarray:
    """Targets as a strictly decreasing float array (default: the COCO ladder)."""
    if targets is None or (isinstance(targets, str) and targets == "coco"):
        return COCO_LADDER.copy()
    try:
        t = np.asarray(targets, dtype=np.float64).ravel()
    except (TypeError, ValueError, OverflowError):
        raise OptbenchInputError(f"targets must be positive finite numbers, got {targets!r}") \
            from None
    if t.size == 0 or not np.all(np.isfinite(t)) or np.any(t <= 0):
        raise OptbenchInputError(f"targets must be positive finite numbers, got {targets!r}")
    return np.unique(t)[::-1].copy()


def record_steps(budget: int, record="log", points: int = 100) -> np.ndarray:
    """Steps at which the trace is sampled: 'log' (≈ ``points`` log-spaced, always 0..10 and the
    budget), 'every:K', 'none' (only the last step) or an explicit list."""
    if isinstance(record, str):
        if record == "log":
            s = np.unique(np.concatenate([
                np.arange(0, min(budget, 10) + 1),
                np.round(np.logspace(0, np.log10(max(budget, 1)), points)).astype(np.int64),
                [budget]]))
        elif record.startswith("every:"):
            try:
                k = int(record.split(":", 1)[1])
            except ValueError:
                k = 0
            if k <= 0:
                raise OptbenchInputError(f"record 'every:K' needs a positive integer K, got {record!r}")
            s = np.unique(np.concatenate([np.arange(0, budget + 1, k), [budget]]))
        elif record == "none":
            s = np.zeros(0, np.int64)
        else:
            raise OptbenchInputError(
                f"record must be 'log', 'every:K', 'none' or a list of steps, got {record!r}")
    else:
        try:
            s = np.unique(np.asarray(record, dtype=np.int64))
        except (TypeError, ValueError, OverflowError):
            raise OptbenchInputError(f"record steps must be integers, got {record!r}") from None
        if s.size and (s[0] < 0):
            raise OptbenchInputError("record steps must be >= 0")
    return np.ascontiguousarray(s[s <= budget], dtype=np.int64)
