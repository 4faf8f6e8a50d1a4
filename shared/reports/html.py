"""The self-contained HTML audit report (`amlguard audit --format html`) and the page parts the dashboard reuses.

One file, no network: CSS and script are inlined and pinned by hash in a Content-Security-Policy,
charts are server-side SVG, and every value from YAML or ARM is HTML-escaped.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from html import escape
from importlib import resources
from typing import Any

from amlguard import __version__
from amlguard.model import SEVERITIES, AuditReport, Finding, Resource, Status, severity_rank

from . import svg
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

__all__ = [
    "STATUS_LABELS",
    "AlertNote",
    "ComplianceRow",
    "Section",
    "compliance",
    "compliance_sections",
    "diagnostics_section",
    "e",
    "md",
    "overview_section",
    "page",
    "render_html",
    "resource_status",
    "resources_section",
    "rules_section",
    "who_text",
]

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
# Fixed column widths: the browser lays out 5,000 rows without measuring every cell.
_COLUMNS = ('<colgroup><col class="c-res"><col class="c-kind"><col class="c-ws"><col class="c-status">'
            '<col class="c-sev"><col class="c-fail"><col class="c-find"></colgroup>')
_PAGE = 200  # resource rows displayed at first (and per "show more"); filters always search all rows
_MAX_LISTED = 50  # failing resources listed under a rule card; the table filter shows all
_CODE = re.compile(r"`([^`\n]+)`")
_LOGO = ('<svg viewBox="0 0 24 24" aria-hidden="true" focusable="false"><path fill="currentColor" '
         'd="M12 2 3 6v6c0 5 3.8 9.3 9 10 5.2-.7 9-5 9-10V6l-9-4zm-1.2 14.2-3.5-3.5 1.4-1.4 2.1 2.1 '
         '4.9-4.9 1.4 1.4-6.3 6.3z"/></svg>')


# ------------------------------------------------------------------------------------------ text
def e(value: object) -> str:
    """HTML-escape any value (quotes too), showing control characters as visible escapes."""
    return escape(escape_controls("" if value is None else str(value)), quote=True)


def md(text: str) -> str:
    """Escaped text with `code spans` as <code> and line breaks kept (rule texts are written that way)."""
    escaped = e(text.strip())
    return _CODE.sub(r"<code>\1</code>", escaped).replace("\n", "<br>")


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
    if not isinstance(value, datetime):
        try:
            value = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            return str(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _pct(fraction: float | None) -> str:
    return "\u2013" if fraction is None else f"{fraction * 100:.0f}%"


def _badge(css: str, text: str) -> str:
    return f'<span class="badge {e(css)}">{e(text)}</span>'


def _display_name(resource: Resource) -> str:
    if resource.kind in ("online_deployment", "batch_deployment") and resource.endpoint_name:
        return f"{resource.endpoint_name}/{resource.name}"
    return resource.name


def _slug(rule_id: str) -> str:
    return "rule-" + re.sub(r"[^A-Za-z0-9_-]", "-", rule_id)


# ------------------------------------------------------------------------------------------ page
@cache
def _asset(name: str) -> str:
    return (resources.files("amlguard.reports") / "assets" / name).read_text(encoding="utf-8")


def _sha256(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


@dataclass(slots=True)
class Section:
    """One titled part of a page, listed in the navigation."""

    id: str
    title: str
    body: str
    lead: str = ""


def page(title: str, sections: Sequence[Section], *, subtitle: str = "", footer: str = "",
         notice: str = "") -> str:
    """A complete HTML document: inline CSS and script allowed by hash only, nothing else loads.

    The policy also stops any injected `<script>` from running even if escaping were ever missed.
    `notice` (markup) is shown above the first section, for what could not be read.
    """
    css, js = _asset("report.css"), _asset("report.js")
    csp = (f"default-src 'none'; style-src 'sha256-{_sha256(css)}'; script-src 'sha256-{_sha256(js)}'; "
           "img-src data:; base-uri 'none'; form-action 'none'")
    nav = "".join(f'<a href="#{e(s.id)}">{e(s.title)}</a>' for s in sections)
    body = "".join(
        f'<section id="{e(s.id)}" aria-labelledby="{e(s.id)}-h"><h2 id="{e(s.id)}-h">{e(s.title)}</h2>'
        + (f'<p class="lead">{s.lead}</p>' if s.lead else "") + s.body + "</section>"
        for s in sections)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en" data-theme="auto"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta http-equiv="Content-Security-Policy" content="{e(csp)}">'
        '<meta name="color-scheme" content="light dark">'
        f"<title>{e(title)}</title><style>{css}</style></head><body>"
        '<a class="skip" href="#main">Skip to content</a>'
        '<header class="top"><div class="top-row">'
        f'<div class="brand">{_LOGO}<span>amlguard</span></div><h1>{e(title)}</h1>'
        '<button type="button" id="theme-toggle" title="Switch the colour theme: auto, light, dark">'
        "Theme: auto</button></div>"
        f'<p class="meta">{subtitle}</p>'
        f'<nav class="sections" aria-label="Sections">{nav}</nav></header>'
        f'<main id="main" tabindex="-1">'
        + (f'<div class="notice" role="status">{notice}</div>' if notice else "")
        + f"{body}</main>"
        f'<footer>{footer}</footer>'
        f"<script>{js}</script></body></html>\n"
    )


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
    label: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def add(self, status: str) -> None:
        if status == "pass":
            self.passed += 1
        elif status == "fail":
            self.failed += 1
        elif status == "exempt":
            self.exempt += 1
        elif status == "error":
            self.errors += 1
        else:
            self.not_applicable += 1

    @property
    def checked(self) -> int:
        return self.passed + self.failed + self.exempt + self.errors

    @property
    def fraction(self) -> float | None:
        """Compliant share as Azure Policy counts it: (passed + exempt) / (passed + exempt + failed + errors)."""
        return None if self.checked == 0 else (self.passed + self.exempt) / self.checked


def compliance(report: AuditReport) -> dict[str, Any]:
    """Every number the overview and compliance sections show, computed once."""
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
    resources_ok = sum(1 for s in res_status.values() if s in ("pass", "exempt"))
    resources_bad = sum(1 for s in res_status.values() if s in ("fail", "error"))
    return {"overall": overall, "by_rule": by_rule, "by_severity": by_sev, "by_workspace": by_ws,
            "resource_status": res_status, "resources_compliant": resources_ok,
            "resources_noncompliant": resources_bad, "groups": groups}


# ------------------------------------------------------------------------------------------ sections
def _card(label: str, value: object, *, css: str = "", sub: str = "", testid: str = "") -> str:
    tid = f' data-count="{e(testid)}"' if testid else ""
    shown = f"{value:,}" if isinstance(value, int) else value
    return (f'<div class="card {e(css)}"><div class="label">{e(label)}</div>'
            f'<div class="value"{tid}>{e(shown)}</div>' + (f'<div class="sub">{sub}</div>' if sub else "")
            + "</div>")


def overview_section(report: AuditReport, numbers: Mapping[str, Any], *, extra_cards: str = "") -> Section:
    """Headline cards: compliance ring, resources, and the contract-2 summary counts."""
    summary = report.summary()
    overall: ComplianceRow = numbers["overall"]
    n_na = overall.not_applicable
    fraction = overall.fraction
    ring_css = "ok" if fraction is not None and fraction >= 0.9 else "warn" if (fraction or 0) >= 0.6 else "bad"
    hero = (f'<div class="card hero">{svg.donut(fraction, label=f"{_pct(fraction)} of checks compliant", css=ring_css)}'
            f'<div><div class="label">Compliance</div><div class="value" data-count="compliance">{_pct(fraction)}</div>'
            f'<div class="sub">{overall.passed + overall.exempt} of {overall.checked} checks pass or are exempt<br>'
            f'{numbers["resources_compliant"]} of {summary["resources"]} resources compliant</div></div></div>')
    cards = [
        hero,
        _card("Resources", summary["resources"], testid="resources",
              sub=f'<span data-count="noncompliant-resources">{numbers["resources_noncompliant"]}</span> '
                  "non-compliant"),
        _card("Failed", summary["failed"], css="bad" if summary["failed"] else "ok", testid="failed",
              sub="checks that need a fix"),
        _card("Passed", summary["passed"], css="ok", testid="passed", sub=f"{n_na} not applicable"),
        _card("Exempt", summary["exempt"], css="exempt", testid="exempt", sub="approved exceptions"),
        _card("Errors", summary["errors"], css="err" if summary["errors"] else "", testid="errors",
              sub=f'could not be checked; <span data-count="diagnostics">{len(report.diagnostics)}</span> '
                  "unreadable files"),
    ]
    return Section("overview", "Overview", f'<div class="cards">{"".join(cards)}{extra_cards}</div>')


def _stack(row: ComplianceRow, label: str) -> str:
    return svg.stacked_bar([
        svg.Segment(row.passed, "ok", f"{row.passed} passed"),
        svg.Segment(row.exempt, "exempt", f"{row.exempt} exempt"),
        svg.Segment(row.failed, "bad", f"{row.failed} failed"),
        svg.Segment(row.errors, "err", f"{row.errors} errors"),
    ], label=label)


_LEGEND = ('<div class="legend"><span><span class="key ok"></span>passed</span>'
           '<span><span class="key exempt"></span>exempt</span><span><span class="key bad"></span>failed</span>'
           '<span><span class="key err"></span>error</span></div>')


def compliance_sections(report: AuditReport, numbers: Mapping[str, Any]) -> Section:
    """Compliance by severity, by workspace and by rule: tables with a bar per row."""
    sev_rows = []
    for sev, row in numbers["by_severity"].items():
        if row.checked == 0 and row.not_applicable == 0:
            continue
        sev_rows.append(
            f'<tr data-severity="{e(sev)}"><td>{_badge("sev-" + sev, sev)}</td>'
            f'<td class="num">{row.passed + row.exempt}</td>'
            f'<td class="num" data-failed="{row.failed}">{row.failed}</td>'
            f'<td class="num">{row.errors}</td><td class="num">{_pct(row.fraction)}</td>'
            f'<td>{_stack(row, f"{sev}: {_pct(row.fraction)} compliant")}</td></tr>')
    sev_table = ('<table><caption class="visually-hidden">Compliance by severity</caption><thead><tr>'
                 '<th scope="col">Severity</th><th scope="col" class="num">OK</th>'
                 '<th scope="col" class="num">Failed</th>'
                 '<th scope="col" class="num">Errors</th><th scope="col" class="num">Compliant</th>'
                 f'<th scope="col">Checks</th></tr></thead><tbody>{"".join(sev_rows)}</tbody></table>')
    ws_rows = []
    for ws, row in sorted(numbers["by_workspace"].items(), key=lambda kv: (-(kv[1].failed + kv[1].errors), kv[0])):
        ws_rows.append(
            f'<tr data-workspace="{e(ws)}"><td class="rname">{e(ws)}</td>'
            f'<td class="num">{row.checked + row.not_applicable}</td>'
            f'<td class="num">{row.failed + row.errors}</td><td class="num">{_pct(row.fraction)}</td>'
            f'<td>{_stack(row, f"{ws}: {_pct(row.fraction)} of resources compliant")}</td></tr>')
    ws_table = ('<table><caption class="visually-hidden">Compliance by workspace (resources)</caption><thead><tr>'
                '<th scope="col">Workspace</th><th scope="col" class="num">Resources</th>'
                '<th scope="col" class="num">Non-compliant</th><th scope="col" class="num">Compliant</th>'
                f'<th scope="col">Share</th></tr></thead><tbody>{"".join(ws_rows)}</tbody></table>')
    rule_rows = []
    for rid, row in numbers["by_rule"].items():
        meta = rule_meta(report, rid)
        sev = str(meta.get("severity") or "")
        rule_rows.append(
            f'<tr data-rule="{e(rid)}"><td><a href="#{e(_slug(rid))}"><code class="rid">{e(rid)}</code></a></td>'
            f'<td>{e(meta.get("title") or "")}</td><td>{_badge("sev-" + sev, sev) if sev else ""}</td>'
            f'<td class="num">{row.passed}</td><td class="num" data-failed="{row.failed}">{row.failed}</td>'
            f'<td class="num">{row.exempt}</td><td class="num">{row.errors}</td>'
            f'<td class="num">{row.not_applicable}</td><td class="num">{_pct(row.fraction)}</td>'
            f'<td>{_stack(row, f"{rid}: {_pct(row.fraction)} compliant")}</td></tr>')
    rule_table = ('<table><caption class="visually-hidden">Compliance by rule</caption><thead><tr>'
                  '<th scope="col">Rule</th><th scope="col">Title</th><th scope="col">Severity</th>'
                  '<th scope="col" class="num">Passed</th><th scope="col" class="num">Failed</th>'
                  '<th scope="col" class="num">Exempt</th><th scope="col" class="num">Errors</th>'
                  '<th scope="col" class="num">N/A</th><th scope="col" class="num">Compliant</th>'
                  f'<th scope="col">Checks</th></tr></thead><tbody>{"".join(rule_rows)}</tbody></table>')
    body = (f'<div class="grid cols-2"><div class="panel" id="by-severity"><h3>By severity (checks)</h3>'
            f"{sev_table}</div>"
            f'<div class="panel" id="by-workspace"><h3>By workspace (resources)</h3>'
            f'<div class="table-wrap short scroll">{ws_table}</div></div></div>'
            f'<div class="panel" id="by-rule"><h3>By rule</h3>{_LEGEND}<div class="table-wrap short">{rule_table}'
            "</div></div>")
    return Section("compliance", "Compliance", body,
                   lead="Compliant share counts passed and exempt checks over every check that applied "
                        "(as Azure Policy does); not-applicable checks are left out.")


@dataclass(slots=True)
class AlertNote:
    """What the alert state adds to a failing finding: since when it fails and who changed it."""

    status: str
    since: str
    changed_by: str = ""
    acknowledged_by: str = ""
    silenced: bool = False


def _safe_json(value: Any) -> str:
    """JSON that can sit inside a <script type="application/json"> block: no `<`, `>`, `&` or line separators
    as raw characters, so no value can close the block or start markup."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    for raw, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                         ("\u2029", "\\u2029")):
        text = text.replace(raw, escaped)
    return text


class _Texts:
    """Interned strings: a rule's title, rationale and fix are stored once however many findings share them."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self._index: dict[str, int] = {}

    def __call__(self, text: str) -> int:
        index = self._index.get(text)
        if index is None:
            index = self._index[text] = len(self.items)
            self.items.append(text)
        return index


def _finding_entry(report: AuditReport, finding: Finding, note: AlertNote | None, texts: _Texts) -> list[Any]:
    """One finding for the row's details, as the inline script renders it (text only, never markup):
    `[rule, status, severity, title#, message, where, field, exemption, why#, fix#, history]`."""
    status = finding.status
    where = location_text(finding.source, finding.line) if status != Status.NOT_APPLICABLE.value else ""
    why = fix = -1
    if status in _ACTIONABLE:
        rationale = str(rule_meta(report, finding.rule).get("rationale") or "")
        # In full: each distinct text is stored once in the data block, however many findings share it.
        why = texts(rationale.strip()) if rationale else -1
        remedy = remediation_of(report, finding)
        fix = texts(remedy.strip()) if remedy else -1
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
    values: list[Any] = [finding.rule, status, finding.severity.lower(), texts(title_of(report, finding)),
                         finding.message or "", where, finding.field or "", exempt, why, fix, " \u00b7 ".join(history)]
    return [escape_controls(v) if isinstance(v, str) else v for v in values]


def resources_section(report: AuditReport, numbers: Mapping[str, Any],
                      notes: Mapping[tuple[str, str], AlertNote] | None = None) -> Section:
    """The resource table: one server-rendered row per resource, filtered and sorted by the inline script."""
    notes = notes or {}
    groups: list[tuple[Resource, list[Finding]]] = numbers["groups"]
    res_status: Mapping[str, str] = numbers["resource_status"]
    kinds = sorted({r.kind for r, _ in groups})
    workspaces = sorted({r.workspace or "" for r, _ in groups} - {""})
    failing_rules = sorted({f.rule for f in report.findings if f.status in _ACTIONABLE})
    sev_present = [s for s in SEVERITIES if any(f.severity.lower() == s and f.status in _ACTIONABLE
                                                for f in report.findings)] or list(SEVERITIES)
    rows: list[str] = []
    texts = _Texts()
    details_data: list[list[list[Any]]] = []
    for resource, findings in groups:
        status = res_status[resource.id]
        bad = [f for f in findings if f.status in _ACTIONABLE]
        listed = sorted((f for f in findings if f.status not in (Status.PASS.value, Status.NOT_APPLICABLE.value)),
                        key=finding_sort_key)
        sevs = sorted({f.severity.lower() for f in bad}, key=severity_rank)
        top = sevs[0] if sevs else ""
        name = _display_name(resource)
        where = location_text(resource.source, resource.line) or ("live" if resource.live else "")
        failing_ids = sorted({f.rule for f in bad})
        # The ARM id is searchable when no file names the resource (live inventories).
        search = " ".join([name, resource.kind, resource.workspace or "", resource.source or resource.id,
                           *failing_ids]).lower()
        passed = sum(1 for f in findings if f.status == Status.PASS.value)
        if listed:
            # Findings are rendered by the inline script when the row is opened: a 5,000-resource page stays
            # a few MB and lays out fast. The data block is JSON (text only); the script never parses markup.
            details_data.append([_finding_entry(report, f, notes.get((f.rule, resource.id.lower())), texts)
                                 for f in listed])
            label = f"{len(bad)} failing" if bad else f"{len(listed)} exempt"
            details = (f'<details data-i="{len(details_data) - 1}"><summary>{e(label)}<span class="muted"> · '
                       f'{passed} passed</span></summary><ul class="findings"></ul></details>')
        elif passed:
            details = f'<span class="muted">all {passed} checks pass</span>'
        else:
            details = '<span class="muted">no rule applies</span>'
        kind = resource.kind.replace("_", " ") + (" (kubernetes)" if resource.compute_type == "kubernetes" else "")
        hidden = " hidden" if len(rows) >= _PAGE else ""
        rows.append(
            f'<tr{hidden} data-status="{e(status)}" data-kind="{e(resource.kind)}" '
            f'data-ws="{e(resource.workspace or "")}" '
            f'data-sev="{e(" ".join(sevs))}" data-rules="{e(" ".join(failing_ids))}" data-search="{e(search)}">'
            f'<td><div class="rname">{e(name)}</div><div class="muted small"><code>{e(where)}</code></div></td>'
            f"<td>{e(kind)}</td><td>{e(resource.workspace or '')}</td>"
            f'<td data-v="{_RESOURCE_ORDER.index(status)}">{_badge("s-" + status, STATUS_LABELS[status])}</td>'
            f'<td data-v="{severity_rank(top) if top else 9}">{_badge("sev-" + top, top) if top else ""}</td>'
            f'<td class="num" data-v="{len(bad)}">{len(bad)}</td><td>{details}</td></tr>')
    data_block = (f'<script type="application/json" id="findings-data">'
                  f'{_safe_json({"texts": texts.items, "rows": details_data})}</script>')

    def options(values: Iterable[str], labels: Mapping[str, str] | None = None) -> str:
        return "".join(f'<option value="{e(v)}">{e((labels or {}).get(v, v))}</option>' for v in values)

    status_counts = Counter(res_status.values())
    status_options = "".join(
        f'<option value="{e(s)}">{e(STATUS_LABELS[s])} ({status_counts[s]})</option>'
        for s in _RESOURCE_ORDER if status_counts[s])
    rule_titles = {rid: f"{rid} — {rule_meta(report, rid).get('title') or ''}".rstrip(" —") for rid in failing_rules}
    chips = "".join(f'<button type="button" class="chip" data-sev="{e(s)}" aria-pressed="false">{e(s)}</button>'
                    for s in sev_present)
    filters = (
        '<div class="filters" role="search" aria-label="Filter resources">'
        '<label for="f-search">Search<input type="search" id="f-search" '
        'placeholder="name, id, file, rule…" autocomplete="off"></label>'
        f'<fieldset class="chips"><legend>Failing severity</legend>{chips}</fieldset>'
        '<label for="f-status">Status<select id="f-status"><option value="">All</option>'
        f"{status_options}</select></label>"
        f'<label for="f-kind">Kind<select id="f-kind"><option value="">All</option>'
        f'{options(kinds, {k: k.replace("_", " ") for k in kinds})}</select></label>'
        f'<label for="f-ws">Workspace<select id="f-ws"><option value="">All</option>{options(workspaces)}'
        "</select></label>"
        f'<label for="f-rule">Failing rule<select id="f-rule"><option value="">Any</option>'
        f"{options(failing_rules, rule_titles)}</select></label>"
        '<button type="button" id="f-reset">Reset filters</button></div>')
    head = (
        '<thead><tr><th scope="col" aria-sort="none"><button type="button" class="sort">Resource</button></th>'
        '<th scope="col" aria-sort="none"><button type="button" class="sort">Kind</button></th>'
        '<th scope="col" aria-sort="none"><button type="button" class="sort">Workspace</button></th>'
        '<th scope="col" aria-sort="none" data-type="num"><button type="button" class="sort">Status</button></th>'
        '<th scope="col" aria-sort="none" data-type="num"><button type="button" class="sort">Severity</button></th>'
        '<th scope="col" class="num" aria-sort="none" data-type="num"><button type="button" class="sort">'
        "Failing</button></th><th scope=\"col\">Findings</th></tr></thead>")
    body = (f"{filters}"
            f'<p class="count" aria-live="polite">Showing <span id="f-visible">{min(len(rows), _PAGE)}</span> of '
            f'<span id="f-shown">{len(rows)}</span> matching resources (<span id="f-total">{len(rows)}</span> '
            "in total)</p>"
            f'<div class="table-wrap"><table id="resource-table" data-page="{_PAGE}">'
            '<caption class="visually-hidden">Resources; '
            "column headers sort the table</caption>" + _COLUMNS +
            f'{head}<tbody>{"".join(rows)}</tbody></table>'
            '<p id="f-empty" class="empty" hidden>No resource matches these filters.</p></div>'
            f'<p><button type="button" id="f-more"{"" if len(rows) > _PAGE else " hidden"}>Show '
            f"{min(_PAGE, max(len(rows) - _PAGE, 0))} more</button></p>"
            '<noscript><p class="empty">Filters and per-resource findings need JavaScript; the rule cards below '
            f"list every failing resource with the fix.</p></noscript>{data_block}")
    return Section("resources", "Resources", body,
                   lead="Every audited resource with its worst status. Open a row's findings for the message, "
                        "the file and line, why the rule exists and the exact fix.")


def rules_section(report: AuditReport, numbers: Mapping[str, Any]) -> Section:
    """One card per rule with failures or errors (then the passing rules, folded): rationale and fix in full."""
    failing: dict[str, list[Finding]] = defaultdict(list)
    for finding in report.findings:
        if finding.status in _ACTIONABLE:
            failing[finding.rule].append(finding)
    names = {r.id: _display_name(r) for r, _ in numbers["groups"]}
    cards = []
    quiet = []
    for rid in ordered_rule_ids(report):
        meta = rule_meta(report, rid)
        row: ComplianceRow = numbers["by_rule"].get(rid) or ComplianceRow(rid)
        sev = str(meta.get("severity") or "")
        if rid not in failing:
            quiet.append(f'<li id="{e(_slug(rid))}"><code class="rid">{e(rid)}</code> {e(meta.get("title") or "")} '
                         f'<span class="muted small">({row.passed} passed, {row.exempt} exempt, '
                         f"{row.not_applicable} n/a)</span></li>")
            continue
        bad = failing[rid]
        listed = "".join(
            f'<li>{_badge("s-" + f.status, _FINDING_LABELS.get(f.status, f.status))} '
            f'<span class="rname">{e(names.get(f.resource, f.resource_name or f.resource))}</span> '
            f'<span class="muted small"><code>{e(location_text(f.source, f.line))}</code></span></li>'
            for f in bad[:_MAX_LISTED])
        more = (f'<li class="muted">and {len(bad) - _MAX_LISTED} more</li>' if len(bad) > _MAX_LISTED else "")
        dl = []
        for label, key in (("What", "description"), ("Why", "rationale"), ("Fix", "remediation")):
            text = str(meta.get(key) or "")
            if text:
                dl.append(f"<dt>{label}</dt><dd>{md(text)}</dd>")
        if meta.get("help_uri"):
            uri = str(meta["help_uri"])
            if uri.startswith(("https://", "http://")):
                dl.append(f'<dt>Docs</dt><dd><a href="{e(uri)}" rel="noreferrer">{e(uri)}</a></dd>')
        dl.append(f'<dt>Failing</dt><dd><a href="#resources" data-filter-rule="{e(rid)}">show the '
                  f"{len(bad)} in the resource table</a><ul class=\"small\">{listed}{more}</ul></dd>")
        cards.append(
            f'<article class="panel rule-card" id="{e(_slug(rid))}" data-rule="{e(rid)}">'
            f'<h3><code class="rid">{e(rid)}</code> {e(meta.get("title") or "")} '
            f'{_badge("sev-" + sev, sev) if sev else ""}'
            f'<span class="muted small">{row.failed} failed · {row.errors} errors · {row.passed} passed · '
            f'{row.exempt} exempt</span></h3><dl>{"".join(dl)}</dl></article>')
    body = f'<div class="rule-cards">{"".join(cards)}</div>' if cards else \
        '<p class="empty">No rule fails: nothing to fix.</p>'
    if quiet:
        body += (f'<details class="panel"><summary>{len(quiet)} rules with no failure</summary>'
                 f'<ul>{"".join(quiet)}</ul></details>')
    return Section("rules", "Findings by rule", body,
                   lead="What each failing rule checks, why it matters and how to fix it, with the resources "
                        "that fail it.")


def diagnostics_section(report: AuditReport) -> Section | None:
    """Files that could not be read (None when there are none)."""
    if not report.diagnostics:
        return None
    items = "".join(f'<li><code>{e(location_text(d.source, d.line))}</code>: {e(d.message)}</li>'
                    for d in report.diagnostics)
    return Section("diagnostics", "Diagnostics", f'<div class="panel"><ul>{items}</ul></div>',
                   lead="Files that could not be read; their resources are not in this report.")


# ------------------------------------------------------------------------------------------ report
def render_html(report: AuditReport, *, title: str = "Azure ML endpoint compliance",
                generated_at: datetime | None = None, tool_version: str = __version__) -> str:
    """The audit report as one self-contained HTML page (no network; open from disk or a CI artifact)."""
    generated = generated_at or datetime.now(UTC)
    numbers = compliance(report)
    sections = [overview_section(report, numbers), compliance_sections(report, numbers),
                resources_section(report, numbers), rules_section(report, numbers)]
    diag = diagnostics_section(report)
    if diag is not None:
        sections.append(diag)
    summary = report.summary()
    subtitle = (f"Audit report generated {e(_time(generated))} · {summary['resources']} resources · "
                f"{len(report.rules) or len({f.rule for f in report.findings})} rules")
    footer = (f"amlguard {e(tool_version)} · static report: filters and sorting work offline; "
              "the live dashboard is served at <code>/api/dashboard</code>.")
    return page(title, sections, subtitle=subtitle, footer=footer)
