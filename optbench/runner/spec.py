"""Run specifications: frozen, hashable, serialisable; the id is a stable hash
(docs/architecture.md, "Run")."""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, fields
from functools import cached_property, lru_cache

import numpy as np

from optbench import memory
from optbench import optimizers as O
from optbench import problems as P
from optbench.record.targets import ladder, record_steps
from optbench.validate import OptbenchInputError, choice, number

STOPS = ("target", "gtol", "budget")
DEVICES = ("cpu", "cuda")
DTYPES = ("float64", "float32")


def canonical_json(obj) -> str:
    def fix(v):
        if isinstance(v, dict):
            return {str(k): fix(x) for k, x in sorted(v.items())}
        if isinstance(v, (list, tuple)):
            return [fix(x) for x in v]
        if isinstance(v, (np.floating, float)):
            return float(v) if math.isfinite(v) else repr(float(v))
        if isinstance(v, (np.integer,)):
            return int(v)
        if isinstance(v, np.bool_):
            return bool(v)
        return v
    return json.dumps(fix(obj), sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class RunSpec:
    """One run: (problem, optimizer, seed, budget, targets, stopping rule, recording, device).

    ``problem`` and ``optimizer`` are canonical JSON of the resolved parameters (so two specs
    that mean the same run are equal and hash alike)."""

    problem: str
    optimizer: str
    seed: int = 0
    steps: int = 1000
    targets: tuple = ()
    stop: str = "target"
    gtol: float = 1e-8
    record: str = "log"
    x0: tuple | None = None
    device: str = "cpu"
    dtype: str = "float64"

    @classmethod
    def make(cls, problem, optimizer, *, seed=0, steps=1000, targets=None, stop="target",
             gtol=1e-8, record="log", x0=None, device="cpu", dtype="float64") -> "RunSpec":
        """Validate everything (before any compilation) and build the canonical spec."""
        prob = P.make(problem)
        opt = O.make(optimizer)
        seed = number("seed", seed, lo=0, hi=2**63 - 1, integer=True)
        steps = number("steps", steps, lo=1, hi=10**12, integer=True)
        choice("stop", stop, STOPS)
        choice("device", device, DEVICES)
        choice("dtype", dtype, DTYPES)
        if device == "cpu" and dtype != "float64":
            raise OptbenchInputError("dtype float32 is for device='cuda'; the CPU path is float64")
        opt.check_problem(prob)
        if device == "cuda":
            if getattr(opt, "kind", "first_order") != "first_order":
                raise OptbenchInputError(
                    f"optimizer {opt.name} runs on the CPU only; device='cuda' takes first-order "
                    "optimizers")
            if getattr(opt, "phased", False):
                raise OptbenchInputError(
                    f"optimizer {opt.name} runs on the CPU only; device='cuda' takes "
                    "coordinate-wise first-order optimizers (docs/architecture.md: contract v2)")
            from optbench.kernels.device import check_available
            check_available()
        gtol = number("gtol", gtol, lo=0.0)
        tg = _targets(targets)
        record = _record(record, steps)
        if x0 is not None:
            x0 = _x0(x0, prob)
        key = canonical_json(prob.spec)
        memory.check_run(prob, opt, steps, record, key)   # before anything is allocated
        return cls(key, canonical_json(opt.spec), seed, steps, tg, stop,
                   gtol, record, x0, device, dtype)

    @cached_property
    def run_id(self) -> str:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        return hashlib.sha1(canonical_json(d).encode()).hexdigest()[:16]

    @property
    def problem_params(self) -> dict:
        return dict(_parse(self.problem))

    @property
    def optimizer_params(self) -> dict:
        return dict(_parse(self.optimizer))

    def build_problem(self) -> P.Problem:
        return P.make(self.problem_params)

    def build_optimizer(self) -> O.Optimizer:
        return O.make(self.optimizer_params)

    def to_dict(self) -> dict:
        d = asdict(self)
        return d


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _is_real(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and \
        not isinstance(v, (bool, np.bool_))


def _seq(v) -> bool:
    return isinstance(v, (list, tuple, np.ndarray))


def _targets(targets) -> tuple:
    """'coco' (or None) or a list of positive finite numbers, as a decreasing tuple."""
    bad = OptbenchInputError(f"targets must be 'coco' or a list of numbers, got {targets!r}")
    if isinstance(targets, str) and targets != "coco":
        raise bad
    if targets is not None and not isinstance(targets, str):
        if not _seq(targets):
            raise bad
        if not all(_is_real(t) for t in np.asarray(targets, dtype=object).ravel()):
            raise OptbenchInputError(f"targets must be positive numbers (not strings or bools), "
                                     f"got {targets!r}")
    try:
        return tuple(float(t) for t in ladder(targets))
    except (TypeError, ValueError) as e:
        if isinstance(e, OptbenchInputError):
            raise
        raise OptbenchInputError(f"targets must be positive numbers, got {targets!r}") from None


def _record(record, steps: int) -> str:
    """The recording schedule as a string: 'log', 'every:K', 'none' or 'list:s1,s2,...' (a
    list's steps are integers in 0..steps)."""
    if isinstance(record, str):
        record_steps(1, record)   # validates the form (a budget of 1 allocates nothing)
        return record
    if not _seq(record):
        raise OptbenchInputError(
            f"record must be 'log', 'every:K', 'none' or a list of steps, got {record!r}")
    items = list(np.asarray(record, dtype=object).ravel())
    for s in items:
        if not _is_int(s):
            raise OptbenchInputError(f"record steps must be integers, got {s!r} in {record!r}")
        if s < 0:
            raise OptbenchInputError(f"record steps must be >= 0, got {s}")
        if s > steps:
            raise OptbenchInputError(
                f"record step {s} is beyond the budget of {steps} steps")
    return "list:" + ",".join(str(int(s)) for s in items)


def _x0(x0, prob) -> tuple:
    try:
        raw = np.asarray(x0)
    except (TypeError, ValueError):
        raise OptbenchInputError(f"x0 must be a list of numbers, got {x0!r}") from None
    if raw.dtype.kind not in ("i", "u", "f"):
        raise OptbenchInputError(f"x0 must be a list of numbers, got {x0!r}")
    x0a = raw.astype(np.float64).ravel()
    if x0a.shape != (prob.dim,):
        raise OptbenchInputError(f"x0 must have length {prob.dim} for {prob!r}, got {x0a.size}")
    if not np.all(np.isfinite(x0a)):
        raise OptbenchInputError("x0 must be finite (it contains NaN or Inf)")
    return tuple(float(v) for v in x0a)


@lru_cache(maxsize=8192)
def _parse(text: str) -> dict:
    """Parsed canonical JSON (a sweep's specs share few distinct strings; callers copy)."""
    return json.loads(text)
