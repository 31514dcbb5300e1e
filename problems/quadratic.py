r"""Ill-conditioned quadratics :math:`f(x) = \tfrac12 x^\top A x`, axis-aligned or rotated.

The spectrum of A lies in :math:`[L/\kappa, L]` with shape ``geometric`` (log-spaced),
``uniform`` (linearly spaced) or ``two-cluster`` (90 % of the eigenvalues at the low end,
10 % at the top, as in DeepOBS's noisy quadratic). ``rotation="haar"`` uses
:math:`A = Q^\top \mathrm{diag}(\lambda) Q` with Q Haar-random orthogonal from ``seed``.

Source: Nesterov, *Introductory Lectures on Convex Optimization* (2004), §2.1; the rates of
docs/reference.md ("Convergence rates on quadratics") apply. Minimum 0 at the origin.

Cost: diagonal O(d) time and memory; rotated O(d²) time and memory per gradient.
"""
from __future__ import annotations

import numpy as np

from optbench.kernels.compile import kernel
from optbench.params import C, F, I

from .base import Problem, register, rng


@kernel
def row_dot(a, off, v, n):
    """Σ_j a[off + j] v[j] with four interleaved partial sums (fixed order: deterministic)."""
    r = a[off:off + n]          # a view: indices from range() need no negative-index check
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    s3 = 0.0
    m = n - n % 4
    for j in range(0, m, 4):
        s0 += r[j] * v[j]
        s1 += r[j + 1] * v[j + 1]
        s2 += r[j + 2] * v[j + 2]
        s3 += r[j + 3] * v[j + 3]
    for j in range(m, n):
        s0 += r[j] * v[j]
    return (s0 + s1) + (s2 + s3)


@kernel
def sym_matvec(a, off, v, out, n):
    """out = A v for the symmetric n×n matrix A stored row-major in a[off:off + n²].

    Column-oriented (out += A[:, j] v_j, row j standing for column j), eight columns per pass
    over ``out``: each lane i is an independent sum, so the compiler vectorises over i without
    reordering any floating-point sum — results are bit-identical on every machine and the
    speed is that of streaming A once (measured faster than single-thread BLAS dgemv)."""
    for i in range(n):
        out[i] = 0.0
    m = n - n % 8
    for j in range(0, m, 8):
        o = off + j * n
        a0 = a[o:o + n]
        a1 = a[o + n:o + 2 * n]
        a2 = a[o + 2 * n:o + 3 * n]
        a3 = a[o + 3 * n:o + 4 * n]
        a4 = a[o + 4 * n:o + 5 * n]
        a5 = a[o + 5 * n:o + 6 * n]
        a6 = a[o + 6 * n:o + 7 * n]
        a7 = a[o + 7 * n:o + 8 * n]
        v0 = v[j]
        v1 = v[j + 1]
        v2 = v[j + 2]
        v3 = v[j + 3]
        v4 = v[j + 4]
        v5 = v[j + 5]
        v6 = v[j + 6]
        v7 = v[j + 7]
        for i in range(n):
            out[i] += ((a0[i] * v0 + a1[i] * v1) + (a2[i] * v2 + a3[i] * v3)) \
                + ((a4[i] * v4 + a5[i] * v5) + (a6[i] * v6 + a7[i] * v7))
    for j in range(m, n):
        r = a[off + j * n:off + j * n + n]
        vj = v[j]
        for i in range(n):
            out[i] += r[i] * vj


@kernel
def quad_fg(x, g, data, idata, seed, step):
    n = x.shape[0]
    f = 0.0
    if idata[0] == 0:
        for i in range(n):
            gi = data[i] * x[i]
            g[i] = gi
            f += 0.5 * gi * x[i]
    else:
        sym_matvec(data, n, x, g, n)
        for i in range(n):
            f += 0.5 * g[i] * x[i]
    return f


def quad_value(x, data, idata):
    n = x.shape[0]
    f = 0.0
    if idata[0] == 0:
        for i in range(n):
            f += 0.5 * data[i] * x[i] * x[i]
    else:
        for i in range(n):
            f += 0.5 * row_dot(data, n + i * n, x, n) * x[i]
    return f


def quad_hvp(x, v, out, data, idata):
    n = x.shape[0]
    if idata[0] == 0:
        for i in range(n):
            out[i] = data[i] * v[i]
    else:
        sym_matvec(data, n, v, out, n)


def quad_efg(xi, data, idata, i):
    gi = data[i] * xi
    return 0.5 * gi * xi, gi


def spectrum(dim: int, cond: float, L: float, shape: str) -> np.ndarray:
    """Eigenvalues in [L/cond, L], largest last."""
    mu = L / cond
    if dim == 1:
        return np.array([L])
    if shape == "geometric":
        return mu * cond ** (np.arange(dim) / (dim - 1))
    if shape == "uniform":
        return np.linspace(mu, L, dim)
    # two-cluster: 90 % at the bottom, 10 % at the top (at least one each)
    n_top = max(1, int(round(0.1 * dim)))
    lam = np.full(dim, mu)
    lam[dim - n_top:] = L
    return lam


def haar_orthogonal(dim: int, seed: int) -> np.ndarray:
    """Haar-distributed orthogonal matrix (QR of a Gaussian matrix with sign fix)."""
    z = rng(seed, 2).standard_normal((dim, dim))
    q, r = np.linalg.qr(z)
    return q * np.sign(np.diag(r))


@register
class Quadratic(Problem):
    name = "quadratic"
    family = "convex"
    formula = r"f(x) = \tfrac12 x^\top A x,\ \operatorname{spec}(A) \subset [L/\kappa, L]"
    source = "Nesterov (2004), Introductory Lectures on Convex Optimization, §2.1"
    params = {
        "dim": I(2, 1, doc="dimension d"),
        "cond": F(100.0, 1.0, 1e12, doc="condition number κ = L/μ"),
        "L": F(1.0, 0.0, lo_open=True, doc="largest eigenvalue"),
        "spectrum": C("geometric", ("geometric", "uniform", "two-cluster")),
        "rotation": C("none", ("none", "haar")),
        "seed": I(0, 0, doc="seed of the rotation"),
    }
    FG = staticmethod(quad_fg)
    VALUE = staticmethod(quad_value)
    HVP = staticmethod(quad_hvp)
    EFG = staticmethod(quad_efg)

    def elementwise(self):
        return self.p["rotation"] == "none" and super().elementwise()

    def data_bytes(self):
        d = self.p["dim"]
        if self.p["rotation"] == "none":
            return 16 * d                        # the spectrum and its copy in data
        return 34 * d * d      # 4.25 d² floats at the peak of build (Gaussian, Q, R, A)

    def build(self):
        d, p = self.p["dim"], self.p
        self.eigenvalues = spectrum(d, p["cond"], p["L"], p["spectrum"])
        if p["rotation"] == "none":
            return self.eigenvalues.copy(), np.array([0]), d
        if d > 20_000:
            from optbench.validate import OptbenchInputError
            raise OptbenchInputError(f"problem quadratic: rotated needs d² memory; dim {d} > 20000")
        q = haar_orthogonal(d, p["seed"])
        A = (q.T * self.eigenvalues) @ q
        A = 0.5 * (A + A.T)
        return np.concatenate([self.eigenvalues, A.ravel()]), np.array([1]), d

    def matrix(self) -> np.ndarray:
        d = self.dim
        if self.idata[0] == 0:
            return np.diag(self.data[:d])
        return self.data[d:d + d * d].reshape(d, d).copy()

    def x_standard(self):
        return np.ones(self.dim)

    def init_box(self):
        return (-1.0, 1.0)

    @property
    def f_star(self):
        return 0.0

    @property
    def x_star(self):
        return np.zeros(self.dim)

    def cost(self):
        if self.p["rotation"] == "none":
            return "O(d) time, O(d) memory"
        return "O(d^2) time, O(d^2) memory"
