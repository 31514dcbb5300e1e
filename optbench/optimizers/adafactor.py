r"""Adafactor, as ``torch.optim.Adafactor`` (torch 2.13): second moments factored into a row
and a column vector per matrix block, kept whole for vector blocks.

Per step t (1-based) and block θ (a layer's weight matrix R × C, or a vector), with
:math:`\hat\beta_{2,t} = 1 - t^{\tau}` (τ = ``beta2_decay``):

* :math:`\rho_t = \min(\gamma, 1/\sqrt t)`, :math:`\alpha_t = \max(\epsilon_2,
  \mathrm{RMS}(\theta))\,\rho_t` (RMS = ‖θ‖ / √numel, taken before the weight decay);
* decoupled weight decay :math:`\theta \leftarrow \theta (1 - \gamma\lambda)`;
* matrix: :math:`r \leftarrow \mathrm{lerp}(r, \mathrm{mean}_j G_{ij}^2, t^{\tau})`,
  :math:`c \leftarrow \mathrm{lerp}(c, \mathrm{mean}_i G_{ij}^2, t^{\tau})`,
  :math:`\hat V_{ij} = r_i c_j / \max(\mathrm{mean}_i r_i, \epsilon_1)`;
  vector: :math:`\hat V \leftarrow \mathrm{lerp}(\hat V, G^2, t^{\tau})`;
* :math:`U = G / \sqrt{\max(\hat V, \epsilon_1^2)}`,
  :math:`\theta \leftarrow \theta - \alpha_t U / \max(1, \mathrm{RMS}(U)/d)`.

``eps1`` None (torch's default) is the float64 machine epsilon. As torch documents, this
departs from Shazeer & Stern (2018) in that lr caps the relative step size ρ_t (the paper:
0.01) and scales the weight decay, and ε₁ is applied to the variance estimate and the
update rather than added to the squared gradient. ``weight_decay`` is applied by the step
itself (after α_t is taken), not by the run loop.
Shazeer & Stern, "Adafactor: Adaptive Learning Rates with Sublinear Memory Cost" (2018).
"""
from __future__ import annotations

import math

import numpy as np

from optbench.kernels.blocks import B_COLS, B_NDIM, B_OFF, B_ROWS, B_SIZE
from optbench.kernels.slots import hyper_slots, scalar_slots
from optbench.params import F

from .base import register
from .matrix import col_sumsq, lerp, norm2, row_sumsq
from .phased import PhasedOptimizer

HY = hyper_slots("beta2_decay", "eps1", "eps2", "d", "weight_decay")
SC = scalar_slots()
FLOAT64_EPS = float(np.finfo(np.float64).eps)


def adafactor_step(x, g, st, sc, hy, blk, wk, stage):
    lr = sc[SC.lr]
    t = sc[SC.step]
    w = t ** hy[HY.beta2_decay]          # 1 - beta2_t
    rho = min(lr, 1.0 / t ** 0.5)
    eps1 = hy[HY.eps1]
    for b in range(blk.shape[0]):
        o = blk[b, B_OFF]
        n = blk[b, B_SIZE]
        alpha = max(hy[HY.eps2], norm2(x, o, n) / n ** 0.5) * rho
        if hy[HY.weight_decay] != 0.0:
            shrink = 1.0 - lr * hy[HY.weight_decay]
            for k in range(o, o + n):
                x[k] = x[k] * shrink
        r = blk[b, B_ROWS]
        c = blk[b, B_COLS]
        matrix = blk[b, B_NDIM] == 2
        rmean = 0.0
        if matrix:      # st[0][o:o+r] row factor, st[1][o:o+c] column factor
            for i in range(r):
                m = math.sqrt(row_sumsq(g, o, c, i)) ** 2 / c
                st[0, o + i] = lerp(st[0, o + i], m, w)
                rmean += st[0, o + i]
            for j in range(c):
                m = math.sqrt(col_sumsq(g, o, r, c, j)) ** 2 / r
                st[1, o + j] = lerp(st[1, o + j], m, w)
            rmean = max(rmean / r, eps1)
        else:           # st[0][o:o+n] the unfactored second moment
            for k in range(o, o + n):
                st[0, k] = lerp(st[0, k], g[k] * g[k], w)
        # two passes over U = G / sqrt(max(V, eps1^2)): its norm, then the update
        s = 0.0
        for k in range(n):
            if matrix:
                v = st[0, o + k // c] * st[1, o + k % c] / rmean
            else:
                v = st[0, o + k]
            u = (1.0 / math.sqrt(max(v, eps1 * eps1))) * g[o + k]   # torch: rsqrt, then * g
            s += u * u
        denom = max(1.0, math.sqrt(s) / (n ** 0.5 * hy[HY.d]))
        step = -alpha / denom
        for k in range(n):
            if matrix:
                v = st[0, o + k // c] * st[1, o + k % c] / rmean
            else:
                v = st[0, o + k]
            u = (1.0 / math.sqrt(max(v, eps1 * eps1))) * g[o + k]
            x[o + k] = x[o + k] + step * u
    return 0


@register
class Adafactor(PhasedOptimizer):
    name = "adafactor"
    family = "adaptive"
    torch_name = "Adafactor"
    params = {"lr": F(1e-2, 0.0, lo_open=True, doc="learning rate: caps the relative step"),
              "beta2_decay": F(-0.8, hi=0.0, doc="tau: 1 - beta2_t = t^tau"),
              "eps1": F(None, 0.0, doc="floor of the second moment (None: machine epsilon)"),
              "eps2": F(1e-3, 0.0, doc="floor of a block's RMS in the step size"),
              "d": F(1.0, 1.0, doc="clipping threshold of the update's RMS"),
              "weight_decay": F(0.0, 0.0, doc="decoupled, scaled by lr")}
    slots = HY
    STEP = staticmethod(adafactor_step)

    def n_state(self):
        return 2

    @property
    def weight_decay(self):
        return (0.0, 0.0)     # applied inside the step, after alpha_t is taken

    def hyper_array(self):
        eps1 = self.hyper["eps1"]
        h = {**self.hyper, "eps1": FLOAT64_EPS if eps1 is None else eps1}
        return np.array([float(h[k]) for k in self.slots], dtype=np.float64)
