r"""Rank-1 symmetric matrix factorisation :math:`f(x) = \tfrac14 \lVert x x^\top - M \rVert_F^2`.

:math:`M = \sum_i \lambda_i v_i v_i^\top` with :math:`\lambda_1 > \dots > \lambda_n > 0`
(``spectrum="geometric"``: log-spaced, or ``"linear"``, from ``lam_top`` down to
``lam_bottom``) and :math:`v_i` the columns of a Haar-random orthogonal matrix from ``seed``.

:math:`\nabla f = (x^\top x) x - M x`, :math:`\nabla^2 f = (x^\top x) I + 2 x x^\top - M`.
Critical points: the origin (Hessian −M: index n, the maximum, f = ¼‖M‖_F²) and
:math:`\pm\sqrt{\lambda_i} v_i` (Hessian eigenvalues λ_i − λ_j for j ≠ i and 2λ_i: index
exactly i − 1, f = ¼(‖M‖_F² − λ_i²)). f* = ¼Σ_{i≥2} λ_i² at ±√λ_1 v_1; ``x_star`` is +√λ_1 v_1.

``known_critical_points()`` lists all 2n + 1 points when n ≤ 200; otherwise the origin and
±√λ_i v_i for i = 1..8 and i = n. ``critical_point(index, seed)`` returns ±√λ_{index+1}
v_{index+1} (sign from ``seed``) for index < n and the origin for index n.
``near_index``/``near_radius`` start near such a point (:mod:`.near_critical`).

Standard start: x = 1/√n·(1, …, 1)·√λ_1 (norm √λ_1); random starts are uniform in
[−b, b]^n with b = √(3λ_1/n), so that E‖x‖² = λ_1.

The objective is evaluated in the direct form ¼Σ_{jk}(x_j x_k − M_jk)², not the expanded
one, so f − f* keeps its relative accuracy near the minimum.

Source: Ge, Lee and Ma, *Matrix completion has no spurious local minimum*, NeurIPS 2016;
Jin et al., *How to escape saddle points efficiently*, ICML 2017 (the strict-saddle example).
Cost per gradient: O(n²) time, O(n²) memory (M dense; n ≤ 5000). Building the problem
draws an n×n Haar matrix: O(n³) time once.
"""
from __future__ import annotations

import numpy as np

from optbench.params import C, F, I
from optbench.validate import OptbenchInputError

from .base import Problem, register, rng
from .near_critical import NEAR_PARAMS, NearCritical, kind_of
from .quadratic import haar_orthogonal

MAX_DIM = 5000
LIST_ALL_UP_TO = 200
COST = "O(d^2) time, O(d^2) memory"


def mf_fg(x, g, data, idata, seed, step):
    n = x.shape[0]
    s = 0.0
    for j in range(n):
        s += x[j] * x[j]
    f = 0.0
    for j in range(n):
        row = j * n
        mx = 0.0
        for k in range(n):
            e = x[j] * x[k] - data[row + k]
            f += e * e
            mx += data[row + k] * x[k]
        g[j] = s * x[j] - mx
    return 0.25 * f


def mf_value(x, data, idata):
    n = x.shape[0]
    f = 0.0
    for j in range(n):
        row = j * n
        for k in range(n):
            e = x[j] * x[k] - data[row + k]
            f += e * e
    return 0.25 * f


def mf_hvp(x, v, out, data, idata):
    n = x.shape[0]
    s = 0.0
    t = 0.0
    for j in range(n):
        s += x[j] * x[j]
        t += x[j] * v[j]
    for j in range(n):
        row = j * n
        mv = 0.0
        for k in range(n):
            mv += data[row + k] * v[k]
        out[j] = s * v[j] + 2.0 * t * x[j] - mv


def mf_hess(x, H, data, idata):
    n = x.shape[0]
    s = 0.0
    for j in range(n):
        s += x[j] * x[j]
    for j in range(n):
        row = j * n
        for k in range(n):
            H[j, k] = 2.0 * x[j] * x[k] - data[row + k]
        H[j, j] += s


def mf_spectrum(n: int, top: float, bottom: float, shape: str) -> np.ndarray:
    """λ_1 > … > λ_n from ``top`` to ``bottom`` (descending)."""
    if n == 1:
        return np.array([top])
    t = np.arange(n) / (n - 1)
    if shape == "geometric":
        return top * (bottom / top) ** t
    return top + (bottom - top) * t


def checked_spectrum(p: dict) -> np.ndarray:
    """The eigenvalues of M for the resolved parameters ``p`` (distinct, descending)."""
    n = p["dim"]
    if n > 1 and not p["lam_bottom"] < p["lam_top"]:
        raise OptbenchInputError(
            f"problem matrix-factorisation: lam_bottom must be < lam_top (distinct "
            f"eigenvalues), got lam_bottom={p['lam_bottom']!r}, lam_top={p['lam_top']!r}")
    lam = mf_spectrum(n, p["lam_top"], p["lam_bottom"], p["spectrum"])
    if n > 1 and not np.all(np.diff(lam) < 0):
        raise OptbenchInputError(
            "problem matrix-factorisation: lam_top/lam_bottom too close for distinct "
            f"eigenvalues at dim={n}")
    return lam


def f_at(eigenvalues: np.ndarray, i: int) -> float:
    """f at ±√λ_i v_i (1-based i): ¼ Σ_{j≠i} λ_j² (no cancellation)."""
    lam2 = eigenvalues ** 2
    return 0.25 * float(np.sum(lam2[: i - 1]) + np.sum(lam2[i:]))


def listed_indices(n: int):
    """The i of the points ±√λ_i v_i that ``known_critical_points`` lists."""
    return range(1, n + 1) if n <= LIST_ALL_UP_TO else [*range(1, min(n, 8) + 1), n]


@register
class MatrixFactorisation(NearCritical, Problem):
    name = "matrix-factorisation"
    family = "critical"
    formula = r"f(x) = \tfrac14 \lVert x x^\top - M \rVert_F^2,\ M = \sum_i \lambda_i v_i v_i^\top"
    source = "Ge, Lee & Ma (2016), NeurIPS; Jin et al. (2017), ICML"
    params = {
        "dim": I(1000, 1, MAX_DIM, doc="dimension n (M is n×n dense)"),
        "spectrum": C("geometric", ("geometric", "linear"), doc="spacing of λ_1 > … > λ_n"),
        "lam_top": F(1.0, 0.0, lo_open=True, doc="largest eigenvalue λ_1 of M"),
        "lam_bottom": F(0.01, 0.0, lo_open=True, doc="smallest eigenvalue λ_n of M"),
        "seed": I(0, 0, doc="seed of the eigenvectors of M"),
        **NEAR_PARAMS,
    }
    FG = staticmethod(mf_fg)
    VALUE = staticmethod(mf_value)
    HVP = staticmethod(mf_hvp)
    HESS = staticmethod(mf_hess)

    def data_bytes(self):
        n = self.p["dim"]
        return 34 * n * n      # 4.25 n² floats building M (Gaussian, Q, R, M)

    @classmethod
    def about(cls, **params):
        """Closed forms from the parameters (building M costs O(n³) time, O(n²) memory)."""
        p = cls.resolve_params(params)
        lam = checked_spectrum(p)
        return {"family": cls.family, "dim": p["dim"], "min_dim": cls.min_dim,
                "f_star": f_at(lam, 1), "critical_points": 1 + 2 * len(listed_indices(p["dim"])),
                "stochastic": cls.stochastic, "cost": COST}

    def build(self):
        n, p = self.p["dim"], self.p
        self.eigenvalues = checked_spectrum(p)
        self.eigenvectors = haar_orthogonal(n, p["seed"])      # columns v_i
        M = (self.eigenvectors * self.eigenvalues) @ self.eigenvectors.T
        M = 0.5 * (M + M.T)
        self.norm_m2 = float(np.sum(self.eigenvalues ** 2))    # ‖M‖_F² = Σ λ_i²
        return M.ravel(), np.array([n]), n

    def matrix(self) -> np.ndarray:
        n = self.dim
        return self.data[: n * n].reshape(n, n).copy()

    def x_standard(self):
        return np.full(self.dim, np.sqrt(self.eigenvalues[0] / self.dim))

    def init_box(self):
        b = float(np.sqrt(3.0 * self.eigenvalues[0] / self.dim))
        return (-b, b)

    def _f_at(self, i: int) -> float:
        return f_at(self.eigenvalues, i)

    @property
    def f_star(self):
        return self._f_at(1)

    @property
    def x_star(self):
        return np.sqrt(self.eigenvalues[0]) * self.eigenvectors[:, 0]

    def critical_point(self, index: int, seed: int = 0):
        """(x, f, index): ±√λ_{index+1} v_{index+1} (seeded sign) for index < n, 0 for n."""
        k = self._index_ok(index)
        if k == self.dim:
            return np.zeros(self.dim), 0.25 * self.norm_m2, k
        sign = 1.0 if rng(seed, 23).random() < 0.5 else -1.0
        x = sign * np.sqrt(self.eigenvalues[k]) * self.eigenvectors[:, k]
        return x, self._f_at(k + 1), k

    def known_critical_points(self):
        n = self.dim
        out = [(np.zeros(n), 0.25 * self.norm_m2, n, "max")]
        for i in listed_indices(n):
            v = np.sqrt(self.eigenvalues[i - 1]) * self.eigenvectors[:, i - 1]
            kind = kind_of(i - 1, n, global_min=True)
            out += [(v, self._f_at(i), i - 1, kind), (-v, self._f_at(i), i - 1, kind)]
        return out

    def cost(self):
        return COST
