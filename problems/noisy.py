r"""Problems with additive Gaussian gradient noise (stochastic versions of deterministic ones).

The FG kernel returns the noise-free value and the gradient plus isotropic noise:
:math:`\tilde g_i = \nabla_i f(x) + \sigma\,\xi_i`, with
:math:`\xi_i` = :func:`optbench.problems.minibatch.normal` ``(seed, step·d + i)`` — a
deterministic function of the run seed and the step, identical on CPU and CUDA. VALUE and
HVP are the noise-free objective and Hessian; f* and x* are those of the underlying problem.
``sigma = 0`` gives the deterministic problem back (and ``stochastic`` is False).

* ``noisy-quadratic`` (``quadratic`` plus noise): :math:`f(x) = \tfrac12 x^\top A x` with the DeepOBS-style two-cluster
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

from optbench.kernels.compile import kernel
from optbench.params import C, F, I

from .base import register
from .minibatch import normal
from .quadratic import Quadratic, quad_fg
from .rosenbrock import Rosenbrock, rosen_fg

_SIGMA = F(0.1, 0.0, doc="standard deviation σ of the additive gradient noise")


# data = [the underlying problem's own data ..., sigma] (sigma appended last)

@kernel
def add_noise(g, data, seed, step):
    """g_i += σ ξ_i with σ = data[-1] and ξ_i = normal(seed, step·d + i)."""
    sigma = data[data.shape[0] - 1]
    if sigma != 0.0:
        n = g.shape[0]
        base = step * n
        for i in range(n):
            g[i] += sigma * normal(seed, base + i)


def nquad_fg(x, g, data, idata, seed, step):
    f = quad_fg(x, g, data, idata, seed, step)
    add_noise(g, data, seed, step)
    return f


@register
class NoisyQuadratic(Quadratic):
    name = "noisy-quadratic"
    formula = (r"f(x) = \tfrac12 x^\top A x,\ \tilde\nabla f = A x + \sigma\xi,"
               r"\ \xi \sim N(0, I)")
    source = ("Schneider, Balles & Hennig (2019), DeepOBS: A deep learning optimizer "
              "benchmark suite, ICLR (quadratic_deep)")
    params = {**Quadratic.params, "dim": I(100, 1, doc="dimension d"),
              "spectrum": C("two-cluster", ("two-cluster", "geometric", "uniform")),
              "rotation": C("haar", ("haar", "none")), "sigma": _SIGMA}
    FG = staticmethod(nquad_fg)      # VALUE and HVP: the quadratic's (noise-free)

    def build(self):
        data, idata, dim = super().build()
        self.stochastic = self.p["sigma"] > 0.0
        return np.append(data, self.p["sigma"]), idata, dim


# ------------------------------------------------------------- noisy Rosenbrock ----------
# data = [Rosenbrock's own data ..., sigma] (sigma appended last)

def nrosen_fg(x, g, data, idata, seed, step):
    f = rosen_fg(x, g, data, idata, seed, step)
    add_noise(g, data, seed, step)
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
