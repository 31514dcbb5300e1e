r"""RAdam (rectified Adam), as ``torch.optim.RAdam``.

:math:`m_t, v_t` as Adam; :math:`\rho_\infty = 2/(1-\beta_2) - 1`,
:math:`\rho_t = \rho_\infty - 2 t \beta_2^t / (1-\beta_2^t)`. If :math:`\rho_t > 5`:

.. math:: \theta \leftarrow \theta - \frac{m_t}{1-\beta_1^t}\, \alpha\,
          \frac{\sqrt{1-\beta_2^t}}{\sqrt{v_t} + \epsilon}\, r_t, \qquad
          r_t = \sqrt{\frac{(\rho_t-4)(\rho_t-2)\rho_\infty}{(\rho_\infty-4)(\rho_\infty-2)\rho_t}}

else :math:`\theta \leftarrow \theta - \alpha\, m_t / (1-\beta_1^t)` (the variance is not yet
tractable: an un-adapted momentum step). ``weight_decay`` is coupled L2, or with
``decoupled_weight_decay=True`` :math:`\theta \leftarrow \theta (1 - \alpha\lambda)` before the
step (RAdamW). The powers :math:`\beta^t` are computed as powers, as torch does: ρ_t subtracts
two numbers near ρ_∞ and is compared with 5, so its arithmetic follows torch's exactly.
Liu et al. (2020), *On the variance of the adaptive learning rate and beyond*, ICLR.
"""
from __future__ import annotations

import math

from optbench.kernels.slots import hyper_slots, scalar_slots
from optbench.params import B, F

from .base import WD, Optimizer, register
from .nadam import DecoupledOption

HY = hyper_slots("beta1", "beta2", "eps")
# 1 - beta1^t, sqrt(1 - beta2^t), the rectification r_t and whether it applies (rho_t > 5)
SC = scalar_slots("bc1", "sqrt_bc2", "rect", "rectified")


def radam_prep(sc, hy):
    t = sc[SC.step]
    b2 = hy[HY.beta2]
    sc[SC.bc1] = 1.0 - hy[HY.beta1] ** t
    b2t = b2 ** t
    bc2 = 1.0 - b2t
    sc[SC.sqrt_bc2] = bc2 ** 0.5
    rho_inf = 2.0 / (1.0 - b2) - 1.0
    rho_t = rho_inf - 2.0 * t * b2t / bc2
    if rho_t > 5.0:
        sc[SC.rectified] = 1.0
        sc[SC.rect] = ((rho_t - 4.0) * (rho_t - 2.0) * rho_inf
                       / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t)) ** 0.5
    else:
        sc[SC.rectified] = 0.0
        sc[SC.rect] = 0.0


def radam_elem(x, gi, st, sc, hy, i):
    m = st[0, i]
    m = m + (1.0 - hy[HY.beta1]) * (gi - m)
    v = st[1, i] * hy[HY.beta2] + (1.0 - hy[HY.beta2]) * gi * gi
    st[0, i] = m
    st[1, i] = v
    mhat_lr = (m / sc[SC.bc1]) * sc[SC.lr]
    if sc[SC.rectified] != 0.0:
        x[i] = x[i] - mhat_lr * (sc[SC.sqrt_bc2] / (math.sqrt(v) + hy[HY.eps])) * sc[SC.rect]
    else:
        x[i] = x[i] - mhat_lr


@register
class RAdam(DecoupledOption, Optimizer):
    name = "radam"
    family = "adaptive"
    torch_name = "RAdam"
    params = {"lr": F(1e-3, 0.0, lo_open=True), "beta1": F(0.9, 0.0, 1.0, hi_open=True),
              "beta2": F(0.999, 0.0, 1.0, hi_open=True), "eps": F(1e-8, 0.0),
              "weight_decay": WD, "decoupled_weight_decay": B(False)}
    slots = HY
    PREP = staticmethod(radam_prep)
    ELEM = staticmethod(radam_elem)

    def n_state(self):
        return 2
