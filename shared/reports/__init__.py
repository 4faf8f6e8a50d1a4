"""Audit reports: render an AuditReport as table, JSON, SARIF, JUnit or HTML, and the CLI exit code."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from amlguard import __version__
from amlguard.errors import ConfigError
from amlguard.model import SEVERITIES, AuditReport, Finding, severity_rank

from ._common import ACTIONABLE, json_default
from .junit import render_junit
from .sarif import render_sarif, sarif_log
from .table import render_table, use_color

__all__ = [
    "DEFAULT_FAIL_ON",
    "FAIL_ON_CHOICES",
    "FORMATS",
    "exit_code",
    "failing_findings",
    "render",
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


def _record_encoder() -> Callable[[Any], str]:
    """`JSONEncoder(ensure_ascii=False, separators=(", ", ": ")).encode`, built once.

    `JSONEncoder.encode` builds a new C encoder on every call, which is most of its cost for a
    small record; the json module's own C encoder, made once, gives the same text at about half
    the cost over 50,000 records. Falls back to `encode` where the C accelerator is missing.
    """
    from json import encoder

    make = getattr(encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - CPython always has the accelerator
        return json.JSONEncoder(ensure_ascii=False, default=json_default, separators=(", ", ": ")).encode
    # (markers, default, encode string, indent, key separator, item separator, sort keys,
    # skip keys, allow NaN): the arguments JSONEncoder.iterencode passes for these settings
    c_encode = make(None, json_default, encoder.encode_basestring, None, ": ", ", ", False, False, True)

    def encode(value: Any) -> str:
        if isinstance(value, str):
            return str(encoder.encode_basestring(value))
        return "".join(c_encode(value, 0))

    return encode


def render_json(report: AuditReport) -> str:
    """Contract-2 JSON: `AuditReport.to_json()` in contract key order, one resource / finding /
    diagnostic per line, newline-terminated.

    `indent=` would switch json to its pure-Python encoder (about 5x slower on 50,000 findings);
    encoding each record with the C encoder and laying the lists out by hand keeps the output
    readable and diffable at the speed of compact JSON.
    """
    encode = _record_encoder()
    parts = []
    for key, value, is_list in report.json_sections():
        if is_list:
            items = ",\n    ".join([encode(item) for item in value])  # one record's dict alive at a time
            parts.append(f'  "{key}": [\n    {items}\n  ]' if items else f'  "{key}": []')
        else:
            parts.append(f'  "{key}": {encode(value)}')
    return "{\n" + ",\n".join(parts) + "\n}\n"


def render(
    report: AuditReport,
    fmt: str,
    *,
    color: bool | None = None,
    tool_version: str = __version__,
    show_passed: bool = False,
    srcroot: str | None = None,
    include_exempt: bool = True,
) -> str:
    """The report in format `fmt` (one of FORMATS), as text ready to print or write (UTF-8).

    - `color` (table): None decides from stdout and NO_COLOR / FORCE_COLOR; pass False when
      writing to a file.
    - `show_passed` (table): list passing checks instead of counting them.
    - `tool_version` (SARIF, HTML): the tool version.
    - `srcroot` (SARIF): absolute source paths under it become %SRCROOT%-relative.
    - `include_exempt` (SARIF): emit exempt findings as suppressed results (default) or drop them.

    Raises ConfigError for an unknown format (the CLI maps it to exit 2).
    """
    name = (fmt or "").strip().lower()
    if name == "table":
        return render_table(report, color=color, show_passed=show_passed)
    if name == "json":
        return render_json(report)
    if name == "sarif":
        return render_sarif(report, tool_version=tool_version, srcroot=srcroot, include_exempt=include_exempt)
    if name == "junit":
        return render_junit(report)
    if name == "html":
        from .html import render_html

        return render_html(report, tool_version=tool_version)
    raise ConfigError(f"unknown report format {fmt!r}: use one of {', '.join(FORMATS)} (--format)")


def __getattr__(name: str) -> Any:
    # The HTML report loads on first use: `amlguard audit` in table/JSON/SARIF form and the Function
    # App's cold start do not pay for it.
    if name == "render_html":
        from .html import render_html

        return render_html
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
