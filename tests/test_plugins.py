"""Plugins (optbench.plugins): a problem and an optimizer defined in a file outside the
repository run through `optbench run --plugin` on the serial, processes and dask executors
with the results of the same sweep run in-process through the API; a suite names plugins;
a broken plugin or a name clash is one line (exit 2); meta.json records each plugin."""
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import optbench as ob
from optbench import cli
from optbench import optimizers as O
from optbench import plugins as PL
from optbench import problems as P
from optbench.validate import OptbenchInputError

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = '''import math

import numpy as np

from optbench.kernels.slots import hyper_slots, scalar_slots
from optbench.optimizers import Optimizer
from optbench.optimizers import register as register_optimizer
from optbench.optimizers.base import LR, WD
from optbench.params import F, I
from optbench.problems import Problem, register


def lc_fg(x, g, data, idata, seed, step):
    f = 0.0
    for i in range(x.shape[0]):
        f += math.log1p(x[i] * x[i])
        g[i] = 2.0 * x[i] / (1.0 + x[i] * x[i])
    return f


def lc_value(x, data, idata):
    f = 0.0
    for i in range(x.shape[0]):
        f += math.log1p(x[i] * x[i])
    return f


def lc_hvp(x, v, out, data, idata):
    for i in range(x.shape[0]):
        s = x[i] * x[i]
        out[i] = 2.0 * (1.0 - s) / ((1.0 + s) * (1.0 + s)) * v[i]


@register
class LogCauchy(Problem):
    name = "log-cauchy"
    family = "custom"
    params = {"dim": I(4, 1, doc="dimension d")}
    FG = staticmethod(lc_fg)
    VALUE = staticmethod(lc_value)
    HVP = staticmethod(lc_hvp)

    def build(self):
        return np.zeros(1), np.zeros(1, np.int64), self.p["dim"]

    def x_standard(self):
        return np.linspace(0.5, 0.9, self.dim)

    def init_box(self):
        return (-1.0, 1.0)

    @property
    def f_star(self):
        return 0.0

    @property
    def x_star(self):
        return np.zeros(self.dim)


HY = hyper_slots("beta1", "beta2")
SC = scalar_slots()


def lion_prep(sc, hy):
    pass


def lion_elem(x, gi, st, sc, hy, i):
    c = hy[HY.beta1] * st[0, i] + (1.0 - hy[HY.beta1]) * gi
    if c > 0.0:
        x[i] -= sc[SC.lr]
    elif c < 0.0:
        x[i] += sc[SC.lr]
    st[0, i] = hy[HY.beta2] * st[0, i] + (1.0 - hy[HY.beta2]) * gi


@register_optimizer
class Lion(Optimizer):
    name = "lion-plugin"
    family = "custom"
    doc = "Lion (Chen et al. 2023)"
    decoupled_weight_decay = True
    params = {"lr": LR, "beta1": F(0.9, 0.0, 1.0, hi_open=True),
              "beta2": F(0.99, 0.0, 1.0, hi_open=True), "weight_decay": WD}
    slots = HY
    PREP = staticmethod(lion_prep)
    ELEM = staticmethod(lion_elem)

    def n_state(self):
        return 1
'''
PROBLEMS = [{"problem": "log-cauchy", "dim": [3, 5]}]
OPTIMIZERS = [{"optimizer": "lion-plugin", "lr": [1e-3, 1e-2]}, {"optimizer": "adam", "lr": 1e-2}]
RUN = {"steps": 150, "targets": [1e-1, 1e-3]}
SUITE_TOML = """name = "plug"
steps = 150
seeds = 1
targets = [1e-1, 1e-3]
{plugins}
[[problems]]
problem = "log-cauchy"
dim = [3, 5]
[[optimizers]]
optimizer = "lion-plugin"
lr = [1e-3, 1e-2]
[[optimizers]]
optimizer = "adam"
lr = 1e-2
"""
COLS = ["fun", "nit", "nfev", "ngev", "status", "grad_norm"]  # status: compared as text


@pytest.fixture(scope="module")
def plugin(tmp_path_factory):
    """The plugin file, loaded in this process; its names are removed again afterwards."""
    d = tmp_path_factory.mktemp("plug")
    f = d / "lion_plugin.py"
    f.write_text(PLUGIN)
    (d / "suite.toml").write_text(SUITE_TOML.format(plugins='plugins = ["lion_plugin.py"]'))
    (d / "bare.toml").write_text(SUITE_TOML.format(plugins=""))
    yield f
    PL._LOADED.pop(str(f.resolve()), None)
    P.REGISTRY._classes.pop("log-cauchy", None)
    O.REGISTRY._classes.pop("lion-plugin", None)


@pytest.fixture(scope="module")
def reference(plugin):
    """The sweep through the Python API in this process (the plugin imported first)."""
    rec = PL.load([str(plugin)])
    assert rec[-1]["registers"] == {"problem": ["log-cauchy"], "optimizer": ["lion-plugin"]}
    runs, traces = ob.sweep(PROBLEMS, OPTIMIZERS, seeds=(0,), **RUN)
    assert len(runs) == 6 and (runs.status == "converged").any()
    assert runs.query("optimizer == 'lion-plugin'").fun.nunique() > 1   # it ran, with effect
    return runs, traces


def same(out, reference):
    runs, traces = ob.load(out)
    ref_r, ref_t = reference
    assert sorted(runs.run_id) == sorted(ref_r.run_id)
    a = runs.set_index("run_id").loc[ref_r.run_id, COLS].reset_index(drop=True)
    b = ref_r[COLS].reset_index(drop=True)
    assert [str(v) for v in a.status] == [str(v) for v in b.status]
    for c in COLS[:-2] + COLS[-1:]:   # numbers bit for bit
        assert np.array_equal(a[c].to_numpy(float), b[c].to_numpy(float), equal_nan=True), c
    key = ["run_id", "step"]
    ta = traces.sort_values(key).reset_index(drop=True)
    tb = ref_t.sort_values(key).reset_index(drop=True)
    assert np.array_equal(ta["f"].to_numpy(), tb["f"].to_numpy(), equal_nan=True)


def test_cli_serial_fresh_process_equals_api(plugin, reference, tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    suite = str(plugin.parent / "bare.toml")
    p = subprocess.run([sys.executable, "-m", "optbench.cli", "run", suite, "--plugin",
                        str(plugin), "--executor", "serial", "--out", str(out), "--no-progress"],
                       capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stderr
    same(out, reference)
    meta = json.loads((out / "meta.json").read_text())
    (rec,) = meta["plugins"]
    assert rec["plugin"] == rec["path"] == str(plugin.resolve())
    assert rec["module"].startswith("optbench_plugin_lion_plugin")
    assert rec["sha256"] == hashlib.sha256(plugin.read_bytes()).hexdigest()
    assert rec["registers"] == {"problem": ["log-cauchy"], "optimizer": ["lion-plugin"]}


def test_cli_processes_workers_load_the_plugin(plugin, reference, tmp_path, capsys):
    out = tmp_path / "out"
    assert cli.main(["run", str(plugin.parent / "bare.toml"), "--plugin", str(plugin),
                     "--executor", "processes", "--workers", "2", "--out", str(out),
                     "--no-progress"]) == 0
    runs, _ = ob.load(out)
    assert (runs.status != "error").all(), runs.message.tolist()
    same(out, reference)


def test_suite_plugins_key_relative_to_the_suite(plugin, reference, tmp_path):
    out = tmp_path / "out"
    assert cli.main(["run", str(plugin.parent / "suite.toml"), "--executor", "serial",
                     "--out", str(out), "--no-progress"]) == 0
    same(out, reference)
    assert json.loads((out / "meta.json").read_text())["plugins"][0]["path"] == \
        str(plugin.resolve())


def test_dask_local_cluster_loads_the_plugin(plugin, reference, tmp_path):
    pytest.importorskip("distributed")
    out = tmp_path / "out"
    ob.run_suite(str(plugin.parent / "bare.toml"), out, executor="dask", workers=1,
                 plugins=[str(plugin)], progress=False, load="none")
    runs, _ = ob.load(out)
    assert (runs.status != "error").all(), runs.message.tolist()
    same(out, reference)


@pytest.mark.parametrize("body, words", [
    ("import numpy\nimport no_such_module_xyz\n", ["ModuleNotFoundError", "no_such_module_xyz"]),
    ("def broken(:\n", ["SyntaxError"]),
    ("raise ValueError('bad\\nsecond line')\n", ["ValueError: bad"]),
])
def test_broken_plugin_one_line_exit_2(body, words, plugin, tmp_path, capsys):
    f = tmp_path / "broken.py"
    f.write_text(body)
    code = cli.main(["run", str(plugin.parent / "bare.toml"), "--plugin", str(f),
                     "--out", str(tmp_path / "o"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert f"plugin {str(f)!r} failed to import" in err and all(w in err for w in words), err
    assert not (tmp_path / "o").exists()


def test_missing_plugin_module_and_file(tmp_path, capsys):
    for name in ("no_such_plugin_mod", str(tmp_path / "nope.py")):
        assert cli.main(["run", "quick", "--plugin", name, "--out", str(tmp_path / "o"),
                         "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"plugin {name!r} failed to import" in err, err


@pytest.mark.parametrize("kind, name", [("problem", "rosenbrock"), ("optimizer", "adam")])
def test_clash_with_a_builtin_is_refused(kind, name, tmp_path, capsys):
    base = {"problem": "from optbench.problems import Problem as Base, register",
            "optimizer": "from optbench.optimizers import Optimizer as Base, register"}[kind]
    f = tmp_path / f"clash_{kind}.py"
    f.write_text(f"{base}\n\n\n@register\nclass Mine(Base):\n    name = {name!r}\n")
    before = (P.REGISTRY if kind == "problem" else O.REGISTRY)[name]
    assert cli.main(["run", "quick", "--plugin", str(f), "--out", str(tmp_path / "o"),
                     "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "refused" in err and f"{kind} {name!r}" in err, err
    assert (P.REGISTRY if kind == "problem" else O.REGISTRY)[name] is before


def test_entry_point_plugin_is_loaded_by_the_api_with_its_version(tmp_path, monkeypatch):
    (tmp_path / "ep_plugin_mod.py").write_text(
        "from optbench.optimizers import register\n"
        "from optbench.optimizers.sgd import GD\n\n\n"
        "@register\nclass GD2(GD):\n    name = 'gd-ep-test'\n")
    info = tmp_path / "ep_plugin_pkg-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ep-plugin-pkg\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text("[optbench.plugins]\nmine = ep_plugin_mod\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        res = ob.run("quadratic-1d", "gd-ep-test", steps=5, stop="budget")  # found unasked
        assert res.nit == 5
        recs = PL.load()
        (rec,) = [r for r in recs if r["module"] == "ep_plugin_mod"]
        assert rec["version"] == "1.2.3" and rec["plugin"].startswith("entry-point:mine")
        assert "gd-ep-test" in O.names() and PL.names_for_workers(recs) == \
            [r["plugin"] for r in recs if not r["plugin"].startswith("entry-point:")]
    finally:
        O.REGISTRY._classes.pop("gd-ep-test", None)
        PL._LOADED.pop("entry-point:mine=ep_plugin_mod", None)
        sys.modules.pop("ep_plugin_mod", None)


def test_bad_plugins_value_in_suite(tmp_path):
    with pytest.raises(OptbenchInputError, match="plugins must be a list"):
        ob.load_suite({"problems": [{"problem": "rosenbrock"}],
                       "optimizers": [{"optimizer": "adam"}], "plugins": "x.py"})
