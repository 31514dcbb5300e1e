"""Memory a run or a sweep needs, estimated before anything is allocated, against what the
machine has available; too much is bad input (:class:`OptbenchInputError`), refused before
compilation with one line naming the dimension, the estimate and the available memory.

The estimate follows the arrays the CPU drivers allocate (``runner/batch.py``,
``runner/second_order.py``). A batch of R runs of one (problem, optimizer) pair holds

* per run: x, gradient, the start and final-x copies, and the optimizer's state rows
  (``Optimizer.n_state()``; for second-order, line-search and zero-order methods the rows,
  d×d matrices and integer work of ``layout(d)``, e.g. Newton's dense Hessian), plus the trace
  buffer and its table (``TRACE_ROW_BYTES`` per recorded step);
* once: a one-run warm-up copy, x* and the start being drawn, and the problem's data
  (``Problem.data_bytes()``: the peak while building it, e.g. 4 d×d matrices for a rotated
  quadratic, since every batch rebuilds its problem).

A sweep counts the batches that run at once (``check_specs``). The figures are kept close to
the measured peaks of numpy's allocations (tracemalloc: 2 to 6 vectors above them for
rosenbrock and quadratic at d = 2^20 with adam, sgd and L-BFGS, one to four runs; 5-40 %
above for traces of every step), so the check stops what cannot fit without refusing runs
that do. The process itself (interpreter, numba, compiled code: a few hundred MB) is not
counted.
"""
from __future__ import annotations

import heapq
import os

from optbench.validate import OptbenchInputError

VECTOR = 8                 # bytes of one float64
TRACE_ROW_BYTES = 8 * 50   # trace buffers and the trace table built (measured: 290-380 B)
CHECK_FROM = 64 * 2 ** 20  # estimates below this are not checked (no system call per spec)
_SIZES: dict = {}          # problem spec string -> (dim, data bytes, metric count)


def available_bytes() -> int | None:
    """Memory available to a new allocation: psutil's ``available`` where psutil is installed,
    else /proc/meminfo's MemAvailable, else free pages × page size (None: unknown)."""
    try:
        import psutil
        return int(psutil.virtual_memory().available)
    except Exception:  # noqa: BLE001 - not installed, or unsupported here: the fallbacks
        pass
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def fmt_bytes(n: float) -> str:
    """``n`` bytes in binary units with three significant digits (``7.45 GiB``)."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.3g} {unit}"
        n /= 1024
    return f"{n} B"  # pragma: no cover


def check(need: int, what: str, why: str = "") -> None:
    """Refuse when ``need`` bytes exceed the available memory (estimates under
    ``CHECK_FROM`` are accepted without asking the system). ``why``: what the need is made of."""
    if need < CHECK_FROM:
        return
    have = available_bytes()
    if have is None or need <= have:
        return
    why = f" ({why})" if why else ""
    raise OptbenchInputError(f"{what} needs about {fmt_bytes(need)}{why}; this machine has "
                             f"{fmt_bytes(have)} available")


def _why(dim: int, runs: int, steps: int, record, opt) -> str:
    """What dominates a batch's need: its vectors, its d×d matrices or its traces."""
    rows, mats, _ = _layout(opt, dim)
    parts = {f"dim {dim}: {fmt_bytes(VECTOR * dim)} per vector": (4 + rows) * dim,
             f"dim {dim}: {fmt_bytes(VECTOR * mats)} of d×d matrices per run": mats,
             f"a trace of {record_rows(steps, record)} recorded steps per run":
                 record_rows(steps, record) * TRACE_ROW_BYTES / VECTOR}
    return max(parts, key=parts.get) + (f", {runs} runs" if runs > 1 else "")


def record_rows(steps: int, record) -> int:
    """Rows a run's trace can hold, computed without building the list of steps."""
    if isinstance(record, str):
        if record.startswith("every:"):
            try:
                k = max(1, int(record.split(":", 1)[1]))
            except ValueError:
                k = 1
            return steps // k + 3
        if record.startswith("list:"):
            return record.count(",") + 3
        return 2 if record == "none" else min(steps, 10) + 103   # 'log'
    return len(record) + 2


def _layout(opt, d: int) -> tuple[int, int, int]:
    """(state rows of length d, matrix entries, integer work entries) of one run."""
    if getattr(opt, "kind", "first_order") == "first_order":
        from optbench.kernels.blocks import vector_blocks
        # one vector block: the largest per-block matrices a family can keep (Shampoo, SOAP)
        return max(1, opt.state_rows(vector_blocks(d)), opt.n_state()), 0, 0
    lay = opt.layout(d)
    return 1 + lay["rows"], lay["nmat"] * lay["md"] ** 2, lay["niw"]


def batch_bytes(dim: int, data_bytes: int, n_metrics: int, opt, runs: int, steps: int,
                record) -> int:
    """Bytes a batch of ``runs`` runs of ``opt`` (budget ``steps``, recording ``record``) on a
    problem of dimension ``dim`` holds at its peak (see the module docstring)."""
    rows, mats, iw = _layout(opt, dim)
    trace = record_rows(steps, record) * (TRACE_ROW_BYTES + 16 * n_metrics)
    one = VECTOR * ((4 + rows) * dim + mats + iw) + trace
    warm = VECTOR * ((2 + rows) * dim + mats)
    return runs * one + warm + VECTOR * 2 * dim + data_bytes


def note_problem(key: str, prob) -> tuple[int, int, int]:
    """Remember (dim, data bytes, metric count) of a built problem under its spec string, so a
    sweep's check needs no rebuild."""
    size = _SIZES.get(key)
    if size is None:
        if len(_SIZES) > 4096:
            _SIZES.clear()
        size = _SIZES[key] = (prob.dim, prob.data_bytes(), len(prob.metric_names()))
    return size


def check_run(prob, opt, steps: int, record, key: str | None = None) -> None:
    """Refuse one run of ``opt`` on ``prob`` that cannot fit in the available memory."""
    dim, data, nmet = note_problem(key, prob) if key else (
        prob.dim, prob.data_bytes(), len(prob.metric_names()))
    need = batch_bytes(dim, data, nmet, opt, 1, steps, record)
    check(need, f"a run of {opt.name} on {prob!r}", _why(dim, 1, steps, record, opt))


def check_specs(specs, *, batch_runs: int | None = None, at_once: int = 1,
                groups: dict | None = None) -> None:
    """Refuse a sweep whose largest ``at_once`` batches (of at most ``batch_runs`` runs of one
    execution group each; None: a whole group) cannot fit in the available memory together.
    ``groups``: the runner's execution groups (``runner.executors.group_specs``); without
    them, runs that share a problem, budget and recording are taken as one group, which can
    only overestimate a batch (this module sits below the runner and does not import it)."""
    if groups is None:
        groups = {}
        for s in specs:
            groups.setdefault((s.problem, s.steps, str(s.record)), []).append(s)
    peaks = []   # (bytes, runs, dim, first spec, optimizer) per batch that may run at once
    opts: dict = {}
    for group in groups.values():
        s0 = group[0]
        size = _SIZES.get(s0.problem)
        if size is None:
            size = note_problem(s0.problem, s0.build_problem())
        n = len(group) if batch_runs is None else min(len(group), batch_runs)
        best = None   # a group's runs may differ in hyperparameters (L-BFGS memory, ...)
        for key in dict.fromkeys(s.optimizer for s in group):
            if key not in opts:
                opts[key] = _optimizer(key)
            need = batch_bytes(*size, opts[key], n, s0.steps, s0.record)
            if best is None or need > best[0]:
                best = (need, n, size[0], s0, opts[key])
        peaks.extend([best] * min(-(-len(group) // n), max(1, at_once)))
    if not peaks:
        return
    top = heapq.nlargest(max(1, at_once), peaks, key=lambda p: p[0])
    need, n, dim, s0, opt = top[0]
    ways = f"{len(top)} batches at once, the largest " if len(top) > 1 else ""
    check(sum(p[0] for p in top), f"this sweep ({ways}{n} runs of {opt.name} on problem "
          f"{s0.problem_params['problem']})", _why(dim, n, s0.steps, s0.record, opt))


def _optimizer(key: str):
    """The optimizer of a spec's canonical optimizer string."""
    import json

    from optbench import optimizers as O
    return O.make(json.loads(key))
