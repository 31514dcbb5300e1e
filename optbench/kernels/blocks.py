"""The block layout of a parameter vector x: which slices of x are a layer's weight matrix or
bias, with their shapes (``Problem.blocks()``).

A block table is an int64 array of shape (n_blocks, 5), one row per block, in the order of
x: ``[offset, size, rows, cols, ndim]`` with ``rows * cols == size``. A weight matrix
(``ndim = 2``) is stored row-major (``rows`` × ``cols``, ``nn.Linear.weight``'s layout); a
vector (``ndim = 1``: a bias, or a problem without layers) is ``rows = size, cols = 1``. Blocks tile x: each starts where the
previous one ends. Optimizers that work per layer (trust ratios, factored moments,
orthogonalised updates) read the table; coordinate-wise optimizers ignore it.
"""
from __future__ import annotations

import numpy as np

B_OFF, B_SIZE, B_ROWS, B_COLS, B_NDIM = range(5)


def vector_blocks(dim: int) -> np.ndarray:
    """The layout of a problem without layers: one vector block."""
    return np.array([[0, dim, dim, 1, 1]], dtype=np.int64)


def block_table(shapes) -> np.ndarray:
    """The table of consecutive blocks of the given shapes: ``(rows, cols)`` for a matrix,
    ``(n,)`` for a vector."""
    rows, off = [], 0
    for shp in shapes:
        r, c = (int(shp[0]), 1) if len(shp) == 1 else (int(shp[0]), int(shp[1]))
        rows.append([off, r * c, r, c, 1 if len(shp) == 1 else 2])
        off += r * c
    return np.array(rows, dtype=np.int64).reshape(-1, 5)


def check_table(blk: np.ndarray, dim: int) -> None:
    """Raise ValueError unless ``blk`` tiles a vector of length ``dim``."""
    if blk.ndim != 2 or blk.shape[1] != 5 or blk.shape[0] < 1:
        raise ValueError(f"a block table has shape (n_blocks, 5), got {blk.shape}")
    off = 0
    for o, n, r, c, nd in blk.tolist():
        if o != off or n < 1 or r * c != n or nd not in (1, 2) or (nd == 1 and c != 1):
            raise ValueError(f"block [{o}, {n}, {r}, {c}, {nd}] does not continue at {off} "
                             "with rows * cols = size")
        off += n
    if off != dim:
        raise ValueError(f"the blocks cover {off} coordinates, the problem has {dim}")


def is_matrix(blk: np.ndarray, b: int) -> bool:
    """Whether block b is a matrix (a 2-D parameter, as torch would see it)."""
    return bool(blk[b, B_NDIM] == 2)


def has_matrix(blk: np.ndarray) -> bool:
    return bool((blk[:, B_NDIM] == 2).any())


def shapes(blk: np.ndarray) -> list[tuple[int, ...]]:
    """The blocks' shapes as torch gives them: (rows, cols) or (size,)."""
    return [(int(r), int(c)) if nd == 2 else (int(n),) for _, n, r, c, nd in blk.tolist()]
