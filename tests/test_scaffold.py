"""``optbench new optimizer|problem NAME``: the generated files work, their generated tests
pass (and fail when the kernel is wrong), and the two run together through the API."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from optbench import scaffold
from optbench.cli import main

ROOT = Path(__file__).resolve().parents[1]


def _pytest(folder, *args):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-p", "no:xdist", *args], cwd=folder, env=env, capture_output=True,
                          text=True, timeout=600)


def test_generated_files_pass_their_tests_and_run_together(tmp_path, capsys):
    assert main(["new", "problem", "my-valley", "--dir", str(tmp_path)]) == 0
    assert main(["new", "optimizer", "my-heavy-ball", "--dir", str(tmp_path)]) == 0
    said = capsys.readouterr().out
    assert "wrote" in said and "test_my_valley.py" in said
    names = {p.name for p in tmp_path.iterdir()}
    assert {"my_valley.py", "test_my_valley.py", "my_heavy_ball.py",
            "test_my_heavy_ball.py"} <= names
    src = (tmp_path / "my_heavy_ball.py").read_text()
    assert 'name = "my-heavy-ball"' in src and "class MyHeavyBall(Optimizer)" in src
    # the generated optimizer on the generated problem, through the API (importing the files)
    (tmp_path / "test_together.py").write_text(textwrap.dedent('''
        import optbench as ob
        import my_heavy_ball, my_valley  # noqa: F401

        def test_together():
            p = ob.problem("my-valley", dim=20, c=2.0)
            res = ob.run(p, ob.optimizer("my-heavy-ball", lr=0.5, beta=0.5), steps=2000,
                         targets=[1e-2, 1e-6])
            assert res.status == "converged" and res.fun < 1e-6
            runs, _ = ob.sweep(problems=[p], optimizers=["my-heavy-ball"],
                               grid={"lr": [0.1, 0.5]}, seeds=[0], steps=500)
            assert len(runs) == 2 and set(runs["optimizer"]) == {"my-heavy-ball"}
    '''))
    r = _pytest(tmp_path)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "7 passed" in r.stdout               # problem 3, optimizer 3, together 1
    # the generated tests can fail: a wrong gradient and a reference out of step are caught
    f = tmp_path / "my_valley.py"
    f.write_text(f.read_text().replace("2.0 * xi / (c * c", "2.1 * xi / (c * c"))
    o = tmp_path / "my_heavy_ball.py"
    o.write_text(o.read_text().replace("x[i] -= sc[SC.lr] * m", "x[i] -= sc[SC.lr] * gi"))
    r = _pytest(tmp_path, "test_my_valley.py", "test_my_heavy_ball.py")
    assert r.returncode == 1
    assert "test_gradient_and_hvp_match_finite_differences" in r.stdout
    assert "test_matches_numpy_reference" in r.stdout


@pytest.mark.parametrize("kind,name,msg", [
    ("optimizer", "adam", "taken by a built-in optimizer"),
    ("problem", "rosenbrock", "taken by a built-in problem"),
    ("problem", "My-Prob", "is not valid"),
    ("optimizer", "9lives", "is not valid"),
    ("optimizer", "a/b", "is not valid"),
    ("optimizer", "lambda", "Python keyword"),
])
def test_bad_names(kind, name, msg, tmp_path, capsys):
    assert main(["new", kind, name, "--dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert msg in err and "\n" not in err
    assert not list(tmp_path.iterdir())


def test_never_overwrites(tmp_path, capsys):
    (tmp_path / "test_mine.py").write_text("keep")
    assert main(["new", "problem", "mine", "--dir", str(tmp_path)]) == 2
    assert "exists; not overwriting" in capsys.readouterr().err
    assert (tmp_path / "test_mine.py").read_text() == "keep"
    assert not (tmp_path / "mine.py").exists()


def test_render_fills_every_placeholder():
    for kind in scaffold.KINDS:
        for text in scaffold.render(kind, "x-y"):
            assert "{{" not in text and "x_y" in text
            compile(text, "<generated>", "exec")
