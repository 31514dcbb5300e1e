"""The fused large-d run loop for separable problems.

A separable problem exposes an elementwise kernel ``EFG(xi, data, idata, i) -> (f_i, g_i)``.
For it the run loop does one parallel pass per step over the coordinates: gradient of x_t[i],
clipping and weight decay, the optimizer's ``ELEM`` update to x_{t+1}[i], and the value and
gradient at x_{t+1}[i] for the next step's bookkeeping (recomputed, not stored: the pass moves
only x, the optimizer state and the problem data — memory traffic is what limits large d).
Norm clipping uses ‖∇f(x_t)‖ from the previous pass. Bookkeeping (targets, divergence,
trace) is the same code as the generic loop's; f is summed in parallel, so f may differ from
the generic loop's serial sum in the last bits.

The driver is specialised per (problem family, optimizer family) by binding EFG, PREP and
ELEM to compiled kernels; each specialisation has its own name, so it is cached on disk.
"""
from __future__ import annotations

import math

import numpy as np
from numba import prange, types

from optbench.kernels import compile as kc
from optbench.kernels import signatures as S
from optbench.kernels.clock import _readcyclecounter
from optbench.kernels.compile import kernel

from . import loop as L
from .loop import (book_finish, book_start, bookkeep, is_record_step,  # noqa: F401 (kernels)
                   modified_grad, step_scalars)

FUSED_SIG = types.void(
    S.A, S.A2, S.A, S.A, S.A, S.IA, S.A, types.int64, S.A, types.int64,   # x st sc hy data idata ctl skind sp n
    S.A, S.A, S.A, S.IA, S.IA, S.IA, types.float64[:, ::1], S.A, S.IA,    # xstar ftg gtg rec hitf hitg trace out iout
    S.IA, S.A, S.A,                                                         # bk bf stepv (scratch)
)


@kernel
def fused_prepare(t, ctl, skind, sp, sc, hy, gn, stepv):
    """Per-step scalars of a fused step: lr and step number, PREP, and in stepv the clipping
    factor, value-clip bound, coupled and decoupled (shrink) weight decay."""
    stepv[0] = step_scalars(t, ctl, skind, sp, sc, gn)
    PREP(sc, hy)  # noqa: F821 - bound per optimizer
    stepv[1] = ctl[L.C_CLIPV]
    stepv[2] = ctl[L.C_WD]
    stepv[3] = 1.0 - sc[0] * ctl[L.C_DWD]


@kernel
def fused_element(x, st, sc, hy, data, idata, i, stepv):
    """Coordinate i of a fused step: gradient at x_t[i], clipping and decay, the optimizer's
    update to x_{t+1}[i]; returns (f_i, g_i) at x_{t+1}[i] for the next bookkeeping."""
    xi = x[i]
    fi, gi = EFG(xi, data, idata, i)  # noqa: F821 - bound per problem
    gi = modified_grad(gi, xi, stepv[0], stepv[1], stepv[2])
    x[i] = xi * stepv[3]
    ELEM(x, gi, st, sc, hy, i)  # noqa: F821 - bound per optimizer
    return EFG(x[i], data, idata, i)  # noqa: F821


def fused_run(x, st, sc, hy, data, idata, ctl, skind, sp, nsteps, xstar, ftargets, gtargets, rec,
              hitf, hitg, trace, out, iout, bk, bf, stepv):
    """One run; ``bk``, ``bf`` (bookkeeping) and ``stepv`` (4 step scalars) are caller scratch."""
    d = x.shape[0]
    book_start(bk, bf, hitf, hitg)
    has_xstar = xstar.shape[0] == d
    f = 0.0
    s = 0.0
    for i in prange(d):
        fi, gi = EFG(x[i], data, idata, i)  # noqa: F821 - bound per problem
        f += fi
        s += gi * gi
    gn = math.sqrt(s)
    dist = np.nan
    t = 0
    iout[L.I_TICK0] = _readcyclecounter()
    while True:
        if bookkeep(t, f, gn, dist, x, ctl, nsteps, xstar, ftargets, gtargets, rec, hitf, hitg,
                    trace, bk, bf):
            break
        fused_prepare(t, ctl, skind, sp, sc, hy, gn, stepv)
        want_dist = has_xstar and is_record_step(bk, rec, t + 1)
        f = 0.0
        s = 0.0
        dist2 = 0.0
        for i in prange(d):
            fi, gi = fused_element(x, st, sc, hy, data, idata, i, stepv)
            f += fi
            s += gi * gi
            if want_dist:
                dd = x[i] - xstar[i]
                dist2 += dd * dd
        gn = math.sqrt(s)
        dist = math.sqrt(dist2) if want_dist else np.nan
        t += 1
    book_finish(t, f, gn, trace, out, iout, bk, bf)


def fused_driver(problem, optimizer):
    """The compiled fused loop for this (problem family, optimizer family) pair."""
    pname = type(problem).__name__
    oname = type(optimizer).__name__
    bind = {"EFG": problem.EFG, "PREP": optimizer.PREP, "ELEM": optimizer.ELEM}
    return kc.cpu(fused_run, FUSED_SIG, bind=bind, name=f"fused_run__{pname}__{oname}",
                  parallel=True, inline=True, nrt=True)   # prange reductions need NRT
