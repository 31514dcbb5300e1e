"""optbench: a Numba-accelerated benchmark suite for gradient-based optimizers.

>>> import optbench as ob
>>> res = ob.run(ob.problem("rosenbrock", dim=2), ob.optimizer("adam", lr=1e-2), steps=2000)
"""
from __future__ import annotations

from .kernels.compile import configure_cache as _configure_cache

_configure_cache()  # before any cached dispatcher is created

__version__ = "0.1.0"
SCHEMA_VERSION = 1

from . import problems  # noqa: E402  (installed as optbench.problems)
from .optimizers import Schedule  # noqa: E402
from .optimizers import get as optimizer  # noqa: E402
from .problems import get as problem  # noqa: E402
from .validate import OptbenchInputError  # noqa: E402


def __getattr__(name):
    # the runner pulls in pandas and the compiled drivers: import on first use
    if name in ("run", "sweep", "RunResult", "RunSpec", "load", "run_suite", "load_suite"):
        from . import api
        return getattr(api, name)
    raise AttributeError(name)


__all__ = ["problem", "optimizer", "run", "sweep", "Schedule", "OptbenchInputError",
           "RunResult", "RunSpec", "load", "run_suite", "load_suite"]
