"""The tidy tables (DESIGN.md §4): ``runs`` (one row per run) and ``traces`` (long).

runs columns: run_id, problem, problem_params (JSON), dim, optimizer, optimizer_params (JSON),
lr, seed, budget, stop, device, dtype, status, message, nit, nfev, ngev, nhev, f0, fun,
best_f, f_star, grad_norm, dist_to_opt, wall_s, compile_s, batch_size, env_id, the full
target ladder with first-hit steps (``targets``, ``hit_step``, ``hit_step_grad``: lists, −1 for
a miss) and, for the table targets 10 … 1e−7, ``steps_<t>`` / ``ngev_<t>`` (NaN for a miss).

traces columns: run_id, step, ngev, f, best_f, grad_norm, dist_to_opt, time_s.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd

from optbench.runner import loop as L

from .targets import TABLE_TARGETS

# gradient-equivalent evaluations (a value with its gradient is free; first-order runs:
# grad_equiv = ngev)
COST_MODEL = "grad_equiv = ngev + 0.5*(nfev - ngev) + nhev + dim*nhess"

TRACE_COLUMNS = ["run_id", "step", "ngev", "f", "best_f", "grad_norm", "dist_to_opt", "time_s"]


def target_label(t: float) -> str:
    return f"{t:g}"


def _base(spec) -> dict:
    p = spec.problem_params
    o = spec.optimizer_params
    return {
        "run_id": spec.run_id,
        "problem": p["problem"],
        "problem_params": spec.problem,
        "optimizer": o["optimizer"],
        "optimizer_params": spec.optimizer,
        "lr": float(o.get("lr", np.nan)),
        "seed": spec.seed,
        "budget": spec.steps,
        "stop": spec.stop,
        "device": spec.device,
        "dtype": spec.dtype,
    }


def table_target_index(ladder) -> list:
    """(label, position in ``ladder`` or -1) of each TABLE_TARGETS entry (once per batch)."""
    out = []
    for t in TABLE_TARGETS:
        j = np.nonzero(np.isclose(ladder, t, rtol=1e-9, atol=0))[0]
        out.append((target_label(t), int(j[0]) if j.size else -1))
    return out


def run_row(spec, opt, prob, out, iout, hitf, hitg, ladder, wall, compile_s, batch, env_id,
            tidx=None):
    row = _base(spec)
    status = L.STATUS[int(iout[L.I_STATUS])]
    nit = int(iout[L.I_NIT])
    msg = {
        "converged": "reached the final target" if spec.stop != "gtol" and prob.f_star is not None
        else "gradient norm below gtol",
        "budget": "step budget exhausted",
        "diverged": f"diverged at step {nit} (non-finite or exploding f or gradient)",
    }[status]
    row.update({
        "dim": prob.dim, "status": status, "message": msg, "nit": nit,
        "nfev": int(iout[L.I_NFEV]), "ngev": int(iout[L.I_NGEV]), "nhev": 0, "nhess": 0,
        "grad_equiv": float(iout[L.I_NGEV]), "cost_model": COST_MODEL,
        "f0": float(out[L.O_F0]), "fun": float(out[L.O_F]), "best_f": float(out[L.O_BEST]),
        "f_star": np.nan if prob.f_star is None else float(prob.f_star),
        "grad_norm": float(out[L.O_GNORM]), "dist_to_opt": float(out[L.O_DIST]),
        "wall_s": float(wall), "compile_s": float(compile_s), "batch_size": int(batch),
        "env_id": env_id,
        "targets": np.asarray(ladder, dtype=np.float64).tolist(),
        "hit_step": np.asarray(hitf, dtype=np.int64).tolist(),
        "hit_step_grad": np.asarray(hitg, dtype=np.int64).tolist(),
    })
    for lab, j in (tidx if tidx is not None else table_target_index(ladder)):
        h = int(hitf[j]) if j >= 0 else -1
        row[f"steps_{lab}"] = float(h) if h >= 0 else np.nan
        row[f"ngev_{lab}"] = row[f"grad_equiv_{lab}"] = float(h + 1) if h >= 0 else np.nan
    return row


def error_row(spec, message: str) -> dict:
    row = _base(spec)
    nan = float("nan")
    row.update({"dim": -1, "status": "error", "message": message, "nit": 0, "nfev": 0, "ngev": 0,
                "nhev": 0, "f0": nan, "fun": nan, "best_f": nan, "f_star": nan, "grad_norm": nan,
                "dist_to_opt": nan, "wall_s": nan, "compile_s": nan, "batch_size": 0, "env_id": "",
                "targets": list(spec.targets), "hit_step": [-1] * len(spec.targets),
                "hit_step_grad": [-1] * len(spec.targets)})
    for t in TABLE_TARGETS:
        row[f"steps_{target_label(t)}"] = nan
        row[f"ngev_{target_label(t)}"] = nan
    return row


def repeat_ids(ids: list, counts: np.ndarray):
    """``np.repeat(ids, counts)`` as a string column, built in Arrow when pandas stores
    strings in Arrow (the default of pandas 3): 7× faster for a sweep's trace table."""
    dtype = pd.Series(["x"]).dtype
    if getattr(dtype, "storage", None) == "pyarrow":
        import pyarrow as pa

        take = pa.array(np.repeat(np.arange(len(ids)), counts))
        return pd.array(pa.array(ids, type=pa.large_string()).take(take), dtype=dtype)
    return np.repeat(np.array(ids, dtype=object), counts)


def trace_frame(run_id: str, tr: np.ndarray, tsec: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({
        "run_id": run_id,
        "step": tr[:, L.T_STEP].astype(np.int64),
        "ngev": tr[:, L.T_NGEV].astype(np.int64),
        "f": tr[:, L.T_F], "best_f": tr[:, L.T_BEST], "grad_norm": tr[:, L.T_GNORM],
        "dist_to_opt": tr[:, L.T_DIST], "time_s": np.asarray(tsec, dtype=np.float64),
    })


def empty_trace(run_id: str) -> pd.DataFrame:
    return trace_frame(run_id, np.zeros((0, L.N_TRACE)), np.zeros(0))


def runs_frame(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    for c in ("status", "problem", "optimizer", "device", "dtype", "stop"):
        if c in df:
            df[c] = df[c].astype("string")
    return df


def traces_frame(parts: list[pd.DataFrame]) -> pd.DataFrame:
    parts = [p for p in parts if p is not None]
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in TRACE_COLUMNS})
    return pd.concat(parts, ignore_index=True)


def hyper_columns(runs: pd.DataFrame) -> pd.DataFrame:
    """Expand ``optimizer_params`` JSON into one column per hyperparameter (prefixed ``hp_``)."""
    ex = pd.json_normalize([json.loads(s) for s in runs["optimizer_params"]]).add_prefix("hp_")
    ex.index = runs.index
    return pd.concat([runs, ex], axis=1)
