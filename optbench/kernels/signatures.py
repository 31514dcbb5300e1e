"""Numba signatures of the kernel contracts (float64 arrays, C-contiguous).

Problem kernels (``data``: float64 array, ``idata``: int64 array owned by the problem):

* ``fg(x, g, data, idata, seed, step) -> f``  value and gradient in one pass; ``seed`` and
  ``step`` select the minibatch / noise draw of stochastic problems (ignored otherwise).
* ``value(x, data, idata) -> f``              the full (noise-free, full-batch) objective.
* ``hvp(x, v, out, data, idata)``             Hessian-vector product, out = H(x) v.
* ``hess(x, H, data, idata)``                 dense Hessian (small d).
* ``metrics(x, data, idata, out)``            optional extra trace columns (``metric_names()``),
  evaluated at recording steps only.

Optimizer kernels (``st``: state, shape (n_state, d); ``sc``: per-run scalars; ``hy``:
hyperparameters; both indexed by name, see :mod:`optbench.kernels.slots`):

* ``prep(sc, hy)``                            once per step, before the coordinate loop;
  the run loop has stored the step's learning rate in ``sc[SC_LR]`` and the step number
  (1-based, as torch counts) in ``sc[SC_STEP]``.
* ``elem(x, gi, st, sc, hy, i)``              update coordinate ``i`` of ``x`` and its state,
  given the (clipped, decayed) gradient value ``gi`` of that coordinate.
* ``update(x, g, st, sc, hy)``                whole-vector update, generated from the two above.

Contract v2 (:mod:`optbench.optimizers.phased`; ``blk``: the block table, int64 (n_blocks, 5),
:mod:`optbench.kernels.blocks`; ``wk``: the request rows, float64 (3, d)):

* ``step(x, g, st, sc, hy, blk, wk, stage) -> request``  one step, called with stage 0, 1, …
  until it returns 0 (DONE); 1 asks for the gradient at ``wk[0]`` into ``wk[1]``, 2 for the
  Hessian-vector product H(x)·wk[0] into ``wk[1]``.
* ``avg(x, st, sc, hy, out)``                 the optimizer's averaged / evaluation point
  (ASGD's ax, Schedule-Free's x) into ``out``; its f is the traces column ``f_avg``.
"""
from numba import types

f8 = types.float64
i8 = types.int64
A = types.float64[::1]
IA = types.int64[::1]
A2 = types.float64[:, ::1]
b1 = types.boolean

FG_SIG = f8(A, A, A, IA, i8, i8)
VALUE_SIG = f8(A, A, IA)
HVP_SIG = types.void(A, A, A, A, IA)
HESS_SIG = types.void(A, A2, A, IA)
PREP_SIG = types.void(A, A)
ELEM_SIG = types.void(A, f8, A2, A, A, i8)
UPDATE_SIG = types.void(A, A, A2, A, A)
METRICS_SIG = types.void(A, A, IA, A)
IA2 = types.int64[:, ::1]
STEP_SIG = i8(A, A, A2, A, A, IA2, A2, i8)
AVG_SIG = types.void(A, A2, A, A, A)

FG_T = types.FunctionType(FG_SIG)
VALUE_T = types.FunctionType(VALUE_SIG)
UPDATE_T = types.FunctionType(UPDATE_SIG)
METRICS_T = types.FunctionType(METRICS_SIG)
HVP_T = types.FunctionType(HVP_SIG)
STEP_T = types.FunctionType(STEP_SIG)
AVG_T = types.FunctionType(AVG_SIG)
