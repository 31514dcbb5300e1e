r"""NAdam (Adam with Nesterov momentum and a momentum schedule), as ``torch.optim.NAdam``.

:math:`\mu_t = \beta_1 (1 - \tfrac12\, 0.96^{t\psi})` (ψ = ``momentum_decay``),
:math:`\Pi_t = \prod_{s \le t} \mu_s`, :math:`m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t`,
:math:`v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2`,
:math:`D_t = \sqrt{v_t / (1-\beta_2^t)} + \epsilon`,

.. math:: \theta \leftarrow \theta - \alpha \frac{1-\mu_t}{1-\Pi_t} \frac{g_t}{D_t}
          - \alpha \frac{\mu_{t+1}}{1-\Pi_t \mu_{t+1}} \frac{m_t}{D_t}

(the two terms added in this order, as torch). ``weight_decay`` is coupled L2, or with
``decoupled_weight_decay=True`` :math:`\theta \leftarrow \theta (1 - \alpha\lambda)` before the
step (NAdamW). :math:`\beta_2^t` is a running product; :math:`\mu_t` is computed from its
power as torch computes it, and :math:`\Pi_t` is a running product in float64 (torch keeps it
in its default scalar dtype: float32 unless ``torch.set_default_dtype(torch.float64)``).
Dozat (2016), *Incorporating Nesterov momentum into Adam*.
"""
from __future__ import annotations

import math

from optbench.kernels.slots import hyper_slots, scalar_slots
from optbench.params import B, F

from .base import WD, Optimizer, register

HY = hyper_slots("beta1", "beta2", "eps", "momentum_decay")
# beta2^t (running), 1 - beta2^t, the product of the mu's, the two step coefficients, and
# their parts that every run of a sweep shares: 1 - mu_t, 1 - prod, mu_{t+1}, 1 - prod mu_{t+1}
SC = scalar_slots("beta2_t", "bc2", "mu_product", "coef_g", "coef_m", "one_minus_mu", "den_g",
                  "mu_next", "den_m")


def nadam_prep(sc, hy):
    t = sc[SC.step]
    b1 = hy[HY.beta1]
    # running beta2^t, flushed to 0 below 1e-30 (see adam_prep)
    sc[SC.beta2_t] = sc[SC.beta2_t] * hy[HY.beta2] if sc[SC.beta2_t] > 1e-30 else 0.0
    sc[SC.bc2] = 1.0 - sc[SC.beta2_t]
    mu = b1 * (1.0 - 0.5 * (0.96 ** (t * hy[HY.momentum_decay])))
    mu_next = b1 * (1.0 - 0.5 * (0.96 ** ((t + 1.0) * hy[HY.momentum_decay])))
    prod = sc[SC.mu_product] * mu
    sc[SC.mu_product] = prod
    # the shared parts in rows of their own (the same bits): the lane driver computes them
    # once per step for a sweep's chunk, and each run's statements below read only them
    sc[SC.one_minus_mu] = 1.0 - mu
    sc[SC.den_g] = 1.0 - prod
    sc[SC.mu_next] = mu_next
    sc[SC.den_m] = 1.0 - prod * mu_next
    lr = sc[SC.lr]
    sc[SC.coef_g] = (-lr * sc[SC.one_minus_mu]) / sc[SC.den_g]
    sc[SC.coef_m] = (-lr * sc[SC.mu_next]) / sc[SC.den_m]


def nadam_elem(x, gi, st, sc, hy, i):
    m = st[0, i]
    m = m + (1.0 - hy[HY.beta1]) * (gi - m)
    v = st[1, i] * hy[HY.beta2] + (1.0 - hy[HY.beta2]) * gi * gi
    st[0, i] = m
    st[1, i] = v
    den = math.sqrt(v / sc[SC.bc2]) + hy[HY.eps]
    xi = x[i] + (sc[SC.coef_g] * gi) / den
    x[i] = xi + (sc[SC.coef_m] * m) / den


class DecoupledOption:
    """``weight_decay`` coupled (L2 on the gradient) or, with the hyperparameter
    ``decoupled_weight_decay``, decoupled (x ← x(1 − αλ) before the step), as torch."""

    @property
    def weight_decay(self) -> tuple[float, float]:
        wd = float(self.hyper["weight_decay"])
        return (0.0, wd) if self.hyper["decoupled_weight_decay"] else (wd, 0.0)


@register
class NAdam(DecoupledOption, Optimizer):
    name = "nadam"
    family = "adaptive"
    torch_name = "NAdam"
    params = {"lr": F(2e-3, 0.0, lo_open=True), "beta1": F(0.9, 0.0, 1.0, hi_open=True),
              "beta2": F(0.999, 0.0, 1.0, hi_open=True), "eps": F(1e-8, 0.0),
              "weight_decay": WD, "momentum_decay": F(4e-3, 0.0),
              "decoupled_weight_decay": B(False)}
    slots = HY
    PREP = staticmethod(nadam_prep)
    ELEM = staticmethod(nadam_elem)

    def n_state(self):
        return 2

    def init_scalars(self, sc):
        sc[SC.beta2_t] = 1.0
        sc[SC.mu_product] = 1.0
