r"""Exact Hessian-vector product and recording-only metrics of the ``mlp`` family
(same data layout and scratch as :mod:`optbench.problems.mlp_net`).

**Hessian-vector product**: the same two passes differentiated along the direction v
(:math:`R\{\cdot\} = \tfrac{d}{dr}\cdot(x + r v)|_{r=0}`): :math:`Rz_l = V_l h_{l-1} + W_l
Rh_{l-1} + v_{b_l}`, :math:`Rh_l = \sigma'(z_l) Rz_l + [\text{res}_l] Rh_{l-1}`;
:math:`R\delta_{L+1} = \nabla^2_o\ell\; Ro` (MSE: Ro; cross-entropy: :math:`(\sum y)\, p \odot
(Ro - p^\top Ro)`, p = softmax(o)); :math:`R\partial W_l = R\delta_l h_{l-1}^\top + \delta_l
Rh_{l-1}^\top`, :math:`Rg_{l-1} = V_l^\top\delta_l + W_l^\top R\delta_l + [\text{res}_l]
Rg_l`, :math:`R\delta_{l-1} = Rg_{l-1}\odot\sigma'(z_{l-1}) + g_{l-1}\odot\sigma''(z_{l-1})
Rz_{l-1}`. Source: Pearlmutter, *Fast exact multiplication by the Hessian*, Neural
Computation 6 (1994) 147–160.

Computed tile by tile like the gradient. HVP cost per sample: about 14d multiply-adds
(forward, R-forward, backward, R-backward);
the dense Hessian is assembled from d HVPs by the base class (O(n·d²)).

**Metrics** ``mlp_metrics(x, data, idata, out)``: ``out = [train accuracy, validation loss,
validation accuracy, ‖∇_{(W_l, b_l)} f‖ for l = 1 … NL]`` — one full-batch pass with the
gradient accumulated in the length-d buffer of ``data``, and one forward pass over the
validation set. Accuracies are NaN for regression, validation entries NaN without data.
"""
from __future__ import annotations

import math

from optbench.kernels.compile import kernel

from .mlp_net import (B_DL, B_GA, B_GB, B_P, B_RDL, B_RGA, B_RGB, D_L2, D_SLOPE, HDR, I_ACT, I_BUF,
                      I_CLS, I_DIM, I_GBUF, I_LOSS, I_M, I_NL, I_NTR, I_NVAL, I_WT, I_XT,
                      I_XTR, I_XVAL, I_YT, I_YTR, I_YVAL, LK, TS, act_d1, act_d2, backward, forward,
                      l2_term, load_tile, out_loss, transpose_weights)
from .mlp_tiles import tile_mtv, tile_mv, tile_outer


@kernel
def r_forward(x, v, data, idata):
    """Rz and Rh of every layer (after ``forward`` of the same tile)."""
    nl = idata[I_NL]
    kind = idata[I_ACT]
    slope = data[D_SLOPE]
    src = idata[I_XT]
    for l in range(nl):
        r = HDR + l * LK
        nin = idata[r]
        nout = idata[r + 1]
        wo = idata[r + 2]
        bo = idata[r + 3]
        zo = idata[r + 4]
        rzo = idata[r + 6]
        for s in range(TS):
            for i in range(nout):
                data[rzo + s * nout + i] = v[bo + i]
        tile_mv(data, rzo, v, wo, data, src, nout, nin)
        if l > 0:
            tile_mv(data, rzo, x, wo, data, idata[r - LK + 7], nout, nin)
        if l < nl - 1:
            res = idata[r + 8] != 0
            rsrc = idata[r - LK + 7]
            rho = idata[r + 7]
            for q in range(TS * nout):
                a = act_d1(data[zo + q], kind, slope) * data[rzo + q]
                if res:
                    a += data[rsrc + q]
                data[rho + q] = a
        src = idata[r + 5]


@kernel
def r_out(data, idata):
    """Rδ tile = w_s·∇²_o ℓ_s · Ro_s (after ``out_loss(…, True)`` and ``r_forward``)."""
    r = HDR + (idata[I_NL] - 1) * LK
    no = idata[r + 1]
    ro = idata[r + 6]
    tm = TS * idata[I_M]
    rdl = idata[I_BUF] + B_RDL * tm
    po = idata[I_BUF] + B_P * tm
    for s in range(TS):
        wgt = data[idata[I_WT] + s]
        if idata[I_LOSS] == 0:
            for k in range(no):
                data[rdl + s * no + k] = wgt * data[ro + s * no + k]
            continue
        sy = 0.0
        pr = 0.0
        for k in range(no):
            sy += data[idata[I_YT] + s * no + k]
            pr += data[po + s * no + k] * data[ro + s * no + k]
        for k in range(no):
            data[rdl + s * no + k] = wgt * sy * data[po + s * no + k] * (data[ro + s * no + k] - pr)


@kernel
def r_backward(x, v, out, data, idata):
    """Add the tile's H·v to out (after ``out_loss(…, True)`` and ``r_out``)."""
    nl = idata[I_NL]
    kind = idata[I_ACT]
    slope = data[D_SLOPE]
    tm = TS * idata[I_M]
    buf = idata[I_BUF]
    ga = buf + B_GA * tm
    gb = buf + B_GB * tm
    dl = buf + B_DL * tm
    rga = buf + B_RGA * tm
    rgb = buf + B_RGB * tm
    rdl = buf + B_RDL * tm
    for l in range(nl - 1, -1, -1):
        r = HDR + l * LK
        nin = idata[r]
        nout = idata[r + 1]
        wo = idata[r + 2]
        bo = idata[r + 3]
        src = idata[I_XT] if l == 0 else idata[r - LK + 5]
        for i in range(nout):
            for s in range(TS):
                out[bo + i] += data[rdl + s * nout + i]
        tile_outer(out, wo, data, rdl, data, src, nout, nin)                # Rδ hᵀ
        if l > 0:
            res = idata[r + 8] != 0
            for q in range(TS * nin):
                data[gb + q] = data[ga + q] if res else 0.0
                data[rgb + q] = data[rga + q] if res else 0.0
            tile_outer(out, wo, data, dl, data, idata[r - LK + 7], nout, nin)   # δ Rhᵀ
            tile_mtv(data, gb, x, wo, data, dl, nout, nin)                      # Wᵀδ
            tile_mtv(data, rgb, x, wo, data, rdl, nout, nin)                    # WᵀRδ
            tile_mtv(data, rgb, v, wo, data, dl, nout, nin)                     # Vᵀδ
            zp = idata[r - LK + 4]
            rzp = idata[r - LK + 6]
            for q in range(TS * nin):
                z = data[zp + q]
                a1 = act_d1(z, kind, slope)
                data[dl + q] = data[gb + q] * a1
                data[rdl + q] = data[rgb + q] * a1 + data[gb + q] * act_d2(z, kind, slope) \
                    * data[rzp + q]
            t = ga
            ga = gb
            gb = t
            t = rga
            rga = rgb
            rgb = t


def mlp_hvp(x, v, out, data, idata):
    d = idata[I_DIM]
    transpose_weights(x, data, idata)
    for i in range(d):
        out[i] = 0.0
    n = idata[I_NTR]
    for t0 in range(0, n, TS):
        load_tile(data, idata, idata[I_XTR], idata[I_YTR], n, t0, n, 0, 0, 0, False)
        forward(x, data, idata)
        out_loss(data, idata, True)
        r_forward(x, v, data, idata)
        r_out(data, idata)
        r_backward(x, v, out, data, idata)
    lam = data[D_L2]
    for i in range(d):
        out[i] /= n
    if lam != 0.0:
        for l in range(idata[I_NL]):
            r = HDR + l * LK
            wo = idata[r + 2]
            for k in range(idata[r] * idata[r + 1]):
                out[wo + k] += lam * v[wo + k]


@kernel
def n_correct(data, idata):
    """Σ_s w_s·[argmax o_s = argmax y_s] over the tile (first maximum)."""
    r = HDR + (idata[I_NL] - 1) * LK
    no = idata[r + 1]
    c = 0.0
    for s in range(TS):
        oo = idata[r + 4] + s * no
        yo = idata[I_YT] + s * no
        ko = 0
        ky = 0
        for k in range(1, no):
            if data[oo + k] > data[oo + ko]:
                ko = k
            if data[yo + k] > data[yo + ky]:
                ky = k
        if ko == ky:
            c += data[idata[I_WT] + s]
    return c


def mlp_metrics(x, data, idata, out):
    """out = [train accuracy, validation loss, validation accuracy, ‖∇_{layer l} f‖ (l = 1 … NL)]
    (accuracies NaN for regression, validation entries NaN without a validation set)."""
    nl = idata[I_NL]
    d = idata[I_DIM]
    gbo = idata[I_GBUF]
    cls = idata[I_CLS] != 0
    transpose_weights(x, data, idata)
    for i in range(d):
        data[gbo + i] = 0.0
    n = idata[I_NTR]
    acc = 0.0
    for t0 in range(0, n, TS):
        load_tile(data, idata, idata[I_XTR], idata[I_YTR], n, t0, n, 0, 0, 0, False)
        forward(x, data, idata)
        out_loss(data, idata, True)
        backward(x, data, gbo, data, idata)
        if cls:
            acc += n_correct(data, idata)
    for i in range(d):
        data[gbo + i] /= n
    l2_term(x, data, gbo, data, idata, True)
    nv = idata[I_NVAL]
    vl = 0.0
    vacc = 0.0
    for t0 in range(0, nv, TS):
        load_tile(data, idata, idata[I_XVAL], idata[I_YVAL], nv, t0, nv, 0, 0, 0, False)
        forward(x, data, idata)
        vl += out_loss(data, idata, False)
        if cls:
            vacc += n_correct(data, idata)
    nan = math.nan
    out[0] = acc / n if cls else nan
    out[1] = vl / nv if nv > 0 else nan
    out[2] = vacc / nv if (cls and nv > 0) else nan
    for l in range(nl):
        r = HDR + l * LK
        s = 0.0
        for k in range(idata[r] * idata[r + 1] + idata[r + 1]):
            gk = data[gbo + idata[r + 2] + k]
            s += gk * gk
        out[3 + l] = math.sqrt(s)
