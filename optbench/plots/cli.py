"""The ``plot``, ``report`` and ``gallery`` subcommands (argparse only; the figure modules,
and matplotlib, load when a command runs)."""
from __future__ import annotations

KINDS = ("convergence", "convergence-grid", "ecdf", "performance-profile", "data-profile",
         "sensitivity", "escape", "contour", "landscape")
FMT_HELP = "comma list of pdf, svg, png (default: all three)"


def add_parsers(sub):
    p = sub.add_parser("plot", help="draw one kind of figure from a results folder")
    p.add_argument("kind", choices=KINDS, metavar="KIND", help="one of: " + ", ".join(KINDS))
    p.add_argument("results", help="results folder written by 'optbench run'")
    p.add_argument("--out", help="output folder (default: RESULTS/figures)")
    p.add_argument("--format", default="pdf,svg,png", help=FMT_HELP)
    p.add_argument("--target", type=float, default=1e-3,
                   help="Δf target for the profiles and the lr protocol (default 1e-3)")
    r = sub.add_parser("report", help="every standard figure, Markdown/LaTeX tables and an "
                       "index.html for a results folder")
    r.add_argument("results", help="results folder written by 'optbench run'")
    r.add_argument("--out", help="output folder (default: RESULTS/report)")
    r.add_argument("--format", default="pdf,svg,png", help=FMT_HELP)
    r.add_argument("--target", type=float, default=1e-3, help="Δf target (default 1e-3)")
    r.add_argument("--contours", action="store_true",
                   help="also draw trajectory contours of the 1-D/2-D instances (re-runs every "
                        "tuned setting up to 200 times: minutes on the quick suite)")
    g = sub.add_parser("gallery", help="re-run and re-draw the gallery of classic experiments")
    g.add_argument("--out", default="results/gallery", help="output folder (default: results/gallery)")
    g.add_argument("--format", default="pdf,svg,png", help=FMT_HELP)
    g.add_argument("--only", help="comma list of experiment numbers 1-8 (default: all)")


def _progress(cmd):
    """One line per figure or step on stderr (stdout keeps the results)."""
    import sys

    def say(line):
        print(f"optbench {cmd}: {line}", file=sys.stderr, flush=True)
    return say


def _target(args):
    from optbench.validate import number
    return number("--target", args.target, lo=0.0, lo_open=True)


def main(args) -> int:
    if args.cmd == "plot":
        from .report import plot
        files = plot(args.kind, args.results, args.out, args.format, target=_target(args),
                     progress=_progress("plot"))
        print("\n".join(str(f) for f in files) or "optbench: nothing to draw")
    elif args.cmd == "report":
        from .report import report
        page = report(args.results, args.out, args.format, target=_target(args),
                      contours=args.contours, progress=_progress("report"))
        print(f"report: {page}")
    else:
        from optbench.validate import OptbenchInputError

        from .gallery import gallery
        only = None
        if args.only:
            try:
                only = [int(v) for v in args.only.split(",") if v.strip()]
            except ValueError:
                raise OptbenchInputError(f"--only must be a comma list of 1-8, got {args.only!r}") from None
        out = gallery(args.out, args.format, only, progress=_progress("gallery"))
        print(f"gallery: {out}/index.html")
    return 0
