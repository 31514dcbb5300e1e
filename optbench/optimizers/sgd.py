r"""Gradient descent and SGD with momentum / Nesterov, as ``torch.optim.SGD``.

Momentum buffer: :math:`b_1 = g_1`, :math:`b_t = \mu b_{t-1} + (1-\tau) g_t` (torch's first
step copies the gradient, with no dampening); the step is :math:`\theta \leftarrow \theta -
\alpha b_t`, or with Nesterov :math:`\theta \leftarrow \theta - \alpha (g_t + \mu b_t)`.
The EMA form :math:`v_t = \beta v_{t-1} + (1-\beta) g` is ``dampening = momentum``.
``weight_decay`` is coupled L2 (added to the gradient). Plain gradient descent is ``sgd``
with momentum 0 on a full-batch problem; on a minibatch problem it is minibatch SGD.
"""
from __future__ import annotations

from optbench.kernels.slots import hyper_slots, scalar_slots
from optbench.params import B, F
from optbench.validate import OptbenchInputError

from .base import LR, WD, Optimizer, register

HY = hyper_slots("momentum", "dampening", "nesterov")
SC = scalar_slots()


def sgd_prep(sc, hy):
    pass


def sgd_elem(x, gi, st, sc, hy, i):
    mom = hy[HY.momentum]
    if mom != 0.0:
        if sc[SC.step] == 1.0:
            b = gi
        else:
            b = mom * st[0, i] + (1.0 - hy[HY.dampening]) * gi
        st[0, i] = b
        if hy[HY.nesterov] != 0.0:
            gi = gi + mom * b
        else:
            gi = b
    x[i] = x[i] - sc[SC.lr] * gi


@register
class SGD(Optimizer):
    name = "sgd"
    family = "first_order"
    torch_name = "SGD"
    params = {"lr": F(1e-3, 0.0, lo_open=True, doc="learning rate"),
              "momentum": F(0.0, 0.0, 1.0, hi_open=True), "dampening": F(0.0, 0.0, 1.0),
              "nesterov": B(False), "weight_decay": WD}
    slots = HY
    PREP = staticmethod(sgd_prep)
    ELEM = staticmethod(sgd_elem)

    def check(self):
        h = self.hyper
        if h.get("nesterov") and (h["momentum"] <= 0 or h["dampening"] != 0):
            raise OptbenchInputError(
                "optimizer sgd: nesterov requires momentum > 0 and dampening = 0")


@register
class GD(SGD):
    """Gradient descent: ``sgd`` without momentum (``gd``), default lr 1e-2."""

    name = "gd"
    params = {"lr": F(1e-2, 0.0, lo_open=True), "weight_decay": WD}   # hy: momentum 0, ...


@register
class Momentum(SGD):
    """Heavy-ball momentum: ``sgd`` with momentum 0.9 by default."""

    name = "momentum"
    params = {**SGD.params, "lr": F(1e-2, 0.0, lo_open=True),
              "momentum": F(0.9, 0.0, 1.0, hi_open=True)}


@register
class Nesterov(SGD):
    """Nesterov momentum: ``sgd`` with momentum 0.9 and nesterov on by default."""

    name = "nesterov"
    params = {**SGD.params, "lr": F(1e-2, 0.0, lo_open=True),
              "momentum": F(0.9, 0.0, 1.0, hi_open=True), "nesterov": B(True)}


_ = LR
