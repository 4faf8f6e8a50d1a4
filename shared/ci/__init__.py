"""`amlguard audit` where CI runs it: the GitHub Action, the Azure DevOps template, the pre-commit hook.

Each integration is a thin layer over one audit (`run_audit`): the runner's inputs arrive as
command-line options (the action and the template map them from environment variables, so no
input is ever pasted into a shell script), the audit writes every report format asked for, and
the integration turns the JSON report into that runner's annotations, summary and outputs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from amlguard.errors import ConfigError
from amlguard.model import SEVERITIES, severity_rank
from amlguard.reports import DEFAULT_FAIL_ON

__all__ = [
    "AuditOutcome",
    "Finding",
    "add_audit_options",
    "audit_argv",
    "audit_from_options",
    "failed_findings",
    "gates",
    "parse_formats",
    "run_audit",
    "split_list",
    "summary_markdown",
    "truthy",
]

_FIX_LIMIT = 600  # characters of remediation text in one annotation


def split_list(text: str | None) -> list[str]:
    """A runner input holding a list: items separated by newlines, commas or spaces."""
    return [item for item in re.split(r"[\s,]+", text or "") if item]


def truthy(text: str | None) -> bool:
    """A runner's boolean input ("true" / "false", as YAML and the UIs write them)."""
    value = (text or "").strip().lower()
    if value in ("true", "yes", "1", "on"):
        return True
    if value in ("", "false", "no", "0", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def add_audit_options(parser: argparse.ArgumentParser) -> None:
    """The inputs every integration takes, named as the action and the template name them."""
    parser.add_argument("--paths", default=".", help="files or folders to audit (space, comma or newline separated)")
    parser.add_argument("--policies", default="", help="policy pack folders added to the bundled pack")
    parser.add_argument("--default-policies", type=truthy, default=True,
                        help="false: audit with the --policies packs only")
    parser.add_argument("--rules", default="", help="run only these rule ids or globs")
    parser.add_argument("--skip-rules", default="", help="skip these rule ids or globs")
    parser.add_argument("--exclude", default="", help="globs of files not to audit")
    parser.add_argument("--baseline", default="", help="a baseline file: findings in it do not fail the job")
    parser.add_argument("--fail-on", default="", help="fail on findings at or above this severity "
                                                      "(critical|high|medium|low|info|none; default: high)")
    parser.add_argument("--formats", default="", help="extra reports as FORMAT:PATH (json, sarif, junit, html, table)")
    parser.add_argument("--soft-fail", type=truthy, default=False,
                        help="report findings without failing the job (a usage or configuration error still fails)")


def audit_argv(options: argparse.Namespace) -> list[str]:
    """`amlguard audit` arguments for the inputs the user set, and only those: an option left
    empty keeps the CLI's own default (and works with a CLI that predates it)."""
    argv = ["audit"]
    for flag, values in (("--policies", split_list(options.policies)), ("--rule", split_list(options.rules)),
                         ("--skip-rule", split_list(options.skip_rules)), ("--exclude", split_list(options.exclude))):
        for value in values:
            argv += [flag, value]
    if not options.default_policies:
        argv.append("--no-default-policies")
    if options.baseline.strip():
        argv += ["--baseline", options.baseline.strip()]
    if options.fail_on.strip():
        argv += ["--fail-on", options.fail_on.strip().lower()]
    return [*argv, *(split_list(options.paths) or ["."])]


def parse_formats(text: str) -> dict[str, str]:
    """`junit:out.xml html:report.html` as {format: path}; a format without a path is refused."""
    out: dict[str, str] = {}
    for item in split_list(text):
        fmt, colon, path = item.partition(":")
        if not colon or not path or not fmt:
            raise argparse.ArgumentTypeError(f"formats: expected FORMAT:PATH such as junit:amlguard.xml, got {item!r}")
        out[fmt.lower()] = path
    return out


@dataclass(frozen=True)
class Finding:
    """One failed (or errored) finding as the integrations show it."""

    rule: str
    severity: str
    status: str
    title: str
    message: str
    source: str | None
    line: int | None
    remediation: str
    resource: str

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> Finding:
        line = record.get("line")
        return cls(rule=str(record.get("rule") or ""), severity=str(record.get("severity") or "info").lower(),
                   status=str(record.get("status") or ""), title=str(record.get("title") or ""),
                   message=str(record.get("message") or ""), source=record.get("source") or None,
                   line=line if isinstance(line, int) and line >= 1 else None,
                   remediation=str(record.get("remediation") or ""), resource=str(record.get("resource") or ""))

    def text(self) -> str:
        """The message and, shortened, its fix: what an annotation says."""
        fix = " ".join(self.remediation.split())
        if len(fix) > _FIX_LIMIT:
            fix = fix[: _FIX_LIMIT - 1].rstrip() + "…"
        return f"{self.message}\nfix: {fix}" if fix else self.message


@dataclass
class AuditOutcome:
    """What one audit gave: the CLI's exit code, the JSON report, and the reports written."""

    exit_code: int
    report: dict[str, Any] = field(default_factory=dict)
    written: dict[str, str] = field(default_factory=dict)
    fail_on: str = "high"

    @property
    def usable(self) -> bool:
        """False when the audit stopped on a usage or configuration error (exit 2): no report."""
        return self.exit_code != 2 and "summary" in self.report


def _fail_on(options: argparse.Namespace) -> str:
    """The fail-on level the CLI audits with: the input, else the project config file's (found from
    the first path, as the CLI finds it), else the CLI's default."""
    if options.fail_on.strip():
        return str(options.fail_on.strip().lower())
    from amlguard.projectconfig import find_config, read_config

    found = find_config(Path((split_list(options.paths) or ["."])[0]))
    try:
        configured = read_config(found).get("fail_on") if found is not None else None
    except ConfigError:  # the audit itself says what is wrong with the file (exit 2)
        configured = None
    return str(configured or DEFAULT_FAIL_ON)


def run_audit(argv: list[str], formats: dict[str, str], *, fail_on: str = DEFAULT_FAIL_ON,
              python: str = sys.executable) -> AuditOutcome:
    """Run `amlguard audit` (argv from `audit_argv`) once, writing the JSON report the integration
    reads and each of `formats` ({format: path}); the table goes to stdout and the CLI's messages
    to stderr, where the runner's log shows them. `fail_on` is the level argv audits with."""
    for path in formats.values():
        if os.path.dirname(path):
            os.makedirs(os.path.dirname(path), exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="amlguard-ci-") as scratch:
        json_path = formats.get("json") or os.path.join(scratch, "report.json")
        wanted = {**formats, "json": json_path}
        command = [python, "-m", "amlguard.cli", *argv[:1],
                   *(arg for fmt, path in wanted.items() for arg in ("--format", f"{fmt}:{path}")), *argv[1:]]
        outcome = AuditOutcome(subprocess.run(command, check=False).returncode, fail_on=fail_on)
        if outcome.exit_code == 2:  # a usage or configuration error (a format the CLI refuses, for one)
            return outcome
        with open(json_path, encoding="utf-8") as handle:
            outcome.report = json.load(handle)
    outcome.written.update(formats)
    return outcome


def failed_findings(report: dict[str, Any]) -> list[Finding]:
    """The `fail` and `error` findings, most severe first, then by file and line."""
    records = [Finding.from_json(f) for f in report.get("findings") or [] if f.get("status") in ("fail", "error")]
    return sorted(records, key=lambda f: (severity_rank(f.severity), f.source or "", f.line or 0, f.rule))


def gates(finding: Finding, fail_on: str) -> bool:
    """Whether the finding alone fails the job (at or above --fail-on; `none` never does)."""
    return fail_on != "none" and severity_rank(finding.severity) <= severity_rank(fail_on)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def summary_markdown(outcome: AuditOutcome, *, soft_fail: bool, title: str = "amlguard audit") -> str:
    """The job summary: the verdict, failed findings by severity, the failed rules, unreadable files."""
    if not outcome.usable:
        return (f"## {title}: could not run\n\nThe audit stopped on a usage or configuration error "
                "(exit 2); the step log says which.\n")
    summary = outcome.report.get("summary") or {}
    failed = failed_findings(outcome.report)
    diagnostics = outcome.report.get("diagnostics") or []
    verdict = ("passed" if outcome.exit_code == 0 else
               "findings reported (soft fail: the job does not fail)" if soft_fail else "failed")
    lines = [f"## {title}: {verdict}", "",
             f"{summary.get('resources', 0)} resources: {summary.get('passed', 0)} passed, "
             f"{summary.get('failed', 0)} failed, {summary.get('exempt', 0)} exempt, "
             f"{summary.get('errors', 0)} errors, {len(diagnostics)} unreadable files. "
             f"Fails at `{outcome.fail_on}` and above.", ""]
    by_severity = Counter(f.severity for f in failed)
    lines += ["| severity | failed |", "| --- | ---: |"]
    lines += [f"| {severity} | {by_severity.get(severity, 0)} |" for severity in SEVERITIES]
    rules: dict[str, list[Finding]] = {}
    for finding in failed:
        rules.setdefault(finding.rule, []).append(finding)
    if rules:
        lines += ["", "### Failed rules", "", "| rule | severity | title | resources |", "| --- | --- | --- | ---: |"]
        lines += [f"| `{rule}` | {found[0].severity} | {_cell(found[0].title)} | {len({f.resource for f in found})} |"
                  for rule, found in rules.items()]
    if diagnostics:
        lines += ["", "### Files that could not be read", ""]
        for diagnostic in diagnostics:
            line = diagnostic.get("line")
            where = f"{diagnostic.get('source')}:{line}" if line else diagnostic.get("source")
            lines.append(f"- `{where}`: {_cell(str(diagnostic.get('message')))}")
    return "\n".join(lines) + "\n"


def audit_from_options(parser: argparse.ArgumentParser, argv: Sequence[str] | None,
                       formats: Callable[[argparse.Namespace], dict[str, str]],
                       ) -> tuple[argparse.Namespace, AuditOutcome]:
    """Parse an integration's options (`add_audit_options` and its own), run the audit writing
    the integration's `formats(options)` and the user's `--formats`, and log each report written."""
    options = parser.parse_args(argv)
    try:
        wanted = {**formats(options), **parse_formats(options.formats)}
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    outcome = run_audit(audit_argv(options), wanted, fail_on=_fail_on(options))
    for fmt, path in outcome.written.items():
        print(f"amlguard: {fmt} report: {path}")
    return options, outcome
