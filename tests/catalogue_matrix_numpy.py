r"""Plain-NumPy implementations of adahessian, shampoo and soap from their papers' update rules,
with the reference implementation's choices (pytorch-optimizer 4.1.0) that optbench follows
and documents in each family's docstring, for tests/test_catalogue_matrix.py.

Nothing here imports optbench or torch (the weight decay is the NumPy one of
tests/reference_catalogue.py). Matrices are NumPy's: ``np.linalg.eigh`` for the
factors' eigenvectors and inverse roots, ``np.linalg.qr`` for SOAP's refresh, ``np.outer`` and
``@`` for the statistics — LAPACK and BLAS, not optbench's Jacobi and loops. A block is
``(offset, size, shape)`` with shape ``(n,)`` or ``(rows, cols)``.
"""
from __future__ import annotations

import math

import numpy as np

from reference_catalogue import po_decay   # pytorch-optimizer's weight decay, in NumPy

DEFAULTS = {
    "adahessian": dict(lr=0.1, beta1=0.9, beta2=0.999, eps=1e-16, hessian_power=1.0,
                       update_period=1, num_samples=1, weight_decay=0.0, weight_decouple=True,
                       fixed_decay=False),
    "shampoo": dict(lr=1e-3, momentum=0.0, weight_decay=0.0, weight_decouple=False,
                    fixed_decay=False, preconditioning_compute_steps=1, matrix_eps=1e-6,
                    max_precondition_dim=1024),
    "soap": dict(lr=3e-3, beta1=0.95, beta2=0.95, shampoo_beta=None, weight_decay=1e-2,
                 precondition_frequency=10, max_precondition_dim=10000, precondition_1d=False,
                 correct_bias=True, normalize_gradient=False, eps=1e-8),
}


def adahessian(x0, value, grad, hvp, probe, steps, h):
    """Yao et al. (2021), Algorithm 1: D = mean_s u_s ⊙ H u_s every k steps, v ← β₂v + (1−β₂)D²,
    m ← β₁m + (1−β₁)g, x ← x − lr m̂ / (v̂^(p/2) + ε). ``probe(t, s)``: sample s of step t."""
    x = np.array(x0, float)
    m, v = np.zeros_like(x), np.zeros_like(x)
    b1, b2, S, k = h["beta1"], h["beta2"], h["num_samples"], h["update_period"]
    fs = [value(x)]
    for t in range(1, steps + 1):
        g = grad(x)
        if (t - 1) % k == 0:
            D = sum(probe(t, s) * hvp(x, probe(t, s)) for s in range(S)) / S
            v = b2 * v + (1 - b2) * D * D
        x, g = po_decay(x, g, h["lr"], h)
        m = b1 * m + (1 - b1) * g
        vhat = v / (1 - b2 ** t)
        x = x - h["lr"] / (1 - b1 ** t) * m / (vhat ** (h["hessian_power"] / 2) + h["eps"])
        fs.append(value(x))
    return x, np.array(fs)


def _inv_root(P, p):
    lam, V = np.linalg.eigh(P)
    return (V * np.abs(lam) ** (-1.0 / p)) @ V.T


def shampoo(x0, value, grad, blocks, steps, h):
    """Gupta et al. (2018): per block and side P += G̃ G̃ᵀ (resp. G̃ᵀ G̃), from εI; every f
    steps Q = P^(−1/2k); U = Q_L G̃ Q_R; G̃ = lerp(G, last U, μ) with momentum."""
    x = np.array(x0, float)
    f, mx = h["preconditioning_compute_steps"], h["max_precondition_dim"]
    st = []
    for _, _, shp in blocks:
        sides = [s if (mx <= 0 or s <= mx) else None for s in shp]
        st.append({"P": [None if s is None else h["matrix_eps"] * np.eye(s) for s in sides],
                   "Q": [None if s is None else np.zeros((s, s)) for s in sides], "B": None})
    fs = [value(x)]
    for t in range(1, steps + 1):
        g = grad(x)
        if h["weight_decay"] and h["weight_decouple"]:
            x = x * (1.0 - h["weight_decay"] * (1.0 if h["fixed_decay"] else h["lr"]))
        new = x.copy()
        for (o, n, shp), s in zip(blocks, st):
            G = g[o:o + n].reshape(shp)
            if h["momentum"] > 0:
                B = G if s["B"] is None else s["B"]
                G = G + h["momentum"] * (B - G)
            if h["weight_decay"] and not h["weight_decouple"]:
                G = G + h["weight_decay"] * x[o:o + n].reshape(shp)
            M = G.reshape(shp[0], -1)
            k = len(shp)
            for side in range(k):
                if s["P"][side] is None:
                    continue
                s["P"][side] += M @ M.T if side == 0 else M.T @ M
                if t % f == 0:
                    s["Q"][side] = _inv_root(s["P"][side], 2 * k)
            U = M
            if s["Q"][0] is not None:
                U = s["Q"][0] @ U
            if k == 2 and s["Q"][1] is not None:
                U = U @ s["Q"][1]
            s["B"] = U.reshape(shp)
            new[o:o + n] = x[o:o + n] - h["lr"] * U.ravel()
        x = new
        fs.append(value(x))
    return x, np.array(fs)


class _SoapBlock:
    def __init__(self, shp, h):
        self.shp = shp
        rot = (len(shp) == 2 or h["precondition_1d"])
        self.sides = [s if rot and s <= h["max_precondition_dim"] else None for s in shp]
        self.L = [None if s is None else np.zeros((s, s)) for s in self.sides]
        self.Q = [None] * len(shp)
        self.m = np.zeros(shp)
        self.v = np.zeros(shp)

    def project(self, A, back=False):
        """Q_Lᵀ A Q_R (back: Q_L A Q_Rᵀ), unrotated sides as they are."""
        A = A.reshape(self.shp[0], -1)
        if self.Q[0] is not None:
            A = (self.Q[0] if back else self.Q[0].T) @ A
        if len(self.shp) == 2 and self.Q[1] is not None:
            A = A @ (self.Q[1].T if back else self.Q[1])
        return A.reshape(self.shp)

    def stats(self, G, h, s_):
        bs = h["beta2"] if h["shampoo_beta"] is None else h["shampoo_beta"]
        M = G.reshape(self.shp[0], -1)
        for side, L in enumerate(self.L):
            if L is None:
                continue
            self.L[side] = bs * L + (1 - bs) * (M @ M.T if side == 0 else M.T @ M)
            if self.Q[side] is None:      # the first basis: eigenvectors, decreasing
                _, V = np.linalg.eigh(self.L[side])
                self.Q[side] = V[:, ::-1]
            elif s_ % h["precondition_frequency"] == 0:
                P = self.L[side] @ self.Q[side]
                order = np.argsort(-np.einsum("ij,ij->j", self.Q[side], P), kind="stable")
                self.v = np.take(self.v, order, axis=side)
                self.Q[side] = np.linalg.qr(P[:, order])[0]


def soap(x0, value, grad, blocks, steps, h):
    """Vyas et al. (2025), Algorithm 3 with the reference's step-1 start and its shifted count:
    Adam (m in the original coordinates, v in the rotated ones) in the eigenbases of the
    factors' moving averages, refreshed by one power iteration with QR every f steps."""
    x = np.array(x0, float)
    bl = [_SoapBlock(shp, h) for _, _, shp in blocks]
    b1, b2, lr = h["beta1"], h["beta2"], h["lr"]
    fs = [value(x)]
    for t in range(1, steps + 1):
        g = grad(x)
        s_ = t - 1
        if t > 1:
            step = lr * math.sqrt(1 - b2 ** s_) / (1 - b1 ** s_) if h["correct_bias"] else lr
        for (o, n, shp), b in zip(blocks, bl):
            G = g[o:o + n].reshape(shp)
            if t > 1:
                b.m = b1 * b.m + (1 - b1) * G
                b.v = b2 * b.v + (1 - b2) * b.project(G) ** 2
                N = b.project(b.project(b.m) / (np.sqrt(b.v) + h["eps"]), back=True)
                if h["normalize_gradient"]:
                    N = N / (np.sqrt(np.mean(N * N)) + h["eps"])
                x[o:o + n] = (x[o:o + n] - step * N.ravel()) * (1 - h["weight_decay"] * lr)
            b.stats(G, h, s_)
        fs.append(value(x))
    return x, np.array(fs)
