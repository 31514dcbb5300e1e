"""The lockstep batch driver: many small runs stepped together, for sweeps.

One small run (2-D Rosenbrock, say) is a chain of dependent operations — gradient, square
root, division, next gradient — so a CPU core running it alone waits on latencies most of the
time. ``lockstep_chunk`` steps a chunk of ``LOCKSTEP_K`` runs of one batch together: at step
t it does step t of every active run of the chunk, one after the other. The runs are
independent, so the core overlaps their chains (measured 2–3× more steps per second on 2-D
problems). Each run does exactly the operations of :func:`~optbench.runner.loop.run_core`, in
the same order, so its results are bit-identical to the one-run loop's (tested).

Time. Runs of a chunk share the core, so each step's elapsed time is split evenly between
the runs active in it: a run's ``wall_s`` and trace ``time_s`` are its share of the chunk's
time (the sum over runs is the threads' busy time, as for the other drivers).

Chunks run in parallel (``prange``). The driver is specialised per (problem, optimizer) pair
with the kernels inlined, compiled on first use of the pair and cached on disk; it serves
sweeps of small problems (``dim <= LOCKSTEP_MAX_DIM``) with enough work to pay for that once.
"""
from __future__ import annotations

import math

import numpy as np
from numba import prange

from optbench.kernels import compile as kc
from optbench.kernels.clock import _readcyclecounter
from optbench.kernels.compile import kernel, placeholder, template

from . import loop as L
from .loop import (B_NREC, C_STOCH, I_TICK0, I_TICK1, N_BF, N_BK, T_TICKS,  # noqa: F401
                   book_finish, book_start, bookkeep, grad_sumsq, is_record_step, modify_step,
                   quiet_step, step_scalars)

LOCKSTEP_K = 16          # runs per chunk
LOCKSTEP_MAX_DIM = 64    # beyond this a step is long enough to keep a core busy on its own

# bound per (problem, optimizer) pair by lockstep_driver
FG = placeholder("FG")              # the problem's kernels
VALUE = placeholder("VALUE")
METRICS = placeholder("METRICS")
UPDATE = placeholder("UPDATE")      # the optimizer's whole-vector update
BOOK_SLOW = placeholder("BOOK_SLOW")    # book_slow, compiled apart (not inlined)
CHUNK = placeholder("CHUNK")        # lockstep_chunk bound for the pair


@kernel
def book_slow(t, f, gn, x, ctl, nst, xstar, ftargets, gtargets, rec, hitf, hitg, trace, bk, bf,
              tick, sp):
    """The bookkeeping of a step that is not quiet, stamped with the run's clock ``tick``.
    Compiled apart and called (rarely), which keeps the hot loop small."""
    nrec = bk[B_NREC]
    stop = bookkeep(t, f, gn, np.nan, x, ctl, nst, xstar, ftargets, gtargets, rec, hitf, hitg,
                    trace, bk, bf, sp)
    if bk[B_NREC] > nrec:
        trace[nrec, T_TICKS] = tick
    return stop


@kernel
def chunk_clocks(r0, k, clk, BK, IOUT, TRACE):
    """Each run of a chunk (runs r0 … r0+k−1) gets its share of the chunk's cycles as its time
    (``clk``): its run ticks and its last trace point's stamp (lockstep and lane drivers)."""
    for j in range(k):
        IOUT[r0 + j, I_TICK0] = 0
        IOUT[r0 + j, I_TICK1] = clk[j]
        TRACE[r0 + j, BK[j, B_NREC] - 1, T_TICKS] = clk[j]


@template("FG", "VALUE", "METRICS", "UPDATE", "BOOK_SLOW")
def lockstep_chunk(X, G, ST, SC, HY, data, idata, seeds, CTL, skinds, SP, nsteps, xstar,
                   ftargets, gtargets, rec, HITF, HITG, TRACE, MET, OUT, IOUT, r0, r1, BK, BF, clk,
                   live):
    """Runs r0 … r1−1 of the batch, stepped together (``FG``, ``VALUE``, ``METRICS``,
    ``UPDATE`` and ``BOOK_SLOW`` are bound per pair). BK, BF (bookkeeping), clk (each run's
    share of the cycle counter) and live are the caller's scratch, k rows each. Compiled
    without NRT (no allocation here): array views then cost no reference counting."""
    k = r1 - r0
    d = X.shape[1]
    for j in range(k):
        clk[j] = 0
        live[j] = True
        book_start(BK[j], BF[j], HITF[r0 + j], HITG[r0 + j])
    active = k
    t = 0
    while active > 0:
        c0 = _readcyclecounter()
        n_in = active
        for j in range(k):
            if not live[j]:
                continue
            r = r0 + j
            x = X[r]
            g = G[r]
            bk = BK[j]
            bf = BF[j]
            ctl = CTL[r]
            f = FG(x, g, data, idata, seeds[r], t)
            gn = math.sqrt(grad_sumsq(g, d))
            quiet = False
            if ctl[C_STOCH] != 0.0:
                quiet = not is_record_step(bk, rec, t) and t < nsteps[r] and math.isfinite(f) \
                    and math.isfinite(gn)
                if not quiet:
                    f = VALUE(x, data, idata)
            if not quiet and not quiet_step(t, f, gn, nsteps[r], bk, bf):
                nrec = bk[B_NREC]
                stop = BOOK_SLOW(t, f, gn, x, ctl, nsteps[r], xstar, ftargets, gtargets,
                                 rec, HITF[r], HITG[r], TRACE[r], bk, bf, clk[j], SP[r])
                if bk[B_NREC] > nrec and MET.shape[2] > 0:
                    METRICS(x, data, idata, MET[r, nrec])
                if stop:
                    book_finish(t, f, gn, TRACE[r], OUT[r], IOUT[r], bk, bf)
                    live[j] = False
                    active -= 1
                    continue
            coef = step_scalars(t, ctl, skinds[r], SP[r], SC[r], gn)
            modify_step(x, g, SC[r], ctl, coef)
            UPDATE(x, g, ST[r], SC[r], HY[r])
        share = (_readcyclecounter() - c0) // n_in
        for j in range(k):
            if live[j] or IOUT[r0 + j, L.I_NIT] == t:
                clk[j] += share
        t += 1
    chunk_clocks(r0, k, clk, BK, IOUT, TRACE)


@template("CHUNK")
def _lockstep_batch(X, G, ST, SC, HY, data, idata, seeds, CTL, skinds, SP, nsteps, xstar,
                    ftargets, gtargets, rec, HITF, HITG, TRACE, MET, OUT, IOUT):
    R = X.shape[0]
    nchunk = (R + LOCKSTEP_K - 1) // LOCKSTEP_K
    for c in prange(nchunk):
        r0 = c * LOCKSTEP_K
        r1 = min(r0 + LOCKSTEP_K, R)
        BK = np.empty((LOCKSTEP_K, N_BK), np.int64)
        BF = np.empty((LOCKSTEP_K, N_BF))
        clk = np.empty(LOCKSTEP_K, np.int64)
        live = np.empty(LOCKSTEP_K, np.bool_)
        CHUNK(X, G, ST, SC, HY, data, idata, seeds, CTL, skinds, SP, nsteps, xstar,
              ftargets, gtargets, rec, HITF, HITG, TRACE, MET, OUT, IOUT, r0, r1, BK, BF, clk,
              live)


def lockstep_driver(problem, optimizer, parallel: bool):
    """The lockstep batch driver for this (problem, optimizer) pair (SPECIAL_SIG arguments)."""
    from optbench.optimizers.base import vector_update

    tag = f"{type(problem).__name__}__{optimizer.ELEM.__name__}"
    # the update inlined too: a call per run-step is a barrier to overlapping the runs
    update = kc._cpu_inline(vector_update, {"PREP": optimizer.PREP, "ELEM": optimizer.ELEM},
                            f"vector_update__{optimizer.ELEM.__name__}__lockstep")
    chunk = kc.cpu(lockstep_chunk,
                   bind={"FG": problem.FG, "VALUE": problem.VALUE, "UPDATE": update,
                         "METRICS": problem.METRICS or L.no_metrics,
                         "BOOK_SLOW": kc.cpu(book_slow, name="lockstep_book_slow")},
                   name=f"lockstep_chunk__{tag}", inline=True)
    return kc.cpu(_lockstep_batch, L.SPECIAL_SIG, bind={"CHUNK": chunk},
                  name=f"lockstep_batch__{tag}__{'par' if parallel else 'ser'}",
                  parallel=parallel, nrt=True)
