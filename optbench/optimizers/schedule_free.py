r"""Schedule-Free AdamW and SGD (Defazio et al. 2024), as the ``schedulefree`` package 1.4.1
(``AdamWScheduleFree`` / ``SGDScheduleFree``) computes them in train mode.

Three sequences: z (the base iterate, SGD's or Adam's), x (the average of the z's, the point
the package's eval mode shows) and y = (1 − β) z + β x, where gradients are taken. optbench's
iterate is **y**, as the package holds the parameters in train mode; the traces record f(y)
in ``f`` and f(x) in ``f_avg`` (``AVG`` writes x = y + (1 − 1/β)(z − y), the package's
``eval()``). Per step k = 0, 1, … (β = ``beta1`` for AdamW, ``momentum`` for SGD):

.. math::

    \gamma_k &= \gamma \min(1, (k+1)/\text{warmup\_steps}), \quad
    \gamma_{max} = \max_{j \le k} \gamma_j, \quad
    w_k = (k+1)^r \gamma_{max}^{p}, \quad c_{k+1} = w_k / \textstyle\sum_{j \le k} w_j \\
    u &= g + \lambda y \ \text{(SGD)}, \qquad
    v \leftarrow \beta_2 v + (1-\beta_2) g^2, \
    u = g / (\sqrt{v / (1-\beta_2^{k+1})} + \epsilon) + \lambda y \ \text{(AdamW)} \\
    y &\leftarrow (1 - c_{k+1})\, y + c_{k+1} z + \gamma_k (\beta (1 - c_{k+1}) - 1)\, u,
    \qquad z \leftarrow z - \gamma_k u

with z = y at the first step, p = ``weight_lr_power`` and γ the schedule's learning rate
(a schedule composes with the warmup, as a torch scheduler would with the package). The
weight decay λ is the package's: for SGD added to the gradient (coupled, by the run loop);
for AdamW added to the normalised gradient u at y (inside the kernel; neither torch's L2 nor
AdamW's decoupled decay). The lerps are torch's (``a + w (b − a)`` for |w| < ½, else
``b − (b − a)(1 − w)``). Defazio, Yang, Mehta, Mishchenko, Khaled & Cutkosky, "The Road
Less Scheduled" (NeurIPS 2024); github.com/facebookresearch/schedule_free.
"""
from __future__ import annotations

import math

from optbench.kernels.compile import kernel
from optbench.kernels.slots import hyper_slots, scalar_slots
from optbench.params import F, I

from .base import WD, Optimizer, register
from .matrix import lerp

HY = hyper_slots("beta1", "beta2", "eps", "weight_decay", "warmup_steps", "r",
                 "weight_lr_power")
HY_SGD = hyper_slots("momentum", "weight_decay", "warmup_steps", "r", "weight_lr_power")
# gamma_k (warmed-up lr), max lr so far, sum of weights, c_{k+1}, y's step coefficient,
# 1 - beta2^(k+1)
SC = scalar_slots("lr_k", "lr_max", "weight_sum", "ckp1", "y_coef", "bc2")


@kernel
def weighting(sc, beta, warmup, r, power):
    """The step's warmed-up lr, the averaging weight c_{k+1} and y's step coefficient."""
    k1 = sc[SC.step]                 # k + 1
    lr = sc[SC.lr]
    if k1 - 1.0 < warmup:
        lr = lr * (k1 / warmup)
    sc[SC.lr_k] = lr
    if lr > sc[SC.lr_max]:
        sc[SC.lr_max] = lr
    weight = k1 ** r * sc[SC.lr_max] ** power
    sc[SC.weight_sum] = sc[SC.weight_sum] + weight
    c = weight / sc[SC.weight_sum] if sc[SC.weight_sum] != 0.0 else 0.0
    sc[SC.ckp1] = c
    sc[SC.y_coef] = lr * (beta * (1.0 - c) - 1.0)


def sf_adamw_prep(sc, hy):
    weighting(sc, hy[HY.beta1], hy[HY.warmup_steps], hy[HY.r], hy[HY.weight_lr_power])
    sc[SC.bc2] = 1.0 - hy[HY.beta2] ** sc[SC.step]


def sf_sgd_prep(sc, hy):
    weighting(sc, hy[HY_SGD.momentum], hy[HY_SGD.warmup_steps], hy[HY_SGD.r],
              hy[HY_SGD.weight_lr_power])


@kernel
def sf_move(x, u, st, sc, i):
    """y ← lerp(y, z, c) + y_coef u;  z ← z − γ_k u  (state row 0 is z)."""
    z = st[0, i]
    x[i] = lerp(x[i], z, sc[SC.ckp1]) + sc[SC.y_coef] * u
    st[0, i] = z - sc[SC.lr_k] * u


def sf_adamw_elem(x, gi, st, sc, hy, i):
    if sc[SC.step] == 1.0:
        st[0, i] = x[i]              # z starts at y
    v = st[1, i] * hy[HY.beta2] + (1.0 - hy[HY.beta2]) * (gi * gi)
    st[1, i] = v
    u = gi / (math.sqrt(v / sc[SC.bc2]) + hy[HY.eps])
    if hy[HY.weight_decay] != 0.0:
        u = u + hy[HY.weight_decay] * x[i]
    sf_move(x, u, st, sc, i)


def sf_sgd_elem(x, gi, st, sc, hy, i):
    if sc[SC.step] == 1.0:
        st[0, i] = x[i]
    sf_move(x, gi, st, sc, i)


@kernel
def sf_eval_point(x, st, sc, beta, out):
    """x = lerp(y, z, 1 − 1/β) (the package's eval()); before the first step, y itself."""
    w = 1.0 - 1.0 / beta
    for i in range(x.shape[0]):
        out[i] = x[i] if sc[SC.step] < 1.0 else lerp(x[i], st[0, i], w)


def sf_adamw_avg(x, st, sc, hy, out):
    sf_eval_point(x, st, sc, hy[HY.beta1], out)


def sf_sgd_avg(x, st, sc, hy, out):
    sf_eval_point(x, st, sc, hy[HY_SGD.momentum], out)


SHARED = {"warmup_steps": I(0, 0, doc="linear warmup steps"),
          "r": F(0.0, 0.0, doc="polynomial weighting power of the average"),
          "weight_lr_power": F(2.0, 0.0, doc="the average's weights are lr_max to this power")}


class _ScheduleFree(Optimizer):
    family = "schedule-free"

    def n_state(self):
        return 1

    def init_scalars(self, sc):
        sc[SC.lr_max] = -1.0


@register
class ScheduleFreeAdamW(_ScheduleFree):
    name = "schedule-free-adamw"
    params = {"lr": F(0.0025, 0.0, lo_open=True), "beta1": F(0.9, 0.0, 1.0, lo_open=True,
                                                              hi_open=True),
              "beta2": F(0.999, 0.0, 1.0, hi_open=True), "eps": F(1e-8, 0.0),
              "weight_decay": WD, **SHARED}
    slots = HY
    PREP = staticmethod(sf_adamw_prep)
    ELEM = staticmethod(sf_adamw_elem)
    AVG = staticmethod(sf_adamw_avg)

    def n_state(self):
        return 2

    @property
    def weight_decay(self):
        return 0.0, 0.0      # the kernel adds λ y to the normalised gradient


@register
class ScheduleFreeSGD(_ScheduleFree):
    name = "schedule-free-sgd"
    params = {"lr": F(1.0, 0.0, lo_open=True),
              "momentum": F(0.9, 0.0, 1.0, lo_open=True, hi_open=True),
              "weight_decay": WD, **SHARED}
    slots = HY_SGD
    PREP = staticmethod(sf_sgd_prep)
    ELEM = staticmethod(sf_sgd_elem)
    AVG = staticmethod(sf_sgd_avg)
