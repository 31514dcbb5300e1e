"""Suites with a budget proportional to the dimension (``budget_per_dim``, COCO's protocol)."""
import json

import pytest

from optbench.runner.suites import load_suite, suite_specs
from optbench.validate import OptbenchInputError

SUITE = {"name": "per-dim", "budget_per_dim": 7, "seeds": 2,
         "problems": [{"problem": "rosenbrock", "dim": [2, 5]}, {"problem": "quadratic-1d"}],
         "optimizers": [{"optimizer": "adam", "lr": [1e-3, 1e-2]}, {"optimizer": "gd"}]}


def test_each_problem_gets_budget_per_dim_times_its_dimension():
    specs = suite_specs(load_suite(SUITE))
    assert len(specs) == 3 * 3 * 2
    for s in specs:
        d = json.loads(s.problem).get("dim", 1)
        assert s.steps == 7 * d, (s.problem, s.steps)
    assert {s.steps for s in specs} == {7, 14, 35}
    # the same order as a plain expansion: problem, optimizer, grid, seed
    plain = suite_specs(load_suite({k: v for k, v in SUITE.items() if k != "budget_per_dim"}),
                        steps=1)
    assert [(s.problem, s.optimizer, s.seed) for s in specs] == \
        [(s.problem, s.optimizer, s.seed) for s in plain]


def test_an_explicit_steps_override_wins():
    assert {s.steps for s in suite_specs(load_suite(SUITE), steps=11)} == {11}


@pytest.mark.parametrize("bad, msg", [
    ({"steps": 10}, "steps or budget_per_dim, not both"),
    ({"budget_per_dim": 0}, "budget_per_dim must be a positive integer"),
    ({"budget_per_dim": 2.5}, "budget_per_dim must be a positive integer"),
])
def test_bad_budgets_are_one_line_errors(bad, msg):
    with pytest.raises(OptbenchInputError, match=msg) as e:
        load_suite({**SUITE, **bad})
    assert "\n" not in str(e.value)


def test_incompatible_pairs_are_an_error_or_skipped():
    s = {"name": "mix", "steps": 5, "problems": [{"problem": "quadratic", "dim": 4},
                                                 {"problem": "linear-net", "in_dim": 3,
                                                  "hidden": 2, "out_dim": 3}],
         "optimizers": [{"optimizer": "adam"}, {"optimizer": "muon"}]}
    with pytest.raises(OptbenchInputError, match="muon works on matrix blocks") as e:
        suite_specs(load_suite(s))
    assert "\n" not in str(e.value)
    specs = suite_specs(load_suite({**s, "incompatible": "skip"}))
    pairs = [(json.loads(x.problem)["problem"], json.loads(x.optimizer)["optimizer"])
             for x in specs]
    assert pairs == [("quadratic", "adam"), ("linear-net", "adam"), ("linear-net", "muon")]
    with pytest.raises(OptbenchInputError, match="incompatible must be one of error, skip"):
        suite_specs(load_suite({**s, "incompatible": "drop"}))
