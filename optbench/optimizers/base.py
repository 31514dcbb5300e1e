"""The optimizer contract (docs/architecture.md) and the registry of optimizer families.

An optimizer family declares its hyperparameters (torch.optim names and defaults), the
meaning of ``weight_decay`` (coupled L2 or decoupled), how many state rows it keeps, and two
plain-Python kernels: ``PREP(sc, hy)`` (once per step) and ``ELEM(x, gi, st, sc, hy, i)``
(coordinate i, given its gradient value gi). The kernels read the family's hyperparameters
from ``hy`` and its per-run scalars from ``sc`` by name: ``slots`` (a
:func:`~optbench.kernels.slots.hyper_slots`) lists the hyperparameters in ``hy``'s order, and
the module's ``SC`` (a :func:`~optbench.kernels.slots.scalar_slots`) names ``sc[SC.lr]`` (the
step's learning rate) and ``sc[SC.step]`` (the 1-based step), set by the run loop, and the
family's own scalars after them (running products for bias corrections, ...). The
whole-vector update is generated from PREP and ELEM, so a fused large-d loop and the CUDA
path reuse the same per-coordinate formula.

Contract v2 (:mod:`optbench.optimizers.phased`): a family that needs more than one
coordinate at a time — norms, per-block reductions, matrix operations, gradients at other
points, Hessian-vector products — declares a ``STEP`` kernel instead; every first-order
optimizer has the step form (:meth:`Optimizer.cpu_step`), coordinate-wise ones generated
from PREP and ELEM, so wrappers (SAM, Lookahead) take any of them as their base.
"""
from __future__ import annotations

from typing import ClassVar

import numpy as np

from optbench.kernels import compile as kc
from optbench.kernels import signatures as S
from optbench.kernels.quotient import B_MAX, B_MIN, quotient_form
from optbench.kernels.slots import N_SCALARS, Slots, hyper_slots
from optbench.params import F, Param, resolve
from optbench.registry import Zoo
from optbench.validate import OptbenchInputError

from .schedules import Schedule


def _check_slots(cls):
    """On registration: ``slots`` as :class:`Slots`, each one a hyperparameter."""
    if not isinstance(cls.slots, Slots):   # a plain tuple of names (plugins may give one)
        cls.slots = hyper_slots(*cls.slots)
    known = set().union(*(getattr(c, "params", {}) for c in cls.__mro__))
    unknown = [k for k in cls.slots if k not in known]
    if unknown:
        raise RuntimeError(f"optimizer {cls.name!r}: slots {unknown} are not hyperparameters")


PREP = kc.placeholder("PREP")   # the family's kernels, bound per optimizer
ELEM = kc.placeholder("ELEM")


@kc.template("PREP", "ELEM")
def vector_update(x, g, st, sc, hy):
    """Generic whole-vector update: PREP once, then ELEM for every coordinate."""
    PREP(sc, hy)
    for i in range(x.shape[0]):
        ELEM(x, g[i], st, sc, hy, i)


ELEMQ = kc.placeholder("ELEMQ")
QROW = 0    # rebound per optimizer (kc.with_constants): the scalar row ELEMQ divides by
QUOTIENT_MIN_DIM = 64   # shorter vectors keep the division (vector_update_q)


@kc.template("PREP", "ELEM", "ELEMQ")
def vector_update_q(x, g, st, sc, hy):
    """``vector_update`` for an ELEM that divides square roots by the step's scalar
    ``sc[QROW]`` (Adam's √(1 − β₂ᵗ)): ELEMQ, its quotient form (``kernels/quotient.py``),
    does those divisions by multiply-adds with the reciprocal computed once here, the same
    bits; a scalar out of the form's range takes ELEM, and so does a short vector (below
    QUOTIENT_MIN_DIM: one scalar chain of multiply-adds is slower than the division, the
    2-D run's step 10–25 % slower with it)."""
    PREP(sc, hy)
    b = sc[QROW]
    if b >= B_MIN and b <= B_MAX and x.shape[0] >= QUOTIENT_MIN_DIM:
        y = 1.0 / b
        for i in range(x.shape[0]):
            ELEMQ(x, g[i], st, sc, hy, i, y)
    else:
        for i in range(x.shape[0]):
            ELEM(x, g[i], st, sc, hy, i)


def update_template(optimizer) -> tuple:
    """(template, bind, name suffix) of the CPU whole-vector update of a coordinate-wise
    ``optimizer``: ``vector_update_q`` where its ELEM has a quotient form (the Adam family:
    a long vector's update bound by the divider runs about a quarter faster), else
    ``vector_update``."""
    bind = {"PREP": optimizer.PREP, "ELEM": optimizer.ELEM}
    q = quotient_form(optimizer.ELEM)
    if q is None:
        return vector_update, bind, ""
    elemq, row = q
    return (kc.with_constants(vector_update_q, f"vector_update_q__r{row}", QROW=row),
            {**bind, "ELEMQ": elemq}, "__q")


@kc.template("PREP", "ELEM")
def elem_step(x, g, st, sc, hy, blk, wk, stage):
    """The step form (contract v2) of a coordinate-wise family: one pass, no requests."""
    PREP(sc, hy)
    for i in range(x.shape[0]):
        ELEM(x, g[i], st, sc, hy, i)
    return 0


class Optimizer:
    """An optimizer family with resolved hyperparameters, schedule and gradient clipping.

    ``hyper`` holds the family's own hyperparameters (``lr`` and ``weight_decay`` included);
    ``schedule``, ``clip_norm`` and ``clip_value`` compose with any family.
    """

    name: ClassVar[str] = ""
    family: ClassVar[str] = ""
    kind: ClassVar[str] = "first_order"       # second_order / zero_order: runner/second_order.py
    params: ClassVar[dict[str, Param]] = {}
    slots: ClassVar[Slots] = hyper_slots()    # hyperparameters passed to the kernels, in order
                                              # (register turns a tuple of names into Slots)
    decoupled_weight_decay: ClassVar[bool] = False
    torch_name: ClassVar[str | None] = None   # torch.optim class with the same semantics
    doc: ClassVar[str] = ""
    PREP = ELEM = None
    AVG = None          # optional avg(x, st, sc, hy, out): an averaged point (traces f_avg)
    phased: ClassVar[bool] = False            # contract v2: a STEP kernel (optimizers/phased.py)
    requests: ClassVar[tuple] = ()            # evaluations its step asks for: "grad", "hvp"

    def __init__(self, schedule=None, clip_norm=None, clip_value=None, maximize=False,
                 **hyper):
        self.hyper = resolve(f"optimizer {self.name}", self.params, hyper)
        self.check()
        self.schedule = Schedule.make(schedule)
        self.clip_norm = _clip("clip_norm", clip_norm)
        self.clip_value = _clip("clip_value", clip_value)
        if not isinstance(maximize, (bool, np.bool_)):
            raise OptbenchInputError(f"maximize must be true or false, got {maximize!r}")
        if maximize and self.kind != "first_order":
            raise OptbenchInputError(f"optimizer {self.name}: maximize is for first-order "
                                     "optimizers")
        self.maximize = bool(maximize)

    def check(self):
        """Cross-parameter checks (override)."""

    # -- layout ----------------------------------------------------------------------
    def n_state(self) -> int:
        """Number of state rows of length d."""
        return 1

    def state_rows(self, blocks) -> int:
        """State rows of length d this optimizer needs on a problem with the block table
        ``blocks`` (:mod:`optbench.kernels.blocks`): ``n_state()``, unless the family keeps
        per-block matrices whose size follows the blocks' shapes (Shampoo, SOAP: their
        rows beyond ``n_state()`` start at 0 and hold the matrices)."""
        return self.n_state()

    def init_state(self, dim: int):
        st = np.full((max(1, self.n_state()), dim), 0.0)   # touched pages (see runner/batch.py)
        sc = np.zeros(N_SCALARS)
        self.init_scalars(sc)
        return st, sc

    def init_scalars(self, sc):
        """Initial values of the family's own scalars in sc (override)."""

    def hyper_array(self) -> np.ndarray:
        """``hy``: the ``slots`` hyperparameters in order; a slot the family does not expose
        (``gd`` has no momentum) is 0."""
        return np.array([float(self.hyper.get(k, 0.0)) for k in self.slots] or [0.0],
                        dtype=np.float64)

    @property
    def lr(self) -> float:
        return float(self.hyper["lr"])

    @property
    def weight_decay(self) -> tuple[float, float]:
        """(coupled L2, decoupled) weight decay applied by the run loop."""
        wd = float(self.hyper.get("weight_decay", 0.0))
        return (0.0, wd) if self.decoupled_weight_decay else (wd, 0.0)

    @property
    def spec(self) -> dict:
        out = {"optimizer": self.name, **self.hyper}
        out["schedule"] = self.schedule.spec
        out["clip_norm"] = self.clip_norm
        out["clip_value"] = self.clip_value
        if self.maximize:          # only when set: existing run ids stay as they were
            out["maximize"] = True
        return out

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.hyper.items())
        return f"{self.name}({args})"

    def with_hyper(self, **changes) -> "Optimizer":
        kw = dict(self.hyper)
        kw.update({k: v for k, v in changes.items() if k in self.params})
        extra = {k: v for k, v in changes.items() if k not in self.params}
        return type(self)(schedule=extra.pop("schedule", self.schedule.spec),
                          clip_norm=extra.pop("clip_norm", self.clip_norm),
                          clip_value=extra.pop("clip_value", self.clip_value),
                          maximize=extra.pop("maximize", self.maximize), **kw, **extra)

    def check_problem(self, problem) -> None:
        """Refuse (OptbenchInputError, one line) a problem this optimizer cannot run on
        (override: e.g. a step that needs Hessian-vector products or matrix blocks)."""

    def evaluations(self, t):
        """(gradients, Hessian-vector products) spent by the time step t's gradient is known
        (t: an int or an integer array): t + 1 and 0 for a plain first-order step."""
        t = np.asarray(t)
        return t + 1, np.zeros_like(t)

    # -- kernels ---------------------------------------------------------------------
    def cpu_update(self):
        tpl, bind, tag = update_template(self)
        return kc.cpu(tpl, S.UPDATE_SIG, bind=bind,
                      name=f"vector_update__{self.name.replace('-', '_')}{tag}", inline=True)

    def cpu_avg(self):
        """The compiled AVG kernel, or None (no averaged point)."""
        return None if self.AVG is None else kc.cpu(self.AVG, S.AVG_SIG)

    def cpu_step(self):
        """The compiled step form ``step(x, g, st, sc, hy, blk, wk, stage) -> request``
        (:data:`optbench.kernels.signatures.STEP_SIG`): here generated from PREP and ELEM."""
        return kc.cpu(elem_step, S.STEP_SIG, bind={"PREP": self.PREP, "ELEM": self.ELEM},
                      name=f"elem_step__{self.ELEM.__name__}", inline=True)


def _clip(field, v):
    if v is None or v == 0 or v == "none":
        return None
    try:
        if isinstance(v, (bool, np.bool_, str)):   # True is not 1.0, '1.5' is not a number
            raise TypeError
        v = float(v)
    except (TypeError, ValueError):
        raise OptbenchInputError(f"{field} must be a positive number or none, got {v!r}") from None
    if not np.isfinite(v) or v <= 0:
        raise OptbenchInputError(f"{field} must be a positive finite number, got {v!r}")
    return v


REGISTRY = Zoo("optimizer", Optimizer, "optbench.optimizers",   # families: __init__.py
               check=_check_slots)
register = REGISTRY.register

LR = F(1e-3, 0.0, lo_open=True, doc="learning rate")
WD = F(0.0, 0.0, doc="weight decay")
