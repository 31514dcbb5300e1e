"""``import optbench`` and the command line load heavy modules only when a command needs
them, and numba's cache folder is still set before any cached dispatcher exists."""
import re
import subprocess
import sys
from pathlib import Path

import optbench

HEAVY = ("numpy", "numba", "pandas", "pyarrow", "matplotlib", "scipy", "dask")
PKG = Path(optbench.__file__).resolve().parent


def loaded_after(code: str) -> set:
    probe = f"{code}\nimport sys\nprint(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return set(eval(r.stdout.strip().splitlines()[-1]))


def test_import_and_parser_load_nothing_heavy():
    assert loaded_after("import optbench, optbench.cli\noptbench.cli._parser()") == set()


def test_list_suites_loads_nothing_heavy():
    code = ("import contextlib, io\nfrom optbench import cli\n"
            "with contextlib.redirect_stdout(io.StringIO()) as f:\n"
            "    assert cli.main(['list', 'suites']) == 0\n"
            "assert 'quick' in f.getvalue()")
    assert loaded_after(code) == set()


def test_show_loads_no_numba_and_no_matplotlib():
    code = "from optbench.analysis import results_summary"
    assert not loaded_after(code) & {"numba", "matplotlib", "scipy", "dask"}


def test_public_names_resolve_lazily():
    for name in optbench.__all__:
        assert getattr(optbench, name) is not None, name
    assert optbench.problem("rosenbrock", dim=3).dim == 3
    assert "adam" in optbench.optimizers.names()         # subpackages as attributes
    assert optbench.problems.get("saddle").dim == 2


def test_cached_dispatchers_import_the_cache_configuration_first():
    """numba reads its cache folder when a cached dispatcher is created: every module with
    ``cache=True`` imports the optbench.kernels package (which sets it on import) first."""
    imports = re.compile(r"^(from optbench\.kernels[\w.]* import|import optbench\.kernels|"
                         r"from \.+kernels[\w.]* import)", re.M)
    missing = []
    for f in sorted(PKG.rglob("*.py")):
        text = f.read_text()
        inside = f.parent == PKG / "kernels"    # the package __init__ runs first
        if re.search(r"cache\s*=\s*True", text) and not inside:
            m = imports.search(text)
            first = re.search(r"cache\s*=\s*True", text).start()
            if m is None or m.start() > first:
                missing.append(str(f.relative_to(PKG)))
    assert missing == []
    code = ("import numba, optbench.kernels.compile as kc\n"
            "assert numba.config.CACHE_DIR and numba.config.CACHE_DIR == kc.configure_cache(), "
            "numba.config.CACHE_DIR")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                       env={k: v for k, v in __import__("os").environ.items()
                            if k != "NUMBA_CACHE_DIR"})
    assert r.returncode == 0, r.stderr
