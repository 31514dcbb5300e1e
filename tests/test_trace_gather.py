"""The traces table's core columns from one compiled pass (runner/engines/trace_gather.py):
the same bits as the NumPy expressions they replace, and every column of both tables its own
memory (an in-place edit of one column reaches no other)."""
from __future__ import annotations

import numpy as np
import pytest

from optbench.runner import loop as L
from optbench.runner.engines import trace_gather as G
from optbench.runner.engines.trace_gather import gather, numpy_reference


@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize("rate", [2.7e9, 0.0])
def test_gather_is_the_numpy_expressions_bit_for_bit(rate, parallel, monkeypatch):
    """On one core and (a batch of PARALLEL_ROWS rows or more) with the runs split over the
    cores."""
    monkeypatch.setattr(G, "PARALLEL_ROWS", 0 if parallel else 10**9)
    rng = np.random.default_rng(3)
    R, rows = 37, 9
    TR = rng.normal(size=(R, rows, L.N_TRACE)) * 1e3
    TR[..., L.T_STEP] = rng.integers(0, 10**6, size=(R, rows))
    TR[..., L.T_NGEV] = rng.integers(1, 10**6, size=(R, rows))
    TR[..., L.T_TICKS] = rng.integers(10**9, 10**12, size=(R, rows)).astype(float)
    TR[3, 2, L.T_F] = np.nan
    iout = np.zeros((R, L.N_IOUT), np.int64)
    iout[:, L.I_TICK0] = rng.integers(0, 10**9, R)
    iout[:, L.I_NIT] = rng.integers(0, 10**6, R)
    nrec = rng.integers(0, rows + 1, R)
    walls = rng.uniform(1e-4, 1.0, R)
    got, want = gather(TR, iout, nrec, walls, rate), numpy_reference(TR, iout, nrec, walls, rate)
    assert set(got) == set(want)
    for k in want:
        assert got[k].dtype == want[k].dtype, k
        assert np.array_equal(got[k], want[k], equal_nan=True), k


def test_every_column_of_both_tables_is_its_own():
    """An in-place edit of any column of the runs or traces frame changes that column only
    (ngev and nfev were one array in two columns before the compiled pass)."""
    from optbench.runner import execute as E
    from optbench.runner.spec import RunSpec

    specs = [RunSpec.make("rosenbrock", "adam", seed=s, steps=40, stop="budget")
             for s in range(3)]
    res = E.run_batch(specs)
    for df in (res.runs, res.traces):
        for c in df.columns:
            if df[c].dtype.kind not in "if":
                continue
            before = df.copy(deep=True)
            old = df.iloc[0, df.columns.get_loc(c)]
            df.iloc[0, df.columns.get_loc(c)] = 12345 if df[c].dtype.kind == "i" else -7.5
            changed = [k for k in df.columns if not before[k].equals(df[k])]
            assert changed == [c], (c, changed)
            df.iloc[0, df.columns.get_loc(c)] = old
