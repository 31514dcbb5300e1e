"""bbob f15–f24 checks that tests/test_bbob.py's shared ones cannot make.

* f23 (Katsuura) is piecewise linear in each z_i with kinks every 2⁻³³: its terms' slopes
  against differences of step 2⁻⁴⁰; its gradient and HVP against differences at h = 1e-12 of
  the function without f_opt (whose rounding would swamp them), at most points (a step may
  cross a kink);
* f20's gradient is continuous across z_i = 0 (``smooth=True``), where z sin√|z| has no
  second derivative;
* f21/f22's peak tables follow the definitions (weights, conditions per peak, locations).
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import optbench as ob
from optbench.problems.bbob.weak_structure import katsuura_term


def test_katsuura_term_slopes():
    """Σ_j |2^j z − [2^j z]|/2^j has slope Σ_j sign(2^j z − [2^j z]) between kinks."""
    h = 2.0 ** -40
    z = np.random.default_rng(0).uniform(-30, 30, 400)
    fd = np.array([(katsuura_term(t + h)[0] - katsuura_term(t - h)[0]) / (2 * h) for t in z])
    slope = np.array([katsuura_term(t)[1] for t in z])
    assert set(np.unique(slope)) <= set(range(-32, 33, 2))
    assert np.mean(np.abs(fd - slope) < 1e-2) >= 0.95


def test_katsuura_gradient_and_hvp_between_kinks():
    h = 1e-12
    for d in (3, 10):
        p = ob.problem("bbob", function=23, instance=2, dim=d)
        fg, value, hvp = p.cpu_kernels()
        data = p.data.copy()
        data[0] = 0.0                                  # fopt would swamp differences at 1e-12
        rng = np.random.default_rng(d)
        good = goodh = 0
        for _ in range(20):
            x = rng.uniform(-4, 4, d)
            v = rng.standard_normal(d)
            v /= np.linalg.norm(v)
            g, hv, gp, gm = np.empty(d), np.empty(d), np.empty(d), np.empty(d)
            fg(x, g, data, p.idata, 0, 0)
            fd = (value(x + h * v, data, p.idata) - value(x - h * v, data, p.idata)) / (2 * h)
            good += abs(fd - g @ v) <= 2e-3 * np.linalg.norm(g)
            hvp(x, v, hv, data, p.idata)
            fg(x + h * v, gp, data, p.idata, 0, 0)
            fg(x - h * v, gm, data, p.idata, 0, 0)
            goodh += np.linalg.norm((gp - gm) / (2 * h) - hv) <= 2e-2 * np.linalg.norm(hv)
        assert good >= 15 and goodh >= 15, (d, good, goodh)


def test_schwefel_gradient_is_continuous_where_z_vanishes():
    """x_0 = 0 gives z_0 = 0 exactly (Λ's first entry is 1); near it the gradient moves like
    √|z_0| (≈ 10.6 √ε here), a kink would jump by O(1)."""
    p = ob.problem("bbob", function=20, instance=3, dim=4)
    x = np.array([0.0, 1.0, -2.0, 3.0])
    g0 = p.grad(x)
    for eps in (1e-6, 1e-9, 1e-12):
        gp = p.grad(x + [eps, 0, 0, 0])
        gm = p.grad(x - [eps, 0, 0, 0])
        assert np.abs(gp - g0).max() <= 20 * math.sqrt(eps)
        assert np.abs(gm - g0).max() <= 20 * math.sqrt(eps)


@pytest.mark.parametrize("k, n, box, cond0", [(21, 101, 5.0, math.sqrt(1000.0)),
                                              (22, 21, 4.9, 1000.0)])
def test_gallagher_peak_tables(k, n, box, cond0):
    d = 5
    p = ob.problem("bbob", function=k, instance=4, dim=d)
    assert p.idata[2] == n
    o = 1 + d
    R = p.data[o:o + d * d].reshape(d, d)
    w = p.data[o + d * d:o + d * d + n]
    Y = p.data[o + d * d + n:o + d * d + n + n * d].reshape(n, d)
    C = p.data[o + d * d + n + n * d:o + d * d + n + 2 * n * d].reshape(n, d)
    assert w[0] == 10.0
    np.testing.assert_allclose(w[1:], 1.1 + 8.0 * np.arange(n - 1) / (n - 2), rtol=1e-15)
    np.testing.assert_allclose(Y[0], R @ p.x_star, rtol=0, atol=1e-14)
    np.testing.assert_allclose(R.T @ Y[1:].T, np.clip(R.T @ Y[1:].T, -box, box), atol=1e-14)
    assert np.abs(p.x_star).max() <= 0.8 * box
    cond = C.max(axis=1) / C.min(axis=1)
    assert cond[0] == pytest.approx(cond0, rel=1e-13)
    np.testing.assert_allclose(np.sort(cond[1:]), 1000.0 ** (np.arange(n - 1) / (n - 2)),
                               rtol=1e-13)
    real = cond > 1.0                               # one peak has condition 1000⁰ = 1
    assert real.sum() == n - 1
    exps = np.log(np.sort(C[real], axis=1)) / np.log(cond[real])[:, None]
    np.testing.assert_allclose(exps, np.tile(np.arange(d) / (d - 1) - 0.5, (n - 1, 1)),
                               atol=1e-12)
