"""Paper style for every optbench figure.

* One fixed colour, marker and (for variants of one optimizer) line style per optimizer name,
  the same in every figure: Okabe & Ito's colour-blind-safe palette for the built-in
  optimizers, Paul Tol's *muted* palette (by a stable hash of the name) for any other.
* Widths: ``"column"`` (3.4 in, one column of a two-column paper) and ``"double"`` (7.0 in);
  golden-ratio height by default. 8 pt text (STIX, Times-like; mathtext in STIX), so
  LaTeX-ready labels such as ``$f(x_t) - f^\\star$`` match the paper's body text.
* Output: vector PDF (TrueType fonts embedded, ``pdf.fonttype`` 42) and SVG (glyphs as
  paths: self-contained) plus a 300-dpi PNG; no timestamps, so a figure is byte-reproducible.

Figures are built with :class:`matplotlib.figure.Figure` directly (no pyplot, no global
state, any backend; headless works). :func:`use` applies the style globally for your own
pyplot figures. Cost: none worth stating.
"""
from __future__ import annotations

import zlib
from contextlib import contextmanager
from pathlib import Path

import matplotlib as mpl
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import LogFormatterSciNotation, LogLocator, MaxNLocator, NullFormatter

from optbench.validate import OptbenchInputError

COLUMN = 3.4   # inches: one column of a two-column paper (IEEE/ACM/NeurIPS-style ~3.3–3.5)
DOUBLE = 7.0   # inches: full text width
GOLDEN = 0.618
FORMATS = ("pdf", "svg", "png")

# Okabe & Ito (2008), colour-blind safe, fixed per built-in optimizer (yellow left out).
_FIXED = {
    "gd": ("#0072B2", "o"), "sgd": ("#56B4E9", "v"), "momentum": ("#009E73", "s"),
    "nesterov": ("#E69F00", "<"), "adagrad": ("#CC79A7", "D"), "rmsprop": ("#D55E00", "^"),
    "adam": ("#000000", "P"), "adamw": ("#882255", "X"), "amsgrad": ("#44AA99", "*"),
    "newton": ("#332288", "h"), "saddle-free-newton": ("#999933", "p"),
    "damped-newton": ("#117733", "d"), "sfn": ("#999933", "p"),
}
# Paul Tol's muted palette for any other name, picked by a stable hash.
_EXTRA_COLOURS = ("#332288", "#88CCEE", "#44AA99", "#117733", "#999933", "#DDCC77",
                  "#CC6677", "#882255", "#AA4499")
_EXTRA_MARKERS = ("o", "s", "^", "v", "D", "P", "X", "*", "h", "p", "<", ">")
LINE_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
LINESTYLES = ("-", "--", "-.", ":", (0, (5, 1, 1, 1)))

RC = {
    "font.family": "serif",
    "font.serif": ["STIXGeneral", "DejaVu Serif"],
    "mathtext.fontset": "stix",
    "font.size": 8, "axes.titlesize": 8, "axes.labelsize": 8, "legend.fontsize": 7,
    "xtick.labelsize": 7, "ytick.labelsize": 7,
    "lines.linewidth": 1.2, "lines.markersize": 3.5, "axes.linewidth": 0.6,
    "xtick.major.width": 0.6, "ytick.major.width": 0.6,
    "xtick.minor.width": 0.4, "ytick.minor.width": 0.4,
    "axes.grid": True, "grid.linewidth": 0.4, "grid.alpha": 0.35,
    "axes.spines.top": False, "axes.spines.right": False,
    "legend.frameon": False, "legend.handlelength": 2.2,
    "figure.dpi": 100, "savefig.dpi": 300, "savefig.bbox": None, "savefig.pad_inches": 0.02,
    "pdf.fonttype": 42, "ps.fonttype": 42, "svg.fonttype": "path", "svg.hashsalt": "optbench",
    "image.cmap": "viridis", "axes.unicode_minus": True,
}


def _share_mathtext_cache(size: int = 4096) -> bool:
    """matplotlib keeps parsed mathtext in a 50-entry cache per renderer, and every file
    written makes new renderers: each tick label ``$10^{-3}$`` is parsed again for every
    figure, format and layout pass (a third of the time of saving a figure). Share one
    cache between renderers, keyed as matplotlib keys it (expression, dpi, font, hinting)
    plus the output type and the ``mathtext.*`` settings. The parse results are read-only
    to their users. Returns whether the cache is installed (False on a matplotlib whose
    internals differ: then nothing changes)."""
    import functools
    import inspect

    from matplotlib.mathtext import MathTextParser

    cached = getattr(MathTextParser, "_parse_cached", None)
    inner = getattr(cached, "__wrapped__", None)
    if getattr(cached, "_optbench_shared", False):
        return True
    if inner is None or list(inspect.signature(inner).parameters) != [
            "self", "s", "dpi", "prop", "antialiased", "load_glyph_flags"]:
        return False
    keys = sorted(k for k in mpl.rcParams if k.startswith("mathtext."))

    @functools.lru_cache(maxsize=size)
    def shared(output_type, rc, s, dpi, prop, antialiased, load_glyph_flags):
        parser = MathTextParser.__new__(MathTextParser)
        parser._output_type = output_type
        return inner(parser, s, dpi, prop, antialiased, load_glyph_flags)

    def _parse_cached(self, s, dpi, prop, antialiased, load_glyph_flags):
        rc = tuple(str(mpl.rcParams[k]) for k in keys)
        return shared(self._output_type, rc, s, dpi, prop, antialiased, load_glyph_flags)

    _parse_cached._optbench_shared = True
    MathTextParser._parse_cached = _parse_cached
    return True


_share_mathtext_cache()


def optimizer_of(label: str) -> str:
    """The optimizer name of a solver label (``adam(lr=0.01)`` → ``adam``)."""
    return str(label).split("(", 1)[0].strip()


def style_for(label: str, variant: int = 0) -> dict:
    """Colour, marker and line style for a solver label (fixed per optimizer name)."""
    name = optimizer_of(label)
    if name in _FIXED:
        colour, marker = _FIXED[name]
    else:
        h = zlib.crc32(name.encode())
        colour = _EXTRA_COLOURS[h % len(_EXTRA_COLOURS)]
        marker = _EXTRA_MARKERS[(h // len(_EXTRA_COLOURS)) % len(_EXTRA_MARKERS)]
    return {"color": colour, "marker": marker, "linestyle": LINESTYLES[variant % len(LINESTYLES)]}


_SHADES = (0.0, -0.45, 0.5, -0.7, 0.7)  # <0: darker, >0: lighter (mixed with white)


def shade(colour: str, amount: float) -> str:
    """The same hue, darker (amount < 0) or lighter (amount > 0)."""
    from matplotlib.colors import to_hex, to_rgb
    c = np.array(to_rgb(colour))
    c = c * (1 + amount) if amount < 0 else c + (1 - c) * amount
    if amount < 0 and c.max() < 0.05:  # black gets lighter greys instead
        c = np.full(3, -amount * 0.8)
    return to_hex(np.clip(c, 0, 1))


def styles(labels) -> dict:
    """Styles for several labels: variants of one optimizer (e.g. several learning rates)
    keep its hue, in darker/lighter shades, with different line styles and markers. Two
    optimizers never share colour and marker in one call: a name outside the fixed table
    whose hashed pair is taken gets the next free one (so its look can differ between
    figures that hold different optimizers; the fixed names never move)."""
    out, seen, taken = {}, {}, {}
    for lab in sorted(set(map(str, labels)), key=_natural):
        name = optimizer_of(lab)
        k = seen.get(name, 0)
        st = style_for(lab, k)
        if k == 0:
            # two optimizers of one figure never share a look: a name outside the fixed table
            # whose hashed colour and marker another name already has takes the next free pair
            pair = (st["color"], st["marker"])
            if taken.get(pair, name) != name:
                free = [(c, m) for m in _EXTRA_MARKERS for c in _EXTRA_COLOURS
                        if (c, m) not in taken and c not in {c2 for c2, _ in taken}]
                free = free or [(c, m) for m in _EXTRA_MARKERS for c in _EXTRA_COLOURS
                                if (c, m) not in taken]
                st["color"], st["marker"] = free[0]
            taken[(st["color"], st["marker"])] = name
        if k:
            st["color"] = shade(st["color"], _SHADES[k % len(_SHADES)])
            st["marker"] = _EXTRA_MARKERS[(_EXTRA_MARKERS.index(st["marker"]) + k)
                                          % len(_EXTRA_MARKERS)] \
                if st["marker"] in _EXTRA_MARKERS else st["marker"]
        out[lab] = st
        seen[name] = k + 1
    return out


def _natural(label: str):
    """Sort key: text parts as text, numbers as numbers (lr=0.01 before lr=0.1 before lr=1)."""
    import re
    parts = re.split(r"(\d+\.?\d*(?:e[-+]?\d+)?)", label)
    return [(float(p),) if i % 2 else (p,) for i, p in enumerate(parts)]


@contextmanager
def paper():
    """Context in which figures are created and saved with the paper style."""
    with mpl.rc_context(RC):
        yield


def use():
    """Apply the paper style globally (for your own pyplot figures)."""
    mpl.rcParams.update(RC)


def width(w) -> float:
    if w == "column":
        return COLUMN
    if w == "double":
        return DOUBLE
    try:
        w = float(w)
    except (TypeError, ValueError):
        raise OptbenchInputError(f"width must be 'column', 'double' or inches, got {w!r}") from None
    if not 0.5 <= w <= 30:
        raise OptbenchInputError(f"width must be between 0.5 and 30 inches, got {w}")
    return w


def figure(w="column", h=None, nrows: int = 1, ncols: int = 1, **kw):
    """A paper-style Figure and its axes (an array when nrows·ncols > 1)."""
    with paper():
        wi = width(w)
        hi = h if h is not None else max(1.6, wi / ncols * GOLDEN * nrows)
        fig = Figure(figsize=(wi, min(hi, 9.0)), layout="constrained")
        axes = fig.subplots(nrows, ncols, squeeze=True, **kw)
    return fig, axes


def legend_below(fig, axes, *, title=None, fontsize=None):
    """One legend for the labelled artists of ``axes`` (first of each label), below them and
    outside every axes (constrained layout makes room), so it never covers data; the figure
    grows by the legend's height so the axes keep theirs. As many columns as fit in the
    figure's width (measured). Returns the Legend (None when nothing is labelled)."""
    handles, labels = {}, []
    for ax in np.atleast_1d(axes):
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in handles:
                handles[lab] = h
                labels.append(lab)
    if not labels:
        return None
    with paper():
        size = float(fontsize or mpl.rcParams["legend.fontsize"])
        renderer = _renderer(fig)
        ncols = _columns(fig, labels, size, renderer)
        while True:
            leg = fig.legend([handles[lab] for lab in labels], labels, loc="outside lower center",
                             ncols=ncols, title=title, fontsize=size, title_fontsize=size)
            if ncols == 1 or leg.get_window_extent(renderer).width <= 0.98 * fig.bbox.width:
                break
            leg.remove()
            ncols -= 1
        rows = -(-len(labels) // ncols) + (1 if title else 0)
        fig.set_figheight(fig.get_figheight() + rows * 1.5 * size / 72 + 0.08)
    return leg


def _columns(fig, labels, size, renderer) -> int:
    """The most legend columns of these labels that fit in the figure's width, from the
    text widths and the legend's rc spacings (columns are filled top to bottom, as
    matplotlib fills them; :func:`legend_below` checks the result on the drawn legend)."""
    from matplotlib.cbook import is_math_text
    from matplotlib.font_manager import FontProperties
    prop = FontProperties(size=size)
    em = size * fig.dpi / 72
    text = [renderer.get_text_width_height_descent(lab, prop, is_math_text(lab))[0]
            for lab in labels]
    rc = mpl.rcParams
    handle = em * (rc["legend.handlelength"] + rc["legend.handletextpad"])
    for k in range(len(labels), 1, -1):
        rows = -(-len(labels) // k)
        cols = [text[i:i + rows] for i in range(0, len(text), rows)]
        width = (sum(max(c) + handle for c in cols) + em * rc["legend.columnspacing"] * (len(cols) - 1)
                 + 2 * em * rc["legend.borderpad"])
        if width <= 0.98 * fig.bbox.width:
            return k
    return 1


def _renderer(fig):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    return fig.canvas.get_renderer()


class LogTicks(LogLocator):
    """Major ticks of a log axis with at least ``min_ticks`` inside the view, whatever its
    span: decades (every k-th when there are more than ``max_ticks``); for spans of a few
    decades or less 1-2-5 per decade, then 1…9 per decade, then evenly spaced values."""

    def __init__(self, min_ticks: int = 3, max_ticks: int = 6):
        super().__init__(base=10.0, subs=(1.0,), numticks=max_ticks)
        self.min_ticks, self.max_ticks = int(min_ticks), int(max_ticks)

    def tick_values(self, vmin, vmax):
        if vmax < vmin:
            vmin, vmax = vmax, vmin
        if vmin <= 0:
            vmin = self.axis.get_minpos() if self.axis is not None else vmax * 1e-3
        if not (np.isfinite(vmin) and np.isfinite(vmax) and vmin > 0):
            return super().tick_values(vmin, vmax)
        lo, hi = np.log10(vmin), np.log10(vmax)
        emin, emax = int(np.ceil(lo - 1e-9)), int(np.floor(hi + 1e-9))
        n = emax - emin + 1
        if n >= self.min_ticks:
            stride = max(1, -(-n // self.max_ticks))
            first = emin + (-emin) % stride
            ticks = 10.0 ** np.arange(first, emax + 1, stride, dtype=float)
            if ticks.size >= self.min_ticks:
                return ticks
        for subs in ((1.0, 2.0, 5.0), tuple(range(1, 10))):
            ticks = np.array([s * 10.0 ** e for e in range(emin - 1, emax + 1) for s in subs])
            ticks = ticks[(ticks >= vmin * (1 - 1e-9)) & (ticks <= vmax * (1 + 1e-9))]
            if ticks.size >= self.min_ticks:
                return ticks
        ticks = MaxNLocator(nbins=self.min_ticks + 1, min_n_ticks=self.min_ticks).tick_values(vmin, vmax)
        return ticks[(ticks > 0) & (ticks >= vmin) & (ticks <= vmax)]


def log_ticks(axis, min_ticks: int = 3, max_ticks: int = 6):
    """Give a log ``axis`` (``ax.yaxis``) :class:`LogTicks`, a label on every major tick
    and no minor labels."""
    axis.set_major_locator(LogTicks(min_ticks, max_ticks))
    axis.set_major_formatter(LogFormatterSciNotation(labelOnlyBase=False,
                                                     minor_thresholds=(np.inf, np.inf)))
    axis.set_minor_formatter(NullFormatter())


def parse_formats(formats) -> tuple[str, ...]:
    """'pdf,svg,png' or a list → validated tuple."""
    if formats is None:
        return FORMATS
    if isinstance(formats, str):
        formats = [f.strip().lower().lstrip(".") for f in formats.split(",") if f.strip()]
    formats = tuple(dict.fromkeys(str(f).lower().lstrip(".") for f in formats))
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise OptbenchInputError(f"format must be a comma list of {', '.join(FORMATS)}, "
                                 f"got {','.join(formats) or 'nothing'}")
    return formats


def save(fig: Figure, stem, formats=FORMATS, dpi: float | None = None) -> list[Path]:
    """Write ``stem.pdf``, ``stem.svg``, ``stem.png`` (as asked; ``dpi``: the PNG's, default
    300); returns the paths.
    The first save lays the figure out (constrained layout) once and fixes that layout:
    every file, and any later save of the same figure, uses it (a layout engine costs a
    full extra draw per file, and re-running it moves things by fractions of a point)."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    meta = {"pdf": {"CreationDate": None, "ModDate": None, "Creator": "optbench"},
            "svg": {"Date": None, "Creator": "optbench"}, "png": {"Software": "optbench"}}
    out = []
    with paper():
        if fig.get_layout_engine() is not None:
            fig.get_layout_engine().execute(fig)  # what a draw starts with, without the draw
            with mpl.rc_context({"figure.autolayout": False,
                                 "figure.constrained_layout.use": False}):
                fig.set_layout_engine(None)
        for f in parse_formats(formats):
            p = stem.with_name(stem.name + "." + f)
            fig.savefig(p, format=f, metadata=meta[f], **({"dpi": dpi} if dpi else {}))
            out.append(p)
    return out


LABELS = {
    "f_gap": r"$f(x_t) - f^\star$", "best_gap": r"$\min_{s \leq t} f(x_s) - f^\star$",
    "f": r"$f(x_t)$", "best_f": r"$\min_{s \leq t} f(x_s)$",
    "grad_norm": r"$\|\nabla f(x_t)\|$", "dist_to_opt": r"$\|x_t - x^\star\|$",
    "ngev": "gradient evaluations", "step": r"step $t$", "time_s": "wall time [s]",
    "lr": r"learning rate $\alpha$", "final_gap": r"final $f - f^\star$", "final_f": r"final $f$",
}
