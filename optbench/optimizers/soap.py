r"""SOAP (ShampoO with Adam in the Preconditioner's eigenbasis): Adam run in the slowly
updated eigenbases of Shampoo's two factors.

Per block with gradient G (an r × c matrix; a vector only with ``precondition_1d``, else its
side is left as is), the factors L ≈ E[G Gᵀ] and R ≈ E[Gᵀ G] and their eigenbases Q_L, Q_R
(columns by decreasing eigenvalue). Step 1 only starts them:
L = (1 − β_s) G₁G₁ᵀ, R likewise, Q = eigenvectors (no step is taken). Then at step t ≥ 2,
with s = t − 1:

.. math::

    G' &= Q_L^\top G\, Q_R \\
    m &\leftarrow \mathrm{lerp}(m, G, 1-\beta_1), \qquad
    v \leftarrow \mathrm{lerp}(v, G'^2, 1-\beta_2) \\
    N &= Q_L \big( (Q_L^\top m\, Q_R) / (\sqrt v + \epsilon) \big) Q_R^\top \\
    \theta &\leftarrow \theta - \eta \tfrac{\sqrt{1-\beta_2^{s}}}{1-\beta_1^{s}} N,\qquad
    \theta \leftarrow \theta(1 - \eta\lambda) \\
    L &\leftarrow \mathrm{lerp}(L, G G^\top, 1-\beta_s),\quad R \leftarrow \mathrm{lerp}(R, G^\top G, 1-\beta_s)

and every ``precondition_frequency`` values of s one step of power iteration with QR
refreshes each basis: the columns of L Q_L ordered by the estimated eigenvalues
diag(Q_Lᵀ L Q_L), decreasing, Q_L ← Q of their QR, and v's entries follow the reordering.
(m is kept in the original coordinates; ``correct_bias`` off: step η; ``normalize_gradient``:
N / (RMS(N) + ε); β_s = ``shampoo_beta``, None: β₂.) A side longer than
``max_precondition_dim`` is not rotated.

Reference: pytorch-optimizer 4.1's ``SOAP`` (defaults lr 3e-3, betas (0.95, 0.95),
weight_decay 0.01 decoupled, precondition_frequency 10, max_precondition_dim 10000,
precondition_1d False, correct_bias True, eps 1e-8; ``merge_dims`` is not offered: the zoo's
blocks have at most two sides). Its QR runs in float32 whatever the parameters' dtype (a GPU
choice): optbench's in float64, so the two agree to float32 precision, and to rounding when the
reference's QR runs in float64 (tests). The first eigendecomposition (:mod:`eigen`: Jacobi)
is unique only where the first factors have distinct eigenvalues: a factor of rank below its
side (a vector's G Gᵀ, a wide block's) has a null space whose basis any eigensolver picks its
own way, and runs then differ from the reference's by more than rounding, as two LAPACK
builds would. Vyas, Morwani, Zhao, Shapira, Brandfonbrener, Janson & Kakade, "SOAP: Improving
and Stabilizing Shampoo using Adam" (ICLR 2025), Algorithm 3; github.com/nikhilvyas/SOAP.
"""
from __future__ import annotations

import math

import numpy as np

from optbench.kernels.blocks import B_COLS, B_NDIM, B_OFF, B_ROWS, B_SIZE
from optbench.kernels.compile import kernel
from optbench.kernels.slots import hyper_slots, scalar_slots
from optbench.params import B, F, I

from .base import register
from .eigen import JACOBI_SWEEPS, gemm, jacobi_eigh, qr_columns, set_identity, \
    sort_rows_desc
from .matrix import lerp
from .phased import DONE, PhasedOptimizer

HY = hyper_slots("lr", "beta1", "beta2", "shampoo_beta", "weight_decay",
                 "precondition_frequency", "max_precondition_dim", "precondition_1d",
                 "correct_bias", "normalize_gradient", "eps")
SC = scalar_slots()
M, V, W1, W2 = 0, 1, 2, 3    # rows: m, v, two work rows; then per rotated side L (or R) and
N_ROWS = 4                   # its Q, and at the end 3 s² + 2 s scratch (s: longest side)


@kernel
def rotated(nd, side_len, hy):
    """Whether a side of a block is rotated (vectors only with ``precondition_1d``)."""
    if nd == 1 and hy[HY.precondition_1d] == 0.0:
        return False
    return side_len <= int(hy[HY.max_precondition_dim])


@kernel
def rotate(src, o, r, c, qa, qb, use_a, use_b, tmp, dst, forward, flat):
    """dst[o:o+r*c] = Q_aᵀ S Q_b (forward) or Q_a S Q_bᵀ (back) for S = src[o:] (r × c),
    a side not rotated (``use_*`` False) left as is. ``tmp`` is scratch, distinct from both;
    ``dst`` may be ``src``."""
    if use_a:
        if forward:
            gemm(flat, qa, 1, r, src, o, c, 1, r, r, c, tmp, o)
        else:
            gemm(flat, qa, r, 1, src, o, c, 1, r, r, c, tmp, o)
        if use_b:
            if forward:
                gemm(tmp, o, c, 1, flat, qb, c, 1, r, c, c, dst, o)
            else:
                gemm(tmp, o, c, 1, flat, qb, 1, c, r, c, c, dst, o)
            return
    elif use_b:
        if forward:
            gemm(src, o, c, 1, flat, qb, c, 1, r, c, c, tmp, o)
        else:
            gemm(src, o, c, 1, flat, qb, 1, c, r, c, c, tmp, o)
    else:
        for k in range(o, o + r * c):
            tmp[k] = src[k]
    for k in range(o, o + r * c):
        dst[k] = tmp[k]


@kernel
def accumulate_factor(g, o, r, c, side, fm, fo, w):
    """L ← lerp(L, G Gᵀ, w) (side 0) or R ← lerp(R, Gᵀ G, w) (side 1) at ``fm[fo:]``."""
    s = r if side == 0 else c
    for i in range(s):
        for j in range(s):
            acc = 0.0
            if side == 0:
                for k in range(c):
                    acc += g[o + i * c + k] * g[o + j * c + k]
            else:
                for k in range(r):
                    acc += g[o + k * c + i] * g[o + k * c + j]
            fm[fo + i * s + j] = lerp(fm[fo + i * s + j], acc, w)


@kernel
def first_basis(flat, fo, qo, s, sc_o):
    """Q = eigenvectors of the factor (+ 1e-30 I, as the reference), decreasing eigenvalues."""
    vt = sc_o + s * s
    for k in range(s * s):
        flat[sc_o + k] = flat[fo + k]
    for i in range(s):
        flat[sc_o + i * s + i] += 1e-30
    set_identity(flat, vt, s)
    jacobi_eigh(flat, sc_o, s, flat, vt, JACOBI_SWEEPS)
    sort_rows_desc(flat, vt, flat, sc_o, s + 1, s)
    for i in range(s):                   # Q's columns: the eigenvectors (Vᵀ's rows)
        for j in range(s):
            flat[qo + i * s + j] = flat[vt + j * s + i]


@kernel
def refresh_basis(flat, fo, qo, s, sc_o, v, tmp, o, r, c, side):
    """One power-iteration step with QR: Q ← qr((F Q)[:, order]) with ``order`` the estimated
    eigenvalues diag(Qᵀ F Q) decreasing; v (r × c at ``v[o:]``) reordered along the side."""
    mp, est, idx = sc_o, sc_o + s * s, sc_o + s * s + s
    gemm(flat, fo, s, 1, flat, qo, s, 1, s, s, s, flat, mp)       # F Q
    for j in range(s):
        e = 0.0
        for i in range(s):
            e += flat[qo + i * s + j] * flat[mp + i * s + j]
        flat[est + j] = e
        flat[idx + j] = j
    for i in range(s):                                            # argsort, decreasing
        best = i
        for j in range(i + 1, s):
            if flat[est + j] > flat[est + best]:
                best = j
        e, k = flat[est + i], flat[idx + i]
        flat[est + i], flat[idx + i] = flat[est + best], flat[idx + best]
        flat[est + best], flat[idx + best] = e, k
    for i in range(s):
        for j in range(s):
            flat[qo + i * s + j] = flat[mp + i * s + int(flat[idx + j])]
    qr_columns(flat, qo, s)
    for i in range(r):
        for j in range(c):
            src = (int(flat[idx + i]) * c + j) if side == 0 else (i * c + int(flat[idx + j]))
            tmp[o + i * c + j] = v[o + src]
    for k in range(o, o + r * c):
        v[k] = tmp[k]


def soap_step(x, g, st, sc, hy, blk, wk, stage):
    d = x.shape[0]
    t = int(sc[SC.step])
    flat = st.reshape(st.shape[0] * d)
    sc_o = N_ROWS * d                       # the scratch follows every block's matrices
    for b in range(blk.shape[0]):
        for side in range(blk[b, B_NDIM]):
            s = blk[b, B_ROWS] if side == 0 else blk[b, B_COLS]
            if rotated(blk[b, B_NDIM], s, hy):
                sc_o += 2 * s * s
    b1, b2 = hy[HY.beta1], hy[HY.beta2]
    bs = hy[HY.shampoo_beta]
    lr = sc[SC.lr]
    s_ = t - 1
    step_size = lr
    if hy[HY.correct_bias] != 0.0 and t > 1:
        step_size = lr * (math.sqrt(1.0 - b2 ** s_) / (1.0 - b1 ** s_))
    mo = N_ROWS * d
    for b in range(blk.shape[0]):
        o, n, nd = blk[b, B_OFF], blk[b, B_SIZE], blk[b, B_NDIM]
        r, c = blk[b, B_ROWS], blk[b, B_COLS]
        use_a = rotated(nd, r, hy)
        use_b = nd == 2 and rotated(nd, c, hy)
        fa = mo
        qa = fa + r * r
        if use_a:
            mo += 2 * r * r
        fb = mo
        qb = fb + c * c
        if use_b:
            mo += 2 * c * c
        if t > 1:
            rotate(g, o, r, c, qa, qb, use_a, use_b, st[W2], st[W1], True, flat)
            for k in range(o, o + n):
                st[M, k] = lerp(st[M, k], g[k], 1.0 - b1)
                st[V, k] = lerp(st[V, k], st[W1, k] * st[W1, k], 1.0 - b2)
            rotate(st[M], o, r, c, qa, qb, use_a, use_b, st[W2], st[W1], True, flat)
            for k in range(o, o + n):
                st[W1, k] = st[W1, k] / (math.sqrt(st[V, k]) + hy[HY.eps])
            rotate(st[W1], o, r, c, qa, qb, use_a, use_b, st[W2], st[W1], False, flat)
            scale = step_size
            if hy[HY.normalize_gradient] != 0.0:
                ms = 0.0
                for k in range(o, o + n):
                    ms += st[W1, k] * st[W1, k]
                scale = step_size / (math.sqrt(ms / n) + hy[HY.eps])
            shrink = 1.0 - hy[HY.weight_decay] * lr
            for k in range(o, o + n):
                x[k] = x[k] + -scale * st[W1, k]
                if hy[HY.weight_decay] != 0.0:
                    x[k] = x[k] * shrink
        for side in range(2):
            use = use_a if side == 0 else use_b
            if not use:
                continue
            fo, qo = (fa, qa) if side == 0 else (fb, qb)
            s = r if side == 0 else c
            accumulate_factor(g, o, r, c, side, flat, fo, 1.0 - bs)
            if t == 1:
                first_basis(flat, fo, qo, s, sc_o)
            elif s_ % int(hy[HY.precondition_frequency]) == 0:
                refresh_basis(flat, fo, qo, s, sc_o, st[V], st[W2], o, r, c, side)
    return DONE


def _rotated_sides(blocks, h):
    out = []
    for _, _, r, c, nd in blocks.tolist():
        for s in ((r,) if nd == 1 else (r, c)):
            if (nd == 2 or h["precondition_1d"]) and s <= h["max_precondition_dim"]:
                out.append(s)
    return out


@register
class SOAP(PhasedOptimizer):
    name = "soap"
    family = "matrix"
    params = {"lr": F(3e-3, 0.0, lo_open=True), "beta1": F(0.95, 0.0, 1.0, hi_open=True),
              "beta2": F(0.95, 0.0, 1.0, hi_open=True),
              "shampoo_beta": F(None, 0.0, 1.0, hi_open=True,
                                doc="decay of the factors (None: beta2)"),
              "weight_decay": F(1e-2, 0.0, doc="decoupled, after the step"),
              "precondition_frequency": I(10, 1, doc="steps between basis refreshes"),
              "max_precondition_dim": I(10000, 1, doc="longer sides are not rotated"),
              "precondition_1d": B(False, doc="rotate vector blocks too"),
              "correct_bias": B(True), "normalize_gradient": B(False),
              "eps": F(1e-8, 0.0)}
    slots = HY
    STEP = staticmethod(soap_step)

    def n_state(self):
        return N_ROWS

    def state_rows(self, blocks):
        d = int(blocks[:, B_SIZE].sum())
        sides = _rotated_sides(blocks, self.hyper)
        big = max(sides, default=0)
        mats = sum(2 * s * s for s in sides) + 3 * big * big + 2 * big
        return N_ROWS + math.ceil(mats / d)

    def hyper_array(self):
        h = dict(self.hyper)
        if h["shampoo_beta"] is None:
            h["shampoo_beta"] = h["beta2"]
        return np.array([float(h[k]) for k in self.slots], dtype=np.float64)

    @property
    def weight_decay(self):
        return (0.0, 0.0)     # decoupled, after the step (in the step)
