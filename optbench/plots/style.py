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
    keep its hue, in darker/lighter shades, with different line styles and markers."""
    out, seen = {}, {}
    for lab in sorted(set(map(str, labels)), key=_natural):
        name = optimizer_of(lab)
        k = seen.get(name, 0)
        st = style_for(lab, k)
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


def save(fig: Figure, stem, formats=FORMATS) -> list[Path]:
    """Write ``stem.pdf``, ``stem.svg``, ``stem.png`` (as asked); returns the paths."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    meta = {"pdf": {"CreationDate": None, "ModDate": None, "Creator": "optbench"},
            "svg": {"Date": None, "Creator": "optbench"}, "png": {"Software": "optbench"}}
    out = []
    with paper():
        for f in parse_formats(formats):
            p = stem.with_name(stem.name + "." + f)
            fig.savefig(p, format=f, metadata=meta[f])
            out.append(p)
    return out


LABELS = {
    "f_gap": r"$f(x_t) - f^\star$", "best_gap": r"$\min_{s \leq t} f(x_s) - f^\star$",
    "f": r"$f(x_t)$", "best_f": r"$\min_{s \leq t} f(x_s)$",
    "grad_norm": r"$\|\nabla f(x_t)\|$", "dist_to_opt": r"$\|x_t - x^\star\|$",
    "ngev": "gradient evaluations", "step": r"step $t$", "time_s": "wall time [s]",
    "lr": r"learning rate $\alpha$", "final_gap": r"final $f - f^\star$", "final_f": r"final $f$",
}
