"""Shared by the tests of the contract-v2 optimizers and of torch.optim's remaining ones: the
three problems they are checked on, optbench's run and torch's training loop over the
problem's blocks (one torch parameter per block: torch's view of the same x).

The problems: 2-D Rosenbrock, a 20-dim rotated (Haar) quadratic of condition 100, and a
2-layer MLP (one hidden layer of 8 ReLU units on a 64-sample teacher data set; blocks W1, b1,
W2, b2 as ``nn.Linear`` holds them).
"""
from __future__ import annotations

import numpy as np

import optbench as ob
from optbench.kernels.blocks import shapes

STEPS = 1000
RTOL = 1e-10


def problems() -> dict:
    return {"rosen": ob.problem("rosenbrock", dim=2),
            "quad20": ob.problem("quadratic", dim=20, cond=100.0, rotation="haar", seed=1),
            "mlp": ob.problem("mlp", depth=1, width=8, n=64, in_dim=4, out_dim=2, seed=0)}


PROBLEMS = problems()


def optbench_run(prob, opt, steps=STEPS, x0=None, record="every:1"):
    """(final x, f at every step 0 … steps, the run result) of optbench's run."""
    x0 = prob.x0(0) if x0 is None else x0
    res = ob.run(prob, opt, steps=steps, x0=x0, stop="budget", record=record)
    assert res.status == "budget" and res.nit == steps, (res.status, res.nit)
    tr = res.trace.sort_values("step")
    return res.x, tr["f"].to_numpy(), res


def split(prob, x):
    """x as the list of its blocks, shaped as torch's parameters."""
    blk = prob.blocks()
    return [np.asarray(x[o:o + n]).reshape(s) for (o, n, *_), s in zip(blk.tolist(), shapes(blk))]


def torch_run(prob, make_opt, steps=STEPS, x0=None, scheduler=None, closure=False):
    """torch's loop on the same problem: one float64 parameter per block, p.grad set from
    optbench's gradient of the whole x; ``make_opt(params)`` builds the optimizer,
    ``scheduler(opt)`` an optional lr scheduler stepped after every step. ``closure=True``
    passes a closure (re-evaluating the gradient at the current parameters) to ``step``.
    Returns (final x, f at steps 0 … steps)."""
    import torch

    x0 = prob.x0(0) if x0 is None else np.asarray(x0, float)
    params = [torch.tensor(b.copy(), dtype=torch.float64, requires_grad=True)
              for b in split(prob, x0)]
    opt = make_opt(params)
    sched = scheduler(opt) if scheduler is not None else None

    def flat():
        return np.concatenate([p.detach().numpy().ravel() for p in params])

    def set_grad():
        g = prob.grad(flat())
        for p, gb in zip(params, split(prob, g)):
            p.grad = torch.from_numpy(np.ascontiguousarray(gb, dtype=np.float64))
        return torch.tensor(prob.value(flat()))

    fs = [prob.value(flat())]
    for _ in range(steps):
        opt.zero_grad()
        set_grad()
        if closure:
            opt.step(set_grad)
        else:
            opt.step()
        if sched is not None:
            sched.step()
        fs.append(prob.value(flat()))
    return flat(), np.array(fs)


def assert_close(x, xr, f=None, fr=None, rtol=RTOL):
    """Final points equal to rtol in norm (relative), and the f traces elementwise."""
    x, xr = np.asarray(x), np.asarray(xr)
    assert np.all(np.isfinite(xr)), xr
    err = np.linalg.norm(x - xr) / max(np.linalg.norm(xr), 1e-300)
    assert err <= rtol, f"relative error {err:.3g} > {rtol:g}"
    if f is not None:
        np.testing.assert_allclose(f, fr, rtol=rtol, atol=1e-300)
