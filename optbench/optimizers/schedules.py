"""Learning-rate schedules, composable with every optimizer (torch.optim.lr_scheduler forms).

The run loop calls :func:`lr_at` before every update with ``k`` = number of updates already
done (torch's ``last_epoch`` when the scheduler is stepped once per optimizer step).

| kind | parameters | lr_k |
|---|---|---|
| constant | — | lr |
| step | step_size, gamma | lr · gamma^⌊k / step_size⌋ (StepLR) |
| exponential | gamma | lr · gamma^k (ExponentialLR) |
| inverse-time | decay, power | lr / (1 + decay·k)^power |
| cosine | T_max (0: the run's budget), eta_min | eta_min + (lr − eta_min)(1 + cos(π k / T_max))/2 (CosineAnnealingLR, closed form) |
| cyclic | max_lr, step_size_up | triangular CyclicLR between lr and max_lr |

Any kind also takes ``warmup`` (steps) and ``warmup_start`` (factor): a linear warm-up
multiplier from ``warmup_start`` to 1 over the first ``warmup`` steps (LinearLR).
"""
from __future__ import annotations

import math

import numpy as np

from optbench.kernels.compile import kernel
from optbench.params import F, I, resolve
from optbench.validate import OptbenchInputError, unknown

KINDS = {"constant": 0, "step": 1, "exponential": 2, "inverse-time": 3, "cosine": 4, "cyclic": 5}
N_SCHED = 6  # sp = [a, b, warmup, warmup_start, kind-specific, unused]
SP_A, SP_B, SP_WARMUP, SP_WARMUP_START = range(4)   # positions in sp (a, b: by kind)

_PARAMS = {
    "constant": {},
    "step": {"step_size": I(1000, 1), "gamma": F(0.1, 0.0, lo_open=True)},
    "exponential": {"gamma": F(0.999, 0.0, lo_open=True)},
    "inverse-time": {"decay": F(1e-3, 0.0), "power": F(1.0, 0.0)},
    "cosine": {"T_max": I(0, 0), "eta_min": F(0.0, 0.0)},
    "cyclic": {"max_lr": F(1e-2, 0.0, lo_open=True), "step_size_up": I(2000, 1)},
}
_COMMON = {"warmup": I(0, 0), "warmup_start": F(0.1, 0.0, 1.0)}


@kernel
def lr_at(kind, sp, lr, k):
    """Learning rate of update number k (0-based) for schedule ``kind`` with parameters sp."""
    a = sp[SP_A]
    b = sp[SP_B]
    out = lr
    if kind == 1:
        out = lr * a ** math.floor(k / b)
    elif kind == 2:
        out = lr * a ** k
    elif kind == 3:
        out = lr / (1.0 + a * k) ** b
    elif kind == 4:
        out = b + (lr - b) * (1.0 + math.cos(math.pi * k / a)) / 2.0
    elif kind == 5:
        cycle = math.floor(1.0 + k / (2.0 * b))
        xx = abs(k / b - 2.0 * cycle + 1.0)
        out = lr + (a - lr) * max(0.0, 1.0 - xx)
    w = sp[SP_WARMUP]
    if w > 0.0 and k < w:
        out = out * (sp[SP_WARMUP_START] + (1.0 - sp[SP_WARMUP_START]) * k / w)
    return out


class Schedule:
    """A resolved schedule: ``kind`` and its parameters."""

    def __init__(self, kind: str = "constant", **params):
        if not isinstance(kind, str) or kind not in KINDS:
            raise unknown("schedule", kind, KINDS)
        self.kind = kind
        self.params = resolve(f"schedule {kind}", {**_PARAMS[kind], **_COMMON}, params)

    @classmethod
    def make(cls, value) -> "Schedule":
        if value is None:
            return cls()
        if isinstance(value, Schedule):
            return value
        if isinstance(value, str):
            return cls(value)
        if isinstance(value, dict):
            d = dict(value)
            return cls(d.pop("kind", "constant"), **d)
        raise OptbenchInputError(f"schedule must be a name or a table, got {value!r}")

    @property
    def spec(self) -> dict:
        return {"kind": self.kind, **self.params}

    def arrays(self, budget: int):
        """(kind id, sp array) for the run loop; T_max = 0 means the run's budget."""
        p = self.params
        sp = np.zeros(N_SCHED)
        if self.kind == "step":
            sp[SP_A], sp[SP_B] = p["gamma"], p["step_size"]
        elif self.kind == "exponential":
            sp[SP_A] = p["gamma"]
        elif self.kind == "inverse-time":
            sp[SP_A], sp[SP_B] = p["decay"], p["power"]
        elif self.kind == "cosine":
            sp[SP_A], sp[SP_B] = (p["T_max"] or max(1, budget)), p["eta_min"]
        elif self.kind == "cyclic":
            sp[SP_A], sp[SP_B] = p["max_lr"], p["step_size_up"]
        sp[SP_WARMUP], sp[SP_WARMUP_START] = p["warmup"], p["warmup_start"]
        return KINDS[self.kind], sp

    def lr_sequence(self, lr: float, n: int, budget: int | None = None) -> np.ndarray:
        """The first n learning rates (pure Python; for plots and tests)."""
        kind, sp = self.arrays(budget or n)
        return np.array([lr_at(kind, sp, lr, k) for k in range(n)])
