r"""bbob f1–f5, the separable functions.

* f1 Sphere: :math:`f = \|z\|^2 + f_\text{opt}`, :math:`z = x - x_\text{opt}`.
"""
from __future__ import annotations

from . import coco_random as CR
from .common import XOPT, BbobFunction, base_arrays, define


def _plain_setup(number):
    def setup(dim, instance):
        seed = CR.instance_seed(number, instance)
        return base_arrays(number, instance, dim, CR.compute_xopt(seed, dim),
                           CR.compute_fopt(number, instance))
    return setup


# ---------------------------------------------------------------- f1 sphere
def sphere_fg(x, g, data, idata, seed, step):
    f = 0.0
    for i in range(x.shape[0]):
        z = x[i] - data[XOPT + i]
        g[i] = 2.0 * z
        f += z * z
    return f + data[0]


def sphere_value(x, data, idata):
    f = 0.0
    for i in range(x.shape[0]):
        z = x[i] - data[XOPT + i]
        f += z * z
    return f + data[0]


def sphere_hvp(x, v, out, data, idata):
    for i in range(x.shape[0]):
        out[i] = 2.0 * v[i]


define(BbobFunction(1, "Sphere", sphere_fg, sphere_value, sphere_hvp, _plain_setup(1),
                    smooth=True))
