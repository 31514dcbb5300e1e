"""The problem contract (docs/architecture.md) and the registry of problem families.

A problem owns plain float64/int64 arrays (``data``, ``idata``) and names plain-Python kernel
functions (see :mod:`optbench.kernels.signatures`): ``FG`` (value and gradient), ``VALUE``,
``HVP`` and optionally ``HESS`` (otherwise the dense Hessian is assembled from HVP columns).
The kernels are compiled for the CPU or for CUDA by :mod:`optbench.kernels.compile`.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import numpy as np

from optbench.kernels import compile as kc
from optbench.kernels import signatures as S
from optbench.memory import check as check_memory
from optbench.params import C, Param, resolve
from optbench.registry import Zoo
from optbench.validate import OptbenchInputError

if TYPE_CHECKING:
    import pandas as pd

MAX_DIM = 2 ** 31  # one float64 vector of this size is 16 GiB


def rng(seed: int, *salt: int) -> np.random.Generator:
    """The project's seeded generator: one stream per (seed, purpose) pair."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, *salt])


class Problem:
    """Base class of every problem family. Subclasses set the class attributes below and
    implement :meth:`build` (and :meth:`x_standard`, :attr:`f_star`, ... where known)."""

    name: ClassVar[str] = ""
    family: ClassVar[str] = ""          # module-level family (convex, classic, saddle, ...)
    params: ClassVar[dict[str, Param]] = {}
    min_dim: ClassVar[int] = 1
    stochastic: ClassVar[bool] = False
    formula: ClassVar[str] = ""         # LaTeX
    source: ClassVar[str] = ""          # citation
    start_default: ClassVar[str] = "standard"
    FG = VALUE = HVP = HESS = None      # plain-Python kernels (staticmethod)
    EFG = None                          # separable problems: efg(xi, data, idata, i) -> (f_i, g_i)
    METRICS = None                      # optional: metrics(x, data, idata, out), see metric_names
    parallel_safe: ClassVar[bool] = True  # False: kernels use scratch in data; runs go one by one
    specialise: ClassVar[bool] = True   # False: the pair-specialised drivers (special,
                                        # lockstep) gain nothing (its gradient is a loop nest
                                        # of its own) and are not used

    def __init__(self, **params):
        self.p = self.resolve_params(params)
        check_memory(self.data_bytes(), f"problem {self!r}: building its data",
                     f"dim {self.p['dim']}" if self.p.get("dim") else "")
        data, idata, dim = self.build()
        if dim < self.min_dim:
            raise OptbenchInputError(
                f"problem {self.name}: dim must be >= {self.min_dim}, got {dim}")
        self.data = np.ascontiguousarray(data, dtype=np.float64)
        self.idata = np.ascontiguousarray(idata, dtype=np.int64)
        if self.data.size == 0:
            self.data = np.zeros(1)
        if self.idata.size == 0:
            self.idata = np.zeros(1, np.int64)
        self.dim = int(dim)

    @classmethod
    def resolve_params(cls, params: dict) -> dict:
        """The validated parameters, defaults filled in (what ``self.p`` will be), without
        building anything."""
        schema = dict(cls.params)
        schema.setdefault("start", C(cls.start_default, ("standard", "random"),
                                     doc="x0: the standard start, or uniform in init_box(seed)"))
        p = resolve(f"problem {cls.name}", schema, params)
        if "dim" in p and p["dim"] is not None and p["dim"] > MAX_DIM:
            raise OptbenchInputError(f"problem {cls.name}.dim must be <= {MAX_DIM}, got {p['dim']}")
        return p

    # -- to implement -----------------------------------------------------------------
    def build(self):
        """Return ``(data, idata, dim)``."""
        raise NotImplementedError

    def data_bytes(self) -> int:
        """Estimated bytes to build and hold this instance's ``data`` and ``idata`` (the peak
        while building), from the resolved parameters ``self.p`` alone: it is asked before
        :meth:`build`, and for every run (see :mod:`optbench.memory`). Default: one float64
        vector of length ``dim`` (O(d) data); families with larger data override it."""
        return 8 * int(self.p.get("dim") or 0)

    def x_standard(self) -> np.ndarray | None:
        """The family's standard starting point (None: start from ``init_box``)."""
        return None

    def init_box(self) -> tuple[float, float]:
        """Box for random starts (and the plotting bounds of 2-D problems)."""
        return (-2.0, 2.0)

    @property
    def f_star(self) -> float | None:
        """Known global minimum value (None where unknown or unbounded below)."""
        return None

    @property
    def x_star(self) -> np.ndarray | None:
        """A known global minimiser (None where unknown or not unique)."""
        return None

    def known_critical_points(self) -> list[tuple[np.ndarray, float, int, str]]:
        """Known critical points as (x, f, Hessian index, kind)."""
        xs = self.x_star
        return [] if xs is None else [(xs, self.f_star, 0, "global min")]

    # -- derived ----------------------------------------------------------------------
    @property
    def spec(self) -> dict:
        """Canonical parameters: with the name, this rebuilds the identical problem."""
        return {"problem": self.name, **self.p}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.p.items())
        return f"{self.name}({args})"

    def x0(self, seed: int = 0) -> np.ndarray:
        xs = self.x_standard()
        if self.p["start"] == "standard" and xs is not None:
            return np.array(xs, dtype=np.float64)
        lo, hi = self.init_box()
        return rng(seed, 1).uniform(lo, hi, self.dim)

    def critical_points(self) -> pd.DataFrame:
        import pandas as pd   # not at import: listing the zoo needs no pandas

        rows = [{"x": np.asarray(x, float), "f": float(f), "index": int(k), "kind": kind}
                for x, f, k, kind in self.known_critical_points()]
        return pd.DataFrame(rows, columns=["x", "f", "index", "kind"])

    def blocks(self) -> np.ndarray:
        """The block layout of x (:mod:`optbench.kernels.blocks`): one vector block, unless
        the family has layers (``mlp``, ``linear-net``: one block per weight matrix and bias)."""
        from optbench.kernels.blocks import vector_blocks
        return vector_blocks(self.dim)

    @property
    def bounds(self):
        """Plotting bounds ((xmin, xmax), (ymin, ymax)) for 2-D problems, else None."""
        if self.dim != 2:
            return None
        lo, hi = self.init_box()
        return ((lo, hi), (lo, hi))

    def metric_names(self) -> list[str]:
        """Names of the extra trace columns written by METRICS (none by default)."""
        return []

    def elementwise(self) -> bool:
        """True when this instance is separable and exposes EFG (enables the fused loop)."""
        return self.EFG is not None and not self.stochastic

    def cost(self) -> str:
        """Time and memory of one gradient evaluation as a function of d."""
        return "O(d) time, O(d) memory"

    # -- what `optbench list problems` prints -----------------------------------------
    @property
    def facts(self) -> dict:
        """family, dim, min_dim, f_star, the number of known critical points, stochastic and
        the cost of one gradient, read from this instance."""
        return {"family": self.family, "dim": self.dim, "min_dim": self.min_dim,
                "f_star": self.f_star, "critical_points": len(self.known_critical_points()),
                "stochastic": bool(self.stochastic), "cost": self.cost()}

    @classmethod
    def about(cls, **params) -> dict:
        """:attr:`facts` of the instance with these parameters (none: the default instance),
        as ``optbench list problems`` prints them. This default builds the instance; a family
        whose data is large (an n×n matrix) overrides it with closed forms computed from
        :meth:`resolve_params`, so that listing the zoo allocates no large data
        (tests/test_factories.py checks that both agree)."""
        return cls(**params).facts

    # -- compiled kernels -------------------------------------------------------------
    def cpu_kernels(self):
        """(fg, value, hvp) compiled with ``numba.njit`` (explicit signatures, cached)."""
        ks = self.__dict__.get("_cpu_kernels")
        if ks is None:
            fg = kc.cpu(self.FG, S.FG_SIG)
            val = kc.cpu(self.VALUE, S.VALUE_SIG)
            hvp = kc.cpu(self.HVP, S.HVP_SIG) if self.HVP is not None else None
            ks = self.__dict__["_cpu_kernels"] = (fg, val, hvp)
        return ks

    def _x(self, x):
        x = np.ascontiguousarray(x, dtype=np.float64)
        if x.shape != (self.dim,):
            raise OptbenchInputError(
                f"problem {self.name}: x must have shape ({self.dim},), got {x.shape}")
        return x

    def value(self, x) -> float:
        return float(self.cpu_kernels()[1](self._x(x), self.data, self.idata))

    def grad(self, x, seed: int = 0, step: int = 0) -> np.ndarray:
        g = np.empty(self.dim)
        self.cpu_kernels()[0](self._x(x), g, self.data, self.idata, seed, step)
        return g

    def value_and_grad(self, x, seed: int = 0, step: int = 0):
        g = np.empty(self.dim)
        f = self.cpu_kernels()[0](self._x(x), g, self.data, self.idata, seed, step)
        return float(f), g

    def hvp(self, x, v) -> np.ndarray:
        if self.HVP is None:
            raise NotImplementedError(f"problem {self.name} has no Hessian-vector product")
        out = np.empty(self.dim)
        self.cpu_kernels()[2](self._x(x), self._x(v), out, self.data, self.idata)
        return out

    def hess(self, x) -> np.ndarray:
        x = self._x(x)
        if self.dim > 20_000:
            raise OptbenchInputError(f"problem {self.name}: dense Hessian refused for d={self.dim}")
        H = np.empty((self.dim, self.dim))
        if self.HESS is not None:
            kc.cpu(self.HESS, S.HESS_SIG)(x, H, self.data, self.idata)
            return H
        e = np.zeros(self.dim)
        for j in range(self.dim):
            e[j] = 1.0
            H[:, j] = self.hvp(x, e)
            e[j] = 0.0
        return H


REGISTRY = Zoo("problem", Problem, "optbench.problems")   # families: problems/__init__.py
register = REGISTRY.register
