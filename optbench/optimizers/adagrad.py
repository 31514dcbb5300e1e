r"""Adagrad, as ``torch.optim.Adagrad``.

:math:`\alpha_t = \alpha / (1 + (t-1)\,\mathrm{lr\_decay})`, :math:`r_t = r_{t-1} + g^2`
(:math:`r_0` = ``initial_accumulator_value``), :math:`\theta \leftarrow \theta - \alpha_t g /
(\sqrt{r_t} + \delta)`. ``weight_decay`` is coupled L2. Duchi, Hazan & Singer (2011).
"""
from __future__ import annotations

import math

from optbench.kernels.slots import hyper_slots, scalar_slots
from optbench.params import F

from .base import WD, Optimizer, register

HY = hyper_slots("lr_decay", "eps")
SC = scalar_slots("step_lr")   # the decayed learning rate of the step


def adagrad_prep(sc, hy):
    sc[SC.step_lr] = sc[SC.lr] / (1.0 + (sc[SC.step] - 1.0) * hy[HY.lr_decay])


def adagrad_elem(x, gi, st, sc, hy, i):
    r = st[0, i] + gi * gi
    st[0, i] = r
    x[i] = x[i] - sc[SC.step_lr] * (gi / (math.sqrt(r) + hy[HY.eps]))


@register
class Adagrad(Optimizer):
    name = "adagrad"
    family = "adaptive"
    torch_name = "Adagrad"
    params = {"lr": F(1e-2, 0.0, lo_open=True), "lr_decay": F(0.0, 0.0),
              "weight_decay": WD, "initial_accumulator_value": F(0.0, 0.0),
              "eps": F(1e-10, 0.0)}
    slots = HY
    PREP = staticmethod(adagrad_prep)
    ELEM = staticmethod(adagrad_elem)

    def init_state(self, dim):
        st, sc = super().init_state(dim)
        st[0, :] = self.hyper["initial_accumulator_value"]
        return st, sc
