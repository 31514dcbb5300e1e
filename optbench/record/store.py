"""The results store: a folder of Parquet chunks plus ``meta.json``.

Layout::

    RESULTS/meta.json                    schema version, environment, suite
    RESULTS/runs/part-<n>-<hash>.parquet one chunk of the runs table
    RESULTS/traces/part-<n>-<hash>.parquet  the traces of the same runs

Chunks are written atomically (temporary file, fsync, rename), runs before nothing else
depends on them, so an interrupted sweep keeps every finished chunk. A run id already stored
is skipped on the next run of the same suite. ``load`` concatenates the chunks (later chunks
win for a repeated id).
"""
from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

import optbench
from optbench.validate import OptbenchInputError

from .env import environment


class Store:
    def __init__(self, path, *, create: bool = True):
        self.path = Path(path)
        if create:
            try:
                (self.path / "runs").mkdir(parents=True, exist_ok=True)
                (self.path / "traces").mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise OptbenchInputError(f"cannot create results folder {self.path}: {e.strerror}") from None
            if not os.access(self.path, os.W_OK):
                raise OptbenchInputError(f"results folder {self.path} is not writable")
        elif not (self.path / "runs").is_dir():
            raise OptbenchInputError(f"{self.path} is not an optbench results folder (no runs/)")
        self._check_meta()

    # -- meta -------------------------------------------------------------------------
    @property
    def meta_path(self) -> Path:
        return self.path / "meta.json"

    def meta(self) -> dict:
        if not self.meta_path.exists():
            return {}
        try:
            return json.loads(self.meta_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise OptbenchInputError(f"{self.meta_path} is corrupted (not valid JSON)") from None

    def _check_meta(self):
        m = self.meta()
        v = m.get("schema_version")
        if v is not None and v > optbench.SCHEMA_VERSION:
            raise OptbenchInputError(
                f"{self.path} was written with schema version {v}; this optbench reads up to "
                f"{optbench.SCHEMA_VERSION}: upgrade optbench")
        if v is not None and v < optbench.SCHEMA_VERSION:
            raise OptbenchInputError(
                f"{self.path} has old schema version {v} (current {optbench.SCHEMA_VERSION}); "
                "re-run the suite into a new folder")

    def write_meta(self, **extra):
        m = self.meta()
        m.update({"schema_version": optbench.SCHEMA_VERSION, "environment": environment()})
        m.update(extra)
        _atomic_write(self.meta_path, json.dumps(m, indent=2, default=str).encode())

    # -- chunks -----------------------------------------------------------------------
    def _parts(self, kind: str) -> list[Path]:
        return sorted((self.path / kind).glob("part-*.parquet"))

    def done_ids(self) -> set[str]:
        ids: set[str] = set()
        for f in self._parts("runs"):
            ids.update(_read(f, columns=["run_id"])["run_id"].tolist())
        return ids

    def append(self, runs: pd.DataFrame, traces: pd.DataFrame):
        if runs.empty:
            return
        tag = f"{len(self._parts('runs')):06d}-{uuid.uuid4().hex[:8]}"
        # traces first: a runs chunk only becomes visible once its traces are on disk
        _atomic_parquet(traces, self.path / "traces" / f"part-{tag}.parquet")
        _atomic_parquet(runs, self.path / "runs" / f"part-{tag}.parquet")

    def load(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        rparts = [_read(f) for f in self._parts("runs")]
        tparts = [_read(f) for f in self._parts("traces")]
        runs = pd.concat(rparts, ignore_index=True) if rparts else pd.DataFrame()
        traces = pd.concat(tparts, ignore_index=True) if tparts else pd.DataFrame()
        if not runs.empty:
            runs = runs.drop_duplicates("run_id", keep="last").reset_index(drop=True)
        return runs, traces


def load(path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Load ``(runs, traces)`` from a results folder."""
    return Store(path, create=False).load()


def _read(path: Path, columns=None) -> pd.DataFrame:
    try:
        return pq.read_table(path, columns=columns).to_pandas()
    except (pa.ArrowInvalid, OSError) as e:
        raise OptbenchInputError(f"corrupted results file {path}: {e}") from None


def _atomic_write(path: Path, data: bytes):
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _atomic_parquet(df: pd.DataFrame, path: Path):
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    table = pa.Table.from_pandas(df, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                           b"optbench_schema": str(optbench.SCHEMA_VERSION).encode()})
    pq.write_table(table, tmp)
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)
