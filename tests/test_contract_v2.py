"""Contract v2 itself (optimizers/phased.py, runner/phased.py): block tables, seeded probes,
the step protocol's requests and their accounting, averaged points, ``maximize`` in every
CPU engine. The optimizers built on it are tested in tests/test_optim_*.py."""
from __future__ import annotations

import numpy as np
import pytest

import optbench as ob
from optbench.kernels import compile as kc
from optbench.kernels.blocks import block_table, check_table, shapes
from optbench.kernels.probes import rademacher, rademacher_vector
from optbench.kernels.slots import SC_SEED, hyper_slots, scalar_slots
from optbench.optimizers import REGISTRY
from optbench.optimizers.base import Optimizer
from optbench.optimizers.phased import PhasedOptimizer
from optbench.params import F
from optbench.runner.spec import RunSpec
from optbench.validate import OptbenchInputError

# ------------------------------------------------------------------ blocks
def test_block_tables_are_the_layers_torch_sees():
    mlp = ob.problem("mlp", depth=2, width=6, in_dim=3, out_dim=2, n=16)
    blk = mlp.blocks()
    check_table(blk, mlp.dim)
    x = np.arange(mlp.dim, dtype=float)
    want = [a for W, b in mlp.layers(x) for a in (W, b)]
    got = [x[o:o + n].reshape(s) for (o, n, *_), s in zip(blk.tolist(), shapes(blk))]
    assert [w.shape for w in want] == [(6, 3), (6,), (6, 6), (6,), (2, 6), (2,)]
    assert all(np.array_equal(a, b) for a, b in zip(want, got))
    ln = ob.problem("linear-net", in_dim=5, hidden=3, out_dim=4)
    W1, W2 = ln.split(np.arange(ln.dim, dtype=float))
    assert shapes(ln.blocks()) == [W1.shape, W2.shape]
    assert shapes(ob.problem("rosenbrock", dim=7).blocks()) == [(7,)]
    bad = block_table([(2, 3), (4,)])
    check_table(bad, 10)
    bad[1, 0] += 1    # a gap between the blocks
    with pytest.raises(ValueError, match="does not continue"):
        check_table(bad, 10)


# ------------------------------------------------------------------ probes
def test_probes_are_seeded_balanced_and_equal_in_numpy_and_numba():
    f = kc.cpu(rademacher)
    v = rademacher_vector(2**40 + 7, 3, 4096)
    assert np.array_equal(v, [f(2**40 + 7, 3, i) for i in range(4096)])
    assert set(np.unique(v)) == {-1.0, 1.0} and abs(v.mean()) < 0.06
    others = [rademacher_vector(2**40 + 7, 4, 4096), rademacher_vector(2**40 + 8, 3, 4096)]
    assert all(0.4 < np.mean(v == o) < 0.6 for o in others)   # new step / seed: new probe


# ------------------------------------------------------------------ the step protocol
HY = hyper_slots("eta")
SC = scalar_slots()


def xg_step(x, g, st, sc, hy, blk, wk, stage):
    """Extragradient: gradient at x - lr g, then x -= lr * that gradient; every third step
    also an HVP along a probe, whose u·Hu is kept in st[1] (to check it is served)."""
    if stage == 0:
        for i in range(x.shape[0]):
            wk[0, i] = x[i] - sc[SC.lr] * g[i]
        return 1
    if stage == 1:
        for i in range(x.shape[0]):
            x[i] = x[i] - sc[SC.lr] * hy[HY.eta] * wk[1, i]
            st[0, i] = 0.5 * st[0, i] + 0.5 * x[i]          # running average (AVG)
        if int(sc[SC.step]) % 3 == 1:
            for i in range(x.shape[0]):
                wk[0, i] = rademacher(int(sc[SC_SEED]), int(sc[SC.step]), i)
            return 2
        return 0
    s = 0.0
    for i in range(x.shape[0]):
        s += wk[0, i] * wk[1, i]
    st[1, 0] = s
    return 0


def xg_avg(x, st, sc, hy, out):
    for i in range(x.shape[0]):
        out[i] = st[0, i]


class ExtraGrad(PhasedOptimizer):
    name = "test-extragradient"
    family = "test"
    params = {"lr": F(1e-3, 0.0, lo_open=True), "eta": F(1.0, 0.0)}
    slots = HY
    requests = ("grad", "hvp")
    STEP = staticmethod(xg_step)
    AVG = staticmethod(xg_avg)

    def n_state(self):
        return 2

    def evaluations(self, t):
        t = np.asarray(t)
        return 2 * t + 1, (t + 2) // 3     # HVPs at steps 1, 4, 7, … (done before step t)


@pytest.fixture
def extragrad():
    REGISTRY.register(ExtraGrad)
    yield ExtraGrad
    del REGISTRY[ExtraGrad.name]


def _reference(prob, x0, lr, eta, steps, seed):
    x, avg, fs, favg, nh = x0.copy(), np.zeros_like(x0), [], [], []
    for t in range(steps + 1):
        fs.append(prob.value(x))
        favg.append(prob.value(avg))
        if t == steps:
            break
        g = prob.grad(x)
        x = x - lr * eta * prob.grad(x - lr * g)
        avg = 0.5 * avg + 0.5 * x
    return x, np.array(fs), np.array(favg)


@pytest.mark.parametrize("pname", ["rosenbrock", "quadratic"])
def test_requests_are_served_and_counted(extragrad, pname):
    prob = ob.problem(pname, dim=2) if pname == "rosenbrock" else \
        ob.problem("quadratic", dim=12, cond=30.0, rotation="haar", seed=2)
    opt = ob.optimizer("test-extragradient", lr=1e-3, eta=0.5)
    res = ob.run(prob, opt, steps=60, seed=3, stop="budget", record="every:1")
    x, fs, favg = _reference(prob, prob.x0(3), 1e-3, 0.5, 60, 3)
    np.testing.assert_allclose(res.x, x, rtol=1e-13)
    tr = res.trace.sort_values("step")
    np.testing.assert_allclose(tr["f"], fs, rtol=1e-13)
    np.testing.assert_allclose(tr["f_avg"].to_numpy()[1:], favg[1:], rtol=1e-12)
    ngev, nhev = opt.evaluations(tr["step"].to_numpy())
    assert np.array_equal(tr["ngev"], ngev) and np.array_equal(tr["nhev"], nhev)
    np.testing.assert_array_equal(tr["grad_equiv"], ngev + nhev)
    assert (res.ngev, res.nfev, res.nhev) == (2 * 60 + 1, 2 * 60 + 1, 20)
    assert res.row["grad_equiv"] == 2 * 60 + 1 + 20


def test_targets_are_charged_every_evaluation(extragrad):
    prob = ob.problem("quadratic", dim=4, cond=2.0)
    res = ob.run(prob, ob.optimizer("test-extragradient", lr=0.3), steps=400, seed=1,
                 stop="budget")
    row = res.row
    hits = np.asarray(row["hit_step"])
    ok = hits >= 0
    assert ok.sum() >= 3
    np.testing.assert_array_equal(np.asarray(row["hit_ngev"])[ok], 2 * hits[ok] + 1)
    np.testing.assert_array_equal(np.asarray(row["hit_grad_equiv"])[ok],
                                  2 * hits[ok] + 1 + (hits[ok] + 2) // 3)


def test_phased_optimizers_are_refused_on_cuda_and_where_they_cannot_run(extragrad):
    with pytest.raises(OptbenchInputError, match="CPU only"):
        RunSpec.make("rosenbrock", ob.optimizer("test-extragradient"), device="cuda")
    rosen = type(ob.problem("rosenbrock"))

    class NoHvp(rosen):          # every registered problem has an HVP: make one without
        HVP = None
    with pytest.raises(OptbenchInputError, match="Hessian-vector products"):
        ob.optimizer("test-extragradient").check_problem(NoHvp())
    ob.optimizer("test-extragradient").check_problem(ob.problem("rosenbrock"))


# ------------------------------------------------------------------ maximize
def _ascent(prob, x0, lr, steps, clip_value, wd):
    x = x0.copy()
    for _ in range(steps):
        g = -np.clip(prob.grad(x), -clip_value, clip_value) + wd * x
        x = x - lr * g
    return x


@pytest.mark.parametrize("case", ["generic", "fused", "lockstep"])
def test_maximize_negates_the_gradient_in_every_cpu_engine(case):
    lr, cv, wd = 1e-3, 0.5, 0.1
    opt = ob.optimizer("sgd", lr=lr, weight_decay=wd, clip_value=cv, maximize=True)
    assert opt.spec["maximize"] is True and "maximize" not in ob.optimizer("sgd").spec
    if case == "fused":
        from optbench.runner.engines.cpu import FUSED_MIN_DIM
        prob = ob.problem("double-well", dim=FUSED_MIN_DIM)
        res = ob.run(prob, opt, steps=5, stop="budget")
        np.testing.assert_allclose(res.x, _ascent(prob, prob.x0(0), lr, 5, cv, wd), rtol=1e-13)
        return
    prob = ob.problem("quadratic", dim=3, cond=4.0)
    if case == "generic":
        res = ob.run(prob, opt, steps=20, stop="budget")
        np.testing.assert_allclose(res.x, _ascent(prob, prob.x0(0), lr, 20, cv, wd), rtol=1e-13)
        return
    from optbench.runner import execute as E
    from optbench.runner.lockstep import LOCKSTEP_K
    specs = [RunSpec.make(prob, opt, seed=s, steps=8, stop="budget") for s in range(2 * LOCKSTEP_K)]
    out = E.run_batch(specs, engine=E.LockstepEngine())
    for s, (x0, x) in zip(specs, out.xs):
        np.testing.assert_allclose(x, _ascent(prob, x0, lr, 8, cv, wd), rtol=1e-13)


def test_maximize_is_validated():
    with pytest.raises(OptbenchInputError, match="maximize must be true or false"):
        ob.optimizer("adam", maximize="yes")
    with pytest.raises(OptbenchInputError, match="first-order"):
        ob.optimizer("newton", maximize=True)
    assert isinstance(ob.optimizer("adam", maximize=True), Optimizer)
