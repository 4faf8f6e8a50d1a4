"""The Azure Pipelines template's audit step (templates/amlguard-audit.yml): JUnit for the Tests
tab, SARIF for the `CodeAnalysisLogs` artifact, an issue per finding, a build summary, and output
variables, through the agent's logging commands.

`python -m amlguard.ci.azure_devops --paths ... --junit-file ... --sarif-file ... --summary-file ...`
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from amlguard.ci import add_audit_options, audit_from_options, failed_findings, gates, summary_markdown

__all__ = ["logging_command", "main"]

# One issue per finding up to this many; the Tests tab and the summary hold every finding.
ISSUE_LIMIT = 100


def _escape(text: str, *, value: bool) -> str:
    """What azure-pipelines-task-lib escapes: `%` first, line breaks, and in property values `;` and `]`."""
    text = text.replace("%", "%AZP25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(";", "%3B").replace("]", "%5D") if value else text


def logging_command(name: str, message: str = "", **properties: str | int) -> str:
    """`##vso[name key=value;...]message`."""
    props = ";".join(f"{key}={_escape(str(value), value=True)}" for key, value in properties.items())
    return f"##vso[{name}{' ' + props if props else ''}]{_escape(message, value=False)}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m amlguard.ci.azure_devops",
                                     description="The amlguard Azure Pipelines template's audit step.")
    add_audit_options(parser)
    parser.add_argument("--junit-file", required=True,
                        help="JUnit for PublishTestResults ($(Common.TestResultsDirectory)/...)")
    parser.add_argument("--sarif-file", required=True, help="SARIF for the CodeAnalysisLogs artifact")
    parser.add_argument("--summary-file", default="", help="where to write the build summary (markdown) to upload")
    options, outcome = audit_from_options(parser, argv, lambda o: {"junit": o.junit_file, "sarif": o.sarif_file})
    findings = failed_findings(outcome.report) if outcome.usable else []
    for finding in findings[:ISSUE_LIMIT]:
        location: dict[str, str | int] = {}
        if finding.source:  # the agent wants absolute paths
            location["sourcepath"] = os.path.abspath(finding.source)
            if finding.line:
                location["linenumber"] = finding.line
        kind = "error" if gates(finding, outcome.fail_on) else "warning"
        print(logging_command("task.logissue", f"{finding.rule} ({finding.severity}) {finding.title}: {finding.text()}",
                              type=kind, **location, code=finding.rule))
    if len(findings) > ISSUE_LIMIT:
        print(f"amlguard: {len(findings) - ISSUE_LIMIT} more findings in the Tests tab and the SARIF artifact")
    if options.summary_file:
        with open(options.summary_file, "w", encoding="utf-8") as handle:
            handle.write(summary_markdown(outcome, soft_fail=options.soft_fail))
        print(logging_command("task.uploadsummary", os.path.abspath(options.summary_file)))
    summary = outcome.report.get("summary") or {}
    for name, value in (("exitCode", outcome.exit_code), ("failed", summary.get("failed", 0)),
                        ("errors", summary.get("errors", 0))):
        print(logging_command("task.setvariable", str(value), variable=name, isoutput="true"))
    if not outcome.usable:
        print(logging_command("task.logissue", "amlguard audit stopped on a usage or configuration error; "
                                               "see the messages above", type="error"))
        return 2
    if outcome.exit_code == 1 and options.soft_fail:
        print(logging_command("task.complete", "findings at or above the fail-on severity (soft fail)",
                              result="SucceededWithIssues"))
        return 0
    return outcome.exit_code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
