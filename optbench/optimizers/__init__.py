"""Optimizer families, one module each.

``make(name | spec dict | Optimizer)`` builds an optimizer (``get(name, **hyper)`` by name);
``names()`` lists the registered families; ``listing()`` gives the rows of ``optbench list
optimizers``. Families register with ``@register`` (:mod:`optbench.registry`, the same
mechanism as the problems); the modules below are imported on first look-up.
"""
from __future__ import annotations

from .base import REGISTRY, Optimizer, register  # noqa: F401
from .schedules import KINDS as SCHEDULES, Schedule  # noqa: F401

FAMILY_MODULES = ("sgd", "adagrad", "rmsprop", "adam", "line_search", "second_order",
                  "zero_order",
                  "adamax",
                  "nadam",
                  "radam",
                  "adadelta",
                  "asgd",
                  "rprop",
                  "adafactor",
                  "lamb",
                  "muon",
                  "schedule_free",
                  "sam",
                  "lookahead",
                  "sophia",
                  )

names = REGISTRY.names
get = REGISTRY.get


def make(spec, **params):
    """``REGISTRY.make``, plus the bridges ``"torch"`` / ``"optax"`` (:mod:`optbench.bridges`,
    not registered families: they wrap other libraries' optimizers)."""
    name = spec if isinstance(spec, str) else (
        spec.get("optimizer", spec.get("name")) if isinstance(spec, dict) else None)
    if isinstance(name, str) and name in ("torch", "optax"):
        from optbench.bridges import make as make_bridge
        return make_bridge(spec, **params)
    return REGISTRY.make(spec, **params)


def coordinate_wise() -> list[str]:
    """The first-order families written as PREP + ELEM (every fast path and the CUDA path run
    them); the others are contract-v2 (phased, CPU only) or second / zero order."""
    return [n for n in names()
            if REGISTRY[n].kind == "first_order" and not REGISTRY[n].phased]


def listing() -> list[dict]:
    """One row per family: name, family, the torch.optim equivalent and the defaults."""
    return [{"optimizer": n, "family": REGISTRY[n].family,
             "torch": REGISTRY[n].torch_name or "-",
             "defaults": ", ".join(f"{k}={v}" for k, v in REGISTRY[n]().hyper.items())}
            for n in names()]
