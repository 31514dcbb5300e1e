"""The ``optbench`` command line.

    optbench run [SUITE] [--seeds N] [--steps N] [--out DIR]   run a suite (default: quick)
        [--executor serial|processes|dask] [--address tcp://HOST:PORT] [--workers N]
        [--plugin MODULE|FILE.py ...]                           your problems/optimizers
    optbench list problems|optimizers|suites|schedules         what is available
    optbench new optimizer|problem NAME                         NAME.py + test_NAME.py to edit
    optbench compare OPT... --problems SPECS --lr LO:HI:N      tuned comparison, no suite file
        [--seeds N] [--steps N] [--out DIR] [--plot]
    optbench show RESULTS [--target T] [--explain] [--write]    summary table of a results folder
    optbench asv-record RESULTS [--commit REF] [--name NAME]    a result set into asv's history
    optbench export coco RESULTS OUT [--measure M] [--algorithm NAME ...]   bbob runs for cocopp

Bad input (unknown names, invalid values, unreadable files) prints one line and exits with 2.
Subcommands import what they need when they run, so ``list`` and ``show`` start fast.
"""
from __future__ import annotations

import argparse
import numbers
import sys

from optbench.validate import OptbenchInputError

EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit code 2 (argparse's own convention)
        self.print_usage(sys.stderr)
        print(f"optbench: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="optbench", description="Benchmark gradient-based optimizers on a problem "
                "zoo with Numba-compiled run loops. Results are Parquet tables in results/.")
    sub = p.add_subparsers(dest="cmd", metavar="COMMAND", parser_class=_Parser)
    r = sub.add_parser("run", help="run a suite (built-in name or .toml path; default: quick)")
    r.add_argument("suite", nargs="?", default="quick", help="suite name or path (see 'list suites')")
    r.add_argument("--seeds", type=int, help="number of seeds per setting (overrides the suite)")
    r.add_argument("--steps", type=int, help="step budget per run (overrides the suite)")
    r.add_argument("--out", help="results folder (default: results/<suite name>)")
    r.add_argument("--serial", action="store_true", help="one core, no prange over runs")
    r.add_argument("--device", choices=["cpu", "cuda"], help="where the runs execute "
                   "(default: the suite's, else cpu; cuda needs a GPU or NUMBA_ENABLE_CUDASIM=1)")
    r.add_argument("--dtype", choices=["float64", "float32"], help="state precision (float32: "
                   "cuda only; default float64)")
    r.add_argument("--executor", choices=["serial", "processes", "dask"],
                   help="where runs execute (default: processes when more than one core is "
                   "usable and the sweep has several execution groups, else serial; dask when "
                   "--address is given)")
    r.add_argument("--address", help="dask scheduler address, e.g. tcp://HOST:8786 "
                   "(default with --executor dask: a LocalCluster on this machine)")
    r.add_argument("--workers", type=int, help="worker processes for processes/dask-local "
                   "(default: usable cores)")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    r.add_argument("--plugin", action="append", default=[], metavar="MODULE|FILE.py",
                   help="import a module or .py file that registers problems/optimizers "
                   "(repeatable; also in every worker)")
    nw = sub.add_parser("new", help="write a commented starting point for your own optimizer "
                        "or problem (NAME.py) and its tests (test_NAME.py) into this folder")
    nw.add_argument("kind", choices=["optimizer", "problem"])
    nw.add_argument("name", help="registry name: lowercase letter, then letters, digits, - or _")
    nw.add_argument("--dir", default=".", help="folder to write into (default: here)")
    cp = sub.add_parser("compare", help="compare optimizers with the learning-rate protocol "
                        "(best lr per problem from a grid, re-run with the seeds)")
    cp.add_argument("optimizers", nargs="+", metavar="OPTIMIZER")
    cp.add_argument("--problems", required=True, help="e.g. rosenbrock:dim=10,quadratic:cond=1e4")
    cp.add_argument("--lr", default="1e-4:1e-1:16", help="LO:HI:N log-spaced grid or one value "
                    "(default 1e-4:1e-1:16)")
    cp.add_argument("--seeds", type=int, default=10, help="seeds of the re-run (default 10)")
    cp.add_argument("--tune-seeds", type=int, default=1, help="seeds per grid value (default 1)")
    cp.add_argument("--steps", type=int, default=2000, help="step budget per run (default 2000)")
    cp.add_argument("--target", type=float, default=1e-3, help="Δf target that picks the lr "
                    "and the winner (default 1e-3)")
    cp.add_argument("--out", help="results folder (default: results/compare-<hash of the args>)")
    cp.add_argument("--plot", action="store_true", help="also draw the figures (OUT/report)")
    cp.add_argument("--serial", action="store_true", help="run the grid in this process")
    cp.add_argument("--no-progress", action="store_true", help="no progress bar")
    cp.add_argument("--plugin", action="append", default=[], metavar="MODULE|FILE.py",
                    help="import a module or .py file that registers problems/optimizers")
    lb = sub.add_parser("leaderboard", help="every first-order optimizer tuned and re-run on "
                        "the leaderboard instances: tables, figures and leaderboard.md")
    lb.add_argument("--out", help="results folder (default: results/leaderboard)")
    lb.add_argument("--docs", help="write the light docs page here (README.md, tables, PNG "
                    "figures: docs/leaderboard) instead of the full report in OUT/board")
    lb.add_argument("--seeds", type=int, help="seeds of the re-runs (default 10)")
    lb.add_argument("--quick", action="store_true", help="a few instances and optimizers, a "
                    "short grid: a check of the machinery, not a leaderboard")
    lb.add_argument("--executor", choices=["serial", "processes", "dask"],
                    help="how the tuning runs go (default: processes on more than one core)")
    lb.add_argument("--workers", type=int, help="worker processes")
    lb.add_argument("--no-progress", action="store_true", help="no progress bar")
    ls = sub.add_parser("list", help="list problems, optimizers, suites or schedules")
    ls.add_argument("what", choices=["problems", "optimizers", "suites", "schedules"])
    sh = sub.add_parser("show", help="summary table of a results folder (one row per problem "
                        "instance and optimizer setting)")
    sh.add_argument("results", help="results folder written by 'optbench run'")
    sh.add_argument("--target", type=float, default=1e-3, help="Δf target for the steps column")
    sh.add_argument("--explain", action="store_true", help="also say what each column means")
    sh.add_argument("--write", action="store_true", help="also write summary.md and summary.csv "
                    "into the results folder")
    ex = sub.add_parser("export", help="write a results folder's runs in another tool's format")
    ex.add_argument("format", choices=["coco"], help="coco: COCO's bbob data format (.info, "
                    ".dat, .tdat), one folder per algorithm, for 'python -m cocopp OUT/ALG'")
    ex.add_argument("results", help="results folder written by 'optbench run'")
    ex.add_argument("out", help="output folder (one subfolder per algorithm)")
    ex.add_argument("--measure", default="evals", help="evaluations counted: evals (default: "
                    "gradients; gradient-equivalents for second- and zero-order methods), "
                    "grad_equiv or ngev")
    ex.add_argument("--algorithm", action="append", metavar="NAME", help="export only this "
                    "algorithm (folder name such as adam_lr0.01, or label; repeatable)")
    from optbench import asv_bridge  # argparse only at import (numpy aside)
    from optbench.plots import cli as plots_cli  # argparse only: figures load when drawn

    asv_bridge.add_parser(sub)
    plots_cli.add_parsers(sub)
    return p


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    if args.cmd is None:
        _parser().print_help()
        return 0
    try:
        return {"run": _cmd_run, "list": _cmd_list, "show": _cmd_show, "new": _cmd_new,
                "compare": _cmd_compare, "leaderboard": _cmd_leaderboard,
                "asv-record": _cmd_asv, "plot": _cmd_plots, "report": _cmd_plots,
                "gallery": _cmd_plots, "export": _cmd_export}[args.cmd](args)
    except OptbenchInputError as e:
        print(f"optbench: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt as e:
        print(f"optbench: {e}" if str(e) else "optbench: interrupted; finished runs are stored "
              "— run the same command again to resume", file=sys.stderr)
        return 130


def _cmd_export(args) -> int:
    from optbench.analysis import coco_export as C

    res = C.export_folder(args.results, args.out, measure=args.measure,
                          algorithm=args.algorithm)
    lines, warnings = C.report(res)
    print("\n".join(lines))
    _warn(warnings)
    return 0


def _cmd_asv(args) -> int:
    from optbench import asv_bridge
    return asv_bridge.main(args)


def _cmd_plots(args) -> int:
    from optbench.plots import cli as plots_cli
    return plots_cli.main(args)


def _cmd_run(args) -> int:
    import time

    from optbench.analysis import results_summary as S
    from optbench.runner.suites import load_suite, run_suite

    for name in ("seeds", "steps", "workers"):
        v = getattr(args, name)
        if v is not None and v < 1:
            raise OptbenchInputError(f"--{name} must be >= 1, got {v}")
    suite = load_suite(args.suite)
    out = args.out or f"results/{suite['name']}"
    t0 = time.perf_counter()
    done = run_suite(suite, out, seeds=args.seeds, steps=args.steps, device=args.device,
                     dtype=args.dtype,
                     parallel=False if args.serial else None, progress=not args.no_progress,
                     executor=args.executor or ("serial" if args.serial else None),
                     address=args.address, workers=args.workers, load="none",
                     plugins=args.plugin)
    secs = time.perf_counter() - t0
    table = S.summary_table(S.read_runs(out))
    print(S.to_text(table))
    _warn(S.warnings_for(table))
    files = S.write(out, table, title=suite["name"])
    if done["new"] == 0:
        print(f"\n0 new runs: all {done['runs']} runs of suite {suite['name']} were already "
              f"stored in {out}, nothing ran (another --out, or more --seeds, runs more)")
    else:
        old = f", {done['already_stored']} were already stored" if done["already_stored"] else ""
        print(f"\n{done['new']} new runs in {secs:.1f} s{old}: {done['runs']} runs in {out}")
    print(f"tables: {out}/runs and {out}/traces (Parquet); summary: "
          + ", ".join(str(f) for f in files))
    return 0


def _cmd_new(args) -> int:
    from optbench import scaffold

    for p in scaffold.write(args.kind, args.name, args.dir):
        print(f"wrote {p}")
    mod = scaffold.module_name(args.name)
    print(f"check it: python -m pytest -q test_{mod}.py; use it: import {mod} in a script, "
          f"or --plugin {mod}.py")
    return 0


def _cmd_leaderboard(args) -> int:
    from optbench import leaderboard as LB

    res = LB.run(args.out, quick=args.quick, docs=args.docs, executor=args.executor,
                 workers=args.workers, progress=not args.no_progress, seeds=args.seeds)
    print(LB.summary_text(res))
    return 0


def _cmd_compare(args) -> int:
    from optbench import compare as C

    if args.plugin:
        from optbench import plugins
        plugins.load(args.plugin)
    opts = C.check_optimizers(args.optimizers)
    problems = C.parse_problems(args.problems)
    lrs = C.parse_lr(args.lr)
    table, out, page = C.compare(opts, problems, lrs, seeds=args.seeds, steps=args.steps,
                                 tune_seeds=args.tune_seeds, out=args.out, target=args.target,
                                 executor="serial" if args.serial else None,
                                 progress=not args.no_progress, plot=args.plot,
                                 plugins=args.plugin)
    print(C.to_text(table, args.target))
    print(f"\nresults: {out}/tune (the lr grid), {out}/seeds (the tuned re-runs); "
          f"optbench show {out}/tune")
    if page is not None:
        print(f"report: {page}")
    return 0


def _warn(lines):
    sys.stdout.flush()  # after the table, also when both streams go to one pipe
    for w in lines:
        print(f"optbench: warning: {w}", file=sys.stderr)


def _table(rows: list[dict]) -> str:
    """Rows as right-aligned columns, numbers of a column with a float in it at 6 decimals and
    None as NaN (pandas' ``to_string(index=False)`` layout, without importing pandas)."""
    cols = list(rows[0]) if rows else []

    def number(v):
        return isinstance(v, numbers.Real) and not isinstance(v, bool)

    def cell(v, floats):
        if floats and (v is None or v != v):
            return "NaN"
        return f"{v:.6f}" if floats and number(v) else str(v)

    floats = {c: any(isinstance(r[c], float) for r in rows)
              and all(r[c] is None or number(r[c]) for r in rows) for c in cols}
    lines = [cols] + [[cell(r[c], floats[c]) for c in cols] for r in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(cols))]
    return "\n".join(" ".join(s.rjust(w) for s, w in zip(line, widths)) for line in lines)


def _cmd_list(args) -> int:
    if args.what == "problems":
        from optbench import problems as P
        print(_table(P.listing()))
    elif args.what == "optimizers":
        from optbench.optimizers.groups import grouped_listing
        blocks = [f"{group} ({len(rows)})\n{_table(rows)}"
                  for group, rows in grouped_listing().items()]
        print("\n\n".join(blocks))
    elif args.what == "suites":
        from optbench.runner.suites import builtin_suites, load_suite
        for n, path in builtin_suites().items():
            print(f"{n:12s} {load_suite(path).get('description', '')}")
    else:
        from optbench.optimizers.schedules import _COMMON, _PARAMS
        w = max(map(len, _PARAMS))
        for k, params in _PARAMS.items():
            ps = ", ".join(f"{n}={p.default}" for n, p in {**params, **_COMMON}.items())
            print(f"{k:{w}s}  {ps}")
    return 0


def _cmd_show(args) -> int:
    from optbench.analysis import results_summary as S

    target = S.check_target(args.target)
    table = S.summary_table(S.read_runs(args.results, target), target=target)
    print(S.to_text(table, target))
    if args.explain:
        print("\n" + S.explain(target))
    _warn(S.warnings_for(table))
    if args.write:
        files = S.write(args.results, table, target, title=str(args.results))
        print("summary: " + ", ".join(str(f) for f in files))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
