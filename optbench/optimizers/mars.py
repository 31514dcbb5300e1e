r"""MARS (Make vAriance Reduction Shine): AdamW or Lion on a variance-reduced, clipped gradient,
as ``pytorch_optimizer.MARS`` (pytorch-optimizer 4.1.0: its names, defaults and the
arithmetic of its default (foreach) path), which follows the authors' code
(github.com/AGI-Arena/MARS, MARS-approx).

Per step t, for each block θ (a layer's parameter) with gradient g and the previous step's
gradient g′ (0 at t = 1):

.. math::

    c &= g + \gamma \tfrac{\beta_1}{1-\beta_1} (g - g'), \qquad
    c \leftarrow c / \max(\lVert c\rVert, 1) \quad \text{(the block's norm)} \\
    m &\leftarrow \mathrm{lerp}(m, c, 1-\beta_1), \qquad
    v \leftarrow \beta_2 v + (1-\beta_2) c^2 \\
    u &= m \,/\, \big((\sqrt{v + 10^{-15}} + \epsilon) / \sqrt{1-\beta_2^t} \cdot (1-\beta_1^t)\big)
    \quad (\texttt{mars\_type="lion"}: u = \mathrm{sign}(m),\ v \text{ unused}) \\
    \theta &\leftarrow \theta (1 - \gamma_{lr} \lambda), \qquad
    \theta \leftarrow \theta - \gamma_{lr} u

(``ams_bound``: v replaced by its running maximum in u; ``fixed_decay``: θ(1 − λ)). This
applies to blocks of two or more dimensions, and to every block with ``optimize_1d``. Other
blocks — biases, and the whole x of a problem without layers — take plain AdamW on g (no
correction, no clipping, the same u) with ``beta1_1d``, ``beta2_1d``, ``weight_decay_1d``
and the learning rate γ_lr · ``lr_1d`` / ``lr``; so by default MARS on a problem without
layers *is* AdamW(β = (0.9, 0.95), λ = 0.1) with learning rate ``lr_1d``: there ``lr`` only
scales a schedule (tune ``lr_1d``, or set ``optimize_1d``). The vector blocks' rate is
γ_lr · (``lr_1d`` / ``lr``), the ratio of the values given, as the reference's
``lr_1d_factor``, so a schedule scales both.

Yuan, Liu, Wu, Zhou, Gu & Gu, "MARS: Unleashing the Power of Variance Reduction for Training
Large Models" (2024), MARS-AdamW and MARS-Lion. Where the reference departs from the paper:

* g′ is the gradient at the previous iterate on the *previous* minibatch (MARS-approx, the
  authors' default); the paper's exact rule takes ∇f(x_{t−1}) on the *current* minibatch.
  ``exact=True`` gives the paper's rule: from t = 2 on, each step asks for the gradient at
  x_{t−1} with the step's minibatch (one more gradient per step, counted in ``ngev``); it
  starts without a correction at t = 1 (x₀ = x₁), where the reference's g′ = 0 makes
  c = g (1 + γβ₁/(1 − β₁)) before clipping. On a deterministic problem the two differ at
  t = 1 only.
* ε: u = m̂ / (√v̂ + ε/√(1 − β₂ᵗ)) with 1e-15 added to v, where the paper writes
  m̂ / (√v̂ + ε).
* The clipping norm is each block's (the authors' code: per parameter tensor).

Not offered: the reference's ``weight_decouple=False`` (it adds λθ to the gradient only
after the update is computed, so that it reaches the stored g′ alone), ``cautious`` and
``mars_type="shampoo"``. The reference's ``maximize`` is optbench's ``maximize``. Runs in the
phased engine: the clipping norm is a per-block reduction before the elementwise pass.
"""
from __future__ import annotations

import math

import numpy as np

from optbench.kernels.blocks import B_NDIM, B_OFF, B_SIZE
from optbench.kernels.slots import hyper_slots, scalar_slots
from optbench.params import B, C, F

from .base import register
from .matrix import lerp
from .phased import DONE, GRAD, W_OUT, W_POINT, PhasedOptimizer

MARS_TYPES = ("adamw", "lion")
HY = hyper_slots("lr", "beta1", "beta2", "gamma", "mars_type", "optimize_1d", "lr_1d",
                 "beta1_1d", "beta2_1d", "weight_decay", "weight_decay_1d", "fixed_decay",
                 "ams_bound", "eps", "exact")
SC = scalar_slots()
ROW_M, ROW_V, ROW_PREV = 0, 1, 2     # ROW_PREV: g' (approx) or x_{t-1} (exact); then v's max
V_EPS = 1e-15                        # the reference's exp_avg_sq_eps


def mars_step(x, g, st, sc, hy, blk, wk, stage):
    t = sc[SC.step]
    exact = hy[HY.exact] != 0.0
    if exact and stage == 0 and t > 1.0:     # the gradient at x_{t-1}, this step's minibatch
        for i in range(x.shape[0]):
            wk[W_POINT, i] = st[ROW_PREV, i]
        return GRAD
    served = stage == 1                  # g' is wk[W_OUT]; else st[ROW_PREV] (approx) or g
    lion = hy[HY.mars_type] == 1.0
    ams = hy[HY.ams_bound] != 0.0
    rmax = ROW_PREV + 1
    for b in range(blk.shape[0]):
        o = blk[b, B_OFF]
        n = blk[b, B_SIZE]
        mixed = hy[HY.optimize_1d] != 0.0 or blk[b, B_NDIM] >= 2
        if mixed:
            b1 = hy[HY.beta1]
            b2 = hy[HY.beta2]
            lr = sc[SC.lr]
            wd = hy[HY.weight_decay]
        else:
            b1 = hy[HY.beta1_1d]
            b2 = hy[HY.beta2_1d]
            lr = sc[SC.lr] * (hy[HY.lr_1d] / hy[HY.lr])
            wd = hy[HY.weight_decay_1d]
        coef = hy[HY.gamma] * b1 / (1.0 - b1)
        scale = 1.0
        if mixed:                        # the correction's norm (clipped to 1)
            s = 0.0
            for i in range(o, o + n):
                gp = wk[W_OUT, i] if served else (g[i] if exact else st[ROW_PREV, i])
                c = (g[i] - gp) * coef + g[i]
                s += c * c
            scale = max(math.sqrt(s), 1.0)
        bc1 = 1.0 - math.pow(b1, t)
        bc2 = math.sqrt(1.0 - math.pow(b2, t))
        shrink = 1.0
        if wd != 0.0:
            shrink = 1.0 - wd * (1.0 if hy[HY.fixed_decay] != 0.0 else lr)
        for i in range(o, o + n):        # the elementwise pass
            c = g[i]
            if mixed:
                gp = wk[W_OUT, i] if served else (g[i] if exact else st[ROW_PREV, i])
                c = ((g[i] - gp) * coef + g[i]) / scale
            m = lerp(st[ROW_M, i], c, 1.0 - b1)
            st[ROW_M, i] = m
            if mixed and lion:
                u = m                    # sign(m); 0 stays 0
                if m > 0.0:
                    u = 1.0
                elif m < 0.0:
                    u = -1.0
            else:
                v = st[ROW_V, i] * b2 + (1.0 - b2) * c * c
                st[ROW_V, i] = v
                if ams:
                    if v > st[rmax, i]:
                        st[rmax, i] = v
                    v = st[rmax, i]
                u = m / ((math.sqrt(v + V_EPS) + hy[HY.eps]) / bc2 * bc1)
            if exact:
                st[ROW_PREV, i] = x[i]   # x_t, the next step's previous iterate
            else:
                st[ROW_PREV, i] = g[i]
            if wd != 0.0:
                x[i] = x[i] * shrink
            x[i] = x[i] + -lr * u
    return DONE


@register
class MARS(PhasedOptimizer):
    name = "mars"
    family = "variance-reduced"
    doc = "AdamW / Lion on a variance-reduced, clipped gradient (Yuan et al. 2024)"
    params = {"lr": F(3e-3, 0.0, lo_open=True), "beta1": F(0.95, 0.0, 1.0, hi_open=True),
              "beta2": F(0.99, 0.0, 1.0, hi_open=True),
              "gamma": F(0.025, 0.0, doc="strength of the gradient correction"),
              "mars_type": C("adamw", MARS_TYPES, doc="the update on the corrected gradient"),
              "optimize_1d": B(False, doc="MARS on vector blocks too (else AdamW on them)"),
              "lr_1d": F(3e-3, 0.0, lo_open=True, doc="AdamW's lr on vector blocks"),
              "beta1_1d": F(0.9, 0.0, 1.0, hi_open=True),
              "beta2_1d": F(0.95, 0.0, 1.0, hi_open=True),
              "weight_decay": F(0.0, 0.0, doc="decoupled, on the MARS blocks"),
              "weight_decay_1d": F(0.1, 0.0, doc="decoupled, on the AdamW blocks"),
              "fixed_decay": B(False, doc="decay not scaled by lr"),
              "ams_bound": B(False, doc="running maximum of v in the denominator"),
              "eps": F(1e-8, 0.0),
              "exact": B(False, doc=("the paper's exact correction: the gradient at the "
                                     "previous iterate on this step's minibatch"))}
    slots = HY
    requests = ("grad",)      # with exact=True; so mars is not a base for sam / lookahead
    STEP = staticmethod(mars_step)

    def n_state(self):
        return 4 if self.hyper["ams_bound"] else 3   # m, v, g' or x_{t-1}[, max v]

    @property
    def weight_decay(self):
        return (0.0, 0.0)     # decoupled, per block kind, inside the step

    def evaluations(self, t):
        t = np.asarray(t)
        extra = np.maximum(t - 1, 0) if self.hyper["exact"] else np.zeros_like(t)
        return t + 1 + extra, np.zeros_like(t)

    def hyper_array(self):
        h = {**self.hyper, "mars_type": MARS_TYPES.index(self.hyper["mars_type"])}
        return np.array([float(h[k]) for k in self.slots], dtype=np.float64)
