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

from .mlp_gemm import gemm
from .mlp_net import (B_C, B_DL, B_GA, B_GB, B_P, B_RDL, B_RGA, B_RGB, B_T, D_L2, D_SLOPE, HDR,
                      I_ACT, I_BUF, I_CLS, I_DIM, I_GBUF, I_LOSS, I_M, I_NL, I_NTR, I_NVAL, I_XT,
                      I_XTR, I_XVAL, I_YT, I_YTR, I_YVAL, LK, TS, act_d1, act_d2, backward,
                      bias_sum, forward, l2_term, load_tile, out_loss, outer_acc)


@kernel
def r_forward(x, v, data, idata, nt):
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
        for i in range(nout):
            for s in range(nt):
                data[rzo + i * TS + s] = v[bo + i]
        gemm(data, rzo, TS, v, wo, nin, 1, data, src, TS, nin, nout, nt, 1)          # V h
        if l > 0:
            gemm(data, rzo, TS, x, wo, nin, 1, data, idata[r - LK + 7], TS, nin, nout, nt, 1)
        if l < nl - 1:
            res = idata[r + 8] != 0
            rsrc = idata[r - LK + 7]
            rho = idata[r + 7]
            for i in range(nout):
                for q in range(i * TS, i * TS + nt):
                    a = act_d1(data[zo + q], kind, slope) * data[rzo + q]
                    if res:
                        a += data[rsrc + q]
                    data[rho + q] = a
        src = idata[r + 5]


@kernel
def r_out(data, idata, nt):
    """Rδ tile = ∇²_o ℓ_s · Ro_s (after ``out_loss(…, True)`` and ``r_forward``)."""
    r = HDR + (idata[I_NL] - 1) * LK
    no = idata[r + 1]
    ro = idata[r + 6]
    tm = TS * idata[I_M]
    rdl = idata[I_BUF] + B_RDL * tm
    po = idata[I_BUF] + B_P * tm
    yt = idata[I_YT]
    for s in range(nt):
        if idata[I_LOSS] == 0:
            for k in range(no):
                data[rdl + k * TS + s] = data[ro + k * TS + s]
            continue
        sy = 0.0
        pr = 0.0
        for k in range(no):
            sy += data[yt + k * TS + s]
            pr += data[po + k * TS + s] * data[ro + k * TS + s]
        for k in range(no):
            q = k * TS + s
            data[rdl + q] = sy * data[po + q] * (data[ro + q] - pr)


@kernel
def r_backward(x, v, out, data, idata, nt):
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
    bt = buf + B_T * tm
    bc = buf + B_C * tm
    for l in range(nl - 1, -1, -1):
        r = HDR + l * LK
        nin = idata[r]
        nout = idata[r + 1]
        wo = idata[r + 2]
        src = idata[I_XT] if l == 0 else idata[r - LK + 5]
        bias_sum(out, idata[r + 3], data, rdl, nout, nt, 1)
        outer_acc(out, wo, data, rdl, src, nin, nout, nt, bt, bc, 1)                # Rδ hᵀ
        if l > 0:
            res = idata[r + 8] != 0
            outer_acc(out, wo, data, dl, idata[r - LK + 7], nin, nout, nt, bt, bc, 1)   # δRhᵀ
            gemm(data, gb, TS, x, wo, 1, nin, data, dl, TS, nout, nin, nt, 0)       # Wᵀδ
            gemm(data, rgb, TS, x, wo, 1, nin, data, rdl, TS, nout, nin, nt, 0)     # WᵀRδ
            gemm(data, rgb, TS, v, wo, 1, nin, data, dl, TS, nout, nin, nt, 1)      # + Vᵀδ
            zp = idata[r - LK + 4]
            rzp = idata[r - LK + 6]
            for i in range(nin):
                for q in range(i * TS, i * TS + nt):
                    if res:
                        data[gb + q] += data[ga + q]
                        data[rgb + q] += data[rga + q]
                    z = data[zp + q]
                    a1 = act_d1(z, kind, slope)
                    data[dl + q] = data[gb + q] * a1
                    data[rdl + q] = data[rgb + q] * a1 + data[gb + q] \
                        * act_d2(z, kind, slope) * data[rzp + q]
            t = ga
            ga = gb
            gb = t
            t = rga
            rga = rgb
            rgb = t


def mlp_hvp(x, v, out, data, idata):
    d = idata[I_DIM]
    for i in range(d):
        out[i] = 0.0
    n = idata[I_NTR]
    for t0 in range(0, n, TS):
        nt = load_tile(data, idata, idata[I_XTR], idata[I_YTR], n, t0, n, 0, 0, 0, False)
        forward(x, data, idata, nt)
        out_loss(data, idata, nt, True)
        r_forward(x, v, data, idata, nt)
        r_out(data, idata, nt)
        r_backward(x, v, out, data, idata, nt)
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
def n_correct(data, idata, nt):
    """Σ_s [argmax o_s = argmax y_s] over the tile's nt samples (first maximum)."""
    r = HDR + (idata[I_NL] - 1) * LK
    no = idata[r + 1]
    c = 0.0
    for s in range(nt):
        oo = idata[r + 4] + s
        yo = idata[I_YT] + s
        ko = 0
        ky = 0
        for k in range(1, no):
            if data[oo + k * TS] > data[oo + ko * TS]:
                ko = k
            if data[yo + k * TS] > data[yo + ky * TS]:
                ky = k
        if ko == ky:
            c += 1.0
    return c


def mlp_metrics(x, data, idata, out):
    """out = [train accuracy, validation loss, validation accuracy, ‖∇_{layer l} f‖ (l = 1 … NL)]
    (accuracies NaN for regression, validation entries NaN without a validation set)."""
    nl = idata[I_NL]
    d = idata[I_DIM]
    gbo = idata[I_GBUF]
    cls = idata[I_CLS] != 0
    for i in range(d):
        data[gbo + i] = 0.0
    n = idata[I_NTR]
    acc = 0.0
    for t0 in range(0, n, TS):
        nt = load_tile(data, idata, idata[I_XTR], idata[I_YTR], n, t0, n, 0, 0, 0, False)
        forward(x, data, idata, nt)
        out_loss(data, idata, nt, True)
        backward(x, data, gbo, data, idata, nt, 1)
        if cls:
            acc += n_correct(data, idata, nt)
    for i in range(d):
        data[gbo + i] /= n
    l2_term(x, data, gbo, data, idata, True)
    nv = idata[I_NVAL]
    vl = 0.0
    vacc = 0.0
    for t0 in range(0, nv, TS):
        nt = load_tile(data, idata, idata[I_XVAL], idata[I_YVAL], nv, t0, nv, 0, 0, 0, False)
        forward(x, data, idata, nt)
        vl += out_loss(data, idata, nt, False)
        if cls:
            vacc += n_correct(data, idata, nt)
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
