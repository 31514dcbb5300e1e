"""Every registered problem at its default parameters (and the quadratic family's variants):
directional derivative of the gradient and of the HVP against central finite differences,
f(x*) = f*, ∇f(x*) = 0 — a net under the per-family tests, so no family is left unchecked."""
import numpy as np
import pytest

import optbench as ob

# brown-badly-scaled (x* = (1e6, 2e-6)) needs per-coordinate steps: test_zoo_classic.py does it;
# the default MLP is ReLU (kinks break finite differences of the gradient): use tanh here
SPECIAL = {"brown-badly-scaled": None, "mlp": {"activation": "tanh"}}
VARIANTS = [(n, SPECIAL.get(n, {})) for n in ob.problems.names()
            if SPECIAL.get(n, {}) is not None] + [
    ("quadratic", {"dim": 7, "cond": 1e3, "rotation": "haar", "seed": 3}),
    ("quadratic", {"dim": 9, "cond": 50.0, "spectrum": "uniform", "rotation": "haar"}),
    ("quadratic", {"dim": 10, "cond": 1e4, "spectrum": "two-cluster"}),
    ("rosenbrock", {"dim": 6}),
    ("saddle", {"a": 2.0, "b": 0.5}),
]


def _problem(name, kw):
    p = ob.problem(name, **kw)
    if p.stochastic:          # the full-batch objective is what finite differences check
        p = ob.problem(name, **{**kw, **({"batch": 0} if "batch" in p.p else {}),
                                **({"sigma": 0.0} if "sigma" in p.p else {})})
    return p


@pytest.mark.parametrize("name,kw", VARIANTS, ids=[f"{n}{kw or ''}" for n, kw in VARIANTS])
def test_derivatives_against_finite_differences(name, kw):
    p = _problem(name, kw)
    if p.stochastic:
        pytest.fail(f"{name} stays stochastic with batch=0/sigma=0")
    rng = np.random.default_rng(11)
    x = p.x0(0) + 0.1 * rng.standard_normal(p.dim)
    v = rng.standard_normal(p.dim)
    v /= np.linalg.norm(v)
    h = 1e-5 * max(1.0, np.linalg.norm(x))
    fd = (p.value(x + h * v) - p.value(x - h * v)) / (2 * h)
    g = p.grad(x)
    assert abs(fd - g @ v) <= 1e-6 * max(1.0, abs(fd), np.linalg.norm(g)), (fd, g @ v)
    if p.HVP is not None:
        fdh = (p.grad(x + h * v) - p.grad(x - h * v)) / (2 * h)
        hv = p.hvp(x, v)
        assert np.linalg.norm(fdh - hv) <= 1e-5 * max(1.0, np.linalg.norm(hv)), name


@pytest.mark.parametrize("name,kw", VARIANTS, ids=[f"{n}{kw or ''}" for n, kw in VARIANTS])
def test_known_optimum(name, kw):
    p = _problem(name, kw)
    if p.x_star is None:
        assert p.f_star is None or np.isfinite(p.f_star)
        return
    assert abs(p.value(p.x_star) - p.f_star) <= 1e-10 * max(1.0, abs(p.f_star))
    assert np.linalg.norm(p.grad(p.x_star)) <= 1e-6 * max(1.0, np.linalg.norm(p.x_star))


@pytest.mark.parametrize("dim", [1, 7, 8, 9, 23])
def test_rotated_quadratic_matvec_kernel(dim):
    """The column-blocked matvec (8 columns per pass, then a remainder) equals A x and A v."""
    p = ob.problem("quadratic", dim=dim, cond=30.0, rotation="haar", seed=dim)
    A = p.matrix()
    rng = np.random.default_rng(dim)
    x, v = rng.standard_normal(dim), rng.standard_normal(dim)
    np.testing.assert_allclose(p.grad(x), A @ x, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(p.hvp(x, v), A @ v, rtol=1e-12, atol=1e-13)
    assert p.value(x) == pytest.approx(0.5 * x @ A @ x, rel=1e-12, abs=1e-14)
