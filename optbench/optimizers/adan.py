r"""Adan (adaptive Nesterov momentum), as ``pytorch_optimizer.Adan`` (pytorch-optimizer 4.1.0:
names, defaults and arithmetic, which are those of the authors' code, github.com/sail-sg/Adan),
and, with ``idle_first_step=True``, as ``adan_pytorch.Adan`` (adan-pytorch 0.1.0).

Per step t (1-based), with gradient g, the previous gradient g' (g' = g at t = 1, so the
first difference is 0) and d = g − g':

.. math::

    m &\leftarrow \mathrm{lerp}(m, g, 1-\beta_1), \quad
    v \leftarrow \mathrm{lerp}(v, d, 1-\beta_2), \quad
    n \leftarrow \beta_3 n + (1-\beta_3)(g + \beta_2 d)^2 \\
    D &= \sqrt{n}/\sqrt{1-\beta_3^t} + \epsilon, \qquad
    \theta \leftarrow \theta - \frac{\alpha}{1-\beta_1^t} \frac{m}{D}
        - \frac{\alpha\beta_2}{1-\beta_2^t} \frac{v}{D}

(the two terms added in this order). ``weight_decay`` λ: by default the paper's proximal
form, θ ← (θ − step) / (1 + αλ); ``weight_decouple=True`` (the authors' ``no_prox``):
θ ← θ(1 − αλ) before the step. Both are applied by the step itself.

Xie, Zhou, Li, Lin & Yan, "Adan: Adaptive Nesterov Momentum Algorithm for Faster Optimizing
Deep Models" (arXiv:2208.06677, 2022), Algorithm 1, writes the betas the other way round,
m ← (1 − β₁)m + β₁g with (β₁, β₂, β₃) = (0.02, 0.08, 0.01): the reference's β is the paper's
1 − β. The paper starts from m₀ = g₀, n₀ = g₀² without bias corrections; the authors' code and
the reference start from 0 and correct the bias instead. Not offered: the
paper's restart condition (nor adan-pytorch's ``restart_cond``) and the reference's
``max_grad_norm`` (optbench's ``clip_norm`` clips by the global norm, with torch's 1e-6 where
the reference adds ε). Under ``maximize=True`` the reference keeps the un-negated first
gradient as its previous one (a first difference of −2g); optbench negates g before every
step, so its maximising run is the reference's minimising run on −f.

adan-pytorch (not by the paper's authors) takes the paper's betas and differs from the
reference at the first step: its moments stay 0 there (x moves by the decay alone) and the
next step starts them, while its bias corrections count the first step — set
``idle_first_step=True`` (and the reference's betas, 1 − its betas) for its trajectory. It has
only the proximal decay.
"""
from __future__ import annotations

import math

from optbench.kernels.slots import hyper_slots, scalar_slots
from optbench.params import B, F

from .base import WD, Optimizer, register
from .matrix import lerp

HY = hyper_slots("beta1", "beta2", "beta3", "eps", "weight_decay", "weight_decouple",
                 "idle_first_step")
# the two step sizes, sqrt(1 - beta3^t), the decoupled factor 1 - lr λ and the proximal
# divisor 1 + lr λ (each exactly 1.0 when unused)
SC = scalar_slots("step_size", "diff_step_size", "sqrt_bc3", "shrink", "prox")


def adan_prep(sc, hy):
    t = sc[SC.step]
    lr = sc[SC.lr]
    sc[SC.step_size] = lr / (1.0 - math.pow(hy[HY.beta1], t))
    sc[SC.diff_step_size] = lr * hy[HY.beta2] / (1.0 - math.pow(hy[HY.beta2], t))
    sc[SC.sqrt_bc3] = math.sqrt(1.0 - math.pow(hy[HY.beta3], t))
    wd = hy[HY.weight_decay]
    if hy[HY.weight_decouple] != 0.0:
        sc[SC.shrink] = 1.0 - lr * wd
        sc[SC.prox] = 1.0
    else:
        sc[SC.shrink] = 1.0
        sc[SC.prox] = 1.0 + lr * wd


def adan_elem(x, gi, st, sc, hy, i):
    neg_prev = st[3, i]            # -g' (the reference keeps the negated gradient)
    if sc[SC.step] == 1.0:
        neg_prev = -gi
    m = st[0, i]
    v = st[1, i]
    n = st[2, i]
    if hy[HY.idle_first_step] == 0.0 or sc[SC.step] != 1.0:
        d = neg_prev + gi
        m = lerp(m, gi, 1.0 - hy[HY.beta1])
        v = lerp(v, d, 1.0 - hy[HY.beta2])
        d = d * hy[HY.beta2] + gi
        n = n * hy[HY.beta3] + (1.0 - hy[HY.beta3]) * d * d
        st[0, i] = m
        st[1, i] = v
        st[2, i] = n
    den = math.sqrt(n) / sc[SC.sqrt_bc3] + hy[HY.eps]
    xi = x[i] * sc[SC.shrink]
    xi = xi + -sc[SC.step_size] * (m / den)
    xi = xi + -sc[SC.diff_step_size] * (v / den)
    x[i] = xi / sc[SC.prox]
    st[3, i] = -gi


@register
class Adan(Optimizer):
    name = "adan"
    family = "adaptive"
    doc = "adaptive Nesterov momentum with gradient differences (Xie et al. 2022)"
    params = {"lr": F(1e-3, 0.0, lo_open=True), "beta1": F(0.98, 0.0, 1.0, hi_open=True),
              "beta2": F(0.92, 0.0, 1.0, hi_open=True),
              "beta3": F(0.99, 0.0, 1.0, hi_open=True), "eps": F(1e-8, 0.0),
              "weight_decay": WD,
              "weight_decouple": B(False, doc="θ(1 − lr·λ) before the step, else the "
                                              "proximal (θ − step)/(1 + lr·λ)"),
              "idle_first_step": B(False, doc="adan-pytorch's first step: moments stay 0")}
    slots = HY
    PREP = staticmethod(adan_prep)
    ELEM = staticmethod(adan_elem)

    def n_state(self):
        return 4          # m, v (difference momentum), n, the negated previous gradient

    @property
    def weight_decay(self):
        return (0.0, 0.0)   # applied by the step: the proximal form divides after it
