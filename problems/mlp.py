r"""Small multilayer perceptrons as problems: the training loss of an MLP on a seeded data set.

.. math::
   f(x) = \frac1{n}\sum_{j=1}^{n} \ell\bigl(\mathrm{MLP}_x(a_j), y_j\bigr)
          + \frac{\lambda}{2}\sum_l \lVert W_l\rVert_F^2,

:math:`h_l = \sigma(W_l h_{l-1} + b_l) + [\text{residual}]\,h_{l-1}`, output
:math:`o = W_{L+1} h_L + b_{L+1}`; ℓ is the softmax cross-entropy (classification) or
:math:`\tfrac12\lVert o - y\rVert^2` (regression, and ``loss="mse"`` on one-hot targets).

**Architecture.** ``depth`` L = 1 … 20 hidden layers of ``width`` units (or ``widths="64,32"``,
which sets both), activation ``relu``, ``leaky-relu`` (``leaky_slope``), ``sigmoid`` or ``tanh``;
``residual=True`` adds the skip connection :math:`h_{l-1}` to hidden layers l = 2 … L (all
hidden widths must then be equal; the first hidden layer and the output have none).
Initialisation (``x0``): ``xavier`` — :math:`U(\pm\sqrt{6/(n_{in}+n_{out})})` (Glorot &
Bengio, AISTATS 2010; torch ``xavier_uniform_``); ``he`` — :math:`N(0, 2/n_{in})` (He et al.,
ICCV 2015; torch ``kaiming_normal_``); ``normal`` — :math:`N(0, \text{init\_std}^2)`; biases 0.
``start="random"`` (default) draws it from the run seed, ``start="standard"`` from the data
seed only (every run starts at the same point).

**Parameter layout.** One flat float64 vector: for each weight layer l = 1 … L+1 in order,
:math:`W_l` row-major (out × in, ``nn.Linear.weight``'s layout) then :math:`b_l`.
:meth:`Mlp.layers` returns the per-layer ``(W, b)`` views, :meth:`Mlp.flatten` the inverse.

**Data** (:mod:`optbench.problems.mlp_data`): ``teacher`` (a random teacher MLP of the
student's architecture — or of ``teacher_width`` units per layer —, weights drawn like the
student's ``init`` from the data seed, biases :math:`N(0, 0.5^2)`, labels Gaussian inputs:
with ``noise = 0`` and ``l2 = 0`` a zero-loss minimum exists, f* = 0, and x* = the teacher's
parameters when the architectures match), ``spirals``, ``xor``, ``blobs``, ``regression``,
``digits`` (scikit-learn's bundled copy; needs the ``sklearn`` extra). ``n`` samples are drawn
(``digits``: up to 1,797) and ``round(val_frac·n)`` of them held out for validation, from
``seed``. The objective f is the full training loss.

**Minibatches.** ``batch = 0``: full batch (deterministic); ``batch = B ≥ 1``: FG returns the
loss and gradient of the B samples of step ``step`` of the run with seed ``seed``, in the
order of :func:`optbench.problems.minibatch.perm_index` (reshuffled each epoch, drop-last:
``n_train // B`` steps per epoch, :attr:`Mlp.steps_per_epoch`); the L2 term is added in full.
VALUE, HVP and the metrics always use the full training set. Samples go through the network
32 at a time (a tile); a shorter last tile computes only its own samples.

**Metrics** (extra trace columns, recording steps only): ``train_accuracy``, ``val_loss``,
``val_accuracy`` (NaN for regression / without validation data) and ``grad_norm_layer1`` …
``grad_norm_layer{L+1}``: the norm of the full-batch gradient of f with respect to
(:math:`W_l, b_l`), showing vanishing and exploding gradients.

Kernels (:mod:`optbench.problems.mlp_net`, :mod:`optbench.problems.mlp_hvp`) keep their
scratch inside ``data``: ``parallel_safe = False`` (runs of one problem object go one at a
time). :meth:`Mlp.cpu_kernels` compiles FG, VALUE and HVP with their helpers inlined.

Source: Rumelhart, Hinton & Williams, *Learning representations by back-propagating errors*,
Nature 323 (1986); Pearlmutter, Neural Computation 6 (1994) (HVP); Glorot & Bengio (2010).
Cost per gradient: O(n·d) time full batch (about 6·n·d multiply-adds), O(B·d) per minibatch;
HVP about 14·n·d; memory O(n·(in + out) + d).
"""
from __future__ import annotations

import numpy as np

from optbench.kernels import compile as kc
from optbench.kernels import signatures as S
from optbench.params import B, C, F, I, Param
from optbench.validate import OptbenchInputError, number

from . import mlp_data as MD
from . import mlp_hvp as NH
from . import mlp_net as N
from .base import Problem, register, rng

MAX_DIM = 2_000_000
MAX_DATA = 50_000_000
DEFAULT_N = 256


def _parse_widths(v):
    if v is None or v == "" or v == ():
        return []
    bad = OptbenchInputError(
        f"problem mlp.widths must be comma-separated integers like '64,32', got {v!r}")
    if not isinstance(v, (str, list, tuple)):
        raise bad
    items = v.replace(" ", "").split(",") if isinstance(v, str) else list(v)
    try:
        items = [int(s) if isinstance(s, str) else s for s in items]
    except ValueError:
        raise bad from None
    ws = [number("problem mlp.widths", s, lo=1, integer=True) for s in items]
    if len(ws) > 20:
        raise OptbenchInputError(f"problem mlp.widths: at most 20 hidden layers, got {len(ws)}")
    return ws


def _init(sizes, scheme, std, r):
    """Flat parameter vector drawn from scheme for layer sizes [in, h1, …, out]."""
    parts = []
    for nin, nout in zip(sizes[:-1], sizes[1:]):
        if scheme == "xavier":
            a = np.sqrt(6.0 / (nin + nout))
            W = r.uniform(-a, a, (nout, nin))
        elif scheme == "he":
            W = np.sqrt(2.0 / nin) * r.standard_normal((nout, nin))
        else:
            W = std * r.standard_normal((nout, nin))
        parts += [W.ravel(), np.zeros(nout)]
    return np.concatenate(parts)


def np_forward(theta, sizes, X, act, slope, residual):
    """NumPy forward pass (used to label the teacher data set)."""
    fns = {"relu": lambda z: np.maximum(z, 0.0), "leaky-relu": lambda z: np.where(z > 0, z, slope * z),
           "sigmoid": lambda z: 0.5 * (1.0 + np.tanh(0.5 * z)), "tanh": np.tanh}
    h, o = X, 0
    nl = len(sizes) - 1
    for l, (nin, nout) in enumerate(zip(sizes[:-1], sizes[1:])):
        W = theta[o:o + nin * nout].reshape(nout, nin)
        b = theta[o + nin * nout:o + nin * nout + nout]
        o += nin * nout + nout
        z = h @ W.T + b
        if l == nl - 1:
            return z
        h = fns[act](z) + (h if residual and l > 0 else 0.0)


@register
class Mlp(Problem):
    name = "mlp"
    family = "mlp"
    start_default = "random"
    parallel_safe = False
    # inlining the network into the run loop (special, lockstep) made Adam runs and sweeps no
    # faster per step and cost about a minute of compile
    specialise = False
    formula = (r"f(x) = \frac1n\sum_{j=1}^n \ell(\mathrm{MLP}_x(a_j), y_j)"
               r" + \frac{\lambda}{2}\sum_l \|W_l\|_F^2")
    source = ("Rumelhart, Hinton & Williams (1986), Nature 323:533-536; Pearlmutter (1994), "
              "Neural Computation 6:147-160; Glorot & Bengio (2010), AISTATS")
    params = {
        "dataset": C("teacher", MD.DATASETS, doc="data set (see optbench.problems.mlp_data)"),
        "n": I(None, 1, doc="samples drawn before the split (default 256; digits: 1797)"),
        "val_frac": F(0.2, 0.0, 1.0, hi_open=True, doc="fraction held out for validation"),
        "in_dim": I(None, 1, doc="input dimension (teacher, blobs, regression)"),
        "out_dim": I(None, 1, doc="outputs (teacher, regression) or classes (blobs)"),
        "noise": F(0.0, 0.0, doc="std of the label noise (regression) or input jitter"),
        "depth": I(None, 1, 20, doc="hidden layers (default 2, or len(widths))"),
        "width": I(16, 1, doc="units per hidden layer"),
        "widths": Param("any", "", doc="per-layer widths, e.g. '64,32' (sets depth)"),
        "activation": C("relu", N.ACTIVATIONS, doc="hidden activation"),
        "leaky_slope": F(0.01, 0.0, doc="negative slope of leaky-relu"),
        "residual": B(False, doc="skip connections between equal-width hidden layers"),
        "init": C("xavier", ("xavier", "he", "normal"), doc="initialisation of x0"),
        "init_std": F(0.1, 0.0, lo_open=True, doc="std of init='normal'"),
        "loss": C("auto", ("auto",) + N.LOSSES, doc="auto: cross-entropy for classification"),
        "l2": F(0.0, 0.0, doc="L2 penalty λ/2·Σ‖W‖² (weights only)"),
        "batch": I(0, 0, doc="minibatch size (0: full batch, 1: single-sample SGD)"),
        "teacher_width": I(0, 0, doc="teacher: hidden width of the teacher (0: the student's)"),
        "seed": I(0, 0, doc="seed of the data, the split and the teacher"),
    }
    FG = staticmethod(N.mlp_fg)
    VALUE = staticmethod(N.mlp_value)
    HVP = staticmethod(NH.mlp_hvp)
    METRICS = staticmethod(NH.mlp_metrics)

    # ------------------------------------------------------------------ configuration
    def _arch(self):
        p = self.p
        ws = _parse_widths(p["widths"])
        if ws:
            if p["depth"] is not None and p["depth"] != len(ws):
                raise OptbenchInputError(
                    f"problem mlp.widths: {len(ws)} widths given but depth={p['depth']}")
        else:
            ws = [p["width"]] * (2 if p["depth"] is None else p["depth"])
        p["depth"] = len(ws)
        p["widths"] = ",".join(map(str, ws)) if len(set(ws)) > 1 else ""
        p["width"] = ws[0]                  # canonical: equal widths live in width alone
        if p["residual"] and len(set(ws)) > 1:
            raise OptbenchInputError(
                f"problem mlp.residual: skip connections need equal hidden widths, got {p['widths']}")
        ds = p["dataset"]
        fixed = MD.FIXED_DIMS[ds]
        dflt = MD.DEFAULT_DIMS.get(ds, fixed)
        for k, key in enumerate(("in_dim", "out_dim")):
            if fixed[k] is not None and p[key] is not None and p[key] != fixed[k]:
                raise OptbenchInputError(
                    f"problem mlp.{key}: dataset {ds!r} has {key}={fixed[k]}, got {p[key]}")
            if p[key] is None:
                p[key] = dflt[k]
        if ds == "blobs" and p["out_dim"] < 2:
            raise OptbenchInputError(f"problem mlp.out_dim: blobs need >= 2 classes, got {p['out_dim']}")
        nmax = MD.DIGITS_N if ds == "digits" else None
        if p["n"] is None:
            p["n"] = nmax or DEFAULT_N
        if nmax and p["n"] > nmax:
            raise OptbenchInputError(f"problem mlp.n: digits has {nmax} samples, got {p['n']}")
        if p["teacher_width"] and ds != "teacher":
            raise OptbenchInputError("problem mlp.teacher_width applies to dataset 'teacher' only")
        if p["loss"] == "auto":
            p["loss"] = "cross-entropy" if ds in MD.CLASSIFICATION else "mse"
        if p["loss"] == "cross-entropy" and ds not in MD.CLASSIFICATION:
            raise OptbenchInputError(
                f"problem mlp.loss: cross-entropy needs a classification data set, {ds!r} is regression")
        return [p["in_dim"], *ws, p["out_dim"]]

    def _data(self, sizes):
        p = self.p
        ds, n, s, noise = p["dataset"], p["n"], p["seed"], p["noise"]
        self.teacher = None
        if ds == "teacher":
            tw = p["teacher_width"]
            self.teacher_sizes = sizes if not tw else [sizes[0], *([tw] * p["depth"]), sizes[-1]]
            r = rng(s, 508)
            th = _init(self.teacher_sizes, p["init"], p["init_std"], r)
            o = 0
            for nin, nout in zip(self.teacher_sizes[:-1], self.teacher_sizes[1:]):
                o += nin * nout
                th[o:o + nout] = 0.5 * r.standard_normal(nout)
                o += nout
            self.teacher = th
            X = MD.teacher_inputs(n, s, sizes[0])
            Y = np_forward(th, self.teacher_sizes, X, p["activation"], p["leaky_slope"],
                           p["residual"])
            Y = Y + noise * rng(s, 509).standard_normal(Y.shape)
        elif ds == "spirals":
            X, Y = MD.spirals(n, s, noise)
        elif ds == "xor":
            X, Y = MD.xor(n, s, noise)
        elif ds == "blobs":
            X, Y = MD.blobs(n, s, noise, sizes[0], sizes[-1])
        elif ds == "regression":
            X, Y = MD.regression(n, s, noise, sizes[0], sizes[-1])
        else:
            X, Y = MD.digits(n, s)
        return MD.split(X, Y, s, p["val_frac"])

    def build(self):
        sizes = self._arch()
        p = self.p
        self.sizes = sizes
        d = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
        if d > MAX_DIM:
            raise OptbenchInputError(f"problem mlp: {d} parameters exceed {MAX_DIM}")
        if p["n"] * (sizes[0] + sizes[-1]) > MAX_DATA:
            raise OptbenchInputError(f"problem mlp.n: data set exceeds {MAX_DATA} entries")
        Xtr, Ytr, Xva, Yva = self._data(sizes)
        ntr = Xtr.shape[0]
        if ntr < 1:
            raise OptbenchInputError("problem mlp.val_frac leaves no training samples")
        if p["batch"] > ntr:
            raise OptbenchInputError(
                f"problem mlp.batch must be <= the {ntr} training samples, got {p['batch']}")
        self.stochastic = p["batch"] > 0
        self.split = (Xtr, Ytr, Xva, Yva)
        nl = len(sizes) - 1
        mw = max(sizes)                 # work tiles hold any layer's vector, input included
        head = [p["l2"], p["leaky_slope"]]
        blocks = [Xtr.ravel(), Ytr.ravel(), Xva.ravel(), Yva.ravel()]
        off = N.DHDR
        offs = []
        for b in blocks:
            offs.append(off)
            off += b.size
        ts = N.TS
        recs, xo = [], 0
        for l, (nin, nout) in enumerate(zip(sizes[:-1], sizes[1:])):
            last = l == nl - 1          # the output layer: h is z, Rh is Rz
            zo, ho = off, off + (0 if last else ts * nout)
            off = ho + ts * nout
            rzo, rho = off, off + (0 if last else ts * nout)
            off = rho + ts * nout
            res = 1 if (p["residual"] and 0 < l < nl - 1) else 0
            recs += [nin, nout, xo, xo + nin * nout, zo, ho, rzo, rho, res]
            xo += nin * nout + nout
        xt, yt = off, off + ts * sizes[0]
        buf = yt + ts * sizes[-1]
        gbuf = buf + N.N_BUF * ts * mw      # the work tiles and the softmax tile
        total = gbuf + d
        cls = 1 if p["dataset"] in MD.CLASSIFICATION else 0
        idata = [nl, N.ACTIVATIONS.index(p["activation"]), N.LOSSES.index(p["loss"]), ntr,
                 Xva.shape[0], sizes[0], sizes[-1], p["batch"], *offs, buf, mw, cls, gbuf, d,
                 xt, yt]
        assert len(idata) == N.HDR
        data = np.zeros(total)
        data[:N.DHDR] = head
        for o, b in zip(offs, blocks):
            data[o:o + b.size] = b
        return data, np.array(idata + recs, dtype=np.int64), d

    # ------------------------------------------------------------------ compiled kernels
    def cpu_kernels(self):
        """(fg, value, hvp) with every helper inlined (numba-IR inlining): a call per neuron
        or per sample would otherwise cost more than its arithmetic at these sizes."""
        return tuple(kc.cpu(k, sig, inline=True, name=f"{k.__name__}__inl")
                     for k, sig in ((self.FG, S.FG_SIG), (self.VALUE, S.VALUE_SIG),
                                    (self.HVP, S.HVP_SIG)))

    def metrics_kernel(self):
        """The compiled METRICS kernel (the runner's own compilation: not on the hot path)."""
        return kc.cpu(self.METRICS, S.METRICS_SIG)

    # ------------------------------------------------------------------ conveniences
    def layers(self, x) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per-layer ``(W, b)`` views of the flat vector x (W: out × in, row-major)."""
        x = np.asarray(x)
        if x.shape != (self.dim,):
            raise OptbenchInputError(f"problem mlp: x must have shape ({self.dim},), got {x.shape}")
        out, o = [], 0
        for nin, nout in zip(self.sizes[:-1], self.sizes[1:]):
            out.append((x[o:o + nin * nout].reshape(nout, nin), x[o + nin * nout:o + nin * nout + nout]))
            o += nin * nout + nout
        return out

    def blocks(self) -> np.ndarray:
        """One block per weight matrix (out × in) and per bias, in x's order (torch's
        ``nn.Linear`` parameters: weight, then bias, layer by layer)."""
        from optbench.kernels.blocks import block_table
        shp = []
        for nin, nout in zip(self.sizes[:-1], self.sizes[1:]):
            shp += [(nout, nin), (nout,)]
        return block_table(shp)

    def flatten(self, layers) -> np.ndarray:
        """Inverse of :meth:`layers`: a list of (W, b) pairs to the flat parameter vector."""
        parts = []
        for (W, b), nin, nout in zip(layers, self.sizes[:-1], self.sizes[1:]):
            W, b = np.asarray(W, float), np.asarray(b, float)
            if W.shape != (nout, nin) or b.shape != (nout,):
                raise OptbenchInputError(f"problem mlp: layer shapes must be ({nout}, {nin}) and ({nout},)")
            parts += [W.ravel(), b]
        return np.concatenate(parts)

    def metric_names(self) -> list[str]:
        return ["train_accuracy", "val_loss", "val_accuracy"] + [
            f"grad_norm_layer{l + 1}" for l in range(len(self.sizes) - 1)]

    def metrics(self, x) -> dict:
        """The METRICS kernel's values at x, by name."""
        out = np.empty(len(self.metric_names()))
        self.metrics_kernel()(self._x(x), self.data, self.idata, out)
        return dict(zip(self.metric_names(), out.tolist()))

    @property
    def n_train(self) -> int:
        return int(self.idata[N.I_NTR])

    @property
    def steps_per_epoch(self) -> int:
        """Optimizer steps per epoch (1 full batch; n_train // batch with minibatches)."""
        b = self.p["batch"]
        return 1 if b == 0 else self.n_train // b

    def x0(self, seed: int = 0) -> np.ndarray:
        p = self.p
        r = rng(p["seed"], 511) if p["start"] == "standard" else rng(seed, 510, p["seed"])
        return _init(self.sizes, p["init"], p["init_std"], r)

    def x_standard(self):
        return _init(self.sizes, self.p["init"], self.p["init_std"], rng(self.p["seed"], 511))

    def init_box(self):
        return (-1.0, 1.0)

    @property
    def f_star(self):
        p = self.p
        if p["dataset"] != "teacher" or p["noise"] != 0.0 or p["l2"] != 0.0:
            return None
        if all(t <= s for t, s in zip(self.teacher_sizes, self.sizes)):
            return 0.0
        return None

    @property
    def x_star(self):
        if self.f_star is None or self.teacher_sizes != self.sizes:
            return None
        return self.teacher.copy()

    def cost(self):
        b = self.p["batch"]
        n = self.n_train
        per = f"O(B·d) time per gradient (B = {b})" if b else f"O(n·d) time per gradient (n = {n})"
        return per + ", O(n·(in + out) + d) memory; HVP O(n·d)"
