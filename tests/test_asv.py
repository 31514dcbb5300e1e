"""airspeed velocity (asv): the benchmark suite passes ``asv check``; a deliberately worse
variant (the ``OPTBENCH_ASV_HANDICAP`` hook) is flagged by ``asv compare`` on exactly the
affected benchmarks; ``optbench asv-record`` puts a user's result sets into asv's history
with values that match an independent computation; the published HTML opens in headless
Chromium and draws the graphs.

Everything runs asv for real (``--python=same``), in a temporary home (machine file), a
scratch git repository with two commits (asv needs commits to file results under; the
benchmarked code is this working tree) and a temporary results folder, so nothing outside
tmp is written. Needs ``git``, and for the browser test the Debian packages ``chromium``
``libjs-jquery libjs-jquery-flot libjs-jquery-stupidtable libjs-bootstrap node-blueimp-md5``
(asv's pages load those scripts from CDNs; CI has no internet): without them it is skipped
outside CI and fails in CI (tests/conftest.py).
"""
from __future__ import annotations

import ast
import contextlib
import importlib.util
import itertools
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import optbench as ob
from optbench import asv_bridge, cli
from optbench.record.store import load

import asv.util  # a test dependency (the "test" extra): a missing asv is an error, not a skip

ROOT = Path(__file__).resolve().parents[1]
MACHINE = "asv-test-box"
SELECTION = ("bench_convergence.ConvergenceCanonical.track_steps_to_target|"
             "bench_convergence.ConvergenceSuite.track_art|bench_speed.TimeRunSmall")
FACTOR = 3.0
SUITE = """
name = "mine"
steps = 3000
seeds = 2
[[problems]]
problem = "rosenbrock"
[[problems]]
problem = "quadratic"
dim = 20
cond = 50.0
[[optimizers]]
optimizer = "gd"
lr = {gd}
[[optimizers]]
optimizer = "adam"
lr = {adam}
"""


class Project:
    """A temporary asv project around this working tree's benchmarks/."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.home = tmp / "home"
        self.home.mkdir()
        self.repo = tmp / "repo"
        git = ["git", "-c", "user.name=asv test", "-c", "user.email=asv@example.org"]
        subprocess.run(["git", "init", "-q", str(self.repo)], check=True)
        for i in (1, 2):
            subprocess.run(git + ["-C", str(self.repo), "commit", "-q", "--allow-empty", "-m",
                                  f"c{i}"], check=True)
        log = subprocess.run(["git", "-C", str(self.repo), "log", "--format=%H"], check=True,
                             capture_output=True, text=True).stdout.split()
        self.c2, self.c1 = log[0], log[1]   # c1 older
        branch = subprocess.run(["git", "-C", str(self.repo), "rev-parse", "--abbrev-ref",
                                 "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
        conf = asv.util.load_json(str(ROOT / "asv.conf.json"), js_comments=True)
        self.results = tmp / "results"
        self.html = tmp / "html"
        conf.update(repo=str(self.repo), branches=[branch], benchmark_dir=str(ROOT / "benchmarks"),
                    results_dir=str(self.results), html_dir=str(self.html))
        self.conf = tmp / "conf" / "asv.conf.json"
        self.conf.parent.mkdir()
        self.conf.write_text(json.dumps(conf, indent=1))
        # a private HOME keeps asv's machine file out of the real one; the numba disk cache
        # stays where it was (optbench's default lives under HOME)
        cache = os.environ.get("OPTBENCH_CACHE", str(Path.home() / ".cache" / "optbench"))
        self.env = dict(os.environ, HOME=str(self.home), OPTBENCH_CACHE=cache,
                        OPTBENCH_ASV_RECORDED=str(self.results / asv_bridge.RECORD_DIR))
        self.env.pop("OPTBENCH_ASV_HANDICAP", None)
        self.asv("machine", "--yes", "--machine", MACHINE)

    def asv(self, *args, env=None, check=True, timeout=600):
        r = subprocess.run([sys.executable, "-m", "asv", *args, "--config", str(self.conf)],
                           env={**self.env, **(env or {})}, capture_output=True, text=True,
                           timeout=timeout, cwd=self.tmp)
        if check:
            assert r.returncode == 0, (args, r.stdout[-3000:], r.stderr[-3000:])
        return r

    def optbench(self, *args):
        r = subprocess.run([sys.executable, "-m", "optbench.cli", *args], env=self.env,
                           capture_output=True, text=True, timeout=600, cwd=self.tmp)
        return r

    def compare(self, a, b):
        r = self.asv("compare", "--machine", MACHINE, "--factor", str(FACTOR), "--split", a, b)
        return parse_compare(r.stdout)


def parse_compare(text: str) -> dict:
    """``asv compare --split`` output → {section: set of 'name(params)'}."""
    out: dict = {}
    section = None
    for line in text.splitlines():
        m = re.match(r"Benchmarks that have (.*):", line.strip())
        if m:
            section = m.group(1)
            out.setdefault(section, set())
        elif section and line.startswith("|") and not set(line) <= set("|- "):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if cells[0] == "Change":
                continue
            out[section].add(re.sub(r"\s*\[[^\]]*\]$", "", cells[-1]))
    return out


@contextlib.contextmanager
def _environ(env: dict):
    old = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(old)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    if shutil.which("git") is None:
        pytest.fail("git is needed (asv files results under commits)")
    p = Project(tmp_path_factory.mktemp("asv"))
    # a user's own suite at two commits, the second with Adam's learning rate / 20: the
    # first through the command line, the second through the Python API
    p.sets = {}
    for commit, adam_lr in ((p.c1, 0.05), (p.c2, 0.0025)):
        toml = p.tmp / f"mine-{commit[:6]}.toml"
        toml.write_text(SUITE.format(gd=0.05, adam=adam_lr))
        out = p.tmp / f"rs-{commit[:6]}"
        if commit == p.c1:
            r = p.optbench("run", str(toml), "--out", str(out), "--no-progress", "--serial")
            assert r.returncode == 0, r.stderr
            r = p.optbench("asv-record", str(out), "--commit", commit, "--config", str(p.conf),
                           "--machine", MACHINE)
            assert r.returncode == 0, r.stderr
            assert "recorded.mine.track_steps" in r.stdout
        else:
            ob.run_suite(str(toml), str(out), parallel=False, progress=False)
            with _environ(p.env):
                rep = asv_bridge.record(out, commit=commit, config=p.conf, machine=MACHINE)
            assert rep["commit"] == commit and "recorded.mine.track_art" in rep["benchmarks"]
        p.sets[commit] = out
    # optbench's own benchmarks: the baseline at c1, the handicapped variant at c2
    common = ("run", "--python=same", "--quick", "--machine", MACHINE, "--bench", SELECTION)
    p.asv(*common, "--set-commit-hash", p.c1)
    p.asv(*common, "--set-commit-hash", p.c2, env={"OPTBENCH_ASV_HANDICAP": "adam"})
    p.cmp = p.compare(p.c1, p.c2)
    return p


def test_asv_check_passes(project):
    r = project.asv("check", "--python=same")
    assert "No problems found" in r.stdout + r.stderr


def test_regression_detection_flags_exactly_the_handicapped_benchmarks(project):
    benches = json.loads((project.results / "benchmarks.json").read_text())
    sel = re.compile(SELECTION)
    expected, everything = set(), set()
    for name, b in benches.items():
        if not sel.search(name):
            continue
        combos = itertools.product(*b["params"]) if b["params"] else [()]
        for c in combos:
            label = f"{name}({', '.join(c)})" if c else name
            everything.add(label)
            if "'adam'" in c:
                expected.add(label)
    worse = {n for n in project.cmp.get("got worse", set()) if not n.startswith("recorded.")}
    better = {n for n in project.cmp.get("improved", set()) if not n.startswith("recorded.")}
    same = {n for n in project.cmp.get("stayed the same", set()) if not n.startswith("recorded.")}
    assert len(expected) == 3 + 1 + 1      # 3 problems' steps, aRT, one timed run
    assert worse == expected
    assert not better
    assert same == everything - expected   # every other benchmark was measured and compared


def _independent(runs: pd.DataFrame, target=1e-3) -> dict:
    """Median steps to target and aRT per (problem, optimizer), from the raw hit lists."""
    out = {}
    for (prob, opt), g in runs.groupby(["problem", "optimizer"]):
        steps, used, whole, hits = [], 0.0, 0.0, 0
        for _, r in g.iterrows():
            ladder, hit = np.asarray(r["targets"]), np.asarray(r["hit_step"])
            h = int(hit[int(np.argmin(np.abs(np.log10(ladder) - np.log10(target))))])
            steps.append(h if h >= 0 else r["budget"] + 1)
            used += (h + 1) if h >= 0 else r["ngev"]
            whole += max(r["ngev"], r["budget"]) + 1
            hits += h >= 0
        out[str(prob), str(opt)] = (float(np.median(steps)), used / hits if hits else whole)
    return out


def _asv_values(res, name) -> dict:
    params = res.get_result_params(name)
    return dict(zip(itertools.product(*params), res.get_result_value(name, params)))


def test_asv_record_writes_the_values_into_asv_results(project):
    from asv.results import Results

    for commit, rs in project.sets.items():
        runs, _ = load(rs)
        res = Results.load(str(project.results / MACHINE / f"{commit[:8]}-"
                               f"{asv_bridge.ENV_NAME}.json"))
        assert res.commit_hash == commit
        steps = _asv_values(res, "recorded.mine.track_steps")
        art = _asv_values(res, "recorded.mine.track_art")
        ref = _independent(runs)
        assert len(ref) == 4
        for (prob, opt), (ref_steps, ref_art) in ref.items():
            assert steps[f"'{prob}'", f"'{opt}'"] == pytest.approx(ref_steps)
            assert art[f"'{prob}'", f"'{opt}'"] == pytest.approx(ref_art, rel=1e-12)


def test_asv_compare_sees_the_recorded_history(project):
    r1, _ = load(project.sets[project.c1])
    r2, _ = load(project.sets[project.c2])
    a, b = _independent(r1), _independent(r2)
    expected = set()
    for (prob, opt) in a:
        if b[prob, opt][0] > FACTOR * a[prob, opt][0]:
            expected.add(f"recorded.mine.track_steps('{prob}', '{opt}')")
    worse = {n for n in project.cmp.get("got worse", set())
             if n.startswith("recorded.mine.track_steps")}
    assert expected and all("'adam'" in e for e in expected)   # the slower Adam, nothing else
    assert worse == expected


def _load_recorded(monkeypatch, **env):
    """benchmarks/recorded.py executed as asv's discovery does, under the given environment."""
    for k in ("OPTBENCH_ASV_RECORDED", "ASV_CONF_DIR"):
        monkeypatch.delenv(k, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, str(v))
    spec = importlib.util.spec_from_file_location("recorded_under_test",
                                                  ROOT / "benchmarks" / asv_bridge.DECLARATION)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_recorded_module_declares_what_the_bridge_records(tmp_path, monkeypatch):
    """benchmarks/recorded.py is a plain file of the repository (the bridge never writes it):
    it imports nothing but the standard library, finds the records where the bridge writes
    them (the results folder of asv.conf.json, or OPTBENCH_ASV_RECORDED) and declares them."""
    tree = ast.parse((ROOT / "benchmarks" / asv_bridge.DECLARATION).read_text())
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import)
                for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert imported and imported <= set(sys.stdlib_module_names), imported
    (tmp_path / "asv.conf.json").write_text('{\n  // asv allows comments\n  "results_dir": "res",\n}\n')
    summary = {"problems": ["rosenbrock", "quadratic(dim=20)"], "optimizers": ["adam"],
               "values": {}}
    path = asv_bridge._write_record(tmp_path / "res", "my suite", 1e-3, "c" * 40, summary, {},
                                    tmp_path)
    for env in ({"ASV_CONF_DIR": tmp_path}, {"OPTBENCH_ASV_RECORDED": path.parent}):
        cls = getattr(_load_recorded(monkeypatch, **env), asv_bridge.class_name("my suite"))
        assert cls.params == [summary["problems"], summary["optimizers"]]
        assert {m for m in vars(cls) if m.startswith("track_")} == set(asv_bridge.METRICS)
        assert cls.track_art.unit == asv_bridge.METRICS["track_art"]
        with pytest.raises(NotImplementedError):
            cls().setup("rosenbrock", "adam")
    empty = _load_recorded(monkeypatch, OPTBENCH_ASV_RECORDED=tmp_path / "nowhere")
    assert not hasattr(empty, asv_bridge.class_name("my suite"))


def test_summarize_against_hand_computed_values():
    nan = np.nan
    runs = pd.DataFrame({
        "problem_params": ['{"problem": "p"}'] * 4 + ['{"problem": "q"}'] * 2,
        "optimizer_params": ['{"optimizer": "o", "lr": 0.1}'] * 6,
        "status": ["converged", "diverged", "converged", "error", "budget", "diverged"],
        "budget": [200] * 6,
        "steps_0.001": [10.0, nan, 30.0, nan, nan, nan],
        "ngev_0.001": [11.0, nan, 31.0, nan, nan, nan],
        "nit": [10, 5, 30, 0, 200, 7], "ngev": [11, 6, 31, 0, 201, 8],
        "fun": [1e-4, np.inf, 2e-4, nan, 0.5, nan], "f_star": [0.0] * 6,
        "wall_s": [1e-3, 5e-4, 3e-3, nan, 2e-2, 7e-4],
    })
    s = asv_bridge.summarize(runs, 1e-3)
    v = {m: s["values"][m]["p"]["o"] for m in asv_bridge.METRICS}
    assert s["problems"] == ["p", "q"] and s["optimizers"] == ["o"]   # constant lr: no label
    # p: the error row counts only as a miss; the early divergence is charged the budget
    assert v["track_steps"] == 30.0                  # median of 10, 201, 30
    assert v["track_ngev"] == 31.0                   # median of 11, 201, 31
    assert v["track_art"] == pytest.approx((11 + 6 + 31) / 2)
    assert v["track_miss"] == pytest.approx(2 / 4)
    assert v["track_gap"] == pytest.approx(1.5e-4)   # finite final gaps only
    assert v["track_step_us"] == pytest.approx(100.0)   # 1e-3/10, 5e-4/5, 3e-3/30 s
    # q: no success at all: aRT charges every run its whole budget (+1)
    q = {m: s["values"][m].get("q", {}).get("o") for m in asv_bridge.METRICS}
    assert q["track_art"] == pytest.approx(202 + 201) and q["track_miss"] == 1.0
    assert q["track_steps"] == 201.0 and q["track_gap"] == pytest.approx(0.5)


def test_asv_record_bad_input(project, tmp_path, capsys):
    rs, conf = str(project.sets[project.c1]), str(project.conf)
    # a configuration whose benchmark folder lacks recorded.py: refused, nothing written there
    bare = tmp_path / "bare-benchmarks"
    bare.mkdir()
    other = tmp_path / "other" / "asv.conf.json"
    other.parent.mkdir()
    other.write_text(json.dumps({**json.loads(project.conf.read_text()),
                                 "benchmark_dir": str(bare)}))
    cases = [
        ((str(tmp_path), "--config", conf), "not an optbench results folder"),
        ((rs, "--commit", "no-such-ref", "--config", conf, "--machine", MACHINE),
         "not in the asv repository"),
        ((rs, "--target", "0.5", "--config", conf), "target must be one of"),
        ((rs, "--commit", project.c1, "--machine", "nobody", "--config", conf),
         "asv machine --yes"),
        ((rs, "--config", str(tmp_path / "nope.json")), "not found"),
        ((rs, "--commit", project.c1, "--machine", MACHINE, "--config", str(other)),
         f"{asv_bridge.DECLARATION} is missing"),
    ]
    for args, message in cases:
        with _environ(project.env):
            code = cli.main(["asv-record", *args])
        err = capsys.readouterr().err
        assert code == 2, (args, err)
        assert message in err and len(err.strip().splitlines()) == 1, err
    assert not any(bare.iterdir())


# ----------------------------------------------------------------------------- browser
@contextlib.contextmanager
def http_server(root: Path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind",
                             "127.0.0.1", "--directory", str(root)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def dump_dom(url: str, profile: Path) -> str:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.fail("chromium is not installed (apt-get install chromium)")
    r = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                        "--no-first-run", "--disable-background-networking",
                        "--disable-component-update", "--disable-sync",
                        f"--user-data-dir={profile}", "--virtual-time-budget=10000",
                        "--dump-dom", url], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout


@pytest.mark.browser(libjs=True)  # skipped without them outside CI (tests/conftest.py)
def test_published_html_shows_the_graphs_in_a_browser(project, tmp_path):
    project.asv("publish")
    index = project.html / "index.html"
    assert index.exists()
    used = asv_bridge.offline_html(project.html)
    assert "jquery/jquery.min.js" in used
    assert "https://" not in "".join(re.findall(r'<script[^>]*src="[^"]*"', index.read_text()))
    with http_server(project.html) as url:
        dom = dump_dom(url, tmp_path / "p1")
        assert "continental origin of swallow" not in dom, "asv's scripts did not load"
        grid = set(re.findall(r'id="summarygrid-([^"]+)"', dom))
        for name in ("bench_convergence.ConvergenceSuite.track_art",
                     "bench_speed.TimeRunSmall.time_run", "recorded.mine.track_steps"):
            assert name in grid
        assert dom.count('class="benchmark-plot"') >= 3
        page = dump_dom(url + "#bench_convergence.ConvergenceSuite.track_art", tmp_path / "p2")
        graph = page[page.index('id="main-graph"'):]
        assert '<canvas class="flot-base"' in graph
        ticks = re.findall(r'class="flot-tick-label[^"]*"[^>]*>([^<]+)<', graph)
        assert len(ticks) >= 2                       # a drawn axis with labelled ticks
        page = dump_dom(url + "#recorded.mine.track_steps", tmp_path / "p3")
        assert '<canvas class="flot-base"' in page[page.index('id="main-graph"'):]
