r"""Sharpness-Aware Minimisation (SAM; ASAM with ``adaptive=True``) around any first-order
optimizer named by ``base=``: ``ob.optimizer("sam", base="adam", rho=0.05, lr=1e-3)``.

Per step, with g = ∇f(x) (the loop's gradient, before any weight decay):

.. math::

    e = \rho\, \frac{T^2 g}{\lVert T g \rVert + 10^{-12}}, \qquad
    \tilde g = \nabla f(x + e), \qquad x \leftarrow \mathrm{base}(x, \tilde g)

with T = I (SAM) or T = diag(|x|) (ASAM: e = ρ x² g / (‖x ⊙ g‖ + 10⁻¹²)), the norm over the
whole x. The second gradient is a request (``GRAD``, the same minibatch), so a step costs two
gradients: ``evaluations(t)`` = 2t + 1. The base's weight decay is applied as the base
applies it, at x and not at the perturbed point (coupled: λx added to g̃; decoupled:
x ← (1 − γλ) x before the base step), so the wrapper takes it over from the run loop.
Foret, Kleiner, Mobahi & Neyshabur, "Sharpness-Aware Minimization for Efficiently Improving
Generalization" (ICLR 2021); Kwon, Kim, Park & Choi, "ASAM" (ICML 2021); the arrangement
(ε = 1e-12 outside the norm, base step at the restored x) is davda54/sam's.
"""
from __future__ import annotations

import math

import numpy as np

from optbench.kernels import compile as kc
from optbench.kernels.slots import SC_LR, hyper_slots
from optbench.params import B, F

from .base import register
from .phased import BASE, DONE, GRAD, W_OUT, W_POINT, Wrapper

HY = hyper_slots("rho", "adaptive")
WD_COUPLED, WD_DECOUPLED = len(HY), len(HY) + 1   # the base's weight decay, after HY
N_OWN_HY = len(HY) + 2


@kc.template("BASE")
def sam_step(x, g, st, sc, hy, blk, wk, stage):
    d = x.shape[0]
    if stage == 0:
        adaptive = hy[HY.adaptive] != 0.0
        s = 0.0
        for i in range(d):
            tg = abs(x[i]) * g[i] if adaptive else g[i]
            s += tg * tg
        scale = hy[HY.rho] / (math.sqrt(s) + 1e-12)
        for i in range(d):
            e = x[i] * x[i] * g[i] * scale if adaptive else g[i] * scale
            wk[W_POINT, i] = x[i] + e
        return GRAD
    wd = hy[WD_COUPLED]
    if wd != 0.0:
        for i in range(d):
            wk[W_OUT, i] = wk[W_OUT, i] + wd * x[i]
    dwd = hy[WD_DECOUPLED]
    if dwd != 0.0:
        shrink = 1.0 - sc[SC_LR] * dwd
        for i in range(d):
            x[i] = x[i] * shrink
    BASE(x, wk[W_OUT], st, sc, hy[N_OWN_HY:], blk, wk, 0)
    return DONE


@register
class SAM(Wrapper):
    name = "sam"
    family = "wrapper"
    params = {"rho": F(0.05, 0.0, doc="radius of the perturbation"),
              "adaptive": B(False, doc="ASAM: the perturbation scaled by |x|")}
    slots = HY
    requests = ("grad",)
    STEP = staticmethod(sam_step)

    @property
    def weight_decay(self):
        return 0.0, 0.0      # applied in the step, at x (see the module docstring)

    def hyper_array(self) -> np.ndarray:
        own = [float(self.hyper[k]) for k in HY] + list(self.base.weight_decay)
        return np.concatenate([np.array(own, dtype=np.float64), self.base.hyper_array()])

    def evaluations(self, t):
        t = np.asarray(t)
        return 2 * t + 1, np.zeros_like(t)
