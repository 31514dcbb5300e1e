r"""Shampoo: a Kronecker-factored full-matrix AdaGrad — one preconditioner per dimension of
each parameter block.

For a block with gradient G (a vector g of length n, order k = 1, or an r × c matrix,
order k = 2), at 1-based step t:

.. math::

    \tilde G &= \mathrm{lerp}(G, B, \mu) \quad (\mu > 0;\ B = G \text{ at } t = 1) \\
    P_1 &\leftarrow P_1 + \tilde G \tilde G^\top,\qquad P_2 \leftarrow P_2 + \tilde G^\top \tilde G
        \qquad (P_i = \epsilon I \text{ at the start}) \\
    \text{if } t \bmod f = 0:&\quad Q_i = P_i^{-1/(2k)} \\
    U &= Q_1 \tilde G\ (k = 1), \qquad U = Q_1 \tilde G\, Q_2\ (k = 2) \\
    B &\leftarrow U, \qquad \theta \leftarrow \theta - \eta\, U

(f = ``preconditioning_compute_steps``; Q_i = 0 until the first t with t mod f = 0, so with
f > 1 the first f − 1 steps do not move, as in the reference; ε = ``matrix_eps``; B, the
momentum buffer, holds the last *preconditioned* update). ``weight_decay`` λ as
pytorch-optimizer's, after the momentum blend: coupled G̃ ← G̃ + λθ (the default), decoupled
θ ← θ(1 − ηλ) with ``weight_decouple``, θ(1 − λ) with ``fixed_decay``.

The inverse roots come from a symmetric eigendecomposition (:mod:`optbench.optimizers.eigen`:
cyclic Jacobi, warm-started from the last eigenvectors, so a step usually costs one or two
sweeps) where the reference takes an SVD; for a positive semidefinite P both give
V diag(λ^(−1/2k)) Vᵀ, unique whatever the eigenvectors of repeated eigenvalues, and the two
agree to rounding. Cost per block: O(s³) per compute for each side s, memory 3 s² per side.

Reference: pytorch-optimizer 4.1's ``Shampoo`` (defaults lr 1e-3, momentum 0,
weight_decay 0 coupled, preconditioning_compute_steps 1, matrix_eps 1e-6). One departure,
an option: ``max_precondition_dim`` (default 1024; 0: none) leaves a dimension longer than it
unpreconditioned (Q = I), as SOAP and Distributed Shampoo do — the reference preconditions
every dimension, which for a vector of 10⁵ coordinates is a 10⁵ × 10⁵ matrix; blocks within
the limit are untouched by it. Gupta, Koren & Singer, "Shampoo: Preconditioned Stochastic
Tensor Optimization" (ICML 2018), Algorithm 1 (order 2) and 2.
"""
from __future__ import annotations

import math

from optbench.kernels.compile import kernel
from optbench.kernels.blocks import B_COLS, B_NDIM, B_OFF, B_ROWS, B_SIZE
from optbench.kernels.slots import hyper_slots, scalar_slots
from optbench.params import B, F, I

from .base import register
from .decay_options import FIXED_DECAY, weight_decouple
from .eigen import JACOBI_SWEEPS, gemm, inverse_root, set_identity, warm_eigh
from .matrix import lerp
from .phased import DONE, PhasedOptimizer

HY = hyper_slots("momentum", "weight_decay", "weight_decouple", "fixed_decay",
                 "preconditioning_compute_steps", "matrix_eps", "max_precondition_dim")
SC = scalar_slots()
BUF, GT, TMP = 0, 1, 2       # rows: momentum buffer (then U), G̃, G̃'s left product
N_ROWS = 3                   # then the flat matrix area: per preconditioned side P, Q, Vᵀ;
                             # at its end 2 s_max² scratch for the eigendecomposition


def block_sides(nd, rows, cols):
    """The sides (dimensions) of a block: (n,) for a vector, (rows, cols) for a matrix."""
    return (rows,) if nd == 1 else (rows, cols)


@kernel
def side_used(s, max_dim):
    return max_dim <= 0 or s <= max_dim


def matrix_floats(blocks, max_dim) -> tuple[int, int]:
    """(floats of the P, Q, V matrices of every preconditioned side, the largest side)."""
    total = big = 0
    for _, _, r, c, nd in blocks.tolist():
        for s in block_sides(nd, r, c):
            if side_used(s, max_dim):
                total += 3 * s * s
                big = max(big, s)
    return total, big


def shampoo_step(x, g, st, sc, hy, blk, wk, stage):
    d = x.shape[0]
    t = int(sc[SC.step])
    lr = sc[SC.lr]
    mu = hy[HY.momentum]
    wd = hy[HY.weight_decay]
    decouple = hy[HY.weight_decouple] != 0.0
    max_dim = int(hy[HY.max_precondition_dim])
    compute = t % int(hy[HY.preconditioning_compute_steps]) == 0
    flat = st.reshape(st.shape[0] * d)
    # the scratch lies after every block's matrices
    scratch = N_ROWS * d
    for b in range(blk.shape[0]):
        nd, r, c = blk[b, B_NDIM], blk[b, B_ROWS], blk[b, B_COLS]
        for side in range(nd):
            s = r if side == 0 else c
            if side_used(s, max_dim):
                scratch += 3 * s * s
    shrink = 1.0
    if decouple and wd != 0.0:
        shrink = 1.0 - wd * (1.0 if hy[HY.fixed_decay] != 0.0 else lr)
    mo = N_ROWS * d
    for b in range(blk.shape[0]):
        o, n = blk[b, B_OFF], blk[b, B_SIZE]
        nd, r, c = blk[b, B_NDIM], blk[b, B_ROWS], blk[b, B_COLS]
        order = 1 if nd == 1 else 2
        for k in range(o, o + n):          # G̃: momentum blend, coupled decay
            gk = g[k]
            if mu > 0.0:
                gk = lerp(gk, g[k] if t == 1 else st[BUF, k], mu)
            if not decouple:
                gk += wd * x[k]
            st[GT, k] = gk
            st[BUF, k] = gk                # U starts as G̃ (a side left out: Q = I)
        for side in range(order):
            s = r if side == 0 else c
            if not side_used(s, max_dim):
                continue
            p_o, q_o, v_o = mo, mo + s * s, mo + 2 * s * s
            mo += 3 * s * s
            if t == 1:
                set_identity(flat, v_o, s)
                for k in range(s * s):
                    flat[p_o + k] = flat[v_o + k] * hy[HY.matrix_eps]
                    flat[q_o + k] = 0.0
            # statistics of G̃ (not of U): P_1 += G̃ G̃ᵀ, P_2 += G̃ᵀ G̃
            for i in range(s):
                for j in range(i, s):
                    acc = 0.0
                    if side == 0:                 # G̃ as r × c (a vector: c = 1)
                        for m in range(c):
                            acc += st[GT, o + i * c + m] * st[GT, o + j * c + m]
                    else:
                        for m in range(r):
                            acc += st[GT, o + m * c + i] * st[GT, o + m * c + j]
                    flat[p_o + i * s + j] += acc
                    if j != i:
                        flat[p_o + j * s + i] += acc
            if compute:
                warm_eigh(flat, p_o, s, flat, v_o, flat, scratch, JACOBI_SWEEPS)
                inverse_root(flat, v_o, flat, scratch, s + 1, s, 2.0 * order, flat, q_o)
            # U ← Q U (side 0) or U ← U Q (side 1), through the TMP row
            if side == 0:
                gemm(flat, q_o, s, 1, st[BUF], o, c, 1, s, s, c, st[TMP], o)
            else:
                gemm(st[BUF], o, c, 1, flat, q_o, s, 1, r, c, c, st[TMP], o)
            for k in range(o, o + n):
                st[BUF, k] = st[TMP, k]
        for k in range(o, o + n):
            x[k] = x[k] * shrink + -lr * st[BUF, k]
    return DONE


@register
class Shampoo(PhasedOptimizer):
    name = "shampoo"
    family = "matrix"
    params = {"lr": F(1e-3, 0.0, lo_open=True),
              "momentum": F(0.0, 0.0, 1.0, doc="blend of G with the last update (lerp)"),
              "weight_decay": F(0.0, 0.0), "weight_decouple": weight_decouple(False),
              "fixed_decay": FIXED_DECAY,
              "preconditioning_compute_steps": I(1, 1, doc="steps between inverse roots (f)"),
              "matrix_eps": F(1e-6, 0.0, doc="ε: the factors start as εI"),
              "max_precondition_dim": I(1024, 0, doc="longer sides are not preconditioned "
                                                     "(0: no limit)")}
    slots = HY
    STEP = staticmethod(shampoo_step)

    def n_state(self):
        return N_ROWS

    def state_rows(self, blocks):
        d = int(blocks[:, B_SIZE].sum())
        mats, big = matrix_floats(blocks, int(self.hyper["max_precondition_dim"]))
        return N_ROWS + math.ceil((mats + 2 * big * big) / d)

    @property
    def weight_decay(self):
        return (0.0, 0.0)     # after the momentum blend, in the step
