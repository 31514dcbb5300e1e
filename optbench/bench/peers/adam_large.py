"""Adam on a 2²²-dimensional diagonal quadratic f = ½ Σ λ_i x_i² (κ = 1e3), per step.

Every implementation computes, each step, the gradient λ·x, the value f (optbench also
‖∇f‖) and the Adam update, in float64 on all cores. optbench runs it through
``optbench.run`` (the fused parallel loop: one pass over x, m, v and λ per step). Peers:

* a hand-written parallel Numba loop, written for speed (blocks of coordinates, the update
  loop free of floating-point reductions so that it vectorises, block sums after);
* NumPy, vectorised with in-place operations;
* JAX + optax: ``jit`` of a ``lax.scan`` of ``optax.adam`` over the steps (the gradient by
  hand, as the other peers), its busy threads reported;
* ``torch.optim.Adam`` single-tensor, ``foreach=True`` and ``fused=True``, each with autograd
  (``backward`` of the loss, as a PyTorch user writes it) and with the gradient written into
  ``.grad`` by hand (f then computed as ½ g·x).

optbench's repeats run as a block before each peer's (interleaving runs that each touch 100+
MB slowed whichever came second); torch's run last. Bandwidth: optbench's pass moves 7 arrays of d doubles per step (reads x, m, v, λ; writes x,
m, v); shown against a STREAM-like triad on the same cores.
"""
from __future__ import annotations

import math
import time

import numpy as np
from numba import njit, prange

import optbench as ob
import optbench.kernels.compile  # noqa: F401  (numba's cache folder, before njit(cache=True))

from ..common import median_time
from .common import Row, triad_bandwidth

LR, B1, B2, EPS = 1e-3, 0.9, 0.999, 1e-8
HAND_BLOCK = 4096


@njit(parallel=True, cache=True, error_model="numpy")
def hand_step(x, m, v, lam, part, ss, c2, b1, b2, eps):
    """Peer: one Adam step written for speed by hand; returns (f, ‖g‖²) at x_t."""
    d = x.shape[0]
    nb = part.shape[1]
    for b in prange(nb):
        lo = b * HAND_BLOCK
        hi = min(lo + HAND_BLOCK, d)
        xb, mb, vb, lb = x[lo:hi], m[lo:hi], v[lo:hi], lam[lo:hi]
        fb = np.empty(hi - lo)
        gb = np.empty(hi - lo)
        for k in range(hi - lo):
            g = lb[k] * xb[k]
            fb[k] = 0.5 * g * xb[k]
            gb[k] = g * g
            mi = mb[k] + (1.0 - b1) * (g - mb[k])
            vi = vb[k] * b2 + (1.0 - b2) * g * g
            mb[k] = mi
            vb[k] = vi
            xb[k] = xb[k] - ss * (mi / (math.sqrt(vi) / c2 + eps))
        part[0, b] = fb.sum()
        part[1, b] = gb.sum()
    return part[0].sum(), part[1].sum()


def hand_run(x, lam, steps):
    """Run the hand-written peer in place on x; returns the seconds of its steps (its state is
    allocated and touched before the clock starts, as optbench's is)."""
    m, v = np.full_like(x, 0.0), np.full_like(x, 0.0)
    part = np.zeros((2, (x.shape[0] + HAND_BLOCK - 1) // HAND_BLOCK))
    p1 = p2 = 1.0
    t0 = time.perf_counter()
    for _ in range(steps):
        p1 *= B1
        p2 *= B2
        hand_step(x, m, v, lam, part, LR / (1.0 - p1), math.sqrt(1.0 - p2), B1, B2, EPS)
    return time.perf_counter() - t0


def _numpy(x, lam, steps):
    m, v, g, tmp = (np.zeros_like(x) for _ in range(4))
    for t in range(1, steps + 1):
        np.multiply(lam, x, out=g)
        f = 0.5 * float(g @ x)  # noqa: F841 - the value, as every peer computes it
        m *= B1
        m += (1 - B1) * g
        v *= B2
        np.multiply(g, g, out=tmp)
        tmp *= 1 - B2
        v += tmp
        np.sqrt(v, out=tmp)
        tmp /= math.sqrt(1 - B2 ** t)
        tmp += EPS
        np.divide(m, tmp, out=tmp)
        tmp *= LR / (1 - B1 ** t)
        x -= tmp
    return x


def _torch(x0, lam_np, steps, mode, autograd):
    import torch

    lam = torch.from_numpy(lam_np)
    x = torch.from_numpy(x0.copy()).requires_grad_(autograd)
    kw = {"single": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}
    opt = torch.optim.Adam([x], lr=LR, **kw[mode])
    if not autograd:
        x.grad = torch.zeros_like(x)

    def step():
        if autograd:
            opt.zero_grad(set_to_none=False)
            loss = 0.5 * (lam * x * x).sum()
            loss.backward()
        else:
            with torch.no_grad():
                torch.mul(lam, x, out=x.grad)
                _ = 0.5 * torch.dot(x.grad, x)
        opt.step()

    step()                     # step 1 is the warm-up (it allocates the state), not timed
    t0 = time.perf_counter()
    for _ in range(steps - 1):
        step()
    return (time.perf_counter() - t0) / (steps - 1), x.detach().numpy()


def _jax(x0, lam, steps):
    """``jit`` of a ``lax.scan`` of ``optax.adam`` (gradient λ·x and f = ½ g·x by hand, as the
    other peers): (compiled function, its arguments)."""
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import optax

    opt = optax.adam(LR, b1=B1, b2=B2, eps=EPS)

    def run(x, lam):
        def body(carry, _):
            x, s = carry
            g = lam * x
            f = 0.5 * jnp.dot(g, x)
            u, s = opt.update(g, s, x)
            return (optax.apply_updates(x, u), s), f

        (x, _), fs = jax.lax.scan(body, (x, opt.init(x)), None, length=steps)
        return x, fs

    return jax.jit(run), (jnp.asarray(x0), jnp.asarray(lam))


def _jax_row(work, ours, x0, lam, steps, repeats, ref) -> Row:
    from ..common import time_jax

    try:
        fn, args = _jax(x0, lam, steps)
    except ImportError:
        return Row(work, "JAX + optax", ours, None,
                   skipped="jax/optax not installed (the bench extra)")
    out, compile_s, walls, busy = time_jax(fn, args, repeats)
    k = int(np.argsort(walls)[len(walls) // 2])
    xj = np.asarray(out[0])
    dev = float(np.max(np.abs(xj - ref)) / np.max(np.abs(ref)))
    return Row(work, "JAX + optax (jit of a lax.scan)", ours, walls[k] / steps,
               note=f"{busy[k]:.1f} threads busy (CPU/wall); compile {compile_s:.1f} s; end "
                    f"points differ by {dev:.1e} (relative)")


def run(dim: int = 2 ** 22, steps: int = 30, repeats: int = 3) -> list[Row]:
    """optbench's repeats, then each peer's (medians); torch's last."""
    p = ob.problem("quadratic", dim=dim, cond=1e3, start="random")
    o = ob.optimizer("adam", lr=LR)
    first = ob.run(p, o, steps=steps, stop="budget", record="none")
    ref = first.x

    def ours_step():
        return ob.run(p, o, steps=steps, stop="budget", record="none").wall_s / steps

    def side_by_side(peer_step, reps):
        # blocks, not interleaved: each run here allocates and touches 100+ MB, and on this
        # kind of (virtual) machine the pages a peer just freed slow the next few passes of
        # whoever follows (measured up to 3x on optbench's pass right after NumPy's peer)
        ours_step()                               # one discarded run after the last peer
        a = [ours_step() for _ in range(reps)]
        peer_step()
        b = [peer_step() for _ in range(reps)]
        return float(np.median(a)), float(np.median(b))

    lam, x0 = p.data[:dim].copy(), p.x0(0)
    work = f"Adam, {dim:,}-dim diagonal quadratic, per step"
    tri = triad_bandwidth(dim)
    hand_run(x0.copy(), lam, 2)
    ours, hand = side_by_side(lambda: hand_run(x0.copy(), lam, steps) / steps, repeats)
    gbps = 7 * 8 * dim / ours
    bw = {"optbench_GBps": gbps / 1e9, "triad_GBps": tri / 1e9, "pct_of_triad": 100 * gbps / tri}
    xh = x0.copy()
    hand_run(xh, lam, steps)
    same = bool(np.array_equal(xh, ref))
    rows = [Row(work, "hand-written parallel Numba loop", ours, hand, goal_max=1.25,
                note=f"optbench {gbps / 1e9:.1f} GB/s = {bw['pct_of_triad']:.0f} % of a "
                     f"STREAM-like triad ({tri / 1e9:.1f} GB/s); bit-identical end point: {same}",
                extra=bw)]
    ns = max(3, steps // 3)
    ours_np, npy = side_by_side(
        lambda: median_time(lambda: _numpy(x0.copy(), lam, ns), 1, 0) / ns, 2)
    rows.append(Row(work, "NumPy vectorised (in-place)", ours_np, npy))
    rows.append(_jax_row(work, ours, x0, lam, steps, repeats, ref))
    # torch runs last and is compared with optbench's figure from above: a parallel loop
    # right after torch's multi-threaded steps ran up to 10x slower here
    try:
        import torch
    except ImportError:
        for mode in ("single", "foreach", "fused"):
            rows.append(Row(work, f"torch.optim.Adam {mode}", ours, None,
                            goal=3.0 if mode == "fused" else None,
                            skipped="torch not installed"))
        return rows
    for mode in ("single", "foreach", "fused"):
        for autograd in (True, False):
            xt = []
            ts = []
            for _ in range(repeats):
                t, x = _torch(x0, lam, steps, mode, autograd)
                ts.append(t)
                xt.append(x)
            t = float(np.median(ts))
            dev = float(np.max(np.abs(xt[0] - ref)) / np.max(np.abs(ref)))
            note = f"{torch.get_num_threads()} threads; end points differ by {dev:.1e} (relative)"
            if mode == "fused" and not autograd:
                # λ·x into .grad (read 2, write 1), ½ g·x (read 2), the fused step (read 4,
                # write 3): 12 passes over d doubles, against optbench's 7
                note += (f"; moves 12 arrays per step to optbench's 7: "
                         f"{12 * 8 * dim / t / 1e9:.1f} GB/s, so ≥ 3× would need "
                         f"{3 * 7 * 8 * dim / t / 1e9:.0f} GB/s from optbench")
            rows.append(Row(work, f"torch.optim.Adam {mode}, "
                            f"{'autograd' if autograd else 'hand-written gradient'}", ours, t,
                            goal=3.0 if mode == "fused" else None, note=note))
    return rows
