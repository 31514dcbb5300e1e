r"""Shared layout of the second-order, line-search and zero-order families (``kind`` ≠
"first_order"): hyperparameter slots, scratch rows, failure codes and the base class.

These families run in their own compiled loop (:mod:`optbench.runner.second_order`): one
iteration may evaluate the objective several times (line searches, damping retries), use
Hessian-vector products (HVPs) or the dense Hessian. The runner allocates all scratch per run:
``st`` (rows of length d), ``hm`` (dense matrices), ``iw`` (integer work), ``sv`` (scalars).

Cost model of the ``grad_equiv`` column: a value-and-gradient evaluation = 1, a value alone
= ½, a Hessian-vector product = 1, a dense Hessian = d (what assembling it from d HVPs costs).
"""
from __future__ import annotations

from typing import ClassVar

import numpy as np

from optbench.kernels.slots import SC_LR, SC_STEP
from optbench.params import F, I
from optbench.validate import OptbenchInputError

from .base import Optimizer

# hyperparameter slots (hy)
(H_METHOD, H_LS, H_C1, H_RHO, H_C2, H_MAXLS, H_SOLVER, H_RTOL, H_INNER,
 H_A, H_B, H_C, H_D, H_HASHESS, H_LO, H_HI) = range(16)
N_HY = 16
# method codes
M_NEWTON, M_DAMPED, M_SFN, M_SD, M_NCG, M_LCG, M_LBFGS, M_GRID, M_RANDOM = range(1, 10)
# line search and solver codes
LS_NONE, LS_ARMIJO, LS_WOLFE = 0, 1, 2
SOLVERS = {"dense": 0, "cg": 1, "minres": 2, "lanczos": 3}
AUTO_DENSE_MAX = 200          # solver="auto": dense up to this dimension
DENSE_LIMIT = 8192            # dense solvers refused above (d² floats per run and matrix)
# scratch rows (st) shared by every method; method rows start at R_MORE
R_P, R_XT, R_GT, R_HV, R_MORE = range(5)
# scalar slots (sv): lr and step number (set by the loop's step_scalars), last step size and
# slope gᵀp (recorded in the trace), method scalars, then arrays from SV_BASE
S_LR, S_STEP, S_ALPHA, S_SLOPE, S_LAM, S_NU, S_PREV, S_GGPREV, S_HEAD, S_COUNT, S_ITER = range(11)
assert (S_LR, S_STEP) == (SC_LR, SC_STEP)   # where the run loop writes them
SV_BASE = 16

FAIL_MESSAGES = {
    1: "singular Hessian: the Newton system has no (stable) solution",
    2: "indefinite Hessian: CG met non-positive curvature (solver='minres' gives the exact "
       "Newton step, negative_curvature='truncate' Newton-CG with a line search)",
    3: "search direction is not a descent direction (gᵀp ≥ 0): indefinite Hessian?",
    4: "line search found no acceptable step within max_ls evaluations",
    5: "non-finite curvature: NaN/Inf in the Hessian or a Hessian-vector product",
    6: "non-positive curvature along −g: the exact quadratic-model step is undefined",
    7: "damping could not find a decrease within max_tries increases",
    8: "stalled: the decrease to expect is below the rounding error of f (numerically "
       "stationary; see grad_norm and the critical-point columns)",
}

LS_PARAMS = {
    "c1": F(1e-4, 0.0, 1.0, lo_open=True, hi_open=True, doc="Armijo sufficient-decrease constant"),
    "backtrack": F(0.5, 0.0, 1.0, lo_open=True, hi_open=True, doc="Armijo step shrink factor"),
    "max_ls": I(30, 1, doc="function evaluations allowed per line search"),
}


class CurvatureOptimizer(Optimizer):
    """Base of the families that run in the second-order loop (no schedules of the gradient,
    clipping or weight decay: those belong to first-order methods)."""

    kind: ClassVar[str] = "second_order"
    family = "second_order"
    METHOD: ClassVar[int] = 0
    needs_hvp: ClassVar[bool] = True

    def __init__(self, schedule=None, clip_norm=None, clip_value=None, **hyper):
        if clip_norm not in (None, 0, "none") or clip_value not in (None, 0, "none"):
            raise OptbenchInputError(
                f"optimizer {self.name}: gradient clipping does not apply to {self.kind} methods")
        super().__init__(schedule=schedule, **hyper)

    @property
    def lr(self) -> float:
        return float(self.hyper.get("lr", 1.0))

    def n_state(self) -> int:       # the shared Batch arrays; real scratch comes from layout()
        return 1

    def solver(self, d: int) -> str:
        s = self.hyper.get("solver", "dense")
        if s == "auto":
            return "dense" if d <= AUTO_DENSE_MAX else self.large_solver
        if s == "dense" and d > DENSE_LIMIT and "solver" in self.hyper:
            raise OptbenchInputError(
                f"optimizer {self.name}: solver='dense' stores d×d matrices; dim must be <= "
                f"{DENSE_LIMIT}, got {d} (use solver='auto')")
        return s

    large_solver: ClassVar[str] = "cg"

    def layout(self, d: int) -> dict:
        """Scratch sizes: rows (of st), nmat and md (hm: nmat matrices md×md), niw, nsv."""
        return {"rows": R_MORE, "nmat": 1, "md": 1, "niw": 1, "nsv": SV_BASE}

    def check(self):
        h = self.hyper
        if "c2" in h and not h["c1"] < h["c2"]:
            raise OptbenchInputError(
                f"optimizer {self.name}: need c1 < c2 for the Wolfe conditions, got "
                f"c1={h['c1']!r}, c2={h['c2']!r}")

    def hy(self, prob) -> np.ndarray:
        """The hyperparameter slots for problem ``prob``."""
        h = self.hyper
        d = prob.dim
        has_hess = prob.HESS is not None
        a = np.zeros(N_HY)
        a[H_METHOD] = self.METHOD
        a[H_LS] = {"none": LS_NONE, "armijo": LS_ARMIJO, "wolfe": LS_WOLFE}[
            h.get("line_search", "none")]
        a[H_C1] = h.get("c1", 1e-4)
        a[H_RHO] = h.get("backtrack", 0.5)
        a[H_C2] = h.get("c2", 0.9)
        a[H_MAXLS] = h.get("max_ls", 30)
        a[H_SOLVER] = SOLVERS.get(self.solver(d), 0)
        a[H_RTOL] = h.get("cg_rtol", 0.0)
        inner = h.get("inner_maxiter", 0)
        a[H_INNER] = inner if inner > 0 else 2 * d + 10
        a[H_HASHESS] = 1.0 if has_hess else 0.0
        a[H_LO], a[H_HI] = prob.init_box()
        self.fill(a, d)
        return a

    def fill(self, a: np.ndarray, d: int) -> None:
        """Method-specific slots H_A..H_D, H_LO, H_HI (override)."""

    def init_sv(self, sv: np.ndarray, d: int) -> None:
        """Initial method scalars (override)."""
