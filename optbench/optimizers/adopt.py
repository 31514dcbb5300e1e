r"""ADOPT (Adam normalised by the previous second moment, with clipping), as
``pytorch_optimizer.ADOPT`` (pytorch-optimizer 4.1.0: names, defaults, arithmetic).

Step 1 only initialises :math:`v = g^2` (x moves by the weight decay alone). At step t ≥ 2:

.. math::

    \hat g = \mathrm{clip}\big(g / \max(\sqrt{v}, \epsilon),\ -c_t, c_t\big), \quad
    m \leftarrow \mathrm{lerp}(m, \hat g, 1-\beta_1), \quad
    \theta \leftarrow \theta - \alpha m, \quad
    v \leftarrow \beta_2 v + (1-\beta_2) g^2

with :math:`c_t = t^{p}` (``clip_exponent`` p = 1/4, the reference's ``clip_lambda``
``step ** 0.25``; ``clip=False`` is its ``clip_lambda=None``, no clipping). ``weight_decay`` is
coupled by default (``weight_decouple``, ``fixed_decay``:
:mod:`optbench.optimizers.decay_options`); it acts at step 1 too, as in the reference.

Taniguchi et al., "ADOPT: Modified Adam Can Converge with Any β₂ with the Optimal Rate"
(NeurIPS 2024): the same rule with v₀ = g₀² and steps t = 1, 2, … after it, clipped at
:math:`c_t = t^{1/4}`. The reference counts the initialising step, so its bound at the paper's
step t is :math:`(t+1)^{1/4}` (1.19 instead of 1 at the first update, a ratio that tends to 1);
optbench follows the reference.
"""
from __future__ import annotations

import math

from optbench.kernels.slots import hyper_slots, scalar_slots
from optbench.params import B, F

from .base import WD, Optimizer, register
from .decay_options import FIXED_DECAY, DecayOptions, weight_decouple
from .matrix import lerp

HY = hyper_slots("beta1", "beta2", "eps", "clip", "clip_exponent")
SC = scalar_slots("bound", "shrink")   # the clip bound c_t; the fixed decay's factor


def adopt_prep(sc, hy):
    sc[SC.bound] = math.pow(sc[SC.step], hy[HY.clip_exponent])


def adopt_elem(x, gi, st, sc, hy, i):
    xi = x[i] * sc[SC.shrink]
    v = st[1, i]
    if sc[SC.step] == 1.0:
        v = v + gi * gi
    else:
        den = math.sqrt(v)
        if den < hy[HY.eps]:
            den = hy[HY.eps]
        n = gi / den
        if hy[HY.clip] != 0.0:
            c = sc[SC.bound]
            if n < -c:
                n = -c
            if n > c:
                n = c
        m = lerp(st[0, i], n, 1.0 - hy[HY.beta1])
        st[0, i] = m
        xi = xi + -sc[SC.lr] * m
        v = v * hy[HY.beta2] + (1.0 - hy[HY.beta2]) * gi * gi
    st[1, i] = v
    x[i] = xi


@register
class ADOPT(DecayOptions, Optimizer):
    name = "adopt"
    family = "adaptive"
    doc = "Adam normalised by the previous second moment, clipped (Taniguchi et al. 2024)"
    params = {"lr": F(1e-3, 0.0, lo_open=True), "beta1": F(0.9, 0.0, 1.0, hi_open=True),
              "beta2": F(0.9999, 0.0, 1.0, hi_open=True), "eps": F(1e-6, 0.0),
              "weight_decay": WD, "weight_decouple": weight_decouple(False),
              "fixed_decay": FIXED_DECAY,
              "clip": B(True, doc="clip g / max(sqrt(v), eps) to ±t^clip_exponent"),
              "clip_exponent": F(0.25, 0.0, doc="p of the clip bound t^p")}
    slots = HY
    PREP = staticmethod(adopt_prep)
    ELEM = staticmethod(adopt_elem)

    def n_state(self):
        return 2

    def init_scalars(self, sc):
        self.init_shrink(sc, SC.shrink)
