"""JUnit XML for Azure DevOps PublishTestResults@2: valid XML, right outcomes, escaped text."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from amlguard.model import AuditReport, Finding, Resource
from amlguard.reports import render

from .sample import build_report

ALLOWED_CASE_CHILDREN = {"failure", "error", "skipped", "system-out", "system-err", "properties"}


def parse(report: AuditReport | None = None) -> ET.Element:
    return ET.fromstring(render(report or build_report(), "junit").encode("utf-8"))


def test_structure_and_counts() -> None:
    root = parse()
    assert root.tag == "testsuites" and root.get("name") == "amlguard"
    total = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for suite in root.findall("testsuite"):
        assert suite.get("name")
        cases = suite.findall("testcase")
        assert set(child.tag for child in suite) <= {"properties", "testcase"}
        counted = {
            "tests": len(cases),
            "failures": sum(c.find("failure") is not None for c in cases),
            "errors": sum(c.find("error") is not None for c in cases),
            "skipped": sum(c.find("skipped") is not None for c in cases),
        }
        for key, value in counted.items():
            assert int(suite.get(key, "-1")) == value, (suite.get("name"), key)
            total[key] += value
        for case in cases:
            assert case.get("classname") and case.get("name")
            assert {c.tag for c in case} <= ALLOWED_CASE_CHILDREN
            assert len([c for c in case if c.tag in ("failure", "error", "skipped")]) <= 1
    for key, value in total.items():
        assert int(root.get(key, "-1")) == value
    # 16 findings + 1 diagnostic
    assert total == {"tests": 17, "failures": 6, "errors": 2, "skipped": 5}


def test_one_suite_per_rule_in_pack_order() -> None:
    names = [s.get("name") for s in parse().findall("testsuite")]
    assert names[0] == "AMLG-NET-001 Managed online endpoint: public network access disabled"
    assert names[-1] == "amlguard: files that could not be read"
    assert len(names) == 10  # 9 rules with findings + diagnostics


def _case(root: ET.Element, rule: str, resource_name: str) -> ET.Element:
    for case in root.iter("testcase"):
        if case.get("classname") == rule and case.get("name", "").startswith(resource_name + " "):
            return case
    raise AssertionError(f"no case {rule} {resource_name}")


@pytest.mark.parametrize(
    ("rule", "resource", "tag", "type_", "message_start"),
    [
        ("AMLG-NET-003", "ml-prod", "failure", "high", "public_network_access is 'enabled'"),
        ("AMLG-AUTH-001", "churn-live", "error", "error", "workspace ml-prod unreachable"),
        ("AMLG-NET-002", "blue", "skipped", None, 'exempt: Pulls a licence from vendor <licensing> & "phones home"'),
        ("AMLG-NET-001", "fraud-k8s", "skipped", None, "not applicable: Kubernetes online endpoints"),
        ("AMLG-NET-004", "ml-prod", None, None, None),
    ],
)
def test_outcomes(rule: str, resource: str, tag: str | None, type_: str | None, message_start: str | None) -> None:
    case = _case(parse(), rule, resource)
    outcomes = [c for c in case if c.tag in ("failure", "error", "skipped")]
    if tag is None:
        assert outcomes == []
        return
    (outcome,) = outcomes
    assert outcome.tag == tag
    assert outcome.get("type") == type_
    assert (outcome.get("message") or "").startswith(message_start or "")


def test_failure_body_has_location_remediation_and_help() -> None:
    failure = _case(parse(), "AMLG-NET-003", "ml-prod").find("failure")
    assert failure is not None and failure.text
    assert "location: workspaces/prod.yml:4" in failure.text
    assert "field: public_network_access" in failure.text
    assert "remediation: Set `public_network_access: disabled` on the workspace.\nThen add" in failure.text
    assert "help: https://learn.microsoft.com/" in failure.text


def test_exemption_reason_approver_expiry() -> None:
    skipped = _case(parse(), "AMLG-TAG-001", "credit-scoring").find("skipped")
    assert skipped is not None
    assert skipped.get("message") == ("exempt: Owned by the platform team until hand-over (ticket #42) "
                                      "(approved by jane.doe@contoso.com, expires 2026-12-31)")


def test_special_characters_round_trip() -> None:
    failure = _case(parse(), "AMLG-PORT-001", "blue").find("failure")
    assert failure is not None
    assert failure.get("message") == "liveness_route.port 80 < 1024 & not in the allow-list [\"8080\", '8443']."
    ops = _case(parse(), "AMLG-OPS-001", "blue").find("failure")
    assert ops is not None and "Überweisung ✓ 日本語" in (ops.get("message") or "")
    assert "\\x1b[31m" in (ops.get("message") or "")  # control char made visible, XML stays valid


def test_characters_xml_cannot_hold_are_escaped() -> None:
    res = Resource(kind="workspace", id="w", name="w\x00\x0b", source="w.yml", line=1)
    report = AuditReport(resources=[res], findings=[Finding(
        rule="R", resource="w", status="fail", severity="high", message="nul\x00 vt\x0b bad\ufffe ok\ttab\nline")])
    root = parse(report)  # would raise on raw \x00
    failure = next(root.iter("failure"))
    assert failure.get("message") == "nul\\x00 vt\\x0b bad\\ufffe ok\ttab\nline"
    assert next(root.iter("testcase")).get("name") == "w\\x00\\x0b [workspace]"


def test_duplicate_resource_names_are_disambiguated() -> None:
    a = Resource(kind="online_endpoint", id="ws1/ep", name="ep")
    b = Resource(kind="online_endpoint", id="ws2/ep", name="ep")
    report = AuditReport(resources=[a, b], findings=[
        Finding(rule="R", resource="ws1/ep", status="pass", severity="low", message=""),
        Finding(rule="R", resource="ws2/ep", status="pass", severity="low", message="")])
    names = [c.get("name") for c in parse(report).iter("testcase")]
    assert names == ["ep [online_endpoint] ws1/ep", "ep [online_endpoint] ws2/ep"]


def test_live_resource_has_no_file_attribute() -> None:
    case = _case(parse(), "AMLG-PORT-002", "churn-live")
    assert case.get("file") is None and case.get("line") is None
    assert _case(parse(), "AMLG-PORT-001", "blue").get("file") == "endpoints/credit/blue.yml"


def test_empty_report() -> None:
    root = parse(AuditReport())
    assert root.get("tests") == "0" and root.findall("testsuite") == []


def test_a_junit_reader_agrees(tmp_path: Path) -> None:
    junitparser = pytest.importorskip("junitparser")
    path = tmp_path / "TEST-amlguard.xml"
    path.write_text(render(build_report(), "junit"), encoding="utf-8")
    xml = junitparser.JUnitXml.fromfile(str(path))
    suites = list(xml)
    assert sum(s.tests for s in suites) == 17
    assert sum(s.failures for s in suites) == 6
    assert sum(s.errors for s in suites) == 2
    assert sum(s.skipped for s in suites) == 5
    results = {(c.classname, c.name): c.result for s in suites for c in s}
    (failure,) = results[("AMLG-PORT-002", "churn-live [online_endpoint]")]
    assert isinstance(failure, junitparser.Failure) and failure.type == "critical"
    assert results[("AMLG-NET-004", "ml-prod [workspace]")] == []


def test_not_applicable_prefix_is_not_doubled() -> None:
    res = Resource(kind="online_endpoint", id="e", name="e")
    report = AuditReport(resources=[res], findings=[
        Finding(rule="R", resource="e", status="not_applicable", severity="high",
                message="not applicable: compute_type is 'kubernetes'")])
    skipped = next(parse(report).iter("skipped"))
    assert skipped.get("message") == "not applicable: compute_type is 'kubernetes'"
