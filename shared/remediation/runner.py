"""Plan and apply remediation for failing findings whose rule has `effect: remediate`.

Dry run by default (the report says what would change); a `max-resources` brake refuses a run
that would touch too many resources; every action is recorded with who, what, when, before and
after, and the record lands on the finding (`Finding.remediation_action`).
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import re
import socket
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeAlias

from amlguard.config import RemediationSettings, Settings
from amlguard.errors import ConfigError
from amlguard.model import AuditReport, Finding, Resource, Status
from amlguard.remediation.actions import ACTIONS, Action, ApplyResult, ArmWriter

if TYPE_CHECKING:
    from amlguard.policy import PolicyPack

# The rules remediation reads `effect` and `remediate` from: a pack, or its rules_metadata()
RuleTable: TypeAlias = "PolicyPack | Mapping[str, Mapping[str, Any]]"

__all__ = ["PlannedAction", "RemediationRecord", "annotate", "apply", "arm_clients",
           "brake_reason", "default_actor", "parse_max_resources", "plan", "remediate", "remediate_from_args"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class PlannedAction:
    """One action on one resource, as the audit's state previews it."""

    action: Action
    rule: str
    resource: Resource
    preview: ApplyResult
    refusal: str | None = None  # set when it must not run (guard, wrong kind, unknown action)
    rules: list[str] = field(default_factory=list)  # every rule that asked for it
    requested: str = ""  # the action name the rule wrote (kept when it is not a known one)

    @property
    def name(self) -> str:
        return self.action.name or self.requested or "unknown"

    @property
    def changes(self) -> bool:
        return self.refusal is None and self.preview.changed


@dataclass(slots=True)
class RemediationRecord:
    """What remediation did (or would do) to one resource: who, what, when, before, after."""

    action: str
    rule: str
    resource: str
    kind: str
    status: str  # would_change | changed | unchanged | refused | failed
    dry_run: bool
    actor: str
    at: str  # ISO 8601 UTC
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)
    message: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    rules: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"action": self.action, "status": self.status, "dry_run": self.dry_run, "actor": self.actor,
                "at": self.at, "resource": self.resource, "kind": self.kind, "rule": self.rule,
                "before": self.before, "after": self.after, "message": self.message, "options": self.options}


# ---- planning -----------------------------------------------------------------------------
def _rule_table(pack_rules: RuleTable) -> Mapping[str, Mapping[str, Any]]:
    """rule id -> {effect, remediate, ...} from a PolicyPack or its rules_metadata()."""
    return pack_rules if isinstance(pack_rules, Mapping) else pack_rules.rules_metadata()


def plan(findings: Iterable[Finding], resources: Iterable[Resource], pack_rules: RuleTable) -> list[PlannedAction]:
    """The actions the failing findings ask for: one per (action, resource, options), in finding
    order. Only rules with `effect: remediate` and a `remediate` block take part."""
    rules = _rule_table(pack_rules)
    by_id = {r.id.lower(): r for r in resources}
    planned: dict[tuple[str, str, str], PlannedAction] = {}
    for finding in findings:
        if finding.status != Status.FAIL.value:
            continue
        meta = rules.get(finding.rule, {})
        effect = meta.get("effect") or finding.effect
        block = meta.get("remediate")
        if effect != "remediate" or not isinstance(block, Mapping):
            continue
        resource = by_id.get(finding.resource.lower())
        if resource is None:
            continue
        name = str(block.get("action"))
        cls = ACTIONS.get(name)
        action: Action = cls(block) if cls else Action(block)
        key = (name, resource.id.lower(), json.dumps(action.options, sort_keys=True, default=str))
        if key in planned:
            planned[key].rules.append(finding.rule)
            continue
        if cls is None:
            refusal: str | None = (f"rule {finding.rule} names remediation action {name!r}, which is not one of "
                                   f"{', '.join(sorted(ACTIONS))}")
            preview = ApplyResult()
        else:
            refusal = action.refuse(resource, by_id)
            preview = action.preview(resource, by_id) if refusal is None else ApplyResult()
        planned[key] = PlannedAction(action, finding.rule, resource, preview, refusal, [finding.rule], name)
    return list(planned.values())


# ---- the brake ----------------------------------------------------------------------------
_LIMIT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(%?)\s*$")


def parse_max_resources(value: int | str | None, total: int) -> int | None:
    """`10` -> 10; `"10%"` -> 10% of `total` (rounded down, at least 0); None -> no limit."""
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ConfigError(f"--max-resources must not be negative, got {value}")
        return value
    match = _LIMIT.match(str(value))
    if not match:
        raise ConfigError(f"--max-resources {value!r} is not a count (10) or a percentage (10%)")
    number = float(match.group(1))
    if match.group(2):
        if number > 100:
            raise ConfigError(f"--max-resources {value!r}: a percentage is at most 100%")
        return int(total * number / 100)
    return int(number)


def default_actor(settings: RemediationSettings) -> str:
    """Who acts: AMLGUARD_ACTOR, else the managed identity's client id, else user@host."""
    if settings.actor:
        return settings.actor
    if settings.client_id:
        return f"amlguard (identity {settings.client_id})"
    try:
        user = getpass.getuser()
    except Exception:  # no user name in some containers
        user = "unknown"
    return f"amlguard ({user}@{socket.gethostname()})"


def brake_reason(planned: list[PlannedAction], max_resources: int | str | None,
                 total_resources: int | None = None) -> str | None:
    """Why the max-resources brake stops this run (None when it may go ahead): more resources would
    change than `max_resources`, a count or "N%" of `total_resources`."""
    touching = {p.resource.id.lower() for p in planned if p.changes}
    total = total_resources if total_resources is not None else len({p.resource.id.lower() for p in planned})
    limit = parse_max_resources(max_resources, total)
    if limit is None or len(touching) <= limit:
        return None
    return (f"max-resources brake: this run would change {len(touching)} resources, more than the limit "
            f"{limit} ({max_resources}); nothing was changed. Raise the limit (--max-resources, "
            "AMLGUARD_REMEDIATION_MAX_RESOURCES) or narrow the scope")


# ---- applying -----------------------------------------------------------------------------
def apply(planned: list[PlannedAction], *, client_factory: ArmWriter | None = None, dry_run: bool = True,
          max_resources: int | str | None = None, actor: str | None = None,
          total_resources: int | None = None, now: datetime | None = None) -> list[RemediationRecord]:
    """Carry out (or, in a dry run, describe) the planned actions.

    `client_factory` is an `ArmClients` (callable (sub, rg, ws) -> MLClient, plus `arm_request`).
    The brake: when more resources would change than `max_resources` (a count or "N%" of
    `total_resources`), nothing runs and every action is recorded as refused.
    """
    actor = actor or default_actor(RemediationSettings())
    stamp = (now or datetime.now(UTC)).isoformat(timespec="seconds").replace("+00:00", "Z")
    brake = brake_reason(planned, max_resources, total_resources)
    if not dry_run and client_factory is None and brake is None and any(p.changes for p in planned):
        raise ConfigError("remediation without --dry-run needs Azure clients (a subscription and credential)")

    records: list[RemediationRecord] = []
    for item in planned:
        record = RemediationRecord(
            action=item.name, rule=item.rule, resource=item.resource.id, kind=item.resource.kind,
            status="refused", dry_run=dry_run, actor=actor, at=stamp, before=dict(item.preview.before),
            after=dict(item.preview.after), options=dict(item.action.options), rules=list(item.rules))
        if item.refusal:
            record.message = item.refusal
        elif brake:  # a tripped brake stops everything, even actions the audit saw as no-ops
            record.status = "refused" if item.changes else "unchanged"
            record.message = brake
        elif dry_run:
            record.status = "would_change" if item.changes else "unchanged"
            record.message = _describe(record, "would change") if item.changes else "already compliant"
        else:
            _apply_one(item, record, client_factory)
        records.append(record)
        log.info("remediation %s %s on %s: %s", record.action, record.status, record.resource, record.message)
    return records


def _apply_one(item: PlannedAction, record: RemediationRecord, clients: ArmWriter | None) -> None:
    from amlguard.inventory.armclients import describe_failure

    if item.resource.origin != "live":
        record.message = ("read from a file, not from Azure: remediation acts on live resources; audit with "
                          "--subscription to remediate")
        return
    if clients is None:
        record.status, record.message = "failed", "no Azure client to write with; audit with --subscription"
        return
    try:
        result = item.action.apply(clients, item.resource)
    except Exception as exc:
        message, _retry = describe_failure(exc, action=f"applying {item.name} to", what=item.resource.id,
                                           role=item.action.role)
        record.status, record.message = "failed", message
        return
    record.before, record.after = result.before, result.after
    if result.refused:
        record.status, record.message = "refused", result.refused
    elif result.changed:
        record.status, record.message = "changed", _describe(record, "changed")
    else:
        record.status, record.message = "unchanged", "already compliant; nothing to do"


def _describe(record: RemediationRecord, verb: str) -> str:
    changes = [f"{key} {record.before.get(key)!r} -> {value!r}" for key, value in record.after.items()
               if record.before.get(key) != value]
    return f"{record.action} {verb}: " + ("; ".join(changes) if changes else "no field change")


def annotate(findings: Iterable[Finding], records: Iterable[RemediationRecord]) -> None:
    """Put each record on the findings that asked for it; a failed action turns its finding
    into an `error` whose message says what failed and how to fix it."""
    by_key: dict[tuple[str, str], RemediationRecord] = {}
    for record in records:
        for rule in record.rules or [record.rule]:
            by_key[(rule, record.resource.lower())] = record
    for finding in findings:
        match = by_key.get((finding.rule, finding.resource.lower()))
        if match is None:
            continue
        finding.remediation_action = match.to_json()
        if match.status == "failed":
            finding.status = Status.ERROR.value
            finding.message = f"{finding.message}; remediation {match.action} failed: {match.message}"


def remediate(report: AuditReport, pack_rules: RuleTable, *, client_factory: ArmWriter | None = None,
              dry_run: bool = True, max_resources: int | str | None = None, actor: str | None = None,
              now: datetime | None = None) -> list[RemediationRecord]:
    """Plan, apply and annotate in one call (what the CLI and the service run)."""
    planned = plan(report.findings, report.resources, pack_rules)
    records = apply(planned, client_factory=client_factory, dry_run=dry_run, max_resources=max_resources,
                    actor=actor, total_resources=len(report.resources), now=now)
    annotate(report.findings, records)
    return records


# ---- command line -------------------------------------------------------------------------
def remediate_from_args(args: argparse.Namespace, report: AuditReport, pack: RuleTable, settings: Settings, *,
                        client_factory: ArmWriter | None = None) -> list[RemediationRecord]:
    """The `amlguard audit --remediate` hook: annotates `report` in place, returns the records
    and prints a one-line summary on stderr."""
    dry_run = not getattr(args, "no_dry_run", False)
    max_resources = getattr(args, "max_resources", None)
    parse_max_resources(max_resources, len(report.resources))  # a bad value is a usage error up front
    if client_factory is None and not dry_run:
        client_factory = arm_clients(settings, arm_endpoint=getattr(args, "arm_endpoint", None))
    records = remediate(report, pack, client_factory=client_factory, dry_run=dry_run,
                        max_resources=max_resources, actor=default_actor(settings.remediation))
    counts: dict[str, int] = {}
    for record in records:
        counts[record.status] = counts.get(record.status, 0) + 1
    summary = ", ".join(f"{n} {status.replace('_', ' ')}" for status, n in sorted(counts.items())) or "nothing to do"
    print(f"amlguard: remediation{' (dry run)' if dry_run else ''}: {summary}", file=sys.stderr)
    return records


def arm_clients(settings: Settings, *, arm_endpoint: str | None = None) -> ArmWriter:
    """The Azure clients remediation writes through (`ArmClients`), from the settings' credential
    and client options."""
    from amlguard.inventory.armclients import ArmClients
    from amlguard.inventory.config import credential_from_env, options_from_env

    return ArmClients(credential_from_env(settings.env), options_from_env(settings.env, arm_endpoint=arm_endpoint))
