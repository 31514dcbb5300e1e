r"""AdEMAMix (Adam with a mixture of a fast and a slow momentum), as
``pytorch_optimizer.AdEMAMix`` (pytorch-optimizer 4.1.0: names, defaults, arithmetic).

Per step t (1-based):

.. math::

    m_1 &\leftarrow \mathrm{lerp}(m_1, g, 1-\beta_1), \quad
    v \leftarrow \beta_2 v + (1-\beta_2) g^2, \quad
    m_2 \leftarrow \mathrm{lerp}(m_2, g, 1-\beta_3(t)) \\
    \theta &\leftarrow \theta - \alpha_{\mathrm{lr}}\,
        \frac{m_1 / (1-\beta_1^t) + \alpha(t)\, m_2}{\sqrt{v}/\sqrt{1-\beta_2^t} + \epsilon}

With ``t_alpha_beta3`` = T the mixing weight and the slow decay warm up (the paper's
schedulers): :math:`\alpha(t) = \min(t\alpha/T, \alpha)`,
:math:`\beta_3(t) = \min\big(\exp\big(\ln\beta_1 \ln\beta_3 / ((1 - t/T)\ln\beta_3 +
(t/T)\ln\beta_1)\big), \beta_3\big)`; without it (None) α and β₃ are constant.
``weight_decay`` is coupled by default (``weight_decouple``, ``fixed_decay``:
:mod:`optbench.optimizers.decay_options`).

Pagliardini, Ablin & Grangier, "The AdEMAMix Optimizer: Better, Faster, Older"
(arXiv:2409.03137, 2024): the same update, the slow momentum not bias-corrected. The
authors' code (github.com/apple/ml-ademamix) differs from the reference in defaults and
decay: α = 2 (the reference: 5), weight decay decoupled as AdamW (``weight_decouple=True``
here), separate warm-up lengths for α and β₃ (one T here, as in the reference), and a β₃
scheduler that evaluates the same formula through half-lives with log(β + 1e-8).
"""
from __future__ import annotations

import math

import numpy as np

from optbench.kernels.slots import hyper_slots, scalar_slots
from optbench.params import F
from optbench.validate import OptbenchInputError

from .base import WD, Optimizer, register
from .decay_options import FIXED_DECAY, DecayOptions, weight_decouple
from .matrix import lerp

HY = hyper_slots("beta1", "beta2", "beta3", "alpha", "t_alpha_beta3", "eps")
# 1 - beta1^t, sqrt(1 - beta2^t), alpha(t), beta3(t), the fixed decay's factor
SC = scalar_slots("bc1", "sqrt_bc2", "alpha_t", "beta3_t", "shrink")


def ademamix_prep(sc, hy):
    t = sc[SC.step]
    sc[SC.bc1] = 1.0 - math.pow(hy[HY.beta1], t)
    sc[SC.sqrt_bc2] = math.sqrt(1.0 - math.pow(hy[HY.beta2], t))
    alpha = hy[HY.alpha]
    b3 = hy[HY.beta3]
    big_t = hy[HY.t_alpha_beta3]
    if big_t > 0.0:                 # the warm-up (None is 0 in hy)
        alpha = min(t * alpha / big_t, alpha)
        lb1 = math.log(hy[HY.beta1])
        lb3 = math.log(b3)
        b3 = min(math.exp(lb1 * lb3 / ((1.0 - t / big_t) * lb3 + (t / big_t) * lb1)), b3)
    sc[SC.alpha_t] = alpha
    sc[SC.beta3_t] = b3


def ademamix_elem(x, gi, st, sc, hy, i):
    xi = x[i] * sc[SC.shrink]
    m1 = lerp(st[0, i], gi, 1.0 - hy[HY.beta1])
    v = st[1, i] * hy[HY.beta2] + (1.0 - hy[HY.beta2]) * gi * gi
    m2 = lerp(st[2, i], gi, 1.0 - sc[SC.beta3_t])
    st[0, i] = m1
    st[1, i] = v
    st[2, i] = m2
    u = m1 / sc[SC.bc1] + sc[SC.alpha_t] * m2
    x[i] = xi + -sc[SC.lr] * (u / (math.sqrt(v) / sc[SC.sqrt_bc2] + hy[HY.eps]))


@register
class AdEMAMix(DecayOptions, Optimizer):
    name = "ademamix"
    family = "adaptive"
    doc = "Adam with a fast and a slow momentum mixed (Pagliardini et al. 2024)"
    params = {"lr": F(1e-3, 0.0, lo_open=True), "beta1": F(0.9, 0.0, 1.0, hi_open=True),
              "beta2": F(0.999, 0.0, 1.0, hi_open=True),
              "beta3": F(0.9999, 0.0, 1.0, hi_open=True, doc="decay of the slow momentum"),
              "alpha": F(5.0, 0.0, doc="weight of the slow momentum"),
              "t_alpha_beta3": F(None, 0.0, lo_open=True,
                                 doc="warm-up steps of alpha and beta3 (None: none)"),
              "eps": F(1e-8, 0.0), "weight_decay": WD,
              "weight_decouple": weight_decouple(False), "fixed_decay": FIXED_DECAY}
    slots = HY
    PREP = staticmethod(ademamix_prep)
    ELEM = staticmethod(ademamix_elem)

    def check(self):
        h = self.hyper
        if h["t_alpha_beta3"] is not None and (h["beta1"] == 0.0 or h["beta3"] == 0.0):
            raise OptbenchInputError("optimizer ademamix: the beta3 warm-up (t_alpha_beta3) "
                                     "needs beta1 > 0 and beta3 > 0 (it takes their logs)")

    def n_state(self):
        return 3

    def hyper_array(self):
        t = self.hyper["t_alpha_beta3"]
        h = {**self.hyper, "t_alpha_beta3": 0.0 if t is None else t}
        return np.array([float(h[k]) for k in self.slots], dtype=np.float64)

    def init_scalars(self, sc):
        self.init_shrink(sc, SC.shrink)
