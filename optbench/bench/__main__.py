"""``python -m optbench.bench <what>``: the one entry point of optbench's speed measurements.

Each command's flags are declared here; the work is done by the module it names (see
:mod:`optbench.bench`). ``--quick`` always means small sizes: a check that the command runs,
not a figure. ``--write FILE`` rewrites the command's section of a Markdown file
(BENCHMARKS.md) and keeps the rest. Bad input is one line on stderr and exit status 2.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

PROG = "python -m optbench.bench"


def _write_arg(p):
    p.add_argument("--write", metavar="FILE", help="rewrite this Markdown file's section")


def _quick_arg(p):
    p.add_argument("--quick", action="store_true", help="small sizes (a check, not a figure)")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=PROG, description="optbench's speed measurements, one "
                                 "command each (figures: BENCHMARKS.md)")
    sub = ap.add_subparsers(dest="what", required=True, metavar="what")

    p = sub.add_parser("engine", help="run loop and fused loop against hand-written Numba; "
                       "smoke-suite compile time")
    _quick_arg(p)
    _write_arg(p)

    p = sub.add_parser("zoo", help="compiled gradient kernels against NumPy")
    _quick_arg(p)
    _write_arg(p)

    p = sub.add_parser("gpu", help="the CUDA path (reported skipped without a GPU)")
    p.add_argument("--runs", type=int, help="runs in the sweep (default 262144; quick 10000)")
    _quick_arg(p)
    _write_arg(p)

    p = sub.add_parser("mlp", help="an epoch of small MLPs against PyTorch and NumPy")
    p.add_argument("--widths", help="comma-separated widths (default 16,32,...,1024; "
                   "quick 16,64)")
    p.add_argument("--repeats", type=int, help="repeats per figure (default 5; quick 2)")
    _quick_arg(p)
    _write_arg(p)

    p = sub.add_parser("second-order", help="L-BFGS and Newton-CG against scipy.optimize")
    p.add_argument("--dim", type=int, help="Rosenbrock dimension (default 1000; quick 50)")
    p.add_argument("--target", type=float, default=1e-10, help="f - f* to reach")
    p.add_argument("--repeats", type=int, help="repeats (default 3; quick 1)")
    _quick_arg(p)

    from .sweep_memory import EXECUTORS
    p = sub.add_parser("sweep", help="peak memory of a large sweep streamed to disk")
    p.add_argument("--runs", type=int, help="runs in the sweep (default 100000; quick 1000)")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--executor", default="serial", choices=EXECUTORS)
    p.add_argument("--workers", type=int)
    p.add_argument("--chunk-runs", type=int, default=8192)
    p.add_argument("--out", help="results folder (default: a temporary one, deleted)")
    _quick_arg(p)

    p = sub.add_parser("hot", help="the coordinate-wise hot paths per step (min of repeats): "
                       "run it in two trees to compare a change")
    _quick_arg(p)

    p = sub.add_parser("parts", help="the parts behind the sweep and MLP figures: the lane "
                       "update alone, the MLP tile products, the minibatch order, the sweep's "
                       "phases, its trace columns, the allocator's settings")
    _quick_arg(p)

    p = sub.add_parser("fused", help="the lane driver's fused first pass against its lane "
                       "forms, alternating in one process; the trace rows' cost; shared "
                       "scalars on lane 0 against copied; the whole step against the passes")
    _quick_arg(p)
    _write_arg(p)

    p = sub.add_parser("optimizers", help="per-step cost of the contract-v2 optimizers against "
                       "their torch / reference implementations")
    p.add_argument("--only", help="comma-separated optimizer names (default: all)")
    _quick_arg(p)
    _write_arg(p)

    p = sub.add_parser("catalogue", help="the modern catalogue (lion, adan, prodigy, ...) per "
                       "step and in the 4,096-run sweep against its PyTorch references and optax")
    p.add_argument("--only", help="comma-separated optimizer names (default: all)")
    _quick_arg(p)
    _write_arg(p)

    p = sub.add_parser("lanes", help="the lane sweep driver per (optimizer, problem) against "
                       "JAX + optax")
    p.add_argument("--optimizers", help="comma-separated optimizer names (default: "
                   "sgd,momentum,adagrad,rmsprop,adam,nadam)")
    p.add_argument("--problems", help="comma-separated problems (default: all five)")
    p.add_argument("--runs", type=int, default=1024)
    p.add_argument("--steps", type=int, default=10_000)
    _quick_arg(p)
    _write_arg(p)

    p = sub.add_parser("peers", help="every comparison against named peers (NumPy, PyTorch, "
                       "scipy, hand-written Numba)")
    p.add_argument("--only", help="comma-separated comparisons (default: all)")
    p.add_argument("--json", metavar="FILE", help="also write every row as JSON to this file")
    _quick_arg(p)
    _write_arg(p)
    return ap


def _size(a, name: str, quick: int, full: int) -> int:
    """A size flag: its value (a positive integer), else the quick or the full default."""
    value = getattr(a, name)
    if value is None:
        return quick if a.quick else full
    if value < 1:
        from optbench.validate import OptbenchInputError
        raise OptbenchInputError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    return value


def _show(res, md: str, title: str, write: str | None):
    from .common import write_section

    print(json.dumps(res, indent=2))
    print(md)
    if write:
        write_section(Path(write), title, md)


def _engine(a):
    from . import engine

    res = engine.engine(quick=a.quick)
    _show(res, engine.to_markdown(res), engine.TITLE, a.write)


def _zoo(a):
    from optbench.record.env import environment

    from . import zoo

    res = zoo.zoo(quick=a.quick)
    _show(res, zoo.to_markdown(res, environment()), zoo.TITLE, a.write)


def _gpu(a):
    from . import gpu

    sizes = {"steps": 1_000, "dim": 2 ** 20} if a.quick else {}
    res = gpu.gpu(runs=_size(a, "runs", 10_000, 262_144), quick=a.quick, **sizes)
    _show(res, gpu.to_markdown(res), gpu.TITLE, a.write)


def _mlp(a):
    from optbench.validate import OptbenchInputError

    from . import mlp

    try:
        widths = (tuple(int(w) for w in a.widths.split(",")) if a.widths
                  else (16, 64) if a.quick else mlp.WIDTHS)
    except ValueError:
        raise OptbenchInputError(f"--widths must be comma-separated integers, got {a.widths!r}") \
            from None
    if min(widths) < 1:
        raise OptbenchInputError(f"--widths must be at least 1, got {a.widths!r}")
    rows = mlp.mlp(widths, repeats=_size(a, "repeats", 2, 5))
    _show(rows, mlp.to_markdown(rows), mlp.TITLE, a.write)


def _second_order(a):
    import pandas as pd

    from . import second_order

    df = second_order.bench(_size(a, "dim", 50, 1000), a.target, _size(a, "repeats", 1, 3))
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(df.to_string(index=False, float_format=lambda v: f"{v:.4g}"))


def _sweep(a):
    from . import sweep_memory

    runs = _size(a, "runs", 1_000, 100_000)
    print(json.dumps(sweep_memory.measure(runs, a.steps, a.executor, a.workers, a.chunk_runs,
                                          a.out)))


def _peers(a):
    from . import peers
    from .common import write_section
    from .peers.common import machine

    names = tuple(n.strip() for n in a.only.split(",")) if a.only else peers.NAMES
    rows = peers.run(names, quick=a.quick, log=lambda m: print(m, file=sys.stderr))
    mach = machine()
    md = peers.to_markdown(rows, mach, quick=a.quick)
    print(md)
    if a.json:
        Path(a.json).write_text(json.dumps({"machine": mach, "rows": [r.as_dict() for r in rows]},
                                           indent=1, default=str))
    if a.write:
        write_section(Path(a.write), peers.TITLE, md)


def _hot(a):
    from . import hot_paths

    res = hot_paths.hot(quick=a.quick)
    _show(res, hot_paths.to_markdown(res), hot_paths.TITLE, None)


def _parts(a):
    from . import parts

    res = parts.parts(quick=a.quick)
    _show(res, parts.to_markdown(res), parts.TITLE, None)


def _fused(a):
    from . import lane_ab

    res = lane_ab.run(quick=a.quick)
    _show(res, lane_ab.to_markdown(res), lane_ab.TITLE, a.write)


def _optimizers(a):
    from . import optimizer_costs as oc

    only = tuple(n.strip() for n in a.only.split(",")) if a.only else None
    if only:
        bad = [n for n in only if n not in oc.CATALOGUE]
        if bad:
            from optbench.validate import OptbenchInputError
            raise OptbenchInputError(f"--only: unknown {', '.join(bad)} (valid: "
                                     f"{', '.join(oc.CATALOGUE)})")
    rows = oc.optimizers(quick=a.quick, only=only)
    _show(rows, oc.to_markdown(rows), oc.TITLE, a.write)


def _catalogue(a):
    from optbench.validate import OptbenchInputError

    from . import catalogue as cat

    only = tuple(n.strip() for n in a.only.split(",")) if a.only else None
    bad = [n for n in only or () if n not in cat.MEMBERS]
    if bad:
        raise OptbenchInputError(f"--only: unknown {', '.join(bad)} (valid: "
                                 f"{', '.join(cat.MEMBERS)})")
    rows = cat.catalogue(quick=a.quick, only=only, log=lambda m: print(m, file=sys.stderr))
    _show(rows, cat.to_markdown(rows, quick=a.quick), cat.TITLE, a.write)


def _lanes(a):
    from optbench.validate import OptbenchInputError

    from . import lane_matrix as lm

    def names(arg, valid, default):
        if not arg:
            return tuple(default)
        out = tuple(n.strip() for n in arg.split(","))
        bad = [n for n in out if n not in valid]
        if bad:
            raise OptbenchInputError(f"unknown {', '.join(bad)} (valid: {', '.join(valid)})")
        return out

    opts = names(a.optimizers, lm.OPTAX, lm.DEFAULT_OPTIMIZERS)
    probs = names(a.problems, lm.PROBLEMS, lm.PROBLEMS)
    runs, steps = (128, 80_000) if a.quick else (a.runs, a.steps)
    rows = lm.matrix(opts, probs, runs=runs, steps=steps, repeats=1 if a.quick else 3)
    _show(rows, lm.to_markdown(rows), lm.TITLE, a.write)


COMMANDS = {"engine": _engine, "lanes": _lanes, "zoo": _zoo, "gpu": _gpu, "mlp": _mlp,
            "second-order": _second_order, "sweep": _sweep, "hot": _hot, "parts": _parts,
            "fused": _fused,
            "optimizers": _optimizers, "catalogue": _catalogue,
            "peers": _peers}


def main(argv=None) -> int:
    from optbench.validate import OptbenchInputError

    a = build_parser().parse_args(argv)
    try:
        COMMANDS[a.what](a)
    except OptbenchInputError as e:
        print(f"optbench bench: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
