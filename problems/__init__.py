"""The problem zoo (installed as ``optbench.problems``): one module per family.

``get(name, **params)`` builds a problem; ``names()`` lists the registered families.
"""
from __future__ import annotations

import importlib

from .base import Problem, REGISTRY, register  # noqa: F401

_FAMILY_MODULES = ("quadratic", "rosenbrock", "saddle", "oned",
                   "double_well", "styblinski_tang", "matrix_factorisation", "linear_net",
                   "regression", "noisy",
                   "classic2d", "classic_nd", "monkey", "mgh", "mgh_nd", "mlp")


def _load_all():
    for m in _FAMILY_MODULES:
        importlib.import_module(f"{__name__}.{m}")


def names() -> list[str]:
    _load_all()
    return sorted(REGISTRY)


def get(name: str, **params) -> Problem:
    _load_all()
    from optbench.validate import unknown

    if not isinstance(name, str) or name not in REGISTRY:
        raise unknown("problem", name, REGISTRY)
    return REGISTRY[name](**params)
