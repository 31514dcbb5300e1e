"""The schedules torch.optim.lr_scheduler has beyond the first six: ``onecycle``, cyclic
``triangular2`` / ``exp_range`` (and ``step_size_down``), ``polynomial`` and
``reduce-on-plateau``, each against torch (≤ 1e-14 relative on the lr sequence).

reduce-on-plateau is stateful and observes f at the recording steps inside the compiled
loops: its lr sequence is checked by feeding torch's ReduceLROnPlateau the f values an
optbench run recorded, a whole run against a torch training loop with the scheduler (x to
1e-10), and the other CPU engines against the generic loop."""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import cuda_mode

import optbench as ob
from optbench.optimizers import SCHEDULES, Schedule
from optbench.runner import execute as E
from optbench.runner.engines.cpu import FusedEngine, LaneEngine, LockstepEngine
from optbench.runner.engines.phased import PhasedEngine
from optbench.runner.spec import RunSpec

try:
    import torch
except ImportError:   # the torch comparisons need it; the rest does not
    torch = None
LRS = torch.optim.lr_scheduler if torch is not None else None
needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")
N = 600
LR = 0.05
V2_KINDS = {"onecycle", "polynomial", "reduce-on-plateau"}   # cyclic: tests/test_schedules.py

# (optbench spec, torch scheduler factory): the stateless kinds
STATELESS = [
    ({"kind": "onecycle"}, lambda o: LRS.OneCycleLR(o, max_lr=LR, total_steps=N,
                                                     cycle_momentum=False)),
    ({"kind": "onecycle", "pct_start": 0.25, "anneal_strategy": "linear", "div_factor": 10.0,
      "final_div_factor": 100.0, "three_phase": True, "total_steps": N},
     lambda o: LRS.OneCycleLR(o, max_lr=LR, total_steps=N, pct_start=0.25,
                              anneal_strategy="linear", div_factor=10.0, final_div_factor=100.0,
                              three_phase=True, cycle_momentum=False)),
    ({"kind": "onecycle", "three_phase": True, "pct_start": 0.4},
     lambda o: LRS.OneCycleLR(o, max_lr=LR, total_steps=N, pct_start=0.4, three_phase=True,
                              cycle_momentum=False)),
    ({"kind": "cyclic", "max_lr": 0.2, "step_size_up": 45, "mode": "triangular2"},
     lambda o: LRS.CyclicLR(o, base_lr=LR, max_lr=0.2, step_size_up=45, mode="triangular2",
                            cycle_momentum=False)),
    ({"kind": "cyclic", "max_lr": 0.2, "step_size_up": 30, "step_size_down": 70,
      "mode": "exp_range", "gamma": 0.997},
     lambda o: LRS.CyclicLR(o, base_lr=LR, max_lr=0.2, step_size_up=30, step_size_down=70,
                            mode="exp_range", gamma=0.997, cycle_momentum=False)),
    ({"kind": "cyclic", "max_lr": 0.01, "step_size_up": 20, "step_size_down": 7},
     lambda o: LRS.CyclicLR(o, base_lr=LR, max_lr=0.01, step_size_up=20, step_size_down=7,
                            cycle_momentum=False)),
    ({"kind": "polynomial"}, lambda o: LRS.PolynomialLR(o)),
    ({"kind": "polynomial", "total_iters": 0, "power": 2.5},
     lambda o: LRS.PolynomialLR(o, total_iters=N, power=2.5)),
    ({"kind": "polynomial", "total_iters": 250, "power": 0.5},
     lambda o: LRS.PolynomialLR(o, total_iters=250, power=0.5)),
]


def _torch_lrs(make, n, lr=LR, observed=None):
    """torch's lr of each of n optimizer steps (observed: ReduceLROnPlateau.step(f) before
    the step at each observed step, as optbench's loop)."""
    p = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([p], lr=lr)
    sched = make(opt)
    out = []
    for k in range(n):
        if observed is not None and k in observed:
            sched.step(observed[k])
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        if observed is None and k < n - 1:
            sched.step()
    return np.array(out)


def _close(got, want, rtol=1e-14):
    assert got.shape == want.shape and np.array_equal(got == 0, want == 0)
    nz = want != 0
    rel = np.abs(got[nz] - want[nz]) / np.abs(want[nz])
    assert rel.max(initial=0.0) <= rtol, rel.max()


@needs_torch
def test_every_kind_is_covered():
    from test_schedules import SPECS
    assert {s[0] for s in SPECS} | V2_KINDS == set(SCHEDULES)
    assert {s["kind"] for s, _ in STATELESS} | {"reduce-on-plateau"} >= V2_KINDS


@needs_torch
@pytest.mark.parametrize("spec,make", STATELESS, ids=[str(i) for i in range(len(STATELESS))])
def test_stateless_lr_sequence_matches_torch(spec, make):
    _close(Schedule.make(spec).lr_sequence(LR, N), _torch_lrs(make, N))


@needs_torch
def test_onecycle_edges_and_cyclic_backwards_compatible():
    s = Schedule("onecycle", total_steps=100)
    seq = s.lr_sequence(1.0, 130)
    want = _torch_lrs(lambda o: LRS.OneCycleLR(o, max_lr=1.0, total_steps=100,
                                               cycle_momentum=False), 101, lr=1.0)
    _close(seq[:101], want)                       # torch's whole range, step total_steps incl.
    assert np.all(seq[101:] == 1.0 / 25.0 / 1e4)  # beyond it (torch raises): the final lr
    # a phase of zero length (pct_start·total_steps = 1; torch divides by zero): its end value
    z = Schedule("onecycle", total_steps=4, pct_start=0.25).lr_sequence(1.0, 4)
    assert z[0] == 1.0 and np.all(np.isfinite(z)) and z[3] == 1.0 / 25.0 / 1e4
    # cyclic: the spec of a triangular schedule is what it was (run ids unchanged), and the
    # triangular mode with step_size_down = step_size_up is the old default
    old = Schedule("cyclic", max_lr=0.3, step_size_up=9)
    assert old.spec == {"kind": "cyclic", "max_lr": 0.3, "step_size_up": 9, "warmup": 0,
                        "warmup_start": 0.1}
    new = Schedule("cyclic", max_lr=0.3, step_size_up=9, step_size_down=9, mode="triangular")
    assert np.array_equal(old.lr_sequence(0.1, 50), new.lr_sequence(0.1, 50))
    assert Schedule.make(Schedule("cyclic", mode="exp_range", gamma=0.9).spec).params["gamma"] \
        == 0.9


PLATEAU = [
    {},
    {"factor": 0.5, "patience": 2, "threshold": 0.01, "cooldown": 3},
    {"factor": 0.3, "patience": 0, "threshold": 0.05, "threshold_mode": "abs", "min_lr": 1e-3},
    {"factor": 0.9, "patience": 1, "eps": 4e-3, "min_lr": 0.02},   # a change ≤ eps is skipped
    {"mode": "max", "factor": 0.5, "patience": 1, "threshold": 0.02, "cooldown": 1},
    {"mode": "max", "factor": 0.5, "patience": 3, "threshold": 0.1, "threshold_mode": "abs"},
]


def _torch_plateau(params):
    kw = dict(params)
    return lambda o: LRS.ReduceLROnPlateau(o, **kw)


@needs_torch
@pytest.mark.parametrize("params", PLATEAU, ids=[str(i) for i in range(len(PLATEAU))])
def test_plateau_state_machine_matches_torch(params):
    """Observed f values with plateaus, slow progress, jumps and negative values, at
    irregular steps (the recording steps of 'log'); the lr of every step."""
    rng = np.random.default_rng(len(params))
    steps = sorted(set(np.unique(np.geomspace(1, N, 120).astype(int)).tolist() + [0]))
    walk = np.cumsum(rng.choice([-0.2, -0.001, 0.0, 0.05], size=len(steps))) + 3.0
    observed = dict(zip(steps, walk.tolist()))
    seq = Schedule("reduce-on-plateau", **params).lr_sequence(LR, N, observed=observed)
    want = _torch_lrs(_torch_plateau(params), N, observed=observed)
    _close(seq, want)
    assert len(set(want.tolist())) >= 3, "no reductions: the test would prove nothing"


def _rosen_torch(x0, lr, steps, every, params):
    """SGD on 2-D Rosenbrock with torch's ReduceLROnPlateau stepped on f(x_t) every
    ``every`` steps before the update (the loop's order); returns (x, lr of every step)."""
    p = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([p], lr=lr)
    sched = _torch_plateau(params)(opt)
    lrs = []
    for t in range(steps):
        opt.zero_grad()
        f = (1.0 - p[0]) ** 2 + 100.0 * (p[1] - p[0] ** 2) ** 2
        f.backward()
        if t % every == 0:
            sched.step(f.item())
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
    return p.detach().numpy(), np.array(lrs)


RUN = dict(steps=600, every=10, lr=2e-3,
           params={"factor": 0.5, "patience": 2, "threshold": 0.05, "threshold_mode": "abs"})


def _opt(kind="reduce-on-plateau", **params):
    return ob.optimizer("sgd", lr=RUN["lr"], schedule={"kind": kind, **params})


@needs_torch
def test_plateau_run_matches_a_torch_training_loop():
    x0 = [-1.2, 1.0]
    res = ob.run("rosenbrock", _opt(**RUN["params"]), steps=RUN["steps"], x0=x0,
                 record=f"every:{RUN['every']}", stop="budget")
    xt, lrs_t = _rosen_torch(x0, RUN["lr"], RUN["steps"], RUN["every"], RUN["params"])
    assert len(set(lrs_t.tolist())) >= 3            # at least two reductions happened
    assert np.max(np.abs(res.x - xt) / np.abs(xt)) <= 1e-10, (res.x, xt)
    # torch's ReduceLROnPlateau fed the f values optbench recorded gives, at every step, the
    # lr that optbench's schedule gives on them
    tr = res.trace[res.trace.step < RUN["steps"]]
    observed = dict(zip(tr.step.astype(int).tolist(), tr.f.tolist()))
    assert sorted(observed) == list(range(0, RUN["steps"], RUN["every"]))
    want = _torch_lrs(_torch_plateau(RUN["params"]), RUN["steps"], lr=RUN["lr"],
                      observed=observed)
    got = Schedule("reduce-on-plateau", **RUN["params"]).lr_sequence(RUN["lr"], RUN["steps"],
                                                                    observed=observed)
    _close(got, want)
    _close(got, lrs_t)


def _specs(problem, opt, seeds=3, steps=RUN["steps"]):
    spec = RunSpec.make(problem, opt, steps=steps, stop="budget",
                        record=f"every:{RUN['every']}")
    return [dataclasses.replace(spec, seed=s) for s in range(seeds)]


def _adam(kind="reduce-on-plateau", **params):
    return ob.optimizer("adam", lr=1e-2, schedule={"kind": kind, **params})


# adam on the pairs tests/test_schema.py and tests/test_engines.py compile: in a suite run
# their specialised drivers come from the disk cache
@pytest.mark.parametrize("engine", [LockstepEngine(), LaneEngine(), PhasedEngine(),
                                    pytest.param(FusedEngine(), marks=pytest.mark.slow)],
                         ids=lambda e: e.name)
def test_plateau_in_every_cpu_engine(engine):
    """Each engine's loop observes as the generic one: the same results (bit for bit; the
    fused loop sums f in another order, so to rounding), and not those of a constant lr."""
    fused = isinstance(engine, FusedEngine)
    prob = ob.problem("double-well", dim=64, start="random") if fused else \
        ob.problem("rosenbrock", start="random")
    specs = _specs(prob, _adam(factor=0.5, patience=1, threshold=0.5))
    ref = E.run_batch(specs, parallel=False)
    got = E.run_batch(specs, parallel=False, engine=engine)
    const = E.run_batch(_specs(prob, _adam("constant")), parallel=False)
    for (_, xr), (_, xg), (_, xc) in zip(ref.xs, got.xs, const.xs):
        if fused:
            np.testing.assert_allclose(xg, xr, rtol=1e-12, atol=0)
        else:
            assert np.array_equal(xg, xr)
        assert not np.allclose(xr, xc, rtol=1e-6)


CUDASIM = cuda_mode.CHECK + r"""
import json, os
import numpy as np
import optbench as ob
import optbench.cuda.execute as CE
CE.GRID_MIN_DIM = 32      # the grid-per-run engine on a small problem (the simulator is slow)
out = {}
for key, prob, steps, every in (("thread", ob.problem("rosenbrock"), 200, 10),
                                ("grid", ob.problem("double-well", dim=32, start="random"), 10, 1)):
    sched = {"kind": "reduce-on-plateau", "factor": 0.5, "patience": 0, "threshold": 0.5}
    kw = dict(steps=steps, record=f"every:{every}", stop="budget")
    c = ob.run(prob, ob.optimizer("adam", lr=1e-2, schedule=sched), **kw)
    g = ob.run(prob, ob.optimizer("adam", lr=1e-2, schedule=sched), device="cuda", **kw)
    k = ob.run(prob, ob.optimizer("adam", lr=1e-2), **kw)
    out[key] = {"rel": float(np.max(np.abs(g.x - c.x) / np.abs(c.x))),
                "const_rel": float(np.max(np.abs(k.x - c.x) / np.abs(c.x))),
                "layout": g.row["gpu_layout"]}
print("RESULT" + json.dumps(out))
"""


@pytest.mark.slow
def test_plateau_on_the_cuda_simulator():
    """The CUDA engines (thread per run: run_core re-parsed; grid per run: the book kernel)
    observe f as the CPU loop does."""
    env = cuda_mode.env()
    r = subprocess.run([sys.executable, "-c", CUDASIM], capture_output=True, text=True, env=env,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads([ln for ln in r.stdout.splitlines() if ln.startswith("RESULT")][-1][6:])
    assert res["thread"]["layout"] == "thread per run"
    assert res["grid"]["layout"].startswith("grid per run")
    for v in res.values():
        assert v["rel"] <= 1e-12 and v["const_rel"] > 1e-6, v


BAD = [
    ({"kind": "reduce-on-plateau", "factor": 1.0}, "factor"),
    ({"kind": "reduce-on-plateau", "patience": -1}, "patience"),
    ({"kind": "reduce-on-plateau", "threshold_mode": "relative"}, "threshold_mode"),
    ({"kind": "reduce-on-plateau", "mode": "minimum"}, "mode"),
    ({"kind": "reduce-on-plateau", "min_lr": -1e-3}, "min_lr"),
    ({"kind": "onecycle", "pct_start": 1.0}, "pct_start"),
    ({"kind": "onecycle", "pct_start": 0.0}, "pct_start"),
    ({"kind": "onecycle", "anneal_strategy": "cosine"}, "anneal_strategy"),
    ({"kind": "onecycle", "div_factor": 0.0}, "div_factor"),
    ({"kind": "onecycle", "three_phase": 1}, "three_phase"),
    ({"kind": "cyclic", "mode": "sine"}, "triangular2"),
    ({"kind": "cyclic", "gamma": 0.0}, "gamma"),
    ({"kind": "cyclic", "step_size_down": 0}, "step_size_down"),
    ({"kind": "polynomial", "power": -1.0}, "power"),
    ({"kind": "polynomial", "total_iters": 2.5}, "total_iters"),
]


@pytest.mark.parametrize("spec,field", BAD, ids=[f"{b[0]['kind']}-{b[1]}" for b in BAD])
def test_bad_parameters_one_line(spec, field):
    with pytest.raises(ob.OptbenchInputError) as ei:
        ob.optimizer("sgd", schedule=spec)
    msg = str(ei.value)
    assert field in msg and "\n" not in msg, msg
    if spec.get("mode") == "sine":
        assert all(m in msg for m in ("triangular", "triangular2", "exp_range"))


def test_cli_exit_2_and_listing(tmp_path, capsys):
    from optbench.cli import main

    suite = tmp_path / "s.toml"
    suite.write_text('name = "s"\nsteps = 10\n[[problems]]\nproblem = "rosenbrock"\n'
                     '[[optimizers]]\noptimizer = "sgd"\n'
                     'schedule = {kind = "reduce-on-plateau", factor = 1.5}\n')
    code = main(["run", str(suite), "--out", str(tmp_path / "out"), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and "factor" in err, (code, err)
    assert main(["list", "schedules"]) == 0
    lines = capsys.readouterr().out.splitlines()
    for kind in V2_KINDS:
        assert any(line.split()[0] == kind for line in lines), (kind, lines)
    assert any("mode=triangular" in line for line in lines if line.startswith("cyclic"))
