"""JSON report: exactly AuditReport.to_json() (DESIGN.md contract 2)."""

from __future__ import annotations

import datetime as dt
import json

from amlguard.model import AuditReport, Finding, Severity, Status
from amlguard.reports import render
from amlguard.reports._common import json_default

from .sample import build_report


def test_json_is_the_contract_object() -> None:
    report = build_report()
    data = json.loads(render(report, "json"))
    expected = json.loads(json.dumps(report.to_json(), default=str))
    assert data == expected
    assert list(data) == ["summary", "resources", "findings", "diagnostics"]
    assert data["summary"] == {"resources": 5, "passed": 4, "failed": 6, "exempt": 2, "errors": 1}


def test_key_order_one_record_per_line_and_trailing_newline() -> None:
    text = render(build_report(), "json")
    assert text.endswith("}\n")
    assert text.startswith('{\n  "summary": {"resources": 5,')
    data = json.loads(text)
    lines = text.splitlines()
    assert len(lines) == 2 + 1 + sum(len(v) + 2 if isinstance(v, list) and v else 1 for k, v in data.items() if k != "summary")
    finding = json.loads(text)["findings"][0]
    assert list(finding)[:7] == ["rule", "resource", "status", "severity", "message", "source", "line"]


def test_kubernetes_resource_carries_compute_field() -> None:
    data = json.loads(render(build_report(), "json"))
    k8s = next(r for r in data["resources"] if r["name"] == "fraud-k8s")
    assert k8s["compute"] == "kubernetes"
    live = next(r for r in data["resources"] if r["name"] == "churn-live")
    assert live["source"] is None and live["line"] is None


def test_yaml_dates_in_exemptions_serialise_as_iso_strings() -> None:
    data = json.loads(render(build_report(), "json"))
    exempt = [f for f in data["findings"] if f["status"] == "exempt"]
    assert {f["exemption"]["expires"] for f in exempt} == {"2026-12-31", "2027-01-15"}


def test_unserialisable_values_do_not_crash() -> None:
    report = AuditReport(findings=[Finding(rule="R", resource="r", status="exempt", severity="low", message="m",
                                           exemption={"expires": dt.datetime(2027, 1, 1, 12, 0), "tags": {"b", "a"},
                                                      "other": object()})])
    data = json.loads(render(report, "json"))
    assert data["findings"][0]["exemption"]["expires"] == "2027-01-01T12:00:00"
    assert data["findings"][0]["exemption"]["tags"] == ["a", "b"]


def test_unicode_is_kept_readable() -> None:
    text = render(build_report(), "json")
    assert "Überweisung ✓ 日本語" in text
    assert "\\u001b[31m" in text  # a control character stays escaped, as JSON requires


def _finding(**changes: object) -> Finding:
    base = {"rule": "AMLG-NET-001", "resource": "ep.yml#online_endpoint/ep", "status": "fail", "severity": "high",
            "message": "public_network_access is 'enabled'; expected 'disabled'", "source": "ep.yml", "line": 4,
            "title": "Endpoints are private", "field": "public_network_access", "remediation": "Disable it."}
    return Finding(**{**base, **changes})  # type: ignore[arg-type]


# Each record's line is exactly json.dumps of Finding.to_json(): the usual finding is put together
# from escaped pieces, anything unusual is encoded from to_json() itself; both must agree.
FINDINGS = [
    _finding(),
    _finding(status="pass", message="compliant"),  # remediation only on fail / error
    _finding(status="error", source=None, line=None, field=None),
    _finding(status="not_applicable", title="", field="", remediation=""),
    _finding(status="exempt", exemption={"reason": "r", "expires": dt.date(2026, 12, 31)}),
    _finding(changed_by={"upn": "a@b.c"}),
    _finding(remediation_action={"actions": [{"op": "set", "path": "a"}, {"op": "tag", "path": "b"}]}),
    _finding(message='quote " backslash \\ newline \n tab \t escape \x1b[31m Überweisung ✓ 日本語 \ud800'),
    _finding(resource='},\n{"rule": "x"}, {', source="a\nb.yml", title="}, {", remediation="},\n    {"),
    _finding(line=True),  # not an int: to_json's own encoding
    _finding(severity=Severity.HIGH, status=Status.FAIL),  # str subclasses
    _finding(message=7),  # wrong type from a caller
]


def test_each_finding_line_is_json_dumps_of_to_json() -> None:
    report = AuditReport(findings=[*FINDINGS, *FINDINGS])  # repeated: the escaped pieces are reused
    lines = render(report, "json").splitlines()
    start = lines.index('  "findings": [') + 1
    got = [line.strip().removesuffix(",") for line in lines[start:start + len(report.findings)]]
    assert got == [json.dumps(f.to_json(), ensure_ascii=False, default=json_default) for f in report.findings]
