"""The wheel as a user (or asv) installs it: built from a copy of this tree, installed into a
fresh virtual environment without network, every module imported from the installed copy and
``optbench run smoke`` run by the installed console script, on the CPU and on the CUDA
simulator.

The fresh environment sees this environment's dependencies (numba, pandas, ...) through a
``.pth`` file that lists this environment's site-packages folders, and copies of its other
``.pth`` files (numba-cuda's redirector) except the editable install's: a folder named in a
``.pth`` file goes on ``sys.path`` but its own ``.pth`` files are not run, so the editable
optbench stays invisible. Each check asserts that what it imported lies in the fresh
environment. Numba compiles into a temporary cache, so a cold first import is part of the time.
"""
from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
SOURCES = {"optbench": "optbench", "problems": "optbench/problems"}  # source folder -> installed
pytestmark = pytest.mark.slow


def _copy_tree(dest: Path) -> None:
    """The files git would ship (tracked or not ignored); the whole tree without git."""
    if (ROOT / ".git").exists() and shutil.which("git"):
        out = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others",
                              "--exclude-standard"], capture_output=True, check=True).stdout
        for rel in filter(None, out.decode().split("\0")):
            if (ROOT / rel).is_file():
                (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / rel, dest / rel)
    else:
        shutil.copytree(ROOT, dest, dirs_exist_ok=True, ignore=shutil.ignore_patterns(
            ".git", ".venv", ".asv", "results", "build", "dist", "*.egg-info", "__pycache__"))


def _site_dirs() -> list[str]:
    dirs = list(site.getsitepackages())
    if site.ENABLE_USER_SITE:
        dirs.append(site.getusersitepackages())
    return [d for d in dirs if os.path.isdir(d)]


def _expose_dependencies(venv_site: Path) -> None:
    """This environment's packages, minus the editable optbench, visible in the new venv."""
    dirs = _site_dirs()
    (venv_site / "00-parent-environment.pth").write_text("\n".join(dirs) + "\n")
    for d in dirs:
        for pth in sorted(Path(d).glob("*.pth")):
            text = pth.read_text(errors="replace")
            if pth.name.startswith("__editable__") or "__editable__" in text or str(ROOT) in text:
                continue
            shutil.copyfile(pth, venv_site / pth.name)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheel")
    src, dist, venv, cwd = tmp / "src", tmp / "dist", tmp / "venv", tmp / "cwd"
    cwd.mkdir()
    _copy_tree(src)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "--no-build-isolation", "--no-index", "-w", str(dist), str(src)],
                   check=True, capture_output=True)
    (wheel,) = dist.glob("optbench-*.whl")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q",
                    "--no-deps", "--no-index", str(wheel)], check=True, capture_output=True)
    venv_site = Path(subprocess.run(
        [py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True).stdout.strip())
    _expose_dependencies(venv_site)  # after the install: pip never sees this env's optbench
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "NUMBA_CACHE_DIR", "PYTHONHOME")}
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
               OPTBENCH_CACHE=str(tmp / "cache"), PYTHONNOUSERSITE="1")

    def run(*args, **extra):
        return subprocess.run(list(args), cwd=cwd, env={**env, **extra}, capture_output=True,
                              text=True, timeout=900)

    return {"src": src, "wheel": wheel, "py": py, "site": venv_site, "bin": venv / "bin",
            "cwd": cwd, "run": run}


def _source_files(src: Path) -> set[str]:
    files = set()
    for folder, target in SOURCES.items():
        for f in (src / folder).rglob("*"):
            if f.is_file() and "__pycache__" not in f.parts and f.suffix != ".pyc":
                files.add(f"{target}/{f.relative_to(src / folder).as_posix()}")
    return files


def test_wheel_holds_every_source_file(installed):
    """Every module and data file of the source packages (suites' .toml, any new subpackage
    such as optbench/cuda) is in the wheel, at its import path."""
    import zipfile

    names = set(zipfile.ZipFile(installed["wheel"]).namelist())
    missing = sorted(_source_files(installed["src"]) - names)
    assert not missing, f"the wheel lacks {missing}"
    assert not [n for n in names if n.startswith("problems/")], "zoo installed at top level"


IMPORT_ALL = """
import importlib, json, pkgutil, sys
import optbench
out = {"optbench": optbench.__file__, "modules": {}, "errors": {}}
for m in pkgutil.walk_packages(optbench.__path__, "optbench."):
    try:
        out["modules"][m.name] = importlib.import_module(m.name).__file__
    except Exception as e:
        out["errors"][m.name] = repr(e)
print(json.dumps(out))
"""


def test_installed_copy_imports_every_module(installed):
    r = installed["run"](str(installed["py"]), "-c", IMPORT_ALL)
    assert r.returncode == 0, r.stderr[-3000:]
    got = json.loads(r.stdout.strip().splitlines()[-1])
    site_dir = str(installed["site"])
    assert got["optbench"].startswith(site_dir), got["optbench"]   # not the editable tree
    assert got["errors"] == {}
    outside = {m: f for m, f in got["modules"].items() if not f.startswith(site_dir)}
    assert not outside, outside
    expected = {f[:-3].replace("/", ".").removesuffix(".__init__")
                for f in _source_files(installed["src"]) if f.endswith(".py")} - {"optbench"}
    assert sorted(expected - set(got["modules"])) == []


SUMMARY = """
import json, sys
import optbench
from optbench.record.store import load
runs, traces = load(sys.argv[1])
print(json.dumps({"optbench": optbench.__file__, "n": len(runs), "n_traced": int(
    traces["run_id"].nunique()), "devices": sorted(set(runs["device"])),
    "statuses": sorted(set(runs["status"]))}))
"""


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_installed_console_script_runs_the_smoke_suite(installed, device):
    script = installed["bin"] / "optbench"
    assert script.exists()
    out = f"results-{device}"
    r = installed["run"](str(script), "run", "smoke", "--device", device, "--steps", "50",
                         "--seeds", "1", "--out", out, "--no-progress",
                         **({"NUMBA_ENABLE_CUDASIM": "1"} if device == "cuda" else {}))
    assert r.returncode == 0, (r.stdout[-2000:], r.stderr[-3000:])
    suite = tomllib.loads((installed["site"] / "optbench/suites/smoke.toml").read_text())
    n_settings = sum(len(o["lr"]) if isinstance(o["lr"], list) else 1
                     for o in suite["optimizers"])
    s = installed["run"](str(installed["py"]), "-c", SUMMARY, out)
    assert s.returncode == 0, s.stderr[-3000:]
    got = json.loads(s.stdout.strip().splitlines()[-1])
    assert got["optbench"].startswith(str(installed["site"]))
    assert got["n"] == got["n_traced"] == len(suite["problems"]) * n_settings  # one seed
    assert got["devices"] == [device]
    assert "error" not in got["statuses"], got
