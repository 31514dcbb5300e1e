"""The C allocator's settings for the process: freed arrays stay with the process.

A batch allocates its arrays afresh (the drivers' inputs and outputs, the trace buffer, the
tables' columns: a 4,096-run sweep's are 3–20 MB each) and frees them when its tables are
built. glibc's ``malloc`` gives large blocks back to the operating system when they are freed
(an ``mmap`` per block above ``M_MMAP_THRESHOLD``, trimming the heap's top above
``M_TRIM_THRESHOLD``), so the next batch's arrays start as untouched pages: one page fault per
4 KiB page on first write, 10–20 % of that sweep's wall time in a process that runs it
repeatedly (``python -m optbench.bench parts``, ``allocator``: the sweep through
``execute()`` in fresh processes, 85.5–94.6 ms median with glibc's defaults, 77.9–78.6 ms
with the settings below).

:func:`keep_freed_memory` (called when the runner is imported) raises both thresholds:
blocks up to ``MMAP_BYTES`` come from the heap, and up to ``TRIM_BYTES`` of freed heap stay
with the process for the next batch. The cost is memory: a process keeps up to
``TRIM_BYTES`` it no longer uses (XLA's and PyTorch's caching allocators make the same
trade). ``OPTBENCH_MALLOC=system`` in the environment keeps glibc's defaults; other C
libraries are left alone.

Arrow's buffers (pandas' string columns are Arrow arrays) come from Arrow's own pool,
mimalloc by default, which gives freed memory back to the system after a few milliseconds:
the next batch's tables fault their pages in again, and after other work in the process
(an unrelated comparison of ``python -m optbench.bench peers`` before the sweep) the tables of
the next few batches took 12–24 ms of system time each. Where the settings above are in
force, :func:`arrow_from_malloc` makes glibc's ``malloc`` Arrow's default pool too (unless
``ARROW_DEFAULT_MEMORY_POOL`` chose one).
"""
from __future__ import annotations

import ctypes
import os
import sys

M_TRIM_THRESHOLD = -1      # glibc's mallopt parameters (malloc.h)
M_MMAP_THRESHOLD = -3
MMAP_BYTES = 64 * 2 ** 20
TRIM_BYTES = 256 * 2 ** 20
ENV = "OPTBENCH_MALLOC"
ARROW_POOL = "ARROW_DEFAULT_MEMORY_POOL"

_DONE: list = []


def _glibc():
    """glibc as a ctypes library, or None (another C library). The process's own symbols
    (``dlopen(NULL)``), not ``ctypes.util.find_library``, which runs ``ldconfig``."""
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return None
    if not hasattr(libc, "gnu_get_libc_version") or not hasattr(libc, "mallopt"):
        return None
    return libc


def keep_freed_memory(libc=None, environ=None) -> bool:
    """Raise glibc's mmap and trim thresholds for this process (once; see the module
    docstring). Returns whether the settings are in force. ``libc`` / ``environ``: for tests."""
    environ = os.environ if environ is None else environ
    if environ.get(ENV, "").strip().lower() == "system":
        return False
    if libc is not None:
        return _set(libc)
    if not _DONE:
        libc = _glibc()
        _DONE.append(libc is not None and _set(libc))
        if _DONE[0]:
            arrow_from_malloc(environ)
    return _DONE[0]


def arrow_from_malloc(environ=None) -> bool:
    """Make the C allocator Arrow's default memory pool (see the module docstring), unless
    ``ARROW_DEFAULT_MEMORY_POOL`` is set. Returns whether Arrow's pool is the system's now."""
    environ = os.environ if environ is None else environ
    if environ.get(ARROW_POOL):
        return environ[ARROW_POOL].strip().lower() == "system"
    if "pyarrow" not in sys.modules:       # read when Arrow first needs its pool
        environ[ARROW_POOL] = "system"
        return True
    import pyarrow as pa

    pa.set_memory_pool(pa.system_memory_pool())
    return True


def _set(libc) -> bool:
    return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_BYTES)) \
        and bool(libc.mallopt(M_TRIM_THRESHOLD, TRIM_BYTES))
