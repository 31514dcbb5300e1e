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
    g = sub.add_parser("gallery", help="re-run and re-draw the gallery of classic experiments")
    g.add_argument("--out", default="results/gallery", help="output folder (default: results/gallery)")
    g.add_argument("--format", default="pdf,svg,png", help=FMT_HELP)
    g.add_argument("--only", help="comma list of experiment numbers 1-8 (default: all)")


def _target(args):
    from optbench.validate import number
    return number("--target", args.target, lo=0.0, lo_open=True)


def main(args) -> int:
    if args.cmd == "plot":
        from .report import plot
        files = plot(args.kind, args.results, args.out, args.format, target=_target(args))
        print("\n".join(str(f) for f in files) or "optbench: nothing to draw")
    elif args.cmd == "report":
        from .report import report
        page = report(args.results, args.out, args.format, target=_target(args))
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
        out = gallery(args.out, args.format, only)
        print(f"gallery: {out}/index.html")
    return 0
