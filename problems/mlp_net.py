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

**Tiles.** Samples go through the network ``TS = 32`` at a time (a tile; a shorter minibatch
or last tile computes only its nt samples), and the scratch stays O(TS·Σ widths). Within a
tile, vectors are **feature-major**: feature i of sample s of a layer's z at ``zoff + i*TS +
s``, so a tile's samples of one feature are contiguous and every product is one dense product
:func:`~optbench.problems.mlp_gemm.gemm` (in vector registers on the CPU): z = W h, ∂W += δ hᵀ
(:func:`outer_acc`: from a sample-major copy of h, or for a layer of fewer than 8 inputs of δ,
made in the backward pass), Wᵀδ. The minibatch's rows are found 32 at a time
(:func:`~optbench.problems.minibatch.perm_block`). The scratch lives **inside data**, so two
runs must not share one data array concurrently (``Mlp.parallel_safe = False``).

**Layout.** ``x``: for each weight layer l = 1 … NL, :math:`W_l` row-major (out × in,
``W[i, k] = x[woff + i*nin + k]``, torch's ``nn.Linear.weight`` layout) then :math:`b_l`.
``data``: ``[λ, leaky slope, X_train, Y_train, X_val, Y_val, scratch]`` (rows of X, Y
contiguous); scratch: per layer z, h, Rz, Rh (TS·nout each); the input and target tiles;
``N_BUF`` work tiles of TS·M (M = the widest layer, input included: gradients, δ, their R
forms, the softmax, the sample-major copy, a narrow layer's transposed ∂W); a length-d
gradient buffer for the metrics. ``idata``: the header below, then ``LK`` ints per weight
layer ``[nin, nout, woff, boff, zoff, hoff, rzoff, rhoff, res]`` (offsets into x and data).

**Summation order** (every product: :mod:`optbench.problems.mlp_gemm`). Each z entry is the
sum over k = 0, 1, … of :math:`W_{ik} h_k`, accumulated from 0.0 in that order, then the bias
(added last). Each entry of ∂W (and ∂b) adds the tile's sum over its samples s = 0, 1, …
(from 0.0, in that order) to the running gradient, tile after tile; Wᵀδ sums over the outputs
i = 0, 1, … the same way, then adds the residual branch's gradient. Every product is rounded
before it is added (no fused multiply-add): the CPU's vector form and the plain loops
(:func:`~optbench.problems.mlp_gemm.gemm_loops`) give the same bits.

Cost: about 2d multiply-adds per sample forward (value), 6d forward + backward (gradient);
memory O(d + Σ widths) beyond the data set.
"""
from __future__ import annotations

import math

from optbench.kernels.compile import kernel

from .minibatch import batch_epoch, batch_start, perm_bits, perm_block, perm_key, perm_round_keys
from .mlp_gemm import gemm

TS = 32  # samples per tile
# idata header
I_NL, I_ACT, I_LOSS, I_NTR, I_NVAL, I_IN, I_OUT, I_BATCH = range(8)
I_XTR, I_YTR, I_XVAL, I_YVAL, I_BUF, I_M, I_CLS, I_GBUF, I_DIM = range(8, 17)
I_XT, I_YT = range(17, 19)
HDR = 19
LK = 9  # ints per layer record
# data header
D_L2, D_SLOPE = 0, 1
DHDR = 2
# work tiles: buffer c starts at data[idata[I_BUF] + c·TS·M]; B_T holds a sample-major copy,
# B_C the transposed ∂W of a narrow layer (outer_acc)
B_GA, B_GB, B_DL, B_RGA, B_RGB, B_RDL, B_P, B_T, B_C = range(9)
N_BUF = 9
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
def sample_major(data, to, src, n, nt):
    """data[to + s·n + i] = data[src + i·TS + s] (s < nt): a tile's n-feature vector,
    sample-major (the rows of the B operand of ∂W += δ hᵀ)."""
    for s in range(nt):                         # strided loads, contiguous stores: the
        v = data[src + s:src + s + (n - 1) * TS + 1]    # faster order of the two
        o = data[to + s * n:to + s * n + n]
        for i in range(n):
            o[i] = v[i * TS]


@kernel
def outer_acc(g, go, data, dl, src, nin, nout, nt, bt, bc, keep):
    """g[go + i·nin + k] += Σ_{s<nt} data[dl + i·TS + s]·data[src + k·TS + s] (∂W += δ hᵀ of a
    tile; each sum from 0.0 in the order s = 0, 1, …, then added; stored when keep is 0: the
    first tile needs no zeroed gradient). The product needs its
    columns' operand sample-major: h (copied to bt) when the layer has 8 or more inputs; for a
    narrower one δ instead, and the transposed product (rows of outputs, which vectorise)
    goes through bc and is added in place."""
    if nin >= 8:
        sample_major(data, bt, src, nin, nt)
        gemm(g, go, nin, data, dl, TS, 1, data, bt, nin, nt, nout, nin, keep)
        return
    sample_major(data, bt, dl, nout, nt)
    gemm(data, bc, nout, data, src, TS, 1, data, bt, nout, nt, nin, nout, 0)
    for k in range(nin):
        for i in range(nout):
            q = go + i * nin + k
            g[q] = g[q] + data[bc + k * nout + i] if keep else data[bc + k * nout + i]


@kernel
def bias_sum(g, go, data, dl, n, nt, keep):
    """g[go + i] += Σ_{s<nt} data[dl + i·TS + s] (the tile's sum from 0.0, s = 0, 1, …; stored
    when keep is 0)."""
    for i in range(n):
        v = data[dl + i * TS:dl + i * TS + nt]
        t = 0.0
        for s in range(nt):
            t += v[s]
        g[go + i] = g[go + i] + t if keep else t


@kernel
def load_tile(data, idata, xb, yb, m, t0, n, kh, kl, start, shuffled):
    """Copy samples t0 … t0+nt−1 (of m, nt = min(TS, m − t0); positions start + t of the keyed
    permutation of n when shuffled) into the input and target tiles (feature-major); returns
    nt. A short tile leaves its last TS − nt columns unused."""
    nin = idata[I_IN]
    no = idata[I_OUT]
    xt = idata[I_XT]
    yt = idata[I_YT]
    nt = min(TS, m - t0)
    rows = idata[I_BUF] + B_T * TS * idata[I_M]       # the samples' rows, as floats
    if shuffled and n > 1:
        perm_block(data, rows, n, perm_bits(n), perm_round_keys(kh, kl), start + t0, nt)
    for s in range(nt):
        j = int(data[rows + s]) if shuffled and n > 1 else t0 + s
        for k in range(nin):
            data[xt + k * TS + s] = data[xb + j * nin + k]
        for k in range(no):
            data[yt + k * TS + s] = data[yb + j * no + k]
    return nt


@kernel
def forward(x, data, idata, nt):
    """z and h of every layer for the nt samples in the input tile."""
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
        gemm(data, zo, TS, x, idata[r + 2], nin, 1, data, src, TS, nin, nout, nt, 0)
        for i in range(nout):
            b = x[bo + i]
            zv = data[zo + i * TS:zo + i * TS + nt]   # a view: its index needs no sign check
            for s in range(nt):
                zv[s] += b
        if l < nl - 1:
            res = idata[r + 8] != 0
            if nt == TS:                            # a full tile: one loop over the layer
                act_pass(data, zo, ho, src, nout * TS, kind, slope, res)
            else:
                for i in range(nout):
                    q = i * TS
                    act_pass(data, zo + q, ho + q, src + q, nt, kind, slope, res)
        src = ho


@kernel
def out_loss(data, idata, nt, need_d):
    """Σ_s ℓ_s over the tile's nt samples (after ``forward``); with need_d, writes ∂ℓ_s/∂o to
    the δ tile and (cross-entropy) the softmax to the p tile."""
    r = HDR + (idata[I_NL] - 1) * LK
    no = idata[r + 1]
    zo = idata[r + 4]
    dl = idata[I_BUF] + B_DL * TS * idata[I_M]
    po = idata[I_BUF] + B_P * TS * idata[I_M]
    yt = idata[I_YT]
    ce = idata[I_LOSS] == 1
    f = 0.0
    for s in range(nt):
        if not ce:
            e2 = 0.0
            for k in range(no):
                e = data[zo + k * TS + s] - data[yt + k * TS + s]
                e2 += e * e
                if need_d:
                    data[dl + k * TS + s] = e
            f += 0.5 * e2
            continue
        m = data[zo + s]
        for k in range(1, no):
            m = max(m, data[zo + k * TS + s])
        se = 0.0
        for k in range(no):
            u = data[zo + k * TS + s] - m
            e = 1.0 if u == 0.0 else math.exp(u)    # exp(0) = 1 exactly: one call saved
            if need_d:
                data[po + k * TS + s] = e
            se += e
        lse = m + math.log(se)
        sy = 0.0
        yz = 0.0
        for k in range(no):
            sy += data[yt + k * TS + s]
            yz += data[yt + k * TS + s] * data[zo + k * TS + s]
        f += sy * lse - yz
        if need_d:
            for k in range(no):
                p = data[po + k * TS + s] / se
                data[po + k * TS + s] = p
                data[dl + k * TS + s] = sy * p - data[yt + k * TS + s]
    return f


@kernel
def act_pass(data, zo, ho, so, n, kind, slope, res):
    """h = σ(z) (+ the layer's input h_in when res) over n contiguous entries."""
    zv = data[zo:zo + n]
    hv = data[ho:ho + n]
    if kind == 0 and not res:                   # ReLU: a loop the compiler vectorises
        for q in range(n):
            hv[q] = act_f(zv[q], 0, slope)
        return
    sv = data[so:so + n]
    for q in range(n):
        a = act_f(zv[q], kind, slope)
        if res:
            a += sv[q]
        hv[q] = a


@kernel
def delta_pass(data, gb, ga, dl, zp, n, kind, slope, res):
    """Over n contiguous entries: gb += ga when res, then δ = gb ⊙ σ'(z) into dl."""
    gv = data[gb:gb + n]
    dv = data[dl:dl + n]
    zv = data[zp:zp + n]
    if kind == 0 and not res:                   # ReLU: a loop the compiler vectorises
        for q in range(n):
            dv[q] = gv[q] * act_d1(zv[q], 0, slope)
        return
    av = data[ga:ga + n]
    for q in range(n):
        a = gv[q]
        if res:
            a += av[q]
            gv[q] = a
        dv[q] = a * act_d1(zv[q], kind, slope)


@kernel
def delta_below(data, idata, l, gb, ga, dl, nt):
    """Below weight layer l (> 0), after gb = Wᵀδ: gb += ga (a residual layer: the gradient
    w.r.t. its input), then δ = gb ⊙ σ'(z) of the layer below, into dl."""
    r = HDR + l * LK
    nin = idata[r]
    kind = idata[I_ACT]
    slope = data[D_SLOPE]
    res = idata[r + 8] != 0
    zp = idata[r - LK + 4]
    if nt == TS:                                # a full tile: one loop over the layer
        delta_pass(data, gb, ga, dl, zp, nin * TS, kind, slope, res)
        return
    for i in range(nin):
        q = i * TS
        delta_pass(data, gb + q, ga + q, dl + q, zp + q, nt, kind, slope, res)


@kernel
def backward(x, g, go, data, idata, nt, keep):
    """Add the gradient of the tile's nt samples (δ tile holds ∂ℓ_s/∂o) to g[go:go+d] (store it
    there when keep is 0: every entry is written, so the first tile needs no zeroed g)."""
    nl = idata[I_NL]
    tm = TS * idata[I_M]
    ga = idata[I_BUF] + B_GA * tm
    gb = idata[I_BUF] + B_GB * tm
    dl = idata[I_BUF] + B_DL * tm
    bt = idata[I_BUF] + B_T * tm
    bc = idata[I_BUF] + B_C * tm
    for l in range(nl - 1, -1, -1):
        r = HDR + l * LK
        nin = idata[r]
        nout = idata[r + 1]
        wo = idata[r + 2]
        src = idata[I_XT] if l == 0 else idata[r - LK + 5]
        bias_sum(g, go + idata[r + 3], data, dl, nout, nt, keep)
        outer_acc(g, go + wo, data, dl, src, nin, nout, nt, bt, bc, keep)           # δ hᵀ
        if l > 0:
            gemm(data, gb, TS, x, wo, 1, nin, data, dl, TS, nout, nin, nt, 0)      # Wᵀδ
            delta_below(data, idata, l, gb, ga, dl, nt)
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
        nt = load_tile(data, idata, idata[I_XTR], idata[I_YTR], m, t0, n, kh, kl, start, bs > 0)
        forward(x, data, idata, nt)
        f += out_loss(data, idata, nt, True)
        backward(x, g, 0, data, idata, nt, 1 if t0 > 0 else 0)
    inv = 1.0 / m
    for i in range(d):
        g[i] *= inv
    return f * inv + l2_term(x, g, 0, data, idata, True)


def mlp_value(x, data, idata):
    n = idata[I_NTR]
    f = 0.0
    for t0 in range(0, n, TS):
        nt = load_tile(data, idata, idata[I_XTR], idata[I_YTR], n, t0, n, 0, 0, 0, False)
        forward(x, data, idata, nt)
        f += out_loss(data, idata, nt, False)
    return f / n + l2_term(x, x, 0, data, idata, False)
