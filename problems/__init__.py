"""The problem zoo (installed as ``optbench.problems``): one module per family.

``make(name | spec dict | Problem)`` builds a problem (``get(name, **params)`` by name);
``names()`` lists the registered families; ``listing()`` gives the rows of ``optbench list
problems``. Families register with ``@register`` (:mod:`optbench.registry`, the same
mechanism as the optimizers); the modules below are imported on first look-up.
"""
from __future__ import annotations

from .base import REGISTRY, Problem, register  # noqa: F401

FAMILY_MODULES = ("quadratic", "rosenbrock", "saddle", "oned",
                  "double_well", "styblinski_tang", "matrix_factorisation", "linear_net",
                  "regression", "noisy",
                  "classic2d", "classic_nd", "monkey", "mgh", "mgh_nd", "mlp", "bbob")

names = REGISTRY.names
get = REGISTRY.get
make = REGISTRY.make


def listing() -> list[dict]:
    """One row per family: its name and :meth:`Problem.about` of its default instance (no
    family builds large data for it)."""
    return [{"problem": n, **REGISTRY[n].about()} for n in names()]
