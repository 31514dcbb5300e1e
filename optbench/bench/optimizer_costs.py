"""Per-step cost of each optimizer added by contract v2, against its torch / reference
implementation (``python -m optbench.bench optimizers``).

Two sizes. **2-D Rosenbrock**: optbench's single run (``optbench.run``, ``record="none"``;
the run's own wall time over its steps: gradient, bookkeeping and update, compiled) against
the reference's training loop in Python (the hand-written gradient into ``.grad``, then
``step()``), per step. **d = 2²²**: a diagonal quadratic (κ = 1e3) — optbench through
``optbench.run`` (the fused parallel loop for coordinate-wise optimizers, the phased loop
otherwise) against the reference with the gradient λ·x written into ``.grad`` by torch, per
step. Optimizers that need matrix blocks (Muon) are measured on ``linear-net`` with two
512 × 512 blocks (d = 2¹⁹: Newton–Schulz costs O(side³) per block, so 2²² would take
minutes per step), where the reference receives optbench's compiled gradient; Sophia's
reference differentiates the gradient (``backward(create_graph=True)``) for its Hutchinson
probes, as its users do.

Every optimizer's first call compiles (reported nowhere: ``wall_s`` excludes it); torch's
first step (state allocation) is not timed. Single process, one after another.
"""
from __future__ import annotations

import math
import time

import numpy as np

import optbench as ob
import optbench.kernels.compile  # noqa: F401  (numba's cache folder first)

TITLE = "## Optimizers of contract v2: per-step cost (issue: optimizer contract v2)"
MATRIX_DIM = 2 ** 19   # d of the matrix optimizers' large row (two 512 × 512 blocks)


def _torch_cls(name, **kw):
    def make(params, lr):
        import torch
        return getattr(torch.optim, name)(params, lr=lr, **kw)
    return make


def _pto(name, **kw):
    def make(params, lr):
        import pytorch_optimizer as P
        return getattr(P, name)(params, lr=lr, **kw)
    return make


def _sf(name, **kw):
    def make(params, lr):
        import schedulefree
        opt = getattr(schedulefree, name)(params, lr=lr, **kw)
        opt.train()
        return opt
    return make


def _lookahead(params, lr):
    import pytorch_optimizer as P
    import torch
    return P.Lookahead(torch.optim.Adam(params, lr=lr), k=5, alpha=0.5)


# name: (optbench hyperparameters, reference label, reference factory, closure, matrix blocks)
CATALOGUE = {
    "adamax": ({"lr": 1e-3}, "torch.optim.Adamax", _torch_cls("Adamax"), False, False),
    "nadam": ({"lr": 1e-3}, "torch.optim.NAdam", _torch_cls("NAdam"), False, False),
    "radam": ({"lr": 1e-3}, "torch.optim.RAdam", _torch_cls("RAdam"), False, False),
    "adadelta": ({"lr": 1.0}, "torch.optim.Adadelta", _torch_cls("Adadelta"), False, False),
    "asgd": ({"lr": 1e-3}, "torch.optim.ASGD", _torch_cls("ASGD"), False, False),
    "rprop": ({"lr": 1e-3}, "torch.optim.Rprop", _torch_cls("Rprop"), False, False),
    "adafactor": ({"lr": 1e-3}, "torch.optim.Adafactor", _torch_cls("Adafactor"), False,
                  False),
    "muon": ({"lr": 1e-3}, "torch.optim.Muon", _torch_cls("Muon"), False, True),
    "lamb": ({"lr": 1e-3}, "pytorch_optimizer.Lamb", _pto("Lamb"), False, False),
    "schedule-free-adamw": ({"lr": 1e-3}, "schedulefree.AdamWScheduleFree",
                            _sf("AdamWScheduleFree"), False, False),
    "schedule-free-sgd": ({"lr": 1e-3}, "schedulefree.SGDScheduleFree",
                          _sf("SGDScheduleFree"), False, False),
    "sam": ({"base": "sgd", "lr": 1e-3, "rho": 0.05}, "pytorch_optimizer.SAM (SGD)",
            None, True, False),
    "lookahead": ({"base": "adam", "lr": 1e-3}, "pytorch_optimizer.Lookahead (Adam)",
                  _lookahead, False, False),
    "sophia": ({"lr": 1e-4}, "pytorch_optimizer.SophiaH (autograd HVP)",
               _pto("SophiaH", hessian_distribution="rademacher"), False, False),
}


def _sam(params, lr):
    import pytorch_optimizer as P
    import torch
    return P.SAM(params, torch.optim.SGD, rho=0.05, lr=lr)


class TorchSide:
    """A problem as the reference's loop sees it: its parameters (one per block), the
    gradient written into ``.grad`` (by hand, with torch operations, or optbench's compiled
    gradient for layered problems) and, for optimizers that differentiate the gradient
    (Sophia's Hutchinson probes), the loss as a torch expression for autograd."""

    def __init__(self, prob):
        import torch

        from optbench.kernels.blocks import shapes
        self.prob = prob
        x0 = prob.x0(0)
        blk = prob.blocks()
        self.params = [torch.tensor(x0[o:o + n].reshape(sh).copy(), dtype=torch.float64,
                                    requires_grad=True)
                       for (o, n, *_), sh in zip(blk.tolist(), shapes(blk))]
        self.kind = prob.name
        if self.kind == "quadratic":
            self.lam = torch.from_numpy(prob.data[:prob.dim].copy())

    def set_grads(self):
        import torch
        with torch.no_grad():
            if self.kind == "rosenbrock" and self.prob.dim == 2:
                p = self.params[0]
                if p.grad is None:
                    p.grad = torch.zeros_like(p)
                x, y = p[0], p[1]
                p.grad[0] = -400.0 * x * (y - x * x) - 2.0 * (1.0 - x)
                p.grad[1] = 200.0 * (y - x * x)
            elif self.kind == "quadratic":
                p = self.params[0]
                if p.grad is None:
                    p.grad = torch.zeros_like(p)
                torch.mul(self.lam, p, out=p.grad)
            else:
                flat = np.concatenate([q.detach().numpy().ravel() for q in self.params])
                g = self.prob.grad(flat)
                o = 0
                for q in self.params:
                    n = q.numel()
                    q.grad = torch.from_numpy(g[o:o + n].reshape(q.shape).copy())
                    o += n
        return torch.zeros((), dtype=torch.float64)

    def loss(self):
        p = self.params[0]
        if self.kind == "quadratic":
            return 0.5 * (self.lam * p * p).sum()
        x, y = p[0], p[1]
        return (1.0 - x) ** 2 + 100.0 * (y - x * x) ** 2


def _reference_loop(make, lr, side: TorchSide, steps, closure, autograd=False):
    """Seconds per step of the reference's loop (its first step, which allocates the state,
    is not timed)."""
    opt = make(side.params, lr)

    def step():
        if autograd:
            opt.zero_grad()
            side.loss().backward(create_graph=True)
            opt.step()
            return
        side.set_grads()
        if closure:
            opt.first_step(zero_grad=False)          # SAM's two-step protocol
            side.set_grads()
            opt.second_step(zero_grad=False)
        else:
            opt.step()

    step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - t0) / steps


def engine_of(prob, opt, steps: int) -> str:
    """The engine that runs a single run of (prob, opt) for ``steps`` steps."""
    from optbench.runner.engines.base import Job
    from optbench.runner.execute import choose_engine
    from optbench.runner.spec import RunSpec

    spec = RunSpec.make(prob, opt, steps=steps, stop="budget", record="none")
    return choose_engine(Job([spec], prob, [opt])).name


def _ours(prob, name, hyper, steps):
    opt = ob.optimizer(name, **hyper)
    ob.run(prob, opt, steps=2, stop="budget", record="none")        # compile / load
    res = ob.run(prob, opt, steps=steps, stop="budget", record="none")
    return res.wall_s / steps, engine_of(prob, opt, steps)


def measure(name: str, quick: bool = False) -> dict:
    hyper, label, make, closure, matrix = CATALOGUE[name]
    if name == "sam":
        make = _sam
    autograd = name == "sophia"          # Hutchinson probes differentiate the gradient
    row = {"optimizer": name, "reference": label}
    n2, nbig = (2_000, 2) if quick else (200_000, 10)
    dim = 2 ** 12 if quick else 2 ** 22
    rosen = ob.problem("rosenbrock", dim=2)
    try:
        row["ours_2d"], row["engine_2d"] = _ours(rosen, name, hyper, n2)
    except ob.OptbenchInputError as exc:
        row["ours_2d"], row["note_2d"] = math.nan, str(exc)
    if not math.isnan(row["ours_2d"]):
        try:
            row["ref_2d"] = _reference_loop(make, hyper["lr"], TorchSide(rosen),
                                            max(200, n2 // 100), closure, autograd)
        except Exception as exc:  # noqa: BLE001 - a reference that cannot run is reported
            row["ref_2d"], row["note_2d"] = math.nan, f"reference failed: {exc}"
    if matrix:     # two square blocks of side s: d = 2 s² (2**19: Newton–Schulz is O(s³))
        side = int(math.isqrt((dim if quick else MATRIX_DIM) // 2))
        prob = ob.problem("linear-net", in_dim=side, hidden=side, out_dim=side)
    else:
        prob = ob.problem("quadratic", dim=dim, cond=1e3, start="random")
    row["dim"] = prob.dim
    row["ours_big"], row["engine_big"] = _ours(prob, name, hyper, nbig)
    try:
        row["ref_big"] = _reference_loop(make, hyper["lr"], TorchSide(prob), nbig, closure,
                                         autograd)
    except Exception as exc:  # noqa: BLE001
        row["ref_big"], row["note_big"] = math.nan, f"reference failed: {exc}"
    return row


def optimizers(quick: bool = False, only=None) -> list[dict]:
    from optbench.optimizers import names
    have = set(names())
    rows = []
    for name in CATALOGUE:
        if only and name not in only:
            continue
        if name not in have:
            rows.append({"optimizer": name, "skipped": "not registered"})
            continue
        rows.append(measure(name, quick))
    return rows


def _t(v):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    for scale, unit in ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs"), (1e-9, "ns")):
        if v >= scale or unit == "ns":
            return f"{v / scale:.3g} {unit}"


def _r(a, b):
    if not a or not b or math.isnan(a) or math.isnan(b):
        return "—"
    r = b / a
    return f"{r:,.0f}×" if r >= 100 else f"{r:.3g}×"


def to_markdown(rows: list[dict]) -> str:
    from .peers.common import machine

    m = machine()
    out = [TITLE, "",
           f"`python -m optbench.bench optimizers --write BENCHMARKS.md` — {m['date']}, "
           f"{m['cpu']}, {m['cores']} cores, torch {m['torch']}. Per step, gradient "
           "included on both sides; ratio = reference / optbench (higher: optbench faster).",
           "", "| optimizer | reference | 2-D Rosenbrock: optbench | reference | ratio | "
           "d | large d: optbench (engine) | reference | ratio |",
           "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r.get("skipped"):
            out.append(f"| `{r['optimizer']}` | {r['skipped']} | | | | | | | |")
            continue
        out.append(
            f"| `{r['optimizer']}` | {r['reference']} | {_t(r.get('ours_2d'))} | "
            f"{_t(r.get('ref_2d'))} | {_r(r.get('ours_2d'), r.get('ref_2d'))} | "
            f"{r.get('dim', '—'):,} | {_t(r.get('ours_big'))} ({r.get('engine_big', '?')}) | "
            f"{_t(r.get('ref_big'))} | {_r(r.get('ours_big'), r.get('ref_big'))} |")
    notes = [f"`{r['optimizer']}`: {r[k]}" for r in rows for k in ("note_2d", "note_big")
             if r.get(k)]
    if notes:
        out += ["", "Notes: " + "; ".join(notes) + "."]
    return "\n".join(out) + "\n"
