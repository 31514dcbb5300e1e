r"""Compiled kernels of the ``mlp`` family: forward pass, loss and backpropagation (FG, VALUE).

**Network.** L hidden layers and an output layer (``NL = L + 1`` weight layers). With
:math:`h_0` the input,

.. math::  z_l = W_l h_{l-1} + b_l,\qquad h_l = \sigma(z_l) + [\text{res}_l]\, h_{l-1}
           \quad (l = 1 \dots L),\qquad o = z_{L+1} = W_{L+1} h_L + b_{L+1}.

Loss of a sample with target y: mean squared error :math:`\tfrac12\lVert o - y\rVert^2` or
softmax cross-entropy :math:`\bigl(\sum_k y_k\bigr)\,\mathrm{lse}(o) - y^\top o` (one-hot y).
The objective is the mean over the training samples plus :math:`\tfrac{\lambda}{2}\sum_l
\lVert W_l\rVert_F^2` (weights only, biases not decayed).

**Backpropagation** (the dH, DZ, DW, Db recursion): :math:`\delta_{L+1} = \partial\ell/\partial
o`; for l = L+1 … 1: :math:`\partial W_l \mathrel{+}= \delta_l h_{l-1}^\top`,
:math:`\partial b_l \mathrel{+}= \delta_l`, :math:`g_{l-1} = W_l^\top \delta_l +
[\text{res}_l]\,g_l` (gradient w.r.t. :math:`h_{l-1}`), :math:`\delta_{l-1} = g_{l-1} \odot
\sigma'(z_{l-1})`. Hessian-vector product and metrics: :mod:`optbench.problems.mlp_hvp`.

**Tiles.** Samples go through the network ``TS = 4`` at a time (a tile; a short last tile is
padded with zero-weight copies of its last sample): every weight row is loaded once per tile,
and the scratch stays O(Σ widths). Within a tile, vectors are sample-major (sample s of a
layer's z at ``zoff + s*nout + i``). The scratch lives **inside data**, so two runs must not
share one data array concurrently (``Mlp.parallel_safe = False``).

**Layout.** ``x``: for each weight layer l = 1 … NL, :math:`W_l` row-major (out × in,
``W[i, k] = x[woff + i*nin + k]``, torch's ``nn.Linear.weight`` layout) then :math:`b_l`.
``data``: ``[λ, leaky slope, X_train, Y_train, X_val, Y_val, scratch]`` (rows of X, Y
contiguous); scratch: per layer z, h, Rz, Rh (TS·nout each); the input, target and weight
tiles; six work tiles of TS·M (M = max(widths, out)) and the softmax tile; a length-d gradient
buffer for the metrics; a transposed copy of each wide layer's W. ``idata``: the header below,
then ``LK`` ints per weight layer ``[nin, nout, woff, boff, zoff, hoff, rzoff, rhoff, res,
wtoff]`` (offsets into x and data; ``wtoff`` −1 for a layer without a transposed copy).

**Forward order.** Each z entry is the bias plus the sum over k = 0, 1, … of
:math:`W_{ik} h_k`, accumulated from 0.0 in that order; the bias is added last (addition
commutes: the same number as bias-first, up to the sign of an exact zero). A layer with at
least ``AXPY_MIN_OUT`` outputs computes it from :math:`W^\top` (``wtoff``: copied from x by
:func:`transpose_weights` at the start of every FG, VALUE, HVP and METRICS call), with the
outputs innermost — a loop the compiler vectorises; a narrower layer takes the dot-product
form (:func:`tile_mv`). Both give the same bits.

Cost: about 2d multiply-adds per sample forward (value), 6d forward + backward (gradient);
memory O(d + Σ widths) beyond the data set.
"""
from __future__ import annotations

import math

from optbench.kernels.compile import kernel

from .minibatch import batch_epoch, batch_start, perm_apply, perm_key
from .mlp_tiles import tile_axpy, tile_mtv, tile_mv, tile_outer

TS = 4  # samples per tile
# idata header
I_NL, I_ACT, I_LOSS, I_NTR, I_NVAL, I_IN, I_OUT, I_BATCH = range(8)
I_XTR, I_YTR, I_XVAL, I_YVAL, I_BUF, I_M, I_CLS, I_GBUF, I_DIM = range(8, 17)
I_XT, I_YT, I_WT = range(17, 20)
HDR = 20
LK = 10  # ints per layer record
AXPY_MIN_OUT = 32  # layers at least this wide compute z from a transposed copy of W (below)
# data header
D_L2, D_SLOPE = 0, 1
DHDR = 2
# work tiles: buffer c starts at data[idata[I_BUF] + c·TS·M]
B_GA, B_GB, B_DL, B_RGA, B_RGB, B_RDL, B_P = range(7)
ACTIVATIONS = ("relu", "leaky-relu", "sigmoid", "tanh")
LOSSES = ("mse", "cross-entropy")


@kernel
def act_f(z, kind, slope):
    """σ(z) for activation ``kind`` (index into ACTIVATIONS)."""
    if kind == 0:
        return z if z > 0.0 else 0.0
    if kind == 1:
        return z if z > 0.0 else slope * z
    if kind == 2:
        if z >= 0.0:
            return 1.0 / (1.0 + math.exp(-z))
        e = math.exp(z)
        return e / (1.0 + e)
    return math.tanh(z)


@kernel
def act_d1(z, kind, slope):
    """σ'(z) (ReLU: 0 at z = 0, as torch)."""
    if kind == 0:
        return 1.0 if z > 0.0 else 0.0
    if kind == 1:
        return 1.0 if z > 0.0 else slope
    if kind == 2:
        s = act_f(z, 2, slope)
        return s * (1.0 - s)
    t = math.tanh(z)
    return 1.0 - t * t


@kernel
def act_d2(z, kind, slope):
    """σ''(z) (0 for the piecewise-linear activations)."""
    if kind == 2:
        s = act_f(z, 2, slope)
        return s * (1.0 - s) * (1.0 - 2.0 * s)
    if kind == 3:
        t = math.tanh(z)
        return -2.0 * t * (1.0 - t * t)
    return 0.0


@kernel
def transpose_weights(x, data, idata):
    """Copy each wide layer's W (out × in, in x) to its Wᵀ (in × out, in data at wtoff)."""
    for l in range(idata[I_NL]):
        r = HDR + l * LK
        wto = idata[r + 9]
        if wto < 0:
            continue
        nin = idata[r]
        nout = idata[r + 1]
        wo = idata[r + 2]
        for k in range(nin):
            for i in range(nout):
                data[wto + k * nout + i] = x[wo + i * nin + k]


@kernel
def load_tile(data, idata, xb, yb, m, t0, n, kh, kl, start, shuffled):
    """Copy samples t0 … t0+3 (of m; positions start + t of the keyed permutation of n when
    shuffled) into the input and target tiles; weight 0 pads a short last tile."""
    nin = idata[I_IN]
    no = idata[I_OUT]
    for s in range(TS):
        t = t0 + s
        wgt = 1.0
        if t >= m:
            t = m - 1
            wgt = 0.0
        j = perm_apply(n, kh, kl, start + t) if shuffled else t
        data[idata[I_WT] + s] = wgt
        for k in range(nin):
            data[idata[I_XT] + s * nin + k] = data[xb + j * nin + k]
        for k in range(no):
            data[idata[I_YT] + s * no + k] = data[yb + j * no + k]


@kernel
def forward(x, data, idata):
    """z and h of every layer for the tile in the input tile."""
    nl = idata[I_NL]
    kind = idata[I_ACT]
    slope = data[D_SLOPE]
    src = idata[I_XT]
    for l in range(nl):
        r = HDR + l * LK
        nin = idata[r]
        nout = idata[r + 1]
        bo = idata[r + 3]
        zo = idata[r + 4]
        ho = idata[r + 5]
        wto = idata[r + 9]
        for q in range(TS * nout):
            data[zo + q] = 0.0
        if wto >= 0:
            tile_axpy(data, zo, data, wto, data, src, nout, nin)
        else:
            tile_mv(data, zo, x, idata[r + 2], data, src, nout, nin)
        for s in range(TS):
            for i in range(nout):
                data[zo + s * nout + i] += x[bo + i]
        if l < nl - 1:
            res = idata[r + 8] != 0
            for q in range(TS * nout):
                a = act_f(data[zo + q], kind, slope)
                if res:
                    a += data[src + q]
                data[ho + q] = a
        src = ho


@kernel
def out_loss(data, idata, need_d):
    """Σ_s w_s·ℓ_s over the tile (after ``forward``); with need_d, writes w_s·∂ℓ_s/∂o to the δ
    tile and (cross-entropy) the softmax to the p tile."""
    r = HDR + (idata[I_NL] - 1) * LK
    no = idata[r + 1]
    zo = idata[r + 4]
    dl = idata[I_BUF] + B_DL * TS * idata[I_M]
    po = idata[I_BUF] + B_P * TS * idata[I_M]
    ce = idata[I_LOSS] == 1
    f = 0.0
    for s in range(TS):
        oo = zo + s * no
        yo = idata[I_YT] + s * no
        wgt = data[idata[I_WT] + s]
        if not ce:
            e2 = 0.0
            for k in range(no):
                e = data[oo + k] - data[yo + k]
                e2 += e * e
                if need_d:
                    data[dl + s * no + k] = wgt * e
            f += wgt * 0.5 * e2
            continue
        m = data[oo]
        for k in range(1, no):
            m = max(m, data[oo + k])
        se = 0.0
        for k in range(no):
            se += math.exp(data[oo + k] - m)
        lse = m + math.log(se)
        sy = 0.0
        yz = 0.0
        for k in range(no):
            sy += data[yo + k]
            yz += data[yo + k] * data[oo + k]
        f += wgt * (sy * lse - yz)
        if need_d:
            for k in range(no):
                p = math.exp(data[oo + k] - lse)
                data[po + s * no + k] = p
                data[dl + s * no + k] = wgt * (sy * p - data[yo + k])
    return f


@kernel
def backward(x, g, go, data, idata):
    """Add the tile's gradient (δ tile holds w_s·∂ℓ_s/∂o) to g[go:go+d]."""
    nl = idata[I_NL]
    kind = idata[I_ACT]
    slope = data[D_SLOPE]
    tm = TS * idata[I_M]
    ga = idata[I_BUF] + B_GA * tm
    gb = idata[I_BUF] + B_GB * tm
    dl = idata[I_BUF] + B_DL * tm
    for l in range(nl - 1, -1, -1):
        r = HDR + l * LK
        nin = idata[r]
        nout = idata[r + 1]
        wo = idata[r + 2]
        bo = idata[r + 3]
        src = idata[I_XT] if l == 0 else idata[r - LK + 5]
        for i in range(nout):
            g[go + bo + i] += ((data[dl + i] + data[dl + nout + i]) + data[dl + 2 * nout + i]) \
                + data[dl + 3 * nout + i]
        tile_outer(g, go + wo, data, dl, data, src, nout, nin)
        if l > 0:
            res = idata[r + 8] != 0
            for q in range(TS * nin):
                data[gb + q] = data[ga + q] if res else 0.0
            tile_mtv(data, gb, x, wo, data, dl, nout, nin)
            zp = idata[r - LK + 4]
            for q in range(TS * nin):
                data[dl + q] = data[gb + q] * act_d1(data[zp + q], kind, slope)
            t = ga
            ga = gb
            gb = t


@kernel
def l2_term(x, g, go, data, idata, add):
    """½λ Σ‖W‖²; with add, also adds λ·W to the weight entries of g[go:]."""
    lam = data[D_L2]
    if lam == 0.0:
        return 0.0
    s = 0.0
    for l in range(idata[I_NL]):
        r = HDR + l * LK
        wo = idata[r + 2]
        for k in range(idata[r] * idata[r + 1]):
            w = x[wo + k]
            s += w * w
            if add:
                g[go + wo + k] += lam * w
    return 0.5 * lam * s


def mlp_fg(x, g, data, idata, seed, step):
    d = idata[I_DIM]
    transpose_weights(x, data, idata)
    for i in range(d):
        g[i] = 0.0
    n = idata[I_NTR]
    bs = idata[I_BATCH]
    m = n
    kh = 0
    kl = 0
    start = 0
    if bs > 0:
        m = bs
        kh, kl = perm_key(seed, batch_epoch(n, bs, step))
        start = batch_start(n, bs, step)
    f = 0.0
    for t0 in range(0, m, TS):
        load_tile(data, idata, idata[I_XTR], idata[I_YTR], m, t0, n, kh, kl, start, bs > 0)
        forward(x, data, idata)
        f += out_loss(data, idata, True)
        backward(x, g, 0, data, idata)
    inv = 1.0 / m
    for i in range(d):
        g[i] *= inv
    return f * inv + l2_term(x, g, 0, data, idata, True)


def mlp_value(x, data, idata):
    transpose_weights(x, data, idata)
    n = idata[I_NTR]
    f = 0.0
    for t0 in range(0, n, TS):
        load_tile(data, idata, idata[I_XTR], idata[I_YTR], n, t0, n, 0, 0, 0, False)
        forward(x, data, idata)
        f += out_loss(data, idata, False)
    return f / n + l2_term(x, x, 0, data, idata, False)
