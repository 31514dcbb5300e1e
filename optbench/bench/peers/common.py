"""Shared pieces of the peer comparisons: the machine record, result rows, a STREAM-like
triad (the timer is :func:`optbench.bench.common.median_time`)."""
from __future__ import annotations

import datetime as dt
import importlib
import math
import os
from dataclasses import dataclass, field

import numpy as np

from ..common import median_time


def version(module: str) -> str | None:
    """Installed version of ``module``, or None when it cannot be imported."""
    try:
        return getattr(importlib.import_module(module), "__version__", "?")
    except Exception:  # noqa: BLE001 - any import failure means "not installed" here
        return None


def gpu_name() -> str | None:
    """Name of the first real CUDA GPU, or None (never the simulator)."""
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        return None
    try:
        from numba import cuda
        if not cuda.is_available():
            return None
        return cuda.get_current_device().name.decode() if isinstance(
            cuda.get_current_device().name, bytes) else str(cuda.get_current_device().name)
    except Exception:  # noqa: BLE001
        return None


def machine() -> dict:
    """CPU model (with its family and model), cores, GPU, package versions and date: the
    header of every report."""
    from optbench.record.env import cpu_model, cpu_signature, git_commit
    import platform

    sig = cpu_signature()
    cpu = f"{cpu_model()} ({sig})" if sig else cpu_model()
    return {"date": dt.date.today().isoformat(), "cpu": cpu, "cores": os.cpu_count(),
            "gpu": gpu_name() or "none", "python": platform.python_version(),
            "optbench_commit": (git_commit() or "?")[:10],
            **{m: version(m) or "not installed"
               for m in ("numba", "numpy", "scipy", "torch", "pandas")}}


@dataclass
class Row:
    """One comparison: optbench's figure against one peer's, the ratio and the goal."""
    work: str
    peer: str
    ours: float | None            # seconds (or a rate when ``unit`` says so)
    theirs: float | None
    unit: str = "s"               # "s" (smaller is better) or "/s" (a rate: larger is better)
    goal: float | None = None     # required speed-up of optbench over the peer (ratio ≥ goal)
    goal_max: float | None = None  # or: optbench may be at most this many times slower
    skipped: str = ""             # why the peer was not measured
    also_ok: bool | None = None   # a second condition of the goal (e.g. iterations), if any
    note: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def speedup(self) -> float:
        """How many times faster optbench is than the peer (NaN when skipped)."""
        if self.skipped or not self.ours or not self.theirs:
            return math.nan
        return self.ours / self.theirs if self.unit == "/s" else self.theirs / self.ours

    @property
    def met(self) -> bool | None:
        if self.skipped or math.isnan(self.speedup):
            return None
        ok = None
        if self.goal is not None:
            ok = self.speedup >= self.goal
        elif self.goal_max is not None:
            ok = self.speedup >= 1.0 / self.goal_max
        if ok is not None and self.also_ok is not None:
            ok = ok and self.also_ok
        return ok

    def goal_text(self) -> str:
        if self.goal is not None:
            return f"≥ {self.goal:g}× faster"
        if self.goal_max is not None:
            return f"≤ {self.goal_max:g}× its time"
        return "—"

    @classmethod
    def from_dict(cls, d: dict) -> "Row":
        """A row back from :meth:`as_dict` (its goal, a text there, is not kept)."""
        keep = ("work", "peer", "ours", "theirs", "unit", "skipped", "note")
        return cls(**{k: d[k] for k in keep if k in d})

    def as_dict(self) -> dict:
        return {"work": self.work, "peer": self.peer, "ours": self.ours, "theirs": self.theirs,
                "unit": self.unit, "speedup": self.speedup, "goal": self.goal_text(),
                "met": self.met, "skipped": self.skipped, "note": self.note, **self.extra}


def fmt_time(v: float | None, unit: str = "s") -> str:
    """A time (seconds) or a rate with a readable unit."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    if unit == "/s":
        return f"{v:.3g} steps/s"
    for scale, name in ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs"), (1e-9, "ns")):
        if v >= scale or name == "ns":
            return f"{v / scale:.3g} {name}"
    return f"{v:.3g} s"


def triad_bandwidth(n: int = 2 ** 22, repeats: int = 9) -> float:
    """STREAM-like triad a = b + s·c with a parallel Numba loop: bytes moved per second
    (24 bytes per element: two reads and one write; write-allocate traffic not counted,
    as in STREAM)."""
    from numba import njit, prange

    @njit(parallel=True, cache=False)
    def triad(a, b, c, s):
        for i in prange(a.shape[0]):
            a[i] = b[i] + s * c[i]

    a, b, c = np.full(n, 0.0), np.full(n, 1.0), np.full(n, 2.0)
    t = median_time(lambda: triad(a, b, c, 0.5), repeats, warmup=2)
    return 24.0 * n / t


def _speed(r: Row) -> str:
    if r.skipped:
        return f"skipped: {r.skipped}"
    s = r.speedup
    if math.isnan(s):
        return "—"
    return f"{s:.3g}× faster" if s >= 1 else f"{1 / s:.3g}× slower"


def _met(r: Row) -> str:
    return {True: "yes", False: "**no**", None: ""}[r.met]


def table(rows: list[Row]) -> str:
    lines = ["| work | peer | optbench | peer | optbench vs peer | goal | met | notes |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r.work} | {r.peer} | {fmt_time(r.ours, r.unit)} | "
                     f"{fmt_time(r.theirs, r.unit) if not r.skipped else '—'} | {_speed(r)} | "
                     f"{r.goal_text()} | {_met(r)} | {r.note} |")
    return "\n".join(lines)
