"""Paper-style matplotlib figures from optbench tables (see :mod:`optbench.plots.style`).

Modules: convergence (curves over seeds, theory overlays, saddle escape), contour (2-D
contours and 1-D curves with real trajectories), profiles (ECDF, performance and data
profiles, learning-rate sensitivity), landscape (Li et al. 2018 slices), report
(``optbench report`` / ``optbench plot``), gallery (``optbench gallery``).
Importing this package is cheap; matplotlib loads with the submodules."""
