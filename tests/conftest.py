"""Tests that need system packages pip cannot install (``@pytest.mark.browser``).

``@pytest.mark.browser`` needs headless Chromium; ``@pytest.mark.browser(libjs=True)`` also
needs the Debian JavaScript packages that asv's offline pages load. On a developer's machine
without them these tests are skipped, with the reason and the install command. In CI (the
environment variable ``CI`` set, as CI services do and ``.ci/run`` does) they always run, so a
missing package fails them instead of being counted as a pass.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = ("chromium", "chromium-browser")  # what both browser tests look for
LIBJS_APT = ("libjs-jquery libjs-jquery-flot libjs-jquery-stupidtable libjs-bootstrap "
             "node-blueimp-md5")
LIBJS_ROOT = Path("/usr/share/javascript")


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _missing(libjs: bool) -> list[str]:
    missing = [] if any(shutil.which(b) for b in CHROMIUM) else ["chromium"]
    if libjs:
        from optbench.asv_bridge import _VENDOR  # the files asv's offline pages copy

        if not all((LIBJS_ROOT / local).is_file() for _, local in _VENDOR if local):
            missing.append(LIBJS_APT)
    return missing


def pytest_collection_modifyitems(config, items):
    if in_ci():
        return
    for item in items:
        mark = item.get_closest_marker("browser")
        if mark is None:
            continue
        missing = _missing(bool(mark.kwargs.get("libjs")))
        if missing:
            item.add_marker(pytest.mark.skip(reason=(
                f"needs system packages: apt-get install {' '.join(missing)} (CI runs this "
                "test: bash .ci/run)")))


@pytest.fixture(autouse=True)
def _registries_restored():
    """Each test sees the built-in zoos only: a plugin a test loads (``--plugin``, a suite's
    ``plugins``) is unregistered after it, whatever order pytest-xdist runs the files in."""
    from optbench import optimizers as O
    from optbench import plugins
    from optbench import problems as P

    zoos = (P.REGISTRY, O.REGISTRY)
    for z in zoos:
        z.load()
    saved = [dict(z._classes) for z in zoos]
    loaded = dict(plugins._LOADED)
    yield
    for z, classes in zip(zoos, saved):
        z._classes.clear()
        z._classes.update(classes)
    plugins._LOADED.clear()
    plugins._LOADED.update(loaded)
