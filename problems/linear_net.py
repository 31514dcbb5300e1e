r"""Two-layer linear network :math:`f(W_1, W_2) = \tfrac12 \lVert W_2 W_1 - A \rVert_F^2`.

Sizes: ``in_dim`` n, ``hidden`` h, ``out_dim`` m; W₁ is h×n, W₂ is m×h, A is m×n with
:math:`A = U_{:,1:r}\,\mathrm{diag}(\sigma)\,V_{:,1:r}^\top` (U, V Haar-random from ``seed``,
σ_1 > … > σ_r > 0 from ``sv_top`` to ``sv_bottom``, ``spectrum`` geometric or linear,
r = ``rank`` or min(m, n) when ``rank=0``).

**Layout of x** (d = h·n + m·h): ``x[0 : h*n]`` is W₁ row-major (W₁[k, b] = x[k*n + b]),
``x[h*n : h*n + m*h]`` is W₂ row-major (W₂[a, k] = x[h*n + a*h + k]).
:meth:`LinearNet.split` / :meth:`LinearNet.join` convert.

Critical points (A = Σ σ_i u_i v_iᵀ, distinct σ): for every subset S ⊂ {1..r} with p = |S| ≤ h,
the balanced point whose hidden unit k ≤ p carries W₁ row √σ_s v_sᵀ and W₂ column √σ_s u_s
(s the k-th element of S; the other h − p units zero) is critical with
W₂W₁ = Σ_{s∈S} σ_s u_s v_sᵀ, f = ½Σ_{i∉S} σ_i², and Hessian index

    index(S) = (h − p)(r − p) + Σ_{s∈S} #{i ∉ S, i < s}

(each dead unit has the 2×2 blocks [[0, −σ_i], [−σ_i, 0]] for i ∉ S; a live unit s meets
i ∉ S in the block [[σ_s, −σ_i], [−σ_i, σ_s]], negative iff σ_i > σ_s; the rest is PSD).
In particular the origin (S = ∅) is a strict saddle of index h·r whose Hessian eigenvalues
are exactly ±σ_i(A), each of multiplicity h (one per hidden unit), and 0 with multiplicity
h(m + n − 2r) (docs/reference.md, "Critical-point families").
Global min (Eckart–Young): f* = 0 when h ≥ r (S = {1..r}), else ½Σ_{i>h} σ_i² (S = {1..h});
all minimisers are degenerate (the GL(h) symmetry W₁ → CW₁, W₂ → W₂C⁻¹ gives zero Hessian
eigenvalues), so their index is the number of negative eigenvalues, 0.
Indices reached by these points: ⋃_p [(h − p)(r − p), h(r − p)]; ``critical_point(index,
seed)`` draws p, S (a random partition of index − (h − p)(r − p) into at most p parts of size
≤ r − p), the positions of the live units and their signs from ``seed``, and refuses an
index no such point has. ``known_critical_points()`` lists the origin, ``x_star`` and one
point per reachable index (up to 40 of them, else the 20 smallest and 20 largest).

Standard start: none; x0 is uniform in [−b, b]^d with b = (σ_1/max(m, n, h))^{1/2}
(``near_index``/``near_radius`` start near a critical point).

Source: Baldi & Hornik, *Neural networks and principal component analysis: learning from
examples without local minima*, Neural Networks 2 (1989) 53–58; Saxe, McClelland & Ganguli,
ICLR 2014; Kawaguchi, *Deep learning without poor local minima*, NeurIPS 2016.
Cost per gradient: O(m·n·h) time, O(m·n + d) memory, no scratch arrays.
"""
from __future__ import annotations

import numpy as np

from optbench.params import C, F, I
from optbench.validate import OptbenchInputError

from .base import Problem, register, rng
from .near_critical import NEAR_PARAMS, NearCritical

MAX_ENTRIES = 25_000_000  # m·n entries of A (200 MB)


def ln_fg(x, g, data, idata, seed, step):
    m = idata[0]
    n = idata[1]
    h = idata[2]
    o2 = h * n
    for i in range(x.shape[0]):
        g[i] = 0.0
    f = 0.0
    for a in range(m):
        for b in range(n):
            r = -data[a * n + b]
            for k in range(h):
                r += x[o2 + a * h + k] * x[k * n + b]
            f += 0.5 * r * r
            for k in range(h):
                g[k * n + b] += x[o2 + a * h + k] * r
                g[o2 + a * h + k] += r * x[k * n + b]
    return f


def ln_value(x, data, idata):
    m = idata[0]
    n = idata[1]
    h = idata[2]
    o2 = h * n
    f = 0.0
    for a in range(m):
        for b in range(n):
            r = -data[a * n + b]
            for k in range(h):
                r += x[o2 + a * h + k] * x[k * n + b]
            f += 0.5 * r * r
    return f


def ln_hvp(x, v, out, data, idata):
    m = idata[0]
    n = idata[1]
    h = idata[2]
    o2 = h * n
    for i in range(x.shape[0]):
        out[i] = 0.0
    for a in range(m):
        for b in range(n):
            r = -data[a * n + b]
            dr = 0.0
            for k in range(h):
                w1 = x[k * n + b]
                w2 = x[o2 + a * h + k]
                r += w2 * w1
                dr += v[o2 + a * h + k] * w1 + w2 * v[k * n + b]
            for k in range(h):
                out[k * n + b] += v[o2 + a * h + k] * r + x[o2 + a * h + k] * dr
                out[o2 + a * h + k] += dr * x[k * n + b] + r * v[k * n + b]


def _haar(k: int, seed: int, salt: int) -> np.ndarray:
    """Haar-random k×k orthogonal matrix (QR of a Gaussian matrix with the sign fix)."""
    q, r = np.linalg.qr(rng(seed, salt).standard_normal((k, k)))
    return q * np.sign(np.diag(r))


def singular_values(r: int, top: float, bottom: float, shape: str) -> np.ndarray:
    if r == 1:
        return np.array([top])
    t = np.arange(r) / (r - 1)
    return top * (bottom / top) ** t if shape == "geometric" else top + (bottom - top) * t


def subset_index(S, r: int, h: int) -> int:
    """Hessian index of the balanced critical point of subset S (1-based, of {1..r})."""
    S = sorted(S)
    p = len(S)
    inv = sum(s - 1 - j for j, s in enumerate(S))  # #{i ∉ S, i < s} summed over s ∈ S
    return (h - p) * (r - p) + inv


@register
class LinearNet(NearCritical, Problem):
    name = "linear-net"
    family = "critical"
    min_dim = 2
    formula = r"f(W_1, W_2) = \tfrac12 \lVert W_2 W_1 - A \rVert_F^2"
    source = ("Baldi & Hornik (1989), Neural Networks 2:53-58; Saxe et al. (2014), ICLR; "
              "Kawaguchi (2016), NeurIPS")
    params = {
        "in_dim": I(32, 1, doc="n: columns of A and of W1"),
        "hidden": I(16, 1, doc="h: hidden width (rows of W1, columns of W2)"),
        "out_dim": I(32, 1, doc="m: rows of A and of W2"),
        "rank": I(0, 0, doc="rank r of A (0: min(in_dim, out_dim))"),
        "spectrum": C("geometric", ("geometric", "linear"), doc="spacing of σ_1 > … > σ_r"),
        "sv_top": F(1.0, 0.0, lo_open=True, doc="largest singular value σ_1 of A"),
        "sv_bottom": F(0.1, 0.0, lo_open=True, doc="smallest nonzero singular value σ_r"),
        "seed": I(0, 0, doc="seed of the singular vectors of A"),
        **NEAR_PARAMS,
    }
    FG = staticmethod(ln_fg)
    VALUE = staticmethod(ln_value)
    HVP = staticmethod(ln_hvp)

    def build(self):
        p = self.p
        m, n, h = p["out_dim"], p["in_dim"], p["hidden"]
        if m * n > MAX_ENTRIES:
            raise OptbenchInputError(
                f"problem linear-net: out_dim*in_dim must be <= {MAX_ENTRIES}, got {m * n}")
        r = p["rank"] or min(m, n)
        if r > min(m, n):
            raise OptbenchInputError(
                f"problem linear-net: rank must be <= min(in_dim, out_dim) = {min(m, n)}, got {r}")
        if r > 1 and not p["sv_bottom"] < p["sv_top"]:
            raise OptbenchInputError(
                f"problem linear-net: sv_bottom must be < sv_top (distinct singular values), "
                f"got sv_bottom={p['sv_bottom']!r}, sv_top={p['sv_top']!r}")
        self.m, self.n, self.h, self.r = m, n, h, r
        self.sigma = singular_values(r, p["sv_top"], p["sv_bottom"], p["spectrum"])
        if r > 1 and not np.all(np.diff(self.sigma) < 0):
            raise OptbenchInputError("problem linear-net: sv_top/sv_bottom too close for "
                                     f"distinct singular values at rank {r}")
        self.U = _haar(m, p["seed"], 31)[:, :r]     # left singular vectors u_i
        self.V = _haar(n, p["seed"], 32)[:, :r]     # right singular vectors v_i
        A = (self.U * self.sigma) @ self.V.T
        return A.ravel(), np.array([m, n, h]), h * n + m * h

    # -- layout -----------------------------------------------------------------------
    def split(self, x):
        """(W1 (h×n), W2 (m×h)) views of x."""
        x = np.asarray(x, dtype=np.float64)
        hn = self.h * self.n
        return x[:hn].reshape(self.h, self.n), x[hn:].reshape(self.m, self.h)

    def blocks(self) -> np.ndarray:
        """Two matrix blocks: W1 (h×n) then W2 (m×h), row-major."""
        from optbench.kernels.blocks import block_table
        return block_table([(self.h, self.n), (self.m, self.h)])

    def join(self, W1, W2) -> np.ndarray:
        return np.concatenate([np.asarray(W1, float).ravel(), np.asarray(W2, float).ravel()])

    def matrix(self) -> np.ndarray:
        """A (m×n)."""
        return self.data[: self.m * self.n].reshape(self.m, self.n).copy()

    def init_box(self):
        b = float(np.sqrt(self.sigma[0] / max(self.m, self.n, self.h)))
        return (-b, b)

    # -- critical points --------------------------------------------------------------
    def point_of_subset(self, S, seed: int | None = None):
        """(x, f, index) of the balanced critical point of subset S (1-based, ⊂ {1..r},
        |S| ≤ h). With ``seed``, the live units sit at seeded positions with seeded signs."""
        S = sorted(int(s) for s in S)
        if len(S) > self.h or len(set(S)) != len(S) or any(s < 1 or s > self.r for s in S):
            raise OptbenchInputError(
                f"problem linear-net: S must be distinct elements of 1..{self.r}, at most "
                f"{self.h} of them, got {S}")
        W1, W2 = np.zeros((self.h, self.n)), np.zeros((self.m, self.h))
        units, signs = np.arange(self.h), np.ones(self.h)
        if seed is not None:
            g = rng(seed, 24)
            units, signs = g.permutation(self.h), g.choice(np.array([-1.0, 1.0]), self.h)
        for j, s in enumerate(S):
            k, c = units[j], signs[j] * np.sqrt(self.sigma[s - 1])
            W1[k] = c * self.V[:, s - 1]
            W2[:, k] = c * self.U[:, s - 1]
        rest = np.ones(self.r, bool)
        rest[np.array(S, int) - 1] = False
        f = 0.5 * float(np.sum(self.sigma[rest] ** 2))
        return self.join(W1, W2), f, subset_index(S, self.r, self.h)

    @property
    def max_index(self) -> int:
        return self.h * self.r

    def _sizes_for(self, index: int) -> list[int]:
        h, r = self.h, self.r
        return [p for p in range(min(h, r) + 1) if (h - p) * (r - p) <= index <= h * (r - p)]

    def _check_index(self, index: int) -> None:
        if not self._sizes_for(index):
            raise OptbenchInputError(
                f"problem linear-net: no known critical point has Hessian index {index}; "
                f"reachable: {self._ranges()}")

    def _ranges(self) -> str:
        h, r = self.h, self.r
        iv = sorted({((h - p) * (r - p), h * (r - p)) for p in range(min(h, r) + 1)})
        return ", ".join(f"{a}" if a == b else f"{a}..{b}" for a, b in iv)

    def reachable_indices(self) -> list[int]:
        return [k for k in range(self.max_index + 1) if self._sizes_for(k)]

    def critical_point(self, index: int, seed: int = 0):
        """(x, f, index) of a seeded balanced critical point of Hessian index ``index``."""
        k = self._index_ok(index)
        g = rng(seed, 25)
        sizes = self._sizes_for(k)
        p = int(sizes[g.integers(len(sizes))])
        N, top = k - (self.h - p) * (self.r - p), self.r - p
        lam = [0] * p            # partition λ_1 ≤ … ≤ λ_p ≤ r − p of N
        for j in range(p, 0, -1):
            lo, hi = -(-N // j), min(top, N)
            lam[j - 1] = int(g.integers(lo, hi + 1))
            N -= lam[j - 1]
            top = lam[j - 1]
        S = [j + 1 + lam[j] for j in range(p)]
        return self.point_of_subset(S, seed)

    @property
    def f_star(self):
        return 0.5 * float(np.sum(self.sigma[self.h:] ** 2))

    @property
    def x_star(self):
        return self.point_of_subset(range(1, min(self.h, self.r) + 1))[0]

    def known_critical_points(self):
        ks = self.reachable_indices()
        if len(ks) > 40:
            ks = ks[:20] + ks[-20:]
        out = [(np.zeros(self.dim), 0.5 * float(np.sum(self.sigma ** 2)), self.max_index,
                "saddle")]
        x, f, k = self.point_of_subset(range(1, min(self.h, self.r) + 1))
        out.append((x, f, k, "global min"))
        for k in ks:
            if k in (0, self.max_index):
                continue
            x, f, kk = self.critical_point(k, 0)
            out.append((x, f, kk, "saddle"))
        return out

    def cost(self):
        return "O(m*n*h) time (d = h*(m+n)), O(m*n + d) memory"
