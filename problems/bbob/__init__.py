r"""COCO's bbob suite (family ``bbob``): the 24 noiseless functions with analytic gradients.

``problem("bbob", function=k, instance=i, dim=d)``: function k = 1…24 of COCO's bbob suite,
instance i ≥ 1, dimension d ≥ 2, with COCO's xopt, fopt, rotations and transformations
(T_osz, T_asy, Λ^α) reproduced from COCO's seeded generators (:mod:`.coco_random`): the values
equal ``cocoex``'s (tests/test_bbob.py checks 1e-12 relative at random points for every
function, instances 1–15, COCO's dimensions 2, 3, 5, 10, 20, 40). ``f_star`` is fopt and
``x_star`` xopt. The standard start is the origin (COCO's ``initial_solution``); ``start =
"random"`` draws uniformly from COCO's region of interest [−5, 5]^d.

Gradients are analytic for every function; where a function is not differentiable (step
ellipsoid's plateaus, ridges, Katsuura, the max of Gallagher's peaks, ...) each function's
``gradient_note`` says what optbench returns there (README's "COCO's bbob suite" table
lists them). Hessian-vector products exist where they are cheap (the
function's ``hvp``; without one, second-order optimizers refuse the problem).

Layout: :mod:`.common` (the table of functions and the shared data layout),
:mod:`.coco_random` (COCO's generators), :mod:`.transforms` (T_osz, T_asy, Λ, the boundary
penalty, as kernels with their derivatives) and one module per COCO function group:
:mod:`.separable` (f1–f5), :mod:`.moderate` (f6–f9), :mod:`.ill_conditioned` (f10–f14),
:mod:`.multimodal` (f15–f19), :mod:`.weak_structure` (f20–f24).

Source: N. Hansen, S. Finck, R. Ros, A. Auger, *Real-Parameter Black-Box Optimization
Benchmarking 2009: Noiseless Functions Definitions*, INRIA RR-6829 (2009); COCO,
https://github.com/numbbo/coco.
"""
from __future__ import annotations

import importlib

import numpy as np

from optbench.params import I
from optbench.validate import OptbenchInputError

from ..base import Problem, register
from .common import FOPT, FUNCTIONS, BbobFunction  # noqa: F401

GROUPS = ("separable", "moderate", "ill_conditioned", "multimodal", "weak_structure")
COCO_DIMS = (2, 3, 5, 10, 20, 40)


def functions() -> dict[int, BbobFunction]:
    """The defined functions by number (importing the group modules once)."""
    for g in GROUPS:
        try:
            importlib.import_module(f"{__name__}.{g}")
        except ModuleNotFoundError as e:
            if e.name != f"{__name__}.{g}":
                raise
    return FUNCTIONS


@register
class Bbob(Problem):
    name = "bbob"
    family = "bbob"
    min_dim = 2
    formula = r"f_k(x),\ k = 1 \ldots 24\ \text{(COCO's bbob suite)}"
    source = ("Hansen, Finck, Ros & Auger (2009), Real-Parameter Black-Box Optimization "
              "Benchmarking 2009: Noiseless Functions Definitions, INRIA RR-6829; COCO")
    params = {"function": I(1, 1, 24, doc="COCO's function number (1-24)"),
              "instance": I(1, 1, doc="COCO's instance number (>= 1)"),
              "dim": I(2, 2, doc="dimension d (COCO's suite: 2, 3, 5, 10, 20, 40)")}

    def __init__(self, **params):
        p = self.resolve_params(params)
        table = functions()
        if p["function"] not in table:
            raise OptbenchInputError(
                f"problem bbob: function {p['function']} is not defined yet; defined: "
                f"{', '.join(map(str, sorted(table)))}")
        fn = table[p["function"]]
        if fn.max_dim is not None and p["dim"] > fn.max_dim:
            raise OptbenchInputError(
                f"problem bbob: function {fn.number} ({fn.name}) is defined by COCO's "
                f"generators for dim <= {fn.max_dim}, got {p['dim']}")
        self.function = fn
        self.FG, self.VALUE, self.HVP = fn.fg, fn.value, fn.hvp
        self.parallel_safe = not fn.scratch
        super().__init__(**params)

    def build(self):
        p = self.p
        data, idata, xopt = self.function.setup(p["dim"], p["instance"])
        self._xopt = np.array(xopt, dtype=np.float64)
        return data, idata, p["dim"]

    def data_bytes(self) -> int:
        d = int(self.p.get("dim") or 0)
        return 8 * (3 * d * d + 8 * d) + 8 * 101 * (d + 2) if d else 0

    def x_standard(self):
        return np.zeros(self.dim)

    def init_box(self):
        return (-5.0, 5.0)

    @property
    def f_star(self):
        return float(self.data[FOPT])

    @property
    def x_star(self):
        return self._xopt.copy()

    @property
    def facts(self) -> dict:
        return {**super().facts, "function": self.function.name}

    def cost(self):
        return "O(d²) time, O(d²) memory (rotations)"
