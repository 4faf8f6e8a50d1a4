"""Audit reports: render an AuditReport as table, JSON, SARIF, JUnit or HTML, and the CLI exit code."""

from __future__ import annotations

from collections.abc import Iterable

from amlguard import __version__
from amlguard.errors import ConfigError
from amlguard.lazy import lazy_getattr
from amlguard.model import SEVERITIES, AuditReport, Finding, severity_rank

from ._common import ACTIONABLE
from .json import json_chunks, render_json
from .table import render_table, use_color

__all__ = [
    "DEFAULT_FAIL_ON",
    "FAIL_ON_CHOICES",
    "FORMATS",
    "exit_code",
    "failing_findings",
    "render",
    "render_chunks",
    "render_html",
    "render_json",
    "render_junit",
    "render_sarif",
    "render_table",
    "sarif_log",
    "use_color",
]

FORMATS: tuple[str, ...] = ("table", "json", "sarif", "junit", "html")

# Critical and high failures break the build by default; medium and below are reported and
# gate only when asked (`--fail-on medium`). Adopting amlguard on an existing estate should
# not turn every pipeline red over a missing tag.
DEFAULT_FAIL_ON = "high"
_NEVER = ("none", "never", "off")
FAIL_ON_CHOICES: tuple[str, ...] = (*SEVERITIES, "none")


def render(
    report: AuditReport,
    fmt: str,
    *,
    color: bool | None = None,
    tool_version: str = __version__,
    show_passed: bool = False,
    show_fix: bool = False,
    srcroot: str | None = None,
    include_exempt: bool = True,
) -> str:
    """The report in format `fmt` (one of FORMATS), as text ready to print or write (UTF-8).

    - `color` (table): None decides from stdout and NO_COLOR / FORCE_COLOR; pass False when
      writing to a file.
    - `show_passed` (table): list passing checks instead of counting them.
    - `show_fix` (table): print each failure's remediation whole, not its first sentence.
    - `tool_version` (SARIF, HTML): the tool version.
    - `srcroot` (SARIF): absolute source paths under it become %SRCROOT%-relative.
    - `include_exempt` (SARIF): emit exempt findings as suppressed results (default) or drop them.

    Raises ConfigError for an unknown format (the CLI maps it to exit 2).
    """
    name = (fmt or "").strip().lower()
    if name == "table":
        return render_table(report, color=color, show_passed=show_passed, show_fix=show_fix)
    if name == "json":
        return render_json(report)
    if name == "sarif":
        from .sarif import render_sarif

        return render_sarif(report, tool_version=tool_version, srcroot=srcroot, include_exempt=include_exempt)
    if name == "junit":
        from .junit import render_junit

        return render_junit(report)
    if name == "html":
        from .html import render_html

        return render_html(report, tool_version=tool_version)
    raise ConfigError(f"unknown report format {fmt!r}: use one of {', '.join(FORMATS)} (--format)")


def render_chunks(report: AuditReport, fmt: str, *, color: bool | None = None,
                  show_passed: bool = False, show_fix: bool = False) -> Iterable[str]:
    """`render(report, fmt, ...)` as pieces to write one after the other: the JSON report is
    encoded as it is written instead of first being joined into one string (23 MB for 5,000
    files); other formats are rendered here, whole, before anything is written."""
    if (fmt or "").strip().lower() == "json":
        return json_chunks(report)
    return (render(report, fmt, color=color, show_passed=show_passed, show_fix=show_fix),)


# HTML (jinja2), JUnit (xml.etree) and SARIF load on first use: `amlguard audit` in table or JSON
# form and the Function App's cold start do not pay for them.
__getattr__ = lazy_getattr(__name__, {"render_html": "html", "render_junit": "junit", "render_sarif": "sarif",
                                      "sarif_log": "sarif"}, globals())


def _threshold(fail_on: str | None) -> int | None:
    """Severity rank at or above which a finding fails the run; None for never."""
    if fail_on is None:
        return None
    value = str(fail_on).strip().lower()
    if value in _NEVER:
        return None
    if value not in SEVERITIES:
        raise ConfigError(
            f"--fail-on {fail_on!r} is not a severity: use one of {', '.join(FAIL_ON_CHOICES)}"
        )
    return severity_rank(value)


def failing_findings(findings: Iterable[Finding], fail_on: str | None = DEFAULT_FAIL_ON) -> list[Finding]:
    """The `fail` / `error` findings at or above `fail_on` (exempt findings never count)."""
    threshold = _threshold(fail_on)
    if threshold is None:
        return []
    return [f for f in findings if f.status in ACTIONABLE and severity_rank(f.severity) <= threshold]


def exit_code(report: AuditReport, fail_on: str | None = DEFAULT_FAIL_ON, *, fail_on_diagnostics: bool = True) -> int:
    """Exit code of `amlguard audit` (DESIGN.md contract 2).

    0: no `fail` or `error` finding at or above `fail_on` and, unless `fail_on_diagnostics` is
    off, no diagnostic (a file or folder that could not be read: an audit that read nothing it
    was asked to read must not pass CI); 1 otherwise. `fail_on` is a severity
    (case-insensitive); `none` (also `never`, `off`) or None means no finding fails the run.
    Left out, it is DEFAULT_FAIL_ON (`high`). Raises ConfigError for any other value (exit 2).
    """
    failing = failing_findings(report.findings, fail_on)
    return 1 if failing or (fail_on_diagnostics and report.diagnostics) else 0
