r"""Starting near a known critical point (shared by the high-dimensional critical-point families).

A family that knows its critical points by Hessian index mixes in :class:`NearCritical` and
implements

* ``critical_point(index, seed) -> (x, f, index)``: a critical point of exactly that Hessian
  index (number of negative Hessian eigenvalues), chosen with the seeded generator;
* ``max_index`` (property): the largest index the family has;
* optionally ``_check_index(index)``: raise :class:`OptbenchInputError` for indices in
  ``0..max_index`` that the family cannot construct.

Two problem parameters are added (they join the problem's canonical spec, so a run that
starts near a saddle is reproducible from its spec alone):

* ``near_index`` (int, default −1 = off): when ≥ 0, ``x0(seed)`` is
  ``critical_point(near_index, seed)[0] + near_radius * u`` with ``u`` a seeded Gaussian
  direction normalised to unit length, so ‖x0 − x_c‖ = near_radius exactly (up to rounding).
  It overrides ``start``.
* ``near_radius`` (float ≥ 0, default 1e-3).

Both the critical point and the direction are drawn from the run seed, so different seeds
start near different critical points of the same index (where the family has several).
"""
from __future__ import annotations

import numpy as np

from optbench.params import F, I
from optbench.validate import OptbenchInputError

from .base import rng

NEAR_PARAMS = {
    "near_index": I(-1, -1, doc="start near a critical point of this Hessian index (-1: off)"),
    "near_radius": F(1e-3, 0.0, doc="distance of x0 from that critical point"),
}

_SALT_DIRECTION = 101


class NearCritical:
    """Mixin (put it before :class:`Problem` in the bases) adding the near-critical start."""

    def __init__(self, **params):
        super().__init__(**params)
        k = self.p["near_index"]
        if k >= 0:
            self._index_ok(k, field="near_index")

    @property
    def max_index(self) -> int:
        return self.dim

    def _check_index(self, index: int) -> None:
        """Hook: raise OptbenchInputError for an index the family cannot construct."""

    def _index_ok(self, index, field="index") -> int:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise OptbenchInputError(f"problem {self.name}: {field} must be an integer, got {index!r}")
        index = int(index)
        if index < 0 or index > self.max_index:
            raise OptbenchInputError(
                f"problem {self.name}: {field} must be in 0..{self.max_index} "
                f"(the largest Hessian index for dim={self.dim}), got {index}")
        self._check_index(index)
        return index

    def critical_point(self, index: int, seed: int = 0):
        raise NotImplementedError

    def x0(self, seed: int = 0) -> np.ndarray:
        k = self.p["near_index"]
        if k < 0:
            return super().x0(seed)
        xc = np.asarray(self.critical_point(k, seed)[0], dtype=np.float64)
        u = rng(seed, _SALT_DIRECTION).standard_normal(self.dim)
        nu = float(np.linalg.norm(u))
        if nu == 0.0:  # pragma: no cover - probability zero
            u[0], nu = 1.0, 1.0
        return xc + self.p["near_radius"] * (u / nu)


def representative_indices(dim: int, cap: int = 8) -> list[int]:
    """Indices listed by ``known_critical_points`` of the separable families: 0..min(dim, cap)
    and dim itself (the family's maximum)."""
    ks = list(range(min(dim, cap) + 1))
    if dim not in ks:
        ks.append(dim)
    return ks


def kind_of(index: int, max_index: int, global_min: bool = False) -> str:
    if index == 0:
        return "global min" if global_min else "local min"
    if index == max_index:
        return "max"
    return "saddle"
