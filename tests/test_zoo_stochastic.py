"""Convex data problems (least squares, logistic), minibatch order and gradient noise."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import cuda_mode
from scipy import optimize, stats

import optbench
from optbench import OptbenchInputError
from optbench.kernels import compile as kc
from optbench.problems import get
from optbench.problems import minibatch as mb

MASK64 = (1 << 64) - 1


def splitmix64_ref(z):
    """Steele, Lea & Flood (2014), written with Python's unbounded ints and 64-bit masks."""
    z = (z + 0x9E3779B97F4A7C15) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def fd_grad(p, x, h=1e-5):
    g = np.empty_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (p.value(x + e) - p.value(x - e)) / (2 * h)
    return g


def rel(a, b):
    return np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300)


def perm(n, seed, epoch, fn=None):
    fn = fn or kc.cpu(mb.perm_index)
    return [int(fn(n, seed, epoch, j)) for j in range(n)]


# ------------------------------------------------------------------ counter-based RNG ------

def test_splitmix64_matches_reference_and_published_value():
    assert splitmix64_ref(0) == 0xE220A8397B1DCDAF    # first output of splitmix64 seeded 0
    sm = kc.cpu(mb.splitmix64)
    r = np.random.default_rng(7)
    zs = [0, 1, MASK64, 2**63, 2**32 - 1, 2**32] + [int(v) for v in r.integers(0, 2**63, 200)] \
        + [int(v) * 2 + 1 for v in r.integers(0, 2**63, 200)]
    for z in zs:
        hi, lo = z >> 32, z & 0xFFFFFFFF
        want = splitmix64_ref(z)
        for fn in (mb.splitmix64, sm):
            h, l_ = fn(hi, lo)
            assert (int(h) << 32) | int(l_) == want


def test_fmix32_and_mul32_match_uint32_arithmetic_everywhere():
    """MurmurHash3's fmix32 written with NumPy uint32 (wraps mod 2**32), against the kernels
    in Python (ints and NumPy int64 scalars, as the CUDA simulator passes them: no overflow
    warning) and compiled."""
    from optbench.kernels.probes import fmix32, mul32

    def fmix_ref(x):
        x = np.uint32(x)
        with np.errstate(over="ignore"):
            x ^= x >> np.uint32(16)
            x *= np.uint32(0x85EBCA6B)
            x ^= x >> np.uint32(13)
            x *= np.uint32(0xC2B2AE35)
            x ^= x >> np.uint32(16)
        return int(x)

    assert fmix_ref(1) == 0x514E28B7                    # MurmurHash3's fmix32(1)
    r = np.random.default_rng(3)
    xs = [0, 1, 2**31 - 1, 2**31, 2**32 - 1] + [int(v) for v in r.integers(0, 2**32, 300)]
    fm, m32 = kc.cpu(fmix32), kc.cpu(mul32)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for a, b in zip(xs, reversed(xs)):
            want = (a * b) % 2**32
            assert mul32(a, b) == want and int(m32(a, b)) == want
            assert int(mul32(np.int64(a), np.int64(b))) == want
            assert fmix32(a) == fmix_ref(a) == int(fm(a)) == int(fmix32(np.int64(a)))


@pytest.mark.parametrize("n", [1, 2, 3, 5, 10, 16, 17, 100, 1000, 1023, 1025])
def test_perm_is_bijection(n):
    for seed in (0, 1, 12345, 2**62 - 1):
        for epoch in (0, 3):
            assert sorted(perm(n, seed, epoch)) == list(range(n))


def test_perm_depends_on_seed_and_epoch_only():
    n = 100
    base = perm(n, 5, 2)
    assert perm(n, 5, 2) == base
    assert perm(n, 6, 2) != base
    assert perm(n, 5, 3) != base
    assert perm(n, 5, 2) != list(range(n))
    # different epochs of one seed: all distinct orders
    orders = {tuple(perm(n, 5, e)) for e in range(20)}
    assert len(orders) == 20


def test_perm_cpu_and_python_agree():
    fn = kc.cpu(mb.perm_index)
    r = np.random.default_rng(3)
    for _ in range(300):
        n = int(r.integers(1, 5000))
        seed = int(r.integers(0, 2**62))
        epoch = int(r.integers(0, 2**40))
        j = int(r.integers(0, n))
        want = mb.perm_index(n, seed, epoch, j)
        assert fn(n, seed, epoch, j) == want
        # numpy integers (as the CUDA simulator passes them) give the same answer
        assert mb.perm_index(np.int64(n), np.int64(seed), np.int64(epoch), np.int64(j)) == want


def test_perm_first_position_is_uniform_over_seeds():
    fn = kc.cpu(mb.perm_index)
    for n in (7, 10):
        counts = np.bincount([fn(n, s, 0, 0) for s in range(4000)], minlength=n)
        assert stats.chisquare(counts).pvalue > 1e-4


def test_normal_cpu_python_and_determinism():
    fn = kc.cpu(mb.normal)
    for seed, c in [(0, 0), (1, 5), (2**62 - 1, 2**61), (123, 10**12)]:
        assert fn(seed, c) == pytest.approx(mb.normal(seed, c), rel=1e-14, abs=1e-14)
        assert fn(seed, c) == fn(seed, c)
    assert fn(0, 0) != fn(1, 0) and fn(0, 0) != fn(0, 1)


def test_gradient_noise_statistics():
    sigma = 0.7
    p = get("noisy-quadratic", dim=100, rotation="none", sigma=sigma)
    assert p.stochastic
    x = np.zeros(100)                       # ∇f(0) = 0: the gradient is the noise itself
    draws = np.concatenate([p.grad(x, seed=11, step=k) for k in range(1000)])
    N = draws.size
    assert abs(draws.mean()) < 5 * sigma / np.sqrt(N)
    assert abs(draws.std() - sigma) < 5 * sigma / np.sqrt(2 * N)
    assert stats.kstest(draws / sigma, "norm").pvalue > 1e-4
    assert abs(np.corrcoef(draws[:-1], draws[1:])[0, 1]) < 5 / np.sqrt(N)
    # deterministic in (seed, step); other seed or step gives other noise
    g = p.grad(x, seed=11, step=4)
    assert np.array_equal(g, p.grad(x, seed=11, step=4))
    assert not np.allclose(g, p.grad(x, seed=12, step=4))
    assert not np.allclose(g, p.grad(x, seed=11, step=5))
    # the documented counter: g_i = σ·normal(seed, step·d + i)
    want = [sigma * mb.normal(11, 4 * 100 + i) for i in range(100)]
    np.testing.assert_allclose(g, want, rtol=1e-13, atol=1e-15)


# ------------------------------------------------------------------ full-batch problems ----

FULL = [
    ("least-squares", dict(dim=6, n=40, cond=100.0, noise=0.3, seed=2)),
    ("least-squares", dict(dim=8, n=5, seed=1)),                    # n < d: f* = 0
    ("logistic", dict(dim=5, n=80, sep=1.0, seed=3)),
    ("logistic", dict(dim=5, n=30, sep=4.0, l2=0.1, seed=4)),
    ("noisy-quadratic", dict(dim=7, sigma=0.0, cond=50.0, rotation="haar", seed=1)),
    ("noisy-quadratic", dict(dim=7, sigma=0.0, spectrum="geometric", rotation="none")),
    ("noisy-rosenbrock", dict(dim=4, sigma=0.0)),
]


@pytest.mark.parametrize("name,kw", FULL)
def test_gradient_and_hvp_match_finite_differences(name, kw):
    p = get(name, **kw)
    assert not p.stochastic
    r = np.random.default_rng(0)
    for _ in range(3):
        x = 0.8 * r.standard_normal(p.dim)
        f, g = p.value_and_grad(x, seed=9, step=17)
        assert f == pytest.approx(p.value(x), rel=1e-13, abs=1e-15)
        assert rel(g, fd_grad(p, x)) <= 1e-6
        v = r.standard_normal(p.dim)
        h = 1e-5
        fd_hv = (p.grad(x + h * v) - p.grad(x - h * v)) / (2 * h)
        assert rel(p.hvp(x, v), fd_hv) <= 1e-6


@pytest.mark.parametrize("name,kw", FULL[:4])
def test_optimum_of_data_problems(name, kw):
    p = get(name, **kw)
    xs, fs = p.x_star, p.f_star
    assert abs(p.value(xs) - fs) <= 1e-10
    assert np.linalg.norm(p.grad(xs)) <= 1e-8
    A, b = p.features, p.targets
    if name == "least-squares":
        res = A @ xs - b
        assert fs == pytest.approx(0.5 * res @ res / A.shape[0], rel=1e-12, abs=1e-14)
        if A.shape[0] >= A.shape[1]:
            np.testing.assert_allclose(xs, np.linalg.solve(A.T @ A, A.T @ b), rtol=1e-8)
        else:
            assert fs <= 1e-20
        np.testing.assert_allclose(p.hess(xs), A.T @ A / A.shape[0], rtol=1e-12, atol=1e-14)
    else:
        lam = kw.get("l2", 0.0)
        fun = lambda x: np.logaddexp(0, -b * (A @ x)).mean() + 0.5 * lam * x @ x  # noqa: E731
        x_ref = optimize.minimize(fun, np.zeros(p.dim), method="BFGS", options={"gtol": 1e-10}).x
        np.testing.assert_allclose(xs, x_ref, atol=1e-5)
        assert fun(xs) <= fun(x_ref) + 1e-12
        x = np.linspace(-1, 1, p.dim)
        assert p.value(x) == pytest.approx(fun(x), rel=1e-13)
        assert np.all(np.isin(b, (-1.0, 1.0)))


def test_noisy_problems_agree_with_their_deterministic_versions():
    x = np.linspace(-1, 1, 9)
    for rot in ("none", "haar"):
        kw = dict(dim=9, cond=30.0, L=2.0, spectrum="two-cluster", rotation=rot, seed=5)
        q, nq = get("quadratic", **kw), get("noisy-quadratic", sigma=0.0, **kw)
        assert nq.value(x) == pytest.approx(q.value(x), rel=1e-14)
        np.testing.assert_allclose(nq.grad(x, 3, 4), q.grad(x), rtol=1e-14, atol=1e-15)
        np.testing.assert_allclose(nq.hvp(x, x[::-1]), q.hvp(x, x[::-1]), rtol=1e-13, atol=1e-14)
        np.testing.assert_allclose(np.sort(np.linalg.eigvalsh(nq.matrix())),
                                   np.sort(q.eigenvalues), rtol=1e-10)
    ro, nr = get("rosenbrock", dim=5), get("noisy-rosenbrock", dim=5, sigma=0.3)
    assert nr.stochastic and nr.f_star == 0.0 and np.array_equal(nr.x_star, np.ones(5))
    f, g = nr.value_and_grad(x[:5], seed=2, step=6)
    assert f == pytest.approx(ro.value(x[:5]), rel=1e-14)
    noise = [0.3 * mb.normal(2, 6 * 5 + i) for i in range(5)]
    np.testing.assert_allclose(g - ro.grad(x[:5]), noise, rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------ minibatches -----------

def _batch_rows(n, B, seed, step):
    """The documented drop-last rule, from the pure-Python permutation."""
    nb = n // B
    e, k = divmod(step, nb)
    return [mb.perm_index(n, seed, e, k * B + t) for t in range(B)]


def _np_lsq(A, b, x, rows):
    r = A[rows] @ x - b[rows]
    return 0.5 * np.mean(r * r), A[rows].T @ r / len(rows)


def _np_logistic(A, y, lam, x, rows):
    m = y[rows] * (A[rows] @ x)
    s = 0.5 * (1 - np.tanh(0.5 * m))
    f = np.logaddexp(0, -m).mean() + 0.5 * lam * x @ x
    return f, -(A[rows].T @ (y[rows] * s)) / len(rows) + lam * x


@pytest.mark.parametrize("name", ["least-squares", "logistic"])
def test_epoch_average_of_minibatch_gradients_is_full_gradient(name):
    extra = {"l2": 0.05} if name == "logistic" else {}
    full = get(name, dim=4, n=120, seed=1, **extra)
    mini = get(name, dim=4, n=120, seed=1, batch=30, **extra)
    assert mini.stochastic and not full.stochastic
    x = np.array([0.3, -0.2, 0.5, 1.0])
    g_full = full.grad(x)
    for epoch in (0, 1, 7):
        steps = range(4 * epoch, 4 * epoch + 4)
        gs = [mini.grad(x, seed=5, step=k) for k in steps]
        np.testing.assert_allclose(np.mean(gs, axis=0), g_full, rtol=1e-12, atol=1e-14)
        fs = [mini.value_and_grad(x, seed=5, step=k)[0] for k in steps]
        assert np.mean(fs) == pytest.approx(full.value(x), rel=1e-12)
        rows = sum((_batch_rows(120, 30, 5, k) for k in steps), [])
        assert sorted(rows) == list(range(120))            # the batches partition the data
    assert mini.value(x) == pytest.approx(full.value(x), rel=1e-14)   # VALUE: full batch
    assert not np.allclose(mini.grad(x, seed=5, step=0), mini.grad(x, seed=6, step=0))


@pytest.mark.parametrize("name", ["least-squares", "logistic"])
@pytest.mark.parametrize("n,B", [(100, 30), (50, 1), (37, 37)])
def test_minibatch_gradient_uses_documented_samples(name, n, B):
    lam = 0.1 if name == "logistic" else 0.0
    p = get(name, dim=3, n=n, batch=B, seed=2, **({"l2": lam} if lam else {}))
    A, b = p.features, p.targets
    x = np.array([0.5, -1.0, 0.25])
    for step in (0, 1, 2, 3, 4, 101):
        rows = _batch_rows(n, B, 8, step)
        assert len(set(rows)) == B
        f, g = p.value_and_grad(x, seed=8, step=step)
        fw, gw = _np_lsq(A, b, x, rows) if lam == 0.0 else _np_logistic(A, b, lam, x, rows)
        assert f == pytest.approx(fw, rel=1e-12)
        np.testing.assert_allclose(g, gw, rtol=1e-11, atol=1e-14)


def test_bad_parameters_rejected():
    with pytest.raises(OptbenchInputError, match="batch"):
        get("least-squares", n=10, batch=11)
    with pytest.raises(OptbenchInputError, match="batch"):
        get("logistic", n=10, batch=11)
    with pytest.raises(OptbenchInputError, match="batch"):
        get("least-squares", batch=-1)
    for name in ("noisy-quadratic", "noisy-rosenbrock"):
        with pytest.raises(OptbenchInputError, match="sigma"):
            get(name, sigma=-0.1)
    with pytest.raises(OptbenchInputError, match="l2"):       # separable data, no minimiser
        get("logistic", n=5, dim=10, sep=3.0)
    p = get("logistic", n=5, dim=10, sep=3.0, l2=1e-2)         # regularised: fine
    assert np.linalg.norm(p.grad(p.x_star)) <= 1e-10


def test_sgd_run_on_minibatch_least_squares_is_reproducible():
    p = get("least-squares", dim=5, n=200, batch=10, seed=0)
    opt = optbench.optimizer("sgd", lr=0.05)
    r1 = optbench.run(p, opt, steps=300, seed=3, stop="budget")
    r2 = optbench.run(p, opt, steps=300, seed=3, stop="budget")
    f0 = p.value(r1.x0)
    assert p.value(r1.x) < 0.05 * f0
    assert p.value(r1.x) - p.f_star < 0.1 * (f0 - p.f_star)
    assert np.array_equal(r1.x, r2.x)
    cols = [c for c in r1.trace.columns if c != "time_s"]
    assert r1.trace[cols].equals(r2.trace[cols])
    r3 = optbench.run(p, opt, steps=300, seed=4, stop="budget")
    assert not np.array_equal(r1.x, r3.x)                # another seed, another batch order


# ------------------------------------------------------------------ CUDA simulator --------

_SIM = cuda_mode.CHECK + textwrap.dedent("""
    import json, os, sys
    import numpy as np
    from numba import cuda
    from optbench.kernels import compile as kc
    from optbench.problems import get, minibatch as mb

    out = {}
    cases = [("least-squares", dict(dim=3, n=12, batch=4)), ("least-squares", dict(dim=3, n=9)),
             ("logistic", dict(dim=3, n=10, batch=3, l2=0.1)),
             ("noisy-quadratic", dict(dim=4, sigma=0.5)),
             ("noisy-rosenbrock", dict(dim=3, sigma=0.5))]
    for name, kw in cases:
        p = get(name, **kw)
        fg, val = kc.cuda_device(p.FG), kc.cuda_device(p.VALUE)

        @cuda.jit
        def k(x, g, data, idata, seed, step, res):
            res[0] = fg(x, g, data, idata, seed, step)
            res[1] = val(x, data, idata)

        x = np.linspace(-0.7, 0.9, p.dim)
        rows = []
        for step in (0, 5):
            g, res = np.zeros(p.dim), np.zeros(2)
            k[1, 1](x, g, p.data, p.idata, 3, step, res)
            f_c, g_c = p.value_and_grad(x, seed=3, step=step)
            rows.append(bool(np.allclose(g, g_c, rtol=1e-12, atol=1e-12)
                             and np.isclose(res[0], f_c, rtol=1e-12, atol=1e-12)
                             and np.isclose(res[1], p.value(x), rtol=1e-12, atol=1e-12)))
        out[name + str(sorted(kw))] = all(rows)

    pdev, ndev = kc.cuda_device(mb.perm_index), kc.cuda_device(mb.normal)

    @cuda.jit
    def kp(n, seed, epoch, idx, z):
        for j in range(n):
            idx[j] = pdev(n, seed, epoch, j)
            z[j] = ndev(seed, epoch * n + j)

    idx, z = np.zeros(37, np.int64), np.zeros(37)
    kp[1, 1](37, 2**40 + 3, 6, idx, z)
    pc, nc = kc.cpu(mb.perm_index), kc.cpu(mb.normal)
    out["perm"] = [int(v) for v in idx] == [pc(37, 2**40 + 3, 6, j) for j in range(37)]
    out["normal"] = bool(np.allclose(z, [nc(2**40 + 3, 6 * 37 + j) for j in range(37)],
                                     rtol=1e-12, atol=1e-12))
    print(json.dumps(out))
""")


def test_kernels_on_cuda_simulator_match_cpu():
    env = cuda_mode.env()
    proc = subprocess.run([sys.executable, "-c", _SIM], capture_output=True, text=True,
                          env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(out) == 7
    assert all(out.values()), out
