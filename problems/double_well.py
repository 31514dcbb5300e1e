r"""Double-well sum :math:`f(x) = \sum_i \tfrac14 (y_i^2 - 1)^2` with :math:`y = x`
(``rotation="none"``) or :math:`y = Q^\top x` (``rotation="haar"``, Q Haar-random orthogonal
drawn from the problem ``seed``).

Gradient :math:`\nabla f = Q (y^3 - y)`, Hessian :math:`Q\,\mathrm{diag}(3y_i^2 - 1)\,Q^\top`
(Q = I when unrotated). Critical points: :math:`x = Q c` for every :math:`c \in \{-1, 0, 1\}^d`
(3^d of them); the Hessian index is the number of zero coordinates of c (eigenvalue −1
there, +2 at ±1) and :math:`f = \text{index}/4`. f* = 0 at the 2^d points with c ∈ {±1}^d;
``x_star`` is one of them, :math:`Q\mathbf 1` (``ones`` when unrotated). The origin is the
maximum (index d, f = d/4).

``known_critical_points()`` cannot list 3^d points: it lists one representative per index
k = 0..min(d, 8) and k = d, namely c with its first k coordinates 0 and the rest +1 (mapped
by Q). ``critical_point(index, seed)`` draws which coordinates of c are 0 and the signs of the
others from the seed. ``near_index``/``near_radius`` start near such a point
(:mod:`.near_critical`).

Standard start: y = 0.5·1 (x = Q y), the same point in y-coordinates for both rotations.

Source: the double-well potential of the saddle-escape literature, e.g. Dauphin et al.,
*Identifying and attacking the saddle point problem in high-dimensional non-convex
optimization*, NeurIPS 2014; Jin et al., *How to escape saddle points efficiently*, ICML 2017.

Cost per gradient: unrotated O(d) time and O(d) memory (also an elementwise kernel ``EFG``
for fused large-d loops); rotated O(d²) time and O(d²) memory (Q stored densely; refused
for d > 20000). Dense Hessian: O(d²) unrotated, O(d³) rotated.
"""
from __future__ import annotations

import numpy as np

from optbench.kernels.compile import kernel
from optbench.params import C, I
from optbench.validate import OptbenchInputError

from .base import Problem, register, rng
from .near_critical import NEAR_PARAMS, NearCritical, kind_of, representative_indices
from .quadratic import haar_orthogonal

MAX_ROTATED_DIM = 20_000


@kernel
def dw_efg(xi, data, idata, i):
    """Elementwise term: (¼(xi² − 1)², xi³ − xi)."""
    t = xi * xi - 1.0
    return 0.25 * t * t, xi * t


def dw_fg(x, g, data, idata, seed, step):
    n = x.shape[0]
    f = 0.0
    if idata[0] == 0:
        for i in range(n):
            fi, gi = dw_efg(x[i], data, idata, i)
            g[i] = gi
            f += fi
        return f
    # rotated: data holds R = Q^T row-major, y = R x, grad = R^T (y^3 - y)
    for j in range(n):
        g[j] = 0.0
    for i in range(n):
        row = i * n
        y = 0.0
        for j in range(n):
            y += data[row + j] * x[j]
        fi, hi = dw_efg(y, data, idata, i)
        f += fi
        for j in range(n):
            g[j] += hi * data[row + j]
    return f


def dw_value(x, data, idata):
    n = x.shape[0]
    f = 0.0
    if idata[0] == 0:
        for i in range(n):
            t = x[i] * x[i] - 1.0
            f += 0.25 * t * t
        return f
    for i in range(n):
        row = i * n
        y = 0.0
        for j in range(n):
            y += data[row + j] * x[j]
        t = y * y - 1.0
        f += 0.25 * t * t
    return f


def dw_hvp(x, v, out, data, idata):
    n = x.shape[0]
    if idata[0] == 0:
        for i in range(n):
            out[i] = (3.0 * x[i] * x[i] - 1.0) * v[i]
        return
    for j in range(n):
        out[j] = 0.0
    for i in range(n):
        row = i * n
        y = 0.0
        w = 0.0
        for j in range(n):
            y += data[row + j] * x[j]
            w += data[row + j] * v[j]
        c = (3.0 * y * y - 1.0) * w
        for j in range(n):
            out[j] += c * data[row + j]


def dw_hess(x, H, data, idata):
    n = x.shape[0]
    for j in range(n):
        for k in range(n):
            H[j, k] = 0.0
    if idata[0] == 0:
        for i in range(n):
            H[i, i] = 3.0 * x[i] * x[i] - 1.0
        return
    for i in range(n):
        row = i * n
        y = 0.0
        for j in range(n):
            y += data[row + j] * x[j]
        c = 3.0 * y * y - 1.0
        for j in range(n):
            a = c * data[row + j]
            for k in range(n):
                H[j, k] += a * data[row + k]


@register
class DoubleWell(NearCritical, Problem):
    name = "double-well"
    family = "critical"
    formula = r"f(x) = \sum_{i=1}^d \tfrac14 (y_i^2 - 1)^2,\ y = Q^\top x"
    source = ("Dauphin et al. (2014), NeurIPS; Jin et al. (2017), ICML "
              "(double-well saddle benchmark)")
    params = {
        "dim": I(1000, 1, doc="dimension d"),
        "rotation": C("none", ("none", "haar"), doc="y = x, or y = Q^T x with Q Haar-random"),
        "seed": I(0, 0, doc="seed of the rotation Q"),
        **NEAR_PARAMS,
    }
    FG = staticmethod(dw_fg)
    VALUE = staticmethod(dw_value)
    HVP = staticmethod(dw_hvp)
    HESS = staticmethod(dw_hess)
    EFG = staticmethod(dw_efg)  # elementwise (f_i, g_i); None on rotated instances

    def data_bytes(self):
        d = self.p["dim"]
        if self.p["rotation"] == "none":
            return 8 * d
        return 34 * d * d      # 4.25 d² floats building Q (Gaussian, Q, R, Qᵀ)

    def build(self):
        d, p = self.p["dim"], self.p
        if p["rotation"] == "none":
            return np.zeros(1), np.array([0]), d
        if d > MAX_ROTATED_DIM:
            raise OptbenchInputError(
                f"problem double-well: rotation='haar' stores Q densely (d² floats); "
                f"dim must be <= {MAX_ROTATED_DIM}, got {d}")
        self.EFG = None  # not separable
        q = haar_orthogonal(d, p["seed"])
        return np.ascontiguousarray(q.T).ravel(), np.array([1]), d

    # -- geometry ---------------------------------------------------------------------
    def rotation_matrix(self) -> np.ndarray:
        """Q (x = Q y); the identity when unrotated."""
        d = self.dim
        if self.idata[0] == 0:
            return np.eye(d)
        return self.data[: d * d].reshape(d, d).T.copy()

    def from_y(self, y) -> np.ndarray:
        """x = Q y (no copy of Q)."""
        y = np.asarray(y, dtype=np.float64)
        if self.idata[0] == 0:
            return y.copy()
        d = self.dim
        return self.data[: d * d].reshape(d, d).T @ y

    def x_standard(self):
        return self.from_y(np.full(self.dim, 0.5))

    def init_box(self):
        return (-2.0, 2.0)

    @property
    def f_star(self):
        return 0.0

    @property
    def x_star(self):
        """One of the 2^d global minimisers: Q·1 (ones when unrotated)."""
        return self.from_y(np.ones(self.dim))

    # -- critical points --------------------------------------------------------------
    def critical_point(self, index: int, seed: int = 0):
        """A critical point of Hessian index ``index``: returns (x, f, index).

        The ``index`` zero coordinates of c are chosen without replacement and the signs of
        the other coordinates drawn ±1 from ``seed``; x = Q c, f = index/4."""
        k = self._index_ok(index)
        r = rng(seed, 21)
        c = r.choice(np.array([-1.0, 1.0]), size=self.dim)
        c[r.choice(self.dim, size=k, replace=False)] = 0.0
        return self.from_y(c), 0.25 * k, k

    def known_critical_points(self):
        """One representative per index k = 0..min(d, 8) and k = d: c = (0,…,0, 1,…,1)
        with k zeros, x = Q c. (All 3^d points are critical; see the module docstring.)"""
        out = []
        for k in representative_indices(self.dim):
            c = np.ones(self.dim)
            c[:k] = 0.0
            out.append((self.from_y(c), 0.25 * k, k, kind_of(k, self.dim, global_min=True)))
        return out

    def cost(self):
        if self.p["rotation"] == "none":
            return "O(d) time, O(d) memory"
        return "O(d^2) time, O(d^2) memory"
