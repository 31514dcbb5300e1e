r"""MADGRAD (momentumized, adaptive, dual-averaged gradient), as ``pytorch_optimizer.MADGRAD``
(pytorch-optimizer 4.1.0: names, defaults, arithmetic; the authors' code,
github.com/facebookresearch/madgrad, computes the same).

Per step t (1-based), with γ = α + ε (the step's lr plus ε, as in both codes),
:math:`\lambda_t = \gamma \sqrt{t}`, and s, ν starting at 0:

.. math::

    \nu &\leftarrow \nu + \lambda_t g^2, \qquad s \leftarrow s + \lambda_t g, \qquad
    z = x_0 - s / (\nu^{1/3} + \epsilon) \\
    \theta &\leftarrow \mathrm{lerp}(\theta, z, 1 - \mu) \quad (\mu = \texttt{momentum} > 0),
    \qquad \theta \leftarrow z \quad (\mu = 0)

x₀ is the starting point (kept in a state row when μ > 0; with μ = 0 it is recovered as
θ + s/(ν^{1/3} + ε) before the accumulators move, as the reference does to save the row).
With ε = 0 a coordinate whose ν is 0 divides by ∞ (it stays at x₀). ``weight_decay`` λ is
coupled L2 by default (g ← g + λθ, the run loop); ``weight_decouple=True`` subtracts
γλθ_old after the step (θ_old: the iterate before it), applied by the step itself.

Defazio & Jelassi, "Adaptivity without Compromise: A Momentumized, Adaptive, Dual Averaged
Gradient Method for Stochastic Optimization" (arXiv:2101.11075, 2021), Algorithm 1:
λ_k = γ√(k+1) with the plain learning rate; both codes add ε to it (a difference only for lr
near ε = 1e-6). The authors' package defaults to lr = 1e-2, the reference to 1e-3 (optbench:
the reference's), and names the decoupled decay ``decouple_decay``.
"""
from __future__ import annotations

import math

from optbench.kernels.slots import hyper_slots, scalar_slots
from optbench.params import B, F

from .base import Optimizer, register
from .matrix import lerp

HY = hyper_slots("momentum", "eps", "weight_decay", "weight_decouple")
# lambda_t; the decoupled decay's coefficient -(lr + eps) * weight_decay (0 when coupled)
SC = scalar_slots("lamb", "decay")


def madgrad_prep(sc, hy):
    lr = sc[SC.lr] + hy[HY.eps]
    sc[SC.lamb] = lr * math.pow(sc[SC.step], 0.5)
    sc[SC.decay] = 0.0
    if hy[HY.weight_decouple] != 0.0:
        sc[SC.decay] = -lr * hy[HY.weight_decay]


def madgrad_elem(x, gi, st, sc, hy, i):
    eps = hy[HY.eps]
    old = x[i]
    nu = st[0, i]
    s = st[1, i]
    mom = hy[HY.momentum]
    if mom == 0.0:
        rms = nu ** (1.0 / 3.0) + eps
        if rms == 0.0:
            rms = math.inf
        x0 = old + s / rms
    else:
        if sc[SC.step] == 1.0:
            st[2, i] = old
        x0 = st[2, i]
    lam = sc[SC.lamb]
    nu = nu + lam * gi * gi
    s = s + lam * gi
    st[0, i] = nu
    st[1, i] = s
    rms = nu ** (1.0 / 3.0) + eps
    if rms == 0.0:
        rms = math.inf
    z = x0 + -1.0 * (s / rms)
    xi = z
    if mom != 0.0:
        xi = lerp(old, z, 1.0 - mom)
    x[i] = xi + sc[SC.decay] * old


@register
class MADGRAD(Optimizer):
    name = "madgrad"
    family = "dual-averaging"
    doc = "momentumized dual averaging with cube-root adaptivity (Defazio & Jelassi 2021)"
    params = {"lr": F(1e-3, 0.0, lo_open=True),
              "momentum": F(0.9, 0.0, 1.0, hi_open=True), "eps": F(1e-6, 0.0),
              "weight_decay": F(0.0, 0.0, doc="weight decay"),
              "weight_decouple": B(False, doc="subtract (lr + eps)·λ·θ_old after the step, "
                                              "else g ← g + λθ")}
    slots = HY
    PREP = staticmethod(madgrad_prep)
    ELEM = staticmethod(madgrad_elem)

    def n_state(self):
        return 3 if self.hyper["momentum"] > 0.0 else 2

    @property
    def weight_decay(self):
        wd = float(self.hyper["weight_decay"])
        return (0.0, 0.0) if self.hyper["weight_decouple"] else (wd, 0.0)
