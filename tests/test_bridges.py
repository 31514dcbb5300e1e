"""Bridges (optbench/bridges.py): torch.optim classes and optax transformations run through the
bridge engine equal optbench's compiled optimizers of the same semantics, and give the same
tables, targets and statuses."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import optbench as ob  # noqa: E402
from optbench import optimizers as O  # noqa: E402
from optbench.bridges import torch_equivalent  # noqa: E402
from optbench.record import schema as SC  # noqa: E402

RTOL = 1e-10
STEPS = 500
ROSEN = ob.problem("rosenbrock", dim=2)
# a learning rate that keeps plain gradient steps stable in Rosenbrock's valley (L ~ 2,500)
SAFE_LR = {"gd": 1e-4, "sgd": 1e-4, "momentum": 1e-4, "nesterov": 1e-4, "asgd": 1e-4}
# torch.optim.Muon takes 2-D parameters only (2-D Rosenbrock is one vector block)
TORCH_NAMED = [n for n in O.names() if O.REGISTRY[n].torch_name and n != "muon"]


def _compiled(name):
    return ob.optimizer(name, **({"lr": SAFE_LR[name]} if name in SAFE_LR else {}))


@pytest.mark.parametrize("name", TORCH_NAMED)
def test_torch_bridge_equals_the_compiled_optimizer(name):
    opt = _compiled(name)
    bridged = torch_equivalent(opt)
    assert bridged.hyper["cls"] == f"torch.optim.{opt.torch_name}"
    dev = ob.check_equivalent(opt, bridged, ROSEN, STEPS, max_points=40)
    assert dev["steps"] == STEPS and dev["points"] == 41, dev   # x_0 and 40 budgets
    assert dev["x"] <= RTOL and dev["f"] <= RTOL, dev
    # the same through the tables: final x, the f trace, statuses and target hits
    c, b = ob.run(ROSEN, opt, steps=STEPS), ob.run(ROSEN, bridged, steps=STEPS)
    assert b.row["kind"] == "first_order" and b.nit == c.nit and b.status == c.status
    assert np.linalg.norm(b.x - c.x) <= RTOL * np.linalg.norm(c.x)
    np.testing.assert_array_equal(b.trace["step"], c.trace["step"])
    np.testing.assert_allclose(b.trace["f"], c.trace["f"], rtol=RTOL, atol=0)
    assert list(b.row["hit_step"]) == list(c.row["hit_step"])


OPTAX_CASES = [   # optbench optimizer, optax function and its arguments
    (ob.optimizer("sgd", lr=1e-4), "optax.sgd", {"learning_rate": 1e-4}),
    (ob.optimizer("sgd", lr=1e-4, momentum=0.9), "optax.sgd",
     {"learning_rate": 1e-4, "momentum": 0.9}),
    (ob.optimizer("sgd", lr=1e-4, momentum=0.9, nesterov=True), "optax.sgd",
     {"learning_rate": 1e-4, "momentum": 0.9, "nesterov": True}),
    (ob.optimizer("adam", lr=1e-2), "optax.adam",
     {"learning_rate": 1e-2, "b1": 0.9, "b2": 0.999, "eps": 1e-8}),
    (ob.optimizer("adamw", lr=1e-2, weight_decay=0.05), "optax.adamw",
     {"learning_rate": 1e-2, "b1": 0.9, "b2": 0.999, "eps": 1e-8, "weight_decay": 0.05}),
]


@pytest.mark.parametrize("case", OPTAX_CASES, ids=lambda c: f"{c[0]!r}"[:40])
def test_optax_bridge_equals_the_compiled_optimizer(case):
    pytest.importorskip("optax")
    opt, fn, kw = case
    bridged = ob.optimizer("optax", fn=fn, **kw)
    dev = ob.check_equivalent(opt, bridged, ROSEN, STEPS, max_points=40)
    assert dev["steps"] == STEPS and dev["x"] <= RTOL and dev["f"] <= RTOL, dev
    r = ob.run(ROSEN, bridged, steps=STEPS)
    assert r.row["lr"] == kw["learning_rate"] and r.nit == STEPS


def test_check_equivalent_sees_a_different_optimizer():
    other = ob.optimizer("torch", cls="torch.optim.Adam", lr=2e-3)   # compiled: lr 1e-3
    dev = ob.check_equivalent(ob.optimizer("adam"), other, ROSEN, 200, max_points=20)
    assert dev["x"] > 1e-3 and dev["f"] > 1e-2 and dev["points"] == 21, dev


def test_a_stochastic_problem_gets_the_same_gradients():
    prob = ob.problem("noisy-rosenbrock", dim=2)
    opt = ob.optimizer("sgd", lr=1e-4, momentum=0.9)
    c = ob.run(prob, opt, steps=300, seed=3)
    b = ob.run(prob, torch_equivalent(opt), steps=300, seed=3)
    assert np.linalg.norm(b.x - c.x) <= RTOL * np.linalg.norm(c.x)
    np.testing.assert_allclose(b.trace["f"], c.trace["f"], rtol=RTOL, atol=0)


def test_tables_of_a_sweep_of_bridges_follow_the_schema():
    opts = [ob.optimizer("torch", cls="torch.optim.Adam", lr=lr) for lr in (1e-2, 3e-2)]
    runs, traces = ob.sweep([ROSEN], opts, seeds=(0, 1), steps=200)
    assert len(runs) == 4 and set(runs["optimizer"]) == {"torch"}
    assert list(runs.columns) == SC.names("runs")
    assert (runs["batch_size"] == 4).all() and (runs["status"] == "budget").all()
    assert sorted(runs["lr"].unique()) == [1e-2, 3e-2]
    assert set(traces["run_id"]) == set(runs["run_id"]) and (traces["ngev"] > 0).all()
    assert (runs["nhev"] == 0).all() and traces["f_avg"].isna().all()


def test_a_diverging_bridge_is_a_recorded_status():
    r = ob.run(ROSEN, ob.optimizer("torch", cls="torch.optim.SGD", lr=1.0), steps=100)
    assert r.status == "diverged" and "diverged at step" in r.message and r.nit < 100
    assert len(r.trace) >= 1 and r.trace["step"].iloc[-1] == r.nit


def test_a_bridge_reaches_its_targets_and_stops():
    quad = ob.problem("quadratic", dim=4, cond=10.0)
    r = ob.run(quad, ob.optimizer("torch", cls="torch.optim.Adam", lr=0.05), steps=5000)
    c = ob.run(quad, ob.optimizer("adam", lr=0.05), steps=5000)
    assert r.status == c.status == "converged" and r.nit == c.nit < 5000
    assert list(r.row["hit_step"]) == list(c.row["hit_step"])


def test_third_party_torch_optimizers_run():
    pytest.importorskip("pytorch_optimizer")
    r = ob.run(ROSEN, ob.optimizer("torch", cls="pytorch_optimizer.Lion", lr=1e-3), steps=200)
    assert r.status == "budget" and r.fun < r.row["f0"]


@pytest.mark.parametrize("kw, match", [
    ({"cls": "torch.optim.NoSuchThing"}, "'torch.optim' has no 'NoSuchThing'"),
    ({"cls": "no_such_package.Opt"}, "cannot import 'no_such_package'"),
    ({"cls": "numpy.linalg.norm"}, "not a torch.optim.Optimizer class"),
    ({"cls": "Adam"}, "dotted path"),
    ({}, "needs cls="),
    ({"cls": "torch.optim.Adam", "lr": -1.0}, r"torch.optim.Adam\(lr=-1.0\) refused"),
    ({"cls": "torch.optim.Adam", "nonsense": 1}, "refused"),
    ({"cls": "torch.optim.Adam", "schedule": "cosine"}, "schedule does not apply"),
    ({"cls": "torch.optim.Adam", "lr": object()}, "must be a number"),
])
def test_bad_bridges_are_one_line(kw, match):
    with pytest.raises(ob.OptbenchInputError, match=match) as e:
        ob.optimizer("torch", **kw)
    assert "\n" not in str(e.value)


def test_bridges_are_refused_on_cuda_and_by_check_equivalent_when_not_bridged():
    with pytest.raises(ob.OptbenchInputError, match="CPU only"):
        ob.RunSpec.make(ROSEN, ob.optimizer("torch", cls="torch.optim.SGD"), device="cuda")
    with pytest.raises(ob.OptbenchInputError, match="expected a bridge"):
        ob.check_equivalent("adam", "adam", ROSEN, 10)


def test_specs_round_trip_and_keep_run_ids():
    b = ob.optimizer("torch", cls="torch.optim.Adam", lr=1e-2, betas=(0.8, 0.99))
    again = O.make(b.spec)
    assert again.spec == b.spec and again.kwargs["betas"] == (0.8, 0.99)
    s1 = ob.RunSpec.make(ROSEN, b, steps=10)
    s2 = ob.RunSpec.make(ROSEN, {"optimizer": "torch", "cls": "torch.optim.Adam",
                                 "lr": 1e-2, "betas": [0.8, 0.99]}, steps=10)
    assert s1.run_id == s2.run_id


def test_a_suite_runs_bridges_in_worker_processes(tmp_path):
    suite = tmp_path / "bridge.toml"
    suite.write_text('name = "bridge"\nsteps = 100\n\n[[problems]]\nproblem = "rosenbrock"\n\n'
                     '[[optimizers]]\noptimizer = "torch"\ncls = "torch.optim.Adam"\nlr = 0.01\n\n'
                     '[[optimizers]]\noptimizer = "adam"\nlr = 0.01\n')
    ob.run_suite(str(suite), tmp_path / "out", executor="processes", workers=2, progress=False)
    runs = ob.load(tmp_path / "out")[0]
    by = runs.set_index("optimizer")
    assert set(by.index) == {"torch", "adam"} and (runs["status"] == "budget").all()
    assert abs(by.loc["torch", "fun"] - by.loc["adam", "fun"]) <= RTOL * by.loc["adam", "fun"]


def test_a_tuple_argument_in_a_suite_table_is_a_list_in_a_list():
    from optbench.runner.expand import expand

    specs = expand(["rosenbrock"], [{"optimizer": "torch", "cls": "torch.optim.Adam",
                                     "lr": [1e-3, 1e-2], "betas": [[0.8, 0.99]]}], steps=10)
    assert len(specs) == 2
    assert all(s.build_optimizer().kwargs["betas"] == (0.8, 0.99) for s in specs)


class ShapeRecorder(torch.optim.SGD):
    """SGD that records the shapes of its parameters (a third-party class, by dotted path)."""

    seen: list = []

    def step(self, closure=None):
        ShapeRecorder.seen = [tuple(p.shape) for p in self.param_groups[0]["params"]]
        return super().step(closure)


def test_one_parameter_per_block_in_its_shape_and_x_updated_in_place():
    from optbench.kernels.blocks import block_table

    blocks = block_table([(3, 2), (3,), (1, 3)])
    x, g = np.arange(12.0), np.linspace(-1.0, 1.0, 12)
    b = ob.optimizer("torch", cls=f"{__name__}.ShapeRecorder", lr=0.5)
    step = b.stepper(x, blocks)
    step(g)
    assert ShapeRecorder.seen == [(3, 2), (3,), (1, 3)]
    np.testing.assert_allclose(x, np.arange(12.0) - 0.5 * g, rtol=0, atol=1e-15)
    pytest.importorskip("optax")
    y = np.arange(12.0)
    ob.optimizer("optax", fn="optax.sgd", learning_rate=0.5).stepper(y, blocks)(g)
    np.testing.assert_allclose(y, x, rtol=0, atol=1e-15)


class Exploder(torch.optim.SGD):
    """SGD whose sixth step raises."""

    def step(self, closure=None):
        self.calls = getattr(self, "calls", 0) + 1
        if self.calls == 6:
            raise RuntimeError("boom\nsecond line")
        return super().step(closure)


def test_a_step_that_raises_is_an_error_row_of_that_run_only():
    opts = [ob.optimizer("torch", cls=f"{__name__}.Exploder", lr=1e-4),
            ob.optimizer("torch", cls="torch.optim.SGD", lr=1e-4)]
    runs, _ = ob.sweep([ROSEN], opts, steps=20)
    assert list(runs["status"]) == ["error", "budget"]
    assert runs["message"].iloc[0] == "RuntimeError in torch step 5: boom"
    assert runs["nit"].iloc[0] == 5 and runs["nit"].iloc[1] == 20
