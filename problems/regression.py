r"""Convex data problems: least squares (the delta rule) and L2-regularised logistic regression,
full batch or minibatch.

``least-squares``: :math:`f(x) = \frac{1}{2n}\sum_{j=1}^n (a_j^\top x - b_j)^2` on seeded
synthetic data: rows :math:`a_j \sim N(0, \Sigma)` with
:math:`\Sigma = \mathrm{diag}(s)`, :math:`s` log-spaced in :math:`[1/\kappa, 1]` (``cond``; the
Hessian :math:`A^\top A / n` then has condition number ≈ κ for n ≫ d), and
:math:`b = A x_{true} + \text{noise}\cdot\varepsilon`, :math:`x_{true}, \varepsilon` standard
normal. :math:`x^*` and :math:`f^*` come from ``numpy.linalg.lstsq`` at build time (for
n < d the minimum-norm minimiser, with f* = 0).
Source: Widrow & Hoff, *Adaptive switching circuits* (1960) — the delta (LMS) rule is SGD on
this objective; Bottou, Curtis & Nocedal, *Optimization methods for large-scale machine
learning*, SIAM Review 60 (2018).

``logistic``: :math:`f(x) = \frac1n\sum_j \log(1 + e^{-y_j a_j^\top x}) + \frac{\lambda}{2}
\|x\|^2` with labels :math:`y_j = \pm1` (equal probability) and :math:`a_j \sim N(y_j \mu, I)`,
:math:`\|\mu\| = \text{sep}/2` in a seeded random direction (a two-Gaussian mixture).
λ = ``l2`` > 0 makes f strongly convex. :math:`x^*, f^*` by a damped Newton solve in NumPy at
build time (Armijo backtracking far from x*, full steps near it, stopped at
‖∇f‖ ≤ 1e-13·max(1, ‖∇f(0)‖) or when the Newton decrement reaches rounding level); for λ = 0 on
linearly separable data (detected: all margins positive) no minimiser exists and the
build is refused.
Source: Bottou, Curtis & Nocedal (2018), §2; Nocedal & Wright, *Numerical Optimization* (2006).

**Minibatch option** ``batch``: 0 = full batch (deterministic); ``B >= 1`` makes the problem
stochastic: the FG kernel returns the loss and gradient of the mean over the ``B`` samples of
step ``step``, chosen by :func:`optbench.problems.minibatch.perm_index` from the run seed with
the drop-last rule documented there (the L2 term is added in full every step). VALUE and HVP
are always the full-batch objective and its Hessian.

Cost per gradient: O(n·d) time full batch, O(B·d) minibatch (plus O(B) permutation
look-ups); O(n·d) memory for the data. HVP: O(n·d) time.
"""
from __future__ import annotations

import math

import numpy as np

from optbench.params import F, I
from optbench.validate import OptbenchInputError

from .base import Problem, register, rng
from .minibatch import batch_epoch, batch_start, perm_apply, perm_key

_MAX_ENTRIES = 50_000_000  # n·d floats (400 MB)


# ---------------------------------------------------------------- least squares ----------
# data = [A (n·d, row-major), b (n)]; idata = [n, d, batch]

def lsq_fg(x, g, data, idata, seed, step):
    n = idata[0]
    d = idata[1]
    bs = idata[2]
    for i in range(d):
        g[i] = 0.0
    m = n
    kh = 0
    kl = 0
    start = 0
    if bs > 0:
        m = bs
        kh, kl = perm_key(seed, batch_epoch(n, bs, step))
        start = batch_start(n, bs, step)
    f = 0.0
    for t in range(m):
        j = t
        if bs > 0:
            j = perm_apply(n, kh, kl, start + t)
        row = j * d
        r = -data[n * d + j]
        for i in range(d):
            r += data[row + i] * x[i]
        f += 0.5 * r * r
        for i in range(d):
            g[i] += r * data[row + i]
    inv = 1.0 / m
    for i in range(d):
        g[i] *= inv
    return f * inv


def lsq_value(x, data, idata):
    n = idata[0]
    d = idata[1]
    f = 0.0
    for j in range(n):
        row = j * d
        r = -data[n * d + j]
        for i in range(d):
            r += data[row + i] * x[i]
        f += 0.5 * r * r
    return f / n


def lsq_hvp(x, v, out, data, idata):
    n = idata[0]
    d = idata[1]
    for i in range(d):
        out[i] = 0.0
    for j in range(n):
        row = j * d
        s = 0.0
        for i in range(d):
            s += data[row + i] * v[i]
        for i in range(d):
            out[i] += s * data[row + i]
    for i in range(d):
        out[i] /= n


class _DataProblem(Problem):
    """Shared parameter checks, starts and cost of the finite-sum problems."""

    def _check_size(self):
        n, d, bs = self.p["n"], self.p["dim"], self.p["batch"]
        if bs > n:
            raise OptbenchInputError(
                f"problem {self.name}: batch must be <= n ({n}), got {bs}")
        if n * d > _MAX_ENTRIES:
            raise OptbenchInputError(
                f"problem {self.name}: n·dim = {n * d} exceeds {_MAX_ENTRIES} data entries")
        self.stochastic = bs > 0
        return n, d, bs

    def data_bytes(self):
        n, d = self.p["n"], self.p["dim"]
        return 8 * (2 * n * d + 4 * n + 2 * d * d)   # A and its copy in data (lstsq/Newton)

    def x_standard(self):
        return np.zeros(self.dim)

    @property
    def features(self) -> np.ndarray:
        """The (n, d) data matrix A (a read-only view of ``data``)."""
        n, d = self.p["n"], self.dim
        v = self.data[self._off:self._off + n * d].reshape(n, d)
        v.flags.writeable = False
        return v

    @property
    def targets(self) -> np.ndarray:
        """The n targets b (least squares) or labels ±1 (logistic), a read-only view."""
        n, d = self.p["n"], self.dim
        v = self.data[self._off + n * d:self._off + n * d + n]
        v.flags.writeable = False
        return v

    def init_box(self):
        return (-1.0, 1.0)

    @property
    def f_star(self):
        return self._f_star

    @property
    def x_star(self):
        return self._x_star.copy()

    def cost(self):
        bs = self.p["batch"]
        if bs:
            return f"O(B·d) time per gradient (B = {bs}), O(n·d) memory"
        return "O(n·d) time per gradient, O(n·d) memory"


@register
class LeastSquares(_DataProblem):
    _off = 0
    name = "least-squares"
    family = "convex"
    formula = r"f(x) = \frac{1}{2n}\sum_{j=1}^n (a_j^\top x - b_j)^2"
    source = ("Widrow & Hoff (1960), Adaptive switching circuits; Bottou, Curtis & Nocedal "
              "(2018), SIAM Review 60:223-311")
    params = {
        "dim": I(10, 1, doc="number of features d"),
        "n": I(1000, 1, doc="number of samples"),
        "noise": F(0.1, 0.0, doc="std of the label noise"),
        "cond": F(1.0, 1.0, 1e12, doc="condition number of the feature covariance"),
        "seed": I(0, 0, doc="seed of the synthetic data"),
        "batch": I(0, 0, doc="minibatch size (0: full batch, 1: single-sample SGD)"),
    }
    FG = staticmethod(lsq_fg)
    VALUE = staticmethod(lsq_value)
    HVP = staticmethod(lsq_hvp)

    def build(self):
        n, d, bs = self._check_size()
        p = self.p
        r = rng(p["seed"], 101)
        scale = np.sqrt(p["cond"] ** (-np.arange(d) / max(d - 1, 1)))
        A = r.standard_normal((n, d)) * scale
        self.x_true = r.standard_normal(d)
        b = A @ self.x_true + p["noise"] * r.standard_normal(n)
        self._x_star = np.linalg.lstsq(A, b, rcond=None)[0]
        res = A @ self._x_star - b
        self._f_star = float(0.5 * (res @ res) / n)
        return np.concatenate([A.ravel(), b]), np.array([n, d, bs]), d


# ---------------------------------------------------------------- logistic regression ----
# data = [l2, A (n·d, row-major), y (n, ±1)]; idata = [n, d, batch]

def logistic_fg(x, g, data, idata, seed, step):
    n = idata[0]
    d = idata[1]
    bs = idata[2]
    for i in range(d):
        g[i] = 0.0
    m = n
    kh = 0
    kl = 0
    start = 0
    if bs > 0:
        m = bs
        kh, kl = perm_key(seed, batch_epoch(n, bs, step))
        start = batch_start(n, bs, step)
    f = 0.0
    for t in range(m):
        j = t
        if bs > 0:
            j = perm_apply(n, kh, kl, start + t)
        row = 1 + j * d
        y = data[1 + n * d + j]
        z = 0.0
        for i in range(d):
            z += data[row + i] * x[i]
        mg = y * z                      # margin
        if mg > 0.0:
            e = math.exp(-mg)
            f += math.log1p(e)
            s = e / (1.0 + e)           # sigmoid(-margin)
        else:
            e = math.exp(mg)
            f += -mg + math.log1p(e)
            s = 1.0 / (1.0 + e)
        c = -y * s
        for i in range(d):
            g[i] += c * data[row + i]
    lam = data[0]
    inv = 1.0 / m
    reg = 0.0
    for i in range(d):
        g[i] = g[i] * inv + lam * x[i]
        reg += x[i] * x[i]
    return f * inv + 0.5 * lam * reg


def logistic_value(x, data, idata):
    n = idata[0]
    d = idata[1]
    f = 0.0
    for j in range(n):
        row = 1 + j * d
        z = 0.0
        for i in range(d):
            z += data[row + i] * x[i]
        mg = data[1 + n * d + j] * z
        if mg > 0.0:
            f += math.log1p(math.exp(-mg))
        else:
            f += -mg + math.log1p(math.exp(mg))
    reg = 0.0
    for i in range(d):
        reg += x[i] * x[i]
    return f / n + 0.5 * data[0] * reg


def logistic_hvp(x, v, out, data, idata):
    n = idata[0]
    d = idata[1]
    for i in range(d):
        out[i] = 0.0
    for j in range(n):
        row = 1 + j * d
        z = 0.0
        s = 0.0
        for i in range(d):
            z += data[row + i] * x[i]
            s += data[row + i] * v[i]
        e = math.exp(-abs(z))
        w = e / ((1.0 + e) * (1.0 + e))  # sigmoid(z)·(1 − sigmoid(z)), label-free
        for i in range(d):
            out[i] += w * s * data[row + i]
    lam = data[0]
    for i in range(d):
        out[i] = out[i] / n + lam * v[i]


def _logistic_newton(A, y, lam, name):
    """Damped Newton with backtracking on the full-batch objective (NumPy, build time)."""
    n, d = A.shape

    def fgh(x, hess=True):
        m = y * (A @ x)
        f = np.logaddexp(0.0, -m).mean() + 0.5 * lam * (x @ x)
        if not hess:
            return f
        s = 0.5 * (1.0 - np.tanh(0.5 * m))          # sigmoid(-m), stable
        g = -(A.T @ (y * s)) / n + lam * x
        w = s * (1.0 - s)
        H = (A.T * w) @ A / n + lam * np.eye(d)
        return f, g, H

    x = np.zeros(d)
    f, g, H = fgh(x)
    scale = max(1.0, np.linalg.norm(g))
    for _ in range(100):
        if np.linalg.norm(g) <= 1e-13 * scale:
            break
        try:
            step = np.linalg.solve(H, -g)
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(H, -g, rcond=None)[0]
        slope = g @ step                          # −(Newton decrement)²
        if -slope < 1e-30:
            break                                 # no progress left at float64 precision
        a = 1.0
        if -slope > 1e-12:                        # far from x*: backtracking (Armijo)
            while fgh(x + a * step, False) > f + 1e-4 * a * slope and a > 1e-10:
                a *= 0.5
        x = x + a * step
        if not np.all(np.isfinite(x)) or np.linalg.norm(x) > 1e8:
            break
        f, g, H = fgh(x)
    # every margin positive: x separates the data, f(t·x) decreases for ever, no minimiser
    separable = lam == 0.0 and np.all(np.isfinite(x)) and np.min(y * (A @ x)) > 0.0
    if not separable and np.all(np.isfinite(x)) and np.linalg.norm(g) <= 1e-10 * scale:
        return x, float(f)
    raise OptbenchInputError(
        f"problem {name}: no finite minimiser (data linearly separable, or Newton failed); "
        "set l2 > 0")


@register
class Logistic(_DataProblem):
    _off = 1
    name = "logistic"
    family = "convex"
    formula = (r"f(x) = \frac1n\sum_{j=1}^n \log\left(1 + e^{-y_j a_j^\top x}\right)"
               r" + \frac{\lambda}{2}\|x\|^2")
    source = ("Bottou, Curtis & Nocedal (2018), Optimization methods for large-scale machine "
              "learning, SIAM Review 60:223-311")
    params = {
        "dim": I(10, 1, doc="number of features d"),
        "n": I(1000, 1, doc="number of samples"),
        "sep": F(1.0, 0.0, doc="distance between the two class means"),
        "l2": F(0.0, 0.0, doc="L2 regularisation λ (> 0: strongly convex)"),
        "seed": I(0, 0, doc="seed of the synthetic data"),
        "batch": I(0, 0, doc="minibatch size (0: full batch, 1: single-sample SGD)"),
    }
    FG = staticmethod(logistic_fg)
    VALUE = staticmethod(logistic_value)
    HVP = staticmethod(logistic_hvp)

    def build(self):
        n, d, bs = self._check_size()
        p = self.p
        r = rng(p["seed"], 102)
        u = r.standard_normal(d)
        u /= np.linalg.norm(u)
        y = np.where(r.random(n) < 0.5, -1.0, 1.0)
        A = r.standard_normal((n, d)) + np.outer(y, 0.5 * p["sep"] * u)
        self._x_star, self._f_star = _logistic_newton(A, y, p["l2"], self.name)
        return np.concatenate([[p["l2"]], A.ravel(), y]), np.array([n, d, bs]), d
