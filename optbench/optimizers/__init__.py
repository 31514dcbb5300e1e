"""Optimizer families, one module each; ``get(name, **hyper)`` builds one."""
from __future__ import annotations

from . import adagrad, adam, rmsprop, sgd  # noqa: F401  (register the families)
from . import line_search, second_order, zero_order  # noqa: F401,E402
from .base import REGISTRY, Optimizer, register  # noqa: F401
from .schedules import KINDS as SCHEDULES, Schedule  # noqa: F401


def names() -> list[str]:
    return sorted(REGISTRY)


def get(name: str, **hyper) -> Optimizer:
    from optbench.validate import unknown

    if isinstance(name, Optimizer):
        return name
    if not isinstance(name, str) or name not in REGISTRY:
        raise unknown("optimizer", name, REGISTRY)
    return REGISTRY[name](**hyper)
