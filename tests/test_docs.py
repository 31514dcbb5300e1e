"""The pages in docs/ are true: their code runs, their links resolve, and no shipped file
points at documents users do not have.

Rule for code blocks (stated in docs/extending.md, "How this page is tested"): a fenced
block whose info string is exactly ``python`` runs; ``python no-run`` is shown only. The
runnable blocks of one page are joined in order into one script, which runs with a fresh
Python in an empty temporary folder and must exit 0 (the pages' own ``assert`` lines check
that the runs converged).
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.S | re.M)


def code_blocks(text: str) -> list[tuple[str, str]]:
    """(info string, body) of every fenced block, in order."""
    return [(m.group(1).strip(), m.group(2)) for m in FENCE.finditer(text)]


def runnable(text: str) -> list[str]:
    return [body for info, body in code_blocks(text) if info == "python"]


def pages_with_code() -> list[Path]:
    return [p for p in sorted(DOCS.glob("*.md")) if runnable(p.read_text())]


def test_fence_rule():
    text = "a\n```python\nx = 1\n```\n```python no-run\nboom()\n```\n```bash\nls\n```\n"
    assert runnable(text) == ["x = 1\n"]
    assert [i for i, _ in code_blocks(text)] == ["python", "python no-run", "bash"]


def test_the_guide_has_code_to_run():
    # the guide's blocks must stay runnable blocks (a changed fence would skip them silently)
    blocks = runnable((DOCS / "extending.md").read_text())
    assert len(blocks) >= 6
    src = "\n".join(blocks)
    for needed in ("@register", "ob.run(", "ob.sweep(", "assert"):
        assert needed in src


@pytest.mark.slow
@pytest.mark.parametrize("page", pages_with_code(), ids=lambda p: p.name)
def test_page_code_runs(page, tmp_path):
    script = tmp_path / f"{page.stem}_blocks.py"
    script.write_text("\n\n".join(runnable(page.read_text())))
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, (
        f"the code of docs/{page.name} failed (exit {proc.returncode}):\n"
        f"{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")


def _slug(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    s = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return s.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text())
    return {_slug(m.group(1)) for m in re.finditer(r"^#{1,6} +(.+?) *$", text, re.M)}


def test_slug():
    assert _slug("Parameters: F, I, B, C") == "parameters-f-i-b-c"
    assert _slug("Second-order methods and line searches") == \
        "second-order-methods-and-line-searches"


@pytest.mark.parametrize("page", [ROOT / "README.md", *sorted(DOCS.glob("*.md"))],
                         ids=lambda p: p.name)
def test_links_to_docs_resolve(page):
    text = FENCE.sub("", page.read_text())
    bad = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue                                   # http(s), mailto: not checked here
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            bad.append(target)
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            bad.append(target)
    assert not bad, f"{page.name}: broken links {bad}"


TEAM_DOCS = ("DESIGN" + ".md", "REFERENCE" + ".md", "work/" + "shared")
SHIPPED = ("optbench", "problems", "tests", "benchmarks", "docs")
TOP_FILES = ("README.md", "BENCHMARKS.md", "pyproject.toml", "asv.conf.json", "setup.py")


def test_no_file_cites_team_documents():
    files = [ROOT / f for f in TOP_FILES if (ROOT / f).exists()]
    for d in SHIPPED:
        files += [p for p in (ROOT / d).rglob("*") if p.is_file()
                  and "__pycache__" not in p.parts and p.suffix not in (".png", ".pdf")]
    hits = []
    for f in files:
        try:
            text = f.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        for i, line in enumerate(text.splitlines(), 1):
            if any(t in line for t in TEAM_DOCS):
                hits.append(f"{f.relative_to(ROOT)}:{i}")
    assert not hits, "files cite documents users do not have (point to docs/ instead): " \
        + ", ".join(hits)
