r"""Classic n-dimensional multimodal test functions (family ``classic``).

* ``rastrigin``: :math:`f(x) = A n + \sum_i (x_i^2 - A \cos 2\pi x_i)`, A = 10 by default;
  global minimum 0 at the origin (any A ≥ 0), a regular lattice of local minima near the
  integer points. Separable: gradient :math:`2x_i + 2\pi A \sin 2\pi x_i`, Hessian
  :math:`\mathrm{diag}(2 + 4\pi^2 A \cos 2\pi x_i)`. Box [−5.12, 5.12]ⁿ.
  Source: Rastrigin (1974); Mühlenbein, Schomisch & Born, Parallel Computing 17 (1991).
* ``ackley``: :math:`f(x) = -a\,e^{-b r} - e^{\bar c} + a + e` with
  :math:`r = \sqrt{\tfrac1n \sum x_i^2}`, :math:`\bar c = \tfrac1n \sum \cos(c x_i)`;
  a = 20, b = 0.2, c = 2π by default. Global minimum 0 at the origin (any a, b, c > 0).
  The first term is a cone at the origin: its gradient :math:`a b e^{-br} x / (n r)` has no
  limit at x = 0 and its Hessian grows like 1/r. optbench defines the gradient of that term
  as 0 at x = 0 exactly and its Hessian as 0 there (the reported Hessian at the origin is the
  smooth part :math:`(c^2 e / n) I`); away from 0 the HVP is the analytic formula.
  Box [−32.768, 32.768]ⁿ. Source: Ackley, *A connectionist machine for genetic
  hillclimbing* (1987); Bäck, *Evolutionary Algorithms in Theory and Practice* (1996).

Neither has a standard start in the literature: x0 is uniform in the box (``start`` is
"random"; the draw is fixed by the run seed).

Cost: O(d) time and O(1) extra memory per gradient or HVP (Ackley: two passes over x);
dense Hessian O(d²).
"""
from __future__ import annotations

import math

import numpy as np

from optbench.params import F, I

from .base import Problem, register

TWO_PI = 2.0 * math.pi


# ---------------------------------------------------------------- Rastrigin
def rastrigin_fg(x, g, data, idata, seed, step):
    A = data[0]
    f = 0.0
    for i in range(x.shape[0]):
        t = TWO_PI * x[i]
        f += x[i] * x[i] + A * (1.0 - math.cos(t))
        g[i] = 2.0 * x[i] + TWO_PI * A * math.sin(t)
    return f


def rastrigin_value(x, data, idata):
    A = data[0]
    f = 0.0
    for i in range(x.shape[0]):
        f += x[i] * x[i] + A * (1.0 - math.cos(TWO_PI * x[i]))
    return f


def rastrigin_hvp(x, v, out, data, idata):
    k = TWO_PI * TWO_PI * data[0]
    for i in range(x.shape[0]):
        out[i] = (2.0 + k * math.cos(TWO_PI * x[i])) * v[i]


def rastrigin_hess(x, H, data, idata):
    n = x.shape[0]
    k = TWO_PI * TWO_PI * data[0]
    for i in range(n):
        for j in range(n):
            H[i, j] = 0.0
        H[i, i] = 2.0 + k * math.cos(TWO_PI * x[i])


# ---------------------------------------------------------------- Ackley
# data = [a, b, c]
def ackley_fg(x, g, data, idata, seed, step):
    a = data[0]
    b = data[1]
    c = data[2]
    n = x.shape[0]
    s = 0.0
    sc = 0.0
    for i in range(n):
        s += x[i] * x[i]
        sc += math.cos(c * x[i])
    r = math.sqrt(s / n)
    e1 = math.exp(-b * r)
    ec = math.exp(sc / n)
    k1 = 0.0 if r == 0.0 else a * b * e1 / (n * r)
    k2 = ec * c / n
    for i in range(n):
        g[i] = k1 * x[i] + k2 * math.sin(c * x[i])
    return a * (1.0 - e1) + (math.e - ec)


def ackley_value(x, data, idata):
    a = data[0]
    b = data[1]
    c = data[2]
    n = x.shape[0]
    s = 0.0
    sc = 0.0
    for i in range(n):
        s += x[i] * x[i]
        sc += math.cos(c * x[i])
    return a * (1.0 - math.exp(-b * math.sqrt(s / n))) + (math.e - math.exp(sc / n))


def ackley_hvp(x, v, out, data, idata):
    # H = alpha I + beta x x^T  (cone term, r > 0)
    #   + ec (c^2/n) diag(cos c x_i) - ec (c^2/n^2) sin sin^T
    a = data[0]
    b = data[1]
    c = data[2]
    n = x.shape[0]
    s = 0.0
    sc = 0.0
    xv = 0.0
    sv = 0.0
    for i in range(n):
        s += x[i] * x[i]
        sc += math.cos(c * x[i])
        xv += x[i] * v[i]
        sv += math.sin(c * x[i]) * v[i]
    r = math.sqrt(s / n)
    ec = math.exp(sc / n)
    alpha = 0.0
    beta = 0.0
    if r > 0.0:
        e1 = math.exp(-b * r)
        d1 = a * b * e1            # phi'(r)
        d2 = -a * b * b * e1       # phi''(r)
        alpha = d1 / (n * r)
        beta = (d2 / r - d1 / (r * r)) / (n * n * r)
    kd = ec * c * c / n
    ko = ec * c * c / (n * n)
    for i in range(n):
        out[i] = (alpha * v[i] + beta * x[i] * xv + kd * math.cos(c * x[i]) * v[i]
                  - ko * math.sin(c * x[i]) * sv)


def ackley_hess(x, H, data, idata):
    a = data[0]
    b = data[1]
    c = data[2]
    n = x.shape[0]
    s = 0.0
    sc = 0.0
    for i in range(n):
        s += x[i] * x[i]
        sc += math.cos(c * x[i])
    r = math.sqrt(s / n)
    ec = math.exp(sc / n)
    alpha = 0.0
    beta = 0.0
    if r > 0.0:
        e1 = math.exp(-b * r)
        d1 = a * b * e1
        d2 = -a * b * b * e1
        alpha = d1 / (n * r)
        beta = (d2 / r - d1 / (r * r)) / (n * n * r)
    kd = ec * c * c / n
    ko = ec * c * c / (n * n)
    for i in range(n):
        si = math.sin(c * x[i])
        for j in range(i + 1):
            h = beta * x[i] * x[j] - ko * si * math.sin(c * x[j])
            H[i, j] = h
            H[j, i] = h
        H[i, i] += alpha + kd * math.cos(c * x[i])


# ---------------------------------------------------------------- problem classes
class _ND(Problem):
    family = "classic"
    min_dim = 1
    start_default = "random"

    def x_standard(self):
        return None

    @property
    def f_star(self):
        return 0.0

    @property
    def x_star(self):
        return np.zeros(self.dim)

    def cost(self):
        return "O(d) time, O(1) extra memory per gradient/HVP; dense Hessian O(d^2)"


@register
class Rastrigin(_ND):
    name = "rastrigin"
    formula = r"f(x) = A n + \sum_{i=1}^n \left(x_i^2 - A \cos 2\pi x_i\right)"
    source = ("Rastrigin (1974); Mühlenbein, Schomisch & Born, Parallel Computing 17 (1991) "
              "619-632")
    params = {"dim": I(2, 1, doc="dimension n"),
              "A": F(10.0, 0.0, doc="amplitude of the cosine ripples")}
    FG, VALUE = staticmethod(rastrigin_fg), staticmethod(rastrigin_value)
    HVP, HESS = staticmethod(rastrigin_hvp), staticmethod(rastrigin_hess)

    def build(self):
        return np.array([self.p["A"]]), np.zeros(1, np.int64), self.p["dim"]

    def init_box(self):
        return (-5.12, 5.12)


@register
class Ackley(_ND):
    name = "ackley"
    formula = (r"f(x) = -a \exp\left(-b \sqrt{\tfrac1n \sum_i x_i^2}\right)"
               r" - \exp\left(\tfrac1n \sum_i \cos c x_i\right) + a + e")
    source = ("Ackley, A connectionist machine for genetic hillclimbing (1987); "
              "Bäck, Evolutionary Algorithms in Theory and Practice (1996)")
    params = {"dim": I(2, 1, doc="dimension n"),
              "a": F(20.0, 0.0, lo_open=True), "b": F(0.2, 0.0, lo_open=True),
              "c": F(TWO_PI, 0.0, lo_open=True)}
    FG, VALUE = staticmethod(ackley_fg), staticmethod(ackley_value)
    HVP, HESS = staticmethod(ackley_hvp), staticmethod(ackley_hess)

    def build(self):
        return (np.array([self.p["a"], self.p["b"], self.p["c"]]), np.zeros(1, np.int64),
                self.p["dim"])

    def init_box(self):
        return (-32.768, 32.768)

    def known_critical_points(self):
        return [(np.zeros(self.dim), 0.0, 0, "global min (non-smooth: cone)")]
