"""The code stays easy to read: modules of a few hundred lines and short functions."""

from __future__ import annotations

import ast
import statistics
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "vigil"
MODULE_LINES = 400  # past this a module says why in its docstring
REASON = "Longer than 400 lines because"
MEDIAN_FUNCTION_LINES = 15


def modules() -> list[tuple[Path, str]]:
    return [(path, path.read_text()) for path in sorted(SRC.rglob("*.py"))]


def test_no_module_is_over_400_lines_without_a_reason() -> None:
    long = [
        f"{path.relative_to(SRC)}: {len(text.splitlines())} lines"
        for path, text in modules()
        if len(text.splitlines()) > MODULE_LINES
        and REASON not in (ast.get_docstring(ast.parse(text)) or "")
    ]
    assert long == [], f"split these, or say in the docstring '{REASON} ...'"


def test_the_median_function_is_under_15_lines() -> None:
    lengths = [
        node.end_lineno - node.lineno + 1
        for _path, text in modules()
        for node in ast.walk(ast.parse(text))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno
    ]
    assert len(lengths) > 500
    assert statistics.median(lengths) < MEDIAN_FUNCTION_LINES
