"""optbench's speed measurements, one package with one entry point (not used by runs).

    python -m optbench.bench <what> [--quick] [...]     # what: see below; --help per command

=============== ============================================================================
command         module
=============== ============================================================================
``engine``      :mod:`.engine`: the run loop and the fused loop against hand-written Numba
``zoo``         :mod:`.zoo`: compiled gradient kernels against NumPy
``gpu``         :mod:`.gpu`: the CUDA path (reported skipped without a GPU)
``mlp``         :mod:`.mlp`: an epoch of small MLPs against PyTorch and NumPy
``second-order`` :mod:`.second_order`: L-BFGS and Newton-CG against scipy.optimize
``sweep``       :mod:`.sweep_memory`: peak memory of a large sweep streamed to disk
``lanes``       :mod:`.lane_matrix`: the lane sweep driver per (optimizer, problem) vs JAX + optax
``parts``       :mod:`.parts`: the lane update alone, MLP tile products, minibatch order, phases
``fused``       :mod:`.lane_ab`: the lane driver's fused first pass against its lane forms
``peers``       :mod:`.peers` (one module per comparison): everything against named peers
=============== ============================================================================

:mod:`.common` holds what the benchmarks share (the median timer, the BENCHMARKS.md section
writer); :mod:`.__main__` declares the commands and their flags. asv's benchmarks stay in the
repository's ``benchmarks/`` folder (asv looks for them there).
"""
