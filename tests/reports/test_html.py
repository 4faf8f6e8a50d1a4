"""The self-contained HTML report: valid HTML5, the same numbers as the JSON report, no network, no XSS."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import html5lib
import pytest

from amlguard.model import AuditReport, Finding, Resource
from amlguard.reports import FORMATS, render, render_html
from amlguard.reports.html import compliance, resource_status

from .sample import build_report, repo_root

NS = {"h": "http://www.w3.org/1999/xhtml"}


def parse_strict(text: str) -> ET.Element:
    """Parse with html5lib in strict mode: any parse error (bad nesting, stray tag, control char) raises."""
    parser = html5lib.HTMLParser(strict=True, namespaceHTMLElements=True)
    doc = parser.parse(text)
    assert not parser.errors
    return doc


def scripts(doc: ET.Element) -> list[ET.Element]:
    """Script elements the browser would run (not the JSON data block)."""
    return [el for el in doc.iter("{http://www.w3.org/1999/xhtml}script") if el.get("type") != "application/json"]


def findings_data(doc: ET.Element) -> dict[str, Any]:
    block = next(el for el in doc.iter("{http://www.w3.org/1999/xhtml}script") if el.get("id") == "findings-data")
    assert block.get("type") == "application/json"
    return dict(json.loads(block.text or ""))


def by_attr(doc: ET.Element, attr: str) -> dict[str, str]:
    return {el.get(attr, ""): "".join(el.itertext()).strip() for el in doc.iter() if el.get(attr) is not None}


def rows(doc: ET.Element) -> list[ET.Element]:
    table = next(el for el in doc.iter("{http://www.w3.org/1999/xhtml}table") if el.get("id") == "resource-table")
    return list(table.find("h:tbody", NS) or [])


def hostile_report() -> AuditReport:
    """Names and messages as a hostile YAML author would write them."""
    evil = '<script>alert("x")</script>'
    res = Resource(kind="online_endpoint", id=f"eps/{evil}.yml#{evil}", name=evil, source=f"eps/{evil}.yml",
                   line=1, workspace='ws"><img src=x onerror=alert(1)>')
    findings = [
        Finding(rule="AMLG-NET-001", resource=res.id, status="fail", severity="high",
                message='value is "><svg onload=alert(2)> and `</code><script>alert(3)</script>`',
                source=res.source, line=1, remediation="Set `x: <script>alert(4)</script>`",
                changed_by={"upn": "<b>mallory</b>@contoso.com"}),
    ]
    rules = {"AMLG-NET-001": {"title": "T <i>", "rationale": "R <script>alert(5)</script>",
                              "remediation": "F", "severity": "high",
                              "help_uri": "javascript:alert(6)"}}
    return AuditReport(resources=[res], findings=findings, rules=rules)


def test_html_is_a_format() -> None:
    assert "html" in FORMATS
    text = render(build_report(), "html", color=False)
    assert text.startswith("<!DOCTYPE html>\n")
    assert text.endswith("</html>\n")


@pytest.mark.parametrize("report", [build_report(), hostile_report(), AuditReport()], ids=["sample", "hostile", "empty"])
def test_strict_html5(report: AuditReport) -> None:
    parse_strict(render_html(report))


def test_numbers_match_the_json_report() -> None:
    report = build_report()
    doc = parse_strict(render_html(report))
    counts = by_attr(doc, "data-count")
    summary = report.to_json()["summary"]
    for key in ("resources", "passed", "failed", "exempt", "errors"):
        assert int(counts[key]) == summary[key], key
    assert int(counts["diagnostics"]) == len(report.diagnostics)
    # Azure Policy's share: (4 passed + 2 exempt) over (4 + 2 + 6 failed + 1 error)
    assert (summary["passed"], summary["exempt"], summary["failed"], summary["errors"]) == (4, 2, 6, 1)
    assert counts["compliance"] == "46%"


def test_one_row_per_resource_with_its_worst_status() -> None:
    report = build_report()
    doc = parse_strict(render_html(report))
    found = {r.get("data-search", "").split(" ")[0]: r.get("data-status") for r in rows(doc)}
    assert len(rows(doc)) == len(report.resources)
    expected = {"ml-prod": "fail", "credit-scoring": "fail", "credit-scoring/blue": "fail", "fraud-k8s": "pass",
                "churn-live": "error"}
    assert found == expected


def test_rows_carry_filter_attributes() -> None:
    report = build_report()
    doc = parse_strict(render_html(report))
    by_name = {r.get("data-search", "").split(" ")[0]: r for r in rows(doc)}
    dep = by_name["credit-scoring/blue"]
    assert dep.get("data-kind") == "online_deployment"
    assert dep.get("data-ws") == "ml-prod"
    assert dep.get("data-rules") == "AMLG-OPS-001 AMLG-PORT-001"  # failing only; the exempt rule is not listed
    assert set(dep.get("data-sev", "").split()) == {f.severity for f in report.findings
                                                    if f.resource == dep_id(report) and f.status == "fail"}


def dep_id(report: AuditReport) -> str:
    return next(r.id for r in report.resources if r.name == "blue")


def test_compliance_by_rule_matches_findings() -> None:
    report = build_report()
    numbers = compliance(report)
    tally = Counter((f.rule, f.status) for f in report.findings)
    for rule, row in numbers["by_rule"].items():
        assert (row.passed, row.failed, row.exempt, row.errors, row.not_applicable) == (
            tally[(rule, "pass")], tally[(rule, "fail")], tally[(rule, "exempt")], tally[(rule, "error")],
            tally[(rule, "not_applicable")])
    doc = parse_strict(render_html(report))
    failed_cells = {el.get("data-rule"): el for el in doc.iter() if el.get("data-rule") and el.tag.endswith("tr")}
    for rule, row in numbers["by_rule"].items():
        cell = next(c for c in failed_cells[rule].iter() if c.get("data-failed") is not None)
        assert int(cell.get("data-failed", "-1")) == row.failed


@pytest.mark.parametrize(("statuses", "expected"), [
    (["pass", "fail", "error"], "error"),
    (["pass", "fail", "exempt"], "fail"),
    (["pass", "exempt"], "exempt"),
    (["pass", "not_applicable"], "pass"),
    (["not_applicable"], "not_applicable"),
    ([], "not_applicable"),
])
def test_resource_status(statuses: list[str], expected: str) -> None:
    findings = [Finding(rule="R", resource="x", status=s, severity="low", message="") for s in statuses]
    assert resource_status(findings) == expected


def test_hostile_text_is_escaped() -> None:
    text = render_html(hostile_report())
    doc = parse_strict(text)
    assert len(scripts(doc)) == 1  # ours
    assert "<script>alert" not in text and "</script><script>" not in text
    data = findings_data(doc)  # the hostile message survives as data, for the script to show as text
    assert data["rows"][0][0][4] == 'value is "><svg onload=alert(2)> and `</code><script>alert(3)</script>`'
    assert "<b>mallory</b>@contoso.com" in data["rows"][0][0][10]
    assert "onerror=alert" not in text.replace("onerror=alert(1)&gt;", "")  # only as escaped text
    for el in doc.iter():
        for name, value in el.attrib.items():
            assert not name.lower().startswith("on"), (el.tag, name)
            assert not value.lower().startswith("javascript:"), (el.tag, name, value)
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in text  # markupsafe writes " as &#34;


def test_control_characters_are_visible_escapes() -> None:
    text = render_html(build_report())
    assert "\x1b" not in text
    assert "\\x1b[31m" in text


def _inline(doc: ET.Element, tag: str) -> str:
    return "".join(next(doc.iter(f"{{http://www.w3.org/1999/xhtml}}{tag}")).itertext())


def test_self_contained_and_pinned_by_csp() -> None:
    text = render_html(build_report())
    doc = parse_strict(text)
    for el in doc.iter():
        assert el.get("src") is None, el.tag  # nothing is loaded: no script, image or frame sources
        if el.tag.endswith("link"):
            raise AssertionError("no <link> (stylesheets or icons) in a self-contained page")
    css, js = _inline(doc, "style"), "".join(scripts(doc)[0].itertext())
    assert "url(" not in css and "@import" not in css
    assert "fetch(" not in js and "XMLHttpRequest" not in js
    meta = next(el for el in doc.iter() if el.get("http-equiv") == "Content-Security-Policy")
    policy = meta.get("content", "")
    assert "default-src 'none'" in policy
    for body, directive in ((css, "style-src"), (js, "script-src")):
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"{directive} 'sha256-{digest}'" in policy


def test_help_links_only_for_web_urls() -> None:
    doc = parse_strict(render_html(hostile_report()))
    hrefs = [el.get("href", "") for el in doc.iter() if el.get("href")]
    assert all(h.startswith(("#", "https://", "http://")) for h in hrefs), hrefs


def test_findings_carry_rationale_and_fix() -> None:
    report = build_report()
    doc = parse_strict(render_html(report))
    data = findings_data(doc)
    texts = data["texts"]
    entries = [entry for row in data["rows"] for entry in row]
    assert len(entries) == sum(1 for f in report.findings if f.status in ("fail", "error", "exempt"))
    assert sum(1 for entry in entries if entry[1] == "fail") == sum(1 for f in report.findings if f.status == "fail")
    net3 = next(entry for entry in entries if entry[0] == "AMLG-NET-003")
    rule, status, severity, title, _message, where, field, _exempt, why, fix, _history = net3
    assert (rule, status, severity, where, field) == ("AMLG-NET-003", "fail", "high", "workspaces/prod.yml:4",
                                                     "public_network_access")
    assert texts[title] == "Workspace: public network access disabled"
    assert texts[why].startswith("A public workspace exposes")
    assert "public_network_access: disabled" in texts[fix]
    exempt_entry = next(entry for entry in entries if entry[1] == "exempt" and entry[0] == "AMLG-NET-002")
    assert "approved by sec-team" in exempt_entry[7] and exempt_entry[8] == exempt_entry[9] == -1
    # the details of each row point at its own data
    details = [el for el in doc.iter("{http://www.w3.org/1999/xhtml}details") if el.get("data-i") is not None]
    assert sorted(int(el.get("data-i", "")) for el in details) == list(range(len(data["rows"])))
    card = next(el for el in doc.iter() if el.get("id") == "rule-AMLG-NET-003")
    assert "A public workspace exposes" in "".join(card.itertext())


def test_example_workspace_through_the_cli(tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    root = repo_root()
    cli = [sys.executable, "-m", "amlguard.cli"]
    run = subprocess.run([*cli, "audit", "examples/workspace", "--format", "html", "--output", str(out)],
                         cwd=root, capture_output=True, text=True, timeout=60)
    assert run.returncode in (0, 1), run.stderr
    as_json = subprocess.run([*cli, "audit", "examples/workspace", "--format", "json"], cwd=root,
                             capture_output=True, text=True, timeout=60)
    summary: dict[str, Any] = json.loads(as_json.stdout)["summary"]
    doc = parse_strict(out.read_text(encoding="utf-8"))
    counts = by_attr(doc, "data-count")
    for key in ("resources", "passed", "failed", "exempt", "errors"):
        assert int(counts[key]) == summary[key], key
    assert len(rows(doc)) == summary["resources"]
    assert re.search(r"<title>[^<]+</title>", out.read_text(encoding="utf-8"))


def _theme(css: str, selector: str) -> dict[str, str]:
    start = css.index("{", css.index(selector))
    return dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{6})", css[start:css.index("}", start)]))


def _contrast(a: str, b: str) -> float:
    """WCAG 2 contrast ratio of two #rrggbb colours."""
    def luminance(colour: str) -> float:
        channels = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
        r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


TEXT_COLOURS = ("text", "muted", "accent", "ok", "bad", "warn", "err", "exempt", "na", "crit", "high", "med", "low",
                "info")


@pytest.mark.parametrize("selector", [":root {", ':root[data-theme="dark"]'], ids=["light", "dark"])
def test_theme_colours_meet_wcag_aa(selector: str) -> None:
    from amlguard.reports.html import _asset

    theme = _theme(_asset("report.css"), selector)
    for colour in TEXT_COLOURS:  # every colour text or a badge is drawn in, on every background
        for background in ("bg", "panel", "panel-2"):
            ratio = _contrast(theme[colour], theme[background])
            assert ratio >= 4.5, f"--{colour} on --{background}: {ratio:.2f} < 4.5"
    assert _contrast(theme["accent-text"], theme["accent"]) >= 4.5  # pressed filter chips, skip link


def test_dark_scheme_and_dark_toggle_agree() -> None:
    from amlguard.reports.html import _asset

    css = _asset("report.css")
    assert _theme(css, ':root:not([data-theme="light"])') == _theme(css, ':root[data-theme="dark"]')


def test_jinja2_loads_only_when_a_page_is_rendered() -> None:
    code = (
        "import sys, function_app\n"
        "from amlguard.reports import render\n"
        "from amlguard.model import AuditReport\n"
        "for fmt in ('table', 'json', 'sarif', 'junit'):\n"
        "    render(AuditReport(), fmt, color=False)\n"
        "before = 'jinja2' in sys.modules\n"
        "render(AuditReport(), 'html')\n"
        "print(before, 'jinja2' in sys.modules)\n")
    run = subprocess.run([sys.executable, "-c", code], cwd=repo_root(), capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["False", "True"]


def test_the_environment_is_built_once_per_process() -> None:
    from amlguard.reports.html import environment

    assert environment() is environment()
    assert environment().autoescape is True
