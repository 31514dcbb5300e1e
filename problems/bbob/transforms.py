r"""COCO's variable transformations and boundary penalty as kernels, with their derivatives.

Every helper is a :func:`~optbench.kernels.compile.kernel` (compiled for the CPU and for CUDA
with the function kernels that call it), written as scalar math on one coordinate so that the
function kernels keep plain loops and allocate nothing.

* :func:`t_osz` — COCO's ``transform_vars_oscillate`` (T_osz of RR-6829), coordinate-wise:
  for :math:`x \ne 0`, :math:`\hat x = \ln|x|`, :math:`t = \hat x / 0.1` and

  .. math:: T(x) = \operatorname{sign}(x)\,\bigl(\exp(t + 0.49(\sin c_1 t + \sin c_2 t))\bigr)^{0.1}

  with :math:`(c_1, c_2) = (1, 0.79)` for x > 0 and (0.55, 0.31) for x < 0; T(0) = 0.
  COCO evaluates it in this order (log, division by 0.1, exp, then ``pow(·, 0.1)``) and so does
  :func:`t_osz`. Its derivative :math:`T' = (T/x)\,(1 + 0.49(c_1\cos c_1 t + c_2\cos c_2 t))`
  and :math:`T'' = (T/x^2)(a^2 - a + 4.9\,s'')`, with :math:`a` that bracket and
  :math:`s'' = -(c_1^2\sin c_1 t + c_2^2\sin c_2 t)`. At x = 0, T'/x oscillates
  without a limit (T is continuous, T(x)/x stays in [e^{-0.098}, e^{0.098}]): optbench returns
  T'(0) = 1, T''(0) = 0.
* :func:`t_asy` — COCO's ``transform_vars_asymmetric`` (T_asy^β): for x > 0,
  :math:`x^{1 + \beta\, i/(d-1)\,\sqrt{x}}` (i zero-based; the exponent computed as COCO:
  ``1 + (β·i)/(d − 1)·√x``), else x. Derivatives from :math:`\ln y = (1 + c\sqrt x)\ln x`,
  :math:`c = \beta i/(d-1)`: :math:`y' = y\,L'`, :math:`y'' = y(L'^2 + L'')` with
  :math:`L' = c\ln x/(2\sqrt x) + (1 + c\sqrt x)/x`, :math:`L'' = -c\ln x/(4x^{3/2}) - 1/x^2`.
  T_asy is C¹ (y' → 1 on both sides of 0); y'' is unbounded as x → 0⁺ (returned as the formula;
  0 for x ≤ 0).
* :func:`lam` — the i-th diagonal entry of COCO's ``transform_vars_conditioning`` (Λ^α):
  ``pow(α, 0.5·i/(d − 1))``, evaluated as COCO does.
* :func:`penalty_value`, :func:`penalty_fg`, :func:`penalty_hvp` — COCO's
  ``transform_obj_penalize`` on the region of interest [−5, 5]^d:
  :math:`f_\text{pen}(x) = \sum_i \max(0, |x_i| - 5)^2` (COCO adds ``factor · f_pen`` after the
  shift by fopt; the factor is 1 for most functions, 100 for f4). Its gradient
  :math:`2\,\mathrm{sign}(x_i)\max(0, |x_i| - 5)` is continuous; its Hessian is 2 outside the
  box and 0 inside (a jump at |x_i| = 5).

Source: N. Hansen, S. Finck, R. Ros, A. Auger, *Real-Parameter Black-Box Optimization
Benchmarking 2009: Noiseless Functions Definitions*, INRIA RR-6829; COCO's
``transform_vars_oscillate.c``, ``transform_vars_asymmetric.c``,
``transform_vars_conditioning.c``, ``transform_obj_penalize.c``.
"""
from __future__ import annotations

import math

from optbench.kernels.compile import kernel

ROI = 5.0        # COCO's region of interest for bbob: [-5, 5]^d


@kernel
def t_osz(x):
    """COCO's T_osz of one coordinate and its first two derivatives: ``(y, dy, d2y)``."""
    if x > 0.0:
        t = math.log(x) / 0.1
        y = math.pow(math.exp(t + 0.49 * (math.sin(t) + math.sin(0.79 * t))), 0.1)
        a = 1.0 + 0.49 * (math.cos(t) + 0.79 * math.cos(0.79 * t))
        s2 = -(math.sin(t) + 0.6241 * math.sin(0.79 * t))
    elif x < 0.0:
        t = math.log(-x) / 0.1
        y = -math.pow(math.exp(t + 0.49 * (math.sin(0.55 * t) + math.sin(0.31 * t))), 0.1)
        a = 1.0 + 0.49 * (0.55 * math.cos(0.55 * t) + 0.31 * math.cos(0.31 * t))
        s2 = -(0.3025 * math.sin(0.55 * t) + 0.0961 * math.sin(0.31 * t))
    else:
        return 0.0, 1.0, 0.0
    r = y / x
    return y, r * a, r / x * (a * a - a + 4.9 * s2)


@kernel
def t_asy(x, beta, i, d):
    """COCO's T_asy^β of coordinate i (zero-based) of d and its first two derivatives:
    ``(y, dy, d2y)``."""
    if x > 0.0:
        c = (beta * i) / (d - 1.0)
        sx = math.sqrt(x)
        y = math.pow(x, 1.0 + c * sx)
        lx = math.log(x)
        l1 = c * lx / (2.0 * sx) + (1.0 + c * sx) / x
        l2 = -c * lx / (4.0 * x * sx) - 1.0 / (x * x)
        return y, y * l1, y * (l1 * l1 + l2)
    return x, 1.0, 0.0


@kernel
def lam(alpha, i, d):
    """Diagonal entry i (zero-based) of COCO's Λ^α in dimension d: α^{½·i/(d−1)}."""
    return math.pow(alpha, 0.5 * i / (d - 1.0))


@kernel
def penalty_value(x):
    """COCO's boundary penalty Σ max(0, |x_i| − 5)² (without its factor)."""
    p = 0.0
    for i in range(x.shape[0]):
        c1 = x[i] - ROI
        c2 = -ROI - x[i]
        if c1 > 0.0:
            p += c1 * c1
        elif c2 > 0.0:
            p += c2 * c2
    return p


@kernel
def penalty_fg(x, g, scale):
    """The penalty Σ max(0, |x_i| − 5)² (returned without factor); adds ``scale`` times its
    gradient into ``g`` (call with ``scale`` = COCO's factor after writing f's gradient)."""
    p = 0.0
    for i in range(x.shape[0]):
        c1 = x[i] - ROI
        c2 = -ROI - x[i]
        if c1 > 0.0:
            p += c1 * c1
            g[i] += scale * 2.0 * c1
        elif c2 > 0.0:
            p += c2 * c2
            g[i] -= scale * 2.0 * c2
    return p


@kernel
def penalty_hvp(x, v, out, scale):
    """Adds ``scale`` times the penalty's Hessian times v into ``out`` (2 v_i where |x_i| > 5)."""
    for i in range(x.shape[0]):
        if x[i] > ROI or x[i] < -ROI:
            out[i] += scale * 2.0 * v[i]
