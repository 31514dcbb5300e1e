"""The one entry point of the speed measurements, ``python -m optbench.bench <what>``: every
command the docs show parses, bad sizes are one line and exit status 2, and a quick command
rewrites only its own section. The comparisons themselves: tests/test_peers.py."""
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from optbench.bench import zoo
from optbench.bench.__main__ import COMMANDS, build_parser, main

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", ROOT / "BENCHMARKS.md", *sorted((ROOT / "docs").glob("*.md"))]


def doc_commands() -> list[list[str]]:
    """Argument lists of every ``python -m optbench.bench ...`` the docs show (``a|b`` is one
    command each; ``<what>`` placeholders are skipped)."""
    out = []
    for doc in DOCS:
        for m in re.finditer(r"python -m optbench\.bench ([^`#\n]*)", doc.read_text()):
            args = shlex.split(m.group(1).replace("\\|", "|"))
            if not args or args[0].startswith("<"):
                continue
            out += [[what, *args[1:]] for what in args[0].split("|")]
    return out


def test_every_command_in_the_docs_parses():
    cmds = doc_commands()
    assert {c[0] for c in cmds} == set(COMMANDS)       # each command is documented
    parser = build_parser()
    for args in cmds:
        parser.parse_args(args)                         # SystemExit(2) on a stale command
    for doc in DOCS:                                    # the modules before one package
        text = doc.read_text()
        for old in ("optbench.bench_", "optbench/bench.py", "optbench/peers", "optbench.peers"):
            assert old not in text, (doc.name, old)


@pytest.mark.parametrize("args, message", [
    (["second-order", "--dim", "0"], "--dim must be at least 1, got 0"),
    (["mlp", "--widths", "16,x"], "--widths must be comma-separated integers"),
    (["sweep", "--quick", "--runs", "-5"], "--runs must be at least 1, got -5"),
    (["peers", "--only", "nope"], "unknown comparison 'nope'"),
])
def test_bad_input_is_one_line(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err


def test_quick_zoo_rewrites_only_its_section(tmp_path):
    out = tmp_path / "B.md"
    out.write_text(f"# Benchmarks\n\n## Engine (issue: core engine)\n\nkeep me\n\n{zoo.TITLE}\n\n"
                   "old figures\n")
    r = subprocess.run([sys.executable, "-m", "optbench.bench", "zoo", "--quick", "--write",
                        str(out)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    assert "keep me" in text and "old figures" not in text
    assert text.count(zoo.TITLE) == 1 and "| double well, d = 10,000, value + gradient |" in text
