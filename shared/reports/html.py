"""The self-contained HTML audit report (`amlguard audit --format html`) and what the dashboard shares with
it: numbers computed here, laid out by the autoescaping Jinja2 templates (docs/dashboard.md)."""

from __future__ import annotations

import base64
import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from amlguard import __version__
from amlguard.model import SEVERITIES, AuditReport, Finding, Resource, Status, severity_rank
from amlguard.timeparse import time_or_none

from ._common import (
    escape_controls,
    exemption_text,
    finding_sort_key,
    group_by_resource,
    location_text,
    ordered_rule_ids,
    remediation_of,
    rule_meta,
    title_of,
)

if TYPE_CHECKING:
    import jinja2

__all__ = ["STATUS_LABELS", "AlertNote", "ComplianceRow", "compliance", "environment", "render_html", "render_page",
           "resource_status", "resources_table", "rule_cards", "who_text"]

# Resource status: the worst of its findings. Labels are what a platform lead reads.
STATUS_LABELS: dict[str, str] = {
    Status.ERROR.value: "Error",
    Status.FAIL.value: "Non-compliant",
    Status.EXEMPT.value: "Exempt",
    Status.PASS.value: "Compliant",
    Status.NOT_APPLICABLE.value: "Not checked",
}
_FINDING_LABELS: dict[str, str] = {"error": "error", "fail": "fail", "exempt": "exempt", "pass": "pass",
                                   "not_applicable": "n/a"}
_RESOURCE_ORDER = ("error", "fail", "exempt", "pass", "not_applicable")
_ACTIONABLE = frozenset({Status.FAIL.value, Status.ERROR.value})
_PAGE = 200  # resource rows displayed at first (and per "show more"); filters always search all rows
_MAX_LISTED = 50  # failing resources listed under a rule card; the table filter shows all
_CODE = re.compile(r"`([^`\n]+)`")
_COUNTERS = {"pass": "passed", "fail": "failed", "exempt": "exempt", "error": "errors"}  # ComplianceRow's


# ------------------------------------------------------------------------------------------ text
def who_text(changed_by: Mapping[str, Any] | None) -> str:
    """Who made a change, from an event's claims: UPN, else name, else app id, else object id."""
    if not changed_by:
        return ""
    for key in ("upn", "name", "app_id", "appid", "object_id", "oid", "by", "user"):
        value = changed_by.get(key)
        if value:
            return str(value)
    return ", ".join(f"{k}={v}" for k, v in sorted(changed_by.items()) if isinstance(v, (str, int)))


def _time(value: object) -> str:
    """`2026-11-26 10:00 UTC` from a datetime or an ISO string; other text as it is."""
    if value is None or value == "":
        return ""
    when = time_or_none(value)
    return str(value) if when is None else when.strftime("%Y-%m-%d %H:%M UTC")


def _pct(fraction: float | None) -> str:
    return "\u2013" if fraction is None else f"{fraction * 100:.0f}%"


def _display_name(resource: Resource) -> str:
    if resource.kind in ("online_deployment", "batch_deployment") and resource.endpoint_name:
        return f"{resource.endpoint_name}/{resource.name}"
    return resource.name


# ------------------------------------------------------------------------------------------ templates
def _finalize(value: object) -> object:
    # Runs on every `{{ }}` before autoescaping: None prints as nothing, and control characters in
    # text from YAML or ARM show as visible escapes instead of reaching the page.
    if value is None:
        return ""
    if type(value) is str:
        return escape_controls(value)
    return value


def _md(text: str) -> Any:
    """Escaped text with `code spans` as <code> and line breaks kept (rule texts are written that way)."""
    from markupsafe import Markup, escape

    escaped = str(escape(escape_controls(str(text).strip())))
    return Markup(_CODE.sub(r"<code>\1</code>", escaped).replace("\n", "<br>"))


def _where(item: Any) -> str:
    return location_text(item.source, item.line)


@cache
def environment() -> jinja2.Environment:
    """The Jinja2 environment for the report and dashboard templates, built once per process."""
    import jinja2

    from . import svg

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("amlguard.reports", "templates"),
        autoescape=True, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined, finalize=_finalize, auto_reload=False)
    env.filters.update(md=_md, pct=_pct, when=_time, where=_where,
                       num=lambda v: f"{v:,}" if isinstance(v, int) else v,
                       slug=lambda rid: "rule-" + re.sub(r"[^A-Za-z0-9_-]", "-", str(rid)))
    env.tests["web_url"] = lambda uri: str(uri).startswith(("https://", "http://"))
    env.globals.update(svg=svg, finding_labels=_FINDING_LABELS)
    # `tojson` for the findings data block: compact, and `<`, `>`, `&`, `'` always escaped by jinja2.
    env.policies["json.dumps_kwargs"] = {"separators": (",", ":")}
    return env


@cache
def _asset(name: str) -> str:
    return (resources.files("amlguard.reports") / "assets" / name).read_text(encoding="utf-8")


def _sha256(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


def render_page(template: str, **context: Any) -> str:
    """A complete page from `template` (which extends page.html.j2), with the inline CSS and
    script and a Content-Security-Policy that allows exactly those two by hash."""
    from markupsafe import Markup

    css, js = _asset("report.css"), _asset("report.js")
    csp = (f"default-src 'none'; style-src 'sha256-{_sha256(css)}'; script-src 'sha256-{_sha256(js)}'; "
           "img-src data:; base-uri 'none'; form-action 'none'")
    return environment().get_template(template).render(css=Markup(css), js=Markup(js), csp=csp, **context)


# ------------------------------------------------------------------------------------------ numbers
def resource_status(findings: Iterable[Finding]) -> str:
    """The worst status of a resource's findings: error > fail > exempt > pass > not_applicable."""
    seen = {f.status for f in findings}
    for status in _RESOURCE_ORDER:
        if status in seen:
            return status
    return Status.NOT_APPLICABLE.value


@dataclass(slots=True)
class ComplianceRow:
    """Counts of one group (a rule, a severity, a workspace) and its compliance share."""

    key: str
    passed: int = 0
    failed: int = 0
    exempt: int = 0
    errors: int = 0
    not_applicable: int = 0

    def add(self, status: str) -> None:
        counter = _COUNTERS.get(status, "not_applicable")
        setattr(self, counter, getattr(self, counter) + 1)

    @property
    def checked(self) -> int:
        return self.passed + self.failed + self.exempt + self.errors

    @property
    def fraction(self) -> float | None:
        """Compliant share as Azure Policy counts it: (passed + exempt) / (passed + exempt + failed + errors)."""
        return None if self.checked == 0 else (self.passed + self.exempt) / self.checked


def compliance(report: AuditReport) -> dict[str, Any]:
    """Every number the overview and compliance sections show, computed once.

    `by_workspace` is ordered most failing first; `meta` holds each rule's metadata.
    """
    groups = group_by_resource(report)
    res_status = {resource.id: resource_status(findings) for resource, findings in groups}
    overall = ComplianceRow("all")
    by_rule: dict[str, ComplianceRow] = {rid: ComplianceRow(rid) for rid in ordered_rule_ids(report)}
    by_sev: dict[str, ComplianceRow] = {s: ComplianceRow(s) for s in SEVERITIES}
    for finding in report.findings:
        overall.add(finding.status)
        by_rule.setdefault(finding.rule, ComplianceRow(finding.rule)).add(finding.status)
        by_sev.setdefault(finding.severity.lower(), ComplianceRow(finding.severity.lower())).add(finding.status)
    by_ws: dict[str, ComplianceRow] = {}
    for resource, _findings in groups:
        ws = resource.workspace or "(no workspace)"
        row = by_ws.setdefault(ws, ComplianceRow(ws))
        row.add(res_status[resource.id])
    by_ws = dict(sorted(by_ws.items(), key=lambda kv: (-(kv[1].failed + kv[1].errors), kv[0])))
    resources_ok = sum(1 for s in res_status.values() if s in ("pass", "exempt"))
    resources_bad = sum(1 for s in res_status.values() if s in ("fail", "error"))
    return {"overall": overall, "by_rule": by_rule, "by_severity": by_sev, "by_workspace": by_ws,
            "resource_status": res_status, "resources_compliant": resources_ok,
            "resources_noncompliant": resources_bad, "groups": groups,
            "meta": {rid: rule_meta(report, rid) for rid in by_rule}}


# ------------------------------------------------------------------------------------------ resources
@dataclass(slots=True)
class AlertNote:
    """What the alert state adds to a failing finding: since when it fails and who changed it."""

    status: str
    since: str
    changed_by: str = ""
    acknowledged_by: str = ""
    silenced: bool = False


def _finding_entry(report: AuditReport, finding: Finding, note: AlertNote | None, texts: dict[str, int]) -> list[Any]:
    """One finding for the row's details, as the inline script renders it (text only, never markup):
    `[rule, status, severity, title#, message, where, field, exemption, why#, fix#, history]`; a text#
    is the index of the text in `texts` (text -> index, in the order first met), so that a rule's
    title, rationale and fix are stored once however many findings share them."""
    status = finding.status
    where = location_text(finding.source, finding.line) if status != Status.NOT_APPLICABLE.value else ""
    why = fix = -1
    if status in _ACTIONABLE:
        rationale = str(rule_meta(report, finding.rule).get("rationale") or "")
        # In full: each distinct text is stored once in the data block, however many findings share it.
        why = texts.setdefault(rationale.strip(), len(texts)) if rationale else -1
        remedy = remediation_of(report, finding)
        fix = texts.setdefault(remedy.strip(), len(texts)) if remedy else -1
    exempt = exemption_text(finding.exemption) if status == Status.EXEMPT.value and finding.exemption else ""
    history = []
    if note is not None:
        history.append(f"alert {note.status} since {note.since}")
        if note.acknowledged_by:
            history.append(f"acknowledged by {note.acknowledged_by}")
        if note.silenced:
            history.append("silenced")
    who = who_text(finding.changed_by) or (note.changed_by if note else "")
    if who:
        history.append(f"changed by {who}")
    title = texts.setdefault(title_of(report, finding), len(texts))
    values: list[Any] = [finding.rule, status, finding.severity.lower(), title, finding.message or "", where,
                         finding.field or "", exempt, why, fix, " \u00b7 ".join(history)]
    return [escape_controls(v) if isinstance(v, str) else v for v in values]


@dataclass(slots=True)
class _Row:
    """One resource row of the table, as the template prints it."""

    status: str
    label: str
    order: int
    kind: str
    kind_label: str
    workspace: str
    name: str
    where: str
    severities: str
    top: str
    rank: int
    rules: str
    search: str
    failing: int
    passed: int
    details: int | None
    summary: str


def resources_table(report: AuditReport, numbers: Mapping[str, Any],
                    notes: Mapping[tuple[str, str], AlertNote] | None = None) -> dict[str, Any]:
    """What the resource table, its filters and its findings data block show."""
    notes = notes or {}
    groups: list[tuple[Resource, list[Finding]]] = numbers["groups"]
    res_status: Mapping[str, str] = numbers["resource_status"]
    texts: dict[str, int] = {}
    details_data: list[list[list[Any]]] = []
    rows: list[_Row] = []
    for resource, findings in groups:
        status = res_status[resource.id]
        bad = [f for f in findings if f.status in _ACTIONABLE]
        listed = sorted((f for f in findings if f.status not in (Status.PASS.value, Status.NOT_APPLICABLE.value)),
                        key=finding_sort_key)
        sevs = sorted({f.severity.lower() for f in bad}, key=severity_rank)
        top = sevs[0] if sevs else ""
        name = _display_name(resource)
        failing_ids = sorted({f.rule for f in bad})
        # The ARM id is searchable when no file names the resource (live inventories).
        search = " ".join([name, resource.kind, resource.workspace or "", resource.source or resource.id,
                           *failing_ids]).lower()
        details = None
        if listed:
            details = len(details_data)
            details_data.append([_finding_entry(report, f, notes.get((f.rule, resource.id.lower())), texts)
                                 for f in listed])
        rows.append(_Row(
            status=status, label=STATUS_LABELS[status], order=_RESOURCE_ORDER.index(status), kind=resource.kind,
            kind_label=resource.kind.replace("_", " ") + (" (kubernetes)" if resource.compute_type == "kubernetes"
                                                          else ""),
            workspace=resource.workspace or "", name=name,
            where=location_text(resource.source, resource.line) or ("live" if resource.live else ""),
            severities=" ".join(sevs), top=top, rank=severity_rank(top) if top else 9, rules=" ".join(failing_ids),
            search=search, failing=len(bad), passed=sum(1 for f in findings if f.status == Status.PASS.value),
            details=details, summary=f"{len(bad)} failing" if bad else f"{len(listed)} exempt"))
    failing_rules = sorted({f.rule for f in report.findings if f.status in _ACTIONABLE})
    sev_present = [s for s in SEVERITIES if any(f.severity.lower() == s and f.status in _ACTIONABLE
                                                for f in report.findings)] or list(SEVERITIES)
    status_counts = Counter(res_status.values())
    return {
        "rows": rows, "page": _PAGE, "severities": sev_present,
        "statuses": [(s, STATUS_LABELS[s], status_counts[s]) for s in _RESOURCE_ORDER if status_counts[s]],
        "kinds": sorted({r.kind for r, _ in groups}),
        "workspaces": sorted({r.workspace or "" for r, _ in groups} - {""}),
        "rules": [(rid, f"{rid} — {rule_meta(report, rid).get('title') or ''}".rstrip(" —")) for rid in failing_rules],
        "data": {"texts": list(texts), "rows": details_data},
    }


def rule_cards(report: AuditReport, numbers: Mapping[str, Any]) -> dict[str, Any]:
    """What the rule cards show: failing rules with their failing findings, then the quiet rules."""
    failing: dict[str, list[Finding]] = {rid: [] for rid in numbers["by_rule"]}
    for finding in report.findings:
        if finding.status in _ACTIONABLE:
            failing[finding.rule].append(finding)
    return {"failing": {rid: bad for rid, bad in failing.items() if bad},
            "quiet": [rid for rid, bad in failing.items() if not bad],
            "meta": numbers["meta"], "by_rule": numbers["by_rule"], "listed": _MAX_LISTED,
            "names": {r.id: _display_name(r) for r, _ in numbers["groups"]}}


# ------------------------------------------------------------------------------------------ report
def render_html(report: AuditReport, *, title: str = "Azure ML endpoint compliance",
                generated_at: datetime | None = None, tool_version: str = __version__) -> str:
    """The audit report as one self-contained HTML page (no network; open from disk or a CI artifact)."""
    numbers = compliance(report)
    return render_page("report.html.j2", title=title, report=report, numbers=numbers,
                       generated=generated_at or datetime.now(UTC), tool_version=tool_version,
                       rule_count=len({f.rule for f in report.findings}),
                       table=resources_table(report, numbers), cards=rule_cards(report, numbers))
