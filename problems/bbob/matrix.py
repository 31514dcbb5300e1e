r"""Row kernels for the rotated bbob functions, and the set-up of COCO's matrix products.

COCO applies a rotation (``transform_vars_affine``) as :math:`y_i = b_i + \sum_j x_j M_{ij}`,
summed over j in order after the shift :math:`x - x_\text{opt}`; :func:`shifted_row` does the
same for one row of a matrix stored row-major in ``data`` (so values agree with COCO's to the
last bits). Gradients and Hessian-vector products of :math:`\varphi(Mx)` for an elementwise or
cheaply coupled :math:`\varphi` are accumulated row by row with :func:`scatter_row`
(:math:`M^\top c` without storing c), so most rotated functions need no scratch vector.

Set-up (NumPy): :func:`rotation` (COCO's ``bbob2009_compute_rotation``, row-major) and
:func:`rlq` (COCO's single matrix :math:`R\,\Lambda^{10} Q` of f6, f13, f15, …, accumulated in
COCO's order). :data:`ROTATION_MAX_DIM`: COCO's legacy rotation keeps its normals in a
2,000-entry buffer (``assert(DIM * DIM < 2000)``), so the rotated functions exist for
d ≤ 44 only.
"""
from __future__ import annotations

import math

import numpy as np

from optbench.kernels.compile import kernel

from . import coco_random as CR
from .common import XOPT

ROTATION_MAX_DIM = 44


@kernel
def shifted_row(data, moff, i, x, d):
    """Σ_j (x_j − xopt_j) M_ij for row i of the d×d matrix at ``data[moff]`` (COCO's order)."""
    s = 0.0
    r = moff + i * d
    for j in range(d):
        s += (x[j] - data[XOPT + j]) * data[r + j]
    return s


@kernel
def row(data, moff, i, v, d):
    """Σ_j v_j M_ij for row i of the d×d matrix at ``data[moff]``."""
    s = 0.0
    r = moff + i * d
    for j in range(d):
        s += v[j] * data[r + j]
    return s


@kernel
def row_data(data, moff, i, voff, d):
    """Σ_j data[voff + j] M_ij: row i times a vector kept in ``data`` (scratch)."""
    s = 0.0
    r = moff + i * d
    for j in range(d):
        s += data[voff + j] * data[r + j]
    return s


@kernel
def scatter_row(data, moff, i, c, out, d):
    """out += c · (row i of M): summed over i, out = Mᵀ c."""
    r = moff + i * d
    for j in range(d):
        out[j] += c * data[r + j]


@kernel
def data_scatter(data, moff, i, c, voff, d):
    """data[voff + j] += c M_ij: summed over i, the scratch vector at ``voff`` gets Mᵀc."""
    r = moff + i * d
    for j in range(d):
        data[voff + j] += c * data[r + j]


@kernel
def fill(out, value):
    for j in range(out.shape[0]):
        out[j] = value


def rotation(seed: int, dim: int) -> np.ndarray:
    """COCO's rotation from ``seed`` (``bbob2009_compute_rotation``), ``[row, column]``."""
    return CR.compute_rotation(seed, dim)


def rlq(seed: int, dim: int, base: float = math.sqrt(10.0)) -> np.ndarray:
    """COCO's ``M = R diag(base^(k/(d-1))) Q`` (R from ``seed + 1000000``, Q from ``seed``;
    ``base`` √10 is Λ^10 of f6, f13, f15; f16 takes 1/√100, f23 10), accumulated as COCO
    does: ``M[i, j] += R[i, k] * base^(k/(d-1)) * Q[k, j]`` for k in order."""
    R, Q = rotation(seed + 1000000, dim), rotation(seed, dim)
    M = np.zeros((dim, dim))
    for k in range(dim):
        M += np.outer(R[:, k] * math.pow(base, 1.0 * k / (dim - 1.0)), Q[k, :])
    return M
