r"""Data sets of the ``mlp`` family, generated from a seed (no download).

Each generator returns ``(X, Y)``: inputs (n × in_dim) and targets (n × out_dim) — one-hot
rows for the classification sets. Draws use :func:`optbench.problems.base.rng` with a
salt per data set, so a (data set, seed) pair always gives the same numbers.

* ``teacher`` — inputs :math:`x \sim N(0, I)`, targets :math:`y = T(x)` (+ noise) for a
  random *teacher* MLP T (regression). Gardner & Derrida, *Three unfinished works on the
  optimal storage capacity of networks*, J. Phys. A 22 (1989); Saad & Solla, *On-line
  learning in soft committee machines*, Phys. Rev. E 52 (1995).
* ``spirals`` — two interleaved spirals, 1.5 turns each, radius r = t ∈ [0.05, 1], angle
  3πt (+π for the second class) (+ Gaussian jitter). Lang & Witbrock, *Learning to tell two
  spirals apart*, Connectionist Models Summer School (1988).
* ``xor`` — uniform points in [−1, 1]², class 1 where x₁x₂ > 0 (+ jitter). Minsky & Papert,
  *Perceptrons* (1969); Rumelhart, Hinton & Williams (1986).
* ``blobs`` — ``out_dim`` Gaussian clusters with unit covariance, centres
  :math:`\sim N(0, 4I)` in ``in_dim`` dimensions, classes equally likely.
* ``regression`` — inputs uniform in :math:`[-1, 1]^{in}`, targets
  :math:`y_k = \sin(a_k^\top x + \varphi_k) + \tfrac12\cos(b_k^\top x)`, with
  :math:`a_k, b_k \sim N(0, (4/in) I)`, :math:`\varphi_k \sim U[0, 2\pi)` (+ noise).
* ``digits`` — the 1,797 8×8 handwritten digits bundled with scikit-learn
  (``sklearn.datasets.load_digits``; pixel values scaled to [0, 1]); a seeded subsample
  when n < 1797. Alpaydin & Kaynak (1998), UCI *Optical Recognition of Handwritten Digits*.
"""
from __future__ import annotations

import numpy as np

from optbench.validate import OptbenchInputError

from .base import rng

CLASSIFICATION = ("spirals", "xor", "blobs", "digits")
REGRESSION = ("teacher", "regression")
DATASETS = REGRESSION + CLASSIFICATION
# fixed (in_dim, out_dim) of the data sets that have them; None: a parameter
FIXED_DIMS = {"spirals": (2, 2), "xor": (2, 2), "digits": (64, 10),
              "teacher": (None, None), "regression": (None, None), "blobs": (None, None)}
DEFAULT_DIMS = {"teacher": (4, 1), "regression": (2, 1), "blobs": (2, 3)}
DIGITS_N = 1797


def one_hot(labels, k):
    y = np.zeros((labels.size, k))
    y[np.arange(labels.size), labels] = 1.0
    return y


def spirals(n, seed, noise):
    r = rng(seed, 501)
    c = np.arange(n) % 2
    t = 0.05 + 0.95 * r.random(n)
    th = 3.0 * np.pi * t + np.pi * c
    X = np.stack([t * np.cos(th), t * np.sin(th)], axis=1) + noise * r.standard_normal((n, 2))
    return X, one_hot(c, 2)


def xor(n, seed, noise):
    r = rng(seed, 502)
    X = r.uniform(-1.0, 1.0, (n, 2))
    c = (X[:, 0] * X[:, 1] > 0).astype(np.int64)
    return X + noise * r.standard_normal((n, 2)), one_hot(c, 2)


def blobs(n, seed, noise, in_dim, k):
    r = rng(seed, 503)
    centres = 2.0 * r.standard_normal((k, in_dim))
    c = r.integers(0, k, n)
    X = centres[c] + r.standard_normal((n, in_dim)) + noise * r.standard_normal((n, in_dim))
    return X, one_hot(c, k)


def regression(n, seed, noise, in_dim, out_dim):
    r = rng(seed, 504)
    X = r.uniform(-1.0, 1.0, (n, in_dim))
    s = 2.0 / np.sqrt(in_dim)
    A = s * r.standard_normal((out_dim, in_dim))
    B = s * r.standard_normal((out_dim, in_dim))
    phi = r.uniform(0.0, 2.0 * np.pi, out_dim)
    Y = np.sin(X @ A.T + phi) + 0.5 * np.cos(X @ B.T)
    return X, Y + noise * r.standard_normal(Y.shape)


def teacher_inputs(n, seed, in_dim):
    return rng(seed, 505).standard_normal((n, in_dim))


def digits(n, seed):
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise OptbenchInputError(
            "problem mlp: dataset 'digits' needs scikit-learn (pip install 'optbench[sklearn]')"
        ) from None
    X, y = load_digits(return_X_y=True)
    X = X.astype(np.float64) / 16.0
    if n < X.shape[0]:
        idx = np.sort(rng(seed, 506).permutation(X.shape[0])[:n])
        X, y = X[idx], y[idx]
    return X, one_hot(y.astype(np.int64), 10)


def split(X, Y, seed, val_frac):
    """Seeded train/validation split: ``round(val_frac·n)`` samples held out."""
    n = X.shape[0]
    nv = int(round(val_frac * n))
    perm = rng(seed, 507).permutation(n)
    va, tr = np.sort(perm[:nv]), np.sort(perm[nv:])
    return X[tr], Y[tr], X[va], Y[va]
