"""Second-order, line-search and zero-order methods in their compiled run loop: each checked
against mathematics worked out here (closed forms, numpy re-implementations, scipy)."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

import optbench as ob
from optbench.params import I
from optbench.problems.base import REGISTRY, Problem



def run(prob, opt, steps=200, **kw):
    p = ob.problem(*prob) if isinstance(prob, str) else prob
    return ob.run(p, opt, steps=steps, **kw)


def quad(dim=20, cond=1e4, **kw):
    return ob.problem("quadratic", dim=dim, cond=cond, **kw)


# --------------------------------------------------------------------------- Newton
@pytest.mark.parametrize("solver,extra", [("dense", {}), ("cg", {"cg_rtol": 1e-13}),
                                          ("minres", {"cg_rtol": 1e-13})])
def test_newton_solves_a_quadratic_in_one_step(solver, extra):
    p = quad(rotation="haar", seed=3)
    x0 = np.linspace(-1.0, 2.0, p.dim)
    r = run(p, ob.optimizer("newton", solver=solver, **extra), x0=x0, stop="budget", steps=1)
    assert r.nit == 1
    # x* = 0: one exact Newton step lands there to rounding (κ = 1e4)
    assert np.linalg.norm(r.x) <= 1e-9 * np.linalg.norm(x0)
    assert r.trace.f.iloc[-1] <= 1e-18 * r.trace.f.iloc[0]


def test_newton_dense_counts_exact():
    # Rosenbrock has no HESS kernel: the dense Hessian is assembled from d = 2 HVPs
    r = run(ob.problem("rosenbrock", dim=2), ob.optimizer("newton"), stop="budget", steps=3)
    assert (r.nit, r.nfev, r.ngev, r.nhev, r.row["nhess"]) == (3, 4, 4, 6, 0)
    assert r.row["grad_equiv"] == 4 + 6
    # Himmelblau has a HESS kernel: one dense Hessian per step, d = 2 gradient-equivalents
    r = run(ob.problem("himmelblau"), ob.optimizer("newton"), stop="budget", steps=4)
    assert (r.nfev, r.ngev, r.nhev, r.row["nhess"]) == (5, 5, 0, 4)
    assert r.row["grad_equiv"] == 5 + 2 * 4
    # once the gradient is exactly 0 a step is a no-op and costs nothing
    r = run(quad(dim=12, cond=100.0), ob.optimizer("newton"), x0=np.zeros(12), stop="budget",
            steps=5)
    assert (r.nit, r.nfev, r.ngev, r.nhev) == (5, 1, 1, 0)


@pytest.mark.parametrize("opt", [
    {"optimizer": "saddle-free-newton", "solver": "dense"},      # |H| = H when H ≻ 0
    {"optimizer": "saddle-free-newton", "solver": "lanczos", "krylov_dim": 15},  # full Krylov
    {"optimizer": "damped-newton", "lam": 0.0, "solver": "dense"},  # ρ = 1: λ stays 0
    {"optimizer": "damped-newton", "lam": 0.0, "solver": "cg", "cg_rtol": 1e-13},
])
def test_variants_reduce_to_newton_on_a_convex_quadratic(opt):
    p = quad(dim=15, cond=100.0, rotation="haar", seed=4)
    x0 = np.linspace(1.0, -1.0, 15)
    r = run(p, opt, x0=x0, steps=1, stop="budget")
    assert np.linalg.norm(r.x) <= 1e-8 * np.linalg.norm(x0)


def test_saddle_free_krylov_step_matches_numpy():
    # one step p = −V|T|⁻¹Vᵀg from k Lanczos vectors of (H, g) at an indefinite point
    prob = ob.problem("double-well", dim=12, rotation="haar", seed=1, near_index=4,
                      near_radius=0.3)
    x0 = prob.x0(0)
    H, g = prob.hess(x0), prob.grad(x0)
    assert np.sum(np.linalg.eigvalsh(H) < 0) == 4
    for k in (3, 6, 12):
        V = np.zeros((k, 12))
        V[0] = g / np.linalg.norm(g)
        al, be = [], []
        for j in range(k):
            w = H @ V[j]
            al.append(V[j] @ w)
            for _ in range(2):
                w -= V[: j + 1].T @ (V[: j + 1] @ w)
            if j < k - 1:
                be.append(np.linalg.norm(w))
                V[j + 1] = w / be[-1]
        th, U = np.linalg.eigh(np.diag(al) + np.diag(be, 1) + np.diag(be, -1))
        ref = x0 - V.T @ (U @ (U[0] * np.linalg.norm(g) / np.abs(th)))
        r = run(prob, ob.optimizer("saddle-free-newton", solver="lanczos", krylov_dim=k),
                steps=1, stop="budget")
        np.testing.assert_allclose(r.x, ref, rtol=1e-9, atol=1e-12)
        assert r.nhev == k
    w, Q = np.linalg.eigh(H)                    # k = d: the dense |H| step
    np.testing.assert_allclose(r.x, x0 - Q @ ((Q.T @ g) / np.abs(w)), rtol=1e-9)


def test_damped_newton_globalises_newton_on_rosenbrock():
    # plain Newton from (−1.2, 1) overshoots into f > f0 on its first step; Levenberg damping
    # accepts only decreasing steps and converges
    p = ob.problem("rosenbrock", dim=2)
    r = run(p, "damped-newton", steps=200, record="every:1")
    assert r.status == "converged" and r.fun <= 1e-8
    assert np.all(np.diff(r.trace.f) <= 0)
    assert r.row["n_rejected"] >= 0 and r.nfev == r.nit + 1 + r.row["n_rejected"]


def test_steps_to_target_in_gradient_equivalents():
    d = 10
    r = run(quad(dim=d, cond=10.0), ob.optimizer("newton"), steps=20)
    assert r.status == "converged" and r.nit == 1
    for t in (1.0, 1e-1, 1e-3, 1e-7):       # f0 = ½Σλᵢ > 1 > all of these: hit at step 1
        assert r.row[f"steps_{t:g}"] == 1
        assert r.row[f"ngev_{t:g}"] == 2
        assert r.row[f"grad_equiv_{t:g}"] == 2 + d
    assert r.trace.grad_equiv.tolist() == [1.0, 2.0 + d]


# --------------------------------------------------------------------------- CG
def numpy_cg_values(A, x0, n):
    """f_k of textbook linear CG on ½xᵀAx (independent re-implementation)."""
    x = x0.copy()
    r = -(A @ x)
    p = r.copy()
    out = [0.5 * x @ A @ x]
    for _ in range(n):
        Ap = A @ p
        a = (r @ r) / (p @ Ap)
        x = x + a * p
        rn = r - a * Ap
        p = rn + (rn @ rn) / (r @ r) * p
        r = rn
        out.append(0.5 * x @ A @ x)
    return np.array(out)


def test_linear_cg_solves_d_dim_quadratic_in_at_most_d_steps():
    # well-spread (uniform) spectrum, κ = 1e4: finite termination after d steps to rounding
    # (geometric spectra lose orthogonality in floating point and need more than d)
    d = 20
    p = quad(dim=d, cond=1e4, spectrum="uniform", rotation="haar", seed=1)
    x0 = np.ones(d)
    g0 = np.linalg.norm(p.grad(x0))
    r = run(p, ob.optimizer("linear-cg"), x0=x0, stop="budget", steps=d, record="every:1")
    assert np.linalg.norm(p.grad(r.x)) <= 1e-11 * g0
    assert r.trace.grad_norm.iloc[d // 2] > 1e-6 * g0       # not already there half-way
    ref = numpy_cg_values(p.matrix(), x0, 8)
    np.testing.assert_allclose(r.trace.f.to_numpy()[:9], ref, rtol=1e-9)
    assert r.nhev == d and r.ngev == d + 1


def test_linear_cg_two_distinct_eigenvalues_two_steps():
    # 'two-cluster' has exactly two distinct eigenvalues: CG terminates after 2 steps
    p = quad(dim=40, cond=50.0, spectrum="two-cluster", rotation="haar", seed=2)
    r = run(p, ob.optimizer("linear-cg"), stop="budget", steps=2)
    assert np.linalg.norm(p.grad(r.x)) <= 1e-12 * np.linalg.norm(p.grad(p.x0()))


# --------------------------------------------------------------------------- steepest descent
def test_exact_step_steepest_descent_is_the_analytic_sequence():
    p = quad(dim=2, cond=10.0)                      # A = diag(0.1, 1)
    A = np.diag(p.eigenvalues)
    x0 = np.array([0.7, -1.3])
    n = 25
    r = run(p, ob.optimizer("steepest-descent"), x0=x0, stop="budget", steps=n,
            record="every:1")
    x, fs, al = x0.copy(), [], []
    for _ in range(n + 1):
        fs.append(0.5 * x @ A @ x)
        g = A @ x
        a = (g @ g) / (g @ A @ g)
        al.append(a)
        x = x - a * g
    np.testing.assert_allclose(r.trace.f, fs, rtol=1e-10)
    np.testing.assert_allclose(r.trace.step_size.to_numpy()[1:], al[:-1], rtol=1e-12)
    # the worst case x0 ∝ (1/λ₁, 1/λ₂) attains the Kantorovich rate ((κ−1)/(κ+1))² per step
    r = run(p, ob.optimizer("steepest-descent"), x0=[10.0, 1.0], stop="budget", steps=n,
            record="every:1")
    k = 10.0
    np.testing.assert_allclose(r.trace.f, r.trace.f.iloc[0] * ((k - 1) / (k + 1)) ** (
        2 * r.trace.step.to_numpy()), rtol=1e-9)


# --------------------------------------------------------------------------- line searches
@pytest.mark.parametrize("opt", [
    dict(optimizer="steepest-descent", step="armijo", lr=1.0),
    dict(optimizer="newton", line_search="armijo", solver="dense"),
    dict(optimizer="lbfgs", line_search="armijo", memory=5),
    dict(optimizer="nonlinear-cg", line_search="armijo", beta="fr"),
    dict(optimizer="lbfgs"),                                     # strong Wolfe
    dict(optimizer="nonlinear-cg"),                              # strong Wolfe, PR+
])
def test_armijo_condition_holds_at_every_accepted_step(opt):
    opt = dict(opt)
    o = ob.optimizer(opt.pop("optimizer"), **opt)
    r = run(ob.problem("rosenbrock", dim=2), o, steps=150, stop="budget", record="every:1")
    tr = r.trace
    assert len(tr) == r.nit + 1
    f, a, s = tr.f.to_numpy(), tr.step_size.to_numpy(), tr.slope.to_numpy()
    moved = a[1:] > 0             # α = 0: ∇f was exactly 0, the loop did not step
    assert moved.sum() >= 15 and np.all(f[1:][~moved] == f[:-1][~moved])
    assert np.all(s[1:][moved] < 0)                             # descent directions only
    assert np.all(f[1:] <= f[:-1] + o.hyper["c1"] * a[1:] * s[1:])
    if o.name in ("steepest-descent", "newton"):            # backtracking: α = lr·ρ^j
        j = np.log(a[1:][moved] / o.hyper["lr"]) / np.log(o.hyper["backtrack"])
        np.testing.assert_allclose(j, np.round(j), atol=1e-9)


def test_lbfgs_iterations_comparable_to_scipy():
    so = pytest.importorskip("scipy.optimize")
    for d in (2, 10, 100):
        x0 = np.ones(d)
        x0[0::2] = -1.2
        fs = []
        so.minimize(so.rosen, x0, jac=so.rosen_der, method="L-BFGS-B",
                    callback=lambda xk: fs.append(so.rosen(xk)),
                    options=dict(maxcor=10, gtol=1e-14, ftol=0, maxiter=5000))
        n_scipy = 1 + next(i for i, f in enumerate(fs) if f <= 1e-10)
        r = run(ob.problem("rosenbrock", dim=d), ob.optimizer("lbfgs", memory=10), steps=5000,
                targets=[1e-10])
        assert r.status == "converged", (d, r)
        assert r.nit <= 1.5 * n_scipy, (d, r.nit, n_scipy)
        assert r.nfev == r.ngev == 1 + r.row["n_ls_evals"]


# --------------------------------------------------------------------------- saddles
@pytest.mark.parametrize("dim,newton,sfn", [
    (30, {}, {}),
    (1000, {"solver": "minres", "cg_rtol": 1e-12}, {"solver": "lanczos", "krylov_dim": 10}),
])
def test_saddle_free_newton_leaves_a_strict_saddle_newton_converges_to_it(dim, newton, sfn):
    k = 3
    p = ob.problem("double-well", dim=dim, near_index=k, near_radius=1e-3)
    xc = p.critical_point(k, seed=0)[0]
    assert np.linalg.norm(p.x0(0) - xc) == pytest.approx(1e-3)
    rn = run(p, ob.optimizer("newton", **newton), steps=30, stop="budget")
    assert np.linalg.norm(rn.x - xc) <= 1e-10           # attracted by the index-3 saddle
    assert rn.fun == pytest.approx(k / 4)
    rs = run(p, ob.optimizer("saddle-free-newton", **sfn), steps=60)
    assert rs.status == "converged" and rs.fun <= 1e-8  # escaped to a global minimum
    assert np.allclose(np.abs(rs.x), 1.0, atol=1e-4)


# --------------------------------------------------------------------------- failures
def nanq_fg(x, g, data, idata, seed, step):
    f = 0.0
    for i in range(x.shape[0]):
        g[i] = x[i]
        f += 0.5 * x[i] * x[i]
    return f


def nanq_value(x, data, idata):
    f = 0.0
    for i in range(x.shape[0]):
        f += 0.5 * x[i] * x[i]
    return f


def nanq_hvp(x, v, out, data, idata):
    for i in range(x.shape[0]):
        out[i] = math.nan


class NanCurvature(Problem):
    """½‖x‖² with a broken (NaN) Hessian-vector product."""

    name = "test-nan-curvature"
    params = {"dim": I(3, 1)}
    FG, VALUE, HVP = staticmethod(nanq_fg), staticmethod(nanq_value), staticmethod(nanq_hvp)

    def build(self):
        return np.zeros(1), np.zeros(1, np.int64), self.p["dim"]

    def x_standard(self):
        return np.ones(self.dim)


@pytest.fixture
def nan_curvature_registered():
    """Register the test-only problem for one test (it must not leak into other tests)."""
    REGISTRY[NanCurvature.name] = NanCurvature
    yield
    REGISTRY.pop(NanCurvature.name, None)


@pytest.mark.parametrize("prob,opt,x0,words", [
    (("rosenbrock", {"dim": 2}), {"optimizer": "newton"}, [0.0, 0.005], "singular Hessian"),
    (("saddle", {}), {"optimizer": "newton", "solver": "cg"}, [0.1, 0.5], "non-positive curv"),
    (("saddle", {}), {"optimizer": "newton", "line_search": "armijo"}, [0.1, 0.5],
     "not a descent direction"),
    (("saddle", {}), {"optimizer": "steepest-descent"}, [0.1, 1.0], "non-positive curvature along"),
    (("test-nan-curvature", {}), {"optimizer": "linear-cg"}, [1.0, 2.0, 3.0], "non-finite curv"),
    (("test-nan-curvature", {}), {"optimizer": "newton", "solver": "dense"}, [1.0, 2.0, 3.0],
     "non-finite curv"),
    (("rosenbrock", {"dim": 2}), {"optimizer": "newton", "line_search": "armijo", "lr": 1e6,
                                  "max_ls": 1}, [-1.2, 1.0], "no acceptable step"),
    (("double-well", {"dim": 2}), {"optimizer": "damped-newton", "lam": 0.0, "max_tries": 1},
     [0.01, -0.02], "damping could not"),
])
def test_failures_are_statuses_with_messages(prob, opt, x0, words, nan_curvature_registered):
    r = run(ob.problem(prob[0], **prob[1]), opt, x0=x0, steps=50)
    assert r.status == "failed" and not r.success
    assert words in r.message and "failed at step 0" in r.message
    np.testing.assert_array_equal(r.x, x0)               # the failed step did not move x
    assert r.nit == 0 and r.trace.step.tolist() == [0]


def test_bad_pairings_are_error_rows():
    r = run(ob.problem("rosenbrock", dim=50), "grid-search")
    assert r.status == "error" and "low dimension" in r.message
    r = run(ob.problem("noisy-quadratic"), "lbfgs")
    assert r.status == "error" and "deterministic" in r.message
    with pytest.raises(ob.OptbenchInputError, match="c1 < c2"):
        ob.optimizer("lbfgs", c1=0.5, c2=0.4)
    with pytest.raises(ob.OptbenchInputError, match="clipping"):
        ob.optimizer("newton", clip_norm=1.0)


# --------------------------------------------------------------------------- zero order
def test_grid_search_counts_and_best_point():
    p = ob.problem("himmelblau")
    r = run(p, ob.optimizer("grid-search", points=7, lo=-4.0, hi=4.0), steps=1000)
    assert (r.nit, r.nfev, r.ngev, r.nhev, r.row["grad_equiv"]) == (48, 49, 0, 0, 24.5)
    assert r.message == "grid exhausted (49 points)"
    g = np.linspace(-4.0, 4.0, 7)
    vals = {(a, b): p.value([a, b]) for b in g for a in g}
    best = min(vals, key=vals.get)
    np.testing.assert_allclose(r.x, best)
    assert r.fun == pytest.approx(vals[best], rel=1e-14)


def splitmix_uniform(seed, t, i):
    m = (1 << 64) - 1
    z = (seed * 0x9E3779B97F4A7C15 + t * 6364136223846793005 + i * 1442695040888963407) & m
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & m
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & m
    z ^= z >> 31
    return (z >> 11) * 2.0 ** -53


def test_random_search_is_reproducible_uniform_sampling():
    p = ob.problem("rosenbrock", dim=3)
    n, seed = 300, 5
    r = run(p, "random-search", steps=n, seed=seed, stop="budget", record="every:1")
    lo, hi = p.init_box()
    pts = [[lo + (hi - lo) * splitmix_uniform(seed, t, i) for i in range(3)] for t in range(n + 1)]
    f = np.array([p.value(z) for z in pts])
    np.testing.assert_allclose(r.trace.best_f, np.minimum.accumulate(f), rtol=1e-14)
    np.testing.assert_allclose(r.x, pts[int(np.argmin(f))])
    assert r.nfev == n + 1 and r.ngev == 0
    u = np.array(pts).ravel()
    assert lo <= u.min() and u.max() < hi and abs(u.mean()) < 0.2


def test_parallel_batch_equals_serial():
    from optbench.api import expand
    from optbench.runner.execute import execute

    specs = expand(ob.problem("rosenbrock", dim=6, start="random"),
                          [{"optimizer": "lbfgs"}], seeds=range(4), steps=300, stop="budget")
    a, _ = execute(specs, parallel=False)
    b, _ = execute(specs, parallel=True)
    for c in ("fun", "nit", "nfev", "ngev", "grad_equiv"):
        np.testing.assert_array_equal(a[c].to_numpy(), b[c].to_numpy())


def test_theory_parameters_attain_their_rates():
    from optbench.optimizers.theory_params import optimal_parameters
    L, mu = 1.0, 1e-2
    k = L / mu
    hb = optimal_parameters("momentum", L, mu)
    for lam in (mu, L):   # heavy ball on eigenvalue λ: (x, x_prev) iteration, spectral radius
        a, b = hb["lr"], hb["momentum"]
        M = np.array([[1 + b - a * lam, -b], [1.0, 0.0]])
        assert max(abs(np.linalg.eigvals(M))) == pytest.approx((math.sqrt(k) - 1) / (math.sqrt(k) + 1))
    gd = optimal_parameters("gd", L, mu)["lr"]
    assert max(abs(1 - gd * mu), abs(1 - gd * L)) == pytest.approx((k - 1) / (k + 1))
    with pytest.raises(ob.OptbenchInputError):
        optimal_parameters("adam", L, mu)


def test_quadratic_theory_suite_carries_the_optimal_parameters():
    import pandas as pd

    from optbench.optimizers.theory_params import matched
    from optbench.runner.suites import load_suite, suite_specs

    specs = suite_specs(load_suite("quadratic-theory"))
    runs = pd.DataFrame({"problem_params": [s.problem for s in specs],
                         "optimizer_params": [s.optimizer for s in specs]})
    m = matched(runs)
    # 6 κ × 2 rotations, each with its one GD, heavy-ball and Nesterov setting, CG and Newton
    assert len(m) == 12 * 5
    names = [json.loads(o)["optimizer"] for o in m["optimizer_params"]]
    assert sorted(set(names)) == ["gd", "linear-cg", "momentum", "nesterov", "newton"]
    for name in ("newton-vs-saddles", "adaptive-rotation"):
        assert len(suite_specs(load_suite(name), seeds=1)) > 0
