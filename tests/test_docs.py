"""The docs keep up with the code: every config key and every error code is documented."""

from __future__ import annotations

import re
from pathlib import Path

from vigil.config.doc import DOC, render
from vigil.errors import CATALOGUE

ROOT = Path(__file__).resolve().parents[1]


def test_config_reference_is_up_to_date() -> None:
    text = DOC.read_text()
    assert render(text) == text, "docs/config.md is stale: run python -m vigil.config.doc"


def test_every_code_used_in_src_is_catalogued_and_documented() -> None:
    used: set[str] = set()
    for path in (ROOT / "src" / "vigil").rglob("*.py"):
        used |= set(re.findall(r"\bE[1-6]\d\d\b", path.read_text()))
    documented = set(re.findall(r"^### (E\d{3}):", (ROOT / "docs" / "errors.md").read_text(), re.M))
    assert used - set(CATALOGUE) == set(), "codes raised but not in errors.CATALOGUE"
    assert used - documented == set(), "codes raised but missing from docs/errors.md"
    assert set(CATALOGUE) - documented == set(), "catalogued codes missing from docs/errors.md"


def test_readme_shows_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme
    for link in re.findall(r"\]\((docs/[^)]+)\)", readme):
        assert (ROOT / link).exists(), link


def test_every_test_the_reliability_table_names_exists() -> None:
    text = (ROOT / "docs" / "reliability.md").read_text()
    table = text[text.index("## The 43 failure scenarios") : text.index("## Not done yet")]
    rows = [line for line in table.splitlines() if re.match(r"^\| \d+ \|", line)]
    assert len(rows) == 43
    missing: list[str] = []
    current = ""
    for file, name, more in re.findall(r"`([a-z_/]+\.py)(?:::(\w+))?`|`::(\w+)`", table):
        current = file or current
        path = ROOT / "tests" / current
        wanted = name or more
        if not path.exists() or (wanted and f"def {wanted}(" not in path.read_text()):
            missing.append(f"{current}::{wanted}" if wanted else current)
    assert missing == []
