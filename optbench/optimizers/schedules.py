"""Learning-rate schedules, composable with every optimizer (torch.optim.lr_scheduler forms).

The run loop calls :func:`lr_at` before every update with ``k`` = number of updates already
done (torch's ``last_epoch`` when the scheduler is stepped once per optimizer step); α is the
optimizer's ``lr``.

| kind | parameters | lr_k |
|---|---|---|
| constant | — | α |
| step | step_size, gamma | α · gamma^⌊k / step_size⌋ (StepLR) |
| exponential | gamma | α · gamma^k (ExponentialLR) |
| inverse-time | decay, power | α / (1 + decay·k)^power |
| cosine | T_max (0: the run's budget), eta_min | eta_min + (α − eta_min)(1 + cos(π k / T_max))/2 (CosineAnnealingLR, closed form) |
| cyclic | max_lr, step_size_up, step_size_down (None: = up), mode, gamma | CyclicLR between α and max_lr: mode triangular, triangular2 (amplitude halved each cycle) or exp_range (amplitude · gamma^k) |
| onecycle | total_steps (0: the run's budget), pct_start, anneal_strategy, div_factor, final_div_factor, three_phase | OneCycleLR with max_lr = α, from α/div_factor up to α and down to α/div_factor/final_div_factor (cos or linear); momentum is not cycled (torch's cycle_momentum=False); after total_steps (where torch raises) the final lr |
| polynomial | total_iters (0: the run's budget), power | α · (1 − min(k, total_iters)/total_iters)^power (PolynomialLR, closed form) |
| reduce-on-plateau | mode, factor, patience, threshold, threshold_mode, cooldown, min_lr, eps | ReduceLROnPlateau (below) |

``reduce-on-plateau`` is the one stateful kind. It observes f at the run's recording steps
(``record``): at recording step t, once the gradient at x_t is computed and the step is
recorded, the f of that trace row (f(x_t); the full-batch f for stochastic problems) goes to
:func:`plateau_observe`, which is ``ReduceLROnPlateau.step(f)`` (best, bad steps, cooldown;
lr ← max(lr·factor, min_lr) when the change exceeds eps). The new lr applies from update t on,
x_t → x_{t+1}: a torch loop that calls ``scheduler.step(f(x_t))`` after producing x_t at the
same steps. No recording step (``record='none'``), no reduction. Its state lives in the run's
schedule array ``sp`` (slots SP_LR_NOW, SP_BEST, SP_BAD, SP_COOL), set by :meth:`Schedule.arrays`
like the optimizer's state by ``init_state``; the loops' only cost for other kinds is one
compare of ``sp[SP_OBSERVES]`` at recording steps.

Any kind also takes ``warmup`` (steps) and ``warmup_start`` (factor): a linear warm-up
multiplier from ``warmup_start`` to 1 over the first ``warmup`` steps (LinearLR).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from optbench.kernels.compile import kernel
from optbench.params import B, C, F, I, resolve
from optbench.validate import OptbenchInputError, unknown

KINDS = {"constant": 0, "step": 1, "exponential": 2, "inverse-time": 3, "cosine": 4, "cyclic": 5,
         "onecycle": 6, "polynomial": 7, "reduce-on-plateau": 8}
K_ONECYCLE, K_POLYNOMIAL, K_PLATEAU = 6, 7, 8
# sp, the run's schedule array: kind parameters a … h, the warm-up, a flag for the loops, and
# reduce-on-plateau's running state
SP_A, SP_B, SP_WARMUP, SP_WARMUP_START, SP_OBSERVES = range(5)
SP_C, SP_D, SP_E, SP_F, SP_G, SP_H = range(5, 11)
SP_LR_NOW, SP_BEST, SP_BAD, SP_COOL = range(11, 15)
N_SCHED = 15
CYCLIC_MODES = ("triangular", "triangular2", "exp_range")
ANNEAL = ("cos", "linear")
THRESHOLD_MODES = ("rel", "abs")
PLATEAU_MODES = ("min", "max")

_PARAMS = {
    "constant": {},
    "step": {"step_size": I(1000, 1), "gamma": F(0.1, 0.0, lo_open=True)},
    "exponential": {"gamma": F(0.999, 0.0, lo_open=True)},
    "inverse-time": {"decay": F(1e-3, 0.0), "power": F(1.0, 0.0)},
    "cosine": {"T_max": I(0, 0), "eta_min": F(0.0, 0.0)},
    "cyclic": {"max_lr": F(1e-2, 0.0, lo_open=True), "step_size_up": I(2000, 1),
               "step_size_down": I(None, 1), "mode": C("triangular", CYCLIC_MODES),
               "gamma": F(1.0, 0.0, lo_open=True)},
    "onecycle": {"total_steps": I(0, 0), "pct_start": F(0.3, 0.0, 1.0, lo_open=True,
                                                         hi_open=True),
                 "anneal_strategy": C("cos", ANNEAL), "div_factor": F(25.0, 0.0, lo_open=True),
                 "final_div_factor": F(1e4, 0.0, lo_open=True), "three_phase": B(False)},
    "polynomial": {"total_iters": I(5, 0), "power": F(1.0, 0.0)},
    "reduce-on-plateau": {"mode": C("min", PLATEAU_MODES), "factor": F(0.1, 0.0, 1.0,
                                                                      hi_open=True),
                          "patience": I(10, 0), "threshold": F(1e-4, 0.0),
                          "threshold_mode": C("rel", THRESHOLD_MODES), "cooldown": I(0, 0),
                          "min_lr": F(0.0, 0.0), "eps": F(1e-8, 0.0)},
}
_COMMON = {"warmup": I(0, 0), "warmup_start": F(0.1, 0.0, 1.0)}
# parameters added after a kind shipped: left out of its spec at their defaults, so the run
# ids of existing specs do not change
_LATER = {"cyclic": {"step_size_down": None, "mode": "triangular", "gamma": 1.0}}


@njit(cache=True, _nrt=False)
@kernel
def cyclic_lr(sp, lr, k):
    """CyclicLR's closed form (torch's operations, in its order): sp = [max_lr, up, …, down,
    mode (0 triangular, 1 triangular2, 2 exp_range), gamma]."""
    total = sp[SP_B] + sp[SP_C]
    ratio = sp[SP_B] / total
    cycle = math.floor(1.0 + k / total)
    x = 1.0 + k / total - cycle
    if x <= ratio:
        scale = x / ratio
    else:
        scale = (x - 1.0) / (ratio - 1.0)
    height = (sp[SP_A] - lr) * scale
    mode = sp[SP_D]
    if mode == 0.0:
        return lr + height * 1.0
    if mode == 1.0:
        return lr + height * (1.0 / (2.0 ** (cycle - 1)))
    return lr + height * sp[SP_E] ** float(k)     # float(k): C pow, as Python's float ** int


@njit(cache=True, _nrt=False)
@kernel
def _anneal(start, end, pct, linear):
    if linear != 0.0:
        return (end - start) * pct + start
    return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1.0)


@njit(cache=True, _nrt=False)
@kernel
def onecycle_lr(sp, lr, k):
    """OneCycleLR (max_lr = lr): sp = [total_steps, pct_start, …, div_factor,
    final_div_factor, linear (0 cos, 1 linear), three_phase]. A phase of zero length (torch
    divides by zero) gives its end value; beyond total_steps (torch raises) the final lr."""
    n = sp[SP_A]
    pct = sp[SP_B]
    initial = lr / sp[SP_C]
    final = initial / sp[SP_D]
    linear = sp[SP_E]
    if k > n:
        return final
    e1 = pct * n - 1.0
    if sp[SP_F] == 0.0:
        if k <= e1:
            s0, s1, a, b = 0.0, e1, initial, lr
        else:
            s0, s1, a, b = e1, n - 1.0, lr, final
    else:
        e2 = 2.0 * pct * n - 2.0
        if k <= e1:
            s0, s1, a, b = 0.0, e1, initial, lr
        elif k <= e2:
            s0, s1, a, b = e1, e2, lr, initial
        else:
            s0, s1, a, b = e2, n - 1.0, initial, final
    den = s1 - s0
    p = (k - s0) / den if den != 0.0 else 1.0
    return _anneal(a, b, p, linear)


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
        out = cyclic_lr(sp, lr, k)
    elif kind == K_ONECYCLE:
        out = onecycle_lr(sp, lr, k)
    elif kind == K_POLYNOMIAL:
        out = lr * (1.0 - min(a, k) / a) ** b
    elif kind == K_PLATEAU:
        now = sp[SP_LR_NOW]
        if now >= 0.0:          # -1: not reduced yet
            out = now
    w = sp[SP_WARMUP]
    if w > 0.0 and k < w:
        out = out * (sp[SP_WARMUP_START] + (1.0 - sp[SP_WARMUP_START]) * k / w)
    return out


@kernel
def plateau_observe(sp, f, lr):
    """``ReduceLROnPlateau.step(f)`` on the state in sp (lr: the run's base lr). sp = [factor,
    patience, threshold, threshold_mode (0 rel, 1 abs), cooldown, min_lr, eps, mode (0 min,
    1 max), …, lr now (−1: lr), best, bad steps, cooldown left]."""
    thr = sp[SP_C]
    best = sp[SP_BEST]
    if sp[SP_H] == 0.0:
        better = f < best * (1.0 - thr) if sp[SP_D] == 0.0 else f < best - thr
    else:
        better = f > best * (thr + 1.0) if sp[SP_D] == 0.0 else f > best + thr
    if better:
        sp[SP_BEST] = f
        bad = 0.0
    else:
        bad = sp[SP_BAD] + 1.0
    if sp[SP_COOL] > 0.0:
        sp[SP_COOL] -= 1.0
        bad = 0.0
    if bad > sp[SP_B]:
        old = sp[SP_LR_NOW]
        if old < 0.0:
            old = lr
        new = max(old * sp[SP_A], sp[SP_F])
        if old - new > sp[SP_G]:
            sp[SP_LR_NOW] = new
        sp[SP_COOL] = sp[SP_E]
        bad = 0.0
    sp[SP_BAD] = bad


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
        later = _LATER.get(self.kind, {})
        return {"kind": self.kind, **{k: v for k, v in self.params.items()
                                      if k not in later or v != later[k]}}

    @property
    def observes(self) -> bool:
        """True for kinds that observe f at the recording steps (reduce-on-plateau)."""
        return self.kind == "reduce-on-plateau"

    def arrays(self, budget: int):
        """(kind id, sp array) for the run loop; T_max, total_steps, total_iters = 0 mean the
        run's budget."""
        p = self.params
        sp = np.zeros(N_SCHED)
        n = max(1, budget)
        if self.kind == "step":
            sp[SP_A], sp[SP_B] = p["gamma"], p["step_size"]
        elif self.kind == "exponential":
            sp[SP_A] = p["gamma"]
        elif self.kind == "inverse-time":
            sp[SP_A], sp[SP_B] = p["decay"], p["power"]
        elif self.kind == "cosine":
            sp[SP_A], sp[SP_B] = (p["T_max"] or n), p["eta_min"]
        elif self.kind == "cyclic":
            up = p["step_size_up"]
            down = up if p["step_size_down"] is None else p["step_size_down"]
            sp[[SP_A, SP_B, SP_C, SP_D, SP_E]] = (p["max_lr"], up, down,
                                                  CYCLIC_MODES.index(p["mode"]), p["gamma"])
        elif self.kind == "onecycle":
            sp[[SP_A, SP_B, SP_C, SP_D, SP_E, SP_F]] = (
                p["total_steps"] or n, p["pct_start"], p["div_factor"], p["final_div_factor"],
                ANNEAL.index(p["anneal_strategy"]), float(p["three_phase"]))
        elif self.kind == "polynomial":
            sp[SP_A], sp[SP_B] = (p["total_iters"] or n), p["power"]
        elif self.kind == "reduce-on-plateau":
            sp[[SP_A, SP_B, SP_C, SP_D, SP_E, SP_F, SP_G, SP_H]] = (
                p["factor"], p["patience"], p["threshold"],
                THRESHOLD_MODES.index(p["threshold_mode"]), p["cooldown"], p["min_lr"], p["eps"],
                PLATEAU_MODES.index(p["mode"]))
            sp[SP_OBSERVES] = 1.0
            sp[SP_LR_NOW] = -1.0
            sp[SP_BEST] = np.inf if p["mode"] == "min" else -np.inf
        sp[SP_WARMUP], sp[SP_WARMUP_START] = p["warmup"], p["warmup_start"]
        return KINDS[self.kind], sp

    def lr_sequence(self, lr: float, n: int, budget: int | None = None,
                    observed: dict | None = None) -> np.ndarray:
        """The first n learning rates (a Python loop over the kernels; for plots and tests).
        ``observed`` maps recording steps to the f seen there (reduce-on-plateau), in the
        loop's order: observe at step k, then the lr of update k."""
        kind, sp = self.arrays(budget or n)
        out = np.empty(n)
        for k in range(n):
            if observed and sp[SP_OBSERVES] != 0.0 and k in observed:
                plateau_observe(sp, float(observed[k]), lr)
            out[k] = lr_at(kind, sp, lr, k)
        return out
