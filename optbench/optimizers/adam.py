r"""Adam and its kin, as ``torch.optim.Adam`` / ``AdamW`` (``amsgrad`` option).

:math:`m_t = \beta_1 m + (1-\beta_1) g`, :math:`v_t = \beta_2 v + (1-\beta_2) g^2`,
:math:`\theta \leftarrow \theta - (\alpha / (1-\beta_1^t))\, m_t / (\sqrt{v_t}/\sqrt{1-\beta_2^t}
+ \epsilon)` — torch's arrangement of :math:`\alpha \hat m / (\sqrt{\hat v} + \epsilon)`.
AMSGrad uses :math:`\max_{s \le t} v_s` in place of :math:`v_t`. ``adam``'s ``weight_decay`` is
coupled L2; ``adamw``'s is decoupled (:math:`\theta \leftarrow \theta (1 - \alpha\lambda)` before
the step, default 1e-2). The powers :math:`\beta^t` are running products.
Kingma & Ba (2015); Loshchilov & Hutter (2019); Reddi, Kale & Kumar (2018).
"""
from __future__ import annotations

import math

from optbench.kernels.slots import hyper_slots, scalar_slots
from optbench.params import B, F

from .base import WD, Optimizer, register

HY = hyper_slots("beta1", "beta2", "eps", "amsgrad")
# beta1^t, beta2^t (running products), the step size lr / bc1 and sqrt(bc2)
SC = scalar_slots("beta1_t", "beta2_t", "step_size", "sqrt_bc2")


def adam_prep(sc, hy):
    # running powers beta^t; below 1e-30, 1 - beta^t == 1 exactly, so flushing them to 0
    # changes no result and keeps the arithmetic out of slow subnormal numbers
    sc[SC.beta1_t] = sc[SC.beta1_t] * hy[HY.beta1] if sc[SC.beta1_t] > 1e-30 else 0.0
    sc[SC.beta2_t] = sc[SC.beta2_t] * hy[HY.beta2] if sc[SC.beta2_t] > 1e-30 else 0.0
    sc[SC.step_size] = sc[SC.lr] / (1.0 - sc[SC.beta1_t])
    sc[SC.sqrt_bc2] = math.sqrt(1.0 - sc[SC.beta2_t])


def adam_elem(x, gi, st, sc, hy, i):
    m = st[0, i]
    m = m + (1.0 - hy[HY.beta1]) * (gi - m)
    v = st[1, i] * hy[HY.beta2] + (1.0 - hy[HY.beta2]) * gi * gi
    st[0, i] = m
    st[1, i] = v
    if hy[HY.amsgrad] != 0.0:
        if v > st[2, i]:
            st[2, i] = v
        v = st[2, i]
    x[i] = x[i] - sc[SC.step_size] * (m / (math.sqrt(v) / sc[SC.sqrt_bc2] + hy[HY.eps]))


@register
class Adam(Optimizer):
    name = "adam"
    family = "adaptive"
    torch_name = "Adam"
    params = {"lr": F(1e-3, 0.0, lo_open=True), "beta1": F(0.9, 0.0, 1.0, hi_open=True),
              "beta2": F(0.999, 0.0, 1.0, hi_open=True), "eps": F(1e-8, 0.0),
              "weight_decay": WD, "amsgrad": B(False)}
    slots = HY
    PREP = staticmethod(adam_prep)
    ELEM = staticmethod(adam_elem)

    def n_state(self):
        return 3 if self.hyper["amsgrad"] else 2

    def init_scalars(self, sc):
        sc[SC.beta1_t] = 1.0
        sc[SC.beta2_t] = 1.0


@register
class AdamW(Adam):
    name = "adamw"
    torch_name = "AdamW"
    decoupled_weight_decay = True
    params = {**Adam.params, "weight_decay": F(1e-2, 0.0)}


@register
class AMSGrad(Adam):
    name = "amsgrad"
    torch_name = "Adam"  # torch.optim.Adam(amsgrad=True)
    params = {**Adam.params, "amsgrad": B(True)}
