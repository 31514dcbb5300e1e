r"""Classic two-dimensional test functions (family ``classic``).

* ``beale``: :math:`(1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2`, minimum 0
  at (3, 0.5). Start (1, 1) (Moré, Garbow & Hillstrom 1981, problem 5); box [−4.5, 4.5]².
* ``booth``: :math:`(x + 2y - 7)^2 + (2x + y - 5)^2`, minimum 0 at (1, 3) (the only critical
  point; Hessian [[10, 8], [8, 10]]). Start (0, 0) (no standard start in the literature;
  optbench's convention); box [−10, 10]².
* ``himmelblau``: :math:`(x^2 + y - 11)^2 + (x + y^2 - 7)^2`. Nine critical points, all
  listed to machine precision (Newton-polished at first use): four global minima f = 0 at
  (3, 2), (−2.805118, 3.131313), (−3.779310, −3.283186), (3.584428, −1.848127), four index-1
  saddles and one maximum (index 2) near (−0.270845, −0.923039). Nine is the Bézout bound of
  the cubic gradient system, so the list is complete. Start (0, 0) (optbench's convention);
  box [−5, 5]². Source: Himmelblau, *Applied Nonlinear Programming* (1972).
* ``goldstein-price``: :math:`[1 + (x + y + 1)^2 (19 - 14x + 3x^2 - 14y + 6xy + 3y^2)]
  [30 + (2x - 3y)^2 (18 - 32x + 12x^2 + 48y - 36xy + 27y^2)]`. It factors as A(s) B(w)
  with s = x + y, w = 2x − 3y, A(s) = 1 + (s+1)^2 (3s^2 − 14s + 19) ≥ 1,
  B(w) = 30 + w^2 (3w^2 − 16w + 18) ≥ 3, A′(s) = 12 (s+1)(s−1)(s−2),
  B′(w) = 12 w (w−1)(w−3); so the critical points are exactly the nine (s, w) ∈ {−1, 1, 2} ×
  {0, 1, 3} (x = (3s + w)/5, y = (2s − w)/5): global minimum 3 at (0, −1), local minima 30 at
  (−0.6, −0.4), 84 at (1.8, 0.2), 840 at (1.2, 0.8), four saddles and a maximum 1155 at
  (0.8, 0.2). Start (0.5, −0.5) (optbench's convention, in the basin of the global
  minimum; Dixon & Szegő 1978 draw starts uniformly in the box); box [−2, 2]².
  Source: Goldstein & Price, Math. Comp. 25 (1971) 569–574.
* ``six-hump-camel``: :math:`(4 - 2.1x^2 + x^4/3)x^2 + xy + (-4 + 4y^2)y^2`, global minimum
  −1.0316284534898774 at ±(0.0898420, −0.7126564). All 15 critical points (6 minima, 7
  saddles, 2 maxima; 15 is the Bézout bound) are the real roots of a degree-15 polynomial
  (eliminate y = −(8x − 8.4x³ + 2x⁵)), Newton-polished at first use. Start (−1, 1)
  (optbench's convention, in the basin of a global minimum); plot box x ∈ [−3, 3],
  y ∈ [−2, 2], random starts in [−2, 2]².
  Source: Dixon & Szegő, *Towards Global Optimisation 2* (1978).

Cost: O(1) time and memory per evaluation. The Himmelblau and camel critical-point tables
are solved once per process, on first use (tens of ms, cached).
"""
from __future__ import annotations

import functools

import numpy as np

from optbench.kernels.compile import kernel

from .base import Problem, register

_Z = np.zeros(1)
_ZI = np.zeros(1, np.int64)


# ---------------------------------------------------------------- Beale
@kernel
def _beale_fg(x, y):
    y2 = y * y
    y3 = y2 * y
    r1 = 1.5 - x + x * y
    r2 = 2.25 - x + x * y2
    r3 = 2.625 - x + x * y3
    gx = 2.0 * (r1 * (y - 1.0) + r2 * (y2 - 1.0) + r3 * (y3 - 1.0))
    gy = 2.0 * x * (r1 + 2.0 * r2 * y + 3.0 * r3 * y2)
    return r1 * r1 + r2 * r2 + r3 * r3, gx, gy


@kernel
def _beale_h(x, y):
    y2 = y * y
    y3 = y2 * y
    r1 = 1.5 - x + x * y
    r2 = 2.25 - x + x * y2
    r3 = 2.625 - x + x * y3
    a1, a2, a3 = y - 1.0, y2 - 1.0, y3 - 1.0          # d r_i / dx
    b1, b2, b3 = x, 2.0 * x * y, 3.0 * x * y2          # d r_i / dy
    hxx = 2.0 * (a1 * a1 + a2 * a2 + a3 * a3)
    hxy = 2.0 * (a1 * b1 + a2 * b2 + a3 * b3 + r1 + 2.0 * r2 * y + 3.0 * r3 * y2)
    hyy = 2.0 * (b1 * b1 + b2 * b2 + b3 * b3 + 2.0 * r2 * x + 6.0 * r3 * x * y)
    return hxx, hxy, hyy


def beale_fg(x, g, data, idata, seed, step):
    f, gx, gy = _beale_fg(x[0], x[1])
    g[0] = gx
    g[1] = gy
    return f


def beale_value(x, data, idata):
    f, gx, gy = _beale_fg(x[0], x[1])
    return f


def beale_hvp(x, v, out, data, idata):
    a, b, c = _beale_h(x[0], x[1])
    out[0] = a * v[0] + b * v[1]
    out[1] = b * v[0] + c * v[1]


def beale_hess(x, H, data, idata):
    a, b, c = _beale_h(x[0], x[1])
    H[0, 0] = a
    H[0, 1] = b
    H[1, 0] = b
    H[1, 1] = c


# ---------------------------------------------------------------- Booth
def booth_fg(x, g, data, idata, seed, step):
    a = x[0] + 2.0 * x[1] - 7.0
    b = 2.0 * x[0] + x[1] - 5.0
    g[0] = 2.0 * a + 4.0 * b
    g[1] = 4.0 * a + 2.0 * b
    return a * a + b * b


def booth_value(x, data, idata):
    a = x[0] + 2.0 * x[1] - 7.0
    b = 2.0 * x[0] + x[1] - 5.0
    return a * a + b * b


def booth_hvp(x, v, out, data, idata):
    out[0] = 10.0 * v[0] + 8.0 * v[1]
    out[1] = 8.0 * v[0] + 10.0 * v[1]


def booth_hess(x, H, data, idata):
    H[0, 0] = 10.0
    H[0, 1] = 8.0
    H[1, 0] = 8.0
    H[1, 1] = 10.0


# ---------------------------------------------------------------- Himmelblau
def himmelblau_fg(x, g, data, idata, seed, step):
    a = x[0] * x[0] + x[1] - 11.0
    b = x[0] + x[1] * x[1] - 7.0
    g[0] = 4.0 * x[0] * a + 2.0 * b
    g[1] = 2.0 * a + 4.0 * x[1] * b
    return a * a + b * b


def himmelblau_value(x, data, idata):
    a = x[0] * x[0] + x[1] - 11.0
    b = x[0] + x[1] * x[1] - 7.0
    return a * a + b * b


@kernel
def _himmelblau_h(x, y):
    return 12.0 * x * x + 4.0 * y - 42.0, 4.0 * (x + y), 4.0 * x + 12.0 * y * y - 26.0


def himmelblau_hvp(x, v, out, data, idata):
    a, b, c = _himmelblau_h(x[0], x[1])
    out[0] = a * v[0] + b * v[1]
    out[1] = b * v[0] + c * v[1]


def himmelblau_hess(x, H, data, idata):
    a, b, c = _himmelblau_h(x[0], x[1])
    H[0, 0] = a
    H[0, 1] = b
    H[1, 0] = b
    H[1, 1] = c


# ---------------------------------------------------------------- Goldstein-Price
@kernel
def _gp_parts(x, y):
    """A(s), A'(s), A''(s), B(w), B'(w), B''(w) with s = x + y, w = 2x - 3y."""
    s = x + y
    w = 2.0 * x - 3.0 * y
    s1 = s + 1.0
    p = 3.0 * s * s - 14.0 * s + 19.0
    A = 1.0 + s1 * s1 * p
    dA = 12.0 * s1 * (s - 1.0) * (s - 2.0)
    d2A = 2.0 * p + 4.0 * s1 * (6.0 * s - 14.0) + 6.0 * s1 * s1
    B = 30.0 + w * w * (3.0 * w * w - 16.0 * w + 18.0)
    dB = 12.0 * w * (w - 1.0) * (w - 3.0)
    d2B = 36.0 * w * w - 96.0 * w + 36.0
    return A, dA, d2A, B, dB, d2B


def gp_fg(x, g, data, idata, seed, step):
    A, dA, d2A, B, dB, d2B = _gp_parts(x[0], x[1])
    g[0] = dA * B + 2.0 * A * dB
    g[1] = dA * B - 3.0 * A * dB
    return A * B


def gp_value(x, data, idata):
    A, dA, d2A, B, dB, d2B = _gp_parts(x[0], x[1])
    return A * B


@kernel
def _gp_h(x, y):
    A, dA, d2A, B, dB, d2B = _gp_parts(x, y)
    return (d2A * B + 4.0 * dA * dB + 4.0 * A * d2B,
            d2A * B - dA * dB - 6.0 * A * d2B,
            d2A * B - 6.0 * dA * dB + 9.0 * A * d2B)


def gp_hvp(x, v, out, data, idata):
    a, b, c = _gp_h(x[0], x[1])
    out[0] = a * v[0] + b * v[1]
    out[1] = b * v[0] + c * v[1]


def gp_hess(x, H, data, idata):
    a, b, c = _gp_h(x[0], x[1])
    H[0, 0] = a
    H[0, 1] = b
    H[1, 0] = b
    H[1, 1] = c


# ---------------------------------------------------------------- six-hump camel
def camel_fg(x, g, data, idata, seed, step):
    a = x[0]
    b = x[1]
    a2 = a * a
    b2 = b * b
    g[0] = 8.0 * a - 8.4 * a2 * a + 2.0 * a2 * a2 * a + b
    g[1] = a - 8.0 * b + 16.0 * b2 * b
    return (4.0 - 2.1 * a2 + a2 * a2 / 3.0) * a2 + a * b + (-4.0 + 4.0 * b2) * b2


def camel_value(x, data, idata):
    a2 = x[0] * x[0]
    b2 = x[1] * x[1]
    return (4.0 - 2.1 * a2 + a2 * a2 / 3.0) * a2 + x[0] * x[1] + (-4.0 + 4.0 * b2) * b2


def camel_hvp(x, v, out, data, idata):
    a2 = x[0] * x[0]
    hxx = 8.0 - 25.2 * a2 + 10.0 * a2 * a2
    hyy = -8.0 + 48.0 * x[1] * x[1]
    out[0] = hxx * v[0] + v[1]
    out[1] = v[0] + hyy * v[1]


def camel_hess(x, H, data, idata):
    a2 = x[0] * x[0]
    H[0, 0] = 8.0 - 25.2 * a2 + 10.0 * a2 * a2
    H[0, 1] = 1.0
    H[1, 0] = 1.0
    H[1, 1] = -8.0 + 48.0 * x[1] * x[1]


# ---------------------------------------------------------------- critical-point tables
def _polish(fg, hess, x, iters=60):
    """Newton on ∇f = 0 with the (uncompiled) kernels, to machine precision."""
    x = np.array(x, dtype=float)
    g = np.empty(2)
    H = np.empty((2, 2))
    for _ in range(iters):
        fg(x, g, _Z, _ZI, 0, 0)
        hess(x, H, _Z, _ZI)
        dx = np.linalg.solve(H, g)
        x -= dx
        if np.linalg.norm(dx) <= 1e-16 * max(1.0, np.linalg.norm(x)):
            break
    return x


def _classify(fg, hess, xs):
    """(x, f, index, kind) rows; the lowest minima are 'global min', the others 'local min'."""
    rows = []
    g = np.empty(2)
    H = np.empty((2, 2))
    for x in xs:
        f = float(fg(x, g, _Z, _ZI, 0, 0))
        hess(x, H, _Z, _ZI)
        k = int(np.sum(np.linalg.eigvalsh(H) < 0.0))
        rows.append((x, f, k))
    fmin = min(f for _, f, k in rows if k == 0)
    kinds = {1: "saddle", 2: "max"}
    return [(x, f, k, kinds[k] if k else ("global min" if abs(f - fmin) <= 1e-12 * max(1, abs(fmin))
                                          else "local min"))
            for x, f, k in sorted(rows, key=lambda r: (r[2], r[1], tuple(r[0])))]


@functools.lru_cache(maxsize=None)
def himmelblau_critical():
    """The 9 critical points: Newton from a grid, deduplicated (9 = Bézout bound)."""
    found = []
    for a in np.linspace(-6.0, 6.0, 13):
        for b in np.linspace(-6.0, 6.0, 13):
            with np.errstate(all="ignore"):
                try:
                    x = _polish(himmelblau_fg, himmelblau_hess, (a + 0.05, b + 0.03), 80)
                except np.linalg.LinAlgError:
                    continue
            g = np.empty(2)
            himmelblau_fg(x, g, _Z, _ZI, 0, 0)
            if np.all(np.isfinite(x)) and np.linalg.norm(g) < 1e-9 and \
                    all(np.linalg.norm(x - y) > 1e-6 for y in found):
                found.append(x)
    if len(found) != 9:  # pragma: no cover - a failure here is a bug in the formulas
        raise RuntimeError(f"himmelblau: found {len(found)} critical points, expected 9")
    return tuple(_classify(himmelblau_fg, himmelblau_hess, found))


@functools.lru_cache(maxsize=None)
def camel_critical():
    """The 15 critical points: real roots of the degree-15 eliminant, Newton-polished."""
    X = np.polynomial.Polynomial([0.0, 1.0])
    y = -(8.0 * X - 8.4 * X**3 + 2.0 * X**5)
    roots = (X - 8.0 * y + 16.0 * y**3).roots()
    xs = [_polish(camel_fg, camel_hess, (r.real, y(r.real)))
          for r in roots if abs(r.imag) < 1e-7]
    return tuple(_classify(camel_fg, camel_hess, xs))


def gp_critical():
    """The 9 critical points in closed form (see the module docstring)."""
    xs = [np.array([(3.0 * s + w) / 5.0, (2.0 * s - w) / 5.0])
          for s in (-1.0, 1.0, 2.0) for w in (0.0, 1.0, 3.0)]
    return _classify(gp_fg, gp_hess, xs)


# ---------------------------------------------------------------- problem classes
class _TwoD(Problem):
    family = "classic"
    min_dim = 2
    params = {}
    _start = (0.0, 0.0)
    _box = (-2.0, 2.0)

    def build(self):
        return np.zeros(1), np.zeros(1, np.int64), 2

    def x_standard(self):
        return np.array(self._start, dtype=float)

    def init_box(self):
        return self._box

    def cost(self):
        return "O(1) time, O(1) memory"


@register
class Beale(_TwoD):
    name = "beale"
    formula = r"f(x, y) = (1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2"
    source = "Beale (1958); Moré, Garbow & Hillstrom, ACM TOMS 7 (1981), problem 5"
    FG, VALUE = staticmethod(beale_fg), staticmethod(beale_value)
    HVP, HESS = staticmethod(beale_hvp), staticmethod(beale_hess)
    _start, _box = (1.0, 1.0), (-4.5, 4.5)

    @property
    def f_star(self):
        return 0.0

    @property
    def x_star(self):
        return np.array([3.0, 0.5])


@register
class Booth(_TwoD):
    name = "booth"
    formula = r"f(x, y) = (x + 2y - 7)^2 + (2x + y - 5)^2"
    source = "Surjanovic & Bingham, Virtual Library of Simulation Experiments (Booth function)"
    FG, VALUE = staticmethod(booth_fg), staticmethod(booth_value)
    HVP, HESS = staticmethod(booth_hvp), staticmethod(booth_hess)
    _start, _box = (0.0, 0.0), (-10.0, 10.0)

    @property
    def f_star(self):
        return 0.0

    @property
    def x_star(self):
        return np.array([1.0, 3.0])


@register
class Himmelblau(_TwoD):
    name = "himmelblau"
    formula = r"f(x, y) = (x^2 + y - 11)^2 + (x + y^2 - 7)^2"
    source = "Himmelblau, Applied Nonlinear Programming (1972)"
    FG, VALUE = staticmethod(himmelblau_fg), staticmethod(himmelblau_value)
    HVP, HESS = staticmethod(himmelblau_hvp), staticmethod(himmelblau_hess)
    _start, _box = (0.0, 0.0), (-5.0, 5.0)

    @property
    def f_star(self):
        return 0.0

    # x_star is None: four global minimisers (all in known_critical_points)

    def known_critical_points(self):
        return [(x.copy(), f, k, kind) for x, f, k, kind in himmelblau_critical()]


@register
class GoldsteinPrice(_TwoD):
    name = "goldstein-price"
    formula = (r"f(x, y) = [1 + (x + y + 1)^2 (19 - 14x + 3x^2 - 14y + 6xy + 3y^2)]"
               r"[30 + (2x - 3y)^2 (18 - 32x + 12x^2 + 48y - 36xy + 27y^2)]")
    source = "Goldstein & Price, Math. Comp. 25 (1971) 569-574"
    FG, VALUE = staticmethod(gp_fg), staticmethod(gp_value)
    HVP, HESS = staticmethod(gp_hvp), staticmethod(gp_hess)
    _start, _box = (0.5, -0.5), (-2.0, 2.0)

    @property
    def f_star(self):
        return 3.0

    @property
    def x_star(self):
        return np.array([0.0, -1.0])

    def known_critical_points(self):
        return gp_critical()


@register
class SixHumpCamel(_TwoD):
    name = "six-hump-camel"
    formula = r"f(x, y) = (4 - 2.1x^2 + x^4/3) x^2 + xy + (-4 + 4y^2) y^2"
    source = "Dixon & Szegő, Towards Global Optimisation 2 (1978)"
    FG, VALUE = staticmethod(camel_fg), staticmethod(camel_value)
    HVP, HESS = staticmethod(camel_hvp), staticmethod(camel_hess)
    _start, _box = (-1.0, 1.0), (-2.0, 2.0)

    @property
    def bounds(self):
        return ((-3.0, 3.0), (-2.0, 2.0))

    @property
    def f_star(self):
        return min(f for _, f, _, _ in camel_critical())

    # x_star is None: two global minimisers ±(0.0898, −0.7127)

    def known_critical_points(self):
        return [(x.copy(), f, k, kind) for x, f, k, kind in camel_critical()]
