"""The tidy tables, ``runs`` (one row per run) and ``traces`` (long), built to the schema.

Every column is declared once in :mod:`optbench.record.schema` (name, dtype, unit, meaning,
which drivers fill it, the value elsewhere). :func:`table` turns a driver's columns into a
frame with exactly the declared columns, in order and with their dtypes; it refuses a column
that is not declared, and a declared column the driver should fill but did not (or fills
but should not): drift between producers and the schema fails loudly, in every test.

This module knows nothing of the drivers' raw arrays (``runner/engines/outputs.py``
converts those); it builds the columns that come from the run specs and the error rows.
"""
from __future__ import annotations

import json
from functools import lru_cache

import numpy as np
import pandas as pd

from .schema import COST_MODEL, TABLES, expand, names, pandas_dtype, target_label
from .targets import TABLE_TARGETS

__all__ = ["COST_MODEL", "TRACE_COLUMNS", "table", "spec_columns", "error_row", "error_runs",
           "runs_frame", "empty_trace", "list_cells", "traces_frame", "arrow_table", "repeat_ids",
           "target_label", "table_target_index", "hyper_columns"]

TRACE_COLUMNS = names("traces")


def table(kind: str, driver: str, values: dict, n: int, metrics=()) -> pd.DataFrame:
    """The ``kind`` ("runs" or "traces") frame of ``n`` rows that ``driver`` produced.

    ``values`` maps column names to a length-n sequence (list, array) or one value for every
    row; ``metrics`` names the problem's extra trace columns. Columns ``driver`` does not
    fill get the declared default."""
    cols = expand(kind, metrics)
    unknown = set(values) - {name for name, _ in cols}
    if unknown:
        raise ValueError(f"{kind} columns {sorted(unknown)} are not declared in "
                         "optbench/record/schema.py")
    data = {}
    for name, c in cols:
        fills = driver in c.filled
        if fills != (name in values):
            raise ValueError(f"driver {driver!r} {'must fill' if fills else 'does not fill'} "
                             f"{kind} column {name!r} (optbench/record/schema.py)")
        data[name] = _column(values[name] if fills else c.default, c.dtype, n)
    return pd.DataFrame(data, index=pd.RangeIndex(n), copy=False)


def _column(v, dtype: str, n: int):
    # np.ndim of a list of lists would build the whole 2-D array just to count dimensions
    scalar = isinstance(v, str) or v is None or (
        not isinstance(v, (list, tuple, np.ndarray, pd.Series, pd.api.extensions.ExtensionArray))
        and np.ndim(v) == 0)
    if dtype in ("int64", "float64"):
        return np.full(n, v, dtype=dtype) if scalar else np.asarray(v, dtype=dtype)
    if dtype.startswith("list"):
        if scalar:
            raise ValueError("a list column needs one list per row")
        return list_cells(v, dtype[5:-1], n)
    # (arrays, not Series: the frame takes them as they are; pandas checks a Series again
    # when it builds the frame, about a quarter of a 1,024-run runs table's time)
    if dtype in ("string", "text") and isinstance(v, np.ndarray) and v.dtype == object:
        v = v.tolist()      # (statuses by code) the list paths below
    if dtype in ("string", "text") and n > 0 and (scalar or (
            isinstance(v, list) and len(v) == n and v.count(v[0]) == n)):
        # one value in every row (a batch's problem, device, environment id, …)
        return _repeat_strings([v if scalar else v[0]], np.array([n]), pandas_dtype(dtype))
    if dtype in ("string", "text") and isinstance(v, list) and len(v) == n:
        fast = _arrow_strings(v, None, pandas_dtype(dtype))
        if fast is not None:       # distinct ids of one length (a sweep's run ids)
            return fast
        fast = _few_strings(v, pandas_dtype(dtype))
        if fast is not None:       # few distinct values (a sweep's optimizer settings)
            return fast
    values = [v] * n if scalar else (v.to_numpy() if isinstance(v, pd.Series) else v)
    want = pandas_dtype(dtype)
    if want == np.dtype(object):
        out = np.empty(n, dtype=object)
        out[:] = values
        return out
    return pd.array(values, dtype=want)


def list_cells(v, item: str, n: int) -> np.ndarray:
    """A list column's cells: one 1-D NumPy array of dtype ``item`` per row, as a results
    folder reads them back. A 2-D array (a driver's per-run rows) becomes views of its rows —
    no Python object per element, which for a sweep's five 51-target columns was most of the
    runs table's cost (and its garbage collections)."""
    out = np.empty(n, dtype=object)
    if isinstance(v, np.ndarray) and v.ndim == 2:
        out[:] = list(np.ascontiguousarray(v, dtype=item))
    else:
        out[:] = [np.asarray(c, dtype=item) for c in v]
    return out


def spec_columns(specs) -> dict:
    """The columns every row takes from its run spec."""
    problem = [s.problem for s in specs]
    optimizer = [s.optimizer for s in specs]
    # a sweep's specs share few distinct problem / optimizer strings: each parsed once, its
    # fields then looked up per row by ``map`` (no Python frame per row)
    pp = {k: specs[i].problem_params for k, i in _first(problem).items()}
    op = {k: specs[i].optimizer_params for k, i in _first(optimizer).items()}
    names = {k: p["problem"] for k, p in pp.items()}
    onames = {k: o["optimizer"] for k, o in op.items()}
    lrs = {k: float(o.get("lr", np.nan)) for k, o in op.items()}
    return {
        "run_id": [s.run_id for s in specs],
        "problem": list(map(names.__getitem__, problem)),
        "problem_params": problem,
        "optimizer": list(map(onames.__getitem__, optimizer)),
        "optimizer_params": optimizer,
        "lr": list(map(lrs.__getitem__, optimizer)),
        "seed": [s.seed for s in specs],
        "budget": [s.steps for s in specs],
        "stop": [s.stop for s in specs],
        "device": [s.device for s in specs],
        "dtype": [s.dtype for s in specs],
    }


def _first(values: list) -> dict:
    """{value: the index of its first occurrence in ``values``} (built without a Python
    loop: the reversed pairs, so that the first occurrence is the one kept)."""
    return dict(zip(reversed(values), range(len(values) - 1, -1, -1)))


def _error_values(specs, message: str) -> dict:
    nan = float("nan")
    vals = spec_columns(specs)
    vals.update({"dim": -1, "status": "error", "message": message, "nit": 0, "nfev": 0,
                 "ngev": 0, "grad_equiv": 0.0, "cost_model": COST_MODEL, "batch_size": 0,
                 "env_id": "",
                 "targets": [list(s.targets) for s in specs],
                 "hit_step": [[-1] * len(s.targets) for s in specs],
                 "hit_step_grad": [[-1] * len(s.targets) for s in specs],
                 "hit_ngev": [[nan] * len(s.targets) for s in specs],
                 "hit_grad_equiv": [[nan] * len(s.targets) for s in specs]})
    return vals


def error_runs(specs, message: str) -> pd.DataFrame:
    """Runs rows of status ``error`` for specs whose batch raised: nothing computed is lost."""
    return table("runs", "error", _error_values(specs, message), len(specs))


def error_row(spec, message: str) -> dict:
    """One error row as a dict (the columns error rows fill; see :func:`runs_frame`)."""
    return {k: (v[0] if isinstance(v, list) else v)
            for k, v in _error_values([spec], message).items()}


def runs_frame(rows: list[dict]) -> pd.DataFrame:
    """A runs frame from error rows made by :func:`error_row`."""
    if not rows:
        return _empty("runs")
    return table("runs", "error", {k: [r[k] for r in rows] for k in rows[0]}, len(rows))


def _empty(kind: str) -> pd.DataFrame:
    return pd.DataFrame({name: _column([], c.dtype, 0) for name, c in expand(kind)},
                        index=pd.RangeIndex(0))


def empty_trace(run_id: str = "") -> pd.DataFrame:
    """A traces frame with no rows (``run_id`` is accepted for old callers, unused)."""
    return _empty("traces")


def traces_frame(parts: list[pd.DataFrame]) -> pd.DataFrame:
    parts = [p for p in parts if p is not None]
    if not parts:
        return _empty("traces")
    return pd.concat(parts, ignore_index=True)


def arrow_table(df: pd.DataFrame):
    """``df`` (a runs or traces frame) as an Arrow table, its list columns typed as declared:
    Arrow's inference would type a column whose lists are all NaN (every target missed, error
    rows) as ``list<null>``, read back as lists of None."""
    import pyarrow as pa

    t = pa.Table.from_pandas(df, preserve_index=False)
    lists = _arrow_lists()
    for i, name in enumerate(t.column_names):
        want = lists.get(name)
        if want is not None and t.schema.field(i).type != want:
            t = t.set_column(i, pa.field(name, want), t.column(i).cast(want))
    return t


@lru_cache(maxsize=1)
def _arrow_lists() -> dict:
    import pyarrow as pa

    items = {"list<float64>": pa.float64(), "list<int64>": pa.int64()}
    return {c.name: pa.list_(items[c.dtype]) for kind in ("runs", "traces")
            for c in TABLES[kind] if c.dtype in items}


def table_target_index(ladder) -> list:
    """(label, position in ``ladder`` or -1) of each TABLE_TARGETS entry (once per batch)."""
    out = []
    for t in TABLE_TARGETS:
        j = np.nonzero(np.isclose(ladder, t, rtol=1e-9, atol=0))[0]
        out.append((target_label(t), int(j[0]) if j.size else -1))
    return out


def repeat_ids(ids: list, counts: np.ndarray):
    """``np.repeat(ids, counts)`` as a string column (the running pandas' ``str`` dtype)."""
    return _repeat_strings(ids, counts, pandas_dtype("text"))


def _repeat_strings(values: list, counts: np.ndarray, dtype):
    """``values[i]`` repeated ``counts[i]`` times as a pandas array of string ``dtype``: where
    pandas stores strings in Arrow (the default of pandas 3), Arrow's ``take`` of the distinct
    values, no Python object per row (a sweep's 348,160 trace rows: 1.2 ms, against 8.6 ms
    for building the strings' bytes in NumPy and 50 ms for Python strings)."""
    counts = np.asarray(counts, np.int64)
    arrow = getattr(dtype, "storage", None) == "pyarrow"
    if arrow and len(values) == 1 and values[0] is None:     # a column nobody filled
        import pyarrow as pa

        return pd.array(pa.nulls(int(counts.sum()), pa.large_string()), dtype=dtype)
    fast = _arrow_strings(values, counts, dtype)
    if fast is not None:
        return fast
    if arrow and all(isinstance(v, str) for v in values):
        import pyarrow as pa

        rows = np.repeat(np.arange(len(values), dtype=np.int64), counts)
        return pd.array(pa.array(values, type=pa.large_string()).take(pa.array(rows)),
                        dtype=dtype)
    return pd.array(np.repeat(np.array(values, dtype=object), counts), dtype=dtype)


def _few_strings(values: list, dtype):
    """``values`` as a pandas string array of ``dtype`` by Arrow's ``take`` of its distinct
    values, or None where pandas does not store strings in Arrow, a value is not a ``str``,
    or more than a quarter of the values are distinct (a 4,096-run sweep's 64 optimizer
    settings: 0.3 against 0.7 ms through pandas' conversion of every value)."""
    if getattr(dtype, "storage", None) != "pyarrow":
        return None
    distinct = dict.fromkeys(values)
    if 4 * len(distinct) > len(values) or set(map(type, distinct)) != {str}:
        return None
    import pyarrow as pa

    code = {v: i for i, v in enumerate(distinct)}
    rows = np.fromiter(map(code.__getitem__, values), np.int64, len(values))
    return pd.array(pa.array(list(distinct), type=pa.large_string()).take(pa.array(rows)),
                    dtype=dtype)


def _arrow_strings(values: list, counts, dtype):
    """``values[i]`` (repeated ``counts[i]`` times; ``counts`` None: once) as a pandas string
    array of ``dtype`` built from one NumPy bytes buffer, or None where that does not apply:
    pandas without Arrow strings, a value that is not a non-empty ASCII ``str``, or values of
    different lengths. A sweep's run ids (16 hex digits each) are all of one length: their
    Arrow array is the bytes as they are and offsets 0, w, 2w, … — 348,160 trace rows in
    0.35 ms, against 1.3 ms for Arrow's ``take`` and 0.47 ms for a runs table's 4,096 ids
    through pandas' own conversion."""
    if getattr(dtype, "storage", None) != "pyarrow" or not values \
            or set(map(type, values)) != {str}:
        return None
    try:
        b = np.array(values, dtype="S")
    except UnicodeEncodeError:
        return None
    w = b.dtype.itemsize
    # "S" pads shorter values with NULs (and drops a value's own trailing NULs): every
    # value must measure w
    if getattr(np, "strings", np.char).str_len(b).min() != w:
        return None
    if counts is not None:
        b = np.repeat(b, counts)
    import pyarrow as pa

    n = b.size
    offsets = np.arange(0, (n + 1) * w, w, dtype=np.int64)
    arr = pa.Array.from_buffers(pa.large_string(), n, [None, pa.py_buffer(offsets),
                                                        pa.py_buffer(b)])
    return pd.array(arr, dtype=dtype)


def hyper_columns(runs: pd.DataFrame) -> pd.DataFrame:
    """Expand ``optimizer_params`` JSON into one column per hyperparameter (prefixed ``hp_``)."""
    ex = pd.json_normalize([json.loads(s) for s in runs["optimizer_params"]]).add_prefix("hp_")
    ex.index = runs.index
    return pd.concat([runs, ex], axis=1)

