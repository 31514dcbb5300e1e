r"""AdaBelief (Adam with the "belief" in the observed gradient as its second moment), as
``pytorch_optimizer.AdaBelief`` (pytorch-optimizer 4.1.0: names, defaults, arithmetic).

Per step t (1-based):

.. math::

    m &\leftarrow \mathrm{lerp}(m, g, 1-\beta_1), \qquad
    s \leftarrow \beta_2 s + (1-\beta_2)(g - m)^2 + \epsilon \\
    \theta &\leftarrow \theta - \frac{\alpha}{1-\beta_1^t}\,
        \frac{m}{\sqrt{s}/\sqrt{1-\beta_2^t} + \epsilon}

(ε twice, as in the paper: inside s at every step and in the denominator). Options:

* ``ams_bound``: :math:`\hat s = \max_{k \le t} s_k` in place of s (AMSGrad's bound);
* ``rectify`` (RAdam's rectification): with :math:`\rho_\infty = 2/(1-\beta_2) - 1` and
  :math:`\rho_t = \rho_\infty - 2t\beta_2^t/(1-\beta_2^t)`, if :math:`\rho_t \ge`
  ``n_sma_threshold`` the step is :math:`\alpha r_t / (1-\beta_1^t) \cdot m / (\sqrt s +
  \epsilon)` with :math:`r_t = \sqrt{(1-\beta_2^t)(\rho_t-4)(\rho_t-2)\rho_\infty /
  ((\rho_\infty-4)(\rho_\infty-2)\rho_t)}`; below it, an SGD-with-momentum step
  :math:`\alpha m / (1-\beta_1^t)` (``degenerated_to_sgd``) or none;
* ``weight_decay`` decoupled by default (``weight_decouple``, ``fixed_decay``:
  :mod:`optbench.optimizers.decay_options`).

The powers β^t are ``math.pow`` as in the reference. Zhuang et al., "AdaBelief Optimizer:
Adapting Stepsizes by the Belief in Observed Gradients" (NeurIPS 2020), Algorithm 2: the
default rule is the paper's (bias-corrected m and s, ε in s and in the denominator). The
authors' package ``adabelief-pytorch`` 0.2 defaults to ``rectify=True``; the reference and
optbench default to ``rectify=False``, the paper's algorithm.
"""
from __future__ import annotations

import math

from optbench.kernels.slots import hyper_slots, scalar_slots
from optbench.params import B, F, I

from .base import WD, Optimizer, register
from .decay_options import FIXED_DECAY, DecayOptions, weight_decouple
from .matrix import lerp

HY = hyper_slots("beta1", "beta2", "eps", "ams_bound", "rectify", "n_sma_threshold",
                 "degenerated_to_sgd")
# the step size; sqrt(1 - beta2^t) (1.0 when rectified: r_t holds it); the step's kind
# (1 adaptive, 0 SGD momentum, -1 none); the fixed decoupled decay's factor; 1 - beta1^t
SC = scalar_slots("step_size", "sqrt_bc2", "kind", "shrink", "bc1")


def adabelief_prep(sc, hy):
    t = sc[SC.step]
    b2 = hy[HY.beta2]
    # the powers in statements of their own: the same in every run of a sweep, the lane
    # driver computes them once per step (runner/lane_step.py), and the same bits
    sc[SC.bc1] = 1.0 - math.pow(hy[HY.beta1], t)
    lr = sc[SC.lr]
    kind = 1.0
    sc[SC.sqrt_bc2] = math.sqrt(1.0 - math.pow(b2, t))
    if hy[HY.rectify] != 0.0:       # pytorch-optimizer's get_rectify_step_size
        sc[SC.sqrt_bc2] = 1.0
        n_sma_max = 2.0 / (1.0 - b2) - 1.0
        b2t = b2 ** t
        n_sma = n_sma_max - 2.0 * t * b2t / (1.0 - b2t)
        rt = 1.0
        if n_sma >= hy[HY.n_sma_threshold]:
            rt = math.sqrt((1.0 - b2t) * (n_sma - 4.0) / (n_sma_max - 4.0) * (n_sma - 2.0)
                           / n_sma * n_sma_max / (n_sma_max - 2.0))
        elif hy[HY.degenerated_to_sgd] != 0.0:
            kind = 0.0
        else:
            kind = -1.0
        lr = lr * rt
    sc[SC.step_size] = lr / sc[SC.bc1]
    sc[SC.kind] = kind


def adabelief_elem(x, gi, st, sc, hy, i):
    xi = x[i] * sc[SC.shrink]
    m = lerp(st[0, i], gi, 1.0 - hy[HY.beta1])
    r = gi - m
    s = st[1, i] * hy[HY.beta2] + (1.0 - hy[HY.beta2]) * r * r + hy[HY.eps]
    st[0, i] = m
    st[1, i] = s
    if hy[HY.ams_bound] != 0.0:
        if s > st[2, i]:
            st[2, i] = s
        s = st[2, i]
    if sc[SC.kind] > 0.0:
        xi = xi + -sc[SC.step_size] * (m / (math.sqrt(s) / sc[SC.sqrt_bc2] + hy[HY.eps]))
    elif sc[SC.kind] == 0.0:
        xi = xi + -sc[SC.step_size] * m
    x[i] = xi


@register
class AdaBelief(DecayOptions, Optimizer):
    name = "adabelief"
    family = "adaptive"
    doc = "Adam with the variance of g around m as its second moment (Zhuang et al. 2020)"
    params = {"lr": F(1e-3, 0.0, lo_open=True), "beta1": F(0.9, 0.0, 1.0, hi_open=True),
              "beta2": F(0.999, 0.0, 1.0, hi_open=True), "eps": F(1e-16, 0.0),
              "weight_decay": WD, "weight_decouple": weight_decouple(True),
              "fixed_decay": FIXED_DECAY,
              "rectify": B(False, doc="RAdam's rectification of the step"),
              "n_sma_threshold": I(5, 5, doc="rectified steps from rho_t >= this on"),
              "degenerated_to_sgd": B(True, doc="before that, SGD-momentum steps (else none)"),
              "ams_bound": B(False, doc="the running maximum of s (AMSGrad)")}
    slots = HY
    PREP = staticmethod(adabelief_prep)
    ELEM = staticmethod(adabelief_elem)

    def n_state(self):
        return 3 if self.hyper["ams_bound"] else 2

    def init_scalars(self, sc):
        self.init_shrink(sc, SC.shrink)
