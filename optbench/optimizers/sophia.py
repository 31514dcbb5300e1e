r"""Sophia-H: a clipped, diagonally preconditioned step whose preconditioner is a moving
average of Hutchinson estimates of the Hessian's diagonal, refreshed every k steps.

At 1-based step t, with g = ∇f(θ_t) and u the step's seeded Rademacher probe
(:func:`optbench.kernels.probes.rademacher` ``(seed, t, i)``):

.. math::

    m &\leftarrow \beta_1 m + (1-\beta_1) g \\
    \text{if } (t-1) \bmod k = 0:&\quad \hat h = u \odot (H(\theta_t)\, u), \quad
    h \leftarrow \beta_2 h + (1-\beta_2) \hat h \\
    \theta &\leftarrow (1 - \eta\lambda)\, \theta, \qquad
    \theta \leftarrow \theta - \eta\, \mathrm{clip}\big(m / \max(\rho h, \epsilon), 1\big)

(clip(z, 1) = max(min(z, 1), −1) per coordinate; m = h = 0 at the start, no bias
correction). One Hessian-vector product every k steps, at θ_t before the weight decay
(a ``HVP`` request), so ``evaluations(t)`` = (t + 1 gradients, ⌈t / k⌉ HVPs). ``rho`` is the
paper's γ and SophiaG's ``rho`` (there multiplied by a batch size for the Gauss-Newton-
Bartlett estimator; Sophia-H has none: default γ = 0.01, the paper's Sophia-H value);
``weight_decay`` λ is decoupled (default 0.1), the other defaults SophiaG's. The max with ε
is the paper's (a negative curvature estimate gives the full clipped step), where SophiaG's
code adds 1e-15 to a Gauss-Newton estimate that cannot be negative. Liu, Li, Hall, Liang &
Ma, "Sophia: A Scalable Stochastic Second-order Optimizer for Language Model Pre-training"
(ICLR 2024), Algorithm 3; github.com/Liuhong99/Sophia.
"""
from __future__ import annotations

import numpy as np

from optbench.kernels.probes import rademacher
from optbench.kernels.slots import SC_SEED, hyper_slots, scalar_slots
from optbench.params import F, I

from .base import register
from .phased import DONE, HVP, W_OUT, W_POINT, PhasedOptimizer

HY = hyper_slots("beta1", "beta2", "rho", "eps", "weight_decay", "k")
SC = scalar_slots()


def sophia_step(x, g, st, sc, hy, blk, wk, stage):
    d = x.shape[0]
    t = int(sc[SC.step])
    if stage == 0 and (t - 1) % int(hy[HY.k]) == 0:
        seed = int(sc[SC_SEED])
        for i in range(d):
            wk[W_POINT, i] = rademacher(seed, t, i)
        return HVP
    if stage == 1:       # h <- beta2 h + (1 - beta2) u * (H u)
        b2 = hy[HY.beta2]
        for i in range(d):
            st[1, i] = b2 * st[1, i] + (1.0 - b2) * (wk[W_POINT, i] * wk[W_OUT, i])
    lr = sc[SC.lr]
    shrink = 1.0 - lr * hy[HY.weight_decay]
    b1 = hy[HY.beta1]
    for i in range(d):
        m = b1 * st[0, i] + (1.0 - b1) * g[i]
        st[0, i] = m
        den = hy[HY.rho] * st[1, i]
        if den < hy[HY.eps]:
            den = hy[HY.eps]
        r = m / den
        r = min(max(r, -1.0), 1.0)
        x[i] = x[i] * shrink - lr * r
    return DONE


@register
class Sophia(PhasedOptimizer):
    name = "sophia"
    family = "curvature"
    params = {"lr": F(1e-4, 0.0, lo_open=True), "beta1": F(0.965, 0.0, 1.0, hi_open=True),
              "beta2": F(0.99, 0.0, 1.0, hi_open=True),
              "rho": F(0.01, 0.0, doc="scale of the curvature estimate (γ)"),
              "eps": F(1e-12, 0.0, lo_open=True, doc="floor of the denominator"),
              "weight_decay": F(0.1, 0.0, doc="decoupled weight decay"),
              "k": I(10, 1, doc="steps between Hessian estimates")}
    slots = HY
    requests = ("hvp",)
    STEP = staticmethod(sophia_step)

    def n_state(self):
        return 2          # m, h

    @property
    def weight_decay(self):
        return 0.0, 0.0   # decoupled, applied in the step after the Hessian estimate

    def evaluations(self, t):
        t = np.asarray(t)
        k = int(self.hyper["k"])
        return t + 1, (t + k - 1) // k
