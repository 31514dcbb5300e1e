"""The modern catalogue (issue 19) against its reference implementations, one row per optimizer
(``python -m optbench.bench catalogue``): ns per step at 2-D, ms per step at d = 2²² and
run-steps per second in the 4,096-run sweep, optbench against the PyTorch reference and, for
the sweep, JAX + optax where optax has the optimizer; one process, one optimizer after another.

**Per step** (the machinery of :mod:`.optimizer_costs`): 2-D Rosenbrock, optbench's single run
(``optbench.run``, ``record="none"``, its own wall time over its steps: gradient, bookkeeping
and update, compiled) against the reference's loop in Python (the gradient written into
``.grad`` by hand, then ``step()``; its first step, which allocates the state, untimed); and
a diagonal quadratic (κ = 1e3) at d = 2²², optbench through ``optbench.run`` (the fused
parallel loop for coordinate-wise optimizers, the phased loop for the others) against the
reference with the gradient λ·x written into ``.grad`` by torch. Compile time is reported
nowhere (``wall_s`` excludes it).

**Sweep** (:mod:`.catalogue_sweep`): 64 learning rates (two decades around the default, or
``Member.lr_decades``) × 64 seeds on 2-D Rosenbrock, 10⁴ steps: optbench's ``execute()``, the
optax transformation in ``jit(vmap(lax.scan))`` and the reference stepping every run at once.

Each optimizer is one :data:`MEMBERS` entry: the reference as a factory, optbench's
hyperparameters where a row departs from the defaults (the references' defaults, tested in
``tests/test_catalogue*.py``), the optax counterpart with its arguments set to the reference's
defaults, how the sweep maps runs to the reference's parameters, and a note saying where optax
computes something else.
"""
from __future__ import annotations

import importlib
import math
from dataclasses import dataclass, field
from typing import Callable

import optbench as ob

from . import optimizer_costs as oc
from .catalogue_sweep import LAYOUTS, _rosenbrock_grad, sweep_row

TITLE = ("## Modern catalogue against its references: per step and in the 4,096-run sweep "
         "(issue: modern catalogue)")


def _ref(module: str, cls: str, **kw):
    """``(params, lr) -> module.cls(params, lr=lr, **kw)`` (params: tensors or param groups)."""
    def make(params, lr):
        return getattr(importlib.import_module(module), cls)(params, lr=lr, **kw)
    return make


@dataclass(frozen=True)
class Member:
    """One catalogue optimizer's row. The reference runs at its own defaults (equal to
    optbench's) plus ``make``'s keywords; ``hyper`` are optbench's matching departures."""

    reference: str                               # label of the PyTorch reference
    make: Callable                                # (params or groups, lr) -> torch optimizer
    hyper: dict = field(default_factory=dict)     # optbench hyperparameters besides the lr
    optax: tuple | None = None                    # ("optax.<path>", kwargs) or None
    layout: str = "batched"                       # the sweep's runs -> reference parameters
    matrix_view: bool = False                     # the reference's x is a (1, d) matrix
    autograd: bool = False                        # the reference differentiates the gradient
    matrix_blocks: bool = False                   # needs matrix blocks: large row on linear-net
    big_side: int | None = None                   # large row on linear-net, blocks of this
                                                  # side (Kronecker factors: O(side³) a step)
    lr_decades: tuple = (-1.0, 1.0)               # sweep lrs: default × 10^a … 10^b
    note: str = ""                                # departures, in words

    def __post_init__(self):
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout {self.layout!r}: one of {LAYOUTS}")


PO = "pytorch_optimizer"
MEMBERS = {
    "lion": Member("lion_pytorch.Lion", _ref("lion_pytorch", "Lion"),
                   optax=("optax.lion", {"b1": 0.9, "b2": 0.99, "weight_decay": 0.0}),
                   note="optax.lion's default weight_decay (1e-3) set to the reference's 0"),
    "adabelief": Member(f"{PO}.AdaBelief", _ref(PO, "AdaBelief"),
                        optax=("optax.adabelief", {"b1": 0.9, "b2": 0.999, "eps": 1e-16,
                                                   "eps_root": 1e-16})),
    "yogi": Member(f"{PO}.Yogi", _ref(PO, "Yogi"),
                   optax=("optax.yogi", {"b1": 0.9, "b2": 0.999, "eps": 1e-3})),
    "adan": Member("adan_pytorch.Adan", _ref("adan_pytorch", "Adan"),
                   hyper={"idle_first_step": True},
                   optax=("optax.adan", {"b1": 0.98, "b2": 0.92, "b3": 0.99, "eps": 1e-8,
                                         "eps_root": 0.0}),
                   note="optbench with idle_first_step (adan-pytorch's first step); optax.adan "
                        "weights the gradient difference by 1 − b2 = 0.08 where the paper and "
                        "the references use 0.92, and steps at t = 1: the same work, other "
                        "numbers"),
    "adopt": Member(f"{PO}.ADOPT", _ref(PO, "ADOPT"),
                    optax=("optax.contrib.adopt", {"b1": 0.9, "b2": 0.9999, "eps": 1e-6})),
    "ademamix": Member(f"{PO}.AdEMAMix", _ref(PO, "AdEMAMix"),
                       optax=("optax.contrib.ademamix", {"b1": 0.9, "b2": 0.999, "b3": 0.9999,
                                                         "alpha": 5.0, "eps": 1e-8})),
    "madgrad": Member(f"{PO}.MADGRAD", _ref(PO, "MADGRAD"),
                      optax=("optax.contrib.madgrad", {"momentum": 0.9, "eps": 1e-6})),
    "prodigy": Member("prodigyopt.Prodigy",
                      _ref("prodigyopt", "Prodigy", use_bias_correction=True),
                      hyper={"use_bias_correction": True}, layout="per-optimizer",
                      optax=("optax.contrib.prodigy", {"betas": (0.9, 0.999), "eps": 1e-8,
                                                       "estim_lr0": 1e-6,
                                                       "estim_lr_coef": 1.0}),
                      note="use_bias_correction on both sides (optax's form always corrects)"),
    "dadapt-adam": Member("dadaptation.DAdaptAdam",
                          _ref("dadaptation", "DAdaptAdam", use_bias_correction=True),
                          hyper={"use_bias_correction": True}, layout="per-optimizer",
                          optax=("optax.contrib.dadapt_adamw", {"betas": (0.9, 0.999),
                                                                "eps": 1e-8, "estim_lr0": 1e-6}),
                          note="use_bias_correction on both sides (optax's form always "
                               "corrects); optax's is the AdamW form (decoupled decay; no "
                               "decay here)"),
    "lars": Member(f"{PO}.LARS", _ref(PO, "LARS"), hyper={"adapt_vectors": True},
                   layout="per-run", matrix_view=True,
                   optax=("optax.lars", {"weight_decay": 0.0, "trust_coefficient": 1e-3,
                                         "eps": 0.0, "momentum": 0.9}),
                   note="optbench with adapt_vectors and the reference's x as a (1, d) matrix, "
                        "so that both compute the trust ratio (the reference skips vectors; "
                        "optax.lars scales every parameter); optax applies the lr inside the "
                        "momentum (the paper's order)"),
    "novograd": Member(f"{PO}.NovoGrad", _ref(PO, "NovoGrad"), layout="per-run",
                       optax=("optax.novograd", {"b1": 0.95, "b2": 0.98, "eps": 1e-8}),
                       note="optax.novograd's defaults (b1 0.9, b2 0.25, eps 1e-6) set to the "
                            "reference's"),
    "mars": Member(f"{PO}.MARS", _ref(PO, "MARS", optimize_1d=True),
                   hyper={"optimize_1d": True}, layout="per-run",
                   note="optimize_1d on both sides (x is one vector: without it the reference "
                        "runs AdamW on it with lr_1d); optax has no MARS"),
    "adahessian": Member(f"{PO}.AdaHessian", _ref(PO, "AdaHessian"), autograd=True,
                         note="the reference's Hutchinson probes differentiate the gradient "
                              "(backward with create_graph), as its users run it; optbench asks "
                              "the problem's Hessian-vector product; optax has none"),
    "shampoo": Member(f"{PO}.Shampoo", _ref(PO, "Shampoo"), layout="per-run", big_side=128,
                      note="large row: linear-net with two 128 × 128 blocks (each side's "
                           "inverse root is an O(side³) eigendecomposition every step: Jacobi "
                           "loops here, LAPACK's SVD in the reference); optax has none"),
    "soap": Member(f"{PO}.SOAP", _ref(PO, "SOAP", precondition_1d=True),
                   hyper={"precondition_1d": True}, layout="per-run", big_side=128,
                   note="precondition_1d on both sides (else a vector is plain Adam); large "
                        "row: linear-net with two 128 × 128 blocks; the reference's QR in "
                        "float32; optax has none"),
}


class MatrixSide:
    """x as one (1, d) parameter of the reference, for references that scale only matrices
    (the gradient by hand: 2-D Rosenbrock, or λ·x of the diagonal quadratic)."""

    def __init__(self, prob):
        import torch

        self.kind = prob.name
        self.p = torch.tensor(prob.x0(0).reshape(1, -1), dtype=torch.float64)
        self.p.grad = torch.zeros_like(self.p)
        self.params = [self.p]
        if self.kind == "quadratic":
            self.lam = torch.from_numpy(prob.data[:prob.dim].copy())
        elif not (self.kind == "rosenbrock" and prob.dim == 2):
            raise ValueError(f"MatrixSide: no hand-written gradient for {prob.name}")

    def set_grads(self):
        import torch

        with torch.no_grad():
            if self.kind == "quadratic":
                torch.mul(self.lam, self.p[0], out=self.p.grad[0])
            else:
                _rosenbrock_grad(self.p, self.p.grad)


def _side(member: Member, prob):
    return MatrixSide(prob) if member.matrix_view else oc.TorchSide(prob)


def step_costs(name: str, member: Member, quick: bool = False) -> dict:
    """Seconds per step at 2-D and at large d, optbench and the reference."""
    lr = ob.optimizer(name, **member.hyper).hyper["lr"]
    row = {}
    n2, nbig = (2_000, 2) if quick else (200_000, 10)
    dim = 2 ** 12 if quick else 2 ** 22
    rosen = ob.problem("rosenbrock", dim=2)
    try:
        row["ours_2d"], row["engine_2d"] = oc._ours(rosen, name, member.hyper, n2)
    except ob.OptbenchInputError as exc:            # e.g. an optimizer of matrix blocks
        row["ours_2d"], row["note_2d"] = math.nan, str(exc)
    if not math.isnan(row["ours_2d"]):
        try:
            row["ref_2d"] = oc._reference_loop(member.make, lr, _side(member, rosen),
                                               max(200, n2 // 100), False, member.autograd)
        except ImportError as exc:
            row["ref_2d"], row["note_2d"] = math.nan, f"{exc.name} not installed"
    if member.matrix_blocks or member.big_side:
        side = int(math.isqrt((dim if quick else oc.MATRIX_DIM) // 2))
        if member.big_side:
            side = min(side, member.big_side)
        prob = ob.problem("linear-net", in_dim=side, hidden=side, out_dim=side)
    else:
        prob = ob.problem("quadratic", dim=dim, cond=1e3, start="random")
    row["dim"] = prob.dim
    row["ours_big"], row["engine_big"] = oc._ours(prob, name, member.hyper, nbig)
    try:
        row["ref_big"] = oc._reference_loop(member.make, lr, _side(member, prob), nbig, False,
                                            member.autograd)
    except ImportError as exc:
        row["ref_big"], row["note_big"] = math.nan, f"{exc.name} not installed"
    return row


def measure(name: str, quick: bool = False, log=lambda m: None) -> dict:
    """One member's row: per-step costs, then the sweep (sweep skipped for matrix optimizers:
    2-D Rosenbrock has no matrix blocks)."""
    member = MEMBERS[name]
    row = {"optimizer": name, "reference": member.reference, "note": member.note}
    row.update(step_costs(name, member, quick))
    log(f"{name}: 2-D {oc._t(row.get('ours_2d'))} vs {oc._t(row.get('ref_2d'))}; "
        f"d={row['dim']:,} {oc._t(row['ours_big'])} vs {oc._t(row.get('ref_big'))}")
    if member.matrix_blocks:
        row["sweep_skipped"] = "needs matrix blocks (2-D Rosenbrock has none)"
    else:
        row.update(sweep_row(name, member, quick, log=log))
    return row


def catalogue(quick: bool = False, only=None, log=lambda m: None) -> list[dict]:
    """Every member's row (``only``: these names), in :data:`MEMBERS` order."""
    from optbench.optimizers import names

    have = set(names())
    rows = []
    for name in MEMBERS:
        if only and name not in only:
            continue
        if name not in have:
            rows.append({"optimizer": name, "skipped": "not registered"})
            continue
        rows.append(measure(name, quick, log))
    return rows


def _rate(v):
    return "—" if v is None or not math.isfinite(v) else f"{v:.3g}"


def _ratio(a, b):
    if a is None or b is None or not (math.isfinite(a) and math.isfinite(b)) or b <= 0:
        return "—"
    r = a / b
    return f"{r:,.0f}×" if r >= 100 else f"{r:.3g}×"


def _sweep_line(r: dict) -> str:
    name = f"`{r['optimizer']}`"
    if r.get("skipped") or r.get("sweep_skipped"):
        return f"| {name} | {r.get('skipped') or r['sweep_skipped']} |" + " |" * 9
    lo, hi = r["lr_range"]
    torch_cell = (f"{_rate(r['torch_rate'])} ({r['torch_layout']}, {r['torch_steps_timed']:,} "
                  "steps)" if "torch_rate" in r else r.get("torch_skipped", "—"))
    if r.get("optax_rate") is not None:
        ox = (f"`{r['optax']}` | {_rate(r['optax_rate'])} | {r['optax_compile_s']:.1f} | "
              f"{_ratio(r['ours_rate'], r['optax_rate'])} | {r['optax_agreement']:.1e}")
    else:
        ox = f"{r.get('optax_skipped', 'none')} | — | — | — | —"
    return (f"| {name} | {lo:.3g} – {hi:.3g} | {_rate(r['ours_rate'])} ({r['ours_engine']}) | "
            f"{r['ours_first_s']:.1f} | {torch_cell} | "
            f"{_ratio(r['ours_rate'], r.get('torch_rate'))} | {ox} |")


REFERENCE_PACKAGES = ("jax", "optax", "pytorch-optimizer", "lion-pytorch", "adan-pytorch",
                      "prodigyopt", "dadaptation")


def _dist_version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "not installed"


def to_markdown(rows: list[dict], quick: bool = False) -> str:
    from .peers.common import machine

    m = machine()
    vs = ", ".join(f"{p} {_dist_version(p)}" for p in REFERENCE_PACKAGES)
    sweep = next((r for r in rows if "runs" in r), None)
    size = (f"{sweep['runs']:,} runs × {sweep['steps']:,} steps" if sweep else "no sweep")
    out = [TITLE, "",
           f"`python -m optbench.bench catalogue --write BENCHMARKS.md` "
           f"(`optbench/bench/catalogue.py`, `catalogue_sweep.py`) — {m['date']}, {m['cpu']}, "
           f"{m['cores']} cores, torch {m['torch']}, {vs}. One process, one optimizer after "
           "another; compile and first-call times apart from every figure."]
    if quick:
        out += ["", "**Quick sizes (`--quick`): a check that the command runs, not a figure.**"]
    out += ["", "Per step, gradient included on both sides (2-D Rosenbrock; a diagonal quadratic "
            "at large d); ratio = reference / optbench (higher: optbench faster).", "",
            "| optimizer | reference | 2-D Rosenbrock: optbench | reference | ratio | d | "
            "large d: optbench (engine) | reference | ratio |",
            "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r.get("skipped"):
            out.append(f"| `{r['optimizer']}` | {r['skipped']} |" + " |" * 7)
            continue
        out.append(
            f"| `{r['optimizer']}` | {r['reference']} | {oc._t(r.get('ours_2d'))} | "
            f"{oc._t(r.get('ref_2d'))} | {oc._r(r.get('ours_2d'), r.get('ref_2d'))} | "
            f"{r['dim']:,} | {oc._t(r.get('ours_big'))} ({r.get('engine_big', '?')}) | "
            f"{oc._t(r.get('ref_big'))} | {oc._r(r.get('ours_big'), r.get('ref_big'))} |")
    out += ["", f"Sweep: {size} on 2-D Rosenbrock (lr × seed, random starts, the same starts, "
            "learning rates and steps on every side), run-steps per second; optbench's "
            "`execute()` with its tables (median of the timed calls), the reference stepping "
            "every run at once (timed on the steps shown), the optax transformation in "
            "`jax.jit(jax.vmap(lax.scan))` (median; its compile apart); end points: median "
            "over runs of ‖x_optbench − x_optax‖ / ‖x_optbench‖.", "",
            "| optimizer | lr range | optbench (engine) | first call (s) | PyTorch reference "
            "(layout, steps timed) | optbench / PyTorch | optax function | optax | "
            "optax compile (s) | optbench / optax | end points vs optax |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    out += [_sweep_line(r) for r in rows]
    out += ["", "Reference layouts in the sweep: *batched* — one (runs per lr, d) tensor per "
            "learning rate, each its own param group, the gradient written into `.grad` "
            "(coordinate-wise updates); *per-run* — one tensor per run grouped by learning "
            "rate (per-parameter norms must not mix runs); *per-optimizer* — one optimizer "
            "per run in a Python loop (prodigyopt and dadaptation estimate one d over all "
            "groups of an instance). In every layout the gradient of all runs is one "
            "vectorised torch expression written into views of one tensor."]
    notes = [f"`{r['optimizer']}`: {r['note']}" for r in rows if r.get("note")]
    notes += [f"`{r['optimizer']}`: {r[k]}" for r in rows for k in ("note_2d", "note_big")
              if r.get(k)]
    notes += [f"`{r['optimizer']}`: {r['early']:,} runs stopped before the budget in optbench "
              "(diverged), fewer run-steps than the other sides" for r in rows if r.get("early")]
    if notes:
        out += ["", "Notes: " + "; ".join(notes) + "."]
    return "\n".join(out) + "\n"
