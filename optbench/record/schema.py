"""The output schema, declared once: every column of the ``runs`` and ``traces`` tables.

Each :class:`Column` has a name, a dtype, a unit, its meaning, the drivers that fill it
(``filled``) and the value a row gets from a driver that does not (``default``). Table
builders (:mod:`optbench.record.tables`) refuse a column that is not declared here, a
declared column that a driver should fill but did not, and one it should not fill; README's
column list is generated from this module (``python -m optbench.record.schema --markdown``;
``--update README.md`` rewrites the marked blocks) and a test keeps the two equal.

Drivers (engines, see ``runner/engines``) are named by the tags of :data:`DRIVERS`.
Families: ``steps_<t>``, ``ngev_<t>``, ``grad_equiv_<t>`` expand over the table targets
``TABLE_TARGETS``; the trace family ``<metric>`` expands over the problem's
``metric_names()`` (present only in traces of problems that declare metrics).

Bump :data:`SCHEMA_VERSION` whenever the set of columns or a dtype changes: results folders
carry it, and a folder of another version is refused with a message (``record/store.py``).
"""
from __future__ import annotations

import functools

import math
from dataclasses import dataclass

from .targets import TABLE_TARGETS

SCHEMA_VERSION = 3   # 2: every driver writes every declared column (v1 tables varied by driver)
                     # 3: contract v2 (the phased driver; traces f_avg, nhev beyond second order)

DRIVERS = {
    "generic": "the generic compiled loop",
    "special": "the pair-specialised loop",
    "lockstep": "the lockstep sweep driver",
    "lanes": "the lane sweep driver (runs innermost, vectorised)",
    "fused": "the fused large-d loop",
    "phased": "the contract-v2 loop (reductions, blocks, extra gradients, HVPs)",
    "second-order": "the second-order, line-search and zero-order loop",
    "cuda-thread": "CUDA, a thread per run",
    "cuda-grid": "CUDA, the grid on one run",
    "bridge": "a torch.optim / optax optimizer stepped from Python (optbench/bridges.py)",
    "error": "the rows of a batch that raised (status error, no traces)",
}
FIRST_ORDER_CPU = ("generic", "special", "lockstep", "lanes", "fused", "phased")
CUDA = ("cuda-thread", "cuda-grid")
RESULTS = FIRST_ORDER_CPU + ("second-order",) + CUDA + ("bridge",)   # every driver that ran one
ALL = RESULTS + ("error",)
_GROUPS = ((ALL, "all"), (RESULTS, "all but error rows"), (("second-order",), "second-order"),
           (CUDA, "CUDA"))

# dtypes: "text" is free text in the running pandas' default string dtype; "string" is
# pandas' StringDtype (missing = <NA>); a list column is an object column whose cells are
# 1-D NumPy arrays of the item dtype, in memory as read back from a results folder
DTYPES = ("int64", "float64", "string", "text", "list<float64>", "list<int64>")

# gradient-equivalent evaluations: a value computed with its gradient is free, a value alone
# costs ½, a Hessian-vector product 1, a dense Hessian d
COST_MODEL = "grad_equiv = ngev + 0.5*(nfev - ngev) + nhev + dim*nhess"


def grad_equiv(nfev, ngev, nhev, nhess, dim):
    """COST_MODEL as arithmetic: on numbers, NumPy arrays, or inside compiled code."""
    return ngev + 0.5 * (nfev - ngev) + nhev + dim * nhess


@dataclass(frozen=True)
class Column:
    name: str             # "<t>" / "<metric>" mark a family
    dtype: str            # one of DTYPES
    unit: str
    meaning: str
    filled: tuple = ALL   # drivers that fill it
    default: object = None   # value elsewhere (None: missing; only for text/string columns)


NAN = math.nan
STATUSES = ("converged", "budget", "diverged", "failed", "error")

RUNS = (
    Column("run_id", "text", "", "hash of the run spec (16 hex digits): the key of both tables"),
    Column("problem", "string", "", "problem name"),
    Column("problem_params", "text", "JSON", "the problem's resolved parameters (canonical JSON)"),
    Column("optimizer", "string", "", "optimizer name"),
    Column("optimizer_params", "text", "JSON",
           "the optimizer's hyperparameters, schedule and clipping (canonical JSON)"),
    Column("lr", "float64", "", "learning rate (NaN: the method has none)"),
    Column("seed", "int64", "", "seed of the random start and of stochastic problems"),
    Column("budget", "int64", "steps", "step budget n (steps t = 0 … n)"),
    Column("stop", "string", "", "stop rule: `target`, `gtol` or `budget`"),
    Column("device", "string", "", "`cpu` or `cuda`"),
    Column("dtype", "string", "", "`float64`, or `float32` on `cuda`"),
    Column("dim", "int64", "", "problem dimension d (−1 on error rows)"),
    Column("status", "string", "", "`" + "`, `".join(STATUSES) + "`"),
    Column("message", "text", "", "the status in words (error rows: the exception)"),
    Column("nit", "int64", "steps", "steps taken: the last step t"),
    Column("nfev", "int64", "evaluations", "objective values (first-order: = ngev)"),
    Column("ngev", "int64", "evaluations", "gradients (first-order: nit + 1)"),
    Column("nhev", "int64", "evaluations", "Hessian-vector products",
           ("second-order", "phased"), 0),
    Column("nhess", "int64", "evaluations", "dense Hessians", ("second-order",), 0),
    Column("grad_equiv", "float64", "gradient-equivalents", "the cost under `cost_model`"),
    Column("cost_model", "text", "", f"`{COST_MODEL}`"),
    Column("f0", "float64", "", "f(x₀)", RESULTS, NAN),
    Column("fun", "float64", "", "f at the last step", RESULTS, NAN),
    Column("best_f", "float64", "", "best-so-far f", RESULTS, NAN),
    Column("f_star", "float64", "", "the known minimum f* (NaN: unknown)", RESULTS, NAN),
    Column("grad_norm", "float64", "", "‖∇f‖ at the last step", RESULTS, NAN),
    Column("dist_to_opt", "float64", "", "‖x − x*‖ at the last step (NaN: x* unknown)",
           RESULTS, NAN),
    Column("wall_s", "float64", "s", "the run's time in the timed call (cycle counter; lockstep: "
           "its share of its chunk; CUDA: kernel time shared by the batch)", RESULTS, NAN),
    Column("compile_s", "float64", "s", "time before the timed call, shared by the batch: problem "
           "and optimizers built, drivers compiled or loaded, zero-step warm-up", RESULTS, NAN),
    Column("batch_size", "int64", "runs", "runs in the batch (0 on error rows)"),
    Column("env_id", "text", "", "hash of the environment (versions, CPU, git commit); "
           "empty on error rows"),
    Column("targets", "list<float64>", "", "the target ladder (on f − f* and on ‖∇f‖)"),
    Column("hit_step", "list<int64>", "steps", "first step with best f − f* ≤ each target "
           "(−1: missed)"),
    Column("hit_step_grad", "list<int64>", "steps", "first step with ‖∇f‖ ≤ each target "
           "(−1: missed)"),
    Column("steps_<t>", "float64", "steps", "`hit_step` at table target t (NaN: missed)",
           RESULTS, NAN),
    Column("ngev_<t>", "float64", "evaluations", "gradients at that step", RESULTS, NAN),
    Column("grad_equiv_<t>", "float64", "gradient-equivalents", "cost at that step",
           RESULTS, NAN),
    Column("kind", "string", "", "`first_order`, `second_order` or `zero_order`", RESULTS),
    Column("n_inner", "int64", "iterations", "inner CG / MINRES / Lanczos iterations",
           ("second-order",), 0),
    Column("n_ls_evals", "int64", "evaluations", "line-search evaluations", ("second-order",), 0),
    Column("n_rejected", "int64", "steps", "rejected steps (damping retries)",
           ("second-order",), 0),
    Column("hit_ngev", "list<float64>", "evaluations", "gradients at each ladder target "
           "(NaN: missed)"),
    Column("hit_grad_equiv", "list<float64>", "gradient-equivalents", "cost at each ladder "
           "target (NaN: missed)"),
    Column("device_name", "text", "", "the GPU's name", CUDA),
    Column("gpu_layout", "text", "", "`thread per run` or `grid per run (B blocks x T threads)`",
           CUDA),
    Column("transfer_s", "float64", "s", "host–device transfers per run", CUDA, NAN),
)

TRACES = (
    Column("run_id", "text", "", "the run (see runs)", RESULTS),
    Column("step", "int64", "steps", "step t of the recorded point", RESULTS),
    Column("ngev", "int64", "evaluations", "gradients so far", RESULTS),
    Column("f", "float64", "", "f(x_t) (stochastic problems: the full-batch f)", RESULTS),
    Column("best_f", "float64", "", "best f so far", RESULTS),
    Column("grad_norm", "float64", "", "‖∇f(x_t)‖", RESULTS),
    Column("dist_to_opt", "float64", "", "‖x_t − x*‖ (NaN: x* unknown)", RESULTS),
    Column("time_s", "float64", "s", "time since the run started (no cycle counter, CUDA: "
           "spread by step)", RESULTS),
    Column("nfev", "int64", "evaluations", "values so far (first-order: = ngev)", RESULTS),
    Column("nhev", "int64", "evaluations", "Hessian-vector products so far",
           ("second-order", "phased"), 0),
    Column("nhess", "int64", "evaluations", "dense Hessians so far", ("second-order",), 0),
    Column("grad_equiv", "float64", "gradient-equivalents", "cost so far", RESULTS),
    Column("step_size", "float64", "", "step length α of the step that reached x_t",
           ("second-order",), NAN),
    Column("slope", "float64", "", "gᵀp of that step", ("second-order",), NAN),
    Column("f_avg", "float64", "", "f at the optimizer's averaged point (ASGD's ax, "
           "Schedule-Free's x), recorded by the phased engine; NaN for optimizers without "
           "one and in fused or CUDA runs", ("phased",), NAN),
    Column("<metric>", "float64", "", "the problem's extra columns (`metric_names()`; `mlp`: "
           "train_accuracy, val_loss, val_accuracy, grad_norm_layer1…L+1), at recorded points, "
           "not charged", ("generic", "special", "lockstep", "lanes", "phased", "cuda-thread", "bridge"),
           NAN),
)

TABLES = {"runs": RUNS, "traces": TRACES}
PRODUCERS = {"runs": ALL, "traces": RESULTS}     # error rows have no trace


def target_label(t: float) -> str:
    """Column suffix of table target t: ``steps_1e-05``."""
    return f"{t:g}"


def expand(table: str, metrics=()) -> list[tuple[str, Column]]:
    """(column name, declaration) of every column of ``table`` in order; families expanded
    (``metrics``: the problem's ``metric_names()``)."""
    out = []
    cols = TABLES[table]
    i = 0
    while i < len(cols):
        if "<t>" in cols[i].name:     # a run of per-target families: interleaved by target
            j = i
            while j < len(cols) and "<t>" in cols[j].name:
                j += 1
            for t in TABLE_TARGETS:
                out += [(c.name.replace("<t>", target_label(t)), c) for c in cols[i:j]]
            i = j
            continue
        c = cols[i]
        out += [(m, c) for m in metrics] if c.name == "<metric>" else [(c.name, c)]
        i += 1
    return out


def column(table: str, name: str) -> Column:
    """The declaration of column (or family) ``name`` of ``table``."""
    return next(c for c in TABLES[table] if c.name == name)


def names(table: str, metrics=()) -> list[str]:
    return [n for n, _ in expand(table, metrics)]


@functools.lru_cache(maxsize=None)
def pandas_dtype(dtype: str):
    """The pandas dtype of a declared dtype (in the running pandas; computed once per dtype:
    finding the text dtype builds a Series, 60 µs, and a table asks once per column)."""
    import numpy as np
    import pandas as pd

    if dtype in ("int64", "float64"):
        return np.dtype(dtype)
    if dtype == "string":
        return pd.StringDtype()
    if dtype == "text":
        return pd.Series(["x"]).dtype      # str in pandas 3, object before
    return np.dtype(object)


# -- README ----------------------------------------------------------------------------
def _filled(c: Column, producers: tuple) -> str:
    if set(producers) <= set(c.filled):
        return "all"
    for group, label in _GROUPS:
        if set(c.filled) == set(group):
            return label
    return ", ".join(c.filled)


def _default(c: Column, producers: tuple) -> str:
    if set(producers) <= set(c.filled):
        return ""
    if c.default is None:
        return "missing"
    return "NaN" if isinstance(c.default, float) and math.isnan(c.default) else repr(c.default)


def _table_md(table: str) -> str:
    producers = PRODUCERS[table]
    rows = ["| column | dtype | unit | meaning | filled by | else |", "|---|---|---|---|---|---|"]
    for c in TABLES[table]:
        rows.append(f"| `{c.name}` | {c.dtype} | {c.unit} | {c.meaning} | {_filled(c, producers)} | "
                    f"{_default(c, producers)} |")
    return "\n".join(rows)


def _wrap(text: str) -> str:
    import textwrap

    return textwrap.fill(text, width=94, break_long_words=False, break_on_hyphens=False)


def markdown_columns() -> str:
    """README's column list (between ``<!-- schema:columns begin/end -->`` markers)."""
    labels = ", ".join(target_label(t) for t in TABLE_TARGETS)
    intro = _wrap(
        f"Every table has every column below, whichever driver ran it (schema version "
        f"{SCHEMA_VERSION}; declared in `optbench/record/schema.py`, this list is generated by "
        f"`python -m optbench.record.schema --markdown`). A driver that does not fill a column "
        f"leaves the value under *else*. A list<…> cell is a 1-D NumPy array of that item "
        f"dtype, in memory as read back from Parquet. `<t>` stands for each table target "
        f"t ∈ {{{labels}}}. Drivers:")
    drivers = "\n".join(f"`{k}` {v};" for k, v in DRIVERS.items())[:-1] + "."
    return (f"{intro}\n{_wrap(drivers)}\n\n"
            f"`runs`, one row per run:\n\n{_table_md('runs')}\n\n"
            f"`traces`, one row per recorded point of a run:\n\n{_table_md('traces')}")


def markdown_second_order() -> str:
    """README's sentence on the columns only the second-order loop fills."""
    def only(cols):
        return ", ".join(f"`{c.name}`" for c in cols if set(c.filled) <= {"second-order", "error"}
                         and "second-order" in c.filled)
    return _wrap(
        f"The runs table of these methods fills {only(RUNS)} (0 for first-order runs), and "
        f"counts `nfev`, `ngev_<t>`, `grad_equiv_<t>`, `hit_ngev` and `hit_grad_equiv` as they "
        f"occur; their traces fill {only(TRACES)} (`slope`: gᵀp of the step that produced the "
        f"point; first-order traces hold 0 and NaN there) and count `nfev` and `grad_equiv`. "
        f"They leave a problem's metric columns NaN.")


BLOCKS = {"columns": markdown_columns, "second-order": markdown_second_order}


def _marker(name: str, end: bool = False) -> str:
    return f"<!-- schema:{name} {'end' if end else 'begin'} -->"


def blocks(text: str) -> dict[str, str]:
    """The generated blocks found in ``text`` (a README), by name."""
    out = {}
    for name in BLOCKS:
        a, b = _marker(name), _marker(name, end=True)
        if a in text and b in text:
            out[name] = text.split(a, 1)[1].split(b, 1)[0].strip("\n")
    return out


def update(text: str) -> str:
    """``text`` with every marked block replaced by freshly generated content."""
    for name, make in BLOCKS.items():
        a, b = _marker(name), _marker(name, end=True)
        if a in text and b in text:
            head, rest = text.split(a, 1)
            text = f"{head}{a}\n{make()}\n{b}{rest.split(b, 1)[1]}"
    return text


def main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m optbench.record.schema",
                                 description="Print or update the generated column docs.")
    ap.add_argument("--markdown", nargs="?", const="columns", choices=sorted(BLOCKS),
                    help="print a generated Markdown block (default: columns)")
    ap.add_argument("--update", metavar="FILE",
                    help="rewrite the <!-- schema:NAME begin/end --> blocks of FILE in place")
    args = ap.parse_args(argv)
    if args.update:
        from pathlib import Path

        p = Path(args.update)
        p.write_text(update(p.read_text()))
    if args.markdown or not args.update:
        print(BLOCKS[args.markdown or "columns"]())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
