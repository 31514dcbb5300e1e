"""Both zoos: one registration mechanism (optbench.registry.Zoo), the public factories
``make(name | spec dict | instance)``, one expansion of sweeps for the API and TOML suites
(optbench.runner.expand), and ``optbench list problems`` without building large data."""
import contextlib
import io
import json
import math
import subprocess
import sys

import numpy as np
import pytest

from optbench import OptbenchInputError, cli
from optbench import optimizers as O
from optbench import problems as P
from optbench.params import I
from optbench.problems import base as problem_base
from optbench.registry import Zoo
from optbench.runner.expand import expand
from optbench.runner.spec import RunSpec, canonical_json
from optbench.runner.suites import suite_specs

ZOOS = [(P, P.Problem, "problem", "rosenbrock", {"dim": 3}),
        (O, O.Optimizer, "optimizer", "adam", {"lr": 0.1, "beta1": 0.8})]
LIST_BOUND = 2 ** 20   # bytes of data any problem may build for the listing


# -- make -------------------------------------------------------------------------------------
@pytest.mark.parametrize("zoo,base,kind,name,params", ZOOS)
def test_make_takes_a_name_a_spec_dict_or_an_instance(zoo, base, kind, name, params):
    a = zoo.make(name, **params)
    assert isinstance(a, base) and a.name == name and a.spec != zoo.make(name).spec
    stored = json.loads(canonical_json(a.spec))          # as in problem_params/optimizer_params
    assert zoo.make(stored).spec == a.spec
    assert zoo.make({"name": name, **params}).spec == a.spec
    assert zoo.make({kind: name}, **params).spec == a.spec    # keywords complete the dict
    assert zoo.make(a) is a and zoo.get(a) is a
    assert zoo.get(name, **params).spec == a.spec


@pytest.mark.parametrize("zoo,base,kind,name,params", ZOOS)
def test_make_rejects_bad_specs_in_one_line(zoo, base, kind, name, params):
    a = "an" if kind == "optimizer" else "a"
    for bad, words in [({"lr": 1.0}, f"{kind} spec needs {a} '{kind}' name"),
                       (3, f"{kind} must be a name, a table or {a} {base.__name__}"),
                       ("nope", f"unknown {kind} 'nope'"),
                       ({kind: name, "nope": 1}, "unknown parameter 'nope'")]:
        with pytest.raises(OptbenchInputError, match=words):
            zoo.make(bad)
    with pytest.raises(OptbenchInputError, match="already built"):
        zoo.make(zoo.make(name), **params)


def test_run_spec_rebuilds_through_the_factories():
    s = RunSpec.make({"problem": "quadratic", "dim": 4}, "adam", steps=5)
    assert s.build_problem().spec == P.make(s.problem_params).spec == json.loads(s.problem)
    assert s.build_optimizer().spec == O.make("adam").spec


# -- registration ---------------------------------------------------------------------------
def test_both_zoos_register_the_same_way():
    for zoo, base in ((P, P.Problem), (O, O.Optimizer)):
        reg = zoo.REGISTRY
        assert type(reg) is Zoo and reg.base is base and reg.package == zoo.__name__
        assert zoo.register == reg.register and zoo.make == reg.make
        # every declared module registers a family, and every built-in family comes from one
        # of them; anything else was registered by a plugin this process loaded (another test
        # in the same worker may have loaded one)
        mods = {c.__module__ for c in reg.values()}
        builtin = {m for m in mods if m.startswith(zoo.__name__ + ".")}
        assert builtin == {f"{zoo.__name__}.{m}" for m in zoo.FAMILY_MODULES}
        from optbench import plugins
        assert mods - builtin <= {r["module"] for r in plugins._LOADED.values()}
        assert zoo.names() == sorted(reg) and len(reg) == len(zoo.names())


class Tiny(P.Problem):
    name = "test-factories-tiny"
    params = {"dim": I(3, 1, 10)}

    def build(self):
        return np.zeros(1), np.zeros(1, np.int64), self.p["dim"]


def test_a_plugin_registers_and_is_made_like_any_family():
    P.register(Tiny)
    try:
        assert Tiny.name in P.names()
        assert P.make({"problem": Tiny.name, "dim": 4}).dim == 4
        with pytest.raises(RuntimeError, match="registered twice"):
            P.register(Tiny)
    finally:
        P.REGISTRY.pop(Tiny.name, None)
    assert Tiny.name not in P.names()
    with pytest.raises(RuntimeError, match="must subclass Optimizer"):
        O.register(Tiny)


def test_family_modules_load_on_first_look_up():
    code = ("import sys\nimport optbench.problems as P, optbench.optimizers as O\n"
            "mods = ('optbench.problems.mlp', 'optbench.optimizers.adam')\n"
            "before = [m in sys.modules for m in mods]\nP.names(); O.names()\n"
            "print(before, [m in sys.modules for m in mods])")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["[False,", "False]", "[True,", "True]"]


# -- one expansion --------------------------------------------------------------------------
def test_api_and_suites_expand_the_same_way():
    from optbench.api import expand as api_expand

    assert api_expand is expand
    kw = dict(seeds=2, steps=50, stop="budget")
    problems = [{"problem": "quadratic", "dim": [2, 3]}]
    optimizers = [{"optimizer": "adam", "lr": [1e-3, 1e-2]}, "sgd"]
    got = expand(problems, optimizers, **kw)
    suite = suite_specs({"name": "t", "problems": problems, "optimizers": [
        optimizers[0], {"optimizer": "sgd"}], **kw})
    naive = [RunSpec.make({"problem": "quadratic", "dim": d}, o, seed=s, steps=50, stop="budget")
             for d in (2, 3) for o in ({"optimizer": "adam", "lr": 1e-3},
                                       {"optimizer": "adam", "lr": 1e-2}, "sgd")
             for s in (0, 1)]
    assert got == suite == naive
    # a grid is the same as list values in each optimizer's dict
    assert expand("rosenbrock", ["adam", "sgd"], grid={"lr": [0.1, 0.2]}, seeds=[3]) == \
        expand("rosenbrock", [{"optimizer": n, "lr": [0.1, 0.2]} for n in ("adam", "sgd")],
               seeds=[3])


# -- optbench list problems -------------------------------------------------------------------
def test_list_problems_builds_no_large_data_and_prints_the_listing(monkeypatch):
    asked = []

    def small_only(need, what, why=""):
        asked.append(need)
        assert need <= LIST_BOUND, f"listing the zoo builds {what}: {need} bytes"

    monkeypatch.setattr(problem_base, "check_memory", small_only)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(["list", "problems"]) == 0
    rows = P.listing()
    lines = out.getvalue().splitlines()
    assert lines[0].split()[:7] == ["problem", "family", "dim", "min_dim", "f_star",
                                    "critical_points", "stochastic"]
    assert len(lines) == 1 + len(rows) == 1 + len(P.names()) and asked
    for line, row in zip(lines[1:], rows):
        name, family, dim, min_dim, f_star, n_cp, stochastic, *cost = line.split()
        assert (name, family, int(dim), int(min_dim), int(n_cp), stochastic, " ".join(cost)) \
            == (row["problem"], row["family"], row["dim"], row["min_dim"],
                row["critical_points"], str(row["stochastic"]), row["cost"])
        assert f_star == "NaN" if row["f_star"] is None else \
            math.isclose(float(f_star), row["f_star"], rel_tol=1e-6, abs_tol=1e-6)


def test_listed_rows_are_those_of_the_default_instances():
    rows = {r["problem"]: r for r in P.listing()}
    for name in ("rosenbrock", "least-squares", "six-hump-camel", "noisy-quadratic",
                 "linear-net", "x-plus-sin"):
        assert rows[name] == {"problem": name, **P.get(name).facts}, name
    # matrix-factorisation answers from closed forms (its default M is 1000 × 1000): equal to
    # built instances, 250 > 200 with the shortened list of critical points
    mf = P.REGISTRY["matrix-factorisation"]
    assert rows["matrix-factorisation"]["dim"] == mf.params["dim"].default
    for kw in ({"dim": 1}, {"dim": 40}, {"dim": 250, "spectrum": "linear", "lam_top": 3.0}):
        assert mf.about(**kw) == mf(**kw).facts, kw
    with pytest.raises(OptbenchInputError, match="lam_bottom must be < lam_top"):
        mf.about(dim=5, lam_bottom=2.0)
