r"""Lion (EvoLved Sign Momentum), as ``pytorch_optimizer.Lion`` (pytorch-optimizer 4.1.0: its
names, defaults and arithmetic) and ``lion_pytorch.Lion`` (lion-pytorch 0.2.5).

Per step, with gradient g and momentum m (0 at the start):

.. math::

    c = \mathrm{lerp}(m, g, 1-\beta_1) = \beta_1 m + (1-\beta_1) g, \qquad
    \theta \leftarrow \theta - \alpha\, \mathrm{sign}(c), \qquad
    m \leftarrow \mathrm{lerp}(m, g, 1-\beta_2)

(sign(0) = 0: a coordinate whose c is exactly 0 does not move). ``weight_decay`` λ is
decoupled by default, θ ← θ(1 − αλ) before the step (``weight_decouple=False``: coupled,
g ← g + λθ; ``fixed_decay``: θ ← θ(1 − λ); :mod:`optbench.optimizers.decay_options`).

Chen et al., "Symbolic Discovery of Optimization Algorithms" (NeurIPS 2023), Program 1: the
same rule, with the decay written into the update, θ ← θ − α(sign(c) + λθ), which is the
default decoupled form. The authors' code (github.com/google/automl, ``lion/lion_pytorch.py``)
and both references default to α = 1e-4, β₁ = 0.9, β₂ = 0.99, λ = 0. lion-pytorch (not by the
paper's authors) with ``decoupled_weight_decay=True`` divides λ by the initial lr,
θ ← θ(1 − α_t λ / α_0): ``fixed_decay`` under a constant lr (the tests check it so); under a
schedule the two differ, and only pytorch-optimizer's ``fixed_decay`` is offered. The
interpolations are torch's ``lerp`` (pytorch-optimizer); the authors' code and lion-pytorch
write β m + (1 − β) g, which rounds differently in the last bit.
"""
from __future__ import annotations

from optbench.kernels.slots import hyper_slots, scalar_slots
from optbench.params import F

from .base import WD, Optimizer, register
from .decay_options import FIXED_DECAY, DecayOptions, weight_decouple
from .matrix import lerp

HY = hyper_slots("beta1", "beta2")
SC = scalar_slots("shrink")     # the fixed decoupled decay's factor 1 - λ (else 1.0)


def lion_prep(sc, hy):
    pass


def lion_elem(x, gi, st, sc, hy, i):
    m = st[0, i]
    c = lerp(m, gi, 1.0 - hy[HY.beta1])
    st[0, i] = lerp(m, gi, 1.0 - hy[HY.beta2])
    s = c                # sign(c): 0 stays 0 (and NaN stays NaN), as torch's sign
    if c > 0.0:
        s = 1.0
    elif c < 0.0:
        s = -1.0
    x[i] = x[i] * sc[SC.shrink] + -sc[SC.lr] * s


@register
class Lion(DecayOptions, Optimizer):
    name = "lion"
    family = "sign"
    doc = "sign of an interpolated momentum (Chen et al. 2023)"
    params = {"lr": F(1e-4, 0.0, lo_open=True), "beta1": F(0.9, 0.0, 1.0, hi_open=True),
              "beta2": F(0.99, 0.0, 1.0, hi_open=True), "weight_decay": WD,
              "weight_decouple": weight_decouple(True), "fixed_decay": FIXED_DECAY}
    slots = HY
    PREP = staticmethod(lion_prep)
    ELEM = staticmethod(lion_elem)

    def n_state(self):
        return 1

    def init_scalars(self, sc):
        self.init_shrink(sc, SC.shrink)
