"""Waivers applied to an audit's findings after evaluation: inline `# amlguard:ignore` comments in
the YAML, and a baseline file of the failures accepted on the day it was written.

Both turn a `fail` finding into an `exempt` one whose `exemption` record says how (`kind: inline`
or `kind: baseline`), as a policy exemption does; neither touches a pass, an error or a
not-applicable finding. An inline suppression needs a reason and an expiry (`until=`): without
them, or once expired, it does not apply and a diagnostic says so (docs/policy.md, "Suppressions
and baselines").
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Callable, Collection
from datetime import datetime
from pathlib import Path

from amlguard.errors import ConfigError
from amlguard.model import AuditReport, Diagnostic, Finding, Status
from amlguard.policy.engine import glob_any
from amlguard.timeparse import time_or_none

__all__ = ["BASELINE_VERSION", "Suppression", "apply_baseline", "apply_inline_suppressions", "parse_suppressions",
           "write_baseline"]

MARK = "amlguard:ignore"
_MARK = re.compile(rf"(?:^|\s)#\s*{MARK}\b(.*)$")
_KEYS = re.compile(r"\s+(reason|until)=")
_FAIL, _EXEMPT = Status.FAIL.value, Status.EXEMPT.value
BASELINE_VERSION = 1


class Suppression:
    """One `# amlguard:ignore RULE[,RULE...] reason=... until=YYYY-MM-DD` comment: where it is, the
    line it covers (its own, or for a comment on a line of its own the next YAML line), and
    `problem`, why it does not apply (no reason, no expiry, ...), empty when valid."""

    __slots__ = ("_rules_re", "line", "problem", "reason", "rules", "source", "target", "until", "until_text")

    def __init__(self, source: str, line: int, target: int, rules: tuple[str, ...], reason: str,
                 until: datetime | None, until_text: str, problem: str = "") -> None:
        self.source, self.line, self.target, self.rules = source, line, target, rules
        self.reason, self.until, self.until_text, self.problem = reason, until, until_text, problem
        self._rules_re = glob_any(rules)

    def covers(self, rule_id: str) -> bool:
        return self._rules_re is not None and self._rules_re.match(rule_id) is not None

    def record(self) -> dict[str, str]:
        return {"name": f"{MARK} at {self.source}:{self.line}", "reason": self.reason,
                "expires": self.until_text, "kind": "inline"}


def parse_suppressions(text: str, source: str) -> tuple[Suppression, ...]:
    """Every suppression comment in the YAML `text` (the reader calls this for each file that holds
    one); one lacking rules, a reason or a valid expiry carries its `problem`. Whether its rules
    exist is known only with the pack: `apply_inline_suppressions` checks that."""
    out: list[Suppression] = []
    lines = text.splitlines()
    for number, line in enumerate(lines, 1):
        found = _MARK.search(line) if MARK in line else None
        if found is None:
            continue
        target = number
        if not line[:found.start()].strip():  # a comment line of its own covers the next YAML line
            following = (n for n, text_ in enumerate(lines[number:], number + 1)
                         if text_.strip() and not text_.lstrip().startswith("#") and text_.strip() != "---")
            target = next(following, number)
        rules_text, *pairs = _KEYS.split(" " + found.group(1))
        values = {key: value.strip().strip("\"'") for key, value in zip(pairs[::2], pairs[1::2], strict=True)}
        rules = tuple(r for r in re.split(r"[\s,]+", rules_text) if r)
        until_text = values.get("until", "")
        until = time_or_none(until_text) if until_text else None
        problem = ("it names no rule" if not rules
                   else "it gives no reason=" if not values.get("reason")
                   else "it gives no expiry until=YYYY-MM-DD" if not until_text
                   else f"until={until_text} is not a date (YYYY-MM-DD) or ISO 8601 timestamp" if until is None
                   else "")
        out.append(Suppression(source, number, target, rules, values.get("reason", ""), until, until_text, problem))
    return tuple(out)


def apply_inline_suppressions(report: AuditReport, rule_ids: Collection[str], now: datetime) -> None:
    """Turn each `fail` finding that a valid, unexpired suppression covers into `exempt`.

    The suppressions are those the reader found in each resource's YAML file. One covers the
    findings of its rules reported on its target line and, when that is a resource's first line,
    every finding of its rules on that resource. A suppression that is invalid (or names no rule
    of the pack), or expired while covering a failure, adds one diagnostic at its line (and an
    expired one a note on the finding it no longer exempts).
    """
    marked = [r for r in report.resources if r.suppressions]
    if not marked:
        return
    known = [i.upper() for i in rule_ids]
    by_resource: dict[str, list[Finding]] = {r.id: [] for r in marked}
    for finding in report.findings:
        if finding.status == _FAIL and finding.resource in by_resource:
            by_resource[finding.resource].append(finding)
    said: set[tuple[str, int]] = set()
    expired: dict[tuple[str, int], Suppression] = {}
    for resource in marked:
        by_target: dict[int, list[Suppression]] = {}
        for suppression in resource.suppressions:
            problem = suppression.problem or _unknown_rules(suppression, known)
            if not problem:
                by_target.setdefault(suppression.target, []).append(suppression)
            elif (suppression.source, suppression.line) not in said:
                said.add((suppression.source, suppression.line))
                report.diagnostics.append(Diagnostic(suppression.source, suppression.line, (
                    f"`# {MARK}` does not apply: {problem}; write `# {MARK} AMLG-TAG-001 "
                    "reason=<why it is accepted> until=YYYY-MM-DD`")))
        for finding in by_resource[resource.id] if by_target else ():
            candidates = by_target.get(finding.line or 0, [])
            if resource.line != finding.line:
                candidates = candidates + by_target.get(resource.line or 0, [])
            _suppress(finding, [s for s in candidates if s.covers(finding.rule)], now, expired)
    report.diagnostics.extend(Diagnostic(s.source, s.line, (
        f"`# {MARK} {','.join(s.rules)}` expired on {s.until_text}: the finding applies again; fix the "
        "resource, or renew the suppression with a later until= date")) for s in expired.values())


def _unknown_rules(suppression: Suppression, known: list[str]) -> str:
    unknown = []
    for rule in suppression.rules:
        glob = glob_any([rule])
        if glob is None or not any(glob.match(i) for i in known):
            unknown.append(rule)
    return f"no rule of the policy pack matches {', '.join(unknown)}" if unknown else ""


def _suppress(finding: Finding, matching: list[Suppression], now: datetime,
              expired: dict[tuple[str, int], Suppression]) -> None:
    for s in matching:
        if s.until is not None and now >= s.until:
            expired[(s.source, s.line)] = s
            finding.message += f"; {MARK} at {s.source}:{s.line} expired on {s.until_text}"
            continue
        finding.message = (f"suppressed at {s.source}:{s.line} until {s.until_text} ({s.reason}); "
                           f"without it: {finding.message}")
        finding.status, finding.exemption = _EXEMPT, s.record()
        return


# ------------------------------------------------------------------------------------- baseline
def _fingerprinter(report: AuditReport) -> Callable[[Finding], str]:
    """A finding's baseline fingerprint: rule, resource id and a digest of the resource's normalised
    content, so a resource that changes in any field gets new fingerprints and its findings count
    as new again. Each resource is digested once, however many of its findings fail."""
    resources = {r.id: r for r in report.resources}

    @functools.cache
    def digest(resource_id: str) -> str:
        resource = resources.get(resource_id)
        content = json.dumps([resource.kind, resource.compute_type, resource.fields] if resource else None,
                             sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(content.encode("utf-8", "surrogatepass")).hexdigest()

    def fingerprint(finding: Finding) -> str:
        key = f"{finding.rule}\x00{finding.resource}\x00{digest(finding.resource)}"
        return hashlib.sha256(key.encode()).hexdigest()[:32]

    return fingerprint


def write_baseline(path: str, report: AuditReport) -> int:
    """Record every `fail` finding of `report` in the baseline file `path`; returns how many.
    One entry a line, sorted, so a re-written baseline diffs cleanly in review."""
    fingerprint = _fingerprinter(report)
    entries = sorted({(f.rule, f.resource, fingerprint(f), f.source or "", f.line or 0)
                      for f in report.findings if f.status == _FAIL})
    lines = [json.dumps({"fingerprint": fp, "rule": rule, "resource": rid, "source": source or None,
                         "line": line or None}, ensure_ascii=False) for rule, rid, fp, source, line in entries]
    body = ",\n  ".join(lines)
    try:
        Path(path).write_text(f'{{"version": {BASELINE_VERSION}, "findings": [\n  {body}\n]}}\n'
                              if lines else f'{{"version": {BASELINE_VERSION}, "findings": []}}\n', encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write the baseline {path}: {exc.strerror or exc}") from exc
    return len(entries)


def _read_baseline(path: str) -> set[str]:
    fix = f"write one with `amlguard audit ... --write-baseline {path}`"
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"no baseline file {path}: {fix}") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read the baseline {path}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        line = getattr(exc, "lineno", 1)
        raise ConfigError(f"{path}:{line}: the baseline is not valid JSON ({exc}); {fix}") from exc
    entries = data.get("findings") if isinstance(data, dict) else None
    if not isinstance(data, dict) or data.get("version") != BASELINE_VERSION or not isinstance(entries, list) \
            or not all(isinstance(e, dict) and isinstance(e.get("fingerprint"), str) for e in entries):
        raise ConfigError(f"{path}: not an amlguard baseline of version {BASELINE_VERSION} (expected "
                          f'{{"version": {BASELINE_VERSION}, "findings": [{{"fingerprint": ...}}, ...]}}); {fix}')
    return {e["fingerprint"] for e in entries}


def apply_baseline(report: AuditReport, path: str) -> int:
    """Turn each `fail` finding recorded in the baseline `path` into `exempt`; returns how many
    baseline entries matched no finding (fixed or changed since). ConfigError for a file that is
    missing or not a baseline."""
    accepted = _read_baseline(path)
    fingerprint_of = _fingerprinter(report)
    used: set[str] = set()
    record = {"name": "baseline", "reason": f"accepted in the baseline {path}", "kind": "baseline"}
    for finding in report.findings:
        if finding.status != _FAIL:
            continue
        fingerprint = fingerprint_of(finding)
        if fingerprint in accepted:
            used.add(fingerprint)
            finding.status, finding.exemption = _EXEMPT, dict(record)
            finding.message = f"accepted in the baseline {path}; without it: {finding.message}"
    return len(accepted - used)
