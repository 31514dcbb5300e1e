"""optbench: a Numba-accelerated benchmark suite for gradient-based optimizers.

>>> import optbench as ob
>>> res = ob.run(ob.problem("rosenbrock", dim=2), ob.optimizer("adam", lr=1e-2), steps=2000)

Importing the package is cheap: the public names below load their modules (numba, pandas,
the problem zoo) on first use, so ``optbench list suites`` or ``optbench show`` never pay for
the compiled parts. numba's cache folder is set by :mod:`optbench.kernels.compile`, which
every module with cached dispatchers imports first.
"""
from __future__ import annotations

import importlib
import importlib.util

from .validate import OptbenchInputError

__version__ = "0.1.0"

# public name -> (module, attribute or None for the module itself)
_LAZY = {
    "problems": ("optbench.problems", None),   # installed as optbench.problems
    "problem": ("optbench.problems", "make"),
    "optimizer": ("optbench.optimizers", "make"),
    "Schedule": ("optbench.optimizers", "Schedule"),
    "SCHEMA_VERSION": ("optbench.record.schema", "SCHEMA_VERSION"),   # declared with the columns
    "check_equivalent": ("optbench.bridges", "check_equivalent"),
    **{n: ("optbench.api", n) for n in ("run", "sweep", "RunResult", "RunSpec", "load",
                                        "run_suite", "load_suite")},
}


def __getattr__(name):
    if name in _LAZY:
        module, attr = _LAZY[name]
    elif not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}"):
        module, attr = f"{__name__}.{name}", None   # a subpackage: optbench.optimizers, ...
    else:
        raise AttributeError(f"module 'optbench' has no attribute {name!r}")
    value = importlib.import_module(module)
    if attr is not None:
        value = getattr(value, attr)
    globals()[name] = value  # later look-ups skip __getattr__
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


__all__ = ["problem", "optimizer", "run", "sweep", "Schedule", "OptbenchInputError",
           "RunResult", "RunSpec", "load", "run_suite", "load_suite", "check_equivalent"]
