"""Named positions in the optimizer kernels' scalar arrays ``sc`` (per-run scalars) and ``hy``
(hyperparameters).

A family declares its slots once, by name::

    HY = hyper_slots("beta1", "beta2", "eps", "amsgrad")   # hy[HY.beta1] is beta1
    SC = scalar_slots("beta1_t", "beta2_t")   # sc[SC.lr], sc[SC.step], then sc[SC.beta1_t]

and its kernels index with the names. A :class:`Slots` is a module object on purpose: numba
reads a global module's int attributes as compile-time constants (as ``math.pi``), so
``hy[HY.beta1]`` compiles to exactly the code of ``hy[0]``, on the CPU and on CUDA.

``sc[SC_LR]`` (the step's learning rate) and ``sc[SC_STEP]`` (the 1-based step number) are
written by the run loop before every update; a family's own scalars follow them. The last
slot, ``sc[SC_SEED]``, holds the run's seed (random probes draw from it).
"""
from __future__ import annotations

import keyword
import types

SC_LR = 0        # sc: the step's learning rate (set by the run loop)
SC_STEP = 1      # sc: the step number, 1-based as torch counts (set by the run loop)
N_SCALARS = 16   # length of the per-run scalar array sc
SC_SEED = N_SCALARS - 1   # sc: the run's seed (set once when the batch is built; probes use it)


class Slots(types.ModuleType):
    """Named indices into one scalar array: attribute ``name`` is its position; iterating gives
    the names in order (the order ``Optimizer.hyper_array`` fills ``hy`` in)."""

    def __init__(self, label: str, names, start: int = 0):
        super().__init__(label)
        names = tuple(names)
        for n in names:
            if not (isinstance(n, str) and n.isidentifier()) or keyword.iskeyword(n) \
                    or n.startswith("_"):
                raise ValueError(f"{label}: slot name {n!r} is not a plain identifier")
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"{label}: slot names repeated: {', '.join(dup)}")
        self._names = names
        for k, n in enumerate(names, start):
            setattr(self, n, k)

    def __iter__(self):
        return iter(self._names)

    def __len__(self):
        return len(self._names)

    def __repr__(self):
        return f"Slots({self.__name__}: " + ", ".join(f"{n}={getattr(self, n)}" for n in self) \
            + ")"


def hyper_slots(*names: str) -> Slots:
    """The positions of a family's hyperparameters in ``hy``, in the order given."""
    return Slots("hy", names)


def scalar_slots(*names: str) -> Slots:
    """The positions in ``sc`` of ``lr`` and ``step`` (the run loop's) and then of the
    family's own scalars ``names`` (running products, step sizes, ...)."""
    out = Slots("sc", ("lr", "step") + names)
    assert (out.lr, out.step) == (SC_LR, SC_STEP)
    if len(out) > N_SCALARS - 1:      # the last one is SC_SEED
        raise ValueError(f"sc has {N_SCALARS - 1} slots for lr, step and a family's own "
                         f"scalars, {len(out)} declared: {', '.join(out)}")
    return out
