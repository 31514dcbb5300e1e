r"""Adagrad, as ``torch.optim.Adagrad``.

:math:`\alpha_t = \alpha / (1 + (t-1)\,\mathrm{lr\_decay})`, :math:`r_t = r_{t-1} + g^2`
(:math:`r_0` = ``initial_accumulator_value``), :math:`\theta \leftarrow \theta - \alpha_t g /
(\sqrt{r_t} + \delta)`. ``weight_decay`` is coupled L2. Duchi, Hazan & Singer (2011).
"""
from __future__ import annotations

import math

from optbench.params import F

from .base import WD, Optimizer, register


def adagrad_prep(sc, hy):
    sc[2] = sc[0] / (1.0 + (sc[1] - 1.0) * hy[0])


def adagrad_elem(x, gi, st, sc, hy, i):
    r = st[0, i] + gi * gi
    st[0, i] = r
    x[i] = x[i] - sc[2] * (gi / (math.sqrt(r) + hy[1]))


@register
class Adagrad(Optimizer):
    name = "adagrad"
    family = "adaptive"
    torch_name = "Adagrad"
    params = {"lr": F(1e-2, 0.0, lo_open=True), "lr_decay": F(0.0, 0.0),
              "weight_decay": WD, "initial_accumulator_value": F(0.0, 0.0),
              "eps": F(1e-10, 0.0)}
    slots = ("lr_decay", "eps")
    PREP = staticmethod(adagrad_prep)
    ELEM = staticmethod(adagrad_elem)

    def init_state(self, dim):
        st, sc = super().init_state(dim)
        st[0, :] = self.hyper["initial_accumulator_value"]
        return st, sc
