"""The engine interface (optbench/runner/engines): one ordered list picks the engine of a
batch, batches are grouped by the optimizer's own state size, every engine gives the same
results as the generic loop for the same runs, and runner/record/cuda/kernels import one
another without a cycle and without reaching up a layer."""
import ast
import dataclasses
from pathlib import Path

import numpy as np
import pytest

import optbench as ob
from optbench.record import schema as SC
from optbench.runner import execute as E
from optbench.runner.batch import PER_RUN, Batch, zero_step
from optbench.runner.engines.base import Job
from optbench.runner.engines.cpu import (FUSED_MIN_DIM, SPECIAL_MIN_STEPS, SPECIAL_MIN_WORK,
                                         LaneEngine, LockstepEngine, SpecialEngine)
from optbench.runner.lanes import LANES
from optbench.runner.lockstep import LOCKSTEP_K
from optbench.runner.spec import RunSpec
from optbench.runner.suites import suite_specs

PKG = Path(ob.__file__).resolve().parent


def job(problem, optimizer, *, runs=1, steps=100, device="cpu"):
    spec = RunSpec.make(problem, optimizer, steps=steps)
    if device != "cpu":   # no GPU needed to ask which engine would run it
        spec = dataclasses.replace(spec, device=device)
    specs = [dataclasses.replace(spec, seed=s) for s in range(runs)]
    return Job(specs, spec.build_problem(), [spec.build_optimizer()] * runs)


def test_one_ordered_list_chooses_the_engine():
    sep = ob.problem("double-well", dim=FUSED_MIN_DIM)
    cases = [
        (job("rosenbrock", "lbfgs"), "second-order"),
        (job(sep, "adam", device="cuda"), "cuda-grid"),
        (job("rosenbrock", "adam", device="cuda"), "cuda-thread"),
        (job(sep, "adam"), "fused"),
        (job("rosenbrock", "adam", runs=2 * LOCKSTEP_K, steps=SPECIAL_MIN_WORK // 32), "lockstep"),
        (job("rosenbrock", "adam", runs=2 * LANES, steps=SPECIAL_MIN_WORK // (2 * LANES)),
         "lanes"),
        (job(ob.problem("double-well", dim=4), "adam", runs=2 * LANES,   # no lane form
             steps=SPECIAL_MIN_WORK // (2 * LANES)), "lockstep"),
        (job("rosenbrock", "adam", steps=SPECIAL_MIN_STEPS), "special"),
        (job(ob.problem("quadratic", dim=100), "adam", runs=100, steps=SPECIAL_MIN_WORK // 100),
         "special"),
        (job("rosenbrock", "adam", steps=SPECIAL_MIN_STEPS - 1), "generic"),
        (job("noisy-rosenbrock", "adam", steps=SPECIAL_MIN_STEPS), "generic"),   # stochastic
    ]
    for j, name in cases:
        assert E.choose_engine(j).name == name, (j.specs[0], name)
    # every engine has a name the schema declares and says when it applies
    assert [e.name for e in E.ENGINES] == ["bridge", "second-order", "phased", "cuda-grid",
                                           "cuda-thread", "fused", "lanes", "lockstep",
                                           "special", "generic"]
    assert all(e.name in SC.DRIVERS and e.reason for e in E.ENGINES)


def test_grouping_asks_the_optimizer_for_its_state_size():
    base = RunSpec.make("rosenbrock", ob.optimizer("adam"))
    ams = RunSpec.make("rosenbrock", ob.optimizer("adam", amsgrad=True))   # 3 state rows, not 2
    other_lr = RunSpec.make("rosenbrock", ob.optimizer("adam", lr=0.1))
    sgd = RunSpec.make("rosenbrock", ob.optimizer("sgd", momentum=0.9))
    sgd0 = RunSpec.make("rosenbrock", ob.optimizer("sgd", momentum=0.0))
    assert E.group_key(base) == E.group_key(other_lr) != E.group_key(ams)
    assert E.group_key(sgd) == E.group_key(sgd0)      # one state row either way
    runs, _ = E.execute([base, ams, other_lr])
    assert list(runs.batch_size) == [2, 1, 2]


def test_group_indices_is_the_grouping_by_group_key():
    """execute's grouping (each distinct ladder hashed once) puts together exactly the specs
    whose group_key is equal, in order of first appearance: equal ladders in distinct tuple
    objects share a group, different ladders, budgets, recordings or problems do not."""
    t1 = (1.0, 1e-3)
    specs = [RunSpec.make("rosenbrock", "adam", seed=0, targets=t1),
             RunSpec.make("beale", "adam", targets=t1),
             RunSpec.make("rosenbrock", "adam", seed=1, targets=tuple(list(t1))),  # equal ladder
             RunSpec.make("rosenbrock", "adam", seed=2, targets=(1.0, 1e-4)),
             RunSpec.make("rosenbrock", "adam", seed=3, targets=t1, steps=7),
             RunSpec.make("rosenbrock", "adam", seed=4, targets=t1, record="every:2"),
             RunSpec.make("rosenbrock", "sgd", seed=5, targets=t1),
             RunSpec.make("beale", "adam", seed=6, targets=t1)]
    assert specs[0].targets is not specs[2].targets
    want: dict = {}
    for i, s in enumerate(specs):
        want.setdefault(E.group_key(s), []).append(i)
    got = E.group_indices(specs)
    assert got == list(want.values())
    assert got[0] == [0, 2] and got[1] == [1, 7]


def test_a_spec_whose_optimizer_cannot_be_built_becomes_an_error_row():
    good = RunSpec.make("rosenbrock", "adam", steps=5)
    bad = dataclasses.replace(good, optimizer='{"optimizer":"no-such-optimizer"}')
    runs, traces = E.execute([good, bad])
    assert runs.status.iloc[0] != "error" and runs.status.iloc[1] == "error"
    assert "no-such-optimizer" in runs.message.iloc[1]
    assert set(traces.run_id) == {good.run_id}


def test_zero_step_copy_is_one_run_and_never_aliases_the_batch():
    specs = suite_specs({"name": "t", "problems": [{"problem": "rosenbrock"}],
                         "optimizers": [{"optimizer": "adam"}], "seeds": 3, "steps": 7})
    b = Batch(specs, specs[0].build_problem(), [s.build_optimizer() for s in specs])
    w = zero_step(b.a, PER_RUN)
    assert w["nsteps"].tolist() == [0] and b.a["nsteps"].tolist() == [7, 7, 7]
    for k in PER_RUN:
        assert w[k].shape[0] == 1 and not np.shares_memory(w[k], b.a[k]), k
    assert w["data"] is b.a["data"]
    args = b.warmup_args()
    assert args[0].shape[0] == 1


def _comparable(res):
    runs = res.runs.drop(columns=["wall_s", "compile_s", "env_id"])
    return runs, res.traces.drop(columns=["time_s"]), res.xs


def _same(a, b):
    assert list(a.columns) == list(b.columns) and len(a) == len(b)
    for c in a.columns:
        x, y = a[c].tolist(), b[c].tolist()
        if a[c].dtype == object:      # list columns
            assert all(np.array_equal(u, v, equal_nan=True) for u, v in zip(x, y)), c
        else:
            assert a[c].equals(b[c]), c


@pytest.mark.parametrize("engine", [SpecialEngine(), LockstepEngine(), LaneEngine()])
def test_engines_give_the_generic_loops_results_bit_for_bit(engine):
    specs = suite_specs({"name": "t", "problems": [{"problem": "rosenbrock", "start": "random"}],
                         "optimizers": [{"optimizer": "adam", "lr": [1e-3, 1e-2, 50.0]}],
                         "seeds": 11, "steps": 300, "targets": [1.0, 1e-2]})
    ref = _comparable(E.run_batch(specs, parallel=False))
    got = _comparable(E.run_batch(specs, parallel=True, engine=engine))
    _same(ref[0], got[0])
    _same(ref[1], got[1])
    for (x0a, xa), (x0b, xb) in zip(ref[2], got[2]):
        assert np.array_equal(x0a, x0b) and np.array_equal(xa, xb)
    assert len(set(got[0].status)) >= 2      # runs that stop at different steps


# -- layering ------------------------------------------------------------------------------
LAYERS = ["kernels", "record", "runner", "cuda"]


def _imports(path: Path, module: str) -> set:
    """optbench modules imported anywhere in a file (function-level imports included)."""
    out = set()
    pkg = module.rsplit(".", 1)[0] if path.name != "__init__.py" else module
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = pkg.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            out.add(base)
            out |= {f"{base}.{a.name}" for a in node.names}
    return {m for m in out if m.startswith("optbench.")}


def _graph():
    mods = {}
    for layer in LAYERS:
        for p in sorted((PKG / layer).rglob("*.py")):
            rel = p.relative_to(PKG.parent).with_suffix("")
            name = ".".join(rel.parts[:-1] if p.name == "__init__.py" else rel.parts)
            mods[name] = p
    return {m: {d for d in _imports(p, m) if d in mods and d != m} for m, p in mods.items()}


def test_no_import_cycle_among_runner_record_cuda_kernels():
    g = _graph()
    assert "optbench.runner.engines.cpu" in g and "optbench.record.schema" in g
    state: dict = {}

    def visit(m, path):
        state[m] = 1
        for d in g[m]:
            if state.get(d) == 1:
                raise AssertionError("import cycle: " + " -> ".join(path + [m, d]))
            if d not in state:
                visit(d, path + [m])
        state[m] = 2

    for m in g:
        if m not in state:
            visit(m, [])


def test_lower_layers_do_not_import_upper_ones():
    g = _graph()
    for m, deps in g.items():
        if m.startswith("optbench.record."):
            assert not {d for d in deps if d.startswith(("optbench.runner", "optbench.cuda"))}, m
        if m == "optbench.record.schema":
            assert deps <= {"optbench.record.targets"}, deps
        if m.startswith("optbench.kernels."):
            assert not {d for d in deps if d.startswith(("optbench.runner", "optbench.cuda",
                                                         "optbench.record"))}, m
        if m.startswith("optbench.cuda."):      # the CUDA engines sit under runner/execute.py
            assert not {d for d in deps if d in ("optbench.runner.execute",
                                                 "optbench.runner.executors",
                                                 "optbench.runner.suites")}, m
    assert "optbench.cuda" not in g["optbench.runner.spec"]
