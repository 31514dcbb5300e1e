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


def time_jax(fn, args, repeats: int = 3):
    """Time a jitted JAX function the way the peer rows do: the first call (compile and one
    run) apart, then ``repeats`` calls, each waited for. Returns ``(out, compile_s, walls,
    busy)``: the last output, the first call's seconds, each repeat's wall seconds and its busy
    threads (process CPU time / wall)."""
    import jax

    t0 = time.perf_counter()
    out = jax.block_until_ready(fn(*args))
    compile_s = time.perf_counter() - t0
    walls, busy = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        out = jax.block_until_ready(fn(*args))
        walls.append(time.perf_counter() - t0)
        busy.append((time.process_time() - c0) / walls[-1])
    return out, compile_s, walls, busy


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
