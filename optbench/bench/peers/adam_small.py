"""Adam on 2-D Rosenbrock (from (−1.2, 1), lr 1e-3, torch defaults otherwise), per step.

optbench: ``optbench.run(..., steps=20_000, stop="budget")`` with its default recording (the
trace on a log schedule and the 51-target ladder); the figure is the run's ``wall_s`` (the
compiled loop, compile time apart). Peers:

* a hand-fused Numba loop (one function, the same arithmetic, no bookkeeping);
* a Python loop over NumPy arrays;
* ``torch.optim.Adam`` with autograd (``zero_grad`` / forward / ``backward`` / ``step``), and
  with the gradient written by hand into ``.grad`` (no autograd), float64, one thread.

The Python-loop peers cost the same per step at any length, so they run fewer steps
(``python_steps``); every implementation ends at the same point (checked). Each peer is timed
interleaved with optbench runs (medians of both), so a slow spell of a shared machine lands
on both sides of the ratio.
"""
from __future__ import annotations

import math
import time

import numpy as np
from numba import njit

import optbench as ob
import optbench.kernels.compile  # noqa: F401  (numba's cache folder, before njit(cache=True))

from .common import Row

X0 = (-1.2, 1.0)
LR = 1e-3


@njit(cache=True)
def hand_adam_rosen(x, n, lr, b1, b2, eps):
    """Peer: Adam on 2-D Rosenbrock as one hand-fused Numba function."""
    m0 = m1 = v0 = v1 = 0.0
    p1 = p2 = 1.0
    f = 0.0
    for _ in range(n):
        a = x[1] - x[0] * x[0]
        b = 1.0 - x[0]
        f = 100.0 * a * a + b * b
        g0 = -400.0 * a * x[0] - 2.0 * b
        g1 = 200.0 * a
        p1 *= b1
        p2 *= b2
        ss = lr / (1.0 - p1)
        c2 = math.sqrt(1.0 - p2)
        m0 += (1.0 - b1) * (g0 - m0)
        m1 += (1.0 - b1) * (g1 - m1)
        v0 = v0 * b2 + (1.0 - b2) * g0 * g0
        v1 = v1 * b2 + (1.0 - b2) * g1 * g1
        x[0] -= ss * (m0 / (math.sqrt(v0) / c2 + eps))
        x[1] -= ss * (m1 / (math.sqrt(v1) / c2 + eps))
    return f


def numpy_adam_rosen(x, n, lr, b1=0.9, b2=0.999, eps=1e-8):
    """Peer: a Python loop over NumPy arrays."""
    m = np.zeros(2)
    v = np.zeros(2)
    for t in range(1, n + 1):
        a = x[1] - x[0] ** 2
        g = np.array([-400 * a * x[0] - 2 * (1 - x[0]), 200 * a])
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        x = x - lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
    return x


def _torch_autograd(n):
    import torch

    x = torch.tensor(X0, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([x], lr=LR)
    for _ in range(n):
        opt.zero_grad()
        f = 100.0 * (x[1] - x[0] ** 2) ** 2 + (1.0 - x[0]) ** 2
        f.backward()
        opt.step()
    return x.detach().numpy().copy()


def _torch_hand_grad(n):
    import torch

    x = torch.tensor(X0, dtype=torch.float64)
    x.grad = torch.zeros(2, dtype=torch.float64)
    opt = torch.optim.Adam([x], lr=LR)
    xv, gv = x.numpy(), x.grad.numpy()        # views of the tensors' memory
    for _ in range(n):
        a = xv[1] - xv[0] * xv[0]
        gv[0] = -400.0 * a * xv[0] - 2.0 * (1.0 - xv[0])
        gv[1] = 200.0 * a
        opt.step()
    return xv.copy()


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def run(steps: int = 20_000, python_steps: int = 2_000, repeats: int = 5) -> list[Row]:
    """Each peer is timed interleaved with optbench (one optbench run before each of the
    peer's repeats), so that both see the same machine: on a shared machine a slow spell
    otherwise lands on one side of a ratio only."""
    p = ob.problem("rosenbrock")
    o = ob.optimizer("adam", lr=LR)
    first = ob.run(p, o, steps=steps, stop="budget")
    compile_s = first.compile_s

    def ours_step():
        return ob.run(p, o, steps=steps, stop="budget").wall_s / steps

    def side_by_side(peer, n_steps, reps):
        ours, theirs = [], []
        peer()
        for _ in range(reps):
            ours.append(ours_step())
            theirs.append(_timed(peer) / n_steps)
        return float(np.median(ours)), float(np.median(theirs))

    work = f"Adam, {steps:,}-step runs on 2-D Rosenbrock, per step"
    note = f"optbench compile {compile_s:.2f} s (first run, apart)"
    ours, hand = side_by_side(
        lambda: hand_adam_rosen(np.array(X0), steps, LR, 0.9, 0.999, 1e-8), steps, repeats)
    xh = np.array(X0)
    hand_adam_rosen(xh, steps, LR, 0.9, 0.999, 1e-8)
    same = bool(np.allclose(first.x, xh, rtol=1e-9))
    rows = [Row(work, "hand-fused Numba loop", ours, hand, goal_max=2.0,
                note=f"same end point: {same}; " + note)]
    ours, npy = side_by_side(lambda: numpy_adam_rosen(np.array(X0), python_steps, LR),
                             python_steps, 3)
    rows.append(Row(work, "Python loop over NumPy", ours, npy))
    try:
        import torch
    except ImportError:
        for peer in ("torch.optim.Adam, autograd", "torch.optim.Adam, hand-written gradient"):
            rows.append(Row(work, peer, ours, None, goal=1000, skipped="torch not installed"))
        return rows
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        ref = ob.run(p, o, steps=python_steps, stop="budget", record="none").x
        for peer, fn in (("torch.optim.Adam, autograd", _torch_autograd),
                         ("torch.optim.Adam, hand-written gradient", _torch_hand_grad)):
            ours, t = side_by_side(lambda: fn(python_steps), python_steps, 3)
            xt = fn(python_steps)
            rows.append(Row(work, peer, ours, t, goal=1000,
                            note=f"1 thread; same end point: {bool(np.allclose(xt, ref, rtol=1e-9))}"))
    finally:
        torch.set_num_threads(threads)
    return rows
