r"""Contract v2: optimizers whose step is more than one pass of a per-coordinate rule.

A coordinate-wise family declares ``PREP`` and ``ELEM`` (:mod:`optbench.optimizers.base`).
A *phased* family declares one plain-Python kernel instead::

    STEP(x, g, st, sc, hy, blk, wk, stage) -> request

called by the run loop (:mod:`optbench.runner.phased`) once per step with ``stage = 0``, and
again with ``stage = 1, 2, …`` for as long as it returns a request:

* ``DONE`` (0): the step is finished (x is x_{t+1});
* ``GRAD`` (1): evaluate the gradient at the point ``wk[W_POINT]`` into ``wk[W_OUT]`` (the
  same minibatch / noise draw as g, clipped, weight-decayed and negated under ``maximize``
  like g); counted in ``ngev`` and ``nfev``;
* ``HVP`` (2): the Hessian-vector product H(x)·``wk[W_POINT]`` into ``wk[W_OUT]``; counted
  in ``nhev`` (one gradient-equivalent each, ``record/schema.py`` COST_MODEL).

Inside a step a family writes its phases as plain loops over ``blk``, the problem's block
table (:mod:`optbench.kernels.blocks`: a layer's weight matrix or bias, with its shape):

1. per-block (or global) **reductions** — norms, dot products, maxima — in a first pass;
2. the **elementwise** pass, which reads them (and may accumulate the next reduction);
3. an optional **second elementwise pass** for rules that need a reduction of the first
   (a trust ratio ‖x‖ / ‖u‖ of the update u);
4. **matrix operations** on a block (:mod:`optbench.optimizers.matrix`: small dense
   products for Newton–Schulz iterations and Kronecker factors), with the optimizer's state
   rows (length d each) as their scratch.

``g`` is the gradient at x, already clipped and weight-decayed by the loop (as for ELEM).
``sc``/``hy`` are named by the family's slots as before; ``sc[SC_SEED]`` is the run's seed,
from which :func:`optbench.kernels.probes.rademacher` draws seeded probes. A family that
keeps an averaged iterate declares ``AVG(x, st, sc, hy, out)``: its f is recorded in the
traces column ``f_avg`` at every recorded step.

A *wrapper* (:class:`Wrapper`: SAM, Lookahead) takes another first-order optimizer, named by
``base=``, and calls its step form (``BASE``, bound when compiled) on its own state rows
``st[N_OWN:]`` and hyperparameters ``hy[N_OWN_HY:]``; the base's hyperparameters pass
through by name.

Phased optimizers run in the compiled phased loop on the CPU, every run in parallel; they
are not run by the fused, lockstep or CUDA engines (docs/architecture.md says why).
"""
from __future__ import annotations

from typing import ClassVar

import numpy as np

from optbench.kernels import compile as kc
from optbench.kernels import signatures as S
from optbench.kernels.slots import N_SCALARS
from optbench.params import C
from optbench.validate import OptbenchInputError, unknown

from .base import REGISTRY, Optimizer

DONE, GRAD, HVP = 0, 1, 2       # requests a STEP returns
W_POINT, W_OUT, W_AVG = 0, 1, 2  # rows of wk: request input, request output, AVG's output
N_WORK = 3

BASE = kc.placeholder("BASE")    # a wrapper's base step, bound when compiled


class PhasedOptimizer(Optimizer):
    """A first-order family with a ``STEP`` kernel (see the module docstring)."""

    phased: ClassVar[bool] = True
    STEP = None
    needs_matrix_blocks: ClassVar[bool] = False

    def check_problem(self, problem) -> None:
        if "hvp" in self.requests and problem.HVP is None:
            raise OptbenchInputError(f"optimizer {self.name} needs Hessian-vector products; "
                                     f"problem {problem.name} has none")
        if self.needs_matrix_blocks:
            from optbench.kernels.blocks import has_matrix
            if not has_matrix(problem.blocks()):
                raise OptbenchInputError(
                    f"optimizer {self.name} works on matrix blocks; problem {problem.name} "
                    "has none (its x is one vector): use a layered problem (mlp, linear-net)")

    def bindings(self) -> dict:
        """Kernels bound into STEP when it is compiled (a wrapper: its base's step)."""
        return {}

    def step_name(self) -> str:
        return f"step__{self.name.replace('-', '_')}"

    def cpu_step(self):
        bind = self.bindings() or None
        return kc.cpu(self.STEP, S.STEP_SIG, bind=bind, name=self.step_name())



class Wrapper(PhasedOptimizer):
    """An optimizer around a base optimizer (``base=``, any first-order optimizer whose step
    asks for no evaluations of its own), whose hyperparameters pass through by name (one
    named like a wrapper's own is spelled ``base_<name>``: lookahead's ``alpha`` and
    rmsprop's ``base_alpha``).

    ``params`` holds the wrapper's own hyperparameters and ``base``; ``slots`` its own slots
    in ``hy`` (the base's follow); ``own_state`` its own state rows (the base's follow)."""

    default_base: ClassVar[str] = "sgd"
    own_state: ClassVar[int] = 0

    def __init__(self, base=None, schedule=None, clip_norm=None, clip_value=None,
                 maximize=False, **hyper):
        base = self.default_base if base is None else base
        if isinstance(base, dict):
            base = base.get("optimizer", base.get("name"))
        def can_wrap(c):
            return c.kind == "first_order" and not issubclass(c, Wrapper) and not c.requests
        if not isinstance(base, str) or base not in REGISTRY:
            raise unknown(f"{self.name} base optimizer", base,
                          [n for n in REGISTRY.names() if can_wrap(REGISTRY[n])])
        cls = REGISTRY[base]
        if not can_wrap(cls):
            raise OptbenchInputError(
                f"optimizer {self.name}: base must be a first-order optimizer that asks for "
                f"no evaluations of its own, got {base!r}")
        probe = {k: v for k, v in type(self).params.items() if k != "base"}
        # a base hyperparameter named like one of the wrapper's own is spelled base_<name>
        spelled = {(f"base_{k}" if k in probe else k): k for k in cls.params}
        bad = [k for k in hyper if k not in probe and k not in spelled]
        if bad:
            raise OptbenchInputError(
                f"optimizer {self.name}: unknown parameter {bad[0]!r}; valid: "
                + ", ".join(["base", *probe, *spelled]))
        own = {k: v for k, v in hyper.items() if k in probe}
        self.base = cls(**{spelled[k]: v for k, v in hyper.items() if k not in probe})
        # the wrapper's own hyperparameters, resolved like any family's
        from optbench.params import resolve
        mine = resolve(f"optimizer {self.name}", probe, own)
        inv = {k: s for s, k in spelled.items()}
        self.params = {"base": C(self.default_base, tuple(REGISTRY.names())),
                       **probe, **{inv[k]: v for k, v in self.base.params.items()}}
        self.hyper = {"base": base, **mine, **{inv[k]: v for k, v in self.base.hyper.items()}}
        self.check()
        from .schedules import Schedule
        from .base import _clip
        self.schedule = Schedule.make(schedule)
        self.clip_norm = _clip("clip_norm", clip_norm)
        self.clip_value = _clip("clip_value", clip_value)
        if not isinstance(maximize, (bool, np.bool_)):
            raise OptbenchInputError(f"maximize must be true or false, got {maximize!r}")
        self.maximize = bool(maximize)

    @property
    def weight_decay(self):
        return self.base.weight_decay

    def n_state(self) -> int:
        return self.own_state + self.base.n_state()

    def init_scalars(self, sc):
        self.base.init_scalars(sc)

    def init_state(self, dim: int):
        st = np.full((max(1, self.n_state()), dim), 0.0)
        sc = np.zeros(N_SCALARS)
        self.base.init_scalars(sc)
        self.init_scalars_own(sc)
        return st, sc

    def init_scalars_own(self, sc):
        """Initial values of the wrapper's own scalars (override; the base's come first)."""

    def hyper_array(self) -> np.ndarray:
        own = [float(self.hyper[k]) for k in self.slots]
        return np.concatenate([np.array(own, dtype=np.float64), self.base.hyper_array()])

    def check_problem(self, problem) -> None:
        super().check_problem(problem)
        self.base.check_problem(problem)

    def bindings(self) -> dict:
        return {"BASE": self.base.cpu_step()}

    def step_name(self) -> str:
        b = self.base
        tag = b.step_name() if isinstance(b, PhasedOptimizer) else f"elem__{b.ELEM.__name__}"
        return f"step__{self.name.replace('-', '_')}__{tag}"

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.hyper.items())
        return f"{self.name}({args})"
