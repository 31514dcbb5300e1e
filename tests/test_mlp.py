"""The ``mlp`` problem family: gradients and Hessian-vector products against finite differences
and against torch.autograd, minibatch order, metrics, data sets, bad configurations, suites."""
from __future__ import annotations

import sys

import numpy as np
import pytest

import optbench as ob
from optbench import OptbenchInputError
from optbench.kernels import compile as kc
from optbench.problems import minibatch as mb
from optbench.problems.mlp import Mlp

ACTS = ["relu", "leaky-relu", "sigmoid", "tanh"]
# (data set, loss): cross-entropy on a classification set, MSE on a regression set
LOSSES = {"cross-entropy": dict(dataset="blobs", in_dim=3, out_dim=3),
          "mse": dict(dataset="regression", in_dim=3, out_dim=2)}


def small(act="tanh", residual=False, loss="mse", **kw):
    base = dict(LOSSES[loss], activation=act, residual=residual, depth=3, width=5, n=24,
                leaky_slope=0.1)
    base.update(kw)
    return Mlp(**base)


def point(p, seed=3):
    """x0 plus noise (biases non-zero, so every term of the layout is exercised)."""
    return p.x0(seed) + 0.3 * np.random.default_rng(seed).standard_normal(p.dim)


def fd_grad(p, x, h=1e-6):
    g = np.empty_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (p.value(x + e) - p.value(x - e)) / (2 * h)
    return g


def rel(a, b):
    return np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300)


# ------------------------------------------------------------------ finite differences ----

@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("residual", [False, True])
@pytest.mark.parametrize("loss", ["mse", "cross-entropy"])
def test_gradient_matches_finite_differences(act, residual, loss):
    p = small(act, residual, loss, l2=0.05)
    x = point(p)
    f, g = p.value_and_grad(x)
    assert f == pytest.approx(p.value(x), rel=1e-14)
    assert rel(g, fd_grad(p, x)) < 1e-6


@pytest.mark.parametrize("depth", [1, 2, 6])
def test_gradient_every_depth(depth):
    p = small("sigmoid", loss="cross-entropy", depth=depth, width=4)
    x = point(p)
    assert len(p.layers(x)) == depth + 1
    assert rel(p.grad(x), fd_grad(p, x)) < 1e-6


def test_gradient_unequal_widths_and_wide_rows():
    # widths that are not multiples of 4 exercise the remainder rows of the blocked matvec
    p = small("tanh", loss="cross-entropy", widths="9,6,3", depth=None)
    assert p.p["depth"] == 3 and p.sizes == [3, 9, 6, 3, 3]
    x = point(p)
    assert rel(p.grad(x), fd_grad(p, x)) < 1e-6


@pytest.mark.parametrize("kw", [dict(widths="33,40", activation="tanh"),
                                dict(width=64, activation="relu", batch=32, n=70),
                                dict(width=17, depth=3, residual=True, l2=1e-3, batch=7),
                                dict(widths="9,6,3", activation="leaky-relu", batch=5)])
def test_vector_products_give_the_plain_loops_bits(kw, monkeypatch):
    """The kernels' products run in vector registers on the CPU (mlp_gemm.gemm); compiled
    with the plain loops that define the summation order instead (gemm_loops, what CUDA
    compiles), every kernel gives the same bits: value, gradient, HVP and metrics, on widths
    that use every block shape and remainder, full tiles, short tiles and residual layers."""
    from numba import njit

    from optbench.kernels import signatures as S
    from optbench.problems import mlp_gemm as G
    from optbench.problems import mlp_hvp as H
    from optbench.problems import mlp_net as N

    p = ob.problem("mlp", **{"n": 40, **kw})
    x, y = point(p), point(p, seed=4)
    v = np.random.default_rng(2).normal(size=p.dim)

    def each(fg, val, hvp, met):
        g, h, m = np.zeros(p.dim), np.zeros(p.dim), np.zeros(len(p.metric_names()))
        f = fg(x, g, p.data, p.idata, 7, 3)
        g2 = np.zeros(p.dim)
        f2 = fg(y, g2, p.data, p.idata, 7, 4)
        hvp(x, v, h, p.data, p.idata)
        met(x, p.data, p.idata, m)
        return f, g, f2, g2, val(x, p.data, p.idata), h, m

    vector = each(*p.cpu_kernels(), kc.cpu(p.METRICS))
    monkeypatch.setattr(kc, "_CPU", {})          # recompile every helper with the loops
    loops = njit(error_model="numpy")(G.gemm_loops)
    monkeypatch.setattr(N, "gemm", loops)
    monkeypatch.setattr(H, "gemm", loops)
    plain = each(*(kc.cpu(k, sig, inline=True, name=f"{k.__name__}__loops_test")
                   for k, sig in ((p.FG, S.FG_SIG), (p.VALUE, S.VALUE_SIG), (p.HVP, S.HVP_SIG))),
                 kc.cpu(p.METRICS, name="mlp_metrics__loops_test"))
    for a, b in zip(vector, plain):
        assert np.array_equal(np.asarray(a).view(np.int64), np.asarray(b).view(np.int64))


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("loss", ["mse", "cross-entropy"])
def test_hvp_matches_finite_differences_of_gradient(act, loss):
    p = small(act, act == "tanh", loss, l2=0.1)
    x = point(p, 5)
    v = np.random.default_rng(9).standard_normal(p.dim)
    h = 1e-5
    fd = (p.grad(x + h * v) - p.grad(x - h * v)) / (2 * h)
    assert rel(p.hvp(x, v), fd) < 1e-6


def test_dense_hessian_symmetric_and_consistent():
    p = small("sigmoid", True, "cross-entropy", width=4)
    x = point(p)
    H = p.hess(x)
    assert np.abs(H - H.T).max() <= 1e-12 * np.abs(H).max()
    v = np.random.default_rng(2).standard_normal(p.dim)
    np.testing.assert_allclose(H @ v, p.hvp(x, v), rtol=1e-10, atol=1e-13)


# ------------------------------------------------------------------ torch.autograd --------

def torch_loss(p, params, torch, part="train"):
    """The objective written independently in torch (float64) for a list of (W, b) tensors;
    returns (loss, network outputs)."""
    F = torch.nn.functional
    acts = {"relu": F.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh,
            "leaky-relu": lambda z: F.leaky_relu(z, p.p["leaky_slope"])}
    X, Y = (p.split[0], p.split[1]) if part == "train" else (p.split[2], p.split[3])
    h = torch.tensor(X)
    for l, (W, b) in enumerate(params):
        z = h @ W.T + b
        if l == len(params) - 1:
            o = z
        else:
            a = acts[p.p["activation"]](z)
            h = a + h if (p.p["residual"] and l > 0) else a
    Yt = torch.tensor(Y)
    if p.p["loss"] == "cross-entropy":
        loss = F.cross_entropy(o, Yt.argmax(1))
    else:
        loss = 0.5 * ((o - Yt) ** 2).sum(1).mean()
    if part == "train":
        loss = loss + 0.5 * p.p["l2"] * sum((W ** 2).sum() for W, _ in params)
    return loss, o


def torch_objective(p, x, torch, part="train"):
    """torch_loss at x, with leaf tensors from the documented layout (p.layers)."""
    params = [(torch.tensor(W.copy(), requires_grad=True), torch.tensor(b.copy(), requires_grad=True))
              for W, b in p.layers(x)]
    loss, o = torch_loss(p, params, torch, part)
    return loss, params, o


def flat_grad(params):
    return np.concatenate([t.grad.numpy().ravel() for W, b in params for t in (W, b)])


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("residual", [False, True])
@pytest.mark.parametrize("loss", ["mse", "cross-entropy"])
def test_value_and_gradient_match_torch(act, residual, loss):
    torch = pytest.importorskip("torch")
    p = small(act, residual, loss, depth=4, width=6, n=40, l2=0.01)
    x = point(p, 11)
    tl, params, _ = torch_objective(p, x, torch)
    tl.backward()
    f, g = p.value_and_grad(x)
    assert abs(f - tl.item()) <= 1e-10 * abs(tl.item())
    tg = flat_grad(params)
    assert np.abs(g - tg).max() <= 1e-10 * np.abs(tg).max()


@pytest.mark.parametrize("act,loss", [("tanh", "cross-entropy"), ("sigmoid", "mse"),
                                      ("relu", "cross-entropy"), ("leaky-relu", "mse")])
def test_hvp_and_hessian_match_torch(act, loss):
    torch = pytest.importorskip("torch")
    p = small(act, True, loss, depth=2, width=4, n=20, l2=0.02)
    x = point(p, 4)
    sizes = [W.size + b.size for W, b in p.layers(x)]

    # the objective as a function of the flat vector, for torch.autograd.functional.hessian
    def obj(theta):
        parts, o = [], 0
        for (W, b), s in zip(p.layers(x), sizes):
            parts.append((theta[o:o + W.size].reshape(W.shape), theta[o + W.size:o + s]))
            o += s
        return torch_loss(p, parts, torch)[0]

    th = torch.tensor(x)
    assert abs(obj(th).item() - p.value(x)) <= 1e-12 * abs(p.value(x))
    H = torch.autograd.functional.hessian(obj, th).numpy()
    v = np.random.default_rng(1).standard_normal(p.dim)
    assert np.abs(p.hvp(x, v) - H @ v).max() <= 1e-10 * np.abs(H @ v).max()
    assert np.abs(p.hess(x) - H).max() <= 1e-10 * np.abs(H).max()


def test_metrics_kernel_matches_torch():
    torch = pytest.importorskip("torch")
    from optbench.kernels import signatures as S

    p = small("tanh", False, "cross-entropy", depth=2, width=6, n=60, l2=0.01, val_frac=0.25)
    x = point(p, 2)
    out = np.full(len(p.metric_names()), -1.0)
    kc.cpu(p.METRICS, S.METRICS_SIG)(x, p.data, p.idata, out)       # the kernel as compiled
    m = dict(zip(p.metric_names(), out))
    assert m == pytest.approx(p.metrics(x), rel=1e-14)
    tl, params, o = torch_objective(p, x, torch)
    tl.backward()
    acc = np.mean(o.detach().numpy().argmax(1) == p.split[1].argmax(1))
    vl, _, vo = torch_objective(p, x, torch, part="val")
    vacc = np.mean(vo.detach().numpy().argmax(1) == p.split[3].argmax(1))
    assert p.split[2].shape[0] == 15 and 0.0 < acc < 1.0
    assert m["train_accuracy"] == pytest.approx(acc, abs=1e-15)
    assert m["val_accuracy"] == pytest.approx(vacc, abs=1e-15)
    assert m["val_loss"] == pytest.approx(vl.item(), rel=1e-12)
    for l, (W, b) in enumerate(params):
        gn = np.sqrt((W.grad.numpy() ** 2).sum() + (b.grad.numpy() ** 2).sum())
        assert m[f"grad_norm_layer{l + 1}"] == pytest.approx(gn, rel=1e-10)


def test_metrics_regression_and_no_validation_are_nan():
    p = small("relu", loss="mse", val_frac=0.0)
    m = p.metrics(point(p))
    assert np.isnan(m["train_accuracy"]) and np.isnan(m["val_loss"]) and np.isnan(m["val_accuracy"])
    assert all(np.isfinite(m[f"grad_norm_layer{l}"]) and m[f"grad_norm_layer{l}"] > 0
               for l in range(1, 5))


# ------------------------------------------------------------------ layout ----------------

def test_layout_views_and_flatten():
    p = small("tanh", widths="5,3", depth=None)
    assert p.dim == 3 * 5 + 5 + 5 * 3 + 3 + 3 * 2 + 2
    x = np.arange(p.dim, dtype=float)
    (W1, b1), (W2, b2), (W3, b3) = p.layers(x)
    assert W1.shape == (5, 3) and W1[1, 2] == x[1 * 3 + 2] and b1[0] == x[15]
    assert W2[2, 4] == x[20 + 2 * 5 + 4] and b3[-1] == x[-1]
    W2[0, 0] = -1.0                       # views: writing through them changes x
    assert x[20] == -1.0
    np.testing.assert_array_equal(p.flatten(p.layers(x)), x)
    with pytest.raises(OptbenchInputError, match="layer shapes"):
        p.flatten([(W1.T, b1), (W2, b2), (W3, b3)])


def test_init_schemes_have_documented_scale():
    p = Mlp(dataset="regression", in_dim=200, depth=1, width=300, out_dim=1)
    W = p.layers(p.x0(0))[0][0]
    assert np.abs(W).max() <= np.sqrt(6 / 500) and W.std() == pytest.approx(np.sqrt(2 / 500), rel=0.02)
    ph = Mlp(dataset="regression", in_dim=200, depth=1, width=300, out_dim=1, init="he")
    assert ph.layers(ph.x0(0))[0][0].std() == pytest.approx(np.sqrt(2 / 200), rel=0.02)
    pn = Mlp(dataset="regression", in_dim=200, depth=1, width=300, out_dim=1, init="normal",
             init_std=0.3)
    assert pn.layers(pn.x0(0))[0][0].std() == pytest.approx(0.3, rel=0.02)
    assert np.all(p.layers(p.x0(0))[0][1] == 0.0)
    assert not np.array_equal(p.x0(0), p.x0(1))
    q = Mlp(dataset="regression", in_dim=200, depth=1, width=300, out_dim=1, start="standard")
    np.testing.assert_array_equal(q.x0(0), q.x0(1))


# ------------------------------------------------------------------ teacher-student --------

def test_teacher_is_a_zero_loss_minimiser_with_psd_hessian():
    p = Mlp(dataset="teacher", in_dim=3, depth=2, width=4, activation="tanh", n=40)
    assert p.f_star == 0.0
    xs = p.x_star
    assert p.value(xs) < 1e-28 and np.abs(p.grad(xs)).max() < 1e-14
    ev = np.linalg.eigvalsh(p.hess(xs))
    assert ev.min() > -1e-10 * ev.max()
    assert p.critical_points().iloc[0]["index"] == 0
    # the labels really come from the teacher network: a perturbed student does not fit them
    assert p.value(xs + 0.1) > 1e-4
    # a different teacher width has no known x*, still f* = 0 when the student is wider
    q = Mlp(dataset="teacher", in_dim=3, depth=2, width=4, teacher_width=2)
    assert q.f_star == 0.0 and q.x_star is None
    assert Mlp(dataset="teacher", width=4, teacher_width=8).f_star is None
    assert Mlp(dataset="teacher", noise=0.1).f_star is None
    assert Mlp(dataset="teacher", l2=0.1).f_star is None


def test_teacher_student_reaches_zero_loss_with_adam():
    p = ob.problem("mlp", dataset="teacher", in_dim=2, depth=1, width=8, teacher_width=3, n=64,
                   val_frac=0.0)
    res = ob.run(p, ob.optimizer("adam", lr=3e-3), steps=20_000, targets=[1e-3, 1e-8])
    assert res.status == "converged", res
    assert res.fun <= 1e-8 and p.value(res.x) == pytest.approx(res.fun, rel=1e-12)
    assert p.value(res.x0) > 1e-2


def test_long_mlp_runs_keep_the_generic_driver():
    """The pair-specialised drivers (special, lockstep) inline the network into the run loop:
    no faster per step, about a minute to compile, so mlp (specialise = False) keeps the
    generic driver, however long the run or the batch; other problems still get them."""
    from optbench.runner.engines.cpu import use_lockstep, use_special

    p = ob.problem("mlp", dataset="xor", depth=1, width=4, n=32)
    assert not p.stochastic and not p.specialise and p.dim <= 64
    assert not use_special(p, 1, 20_000) and not use_special(p, 10_000, 10_000)
    assert not use_lockstep(p, 10_000, 10_000)
    r = ob.problem("rosenbrock")
    assert use_special(r, 1, 20_000) and use_lockstep(r, 10_000, 10_000)


# ------------------------------------------------------------------ minibatches -----------

@pytest.mark.parametrize("batch", [1, 7, 33])
def test_minibatch_gradient_is_the_gradient_of_its_samples(batch):
    """Minibatches shorter than a tile of 32 samples (1, 7) and longer (33: a full tile and a
    tile of one) against torch.autograd on exactly those samples."""
    torch = pytest.importorskip("torch")
    p = small("tanh", False, "cross-entropy", n=40, batch=batch, val_frac=0.0)
    nb = 40 // batch
    assert p.stochastic and p.steps_per_epoch == nb
    x = point(p)
    perm = kc.cpu(mb.perm_index)
    for seed, step in [(0, 0), (5, 3), (5, 9), (123, 40)]:
        ep, pos = step // nb, (step % nb) * batch
        idx = [int(perm(40, seed, ep, pos + t)) for t in range(batch)]
        f, g = p.value_and_grad(x, seed=seed, step=step)
        q = small("tanh", False, "cross-entropy", n=40, val_frac=0.0)   # same data, full batch
        q.split = (q.split[0][idx], q.split[1][idx], q.split[2], q.split[3])
        tl, params, _ = torch_objective(q, x, torch)
        tl.backward()
        assert abs(f - tl.item()) <= 1e-12 * abs(tl.item())
        assert np.abs(g - flat_grad(params)).max() <= 1e-10 * np.abs(g).max()


def test_epoch_of_minibatches_averages_to_the_full_gradient():
    p = small("sigmoid", True, "mse", n=30, batch=6, val_frac=0.0, l2=0.1)
    x = point(p)
    full = small("sigmoid", True, "mse", n=30, val_frac=0.0, l2=0.1)
    for seed in (0, 7):
        for epoch in (0, 2):
            gs = [p.grad(x, seed=seed, step=epoch * 5 + k) for k in range(5)]
            np.testing.assert_allclose(np.mean(gs, axis=0), full.grad(x), rtol=1e-12, atol=1e-15)
    assert p.value(x) == full.value(x)


def test_minibatch_order_is_a_pure_function_of_the_seed():
    p = small("relu", loss="cross-entropy", n=48, batch=8, val_frac=0.0)
    q = small("relu", loss="cross-entropy", n=48, batch=8, val_frac=0.0)
    x = point(p)
    for step in (0, 5, 6, 100):
        np.testing.assert_array_equal(p.grad(x, 3, step), q.grad(x, 3, step))
    assert not np.array_equal(p.grad(x, 3, 0), p.grad(x, 4, 0))
    assert not np.array_equal(p.grad(x, 3, 0), p.grad(x, 3, 6))      # reshuffled next epoch
    runs = [ob.run(p, ob.optimizer("sgd", lr=0.1), steps=60, seed=s, stop="budget") for s in (1, 1, 2)]
    np.testing.assert_array_equal(runs[0].x, runs[1].x)
    np.testing.assert_array_equal(runs[0].trace["f"], runs[1].trace["f"])
    assert not np.array_equal(runs[0].x, runs[2].x)


def test_batched_runs_are_serial_and_match_single_runs():
    """parallel_safe = False: a sweep asked to run in parallel gives the single-run numbers."""
    p = small("tanh", loss="cross-entropy", n=64, batch=8, width=8)
    assert Mlp.parallel_safe is False
    runs, traces = ob.sweep([p], ["adam"], grid={"lr": [1e-2, 3e-2]}, seeds=[0, 1], steps=80,
                            parallel=True, stop="budget")
    assert len(runs) == 4 and set(runs["status"]) == {"budget"}
    for _, row in runs.iterrows():
        one = ob.run(p, ob.optimizer("adam", lr=row["lr"]), steps=80, seed=int(row["seed"]),
                     stop="budget")
        assert row["fun"] == one.fun


def test_trace_has_metric_columns_at_recording_points():
    p = small("tanh", loss="cross-entropy", n=40, batch=8)
    res = ob.run(p, ob.optimizer("adam", lr=1e-2), steps=50, record="every:10", stop="budget")
    tr = res.trace
    assert list(tr["step"]) == [0, 10, 20, 30, 40, 50]
    for name in p.metric_names():
        assert name in tr.columns and tr[name].notna().all()
    last = tr.iloc[-1]
    m = p.metrics(res.x)
    for name, v in m.items():
        assert last[name] == pytest.approx(v, rel=1e-12)
    assert last["f"] == pytest.approx(p.value(res.x), rel=1e-14)


# ------------------------------------------------------------------ data sets -------------

def test_data_sets_are_seeded_and_split():
    for ds, kw in [("spirals", {}), ("xor", {}), ("blobs", dict(out_dim=4, in_dim=3)),
                   ("regression", dict(in_dim=2, out_dim=2)), ("teacher", {})]:
        a = Mlp(dataset=ds, n=50, val_frac=0.2, **kw)
        b = Mlp(dataset=ds, n=50, val_frac=0.2, **kw)
        c = Mlp(dataset=ds, n=50, val_frac=0.2, seed=1, **kw)
        np.testing.assert_array_equal(a.data, b.data)
        assert not np.array_equal(a.split[0], c.split[0])
        Xtr, Ytr, Xva, Yva = a.split
        assert Xtr.shape[0] == 40 and Xva.shape[0] == 10 and a.n_train == 40
        rows = {tuple(r) for r in np.vstack([Xtr, Xva])}
        assert len(rows) == 50                               # disjoint, nothing lost
        assert Xtr.shape[1] == a.sizes[0] and Ytr.shape[1] == a.sizes[-1]
    x = Mlp(dataset="xor", n=200, val_frac=0.0)
    X, Y = x.split[0], x.split[1]
    np.testing.assert_array_equal(Y[:, 1], (X[:, 0] * X[:, 1] > 0).astype(float))
    s = Mlp(dataset="spirals", n=200, val_frac=0.0)
    X, Y = s.split[0], s.split[1]
    assert Y.sum(0).tolist() == [100.0, 100.0] and np.all(np.linalg.norm(X, axis=1) <= 1.0)
    # class 1 is class 0 rotated by π: angle − 3π·radius is 0 (class 0) or π (class 1) mod 2π
    r = np.linalg.norm(X, axis=1)
    ph = np.mod(np.arctan2(X[:, 1], X[:, 0]) - 3 * np.pi * r, 2 * np.pi)
    ph = np.minimum(ph, 2 * np.pi - ph)
    np.testing.assert_allclose(ph, np.pi * Y[:, 1], atol=1e-9)


def test_digits_from_scikit_learn_or_clear_error(monkeypatch):
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        load_digits = None
    if load_digits is not None:
        p = Mlp(dataset="digits", width=8, depth=1, val_frac=0.1)
        assert p.sizes == [64, 8, 10] and p.p["n"] == 1797
        X, y = load_digits(return_X_y=True)
        Xtr, Ytr = p.split[0], p.split[1]
        assert Xtr.shape[0] + p.split[2].shape[0] == 1797
        assert {tuple(r) for r in Xtr} <= {tuple(r) for r in X / 16.0}
        assert np.all(Ytr.sum(1) == 1.0) and Xtr.max() == 1.0
        assert Mlp(dataset="digits", n=300).n_train == 240
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)          # simulate a missing extra
    with pytest.raises(OptbenchInputError, match="scikit-learn"):
        Mlp(dataset="digits")


# ------------------------------------------------------------------ bad configurations ----

@pytest.mark.parametrize("kw,field", [
    (dict(width=0), "mlp.width"),
    (dict(widths="8,0"), "mlp.widths"),
    (dict(widths="8,x"), "mlp.widths"),
    (dict(depth=21), "mlp.depth"),
    (dict(depth=0), "mlp.depth"),
    (dict(widths="8,4", depth=3), "mlp.widths"),
    (dict(widths="8,4", residual=True), "mlp.residual"),
    (dict(activation="softplus"), "mlp.activation"),
    (dict(init="orthogonal"), "mlp.init"),
    (dict(dataset="mnist"), "mlp.dataset"),
    (dict(batch=300), "mlp.batch"),
    (dict(n=10, val_frac=0.5, batch=6), "mlp.batch"),
    (dict(val_frac=1.0), "mlp.val_frac"),
    (dict(loss="cross-entropy"), "mlp.loss"),
    (dict(dataset="spirals", in_dim=3), "mlp.in_dim"),
    (dict(dataset="xor", out_dim=3), "mlp.out_dim"),
    (dict(dataset="blobs", out_dim=1), "mlp.out_dim"),
    (dict(dataset="spirals", teacher_width=4), "mlp.teacher_width"),
    (dict(dataset="digits", n=2000), "mlp.n"),
    (dict(l2=-1.0), "mlp.l2"),
])
def test_bad_configuration_names_the_field(kw, field):
    with pytest.raises(OptbenchInputError) as e:
        ob.problem("mlp", **kw)
    msg = str(e.value)
    assert field in msg and "\n" not in msg, msg


def test_residual_across_equal_widths_and_depth_one_accepted():
    assert Mlp(widths="6,6,6", residual=True).p["width"] == 6
    assert Mlp(depth=1, residual=True).dim > 0
    p = Mlp(widths="6,6,6", depth=3)
    assert p.spec == Mlp(width=6, depth=3).spec                # canonical spec


# ------------------------------------------------------------------ suites ----------------

@pytest.mark.parametrize("name", ["mlp-depth", "mlp-optimizers", "mlp-clipping"])
def test_shipped_suites_load(name):
    from optbench.runner.suites import load_suite, suite_specs

    suite = load_suite(name)
    try:
        import sklearn  # noqa: F401
        have_sklearn = True
    except ImportError:
        have_sklearn = False
    uses_digits = any("digits" in (t["dataset"] if isinstance(t["dataset"], list) else [t["dataset"]])
                      for t in suite["problems"])
    if uses_digits and not have_sklearn:
        with pytest.raises(OptbenchInputError, match="scikit-learn"):
            suite_specs(suite)
        return
    specs = suite_specs(suite)
    assert len(specs) >= 20
    assert all(s.problem_params["problem"] == "mlp" for s in specs)


def test_clipping_suite_shows_divergence_and_its_cure():
    """The mlp-clipping configuration: plain SGD diverges, the same SGD clipped does not."""
    from optbench.runner.suites import load_suite

    suite = load_suite("mlp-clipping")
    prob = dict(suite["problems"][0])
    prob = {k: (v[0] if isinstance(v, list) else v) for k, v in prob.items()}
    p = ob.run(dict(prob), ob.optimizer("sgd", lr=1e-2), steps=300, stop="budget")
    c = ob.run(dict(prob), ob.optimizer("sgd", lr=1e-2, clip_norm=1.0), steps=300, stop="budget")
    assert p.status == "diverged" and c.status == "budget" and c.fun < c.trace["f"].iloc[0]
