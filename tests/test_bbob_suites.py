"""The built-in bbob suites follow COCO's protocol; bbob-smooth is exactly the smooth subset."""
import json

from optbench import optimizers as O
from optbench.problems.bbob import COCO_DIMS, functions
from optbench.runner.suites import load_suite, suite_specs


def _problem_table(name):
    s = load_suite(name)
    (p,) = s["problems"]
    return s, p


def test_bbob_is_cocos_protocol():
    s, p = _problem_table("bbob")
    assert p["problem"] == "bbob" and p["function"] == list(range(1, 25))
    assert p["instance"] == list(range(1, 16)) and tuple(p["dim"]) == COCO_DIMS
    assert s["targets"] == "coco" and s["stop"] == "target" and s["budget_per_dim"] >= 100
    assert all(O.REGISTRY[o["optimizer"]] for o in s["optimizers"])


def test_bbob_smooth_is_the_smooth_subset_with_second_order_methods():
    s, p = _problem_table("bbob-smooth")
    smooth = sorted(k for k, f in functions().items() if f.smooth)
    assert p["function"] == smooth
    assert all(functions()[k].hvp is not None for k in smooth)
    kinds = {O.REGISTRY[o["optimizer"]].kind for o in s["optimizers"]}
    assert "second_order" in kinds and "first_order" in kinds
    assert tuple(p["dim"]) == COCO_DIMS and p["instance"] == list(range(1, 16))


def test_budget_grows_with_the_dimension():
    s, p = _problem_table("bbob-smooth")
    small = {**s, "problems": [{**p, "function": [1], "instance": [1], "dim": [2, 40]}]}
    specs = suite_specs(load_suite(small))
    by_dim = {json.loads(x.problem)["dim"]: x.steps for x in specs}
    assert by_dim == {2: 2 * s["budget_per_dim"], 40: 40 * s["budget_per_dim"]}
