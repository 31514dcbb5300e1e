"""pytorch-optimizer's weight-decay options, shared by the families checked against it (lion,
adabelief, yogi, adopt, ademamix).

``weight_decay`` λ as pytorch-optimizer's ``apply_weight_decay``, after ``maximize`` and before
the update: coupled (g ← g + λθ) unless ``weight_decouple``; decoupled θ ← θ(1 − αλ) (AdamW),
or with ``fixed_decay`` θ ← θ(1 − λ), not scaled by the learning rate. The run loop applies the
first two (``Optimizer.weight_decay``); the fixed one is the factor ``sc[SC.shrink]`` that the
family's ELEM multiplies x[i] by first (set once by :meth:`DecayOptions.init_shrink`: 1 − λ,
or exactly 1.0 when not fixed, which changes no bit).
"""
from __future__ import annotations

from optbench.params import B


def weight_decouple(default: bool):
    return B(default, doc="decay θ ← θ(1 − lr·λ) before the step (AdamW), else g ← g + λθ")


FIXED_DECAY = B(False, doc="decoupled decay not scaled by lr: θ ← θ(1 − λ)")


class DecayOptions:
    """``weight_decay`` with pytorch-optimizer's ``weight_decouple`` and ``fixed_decay``."""

    @property
    def weight_decay(self) -> tuple[float, float]:
        wd = float(self.hyper["weight_decay"])
        if not self.hyper["weight_decouple"]:
            return (wd, 0.0)
        return (0.0, 0.0) if self.hyper["fixed_decay"] else (0.0, wd)

    def init_shrink(self, sc, slot: int) -> None:
        """``sc[slot]`` = 1 − λ for the fixed decoupled decay (ELEM's factor), else 1.0."""
        h = self.hyper
        fixed = h["weight_decouple"] and h["fixed_decay"]
        sc[slot] = 1.0 - float(h["weight_decay"]) if fixed else 1.0
