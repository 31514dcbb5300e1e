r"""Prodigy: Adam whose step size d is estimated from the run itself, as the authors' package
``prodigyopt.Prodigy`` (prodigyopt 1.1.2: its names, defaults and arithmetic).

Per step, with gradient g (coupled weight decay already added: ``decouple=False``), the
iterate x, its start x₀ and the learning rate γ (a multiplier of d, default 1): with
k the number of steps taken so far, ``use_bias_correction`` gives
:math:`c = \sqrt{1-\beta_2^{k+1}} / (1-\beta_1^{k+1})` (else c = 1), :math:`\eta = d\gamma c`,
β₃ = ``beta3`` (default :math:`\sqrt{\beta_2}`), and

.. math::

    r &\leftarrow \beta_3 r + \tfrac{d}{d_0}\,\eta\, \langle g, x_0 - x\rangle, \qquad
    s \leftarrow \beta_3 s + \tfrac{d}{d_0}\,\eta'\, g
    \quad (\eta' = d \text{ with } \texttt{safeguard\_warmup}, \text{ else } \eta) \\
    m &\leftarrow \beta_1 m + d (1-\beta_1) g, \qquad
    v \leftarrow \beta_2 v + d^2 (1-\beta_2) g^2 \\
    \hat d &= d_\text{coef}\, r / \lVert s\rVert_1, \quad
    d_\text{max} \leftarrow \max(d_\text{max}, \hat d), \quad
    d \leftarrow \min(d_\text{max},\, d \cdot \texttt{growth\_rate})
    \ \ (\text{while } d = d_0 \text{, first } d \leftarrow \max(d, \hat d)) \\
    x &\leftarrow x - \eta \lambda x \ (\texttt{decouple}), \qquad
    x \leftarrow x - \eta\, m / (\sqrt v + d\,\epsilon)

with the new d in the denominator (``beta1 = 0``: :math:`x \leftarrow x - \eta d\, g /
(\sqrt v + d\epsilon)`). r and s are global: sums over every block (the package's
parameters). ``slice_p`` = p > 1 keeps x₀ and s on every p-th coordinate of each block only
(the package's memory-saving approximation). When ‖s‖₁ = 0 (a zero gradient) the package
returns before the d estimate and the step: m, v and s are updated, r, d, k and x are not,
and so here. ``growth_rate`` None is the package's ∞.

Departures of the package from Mishchenko & Defazio, "Prodigy: An Expeditiously Adaptive
Parameter-Free Learner" (ICML 2024), the Adam version of Prodigy (its section "Deriving
Adam-like step sizes"):

* r and s are the paper's (increments (1 − β₃) γ d² ⟨g, x₀ − x⟩ and (1 − β₃) γ d² g) divided
  by (1 − β₃) d₀: a constant factor that cancels in d̂ = r / ‖s‖₁, so the same estimate (up
  to rounding);
* the denominator uses the new estimate, :math:`\sqrt v + d_{k+1}\epsilon`, where the paper
  writes :math:`d_k \epsilon` (the ε term only; no option);
* with ``beta1 = 0`` the package steps by :math:`\eta\, d_{k+1} g / (\cdot)`, the new d, where
  the paper's :math:`m = d_k g` gives :math:`\eta\, d_k g / (\cdot)` (pytorch-optimizer's
  ``Prodigy`` follows the paper here; optbench the package);
* ``d_coef``, ``growth_rate``, ``safeguard_warmup``, ``use_bias_correction``, decoupled
  weight decay (on by default) and ``slice_p`` are the package's additions; their defaults
  (1, ∞, off, off, λ = 0, 1) give the paper's rule.

The learning rate γ comes from the run's schedule, as the package's group lr under a torch
scheduler. ``fsdp_in_use`` (distributed) is not offered. Runs in the phased engine: r and
‖s‖₁ are reductions over all of x before the step.
"""
from __future__ import annotations

import math

import numpy as np

from optbench.kernels.blocks import B_OFF, B_SIZE
from optbench.kernels.slots import hyper_slots, scalar_slots
from optbench.params import B, F, I

from .base import register
from .phased import PhasedOptimizer

HY = hyper_slots("beta1", "beta2", "beta3", "eps", "weight_decay", "decouple",
                 "use_bias_correction", "safeguard_warmup", "d0", "d_coef", "growth_rate",
                 "slice_p")
# the estimate d, its running max, the numerator r and k (steps taken, for bias correction)
SC = scalar_slots("d", "d_max", "d_numerator", "k")
ROW_M, ROW_V, ROW_S, ROW_X0 = 0, 1, 2, 3


def prodigy_step(x, g, st, sc, hy, blk, wk, stage):
    b1 = hy[HY.beta1]
    b2 = hy[HY.beta2]
    b3 = hy[HY.beta3]
    d0 = hy[HY.d0]
    sp = int(hy[HY.slice_p])
    k = sc[SC.k]
    d = sc[SC.d]
    lr = sc[SC.lr]
    bc = 1.0
    if hy[HY.use_bias_correction] != 0.0:
        bc = math.sqrt(1.0 - b2 ** (k + 1.0)) / (1.0 - b1 ** (k + 1.0))
    dlr = d * lr * bc
    if sc[SC.step] == 1.0:               # the package keeps x0 from its first step
        for b in range(blk.shape[0]):
            o = blk[b, B_OFF]
            for i in range(o, o + blk[b, B_SIZE], sp):
                st[ROW_X0, i] = x[i]
    num_scale = (d / d0) * dlr
    s_scale = (d / d0) * (d if hy[HY.safeguard_warmup] != 0.0 else dlr)
    m_scale = d * (1.0 - b1)
    v_scale = d * d * (1.0 - b2)
    delta = 0.0
    denom = 0.0
    for b in range(blk.shape[0]):        # reductions (per block, summed in block order)
        o = blk[b, B_OFF]
        n = blk[b, B_SIZE]
        dot = 0.0
        for i in range(o, o + n, sp):
            dot += g[i] * (st[ROW_X0, i] - x[i])
        delta += num_scale * dot
        l1 = 0.0
        for i in range(o, o + n):
            gi = g[i]
            if b1 > 0.0:
                st[ROW_M, i] = st[ROW_M, i] * b1 + m_scale * gi
            st[ROW_V, i] = st[ROW_V, i] * b2 + v_scale * gi * gi
        for i in range(o, o + n, sp):
            s = st[ROW_S, i] * b3 + s_scale * g[i]
            st[ROW_S, i] = s
            l1 += abs(s)
        denom += l1
    if denom == 0.0:                     # no gradient: the package returns here
        return 0
    numerator = sc[SC.d_numerator] * b3 + delta
    d_hat = hy[HY.d_coef] * numerator / denom
    if d == d0 and d_hat > d:            # Python's max / min, argument order kept
        d = d_hat
    d_max = sc[SC.d_max]
    if d_hat > d_max:
        d_max = d_hat
    grown = d * hy[HY.growth_rate]
    d = grown if grown < d_max else d_max
    sc[SC.d_numerator] = numerator
    sc[SC.d] = d
    sc[SC.d_max] = d_max
    decay = -hy[HY.weight_decay] * dlr if hy[HY.decouple] != 0.0 else 0.0
    eps_d = d * hy[HY.eps]
    for i in range(x.shape[0]):          # the elementwise step
        den = math.sqrt(st[ROW_V, i]) + eps_d
        if decay != 0.0:
            x[i] = x[i] + decay * x[i]
        if b1 > 0.0:
            x[i] = x[i] + -dlr * (st[ROW_M, i] / den)
        else:
            x[i] = x[i] + (-dlr * d) * (g[i] / den)
    sc[SC.k] = k + 1.0
    return 0


@register
class Prodigy(PhasedOptimizer):
    name = "prodigy"
    family = "parameter-free"
    doc = "Adam with a distance-to-solution step size (Mishchenko & Defazio 2024)"
    params = {"lr": F(1.0, 0.0, lo_open=True, doc="multiplier of the estimated step size"),
              "beta1": F(0.9, 0.0, 1.0, hi_open=True),
              "beta2": F(0.999, 0.0, 1.0, hi_open=True),
              "beta3": F(None, 0.0, 1.0, hi_open=True,
                         doc="decay of r and s (None: sqrt(beta2))"),
              "eps": F(1e-8, 0.0, lo_open=True), "weight_decay": F(0.0, 0.0),
              "decouple": B(True, doc="x <- x - lr d lambda x (AdamW-style), else g + lambda x"),
              "use_bias_correction": B(False), "safeguard_warmup": B(False, doc=(
                  "s accumulates d g, not d lr g (for warm-up schedules)")),
              "d0": F(1e-6, 0.0, lo_open=True, doc="initial estimate of d"),
              "d_coef": F(1.0, 0.0, lo_open=True, doc="multiplier of the estimate"),
              "growth_rate": F(None, 1.0, doc="max factor of d per step (None: unbounded)"),
              "slice_p": I(1, 1, doc="estimate d on every slice_p-th coordinate")}
    slots = HY
    STEP = staticmethod(prodigy_step)

    def n_state(self):
        return 4            # m, v, s, x0

    @property
    def weight_decay(self):
        wd = float(self.hyper["weight_decay"])
        return (0.0, 0.0) if self.hyper["decouple"] else (wd, 0.0)

    def init_scalars(self, sc):
        d0 = float(self.hyper["d0"])
        sc[SC.d] = d0
        sc[SC.d_max] = d0
        sc[SC.d_numerator] = 0.0
        sc[SC.k] = 0.0

    def hyper_array(self):
        h = dict(self.hyper)
        if h["beta3"] is None:
            h["beta3"] = math.sqrt(h["beta2"])
        if h["growth_rate"] is None:
            h["growth_rate"] = math.inf
        return np.array([float(h[k]) for k in self.slots], dtype=np.float64)
