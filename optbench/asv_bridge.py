"""``optbench asv-record RESULTS``: a stored result set joins the airspeed-velocity history.

A result set written by ``optbench run`` (or ``ob.run_suite``) at some commit is reduced to
tracked values per (problem, optimizer) setting, aggregated over seeds — all "lower is
better", asv's convention:

============== ======================= ==================================================
method         unit                    value
============== ======================= ==================================================
track_steps    steps                   median first step with best f − f* ≤ target (a miss
                                       counts its whole budget + 1: a lower bound that
                                       does not shrink when a run diverges early)
track_ngev     gradient evaluations    the same in gradient evaluations
track_art      gradient evaluations    aRT: Σ evaluations of all runs (a miss: all it
                                       spent) / number of runs that met the target (with
                                       none: every run charged its whole budget)
track_gap      f - f*                  median final f − f* (finite runs; floored at 1e−12;
                                       absent when f* is unknown)
track_miss     fraction of runs        share of runs that missed the target (runs that
                                       ended in an error included)
track_step_us  microseconds            median wall time per step

Runs with status ``error`` count only in ``track_miss``.
============== ======================= ==================================================

Design. asv only shows a benchmark that its own discovery finds, and it rewrites
``benchmarks.json`` from discovery on every ``asv run``. So the values are declared and
written in two places that cannot drift apart:

1. a *record* ``<results_dir>/optbench-recorded/<name>.record`` (JSON) keeps, per commit,
   the values and the environment of the result set;
2. the benchmark module ``benchmarks/recorded.py`` (a file of the repository, next to
   optbench's own asv benchmarks; the bridge never writes it, it must be in the benchmark
   folder of the asv configuration) reads the records at discovery and declares one class
   per suite, ``recorded.<name>.track_*``, parametrised by problem and optimizer. Its
   ``setup`` always raises ``NotImplementedError``: an ordinary ``asv run`` skips them (n/a)
   and never re-measures or overwrites a recorded value;
3. the bridge runs asv's discovery (``asv run --python=same --bench just-discover``) and
   writes an asv result file for the result set's commit (its ``git_commit``, or
   ``--commit``), the current asv machine (or ``--machine``) and the environment name
   ``optbench-recorded`` — a file no ``asv run`` writes to.

``asv compare A B``, ``asv publish`` and ``asv preview`` then show a user's own suite next to
optbench's benchmarks; recording result sets made at several commits draws its history.
"""
from __future__ import annotations

import ast
import contextlib
import datetime as _dt
import itertools
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

from optbench.validate import OptbenchInputError

ENV_NAME = "optbench-recorded"
RECORD_DIR = "optbench-recorded"
RECORD_EXT = ".record"
DECLARATION = "recorded.py"    # benchmarks/recorded.py: declares the recorded suites to asv
FORMAT = 1
GAP_FLOOR = 1e-12
METRICS = {
    "track_steps": "steps",
    "track_ngev": "gradient evaluations",
    "track_art": "gradient evaluations",
    "track_gap": "f - f*",
    "track_miss": "fraction of runs",
    "track_step_us": "microseconds",
}

# --------------------------------------------------------------------------- values
def _labels(params_json) -> list[str]:
    """Short labels: the name, plus the parameters that vary within that name."""
    dicts = [json.loads(s) for s in params_json]
    name_key = "problem" if "problem" in dicts[0] else "optimizer"
    by_name: dict = {}
    for d in dicts:
        by_name.setdefault(d[name_key], []).append(d)
    varying = {}
    for name, ds in by_name.items():
        keys = sorted({k for d in ds for k in d} - {name_key})
        varying[name] = [k for k in keys if len({json.dumps(d.get(k)) for d in ds}) > 1]
    out = []
    for d in dicts:
        ks = varying[d[name_key]]
        out.append(d[name_key] + ("(" + ", ".join(f"{k}={d.get(k)}" for k in ks) + ")" if ks else ""))
    return out


def _finite(v) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None


def summarize(runs, target: float = 1e-3) -> dict:
    """Tracked values of a runs table: ``{"problems", "optimizers", "values": {method:
    {problem: {optimizer: value}}}}`` (see the module docstring for the definitions)."""
    import numpy as np

    from optbench.record.tables import target_label
    from optbench.record.targets import TABLE_TARGETS

    if not any(math.isclose(target, t, rel_tol=1e-9) for t in TABLE_TARGETS):
        raise OptbenchInputError(f"target must be one of {', '.join(f'{t:g}' for t in TABLE_TARGETS)}, "
                                 f"got {target:g}")
    runs = runs.copy()
    lab = target_label(target)
    runs["_p"] = _labels(runs["problem_params"])
    runs["_o"] = _labels(runs["optimizer_params"])
    values: dict = {m: {} for m in METRICS}
    for (p, o), g_all in runs.groupby(["_p", "_o"], sort=False):
        values["track_miss"].setdefault(p, {})[o] = float(g_all[f"steps_{lab}"].isna().mean())
        g = g_all[g_all["status"] != "error"]
        if g.empty:
            continue
        hit_s, hit_e = g[f"steps_{lab}"], g[f"ngev_{lab}"]
        ok = hit_s.notna()
        whole = np.maximum(g["ngev"], g["budget"]) + 1          # a miss: its whole budget
        row = {
            "track_steps": float(np.median(hit_s.where(ok, g["budget"] + 1))),
            "track_ngev": float(np.median(hit_e.where(ok, whole))),
            "track_art": float(hit_e.where(ok, g["ngev"]).sum() / ok.sum()) if ok.any()
            else float(whole.sum()),
            "track_step_us": float(np.median(g["wall_s"] / g["nit"].clip(lower=1)) * 1e6),
        }
        gap = (g["fun"] - g["f_star"]).to_numpy(float)
        gap = gap[np.isfinite(gap)]
        if gap.size:
            row["track_gap"] = max(float(np.median(gap)), GAP_FLOOR)
        for m, v in row.items():
            if _finite(v) is not None:
                values[m].setdefault(p, {})[o] = v
    return {"problems": list(dict.fromkeys(runs["_p"])),
            "optimizers": list(dict.fromkeys(runs["_o"])), "values": values}


# --------------------------------------------------------------------------- asv side
def _asv():
    try:
        import asv.config
        import asv.machine
        import asv.repo
        import asv.results
        import asv.runner
        import asv.util
    except ImportError:
        raise OptbenchInputError("asv-record needs airspeed velocity: pip install asv "
                                 "(or pip install 'optbench[test]')") from None
    return asv


@contextlib.contextmanager
def _cwd(path: Path):
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def class_name(name: str) -> str:
    s = re.sub(r"\W", "_", name).strip("_") or "suite"
    return s if s[0].isalpha() else "suite_" + s


def record(results, *, name: str | None = None, target: float = 1e-3, commit: str | None = None,
           config="asv.conf.json", machine: str | None = None, discover: bool = True) -> dict:
    """Turn the result set ``results`` into asv results (see the module docstring).

    Returns a report: ``name``, ``commit``, ``machine``, ``result_file``, ``record_file``,
    ``benchmarks`` (names written) and ``values``."""
    from optbench.record.store import Store

    asv = _asv()
    store = Store(results, create=False)
    runs, _ = store.load()
    if runs.empty:
        raise OptbenchInputError(f"{results} holds no runs")
    meta = store.meta()
    name = name or (meta.get("suite") or {}).get("name") or Path(results).resolve().name
    summary = summarize(runs, target)

    config = Path(config).resolve()
    if not config.is_file():
        raise OptbenchInputError(f"asv configuration {config} not found (--config)")
    conf_dir = config.parent
    with _cwd(conf_dir):
        try:
            conf = asv.config.Config.load(str(config))
            repo = asv.repo.get_repo(conf)
        except asv.util.UserError as e:
            raise OptbenchInputError(f"asv: {e}") from None
        env = meta.get("environment") or {}
        ref = commit or env.get("git_commit")
        if not ref:
            raise OptbenchInputError(f"{results} records no git commit: pass --commit")
        try:
            commit_hash = repo.get_hash_from_name(ref)
            date = repo.get_date(commit_hash)
        except Exception:  # asv raises NoSuchNameError or ProcessError
            raise OptbenchInputError(f"commit {ref!r} is not in the asv repository "
                                     f"{conf.repo!r} (--commit)") from None
        results_dir = (conf_dir / conf.results_dir).resolve()
        bench_dir = (conf_dir / conf.benchmark_dir).resolve()

    machine = machine or asv.machine.Machine.get_unique_machine_name()
    try:
        minfo = asv.machine.MachineCollection.load(machine)
    except asv.util.UserError:
        raise OptbenchInputError(f"asv knows no machine {machine!r}: run `asv machine --yes` "
                                 f"(or `asv machine --machine {machine} --yes`) first") from None

    decl = bench_dir / DECLARATION
    if not decl.is_file():
        raise OptbenchInputError(f"{decl} is missing: asv-record needs optbench's "
                                 f"benchmarks/{DECLARATION} in the benchmark folder of {config}")
    rec_path = _write_record(results_dir, name, target, commit_hash, summary, env, results)
    if discover:
        _discover(config, machine, rec_path.parent)
    bjson = results_dir / "benchmarks.json"
    benches = asv.util.load_json(str(bjson), api_version=2)
    prefix = f"recorded.{class_name(name)}."
    mine = {k: b for k, b in benches.items() if k.startswith(prefix)}
    if not mine:
        raise OptbenchInputError(f"asv discovery did not declare {prefix}*: is {decl} in the "
                                 f"benchmark folder of {config}?")

    m = asv.machine.Machine()
    m.__dict__.update(minfo)
    m.save(str(results_dir))
    python = ".".join(str(env.get("python") or "%d.%d" % sys.version_info[:2]).split(".")[:2])
    params = dict(minfo, python=python)
    res = asv.results.Results(params, {}, commit_hash, date, python, ENV_NAME, {})
    res.load_data(str(results_dir))
    vals = summary["values"]
    now = _dt.datetime.now(_dt.timezone.utc)
    for bname, b in sorted(mine.items()):
        metric = bname[len(prefix):]
        combos = itertools.product(*[[ast.literal_eval(v) for v in ps] for ps in b["params"]])
        out = [vals.get(metric, {}).get(p, {}).get(o, math.nan) for p, o in combos]
        n = len(out)
        res.add_result(b, asv.runner.BenchmarkResult(result=out, samples=[None] * n,
                                                     number=[None] * n, errcode=0, stderr="",
                                                     profile=None),
                       started_at=now, duration=0.0)
    res.save(str(results_dir))
    return {"name": name, "commit": commit_hash, "machine": machine, "record_file": str(rec_path),
            "result_file": str(results_dir / asv.results.get_filename(minfo["machine"], commit_hash,
                                                                     ENV_NAME)), "benchmarks": sorted(mine),
            "values": vals}


def _write_record(results_dir: Path, name, target, commit_hash, summary, env, source) -> Path:
    path = results_dir / RECORD_DIR / f"{class_name(name)}{RECORD_EXT}"
    path.parent.mkdir(parents=True, exist_ok=True)
    rec = {}
    if path.exists():
        try:
            rec = json.loads(path.read_text())
        except ValueError:
            raise OptbenchInputError(f"{path} is corrupted (not valid JSON)") from None
        if not math.isclose(rec.get("target", target), target, rel_tol=1e-9):
            raise OptbenchInputError(
                f"suite {name!r} was recorded with target {rec['target']:g}; use the same "
                f"--target or another --name")
    rec.update({"format": FORMAT, "name": name, "class_name": class_name(name), "target": target,
                "version": f"optbench-recorded:{FORMAT}:target={target:g}",
                "metrics": METRICS})
    for key in ("problems", "optimizers"):
        rec[key] = list(dict.fromkeys(rec.get(key, []) + summary[key]))
    rec.setdefault("commits", {})[commit_hash] = {
        "source": str(Path(source).resolve()), "environment": env, "values": summary["values"],
        "recorded_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(rec, indent=1, default=str))
    os.replace(tmp, path)
    return path


def _discover(config: Path, machine: str, records: Path):
    env = dict(os.environ, OPTBENCH_ASV_RECORDED=str(records))
    cmd = [sys.executable, "-m", "asv", "run", "--config", str(config), "--python=same",
           "--bench", "just-discover", "--machine", machine]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        tail = "\n".join((out.stdout + out.stderr).strip().splitlines()[-5:])
        raise OptbenchInputError(f"asv discovery failed ({' '.join(cmd[2:])}):\n{tail}")


# --------------------------------------------------------------------------- offline pages
# asv publish writes pages that load jQuery, flot, bootstrap, stupidtable and md5 from CDNs.
# Without internet (CI, clusters) they show asv's "can not determine continental origin of
# swallow" page. ``offline_html`` points them at the copies of Debian/Ubuntu's packages
# libjs-jquery libjs-jquery-flot libjs-jquery-stupidtable libjs-bootstrap node-blueimp-md5
# (flot 4's jquery.flot.pack.js bundles the time, selection and categories plugins; the
# orderBars plugin has no package and only orders bars within a category).
_VENDOR = [
    (r"/jquery-[\d.]+(\.min)?\.js$", "jquery/jquery.min.js"),
    (r"/jquery\.flot(\.min)?\.js$", "jquery-flot/jquery.flot.pack.js"),
    (r"/jquery\.flot\.(time|selection|categories|orderBars)(\.min)?\.js$", None),
    (r"/stupidtable(\.min)?\.js$", "jquery-stupidtable/stupidtable.min.js"),
    (r"/md5(\.min)?\.js$", "blueimp-md5/md5.js"),
    (r"/bootstrap(\.min)?\.js$", "bootstrap/js/bootstrap.min.js"),
    (r"/bootstrap(\.min)?\.css$", "bootstrap/css/bootstrap.min.css"),
]


def offline_html(html_dir, js_root="/usr/share/javascript") -> list[str]:
    """Rewrite the CDN references of asv's published ``index.html`` to local copies (put in
    ``<html_dir>/vendor/``); returns the local files used. Raises when a copy is missing."""
    import shutil

    html_dir, js_root = Path(html_dir), Path(js_root)
    index = html_dir / "index.html"
    text = index.read_text()
    used = []

    def repl(m):
        tag, url = m.group(0), m.group(2)
        for pat, local in _VENDOR:
            if re.search(pat, url):
                break
        else:
            return tag
        if local is None:
            return ""
        src = js_root / local
        if not src.is_file():
            raise OptbenchInputError(f"{src} is missing (apt-get install libjs-jquery "
                                     "libjs-jquery-flot libjs-jquery-stupidtable libjs-bootstrap "
                                     "node-blueimp-md5)")
        dest = html_dir / "vendor" / local
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
        used.append(local)
        rel = f"vendor/{local}"
        if tag.startswith("<link"):
            return f'<link rel="stylesheet" href="{rel}">'
        return f'<script type="text/javascript" src="{rel}"></script>'

    pattern = (r'<(script|link)\b[^>]*?(?:src|href)="(https://(?:code\.jquery\.com|cdnjs\.'
               r'cloudflare\.com|cdn\.jsdelivr\.net)/[^"]+)"[^>]*>(?:\s*</script>)?')
    index.write_text(re.sub(pattern, repl, text))
    return used


# --------------------------------------------------------------------------- CLI
def add_parser(sub):
    p = sub.add_parser("asv-record", help="turn a results folder into asv results (history)")
    p.add_argument("results", help="results folder written by 'optbench run'")
    p.add_argument("--name", help="suite name in asv (default: the suite's name)")
    p.add_argument("--target", type=float, default=1e-3, help="Δf target (default 1e-3)")
    p.add_argument("--commit", help="git commit to file the values under (default: the one "
                   "recorded in the result set)")
    p.add_argument("--config", default="asv.conf.json", help="asv configuration file")
    p.add_argument("--machine", help="asv machine name (default: this machine)")
    return p


def main(args) -> int:
    rep = record(args.results, name=args.name, target=args.target, commit=args.commit,
                 config=args.config, machine=args.machine)
    print(f"recorded {rep['name']!r} at commit {rep['commit'][:12]} on machine "
          f"{rep['machine']!r}: {len(rep['benchmarks'])} asv benchmarks")
    for b in rep["benchmarks"]:
        print(f"  {b}")
    print(f"asv results: {rep['result_file']}\nrecord:      {rep['record_file']}\n"
          f"next: asv publish && asv preview   (or: asv compare <commit> {rep['commit'][:8]})")
    return 0
