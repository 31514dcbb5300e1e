"""Analysis of runs/traces tables: runtimes to targets, aRT with bootstrap CIs, ECDFs,
Dolan–Moré performance profiles, Moré–Wild data profiles, the AlgoPerf-style score, the
learning-rate protocol, theory rates for quadratics, trajectories and landscape slices.

Definitions: docs/reference.md, "Benchmark metrics". Failed and diverged runs are never dropped:
they count as misses."""
from .labels import config_labels, instance_labels, with_labels  # noqa: F401
from .metrics import (art, cost_matrix, data_profile, ecdf, ecdf_at, mw_costs,  # noqa: F401
                      performance_profile, performance_ratios, profile_score, quantile,
                      runtimes, summary)

__all__ = ["art", "config_labels", "cost_matrix", "data_profile", "ecdf", "ecdf_at",
           "instance_labels", "mw_costs", "performance_profile", "performance_ratios",
           "profile_score", "quantile", "runtimes", "summary", "with_labels"]
