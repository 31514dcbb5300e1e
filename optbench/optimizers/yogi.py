r"""Yogi (Adam whose second moment grows additively), as ``pytorch_optimizer.Yogi``
(pytorch-optimizer 4.1.0: names, defaults, arithmetic).

Per step t (1-based), with m and v starting at ``initial_accumulator`` (both, as the
reference):

.. math::

    m &\leftarrow \mathrm{lerp}(m, g, 1-\beta_1), \qquad
    v \leftarrow v - (1-\beta_2)\, \mathrm{sign}(v - g^2)\, g^2 \\
    \theta &\leftarrow \theta - \frac{\alpha}{1-\beta_1^t}\,
        \frac{m}{\sqrt{v}/\sqrt{1-\beta_2^t} + \epsilon}

``weight_decay`` decoupled by default (``weight_decouple``, ``fixed_decay``:
:mod:`optbench.optimizers.decay_options`).

Zaheer, Reddi, Sachan, Kale & Kumar, "Adaptive Methods for Nonconvex Optimization"
(NeurIPS 2018), Algorithm 2, has the same m and v but no bias correction,
:math:`\theta \leftarrow \theta - \alpha\, m / (\sqrt v + \epsilon)`, and m₀ = 0: the
reference corrects both moments as Adam does (its first steps are up to 1/(1 − β₁) = 10 times
the paper's), and starts m at ``initial_accumulator`` as well as v (an offset of 1e-6 β₁ᵗ).
``bias_correction=False`` gives the paper's step (the reference has no such option;
``initial_accumulator`` sets both starts). The powers β^t are ``math.pow``, as in
the reference.
"""
from __future__ import annotations

import math

from optbench.kernels.slots import hyper_slots, scalar_slots
from optbench.params import B, F

from .base import WD, Optimizer, register
from .decay_options import FIXED_DECAY, DecayOptions, weight_decouple
from .matrix import lerp

HY = hyper_slots("beta1", "beta2", "eps", "bias_correction")
# lr / (1 - beta1^t), sqrt(1 - beta2^t) (1 and lr without bias correction), the fixed decay
SC = scalar_slots("step_size", "sqrt_bc2", "shrink")


def yogi_prep(sc, hy):
    t = sc[SC.step]
    if hy[HY.bias_correction] != 0.0:
        sc[SC.step_size] = sc[SC.lr] / (1.0 - math.pow(hy[HY.beta1], t))
        sc[SC.sqrt_bc2] = math.sqrt(1.0 - math.pow(hy[HY.beta2], t))
    else:
        sc[SC.step_size] = sc[SC.lr]
        sc[SC.sqrt_bc2] = 1.0


def yogi_elem(x, gi, st, sc, hy, i):
    xi = x[i] * sc[SC.shrink]
    g2 = gi * gi
    m = lerp(st[0, i], gi, 1.0 - hy[HY.beta1])
    v = st[1, i]
    s = 0.0              # sign(v - g²), 0 when equal (torch's sign)
    if v > g2:
        s = 1.0
    elif v < g2:
        s = -1.0
    v = v + -(1.0 - hy[HY.beta2]) * s * g2
    st[0, i] = m
    st[1, i] = v
    x[i] = xi + -sc[SC.step_size] * (m / (math.sqrt(v) / sc[SC.sqrt_bc2] + hy[HY.eps]))


@register
class Yogi(DecayOptions, Optimizer):
    name = "yogi"
    family = "adaptive"
    doc = "Adam with an additive, sign-controlled second moment (Zaheer et al. 2018)"
    params = {"lr": F(1e-2, 0.0, lo_open=True), "beta1": F(0.9, 0.0, 1.0, hi_open=True),
              "beta2": F(0.999, 0.0, 1.0, hi_open=True), "eps": F(1e-3, 0.0),
              "initial_accumulator": F(1e-6, 0.0, doc="initial value of m and v"),
              "weight_decay": WD, "weight_decouple": weight_decouple(True),
              "fixed_decay": FIXED_DECAY,
              "bias_correction": B(True, doc="Adam's corrections (False: the paper's step)")}
    slots = HY
    PREP = staticmethod(yogi_prep)
    ELEM = staticmethod(yogi_elem)

    def n_state(self):
        return 2

    def init_state(self, dim):
        st, sc = super().init_state(dim)
        st[:2, :] = self.hyper["initial_accumulator"]
        return st, sc

    def init_scalars(self, sc):
        self.init_shrink(sc, SC.shrink)
