"""The package stays readable (issue 24): no function in ``benchmark/`` longer than 80 lines and no module
longer than 450, data tables excepted. Read from the source with ``ast``; nothing is imported."""

from __future__ import annotations

import ast
from pathlib import Path

import benchmark

PACKAGE = Path(benchmark.__file__).resolve().parent
MAX_FUNCTION_LINES = 80
MAX_MODULE_LINES = 450
# Data tables, not logic: each paper's BibTeX entry, one per registered method.
DATA_TABLES = {"methods/_papers.py"}


def sources() -> list[tuple[str, str]]:
    return [(str(p.relative_to(PACKAGE)), p.read_text(encoding="utf-8")) for p in sorted(PACKAGE.rglob("*.py"))]


def test_no_function_is_longer_than_80_lines():
    long = []
    for name, text in sources():
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long.append(f"{name}:{node.lineno} {node.name} ({length} lines)")
    assert not long, "split these into named steps: " + "; ".join(long)


def test_no_module_is_longer_than_450_lines():
    long = [f"{name} ({len(text.splitlines())} lines)" for name, text in sources()
            if name not in DATA_TABLES and len(text.splitlines()) > MAX_MODULE_LINES]
    assert not long, "a module this long usually does two jobs; split it: " + "; ".join(long)


def test_the_rule_would_see_a_long_function():
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    tree = ast.parse(f"def f():\n{body}\n")
    node = tree.body[0]
    assert node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
