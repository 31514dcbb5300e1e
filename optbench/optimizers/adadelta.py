r"""Adadelta, as ``torch.optim.Adadelta``.

:math:`s_t = \rho s_{t-1} + (1-\rho) g_t^2`,
:math:`\Delta_t = \sqrt{a_{t-1} + \epsilon} / \sqrt{s_t + \epsilon} \cdot g_t`,
:math:`a_t = \rho a_{t-1} + (1-\rho) \Delta_t^2`, :math:`\theta \leftarrow \theta - \alpha
\Delta_t` (torch keeps Zeiler's rule and adds the learning rate α, default 1).
``weight_decay`` is coupled L2. Zeiler (2012), *ADADELTA: an adaptive learning rate method*.
"""
from __future__ import annotations

import math

from optbench.kernels.slots import hyper_slots, scalar_slots
from optbench.params import F

from .base import WD, Optimizer, register

HY = hyper_slots("rho", "eps")
SC = scalar_slots()


def adadelta_prep(sc, hy):
    pass


def adadelta_elem(x, gi, st, sc, hy, i):
    rho = hy[HY.rho]
    eps = hy[HY.eps]
    s = st[0, i] * rho + (1.0 - rho) * gi * gi
    delta = math.sqrt(st[1, i] + eps) / math.sqrt(s + eps) * gi
    st[0, i] = s
    st[1, i] = st[1, i] * rho + (1.0 - rho) * delta * delta
    x[i] = x[i] - sc[SC.lr] * delta


@register
class Adadelta(Optimizer):
    name = "adadelta"
    family = "adaptive"
    torch_name = "Adadelta"
    params = {"lr": F(1.0, 0.0, lo_open=True), "rho": F(0.9, 0.0, 1.0), "eps": F(1e-6, 0.0),
              "weight_decay": WD}
    slots = HY
    PREP = staticmethod(adadelta_prep)
    ELEM = staticmethod(adadelta_elem)

    def n_state(self):
        return 2
