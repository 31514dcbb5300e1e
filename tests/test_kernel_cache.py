"""A user's kernel edited between two processes is compiled afresh, never served stale.

The numba cache folder is keyed by optbench's own sources; a family defined in a user's file
is compiled into optbench's drivers (the whole-vector update, the pair-specialised loop), so
the user's file must take part in the cache key of those specialisations."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.slow

OPT = '''
from optbench.kernels.slots import hyper_slots, scalar_slots
from optbench.optimizers import Optimizer, register
from optbench.optimizers.base import LR

HY = hyper_slots()
SC = scalar_slots()


def plain_prep(sc, hy):
    pass


def plain_elem(x, gi, st, sc, hy, i):
    x[i] -= FACTOR * sc[SC.lr] * gi


@register
class PlainGD(Optimizer):
    name = "plain-gd-cachetest"
    family = "custom"
    doc = "x <- x - FACTOR * lr * g"
    params = {"lr": LR}
    slots = HY
    PREP = staticmethod(plain_prep)
    ELEM = staticmethod(plain_elem)

    def n_state(self):
        return 0
'''

MAIN = '''
import json, sys
sys.path.insert(0, sys.argv[1])
import optbench as ob
import useropt  # noqa: F401  (registers the family)
res = ob.run(ob.problem("quadratic", dim=4), ob.optimizer("plain-gd-cachetest", lr=0.1),
             steps=int(sys.argv[2]), stop="budget")
print(json.dumps([float(v) for v in res.x]))
'''


def _run(tmp_path, factor, steps, cache):
    (tmp_path / "useropt.py").write_text(OPT.replace("FACTOR", factor))
    env = {**os.environ, "OPTBENCH_CACHE": str(cache)}
    out = subprocess.run([sys.executable, "-c", MAIN, str(tmp_path), str(steps)], env=env,
                         capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("steps", [50, 20_000])   # generic driver; pair-specialised driver
def test_edited_user_kernel_is_recompiled(tmp_path, steps):
    cache = tmp_path / "cache"
    moved = _run(tmp_path, "1.0", steps, cache)
    frozen = _run(tmp_path, "0.0", steps, cache)    # same file, same names, new formula
    start = _run(tmp_path, "0.0", 1, cache)
    assert moved != start                          # the first formula moves x
    assert frozen == start                         # the edited one does not: not served stale


def test_two_kernels_of_one_file_get_their_own_specialisations():
    """Regression: bbob's f8 and f9 (both in problems/bbob/moderate.py, one problem class)
    bound into one driver template shared a cache name, so f9's runs evaluated f8 (f0 off by
    a factor 2). The bound kernels' names are part of the specialisation's name now."""
    import numpy as np

    import optbench as ob
    from optbench.kernels import compile as kc
    from optbench.problems.bbob import functions

    f8, f9 = functions()[8], functions()[9]
    assert f8.fg.__code__.co_filename == f9.fg.__code__.co_filename
    assert kc.bound_sources_tag({"fg": f8.fg}) != kc.bound_sources_tag({"fg": f9.fg})
    for fn in (8, 9):                       # long enough for the pair-specialised driver
        p = ob.problem("bbob", function=fn, instance=1, dim=5)
        r = ob.run(p, ob.optimizer("adam", lr=0.01), steps=30_000, stop="budget")
        assert float(r.row["f0"]) == pytest.approx(p.value(p.x0(0)), rel=1e-12), fn
