"""Dense products over a tile of TS = 4 samples, the arithmetic of the ``mlp`` kernels
(:mod:`optbench.problems.mlp_net`): z += W h (as dot products, or from Wᵀ with the outputs
innermost), ∂W += δ hᵀ and Wᵀδ. Vectors are sample-major (sample s of a layer's vector at
``offset + s·n``); each sum runs in the order k = 0, 1, … .
"""
from __future__ import annotations

from optbench.kernels.compile import kernel


@kernel
def tile_mv(out, oo, w, wo, h, ho, nout, nin):
    """out[oo + s·nout + i] += Σ_k w[wo + i·nin + k]·h[ho + s·nin + k] for the TS = 4 samples
    s of a tile and i < nout: 4 rows × 4 samples per pass (16 independent sums, each in the
    order k = 0, 1, …), contiguous views so no index needs a sign check."""
    h0 = h[ho:ho + nin]
    h1 = h[ho + nin:ho + 2 * nin]
    h2 = h[ho + 2 * nin:ho + 3 * nin]
    h3 = h[ho + 3 * nin:ho + 4 * nin]
    n4 = nout - nout % 4
    for i in range(n4, nout):
        wv = w[wo + i * nin:wo + (i + 1) * nin]
        a0 = 0.0
        a1 = 0.0
        a2 = 0.0
        a3 = 0.0
        for k in range(nin):
            c = wv[k]
            a0 += c * h0[k]
            a1 += c * h1[k]
            a2 += c * h2[k]
            a3 += c * h3[k]
        out[oo + i] += a0
        out[oo + nout + i] += a1
        out[oo + 2 * nout + i] += a2
        out[oo + 3 * nout + i] += a3
    for i in range(0, n4, 4):
        a = wo + i * nin
        w0 = w[a:a + nin]
        w1 = w[a + nin:a + 2 * nin]
        w2 = w[a + 2 * nin:a + 3 * nin]
        w3 = w[a + 3 * nin:a + 4 * nin]
        a00 = a01 = a02 = a03 = a10 = a11 = a12 = a13 = 0.0
        a20 = a21 = a22 = a23 = a30 = a31 = a32 = a33 = 0.0
        for k in range(nin):
            x0 = h0[k]
            x1 = h1[k]
            x2 = h2[k]
            x3 = h3[k]
            c = w0[k]
            a00 += c * x0
            a01 += c * x1
            a02 += c * x2
            a03 += c * x3
            c = w1[k]
            a10 += c * x0
            a11 += c * x1
            a12 += c * x2
            a13 += c * x3
            c = w2[k]
            a20 += c * x0
            a21 += c * x1
            a22 += c * x2
            a23 += c * x3
            c = w3[k]
            a30 += c * x0
            a31 += c * x1
            a32 += c * x2
            a33 += c * x3
        out[oo + i] += a00
        out[oo + i + 1] += a10
        out[oo + i + 2] += a20
        out[oo + i + 3] += a30
        out[oo + nout + i] += a01
        out[oo + nout + i + 1] += a11
        out[oo + nout + i + 2] += a21
        out[oo + nout + i + 3] += a31
        out[oo + 2 * nout + i] += a02
        out[oo + 2 * nout + i + 1] += a12
        out[oo + 2 * nout + i + 2] += a22
        out[oo + 2 * nout + i + 3] += a32
        out[oo + 3 * nout + i] += a03
        out[oo + 3 * nout + i + 1] += a13
        out[oo + 3 * nout + i + 2] += a23
        out[oo + 3 * nout + i + 3] += a33


@kernel
def tile_axpy(out, oo, wt, wto, h, ho, nout, nin):
    """out[oo + s·nout + i] += Σ_k wt[wto + k·nout + i]·h[ho + s·nin + k] for the TS = 4
    samples s of a tile (wt: Wᵀ, nin × nout): one pass over the rows of Wᵀ, each scaled into
    the four output rows (outputs innermost: vector loads and stores), each sum in the order
    k = 0, 1, …"""
    o0 = out[oo:oo + nout]
    o1 = out[oo + nout:oo + 2 * nout]
    o2 = out[oo + 2 * nout:oo + 3 * nout]
    o3 = out[oo + 3 * nout:oo + 4 * nout]
    for k in range(nin):
        x0 = h[ho + k]
        x1 = h[ho + nin + k]
        x2 = h[ho + 2 * nin + k]
        x3 = h[ho + 3 * nin + k]
        wv = wt[wto + k * nout:wto + (k + 1) * nout]
        for i in range(nout):
            c = wv[i]
            o0[i] += c * x0
            o1[i] += c * x1
            o2[i] += c * x2
            o3[i] += c * x3


@kernel
def tile_outer(g, gwo, d, do, h, ho, nout, nin):
    """g[gwo + i·nin + k] += Σ_s d[do + s·nout + i]·h[ho + s·nin + k]  (∂W += Σ_s δ_s h_sᵀ)."""
    h0 = h[ho:ho + nin]
    h1 = h[ho + nin:ho + 2 * nin]
    h2 = h[ho + 2 * nin:ho + 3 * nin]
    h3 = h[ho + 3 * nin:ho + 4 * nin]
    for i in range(nout):
        d0 = d[do + i]
        d1 = d[do + nout + i]
        d2 = d[do + 2 * nout + i]
        d3 = d[do + 3 * nout + i]
        gv = g[gwo + i * nin:gwo + (i + 1) * nin]
        for k in range(nin):
            gv[k] += ((d0 * h0[k] + d1 * h1[k]) + d2 * h2[k]) + d3 * h3[k]


@kernel
def tile_mtv(gh, gho, w, wo, d, do, nout, nin):
    """gh[gho + s·nin + k] += Σ_i d[do + s·nout + i]·w[wo + i·nin + k]  (Wᵀδ_s, each sample)."""
    g0 = gh[gho:gho + nin]
    g1 = gh[gho + nin:gho + 2 * nin]
    g2 = gh[gho + 2 * nin:gho + 3 * nin]
    g3 = gh[gho + 3 * nin:gho + 4 * nin]
    for i in range(nout):
        d0 = d[do + i]
        d1 = d[do + nout + i]
        d2 = d[do + 2 * nout + i]
        d3 = d[do + 3 * nout + i]
        wv = w[wo + i * nin:wo + (i + 1) * nin]
        for k in range(nin):
            c = wv[k]
            g0[k] += d0 * c
            g1[k] += d1 * c
            g2[k] += d2 * c
            g3[k] += d3 * c
