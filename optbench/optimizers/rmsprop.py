r"""RMSprop, as ``torch.optim.RMSprop``, with an optional bias correction.

:math:`r_t = \rho r_{t-1} + (1-\rho) g^2` (``alpha`` = ρ); with ``centered`` also
:math:`a_t = \rho a_{t-1} + (1-\rho) g` and the denominator :math:`\sqrt{r_t - a_t^2} +
\delta`, else :math:`\sqrt{r_t} + \delta`. With ``momentum`` μ > 0:
:math:`b_t = \mu b_{t-1} + g/\mathrm{den}`, :math:`\theta \leftarrow \theta - \alpha b_t`; else
:math:`\theta \leftarrow \theta - \alpha g/\mathrm{den}`. ``bias_correction`` (not in torch;
a published variant) divides :math:`r_t` and :math:`a_t` by :math:`1 - \rho^t`.
``weight_decay`` is coupled L2. Tieleman & Hinton (2012), lecture 6.5.
"""
from __future__ import annotations

import math

from optbench.kernels.slots import hyper_slots, scalar_slots
from optbench.params import B, F

from .base import WD, Optimizer, register

HY = hyper_slots("alpha", "eps", "momentum", "centered", "bias_correction")
SC = scalar_slots("alpha_t", "inv_bc")   # running rho^t; 1 / (1 - rho^t) or 1


def rmsprop_prep(sc, hy):
    # running rho^t (flushed: see adam_prep)
    sc[SC.alpha_t] = sc[SC.alpha_t] * hy[HY.alpha] if sc[SC.alpha_t] > 1e-30 else 0.0
    if hy[HY.bias_correction] != 0.0:
        sc[SC.inv_bc] = 1.0 / (1.0 - sc[SC.alpha_t])
    else:
        sc[SC.inv_bc] = 1.0


def rmsprop_elem(x, gi, st, sc, hy, i):
    rho = hy[HY.alpha]
    r = st[0, i] * rho + (1.0 - rho) * gi * gi
    st[0, i] = r
    if hy[HY.centered] != 0.0:
        a = st[1, i] + (1.0 - rho) * (gi - st[1, i])
        st[1, i] = a
        a = a * sc[SC.inv_bc]
        # r̂ − â² ≥ 0 in exact arithmetic; it is exactly 0 at t = 1 with bias correction, where
        # rounding could make it negative: clamp (torch's centered form never reaches 0)
        den = math.sqrt(max(r * sc[SC.inv_bc] - a * a, 0.0)) + hy[HY.eps]
    else:
        den = math.sqrt(r * sc[SC.inv_bc]) + hy[HY.eps]
    if hy[HY.momentum] > 0.0:
        b = st[2, i] * hy[HY.momentum] + gi / den
        st[2, i] = b
        x[i] = x[i] - sc[SC.lr] * b
    else:
        x[i] = x[i] - sc[SC.lr] * (gi / den)


@register
class RMSprop(Optimizer):
    name = "rmsprop"
    family = "adaptive"
    torch_name = "RMSprop"
    params = {"lr": F(1e-2, 0.0, lo_open=True), "alpha": F(0.99, 0.0, 1.0, hi_open=True),
              "eps": F(1e-8, 0.0), "weight_decay": WD, "momentum": F(0.0, 0.0, 1.0, hi_open=True),
              "centered": B(False), "bias_correction": B(False)}
    slots = HY
    PREP = staticmethod(rmsprop_prep)
    ELEM = staticmethod(rmsprop_elem)

    def n_state(self):
        return 3

    def init_scalars(self, sc):
        sc[SC.alpha_t] = 1.0
