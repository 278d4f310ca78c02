"""The guide's Python examples: each parses, and uses no name it neither imports nor defines.

A block that continues an earlier one names what it takes from it in an HTML comment just
above its fence, invisible in the rendered page: ``<!-- given: session, specs -->``.
"""

from __future__ import annotations

import ast
import builtins
import re
from pathlib import Path

import pytest

DOCS_DIR = Path(__file__).resolve().parent.parent / "docs"
PYTHON_BLOCK = re.compile(
    r"(?:<!-- given: (?P<given>[\w, ]*) -->\n)?```python\n(?P<code>.*?)^```", re.DOTALL | re.M
)


def _python_blocks() -> list[tuple[str, set[str], str]]:
    blocks = []
    for page in sorted(DOCS_DIR.glob("*.md")):
        text = page.read_text(encoding="utf-8")
        for match in PYTHON_BLOCK.finditer(text):
            line = text.count("\n", 0, match.start("code")) + 1
            given = {name.strip() for name in (match["given"] or "").split(",") if name.strip()}
            blocks.append((f"{page.name}:{line}", given, match["code"]))
    return blocks


def _bound_names(tree: ast.AST) -> set[str]:
    """Every name the block binds anywhere: imports, assignments, definitions, arguments."""
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            bound.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
    return bound


def _used_names(tree: ast.AST) -> set[str]:
    return {
        node.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)
    }


def test_the_guide_has_python_examples() -> None:
    assert len(_python_blocks()) >= 3


@pytest.mark.parametrize(("where", "given", "code"), _python_blocks(), ids=lambda v: str(v)[:30])
def test_each_python_example_defines_or_imports_every_name(
    where: str, given: set[str], code: str
) -> None:
    tree = ast.parse(code, filename=where)

    unknown = _used_names(tree) - _bound_names(tree) - given - set(dir(builtins))

    assert not unknown, f"{where} uses {sorted(unknown)} without importing or defining them"


@pytest.mark.timeout(120)
def test_the_api_example_runs_as_written_on_the_local_backend(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    (where, _, code) = next(block for block in _python_blocks() if "Session(" in block[2])
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("QXUB_JOB_ROOT", str(tmp_path / "jobs"))
    monkeypatch.setenv("QXUB_POLL_INTERVAL_S", "0.05")
    (tmp_path / "align.py").write_text("import sys\nprint('aligned', sys.argv[1])\n")

    namespace: dict[str, object] = {}
    exec(compile(code.replace('Session("slurm")', 'Session("local")'), where, "exec"), namespace)

    assert namespace["code"] == 0
    assert capfd.readouterr().out.endswith("aligned sample1\n")
