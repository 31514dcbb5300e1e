r"""Zero-order baselines for low dimension: grid search and random search.

Step t evaluates the objective at one sample point :math:`z_t` (``nfev`` = t + 1 after step t,
no gradients charged); the iterate is the incumbent :math:`x_t = \arg\min_{s \le t} f(z_s)`,
so best-so-far f, the targets and the trace refer to it. The gradient norm in the trace is
computed at the incumbent for the record only and not charged. The run's ``x0`` is not used.

* ``grid-search``: the ``points``^d nodes of a regular grid on the box [lo, hi]^d, visited in
  lexicographic order (coordinate 0 fastest); the run ends when the grid is exhausted.
  Reaching accuracy ε on a Lipschitz function needs :math:`(1/\varepsilon)^d` evaluations.
* ``random-search``: :math:`z_t` uniform on [lo, hi]^d, drawn from a counter-based hash of
  (run seed, t, coordinate) (SplitMix64, Steele, Lea & Flood 2014): reproducible, no state.

The box defaults to the problem's ``init_box()``. Source: the zero-order baselines of
docs/reference.md; Bergstra & Bengio, *Random search for hyper-parameter optimization*, JMLR 2012.
Cost per step: one value evaluation and O(d) work; O(d) memory.
"""
from __future__ import annotations

from optbench.kernels.compile import kernel
from optbench.params import F, I
from optbench.validate import OptbenchInputError

from . import so_common as K
from .base import register
from .linalg import CNT_NFEV

MAX_DIM = 20


@kernel
def hash_uniform(seed, t, i):
    """Uniform [0, 1) from (seed, t, i): SplitMix64 finaliser on wrapping int64 arithmetic."""
    z = seed * -7046029254386353131 + t * 6364136223846793005 + i * 1442695040888963407
    z = z ^ ((z >> 30) & 0x3FFFFFFFF)
    z = z * -4658895280553007687
    z = z ^ ((z >> 27) & 0x1FFFFFFFFF)
    z = z * -7723592293110705685
    z = z ^ ((z >> 31) & 0x1FFFFFFFF)
    return ((z >> 11) & 0x1FFFFFFFFFFFFF) * 1.1102230246251565e-16


@kernel
def zo_point(method, z, hy, seed, t):
    """Sample point number t into z."""
    lo = hy[K.H_LO]
    hi = hy[K.H_HI]
    if method == K.M_GRID:
        pts = int(hy[K.H_A])
        idx = t
        for i in range(z.shape[0]):
            k = idx % pts
            idx = idx // pts
            z[i] = lo + (hi - lo) * k / (pts - 1)
    else:
        for i in range(z.shape[0]):
            z[i] = lo + (hi - lo) * hash_uniform(seed, t, i)


@kernel
def zo_step(fg, value, hvp, hess, x, g, f, st, hm, iw, sv, hy, data, idata, seed, t, cnt):
    z = st[K.R_XT]
    zo_point(int(hy[K.H_METHOD]), z, hy, seed, t + 1)
    fz = value(z, data, idata)
    cnt[CNT_NFEV] += 1
    if fz < f:
        for i in range(x.shape[0]):
            x[i] = z[i]
        return fg(x, g, data, idata, seed, t), 0   # gradient for the record only
    return f, 0


class _ZeroOrder(K.CurvatureOptimizer):
    kind = "zero_order"
    family = "zero_order"
    needs_hvp = False

    def box(self, prob):
        lo, hi = self.hyper["lo"], self.hyper["hi"]
        blo, bhi = prob.init_box()
        lo = blo if lo is None else lo
        hi = bhi if hi is None else hi
        if not lo < hi:
            raise OptbenchInputError(f"optimizer {self.name}: need lo < hi, got lo={lo}, hi={hi}")
        if prob.dim > MAX_DIM:
            raise OptbenchInputError(
                f"optimizer {self.name}: zero-order baselines are for low dimension "
                f"(dim <= {MAX_DIM}), got dim={prob.dim}")
        return lo, hi

    def hy(self, prob):
        a = super().hy(prob)
        a[K.H_LO], a[K.H_HI] = self.box(prob)
        return a

    def n_samples(self, d: int) -> int | None:
        """Number of distinct sample points (None: unlimited)."""
        return None


_BOX = {"lo": F(None, doc="lower end of the box (default: the problem's init_box)"),
        "hi": F(None, doc="upper end of the box (default: the problem's init_box)")}


@register
class GridSearch(_ZeroOrder):
    """Exhaustive search over a regular grid of points^d nodes."""

    name = "grid-search"
    METHOD = K.M_GRID
    params = {"points": I(11, 2, doc="grid points per coordinate"), **_BOX}

    def fill(self, a, d):
        a[K.H_A] = self.hyper["points"]

    def n_samples(self, d):
        return self.hyper["points"] ** d


@register
class RandomSearch(_ZeroOrder):
    """Uniform random search on the box."""

    name = "random-search"
    METHOD = K.M_RANDOM
    params = dict(_BOX)
