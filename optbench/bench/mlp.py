"""Speed of the ``mlp`` problems: one epoch of minibatch Adam, optbench vs PyTorch vs NumPy.

    python -m optbench.bench mlp [--widths 16,32,64,...] [--repeats 5] [--quick] [--write FILE]

Work: Adam (lr 1e-3, torch defaults otherwise) with minibatches of 32 on an MLP with two
hidden ReLU layers of width w, 2 inputs, 2 classes (softmax cross-entropy), on the 2,048
two-spirals samples of ``mlp(dataset="spirals", n=2048, val_frac=0)``; float64 throughout.

* optbench: ``optbench.run(problem, adam, steps=64·E, stop="budget", record="none")``, its
  ``wall_s`` (the compiled loop; compile time excluded). A run ends with one full-batch loss
  and one metrics pass (accuracies, per-layer gradient norms) that are not optimizer work, so
  the figure is the marginal cost of an epoch: (wall(2E) − wall(E)) / E.
* PyTorch (CPU, ``torch.set_num_threads(2)``, float64; float32 as an extra column):
  ``nn.Sequential`` of ``nn.Linear``/``nn.ReLU``, ``F.cross_entropy``, ``torch.optim.Adam``,
  ``zero_grad / forward / backward / step`` per minibatch.
* NumPy: the same network with hand-written batched forward/backward and Adam.

All three use the same initial weights and the same minibatch order (optbench's
:func:`~optbench.problems.minibatch.perm_index` of the run seed), so the float64 peers end
the epoch at the same weights up to rounding: checked and reported (``max |Δx|``).
"of which gradients": the 64 minibatch FG calls of an epoch alone (the rest of an optbench
epoch is the run loop: the optimizer update, norms, bookkeeping).
Each figure is the best of several repeats after a warm-up (the minimum: on a shared machine
the other figures measure the neighbours, not the code), each peer's after the same half-second
pause, so that the previous peer's spinning worker threads are idle (:func:`_settle`).
"""
from __future__ import annotations

import time

import numpy as np

import optbench as ob
from optbench.kernels import compile as kc
from optbench.problems import minibatch as mb

N, BATCH, LR = 2048, 32, 1e-3
STEPS = N // BATCH
TITLE = "## MLP problems (issue: small-MLP losses)"
WIDTHS = (16, 32, 64, 128, 256, 512, 1024)


def problem(width: int):
    return ob.problem("mlp", dataset="spirals", n=N, val_frac=0.0, width=width, depth=2,
                      activation="relu", batch=BATCH)


def batches(epochs: int, seed: int = 0) -> np.ndarray:
    """Sample indices of every minibatch (epochs·STEPS, BATCH), optbench's order."""
    perm = kc.cpu(mb.perm_index)
    return np.array([[perm(N, seed, e, k * BATCH + t) for t in range(BATCH)]
                     for e in range(epochs) for k in range(STEPS)], dtype=np.int64)


def run_optbench(p, epochs):
    res = ob.run(p, ob.optimizer("adam", lr=LR), steps=STEPS * epochs, stop="budget",
                 record="none", seed=0)
    return res.wall_s / epochs, res.x


def run_torch(p, x0, idx, dtype="float64", threads=2):
    import torch

    torch.set_num_threads(threads)
    dt = getattr(torch, dtype)
    layers = []
    for W, b in p.layers(x0):
        lin = torch.nn.Linear(W.shape[1], W.shape[0]).to(dt)
        with torch.no_grad():
            lin.weight.copy_(torch.tensor(W))
            lin.bias.copy_(torch.tensor(b))
        layers += [lin, torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:-1])
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    X = torch.tensor(p.split[0], dtype=dt)
    y = torch.tensor(p.split[1].argmax(1))
    bidx = torch.tensor(idx)
    t0 = time.perf_counter()
    for k in range(idx.shape[0]):
        b = bidx[k]
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(X[b]), y[b])
        loss.backward()
        opt.step()
    wall = time.perf_counter() - t0
    x = np.concatenate([t.detach().double().numpy().ravel() for lin in model[::2]
                        for t in (lin.weight, lin.bias)])
    return wall / (idx.shape[0] / STEPS), x


def jax_epoch_fn(p, x0, idx):
    """JAX + optax the way a JAX user writes it: ``jit`` of a ``lax.scan`` over the epoch's
    minibatches of ``optax.adam`` (float64, the same network, weights and minibatch order).
    Returns ``(fn, params0, batches)``; ``fn(params0, batches)`` → final params."""
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import optax

    X = jnp.asarray(p.split[0])
    y = jnp.asarray(p.split[1].argmax(1))
    params = [(jnp.asarray(W), jnp.asarray(b)) for W, b in p.layers(x0)]
    opt = optax.adam(LR)

    def loss(ps, xb, yb):
        h = xb
        for k, (W, b) in enumerate(ps):
            h = h @ W.T + b
            if k < len(ps) - 1:
                h = jax.nn.relu(h)
        return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(h, yb))

    def epoch(ps, bidx):
        def body(carry, b):
            ps, st = carry
            g = jax.grad(loss)(ps, X[b], y[b])
            u, st = opt.update(g, st, ps)
            return (optax.apply_updates(ps, u), st), None

        (ps, _), _ = jax.lax.scan(body, (ps, opt.init(ps)), bidx)
        return ps

    return jax.jit(epoch), params, jnp.asarray(idx)


def run_jax(p, x0, idx, repeats=3):
    """(seconds per epoch, end point in optbench's layout, compile seconds, busy threads), the
    fastest of ``repeats``."""
    from .common import time_jax

    fn, params, bidx = jax_epoch_fn(p, x0, idx)
    out, compile_s, walls, busy = time_jax(fn, (params, bidx), repeats)
    k = int(np.argmin(walls))
    x = np.concatenate([np.asarray(a).ravel() for W, b in out for a in (W, b)])
    return walls[k] / (idx.shape[0] / STEPS), x, compile_s, busy[k]


def run_numpy(p, x0, idx):
    Ws = [(W.copy(), b.copy()) for W, b in p.layers(x0)]
    X, Y = p.split[0], p.split[1]
    m = [(np.zeros_like(W), np.zeros_like(b)) for W, b in Ws]
    v = [(np.zeros_like(W), np.zeros_like(b)) for W, b in Ws]
    b1, b2, eps = 0.9, 0.999, 1e-8
    t0 = time.perf_counter()
    for t in range(1, idx.shape[0] + 1):
        xb, yb = X[idx[t - 1]], Y[idx[t - 1]]
        hs, zs = [xb], []
        for l, (W, b) in enumerate(Ws):
            z = hs[-1] @ W.T + b
            zs.append(z)
            if l < len(Ws) - 1:
                hs.append(np.maximum(z, 0.0))
        z = zs[-1] - zs[-1].max(1, keepdims=True)
        pz = np.exp(z)
        pz /= pz.sum(1, keepdims=True)
        d = (pz - yb) / xb.shape[0]
        grads = [None] * len(Ws)
        for l in range(len(Ws) - 1, -1, -1):
            grads[l] = (d.T @ hs[l], d.sum(0))
            if l > 0:
                d = (d @ Ws[l][0]) * (zs[l - 1] > 0)
        c1, c2 = 1 - b1 ** t, 1 - b2 ** t
        for l in range(len(Ws)):
            for j in range(2):
                g = grads[l][j]
                m[l][j][...] = b1 * m[l][j] + (1 - b1) * g
                v[l][j][...] = b2 * v[l][j] + (1 - b2) * g * g
                Ws[l][j][...] -= LR * (m[l][j] / c1) / (np.sqrt(v[l][j] / c2) + eps)
    wall = time.perf_counter() - t0
    return wall / (idx.shape[0] / STEPS), np.concatenate([a.ravel() for W, b in Ws for a in (W, b)])


def fg_epoch(p, x):
    """Seconds for the 64 minibatch gradients of one epoch alone (the problem's compiled FG)."""
    fg = p.cpu_kernels()[0]
    g = np.empty(p.dim)
    fg(x, g, p.data, p.idata, 0, 0)
    t0 = time.perf_counter()
    for k in range(STEPS):
        fg(x, g, p.data, p.idata, 0, k)
    return time.perf_counter() - t0


def _best(fn, repeats):
    return min(fn() for _ in range(repeats))


def default_epochs(p) -> int:
    return max(1, min(8, int(4e6 // p.dim)))


def optbench_epoch(p, epochs, repeats):
    """(seconds per epoch, seconds of ``epochs`` epochs, end point): the epoch is the
    difference of 2·epochs and epochs epochs (best of ``repeats`` each), so the run's fixed
    costs drop out; compiled and warmed first."""
    run_optbench(p, 1)                                   # compile + warm-up
    t1 = _best(lambda: run_optbench(p, epochs)[0] * epochs, repeats)
    t2 = _best(lambda: run_optbench(p, 2 * epochs)[0] * 2 * epochs, repeats)
    return (t2 - t1) / epochs, t1, run_optbench(p, epochs)[1]


SETTLE_S = 0.5   # idle time before each peer's measurement (see _settle)


def _settle():
    """Let the previous peer's worker threads (PyTorch's and XLA's pools spin a while after
    their last task) go idle before the next measurement: on a 2-core machine a spinning
    thread takes the core a single-threaded peer would otherwise have to itself. Every peer
    gets the same pause."""
    time.sleep(SETTLE_S)


def bench_width(width, repeats=5, epochs=None):
    p = problem(width)
    if epochs is None:
        epochs = default_epochs(p)
    x0 = p.x0(0)
    idx = batches(epochs)
    _settle()
    per_epoch, t1, xo = optbench_epoch(p, epochs, repeats)
    row = {"width": width, "params": p.dim, "epochs": epochs,
           "optbench_ms": 1e3 * per_epoch, "optbench_total_ms": 1e3 * t1 / epochs,
           "fg_only_ms": 1e3 * _best(lambda: fg_epoch(p, x0), repeats)}
    few = max(1, repeats // 2)
    _settle()
    npy = [run_numpy(p, x0, idx) for _ in range(few)]
    row["numpy_ms"] = 1e3 * min(o[0] for o in npy)
    row["numpy_max_dx"] = float(np.abs(npy[0][1] - xo).max())
    try:
        import jax  # noqa: F401
        import optax  # noqa: F401
    except ImportError:
        pass
    else:
        _settle()
        jx = run_jax(p, x0, idx, repeats=repeats)
        row.update(jax_ms=1e3 * jx[0], jax_max_dx=float(np.abs(jx[1] - xo).max()),
                   jax_compile_s=jx[2], jax_threads=jx[3])
    try:
        import torch  # noqa: F401
    except ImportError:
        return row
    _settle()
    run_torch(p, x0, idx[:STEPS])
    tt = [run_torch(p, x0, idx) for _ in range(repeats)]
    row["torch_ms"] = 1e3 * min(o[0] for o in tt)
    row["torch_max_dx"] = float(np.abs(tt[0][1] - xo).max())
    row["torch32_ms"] = 1e3 * min(run_torch(p, x0, idx, "float32")[0] for _ in range(few))
    row["torch_1thread_ms"] = 1e3 * min(run_torch(p, x0, idx, threads=1)[0] for _ in range(few))
    return row


def mlp(widths=WIDTHS, repeats=5) -> list[dict]:
    return [bench_width(w, repeats=repeats) for w in widths]


def to_markdown(rows) -> str:
    from optbench.record.env import environment

    env = environment()
    lines = [
        TITLE,
        "",
        f"`python -m optbench.bench mlp` on {env['cpu']} ({env['cores']} cores), numba "
        f"{env['numba']}. One epoch of minibatch Adam (batch {BATCH}, {N} samples, "
        f"{STEPS} steps) on a 2-input, 2-class MLP with two hidden ReLU layers of width w, "
        "float64, same initial weights and minibatch order for every peer; ms per epoch, best of "
        "repeats (optbench: marginal cost of an epoch, see the module doc).",
        "",
        "| width | params | optbench | of which gradients | PyTorch (2 threads) | PyTorch f32 "
        "| PyTorch 1 thread | NumPy | JAX + optax (threads) | PyTorch / optbench | NumPy / optbench "
        "| JAX / optbench (goal ≥ 1.5×) | max \\|Δx\\| vs torch, JAX |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    nan = float("nan")
    for r in rows:
        t = r.get("torch_ms", nan)
        j = r.get("jax_ms", nan)
        lines.append(
            f"| {r['width']} | {r['params']:,} | {r['optbench_ms']:.2f} | {r['fg_only_ms']:.2f} | {t:.2f} | "
            f"{r.get('torch32_ms', nan):.2f} | {r.get('torch_1thread_ms', nan):.2f} | "
            f"{r['numpy_ms']:.2f} | {j:.2f} ({r.get('jax_threads', nan):.1f}) | "
            f"{t / r['optbench_ms']:.2f}× | {r['numpy_ms'] / r['optbench_ms']:.2f}× | "
            f"{j / r['optbench_ms']:.2f}× | {r.get('torch_max_dx', nan):.1e}, "
            f"{r.get('jax_max_dx', nan):.1e} |")
    cross = [r["width"] for r in rows if r.get("torch_ms", np.inf) < r["optbench_ms"]]
    lines += ["", ("Crossover: PyTorch (float64, 2 threads) is faster from width "
                   f"{cross[0]} on." if cross else
                   "No crossover: optbench is faster than PyTorch at every width measured."), ""]
    return "\n".join(lines)
