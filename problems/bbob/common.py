"""What every bbob function module declares, and the data layout all of them share.

Each function of the suite is one :class:`BbobFunction` in :data:`FUNCTIONS` (modules register
with :func:`define`). Its kernels follow the problem contract (``FG``, ``VALUE``, ``HVP``:
plain loops, no allocation) on ``data`` / ``idata`` built by its ``setup``:

* ``data[0]`` = fopt, ``data[1 : 1 + d]`` = xopt, then the function's own arrays (rotation
  matrices row-major, conditioning factors, peak tables, ...) from ``data[XOPT + d]`` on;
  functions whose kernels need scratch vectors keep them at the end of ``data`` and set
  ``scratch=True`` (runs of such an instance go one at a time: ``Problem.parallel_safe``);
* ``idata[0]`` = d, ``idata[1]`` = the function number, then the function's own integers.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

FOPT, XOPT = 0, 1          # data offsets
FUNCTIONS: dict[int, "BbobFunction"] = {}


@dataclass(frozen=True)
class BbobFunction:
    """One bbob function: COCO's number and name, its kernels and its instance builder.

    ``setup(dim, instance) -> (data, idata, xopt)`` (data[0] = fopt, data[1:1+d] = xopt);
    ``smooth``: the gradient is continuous everywhere (the ``bbob-smooth`` suite);
    ``gradient_note``: where f is not differentiable, what ``FG`` returns there (docs and
    ``optbench list``); ``hvp`` None: no Hessian-vector product (second-order methods refuse).
    ``max_dim``: the largest d COCO's generators define for it (None: no limit)."""

    number: int
    name: str
    fg: Callable
    value: Callable
    hvp: Callable | None
    setup: Callable
    smooth: bool
    scratch: bool = False
    gradient_note: str = ""
    max_dim: int | None = None


def define(fn: BbobFunction) -> BbobFunction:
    """Add one function to the table (twice is an error)."""
    if fn.number in FUNCTIONS:
        raise RuntimeError(f"bbob function {fn.number} defined twice")
    FUNCTIONS[fn.number] = fn
    return fn


def base_arrays(function: int, instance: int, dim: int, xopt: np.ndarray, fopt: float,
                extra=(), iextra=()) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(data, idata, xopt)`` in the shared layout: [fopt, xopt, *extra] and
    [d, function, *iextra] (``extra``: arrays flattened row-major, in order)."""
    parts = [np.array([fopt], float), np.asarray(xopt, float)]
    parts += [np.asarray(e, float).ravel() for e in extra]
    data = np.concatenate(parts)
    idata = np.concatenate([np.array([dim, function], np.int64),
                            np.asarray(iextra, np.int64).ravel()])
    return data, idata, np.asarray(xopt, float)
