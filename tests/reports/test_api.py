"""The public surface of amlguard.reports, pinned."""

from __future__ import annotations

import pytest

import amlguard.reports as reports
from amlguard.errors import ConfigError
from amlguard.reports import FORMATS, render

from .sample import build_report


def test_public_names() -> None:
    assert sorted(reports.__all__) == sorted([
        "DEFAULT_FAIL_ON", "FAIL_ON_CHOICES", "FORMATS", "exit_code", "failing_findings", "render",
        "render_chunks", "render_html", "render_json", "render_junit", "render_sarif", "render_table", "sarif_log",
        "use_color",
    ])
    for name in reports.__all__:
        assert hasattr(reports, name)


def test_formats() -> None:
    assert FORMATS == ("table", "json", "sarif", "junit", "html")


@pytest.mark.parametrize("fmt", ["htm", "xml", ""])
def test_unknown_format_is_a_config_error(fmt: str) -> None:
    with pytest.raises(ConfigError, match="table, json, sarif, junit, html"):
        render(build_report(), fmt)


def test_format_name_is_case_insensitive() -> None:
    assert render(build_report(), "JSON") == render(build_report(), "json")


@pytest.mark.parametrize("fmt", FORMATS)
def test_chunks_join_to_the_rendered_report(fmt: str) -> None:
    report = build_report()
    assert "".join(reports.render_chunks(report, fmt, color=False)) == render(report, fmt, color=False)


def test_the_json_report_comes_in_pieces_of_whole_records() -> None:
    import amlguard.reports.json as json_report
    from amlguard.model import AuditReport

    sample = build_report()
    report = AuditReport(resources=sample.resources * 3, findings=sample.findings * 700,
                         diagnostics=sample.diagnostics, rules=sample.rules)
    chunks = list(json_report.json_chunks(report))
    assert len(chunks) > 3 and "".join(chunks) == render(report, "json")
    records = "".join(chunks).splitlines()
    assert len(records) == 9 + len(report.resources) + len(report.findings) + len(report.diagnostics)
