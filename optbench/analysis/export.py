"""Tables for papers: Markdown and LaTeX (booktabs), with ∞ for misses and k/n for success.

Cost: O(cells)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
        "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
        "Δ": r"$\Delta$", "∞": r"$\infty$", "−": "-", "×": r"$\times$", "α": r"$\alpha$",
        "τ": r"$\tau$", "≤": r"$\le$", "≥": r"$\ge$", "—": "--", "–": "--", "ρ": r"$\rho$"}


class Tex(str):
    """A string that is already LaTeX (not escaped again)."""


def fmt_number(v, digits: int = 3, tex: bool = False) -> str:
    """3 significant digits; ∞ for +inf; an em dash for NaN."""
    if isinstance(v, Tex):
        return str(v)
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "--" if tex else "—"
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        if math.isinf(v):
            return (r"$\infty$" if v > 0 else r"$-\infty$") if tex else ("∞" if v > 0 else "−∞")
        if v != 0 and (abs(v) >= 1e5 or abs(v) < 1e-3):
            m, e = f"{v:.{digits - 1}e}".split("e")
            return f"${m}\\times 10^{{{int(e)}}}$" if tex else f"{m}e{int(e)}"
        return f"{v:.{digits}g}"
    return tex_escape(str(v)) if tex else str(v)


def tex_escape(s: str) -> str:
    return "".join(_TEX.get(c, c) for c in s)


def to_markdown(df: pd.DataFrame, index: bool = False) -> str:
    d = df.reset_index() if index else df
    head = [str(c) for c in d.columns]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for row in d.itertuples(index=False):
        lines.append("| " + " | ".join(fmt_number(v).replace("|", "\\|") for v in row) + " |")
    return "\n".join(lines) + "\n"


def to_latex(df: pd.DataFrame, caption: str = "", label: str = "", index: bool = False) -> str:
    """A booktabs table (needs ``\\usepackage{booktabs}``)."""
    d = df.reset_index() if index else df
    align = "".join("r" if pd.api.types.is_numeric_dtype(d[c]) else "l" for c in d.columns)
    out = [r"\begin{table}[t]", r"\centering"]
    if caption:
        out.append(rf"\caption{{{tex_escape(caption)}}}")
    if label:
        out.append(rf"\label{{{label}}}")
    out += [rf"\begin{{tabular}}{{{align}}}", r"\toprule",
            " & ".join(c if isinstance(c, Tex) else tex_escape(str(c)) for c in d.columns) + r" \\", r"\midrule"]
    for row in d.itertuples(index=False):
        out.append(" & ".join(fmt_number(v, tex=True) for v in row) + r" \\")
    out += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(out) + "\n"
