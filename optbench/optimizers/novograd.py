r"""NovoGrad: SGD with momentum on gradients normalised by a per-layer second moment, as
``pytorch_optimizer.NovoGrad`` (pytorch-optimizer 4.1.0: its names, defaults and the
arithmetic of its default (foreach) path).

Per step t and block θ (a layer's weight matrix or bias; the whole x for a problem without
layers) with gradient g, the block's second moment is one number:

.. math::

    v \leftarrow \lVert g\rVert^2 \ (t = 1), \quad
    v \leftarrow \mathrm{lerp}(v, \lVert g\rVert^2, 1-\beta_2) \ (t > 1), \qquad
    u = g / (\sqrt v + \epsilon) \ [+\ \lambda\theta] \\
    m \leftarrow u \ (t = 1), \quad
    m \leftarrow \beta_1 m + \beta_3 u \ (t > 1), \qquad \theta \leftarrow \theta - \gamma m

with β₃ = 1 − β₁ under ``grad_averaging``, else 1. Weight decay λ is coupled by default and
added to the *normalised* gradient (the bracket); ``weight_decouple`` decays θ ← θ(1 − γλ)
before the step instead (``fixed_decay``: θ(1 − λ)). lerp is torch's
(a + w(b − a) for w < ½, else b − (b − a)(1 − w)).

Ginsburg et al., "Stochastic Gradient Methods with Layer-wise Adaptive Moments for Training of
Deep Networks" (2019), Algorithm 1: the same rule, the decay added to the normalised gradient
and no averaging factor on it (the reference's defaults); the reference also adds ε at the
first step, where the paper divides by √v₁, and offers ``grad_averaging`` and the decoupled
decay as options. The reference's ``adam_debias``
keyword (a √(1 − β₂ᵗ) step factor it takes through ``**kwargs``) is not offered. Runs in the
phased engine: ‖g‖² is a per-block reduction before the elementwise pass; the block's v is
kept in the state row at the block's first coordinate.
"""
from __future__ import annotations

import math

from optbench.kernels.blocks import B_OFF, B_SIZE
from optbench.kernels.slots import hyper_slots, scalar_slots
from optbench.params import B, F

from .base import register
from .matrix import lerp
from .phased import PhasedOptimizer

HY = hyper_slots("beta1", "beta2", "weight_decay", "weight_decouple", "fixed_decay",
                 "grad_averaging", "eps")
SC = scalar_slots()
ROW_M, ROW_V = 0, 1


def novograd_step(x, g, st, sc, hy, blk, wk, stage):
    lr = sc[SC.lr]
    b1 = hy[HY.beta1]
    b2 = hy[HY.beta2]
    wd = hy[HY.weight_decay]
    first = sc[SC.step] == 1.0
    decouple = hy[HY.weight_decouple] != 0.0
    coupled = wd > 0.0 and not decouple
    shrink = 1.0
    if decouple and wd != 0.0:
        shrink = 1.0 - wd * (1.0 if hy[HY.fixed_decay] != 0.0 else lr)
    avg = hy[HY.grad_averaging] != 0.0
    for b in range(blk.shape[0]):
        o = blk[b, B_OFF]
        n = blk[b, B_SIZE]
        sq = 0.0                         # the block's ||g||^2
        for i in range(o, o + n):
            sq += g[i] * g[i]
        v = sq if first else lerp(st[ROW_V, o], sq, 1.0 - b2)
        st[ROW_V, o] = v
        den = math.sqrt(v) + hy[HY.eps]
        for i in range(o, o + n):        # the elementwise pass
            u = g[i] / den
            if coupled:
                u = u + wd * x[i]
            if shrink != 1.0:
                x[i] = x[i] * shrink
            if first:
                m = u
            else:
                if avg:
                    u = u * (1.0 - b1)
                m = st[ROW_M, i] * b1 + u
            st[ROW_M, i] = m
            x[i] = x[i] + -lr * m
    return 0


@register
class NovoGrad(PhasedOptimizer):
    name = "novograd"
    family = "layer-wise"
    doc = "momentum on gradients normalised per layer (Ginsburg et al. 2019)"
    params = {"lr": F(1e-3, 0.0, lo_open=True), "beta1": F(0.95, 0.0, 1.0, hi_open=True),
              "beta2": F(0.98, 0.0, 1.0, hi_open=True), "weight_decay": F(0.0, 0.0),
              "weight_decouple": B(False, doc="decay θ (AdamW-style), else add λθ to the "
                                             "normalised gradient"),
              "fixed_decay": B(False, doc="decoupled decay not scaled by lr"),
              "grad_averaging": B(False, doc="(1 - beta1) on the normalised gradient in m"),
              "eps": F(1e-8, 0.0)}
    slots = HY
    STEP = staticmethod(novograd_step)

    def n_state(self):
        return 2            # m; v per block (at the block's first coordinate)

    @property
    def weight_decay(self):
        return (0.0, 0.0)   # inside the step: after the normalisation, or decoupled
