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
                  "lion", "adabelief", "yogi", "adan", "adopt", "ademamix", "madgrad",
                  "prodigy", "dadapt_adam", "lars", "novograd", "mars",
                  "adahessian", "shampoo", "soap",
                  )

names = REGISTRY.names
get = REGISTRY.get


make = REGISTRY.make
# the bridges "torch" / "optax" (optbench/bridges.py) are built by a factory, not registered
# families: they wrap other libraries' optimizers
REGISTRY.external.update({"torch": "optbench.bridges:make", "optax": "optbench.bridges:make"})


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
