"""`optbench list optimizers` groups the families: torch.optim / modern / second order / zero
order, each family exactly once, from what the family declares."""
import subprocess
import sys

import optbench as ob
from optbench.optimizers import REGISTRY
from optbench.optimizers.groups import GROUPS, group_of, grouped_listing


def test_every_family_is_in_exactly_one_group():
    grouped = grouped_listing()
    listed = [r["optimizer"] for rows in grouped.values() for r in rows]
    assert sorted(listed) == ob.optimizers.names()
    assert list(grouped) == [g for g in GROUPS if g in grouped]
    where = {r["optimizer"]: g for g, rows in grouped.items() for r in rows}
    assert where["adam"] == where["sgd"] == "torch.optim"
    assert where["newton"] == where["lbfgs"] == "second order"
    assert where["random-search"] == "zero order"
    assert where["sophia"] == where["schedule-free-adamw"] == "modern"
    for name, g in where.items():   # the rule, stated once more from the class attributes
        cls = REGISTRY[name]
        if cls.kind == "first_order" and cls.family != "line_search":
            assert (g == "torch.optim") == bool(cls.torch_name), name


def test_cli_prints_the_groups_with_counts():
    r = subprocess.run([sys.executable, "-m", "optbench.cli", "list", "optimizers"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    heads = [line for line in r.stdout.splitlines() if line.split(" (")[0] in GROUPS]
    assert [h.split(" (")[0] for h in heads] == list(grouped_listing())
    total = sum(int(h.split("(")[1].rstrip(")")) for h in heads)
    assert total == len(ob.optimizers.names())
    assert group_of(REGISTRY["adam"]) == "torch.optim"
