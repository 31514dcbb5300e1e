"""Draw and save a list of figure jobs, with one progress line per figure.

A job is ``(section, name, caption, make)`` with ``make()`` → Figure. :class:`Out` draws
each, saves it in every asked format (:func:`optbench.plots.style.save`) and records what
was written, what could not be drawn (an :class:`~optbench.validate.OptbenchInputError`
becomes a note) and the warnings about missing f*. The jobs run one after the other in
this process: worker processes were measured slower on a 2-core machine (each rebuilds
the text and font caches that later figures reuse). Cost: about a second of CPU per
figure in three formats.
"""
from __future__ import annotations

import re
import time
import warnings
from pathlib import Path

from optbench.validate import OptbenchInputError

from . import style as S


def slug(s: str) -> str:
    """A file-name-safe stem."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(s)).strip("_")[:80] or "x"


def _one(job, figdir: Path, formats) -> tuple:
    """Draw and save one job: (stem or None, notes, seconds, error text)."""
    section, name, caption, make = job
    t = time.perf_counter()
    notes = []
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        try:
            fig = make()
        except OptbenchInputError as e:
            return None, [f"{section} / {name}: not drawn: {e}"], time.perf_counter() - t, str(e)
    for m in w:
        if issubclass(m.category, UserWarning) and "f*" in str(m.message):
            notes.append(f"{section}: {m.message}")
    stem = Path(figdir) / slug(name)
    S.save(fig, stem, formats)
    return stem.name, notes, time.perf_counter() - t, None


class Out:
    """Collects written figures and notes; ``progress`` (a callable taking one line, or
    None) hears of each figure as it is written."""

    def __init__(self, figdir: Path, formats, progress=None):
        self.figdir, self.formats = Path(figdir), formats
        self.figures: list[tuple[str, str, str]] = []   # (section, stem, caption)
        self.notes: list[str] = []
        self.progress = progress
        self.t0 = time.perf_counter()

    def say(self, line: str):
        if self.progress is not None:
            self.progress(f"{line} [{time.perf_counter() - self.t0:.1f} s]")

    def run(self, jobs: list):
        """Draw and save every job, one progress line each."""
        for k, job in enumerate(jobs, 1):
            section, name, caption, _ = job
            stem, notes, secs, err = _one(job, self.figdir, self.formats)
            for n in notes:
                if n not in self.notes:
                    self.notes.append(n)
            if stem is not None:
                self.figures.append((section, stem, caption))
            self.say(f"[{k}/{len(jobs)}] {name}" + (f": not drawn ({err})" if err else
                                                      f" ({secs:.1f} s)"))
