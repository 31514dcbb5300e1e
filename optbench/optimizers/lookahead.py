r"""Lookahead around any first-order optimizer named by ``base=``:
``ob.optimizer("lookahead", base="adam", k=5, alpha=0.5, lr=1e-3)``.

The base optimizer moves the fast weights x; every k steps they are pulled towards the slow
weights φ and both restart from the same point:

.. math::

    x \leftarrow \mathrm{base}(x, g) \ \text{every step}; \qquad
    \text{if } t \bmod k = 0:\ \ \phi \leftarrow \phi + \alpha (x - \phi), \ x \leftarrow \phi

with φ = x₀ (t is the 1-based step; φ is a state row, set at the first step, before the
base's decoupled weight decay, which the wrapper therefore applies itself). The
interpolation is torch's ``lerp(x, φ, 1 − α)``, as pytorch-optimizer's ``Lookahead``
(its ``pullback_momentum='none'``: the base's state is kept as it is). The base's ``alpha``
(rmsprop's smoothing constant) is spelled ``base_alpha``. Zhang, Lucas, Hinton & Ba,
"Lookahead Optimizer: k steps forward, 1 step back" (NeurIPS 2019).
"""
from __future__ import annotations

import numpy as np

from optbench.kernels import compile as kc
from optbench.kernels.slots import SC_LR, SC_STEP, hyper_slots
from optbench.params import F, I

from .base import register
from .phased import BASE, DONE, Wrapper
from .matrix import lerp

HY = hyper_slots("k", "alpha")
WD_DECOUPLED = len(HY)               # the base's decoupled weight decay, after HY
N_OWN_HY = len(HY) + 1
N_OWN_ST = 1                         # state row 0: the slow weights


@kc.template("BASE")
def lookahead_step(x, g, st, sc, hy, blk, wk, stage):
    d = x.shape[0]
    t = int(sc[SC_STEP])
    if t == 1:
        for i in range(d):
            st[0, i] = x[i]
    dwd = hy[WD_DECOUPLED]
    if dwd != 0.0:
        shrink = 1.0 - sc[SC_LR] * dwd
        for i in range(d):
            x[i] = x[i] * shrink
    BASE(x, g, st[N_OWN_ST:], sc, hy[N_OWN_HY:], blk, wk, 0)
    if t % int(hy[HY.k]) == 0:
        w = 1.0 - hy[HY.alpha]
        for i in range(d):
            xi = lerp(x[i], st[0, i], w)
            x[i] = xi
            st[0, i] = xi
    return DONE


@register
class Lookahead(Wrapper):
    name = "lookahead"
    family = "wrapper"
    params = {"k": I(5, 1, doc="base steps between synchronisations"),
              "alpha": F(0.5, 0.0, 1.0, doc="step of the slow weights towards the fast ones")}
    slots = HY
    own_state = N_OWN_ST
    STEP = staticmethod(lookahead_step)

    @property
    def weight_decay(self):
        return self.base.weight_decay[0], 0.0   # decoupled: applied in the step

    def hyper_array(self) -> np.ndarray:
        own = [float(self.hyper[k]) for k in HY] + [self.base.weight_decay[1]]
        return np.concatenate([np.array(own, dtype=np.float64), self.base.hyper_array()])
