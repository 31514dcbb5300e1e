r"""Rprop (resilient backpropagation), as ``torch.optim.Rprop``.

Per coordinate, with s = sign(g_t · g'_{t-1}) (g' the previous gradient as stored below, 0 at
the start) and step size :math:`\delta` (:math:`\delta_0` = ``lr``, set at the first step):

.. math:: \delta \leftarrow \mathrm{clamp}(\delta \cdot \eta,\ \delta_{\min},\ \delta_{\max}),
          \quad \eta = \eta_+ \ (s > 0),\ \eta_- \ (s < 0),\ 1 \ (s = 0);

if s < 0 the gradient is set to 0 (no move, and g' = 0 next step), and
:math:`\theta \leftarrow \theta - \mathrm{sign}(g)\,\delta`, g' ← g. torch's tuples are two
scalars each, spelled as torch's functional ``rprop`` spells them (as ``betas`` are
``beta1``/``beta2``): ``etas`` = (``etaminus``, ``etaplus``), ``step_sizes`` =
(``step_size_min``, ``step_size_max``). ``lr`` only sets the initial step size (a schedule
has no effect after the first step, as in torch). No weight decay (torch has none).
Riedmiller & Braun (1993), *A direct adaptive method for faster backpropagation learning:
the RPROP algorithm*.
"""
from __future__ import annotations

from optbench.kernels.slots import hyper_slots, scalar_slots
from optbench.params import F
from optbench.validate import OptbenchInputError

from .base import Optimizer, register

HY = hyper_slots("etaminus", "etaplus", "step_size_min", "step_size_max")
SC = scalar_slots()


def rprop_prep(sc, hy):
    pass


def rprop_elem(x, gi, st, sc, hy, i):
    # st[0]: the previous (possibly zeroed) gradient; st[1]: the step size
    if sc[SC.step] == 1.0:
        st[1, i] = sc[SC.lr]
    p = gi * st[0, i]
    if p > 0.0:
        eta = hy[HY.etaplus]
    elif p < 0.0:
        eta = hy[HY.etaminus]
    else:
        eta = 1.0
    d = st[1, i] * eta
    d = min(max(d, hy[HY.step_size_min]), hy[HY.step_size_max])
    st[1, i] = d
    if p < 0.0:
        gi = 0.0
    if gi > 0.0:
        x[i] = x[i] - d
    elif gi < 0.0:
        x[i] = x[i] + d
    st[0, i] = gi


@register
class Rprop(Optimizer):
    name = "rprop"
    family = "adaptive"
    torch_name = "Rprop"
    params = {"lr": F(1e-2, 0.0, lo_open=True, doc="initial step size"),
              "etaminus": F(0.5, 0.0, 1.0, lo_open=True, hi_open=True,
                            doc="step-size decrease factor (torch: etas[0])"),
              "etaplus": F(1.2, 1.0, lo_open=True, doc="step-size increase factor (etas[1])"),
              "step_size_min": F(1e-6, 0.0, doc="smallest step size (step_sizes[0])"),
              "step_size_max": F(50.0, 0.0, lo_open=True, doc="largest (step_sizes[1])")}
    slots = HY
    PREP = staticmethod(rprop_prep)
    ELEM = staticmethod(rprop_elem)

    def n_state(self):
        return 2

    def check(self):
        h = self.hyper
        if h["step_size_min"] > h["step_size_max"]:
            raise OptbenchInputError(
                f"optimizer rprop: step_size_min ({h['step_size_min']}) must be <= "
                f"step_size_max ({h['step_size_max']})")
