"""The results store: a folder of Parquet chunks plus ``meta.json``.

Layout::

    RESULTS/meta.json                       schema version, environment, suite
    RESULTS/runs/part-<n>-<tag>.parquet     one chunk of the runs table
    RESULTS/traces/part-<n>-<tag>.parquet   the traces of the same runs (same file name)
    RESULTS/.lock                           held by the sweep writing the folder
    RESULTS/quarantine/                     corrupted parts moved aside by a resuming sweep

Never lose work:

* Chunks are written atomically (temporary file, fsync, rename). The traces part is renamed
  into place before its runs part, so a run counts as done only once its traces are on disk.
  A sweep killed at any moment keeps every finished chunk; a temporary file left by a killed
  write is ignored by readers and deleted by the next writer.
* **One writer at a time.** A sweep holds an exclusive ``flock`` on ``RESULTS/.lock`` while it
  writes; a second sweep on the same folder is refused with a message naming the holder
  (pid, host, start time). The kernel releases the lock when the holder dies, even by
  ``kill -9``, so a crashed sweep never leaves a stale lock. (Readers never lock: they see
  complete files only.) The lock is local to one machine: on a shared file system run at most
  one sweep per results folder — dask workers never write the store, the client does.
* **A lost traces part is detected**: each runs part records its traces part (file name and
  row count, in its Parquet metadata). Readers (:meth:`Store.load`) raise naming a runs part
  whose traces part is missing or has other rows; a resuming sweep moves that runs part to
  ``quarantine/`` and recomputes its runs.
* **Corruption is detected per file**: a starting sweep reads every part once, and
  Parquet pages carry CRC checksums verified on every read. A damaged file raises
  :class:`OptbenchInputError` naming it; a resuming sweep moves the damaged part (and its
  partner runs/traces part) to ``quarantine/`` and recomputes only those runs.
* Parts carry their schema version; a folder or part written by a newer optbench is refused
  (never read as an older schema), an older one gets a clear message.
"""
from __future__ import annotations

import contextlib
import json
import os
import socket
import time
import uuid
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from optbench.validate import OptbenchInputError

from .env import environment
from .schema import SCHEMA_VERSION
from .tables import arrow_table

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no locking (documented)
    fcntl = None

KINDS = ("runs", "traces")


class Store:
    def __init__(self, path, *, create: bool = True):
        self.path = Path(path)
        self._lock_fh = None
        if create:
            try:
                (self.path / "runs").mkdir(parents=True, exist_ok=True)
                (self.path / "traces").mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise OptbenchInputError(
                    f"cannot create results folder {self.path}: {e.strerror}") from None
            if not os.access(self.path, os.W_OK):
                raise OptbenchInputError(f"results folder {self.path} is not writable")
        elif not (self.path / "runs").is_dir():
            raise OptbenchInputError(f"{self.path} is not an optbench results folder (no runs/)")
        self._check_meta()

    # -- the writer lock --------------------------------------------------------------
    def lock(self):
        """Take the exclusive writer lock, or raise naming the sweep that holds it."""
        if self._lock_fh is not None or fcntl is None:
            return self
        path = self.path / ".lock"
        try:
            fh = open(path, "a+")
        except OSError as e:
            raise OptbenchInputError(f"cannot open lock file {path}: {e.strerror}") from None
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            fh.close()
            raise OptbenchInputError(
                f"results folder {self.path} is being written by another sweep ({holder}); "
                "wait for it to finish or use another output folder") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} on {socket.gethostname()} since "
                 f"{time.strftime('%Y-%m-%d %H:%M:%S')}")
        fh.flush()
        self._lock_fh = fh
        return self

    def unlock(self):
        if self._lock_fh is not None:
            fh, self._lock_fh = self._lock_fh, None
            fh.seek(0)
            fh.truncate()
            fh.close()  # closing the descriptor releases the flock

    def discard_if_empty(self, top=None) -> bool:
        """Remove this folder, which a sweep created, if it stores no chunk (a sweep that
        failed to start leaves no empty results folder); also its parents up to ``top`` that
        are left empty. Releases the lock. Returns whether the folder is gone."""
        if self.has_chunks():
            return False
        self.meta_path.unlink(missing_ok=True)
        for d in KINDS:
            with contextlib.suppress(OSError):
                (self.path / d).rmdir()
        self.unlock()
        (self.path / ".lock").unlink(missing_ok=True)
        d, top = self.path.absolute(), Path(top).absolute() if top is not None else None
        gone = False
        while True:
            try:
                d.rmdir()  # only ever an empty folder
            except OSError:
                return gone
            gone = True
            if top is None or d == top or d.parent == d:
                return True
            d = d.parent

    def __enter__(self):
        return self.lock()

    def __exit__(self, *exc):
        self.unlock()

    # -- meta -------------------------------------------------------------------------
    @property
    def meta_path(self) -> Path:
        return self.path / "meta.json"

    def meta(self) -> dict:
        if not self.meta_path.exists():
            return {}
        try:
            m = json.loads(self.meta_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            m = None
        if not isinstance(m, dict):
            raise OptbenchInputError(
                f"{self.meta_path} is corrupted (not a JSON object); restore it, or delete it "
                "and re-run the suite to rewrite it (the Parquet parts are not affected)")
        return m

    def _check_meta(self):
        _check_schema(self.meta().get("schema_version"), self.path)

    def write_meta(self, **extra):
        m = self.meta()
        m.update({"schema_version": SCHEMA_VERSION, "environment": environment()})
        m.update(extra)
        _atomic_write(self.meta_path, json.dumps(m, indent=2, default=str).encode())

    # -- chunks -----------------------------------------------------------------------
    def _parts(self, kind: str) -> list[Path]:
        return sorted((self.path / kind).glob("part-*.parquet"))

    def done_ids(self, *, with_status: bool = False):
        """Run ids stored so far (a set), or a dict run id -> status."""
        out: dict = {}
        for f in self._parts("runs"):
            df = _read(f, columns=["run_id", "status"])
            out.update(zip(df["run_id"].tolist(), df["status"].astype(str).tolist()))
        return out if with_status else set(out)

    def append(self, runs: pd.DataFrame, traces: pd.DataFrame):
        if runs.empty:
            return
        name = f"part-{self._next_number():06d}-{uuid.uuid4().hex[:8]}.parquet"
        # traces first: a runs chunk only becomes visible once its traces are on disk; the
        # runs part records its partner (file name, row count) so a lost one is detected
        _atomic_parquet(traces, self.path / "traces" / name)
        partner = json.dumps({"file": f"traces/{name}", "rows": len(traces)}).encode()
        _atomic_parquet(runs, self.path / "runs" / name, {_PARTNER_KEY: partner})

    def missing_partners(self) -> list[tuple[Path, str]]:
        """``(runs part, reason)`` for every runs part whose traces part is missing or is not
        the one it recorded (row count differs). Reads only Parquet footers."""
        bad = []
        for f in self._parts("runs"):
            t = self.path / "traces" / f.name
            if not t.exists():
                bad.append((f, f"its traces part {t} is missing"))
                continue
            try:
                want = _recorded_partner(pq.read_schema(f).metadata)
                got = pq.read_metadata(t).num_rows if want is not None else None
            except (pa.ArrowException, OSError):
                continue  # a damaged file: reported by corrupted() / _read
            if want is not None and got != want:
                bad.append((f, f"its traces part {t} has {got} rows, {want} were written"))
        return bad

    def check_partners(self):
        """Raise naming the first runs part without its traces (silent data loss otherwise)."""
        bad = self.missing_partners()
        if bad:
            f, why = bad[0]
            more = f" (and {len(bad) - 1} more parts)" if len(bad) > 1 else ""
            raise OptbenchInputError(
                f"incomplete results in {self.path}: {why} for {f}{more}; re-running the suite "
                "into this folder sets the runs part aside and recomputes its runs")

    def has_chunks(self) -> bool:
        """Whether any runs or traces part is stored."""
        return bool(self._parts("runs") or self._parts("traces"))

    def _orphans(self) -> list[Path]:
        """Traces parts whose runs part never landed (a write killed between the renames)."""
        runs = {f.name for f in self._parts("runs")}
        return [f for f in self._parts("traces") if f.name not in runs]

    def _next_number(self) -> int:
        """One more than the highest chunk number: name order is write order (later wins)."""
        nums = [-1]
        for kind in KINDS:
            for f in self._parts(kind):
                try:
                    nums.append(int(f.name.split("-")[1]))
                except (IndexError, ValueError):
                    pass
        return max(nums) + 1

    def clean_incomplete(self) -> list[Path]:
        """Delete what killed writes left: temporary files and orphan traces parts (their runs
        are not stored, so they are recomputed). Call only while holding the lock."""
        gone = []
        tmps = [f for d in (self.path, self.path / "runs", self.path / "traces")
                for f in d.glob(".*.tmp")]
        for f in tmps + self._orphans():
            try:
                f.unlink()
                gone.append(f)
            except OSError:  # pragma: no cover
                pass
        return gone

    def corrupted(self) -> list[tuple[Path, str]]:
        """``(file, reason)`` for every damaged part (each part is read in full, one at a time,
        with its page checksums verified)."""
        bad = []
        for kind in KINDS:
            for f in self._parts(kind):
                try:
                    _read(f, raw=True, arrow=True)
                except (pa.ArrowException, OSError, KeyError) as e:
                    bad.append((f, _reason(e)))
        return bad

    def quarantine(self, files) -> list[Path]:
        """Move damaged parts and their partner parts to ``quarantine/``; returns what moved."""
        q = self.path / "quarantine"
        moved = []
        for f in files:
            for kind in KINDS:
                src = self.path / kind / Path(f).name
                if src.exists():
                    dst = q / kind / src.name
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(src, dst)
                    moved.append(dst)
        return moved

    def load(self, what: str = "all", columns=None, categories=()):
        """``(runs, traces)``; ``what="runs"`` skips reading the traces (``traces`` is None).
        ``columns``: read only these runs columns (and ``run_id``), nothing else of the parts
        (a column a part lacks is null there); ``categories``: string columns of those read
        as pandas categoricals (a repeated string is stored once). A runs part whose traces
        part is missing raises (``check_partners``)."""
        self.check_partners()
        if columns is None:
            rparts = [_read(f) for f in self._parts("runs")]
            runs = pd.concat(rparts, ignore_index=True) if rparts else pd.DataFrame()
        else:
            cols = list(dict.fromkeys(["run_id", *columns]))
            tparts = [_read(f, columns=cols, arrow=True, missing_ok=True,
                            dictionary=list(categories)) for f in self._parts("runs")]
            table = pa.concat_tables(tparts, promote_options="permissive") if tparts else None
            tparts.clear()  # the table's buffers are released as they convert
            runs = (table.to_pandas(self_destruct=True, split_blocks=True)
                    if table is not None else pd.DataFrame(columns=cols))
            del table
        if not runs.empty:
            runs = runs.drop_duplicates("run_id", keep="last").reset_index(drop=True)
        if what == "runs":
            return runs, None
        orphans = set(self._orphans())
        tparts = [_read(f) for f in self._parts("traces") if f not in orphans]
        traces = pd.concat(tparts, ignore_index=True) if tparts else pd.DataFrame()
        return runs, traces


def load(path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Load ``(runs, traces)`` from a results folder."""
    return Store(path, create=False).load()


def _check_schema(v, where):
    if v is None:
        return
    if v > SCHEMA_VERSION:
        raise OptbenchInputError(
            f"{where} was written with schema version {v}; this optbench reads up to "
            f"{SCHEMA_VERSION}: upgrade optbench")
    if v < SCHEMA_VERSION:
        raise OptbenchInputError(
            f"{where} has old schema version {v} (current {SCHEMA_VERSION}); "
            "re-run the suite into a new folder")


_PARTNER_KEY = b"optbench_traces_part"


def _recorded_partner(md):
    """Rows of the traces part a runs part recorded (None: written before partners were
    recorded; only the partner's existence is checked then)."""
    v = (md or {}).get(_PARTNER_KEY)
    try:
        return int(json.loads(v)["rows"]) if v is not None else None
    except (ValueError, KeyError, TypeError):
        return None


def _part_schema(md):
    v = (md or {}).get(b"optbench_schema")
    try:
        return int(v) if v is not None else None
    except ValueError:
        return None


def _reason(e) -> str:
    return str(e).splitlines()[0] if str(e) else type(e).__name__


def _read(path: Path, columns=None, raw: bool = False, arrow: bool = False,
          missing_ok: bool = False, dictionary=None):
    try:
        pf = pq.ParquetFile(path, page_checksum_verification=True, read_dictionary=dictionary)
        _check_schema(_part_schema(pf.schema_arrow.metadata), path)
        if missing_ok and columns is not None:
            columns = [c for c in columns if c in pf.schema_arrow.names]
        t = pf.read(columns=columns)
        return t if arrow else t.to_pandas()
    except (pa.ArrowException, OSError, KeyError) as e:
        if raw:
            raise
        raise OptbenchInputError(
            f"corrupted results file {path}: {_reason(e)} (the other parts are intact; "
            "re-running the suite into this folder recomputes its runs)") from None


def _atomic_write(path: Path, data: bytes):
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _atomic_parquet(df: pd.DataFrame, path: Path, extra_meta: dict | None = None):
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    table = arrow_table(df)   # list columns typed as declared
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), **(extra_meta or {}),
                                           b"optbench_schema": str(SCHEMA_VERSION).encode()})
    pq.write_table(table, tmp, write_page_checksum=True)
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_dir(d: Path):
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)
