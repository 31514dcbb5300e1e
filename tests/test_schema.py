"""The output schema (optbench/record/schema.py) is the one declaration of the runs and traces
columns: every driver's tables (and error rows) have exactly the declared columns and dtypes,
producers cannot drift from it, and README's column list is generated from it."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import cuda_mode

import optbench as ob
from optbench.record import schema as SC
from optbench.record import tables as T
from optbench.runner import execute as E
from optbench.runner.engines.cpu import FusedEngine, LaneEngine, LockstepEngine, SpecialEngine
from optbench.runner.suites import suite_specs

README = Path(__file__).resolve().parents[1] / "README.md"


def specs(problem, optimizer, **kw):
    return suite_specs({"name": "t", "problems": [problem], "optimizers": [optimizer],
                        "steps": 30, "seeds": 2, **kw})


def check_table(df: pd.DataFrame, kind: str, metrics=()):
    """Exactly the declared columns, in order, with the declared dtypes."""
    assert list(df.columns) == SC.names(kind, metrics)
    for name, col in SC.expand(kind, metrics):
        assert df[name].dtype == SC.pandas_dtype(col.dtype), (kind, name, df[name].dtype)
        if col.dtype.startswith("list"):
            item = col.dtype[5:-1]
            assert all(isinstance(v, np.ndarray) and v.ndim == 1 and v.dtype == item
                       for v in df[name]), name


def check_defaults(df: pd.DataFrame, kind: str, driver: str, metrics=()):
    """Columns the driver does not fill hold the declared default."""
    for name, col in SC.expand(kind, metrics):
        if driver in col.filled or df.empty:
            continue
        v = df[name]
        if col.default is None:
            assert v.isna().all(), name
        elif isinstance(col.default, float) and np.isnan(col.default):
            assert v.isna().all(), name
        else:
            assert (v == col.default).all(), name


@pytest.fixture(scope="module")
def tables():
    """(runs, traces, metric names) of every CPU driver and of error rows."""
    rosen = specs({"problem": "rosenbrock", "start": "random"}, {"optimizer": "adam", "lr": 1e-2})
    out = {"generic": E.run_batch(rosen)}
    for engine in (SpecialEngine(), LockstepEngine(), LaneEngine()):
        out[engine.name] = E.run_batch(rosen, engine=engine)
    out["fused"] = E.run_batch(specs({"problem": "double-well", "dim": 64, "start": "random"},
                                     {"optimizer": "adam", "lr": 1e-2}), engine=FusedEngine())
    out["second-order"] = E.run_batch(
        specs({"problem": "rosenbrock"}, {"optimizer": ["lbfgs", "newton"]}))
    mlp = {"problem": "mlp", "dataset": "xor", "depth": 1, "width": 4, "n": 32}
    out["mlp/generic"] = E.run_batch(specs(mlp, {"optimizer": "adam", "lr": 1e-2}))
    out["mlp/second-order"] = E.run_batch(specs(mlp, {"optimizer": "lbfgs"}))
    # a batch that raises (a stochastic problem for L-BFGS): error rows, no traces
    out["error"] = E.execute(specs({"problem": "noisy-rosenbrock"}, {"optimizer": "lbfgs"}))
    return out


@pytest.mark.parametrize("driver", ["generic", "special", "lockstep", "lanes", "fused",
                                    "second-order"])
def test_every_cpu_driver_writes_exactly_the_declared_columns(tables, driver):
    res = tables[driver]
    assert res.runs.shape[0] >= 2 and len(res.traces) > 0
    check_table(res.runs, "runs")
    check_table(res.traces, "traces")
    check_defaults(res.runs, "runs", driver)
    check_defaults(res.traces, "traces", driver)
    assert set(res.traces.run_id) == set(res.runs.run_id)


def test_first_order_values_of_the_columns_second_order_fills(tables):
    runs, traces = tables["generic"].runs, tables["generic"].traces
    assert (runs.kind == "first_order").all() and (runs.nfev == runs.ngev).all()
    assert (runs.grad_equiv == runs.ngev).all()
    for _, r in runs.iterrows():   # hit_ngev is hit_step + 1, NaN for a miss
        h = np.asarray(r.hit_step, float)
        expect = np.where(h >= 0, h + 1, np.nan)
        assert np.array_equal(r.hit_ngev, expect, equal_nan=True)
        assert np.array_equal(r.hit_grad_equiv, expect, equal_nan=True)
    assert (traces.nfev == traces.ngev).all() and (traces.grad_equiv == traces.ngev).all()


def test_second_order_counts_replace_the_defaults(tables):
    runs, traces = tables["second-order"].runs, tables["second-order"].traces
    assert set(runs.kind) == {"second_order"}
    newton = runs[runs.optimizer == "newton"]
    assert (newton.nhev + newton.nhess > 0).all()    # curvature was paid for
    ge = runs.ngev + 0.5 * (runs.nfev - runs.ngev) + runs.nhev + runs.dim * runs.nhess
    assert np.array_equal(runs.grad_equiv, ge)
    assert traces.step_size.notna().any() and traces.slope.notna().any()


def test_metric_columns_are_filled_or_nan_as_declared(tables):
    metrics = ob.problem("mlp", dataset="xor", depth=1, width=4, n=32).metric_names()
    assert metrics
    gen, so = tables["mlp/generic"], tables["mlp/second-order"]
    for res, driver in ((gen, "generic"), (so, "second-order")):
        check_table(res.runs, "runs")
        check_table(res.traces, "traces", metrics)
        check_defaults(res.traces, "traces", driver, metrics)
    assert gen.traces[metrics].notna().all().all()


def test_error_rows_have_every_column(tables):
    runs, traces = tables["error"]
    assert (runs.status == "error").all() and len(runs) == 2
    check_table(runs, "runs")
    check_defaults(runs, "runs", "error")
    check_table(traces, "traces")
    assert traces.empty
    # the columns old error rows lacked
    assert (runs.nhess == 0).all() and (runs.grad_equiv == 0.0).all()
    assert (runs.cost_model == SC.COST_MODEL).all() and runs["grad_equiv_0.001"].isna().all()
    # the dict form (used by the executors for dead workers) gives the same frame
    one = T.runs_frame([T.error_row(s, "x") for s in specs({"problem": "rosenbrock"},
                                                          {"optimizer": "adam"})])
    check_table(one, "runs")


def test_lists_of_nan_keep_their_type_through_the_store(tmp_path):
    """A part whose hit_ngev lists are all NaN (error rows, every target missed) is written as
    list<double>, not inferred as list<null> (read back as lists of None)."""
    from optbench.record.store import Store

    runs = T.error_runs(specs({"problem": "rosenbrock"}, {"optimizer": "adam"},
                              targets=[1.0, 0.1]), "x")
    Store(tmp_path / "out").append(runs, T.empty_trace())
    back, _ = ob.load(tmp_path / "out")
    for v in list(back.hit_ngev) + list(back.hit_grad_equiv):
        assert np.asarray(v).dtype == np.float64 and np.isnan(v).all() and len(v) == 2


def test_producers_cannot_drift_from_the_schema():
    n = 2
    with pytest.raises(ValueError, match="not declared"):
        T.table("traces", "generic", {"surprise": 1.0}, n)
    with pytest.raises(ValueError, match="must fill"):
        T.table("traces", "generic", {"run_id": ["a", "b"]}, n)
    full = {name: 0 for name, c in SC.expand("traces") if "generic" in c.filled}
    full["run_id"] = ["a", "b"]
    T.table("traces", "generic", full, n)   # complete: accepted
    with pytest.raises(ValueError, match="does not fill"):
        T.table("traces", "generic", {**full, "step_size": 1.0}, n)


def test_empty_tables_have_the_declared_columns():
    check_table(T.traces_frame([]), "traces")
    check_table(T.runs_frame([]), "runs")
    runs, traces = E.execute([])
    check_table(runs, "runs")
    check_table(traces, "traces")


def test_readme_column_list_is_generated_from_the_schema():
    found = SC.blocks(README.read_text())
    assert set(found) == set(SC.BLOCKS)
    for name, make in SC.BLOCKS.items():
        assert found[name] == make(), (f"README block {name!r} is stale: run "
                                       "python -m optbench.record.schema --update README.md")
    r = subprocess.run([sys.executable, "-m", "optbench.record.schema", "--markdown"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == SC.markdown_columns()


def test_update_rewrites_only_the_marked_blocks():
    text = "a\n<!-- schema:columns begin -->\nold\n<!-- schema:columns end -->\nb\n"
    out = SC.update(text)
    assert out.startswith("a\n<!-- schema:columns begin -->\n") and out.endswith("end -->\nb\n")
    assert "old" not in out and SC.markdown_columns() in out


def test_every_driver_and_column_is_declared_consistently():
    from optbench.runner.loop import STATUS

    assert {e.name for e in E.ENGINES} | {"error"} == set(SC.DRIVERS)
    assert set(STATUS) == set(SC.STATUSES)
    for kind, table in SC.TABLES.items():
        for c in table:
            assert c.dtype in SC.DTYPES and set(c.filled) <= set(SC.DRIVERS), c.name
            everyone = set(SC.PRODUCERS[kind]) <= set(c.filled)
            # "missing" (None) is a default only text columns can hold
            assert everyone or c.default is not None or c.dtype in ("text", "string"), c.name


def test_a_folder_of_the_previous_schema_gets_a_clear_message(tmp_path):
    out = tmp_path / "old"
    (out / "runs").mkdir(parents=True)
    (out / "meta.json").write_text(json.dumps({"schema_version": SC.SCHEMA_VERSION - 1}))
    with pytest.raises(ob.OptbenchInputError, match=f"old schema version {SC.SCHEMA_VERSION - 1}"):
        ob.load(out)
    assert ob.SCHEMA_VERSION == SC.SCHEMA_VERSION


CUDA_SIM = r"""
import json
import numpy as np
import optbench.cuda.execute as CE
from optbench.record import schema as SC
from optbench.runner import execute as E
from optbench.runner.suites import suite_specs

CE.GRID_MIN_DIM = 16     # the grid engine on a small separable problem
out = {}
for name, prob in (("cuda-thread", {"problem": "rosenbrock"}),
                   ("cuda-grid", {"problem": "double-well", "dim": 32, "start": "random"})):
    specs = suite_specs({"name": "t", "problems": [prob], "optimizers": [{"optimizer": "adam"}],
                         "steps": 5, "seeds": 2, "device": "cuda", "stop": "budget"})
    res = E.run_batch(specs)
    out[name] = {
        "engine": E.choose_engine(E.Job(specs, specs[0].build_problem(),
                                        [s.build_optimizer() for s in specs])).name,
        "runs": [[c, str(res.runs[c].dtype)] for c in res.runs.columns],
        "traces": [[c, str(res.traces[c].dtype)] for c in res.traces.columns],
        "transfer_nan": bool(res.runs.transfer_s.isna().all()),
        "device_name": sorted(set(res.runs.device_name))}
print("RESULT" + json.dumps(out))
"""


@pytest.mark.slow
def test_cuda_engines_write_exactly_the_declared_columns_on_the_simulator():
    env = cuda_mode.env()
    r = subprocess.run([sys.executable, "-c", CUDA_SIM], capture_output=True, text=True,
                       env=env, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    got = json.loads([ln for ln in r.stdout.splitlines() if ln.startswith("RESULT")][-1][6:])
    for driver in ("cuda-thread", "cuda-grid"):
        g = got[driver]
        assert g["engine"] == driver
        for kind in ("runs", "traces"):
            assert [c for c, _ in g[kind]] == SC.names(kind)
            assert [d for _, d in g[kind]] == [str(SC.pandas_dtype(c.dtype))
                                               for _, c in SC.expand(kind)]
        assert len(g["device_name"]) == 1 and cuda_mode.device_name_ok(g["device_name"][0])
    # both engines time the host-device transfers apart from the kernels
    assert not got["cuda-grid"]["transfer_nan"] and not got["cuda-thread"]["transfer_nan"]


def test_default_columns_never_share_an_edit():
    """The columns an engine leaves at their default (step_size, slope, …) are each their
    own: an edit of one column of one frame reaches no other column and no other frame.
    (Sharing one default array between columns, with copy=False, looked safe under pandas'
    copy-on-write and was not: pandas does not track references between the arrays it is
    given, and this test caught it.)"""
    from optbench.runner import execute as E
    from optbench.runner.spec import RunSpec

    specs = [RunSpec.make("rosenbrock", "adam", seed=s, steps=30, stop="budget")
             for s in range(3)]
    tr = E.run_batch(specs).traces
    other = E.run_batch(specs).traces
    tr.loc[0, "step_size"] = 1.0
    assert tr.loc[0, "step_size"] == 1.0 and tr.loc[1:, "step_size"].isna().all()
    assert tr["slope"].isna().all() and other["step_size"].isna().all()
    tr["slope"] = tr["slope"].fillna(2.0)
    assert (tr["slope"] == 2.0).all() and tr.loc[1:, "step_size"].isna().all()
    assert other["slope"].isna().all()


@pytest.mark.parametrize("dtype", ["string", "text"])
@pytest.mark.parametrize("values", [
    ["5883b4fde04c7e37", "343c721c62b8ca07", "4cfa4f0a2c2d3628"],   # run ids: one length
    ["abc", "de", "fgh"],            # lengths differ
    ["é1", "ab"],                    # not ASCII
    ["ab\x00", "abc"],               # a trailing NUL (NumPy's bytes would drop it)
    ["a\x00b", "xyz"],               # an inner NUL (kept)
    ["ab", None],                    # a missing value
])
def test_string_columns_from_one_bytes_buffer_equal_pandas_own(dtype, values):
    """Run ids and other strings of one length become an Arrow array straight from NumPy's
    bytes; every other list takes pandas' own conversion. Either way the column equals
    pandas' conversion of the Python strings, repeated or not."""
    want_dtype = SC.pandas_dtype(dtype)
    counts = np.array([3, 1, 2][:len(values)])
    got = T._repeat_strings(values, counts, want_dtype)
    want = pd.array(np.repeat(np.array(values, dtype=object), counts), dtype=want_dtype)
    assert pd.Series(got).equals(pd.Series(want)) and got.dtype == want_dtype
    if None not in values:
        col = pd.Series(T._column(list(values), dtype, len(values)))
        assert col.equals(pd.Series(values, dtype=want_dtype))
        col.iloc[0] = "edited"       # a cell's edit reaches no other cell
        assert list(col[1:]) == values[1:]


@pytest.mark.parametrize("dtype", ["string", "text"])
@pytest.mark.parametrize("values", [
    ['{"lr":0.1}', '{"lr":0.01}'] * 8,           # few distinct settings: Arrow's take
    ["b", "a", "b", "c", "a", "b", "b", "b"],      # first appearance is not sorted order
    ["é", "ab", "é", "é", "ab", "é", "é", "é"],    # not ASCII
    ["a", "b", None, "a", "a", "a", "a", "a"],     # a missing value: pandas' conversion
    ["a", "b", "c", "d", "e", "f", "a", "b"],      # too many distinct: pandas' conversion
])
def test_string_columns_of_few_distinct_values_equal_pandas_own(dtype, values):
    """A string column whose values repeat a few distinct ones is Arrow's take of those;
    it equals pandas' conversion of the Python strings, and a cell's edit reaches no other
    cell."""
    want_dtype = SC.pandas_dtype(dtype)
    col = pd.Series(T._column(list(values), dtype, len(values)))
    assert col.equals(pd.Series(values, dtype=want_dtype)) and col.dtype == want_dtype
    col.iloc[0] = "edited"
    assert col[1:].reset_index(drop=True).equals(pd.Series(values[1:], dtype=want_dtype))


@pytest.mark.parametrize("dtype", ["string", "text"])
def test_a_column_nobody_fills_is_all_missing(dtype):
    col = pd.Series(T._column(None, dtype, 4))
    assert col.dtype == SC.pandas_dtype(dtype) and len(col) == 4 and col.isna().all()


def test_messages_and_statuses_per_run_when_runs_end_differently():
    """A batch whose runs end the same way shares one status and message; one whose runs end
    differently (a learning rate that diverges) has each run's own, naming its step."""
    def batch(lrs):
        return E.run_batch(suite_specs({
            "name": "t", "problems": [{"problem": "rosenbrock"}], "steps": 40, "seeds": 2,
            "stop": "budget", "optimizers": [{"optimizer": "sgd", "lr": lrs}]})).runs

    same = batch([1e-4, 2e-4])
    assert (same["status"] == "budget").all()
    assert (same["message"] == "step budget exhausted").all()
    mixed = batch([1e-4, 10.0])
    div = mixed["lr"] == 10.0
    assert (mixed.loc[div, "status"] == "diverged").all()
    assert (mixed.loc[~div, "status"] == "budget").all()
    for _, r in mixed[div].iterrows():
        assert r["message"] == f"diverged at step {r['nit']} (non-finite or exploding f or " \
            "gradient)"
    assert (mixed.loc[~div, "message"] == "step budget exhausted").all()
    assert set(mixed["kind"]) == {"first_order"}


def test_run_columns_give_one_status_message_and_kind_per_run():
    """Engines rewrite the runs columns run by run (the second-order engine's messages):
    status, message and kind stay one entry per run, even when all runs share one."""
    from optbench.runner.batch import Batch
    from optbench.runner.engines.outputs import run_columns
    from optbench.runner.spec import RunSpec

    sp = [RunSpec.make("rosenbrock", "adam", seed=s, steps=5, stop="budget") for s in range(3)]
    b = Batch(sp)
    b.a["IOUT"][:, 0] = 1          # every run "budget" (loop.I_STATUS)
    cols = run_columns(b, 0.0, np.zeros(3))
    for k in ("status", "message", "kind"):
        assert len(cols[k]) == 3 and not isinstance(cols[k], str), k
