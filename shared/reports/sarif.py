"""SARIF 2.1.0 report, shaped for GitHub code scanning (rules with help, severities, fingerprints)."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

from amlguard.model import AuditReport, Finding, Resource, Status, severity_rank

from ._common import (
    ACTIONABLE,
    counts,
    exemption_text,
    group_by_resource,
    json_default,
    json_scalar,
    ordered_rule_ids,
    rule_meta,
    title_of,
)

__all__ = ["SARIF_SCHEMA_URI", "SECURITY_CATEGORIES", "SECURITY_SEVERITY", "automation_id", "is_security_rule",
           "render_sarif", "sarif_log"]

SARIF_SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
SRCROOT = "%SRCROOT%"
FINGERPRINT_KEY = "amlguardFinding/v1"

# Rule id categories (`AMLG-NET-001` -> NET) that are security findings: network exposure,
# authentication, ports and the software supply chain. Operations, tagging and monitoring rules
# are quality findings, which GitHub lists apart from security alerts.
SECURITY_CATEGORIES = frozenset({"NET", "AUTH", "PORT", "SUP"})
# GitHub code scanning reads `security-severity` (a string holding a number) on a rule tagged
# `security` (and only there) and buckets it: > 9.0 critical, 7.0-8.9 high, 4.0-6.9 medium,
# 0.1-3.9 low.
SECURITY_SEVERITY: dict[str, str] = {
    "critical": "9.5",
    "high": "8.0",
    "medium": "5.5",
    "low": "3.0",
    "info": "0.0",
}
_LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}
# GitHub's `problem.severity` vocabulary for rules without a security score.
_PROBLEM_SEVERITY = {"error": "error", "warning": "warning", "note": "recommendation"}
_ABSOLUTE_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:/")


def _level(severity: str) -> str:
    return _LEVEL.get(severity.lower(), "warning")


def _pascal(text: str) -> str:
    """`Managed online endpoint: public access` -> `ManagedOnlineEndpointPublicAccess`."""
    words = re.findall(r"[A-Za-z0-9]+", text)
    return "".join(w[:1].upper() + w[1:] for w in words)


def fingerprint(rule: str, resource_id: str) -> str:
    """Stable id of a (rule, resource) pair: same alert across runs even when lines move."""
    return hashlib.sha256(f"{rule}\x00{resource_id}".encode()).hexdigest()[:32]


def artifact_location(source: str, srcroot: str | None = None) -> dict[str, str]:
    """SARIF artifactLocation for a source path.

    Relative paths (what `amlguard audit PATH` reports for a relative PATH) become
    `%SRCROOT%`-relative URIs with forward slashes, which GitHub resolves against the
    repository root. Absolute paths under `srcroot` are made relative to it; other absolute
    paths become `file://` URIs.
    """
    path = source.replace("\\", "/")
    if _ABSOLUTE_URI.match(path):
        return {"uri": path}
    if srcroot:
        root = srcroot.replace("\\", "/").rstrip("/") + "/"
        if path.startswith(root):
            path = path[len(root):]
    if path.startswith("/") or _WINDOWS_DRIVE.match(path):
        return {"uri": _file_uri(path)}
    while path.startswith("./"):
        path = path[2:]
    return {"uri": quote(str(PurePosixPath(path))), "uriBaseId": SRCROOT}


def _file_uri(path: str) -> str:
    """`file:` URI of an absolute POSIX (`/a/b`) or Windows (`C:/a/b`) path."""
    return ("file://" if path.startswith("/") else "file:///") + quote(path, safe="/:")


def _help(meta: dict[str, Any], rule_id: str) -> dict[str, str]:
    rationale = str(meta.get("rationale") or "").strip()
    remediation = str(meta.get("remediation") or "").strip()
    help_uri = str(meta.get("help_uri") or "").strip()
    text_parts, md_parts = [], []
    if rationale:
        text_parts.append(f"Why: {rationale}")
        md_parts.append(f"**Why it matters**\n\n{rationale}")
    if remediation:
        text_parts.append(f"How to fix: {remediation}")
        md_parts.append(f"**How to fix**\n\n{remediation}")
    if help_uri:
        text_parts.append(f"More: {help_uri}")
        md_parts.append(f"[Documentation]({help_uri})")
    if not text_parts:
        fallback = str(meta.get("description") or meta.get("title") or rule_id)
        text_parts, md_parts = [fallback], [fallback]
    return {"text": "\n\n".join(text_parts), "markdown": "\n\n".join(md_parts)}


def is_security_rule(rule_id: str) -> bool:
    """Whether the rule's category (the id's second part: `AMLG-NET-001` -> NET) is a security one."""
    parts = rule_id.split("-")
    return len(parts) >= 3 and parts[1].upper() in SECURITY_CATEGORIES


def _rule_descriptor(rule_id: str, meta: dict[str, Any], fallback: Finding | None) -> dict[str, Any]:
    title = str(meta.get("title") or (fallback.title if fallback else "") or rule_id)
    severity = str(meta.get("severity") or (fallback.severity if fallback else "") or "medium").lower()
    level = _level(severity)
    kinds = meta.get("kinds") or []
    security = is_security_rule(rule_id)
    tags = [*(["security"] if security else []), "azure-ml", *(str(k) for k in kinds)]
    properties: dict[str, Any] = {
        "tags": tags,
        "precision": "very-high",  # deterministic configuration checks: no false positives by design
        "problem.severity": _PROBLEM_SEVERITY[level],
        "severity": severity,
    }
    if security and severity in SECURITY_SEVERITY:
        properties["security-severity"] = SECURITY_SEVERITY[severity]
    if meta.get("effect"):
        properties["effect"] = str(meta["effect"])
    descriptor: dict[str, Any] = {
        "id": rule_id,
        "name": _pascal(title) or rule_id,
        "shortDescription": {"text": title},
        "fullDescription": {"text": str(meta.get("description") or title)},
        "help": _help(meta, rule_id),
        "defaultConfiguration": {"level": level},
        "properties": properties,
    }
    help_uri = str(meta.get("help_uri") or "").strip()
    if _ABSOLUTE_URI.match(help_uri):
        descriptor["helpUri"] = help_uri
    return descriptor


def _logical_location(resource: Resource) -> dict[str, Any]:
    return {"name": resource.name, "fullyQualifiedName": resource.id, "kind": "resource"}


def _location(finding: Finding, resource: Resource, srcroot: str | None) -> dict[str, Any]:
    location: dict[str, Any] = {}
    source = finding.source or resource.source
    if source:
        physical: dict[str, Any] = {"artifactLocation": artifact_location(source, srcroot)}
        line = finding.line if finding.source else resource.line
        if isinstance(line, int) and line >= 1:
            physical["region"] = {"startLine": line}
        location["physicalLocation"] = physical
    location["logicalLocations"] = [_logical_location(resource)]
    return location


def _result(finding: Finding, resource: Resource, rule_index: int, srcroot: str | None,
            report: AuditReport) -> dict[str, Any]:
    text = finding.message or title_of(report, finding) or finding.rule
    if finding.status == Status.ERROR.value:
        text = f"Could not evaluate {finding.rule}: {text}"
    properties: dict[str, Any] = {
        "status": finding.status,
        "severity": finding.severity,
        "resource": resource.id,
        "resourceKind": resource.kind,
        "resourceName": resource.name,
    }
    if finding.field:
        properties["field"] = finding.field
    if finding.workspace or resource.workspace:
        properties["workspace"] = finding.workspace or resource.workspace
    if resource.compute_type:
        properties["compute"] = resource.compute_type
    if finding.changed_by:
        properties["changedBy"] = {k: json_scalar(v) for k, v in finding.changed_by.items()}
    result: dict[str, Any] = {
        "ruleId": finding.rule,
        "ruleIndex": rule_index,
        "kind": "fail",
        "level": _level(finding.severity),
        "message": {"text": text},
        "locations": [_location(finding, resource, srcroot)],
        "partialFingerprints": {FINGERPRINT_KEY: fingerprint(finding.rule, finding.resource)},
        # SARIF §3.27.23: within a run, suppressions are either on every result or on none.
        "suppressions": [],
        "properties": properties,
    }
    if finding.status == Status.EXEMPT.value:
        exemption = finding.exemption or {}
        suppression: dict[str, Any] = {
            "kind": _suppression_kind(exemption),
            "status": "accepted",
            "justification": exemption_text(exemption) or "exempt by policy",
        }
        extra = {k: json_scalar(v) for k, v in exemption.items() if k in ("approver", "expires", "reason")}
        if extra:
            suppression["properties"] = extra
        result["suppressions"] = [suppression]
    return result


def _suppression_kind(exemption: dict[str, Any]) -> str:
    """SARIF's suppression kind: `inSource` for a `# amlguard:ignore` comment in the audited file,
    `external` for a policy exemption or a baseline entry."""
    return "inSource" if exemption.get("kind") == "inline" else "external"


def _notification(source: str, line: int | None, message: str, srcroot: str | None) -> dict[str, Any]:
    physical: dict[str, Any] = {"artifactLocation": artifact_location(source, srcroot)}
    if isinstance(line, int) and line >= 1:
        physical["region"] = {"startLine": line}
    return {"level": "error", "message": {"text": message or "could not read file"},
            "locations": [{"physicalLocation": physical}]}


def automation_id(report: AuditReport) -> str:
    """`runAutomationDetails.id`: `amlguard/<pack>/`, the category code scanning keeps this
    analysis under, so an upload audited with one pack never closes the alerts of another.

    A pack is named after the folder of its policy files (`default` for the bundled one); a
    report of several packs joins their names with `+`; rules without a file add nothing.
    """
    from amlguard.config import default_policies_dir

    bundled = default_policies_dir().resolve()
    packs = set()
    for meta in report.rules.values():
        source = meta.get("source") if isinstance(meta, dict) else None
        if source:
            folder = Path(str(source)).resolve().parent
            packs.add("default" if folder == bundled or bundled in folder.parents else folder.name)
    return "/".join(["amlguard", *(["+".join(sorted(packs))] if packs else []), ""])


def sarif_log(report: AuditReport, *, tool_version: str, srcroot: str | None = None,
              include_exempt: bool = True) -> dict[str, Any]:
    """The SARIF log as a dict (one run).

    Every rule of the pack is declared, not only those that fired, so code scanning can tell
    "checked and clean" from "not checked" and close fixed alerts. Results are the `fail`
    and `error` findings, plus `exempt` ones carrying an accepted external suppression
    (`include_exempt=False` drops them, for consumers that ignore suppressions).
    """
    if srcroot:
        srcroot = os.path.abspath(srcroot)
    rule_ids = ordered_rule_ids(report)
    first_finding: dict[str, Finding] = {}
    for finding in report.findings:
        first_finding.setdefault(finding.rule, finding)
    rules = [_rule_descriptor(rid, rule_meta(report, rid), first_finding.get(rid)) for rid in rule_ids]
    index = {rid: i for i, rid in enumerate(rule_ids)}

    wanted = set(ACTIONABLE) | ({Status.EXEMPT.value} if include_exempt else set())
    results = []
    for resource, findings in group_by_resource(report):
        for finding in findings:
            if finding.status in wanted:
                results.append(_result(finding, resource, index[finding.rule], srcroot, report))
    results.sort(key=lambda r: (severity_rank(r["properties"]["severity"]), r["ruleId"],
                                r["properties"]["resource"]))

    driver: dict[str, Any] = {"name": "amlguard", "version": tool_version, "rules": rules}
    if re.fullmatch(r"\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]+)?", tool_version):
        driver["semanticVersion"] = tool_version

    invocation: dict[str, Any] = {
        # The audit ran to the end; unreadable files are reported, not fatal.
        "executionSuccessful": True,
        "toolExecutionNotifications": [
            _notification(d.source, d.line, d.message, srcroot) for d in report.diagnostics
        ],
    }
    srcroot_desc: dict[str, Any] = {
        "description": {"text": "The folder amlguard audited from (the repository root in CI)."}
    }
    if srcroot:
        srcroot_desc["uri"] = _file_uri(srcroot.replace("\\", "/").rstrip("/") + "/")
    run: dict[str, Any] = {
        "tool": {"driver": driver},
        "automationDetails": {"id": automation_id(report)},
        "invocations": [invocation],
        "originalUriBaseIds": {SRCROOT: srcroot_desc},
        "results": results,
        "properties": {"summary": counts(report)},
    }
    return {"$schema": SARIF_SCHEMA_URI, "version": "2.1.0", "runs": [run]}


def render_sarif(report: AuditReport, *, tool_version: str, srcroot: str | None = None,
                 include_exempt: bool = True) -> str:
    """SARIF 2.1.0 text (indent 2, trailing newline); see `sarif_log`."""
    log = sarif_log(report, tool_version=tool_version, srcroot=srcroot, include_exempt=include_exempt)
    return json.dumps(log, indent=2, ensure_ascii=False, default=json_default) + "\n"
