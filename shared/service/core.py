"""The use cases every trigger calls: audit one resource, sweep a scope, handle an event.

The inventory answers "what is this resource now", the policy engine "which rules fail", and
the alert manager "what changed". Triggers (Event Grid, timer, queue, HTTP, CLI) stay thin and
call only this module.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from amlguard import telemetry
from amlguard.armid import ArmId, scope_prefix
from amlguard.config import Settings
from amlguard.errors import ConfigError
from amlguard.events import ParsedEvent
from amlguard.inventory.base import Inventory, InventoryError, InventoryResult, Scope
from amlguard.model import AuditReport, Finding, Resource, Status
from amlguard.service.packs import PackHolder
from amlguard.service.pipeline import Enforcement, enforce, evaluate, load_policy_pack
from amlguard.timeparse import time_or_none

if TYPE_CHECKING:
    from amlguard.alerts import AlertFacade, DeliveryStats, Notifier, StateStoreProtocol
    from amlguard.policy import PolicyPack
    from amlguard.remediation import ArmWriter

__all__ = ["BRAKE_RULE", "EventOutcome", "Service"]

# The alert a tripped max-resources brake raises, one per swept scope (not a policy rule).
BRAKE_RULE = "AMLG-REM-BRAKE"

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class EventOutcome:
    """What handling one event did, for the HTTP response and the log."""

    event_id: str
    outcome: str  # audited | unreadable | duplicate | stale | ignored | resolved | error
    resource: str | None = None
    reason: str = ""
    findings: int = 0
    failed: int = 0
    transitions: int = 0

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in {
            "id": self.event_id, "outcome": self.outcome, "resource": self.resource,
            "reason": self.reason or None, "findings": self.findings, "failed": self.failed,
            "transitions": self.transitions,
        }.items() if v is not None}


@dataclass(slots=True)
class Service:
    """One instance per process; safe to share between threads of one host."""

    settings: Settings
    inventory: Inventory
    packs: PackHolder
    store: StateStoreProtocol
    alerts: AlertFacade
    clock: Callable[[], datetime] = utcnow
    notifiers: dict[str, Notifier] = field(default_factory=dict)
    clients: ArmWriter | None = None  # what remediation writes through; built on first need
    last_report: AuditReport | None = None  # the last full sweep, for the dashboard
    # why the monitor rules could not be loaded at the last monitor run (the last good ones ran), for /api/health
    monitor_rules_error: str | None = None

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def from_settings(cls, settings: Settings, *, inventory: Inventory | None = None,
                      clock: Callable[[], datetime] = utcnow, clients: ArmWriter | None = None) -> Service:
        """Wire the service from settings: snapshot or live inventory, state store, alerting."""
        from amlguard.alerts import AlertManager, open_store
        from amlguard.alerts.config import build_notifiers, load_alerting
        from amlguard.alerts.outbox import RetryPolicy

        telemetry.setup_telemetry(settings.env)
        if inventory is None:
            inventory = build_inventory(settings)
        store = open_store(settings.state_dir, backend=settings.state_backend, settings=settings.env)
        config = load_alerting(settings.alerting_file)
        notifiers = build_notifiers(config, settings.env)
        # receivers without settings are skipped: no groups, no outbox messages for them
        caps = RetryPolicy(max_queued=settings.outbox_max_messages, max_dead=settings.dead_letter_max)
        manager = AlertManager(store, config=config.with_receivers(notifiers), clock=clock, retry_policy=caps)
        return cls(settings=settings, inventory=inventory,
                   packs=PackHolder(settings.policies_dir, loader=lambda _folder: load_policy_pack(settings)),
                   store=store, alerts=manager, clock=clock, notifiers=notifiers, clients=clients)

    def close(self) -> None:
        self.store.close()

    def configured_scope(self) -> Scope | None:
        """What amlguard watches (AMLGUARD_SCOPE_SUBSCRIPTIONS, AMLGUARD_SCOPE_RESOURCE_GROUP,
        AZUREML_WORKSPACE_NAME), None when nothing narrows it."""
        settings = self.settings
        if not (settings.subscriptions or settings.resource_group or settings.workspace):
            return None
        return Scope(subscriptions=settings.subscriptions, resource_group=settings.resource_group,
                     workspace=settings.workspace)

    def outside_scope(self, resource_id: str) -> str | None:
        """Why `resource_id` is outside the configured scope, or None when amlguard watches it."""
        scope = self.configured_scope()
        if scope is None or _in_scope(resource_id, scope):
            return None
        parts = [("subscription", ", ".join(scope.subscriptions)), ("resource group", scope.resource_group),
                 ("workspace", scope.workspace)]
        named = "; ".join(f"{what} {value}" for what, value in parts if value)
        return (f"{resource_id} is outside the configured scope ({named}): widen AMLGUARD_SCOPE_SUBSCRIPTIONS, "
                "AMLGUARD_SCOPE_RESOURCE_GROUP or AZUREML_WORKSPACE_NAME, or filter the Event Grid subscription")

    # -- audits ---------------------------------------------------------------------------
    def _alert_update(self, report: AuditReport, audited: Iterable[str], *,
                      changed_by: dict[str, Any] | None = None) -> int:
        pack = self.packs.current()
        for_seconds = {rule.id: rule.for_seconds for rule in pack.rules}
        findings = report.findings
        if changed_by:
            for finding in findings:
                finding.changed_by = changed_by
        transitions = self.alerts.process(findings, audited=list(audited), now=self.clock(),
                                          changed_by=changed_by, for_seconds=for_seconds)
        return len(transitions)

    def _enforce(self, report: AuditReport, pack: PolicyPack, *, brake_subject: str | None) -> Enforcement:
        """Remediation as the CLI does it: a dry run (records only) unless AMLGUARD_REMEDIATION_ENABLED,
        then the max-resources brake. A tripped brake raises one alert on `brake_subject` (the swept
        scope); a run the brake lets through resolves it."""
        options = self.settings.remediation
        from amlguard.remediation import default_actor

        # an event audits one resource: a share of one is no brake but a ban, so only counts apply
        limit = None if brake_subject is None and options.max_resources.endswith("%") else options.max_resources
        done = enforce(report, pack, dry_run=not options.enabled, max_resources=limit,
                       actor=default_actor(options), client_factory=self._arm_clients(),
                       now=self.clock())
        if options.enabled and brake_subject is not None:
            status = Status.FAIL.value if done.brake else Status.PASS.value
            message = done.brake or "remediation ran within the max-resources brake"
            self.alerts.process([Finding(rule=BRAKE_RULE, resource=brake_subject, status=status, severity="high",
                                         message=message, effect="alert")], now=self.clock())
        return done

    def _arm_clients(self) -> ArmWriter | None:
        if self.clients is None and self.settings.remediation.enabled:
            from amlguard.remediation import arm_clients

            self.clients = arm_clients(self.settings)
        return self.clients

    def _reaudit(self, report: AuditReport, pack: PolicyPack, done: Enforcement) -> AuditReport:
        """Read what remediation changed again and let the fresh findings settle its alerts."""
        from amlguard.remediation import annotate

        changed = {c.lower() for c in done.changed}
        resources: list[Resource] = []
        errors: list[InventoryError] = []
        for resource_id in done.changed:
            resource, error = self._read(resource_id)
            resources += [resource] if resource else []
            errors += [error] if error else []
        fresh = evaluate(pack, resources, errors, now=self.clock())
        annotate(fresh.findings, done.records)
        actor = done.records[0].actor if done.records else "amlguard"
        self._alert_update(fresh, done.changed, changed_by={"name": actor, "display": f"{actor}, remediating"})
        kept = [f for f in report.findings if f.resource.lower() not in changed]
        by_id = {r.id.lower(): r for r in resources}
        report.resources = [by_id.get(r.id.lower(), r) for r in report.resources]
        report.findings = kept + fresh.findings
        return report

    def audit(self, resource_id: str, *, changed_by: dict[str, Any] | None = None,
              event_id: str | None = None) -> tuple[AuditReport, int]:
        """Audit exactly one resource and update its alerts (for event `event_id`, when an event
        asked). A resource the inventory cannot find is an `error` finding (never a pass)."""
        with telemetry.span("audit", resource=resource_id) as current:
            report, transitions = self._audit(resource_id, changed_by=changed_by, event_id=event_id)
            summary = report.summary()
            current.set_attribute("amlguard.failed", summary["failed"] + summary["errors"])
            return report, transitions

    def _read(self, resource_id: str) -> tuple[Resource | None, InventoryError | None]:
        """The resource now, or the error finding's cause: unreadable, or not found."""
        try:
            resource = self.inventory.get(resource_id)
        except Exception as exc:  # a partial failure is data, not an exception
            log.warning("reading %s failed: %s", resource_id, exc)
            return None, InventoryError(resource=resource_id, message=f"could not read {resource_id}: {exc}",
                                        kind=_kind_of(resource_id), retryable=True)
        if resource is None:
            return None, InventoryError(
                resource=resource_id,
                message=(f"{resource_id} was not found by the inventory; if it was just created, the next "
                         "sweep re-checks it; otherwise check amlguard's Reader access to its workspace"),
                kind=_kind_of(resource_id))
        return resource, None

    def _audit(self, resource_id: str, *, changed_by: dict[str, Any] | None,
               event_id: str | None = None) -> tuple[AuditReport, int]:
        now = self.clock()
        resource, error = self._read(resource_id)
        pack = self.packs.current()
        report = evaluate(pack, [resource] if resource else [], [error] if error else [], now=now)
        done = self._enforce(report, pack, brake_subject=None)
        transitions = self._alert_update(report, [resource.id if resource else resource_id],
                                         changed_by=changed_by)
        if done.changed:
            report = self._reaudit(report, pack, done)
            resource = report.resources[0] if report.resources else None
        # an unreadable resource keeps its error finding in the store, as the report has it
        self.store.record_audit(resource.id if resource else resource_id, now, report.summary(),
                                state=_audit_state(resource, report.findings), event=event_id)
        return report, transitions

    def sweep(self, scope: Scope | None = None, *, record: bool = True) -> AuditReport:
        """Audit everything in scope, update alerts, resolve alerts of resources that are gone."""
        with telemetry.span("sweep", subscriptions=",".join(scope.subscriptions) if scope else None,
                            resource_group=scope.resource_group if scope else None,
                            workspace=scope.workspace if scope else None) as current:
            report = self._sweep(scope, record=record)
            current.set_attribute("amlguard.resources", len(report.resources))
            return report

    def _sweep(self, scope: Scope | None, *, record: bool) -> AuditReport:
        now = self.clock()
        result: InventoryResult = self.inventory.list(scope)
        pack = self.packs.current()
        report = evaluate(pack, result.resources, result.errors, result.diagnostics, now=now)
        audited = {r.id for r in result.resources} | {e.resource for e in result.errors}
        done = self._enforce(report, pack, brake_subject=_scope_id(scope))
        self._alert_update(report, audited)
        # the brake alert of this scope is settled by _enforce, not by the resources found
        kept = {_scope_id(scope)} if self.settings.remediation.enabled else set()
        self._resolve_vanished(scope, audited | kept, {e.resource for e in result.errors}, now)
        if done.changed:
            report = self._reaudit(report, pack, done)
        if record:
            by_resource: dict[str, list[Finding]] = {}
            for finding in report.findings:
                by_resource.setdefault(finding.resource, []).append(finding)
            for resource in result.resources:
                state = _audit_state(resource, by_resource.get(resource.id, []))
                self.store.record_audit(resource.id, now, state=state)
            self._forget_vanished(scope, audited, {e.resource for e in result.errors}, now)
            self.store.record_run("sweep", now, report.summary())
        if scope is None:
            self.last_report = report
        return report

    def latest_report(self) -> AuditReport:
        """What the dashboard shows: this process's last full sweep; else the last audit of every
        resource in the state store (written by every instance's sweeps and events); a full sweep
        only when the store holds none. A Function App instance that did not run the sweep itself
        (the timer fans out per workspace) answers from the store instead of sweeping the estate."""
        if self.last_report is not None:
            return self.last_report
        stored = self.report_from_store()
        if stored is not None:
            return stored
        self.sweep()
        assert self.last_report is not None
        return self.last_report

    def report_from_store(self) -> AuditReport | None:
        """The last recorded audit of every resource still known, or None when there is none.

        Read errors of whole workspaces and unreadable files are not kept per resource: they
        show after this process's next sweep.
        """
        resources: list[Resource] = []
        findings: list[Finding] = []
        for record in self.store.audit_records():
            state = record.get("state")
            if not isinstance(state, dict):  # deleted, gone, or audited before states were kept
                continue
            if isinstance(state.get("resource"), dict):
                resources.append(_resource_from_summary(state["resource"]))
            for item in state.get("findings") or ():
                finding = _finding_from_record(item) if isinstance(item, dict) else None
                if finding is not None:
                    findings.append(finding)
        if not resources and not findings:
            return None
        return AuditReport(resources=resources, findings=findings, rules=self.packs.current().rules_metadata())

    def _forget_vanished(self, scope: Scope | None, audited: set[str], failed: set[str], now: datetime) -> None:
        """Audit records of resources a sweep of their scope no longer finds are marked gone, so
        the stored report stops listing them. Never when their workspace could not be read."""
        kept = self.store.audit_records(_scope_prefix(scope))
        for resource in _vanished([str(r.get("resource") or "") for r in kept if r.get("state")], scope, audited,
                                  failed):
            self.store.record_audit(resource, now, {"gone": True, "reason": "not found in sweep"})

    def _resolve_vanished(self, scope: Scope | None, audited: set[str], failed: set[str],
                          now: datetime) -> None:
        """Open alerts of resources no longer in the inventory resolve: the resource was deleted
        without us seeing the event. Never when the workspace could not be read."""
        alerts = [str(a["resource"]) for a in self.alerts.list_alerts(include_resolved=False)]
        for resource in _vanished(alerts, scope, audited, failed):
            self.alerts.resolve_resource(resource, now=now, reason="not found in sweep")

    def fanout(self, scope: Scope | None = None) -> list[str]:
        """Workspace ids to audit in parallel (one queue message each)."""
        return sorted(set(self.inventory.workspaces(scope)))

    def sweep_workspace(self, workspace_id: str) -> AuditReport:
        """Audit one workspace (the queue worker's job)."""
        return self.sweep(scope_for_workspace(workspace_id))

    # -- events ---------------------------------------------------------------------------
    def handle_event(self, event: ParsedEvent) -> EventOutcome:
        """At-least-once, unordered delivery: dedupe on id, drop stale, delete resolves."""
        with telemetry.span("event", event_id=event.id, event_type=event.event_type,
                            resource=event.resource_id, action=event.action) as current:
            outcome = self._handle_event(event)
            current.set_attribute("amlguard.outcome", outcome.outcome)
            return outcome

    def _handle_event(self, event: ParsedEvent) -> EventOutcome:
        if event.action == "ignore":
            log.info("ignoring event %s: %s", event.id, event.reason)
            return EventOutcome(event.id, "ignored", event.resource_id, event.reason)
        assert event.resource_id is not None
        outside = self.outside_scope(event.resource_id)
        if outside is not None:  # the HTTP route refuses these with 400; a trigger logs and drops them
            log.warning("ignoring event %s: %s", event.id, outside)
            return EventOutcome(event.id, "ignored", event.resource_id, outside)
        # An event is marked seen only after its effect is stored, so a delivery retried after a
        # failure anywhere before that redoes the work; two racing deliveries both audit (harmless).
        if self.store.event_seen(event.id):
            return EventOutcome(event.id, "duplicate", event.resource_id, "event id already processed")
        outcome = self._apply_event(event)
        self.store.mark_event_seen(event.id, self.clock())
        return outcome

    def _apply_event(self, event: ParsedEvent) -> EventOutcome:
        assert event.resource_id is not None
        record = self.store.audit_record(event.resource_id)
        last = time_or_none((record or {}).get("at"))  # an unreadable time is no audit to compare with
        # A record this very event wrote is no later audit: an earlier delivery got that far and died
        # before marking the event seen, so this one redoes the work (idempotently).
        own = record is not None and record.get("event") == event.id
        if last is not None and event.time is not None and event.time < last and not own and not (
                event.action == "delete" and self._gone(event.resource_id)):
            # What the event changed was already read by a later audit. A late delete of a resource
            # that is really gone still resolves: the audit in between could only report an error.
            return EventOutcome(event.id, "stale", event.resource_id,
                                f"event time {event.time.isoformat()} is older than the last audit "
                                f"{last.isoformat()}")
        if event.action == "delete":
            resolved = self.alerts.resolve_resource(event.resource_id, now=self.clock(), reason="deleted",
                                                    changed_by=event.changed_by)
            self.store.record_audit(event.resource_id, self.clock(), {"deleted": True}, event=event.id)
            return EventOutcome(event.id, "resolved", event.resource_id, "resource deleted",
                                transitions=len(resolved))
        report, transitions = self.audit(event.resource_id, changed_by=event.changed_by, event_id=event.id)
        summary = report.summary()
        # a resource the inventory could not read or find was not audited: its error findings (and
        # alerts) say so, and so does the outcome
        outcome, reason = ("audited", "") if report.resources else (
            "unreadable", next((f.message for f in report.findings if f.status == Status.ERROR.value), ""))
        return EventOutcome(event.id, outcome, event.resource_id, reason, findings=len(report.findings),
                            failed=summary["failed"] + summary["errors"], transitions=transitions)

    def _gone(self, resource_id: str) -> bool:
        try:
            return self.inventory.get(resource_id) is None
        except Exception:  # cannot tell: keep the stale verdict, the next sweep settles it
            return False

    # -- timers ---------------------------------------------------------------------------
    def tick(self) -> DeliveryStats:
        """Advance alert timers and deliver what is due (called by timers and after events)."""
        self.alerts.tick(now=self.clock())
        return self.alerts.deliver(self.notifiers, now=self.clock())


def _vanished(ids: Iterable[str], scope: Scope | None, audited: set[str], failed: set[str]) -> list[str]:
    """The ids in `scope` a sweep did not find, except those under a resource it could not read."""
    audited_lower = {a.lower() for a in audited}
    failed_prefixes = tuple(f.lower() for f in failed)
    return [rid for rid in ids if rid.lower() not in audited_lower
            and not (failed_prefixes and rid.lower().startswith(failed_prefixes)) and _in_scope(rid, scope)]


def _kind_of(resource_id: str) -> str | None:
    parsed = ArmId.parse(resource_id)
    return parsed.kind if parsed is not None else None


def _scope_id(scope: Scope | None) -> str:
    """The id a swept scope's own alerts carry (the remediation brake): the longest ARM id prefix
    the scope names, `/` for the whole configured estate."""
    if scope is None or len(scope.subscriptions) != 1:
        return "/"
    return scope_prefix(scope.subscriptions[0], scope.resource_group, scope.workspace)


def scope_for_workspace(workspace_id: str) -> Scope:
    parsed = ArmId.parse(workspace_id)
    if parsed is None:
        return Scope()
    return Scope(subscriptions=(parsed.subscription,), resource_group=parsed.resource_group,
                 workspace=parsed.workspace)


_FINDING_FIELDS = frozenset(f.name for f in dataclasses.fields(Finding))


def _audit_state(resource: Resource | None, findings: list[Finding]) -> dict[str, Any]:
    """What the state store keeps of one resource's audit, for `report_from_store` (no resource
    summary when it could not be read: then its findings are the error)."""
    return {"resource": resource.summary() if resource is not None else None,
            "findings": [{name: getattr(f, name) for name in _FINDING_FIELDS} for f in findings]}


def _finding_from_record(item: dict[str, Any]) -> Finding | None:
    try:
        return Finding(**{k: v for k, v in item.items() if k in _FINDING_FIELDS})  # newer fields: ignored
    except TypeError:  # a record missing a required field: left out, the rest still shows
        log.warning("ignoring a stored finding without rule, resource, status, severity or message: %r", item)
        return None


def _resource_from_summary(summary: dict[str, Any]) -> Resource:
    return Resource(kind=str(summary.get("kind") or ""), id=str(summary.get("id") or ""),
                    name=str(summary.get("name") or ""), source=summary.get("source"), line=summary.get("line"),
                    compute_type=summary.get("compute"), workspace=summary.get("workspace"))


def _scope_prefix(scope: Scope | None) -> str:
    """The lower-cased id prefix every resource of `scope` shares ('' when it is wider than one
    subscription); `_in_scope` still decides, the prefix only narrows the read."""
    scope_id = _scope_id(scope)
    return "" if scope_id == "/" else scope_id.lower()


def _in_scope(resource_id: str, scope: Scope | None) -> bool:
    if scope is None:
        return True
    parsed = ArmId.parse(resource_id)

    def same(a: str | None, b: str | None) -> bool:
        return b is None or (a or "").lower() == b.lower()

    subs_ok = not scope.subscriptions or (parsed.subscription if parsed else "").lower() in {
        s.lower() for s in scope.subscriptions}
    return subs_ok and same(parsed.resource_group if parsed else None, scope.resource_group) and same(
        parsed.workspace if parsed else None, scope.workspace)


def build_inventory(settings: Settings) -> Inventory:
    """Snapshot files when AMLGUARD_SNAPSHOT is set, else the live Azure inventory."""
    if settings.snapshot:
        from amlguard.inventory import SnapshotInventory

        missing = [path for path in settings.snapshot if not os.path.exists(path)]
        if missing:  # a typo would serve an empty estate: every audit passing, nothing watched
            raise ConfigError(f"AMLGUARD_SNAPSHOT (serve --snapshot): no such file or folder: {', '.join(missing)} "
                              f"(relative paths are read from {os.getcwd()})")
        return SnapshotInventory(list(settings.snapshot))
    from amlguard.inventory.config import inventory_from_settings

    inventory: Inventory = inventory_from_settings(settings)
    return inventory
