"""Helpers every report format shares: ordering, counts, rule metadata look-up, safe text."""

from __future__ import annotations

import datetime as _dt
import enum
import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

from amlguard.model import SEVERITIES, AuditReport, Finding, Resource, Status, severity_rank

# Order findings are listed in under a resource: what needs action first.
STATUS_ORDER: tuple[str, ...] = (
    Status.ERROR.value,
    Status.FAIL.value,
    Status.EXEMPT.value,
    Status.NOT_APPLICABLE.value,
    Status.PASS.value,
)

# Statuses that count against --fail-on and become SARIF results.
ACTIONABLE: frozenset[str] = frozenset({Status.FAIL.value, Status.ERROR.value})

# C0/C1 control characters other than tab and newline. A resource name or message comes from
# user YAML or ARM: printing an ESC sequence from it could rewrite the user's terminal, and
# most of these code points are not allowed in XML 1.0 at all.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Code points XML 1.0 forbids besides the controls above (surrogates, U+FFFE, U+FFFF).
_NOT_XML = re.compile("[\ud800-\udfff\ufffe\uffff]")


def escape_controls(text: str) -> str:
    """`text` with control characters (but tab and newline) shown as `\\xNN` escapes."""
    if text.isascii() and text.isprintable():  # the common case, checked in C: nothing to replace
        return text
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    return _NOT_XML.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def status_rank(status: str) -> int:
    try:
        return STATUS_ORDER.index(status)
    except ValueError:
        return len(STATUS_ORDER)


def finding_sort_key(finding: Finding) -> tuple[int, int, str]:
    """Errors, then failures, then exemptions...; within a status most severe first, then rule id."""
    return (status_rank(finding.status), severity_rank(finding.severity), finding.rule)


def counts(report: AuditReport) -> dict[str, int]:
    """Contract-2 summary plus `not_applicable` and `diagnostics` counts."""
    out = dict(report.summary())
    not_applicable = Status.NOT_APPLICABLE.value
    out["not_applicable"] = sum(1 for f in report.findings if f.status == not_applicable)
    out["diagnostics"] = len(report.diagnostics)
    return out


def severity_counts(findings: Iterable[Finding], statuses: Iterable[str]) -> dict[str, int]:
    """Findings with one of `statuses`, counted by severity (known severities in order, then others)."""
    wanted = set(statuses)
    tally = Counter(f.severity.lower() for f in findings if f.status in wanted)
    ordered = {s: tally.pop(s) for s in SEVERITIES if s in tally}
    ordered.update(sorted(tally.items()))
    return ordered


def rule_meta(report: AuditReport, rule_id: str) -> dict[str, Any]:
    meta = report.rules.get(rule_id)
    return meta if isinstance(meta, dict) else {}


def title_of(report: AuditReport, finding: Finding) -> str:
    return finding.title or str(rule_meta(report, finding.rule).get("title") or "")


def remediation_of(report: AuditReport, finding: Finding) -> str:
    return finding.remediation or str(rule_meta(report, finding.rule).get("remediation") or "")


def first_line(text: str, limit: int = 200) -> str:
    """First non-empty line of `text`, cut at `limit` characters with an ellipsis."""
    for line in text.splitlines():
        line = line.strip()
        if line:
            return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"
    return ""


_SENTENCE_END = re.compile(r"(?<!\be\.g)(?<!\bi\.e)[.!?](?=\s+[A-Z(]|\s*$)")
_CLAUSE_END = re.compile(r"(?:;|,\s+or\b)(?=\s)")
_COLON = re.compile(r":(?=\s)")


def _outside_code(text: str, pos: int) -> bool:
    """True when `pos` is not inside a `code span` (an even number of backticks before it)."""
    return text.count("`", 0, pos) % 2 == 0


def short_text(text: str, limit: int = 240) -> str:
    """A short form of `text` for one terminal line: its first paragraph, cut at the last
    sentence end, else clause end, else word, that fits in `limit` and is not inside a
    `code span` (half a command is worse than none)."""
    line = first_line(text, limit=10**9)
    if len(line) <= limit:
        return line
    for pattern, keep_mark in ((_SENTENCE_END, True), (_CLAUSE_END, False), (_COLON, False)):
        cuts = [m for m in pattern.finditer(line, 0, limit) if m.end() >= 40 and _outside_code(line, m.start())]
        if cuts:
            end = cuts[-1].end() if keep_mark else cuts[-1].start()
            return line[:end].rstrip() + ("" if keep_mark else " …")
    words = [m.start() for m in re.finditer(r"\s", line[:limit]) if _outside_code(line, m.start())]
    if words:
        return line[: words[-1]].rstrip(" ,;:") + " …"
    return line[: limit - 1] + "…"


def exemption_text(exemption: dict[str, Any] | None) -> str:
    """`reason (approved by X, expires Y)` from an exemption record; empty when there is none."""
    if not exemption:
        return ""
    reason = str(exemption.get("reason") or "no reason given")
    extra = []
    if exemption.get("approver"):
        extra.append(f"approved by {exemption['approver']}")
    if exemption.get("expires"):
        extra.append(f"expires {json_scalar(exemption['expires'])}")
    return f"{reason} ({', '.join(extra)})" if extra else reason


def location_text(source: str | None, line: int | None) -> str:
    if not source:
        return ""
    return f"{source}:{line}" if line else source


def ordered_rule_ids(report: AuditReport) -> list[str]:
    """Rules in the order the pack declares them, then rules only findings mention (sorted)."""
    ids = list(report.rules)
    known = set(ids)
    ids.extend(sorted({f.rule for f in report.findings} - known))
    return ids


def group_by_resource(report: AuditReport) -> list[tuple[Resource, list[Finding]]]:
    """Findings under the resource they are about, in the report's resource order.

    A finding whose resource is not in `report.resources` (a partial report) still gets a
    group, headed by a resource rebuilt from the finding, so nothing is dropped.
    """
    groups: dict[str, tuple[Resource, list[Finding]]] = {}
    for resource in report.resources:
        groups.setdefault(resource.id, (resource, []))
    for finding in report.findings:
        if finding.resource not in groups:
            stand_in = Resource(
                kind=finding.kind or "resource",
                id=finding.resource,
                name=finding.resource_name or finding.resource,
                source=finding.source,
                workspace=finding.workspace,
            )
            groups[finding.resource] = (stand_in, [])
        groups[finding.resource][1].append(finding)
    return list(groups.values())


def json_scalar(value: Any) -> Any:
    """A JSON-ready stand-in for values YAML or callers hand us (dates, enums, sets)."""
    if isinstance(value, _dt.datetime):
        return value.isoformat()
    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    return value if isinstance(value, (str, int, float, bool)) or value is None else str(value)


def json_default(value: Any) -> Any:
    """`default=` hook for json.dumps: exemption expiry dates from YAML are `datetime.date`."""
    converted = json_scalar(value)
    if converted is value:  # would loop forever in json.dumps
        return str(value)
    return converted
