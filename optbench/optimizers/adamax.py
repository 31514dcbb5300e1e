r"""Adamax (Adam with the infinity norm), as ``torch.optim.Adamax``.

:math:`m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t`,
:math:`u_t = \max(\beta_2 u_{t-1}, |g_t| + \epsilon)`,
:math:`\theta \leftarrow \theta - (\alpha / (1-\beta_1^t))\, m_t / u_t` — torch's arrangement
(ε inside the maximum, no bias correction of u). ``weight_decay`` is coupled L2. The power
:math:`\beta_1^t` is a running product. Kingma & Ba (2015), §7.1.
"""
from __future__ import annotations

from optbench.kernels.slots import hyper_slots, scalar_slots
from optbench.params import F

from .base import WD, Optimizer, register

HY = hyper_slots("beta1", "beta2", "eps")
SC = scalar_slots("beta1_t", "clr")   # beta1^t (running product), lr / (1 - beta1^t)


def adamax_prep(sc, hy):
    # running beta1^t, flushed to 0 below 1e-30 (1 - beta1^t is then exactly 1: see adam_prep)
    sc[SC.beta1_t] = sc[SC.beta1_t] * hy[HY.beta1] if sc[SC.beta1_t] > 1e-30 else 0.0
    sc[SC.clr] = sc[SC.lr] / (1.0 - sc[SC.beta1_t])


def adamax_elem(x, gi, st, sc, hy, i):
    m = st[0, i]
    m = m + (1.0 - hy[HY.beta1]) * (gi - m)
    u = st[1, i] * hy[HY.beta2]
    a = abs(gi) + hy[HY.eps]
    if a > u:
        u = a
    st[0, i] = m
    st[1, i] = u
    x[i] = x[i] - (sc[SC.clr] * m) / u


@register
class Adamax(Optimizer):
    name = "adamax"
    family = "adaptive"
    torch_name = "Adamax"
    params = {"lr": F(2e-3, 0.0, lo_open=True), "beta1": F(0.9, 0.0, 1.0, hi_open=True),
              "beta2": F(0.999, 0.0, 1.0, hi_open=True), "eps": F(1e-8, 0.0),
              "weight_decay": WD}
    slots = HY
    PREP = staticmethod(adamax_prep)
    ELEM = staticmethod(adamax_elem)

    def n_state(self):
        return 2

    def init_scalars(self, sc):
        sc[SC.beta1_t] = 1.0
