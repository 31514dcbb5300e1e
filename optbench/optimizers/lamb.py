r"""LAMB (Layer-wise Adaptive Moments), as ``pytorch_optimizer.Lamb`` (pytorch-optimizer 4.1.0:
its defaults, and the arithmetic of its default (foreach) path; no rectification, no
pre-normalisation).

Per step t (1-based) and block θ (a layer's weight matrix or bias; the whole x for a problem
without layers), with gradient g:

* :math:`m \leftarrow \beta_1 m + \beta_3 g` (:math:`\beta_3 = 1 - \beta_1` with
  ``grad_averaging``, else 1), :math:`v \leftarrow \beta_2 v + (1 - \beta_2) g^2`;
* weight decay λ: decoupled (``weight_decouple``, the default)
  :math:`\theta \leftarrow \theta (1 - \lambda \gamma)` (``fixed_decay``: :math:`1 - \lambda`),
  or added to the update below (:math:`u \mathrel{+}= \lambda \theta`);
* :math:`u = m / (\sqrt v + \epsilon)`;
* trust ratio :math:`r = \min(\lVert\theta\rVert, 10) / (\lVert u\rVert + \epsilon)`, 1 where
  either norm is 0 (or ``adam``: always 1);
* :math:`\theta \leftarrow \theta - \frac{\gamma}{1 - \beta_1^t}\, r\, u`.

Departures of the reference from You et al. (2020), "Large Batch Optimization for Deep
Learning: Training BERT in 76 minutes", Algorithm 2 (:math:`\theta \leftarrow \theta - \gamma
\frac{\phi(\lVert\theta\rVert)}{\lVert r_t + \lambda\theta\rVert}(r_t + \lambda\theta)`,
:math:`r_t = \hat m / (\sqrt{\hat v} + \epsilon)` with both moments bias-corrected):
the second moment is not bias-corrected and the first is corrected through the step size
(:math:`\gamma / (1 - \beta_1^t)`, which the paper's normalisation would cancel: the
reference takes steps up to :math:`1/(1-\beta_1) = 10` times the paper's early on); ε is
added to the trust ratio's denominator; φ is :math:`\min(\cdot, 10)`; weight decay is
decoupled by default (``weight_decouple=False`` gives the paper's :math:`u + \lambda\theta`).
The reference's ``pre_norm`` / ``max_grad_norm`` is optbench's ``clip_norm`` (the same
formula when ε = 1e-6); its ``rectify`` and ``adanorm`` variants are not offered.
Weight decay is applied by the step itself, not by the run loop.
"""
from __future__ import annotations

import math

from optbench.kernels.blocks import B_OFF, B_SIZE
from optbench.kernels.slots import hyper_slots, scalar_slots
from optbench.params import B, F

from .base import register
from .phased import PhasedOptimizer

HY = hyper_slots("beta1", "beta2", "eps", "weight_decay", "weight_decouple", "fixed_decay",
                 "grad_averaging", "adam")
SC = scalar_slots()
CLAMP = 10.0    # the reference's upper bound on the weight norm in the trust ratio


def lamb_step(x, g, st, sc, hy, blk, wk, stage):
    lr = sc[SC.lr]
    b1 = hy[HY.beta1]
    b2 = hy[HY.beta2]
    eps = hy[HY.eps]
    wd = hy[HY.weight_decay]
    decouple = hy[HY.weight_decouple] != 0.0
    b3 = 1.0 - b1 if hy[HY.grad_averaging] != 0.0 else 1.0
    step_size = lr / (1.0 - math.pow(b1, sc[SC.step]))
    shrink = 1.0 - wd * (1.0 if hy[HY.fixed_decay] != 0.0 else lr)
    for b in range(blk.shape[0]):
        o = blk[b, B_OFF]
        n = blk[b, B_SIZE]
        wn = 0.0
        un = 0.0
        for k in range(o, o + n):      # moments, decay, u = st[2]; both norms
            gk = g[k]
            m = st[0, k] * b1 + b3 * gk
            v = st[1, k] * b2 + (1.0 - b2) * gk * gk
            st[0, k] = m
            st[1, k] = v
            if decouple and wd != 0.0:
                x[k] = x[k] * shrink
            u = m * (1.0 / (math.sqrt(v) + eps))   # the reference's foreach arithmetic
            if not decouple and wd > 0.0:
                u = u + wd * x[k]
            st[2, k] = u
            wn += x[k] * x[k]
            un += u * u
        wn = min(math.sqrt(wn), CLAMP)
        un = math.sqrt(un)
        ratio = 1.0
        if hy[HY.adam] == 0.0 and wn != 0.0 and un != 0.0:
            ratio = wn / (un + eps)
        for k in range(o, o + n):      # second pass: the trust-ratio step
            x[k] = x[k] + -step_size * (st[2, k] * ratio)
    return 0


@register
class Lamb(PhasedOptimizer):
    name = "lamb"
    family = "layer-wise"
    params = {"lr": F(1e-3, 0.0, lo_open=True), "beta1": F(0.9, 0.0, 1.0, hi_open=True),
              "beta2": F(0.999, 0.0, 1.0, hi_open=True), "eps": F(1e-6, 0.0),
              "weight_decay": F(0.0, 0.0),
              "weight_decouple": B(True, doc="decay θ (AdamW-style), else add λθ to u"),
              "fixed_decay": B(False, doc="decoupled decay not scaled by lr"),
              "grad_averaging": B(True, doc="(1 - beta1) on the gradient in m"),
              "adam": B(False, doc="trust ratio 1 (Adam with LAMB's moments)")}
    slots = HY
    STEP = staticmethod(lamb_step)

    def n_state(self):
        return 3

    @property
    def weight_decay(self):
        return (0.0, 0.0)     # applied inside the step (both kinds differ from the loop's)
