"""Result sets recorded with ``optbench asv-record`` (see optbench/asv_bridge.py).

One class per recorded suite, read from ``<results_dir>/optbench-recorded/*.record`` (the
results folder of ``$ASV_CONF_DIR/asv.conf.json``; ``OPTBENCH_ASV_RECORDED`` overrides it).
The values are written by ``optbench asv-record``; an ordinary ``asv run`` skips these.
A plain file of the repository (the bridge never writes it): keep it free of imports from
the project, so that asv can discover it at any commit. The folder name and the record format
are the bridge's (``RECORD_DIR``, ``_write_record``); tests/test_asv.py checks that the two
agree.
"""
import json
import os
import re
from pathlib import Path


def _records_dir():
    if os.environ.get("OPTBENCH_ASV_RECORDED"):
        return Path(os.environ["OPTBENCH_ASV_RECORDED"])
    conf_dir = Path(os.environ.get("ASV_CONF_DIR") or Path(__file__).resolve().parents[1])
    results = "results"
    for name in ("asv.conf.json", "asv.conf.jsonc"):
        try:
            text = (conf_dir / name).read_text()
        except OSError:
            continue
        text = "\n".join(ln for ln in text.splitlines() if not ln.strip().startswith("//"))
        try:
            results = json.loads(re.sub(r",(\s*[}\]])", r"\1", text)).get("results_dir", results)
        except ValueError:
            pass
        break
    return conf_dir / results / "optbench-recorded"


def _skip(self, *params):
    raise NotImplementedError("recorded by optbench asv-record; not re-measured")


def _method(unit, version):
    def track(self, *params):
        return float("nan")

    track.unit = unit
    track.version = version
    return track


def _declare(path):
    rec = json.loads(path.read_text())
    attrs = {"params": [rec["problems"], rec["optimizers"]],
             "param_names": ["problem", "optimizer"], "setup": _skip,
             "__doc__": "Recorded suite %r (%s)." % (rec["name"], path)}
    for method, unit in rec["metrics"].items():
        attrs[method] = _method(unit, rec["version"])
    return type(rec["class_name"], (), attrs)


for _path in sorted(_records_dir().glob("*.record")):
    try:
        _cls = _declare(_path)
    except (OSError, ValueError, KeyError, TypeError):
        continue
    globals()[_cls.__name__] = _cls
