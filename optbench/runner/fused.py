"""The fused large-d run loop for separable problems.

A separable problem exposes an elementwise kernel ``EFG(xi, data, idata, i) -> (f_i, g_i)``.
For it the run loop does one parallel pass per step over the coordinates: gradient of x_t[i],
clipping and weight decay, the optimizer's ``ELEM`` update to x_{t+1}[i], and the value and
gradient at x_{t+1}[i] for the next step's bookkeeping (recomputed, not stored: the pass moves
only x, the optimizer state and the problem data — memory traffic is what limits large d).
Norm clipping uses ‖∇f(x_t)‖ from the previous pass. Bookkeeping (targets, divergence,
trace) is the same code as the generic loop's. f, ‖∇f‖² and ‖x − x*‖² are summed per block
of BLOCK coordinates in a fixed order, then over blocks in order: bit-identical for any
number of threads, though not to the generic loop's serial sum (last bits).

The driver is a template specialised per (problem family, optimizer family) by binding EFG,
PREP and ELEM to compiled kernels (and PASS, the step's parallel pass, to ``fused_pass`` bound
to the same); each specialisation has its own name, so it is cached on disk.
"""
from __future__ import annotations

import math

import numpy as np
from numba import prange, types

from optbench.kernels import compile as kc
from optbench.kernels import signatures as S
from optbench.kernels.clock import _readcyclecounter
from optbench.kernels.compile import kernel, placeholder, template
from optbench.kernels.slots import SC_LR
from optbench.optimizers.base import ELEM, PREP

from . import loop as L
from .grad_norm import tree8
from .loop import (book_finish, book_start, bookkeep, is_record_step,  # noqa: F401 (kernels)
                   modified_grad, step_scalars)

EFG = placeholder("EFG")     # the problem's elementwise (f_i, g_i), bound per problem
PASS = placeholder("PASS")   # fused_pass bound for the pair, called by fused_run

FUSED_SIG = types.void(
    S.A, S.A2, S.A, S.A, S.A, S.IA, S.A, types.int64, S.A, types.int64,   # x st sc hy data idata ctl skind sp n
    S.A, S.A, S.A, S.IA, S.IA, S.IA, types.float64[:, ::1], S.A, S.IA,    # xstar ftg gtg rec hitf hitg trace out iout
    S.IA, S.A, S.A,                                                         # bk bf stepv (scratch)
)


@template("PREP")
def fused_prepare(t, ctl, skind, sp, sc, hy, gn, stepv):
    """Per-step scalars of a fused step: lr and step number, PREP, and in stepv the clipping
    factor, value-clip bound, coupled and decoupled (shrink) weight decay."""
    stepv[0] = step_scalars(t, ctl, skind, sp, sc, gn)
    PREP(sc, hy)
    stepv[1] = ctl[L.C_CLIPV]
    stepv[2] = ctl[L.C_WD]
    stepv[3] = 1.0 - sc[SC_LR] * ctl[L.C_DWD]


@template("EFG", "ELEM")
def fused_element(x, st, sc, hy, data, idata, i, stepv):
    """Coordinate i of a fused step: gradient at x_t[i], clipping and decay, the optimizer's
    update to x_{t+1}[i]; returns (f_i, g_i) at x_{t+1}[i] for the next bookkeeping."""
    xi = x[i]
    fi, gi = EFG(xi, data, idata, i)
    gi = modified_grad(gi, xi, stepv[0], stepv[1], stepv[2])
    x[i] = xi * stepv[3]
    ELEM(x, gi, st, sc, hy, i)
    return EFG(x[i], data, idata, i)


BLOCK = 8192   # coordinates per block of a fused pass (fixed: the sums' order never depends
               # on the thread count)


@kernel
def ordered_sum(buf, n):
    """Σ buf[0:n] in a fixed order: eight interleaved partial sums, then a fixed tree."""
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    s3 = 0.0
    s4 = 0.0
    s5 = 0.0
    s6 = 0.0
    s7 = 0.0
    m = n - n % 8
    for k in range(0, m, 8):
        s0 += buf[k]
        s1 += buf[k + 1]
        s2 += buf[k + 2]
        s3 += buf[k + 3]
        s4 += buf[k + 4]
        s5 += buf[k + 5]
        s6 += buf[k + 6]
        s7 += buf[k + 7]
    for k in range(m, n):
        s0 += buf[k]
    return tree8(s0, s1, s2, s3, s4, s5, s6, s7)


def fused_pass(x, st, sc, hy, data, idata, stepv, xstar, want_dist, part):
    """One parallel step over blocks of BLOCK coordinates (binds EFG and ELEM, through
    ``fused_element``). Each block first updates its coordinates and keeps f_i, g_i² (and
    (x_i − x*_i)²) in a small buffer, then sums them in a fixed order into ``part[:, block]``:
    the update loop has no floating-point reduction, so it vectorises, and the block sums are
    independent of the number of threads."""
    d = x.shape[0]
    nb = part.shape[1]
    for b in prange(nb):
        lo = b * BLOCK
        n = min(BLOCK, d - lo)
        # separate 1-D buffers, no views: numba then finds no aliasing in this parallel body
        # and marks the arrays noalias, so the optimizer's scalars are hoisted out of the loop
        bf = np.empty(BLOCK)
        bg = np.empty(BLOCK)
        if lo >= 0:   # always true; tells the compiler lo + k needs no negative-index check,
            for k in range(n):   # without which this loop does not vectorise
                fi, gi = fused_element(x, st, sc, hy, data, idata, lo + k, stepv)
                bf[k] = fi
                bg[k] = gi * gi
        part[0, b] = ordered_sum(bf, n)
        part[1, b] = ordered_sum(bg, n)
        if want_dist:
            if lo >= 0:
                for k in range(n):
                    dd = x[lo + k] - xstar[lo + k]
                    bf[k] = dd * dd
            part[2, b] = ordered_sum(bf, n)


@kernel
def block_totals(part):
    """(f, ‖g‖², dist²) from the per-block sums, added in block order."""
    f = 0.0
    s = 0.0
    q = 0.0
    for b in range(part.shape[1]):
        f += part[0, b]
        s += part[1, b]
        q += part[2, b]
    return f, s, q


@template("EFG", "PASS")
def fused_run(x, st, sc, hy, data, idata, ctl, skind, sp, nsteps, xstar, ftargets, gtargets, rec,
              hitf, hitg, trace, out, iout, bk, bf, stepv):
    """One run; ``bk``, ``bf`` (bookkeeping) and ``stepv`` (4 step scalars) are caller scratch.
    Binds EFG, PASS and (through ``fused_prepare``) PREP."""
    d = x.shape[0]
    book_start(bk, bf, hitf, hitg)
    has_xstar = xstar.shape[0] == d
    part = np.zeros((3, (d + BLOCK - 1) // BLOCK))
    for b in prange(part.shape[1]):
        lo = b * BLOCK
        n = min(BLOCK, d - lo)
        buf = np.empty((2, BLOCK))
        for k in range(n):
            fi, gi = EFG(x[lo + k], data, idata, lo + k)
            buf[0, k] = fi
            buf[1, k] = gi * gi
        part[0, b] = ordered_sum(buf[0], n)
        part[1, b] = ordered_sum(buf[1], n)
    f, s, q = block_totals(part)
    gn = math.sqrt(s)
    dist = np.nan
    t = 0
    iout[L.I_TICK0] = _readcyclecounter()
    while True:
        if bookkeep(t, f, gn, dist, x, ctl, nsteps, xstar, ftargets, gtargets, rec, hitf, hitg,
                    trace, bk, bf, sp):
            break
        fused_prepare(t, ctl, skind, sp, sc, hy, gn, stepv)
        want_dist = has_xstar and is_record_step(bk, rec, t + 1)
        PASS(x, st, sc, hy, data, idata, stepv, xstar, want_dist, part)
        f, s, q = block_totals(part)
        gn = math.sqrt(s)
        dist = math.sqrt(q) if want_dist else np.nan
        t += 1
    book_finish(t, f, gn, trace, out, iout, bk, bf)


def fused_driver(problem, optimizer):
    """The compiled fused loop for this (problem family, optimizer family) pair."""
    pname = type(problem).__name__
    oname = type(optimizer).__name__
    bind = {"EFG": problem.EFG, "PREP": optimizer.PREP, "PASS": _fused_pass(problem, optimizer)}
    return kc.cpu(fused_run, FUSED_SIG, bind=bind, name=f"fused_run__{pname}__{oname}",
                  parallel=True, inline=True, nrt=True)   # block buffers are allocated


def _fused_pass(problem, optimizer):
    pname = type(problem).__name__
    oname = type(optimizer).__name__
    bind = {"EFG": problem.EFG, "ELEM": optimizer.ELEM}
    return kc.cpu(fused_pass, bind=bind, name=f"fused_pass__{pname}__{oname}", parallel=True,
                  inline=True, nrt=True)
