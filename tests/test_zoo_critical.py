"""The high-dimensional critical-point families: double-well, Styblinski–Tang, rank-1 matrix
factorisation, two-layer linear network.

Every objective here is a polynomial of degree 4 in x, so the 4th-order central difference
(8[f(x+h) − f(x−h)] − [f(x+2h) − f(x−2h)]) / 12h is exact up to rounding (its error term is
h⁴ f⁽⁵⁾/30 = 0): the finite-difference checks below can be tight (rel ≤ 1e-6) at any d.
Critical points are checked against numpy's eigvalsh of the dense Hessian.
"""
from __future__ import annotations

import functools
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import cuda_mode

import optbench.problems as zoo
from optbench.kernels import compile as kc
from optbench.validate import OptbenchInputError

SMALL = {
    "dw": ("double-well", dict(dim=7)),
    "dw-rot": ("double-well", dict(dim=7, rotation="haar", seed=3)),
    "st": ("styblinski-tang", dict(dim=7)),
    "mf": ("matrix-factorisation", dict(dim=9, seed=1)),
    "ln": ("linear-net", dict(in_dim=4, hidden=3, out_dim=5, seed=1)),
}
LARGE = {  # d ≈ 1000 (the rotated double well at 400: its build draws a dense Haar Q)
    "dw": ("double-well", dict(dim=1000)),
    "dw-rot": ("double-well", dict(dim=400, rotation="haar", seed=4)),
    "st": ("styblinski-tang", dict(dim=1000)),
    "mf": ("matrix-factorisation", dict(dim=1000, seed=1)),
    "ln": ("linear-net", dict(in_dim=32, hidden=16, out_dim=30, seed=1)),
}


@functools.lru_cache(maxsize=None)
def _get(name, items):
    return zoo.get(name, **dict(items))


def get(name, **kw):
    return _get(name, tuple(sorted(kw.items())))


def point(p, seed):
    lo, hi = p.init_box()
    return np.random.default_rng(seed).uniform(lo, hi, p.dim)


def fd4(fun, x, u, h):
    return (8.0 * (fun(x + h * u) - fun(x - h * u)) - (fun(x + 2 * h * u) - fun(x - 2 * h * u))) / (12.0 * h)


def step_of(p):
    lo, hi = p.init_box()
    return 1e-2 * (hi - lo)


def rel(a, b):
    return np.linalg.norm(np.asarray(a) - np.asarray(b)) / max(np.linalg.norm(b), 1e-300)


def n_negative(H, tol=1e-8):
    ev = np.linalg.eigvalsh(0.5 * (H + H.T))
    return int(np.sum(ev < -tol * max(1.0, np.abs(ev).max()))), ev


# -- derivatives ----------------------------------------------------------------------------
@pytest.mark.parametrize("key", SMALL)
def test_gradient_and_hvp_match_finite_differences_small(key):
    p = get(SMALL[key][0], **SMALL[key][1])
    h = step_of(p)
    for seed in (0, 1):
        x = point(p, seed)
        g = p.grad(x)
        eye = np.eye(p.dim)
        fd = np.array([fd4(p.value, x, eye[j], h) for j in range(p.dim)])
        assert rel(fd, g) <= 1e-6
        f, g2 = p.value_and_grad(x)
        assert f == p.value(x) and np.array_equal(g, g2)
        v = np.random.default_rng(seed + 10).standard_normal(p.dim)
        assert rel(fd4(p.grad, x, v, h), p.hvp(x, v)) <= 1e-6


@pytest.mark.parametrize("key", LARGE)
def test_directional_derivatives_match_finite_differences_d1000(key):
    p = get(LARGE[key][0], **LARGE[key][1])
    assert 990 <= p.dim <= 1000 or key == "dw-rot"
    h = step_of(p)
    x = point(p, 5)
    g = p.grad(x)
    r = np.random.default_rng(6)
    for u in (r.standard_normal(p.dim), g):
        u = u / np.linalg.norm(u)
        assert abs(fd4(p.value, x, u, h) - g @ u) <= 1e-6 * abs(g @ u)
        assert rel(fd4(p.grad, x, u, h), p.hvp(x, u)) <= 1e-6


@pytest.mark.parametrize("key", SMALL)
def test_dense_hessian_symmetric_and_equal_to_hvp_columns(key):
    p = get(SMALL[key][0], **SMALL[key][1])
    x = point(p, 2)
    H = p.hess(x)
    assert np.allclose(H, H.T, rtol=0, atol=1e-12 * np.abs(H).max())
    cols = np.column_stack([p.hvp(x, e) for e in np.eye(p.dim)])
    assert np.allclose(H, cols, rtol=1e-12, atol=1e-12 * np.abs(H).max())
    jac = np.column_stack([fd4(p.grad, x, e, step_of(p)) for e in np.eye(p.dim)])
    assert rel(jac, H) <= 1e-6


@pytest.mark.parametrize("name", ["double-well", "styblinski-tang"])
def test_elementwise_kernel_gives_the_whole_vector_numbers(name):
    p = get(name, dim=1000)
    efg = kc.cpu(p.EFG)
    x = point(p, 3)
    f_ref, g_ref = p.value_and_grad(x)
    f, g = 0.0, np.empty(p.dim)
    for i in range(p.dim):
        fi, g[i] = efg(x[i], p.data, p.idata, i)
        f += fi
    assert f == f_ref and np.array_equal(g, g_ref)
    assert get("double-well", dim=7, rotation="haar", seed=3).EFG is None


def test_cost_statements():
    assert get("double-well", dim=7).cost().startswith("O(d) time, O(d) memory")
    assert "O(d^2)" in get("double-well", dim=7, rotation="haar", seed=3).cost()
    assert get("styblinski-tang", dim=7).cost().startswith("O(d) time")
    assert "O(d^2)" in get("matrix-factorisation", dim=9, seed=1).cost()


# -- critical points ------------------------------------------------------------------------
def check_critical(p, x, f, index, *, degenerate=False, H=None):
    g = p.grad(x)
    scale = max(1.0, np.abs(p.hvp(x, np.ones(p.dim))).max() * max(1.0, np.abs(x).max()))
    assert np.linalg.norm(g, np.inf) <= 1e-10 * scale
    assert abs(p.value(x) - f) <= 1e-12 * max(1.0, abs(f))
    neg, ev = n_negative(p.hess(x) if H is None else H)
    assert neg == index
    if not degenerate:  # strict: no eigenvalue near zero
        assert np.abs(ev).min() > 1e-6 * np.abs(ev).max()


@pytest.mark.parametrize("key", ["dw", "dw-rot", "st", "mf"])
def test_every_index_small(key):
    p = get(SMALL[key][0], **SMALL[key][1])
    listed = p.known_critical_points()
    assert {k for _, _, k, _ in listed} == set(range(p.dim + 1))
    for x, f, k, _ in listed:
        check_critical(p, x, f, k)
    for k in range(p.dim + 1):
        for seed in (0, 1):
            x, f, kk = p.critical_point(k, seed)
            assert kk == k
            check_critical(p, x, f, k)


@pytest.mark.parametrize("name,kw", [("double-well", dict(dim=1000)), ("styblinski-tang", dict(dim=1000)),
                                     ("double-well", dict(dim=400, rotation="haar", seed=4))])
def test_critical_points_large(name, kw):
    p = get(name, **kw)
    d = p.dim
    listed = p.known_critical_points()
    for x, f, k, _ in listed:
        assert np.linalg.norm(p.grad(x), np.inf) <= 1e-10 * max(1.0, np.abs(x).max() ** 3)
        assert abs(p.value(x) - f) <= 1e-12 * max(1.0, abs(f))
    for x, f, k, _ in listed[-2:]:  # eigvalsh at d = 1000 costs ~0.5 s each: two listed ...
        check_critical(p, x, f, k)
    for k, seed in [(1, 1), (d // 3, 2), (d, 4)]:  # ... and three seeded points
        x, f, kk = p.critical_point(k, seed)
        assert kk == k
        check_critical(p, x, f, k)
        if name == "double-well":
            assert f == k / 4


def test_double_well_representatives_and_x_star():
    p = get("double-well", dim=1000)
    listed = p.known_critical_points()
    assert [k for _, _, k, _ in listed] == list(range(9)) + [1000]
    for x, f, k, _ in listed:
        assert np.sum(x == 0) == k and np.all(np.isin(x, (0.0, 1.0))) and f == k / 4
    assert np.array_equal(p.x_star, np.ones(1000)) and p.f_star == 0.0 == p.value(p.x_star)
    q = get("double-well", dim=400, rotation="haar", seed=4)
    Q = q.rotation_matrix()
    assert np.allclose(Q.T @ Q, np.eye(400), atol=1e-12)
    assert abs(q.value(q.x_star)) <= 1e-20 and np.allclose(Q.T @ q.x_star, 1.0, atol=1e-12)
    # f(Q^T x) with the same y gives the same value as the unrotated problem
    y = np.random.default_rng(0).uniform(-2, 2, 400)
    assert abs(q.value(Q @ y) - get("double-well", dim=400).value(y)) <= 1e-10 * q.value(Q @ y)


def test_styblinski_tang_constants():
    from optbench.problems.styblinski_tang import G_MIN, X_LOC, X_MAX, X_MIN
    ref = np.sort(np.roots([4.0, 0.0, -32.0, 5.0]).real)
    assert np.allclose([X_MIN, X_MAX, X_LOC], ref, rtol=1e-12)
    assert np.allclose([X_MIN, X_MAX, X_LOC], [-2.903534, 0.156731, 2.746803], atol=1e-6)
    for r in (X_MIN, X_MAX, X_LOC):  # polished: residual at the rounding level
        assert abs(4 * r ** 3 - 32 * r + 5) <= 8 * np.finfo(float).eps * (4 * abs(r) ** 3 + 32 * abs(r) + 5)
    for n in (1, 7, 1000):
        p = get("styblinski-tang", dim=n)
        # docs/reference.md gives −39.16617·n: 7 significant digits, half a unit of the last one
        assert p.f_star == pytest.approx(-39.16617 * n, abs=5e-6 * n)
        assert p.value(p.x_star) == pytest.approx(p.f_star, rel=1e-14)
    assert G_MIN == pytest.approx(-39.16616570377, rel=1e-11)
    # a grid never beats the minimum
    t = np.linspace(-5, 5, 200_001)
    assert (0.5 * (t ** 4 - 16 * t ** 2 + 5 * t)).min() >= G_MIN - 1e-12


def test_matrix_factorisation_closed_forms():
    p = get("matrix-factorisation", dim=9, seed=1)
    M = p.matrix()
    lam = np.sort(np.linalg.eigvalsh(M))[::-1]
    assert np.allclose(lam, p.eigenvalues, rtol=1e-12) and np.all(np.diff(lam) < 0)
    listed = p.known_critical_points()
    assert len(listed) == 2 * 9 + 1
    for x, f, k, _ in listed:
        if k < 9:  # ±√λ_{k+1} v_{k+1}: an eigenvector of M with eigenvalue λ_{k+1} = ‖x‖²
            assert np.allclose(M @ x, (x @ x) * x, atol=1e-12) and x @ x == pytest.approx(lam[k])
            assert f == pytest.approx(0.25 * (np.sum(lam ** 2) - lam[k] ** 2), rel=1e-12)
        else:
            assert np.all(x == 0) and f == pytest.approx(0.25 * np.sum(M * M), rel=1e-12)
    assert p.f_star == pytest.approx(0.25 * np.sum(lam[1:] ** 2), rel=1e-12)
    assert p.value(p.x_star) == pytest.approx(p.f_star, rel=1e-12)
    # n > 200: a subset is listed, and every listed point is critical with the right index
    q = get("matrix-factorisation", dim=201, seed=2, spectrum="linear")
    listed = q.known_critical_points()
    assert len(listed) < 2 * 201 + 1
    for x, f, k, _ in listed[:3] + listed[-2:]:
        check_critical(q, x, f, k)


def test_linear_net_origin_spectrum_and_every_reachable_index():
    p = get("linear-net", in_dim=4, hidden=3, out_dim=5, seed=1)
    assert p.dim == 3 * 4 + 5 * 3
    W1, W2 = p.split(np.arange(p.dim, dtype=float))
    assert W1.shape == (3, 4) and W2.shape == (5, 3) and W1[1, 2] == 1 * 4 + 2
    assert W2[4, 1] == 12 + 4 * 3 + 1
    x = np.random.default_rng(0).standard_normal(p.dim)
    W1, W2 = p.split(x)
    assert p.value(x) == pytest.approx(0.5 * np.sum((W2 @ W1 - p.matrix()) ** 2), rel=1e-13)
    sig = np.linalg.svd(p.matrix(), compute_uv=False)
    ev = np.linalg.eigvalsh(p.hess(np.zeros(p.dim)))
    want = np.sort(np.concatenate([np.repeat(sig, 3), -np.repeat(sig, 3), np.zeros(p.dim - 2 * 3 * 4)]))
    assert np.allclose(ev, want, atol=1e-12)
    reach = p.reachable_indices()
    assert reach == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 12]
    for k in reach:
        for seed in (0, 1):
            x, f, kk = p.critical_point(k, seed)
            assert kk == k
            check_critical(p, x, f, k, degenerate=True)
    for x, f, k, _ in p.known_critical_points():
        check_critical(p, x, f, k, degenerate=True)
    with pytest.raises(OptbenchInputError, match="index 10"):
        p.critical_point(10, 0)


@pytest.mark.parametrize("kw", [dict(in_dim=6, hidden=2, out_dim=5, seed=3),        # h < rank
                                dict(in_dim=6, hidden=4, out_dim=5, rank=3, seed=3)])  # h ≥ rank
def test_linear_net_global_min_is_eckart_young(kw):
    p = get("linear-net", **kw)
    A = p.matrix()
    u, s, vt = np.linalg.svd(A)
    h = kw["hidden"]
    rank = int(np.sum(s > 1e-12 * s[0]))
    assert rank == (kw.get("rank") or 5)
    ey = 0.5 * np.sum((A - (u[:, :h] * s[:h]) @ vt[:h]) ** 2)
    assert p.f_star == pytest.approx(ey, rel=1e-10, abs=1e-14)
    assert (p.f_star == 0.0) == (h >= rank)
    assert p.value(p.x_star) == pytest.approx(p.f_star, rel=1e-10, abs=1e-14)
    check_critical(p, p.x_star, p.f_star, 0, degenerate=True)
    ev = np.linalg.eigvalsh(p.hess(np.zeros(p.dim)))
    assert np.sum(ev < -1e-10) == h * rank and np.sum(ev > 1e-10) == h * rank


# -- reproducibility, starts, bad input -----------------------------------------------------
@pytest.mark.parametrize("name,kw", [("double-well", dict(dim=30, rotation="haar")),
                                     ("matrix-factorisation", dict(dim=30)),
                                     ("linear-net", dict(in_dim=5, hidden=2, out_dim=4))])
def test_seeded_data(name, kw):
    a, b, c = (zoo.get(name, seed=s, **kw) for s in (7, 7, 8))
    assert np.array_equal(a.data, b.data) and np.array_equal(a.idata, b.idata)
    assert not np.allclose(a.data, c.data)


@pytest.mark.parametrize("key", SMALL)
def test_near_critical_start(key):
    name, kw = SMALL[key]
    k = 1
    p = zoo.get(name, near_index=k, near_radius=0.05, **kw)
    for seed in (0, 1, 2):
        x0 = p.x0(seed)
        xc, f, kk = p.critical_point(k, seed)
        assert kk == k and np.linalg.norm(p.grad(xc)) <= 1e-10 * max(1.0, np.abs(xc).max() ** 3)
        assert np.linalg.norm(x0 - xc) == pytest.approx(0.05, rel=1e-12)
        assert np.linalg.norm(x0 - xc) <= 0.05 * (1 + 1e-12)
        assert np.array_equal(x0, p.x0(seed))
    assert not np.array_equal(p.x0(0), p.x0(1))
    exact = zoo.get(name, near_index=k, near_radius=0.0, **kw)
    assert np.array_equal(exact.x0(4), p.critical_point(k, 4)[0])
    plain = zoo.get(name, **kw)
    xs = plain.x_standard()
    if xs is not None:
        assert np.array_equal(plain.x0(0), xs)


@pytest.mark.parametrize("name,kw,match", [
    ("double-well", dict(dim=5, near_index=6), "near_index"),
    ("double-well", dict(dim=5, near_index=-2), "near_index"),
    ("double-well", dict(dim=5, near_radius=-1.0), "near_radius"),
    ("double-well", dict(dim=5, rotation="givens"), "rotation"),
    ("double-well", dict(dim=20_001, rotation="haar"), "dim"),
    ("double-well", dict(dim=0), "dim"),
    ("styblinski-tang", dict(dim=4, near_index=5), "near_index"),
    ("styblinski-tang", dict(dim=4, near_index=1.5), "near_index"),
    ("matrix-factorisation", dict(dim=5001), "dim"),
    ("matrix-factorisation", dict(dim=5, lam_top=1.0, lam_bottom=1.0), "lam_bottom"),
    ("matrix-factorisation", dict(dim=5, lam_top=-1.0), "lam_top"),
    ("matrix-factorisation", dict(dim=5, near_index=6), "near_index"),
    ("linear-net", dict(in_dim=4, hidden=3, out_dim=5, rank=5), "rank"),
    ("linear-net", dict(in_dim=4, hidden=3, out_dim=5, near_index=10), "index 10"),
    ("linear-net", dict(in_dim=4, hidden=3, out_dim=5, near_index=13), "near_index"),
    ("linear-net", dict(in_dim=4, hidden=3, out_dim=5, sv_top=0.1, sv_bottom=0.5), "sv_bottom"),
    ("linear-net", dict(in_dim=4, hidden=0, out_dim=5), "hidden"),
])
def test_bad_params_rejected(name, kw, match):
    with pytest.raises(OptbenchInputError, match=match):
        zoo.get(name, **kw)


@pytest.mark.parametrize("key", SMALL)
def test_bad_critical_point_index_rejected(key):
    p = get(SMALL[key][0], **SMALL[key][1])
    for bad in (-1, p.max_index + 1, 1.0, True):
        with pytest.raises(OptbenchInputError, match="index"):
            p.critical_point(bad, 0)


# -- CUDA device functions on the simulator ------------------------------------------------
_SIM = cuda_mode.CHECK + textwrap.dedent("""
    import os, sys
    import numpy as np
    from numba import cuda
    from optbench.kernels import compile as kc
    import optbench.problems as zoo

    def make(fg, val, hvp):
        @cuda.jit
        def k(x, v, g, hv, data, idata, out):
            out[0] = fg(x, g, data, idata, 0, 0)
            out[1] = val(x, data, idata)
            hvp(x, v, hv, data, idata)
        return k

    def make_efg(efg):
        @cuda.jit
        def k(x, data, idata, fo, go):
            for i in range(x.shape[0]):
                fo[i], go[i] = efg(x[i], data, idata, i)
        return k

    cases = [("double-well", dict(dim=6)), ("double-well", dict(dim=6, rotation="haar", seed=2)),
             ("styblinski-tang", dict(dim=6)), ("matrix-factorisation", dict(dim=6, seed=1)),
             ("linear-net", dict(in_dim=3, hidden=2, out_dim=4, seed=1))]
    bad = []
    for name, kw in cases:
        p = zoo.get(name, **kw)
        k = make(kc.cuda_device(p.FG), kc.cuda_device(p.VALUE), kc.cuda_device(p.HVP))
        r = np.random.default_rng(0)
        x, v = r.uniform(-1.5, 1.5, p.dim), r.standard_normal(p.dim)
        g, hv, out = np.zeros(p.dim), np.zeros(p.dim), np.zeros(2)
        k[1, 1](x, v, g, hv, p.data, p.idata, out)
        f, gc = p.value_and_grad(x)
        ok = (np.allclose(out, [f, p.value(x)], rtol=1e-12, atol=0)
              and np.allclose(g, gc, rtol=1e-12, atol=1e-300)
              and np.allclose(hv, p.hvp(x, v), rtol=1e-12, atol=1e-300))
        if getattr(p, "EFG", None) is not None:
            fo, go = np.zeros(p.dim), np.zeros(p.dim)
            make_efg(kc.cuda_device(p.EFG))[1, 1](x, p.data, p.idata, fo, go)
            ok = ok and np.allclose(go, gc, rtol=1e-12) and np.isclose(fo.sum(), f, rtol=1e-12)
        if not ok:
            bad.append(name + repr(kw))
    print("BAD", bad) if bad else print("OK")
    sys.exit(1 if bad else 0)
""")


def test_cuda_device_kernels_on_simulator():
    env = cuda_mode.env()
    res = subprocess.run([sys.executable, "-c", _SIM], env=env, capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.strip().endswith("OK")
