"""The catalogue's curvature and matrix members — adahessian (Hutchinson probes of the Hessian's
diagonal), shampoo and soap (Kronecker-factored preconditioners, per block and side) — against
pytorch-optimizer 4.1.0 and a plain-NumPy implementation of each from its paper
(tests/catalogue_matrix_numpy.py): 500 steps in float64, final x in norm and the f trace
elementwise to 1e-10 relative (tests/optim_v2_cases.py), default and other hyperparameters.

* adahessian: the reference receives optbench's probes' estimates through
  ``step(hessian=…)``; NumPy draws the same probes (``rademacher_vector``).
* soap: the reference's QR runs in float32 whatever the dtype (a GPU choice); it is checked
  with its QR in float64 (its module's ``torch.float32`` read as float64), and as shipped to
  float32 precision. Its first eigenbasis is unique only when the first factors have distinct
  eigenvalues: the rotated cases use a 4-4-4 MLP (square weight blocks of full rank) and 2-D
  Rosenbrock; on the 8-wide MLP (W1 8 × 4: L of rank 4) the null space's basis is the
  solver's choice, so there the test asserts progress only. At step 2, x has not moved, so
  G' = Q_Lᵀ G₁ Q_R is diagonal up to rounding and m'/(√v + ε) turns that rounding into
  ≈ 0.05·δ/ε: with ε = 1e-8 two correct implementations drift ~1e-11 apart, so the rotated
  cases take ε = 1e-6.
"""
from __future__ import annotations

import functools
import inspect
import types

import numpy as np
import pytest

import optbench as ob
from optbench import OptbenchInputError
from optbench.kernels.probes import rademacher_vector

import catalogue_matrix_numpy as N
from optim_v2_cases import PROBLEMS, assert_close, optbench_run, split, torch_run

COVERED = {"adahessian", "shampoo", "soap"}
STEPS = 500
SQ = ob.problem("mlp", depth=1, width=4, n=64, in_dim=4, out_dim=4, seed=0)
PROBS = {**PROBLEMS, "sq": SQ}
BOTH = ("po", "numpy")

CASES = [
    ("adahessian", "rosen", {"lr": 0.05}, BOTH),
    ("adahessian", "quad20", {"lr": 0.05}, BOTH),
    ("adahessian", "mlp", {"lr": 0.05}, BOTH),
    ("adahessian", "mlp", {"lr": 0.02, "num_samples": 3, "update_period": 4,
                           "weight_decay": 0.01, "hessian_power": 0.5}, BOTH),
    ("adahessian", "quad20", {"lr": 0.05, "weight_decay": 0.01, "weight_decouple": False,
                              "beta1": 0.8, "beta2": 0.99}, BOTH),
    ("adahessian", "quad20", {"lr": 0.05, "weight_decay": 0.001, "fixed_decay": True},
     BOTH),
    ("shampoo", "rosen", {"lr": 0.01}, BOTH),
    ("shampoo", "quad20", {"lr": 0.02}, BOTH),
    ("shampoo", "mlp", {"lr": 0.01}, BOTH),
    ("shampoo", "mlp", {"lr": 0.003, "momentum": 0.5}, BOTH),
    ("shampoo", "quad20", {"lr": 0.01, "weight_decay": 0.01, "weight_decouple": True},
     BOTH),
    ("shampoo", "quad20", {"lr": 0.005, "weight_decay": 0.01, "preconditioning_compute_steps":
                           4}, BOTH),
    ("shampoo", "mlp", {"lr": 0.01, "max_precondition_dim": 4}, ("numpy",)),
    ("soap", "rosen", {"lr": 0.01}, BOTH),
    ("soap", "rosen", {"lr": 0.003, "precondition_1d": True, "eps": 1e-6}, BOTH),
    ("soap", "quad20", {"lr": 0.003}, BOTH),
    ("soap", "sq", {"eps": 1e-6}, BOTH),
    ("soap", "sq", {"eps": 1e-6, "precondition_frequency": 3, "shampoo_beta": 0.9,
                    "beta1": 0.9, "beta2": 0.99}, BOTH),
    ("soap", "sq", {"eps": 1e-6, "normalize_gradient": True, "lr": 1e-3}, BOTH),
    ("soap", "sq", {"eps": 1e-6, "correct_bias": False, "weight_decay": 0.0,
                    "max_precondition_dim": 3}, BOTH),
]
PO_CLASS = {"adahessian": "AdaHessian", "shampoo": "Shampoo", "soap": "SOAP"}


def _ids(c):
    return "-".join([c[0], c[1]] + [f"{k}={v}" for k, v in c[2].items()])


def _blocks(prob):
    from optbench.kernels.blocks import shapes
    return [(o, n, shp) for (o, n, *_), shp in zip(prob.blocks().tolist(),
                                                   shapes(prob.blocks()))]


def _po_kwargs(name, hyper):
    """optbench's full hyperparameters (defaults included) in the reference's spelling."""
    h = dict(ob.optimizer(name, **hyper).hyper)
    if "beta1" in h:
        h["betas"] = (h.pop("beta1"), h.pop("beta2"))
    if name == "shampoo":
        h.pop("max_precondition_dim")          # optbench's option (the reference has no limit)
    return h


class _Float64QR(types.ModuleType):
    """The torch module as SOAP's module sees it, with float32 read as float64."""

    def __init__(self, torch):
        super().__init__("torch")
        self._torch = torch

    def __getattr__(self, k):
        return self._torch.float64 if k == "float32" else getattr(self._torch, k)


def _adahessian_reference(prob, hyper, po):
    import torch

    h = _po_kwargs("adahessian", hyper)
    S, k = h["num_samples"], h["update_period"]
    x0 = prob.x0(0)
    params = [torch.tensor(b.copy(), dtype=torch.float64) for b in split(prob, x0)]
    opt = po.AdaHessian(params, **h)

    def flat():
        return np.concatenate([p.numpy().ravel() for p in params])

    fs = [prob.value(flat())]
    for t in range(1, STEPS + 1):
        x = flat()
        for p, gb in zip(params, split(prob, prob.grad(x))):
            p.grad = torch.from_numpy(np.ascontiguousarray(gb))
        hess = None
        if (t - 1) % k == 0:
            D = sum(rademacher_vector(0, t * S + s, prob.dim)
                    * prob.hvp(x, rademacher_vector(0, t * S + s, prob.dim))
                    for s in range(S)) / S
            hess = [torch.from_numpy(np.ascontiguousarray(b)) for b in split(prob, D)]
        opt.step(hessian=hess)
        fs.append(prob.value(flat()))
    return flat(), np.array(fs)


def _reference(name, prob, hyper, float64_qr=True):
    torch = pytest.importorskip("torch", reason="the reference implementations need torch")
    po = pytest.importorskip("pytorch_optimizer", reason="pytorch-optimizer not installed "
                                                         "(pip install optbench[reference])")
    if name == "adahessian":
        return _adahessian_reference(prob, hyper, po)
    kw = _po_kwargs(name, hyper)
    mod = None
    if name == "soap" and float64_qr:
        import pytorch_optimizer.optimizer.soap as mod
        mod.torch = _Float64QR(torch)
    try:
        return torch_run(prob, lambda p: getattr(po, PO_CLASS[name])(p, **kw), steps=STEPS)
    finally:
        if mod is not None:
            mod.torch = torch


def _numpy(name, prob, hyper):
    h = {**N.DEFAULTS[name], **hyper}
    x0, value, grad = prob.x0(0), prob.value, prob.grad
    if name == "adahessian":
        S = h["num_samples"]
        probe = lambda t, s: rademacher_vector(0, t * S + s, prob.dim)   # noqa: E731
        return N.adahessian(x0, value, grad, prob.hvp, probe, STEPS, h)
    return getattr(N, name)(x0, value, grad, _blocks(prob), STEPS, h)


@functools.lru_cache(maxsize=None)
def _optbench(i):
    name, key, hyper, _ = CASES[i]
    x, f, _ = optbench_run(PROBS[key], ob.optimizer(name, **hyper), steps=STEPS)
    return x, f


PAIRS = [(i, which) for i, c in enumerate(CASES) for which in c[3]]


@pytest.mark.parametrize("i, which", PAIRS, ids=[f"{w}-{_ids(CASES[i])}" for i, w in PAIRS])
def test_matches_references(i, which):
    name, key, hyper, _ = CASES[i]
    prob = PROBS[key]
    x, f = _optbench(i)
    xr, fr = (_numpy if which == "numpy" else _reference)(name, prob, hyper)
    assert fr[-1] < 0.9 * fr[0]           # the runs progress: not two frozen trajectories
    assert_close(x, xr, f, fr)


def test_soap_as_shipped_agrees_to_float32_precision():
    """The reference with its float32 QR: the same run to float32's precision, not to 1e-10."""
    i = next(i for i, c in enumerate(CASES) if c[:2] == ("soap", "sq") and
             c[2] == {"eps": 1e-6})
    x, f = _optbench(i)
    xr, fr = _reference("soap", SQ, CASES[i][2], float64_qr=False)
    assert_close(x, xr, f, fr, rtol=1e-4)
    x64, _ = _reference("soap", SQ, CASES[i][2])
    assert np.linalg.norm(xr - x64) > 1e-12 * np.linalg.norm(x64)   # float32 QR does differ


def test_soap_on_a_rank_deficient_first_factor_progresses():
    """The 8-wide MLP: W1's first L = G₁G₁ᵀ (8 × 8) has rank 4, so its null space's
    eigenvectors are the eigensolver's choice; optbench's run is not the reference's
    trajectory there, but it trains as well (final loss within a factor 2, both ≪ f₀)."""
    prob = PROBS["mlp"]
    x, f, _ = optbench_run(prob, ob.optimizer("soap"), steps=STEPS)
    xr, fr = _numpy("soap", prob, {})
    assert f[-1] < 0.01 * f[0] and fr[-1] < 0.01 * fr[0]
    assert 0.5 < f[-1] / fr[-1] < 2.0


def test_adahessian_counts_its_hessian_vector_products():
    prob = PROBLEMS["quad20"]
    opt = ob.optimizer("adahessian", lr=0.05, num_samples=2, update_period=3)
    res = ob.run(prob, opt, steps=10, stop="budget", record="every:1")
    tr = res.trace.sort_values("step")
    ngev, nhev = opt.evaluations(tr["step"].to_numpy())
    np.testing.assert_array_equal(tr["ngev"], ngev)
    assert res.nhev == 2 * 4                       # refreshes at steps 1, 4, 7, 10
    assert list(nhev[:5]) == [0, 2, 2, 2, 4]


def test_adahessian_probes_follow_the_seed():
    prob = PROBLEMS["mlp"]
    opt = ob.optimizer("adahessian", lr=0.05)
    a = ob.run(prob, opt, steps=50, stop="budget", seed=0, x0=prob.x0(0))
    b = ob.run(prob, opt, steps=50, stop="budget", seed=1, x0=prob.x0(0))
    c = ob.run(prob, opt, steps=50, stop="budget", seed=0, x0=prob.x0(0))
    assert np.array_equal(a.x, c.x) and not np.array_equal(a.x, b.x)


# ------------------------------------------------------------------ the matrix kernels
def test_eigen_kernels_against_lapack():
    from optbench.optimizers import eigen as E

    rng = np.random.default_rng(3)
    for s in (1, 2, 5, 12):
        A = rng.standard_normal((s, s + 3))
        P = A @ A.T + 1e-6 * np.eye(s)
        a, v = P.ravel().copy(), np.zeros(s * s)
        E.set_identity(v, 0, s)
        E.jacobi_eigh(a, 0, s, v, 0, E.JACOBI_SWEEPS)
        E.sort_rows_desc(v, 0, a, 0, s + 1, s)
        lam = np.linalg.eigvalsh(P)[::-1]
        np.testing.assert_allclose(a[::s + 1], lam, rtol=1e-12)
        V = v.reshape(s, s).T                     # eigenvectors: the rows of v
        np.testing.assert_allclose(V @ np.diag(lam) @ V.T, P, atol=1e-12 * lam[0])
        # warm start from a rotated basis, then the inverse 4th root
        Q0 = np.linalg.qr(rng.standard_normal((s, s)))[0]
        v = Q0.T.ravel().copy()
        w = np.zeros(2 * s * s)
        E.warm_eigh(P.ravel().copy(), 0, s, v, 0, w, 0, E.JACOBI_SWEEPS)
        out = np.zeros(s * s)
        E.inverse_root(v, 0, w, 0, s + 1, s, 4.0, out, 0)
        lam_, U = np.linalg.eigh(P)
        np.testing.assert_allclose(out.reshape(s, s), (U * lam_ ** -0.25) @ U.T,
                                   rtol=1e-9, atol=1e-9)
        # QR: orthonormal columns spanning the same nested spaces as LAPACK's (up to sign)
        B = rng.standard_normal((s, s))
        q = B.ravel().copy()
        E.qr_columns(q, 0, s)
        Q = q.reshape(s, s)
        np.testing.assert_allclose(Q.T @ Q, np.eye(s), atol=1e-14)
        np.testing.assert_allclose(np.abs(Q), np.abs(np.linalg.qr(B)[0]), atol=1e-12)


def test_state_rows_follow_the_blocks():
    """Shampoo's and SOAP's matrices live in state rows beyond their vectors: as many as the
    blocks' sides need (a 20-vector: 3 × 20² floats for Shampoo = 60 rows of 20)."""
    from optbench.kernels.blocks import vector_blocks

    sh, so = ob.optimizer("shampoo"), ob.optimizer("soap")
    assert sh.state_rows(vector_blocks(20)) == 3 + (3 * 400 + 2 * 400) // 20
    assert sh.state_rows(vector_blocks(2000)) == 3        # above max_precondition_dim
    assert so.state_rows(vector_blocks(20)) == 4          # vectors are not rotated by default
    blk = SQ.blocks()
    want = 4 + -(-(2 * (2 * 16 + 2 * 16) + 3 * 16 + 2 * 4) // SQ.dim)
    assert so.state_rows(blk) == want


# ------------------------------------------------------------------ defaults, bad input
@pytest.mark.parametrize("name", sorted(COVERED))
def test_defaults_are_the_references(name):
    pytest.importorskip("torch", reason="the reference implementations need torch")
    po = pytest.importorskip("pytorch_optimizer", reason="pytorch-optimizer not installed")
    ref = {k: p.default for k, p in
           inspect.signature(getattr(po, PO_CLASS[name])).parameters.items()
           if p.default is not inspect.Parameter.empty}
    ours = _po_kwargs(name, {})
    assert set(ours) <= set(ref), set(ours) - set(ref)
    for k, v in ours.items():
        assert ref[k] == v, (k, v, ref[k])
    assert N.DEFAULTS[name] == dict(ob.optimizer(name).hyper)


@pytest.mark.parametrize("name, hyper, words", [
    ("adahessian", {"hessian_power": 0.0}, ["adahessian.hessian_power", "> 0.0"]),
    ("adahessian", {"num_samples": 0}, ["adahessian.num_samples", ">= 1"]),
    ("shampoo", {"momentum": 1.5}, ["shampoo.momentum", "<= 1.0"]),
    ("shampoo", {"preconditioning_compute_steps": 0}, ["preconditioning_compute_steps"]),
    ("soap", {"shampoo_beta": 1.0}, ["soap.shampoo_beta", "< 1.0"]),
    ("soap", {"merge_dims": True}, ["unknown parameter 'merge_dims'", "precondition_1d"]),
])
def test_bad_hyperparameters_one_line(name, hyper, words):
    with pytest.raises(OptbenchInputError) as e:
        ob.optimizer(name, **hyper)
    msg = str(e.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg, (w, msg)


def test_adahessian_refused_without_hessian_vector_products():
    from optbench.runner.spec import RunSpec

    quad = ob.problem("quadratic", dim=4)
    no_hvp = type("NoHVP", (type(quad),), {"HVP": None})(**quad.p)
    with pytest.raises(OptbenchInputError, match="needs Hessian-vector products"):
        RunSpec.make(no_hvp, ob.optimizer("adahessian"))
