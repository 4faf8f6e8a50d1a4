"""JUnit XML report for CI test tabs: one <testsuite> per rule, one <testcase> per resource it checked,
named so that CI test history follows one rule on one resource (docs/reports.md, "`junit` and Azure DevOps")."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter
from typing import Any

from amlguard.model import AuditReport, Finding, Resource, Status

from ._common import (
    escape_controls,
    exemption_text,
    group_by_resource,
    location_text,
    ordered_rule_ids,
    remediation_of,
    rule_meta,
    title_of,
)

__all__ = ["render_junit"]

DIAGNOSTICS_SUITE = "amlguard: files that could not be read"


def _safe(text: Any) -> str:
    """Text XML 1.0 can hold: control characters become visible escapes."""
    return escape_controls(str(text))


def _case_names(groups: list[tuple[Resource, list[Finding]]]) -> dict[str, str]:
    """Resource id -> test case name: `name [kind]`, plus the id when that pair is ambiguous."""
    pairs = Counter((r.name, r.kind) for r, _ in groups)
    names = {}
    for resource, _ in groups:
        name = f"{resource.name} [{resource.kind}]"
        if pairs[(resource.name, resource.kind)] > 1 and resource.id != resource.name:
            name += f" {resource.id}"
        names[resource.id] = name
    return names


def _details(report: AuditReport, finding: Finding, resource: Resource) -> str:
    """Body of <failure>/<error>: what Azure DevOps shows as the stack trace."""
    lines = [finding.message or ""]
    lines.append("")
    lines.append(f"resource: {resource.id}")
    kubernetes = " (kubernetes)" if resource.compute_type == "kubernetes" else ""
    lines.append(f"kind: {resource.kind}{kubernetes}")
    where = location_text(finding.source or resource.source,
                          finding.line if finding.source else resource.line)
    if where:
        lines.append(f"location: {where}")
    if finding.field:
        lines.append(f"field: {finding.field}")
    lines.append(f"severity: {finding.severity}")
    if finding.status == Status.FAIL.value:
        fix = remediation_of(report, finding).strip()
        if fix:
            lines.append(f"remediation: {fix}")
    help_uri = rule_meta(report, finding.rule).get("help_uri")
    if help_uri:
        lines.append(f"help: {help_uri}")
    return _safe("\n".join(lines))


def _suite(name: str) -> ET.Element:
    return ET.Element("testsuite", {"name": _safe(name)})


def _close_suite(suite: ET.Element) -> dict[str, int]:
    cases = suite.findall("testcase")
    tally = {
        "tests": len(cases),
        "failures": sum(1 for c in cases if c.find("failure") is not None),
        "errors": sum(1 for c in cases if c.find("error") is not None),
        "skipped": sum(1 for c in cases if c.find("skipped") is not None),
    }
    for key, value in tally.items():
        suite.set(key, str(value))
    suite.set("time", "0")
    return tally


def render_junit(report: AuditReport) -> str:
    """JUnit XML text: pass -> plain case, fail -> <failure type=severity>, error -> <error>,
    exempt / not_applicable -> <skipped> with the reason. Files that could not be read are
    <error> cases in their own suite so a CI test tab shows them (they do not change the exit
    code)."""
    groups = group_by_resource(report)
    resource_of = {r.id: r for r, _ in groups}
    case_names = _case_names(groups)
    by_rule: dict[str, list[Finding]] = {}
    for _, group in groups:
        for finding in group:
            by_rule.setdefault(finding.rule, []).append(finding)

    root = ET.Element("testsuites", {"name": "amlguard"})
    totals: Counter[str] = Counter()
    for rule_id in ordered_rule_ids(report):
        findings = by_rule.get(rule_id, [])
        if not findings:
            continue  # a rule that targets no audited kind checked nothing
        meta = rule_meta(report, rule_id)
        title = str(meta.get("title") or title_of(report, findings[0]) or "")
        suite = _suite(f"{rule_id} {title}".strip())
        props = ET.SubElement(suite, "properties")
        for key in ("severity", "effect", "help_uri"):
            if meta.get(key):
                ET.SubElement(props, "property", {"name": key, "value": _safe(meta[key])})
        if not len(props):
            suite.remove(props)
        for finding in findings:
            resource = resource_of[finding.resource]
            case = ET.SubElement(suite, "testcase", {
                "classname": _safe(rule_id),
                "name": _safe(case_names[resource.id]),
                "time": "0",
            })
            if finding.source or resource.source:
                case.set("file", _safe(finding.source or resource.source))
                line = finding.line if finding.source else resource.line
                if line:
                    case.set("line", str(line))
            _outcome(case, report, finding, resource)
        totals.update(_close_suite(suite))
        root.append(suite)

    if report.diagnostics:
        suite = _suite(DIAGNOSTICS_SUITE)
        for diag in report.diagnostics:
            case = ET.SubElement(suite, "testcase", {
                "classname": "amlguard.diagnostics",
                "name": _safe(diag.source),
                "time": "0",
                "file": _safe(diag.source),
            })
            if diag.line:
                case.set("line", str(diag.line))
            error = ET.SubElement(case, "error", {"message": _safe(diag.message), "type": "diagnostic"})
            error.text = _safe(f"{location_text(diag.source, diag.line)}: {diag.message}")
        totals.update(_close_suite(suite))
        root.append(suite)

    for key in ("tests", "failures", "errors", "skipped"):
        root.set(key, str(totals[key]))
    root.set("time", "0")
    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _outcome(case: ET.Element, report: AuditReport, finding: Finding, resource: Resource) -> None:
    status = finding.status
    if status == Status.FAIL.value:
        el = ET.SubElement(case, "failure",
                           {"message": _safe(finding.message), "type": _safe(finding.severity)})
        el.text = _details(report, finding, resource)
    elif status == Status.ERROR.value:
        el = ET.SubElement(case, "error", {"message": _safe(finding.message), "type": "error"})
        el.text = _details(report, finding, resource)
    elif status == Status.EXEMPT.value:
        reason = exemption_text(finding.exemption) or "exempt by policy"
        how = "suppressed" if (finding.exemption or {}).get("kind") in ("inline", "baseline") else "exempt"
        el = ET.SubElement(case, "skipped", {"message": _safe(f"{how}: {reason}")})
        el.text = _details(report, finding, resource)
    elif status == Status.NOT_APPLICABLE.value:
        message = finding.message or "not applicable"
        if not message.lower().startswith("not applicable"):
            message = f"not applicable: {message}"
        ET.SubElement(case, "skipped", {"message": _safe(message)})
    elif status != Status.PASS.value:  # an unknown status is not silently a pass
        el = ET.SubElement(case, "error", {"message": _safe(f"unknown status {status!r}"), "type": "error"})
        el.text = _details(report, finding, resource)
