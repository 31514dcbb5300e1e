"""What every benchmark shares: the median timer and the writer of BENCHMARKS.md sections."""
from __future__ import annotations

import statistics
import time
from pathlib import Path


def median_time(fn, repeats: int, warmup: int = 1) -> float:
    """Median wall seconds of ``fn()`` over ``repeats`` calls, after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def write_section(path: Path, title: str, md: str):
    """Replace (or append) the section that starts with ``title`` in a Markdown file."""
    head = ("# Benchmarks\n\nEvery figure here is produced by a script in the repository; "
            "the command is given with each table.\n\n")
    text = path.read_text() if path.exists() else head
    start = text.find(title)
    if start >= 0:
        end = text.find("\n## ", start + 5)
        text = text[:start] + md + (text[end + 1:] if end >= 0 else "")
    else:
        text = text.rstrip() + "\n\n" + md
    path.write_text(text)
