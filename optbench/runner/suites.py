"""Suites: TOML files naming problems, optimizers, hyperparameter grids, seeds and budget.

Format (see optbench/suites/quick.toml)::

    name = "quick"
    steps = 5000            # budget per run (optimizer steps)
    seeds = 3               # an int (range) or a list
    stop = "target"         # target | gtol | budget
    record = "log"          # log | every:K | none
    targets = "coco"        # or a list of Δf values

    [[problems]]
    problem = "rosenbrock"
    dim = [2, 10]           # a list expands into one problem per value

    [[optimizers]]
    optimizer = "adam"
    lr = [1e-3, 1e-2, 1e-1] # lists expand into a grid

Built-in suites live in optbench/suites/*.toml; any path to a .toml file works too.
"""
from __future__ import annotations

import itertools
import sys
from pathlib import Path

from optbench.validate import OptbenchInputError, unknown

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

BUILTIN_DIR = Path(__file__).resolve().parents[1] / "suites"
_TOP_KEYS = {"name", "description", "steps", "seeds", "stop", "record", "targets", "gtol",
             "problems", "optimizers"}


def builtin_suites() -> dict[str, Path]:
    return {p.stem: p for p in sorted(BUILTIN_DIR.glob("*.toml"))}


def load_suite(name_or_path) -> dict:
    """Read and check a suite (a built-in name or a path); returns the parsed dict."""
    if isinstance(name_or_path, dict):
        suite = dict(name_or_path)
    else:
        s = str(name_or_path)
        path = builtin_suites().get(s)
        if path is None:
            path = Path(s)
            if not path.suffix == ".toml" and not path.exists():
                raise unknown("suite", s, builtin_suites())
        try:
            text = path.read_text()
        except OSError as e:
            raise OptbenchInputError(f"cannot read suite file {path}: {e.strerror}") from None
        try:
            suite = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise OptbenchInputError(f"malformed suite file {path}: {e}") from None
        suite.setdefault("name", path.stem)
    extra = set(suite) - _TOP_KEYS
    if extra:
        raise OptbenchInputError(
            f"suite: unknown key(s) {', '.join(sorted(extra))}; valid: {', '.join(sorted(_TOP_KEYS))}")
    for key in ("problems", "optimizers"):
        if not isinstance(suite.get(key), list) or not suite[key]:
            raise OptbenchInputError(f"suite needs a non-empty [[{key}]] list")
        for t in suite[key]:
            if not isinstance(t, dict):
                raise OptbenchInputError(f"suite: each [[{key}]] entry must be a table, got {t!r}")
    return suite


def _expand_table(table: dict) -> list[dict]:
    keys = [k for k, v in table.items() if isinstance(v, list)]
    if not keys:
        return [dict(table)]
    out = []
    for combo in itertools.product(*[table[k] for k in keys]):
        d = dict(table)
        d.update(zip(keys, combo))
        out.append(d)
    return out


def suite_specs(suite: dict, *, seeds=None, steps=None) -> list:
    """All validated run specs of a suite (overrides for seeds and steps)."""
    from .spec import RunSpec, _build_optimizer, _build_problem

    seeds = suite.get("seeds", 1) if seeds is None else seeds
    seeds = list(range(int(seeds))) if isinstance(seeds, int) else list(seeds)
    if not seeds:
        raise OptbenchInputError("seeds must be at least 1")
    steps = suite.get("steps", 1000) if steps is None else steps
    kw = {k: suite[k] for k in ("stop", "record", "targets", "gtol") if k in suite}
    probs = [_build_problem(p) for t in suite["problems"] for p in _expand_table(t)]
    opts = [_build_optimizer(o) for t in suite["optimizers"] for o in _expand_table(t)]
    return [RunSpec.make(p, o, seed=s, steps=steps, **kw)
            for p in probs for o in opts for s in seeds]


def run_suite(suite, out=None, *, seeds=None, steps=None, parallel=None, progress=True,
              chunk_runs: int = 4096):
    """Run a suite into a results folder, skipping runs already stored there.

    Returns ``(runs, traces)`` for the whole folder."""
    from optbench.record.store import Store

    from .execute import execute

    suite = load_suite(suite)
    specs = suite_specs(suite, seeds=seeds, steps=steps)
    out = Path(out) if out is not None else Path("results") / suite["name"]
    store = Store(out)
    done = store.done_ids()
    todo = [s for s in specs if s.run_id not in done]
    store.write_meta(suite=suite, n_runs=len(specs))
    bar = _progress(len(specs), len(specs) - len(todo), progress)
    # keep batches whole: sort by the execution group so chunks do not split them needlessly
    from .execute import _group_key
    todo.sort(key=lambda s: str(_group_key(s)))
    try:
        for i in range(0, len(todo), chunk_runs):
            chunk = todo[i:i + chunk_runs]
            runs, traces = execute(chunk, parallel=parallel,
                                   progress=(lambda n, bad: bar.update(n)) if bar else None)
            store.append(runs, traces)
    finally:
        if bar is not None:
            bar.close()
    return store.load()


def _progress(total, initial, enabled):
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover
        return None
    return tqdm(total=total, initial=initial, unit="run", desc="optbench", file=sys.stderr,
                dynamic_ncols=True, disable=None)
