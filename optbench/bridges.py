"""Bridges: any ``torch.optim.Optimizer`` class or optax gradient transformation as an optbench
optimizer, run at Python speed on any problem through its compiled gradient.

``ob.optimizer("torch", cls="torch.optim.Adam", lr=1e-2)`` and ``ob.optimizer("optax",
fn="optax.lion", learning_rate=1e-3)`` build a :class:`Bridge`: its spec (and run id) is the
class or function path and the keyword arguments, passed through unchanged (clipping, weight
decay and everything else are the bridged optimizer's own; optbench's ``schedule``,
``clip_norm`` and ``clip_value`` are refused). Each run keeps one torch tensor / one jax array
per block of ``problem.blocks()`` (a layer's weight matrix in its shape), fed the problem's
gradient at every step; the bridge engine (``runner/engines/bridge.py``) runs the same
bookkeeping as the compiled loop, so the runs and traces tables, targets and statuses are the
ones a compiled optimizer gets. :func:`check_equivalent` compares a bridge with a compiled
optimizer over a trajectory (a port's check).
"""
from __future__ import annotations

import importlib
import math

import numpy as np

from optbench.kernels.blocks import shapes as block_shapes
from optbench.optimizers.base import Optimizer
from optbench.optimizers.schedules import Schedule
from optbench.validate import OptbenchInputError


def _plain(owner: str, key: str, v):
    """A keyword argument as canonical JSON holds it (tuples become lists)."""
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, (int, float, np.integer, np.floating)):
        return v.item() if isinstance(v, np.generic) else v
    if isinstance(v, (list, tuple)):
        return [_plain(owner, key, u) for u in v]
    raise OptbenchInputError(f"{owner}: argument {key}={v!r} must be a number, string, boolean, "
                             "None or a list of them (it is part of the run's spec)")


def _call_value(v):
    return tuple(_call_value(u) for u in v) if isinstance(v, list) else v


def _resolve(owner: str, path):
    """The object a dotted path names (``torch.optim.Adam``, ``pytorch_optimizer.Lion``)."""
    if not isinstance(path, str) or "." not in path:
        raise OptbenchInputError(f"{owner}: expected a dotted path such as "
                                 f"'{'torch.optim.Adam' if owner == 'torch' else 'optax.adam'}', "
                                 f"got {path!r}")
    mod, _, attr = path.rpartition(".")
    try:
        return getattr(importlib.import_module(mod), attr)
    except ImportError as exc:
        raise OptbenchInputError(f"{owner} bridge: cannot import {mod!r} for {path!r} ({exc}); "
                                 "pip install 'optbench[bridges]' or the package") from None
    except AttributeError:
        raise OptbenchInputError(f"{owner} bridge: {mod!r} has no {attr!r}") from None


class Bridge(Optimizer):
    """An optimizer of another library; subclasses say which (``key``: the argument naming it)."""

    kind = "bridge"
    family = "bridge"
    key = ""
    lr_key = "lr"
    bridge = True

    def __init__(self, schedule=None, clip_norm=None, clip_value=None, **kwargs):
        for name, v in (("schedule", schedule), ("clip_norm", clip_norm),
                        ("clip_value", clip_value)):
            if v not in (None, "none", "constant"):
                raise OptbenchInputError(f"{self.name} bridge: optbench's {name} does not apply; "
                                         "pass the bridged optimizer's own arguments")
        if self.key not in kwargs:
            raise OptbenchInputError(f"{self.name} bridge needs {self.key}=, e.g. "
                                     f"ob.optimizer({self.name!r}, {self.key}={self.example!r})")
        target = kwargs.pop(self.key)
        self.hyper = {self.key: target,
                      **{k: _plain(self.name, k, v) for k, v in sorted(kwargs.items())}}
        self.schedule = Schedule.make(None)
        self.clip_norm = self.clip_value = None
        self.maximize = False
        self.target = self.load(_resolve(self.name, target))

    @property
    def kwargs(self) -> dict:
        """The keyword arguments for the bridged optimizer (lists back as tuples)."""
        return {k: _call_value(v) for k, v in self.hyper.items() if k != self.key}

    @property
    def lr(self) -> float:
        v = self.hyper.get(self.lr_key)
        return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else math.nan

    @property
    def weight_decay(self):
        return (0.0, 0.0)          # the bridged optimizer's own (its kwargs)

    @property
    def spec(self) -> dict:
        return {"optimizer": self.name, **self.hyper}

    def with_hyper(self, **changes) -> "Bridge":
        return type(self)(**{**self.hyper, **changes})

    def __repr__(self):
        return f"{self.name}({', '.join(f'{k}={v!r}' for k, v in self.hyper.items())})"

    def hyper_array(self) -> np.ndarray:
        return np.zeros(1)

    def layout(self, d: int) -> dict:
        """For the memory check (``memory.py``): the bridged optimizer's state is its own;
        counted as three vectors of length d (Adam's moments and a copy of the gradient)."""
        return {"rows": 3, "nmat": 0, "md": 0, "niw": 0}

    def load(self, obj):
        raise NotImplementedError

    def stepper(self, x: np.ndarray, blocks: np.ndarray):
        """A callable ``step(g)`` that updates ``x`` in place from the gradient ``g``."""
        raise NotImplementedError


def _refused(name, target, kwargs, exc) -> OptbenchInputError:
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    return OptbenchInputError(f"{name} bridge: {target}({args}) refused: {msg}")


class TorchBridge(Bridge):
    name = "torch"
    key = "cls"
    example = "torch.optim.Adam"
    doc = "any torch.optim.Optimizer class, on the problem's NumPy gradient (Python speed)"

    def load(self, cls):
        import torch

        if not (isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer)):
            raise OptbenchInputError(f"torch bridge: {self.hyper['cls']} is not a "
                                     "torch.optim.Optimizer class")
        try:     # the arguments are checked now, on a throwaway 2-D parameter
            cls([torch.zeros(2, 2, dtype=torch.float64, requires_grad=True)], **self.kwargs)
        except Exception as exc:  # noqa: BLE001 - whatever the class raises, as one line
            raise _refused("torch", self.hyper["cls"], self.kwargs, exc) from None
        return cls

    def stepper(self, x, blocks):
        import torch

        params, grads = [], []
        for (off, n, *_), shp in zip(blocks.tolist(), block_shapes(blocks)):
            # views of x: the optimizer's in-place updates write x itself
            p = torch.from_numpy(x[off:off + n].reshape(shp))
            params.append(p.requires_grad_())
            grads.append((off, n, shp))
        # torch keeps some per-parameter scalars in its default dtype (NAdam's mu_product,
        # ASGD's eta and mu): float64 while the bridge builds and steps, like every CPU run
        old = torch.get_default_dtype()
        torch.set_default_dtype(torch.float64)
        try:
            opt = self.target(params, **self.kwargs)
        finally:
            torch.set_default_dtype(old)

        def step(g):
            for p, (off, n, shp) in zip(params, grads):
                p.grad = torch.from_numpy(g[off:off + n].reshape(shp).copy())
            before = torch.get_default_dtype()
            torch.set_default_dtype(torch.float64)
            try:
                opt.step()
            finally:
                torch.set_default_dtype(before)
        return step


class OptaxBridge(Bridge):
    name = "optax"
    key = "fn"
    lr_key = "learning_rate"
    example = "optax.adam"
    doc = "any optax gradient transformation, on the problem's NumPy gradient (Python speed)"

    def load(self, fn):
        import jax

        jax.config.update("jax_enable_x64", True)     # float64, like every CPU run
        if not callable(fn):
            raise OptbenchInputError(f"optax bridge: {self.hyper['fn']} is not callable")
        try:
            tx = fn(**self.kwargs)
        except Exception as exc:  # noqa: BLE001
            raise _refused("optax", self.hyper["fn"], self.kwargs, exc) from None
        if not (hasattr(tx, "init") and hasattr(tx, "update")):
            raise OptbenchInputError(f"optax bridge: {self.hyper['fn']}(...) is not a gradient "
                                     "transformation (no init/update)")
        return fn

    def stepper(self, x, blocks):
        import jax
        import jax.numpy as jnp
        import optax

        tx = self.target(**self.kwargs)
        layout = [(off, n, shp) for (off, n, *_), shp in zip(blocks.tolist(),
                                                             block_shapes(blocks))]
        params = [jnp.asarray(x[off:off + n].reshape(shp)) for off, n, shp in layout]
        state = [tx.init(params)]

        @jax.jit
        def update(grads, st, ps):
            upd, st = tx.update(grads, st, ps)
            return optax.apply_updates(ps, upd), st

        update(params, state[0], params)   # compiled now (a pure function: nothing changes)

        def step(g):
            ps = [jnp.asarray(x[off:off + n].reshape(shp)) for off, n, shp in layout]
            gs = [jnp.asarray(g[off:off + n].reshape(shp)) for off, n, shp in layout]
            ps, state[0] = update(gs, state[0], ps)
            for (off, n, _), p in zip(layout, ps):
                x[off:off + n] = np.asarray(p).ravel()
        return step


BRIDGES = {"torch": TorchBridge, "optax": OptaxBridge}


def make(spec, **params):
    """A bridge from a name (``"torch"``, ``"optax"``) or a spec dict, else None."""
    if isinstance(spec, str) and spec in BRIDGES:
        return BRIDGES[spec](**params)
    if isinstance(spec, dict):
        name = spec.get("optimizer", spec.get("name"))
        if isinstance(name, str) and name in BRIDGES:
            d = {k: v for k, v in spec.items() if k not in ("optimizer", "name")}
            return BRIDGES[name](**{**d, **params})
    return None


# -- the torch / optax equivalents of optbench's compiled optimizers -------------------------
_TUPLES = {"betas": ("beta1", "beta2"), "etas": ("etaminus", "etaplus"),
           "step_sizes": ("step_size_min", "step_size_max"), "eps": ("eps1", "eps2"),
           "ns_coefficients": ("ns_a", "ns_b", "ns_c")}


def torch_equivalent(optimizer) -> TorchBridge:
    """The torch bridge with the same semantics as a built-in optimizer that names a
    ``torch_name`` (its hyperparameters in torch's spelling)."""
    from optbench import optimizers as O

    opt = O.make(optimizer)
    if not getattr(opt, "torch_name", None):
        raise OptbenchInputError(f"optimizer {opt.name} has no torch.optim equivalent")
    if opt.schedule.spec != Schedule.make(None).spec or opt.clip_norm or opt.clip_value:
        raise OptbenchInputError("torch_equivalent: schedules and clipping are not translated")
    h = {k: v for k, v in opt.hyper.items() if k != "bias_correction" or v}
    for k, parts in _TUPLES.items():
        if all(p in h for p in parts):
            h[k] = [h.pop(p) for p in parts]
    return TorchBridge(cls=f"torch.optim.{opt.torch_name}", **h)


# -- a port's check ------------------------------------------------------------------------
def bridged_trajectory(problem, bridged, steps: int, *, x0=None, seed: int = 0):
    """x_0 … x_steps and f along them of a bridged optimizer (stops at a non-finite f)."""
    from optbench import problems as P

    prob, opt = P.make(problem), make_bridge(bridged)
    x = np.array(prob.x0(seed) if x0 is None else x0, dtype=np.float64)
    fg, _ = prob.cpu_kernels()[:2]
    step, g = opt.stepper(x, prob.blocks()), np.empty(prob.dim)
    xs, fs = [], []
    for t in range(int(steps) + 1):
        f = fg(x, g, prob.data, prob.idata, seed, t)
        xs.append(x.copy())
        fs.append(prob.value(x) if prob.stochastic else f)
        if t == steps or not (np.isfinite(f) and np.isfinite(g).all()):
            break
        step(g)
    return np.array(xs), np.array(fs)


def make_bridge(bridged) -> Bridge:
    from optbench import optimizers as O

    opt = O.make(bridged)
    if not isinstance(opt, Bridge):
        raise OptbenchInputError(f"expected a bridge (ob.optimizer('torch', cls=...) or "
                                 f"ob.optimizer('optax', fn=...)), got {opt!r}")
    return opt


def check_equivalent(compiled, bridged, problem, steps: int = 500, *, x0=None, seed: int = 0,
                     max_points: int = 200) -> dict:
    """Max relative deviation between a compiled optimizer and a bridged one over a trajectory
    (``analysis.trajectory``: x_k at up to ``max_points`` budgets k ≤ steps, every step when
    steps ≤ max_points): ``{"x": max_k ‖x_k − x'_k‖ / ‖x_k‖, "f": max_k |f_k − f'_k| / |f_k|,
    "points": k compared, "steps": last k compared}``."""
    from optbench.analysis.trajectory import trajectory

    make_bridge(bridged)
    traj = trajectory(problem, compiled, steps, x0=x0, seed=seed, max_points=max_points)
    bx, bf = bridged_trajectory(problem, bridged, int(traj["step"].max()), x0=x0, seed=seed)
    ks = traj["step"].to_numpy()
    ks = ks[ks < len(bx)]
    cx = np.stack(traj["x"].to_numpy()[:len(ks)])
    cf = traj["f"].to_numpy()[:len(ks)].astype(float)
    tiny = np.finfo(float).tiny
    dx = np.linalg.norm(cx - bx[ks], axis=1) / np.maximum(np.linalg.norm(cx, axis=1), tiny)
    df = np.abs(cf - bf[ks]) / np.maximum(np.abs(cf), tiny)
    return {"x": float(np.max(dx)), "f": float(np.max(df)), "points": int(len(ks)),
            "steps": int(ks[-1])}
