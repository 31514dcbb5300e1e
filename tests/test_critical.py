"""Critical-point analysis: index, extreme eigenvalues and class against the closed forms of the
critical-point families (docs/reference.md) and numpy's dense eigvalsh; the Lanczos count against
the dense count at d = 1000."""
from __future__ import annotations

import functools

import numpy as np
import pytest

import optbench as ob
from optbench.analysis import critical as C



@functools.lru_cache(maxsize=None)
def problem(name, **kw):
    return ob.problem(name, **kw)


def test_dense_analysis_of_every_double_well_index():
    p = problem("double-well", dim=6, rotation="haar", seed=2)
    for k in range(7):
        x, f, idx = p.critical_point(k, seed=k)
        a = C.analyse(p, x)
        assert a["index"] == k and a["index_fraction"] == k / 6 and a["n_zero"] == 0
        assert a["f"] == pytest.approx(k / 4)
        assert a["grad_norm"] < 1e-12
        # spectrum: −1 on the k zero coordinates, +2 on the others
        assert a["lam_min"] == pytest.approx(-1.0 if k else 2.0)
        assert a["lam_max"] == pytest.approx(2.0 if k < 6 else -1.0)
        assert a["kind"] == {0: "minimum", 6: "maximum"}.get(k, "saddle")
        assert C.classify(p, x) == (a["kind"], k)


def test_not_stationary_and_degenerate():
    p = problem("double-well", dim=6, rotation="haar", seed=2)
    x = p.critical_point(2, seed=0)[0] + 1e-3
    kind, idx = C.classify(p, x)
    assert kind == "not stationary"
    # the monkey saddle x³ − 3xy² has a zero Hessian at the origin: second-order test fails
    a = C.analyse(problem("monkey-saddle"), np.zeros(2))
    assert (a["kind"], a["index"], a["n_zero"]) == ("degenerate", 0, 2)


@pytest.mark.parametrize("name,kw,k", [
    ("double-well", dict(dim=1000, rotation="haar", seed=5), 3),
    ("double-well", dict(dim=1000, rotation="haar", seed=5), 8),
    ("matrix-factorisation", dict(dim=1000, seed=1), 4),
])
def test_lanczos_index_equals_dense_count_d1000(name, kw, k):
    p = problem(name, **kw)
    x = p.critical_point(k, seed=3)[0]
    dense = C.analyse(p, x, method="dense")
    lz = C.analyse(p, x, method="lanczos")
    assert dense["index"] == lz["index"] == k         # the family's known index
    assert lz["index_exact"] and lz["n_zero"] == dense["n_zero"] == 0
    assert lz["lam_min"] == pytest.approx(dense["lam_min"], rel=1e-8, abs=1e-10)
    assert lz["lam_max"] == pytest.approx(dense["lam_max"], rel=1e-8)
    assert lz["kind"] == dense["kind"] == "saddle"


def test_lanczos_resolves_multiplicity_beyond_dense_max():
    # unrotated double well, d = 3000 (> dense_max: 'auto' uses Lanczos): eigenvalue −1 with
    # multiplicity 40 at an index-40 point — one Krylov space alone would see it once
    p = problem("double-well", dim=3000)
    x = p.critical_point(40, seed=1)[0]
    a = C.analyse(p, x)
    assert a["method"] == "lanczos" and a["index"] == 40 and a["index_exact"]
    assert a["lam_min"] == pytest.approx(-1.0) and a["lam_max"] == pytest.approx(2.0)
    capped = C.analyse(p, x, max_count=10)
    assert capped["index"] == 10 and not capped["index_exact"]     # a lower bound, flagged


def test_nearest_known_critical_point():
    p = problem("matrix-factorisation", dim=20, seed=1)
    x, f, k = p.critical_point(5, seed=2)
    u = np.random.default_rng(0).standard_normal(20)
    u *= 1e-4 / np.linalg.norm(u)
    nk = C.nearest_known(p, x + u)
    assert nk["index"] == 5 and nk["dist"] == pytest.approx(1e-4, rel=1e-9)
    assert nk["f"] == pytest.approx(f) and nk["kind"] == "saddle"


def test_critical_columns_of_a_runs_table():
    from optbench.api import expand
    from optbench.runner.execute import execute

    p = problem("double-well", dim=20, near_index=2, near_radius=1e-4)
    specs = expand(p, ["newton", "saddle-free-newton"], steps=40, stop="budget")
    runs, _, xs = execute(specs, keep_x=True)
    out = C.critical_columns(runs, xs)
    newton, sfn = out.iloc[0], out.iloc[1]
    assert newton["optimizer"] == "newton"
    assert (newton["cp_kind"], newton["cp_index"]) == ("saddle", 2)
    assert newton["cp_grad_norm"] < 1e-10 and newton["cp_nearest_dist"] >= 0
    assert (sfn["cp_kind"], sfn["cp_index"]) == ("minimum", 0)
    assert sfn["cp_lam_min"] == pytest.approx(2.0)
    with pytest.raises(ob.OptbenchInputError):
        C.critical_columns(runs, xs[:1])


def test_the_documented_name_is_the_same_module():
    """README documents ``optbench.critical``; it is ``optbench.analysis.critical`` itself."""
    import optbench.critical as old

    assert old is C and old.critical_columns is C.critical_columns
