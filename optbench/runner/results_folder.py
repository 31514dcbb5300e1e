"""What a sweep records about itself in ``meta.json``, and which sweeps may share a folder.

A results folder holds the runs of **one suite with one set of run settings**: the suite (its
name, problems, optimizers, budget rule, recording, targets) and the effective ``steps``,
``device`` and ``dtype`` after command-line overrides. A sweep whose suite or settings differ
from those of the runs already stored is refused (:func:`check_same_sweep`): their run ids
differ, and mixing them would silently merge two experiments into one table. Only the seeds
may change: more seeds add runs of the same experiment (``--seeds 5`` after ``--seeds 3``
computes seeds 3 and 4). How the runs were executed (executor, workers, address, batch size)
never changes a result, so a resume may use another executor; ``meta.json`` records every
sweep that wrote the folder under ``"sweeps"`` and the latest one's overrides under
``"overrides"``.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from optbench.validate import OptbenchInputError

SETTINGS = ("steps", "device", "dtype")
_NOT_IDENTITY = {"seeds", "description", *SETTINGS}  # seeds may grow; settings compared apart


def _plain(v):
    """``v`` as it reads back from JSON (tuples become lists, other objects strings)."""
    return json.loads(json.dumps(v, default=str))


def identity(suite: dict, specs) -> dict:
    """What decides the run ids of a folder, the seeds aside: the suite and its settings."""
    s0 = specs[0]
    return {"suite": _plain({k: v for k, v in suite.items() if k not in _NOT_IDENTITY}),
            **{k: getattr(s0, k) for k in SETTINGS}}


def stored_identity(meta: dict) -> dict | None:
    """The identity recorded in ``meta.json`` (settings absent in folders written before they
    were recorded: only the suite is compared then); None if no suite is recorded."""
    suite = meta.get("suite")
    if not isinstance(suite, dict):
        return None
    out = {"suite": _plain({k: v for k, v in suite.items() if k not in _NOT_IDENTITY})}
    settings = meta.get("settings")
    if isinstance(settings, dict):
        out.update({k: settings.get(k) for k in SETTINGS})
    return out


def check_same_sweep(path, meta: dict, new: dict):
    """Refuse (one line) to write the sweep ``new`` into a folder whose stored runs belong to
    another suite or other settings."""
    old = stored_identity(meta)
    if old is None:
        return
    a, b = old["suite"], new["suite"]
    if a.get("name") != b.get("name"):
        raise OptbenchInputError(
            f"results folder {path} holds runs of suite {a.get('name')!r}, not "
            f"{b.get('name')!r}; write suite {b.get('name')!r} into another folder (--out DIR)")
    diffs = [f"{k} {old[k]!r} vs {new[k]!r}" for k in SETTINGS if k in old and old[k] != new[k]]
    diffs += [f"[[{k}]]" if k in ("problems", "optimizers") else k
              for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    if diffs:
        raise OptbenchInputError(
            f"results folder {path} holds runs of suite {a.get('name')!r} with other settings "
            f"(differ: {', '.join(diffs)}); runs of different settings are not mixed in one "
            "folder: use another --out DIR (only --seeds may change between runs into a folder)")


def meta_fields(meta: dict, suite: dict, specs, overrides: dict) -> dict:
    """The fields a sweep writes into ``meta.json`` (``overrides``: the arguments it was
    called with; ``None`` for each one not given)."""
    overrides = _plain({k: list(v) if isinstance(v, (range, tuple)) else v
                        for k, v in overrides.items()})
    sweeps = meta.get("sweeps") if isinstance(meta.get("sweeps"), list) else []
    started = time.strftime("%Y-%m-%dT%H:%M:%S")
    return {"suite": suite, "n_runs": len(specs),
            "settings": {k: getattr(specs[0], k) for k in SETTINGS},
            "overrides": overrides, "sweeps": sweeps + [{"started": started, **overrides}]}


def first_missing(path) -> Path | None:
    """The outermost folder of ``path`` that does not exist yet (None if ``path`` exists): what
    creating ``path`` adds, and so what a sweep that stores nothing removes again."""
    p, top = Path(path).absolute(), None
    while not p.exists():
        top, p = p, p.parent
    return top
