r"""D-Adaptation Adam: Adam whose step size d is a running lower bound on the distance to the
solution, as the authors' package ``dadaptation.DAdaptAdam`` (dadaptation 3.2: its names,
defaults and arithmetic).

Per step, with gradient g (coupled weight decay already added: ``decouple=False``, the
default) and learning rate γ (a multiplier of d, default 1): with k the number of steps
taken, ``use_bias_correction`` gives :math:`c = \sqrt{1-\beta_2^{k+1}}/(1-\beta_1^{k+1})`
(else c = 1), :math:`\eta = d\gamma c`, :math:`\beta = \sqrt{\beta_2}`, and

.. math::

    a &\leftarrow a + \eta\, \langle g,\ s / (\sqrt v + \epsilon)\rangle
        \quad \text{(summed over the blocks, with s and v before this step's update)} \\
    m &\leftarrow \beta_1 m + \eta (1-\beta_1) g, \qquad
    v \leftarrow \beta_2 v + (1-\beta_2) g^2, \qquad
    s \leftarrow \beta s + \eta (1-\beta) g \\
    r &\leftarrow \beta r + (1-\beta)\, a, \qquad
    \hat d = r / ((1-\beta) \lVert s\rVert_1), \qquad
    d \leftarrow \max(d, \min(\hat d, d \cdot \texttt{growth\_rate})) \\
    x &\leftarrow x - \eta\lambda x \ (\texttt{decouple}), \qquad
    x \leftarrow x - m / (\sqrt v + \epsilon)

(a starts at 0 every step; r is the package's ``numerator_weighted``). The reductions — a
and ‖s‖₁ over all blocks — precede the step; the new d acts from the next step on (m already
carries η). When ‖s‖₁ = 0 (a zero gradient) the package returns before r, d and x are
updated (m, v, s are), and so here. ``growth_rate`` None is the package's ∞.

Defazio & Mishchenko, "Learning-Rate-Free Learning by D-Adaptation" (ICML 2023), its Adam
variant; github.com/facebookresearch/dadaptation. Where the package departs from
the paper: ``growth_rate`` (a cap on d's growth, ∞ by default, which is the paper's rule),
``use_bias_correction`` (off by default, as the paper) and decoupled weight decay
(``decouple``, off by default) are the package's additions; γ multiplies every step size. The
package's ``layer_scale`` (per-group factors), ``log_every`` and ``fsdp_in_use`` are not
offered (one parameter group). Runs in the phased engine: a and ‖s‖₁ are reductions over
all of x.
"""
from __future__ import annotations

import math

import numpy as np

from optbench.kernels.blocks import B_OFF, B_SIZE
from optbench.kernels.slots import hyper_slots, scalar_slots
from optbench.params import B, F

from .base import register
from .phased import PhasedOptimizer

HY = hyper_slots("beta1", "beta2", "eps", "weight_decay", "decouple", "use_bias_correction",
                 "growth_rate")
# the estimate d, the weighted numerator r and k (steps taken, for bias correction)
SC = scalar_slots("d", "numerator_weighted", "k")
ROW_M, ROW_V, ROW_S = 0, 1, 2


def dadapt_adam_step(x, g, st, sc, hy, blk, wk, stage):
    b1 = hy[HY.beta1]
    b2 = hy[HY.beta2]
    eps = hy[HY.eps]
    k = sc[SC.k]
    d = sc[SC.d]
    bc = 1.0
    if hy[HY.use_bias_correction] != 0.0:
        bc = math.sqrt(1.0 - b2 ** (k + 1.0)) / (1.0 - b1 ** (k + 1.0))
    dlr = d * sc[SC.lr] * bc
    sb2 = math.sqrt(b2)
    m_scale = dlr * (1.0 - b1)
    s_scale = dlr * (1.0 - sb2)
    acc = 0.0
    sk_l1 = 0.0
    for b in range(blk.shape[0]):        # reductions, per block in block order
        o = blk[b, B_OFF]
        n = blk[b, B_SIZE]
        dot = 0.0
        for i in range(o, o + n):
            dot += g[i] * (st[ROW_S, i] / (math.sqrt(st[ROW_V, i]) + eps))
        acc += dlr * dot
        l1 = 0.0
        for i in range(o, o + n):
            gi = g[i]
            st[ROW_M, i] = st[ROW_M, i] * b1 + m_scale * gi
            st[ROW_V, i] = st[ROW_V, i] * b2 + (1.0 - b2) * gi * gi
            s = st[ROW_S, i] * sb2 + s_scale * gi
            st[ROW_S, i] = s
            l1 += abs(s)
        sk_l1 += l1
    if sk_l1 == 0.0:                     # no gradient: the package returns here
        return 0
    nw = sb2 * sc[SC.numerator_weighted] + (1.0 - sb2) * acc
    d_hat = nw / ((1.0 - sb2) * sk_l1)
    grown = d * hy[HY.growth_rate]
    cap = grown if grown < d_hat else d_hat     # Python's min(d_hat, grown)
    if cap > d:                                 # max(d, cap)
        d = cap
    sc[SC.numerator_weighted] = nw
    sc[SC.d] = d
    decay = -hy[HY.weight_decay] * dlr if hy[HY.decouple] != 0.0 else 0.0
    for i in range(x.shape[0]):          # the elementwise step
        den = math.sqrt(st[ROW_V, i]) + eps
        if decay != 0.0:
            x[i] = x[i] + decay * x[i]
        x[i] = x[i] - st[ROW_M, i] / den
    sc[SC.k] = k + 1.0
    return 0


@register
class DAdaptAdam(PhasedOptimizer):
    name = "dadapt-adam"
    family = "parameter-free"
    doc = "Adam with a D-Adaptation step size (Defazio & Mishchenko 2023)"
    params = {"lr": F(1.0, 0.0, lo_open=True, doc="multiplier of the estimated step size"),
              "beta1": F(0.9, 0.0, 1.0, hi_open=True),
              "beta2": F(0.999, 0.0, 1.0, hi_open=True),
              "eps": F(1e-8, 0.0, lo_open=True), "weight_decay": F(0.0, 0.0),
              "decouple": B(False, doc="x <- x - lr d lambda x (AdamW-style), else g + lambda x"),
              "use_bias_correction": B(False),
              "d0": F(1e-6, 0.0, lo_open=True, doc="initial estimate of d"),
              "growth_rate": F(None, 1.0, doc="max factor of d per step (None: unbounded)")}
    slots = HY
    STEP = staticmethod(dadapt_adam_step)

    def n_state(self):
        return 3            # m, v, s

    @property
    def weight_decay(self):
        wd = float(self.hyper["weight_decay"])
        return (0.0, 0.0) if self.hyper["decouple"] else (wd, 0.0)

    def init_scalars(self, sc):
        sc[SC.d] = float(self.hyper["d0"])
        sc[SC.numerator_weighted] = 0.0
        sc[SC.k] = 0.0

    def hyper_array(self):
        h = dict(self.hyper)
        if h["growth_rate"] is None:
            h["growth_rate"] = math.inf
        return np.array([float(h[k]) for k in self.slots], dtype=np.float64)
