"""Large separable problems on the GPU: the whole grid works on one run.

Each step is two launches: ``book`` (one thread: targets, trace, stop rule, the step's
scalars — the CPU's bookkeeping kernels compiled for the device) and ``grid_pass`` (every
thread, grid-stride over the coordinates: the CPU fused loop's ``fused_element``, with a
shared-memory block reduction of f, ‖g‖² and ‖x − x*‖² and one atomic add per block). All
n + 1 steps are launched up front; once a run stops, the kernels return at once. Results are
copied back once, at the end.
"""
from __future__ import annotations

import math

import numpy as np
from numba import cuda, float64

from optbench.kernels import compile as kc
from optbench.kernels.device import kernel_options
from optbench.runner import fused as FU
from optbench.runner import loop as L

THREADS = 256
_KERNELS: dict = {}


def kernels(problem, optimizer):
    key = (problem.EFG, optimizer.PREP, optimizer.ELEM)
    hit = _KERNELS.get(key)
    if hit is not None:
        return hit
    element = kc.cuda_device(FU.fused_element, bind={"EFG": problem.EFG, "ELEM": optimizer.ELEM})
    prepare = kc.cuda_device(FU.fused_prepare, bind={"PREP": optimizer.PREP})
    efg = kc.cuda_device(problem.EFG)
    book_start = kc.cuda_device(L.book_start.py_func)
    bookkeep = kc.cuda_device(L.bookkeep.py_func)
    book_finish = kc.cuda_device(L.book_finish.py_func)
    is_record_step = kc.cuda_device(L.is_record_step.py_func)

    @cuda.jit(**kernel_options())
    def start(bk, bf, hitf, hitg, flag):
        book_start(bk, bf, hitf, hitg)
        flag[0] = 0

    @cuda.jit(**kernel_options())
    def book(t, acc, x, sc, hy, ctl, skind, sp, nsteps, xstar, ftg, gtg, rec, hitf, hitg, trace,
             out, iout, bk, bf, stepv, flag):
        if flag[0] != 0:
            return
        f = acc[0]
        gn = math.sqrt(acc[1])
        dist = math.sqrt(acc[2]) if acc[3] != 0.0 else math.nan
        if bookkeep(t, f, gn, dist, x, ctl, nsteps, xstar, ftg, gtg, rec, hitf, hitg, trace,
                    bk, bf, sp):
            book_finish(t, f, gn, trace, out, iout, bk, bf)
            flag[0] = 1
            return
        prepare(t, ctl, skind, sp, sc, hy, gn, stepv)
        acc[0] = 0.0
        acc[1] = 0.0
        acc[2] = 0.0
        acc[3] = 1.0 if xstar.shape[0] == x.shape[0] and is_record_step(bk, rec, t + 1) else 0.0

    @cuda.jit(**kernel_options())
    def grid_pass(first, x, st, sc, hy, data, idata, xstar, stepv, acc, flag):
        if flag[0] != 0:
            return
        sm = cuda.shared.array((3, THREADS), float64)
        tid = cuda.threadIdx.x
        f = 0.0
        s = 0.0
        dd = 0.0
        want = acc[3] != 0.0
        for i in range(cuda.grid(1), x.shape[0], cuda.gridsize(1)):
            if first:
                fi, gi = efg(x[i], data, idata, i)
            else:
                fi, gi = element(x, st, sc, hy, data, idata, i, stepv)
            f += fi
            s += gi * gi
            if want:
                e = x[i] - xstar[i]
                dd += e * e
        sm[0, tid] = f
        sm[1, tid] = s
        sm[2, tid] = dd
        cuda.syncthreads()
        half = THREADS // 2
        while half > 0:
            if tid < half:
                for k in range(3):
                    sm[k, tid] += sm[k, tid + half]
            cuda.syncthreads()
            half //= 2
        if tid == 0:
            for k in range(3):
                cuda.atomic.add(acc, k, sm[k, 0])

    _KERNELS[key] = (start, book, grid_pass)
    return _KERNELS[key]


PER_RUN_ARRAYS = ("X", "ST", "SC", "HY", "CTL", "SP", "HITF", "HITG", "TRACE", "OUT", "IOUT")


def upload(a: dict, r: int) -> dict:
    """Run r's arrays and the batch's shared ones on the device (the transfers in)."""
    dev = {k: cuda.to_device(np.ascontiguousarray(a[k][r])) for k in PER_RUN_ARRAYS}
    dev.update({k: cuda.to_device(a[k]) for k in ("data", "idata", "xstar", "ftg", "gtg", "rec")})
    x = a["X"][r]
    has_xstar = a["xstar"].shape[0] == x.shape[0]
    dev["bk"] = cuda.to_device(np.zeros(L.N_BK, np.int64))
    dev["bf"] = cuda.to_device(np.zeros(L.N_BF))
    dev["stepv"] = cuda.to_device(np.zeros(4, a["X"].dtype))
    dev["flag"] = cuda.to_device(np.zeros(1, np.int64))
    dev["acc"] = cuda.to_device(np.array([0.0, 0.0, 0.0,
                                          1.0 if has_xstar and 0 in a["rec"] else 0.0]))
    cuda.synchronize()
    return dev


def run_steps(ks, dev: dict, a: dict, r: int, blocks: int):
    """All steps of run r on arrays already on the device (the kernel time)."""
    start, book, grid_pass = ks
    d = dev
    start[1, 1](d["bk"], d["bf"], d["HITF"], d["HITG"], d["flag"])
    grid_pass[blocks, THREADS](1, d["X"], d["ST"], d["SC"], d["HY"], d["data"], d["idata"],
                               d["xstar"], d["stepv"], d["acc"], d["flag"])
    n = int(a["nsteps"][r])
    skind = a["skinds"][r]
    for t in range(n + 1):
        book[1, 1](t, d["acc"], d["X"], d["SC"], d["HY"], d["CTL"], skind, d["SP"], n,
                   d["xstar"], d["ftg"], d["gtg"], d["rec"], d["HITF"], d["HITG"], d["TRACE"],
                   d["OUT"], d["IOUT"], d["bk"], d["bf"], d["stepv"], d["flag"])
        grid_pass[blocks, THREADS](0, d["X"], d["ST"], d["SC"], d["HY"], d["data"], d["idata"],
                                   d["xstar"], d["stepv"], d["acc"], d["flag"])
    cuda.synchronize()


def download(dev: dict) -> dict:
    """Run r's arrays back on the host (the transfers out)."""
    return {k: dev[k].copy_to_host() for k in PER_RUN_ARRAYS}


def run_one(ks, a: dict, r: int, blocks: int):
    """Run r of a batch's (dtype-converted) arrays on the device; results copied back."""
    dev = upload(a, r)
    run_steps(ks, dev, a, r, blocks)
    return download(dev)
