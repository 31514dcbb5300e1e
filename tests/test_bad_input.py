"""Bad input is rejected before compilation with one readable line naming the field."""
import math

import numpy as np
import pytest

import optbench as ob
from optbench import OptbenchInputError


@pytest.mark.parametrize("make, words", [
    (lambda: ob.optimizer("adamm"), ["unknown optimizer 'adamm'", "did you mean 'adam'", "sgd"]),
    (lambda: ob.problem("rosenbrok"), ["unknown problem 'rosenbrok'", "rosenbrock"]),
    (lambda: ob.optimizer("adam", lr=-1.0), ["optimizer adam.lr", "> 0.0"]),
    (lambda: ob.optimizer("adam", lr=0.0), ["optimizer adam.lr"]),
    (lambda: ob.optimizer("adam", lr=math.nan), ["optimizer adam.lr", "finite"]),
    (lambda: ob.optimizer("adam", lr=math.inf), ["optimizer adam.lr", "finite"]),
    (lambda: ob.optimizer("adam", beta1=1.0), ["optimizer adam.beta1", "< 1.0"]),
    (lambda: ob.optimizer("adam", lr="fast"), ["optimizer adam.lr", "number"]),
    (lambda: ob.optimizer("adam", momentum=0.9), ["unknown parameter 'momentum'", "beta1"]),
    (lambda: ob.optimizer("sgd", nesterov=True), ["nesterov requires momentum > 0"]),
    (lambda: ob.optimizer("adam", clip_norm=-1), ["clip_norm"]),
    (lambda: ob.optimizer("adam", schedule="cosin"), ["unknown schedule 'cosin'", "cosine"]),
    (lambda: ob.optimizer("adam", schedule={"kind": "step", "gamma": -1}), ["schedule step.gamma"]),
    (lambda: ob.problem("rosenbrock", dim=1), ["problem rosenbrock.dim", ">= 2"]),
    (lambda: ob.problem("quadratic", cond=0.5), ["problem quadratic.cond", ">= 1.0"]),
    (lambda: ob.problem("quadratic", dim=2.5), ["problem quadratic.dim", "integer"]),
    (lambda: ob.problem("quadratic", spectrum="flat"), ["unknown problem quadratic.spectrum"]),
    (lambda: ob.run("rosenbrock", "adam", steps=0), ["steps must be >= 1"]),
    (lambda: ob.run("rosenbrock", "adam", x0=[1.0, 2.0, 3.0]), ["x0 must have length 2"]),
    (lambda: ob.run("rosenbrock", "adam", x0=[1.0, np.nan]), ["x0 must be finite"]),
    (lambda: ob.run("rosenbrock", "adam", seed=-1), ["seed must be >= 0"]),
    (lambda: ob.run("rosenbrock", "adam", stop="never"), ["unknown stop 'never'"]),
    (lambda: ob.run("rosenbrock", "adam", targets=[1e-3, -1]), ["targets must be positive"]),
    (lambda: ob.run("rosenbrock", "adam", record="every:0"), ["every:K"]),
    (lambda: ob.run("rosenbrock", "adam", device="tpu"), ["unknown device 'tpu'"]),
])
def test_rejected_with_clear_one_line_message(make, words):
    _refused_in_one_line(make, words)


def _refused_in_one_line(make, words):
    """``make()`` raises OptbenchInputError with a one-line message holding every word."""
    with pytest.raises(OptbenchInputError) as e:
        make()
    msg = str(e.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg, (w, msg)


def test_input_error_is_a_value_error():
    assert issubclass(OptbenchInputError, ValueError)


# -- type strictness of the Python API (issue 14) -------------------------------------------
from optbench.api import expand  # noqa: E402
from optbench.runner.spec import RunSpec  # noqa: E402


@pytest.mark.parametrize("make, words", [
    (lambda: RunSpec.make("rosenbrock", "adam", steps=True), ["steps must be an integer", "bool"]),
    (lambda: RunSpec.make("rosenbrock", "adam", steps="10"),
     ["steps must be an integer", "string"]),
    (lambda: RunSpec.make("rosenbrock", "adam", steps=-5), ["steps must be >= 1"]),
    (lambda: RunSpec.make("rosenbrock", "adam", seed=True), ["seed must be an integer", "bool"]),
    (lambda: RunSpec.make("rosenbrock", "adam", seed=1.5), ["seed must be an integer"]),
    (lambda: ob.optimizer("adam", lr="1e-3"), ["optimizer adam.lr must be a number", "string"]),
    (lambda: ob.optimizer("adam", lr=True), ["optimizer adam.lr must be a number", "bool"]),
    (lambda: ob.optimizer("adam", lr=np.bool_(True)), ["optimizer adam.lr", "bool"]),
    (lambda: ob.optimizer("adam", lr=[1e-3]), ["optimizer adam.lr must be a number"]),
    (lambda: ob.optimizer("adam", amsgrad=1), ["optimizer adam.amsgrad must be true or false"]),
    (lambda: ob.optimizer("adam", amsgrad="yes"), ["optimizer adam.amsgrad", "true or false"]),
    (lambda: ob.optimizer("adam", schedule={"kind": "step", "gamma": "0.5"}),
     ["schedule step.gamma must be a number"]),
    (lambda: ob.problem("rosenbrock", dim=True), ["problem rosenbrock.dim must be an integer"]),
    (lambda: ob.problem("rosenbrock", dim="4"), ["problem rosenbrock.dim", "string"]),
    (lambda: ob.problem("quadratic", cond=math.inf), ["problem quadratic.cond", "finite"]),
    (lambda: RunSpec.make("rosenbrock", "adam", gtol="1e-8"), ["gtol must be a number"]),
    (lambda: RunSpec.make("rosenbrock", "adam", gtol=math.nan), ["gtol must be finite"]),
    (lambda: RunSpec.make("rosenbrock", "adam", steps=10, record=[100]),
     ["record step 100 is beyond the budget of 10 steps"]),
    (lambda: RunSpec.make("rosenbrock", "adam", steps=10, record=[2.5]),
     ["record steps must be integers", "2.5"]),
    (lambda: RunSpec.make("rosenbrock", "adam", steps=10, record=[True]),
     ["record steps must be integers", "True"]),
    (lambda: RunSpec.make("rosenbrock", "adam", steps=10, record=[-1]), ["record steps", ">= 0"]),
    (lambda: RunSpec.make("rosenbrock", "adam", record="list:1,2"), ["record must be 'log'"]),
    (lambda: RunSpec.make("rosenbrock", "adam", targets=["1e-3"]), ["targets", "not strings"]),
    (lambda: RunSpec.make("rosenbrock", "adam", targets=[True]), ["targets", "bools"]),
    (lambda: RunSpec.make("rosenbrock", "adam", x0=["1", "2"]), ["x0 must be a list of numbers"]),
    (lambda: RunSpec.make("rosenbrock", "adam", x0=[True, False]),
     ["x0 must be a list of numbers"]),
    (lambda: expand("rosenbrock", "adam", seeds=True), ["seeds must be a count or a list"]),
    (lambda: expand("rosenbrock", "adam", seeds=2.5), ["seeds must be a count or a list"]),
    (lambda: expand("rosenbrock", "adam", seeds="3"), ["seeds must be a count or a list"]),
    (lambda: expand("rosenbrock", "adam", seeds=0), ["seeds must be >= 1"]),
    (lambda: expand("rosenbrock", "adam", seeds=-2), ["seeds must be >= 1"]),
    (lambda: expand("rosenbrock", "adam", seeds=10**12), ["seeds must be <= 1000000"]),
    (lambda: expand("rosenbrock", "adam", seeds=[0, True]), ["seed must be an integer", "bool"]),
    (lambda: expand("rosenbrock", "adam", grid={"lr": []}), ["grid['lr'] must list at least one"]),
    (lambda: expand("rosenbrock", "adam", grid=[("lr", 1e-3)]), ["grid must map"]),
    (lambda: expand("rosenbrock", "adam", grid={"lr": ["1e-3"]}), ["adam.lr must be a number"]),
    (lambda: ob.sweep("rosenbrock", "adam", parallel="no"), ["parallel must be true or false"]),
    (lambda: ob.optimizer("adam", clip_norm=True), ["clip_norm must be a positive number"]),
    (lambda: ob.optimizer("adam", clip_value="1.5"), ["clip_value must be a positive number"]),
])
def test_api_types_are_strict(make, words):
    """bool is not an int, a string is not a number, a record step must lie in the budget."""
    _refused_in_one_line(make, words)


def test_numpy_scalars_and_integral_floats_are_numbers():
    s = RunSpec.make({"problem": "rosenbrock", "dim": np.int64(4)},
                     {"optimizer": "adam", "lr": np.float32(0.5), "amsgrad": np.bool_(True)},
                     steps=np.int64(10), seed=np.uint8(3), gtol=np.float64(1e-6),
                     record=np.array([0, 5, 10]), targets=np.array([1e-2, 1e-4]), x0=[1, 2.0, 3, 4])
    assert (s.steps, s.seed, s.record) == (10, 3, "list:0,5,10")
    assert s.problem_params["dim"] == 4 and s.optimizer_params["lr"] == 0.5
    assert s.optimizer_params["amsgrad"] is True and s.targets == (1e-2, 1e-4)
    assert RunSpec.make("rosenbrock", "adam", steps=1e4).steps == 10_000
    assert [x.seed for x in expand("rosenbrock", "adam", seeds=np.int64(2))] == [0, 1]


# -- memory: refused before anything is allocated (issue 14) ------------------------------
from optbench import memory  # noqa: E402

GiB = 2 ** 30


@pytest.fixture
def sixteen_gib(monkeypatch):
    """A machine with 16 GiB available, whatever this one has."""
    monkeypatch.setattr(memory, "available_bytes", lambda: 16 * GiB)


def _refused(make) -> str:
    with pytest.raises(OptbenchInputError) as e:
        make()
    msg = str(e.value)
    assert "\n" not in msg and "16 GiB available" in msg, msg
    return msg


def test_huge_dimension_is_refused_naming_dim_need_and_available(sixteen_gib):
    msg = _refused(lambda: ob.run({"problem": "rosenbrock", "dim": 10**9}, "adam", steps=2))
    assert "rosenbrock(dim=1000000000" in msg and "dim 1000000000: 7.45 GiB per vector" in msg
    need = float(msg.split("needs about ")[1].split(" GiB")[0])
    assert 8 * 7.45 < need < 20 * 7.45   # x, gradient, two Adam rows, copies: 8 to 20 vectors


def test_rotated_quadratic_with_d2_data_is_refused_before_building(sixteen_gib):
    msg = _refused(lambda: ob.problem("quadratic", dim=10**5, rotation="haar"))
    assert "quadratic(dim=100000" in msg and "building its data" in msg and "dim 100000" in msg
    assert float(msg.split("needs about ")[1].split(" GiB")[0]) > 75   # d² floats: 74.5 GiB


def test_long_every_step_trace_is_refused(sixteen_gib):
    msg = _refused(lambda: RunSpec.make("rosenbrock", "sgd", steps=10**9, record="every:1"))
    assert "a trace of 1000000003 recorded steps" in msg


def test_sweep_counts_every_run_of_a_batch(sixteen_gib):
    """400 runs at d = 2^20 (8 MiB per vector) are one batch of about 20 GiB; each run alone
    fits. Newton's dense Hessians: 40 runs at d = 8192 hold 40 matrices of 512 MiB."""
    big = {"problem": "quadratic", "dim": 2 ** 20}
    RunSpec.make(big, "adam")
    msg = _refused(lambda: ob.sweep(big, "adam", seeds=400, steps=2))
    assert "this sweep (400 runs of adam on problem quadratic)" in msg and "per vector" in msg
    newton = {"optimizer": "newton", "solver": "dense"}
    msg = _refused(lambda: ob.sweep({"problem": "quadratic", "dim": 8192}, newton, seeds=40))
    assert "d×d matrices" in msg and "40 runs of newton" in msg


def test_batches_running_at_once_are_added(monkeypatch):
    specs = expand({"problem": "quadratic", "dim": 2 ** 20}, "adam", seeds=8, steps=2)
    one = memory.batch_bytes(2 ** 20, 16 * 2 ** 20, 0, ob.optimizer("adam"), 2, 2, "log")
    monkeypatch.setattr(memory, "available_bytes", lambda: int(1.5 * one))
    memory.check_specs(specs, batch_runs=2, at_once=1)
    with pytest.raises(OptbenchInputError, match="4 batches at once"):
        memory.check_specs(specs, batch_runs=2, at_once=4)


def test_a_normal_large_problem_is_accepted_and_the_estimate_is_close():
    """A separable 2^20 problem runs; the estimate covers the measured peak (numpy's
    allocations, tracemalloc) without exceeding it by more than half."""
    import tracemalloc

    prob = ob.problem("quadratic", dim=2 ** 20)
    ob.sweep(prob, "adam", seeds=2, steps=2)          # compiled before measuring
    tracemalloc.start()
    runs, _ = ob.sweep(prob, "adam", seeds=2, steps=2)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert set(runs["status"]) <= {"budget", "converged"}, runs["status"]
    est = memory.batch_bytes(prob.dim, prob.data_bytes(), 0, ob.optimizer("adam"), 2, 2, "log")
    assert peak <= est <= 1.5 * peak, (peak, est)


def test_available_memory_is_read_with_and_without_psutil(monkeypatch):
    with open("/proc/meminfo") as f:
        total = int(next(line for line in f if line.startswith("MemTotal:")).split()[1]) * 1024
    a = memory.available_bytes()
    monkeypatch.setitem(__import__("sys").modules, "psutil", None)   # import fails
    b = memory.available_bytes()
    assert 0 < a <= total and 0 < b <= total
    assert abs(a - b) < 0.2 * total


# -- the CLI: one line, exit code 2, no results folder ------------------------------------
def _cli(tmp_path, capsys, toml: str):
    from optbench.cli import main

    suite = tmp_path / "s.toml"
    suite.write_text(toml)
    out = tmp_path / "out"
    code = main(["run", str(suite), "--out", str(out), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and err.startswith("optbench: error: "), (code, err)
    assert not out.exists()
    return err


SUITE = ('name = "s"\nsteps = {steps}\n{extra}\n'
         '[[problems]]\nproblem = "rosenbrock"\ndim = {dim}\n'
         '[[optimizers]]\noptimizer = "adam"\nlr = {lr}\n')


@pytest.mark.parametrize("fields, words", [
    (dict(lr='"1e-3"'), ["optimizer adam.lr must be a number", "string"]),
    (dict(dim="true"), ["problem rosenbrock.dim must be an integer", "bool"]),
    (dict(extra="record = [100]"), ["record step 100 is beyond the budget of 10 steps"]),
    (dict(dim=10**9), ["rosenbrock(dim=1000000000", "7.45 GiB per vector", "16 GiB available"]),
])
def test_cli_refuses_with_one_line_and_exit_2(tmp_path, capsys, sixteen_gib, fields, words):
    toml = SUITE.format(**{**dict(steps=10, extra="", dim=2, lr=1e-3), **fields})
    err = _cli(tmp_path, capsys, toml)
    for w in words:
        assert w in err, (w, err)
