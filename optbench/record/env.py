"""The environment record stored with every result set."""
from __future__ import annotations

import datetime as _dt
import os
import platform
import subprocess
from functools import lru_cache
from pathlib import Path

from .schema import SCHEMA_VERSION


def cpuinfo() -> dict:
    """The first processor's fields of /proc/cpuinfo (name → value; {} where there is none)."""
    info: dict = {}
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return info
    for line in text.splitlines():
        if not line.strip():
            if info:
                break
            continue
        k, _, v = line.partition(":")
        info.setdefault(k.strip(), v.strip())
    return info


def cpu_model() -> str:
    return cpuinfo().get("model name") or platform.processor() or platform.machine()


def cpu_signature() -> str:
    """The x86 family and model, and whether the CPU has AVX-512 (a virtual machine's model
    name can be as bare as "AMD EPYC", and machines of one name run vector code at different
    widths): e.g. ``family 25 model 17, AVX-512``; "" where /proc/cpuinfo does not say."""
    info = cpuinfo()
    if "cpu family" not in info or "model" not in info:
        return ""
    avx = ", AVX-512" if "avx512f" in info.get("flags", "").split() else ""
    return f"family {info['cpu family']} model {info['model']}{avx}"


def git_commit(path=None) -> str | None:
    here = Path(path or Path(__file__).resolve().parents[2])
    try:
        out = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5)
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


@lru_cache(maxsize=1)
def environment() -> dict:
    import numba
    import numpy
    import pandas
    import pyarrow

    import optbench

    env = {
        "optbench": optbench.__version__,
        "schema_version": SCHEMA_VERSION,
        "python": platform.python_version(),
        "numba": numba.__version__,
        "numpy": numpy.__version__,
        "pandas": pandas.__version__,
        "pyarrow": pyarrow.__version__,
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "numba_threads": numba.config.NUMBA_NUM_THREADS,
        "git_commit": git_commit(),
        "timestamp": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    return env


def environment_id(env: dict | None = None) -> str:
    import hashlib
    import json

    env = dict(env or environment())
    env.pop("timestamp", None)
    return hashlib.sha1(json.dumps(env, sort_keys=True, default=str).encode()).hexdigest()[:12]
