"""Kernel infrastructure: one plain-Python kernel source, compiled for the CPU and for CUDA.

Problem and optimizer kernels are plain Python functions over arrays and scalars (no
allocation, no Python objects). :mod:`optbench.kernels.compile` turns them into
``numba.njit`` functions with explicit signatures (cached on disk) or into
``numba.cuda.jit(device=True)`` device functions, binding the helper kernels they call to
the same target.
"""
