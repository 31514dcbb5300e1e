"""Figures checked for content (axes, lines, legend entries, values drawn) and files for
validity (PDF/SVG/PNG headers, embedded TrueType fonts, byte-reproducibility)."""
import colorsys
import re
import struct

import numpy as np
import pytest
from matplotlib.colors import to_rgb

import optbench as ob
from optbench.analysis import lr_protocol as LP
from optbench.analysis import metrics as M
from optbench.analysis.labels import with_labels
from optbench.plots import contour as CT
from optbench.plots import convergence as CV
from optbench.plots import landscape as LSP
from optbench.plots import profiles as PR
from optbench.plots import style as S
from optbench.validate import OptbenchInputError


@pytest.fixture(scope="module")
def tables():
    q = ob.problem("quadratic", dim=2, cond=10.0)
    runs, traces = ob.sweep([q, "quadratic-1d", "saddle"], ["gd", "momentum", "adam"],
                            grid={"lr": [0.01, 0.1]}, seeds=2, steps=150)
    bad, btr = ob.sweep([q], ["gd"], grid={"lr": [2.5]}, seeds=2, steps=150)  # |1-2.5| > 1
    import pandas as pd
    return (pd.concat([runs, bad], ignore_index=True), pd.concat([traces, btr], ignore_index=True))


def labelled_lines(ax):
    return [ln for ln in ax.get_lines() if not ln.get_label().startswith("_")]


def legend_texts(ax):
    """The entries of ``ax``'s legend, or of its figure's (legends sit below the axes)."""
    leg = ax.get_legend() or (ax.figure.legends[0] if ax.figure.legends else None)
    return [t.get_text() for t in leg.get_texts()] if leg else []


def png_size(path):
    b = path.read_bytes()
    assert b[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", b[16:24])


# -- style ------------------------------------------------------------------------------
def test_fixed_colour_blind_safe_styles():
    names = ["gd", "sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw", "amsgrad"]
    cols = [S.style_for(n)["color"] for n in names]
    assert len(set(cols)) == len(cols)
    assert S.style_for("adam(lr=0.1)") == S.style_for("adam")  # the name decides
    assert S.style_for("some-new-opt") == S.style_for("some-new-opt")  # stable hash
    st = S.styles(["gd(lr=0.01)", "gd(lr=0.1)", "gd(lr=1)", "adam"])
    assert st["gd(lr=0.01)"]["color"] == S.style_for("gd")["color"]
    hues = {round(colorsys.rgb_to_hsv(*to_rgb(st[k]["color"]))[0], 2) for k in st if k != "adam"}
    assert len(hues) == 1  # variants keep the optimizer's hue
    assert len({st[k]["linestyle"] for k in st if k != "adam"}) == 3
    with pytest.raises(OptbenchInputError, match="format"):
        S.parse_formats("pdf,jpg")
    assert S.parse_formats("PNG, pdf") == ("png", "pdf")


def test_save_writes_valid_reproducible_files_with_embedded_fonts(tmp_path):
    fig, ax = S.figure("column")
    ax.plot([1, 2, 3], [3, 1, 2], label=r"$f(x_t) - f^\star$")
    ax.legend()
    paths = S.save(fig, tmp_path / "a")
    assert [p.suffix for p in paths] == [".pdf", ".svg", ".png"]
    pdf = paths[0].read_bytes()
    assert pdf.startswith(b"%PDF-") and b"/FontFile2" in pdf and b"/Type3" not in pdf
    svg = paths[1].read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg and "<text" not in svg
    w, h = png_size(paths[2])
    assert w == pytest.approx(S.COLUMN * 300, rel=0.02) and h > 0
    again = S.save(fig, tmp_path / "b", "pdf,svg")
    assert again[0].read_bytes() == pdf and again[1].read_text() == svg


# -- convergence ------------------------------------------------------------------------
def test_convergence_curves_content(tables, tmp_path):
    runs, traces = tables
    tuned = LP.select_best(runs, criterion="final_f")
    fig = CV.convergence(tuned, traces, instance="quadratic")
    ax = fig.axes[0]
    assert ax.get_xlabel() == "gradient evaluations" and ax.get_ylabel() == S.LABELS["f_gap"]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    lines = labelled_lines(ax)
    solvers = [ln.get_label() for ln in lines if "theory" not in ln.get_label()]
    assert sorted(solvers) == ["adam", "gd", "momentum"]
    theory = [ln for ln in lines if "theory" in ln.get_label()]
    assert {ln.get_label().split(":")[0] for ln in theory} == {"gd", "momentum"}  # not adam
    assert legend_texts(ax) == [ln.get_label() for ln in lines]
    # the median line is the median over seeds of f - f* (both seeds start at x0 = (1, 1))
    gd = next(ln for ln in lines if ln.get_label() == "gd")
    assert gd.get_ydata()[0] == pytest.approx(0.5 * (0.1 + 1.0))
    assert len(ax.collections) >= 3  # one IQR band per solver
    assert png_size(S.save(fig, tmp_path / "c", "png")[0])[0] > 0


def test_convergence_counts_failed_runs_in_the_legend(tables):
    runs, traces = tables
    sub = runs[(runs["problem"] == "quadratic") & (runs["optimizer"] == "gd")]
    fig = CV.convergence(sub, traces)
    texts = legend_texts(fig.axes[0])
    assert "gd(lr=2.5) (2/2 failed)" in texts and "gd(lr=0.1)" in texts


def test_convergence_grid_and_escape(tables):
    runs, traces = tables
    tuned = LP.select_best(runs, criterion="final_f")
    fig = CV.convergence_grid(tuned, traces)
    titles = [a.get_title().split("\n")[0] for a in fig.axes if a.get_visible()]
    assert titles == ["quadratic", "quadratic-1d", "saddle"]
    assert fig.axes[2].get_ylabel() == S.LABELS["f"]  # no f*: falls back to f
    assert len(fig.legends) == 1 and len(fig.legends[0].get_texts()) == 3
    fig = CV.escape(tuned, traces, instance="saddle")
    a, b = fig.axes
    assert a.get_ylabel() == S.LABELS["grad_norm"] and b.get_yscale() == "symlog"
    assert len(labelled_lines(b)) == 3
    with pytest.raises(OptbenchInputError, match="several instances"):
        CV.convergence(tuned, traces)


# -- profiles ----------------------------------------------------------------------------
def test_ecdf_figure_is_monotone_and_ends_at_the_fraction(tables):
    runs, _ = tables
    tuned = LP.select_best(runs, criterion="final_f")
    with pytest.warns(UserWarning, match="saddle"):
        fig = PR.ecdf(tuned)
    ax = fig.axes[0]
    with pytest.warns(UserWarning):
        ec = M.ecdf(M.runtimes(tuned, "ladder"))
    lines = labelled_lines(ax)
    assert sorted(ln.get_label() for ln in lines) == ["adam", "gd", "momentum"]
    for ln in lines:
        y = np.asarray(ln.get_ydata(), float)
        assert np.all(np.diff(y) >= 0) and y[0] == 0.0
        final = ec[ec["solver"] == ln.get_label()]["fraction"].iloc[-1]
        assert y[-1] == pytest.approx(final)
    assert f"{ec.attrs['pairs']} pairs" in ax.get_title()


def test_performance_and_data_profiles(tables):
    runs, traces = tables
    tuned = LP.select_best(runs, criterion="final_f")
    with pytest.warns(UserWarning):
        fig = PR.performance_profile(tuned, target=1e-3)
        score = M.profile_score(M.cost_matrix(M.runtimes(tuned, [1e-3]), 1e-3))
    ax = fig.axes[0]
    assert set(legend_texts(ax)) == {f"{s} ({score[s]:.2f})" for s in score.index}
    for ln in labelled_lines(ax):
        y = np.asarray(ln.get_ydata(), float)
        assert np.all(np.diff(y) >= 0) and 0 <= y[-1] <= 1
    fig = PR.data_profiles(tuned, traces)
    assert [a.get_title() for a in fig.axes] == [r"$\tau = 10^{-1}$", r"$\tau = 10^{-3}$",
                                                 r"$\tau = 10^{-5}$", r"$\tau = 10^{-7}$"]
    assert all(len(labelled_lines(a)) == 3 for a in fig.axes)


def test_sensitivity_marks_failed_settings(tables):
    runs, _ = tables
    sub = runs[(runs["problem"] == "quadratic")]
    fig = PR.sensitivity(sub)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_xlabel() == S.LABELS["lr"]
    gd = next(ln for ln in labelled_lines(ax) if ln.get_label().startswith("gd"))
    assert gd.get_label() == "gd (2/6 runs failed)"
    assert np.isnan(np.asarray(gd.get_ydata(), float)[-1])  # lr 2.5 diverged: no median point
    crosses = [ln for ln in ax.get_lines() if ln.get_marker() == "x"]
    assert len(crosses) == 1 and list(crosses[0].get_xdata()) == [2.5]


# -- contours and landscapes -------------------------------------------------------------
def test_contour_with_real_trajectories():
    fig = CT.contour(ob.problem("quadratic", dim=2, cond=4.0),
                     [{"optimizer": "gd", "lr": 0.5}, {"optimizer": "adam", "lr": 0.1}], 15)
    ax = fig.axes[0]
    lab = {ln.get_label(): ln for ln in labelled_lines(ax)}
    assert set(lab) == {"gd (α=0.5)", "adam (α=0.1)", "start"}
    xs = np.asarray(lab["gd (α=0.5)"].get_xdata(), float)
    np.testing.assert_allclose(xs, 0.875 ** np.arange(16), rtol=1e-12)  # (1 - 0.5·0.25)^k
    assert ax.get_xlabel() == "$x_1$" and len(ax.collections) >= 2  # filled + line contours
    fig = CT.contour("quadratic-1d", [{"optimizer": "gd", "lr": 0.1}], 10)
    assert {ln.get_label() for ln in labelled_lines(fig.axes[0])} == {"$f(x)$", "gd (α=0.1)"}
    with pytest.raises(OptbenchInputError, match="1-D or 2-D"):
        CT.contour(ob.problem("quadratic", dim=3), ["gd"], 5)


def test_landscape_figures():
    p = ob.problem("linear-net", in_dim=3, hidden=2, out_dim=3)
    x = p.x0(0)
    fig = LSP.slice_2d(p, x, n=9)
    assert len(fig.axes) == 2 and fig.axes[1].get_ylabel() == "$f$"  # colour bar
    fig = LSP.slice_1d(p, x, n=11)
    y = labelled_lines(fig.axes[0])[0].get_ydata()
    assert len(y) == 11 and y[5] == pytest.approx(p.value(x))  # α = 0 is θ itself
    fig = LSP.trajectory_pca(p, ob.optimizer("adam", lr=0.05), 60, n=9, max_points=30)
    ax = fig.axes[0]
    assert "1st PCA direction" in ax.get_xlabel() and "%" in ax.get_ylabel()
    fig = LSP.interpolation(p, x, -x, n=9)
    assert len(labelled_lines(fig.axes[0])) == 2


# -- CLI and gallery ---------------------------------------------------------------------
def test_cli_plot_and_gallery(tables, tmp_path, capsys):
    from optbench.cli import main
    from optbench.record.store import Store
    runs, traces = tables
    st = Store(tmp_path / "res")
    st.append(runs, traces)
    assert main(["plot", "sensitivity", str(tmp_path / "res"), "--out", str(tmp_path / "f"),
                 "--format", "png,svg"]) == 0
    out = capsys.readouterr().out
    files = sorted(p.name for p in (tmp_path / "f").iterdir())
    assert files == sorted(f"sensitivity_{i}.{e}" for i in ("quadratic", "quadratic-1d", "saddle")
                           for e in ("png", "svg"))
    assert "sensitivity_quadratic.png" in out
    assert main(["plot", "ecdf", str(tmp_path / "res"), "--format", "gif"]) == 2
    capsys.readouterr()
    assert main(["gallery", "--out", str(tmp_path / "g"), "--format", "png", "--only", "1"]) == 0
    err = capsys.readouterr().err  # progress: a line as the experiment starts and ends
    assert "optbench gallery: [1/1] 1. Gradient descent on x + sin x: running" in err
    assert re.search(r"\[1/1\] 1\. .*: 01_x_plus_sin_iterates, 01_x_plus_sin_curve "
                     r"\(\d+\.\d s\) \[\d+\.\d s\]", err)
    readme = (tmp_path / "g" / "README.md").read_text()
    assert "## 1. Gradient descent on x + sin x" in readme and "−π" in readme
    assert png_size(tmp_path / "g" / "01_x_plus_sin_iterates.png")[0] > 0
    from optbench.plots.gallery import EXPERIMENTS
    assert sorted(EXPERIMENTS) == list(range(1, 9))
    assert main(["gallery", "--only", "9"]) == 2


# -- legends, ticks, titles, progress -----------------------------------------------------
@pytest.fixture(scope="module")
def wide():
    """Six optimizers over a four-value lr grid on Rosenbrock: curves everywhere."""
    return ob.sweep(["rosenbrock"], ["gd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"],
                    grid={"lr": [1e-3, 1e-2, 1e-1, 1.0]}, seeds=2, steps=200)


def rendered(fig):
    """Draw ``fig`` as it is saved (paper style, Agg): layout and text sizes are final."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    with S.paper():
        FigureCanvasAgg(fig).draw()
    return fig


def drawn_points(ax, line, per_segment=12):
    """Display coordinates of what ``line`` draws inside ``ax``: its data points through
    ``ax.transData``, the corners of a step line and points along every segment."""
    x, y = (np.asarray(v, float) for v in line.get_data())
    if line.get_drawstyle() == "steps-post" and x.size > 1:
        x, y = np.insert(x, np.arange(1, x.size), x[1:]), np.insert(y, np.arange(1, y.size), y[:-1])
    P = ax.transData.transform(np.column_stack([x, y]))
    if line.get_linestyle() not in ("None", "none", "", " ") and len(P) > 1:
        t = np.linspace(0, 1, per_segment)[1:-1, None, None]
        P = np.vstack([P, (P[:-1] + t * (P[1:] - P[:-1])).reshape(-1, 2)])
    P = P[np.all(np.isfinite(P), axis=1)]
    box = ax.get_window_extent()
    return P[(P[:, 0] >= box.x0) & (P[:, 0] <= box.x1) & (P[:, 1] >= box.y0) & (P[:, 1] <= box.y1)]


def covered(fig):
    """{line label: points under a legend}, after checking every legend lies in the figure."""
    rendered(fig)
    legends = list(fig.legends) + [a.get_legend() for a in fig.axes if a.get_legend()]
    assert legends
    hits = {}
    for leg in legends:
        bb = leg.get_window_extent()
        assert bb.x0 >= -1 and bb.y0 >= -1 and bb.x1 <= fig.bbox.x1 + 1 and bb.y1 <= fig.bbox.y1 + 1
        for ax in fig.axes:
            for ln in ax.get_lines():
                P = drawn_points(ax, ln)
                n = int(((P[:, 0] >= bb.x0) & (P[:, 0] <= bb.x1) & (P[:, 1] >= bb.y0)
                         & (P[:, 1] <= bb.y1)).sum())
                if n:
                    hits[ln.get_label()] = hits.get(ln.get_label(), 0) + n
    return hits


def test_drawn_points_sees_a_line_under_an_inside_legend():
    fig, ax = S.figure("column")
    ax.plot([0, 1], [0, 1], label="diagonal")
    ax.plot([0, 1], [0.5, 0.5], label="flat")
    ax.legend(loc="center")  # on top of both lines
    assert set(covered(fig)) == {"diagonal", "flat"}


def test_legends_cover_no_data(tables, wide):
    runs, traces = tables
    tuned = LP.select_best(runs, criterion="final_f")
    wruns, wtraces = wide
    wtuned = LP.select_best(wruns, criterion="final_f")
    with pytest.warns(UserWarning):
        figs = {"performance profile": PR.performance_profile(tuned, target=1e-3),
                "ecdf": PR.ecdf(tuned)}
    figs.update({"data profiles": PR.data_profiles(tuned, traces),
                 "sensitivity": PR.sensitivity(wruns),
                 "convergence": CV.convergence(tuned, traces, instance="quadratic"),
                 "convergence (wide)": CV.convergence(wtuned, wtraces),
                 "escape": CV.escape(tuned, traces, instance="saddle")})
    for name, fig in figs.items():
        assert covered(fig) == {}, name


def test_log_ticks_label_at_least_three_values_in_any_range():
    fig, axes = S.figure("double", nrows=3, ncols=3)  # small panels, as convergence_all
    spans = [(20.0, 60.0), (0.5, 3.0), (1e-16, 1.0), (1e-3, 1e3), (2e-9, 5e-9), (1.0, 1e200),
             (0.9, 1.1), (1e-5, 1e-4), (3e1, 2e2)]
    for ax, (lo, hi) in zip(axes.ravel(), spans):
        ax.plot([1, 2], [lo, hi])
        ax.set_yscale("log")
        S.log_ticks(ax.yaxis)
        ax.set_ylim(lo, hi)
    rendered(fig)
    for ax, (lo, hi) in zip(axes.ravel(), spans):
        assert len(labelled_ticks(ax.yaxis)) >= 3, (lo, hi, labelled_ticks(ax.yaxis))


def labelled_ticks(axis):
    lo, hi = sorted(axis.get_view_interval())
    return [(t.get_loc(), t.label1.get_text()) for t in axis.get_major_ticks()
            if lo * (1 - 1e-9) <= t.get_loc() <= hi * (1 + 1e-9) and t.label1.get_visible()
            and t.label1.get_text()]


def test_convergence_all_panels_have_three_labelled_y_ticks(tables, wide):
    import pandas as pd
    runs, traces = tables
    wruns, wtraces = wide
    # a tiny step: f - f* stays within a few per cent (no decade inside the view)
    nruns, ntraces = ob.sweep([ob.problem("quadratic", dim=3, cond=2.0)], ["gd"],
                              grid={"lr": [1e-4]}, seeds=2, steps=100)
    both = pd.concat([runs, wruns, nruns], ignore_index=True)
    tuned = LP.select_best(both, criterion="final_f")
    insts = [i for i in sorted(with_labels(tuned)["instance"].unique()) if i != "saddle"]
    assert len(insts) == 4
    fig = rendered(CV.convergence_grid(tuned, pd.concat([traces, wtraces, ntraces]),
                                       instances=(insts * 3)[:9]))
    panels = [a for a in fig.axes if a.get_visible()]
    assert len(panels) == 9 and all(a.get_yscale() == "log" for a in panels)
    for ax in panels:
        assert len(labelled_ticks(ax.yaxis)) >= 3, (ax.get_title(), labelled_ticks(ax.yaxis))


def test_convergence_titles_name_the_learning_rates_and_the_aggregation(tables):
    runs, traces = tables
    tuned = LP.select_best(runs, criterion="final_f")
    q = tuned[tuned["problem"] == "quadratic"]
    lrs = {s: float(g["lr"].iloc[0]) for s, g in q.groupby("solver")}
    assert len(lrs) == 3 and all(q.groupby("solver")["lr"].nunique() == 1)
    seeds = q["seed"].nunique()
    title = CV.convergence(tuned, traces, instance="quadratic",
                           tuned="final f").axes[0].get_title().replace("\n", " ")
    assert title.startswith("quadratic ")
    assert "best α per optimizer (final f): " + ", ".join(f"{s} {lrs[s]:g}" for s in sorted(lrs)) \
        in title
    assert f"median over {seeds} seeds, shaded 25–75 %" in title
    # settings that differ in lr: their labels say it, the title says how seeds combine
    sub = runs[(runs["problem"] == "quadratic") & (runs["optimizer"] == "gd")]
    title = CV.convergence(sub, traces).axes[0].get_title().replace("\n", " ")
    assert "α" not in title and f"median over {seeds} seeds" in title
    # pooled settings are said to be pooled, and the count is of runs
    n = len(sub)
    title = CV.convergence(sub, traces, solver="optimizer", band=False).axes[0].get_title()
    assert f"gd {sub['lr'].nunique()} values pooled" in title.replace("\n", " ")
    assert f"median over {n} runs" in title.replace("\n", " ") and "shaded" not in title
    fig = CV.convergence_grid(tuned, traces)
    for ax in fig.axes[:3]:
        inst = ax.get_title().split("\n")[0]
        want = {s: float(g["lr"].iloc[0]) for s, g in
                with_labels(tuned).query("instance == @inst").groupby("solver")}
        text = ax.get_title().replace("\n", " ")
        assert "α: " + ", ".join(f"{s} {want[s]:g}" for s in sorted(want)) in text
        assert f"median over {seeds} seeds" in text


def test_report_progress_one_line_per_figure_and_contours_opt_in(tables, tmp_path, capsys,
                                                                  monkeypatch):
    from optbench.cli import main
    from optbench.record.store import Store
    runs, traces = tables
    Store(tmp_path / "res").append(runs, traces)

    def no_trajectories(*a, **k):
        raise AssertionError("the report re-ran trajectories without --contours")
    monkeypatch.setattr(CT, "trajectories", no_trajectories)
    assert main(["report", str(tmp_path / "res"), "--out", str(tmp_path / "rep"),
                 "--format", "png"]) == 0
    err = capsys.readouterr().err.splitlines()
    figs = sorted(p.stem for p in (tmp_path / "rep" / "figures").glob("*.png"))
    lines = [ln for ln in err if ln.startswith("optbench report: [")]
    assert len(lines) == len(figs) >= 8
    assert all(re.fullmatch(r"optbench report: \[\d+/\d+\] \S.* \(\d+\.\d s\) \[\d+\.\d s\]", ln)
               for ln in lines), lines
    assert [int(re.search(r"\[(\d+)/", ln).group(1)) for ln in lines] == list(range(1, len(figs) + 1))
    assert any("index.html written" in ln for ln in err)
    page = (tmp_path / "rep" / "index.html").read_text()
    assert "--contours" in page and not any(f.startswith("contour_") for f in figs)


def test_optimizers_of_one_figure_never_share_colour_and_marker():
    """Regression: lbfgs and steepest-descent hashed to the same colour and marker, so the
    bbob ECDF showed two identical curves' styles."""
    from optbench.plots import style as S

    names = ["adam", "lbfgs", "steepest-descent", "nonlinear-cg", "lion", "adan", "yogi",
             "adabelief", "adopt", "ademamix", "madgrad", "prodigy", "mars", "lars",
             "novograd", "dadapt-adam", "newton", "damped-newton"]
    st = S.styles(names)
    pairs = [(st[n]["color"], st[n]["marker"]) for n in names]
    assert len(set(pairs)) == len(names)
    assert st["adam"] == S.styles(["adam", "lbfgs"])["adam"]   # fixed names keep their look
