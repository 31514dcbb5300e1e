r"""Muon (MomentUm Orthogonalized by Newton–Schulz), as ``torch.optim.Muon`` (torch 2.13) on
the matrix blocks, with the AdamW fallback torch's documentation prescribes for the others.

Per step, for each weight matrix θ (R × C) with gradient G:

* :math:`B \leftarrow \mathrm{lerp}(B, G, 1 - \mu)` (an EMA; torch's docstring writes
  :math:`\mu B + G`, the same direction up to a scale that the normalisation removes);
* :math:`\tilde B = \mathrm{lerp}(G, B, \mu)` with ``nesterov``, else :math:`B`;
* :math:`X = \tilde B / \max(\lVert\tilde B\rVert_F, \epsilon)` (transposed when R > C), then
  ``ns_steps`` Newton–Schulz iterations :math:`A = XX^\top`, :math:`X \leftarrow aX + (bA +
  cA^2)X` (coefficients ``ns_a, ns_b, ns_c``; :mod:`optbench.optimizers.matrix`), giving
  O ≈ U Vᵀ;
* :math:`\theta \leftarrow \theta (1 - \gamma\lambda) - \gamma' O` with
  :math:`\gamma' = \gamma\sqrt{\max(1, R/C)}` (``adjust_lr_fn="original"``) or
  :math:`0.2\,\gamma\sqrt{\max(R, C)}` (``"match_rms_adamw"``).

Other blocks (biases): torch.optim.Muon refuses them and its documentation says to train
them with AdamW; optbench does so inside the same step, as ``torch.optim.AdamW`` with its own
hyperparameters ``adamw_lr``, ``adamw_beta1``, ``adamw_beta2``, ``adamw_eps``,
``adamw_weight_decay`` (AdamW's defaults). A schedule scales ``adamw_lr`` by the factor it
applies to ``lr``. A problem without any matrix block (x one vector) is refused. Both weight
decays are applied by the step itself, not by the run loop.

Precision: torch runs the Newton–Schulz iteration in bfloat16 (a GPU speed choice) whatever
the parameters' dtype; optbench runs it in float64, so the two agree to bfloat16 precision
(a few per cent of a step), and to rounding when torch's iteration runs in float64 (tests).
Jordan et al., "Muon: An optimizer for hidden layers in neural networks" (2024);
Liu et al., "Muon is Scalable for LLM Training" (2025) for ``match_rms_adamw``.
"""
from __future__ import annotations

import math

import numpy as np

from optbench.kernels.blocks import B_COLS, B_NDIM, B_OFF, B_ROWS, B_SIZE
from optbench.kernels.compile import kernel
from optbench.kernels.slots import hyper_slots, scalar_slots
from optbench.params import B, C, F, I

from .base import register
from .matrix import lerp, newton_schulz, norm2, transpose
from .phased import PhasedOptimizer

ADJUST_LR = ("original", "match_rms_adamw")
HY = hyper_slots("lr", "weight_decay", "momentum", "nesterov", "ns_a", "ns_b", "ns_c", "eps",
                 "ns_steps", "adjust_lr_fn", "adamw_lr", "adamw_beta1", "adamw_beta2",
                 "adamw_eps", "adamw_weight_decay")
SC = scalar_slots()


def muon_step(x, g, st, sc, hy, blk, wk, stage):
    lr = sc[SC.lr]
    t = sc[SC.step]
    mu = hy[HY.momentum]
    for b in range(blk.shape[0]):
        o = blk[b, B_OFF]
        n = blk[b, B_SIZE]
        if blk[b, B_NDIM] != 2:
            adamw_block(x, g, st, hy, o, n, hy[HY.adamw_lr] * (lr / hy[HY.lr]), t)
            continue
        rows = blk[b, B_ROWS]
        cols = blk[b, B_COLS]
        # momentum buffer st[0]; the update to orthogonalise in st[1] (transposed to r <= c)
        for k in range(o, o + n):
            st[0, k] = lerp(st[0, k], g[k], 1.0 - mu)
            st[2, k] = lerp(g[k], st[0, k], mu) if hy[HY.nesterov] != 0.0 else st[0, k]
        tall = rows > cols
        if tall:
            transpose(st[2], o, rows, cols, st[1], o)
        else:
            for k in range(o, o + n):
                st[1, k] = st[2, k]
        nrm = max(norm2(st[1], o, n), hy[HY.eps])
        for k in range(o, o + n):
            st[1, k] = st[1, k] / nrm
        r = cols if tall else rows
        c = rows if tall else cols
        newton_schulz(st[1], o, r, c, hy[HY.ns_a], hy[HY.ns_b], hy[HY.ns_c],
                      int(hy[HY.ns_steps]), st[2], st[3])
        if hy[HY.adjust_lr_fn] == 0.0:
            adj = lr * math.sqrt(max(1.0, rows / cols))
        else:
            adj = lr * (0.2 * math.sqrt(max(rows, cols)))
        shrink = 1.0 - lr * hy[HY.weight_decay]
        for i in range(rows):
            for j in range(cols):
                k = o + i * cols + j
                u = st[1, o + j * rows + i] if tall else st[1, k]
                x[k] = x[k] * shrink + -adj * u
    return 0


@kernel
def adamw_block(x, g, st, hy, o, n, lr, t):
    """torch.optim.AdamW's step on x[o:o+n] (m in st[0], v in st[1] at the same offsets)."""
    b1 = hy[HY.adamw_beta1]
    b2 = hy[HY.adamw_beta2]
    shrink = 1.0 - lr * hy[HY.adamw_weight_decay]
    step_size = lr / (1.0 - b1 ** t)
    bc2_sqrt = (1.0 - b2 ** t) ** 0.5
    for k in range(o, o + n):
        x[k] = x[k] * shrink
        m = lerp(st[0, k], g[k], 1.0 - b1)
        v = st[1, k] * b2 + (1.0 - b2) * g[k] * g[k]
        st[0, k] = m
        st[1, k] = v
        x[k] = x[k] + -step_size * (m / (math.sqrt(v) / bc2_sqrt + hy[HY.adamw_eps]))


@register
class Muon(PhasedOptimizer):
    name = "muon"
    family = "matrix"
    torch_name = "Muon"
    needs_matrix_blocks = True
    params = {"lr": F(1e-3, 0.0, lo_open=True), "weight_decay": F(0.1, 0.0),
              "momentum": F(0.95, 0.0, 1.0, hi_open=True), "nesterov": B(True),
              "ns_a": F(3.4445), "ns_b": F(-4.775), "ns_c": F(2.0315),
              "eps": F(1e-7, 0.0, doc="floor of the Frobenius norm"),
              "ns_steps": I(5, 0, 99, doc="Newton–Schulz iterations"),
              "adjust_lr_fn": C("original", ADJUST_LR),
              "adamw_lr": F(1e-3, 0.0, lo_open=True, doc="AdamW on the non-matrix blocks"),
              "adamw_beta1": F(0.9, 0.0, 1.0, hi_open=True),
              "adamw_beta2": F(0.999, 0.0, 1.0, hi_open=True),
              "adamw_eps": F(1e-8, 0.0), "adamw_weight_decay": F(1e-2, 0.0)}
    slots = HY
    STEP = staticmethod(muon_step)

    def n_state(self):
        return 4

    @property
    def weight_decay(self):
        return (0.0, 0.0)     # both decays applied inside the step, per block kind

    def hyper_array(self):
        h = {**self.hyper, "adjust_lr_fn": ADJUST_LR.index(self.hyper["adjust_lr_fn"])}
        return np.array([float(h[k]) for k in self.slots], dtype=np.float64)
