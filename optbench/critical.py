"""Compatibility name: ``optbench.critical`` is :mod:`optbench.analysis.critical` (the same
module object, so attributes set on one are seen through the other)."""
import sys

from optbench.analysis import critical as _critical

sys.modules[__name__] = _critical
