"""The Python API: ``run`` (one run, an OptimizeResult-like value) and ``sweep`` (tables)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from . import plugins
from .memory import check_specs
from .runner.execute import execute
from .runner.executors import group_specs
from .runner.expand import expand  # noqa: F401  (optbench.api.expand: the same function)
from .runner.spec import RunSpec
from .validate import boolean


@dataclass
class RunResult:
    """Result of one run, in scipy ``OptimizeResult`` vocabulary.

    ``steps_to_target``: one row per target (kind 'f' on best-so-far f − f*, 'grad' on ‖∇f‖),
    with the first step that met it and its gradient-evaluation count (NaN: missed)."""

    x: np.ndarray
    x0: np.ndarray
    fun: float
    nit: int
    nfev: int
    ngev: int
    nhev: int
    status: str
    message: str
    success: bool
    grad_norm: float
    wall_s: float
    compile_s: float
    trace: pd.DataFrame
    steps_to_target: pd.DataFrame
    run_id: str
    spec: RunSpec
    row: dict = field(repr=False, default_factory=dict)

    def __repr__(self):
        return (f"RunResult(status={self.status!r}, fun={self.fun:.6g}, nit={self.nit}, "
                f"ngev={self.ngev}, wall_s={self.wall_s:.3g}, message={self.message!r})")


def _steps_table(row) -> pd.DataFrame:
    t = np.asarray(row["targets"], float)
    hf = np.asarray(row["hit_step"], float)
    hg = np.asarray(row["hit_step_grad"], float)
    hf[hf < 0] = np.nan
    hg[hg < 0] = np.nan
    return pd.DataFrame({"kind": ["f"] * t.size + ["grad"] * t.size,
                         "target": np.concatenate([t, t]),
                         "step": np.concatenate([hf, hg]),
                         "ngev": np.concatenate([hf + 1, hg + 1])})


def run(problem, optimizer, steps: int = 1000, *, x0=None, seed: int = 0, targets=None,
        stop: str = "target", gtol: float = 1e-8, record="log", device: str = "cpu",
        dtype: str = "float64") -> RunResult:
    """Run one optimizer on one problem (everything validated before compilation)."""
    plugins.load()  # the installed packages' optbench.plugins entry points (once)
    spec = RunSpec.make(problem, optimizer, seed=seed, steps=steps, targets=targets, stop=stop,
                        gtol=gtol, record=record, x0=x0, device=device, dtype=dtype)
    runs, traces, xs = execute([spec], parallel=False, keep_x=True)
    row = runs.iloc[0].to_dict()
    x0v, xv = xs[0] if xs[0] is not None else (None, None)
    return RunResult(
        x=xv, x0=x0v, fun=row["fun"], nit=int(row["nit"]), nfev=int(row["nfev"]),
        ngev=int(row["ngev"]), nhev=int(row["nhev"]), status=row["status"],
        message=row["message"], success=row["status"] == "converged",
        grad_norm=row.get("grad_norm", np.nan), wall_s=row.get("wall_s", np.nan),
        compile_s=row.get("compile_s", np.nan), trace=traces.drop(columns="run_id"),
        steps_to_target=_steps_table(row), run_id=row["run_id"], spec=spec, row=row)


def sweep(problems, optimizers, grid: dict | None = None, seeds=(0,), steps: int = 1000, *,
          parallel: bool | None = None, **kw):
    """Run the cross product problems × optimizers × grid × seeds (the arguments of
    :func:`optbench.runner.expand.expand`, which TOML suites use too); returns ``(runs,
    traces)`` DataFrames (see optbench.record.tables).

    Its batches (one per problem and optimizer family, all runs of a batch held at once) are
    checked against the available memory before anything runs (:mod:`optbench.memory`)."""
    if parallel is not None:
        parallel = boolean("parallel", parallel)
    plugins.load()
    specs = expand(problems, optimizers, grid, seeds, steps, **kw)
    check_specs(specs, groups=group_specs(specs))
    return execute(specs, parallel=parallel)


def __getattr__(name):
    if name in ("run_suite", "load_suite"):
        from .runner import suites
        return getattr(suites, name)
    if name == "load":
        from .record.store import load
        return load
    raise AttributeError(name)
