"""The C allocator's settings (optbench/allocator.py) and the batch end points made when read
(runner/engines/base.py EndPoints)."""
from __future__ import annotations

import os
import platform

import numpy as np
import pytest

from optbench import allocator as A
from optbench.runner.engines.base import EndPoints


class _Libc:
    def __init__(self, answer=1):
        self.calls, self.answer = [], answer

    def mallopt(self, param, value):
        self.calls.append((param, value))
        return self.answer


def test_both_thresholds_are_raised():
    libc = _Libc()
    assert A.keep_freed_memory(libc, environ={})
    assert libc.calls == [(A.M_MMAP_THRESHOLD, A.MMAP_BYTES), (A.M_TRIM_THRESHOLD, A.TRIM_BYTES)]
    assert A.MMAP_BYTES >= 32 * 2 ** 20 and A.TRIM_BYTES >= A.MMAP_BYTES


def test_the_environment_keeps_the_system_allocator():
    libc = _Libc()
    assert not A.keep_freed_memory(libc, environ={A.ENV: "system"})
    assert libc.calls == []


def test_a_refused_setting_is_reported():
    assert not A.keep_freed_memory(_Libc(answer=0), environ={})


@pytest.mark.skipif(platform.system() != "Linux" or A._glibc() is None
                    or os.environ.get(A.ENV, "").lower() == "system",
                    reason="glibc only (the settings are glibc's)")
def test_glibc_accepts_the_settings_when_the_runner_is_imported():
    import pyarrow as pa

    import optbench.runner.execute  # noqa: F401  (calls keep_freed_memory)

    assert A._DONE == [True]
    if not os.environ.get(A.ARROW_POOL) or os.environ[A.ARROW_POOL].lower() == "system":
        assert pa.default_memory_pool().backend_name == "system"


def test_arrow_buffers_come_from_malloc_unless_the_environment_chose_a_pool():
    import pyarrow as pa

    assert not A.arrow_from_malloc({A.ARROW_POOL: "mimalloc"})
    assert A.arrow_from_malloc({A.ARROW_POOL: "system"})
    old = pa.default_memory_pool()
    try:
        try:
            pa.set_memory_pool(pa.mimalloc_memory_pool())
        except NotImplementedError:          # a pyarrow built without mimalloc
            pa.set_memory_pool(pa.jemalloc_memory_pool())
        assert A.arrow_from_malloc({})          # pyarrow imported: the pool is set
        assert pa.default_memory_pool().backend_name == "system"
    finally:
        pa.set_memory_pool(old)


def test_end_points_are_made_when_read_and_copied():
    x0s = np.arange(6.0).reshape(3, 2)
    X = x0s + 10.0
    e = EndPoints(x0s, X)
    assert len(e) == 3
    x0, x = e[1]
    assert np.array_equal(x0, [2.0, 3.0]) and np.array_equal(x, [12.0, 13.0])
    x[0] = -1.0                       # a copy: the batch's array is not touched
    assert X[1, 0] == 12.0
    assert [np.array_equal(b, a + 10) for a, b in e[0:2]] == [True, True]
    assert [np.array_equal(a, x0s[i]) for i, (a, _) in enumerate(e)] == [True] * 3
