"""Classic test functions (classic2d, classic_nd), the monkey saddle and the Moré–Garbow–
Hillstrom problems.

Derivatives are checked against 4th-order central differences
(8[f(x+h) − f(x−h)] − [f(x+2h) − f(x−2h)]) / 12h of the compiled value (resp. gradient),
whose error is h⁴ f⁽⁵⁾/30 plus rounding; listed critical points against numpy's eigvalsh of
the dense Hessian; the completeness of the 2-D critical-point tables against an independent
multistart Newton search; f* = 0 of the MGH problems without closed-form x* against scipy.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import cuda_mode

import optbench
import optbench.problems as zoo
from optbench.validate import OptbenchInputError

CASES = [
    ("beale", {}), ("booth", {}), ("himmelblau", {}), ("goldstein-price", {}),
    ("six-hump-camel", {}),
    ("rastrigin", {"dim": 2}), ("rastrigin", {"dim": 3, "A": 3.0}),
    ("ackley", {"dim": 2}), ("ackley", {"dim": 3}),
    ("monkey-saddle", {}),
    ("powell-badly-scaled", {}), ("brown-badly-scaled", {}), ("powell-singular", {}),
    ("wood", {}), ("extended-powell", {"dim": 4}), ("extended-powell", {"dim": 8}),
    ("trigonometric", {"dim": 2}), ("trigonometric", {"dim": 3}), ("trigonometric", {"dim": 10}),
    ("broyden-tridiagonal", {"dim": 2}), ("broyden-tridiagonal", {"dim": 3}),
    ("broyden-tridiagonal", {"dim": 10}),
]
IDS = [n + "".join(f"-{k}{v}" for k, v in p.items()) for n, p in CASES]
FAMILY = {"beale": "classic", "booth": "classic", "himmelblau": "classic",
          "goldstein-price": "classic", "six-hump-camel": "classic", "rastrigin": "classic",
          "ackley": "classic", "monkey-saddle": "saddle", "powell-badly-scaled": "mgh",
          "brown-badly-scaled": "mgh", "powell-singular": "mgh", "wood": "mgh",
          "extended-powell": "mgh", "trigonometric": "mgh", "broyden-tridiagonal": "mgh"}
H = 1e-3


def _points(p, k=4, seed=0):
    """Seeded points: uniform in the init box, and near the standard start where there is one."""
    rs = np.random.default_rng([seed, p.dim, len(p.name)])
    lo, hi = p.init_box()
    pts = [rs.uniform(lo, hi, p.dim) for _ in range(k)]
    xs = p.x_standard()
    if xs is not None:
        pts.append(xs + 0.1 * rs.standard_normal(p.dim))
    return pts


def _fd(fun, x, d):
    """4th-order central difference of fun along d."""
    return (8 * (fun(x + H * d) - fun(x - H * d)) - (fun(x + 2 * H * d) - fun(x - 2 * H * d))) \
        / (12 * H)


@pytest.fixture(scope="module", params=range(len(CASES)), ids=IDS)
def prob(request):
    name, params = CASES[request.param]
    return zoo.get(name, **params)


def test_registered_with_family():
    names = zoo.names()
    for n, fam in FAMILY.items():
        assert n in names
        assert zoo.get(n).family == fam
        assert zoo.get(n).formula and zoo.get(n).source and zoo.get(n).cost()


def test_gradient_matches_finite_differences(prob):
    for x in _points(prob):
        f, g = prob.value_and_grad(x)
        assert f == pytest.approx(prob.value(x), rel=1e-14, abs=1e-300)
        gfd = np.array([_fd(prob.value, x, e) for e in np.eye(prob.dim)])
        assert np.linalg.norm(g - gfd) <= 1e-6 * np.linalg.norm(gfd) + 1e-9 * (1 + abs(f))


def test_hvp_matches_finite_differences_of_grad(prob):
    rs = np.random.default_rng(7)
    for x in _points(prob, k=3):
        v = rs.standard_normal(prob.dim)
        v /= np.linalg.norm(v)
        hv = prob.hvp(x, v)
        hfd = _fd(prob.grad, x, v)
        assert np.linalg.norm(hv - hfd) <= 1e-6 * np.linalg.norm(hfd) + 1e-9 * (
            1 + np.linalg.norm(prob.grad(x)))


def test_hessian_symmetric_and_equal_to_hvp_columns(prob):
    rs = np.random.default_rng(8)
    for x in _points(prob, k=3):
        Hm = prob.hess(x)
        scale = max(1.0, np.abs(Hm).max())
        assert np.abs(Hm - Hm.T).max() <= 1e-12 * scale
        for j, e in enumerate(np.eye(prob.dim)):
            assert np.abs(Hm[:, j] - prob.hvp(x, e)).max() <= 1e-12 * scale
        v = rs.standard_normal(prob.dim)
        assert np.abs(Hm @ v - prob.hvp(x, v)).max() <= 1e-11 * scale * np.abs(v).sum()


def _grad_tol(p, x):
    return 1e-10 * max(1.0, np.linalg.norm(p.hess(x), 2))


def test_optimum_and_listed_critical_points(prob):
    if prob.x_star is not None:
        assert prob.f_star is not None
        assert abs(prob.value(prob.x_star) - prob.f_star) <= 1e-10
        assert np.linalg.norm(prob.grad(prob.x_star)) <= _grad_tol(prob, prob.x_star)
    cps = prob.critical_points()
    if prob.name not in ("trigonometric", "broyden-tridiagonal"):
        assert len(cps) >= 1
    for x, f, k, kind in cps.itertuples(index=False):
        assert x.shape == (prob.dim,)
        assert np.linalg.norm(prob.grad(x)) <= _grad_tol(prob, x), (kind, x)
        assert abs(prob.value(x) - f) <= 1e-10 * max(1.0, abs(f))
        ev = np.linalg.eigvalsh(prob.hess(x))
        tol = 1e-9 * max(1.0, np.abs(ev).max())
        assert int(np.sum(ev < -tol)) == k, (kind, x, ev)
        if "min" in kind:
            assert k == 0
        if kind == "max":
            assert k == prob.dim
        if kind == "saddle":
            assert 0 < k < prob.dim
        if "global min" in kind:
            assert prob.f_star is not None and abs(f - prob.f_star) <= 1e-10
            assert abs(prob.value(x) - prob.f_star) <= 1e-10
    if prob.f_star is not None and len(cps):
        assert cps.f.min() >= prob.f_star - 1e-10
    x0 = prob.x0(seed=3)
    assert x0.shape == (prob.dim,) and np.all(np.isfinite(x0))
    lo, hi = prob.init_box()
    if prob.x_standard() is None or prob.p["start"] == "random":
        assert np.all((lo <= x0) & (x0 <= hi))


# ---------------------------------------------------------------- 2-D tables
def _multistart_newton(p, box, n=25):
    """Critical points found by plain Newton on ∇f = 0 from an n×n grid (independent search)."""
    (a, b), (c, d) = box
    found = []
    for x0 in np.linspace(a, b, n):
        for y0 in np.linspace(c, d, n):
            x = np.array([x0 + 1e-3, y0 - 2e-3])
            for _ in range(40):
                g = p.grad(x)
                if np.linalg.norm(g) < 1e-11:
                    break
                try:
                    x = x - np.linalg.solve(p.hess(x), g)
                except np.linalg.LinAlgError:
                    break
                if not np.all(np.abs(x) < 1e3):
                    break
            if np.all(np.abs(x) < 1e3) and np.linalg.norm(p.grad(x)) < 1e-9:
                found.append(x)
    return found


@pytest.mark.parametrize("name,count,kinds", [
    ("himmelblau", 9, {"global min": 4, "saddle": 4, "max": 1}),
    ("six-hump-camel", 15, {"global min": 2, "local min": 4, "saddle": 7, "max": 2}),
    ("goldstein-price", 9, {"global min": 1, "local min": 3, "saddle": 4, "max": 1}),
])
def test_2d_critical_tables_are_complete(name, count, kinds):
    p = zoo.get(name)
    cps = p.critical_points()
    assert len(cps) == count
    assert cps.kind.value_counts().to_dict() == kinds
    X = np.stack(cps.x.to_list())
    assert np.min([np.linalg.norm(X[i] - X[j]) for i in range(count) for j in range(i)]) > 1e-3
    for x in _multistart_newton(p, p.bounds):
        assert np.min(np.linalg.norm(X - x, axis=1)) < 1e-7, x
    # machine precision: the Newton step from each listed point is at rounding level
    for x in X:
        step = np.linalg.solve(p.hess(x), p.grad(x))
        assert np.linalg.norm(step) <= 1e-13 * max(1.0, np.linalg.norm(x))


def test_himmelblau_minima_match_reference():
    ref = np.array([(3.0, 2.0), (-2.805118, 3.131313), (-3.779310, -3.283186),
                    (3.584428, -1.848127)])
    cps = zoo.get("himmelblau").critical_points()
    mins = np.stack(cps[cps.kind == "global min"].x.to_list())
    for r in ref:
        assert np.min(np.abs(mins - r).max(axis=1)) <= 1e-6
    assert np.all(np.abs(cps[cps.kind == "global min"].f) <= 1e-28)
    mx = cps[cps.kind == "max"].x.iloc[0]
    assert np.allclose(mx, (-0.270845, -0.923039), atol=1e-6)


def test_camel_and_goldstein_price_reference_values():
    p = zoo.get("six-hump-camel")
    assert abs(p.f_star - (-1.0316284534898774)) <= 1e-12
    cps = p.critical_points()
    mins = np.stack(cps[cps.kind == "global min"].x.to_list())
    for s in (1, -1):
        assert np.min(np.abs(mins - s * np.array([0.0898420, -0.7126564])).max(axis=1)) <= 1e-7
    gp = zoo.get("goldstein-price")
    assert gp.value([0.0, -1.0]) == pytest.approx(3.0, abs=1e-12)
    cps = gp.critical_points()
    locs = sorted(cps[cps.kind == "local min"].f)
    assert np.allclose(locs, [30.0, 84.0, 840.0], rtol=1e-12)
    # the standard formula written out directly (independent of the s, w factorisation)
    x, y = np.random.default_rng(5).uniform(-2, 2, (2, 6))
    a = 1 + (x + y + 1) ** 2 * (19 - 14 * x + 3 * x**2 - 14 * y + 6 * x * y + 3 * y**2)
    b = 30 + (2 * x - 3 * y) ** 2 * (18 - 32 * x + 12 * x**2 + 48 * y - 36 * x * y + 27 * y**2)
    got = [gp.value([u, w]) for u, w in zip(x, y)]
    assert np.allclose(got, a * b, rtol=1e-12)


def test_reference_formulas_and_minima():
    rs = np.random.default_rng(11)
    x, y = rs.uniform(-3, 3, 2)
    assert zoo.get("beale").value([x, y]) == pytest.approx(
        (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2,
        rel=1e-13)
    assert zoo.get("beale").value([3.0, 0.5]) == 0.0
    assert zoo.get("booth").value([x, y]) == pytest.approx(
        (x + 2 * y - 7) ** 2 + (2 * x + y - 5) ** 2, rel=1e-13)
    z = rs.uniform(-4, 4, 5)
    assert zoo.get("rastrigin", dim=5).value(z) == pytest.approx(
        50 + np.sum(z**2 - 10 * np.cos(2 * np.pi * z)), rel=1e-12)
    ack = -20 * np.exp(-0.2 * np.sqrt(np.mean(z**2))) - np.exp(np.mean(np.cos(2 * np.pi * z))) \
        + 20 + np.e
    assert zoo.get("ackley", dim=5).value(z) == pytest.approx(ack, rel=1e-12)
    assert zoo.get("ackley", dim=5).value(np.zeros(5)) == 0.0
    assert np.all(zoo.get("ackley", dim=5).grad(np.zeros(5)) == 0.0)


def test_monkey_saddle_is_degenerate_not_a_minimum():
    p = zoo.get("monkey-saddle")
    assert p.f_star is None and p.x_star is None
    (x, f, k, kind), = p.known_critical_points()
    assert kind == "degenerate saddle" and k == 0
    assert np.all(p.hess(x) == 0.0) and np.all(p.grad(x) == 0.0)
    for t in (1e-1, 1e-3):  # f takes both signs arbitrarily close to 0
        assert p.value([-t, 0.0]) < 0.0 < p.value([t, 0.0])
    a, b = 0.7, -0.4
    assert p.value([a, b]) == pytest.approx(((a + 1j * b) ** 3).real, rel=1e-14)


def test_mgh_reference_points():
    pbs = zoo.get("powell-badly-scaled")
    assert abs(pbs.x_star[0] - 1.098e-5) < 1e-8 and abs(pbs.x_star[1] - 9.106) < 1e-3
    assert pbs.value(pbs.x_star) <= 1e-28 and pbs.value(pbs.x_star[::-1].copy()) <= 1e-28
    assert np.array_equal(pbs.x0(), [0.0, 1.0])
    assert pbs.value(pbs.x0()) == pytest.approx(1.0 + (np.exp(-1.0) - 1e-4) ** 2, rel=1e-14)
    bbs = zoo.get("brown-badly-scaled")
    assert np.array_equal(bbs.x0(), [1.0, 1.0])
    assert bbs.value([1e6, 2e-6]) <= 1e-20
    assert bbs.value(bbs.x0()) == pytest.approx((1 - 1e6) ** 2 + (1 - 2e-6) ** 2 + 1.0,
                                                rel=1e-15)
    ps = zoo.get("powell-singular")
    assert np.array_equal(ps.x0(), [3.0, -1.0, 0.0, 1.0]) and ps.value(ps.x0()) == 215.0
    ep = zoo.get("extended-powell", dim=12)
    assert ep.value(ep.x0()) == 3 * 215.0 and ep.value(np.zeros(12)) == 0.0
    w = zoo.get("wood")
    assert np.array_equal(w.x0(), [-3.0, -1.0, -3.0, -1.0]) and w.value(w.x0()) == 19192.0
    sad = [c for c in w.known_critical_points() if c[3] == "saddle"]
    assert len(sad) == 1 and sad[0][1] == pytest.approx(7.876967, abs=1e-6)
    assert np.allclose(zoo.get("trigonometric", dim=7).x0(), 1 / 7)
    bt = zoo.get("broyden-tridiagonal", dim=6)
    assert np.array_equal(bt.x0(), -np.ones(6))
    assert bt.value(bt.x0()) == 4.0 + 4 * 1.0 + 9.0      # r = (-2, -1, -1, -1, -1, -3)
    for x in (np.random.default_rng(4).uniform(-2, 2, 6), bt.x0()):
        xp = np.concatenate([[0.0], x, [0.0]])
        r = (3 - 2 * x) * x - xp[:-2] - 2 * xp[2:] + 1
        assert bt.value(x) == pytest.approx(np.sum(r**2), rel=1e-13)


def _residual_trig(x):
    n = x.size
    i = np.arange(1, n + 1)
    return n - np.cos(x).sum() + i * (1 - np.cos(x)) - np.sin(x)


@pytest.mark.parametrize("name,dim", [("trigonometric", 3), ("trigonometric", 10),
                                      ("broyden-tridiagonal", 10)])
def test_mgh_fstar_zero_is_attained(name, dim):
    from scipy.optimize import minimize

    p = zoo.get(name, dim=dim)
    assert p.f_star == 0.0 and p.x_star is None
    if name == "trigonometric":
        x = np.random.default_rng(2).uniform(-1, 1, dim)
        assert p.value(x) == pytest.approx(np.sum(_residual_trig(x) ** 2), rel=1e-12)
    best = np.inf
    rs = np.random.default_rng(1)
    for k in range(8):
        x0 = p.x0() + (0.0 if k == 0 else 0.3 * rs.standard_normal(dim))
        res = minimize(p.value, x0, jac=p.grad, hess=p.hess, method="trust-exact",
                       options={"gtol": 1e-14, "maxiter": 300})
        best = min(best, p.value(res.x))
        if best <= 1e-20:
            break
    assert best <= 1e-20


@pytest.mark.parametrize("name,params,field", [
    ("extended-powell", {"dim": 6}, "multiple of 4"),
    ("extended-powell", {"dim": 0}, "dim"),
    ("trigonometric", {"dim": 1}, "dim"),
    ("broyden-tridiagonal", {"dim": 1}, "dim"),
    ("rastrigin", {"dim": 0}, "dim"),
    ("rastrigin", {"A": -1.0}, "A"),
    ("ackley", {"b": 0.0}, "b"),
    ("ackley", {"dim": 2.5}, "dim"),
    ("booth", {"dim": 3}, "dim"),
    ("wood", {"start": "middle"}, "start"),
])
def test_bad_parameters(name, params, field):
    with pytest.raises(OptbenchInputError, match=field):
        zoo.get(name, **params)


def test_wrong_shape_rejected():
    with pytest.raises(OptbenchInputError, match="shape"):
        zoo.get("wood").grad(np.zeros(3))


@pytest.mark.parametrize("name,opt,x_star", [
    ("booth", dict(lr=0.1), (1.0, 3.0)),
    ("himmelblau", dict(lr=0.05), (3.0, 2.0)),
])
def test_compiled_run_reaches_fstar(name, opt, x_star):
    res = optbench.run(zoo.get(name), optbench.optimizer("adam", **opt), steps=3000)
    assert res.status == "converged"
    assert res.fun - 0.0 <= 1e-8
    assert np.allclose(res.x, x_star, atol=1e-3)


# ---------------------------------------------------------------- CUDA (simulator)
SIM = cuda_mode.CHECK + textwrap.dedent(r'''
    import json, sys
    import numpy as np
    from numba import cuda
    import optbench.problems as zoo
    from optbench.kernels import compile as kc

    def launcher(fg, val, hvp):
        @cuda.jit
        def k(x, g, v, hv, data, idata, out):
            if cuda.grid(1) == 0:
                out[0] = fg(x, g, data, idata, 3, 4)
                out[1] = val(x, data, idata)
                hvp(x, v, hv, data, idata)
        return k

    def launcher_h(hess):
        @cuda.jit
        def k(x, H, data, idata):
            if cuda.grid(1) == 0:
                hess(x, H, data, idata)
        return k

    res = []
    for name, params, x, v in json.loads(sys.stdin.read()):
        p = zoo.get(name, **params)
        x, v = np.array(x), np.array(v)
        g, hv, out = np.zeros(p.dim), np.zeros(p.dim), np.zeros(2)
        launcher(kc.cuda_device(p.FG), kc.cuda_device(p.VALUE), kc.cuda_device(p.HVP))[1, 1](
            x, g, v, hv, p.data, p.idata, out)
        H = np.zeros((p.dim, p.dim))
        if p.HESS is not None:
            launcher_h(kc.cuda_device(p.HESS))[1, 1](x, H, p.data, p.idata)
        res.append([out.tolist(), g.tolist(), hv.tolist(), H.tolist(), p.HESS is not None])
    print("RESULT" + json.dumps(res))
''')


def test_kernels_compile_for_cuda_simulator():
    rs = np.random.default_rng(21)
    jobs, probs = [], []
    for name, params in CASES:
        p = zoo.get(name, **params)
        x = _points(p, k=1, seed=21)[0]
        jobs.append([name, params, x.tolist(), rs.standard_normal(p.dim).tolist()])
        probs.append(p)
    env = cuda_mode.env()
    cp = subprocess.run([sys.executable, "-c", SIM], input=json.dumps(jobs), env=env,
                        capture_output=True, text=True, timeout=300)
    assert cp.returncode == 0, cp.stderr[-3000:]
    line = [s for s in cp.stdout.splitlines() if s.startswith("RESULT")][-1]
    for (name, params, x, v), p, (out, g, hv, Hd, has_h) in zip(jobs, probs,
                                                               json.loads(line[6:])):
        x, v = np.array(x), np.array(v)
        f, gc = p.value_and_grad(x, seed=3, step=4)
        np.testing.assert_allclose(out, [f, p.value(x)], rtol=1e-12, err_msg=name)
        np.testing.assert_allclose(g, gc, rtol=1e-12, atol=1e-12 * np.abs(gc).max(),
                                   err_msg=name)
        hc = p.hvp(x, v)
        np.testing.assert_allclose(hv, hc, rtol=1e-12, atol=1e-12 * np.abs(hc).max(),
                                   err_msg=name)
        assert has_h == (p.HESS is not None)
        if has_h:
            Hc = p.hess(x)
            np.testing.assert_allclose(Hd, Hc, rtol=1e-12, atol=1e-12 * np.abs(Hc).max(),
                                       err_msg=name)
