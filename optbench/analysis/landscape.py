r"""Loss-landscape slices (Li, Xu, Taylor, Studer & Goldstein, *Visualizing the Loss
Landscape of Neural Nets*, NeurIPS 2018).

:math:`f(\alpha, \beta) = L(\theta + \alpha\delta + \beta\eta)` with Gaussian directions δ, η,
each **filter-normalised**: :math:`d_{i,j} \leftarrow d_{i,j} / \lVert d_{i,j}\rVert \cdot
\lVert\theta_{i,j}\rVert` for every filter/neuron j of layer i, bias directions zeroed.
A problem that has layers says so with ``filter_groups()`` → list of (index array, is_bias)
(the two-layer linear net's groups — the rows of W₁ and of W₂ — and the MLP's — each
neuron's incoming weights, biases zeroed — are built in here); any
other problem is one group: the direction is scaled to ‖θ‖ (to unit norm when θ = 0), the
"plain random normalised direction". 1-D interpolation: :math:`L((1-\alpha)\theta + \alpha\theta')`.
Trajectory plots use the two principal directions of the iterates around the end point.
Random draws come from ``rng(seed, 7)`` of :mod:`optbench.problems.base`.
Cost: one f evaluation per grid point (n² for a 2-D slice).
"""
from __future__ import annotations

import numpy as np

from optbench.problems.base import rng
from optbench.validate import OptbenchInputError


def filter_groups(problem) -> list[tuple[np.ndarray, bool]] | None:
    """The problem's filter groups (None: treat x as one group)."""
    fg = getattr(problem, "filter_groups", None)
    if callable(fg):
        return [(np.asarray(i, np.int64), bool(b)) for i, b in fg()]
    sizes = getattr(problem, "sizes", None)
    if getattr(problem, "name", "") == "mlp" and sizes is not None:  # W_l (out×in) then b_l
        out, o = [], 0
        for nin, nout in zip(sizes[:-1], sizes[1:]):
            out += [(o + k * nin + np.arange(nin), False) for k in range(nout)]
            out.append((o + nin * nout + np.arange(nout), True))
            o += nin * nout + nout
        return out
    if getattr(problem, "name", "") == "linear-net":  # W1 (h×n) then W2 (m×h), row-major
        p = problem.p
        n, h, m = p["in_dim"], p["hidden"], p["out_dim"]
        rows = [(np.arange(k * n, (k + 1) * n), False) for k in range(h)]
        rows += [(h * n + np.arange(a * h, (a + 1) * h), False) for a in range(m)]
        return rows
    return None


def normalise(direction, theta, groups=None) -> np.ndarray:
    """Filter-normalise ``direction`` against ``theta`` (one group when ``groups`` is None)."""
    d = np.array(direction, dtype=float)
    th = np.asarray(theta, float)
    if d.shape != th.shape:
        raise OptbenchInputError(f"direction has shape {d.shape}, theta {th.shape}")
    for idx, is_bias in (groups or [(np.arange(d.size), False)]):
        if is_bias:
            d[idx] = 0.0
            continue
        nd, nt = np.linalg.norm(d[idx]), np.linalg.norm(th[idx])
        if nd > 0:
            d[idx] *= (nt if nt > 0 else 1.0) / nd
    return d


def random_direction(problem, theta, seed: int = 0, k: int = 0) -> np.ndarray:
    """The k-th filter-normalised Gaussian direction at θ."""
    theta = np.asarray(theta, float)
    g = rng(seed, 7, k).standard_normal(theta.size)
    return normalise(g, theta, filter_groups(problem))


def evaluator(problem):
    """f(x) through the compiled VALUE kernel, looked up once (``problem.value`` looks it up
    on every call)."""
    _, val, _ = problem.cpu_kernels()
    data, idata = problem.data, problem.idata

    def f(x):
        return float(val(np.ascontiguousarray(x, dtype=np.float64), data, idata))
    return f


def slice_1d(problem, theta, direction, alphas) -> np.ndarray:
    """f(θ + α d) for each α."""
    th, d = np.asarray(theta, float), np.asarray(direction, float)
    f = evaluator(problem)
    return np.array([f(th + a * d) for a in np.asarray(alphas, float)])


def slice_2d(problem, theta, d1, d2, alphas, betas) -> np.ndarray:
    """F[j, i] = f(θ + α_i d1 + β_j d2) (rows follow β, as matplotlib's contour expects)."""
    th = np.asarray(theta, float)
    d1, d2 = np.asarray(d1, float), np.asarray(d2, float)
    f = evaluator(problem)
    return np.array([[f(th + a * d1 + b * d2) for a in np.asarray(alphas, float)]
                     for b in np.asarray(betas, float)])


def interpolate(problem, theta_a, theta_b, alphas) -> np.ndarray:
    """f((1 − α) θ_a + α θ_b) for each α."""
    a, b = np.asarray(theta_a, float), np.asarray(theta_b, float)
    f = evaluator(problem)
    return np.array([f((1 - t) * a + t * b) for t in np.asarray(alphas, float)])


def pca_directions(X) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Principal directions of the iterates X (n × d) taken relative to the last one:
    returns (d1, d2, explained variance ratios, coordinates n × 2 of the iterates)."""
    X = np.asarray(X, float)
    if X.ndim != 2 or X.shape[0] < 2:
        raise OptbenchInputError("need at least two iterates for principal directions")
    M = X - X[-1]
    _, s, vt = np.linalg.svd(M, full_matrices=False)
    v1 = vt[0]
    v2 = vt[1] if vt.shape[0] > 1 else np.zeros_like(v1)
    tot = float((s ** 2).sum()) or 1.0
    ratio = np.r_[s[:2] ** 2 / tot, np.zeros(max(0, 2 - s.size))]
    return v1, v2, ratio, np.c_[M @ v1, M @ v2]
