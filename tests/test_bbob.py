"""COCO's bbob functions (problem ``bbob``): every function that ``problems.bbob.functions()``
defines is checked here, so functions added later are covered without editing this file.

* values equal ``cocoex``'s (COCO's own C code) to 1e-12 relative (to max(1, |f|)) at 1,020
  random points per (function, dimension): 68 per instance 1–15, in [−5, 5]^d and a few
  three times further out (boundary penalties, f5's flat faces), COCO's six dimensions; f at
  ``x_star`` equals ``f_star`` (fopt) — needs cocoex, skipped with the reason otherwise;
* the analytic gradient (FG, compiled for the CPU) against central finite differences of
  VALUE, and FG's value against VALUE; the HVP against finite differences of the gradient;
* one short ``ob.run`` with adam per function; bad input (function 0 and 25, instance 0, dim
  1, a dim above the function's ``max_dim``, an unknown parameter) is one line before any
  compilation, and exit code 2 on the command line;
* FG, VALUE and HVP of every function compile for CUDA on numba's simulator and agree with
  the CPU kernels (a subprocess: NUMBA_ENABLE_CUDASIM must be set before numba is imported).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import cuda_mode

import optbench as ob
from optbench import OptbenchInputError
from optbench.problems.bbob import COCO_DIMS, functions

FUNCS = sorted(functions())
RTOL = 1e-12
POINTS_PER_INSTANCE = 68        # × 15 instances = 1,020 points per (function, dimension)


def _bbob(k, d, instance=1):
    return ob.problem("bbob", function=k, instance=instance, dim=d)


# ---------------------------------------------------------------- values against COCO
@pytest.mark.parametrize("k", FUNCS)
def test_values_equal_cocoex(k):
    cocoex = pytest.importorskip("cocoex", reason="cocoex (coco-experiment) not installed")
    suite = cocoex.Suite("bbob", "instances: 1-15",
                         f"dimensions: {','.join(map(str, COCO_DIMS))} function_indices: {k}")
    rng = np.random.default_rng(1000 + k)
    worst = 0.0
    assert (functions()[k].max_dim or 40) >= 40          # COCO defines its six dimensions
    for d in COCO_DIMS:
        for inst in range(1, 16):
            p = _bbob(k, d, inst)
            value = p.cpu_kernels()[1]
            ref = suite.get_problem_by_function_dimension_instance(k, d, inst)
            X = rng.uniform(-5.0, 5.0, (POINTS_PER_INSTANCE, d))
            X[:4] *= 3.0                                  # outside the region of interest
            ours = np.array([value(x, p.data, p.idata) for x in X])
            theirs = np.array([ref(x) for x in X])
            err = np.abs(ours - theirs) / np.maximum(1.0, np.abs(theirs))
            worst = max(worst, float(err.max()))
            assert err.max() <= RTOL, (k, d, inst, X[err.argmax()], ours[err.argmax()],
                                       theirs[err.argmax()])
            fx = value(p.x_star, p.data, p.idata)
            assert abs(fx - p.f_star) <= RTOL * max(1.0, abs(p.f_star)), (k, d, inst, fx)
            assert p.f_star == pytest.approx(ref(p.x_star), rel=RTOL, abs=RTOL)
    print(f"f{k}: max relative error against cocoex {worst:.1e}")


# ---------------------------------------------------------------- derivatives
def _sample(p, rng, n):
    """Random points in [−4.5, 4.5]^d, the last one partly outside [−5, 5]^d."""
    X = rng.uniform(-4.5, 4.5, (n, p.dim))
    X[-1] *= 1.6
    return X


# Finite-difference steps and tolerance (relative to max(1, max |analytic|)): an entry agrees
# if one of the steps agrees (Weierstrass's 3^11 frequency and Griewank–Rosenbrock's cos of
# a quartic need steps far below 1e-6). Katsuura's kinks lie every 2^-33 ≈ 1.2e-10 in z, so its
# steps are below that, where rounding leaves about 1e-3 of the gradient.
FD_GRAD = ((1e-6, 1e-7, 1e-8, 1e-9), 1e-5)
FD_HVP = ((1e-5, 1e-6, 1e-7, 1e-8, 1e-9), 1e-4)
FD_SPECIAL = {23: (((1e-12, 1e-13), 3e-2), ((1e-13,), 3e-2))}


def _agrees(diff, analytic, steps, tol):
    """Entries where some step's central difference ``diff(h)`` matches ``analytic``."""
    scale = tol * max(1.0, float(np.abs(analytic).max()))
    ok = np.zeros(analytic.shape, bool)
    for h in steps:
        ok |= np.abs(diff(h) - analytic) <= scale
    return ok


@pytest.mark.parametrize("k", FUNCS)
def test_gradient_and_hvp_against_finite_differences(k):
    """Central differences of VALUE (∇f) and of FG along v (HVP) at random points of d = 2, 5,
    20 and two instances; a non-smooth function may have a kink or step between x ± h in
    some coordinates, so for those 95 % of the checked entries must agree, all otherwise."""
    fn = functions()[k]
    (gsteps, gtol), (hsteps, htol) = FD_SPECIAL.get(k, (FD_GRAD, FD_HVP))
    rng = np.random.default_rng(k)
    good = total = 0
    for d in (2, 5, 20):
        for inst in (1, 6):
            p = _bbob(k, d, inst)
            fg, value, hvp = p.cpu_kernels()

            def grad(y):
                g = np.empty(d)
                fg(y, g, p.data, p.idata, 0, 0)
                return g

            for x in _sample(p, rng, 4):
                g = np.empty(d)
                f = fg(x, g, p.data, p.idata, 0, 0)
                assert f == pytest.approx(value(x, p.data, p.idata), rel=1e-13, abs=1e-13)
                assert np.all(np.isfinite(g))
                E = np.eye(d)

                def fd(h):
                    return np.array([(value(x + h * e, p.data, p.idata)
                                      - value(x - h * e, p.data, p.idata)) / (2 * h) for e in E])

                ok = _agrees(fd, g, gsteps, gtol)
                good, total = good + int(ok.sum()), total + d
                assert ok.all() or not fn.smooth, (k, d, inst, x, g, fd(gsteps[0]))
                if hvp is None:
                    continue
                v = rng.standard_normal(d)
                hv = np.empty(d)
                hvp(x, v, hv, p.data, p.idata)
                ok = _agrees(lambda s: (grad(x + s * v) - grad(x - s * v)) / (2 * s), hv,
                             hsteps, htol)
                good, total = good + int(ok.sum()), total + d
                assert ok.all() or not fn.smooth, (k, d, inst, x, v, hv)
    assert good >= 0.95 * total, (k, good, total)


@pytest.mark.parametrize("k", FUNCS)
def test_gradient_at_the_optimum_is_finite(k):
    """At x_opt (T_osz's and the cones' non-differentiable point) FG is finite, and 0 for
    the functions whose optimum is a stationary point or a documented kink."""
    p = _bbob(k, 5, 2)
    f, g = p.value_and_grad(p.x_star)
    assert f == pytest.approx(p.f_star, abs=1e-12)
    assert np.all(np.isfinite(g))
    if p.HVP is not None:
        assert np.all(np.isfinite(p.hvp(p.x_star, np.ones(5))))


@pytest.mark.parametrize("k", [k for k in FUNCS if functions()[k].max_dim is None])
def test_functions_without_rotation_have_no_dimension_cap(k):
    p = _bbob(k, 100, 4)
    assert p.value(p.x_star) == pytest.approx(p.f_star, abs=1e-12)
    assert np.all(np.isfinite(p.grad(np.zeros(100))))


@pytest.mark.parametrize("k", FUNCS)
def test_short_adam_run(k):
    p = _bbob(k, 3, 1)
    r = ob.run(p, "adam", steps=20, seed=1, stop="budget")
    assert r.status == "budget" and r.nit == 20, r
    assert np.isfinite(r.fun) and np.all(np.isfinite(r.x))
    assert r.fun >= p.f_star - 1e-12


# ---------------------------------------------------------------- bad input
ROTATED = next(k for k in FUNCS if functions()[k].max_dim is not None)


@pytest.mark.parametrize("params, words", [
    (dict(function=0), ["problem bbob.function", ">= 1"]),
    (dict(function=25), ["problem bbob.function", "<= 24"]),
    (dict(instance=0), ["problem bbob.instance", ">= 1"]),
    (dict(dim=1), ["problem bbob.dim", ">= 2"]),
    (dict(function=ROTATED, dim=45), ["dim <= 44", "got 45"]),
    (dict(functon=3), ["unknown parameter 'functon'", "function"]),
])
def test_bad_input_is_one_line(params, words):
    with pytest.raises(OptbenchInputError) as e:
        ob.problem("bbob", **params)
    msg = str(e.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg, (w, msg)


def test_cli_refuses_function_25_with_exit_2(tmp_path, capsys):
    from optbench.cli import main

    suite = tmp_path / "s.toml"
    suite.write_text('name = "s"\nsteps = 5\n[[problems]]\nproblem = "bbob"\nfunction = 25\n'
                     'dim = 2\n[[optimizers]]\noptimizer = "adam"\n')
    out = tmp_path / "out"
    code = main(["run", str(suite), "--out", str(out), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and err.startswith("optbench: error: "), (code, err)
    assert "bbob.function" in err and not out.exists()


# ---------------------------------------------------------------- CUDA (simulator)
def _cuda_case(k):
    """f_k (instance 3, d = 3) and the point and direction its kernels are checked at."""
    p = ob.problem("bbob", function=k, instance=3, dim=3)
    rng = np.random.default_rng(k)
    return p, rng.uniform(-4, 4, 3), rng.standard_normal(3)


# The simulator interprets the kernels in Python (no compilation): the subprocess reads the
# points, prints the device results only; the parent compares them with its CPU kernels.
CUDASIM = cuda_mode.CHECK + textwrap.dedent(r"""
    import json, os
    import numpy as np
    from numba import cuda
    from optbench.kernels import compile as kc
    import optbench as ob

    out = {}
    for k, (x, v) in json.loads(input()).items():
        p = ob.problem("bbob", function=int(k), instance=3, dim=3)
        x, v = np.array(x), np.array(v)
        fg_d, val_d = kc.cuda_device(p.FG), kc.cuda_device(p.VALUE)

        @cuda.jit
        def k_fg(x, g, data, idata, fo):
            if cuda.grid(1) == 0:
                fo[0] = fg_d(x, g, data, idata, 0, 0)
                fo[1] = val_d(x, data, idata)

        gd, fo = np.zeros(3), np.zeros(2)
        k_fg[1, 1](x, gd, p.data.copy(), p.idata, fo)
        dev = fo.tolist() + gd.tolist()
        if p.HVP is not None:
            hvp_d = kc.cuda_device(p.HVP)

            @cuda.jit
            def k_hvp(x, v, o, data, idata):
                if cuda.grid(1) == 0:
                    hvp_d(x, v, o, data, idata)

            od = np.zeros(3)
            k_hvp[1, 1](x, v, od, p.data.copy(), p.idata)
            dev += od.tolist()
        out[k] = dev
    print(json.dumps(out))
""")


def test_kernels_compile_for_cuda_on_the_simulator():
    points = {k: [a.tolist() for a in _cuda_case(k)[1:]] for k in FUNCS}
    r = subprocess.run([sys.executable, "-c", CUDASIM], input=json.dumps(points) + "\n",
                       capture_output=True, text=True, timeout=600,
                       env=cuda_mode.env())
    assert r.returncode == 0, r.stderr[-3000:]
    dev = json.loads(r.stdout.strip().splitlines()[-1])
    assert sorted(map(int, dev)) == FUNCS
    for k in FUNCS:
        p, x, v = _cuda_case(k)
        fg, value, hvp = p.cpu_kernels()
        g = np.zeros(3)
        cpu = [fg(x, g, p.data, p.idata, 0, 0), value(x, p.data, p.idata)] + g.tolist()
        if hvp is not None:
            o = np.zeros(3)
            hvp(x, v, o, p.data, p.idata)
            cpu += o.tolist()
        np.testing.assert_allclose(dev[str(k)], cpu, rtol=1e-12, atol=1e-300, err_msg=f"f{k}")
