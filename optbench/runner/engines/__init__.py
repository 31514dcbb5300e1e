"""Engines: the ways a batch of runs is executed, behind one interface (``base.Engine``).

=================  ==========================================================  ==========
engine (``name``)  driver                                                      module
=================  ==========================================================  ==========
bridge             a torch.optim / optax optimizer stepped from Python         bridge.py
second-order       the curvature / line-search / zero-order loop               second_order.py
cuda-grid          CUDA, the whole grid on one run (large separable problems)  optbench/cuda/execute.py
cuda-thread        CUDA, one thread per run                                    optbench/cuda/execute.py
fused              one parallel pass per step over coordinates (separable)     cpu.py
lanes              chunks of runs as vectorised lanes (sweeps, small problems)  cpu.py
lockstep           chunks of runs stepped together (sweeps of small problems)  cpu.py
special            the run loop with the pair's kernels inlined                cpu.py
generic            the run loop with kernels as arguments (compiled once)      cpu.py
=================  ==========================================================  ==========

``runner/execute.py`` holds the ordered list (``ENGINES``) and picks the first engine that
applies; ``outputs.py`` turns the drivers' raw arrays into the schema's columns. This
package's ``__init__`` imports nothing, so the CUDA engines can build on ``base`` and
``outputs`` without a cycle.
"""
