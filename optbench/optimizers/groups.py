"""The groups ``optbench list optimizers`` prints: torch.optim's, the modern ones, second order
(with the line-search methods) and zero order.

A family's group follows from what it declares, so a new family (or a plugin's) lands in the
right one without a list to update: a ``torch_name`` → ``torch.optim``; ``kind`` zero order →
``zero order``; ``kind`` second order or family ``line_search`` (L-BFGS, nonlinear CG,
steepest descent: curvature through line searches and gradient differences) → ``second
order``; every other first-order family (the contract-v2 set, the modern catalogue, plugins)
→ ``modern``.
"""
from __future__ import annotations

GROUPS = ("torch.optim", "modern", "second order", "zero order")


def group_of(cls) -> str:
    """The listing group of an optimizer family (class)."""
    if cls.kind == "zero_order":
        return "zero order"
    if cls.kind == "second_order" or cls.family == "line_search":
        return "second order"
    if cls.torch_name:
        return "torch.optim"
    return "modern"


def grouped_listing() -> dict[str, list[dict]]:
    """``listing()``'s rows by group, in :data:`GROUPS` order (empty groups left out)."""
    from . import REGISTRY, listing

    out: dict[str, list[dict]] = {g: [] for g in GROUPS}
    for row in listing():
        out[group_of(REGISTRY[row["optimizer"]])].append(row)
    return {g: rows for g, rows in out.items() if rows}
