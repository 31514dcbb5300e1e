"""``optbench gallery``: the classic textbook experiments (docs/reference.md), re-run with the
real compiled optimizers and re-drawn, with captions whose numbers come from the runs.

1. Gradient descent on x + sin x from x0 = 2.5, α = 1, 0.1, 0.01: it creeps towards the flat
   inflection point −π (no oscillation between two points).
2. x² − 25 sin x from several starts: gradient descent stops in the local minimum of its basin.
3. The saddle x² − y² with GD, momentum, Adam (and Newton once it exists).
4. An ill-conditioned quadratic, axis-aligned vs rotated, GD/heavy ball at the theory tuning
   and Adam (not rotation-invariant), with the theory rates.
5. Adagrad vs RMSprop vs Adam on Rosenbrock and Beale.
6. Learning rate too small / right / too large on one quadratic, and the sensitivity curve.
7. Vanishing gradients with depth (needs an ``mlp`` problem) and 8. Newton vs saddle-free
   Newton near high-index saddles (needs ``newton``): skipped with a note until they exist.
Cost: a few seconds of runs per experiment plus drawing.
"""
from __future__ import annotations

import html
import math
import time
from pathlib import Path

import numpy as np

import optbench as ob
from optbench import optimizers as O
from optbench import problems as P
from optbench.analysis import theory
from optbench.analysis.trajectory import as_array, trajectory
from optbench.runner.spec import canonical_json
from optbench.validate import OptbenchInputError

from . import contour as CT
from . import convergence as CV
from . import profiles as PR
from . import style as S


def _e1():
    prob = ob.problem("x-plus-sin")
    trajs = CT.trajectories(prob, [{"optimizer": "gd", "lr": a} for a in (1.0, 0.1, 0.01)], 2000)
    parts = []
    for lab, t in trajs.items():
        X = as_array(t)[:, 0]
        near = np.nonzero(np.abs(X + math.pi) < 1e-2)[0]
        when = f"within 0.01 of −π after {int(t['step'].iloc[near[0]])} steps" if near.size \
            else f"still {abs(X[-1] + math.pi):.2f} short of −π"
        parts.append(f"{lab}: x₂₀₀₀ = {X[-1]:.4f}, {when}")
    cap = ("Gradient descent on f(x) = x + sin x from x₀ = 2.5: f′ = 1 + cos x ≥ 0, so every "
           "step moves left, towards the flat inflection point −π, and nothing oscillates. "
           + "; ".join(parts) + ".")
    figs = {"01_x_plus_sin_iterates": CT.iterates(trajs, reference={"$-\\pi$": -math.pi},
                                                  title="$x + \\sin x$: iterates"),
            "01_x_plus_sin_curve": CT.curve(prob, None, 2000, trajs=trajs,
                                            title="$x + \\sin x$: iterates on $f$")}
    return figs, cap


def _e2():
    prob = ob.problem("x2-minus-25sin")
    gd = {"optimizer": "gd", "lr": 0.01}
    trajs = {f"start {v:g}": trajectory(prob, gd, 500, x0=[v]) for v in (-8.0, -4.0, -1.0, 3.0, 8.0)}
    ends = "; ".join(f"{k} → x = {as_array(t)[-1, 0]:.3f}, f = {t['f'].iloc[-1]:.2f}"
                     for k, t in trajs.items())
    cap = (f"Gradient descent (α = 0.01, 500 steps) on f(x) = x² − 25 sin x from five starts; "
           f"the global minimum is f* = {prob.f_star:.2f}. {ends}. Starts in another basin stop "
           "at a local minimum.")
    return {"02_x2_minus_25sin": CT.curve(prob, None, 500, trajs=trajs,
                                          title="$x^2 - 25\\sin x$, gradient descent")}, cap


def _e3():
    prob = ob.problem("saddle")
    opts = [{"optimizer": "gd", "lr": 0.1}, {"optimizer": "momentum", "lr": 0.05},
            {"optimizer": "adam", "lr": 0.05}]
    note = ""
    if "newton" in O.names():
        opts.append({"optimizer": "newton"})
        note = (" Newton's step −H⁻¹∇f lands exactly on the saddle (a critical point of any "
                "index attracts it).")
    else:
        note = " Newton is not in the optimizer registry yet: drawn once it lands."
    trajs = CT.trajectories(prob, opts, 40)
    runs, traces = ob.sweep([prob], opts, steps=40, stop="budget", record="every:1")
    cap = ("The saddle f = x² − y² from (1, 10⁻³), close to its stable manifold: the iterates "
           "first approach the saddle, then escape along y as the tiny y-component grows "
           "geometrically (GD: by 1 + 2α per step)." + note)
    return {"03_saddle_contour": CT.contour(prob, None, 40, trajs=trajs, bounds=((-1.2, 1.2), (-1.2, 1.2)),
                                            title="$x^2 - y^2$: trajectories"),
            "03_saddle_escape": CV.escape(runs, traces, solver="optimizer")}, cap


def _e4():
    figs, lines = {}, []
    L, mu = 1.0, 1.0 / 25
    opts = [theory.tuned("gd", L, mu), theory.tuned("momentum", L, mu),
            {"optimizer": "adam", "lr": 0.05}]
    probs = {"aligned": ob.problem("quadratic", dim=2, cond=25.0, rotation="none"),
             "rotated": ob.problem("quadratic", dim=2, cond=25.0, rotation="haar", seed=3)}
    for k, p in probs.items():
        figs[f"04_quadratic_{k}"] = CT.contour(p, opts, 60, bounds=((-1.2, 1.2), (-1.2, 1.2)),
                                               title=f"$\\kappa = 25$, {k}")
    runs, traces = ob.sweep(list(probs.values()), opts, steps=200, stop="budget")
    figs["04_quadratic_convergence"] = CV.convergence_grid(runs, traces, solver="optimizer",
                                                           ncols=2, theory=True, y="dist_to_opt")
    for k, p in probs.items():
        r = runs[runs["problem_params"] == canonical_json(p.spec)]
        lines.append(k + ": " + ", ".join(f"{o} ends at ‖x − x*‖ = {d:.1e}" for o, d in
                                           zip(r["optimizer"], r["dist_to_opt"])))
    cap = (f"f = ½xᵀAx with κ = 25: GD at α = 2/(L+μ) (rate {theory.gd_rate(25):.3f}), heavy "
           f"ball at its tuning (rate {theory.heavy_ball_rate(25):.3f}), Adam (α = 0.05). GD "
           "and heavy ball are rotation-invariant, Adam is not. " + "; ".join(lines) + ".")
    return figs, cap


def _e5():
    opts = [{"optimizer": "adagrad", "lr": 0.5}, {"optimizer": "rmsprop", "lr": 0.01},
            {"optimizer": "adam", "lr": 0.05}]
    figs, lines = {}, []
    for name in ("rosenbrock", "beale"):
        p = ob.problem(name)
        trajs = CT.trajectories(p, opts, 3000)
        figs[f"05_{name}"] = CT.contour(p, None, 3000, trajs=trajs, title=f"{name}, 3000 steps")
        lines.append(name + ": " + ", ".join(f"{k} ends at f = {t['f'].iloc[-1]:.1e}"
                                             for k, t in trajs.items()))
    cap = "Adagrad vs RMSprop vs Adam, 3000 steps. " + "; ".join(lines) + "."
    return figs, cap


def _e6():
    p = ob.problem("quadratic", dim=2, cond=10.0)
    right = 2.0 / (1.0 + 0.1)
    lrs = {"too small": 0.05, "right": right, "too large": 2.05}
    opts = [{"optimizer": "gd", "lr": v} for v in lrs.values()]
    trajs = CT.trajectories(p, opts, 30)
    runs, traces = ob.sweep([p], opts, steps=100, stop="budget")
    grid_runs, _ = ob.sweep([p], ["gd"], grid={"lr": np.geomspace(1e-3, 3.0, 19)}, steps=100,
                            stop="budget")
    fin = dict(zip(runs["lr"], runs["fun"]))
    cap = (f"Gradient descent on a κ = 10 quadratic (L = 1): α = 0.05 (too small: f = "
           f"{fin[0.05]:.1e} after 100 steps), α = 2/(L+μ) = {right:.3f} (right: f = "
           f"{fin[right]:.1e}), α = 2.05 > 2/L (too large: the top eigen-component grows by "
           f"|1 − αL| = 1.05 per step, f = {fin[2.05]:.1e}). The sensitivity curve "
           "shows the final f − f* after 100 steps over a log grid of α; × marks divergence.")
    return {"06_lr_contour": CT.contour(p, None, 30, trajs=trajs, title="too small / right / too large"),
            "06_lr_convergence": CV.convergence(runs, traces, theory=True, title=False),
            "06_lr_sensitivity": PR.sensitivity(grid_runs)}, cap


def _e7():
    if "mlp" not in P.names():
        return None, "skipped: no MLP problem in the zoo yet (the MLP issue)"
    rows = {}
    for act in ("sigmoid", "relu"):
        for depth in (2, 5, 10):
            norms = []
            for seed in range(5):
                p = ob.problem("mlp", depth=depth, width=16, activation=act)
                m = p.metrics(p.x0(seed))
                norms.append([m[f"grad_norm_layer{k + 1}"] for k in range(depth + 1)])
            rows[f"{act}, depth {depth}"] = np.median(np.array(norms), axis=0)
    fig, ax = S.figure("column")
    with S.paper():
        for k, (lab, v) in enumerate(rows.items()):
            ax.plot(np.arange(1, v.size + 1), v, marker="os^"[k % 3],
                    linestyle="-" if lab.startswith("sigmoid") else "--",
                    color=S.LINE_COLOURS[k % len(S.LINE_COLOURS)], label=lab)
        ax.set_yscale("log")
        ax.set_xlabel("layer $l$ (1 = first hidden layer)")
        ax.set_ylabel(r"$\|\nabla_{W_l, b_l} f\|$ at initialisation")
        ax.legend(loc="best", fontsize=6, ncols=2)
    s10, r10 = rows["sigmoid, depth 10"], rows["relu, depth 10"]
    cap = ("Per-layer gradient norms of a width-16 MLP (teacher data, Xavier initialisation, "
           "median of 5 seeds) at initialisation. With sigmoid the first layer of the depth-10 "
           f"net gets {s10[0] / s10[-1]:.1e} times the gradient of the last; with ReLU "
           f"{r10[0] / r10[-1]:.1e} times.")
    return {"07_layer_gradients": fig}, cap


def _e8():
    if "saddle-free-newton" not in O.names() or "newton" not in O.names():
        return None, "skipped: no newton / saddle-free Newton optimizer yet (the second-order issue)"
    p = ob.problem("double-well", dim=10, near_index=5, near_radius=1e-2)
    opts = ["newton", "saddle-free-newton", {"optimizer": "gd", "lr": 0.1}]
    runs, traces = ob.sweep([p], opts, steps=60, seeds=3, stop="budget", record="every:1")
    fin = runs.groupby("optimizer")["fun"].median()
    fig = CV.convergence(runs, traces, y="f", x="step", solver="optimizer", title=False)
    fig.axes[0].axhline(5 / 4, color="0.4", linestyle="--", linewidth=0.7)
    cap = ("Double-well sum in d = 10 started within 10⁻² of a critical point of index 5 "
           "(f = 5/4, dashed), 3 seeds. Newton is attracted by the saddle (median final f = "
           f"{fin['newton']:.3g}); saddle-free Newton, stepping with |H|⁻¹, escapes to a "
           f"minimum (f = {fin['saddle-free-newton']:.2g}); GD (α = 0.1) escapes slowly "
           f"(f = {fin['gd']:.3g} after 60 steps).")
    return {"08_newton_vs_sfn": fig}, cap


EXPERIMENTS = {1: ("Gradient descent on x + sin x", _e1), 2: ("Local minima of x² − 25 sin x", _e2),
               3: ("The saddle x² − y²", _e3), 4: ("Ill-conditioned quadratic, aligned vs rotated", _e4),
               5: ("Adagrad, RMSprop, Adam on Rosenbrock and Beale", _e5),
               6: ("Learning rate too small, right, too large", _e6),
               7: ("Vanishing gradients with depth", _e7),
               8: ("Newton vs saddle-free Newton near saddles", _e8)}


def gallery(out="results/gallery", formats=None, only=None, progress=None) -> Path:
    """Run and draw the experiments (all, or ``only`` some numbers); writes figures,
    ``README.md`` and ``index.html`` in ``out``; returns the folder. ``progress``: a
    callable that gets a line as each experiment starts and ends (None: silent)."""
    out = Path(out)
    fm = S.parse_formats(formats)
    which = sorted(EXPERIMENTS) if only is None else sorted(set(only))
    bad = [k for k in which if k not in EXPERIMENTS]
    if bad:
        raise OptbenchInputError(f"gallery experiments are 1–8, got {bad}")
    say = progress or (lambda line: None)
    t0 = time.perf_counter()
    md = ["# optbench gallery", ""]
    page = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
            '<link rel="icon" href="data:,"><title>optbench gallery</title></head><body>',
            "<h1>optbench gallery</h1>"]
    img = "png" if "png" in fm else ("svg" if "svg" in fm else None)
    for n, k in enumerate(which, 1):
        title, fn = EXPERIMENTS[k]
        head = f"[{n}/{len(which)}] {k}. {title}"
        say(f"{head}: running [{time.perf_counter() - t0:.1f} s]")
        t = time.perf_counter()
        figs, cap = fn()
        md += [f"## {k}. {title}", "", cap, ""]
        page.append(f"<h2>{k}. {html.escape(title)}</h2><p>{html.escape(cap)}</p>")
        if figs is None:
            say(f"{head}: {cap} [{time.perf_counter() - t0:.1f} s]")
            continue
        for name, fig in figs.items():
            S.save(fig, out / name, fm)
            if img:
                md.append(f"![{name}]({name}.{img})")
                page.append(f'<img src="{name}.{img}" alt="{html.escape(name)}" width="480">')
        md.append("")
        say(f"{head}: {', '.join(figs)} ({time.perf_counter() - t:.1f} s) "
            f"[{time.perf_counter() - t0:.1f} s]")
    out.mkdir(parents=True, exist_ok=True)
    (out / "README.md").write_text("\n".join(md) + "\n")
    (out / "index.html").write_text("\n".join(page + ["</body></html>"]) + "\n")
    return out
