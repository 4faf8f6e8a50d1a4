"""Terminal output: the plain-text table every command prints, and the audit report built with it
(findings grouped by resource, remediation for failures, a summary line)."""

from __future__ import annotations

import sys
from collections.abc import Container, Mapping, Sequence
from typing import TextIO

from amlguard.model import AuditReport, Finding, Resource, Status

from ._common import (
    counts,
    escape_controls,
    exemption_text,
    finding_sort_key,
    group_by_resource,
    location_text,
    remediation_of,
    severity_counts,
    short_text,
    title_of,
)

__all__ = ["render_table", "text_table", "use_color"]

# SGR codes; kept to the 8 basic colours so every terminal (and Azure DevOps / GitHub logs,
# which render ANSI) shows them.
_RESET = "\x1b[0m"
_STYLE = {
    "bold": "1",
    "dim": "2",
    "red": "31",
    "green": "32",
    "yellow": "33",
    "blue": "34",
    "magenta": "35",
    "cyan": "36",
    "bold_red": "1;31",
}
_STATUS_LABEL = {
    Status.FAIL.value: ("FAIL", "bold_red"),
    Status.ERROR.value: ("ERROR", "magenta"),
    Status.EXEMPT.value: ("EXEMPT", "cyan"),
    Status.NOT_APPLICABLE.value: ("N/A", "dim"),
    Status.PASS.value: ("PASS", "green"),
}
_SEVERITY_STYLE = {"critical": "bold_red", "high": "red", "medium": "yellow", "low": "blue", "info": "dim"}
_INDENT = "  "
# plain strings: an Enum member's .value is a descriptor call, and these are read per finding
_PASS, _FAIL, _EXEMPT, _NOT_APPLICABLE = (s.value for s in (Status.PASS, Status.FAIL, Status.EXEMPT,
                                                             Status.NOT_APPLICABLE))
_COUNTED_ONLY = frozenset((_PASS, _NOT_APPLICABLE))  # listed only with show_passed


def use_color(stream: TextIO | None = None, env: Mapping[str, str] | None = None) -> bool:
    """Whether to colour output written to `stream` (default stdout).

    Same precedence as CPython's own colouring, read from the settings mapping `env`
    (`amlguard.config.Settings.env`): `NO_COLOR` (non-empty) turns colour off, then `FORCE_COLOR`
    (non-empty) turns it on, then `TERM=dumb` turns it off, then colour only when the stream is a
    terminal.
    """
    env = env or {}
    if env.get("NO_COLOR"):
        return False
    if env.get("FORCE_COLOR"):
        return True
    if env.get("TERM") == "dumb":
        return False
    stream = stream if stream is not None else sys.stdout
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed or replaced stream
        return False


class _Painter:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, text: str, style: str | None) -> str:
        if not self.enabled or not style or not text:
            return text
        return f"\x1b[{_STYLE[style]}m{text}{_RESET}"


def text_table(rows: Sequence[Sequence[str]], *, right: Container[int] = (), min_widths: Sequence[int] = (),
               styles: Sequence[Sequence[str | None]] = (), color: bool = False) -> list[str]:
    """The lines of a plain-text table (give the header as the first row, if any).

    Each column is as wide as its widest cell (at least `min_widths[i]`), columns are two spaces
    apart, cells are left-aligned but in the columns listed in `right`, and trailing spaces are
    trimmed. With `color`, `styles[row][column]` names the colour of a cell; it is applied after
    padding, so colour codes never count as width.
    """
    count = max((len(row) for row in rows), default=0)
    widths = [max([min_widths[i] if i < len(min_widths) else 0, *(len(r[i]) for r in rows if i < len(r))])
              for i in range(count)]
    paint = _Painter(color)
    lines = []
    for n, row in enumerate(rows):
        style = styles[n] if n < len(styles) else ()
        cells = [paint(cell.rjust(widths[i]) if i in right else cell.ljust(widths[i]),
                       style[i] if i < len(style) else None) for i, cell in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
    return lines


def _resource_header(resource: Resource, paint: _Painter) -> str:
    kind = resource.kind + (" (kubernetes)" if resource.compute_type == "kubernetes" else "")
    where = location_text(resource.source, resource.line)
    if not where:
        where = f"live: {resource.id}" if resource.id != resource.name else "live"
    parts = [paint(escape_controls(kind), "bold"), paint(escape_controls(resource.name), "bold")]
    if resource.workspace and not (resource.kind == "workspace" and resource.workspace == resource.name):
        parts.append(f"workspace {escape_controls(resource.workspace)}")
    return "  ".join(parts) + f"  ({escape_controls(where)})"


class _Escaped(dict[str, str]):
    """Text -> `escape_controls(text)`, worked out once per distinct text (messages and titles repeat)."""

    def __missing__(self, text: str) -> str:
        self[text] = escaped = escape_controls(text)
        return escaped


class _Heads:
    """A finding's head line (status, severity, rule, title) in one table over every listed finding
    of the report, so the columns line up across resources: the status and severity columns as
    wide as their widest listed value, the rule column as the longest rule id of the report,
    listed or not (the title ends the line). Head lines repeat (a rule's failures look alike):
    each distinct one is laid out once."""

    def __init__(self, report: AuditReport, paint: _Painter, show_passed: bool) -> None:
        self.report, self.paint, self.escaped = report, paint, _Escaped()
        label_width, severity_width, rule_width = 6, 8, 0
        for status, severity, rule in {(f.status, f.severity, f.rule) for f in report.findings}:
            rule_width = max(rule_width, len(rule))
            if show_passed or status not in _COUNTED_ONLY:
                label_width = max(label_width, len(self._label(status)[0]))
                severity_width = max(severity_width, len(severity))
        self.widths = (label_width, severity_width, rule_width)
        self.lines: dict[tuple[str, str, str, str], str] = {}
        self.orders: dict[tuple[str, str, str], tuple[int, int, str]] = {}

    @staticmethod
    def _label(status: str) -> tuple[str, str | None]:
        return _STATUS_LABEL.get(status) or (status.upper(), None)

    def order(self, finding: Finding) -> tuple[int, int, str]:
        """finding_sort_key, worked out once per status, severity and rule."""
        key = (finding.status, finding.severity, finding.rule)
        order = self.orders.get(key)
        if order is None:
            order = self.orders[key] = finding_sort_key(finding)
        return order

    def __call__(self, finding: Finding) -> str:
        key = (finding.status, finding.severity, finding.rule, finding.title)
        line = self.lines.get(key)
        if line is None:
            label, style = self._label(finding.status)
            severity = finding.severity.lower()
            (line,) = text_table([(label, severity, finding.rule, self.escaped[title_of(self.report, finding)])],
                                 styles=[(style, _SEVERITY_STYLE.get(severity))], min_widths=self.widths,
                                 color=self.paint.enabled)
            line = self.lines[key] = _INDENT + line
        return line


class _Details:
    """The lines under a finding's head line (message, location, remediation or exemption), indented
    by `pad`. A report repeats its messages, files and remediations across findings, so each
    distinct one is escaped and laid out once."""

    def __init__(self, report: AuditReport, escaped: _Escaped, show_fix: bool, pad: str) -> None:
        self.report, self.escaped, self.show_fix, self.pad = report, escaped, show_fix, pad
        self.messages: dict[str, list[str]] = {}
        self.sources: dict[str, str] = {}
        self.fixes: dict[str, list[str]] = {}

    def __call__(self, finding: Finding) -> list[str]:
        pad, message = self.pad, finding.message or ""
        lines = self.messages.get(message)
        if lines is None:
            lines = self.messages[message] = [pad + line for line in self.escaped[message].splitlines()]
        lines = lines.copy()
        status = finding.status
        if status == _EXEMPT and finding.exemption:
            lines.append(pad + "exempt: " + escape_controls(exemption_text(finding.exemption)))
        source = finding.source
        if source and status != _NOT_APPLICABLE:
            where = self.sources.get(source)
            if where is None:
                where = self.sources[source] = pad + "at " + escape_controls(source)
            lines.append(f"{where}:{finding.line}" if finding.line else where)
        if status == _FAIL:
            remediation = remediation_of(self.report, finding)
            fix = self.fixes.get(remediation)
            if fix is None:
                fix = self.fixes[remediation] = [pad + line for line in (
                    _whole_fix(remediation) if self.show_fix else [_fix_line(remediation)]) if line]
            lines.extend(fix)
        return lines


def _whole_fix(remediation: str) -> list[str]:
    """The remediation as written (`--show-fix`), its lines under `fix: `."""
    lines = escape_controls(remediation.strip()).splitlines()
    return [("fix: " if n == 0 else "     ") + line if line.strip() else "" for n, line in enumerate(lines)]


def _fix_line(remediation: str) -> str:
    fix = short_text(remediation)
    return f"fix: {escape_controls(fix)}" if fix else ""


def render_table(report: AuditReport, *, color: bool | None = None, show_passed: bool = False,
                 show_fix: bool = False) -> str:
    """Human-readable report: one block per resource, then diagnostics, then the summary.

    `color=None` decides from stdout (see `use_color`); pass `False` when writing to a file.
    Passing and not-applicable checks are counted under each resource (a rule that does not
    apply is no news at a terminal, and on a large estate they are most of the lines);
    `show_passed=True` lists them too. `show_fix=True` prints each failure's remediation whole
    instead of its first sentence.
    """
    enabled = use_color() if color is None else color
    paint = _Painter(enabled)
    heads = _Heads(report, paint, show_passed)
    details = _Details(report, heads.escaped, show_fix, _INDENT + " " * (6 + 2 + 8 + 2))  # under the rule id
    out: list[str] = []
    append, extend = out.append, out.extend
    for resource, findings in group_by_resource(report):
        append(_resource_header(resource, paint))
        listed, passed, not_applicable = [], 0, 0
        for finding in findings:
            status = finding.status
            if status == _PASS:
                passed += 1
            elif status == _NOT_APPLICABLE:
                not_applicable += 1
            else:
                listed.append(finding)
                continue
            if show_passed:
                listed.append(finding)
        if len(listed) > 1:
            listed.sort(key=heads.order)
        for finding in listed:
            append(heads(finding))
            if finding.status != _PASS:
                extend(details(finding))
        if (passed or not_applicable) and not show_passed:
            counted = ([paint(f"{passed} passed", "green")] if passed else []) + (
                [paint(f"{not_applicable} not applicable", "dim")] if not_applicable else [])
            append(_INDENT + ", ".join(counted))
        if not findings:
            append(f"{_INDENT}{paint('no rule applies to this kind', 'dim')}")
        append("")

    if report.diagnostics:
        out.append(paint("Diagnostics", "bold"))
        for diag in report.diagnostics:
            where = location_text(diag.source, diag.line)
            out.append(f"{_INDENT}{escape_controls(where)}: {escape_controls(diag.message)}")
        out.append("")

    c = counts(report)
    summary = (
        f"{c['resources']} resources, {c['passed']} passed, {c['failed']} failed, {c['exempt']} exempt, "
        f"{c['errors']} errors, {c['not_applicable']} not applicable — {c['diagnostics']} diagnostics"
    )
    out.append(paint(summary, "bold"))
    by_severity = severity_counts(report.findings, {_FAIL})
    if by_severity:
        out.append("failed by severity: " + ", ".join(
            paint(f"{sev} {n}", _SEVERITY_STYLE.get(sev)) for sev, n in by_severity.items()))
    return "\n".join(out) + "\n"
