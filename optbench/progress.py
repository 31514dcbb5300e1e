"""One progress bar for every executor: runs done / total, errors, diverged runs, ETA.

The bar lives in the process that drives the sweep; executors report finished tasks to it, so
serial, process-pool and dask sweeps look the same. It uses ``tqdm`` when available and
prints nothing when disabled or when stderr is not a terminal (tqdm's ``disable=None``).
"""
from __future__ import annotations

import sys


class Progress:
    def __init__(self, total: int, initial: int = 0, *, enabled: bool = True,
                 desc: str = "optbench", file=None):
        self.total, self.done = int(total), int(initial)
        self.errors = self.diverged = 0
        self._bar = None
        if enabled:
            try:
                from tqdm import tqdm
            except ImportError:  # pragma: no cover - tqdm is a dependency
                tqdm = None
            if tqdm is not None:
                self._bar = tqdm(total=self.total, initial=self.done, unit="run", desc=desc,
                                 file=file or sys.stderr, dynamic_ncols=True, disable=None,
                                 smoothing=0.1)

    def update(self, n: int, *, errors: int = 0, diverged: int = 0):
        """``n`` more runs finished, of which ``errors`` errored and ``diverged`` diverged."""
        self.done += int(n)
        self.errors += int(errors)
        self.diverged += int(diverged)
        if self._bar is not None:
            if self.errors or self.diverged:
                self._bar.set_postfix(error=self.errors, diverged=self.diverged, refresh=False)
            self._bar.update(int(n))

    def update_from(self, runs):
        """Count a finished runs table (its ``status`` column)."""
        if runs is None or len(runs) == 0:
            return
        st = runs["status"].astype(str)
        self.update(len(runs), errors=int((st == "error").sum()),
                    diverged=int((st == "diverged").sum()))

    def write(self, message: str):
        """Print a line without breaking the bar."""
        if self._bar is not None:
            self._bar.write(message, file=sys.stderr)
        else:
            print(message, file=sys.stderr)

    def close(self):
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
