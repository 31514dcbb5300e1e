r"""LARS (Layer-wise Adaptive Rate Scaling), as ``pytorch_optimizer.LARS`` (pytorch-optimizer
4.1.0: its names, defaults and the arithmetic of its default (foreach) path).

Per step, for each block θ with gradient g (a layer's weight matrix; see ``adapt_vectors``
for the other blocks), trust coefficient η and weight decay λ:

.. math::

    q = \begin{cases} \eta \lVert\theta\rVert / (\lVert g\rVert + \lambda \lVert\theta\rVert)
          & \lVert\theta\rVert > 0 \text{ and the denominator} > 0 \\ 1 & \text{else}
        \end{cases}, \qquad u = q\, (g + \lambda\theta)

and then momentum μ with dampening τ on every block (b = 0 at the start; no torch-SGD copy
of the first gradient): :math:`b \leftarrow \mu b + (1-\tau) u`, :math:`u \leftarrow u + \mu b`
(``nesterov``) or :math:`u \leftarrow b`; :math:`\theta \leftarrow \theta - \gamma u`.
``momentum = 0`` skips the buffer.

The reference scales only blocks of two or more dimensions: vectors — a layer's bias, and the
whole x of a problem without layers — take plain SGD with momentum, without weight decay or
trust ratio. ``adapt_vectors=True`` gives every block the trust ratio and weight decay, as
You, Gitman & Ginsburg, "Large Batch Training of Convolutional Networks" (2017), Algorithm 1
applies them to every layer. The other departure from the paper: the paper puts the global
learning rate inside the momentum, :math:`b \leftarrow \mu b + \gamma q (g + \lambda\theta)`,
:math:`\theta \leftarrow \theta - b`; the reference (and so optbench) applies γ after it, which
is the same under a constant learning rate (up to rounding) and differs under a schedule.
The reference's ``maximize`` is optbench's ``maximize``. Runs in the phased engine: the two
norms are per-block reductions before the elementwise pass.
"""
from __future__ import annotations

import math

from optbench.kernels.blocks import B_NDIM, B_OFF, B_SIZE
from optbench.kernels.slots import hyper_slots, scalar_slots
from optbench.params import B, F

from .base import register
from .phased import PhasedOptimizer

HY = hyper_slots("weight_decay", "momentum", "dampening", "trust_coefficient", "nesterov",
                 "adapt_vectors")
SC = scalar_slots()


def lars_step(x, g, st, sc, hy, blk, wk, stage):
    lr = sc[SC.lr]
    wd = hy[HY.weight_decay]
    mu = hy[HY.momentum]
    damp = 1.0 - hy[HY.dampening]
    tc = hy[HY.trust_coefficient]
    nesterov = hy[HY.nesterov] != 0.0
    all_blocks = hy[HY.adapt_vectors] != 0.0
    for b in range(blk.shape[0]):
        o = blk[b, B_OFF]
        n = blk[b, B_SIZE]
        scaled = all_blocks or blk[b, B_NDIM] > 1
        q = 1.0
        if scaled:                       # the block's norms
            pn = 0.0
            gn = 0.0
            for i in range(o, o + n):
                pn += x[i] * x[i]
                gn += g[i] * g[i]
            pn = math.sqrt(pn)
            den = math.sqrt(gn) + wd * pn
            if pn > 0.0 and den > 0.0:
                q = tc * pn / den
        for i in range(o, o + n):        # the elementwise pass
            u = g[i]
            if scaled:
                u = (u + wd * x[i]) * q
            if mu > 0.0:
                buf = st[0, i] * mu + damp * u
                st[0, i] = buf
                u = u + mu * buf if nesterov else buf
            x[i] = x[i] + -lr * u
    return 0


@register
class LARS(PhasedOptimizer):
    name = "lars"
    family = "layer-wise"
    doc = "SGD with a layer-wise trust ratio (You et al. 2017)"
    params = {"lr": F(1e-3, 0.0, lo_open=True), "weight_decay": F(0.0, 0.0),
              "momentum": F(0.9, 0.0, 1.0, hi_open=True),
              "dampening": F(0.0, 0.0, 1.0, hi_open=True),
              "trust_coefficient": F(1e-3, 0.0), "nesterov": B(False),
              "adapt_vectors": B(False, doc=("trust ratio and weight decay on vector blocks "
                                             "too (the paper), not plain SGD (the reference)"))}
    slots = HY
    STEP = staticmethod(lars_step)

    def n_state(self):
        return 1            # the momentum buffer

    @property
    def weight_decay(self):
        return (0.0, 0.0)   # inside the trust ratio, on the scaled blocks only
