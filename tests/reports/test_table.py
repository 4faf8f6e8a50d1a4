"""Terminal report: grouping, remediation, colour rules, escaping, summary; the text table every command prints."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest

from amlguard.model import AuditReport, Finding, Resource
from amlguard.reports import render, render_table, use_color
from amlguard.reports.table import text_table

from .sample import build_report

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def test_no_ansi_codes_when_color_is_false() -> None:
    text = render(build_report(), "table", color=False)
    # The only ESC in the sample is the one inside a message, and it is shown escaped.
    assert "\x1b" not in text
    assert "\\x1b[31m" in text


def test_ansi_codes_when_color_is_true() -> None:
    text = render(build_report(), "table", color=True)
    assert ANSI.search(text)
    assert "\x1b[1;31mFAIL" in text  # failures stand out
    # colour never changes the words: stripping it gives the plain report
    assert ANSI.sub("", text) == render(build_report(), "table", color=False)


@pytest.mark.parametrize(
    ("env", "isatty", "expected"),
    [
        ({}, True, True),
        ({}, False, False),
        ({"NO_COLOR": "1"}, True, False),
        ({"NO_COLOR": ""}, True, True),  # empty NO_COLOR means "not set" (no-color.org)
        ({"FORCE_COLOR": "1"}, False, True),
        ({"FORCE_COLOR": "1", "NO_COLOR": "1"}, False, False),  # NO_COLOR wins, as in CPython
        ({"TERM": "dumb"}, True, False),
    ],
)
def test_use_color(env: dict[str, str], isatty: bool, expected: bool) -> None:
    class Stream(io.StringIO):
        def isatty(self) -> bool:
            return isatty

    assert use_color(Stream(), env) is expected


def test_color_none_follows_stdout() -> None:
    assert not ANSI.search(render(build_report(), "table"))  # pytest's captured stdout is no terminal
    assert ANSI.search(render(build_report(), "table", color=use_color(None, {"FORCE_COLOR": "1"})))


def test_grouped_by_resource_with_location_and_remediation() -> None:
    text = render_table(build_report(), color=False)
    blocks = text.split("\n\n")
    ws = next(b for b in blocks if b.startswith("workspace  ml-prod"))
    assert "(workspaces/prod.yml:1)" in ws.splitlines()[0]
    assert "FAIL    high      AMLG-NET-003" in ws
    assert "at workspaces/prod.yml:4" in ws
    # only the first line of a multi-line remediation
    assert "fix: Set `public_network_access: disabled` on the workspace." in ws
    assert "Then add a private endpoint" not in ws
    assert "1 passed" in ws


def test_kubernetes_and_live_resources_are_labelled() -> None:
    text = render_table(build_report(), color=False)
    assert "online_endpoint (kubernetes)  fraud-k8s  (endpoints/fraud-k8s.yml:2)" in text
    assert "churn-live  workspace ml-prod  (live: /subscriptions/" in text


def test_exemption_shows_reason_approver_and_expiry() -> None:
    text = render_table(build_report(), color=False)
    assert ("exempt: Owned by the platform team until hand-over (ticket #42) "
            "(approved by jane.doe@contoso.com, expires 2026-12-31)") in text


def test_errors_are_listed_before_failures() -> None:
    text = render_table(build_report(), color=False)
    live = next(b for b in text.split("\n\n") if "churn-live" in b.splitlines()[0])
    assert live.index("ERROR") < live.index("FAIL")


def test_passes_counted_by_default_and_listed_with_show_passed() -> None:
    report = build_report()
    assert "PASS" not in render_table(report, color=False)
    shown = render_table(report, color=False, show_passed=True)
    assert shown.count("PASS  ") == 4
    assert " passed\n" not in shown.split("\n\n")[0]


def test_summary_and_severity_lines() -> None:
    lines = render_table(build_report(), color=False).splitlines()
    assert lines[-2] == (
        "5 resources, 4 passed, 6 failed, 2 exempt, 1 errors, 3 not applicable — 1 diagnostics"
    )
    assert lines[-1] == "failed by severity: critical 1, high 2, medium 1, low 1, info 1"


def test_diagnostics_listed_with_file_and_line() -> None:
    text = render_table(build_report(), color=False)
    assert "endpoints/broken.yml:7: could not parse YAML: mapping values are not allowed here" in text


def test_empty_report() -> None:
    text = render_table(AuditReport(), color=False)
    assert text == "0 resources, 0 passed, 0 failed, 0 exempt, 0 errors, 0 not applicable — 0 diagnostics\n"


def test_finding_for_unknown_resource_is_not_dropped() -> None:
    report = AuditReport(findings=[Finding(rule="AMLG-X-1", resource="ghost", status="fail", severity="weird",
                                           message="boom", kind="online_endpoint", resource_name="ghost-ep")])
    text = render_table(report, color=False)
    assert "online_endpoint  ghost-ep" in text
    assert "FAIL    weird" in text and "boom" in text


def test_resource_without_findings() -> None:
    report = AuditReport(resources=[Resource(kind="batch_endpoint", id="b", name="b", source="b.yml", line=1)])
    assert "no rule applies to this kind" in render_table(report, color=False)


def test_terminal_escape_in_names_is_neutralised() -> None:
    res = Resource(kind="online_endpoint", id="e", name="evil\x1b]0;pwned\x07", source="e.yml", line=1)
    report = AuditReport(resources=[res], findings=[
        Finding(rule="R", resource="e", status="fail", severity="high", message="m\x1b[2J")])
    text = render_table(report, color=False)
    assert "\x1b" not in text and "\x07" not in text
    assert "evil\\x1b]0;pwned\\x07" in text


def test_workspace_header_does_not_repeat_its_own_name() -> None:
    ws = Resource(kind="workspace", id="w", name="mlw-prod", workspace="mlw-prod", source="w.yml", line=1)
    dep = Resource(kind="online_deployment", id="d", name="blue", workspace="mlw-prod", source="d.yml", line=1)
    text = render_table(AuditReport(resources=[ws, dep]), color=False)
    assert "workspace  mlw-prod  (w.yml:1)" in text
    assert "online_deployment  blue  workspace mlw-prod  (d.yml:1)" in text


POLICY_LIKE = (
    "Set `public_network_access: disabled` in the endpoint YAML and apply it with "
    "`az ml online-endpoint update -f endpoint.yml`, or run "
    "`az ml online-endpoint update --name <endpoint> --set public_network_access=disabled`. "
    "Clients then call the endpoint through the workspace's private endpoint."
)


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("Short fix.", 240, "Short fix."),
        ("\n\n  First line.\nSecond line.", 240, "First line."),
        (POLICY_LIKE, 240, POLICY_LIKE.split(" Clients")[0]),  # whole first sentence
        (POLICY_LIKE, 150, "Set `public_network_access: disabled` in the endpoint YAML and apply it with "
                           "`az ml online-endpoint update -f endpoint.yml` …"),  # clause, not mid-command
        ("Create a private endpoint: `az network private-endpoint create --name pe --resource-group rg "
         "--vnet-name vnet --subnet s`, and link the DNS zones.", 60, "Create a private endpoint …"),
        ("Use a port, e.g. `port: 5001 and more words here to pass the limit of this case` then more", 40,
         "Use a port, e.g. …"),  # a word cut steps back out of the code span
        ("x" * 300, 50, "x" * 49 + "…"),
    ],
)
def test_short_remediation(text: str, limit: int, expected: str) -> None:
    from amlguard.reports._common import short_text

    assert short_text(text, limit) == expected


@pytest.mark.parametrize(("rows", "options", "expected"), [
    ([], {}, []),
    ([["ID", "STATUS"], ["s1", "active"], ["silence-2", "-"]], {},
     ["ID         STATUS", "s1         active", "silence-2  -"]),
    ([["feature", "psi"], ["age", "0.1"], ["income", "12.25"]], {"right": {1}},
     ["feature    psi", "age        0.1", "income   12.25"]),
    ([["FAIL", "high", "R1", ""], ["N/A", "low", "R22", "title"]], {"min_widths": (6, 8)},
     ["FAIL    high      R1", "N/A     low       R22  title"]),  # an empty last cell leaves no trailing space
    ([["a"], ["bb", "c"]], {}, ["a", "bb  c"]),  # a short row is padded as far as it goes
])
def test_text_table_layout(rows: list[list[str]], options: dict[str, Any], expected: list[str]) -> None:
    assert text_table(rows, **options) == expected


def test_text_table_colour_codes_do_not_count_as_width() -> None:
    plain = text_table([["FAIL", "high", "R1"], ["PASS", "low", "R2"]])
    coloured = text_table([["FAIL", "high", "R1"], ["PASS", "low", "R2"]],
                          styles=[["bold_red", "red"], ["green", None]], color=True)
    assert coloured[0] == "\x1b[1;31mFAIL\x1b[0m  \x1b[31mhigh\x1b[0m  R1"
    assert [ANSI.sub("", line) for line in coloured] == plain
    assert text_table([["FAIL"]], styles=[["red"]], color=False) == ["FAIL"]
