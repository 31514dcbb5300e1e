r"""COCO's 24 bbob functions written in ``jax.numpy`` (float64), for checking optbench's
analytic gradients and HVPs against JAX's autograd (tests/test_bbob_autograd.py).

``value_function(k, d)`` returns ``f(x, data)`` (x of shape (d,)) for function k on the
array optbench's ``setup`` built (``problem.data``; one traced argument, so one compiled
program serves every instance): only the instance's numbers (f_opt, x_opt, rotations stored
row-major, Λ, weights, peak tables) are read from it; the formulas are transcribed from
COCO's C sources (``f_*.c``, ``transform_vars_*.c``, ``transform_obj_*.c``,
``suite_bbob.c``), not from optbench's kernels or their gradients. The transformations are
composed in COCO's order (innermost wrapper last), the boundary penalty
:math:`f_\text{pen}(x) = \sum_i \max(0, |x_i| - 5)^2` where COCO adds it (after the shift by
f_opt, or inside f7's, f21–f24's raw functions; f20's acts on z).

Written for autograd: branches are ``jnp.where`` of expressions that stay finite on the
branch not taken (T_osz, T_asy), rounding (``floor``) has derivative 0, and ``max`` / ``min``
pick the active term, so ``jax.grad`` gives the gradient almost everywhere (points on a
kink, a ridge or a tie are not meant to be evaluated). Divisions stay divisions (:func:`div`);
XLA still rounds differently from COCO's C in places (its exp, the order of its dot products,
fused multiply-adds in its default pipeline): z differs by an ulp or so.

Importing this module switches JAX to float64 (``jax_enable_x64``).
"""
from __future__ import annotations

import math

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

TWO_PI = 2.0 * math.pi           # COCO's coco_two_pi
FOPT, XOPT = 0, 1                # problems/bbob/common.py's layout


# ---------------------------------------------------------------- COCO's transformations
def affine(M, v, b=0.0):
    """COCO's ``transform_vars_affine``: y = M v + b (COCO sums from b_i over j in order; a
    ``dot`` rounds in its own order, within an ulp or so, and compiles in half the time)."""
    return jnp.dot(M, v) + b


def div(a, b):
    """a / b as a true division: XLA turns a division by a constant into a product with its
    reciprocal, which rounds differently from COCO's division (a runtime divisor keeps it)."""
    return a / (b + 0.0 * a)


def t_osz(x):
    """COCO's ``transform_vars_oscillate`` / ``transform_obj_oscillate`` (elementwise)."""
    nz = x != 0.0
    t = div(jnp.log(jnp.where(nz, jnp.abs(x), 1.0)), 0.1)
    pos = jnp.exp(t + 0.49 * (jnp.sin(t) + jnp.sin(0.79 * t))) ** 0.1
    neg = -jnp.exp(t + 0.49 * (jnp.sin(0.55 * t) + jnp.sin(0.31 * t))) ** 0.1
    return jnp.where(x > 0.0, pos, jnp.where(x < 0.0, neg, 0.0))


def t_asy(x, beta):
    """COCO's ``transform_vars_asymmetric``: x_i^(1 + β i/(d−1) √x_i) where x_i > 0."""
    d = x.shape[0]
    c = beta * np.arange(d, dtype=np.float64) / (d - 1.0)
    xs = jnp.where(x > 0.0, x, 1.0)
    return jnp.where(x > 0.0, xs ** (1.0 + c * jnp.sqrt(xs)), x)


def penalty(x):
    """COCO's ``transform_obj_penalize`` sum (without its factor) on [−5, 5]^d."""
    return jnp.sum(jnp.maximum(0.0, jnp.abs(x) - 5.0) ** 2)


def rastrigin(z):
    return 10.0 * (z.shape[0] - jnp.sum(jnp.cos(TWO_PI * z))) + jnp.sum(z * z)


def rosenbrock(z):
    return (100.0 * jnp.sum((z[:-1] ** 2 - z[1:]) ** 2)
            + jnp.sum((z[:-1] - 1.0) ** 2))


W_A = np.array([0.5 ** k for k in range(12)])
W_B = np.array([3.0 ** k for k in range(12)])
W_F0 = float(np.sum(W_A * np.cos(TWO_PI * W_B * 0.5)))


def weierstrass(z):
    """10 (Σ_i Σ_k a_k cos(2π (z_i + ½) b_k) / d − f0)³, a_k = ½^k, b_k = 3^k, 12 terms."""
    s = jnp.sum(jnp.cos(TWO_PI * (z[:, None] + 0.5) * W_B) * W_A)
    return 10.0 * (div(s, z.shape[0]) - W_F0) ** 3


def schaffers(z):
    s = z[:-1] ** 2 + z[1:] ** 2
    terms = s ** 0.25 * (1.0 + jnp.sin(50.0 * s ** 0.1) ** 2)
    return div(jnp.sum(terms), z.shape[0] - 1.0) ** 2


def katsuura(z):
    """10/d² (Π_i (1 + (i+1) Σ_{j=1}^{32} |2^j z_i − round(2^j z_i)| / 2^j)^(10/d^1.2) − 1),
    COCO's round(v) = floor(v + ½)."""
    d = z.shape[0]
    p = 2.0 ** np.arange(1, 33)
    pz = z[:, None] * p
    s = jnp.sum(jnp.abs(pz - jnp.floor(pz + 0.5)) / p, axis=1)
    prod = jnp.prod(1.0 + (np.arange(d) + 1.0) * s)
    return 10.0 / d / d * (-1.0 + prod ** (10.0 / d ** 1.2))


# ---------------------------------------------------------------- the 24 functions
class _Layout:
    """The instance's numbers in problems/bbob/common.py's layout: f_opt, x_opt, then the
    function's own arrays in order (:meth:`take`, row-major)."""

    def __init__(self, data, d):
        self.data, self.pos = data, XOPT + d
        self.fopt, self.xopt = data[FOPT], data[XOPT:XOPT + d]

    def take(self, *shape):
        n = int(np.prod(shape))
        a = self.data[self.pos:self.pos + n].reshape(shape)
        self.pos += n
        return a


def value_function(k: int, d: int, n_peaks: int = 0):
    """COCO's bbob function k in dimension d as a JAX function ``f(x, data)`` of x (shape
    (d,)) and optbench's instance array ``data`` (``problem.data``; f21/f22 also need the
    number of peaks, ``problem.idata[2]``). One function serves every instance, so ``jax.jit``
    compiles it once per dimension."""
    i = np.arange(d)
    body = _BODIES.get(k)
    if body is None:
        raise ValueError(f"bbob function {k} is not transcribed")
    return lambda x, data: body(x, _Layout(data, d), d, i, n_peaks)


def _f1(x, L, d, i, n):
    return jnp.sum((x - L.xopt) ** 2) + L.fopt


def _f2(x, L, d, i, n):                                 # ellipsoid, separable
    w = L.take(d)
    return jnp.sum(w * t_osz(x - L.xopt) ** 2) + L.fopt


def _f10_f11(x, L, d, i, n):                            # ellipsoid rotated, discus
    R, w = L.take(d, d), L.take(d)
    return jnp.sum(w * t_osz(affine(R, x - L.xopt)) ** 2) + L.fopt


def _f3(x, L, d, i, n):
    lam = L.take(d)
    return rastrigin(lam * t_asy(t_osz(x - L.xopt), 0.2)) + L.fopt


def _f4(x, L, d, i, n):                                 # Büche-Rastrigin
    s = L.take(d)
    u = t_osz(x - L.xopt)
    z = jnp.where((u > 0.0) & (i % 2 == 0), 10.0 * s, s) * u
    return rastrigin(z) + L.fopt + 100.0 * penalty(x)


def _f5(x, L, d, i, n):                                 # x_opt here is the corner 5 sign(s)
    s = L.take(d)
    return jnp.sum(5.0 * jnp.abs(s) - s * jnp.where(x * L.xopt < 25.0, x, L.xopt)) + L.fopt


def _f6(x, L, d, i, n):                                 # attractive sector
    M = L.take(d, d)
    z = affine(M, x - L.xopt)
    s = jnp.sum(jnp.where(z * L.xopt > 0.0, 100.0 * 100.0, 1.0) * z * z)
    return t_osz(s) ** 0.9 + L.fopt


def _f7(x, L, d, i, n):                                 # step ellipsoid
    Q, R, w = L.take(d, d), L.take(d, d), L.take(d)
    zh = affine(Q, x - L.xopt)
    zt = jnp.where(jnp.abs(zh) > 0.5, jnp.floor(zh + 0.5), div(jnp.floor(10.0 * zh + 0.5), 10.0))
    z = affine(R, zt)
    return 0.1 * jnp.maximum(1.0e-4 * jnp.abs(zh[0]), jnp.sum(w * z * z)) + penalty(x) + L.fopt


def _f8(x, L, d, i, n):
    c = L.take(1)[0]                                    # max(1, √d/8)
    return rosenbrock(c * (x - L.xopt) - (-1.0)) + L.fopt


def _f9(x, L, d, i, n):
    M = L.take(d, d)                                    # max(1, √d/8) R
    return rosenbrock(affine(M, x, 0.5)) + L.fopt


def _f12(x, L, d, i, n):                                # bent cigar
    R, w = L.take(d, d), L.take(d)
    return jnp.sum(w * affine(R, t_asy(affine(R, x - L.xopt), 0.5)) ** 2) + L.fopt


def _f13(x, L, d, i, n):                                # sharp ridge
    z = affine(L.take(d, d), x - L.xopt)
    return z[0] ** 2 + 100.0 * jnp.sqrt(jnp.sum(z[1:] ** 2)) + L.fopt


def _f14(x, L, d, i, n):                                # different powers
    R, p = L.take(d, d), L.take(d)
    return jnp.sqrt(jnp.sum(jnp.abs(affine(R, x - L.xopt)) ** p)) + L.fopt


_CHAIN = {15: (lambda u: t_asy(t_osz(u), 0.2), rastrigin, lambda d: 0.0),
          16: (t_osz, weierstrass, lambda d: 10.0 / d),
          17: (lambda u: t_asy(u, 0.5), schaffers, lambda d: 10.0),
          18: (lambda u: t_asy(u, 0.5), schaffers, lambda d: 10.0)}


def _chain(k):
    """f15–f18: h(M T(R(x − x_opt))) + c f_pen(x)."""
    inner, outer, factor = _CHAIN[k]

    def f(x, L, d, i, n):
        R, M = L.take(d, d), L.take(d, d)
        return outer(affine(M, inner(affine(R, x - L.xopt)))) + L.fopt + factor(d) * penalty(x)
    return f


def _f19(x, L, d, i, n):                                # Griewank-Rosenbrock F8F2
    z = affine(L.take(d, d), x) - (-0.5)                # affine (b = 0), then shift by −½
    c1 = z[:-1] * z[:-1] - z[1:]
    s = 100.0 * c1 * c1 + (1.0 - z[:-1]) ** 2
    return 10.0 + div(10.0 * jnp.sum(div(s, 4000.0) - jnp.cos(s)), d - 1.0) + L.fopt


def _f20(x, L, d, i, n):                                # Schwefel x sin(x)
    lam = L.take(d)
    two_abs = 2.0 * jnp.abs(L.xopt)
    xh = 2.0 * jnp.where(L.xopt < 0.0, -x, x)           # x_hat's signs are x_opt's
    zh = xh.at[1:].add(0.25 * (xh[:-1] - two_abs[:-1]))
    z = 100.0 * (lam * (zh - two_abs) + two_abs)
    raw = (jnp.sum(jnp.maximum(0.0, jnp.abs(z) - 500.0) ** 2) + 418.9828872724339
           - div(jnp.sum(z * jnp.sin(jnp.sqrt(jnp.abs(z)))), d))
    return 0.01 * raw + L.fopt


def _f21_f22(x, L, d, i, n):                            # Gallagher, n peaks
    R, w, Y, C = L.take(d, d), L.take(n), L.take(n, d), L.take(n, d)
    y = affine(R, x)
    peaks = w * jnp.exp(-0.5 / d * jnp.sum(C * (y - Y) ** 2, axis=1))
    return t_osz(10.0 - jnp.maximum(0.0, jnp.max(peaks))) ** 2 + penalty(x) + L.fopt


def _f23_and_z(x, L, d, i, n):
    z = affine(L.take(d, d), x - L.xopt)
    return katsuura(z) + L.fopt + penalty(x), z


def _f23(x, L, d, i, n):
    return _f23_and_z(x, L, d, i, n)[0]


def katsuura_value_and_z(d: int):
    """f23 as ``f(x, data) -> (value, z)``: Katsuura's kinks are 2^-33 apart in z, so a test
    that compares gradients needs the z this very computation used (see the test)."""
    return lambda x, data: _f23_and_z(x, _Layout(data, d), d, None, 0)


def _f24(x, L, d, i, n):                                # Lunacek bi-Rastrigin
    R, P = L.take(d, d), L.take(d, d)                   # P = Λ^100 Q
    mu0, s = 2.5, 1.0 - 0.5 / (math.sqrt(d + 20.0) - 4.1)
    mu1 = -math.sqrt((mu0 * mu0 - 1.0) / s)
    xh = 2.0 * jnp.where(L.xopt < 0.0, -x, x)
    z = affine(R, affine(P, xh - mu0))
    quad = jnp.minimum(jnp.sum((xh - mu0) ** 2), d + s * jnp.sum((xh - mu1) ** 2))
    return quad + 10.0 * (d - jnp.sum(jnp.cos(TWO_PI * z))) + 1e4 * penalty(x) + L.fopt


_BODIES = {1: _f1, 2: _f2, 3: _f3, 4: _f4, 5: _f5, 6: _f6, 7: _f7, 8: _f8, 9: _f9,
           10: _f10_f11, 11: _f10_f11, 12: _f12, 13: _f13, 14: _f14,
           **{k: _chain(k) for k in _CHAIN}, 19: _f19, 20: _f20, 21: _f21_f22,
           22: _f21_f22, 23: _f23, 24: _f24}
