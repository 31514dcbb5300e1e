r"""Averaged SGD, as ``torch.optim.ASGD``, with its averaged iterate.

With :math:`\eta_1 = \alpha` and :math:`\mu_1 = 1`, step t is

.. math:: \theta \leftarrow \theta (1 - \lambda \eta_t) - \eta_t g_t, \qquad
          \bar\theta_t = \bar\theta_{t-1} + \mu_t (\theta - \bar\theta_{t-1})
          \ (\bar\theta_t = \theta \text{ while } \mu_t = 1),

then :math:`\eta_{t+1} = \alpha / (1 + \lambda \alpha t)^{a}` and
:math:`\mu_{t+1} = 1 / \max(1, t - t_0)` (λ = ``lambd``, a = ``alpha``, α = ``lr``; α of step
t, as torch reads the group's lr then). Averaging starts after step ``t0`` + 1; before that
:math:`\bar\theta` follows θ. The averaged iterate :math:`\bar\theta` is torch's
``state['ax']``; it is the optimizer's AVG point, so f at it is recorded in the traces column
``f_avg`` (f(x0) at step 0, before any step). ``weight_decay`` is coupled L2.
Polyak & Juditsky (1992), *Acceleration of stochastic approximation by averaging*.
"""
from __future__ import annotations

from optbench.kernels.slots import hyper_slots, scalar_slots
from optbench.params import F

from .base import WD, Optimizer, register

HY = hyper_slots("lambd", "alpha", "t0")
# eta and mu of this step; those of the next step (torch computes them after the update)
SC = scalar_slots("eta", "mu", "next_eta", "next_mu")


def asgd_prep(sc, hy):
    t = sc[SC.step]
    lr = sc[SC.lr]
    if t == 1.0:
        sc[SC.eta] = lr
        sc[SC.mu] = 1.0
    else:
        sc[SC.eta] = sc[SC.next_eta]
        sc[SC.mu] = sc[SC.next_mu]
    sc[SC.next_eta] = lr / ((1.0 + hy[HY.lambd] * lr * t) ** hy[HY.alpha])
    sc[SC.next_mu] = 1.0 / max(1.0, t - hy[HY.t0])


def asgd_elem(x, gi, st, sc, hy, i):
    eta = sc[SC.eta]
    xi = x[i] * (1.0 - hy[HY.lambd] * eta)
    xi = xi - eta * gi
    x[i] = xi
    mu = sc[SC.mu]
    if mu != 1.0:
        st[0, i] = st[0, i] + (xi - st[0, i]) * mu
    else:
        st[0, i] = xi


def asgd_avg(x, st, sc, hy, out):
    """The averaged iterate ax (x itself before the first step)."""
    if sc[SC.step] < 1.0:
        for i in range(x.shape[0]):
            out[i] = x[i]
    else:
        for i in range(x.shape[0]):
            out[i] = st[0, i]


@register
class ASGD(Optimizer):
    name = "asgd"
    family = "first_order"
    torch_name = "ASGD"
    params = {"lr": F(1e-2, 0.0, lo_open=True), "lambd": F(1e-4, 0.0), "alpha": F(0.75, 0.0),
              "t0": F(1e6, 0.0), "weight_decay": WD}
    slots = HY
    PREP = staticmethod(asgd_prep)
    ELEM = staticmethod(asgd_elem)
    AVG = staticmethod(asgd_avg)
