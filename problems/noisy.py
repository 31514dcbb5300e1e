r"""Problems with additive Gaussian gradient noise (stochastic versions of deterministic ones).

The FG kernel returns the noise-free value and the gradient plus isotropic noise:
:math:`\tilde g_i = \nabla_i f(x) + \sigma\,\xi_i`, with
:math:`\xi_i` = :func:`optbench.problems.minibatch.normal` ``(seed, step·d + i)`` — a
deterministic function of the run seed and the step, identical on CPU and CUDA. VALUE and
HVP are the noise-free objective and Hessian; f* and x* are those of the underlying problem.
``sigma = 0`` gives the deterministic problem back (and ``stochastic`` is False).

* ``noisy-quadratic``: :math:`f(x) = \tfrac12 x^\top A x` with the DeepOBS-style two-cluster
  spectrum (90 % of the eigenvalues at L/κ, 10 % at L; see
  :func:`optbench.problems.quadratic.spectrum`), d = 100 by default, rotated by a Haar-random
  orthogonal Q (``rotation="haar"``) or axis-aligned. DeepOBS draws the eigenvalues uniformly
  in [0, 1] and [30, 60] and makes the noise by sampling the quadratic's centre; here the noise
  is additive and isotropic, of chosen σ. Minimum 0 at the origin.
  Source: Schneider, Balles & Hennig, *DeepOBS: A deep learning optimizer benchmark suite*,
  ICLR 2019 (problem ``quadratic_deep``). Cost: O(d) (axis-aligned) or O(d²) (rotated) time
  and memory per gradient, plus d normal draws.
* ``noisy-rosenbrock``: the n-D Rosenbrock function (:mod:`optbench.problems.rosenbrock`)
  with gradient noise. Source: Rosenbrock (1960); noisy 2-D test functions as in DeepOBS.
  Cost: O(d) time and memory per gradient.
"""
from __future__ import annotations

import numpy as np

from optbench.params import C, F, I
from optbench.validate import OptbenchInputError

from .base import Problem, register
from .minibatch import normal
from .quadratic import haar_orthogonal, spectrum
from .rosenbrock import Rosenbrock, rosen_fg

_SIGMA = F(0.1, 0.0, doc="standard deviation σ of the additive gradient noise")


# ------------------------------------------------------------- noisy quadratic -----------
# data = [sigma, eigenvalues (d), A (d·d, only when rotated)]; idata = [rotated]

def nquad_fg(x, g, data, idata, seed, step):
    n = x.shape[0]
    f = 0.0
    if idata[0] == 0:
        for i in range(n):
            gi = data[1 + i] * x[i]
            g[i] = gi
            f += 0.5 * gi * x[i]
    else:
        for i in range(n):
            s = 0.0
            row = 1 + n + i * n
            for j in range(n):
                s += data[row + j] * x[j]
            g[i] = s
            f += 0.5 * s * x[i]
    sigma = data[0]
    if sigma != 0.0:
        base = step * n
        for i in range(n):
            g[i] += sigma * normal(seed, base + i)
    return f


def nquad_value(x, data, idata):
    n = x.shape[0]
    f = 0.0
    if idata[0] == 0:
        for i in range(n):
            f += 0.5 * data[1 + i] * x[i] * x[i]
    else:
        for i in range(n):
            s = 0.0
            row = 1 + n + i * n
            for j in range(n):
                s += data[row + j] * x[j]
            f += 0.5 * s * x[i]
    return f


def nquad_hvp(x, v, out, data, idata):
    n = x.shape[0]
    if idata[0] == 0:
        for i in range(n):
            out[i] = data[1 + i] * v[i]
    else:
        for i in range(n):
            s = 0.0
            row = 1 + n + i * n
            for j in range(n):
                s += data[row + j] * v[j]
            out[i] = s


@register
class NoisyQuadratic(Problem):
    name = "noisy-quadratic"
    family = "convex"
    formula = (r"f(x) = \tfrac12 x^\top A x,\ \tilde\nabla f = A x + \sigma\xi,"
               r"\ \xi \sim N(0, I)")
    source = ("Schneider, Balles & Hennig (2019), DeepOBS: A deep learning optimizer "
              "benchmark suite, ICLR (quadratic_deep)")
    params = {
        "dim": I(100, 1, doc="dimension d"),
        "cond": F(100.0, 1.0, 1e12, doc="condition number κ = L/μ"),
        "L": F(1.0, 0.0, lo_open=True, doc="largest eigenvalue"),
        "spectrum": C("two-cluster", ("two-cluster", "geometric", "uniform")),
        "rotation": C("haar", ("haar", "none")),
        "seed": I(0, 0, doc="seed of the rotation"),
        "sigma": _SIGMA,
    }
    FG = staticmethod(nquad_fg)
    VALUE = staticmethod(nquad_value)
    HVP = staticmethod(nquad_hvp)

    def build(self):
        d, p = self.p["dim"], self.p
        self.stochastic = p["sigma"] > 0.0
        self.eigenvalues = spectrum(d, p["cond"], p["L"], p["spectrum"])
        head = np.concatenate([[p["sigma"]], self.eigenvalues])
        if p["rotation"] == "none":
            return head, np.array([0]), d
        if d > 20_000:
            raise OptbenchInputError(
                f"problem {self.name}: rotated needs d² memory; dim {d} > 20000")
        q = haar_orthogonal(d, p["seed"])
        A = (q.T * self.eigenvalues) @ q
        A = 0.5 * (A + A.T)
        return np.concatenate([head, A.ravel()]), np.array([1]), d

    def matrix(self) -> np.ndarray:
        d = self.dim
        if self.idata[0] == 0:
            return np.diag(self.data[1:1 + d])
        return self.data[1 + d:].reshape(d, d).copy()

    def x_standard(self):
        return np.ones(self.dim)

    def init_box(self):
        return (-1.0, 1.0)

    @property
    def f_star(self):
        return 0.0

    @property
    def x_star(self):
        return np.zeros(self.dim)

    def cost(self):
        if self.p["rotation"] == "none":
            return "O(d) time, O(d) memory"
        return "O(d^2) time, O(d^2) memory"


# ------------------------------------------------------------- noisy Rosenbrock ----------
# data = [Rosenbrock's own data ..., sigma] (sigma appended last)

def nrosen_fg(x, g, data, idata, seed, step):
    f = rosen_fg(x, g, data, idata, seed, step)
    sigma = data[data.shape[0] - 1]
    if sigma != 0.0:
        n = x.shape[0]
        base = step * n
        for i in range(n):
            g[i] += sigma * normal(seed, base + i)
    return f


@register
class NoisyRosenbrock(Rosenbrock):
    name = "noisy-rosenbrock"
    formula = (r"f(x) = \sum_{i=1}^{n-1} 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2,"
               r"\ \tilde\nabla f = \nabla f + \sigma\xi")
    source = ("Rosenbrock (1960), The Computer Journal 3:175-184; gradient noise as in "
              "DeepOBS (Schneider, Balles & Hennig 2019)")
    params = {**Rosenbrock.params, "sigma": _SIGMA}
    FG = staticmethod(nrosen_fg)

    def build(self):
        data, idata, dim = super().build()
        self.stochastic = self.p["sigma"] > 0.0
        return np.append(np.asarray(data, dtype=np.float64), self.p["sigma"]), idata, dim
