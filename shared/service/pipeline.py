"""The one audit pipeline behind every trigger: pack from settings, evaluate, enforce.

`amlguard audit`, `/api/audit`, Event Grid events, the timer sweep and the queue fan-out all load
the pack with `load_policy_pack(settings)` (environment overrides, parameters, exemptions) and
turn an inventory answer into a report with `evaluate`, so they cannot disagree on a verdict.
`enforce` is remediation with the same semantics everywhere: a dry run unless enabled, the
max-resources brake, a record of every change on its finding.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from amlguard import telemetry
from amlguard.config import Settings
from amlguard.inventory.base import InventoryError
from amlguard.model import AuditReport, Diagnostic, Resource

if TYPE_CHECKING:
    from amlguard.policy import PolicyPack
    from amlguard.remediation import ArmWriter, RemediationRecord

__all__ = ["Enforcement", "enforce", "evaluate", "load_policy_pack"]


def load_policy_pack(settings: Settings, *, roots: Sequence[Path] | None = None,
                     cache_dir: Path | None = None) -> PolicyPack:
    """The pack every trigger evaluates with: `roots` (default `policies_dir`; the CLI adds its
    --policies packs), their `environment:` overrides for AMLGUARD_ENVIRONMENT, and `--param`
    values. PolicyError names every problem. `cache_dir` remembers which documents passed the
    schema (for short-lived processes: the CLI)."""
    from amlguard.policy import load_pack, parse_param_args

    return load_pack(list(roots) if roots is not None else settings.policies_dir,
                     parameters=parse_param_args(list(settings.parameters)), environment=settings.environment,
                     cache_dir=cache_dir)


def evaluate(pack: PolicyPack, resources: list[Resource], errors: Iterable[InventoryError] = (),
             diagnostics: Iterable[Diagnostic] = (), *, now: datetime | None = None,
             known_rules: Collection[str] | None = None, workers: int = 1) -> AuditReport:
    """One finding per (rule, resource) of the pack's kinds, an `error` finding per unreadable one;
    then the `# amlguard:ignore` comments of the resources' YAML files (a suppression naming a rule
    outside `known_rules`, default the pack's, is a diagnostic). `workers` > 1: see
    `PolicyPack.evaluate` (the CLI's; the service evaluates in its one process)."""
    findings = pack.evaluate(resources, errors=list(errors), now=now, workers=workers)
    report = AuditReport(resources=resources, findings=findings, diagnostics=list(diagnostics),
                         rules=pack.rules_metadata())
    if any(r.suppressions for r in resources):
        from amlguard.policy.suppressions import apply_inline_suppressions

        apply_inline_suppressions(report, known_rules if known_rules is not None else [r.id for r in pack.rules],
                                  now or datetime.now(UTC))
    telemetry.record_findings(findings)  # as waived: an inline suppression makes a failure exempt
    return report


class Enforcement:
    """What one `enforce` call did: the records, the resources it changed, and why the brake held."""

    __slots__ = ("brake", "changed", "records")

    def __init__(self, records: list[RemediationRecord], brake: str | None) -> None:
        self.records = records
        self.brake = brake
        self.changed = sorted({r.resource for r in records if r.status == "changed"})


def enforce(report: AuditReport, pack: PolicyPack, *, dry_run: bool, max_resources: int | str | None,
            actor: str, client_factory: ArmWriter | None = None, now: datetime | None = None) -> Enforcement:
    """Plan the actions of failing `effect: remediate` rules, apply them unless `dry_run` (or the
    brake holds), and put each record on the finding that asked for it."""
    from amlguard.remediation import annotate, apply, brake_reason, plan

    planned = plan(report.findings, report.resources, pack)
    if not planned:
        return Enforcement([], None)
    brake = brake_reason(planned, max_resources, len(report.resources))
    records = apply(planned, client_factory=client_factory, dry_run=dry_run, max_resources=max_resources,
                    actor=actor, total_resources=len(report.resources), now=now)
    annotate(report.findings, records)
    return Enforcement(records, brake)
