"""The CUDA batch kernel of a (problem, optimizer) pair, built from the CPU sources.

``run_core`` (optbench/runner/loop.py) takes its kernels as parameters on the CPU. For CUDA
its source is re-parsed with those parameters removed, so the same body calls module-level
names that are bound to device functions; every helper it calls (bookkeeping, schedules,
clipping, the optimizer's PREP/ELEM, the problem's FG/VALUE) is compiled from its single
source by :func:`optbench.kernels.compile.cuda_device`.
"""
from __future__ import annotations

from numba import cuda, float64, int64

from optbench.kernels import compile as kc
from optbench.kernels.device import kernel_options
from optbench.optimizers.base import vector_update
from optbench.runner import loop as L

KERNEL_PARAMS = L.KERNEL_PARAMS
_KERNELS: dict = {}


def batch_kernel(problem, optimizer):
    """The compiled (or simulated) batch kernel: thread r runs run r."""
    key = (type(problem), problem.FG, optimizer.PREP, optimizer.ELEM, problem.METRICS)
    hit = _KERNELS.get(key)
    if hit is not None:
        return hit
    core_src = kc.without_params(L.run_core.py_func, KERNEL_PARAMS)
    bind = {"fg": problem.FG, "value": problem.VALUE,
            "update": kc.cuda_device(vector_update, bind={"PREP": optimizer.PREP,
                                                          "ELEM": optimizer.ELEM},
                                     name=f"vector_update__{optimizer.ELEM.__name__}"),
            "metrics": problem.METRICS or L.no_metrics}
    core = kc.cuda_device(core_src, bind=bind)
    nbk, nbf = L.N_BK, L.N_BF

    @cuda.jit(**kernel_options())
    def run_batch_kernel(X, G, ST, SC, HY, data, idata, seeds, CTL, skinds, SP, nsteps, xstar,
                         ftg, gtg, rec, HITF, HITG, TRACE, MET, OUT, IOUT):
        r = cuda.grid(1)
        if r < X.shape[0]:
            bk = cuda.local.array(nbk, int64)
            bf = cuda.local.array(nbf, float64)
            core(X[r], G[r], ST[r], SC[r], HY[r], data, idata, seeds[r], CTL[r], skinds[r],
                 SP[r], nsteps[r], xstar, ftg, gtg, rec, HITF[r], HITG[r], TRACE[r], MET[r],
                 OUT[r], IOUT[r], bk, bf)

    _KERNELS[key] = run_batch_kernel
    return run_batch_kernel
