"""The GitHub Action's audit step (action.yml): SARIF for code scanning, annotations on the changed
lines with each finding and its fix, a job summary, and step outputs.

`python -m amlguard.ci.github --paths ... --step-summary "$GITHUB_STEP_SUMMARY" --outputs "$GITHUB_OUTPUT"`
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from collections.abc import Sequence

from amlguard.ci import (
    AuditOutcome,
    Finding,
    add_audit_options,
    audit_from_options,
    failed_findings,
    gates,
    summary_markdown,
    truthy,
)
from amlguard.model import severity_rank

__all__ = ["annotation_commands", "changed_lines", "main"]

# GitHub shows at most 10 annotations of each level per step; the rest are in the summary and SARIF.
ANNOTATIONS_PER_LEVEL = 10


def escape_data(text: str) -> str:
    """A workflow command's message (what @actions/core escapes)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A workflow command's property value."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def changed_lines(base: str, *, cwd: str | None = None) -> dict[str, set[int]] | None:
    """Lines added or changed since `base` (a commit), per file relative to `cwd`; None when
    git cannot tell (no base given, a shallow clone without it, not a repository)."""
    if not base.strip():
        return None
    try:
        top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=cwd, capture_output=True, text=True,
                             check=True).stdout.strip()
        diff = subprocess.run(["git", "diff", "--unified=0", "--no-color", "--no-ext-diff", "--no-renames",
                               base.strip(), "--"], cwd=cwd, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    here = os.path.realpath(cwd or os.getcwd())
    changed: dict[str, set[int]] = {}
    current: set[int] | None = None
    for line in diff.splitlines():
        if line.startswith("+++ "):
            name = line[4:]
            current = None if name == "/dev/null" else changed.setdefault(
                os.path.relpath(os.path.join(top, name.removeprefix("b/")), here), set())
        elif line.startswith("@@ ") and current is not None:
            match = re.match(r"@@ -\S+ \+(\d+)(?:,(\d+))? @@", line)
            if match:
                start, count = int(match.group(1)), int(match.group(2) or 1)
                current.update(range(start, start + count))
    return changed


def _nearness(finding: Finding, changed: dict[str, set[int]] | None) -> int:
    """0: on a changed line, 1: in a changed file, 2: elsewhere (or no diff known)."""
    lines = changed.get(os.path.normpath(finding.source)) if changed is not None and finding.source else None
    if lines is None:
        return 2
    return 0 if finding.line in lines else 1


def annotation_commands(findings: list[Finding], fail_on: str, changed: dict[str, set[int]] | None) -> list[str]:
    """`::error` / `::warning` / `::notice` commands, findings on changed lines first: with a
    diff, only findings in changed files are annotated (all are in the SARIF and the summary)."""
    chosen = [f for f in findings if f.source and (changed is None or _nearness(f, changed) < 2)]
    chosen.sort(key=lambda f: (_nearness(f, changed), severity_rank(f.severity), f.source or "", f.line or 0))
    commands, per_level = [], {"error": 0, "warning": 0, "notice": 0}
    for finding in chosen:
        level = "error" if gates(finding, fail_on) else "warning" if severity_rank(finding.severity) <= 2 else "notice"
        if per_level[level] == ANNOTATIONS_PER_LEVEL:
            continue
        per_level[level] += 1
        props = [f"file={escape_property(finding.source or '')}"]
        if finding.line:
            props.append(f"line={finding.line}")
        title = f"{finding.rule} ({finding.severity}): {finding.title}" if finding.title else finding.rule
        props.append(f"title={escape_property(title)}")
        commands.append(f"::{level} {','.join(props)}::{escape_data(finding.text())}")
    return commands


def _append(path: str, text: str) -> None:
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(text)


def _outputs(outcome: AuditOutcome, sarif_file: str) -> str:
    summary = outcome.report.get("summary") or {}
    values = {"exit-code": outcome.exit_code, "sarif-file": sarif_file if "sarif" in outcome.written else "",
              "failed": summary.get("failed", 0), "errors": summary.get("errors", 0),
              "unreadable": len(outcome.report.get("diagnostics") or [])}
    return "".join(f"{name}={value}\n" for name, value in values.items())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m amlguard.ci.github",
                                     description="The amlguard GitHub Action's audit step.")
    add_audit_options(parser)
    parser.add_argument("--sarif-file", default="amlguard.sarif", help="where to write SARIF for upload-sarif")
    parser.add_argument("--annotate", type=truthy, default=True, help="annotate findings with workflow commands")
    parser.add_argument("--base", default="", help="commit to compare with (a pull request's base): annotate "
                                                  "the findings in the files it changed, changed lines first")
    parser.add_argument("--step-summary", default="", help="file the job summary is appended to ($GITHUB_STEP_SUMMARY)")
    parser.add_argument("--outputs", default="", help="file the step outputs are appended to ($GITHUB_OUTPUT)")
    options, outcome = audit_from_options(parser, argv, lambda o: {"sarif": o.sarif_file})
    if outcome.usable and options.annotate:
        changed = changed_lines(options.base)
        if options.base.strip() and changed is None:
            print(f"::notice::amlguard: cannot diff against {escape_data(options.base.strip())} (check out with "
                  "fetch-depth: 0 to annotate changed lines first); annotating every finding")
        for command in annotation_commands(failed_findings(outcome.report), outcome.fail_on, changed):
            print(command)
    _append(options.step_summary, summary_markdown(outcome, soft_fail=options.soft_fail))
    _append(options.outputs, _outputs(outcome, options.sarif_file))
    if not outcome.usable:
        print("::error::amlguard audit stopped on a usage or configuration error; see the messages above")
        return 2
    if outcome.exit_code == 1 and options.soft_fail:
        print("::warning::amlguard: findings at or above the fail-on severity; soft-fail is on, so the job goes on")
        return 0
    return outcome.exit_code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
