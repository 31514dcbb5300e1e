"""Analysis functions on small hand-made tables whose answers are worked out by hand here,
plus theory rates against independent linear algebra and real runs."""
import json
import math

import numpy as np
import pandas as pd
import pytest

from optbench.analysis import curves as CU
from optbench.analysis import export as X
from optbench.analysis import landscape as LS
from optbench.analysis import lr_protocol as LP
from optbench.analysis import metrics as M
from optbench.analysis import theory as T
from optbench.analysis.labels import config_labels, instance_labels
from optbench.validate import OptbenchInputError


def row(run_id, *, problem="p1", popts=None, opt="gd", lr=0.1, seed=0, status="budget",
        targets=(1.0, 0.1), hits=(-1, -1), nit=9, ngev=None, f_star=0.0, f0=10.0, best_f=1.0,
        fun=None, dim=2, **extra):
    oj = {"optimizer": opt, "lr": lr, **extra}
    return {"run_id": run_id, "problem": problem,
            "problem_params": json.dumps({"problem": problem, **(popts or {})}, sort_keys=True),
            "optimizer": opt, "optimizer_params": json.dumps(oj, sort_keys=True), "lr": lr,
            "seed": seed, "dim": dim, "status": status, "nit": nit,
            "ngev": nit + 1 if ngev is None else ngev, "targets": list(targets),
            "hit_step": list(hits), "hit_step_grad": [-1] * len(targets), "f_star": f_star,
            "f0": f0, "best_f": best_f, "fun": best_f if fun is None else fun, "budget": 100,
            "stop": "budget"}


def frame(rows):
    return pd.DataFrame(rows)


# -- labels ------------------------------------------------------------------------------
def test_labels_show_only_what_varies():
    R = frame([row("a", lr=0.1), row("b", lr=1.0), row("c", opt="adam", lr=0.1),
               row("d", problem="q", popts={"dim": 2}), row("e", problem="q", popts={"dim": 5})])
    assert list(config_labels(R)) == ["gd(lr=0.1)", "gd(lr=1)", "adam", "gd(lr=0.1)", "gd(lr=0.1)"]
    assert list(instance_labels(R)) == ["p1", "p1", "p1", "q(dim=2)", "q(dim=5)"]
    assert list(config_labels(R, exclude=("lr",))) == ["gd"] * 2 + ["adam"] + ["gd"] * 2


# -- runtimes ----------------------------------------------------------------------------
def test_runtimes_hits_misses_and_evaluation_counts():
    R = frame([
        row("a", hits=(3, -1), nit=9),            # 1: hit at step 3 -> 4 evals; 0.1: miss, spent 9/10
        row("b", hits=(1, 4), nit=4, ngev=10),    # two gradients per step: evals (1+1)*2=4, (4+1)*2=10
        row("c", status="error", nit=0, ngev=0),  # an error is a miss that spent nothing
    ])
    rt = M.runtimes(R, [1.0, 0.1]).set_index(["run_id", "target"])
    assert rt.loc[("a", 1.0), ["hit", "steps", "evals"]].tolist() == [True, 3.0, 4.0]
    a_miss = rt.loc[("a", 0.1)]
    assert not a_miss["hit"] and math.isnan(a_miss["steps"])
    assert (a_miss["spent_steps"], a_miss["spent_evals"]) == (9.0, 10.0)
    assert rt.loc[("b", 1.0), "evals"] == 4.0 and rt.loc[("b", 0.1), "evals"] == 10.0
    assert not rt.loc[("c", 1.0), "hit"] and rt.loc[("c", 1.0), "spent_evals"] == 0.0
    assert len(rt) == 6  # nothing dropped


def test_runtimes_target_off_the_ladder_needs_traces():
    R = frame([row("a", hits=(3, -1))])
    with pytest.raises(OptbenchInputError, match="not in the ladder"):
        M.runtimes(R, [0.5])
    tr = pd.DataFrame({"run_id": "a", "step": [0, 2, 5], "ngev": [1, 3, 6],
                       "f": [9.0, 0.7, 0.3], "best_f": [9.0, 0.7, 0.3],
                       "grad_norm": 1.0, "dist_to_opt": 1.0, "time_s": 0.0})
    rt = M.runtimes(R, [0.5], traces=tr)
    assert rt["steps"].iloc[0] == 5.0  # first recorded best_f - f* <= 0.5 is 0.3 at step 5


def test_art_counts_all_evaluations_over_successes():
    # evals to hit: 10 and 20 (hits at steps 9 and 19); a miss spent 100; an error spent 0
    R = frame([row("a", targets=(1.0,), hits=(9,), nit=50),
               row("b", seed=1, targets=(1.0,), hits=(19,), nit=50),
               row("c", seed=2, targets=(1.0,), hits=(-1,), nit=99),
               row("d", seed=3, targets=(1.0,), hits=(-1,), status="error", nit=0, ngev=0)])
    a = M.art(M.runtimes(R, [1.0]), n_boot=300).iloc[0]
    assert a["aRT"] == pytest.approx((10 + 20 + 100 + 0) / 2)  # 65
    assert (a["runs"], a["successes"], a["success_rate"]) == (4, 2, 0.5)
    assert a["aRT_lo"] <= a["aRT"] <= a["aRT_hi"]
    none = frame([row("x", targets=(1.0,), hits=(-1,))])
    assert M.art(M.runtimes(none, [1.0])).iloc[0]["aRT"] == math.inf


def test_art_bootstrap_is_degenerate_for_identical_runs():
    R = frame([row(f"r{i}", seed=i, targets=(1.0,), hits=(9,)) for i in range(3)])
    a = M.art(M.runtimes(R, [1.0]), n_boot=200).iloc[0]
    assert a["aRT"] == a["aRT_lo"] == a["aRT_hi"] == 10.0


# -- ECDF --------------------------------------------------------------------------------
def _ecdf_table():
    t = (1.0, 0.1)
    return frame([
        # s1 on p1: two seeds; seed 0 hits both targets (evals 5, 8), seed 1 hits 1.0 (evals 7)
        row("a", opt="s1", seed=0, targets=t, hits=(4, 7)),
        row("b", opt="s1", seed=1, targets=t, hits=(6, -1)),
        # s1 on p2: one run, hits 1.0 at evals 3
        row("c", opt="s1", problem="p2", targets=t, hits=(2, -1)),
        # s2 ran only p1, once: hits 1.0 at evals 2
        row("d", opt="s2", targets=t, hits=(1, -1)),
    ])


def test_ecdf_weights_pairs_and_keeps_misses():
    ec = M.ecdf(M.runtimes(_ecdf_table(), [1.0, 0.1]))
    assert ec.attrs["pairs"] == 4  # (p1, 1), (p1, 0.1), (p2, 1), (p2, 0.1)
    s1 = ec[ec["solver"] == "s1"]
    # p1 runs weigh 1/(4*2) = 1/8, the p2 run 1/4: jumps at 3 (+1/4), 5, 7, 8 (+1/8 each)
    assert s1["budget"].tolist() == [3.0, 5.0, 7.0, 8.0]
    assert s1["fraction"].tolist() == pytest.approx([0.25, 0.375, 0.5, 0.625])
    s2 = ec[ec["solver"] == "s2"]
    # s2 never ran p2: its two pairs stay in the denominator -> 1/4 at most
    assert s2["fraction"].tolist() == pytest.approx([0.25])
    at = M.ecdf_at(ec, [0, 4, 100])
    assert at["s1"].tolist() == pytest.approx([0.0, 0.25, 0.625])
    assert np.all(np.diff(s1["fraction"]) > 0)


def test_ecdf_leaves_out_instances_without_fstar_with_a_warning():
    R = frame([row("a", hits=(1, 2)), row("b", problem="saddle", f_star=np.nan)])
    with pytest.warns(UserWarning, match="saddle"):
        ec = M.ecdf(M.runtimes(R, [1.0, 0.1]))
    assert ec.attrs["pairs"] == 2 and ec["fraction"].iloc[-1] == 1.0


# -- performance profiles and the score -------------------------------------------------
COSTS = pd.DataFrame({"A": [10.0, 30.0, np.inf, np.inf], "B": [20.0, 15.0, 40.0, np.inf]},
                     index=["p1", "p2", "p3", "p4"])


def test_performance_ratios_and_profile():
    r = M.performance_ratios(COSTS)
    # p1: A best (r=1), B 20/10=2; p2: B best, A 30/15=2; p3 only B; p4 nobody
    assert r["A"].tolist() == [1.0, 2.0, math.inf, math.inf]
    assert r["B"].tolist() == [2.0, 1.0, 1.0, math.inf]
    prof = M.performance_profile(COSTS, taus=[1.0, 1.5, 2.0, 100.0])
    assert prof["A"].tolist() == pytest.approx([1 / 4, 1 / 4, 2 / 4, 2 / 4])
    assert prof["B"].tolist() == pytest.approx([2 / 4, 2 / 4, 3 / 4, 3 / 4])
    auto = M.performance_profile(COSTS)
    for s in auto:
        assert np.all(np.diff(auto[s].to_numpy()) >= 0)
    assert auto.iloc[-1].tolist() == pytest.approx([0.5, 0.75])  # ends at the solved fraction


def test_profile_score_exact_and_against_numeric_integral():
    sc = M.profile_score(COSTS, r_max=4.0)
    # A: p1 (4-1)/3 = 1, p2 (4-2)/3 = 2/3 -> (5/3)/4;  B: 2/3 + 1 + 1 -> (8/3)/4
    assert sc["A"] == pytest.approx((5 / 3) / 4)
    assert sc["B"] == pytest.approx((8 / 3) / 4)
    taus = np.linspace(1, 4, 300001)
    prof = M.performance_profile(COSTS, taus=taus)
    for s in ("A", "B"):
        num = np.trapezoid(prof[s].to_numpy(), taus) / 3
        assert sc[s] == pytest.approx(num, abs=1e-4)


def test_cost_matrix_from_runtimes_uses_art_and_fails_missing_solvers():
    R = frame([row("a", opt="A", targets=(1.0,), hits=(9,)),          # aRT 10
               row("b", opt="B", targets=(1.0,), hits=(4,)),          # aRT 5
               row("c", opt="A", problem="p2", targets=(1.0,), hits=(-1,))])
    c = M.cost_matrix(M.runtimes(R, [1.0]), 1.0)
    assert c.loc["p1", "A"] == 10.0 and c.loc["p1", "B"] == 5.0
    assert c.loc["p2", "A"] == math.inf and c.loc["p2", "B"] == math.inf  # B never ran p2


# -- Moré–Wild data profiles -------------------------------------------------------------
def _mw():
    R = frame([
        row("A0", opt="A", seed=0, f0=10.0, best_f=0.5),
        row("B0", opt="B", seed=0, f0=10.0, best_f=0.9),
        row("A1", opt="A", seed=1, f0=10.0, best_f=8.0),
        row("B1", opt="B", seed=1, f0=10.0, best_f=0.1, status="diverged"),
    ])
    tr = []
    for rid, ng, best in [("A0", [1, 2, 5, 10], [10, 5, 1, 0.5]), ("B0", [1, 3, 9], [10, 2, 0.9]),
                          ("A1", [1, 4], [10, 8]), ("B1", [1, 2, 3], [10, 0.1, 0.1])]:
        tr.append(pd.DataFrame({"run_id": rid, "step": np.array(ng) - 1, "ngev": ng,
                                "f": best, "best_f": best, "grad_norm": 1.0,
                                "dist_to_opt": np.nan, "time_s": 0.0}))
    return R, pd.concat(tr, ignore_index=True)


def test_data_profile_by_hand():
    R, tr = _mw()
    c = M.mw_costs(R, tr, [1e-1, 1e-3])
    c1, c3 = c[0.1], c[0.001]
    # seed 0: f_L = 0.5; tau=0.1 needs f0 - best >= 0.9*9.5 = 8.55 (best <= 1.45):
    # A at ngev 5, B at ngev 9; divided by n_p + 1 = 3
    assert c1.loc[("p1", 0), "A"] == pytest.approx(5 / 3)
    assert c1.loc[("p1", 0), "B"] == pytest.approx(9 / 3)
    # tau=1e-3 needs best <= 10 - 0.999*9.5 = 0.5095: A at ngev 10, B never
    assert c3.loc[("p1", 0), "A"] == pytest.approx(10 / 3)
    assert c3.loc[("p1", 0), "B"] == math.inf
    # seed 1: f_L = 0.1 (reached by the diverged run before it diverged): B at ngev 2, A never
    assert c1.loc[("p1", 1), "B"] == pytest.approx(2 / 3)
    assert c1.loc[("p1", 1), "A"] == math.inf
    dp = M.data_profile(R, tr, [1e-1], alphas=[0.5, 1.0, 5 / 3, 3.0])
    a = dp[dp["solver"] == "A"]["fraction"].tolist()
    b = dp[dp["solver"] == "B"]["fraction"].tolist()
    assert a == pytest.approx([0, 0, 0.5, 0.5])
    assert b == pytest.approx([0, 0.5, 0.5, 1.0])
    raw = M.mw_costs(R, tr, [1e-1], normalise=None)[0.1]
    assert raw.loc[("p1", 0), "A"] == 5.0


def test_data_profile_refuses_several_runs_per_solver_and_problem():
    R, tr = _mw()
    R2 = pd.concat([R, frame([row("A0b", opt="A", seed=0, lr=1.0)])], ignore_index=True)
    with pytest.raises(OptbenchInputError, match="several runs"):
        M.mw_costs(R2, tr, solver="optimizer")


# -- learning-rate protocol --------------------------------------------------------------
def _grid():
    rows = []
    vals = {0.1: [1e-2, 2e-2, 3e-2], 1.0: [1e-5, 1e-4, 1e-3], 10.0: [np.nan, np.nan, 1e-9]}
    hits = {0.1: [-1, -1, -1], 1.0: [50, 70, -1], 10.0: [-1, -1, 5]}
    for lr, fs in vals.items():
        for s, f in enumerate(fs):
            st = "diverged" if np.isnan(f) else "budget"
            rows.append(row(f"{lr}-{s}", lr=lr, seed=s, status=st, targets=(1e-3,),
                            hits=(hits[lr][s],), best_f=f, fun=f))
    return frame(rows)


def test_best_setting_never_drops_diverged_runs():
    b = LP.best_settings(_grid(), "final_f")
    # medians: lr 0.1 -> 2e-2; lr 1 -> 1e-4; lr 10 -> median of (inf, inf, 1e-9) = inf.
    # Dropping the diverged runs would wrongly pick lr 10 (1e-9).
    assert b["lr"].tolist() == [1.0]
    assert b["median"].iloc[0] == pytest.approx(1e-4)
    s = LP.setting_scores(_grid(), "final_f").set_index("lr")
    assert s.loc[10.0, "median"] == math.inf and s.loc[10.0, "failed"] == 2


def test_best_setting_by_steps_and_tiebreak():
    b = LP.best_settings(_grid(), "steps", target=1e-3)
    # steps: lr 1 -> median of (50, 70, inf) = 70; lr 0.1 and 10 -> inf
    assert b["lr"].iloc[0] == 1.0 and b["median"].iloc[0] == 70.0
    allmiss = _grid()
    allmiss["hit_step"] = [[-1]] * len(allmiss)
    b = LP.best_settings(allmiss, "steps", target=1e-3)
    assert b["lr"].iloc[0] == 1.0 and b["median"].iloc[0] == math.inf  # tie -> median final f


def test_sensitivity_quantiles_and_select_best():
    s = LP.sensitivity(_grid(), "final_f").set_index("lr")
    # lr 1: sorted (1e-5, 1e-4, 1e-3): empirical q25, median, q75 = 1e-5, 1e-4, 1e-3
    assert s.loc[1.0, ["q25", "median", "q75"]].tolist() == pytest.approx([1e-5, 1e-4, 1e-3])
    assert s.loc[10.0, "failed"] == 2 and s.loc[10.0, "q25"] == pytest.approx(1e-9)
    sel = LP.select_best(_grid(), criterion="final_f")
    assert set(sel["lr"]) == {1.0} and set(sel["solver"]) == {"gd"} and len(sel) == 3
    q = LP.seed_quantiles(sel, "final_f").iloc[0]
    assert (q["n"], q["failed"], q["median"]) == (3, 0, pytest.approx(1e-4))


def test_rerun_needs_ten_seeds_and_reruns_the_best_setting():
    import optbench as ob
    runs, _ = ob.sweep(["quadratic-1d"], ["gd"], grid={"lr": [0.01, 0.1]}, steps=50)
    best = LP.best_settings(runs, "final_f")
    assert best["lr"].iloc[0] == 0.1  # |1 - 2*0.1|^50 beats |1 - 2*0.01|^50
    with pytest.raises(OptbenchInputError, match="at least 10 seeds"):
        LP.rerun(best, runs, seeds=3)
    r2, tr2 = LP.rerun(best, runs, seeds=10)
    assert len(r2) == 10 and set(r2["lr"]) == {0.1} and r2["seed"].nunique() == 10
    assert set(tr2["run_id"]) == set(r2["run_id"])


# -- curves ------------------------------------------------------------------------------
def test_trace_quantiles_carry_forward_and_diverged_is_infinite():
    R = frame([row("a", seed=0), row("b", seed=1), row("c", seed=2, status="diverged")])
    tr = pd.concat([
        pd.DataFrame({"run_id": "a", "step": [0, 1, 2], "f": [4.0, 2.0, 1.0]}),
        pd.DataFrame({"run_id": "b", "step": [0, 2], "f": [8.0, 0.5]}),
        pd.DataFrame({"run_id": "c", "step": [0, 1], "f": [6.0, np.inf]})], ignore_index=True)
    for c in ("ngev", "best_f", "grad_norm", "dist_to_opt", "time_s"):
        tr[c] = tr["step"] + 1 if c == "ngev" else 0.0
    q = CU.trace_quantiles(R, tr, y="f_gap", x="step").set_index("step")
    # step 0: {4, 8, 6}; step 1: {2, 8 (held), inf}; step 2: {1, 0.5, inf}
    assert q["median"].tolist() == [6.0, 8.0, 1.0]
    assert q["q75"].tolist() == [8.0, math.inf, math.inf]
    assert q["q25"].tolist() == [4.0, 2.0, 0.5]
    assert (q["n"].iloc[0], q["failed"].iloc[0]) == (3, 1)
    R2 = R.assign(f_star=np.nan)
    with pytest.raises(OptbenchInputError, match="no known f"):
        CU.trace_quantiles(R2, tr, y="f_gap")


# -- theory ------------------------------------------------------------------------------
@pytest.mark.parametrize("kappa", [4.0, 25.0, 1e3])
def test_theory_rates_match_spectral_radii(kappa):
    L, mu = 1.0, 1.0 / kappa
    eig = np.linspace(mu, L, 41)
    s = math.sqrt(kappa)
    assert T.gd_rate(kappa) == pytest.approx((kappa - 1) / (kappa + 1))
    assert T.linear_rate(T.tuned("gd", L, mu), eig) == pytest.approx(T.gd_rate(kappa))
    assert T.linear_rate(T.tuned("momentum", L, mu), eig) == pytest.approx((s - 1) / (s + 1), rel=1e-6)
    assert T.linear_rate(T.tuned("nesterov", L, mu), eig) == pytest.approx(1 - 1 / s, rel=1e-6)
    # independent: the heavy-ball companion matrix x_{k+1} = (1+b-a λ) x_k - b x_{k-1}
    p = T.tuned("momentum", L, mu)
    a, b = p["lr"], p["momentum"]
    rad = max(np.abs(np.roots([1, -(1 + b - a * lam), b])).max() for lam in eig)
    assert rad == pytest.approx(T.heavy_ball_rate(kappa), rel=1e-6)
    assert T.steps_to_tolerance(0.5, 1e-3) == pytest.approx(math.log(1e3) / math.log(2))
    assert T.linear_rate({"optimizer": "adam", "lr": 0.1}, eig) is None


def test_gd_rate_on_a_real_run():
    import optbench as ob
    kappa = 10.0
    p = ob.problem("quadratic", dim=2, cond=kappa)
    res = ob.run(p, ob.optimizer("gd", lr=2 / (1 + 1 / kappa)), steps=60, stop="budget",
                 record="every:1")
    d = res.trace["dist_to_opt"].to_numpy()
    k = res.trace["step"].to_numpy()
    # both eigen-components contract by exactly (κ−1)/(κ+1) per step at α = 2/(L+μ)
    np.testing.assert_allclose(d / d[0], T.gd_rate(kappa) ** k, rtol=1e-9)
    assert T.quadratic_eigenvalues(json.dumps(p.spec)).tolist() == pytest.approx([0.1, 1.0])


# -- trajectories and landscapes ---------------------------------------------------------
def test_trajectory_is_the_real_iterate_sequence():
    import optbench as ob
    from optbench.analysis.trajectory import as_array, budgets, trajectory
    p = ob.problem("quadratic", dim=2, cond=4.0)  # eigenvalues 0.25, 1
    t = trajectory(p, {"optimizer": "gd", "lr": 0.5}, 12)
    X = as_array(t)
    k = t["step"].to_numpy()[:, None]
    np.testing.assert_allclose(X, np.array([1.0, 1.0]) * np.array([0.875, 0.5]) ** k, rtol=1e-12)
    b = budgets(10_000, 50)
    assert b[0] == 1 and b[-1] == 10_000 and b.size <= 50 and np.all(np.diff(b) > 0)
    # a cosine schedule that follows the budget is pinned to the long run's budget
    opt = ob.optimizer("adam", lr=0.05, schedule={"kind": "cosine"})
    tc = trajectory("rosenbrock", opt, 300, max_points=20)
    long = ob.run("rosenbrock", opt, steps=300, stop="budget")
    np.testing.assert_allclose(as_array(tc)[-1], long.x, rtol=1e-12)
    assert tc["step"].iloc[-1] == 300


def test_landscape_normalisation_slices_and_pca():
    import optbench as ob
    p = ob.problem("quadratic", dim=3, cond=10.0)
    A = p.matrix()
    th = np.array([1.0, -2.0, 0.5])
    d = LS.random_direction(p, th, seed=1)
    assert np.linalg.norm(d) == pytest.approx(np.linalg.norm(th))
    groups = [(np.array([0, 1]), False), (np.array([2]), True)]
    dn = LS.normalise(np.array([3.0, 4.0, 7.0]), th, groups)
    assert dn.tolist() == pytest.approx([3 / 5 * math.sqrt(5), 4 / 5 * math.sqrt(5), 0.0])
    al = np.array([-1.0, 0.0, 0.5])
    f = LS.slice_1d(p, th, d, al)
    np.testing.assert_allclose(f, [0.5 * (th + a * d) @ A @ (th + a * d) for a in al], rtol=1e-12)
    F = LS.slice_2d(p, th, d, d[::-1], [0.0, 1.0], [0.0, 2.0])
    assert F[1, 0] == pytest.approx(0.5 * (th + 2 * d[::-1]) @ A @ (th + 2 * d[::-1]))
    ends = LS.interpolate(p, th, -th, [0.0, 0.5, 1.0])
    assert ends.tolist() == pytest.approx([p.value(th), 0.0, p.value(-th)])
    net = ob.problem("linear-net", in_dim=3, hidden=2, out_dim=4)
    g = LS.filter_groups(net)
    assert len(g) == 2 + 4 and sum(len(i) for i, _ in g) == net.dim
    line = np.outer(np.linspace(0, 1, 6), [1.0, 2.0, 2.0])
    v1, _, ratio, xy = LS.pca_directions(line)
    assert ratio[0] == pytest.approx(1.0) and abs(v1 @ np.array([1, 2, 2]) / 3) == pytest.approx(1.0)
    assert np.abs(xy[:, 1]).max() < 1e-12


# -- tables ------------------------------------------------------------------------------
def test_markdown_and_booktabs_tables():
    df = pd.DataFrame({"solver": ["adam_w", "gd"], "aRT": [12.0, math.inf], "ok": [3, 0]})
    md = X.to_markdown(df)
    assert md.splitlines()[0] == "| solver | aRT | ok |" and len(md.splitlines()) == 4
    assert "∞" in md
    tex = X.to_latex(df, "aRT to Δf", "tab:x")
    for k in (r"\toprule", r"\midrule", r"\bottomrule", r"adam\_w", r"$\infty$", r"\label{tab:x}",
              r"$\Delta$"):
        assert k in tex
    assert tex.count(r"\\") == 3  # header + 2 rows
    assert X.fmt_number(1.5e-7) == "1.50e-7" and X.fmt_number(float("nan")) == "—"
