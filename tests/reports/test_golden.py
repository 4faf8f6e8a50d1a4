"""Golden files: every format rendered from the fixed sample report.

Regenerate after an intended change with `UPDATE_GOLDEN=1 .venv/bin/pytest tests/reports -q`
and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from amlguard.reports import FORMATS, render

from .sample import TOOL_VERSION, build_report

GOLDEN = Path(__file__).parent / "golden"
FILES = {"table": "report.table.txt", "json": "report.json", "sarif": "report.sarif", "junit": "report.junit.xml"}


def test_every_format_has_a_golden_file() -> None:
    # HTML carries its generation time and ~30 KB of inline CSS/JS: tests/reports/test_html.py checks
    # it structurally (strict HTML5 parse, numbers, escaping) instead of byte for byte.
    assert set(FILES) == set(FORMATS) - {"html"}


@pytest.mark.parametrize("fmt", sorted(FILES))
def test_matches_golden(fmt: str) -> None:
    text = render(build_report(), fmt, color=False, tool_version=TOOL_VERSION)
    path = GOLDEN / FILES[fmt]
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8", newline="\n")
    assert path.exists(), f"{path} missing: run UPDATE_GOLDEN=1 .venv/bin/pytest tests/reports"
    expected = path.read_text(encoding="utf-8")
    assert text == expected, f"{fmt} output changed; if intended, regenerate with UPDATE_GOLDEN=1"


@pytest.mark.parametrize("fmt", sorted(FILES))
def test_render_is_deterministic(fmt: str) -> None:
    first = render(build_report(), fmt, color=False, tool_version=TOOL_VERSION)
    second = render(build_report(), fmt, color=False, tool_version=TOOL_VERSION)
    assert first == second
    assert first.endswith("\n") and not first.endswith("\n\n")
