"""Kernel infrastructure: one plain-Python kernel source, compiled for the CPU and for CUDA.

Problem and optimizer kernels are plain Python functions over arrays and scalars (no
allocation, no Python objects). :mod:`optbench.kernels.compile` turns them into
``numba.njit`` functions with explicit signatures (cached on disk) or into
``numba.cuda.jit(device=True)`` device functions, binding the helper kernels they call to
the same target; :mod:`optbench.kernels.slots` names the positions of the optimizer scalars.

Importing this package sets numba's cache folder (``compile.configure_cache``): every module
with cached dispatchers imports a module of this package first.
"""
from .compile import configure_cache as _configure_cache

_configure_cache()  # before any cached dispatcher is created
