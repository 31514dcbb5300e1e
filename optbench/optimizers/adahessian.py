r"""AdaHessian: Adam with the squared gradient replaced by the square of a Hutchinson estimate
of the Hessian's diagonal, refreshed every ``update_period`` steps.

At 1-based step t, with g = ∇f(θ_t) and, when (t − 1) mod k = 0, the step's S seeded
Rademacher probes u₁ … u_S (:func:`optbench.kernels.probes.rademacher` ``(seed, t·S + s, i)``;
one Hessian-vector product each, at θ_t):

.. math::

    \text{if } (t-1) \bmod k = 0:&\quad D = \tfrac1S \textstyle\sum_s u_s \odot (H(\theta_t)\,u_s),
    \quad v \leftarrow \beta_2 v + (1-\beta_2)\, D \odot D \\
    m &\leftarrow \beta_1 m + (1-\beta_1)\, g \\
    \theta &\leftarrow \theta - \frac{\eta}{1-\beta_1^t}\;
        \frac{m}{\big(v / (1-\beta_2^t)\big)^{p/2} + \epsilon}

(p = ``hessian_power``; m = v = 0 at the start; between refreshes v is kept while the bias
corrections go on counting t, as the reference does). ``weight_decay`` λ as
pytorch-optimizer's: decoupled θ ← θ(1 − ηλ) by default (``weight_decouple``), after the
probes and before the update; θ(1 − λ) with ``fixed_decay``; coupled g ← g + λθ otherwise
(the probes see the loss's Hessian, without the decay's λI, as autograd of the loss does).
``evaluations(t)`` = (t + 1 gradients, S·⌈t / k⌉ HVPs).

Reference: pytorch-optimizer 4.1's ``AdaHessian`` (defaults lr 0.1, betas (0.9, 0.999),
eps 1e-16, hessian_power 1, update_period 1, num_samples 1, Rademacher probes; its tests pass
optbench's probes through ``step(hessian=…)``). Against the paper: the paper averages D over
a convolution kernel's spatial positions (there are none here: a layer's D is per weight, as
the reference's for dense layers) and tunes lr 0.15. Yao, Gholami, Shen, Mustafa, Keutzer &
Mahoney, "ADAHESSIAN: An Adaptive Second Order Optimizer for Machine Learning" (AAAI 2021),
Algorithm 1.
"""
from __future__ import annotations

import numpy as np

from optbench.kernels.probes import rademacher
from optbench.kernels.slots import SC_SEED, hyper_slots, scalar_slots
from optbench.params import B, F, I

from .base import register
from .decay_options import FIXED_DECAY, weight_decouple
from .phased import DONE, HVP, W_OUT, W_POINT, PhasedOptimizer

HY = hyper_slots("beta1", "beta2", "eps", "hessian_power", "update_period", "num_samples",
                 "weight_decay", "weight_decouple", "fixed_decay")
SC = scalar_slots()
M, V, D = 0, 1, 2          # state rows: first moment, second moment of D, D being summed


def adahessian_step(x, g, st, sc, hy, blk, wk, stage):
    d = x.shape[0]
    t = int(sc[SC.step])
    ns = int(hy[HY.num_samples])
    refresh = (t - 1) % int(hy[HY.update_period]) == 0
    if refresh and stage <= ns:
        if stage > 0:       # the probe of sample stage - 1 came back: D += u * (H u) / S
            for i in range(d):
                st[D, i] += wk[W_POINT, i] * wk[W_OUT, i] / ns
        if stage < ns:      # the next sample's probe
            if stage == 0:
                for i in range(d):
                    st[D, i] = 0.0
            seed = int(sc[SC_SEED])
            for i in range(d):
                wk[W_POINT, i] = rademacher(seed, t * ns + stage, i)
            return HVP
        b2 = hy[HY.beta2]
        for i in range(d):
            st[V, i] = st[V, i] * b2 + (1.0 - b2) * st[D, i] * st[D, i]
    lr = sc[SC.lr]
    wd = hy[HY.weight_decay]
    shrink = 1.0
    if hy[HY.weight_decouple] != 0.0:
        shrink = 1.0 - wd * (1.0 if hy[HY.fixed_decay] != 0.0 else lr)
    b1 = hy[HY.beta1]
    step_size = lr / (1.0 - b1 ** t)
    bc2 = 1.0 - hy[HY.beta2] ** t
    half_p = hy[HY.hessian_power] / 2.0
    eps = hy[HY.eps]
    for i in range(d):
        m = st[M, i] + (1.0 - b1) * (g[i] - st[M, i])
        st[M, i] = m
        den = (st[V, i] / bc2) ** half_p + eps
        x[i] = x[i] * shrink - step_size * (m / den)
    return DONE


@register
class AdaHessian(PhasedOptimizer):
    name = "adahessian"
    family = "curvature"
    params = {"lr": F(0.1, 0.0, lo_open=True), "beta1": F(0.9, 0.0, 1.0, hi_open=True),
              "beta2": F(0.999, 0.0, 1.0, hi_open=True),
              "eps": F(1e-16, 0.0, doc="added to the denominator"),
              "hessian_power": F(1.0, 0.0, 1.0, lo_open=True,
                                 doc="p: the denominator is (v̂)^(p/2)"),
              "update_period": I(1, 1, doc="steps between Hessian estimates (k)"),
              "num_samples": I(1, 1, 64, doc="probes per estimate (S)"),
              "weight_decay": F(0.0, 0.0), "weight_decouple": weight_decouple(True),
              "fixed_decay": FIXED_DECAY}
    slots = HY
    requests = ("hvp",)
    STEP = staticmethod(adahessian_step)

    def n_state(self):
        return 3          # m, v, D

    @property
    def weight_decay(self):
        wd = float(self.hyper["weight_decay"])   # decoupled: in the step, after the probes
        return (0.0, 0.0) if self.hyper["weight_decouple"] else (wd, 0.0)

    def evaluations(self, t):
        t = np.asarray(t)
        k = int(self.hyper["update_period"])
        return t + 1, int(self.hyper["num_samples"]) * ((t + k - 1) // k)
