"""The lane step's first pass fused into one loop over the lanes, for small problems.

The lane driver (``runner/lanes.py``) begins each step with the problem's ``FG`` for every
lane, each lane's squared gradient norm, and the quiet-step test (no target, record, stop or
divergence in this step). Done as lane forms these are several passes over the lanes, with
``FG``'s accumulators in rows of memory. When the problem's ``FG`` has an *at form* at its
dimension (``kernels/lane_at.py``: the one-run body for lane l, the dimension a compile-time
constant, loops over the coordinates only) and the dimension is at most ``FUSE_MAX_DIM``, the
three are one loop over the lanes instead: ``FG``'s body for the lane, inlined and unrolled,
then the norm and the test on values still in registers. The loop vectorises across the lanes
as the hand-written loop of ``bench/peers/sweep_floor.py`` does. Each lane's operations and
their order are those of the one-run loop: the results are the same bits.

Deterministic problems only: noisy and minibatch gradients keep the lane forms (their quiet
test differs, and drawing noise does not vectorise).
"""
from __future__ import annotations

from optbench.kernels import compile as kc
from optbench.kernels.compile import placeholder, template
from optbench.kernels.lane_at import at_form
from optbench.kernels.lanes import LaneError

from .lane_rows import LANES, V_F, V_S, W_SEED, quiet_select

FUSE_MAX_DIM = 2     # measured: faster at d = 1, 2; slower at 4 and 8 (the unrolled body)
DIM = 1              # rebound per dimension (a compile-time constant of the specialisation)
FGA = placeholder("FGA")    # the problem's FG, at form


@template("FGA")
def fused_quiet_pass(t, XL, GL, V, W, data, idata, k):
    """FG, the squared gradient norm (summed in the one-run loop's order) and the quiet test
    for lanes 0 … k−1, in one loop; the quiet lanes' best-so-far f updated by a select.
    Returns how many lanes are quiet. ``V`` is the lane scratch flat (``lane_rows.py``)."""
    nq = 0
    tf = float(t)
    seeds = W[W_SEED]
    for j in range(k):
        f = FGA(XL, GL, data, idata, seeds, t, j)
        s = GL[0, j] * GL[0, j]
        for i in range(1, DIM):
            s += GL[i, j] * GL[i, j]
        V[V_F * LANES + j] = f
        V[V_S * LANES + j] = s
        nq += quiet_select(f, s, tf, V, j)
    return nq


@kc.kernel
def no_fused_pass(t, XL, GL, V, W, data, idata, k):
    """For a problem without the fused pass: -1, the lane forms' passes run instead."""
    return -1


def fused_form(problem, max_dim: int = FUSE_MAX_DIM):
    """The problem's FG at form at its dimension, or None (above max_dim, or no at form)."""
    if problem.dim > max_dim:
        return None
    try:
        return at_form(problem.FG, arrays=("x", "g"), scalars=("seed",), dim=problem.dim)
    except LaneError:
        return None


def fused_pass(problem, max_dim: int = FUSE_MAX_DIM):
    """The compiled fused first pass for ``problem``, or ``no_fused_pass`` (a kernel, inlined
    where it is bound) when it has none (``max_dim``: the largest dimension to fuse; the
    runner's is ``FUSE_MAX_DIM``, ``bench fused`` builds it above to show why)."""
    fga = fused_form(problem, max_dim)
    if fga is None:
        return no_fused_pass
    d = problem.dim
    # inline='always' (numba-IR inlining into the lane driver): called once per step it was
    # slower than the lane forms' passes
    return kc.cpu_inline(kc.with_constants(fused_quiet_pass, f"fused_quiet_pass__d{d}", DIM=d),
                         bind={"FGA": fga},
                         name=f"fused_quiet_pass__{type(problem).__name__}__d{problem.dim}")
