"""Observe stage: findings, deletions and timer ticks become alert state transitions.

The lifecycle is `lifecycle.evaluate` (pure); this stage reads each alert, applies it and writes
the alert back with one conditional write when something changed. It hands the alerts whose
groups must hear about a change to the next stage (`grouping`), and once they have, records that
in the alert (`mark_routed`). Until then the alert is in the store's timer index, so a tick tells
its groups should its writer die first.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from amlguard.alerts import lifecycle
from amlguard.alerts.lifecycle import Transition, evaluate, state_of
from amlguard.alerts.records import retry
from amlguard.alerts.store import StateStore
from amlguard.alerts.stored import StoredAlert
from amlguard.alerts.types import Alert, fingerprint
from amlguard.armid import ArmId
from amlguard.model import Finding, Status

__all__ = ["Observation", "Observer", "alert_fingerprint", "alert_labels"]

FAILING = {Status.FAIL.value, Status.ERROR.value}
PENDING, FIRING, RESOLVED, INACTIVE = lifecycle.PENDING, lifecycle.FIRING, lifecycle.RESOLVED, lifecycle.INACTIVE
BULK_THRESHOLD = 50  # findings or audited resources above which one scan beats point reads
_LABEL_RE = re.compile(r"[^A-Za-z0-9_]")
# Fields a sweep moves on every failing alert without changing anything a reader acts on.
_OBSERVATION_TIMES = ("last_evaluated", "last_failed")


def alert_fingerprint(rule: str, resource: str) -> str:
    """Fingerprint of the alert for (rule, resource); ARM ids compare case-insensitively."""
    return fingerprint({"rule": rule, "resource": resource.lower()})


def alert_labels(finding: Finding) -> dict[str, str]:
    """Routing labels of a finding's alert: rule, resource, severity, kind, workspace, endpoint,
    deployment, subscription, resource_group, workspace_id, finding_status and `tag_<name>` per
    resource tag."""
    labels = {"rule": finding.rule, "resource": finding.resource, "severity": finding.severity,
              "finding_status": finding.status}
    if finding.kind:
        labels["kind"] = finding.kind
    arm = ArmId.parse(finding.resource)
    if arm is not None:
        labels.update(arm.labels())
    if finding.workspace:
        labels["workspace"] = finding.workspace
    for key, value in (finding.tags or {}).items():
        labels[f"tag_{_LABEL_RE.sub('_', str(key))}"] = str(value)
    return {k: str(v) for k, v in labels.items() if v not in (None, "")}


def _annotations(finding: Finding) -> dict[str, str]:
    out = {"title": finding.title, "message": finding.message, "remediation": finding.remediation,
           "resource_name": finding.resource_name, "field": finding.field or ""}
    return {k: v for k, v in out.items() if v}


@dataclass(frozen=True, slots=True)
class _Input:
    """One alert observation: the condition (None on a timer tick) and its context."""

    failing: bool | None
    reason: str
    finding: Finding | None = None
    changed_by: dict[str, Any] | None = None
    for_s: float | None = None  # None: keep the alert's stored setting
    keep_s: float | None = None


@dataclass(slots=True)
class Observation:
    """What one observation changed, in memory until `Observer.commit`: the transitions, the
    alerts to write (with the input that changed them, to apply it again should another writer
    have won), and the alerts whose groups must be told once they are written."""

    transitions: list[Transition] = field(default_factory=list)
    to_route: list[StoredAlert] = field(default_factory=list)
    to_save: list[tuple[StoredAlert, _Input]] = field(default_factory=list)
    # alerts as they were stored when a crash kept that change from their groups: routed first
    unrouted: list[StoredAlert] = field(default_factory=list)

    def add(self, change: tuple[StoredAlert | None, Transition | None, bool], obs: _Input) -> None:
        stored, transition, write = change
        if transition is not None:
            self.transitions.append(transition)
        if stored is None:
            return
        if stored.needs_routing:
            self.to_route.append(stored)
        if write:
            self.to_save.append((stored, obs))


class Observer:
    """Applies observations to stored alerts. `on_timer(at)` hears when a saved alert next needs a
    timer tick (a pending alert's `for`, a firing alert's keep_firing_for)."""

    def __init__(self, store: StateStore, on_timer: Callable[[datetime], None] | None = None) -> None:
        self.store = store
        self.on_timer = on_timer

    def findings(self, findings: Iterable[Finding], *, audited: Iterable[str], now: datetime,
                 changed_by: dict[str, Any] | None, for_seconds: Mapping[str, float],
                 keep_firing_for: Mapping[str, float], rules: Iterable[str] | None) -> Observation:
        """One audit's findings (see AlertManager.process)."""
        observed: dict[str, tuple[Finding, bool]] = {}
        evaluated = set(rules) if rules is not None else set()
        for finding in findings:
            if rules is None:
                evaluated.add(finding.rule)
            fp = alert_fingerprint(finding.rule, finding.resource)
            failing = finding.status in FAILING
            if fp in observed and observed[fp][1] and not failing:
                continue  # a failing finding for the same (rule, resource) wins
            observed[fp] = (finding, failing)
        audited_ids = {r.lower(): r for r in audited}
        # A sweep touches many alerts: one scan beats thousands of point reads (Table storage).
        bulk = len(observed) > BULK_THRESHOLD or len(audited_ids) > BULK_THRESHOLD
        known = {s.alert.fingerprint: s for s in self.store.list_alerts()} if bulk else None
        out = Observation()
        for fp, (finding, failing) in observed.items():
            if known is not None and fp not in known and not failing:
                continue  # compliant and never alerted: nothing to read or write
            step = _Input(failing, "failed" if failing else finding.status, finding,
                          finding.changed_by or changed_by, for_seconds.get(finding.rule),
                          keep_firing_for.get(finding.rule))
            out.add(self._evaluate(fp, now, step, known.get(fp) if known is not None else None, out), step)
        if known is not None:
            candidates = [s for s in known.values() if s.alert.resource.lower() in audited_ids]
        else:
            candidates = [s for r in audited_ids.values() for s in self.store.alerts_for_resource(r)]
        for stored in candidates:
            alert = stored.alert
            if (alert.fingerprint in observed or alert.status not in (PENDING, FIRING)
                    or alert.rule not in evaluated):
                continue
            step = _Input(False, "no finding", None, changed_by, for_seconds.get(alert.rule),
                          keep_firing_for.get(alert.rule))
            out.add(self._evaluate(alert.fingerprint, now, step, stored, out), step)
        return out

    def resolve_resource(self, resource_id: str, *, now: datetime, reason: str,
                         changed_by: dict[str, Any] | None) -> Observation:
        """Every open alert of a resource resolves at once (it was deleted): no hysteresis."""
        out = Observation()
        for stored in self.store.alerts_for_resource(resource_id):
            if stored.alert.status in (PENDING, FIRING):
                step = _Input(False, reason, None, changed_by, None, 0.0)
                out.add(self._evaluate(stored.alert.fingerprint, now, step, stored, out), step)
        return out

    def timers(self, now: datetime, *, scan_all: bool) -> Observation:
        """A timer tick: pending -> firing after `for`, keep_firing_for expiry, unfinished routing.

        Only alerts in the store's timer index are read unless `scan_all` (the first tick of a
        process, and hourly), which also brings the index in line with the alerts (rows an older
        version kept elsewhere, or none).
        """
        index = None
        if scan_all:
            index = self.store.due_index()  # read first: a row a writer changes after this is left alone
            candidates = self.store.list_alerts()
        else:
            candidates = []
            for fp in self.store.due_alerts(now):
                stored = self.store.get_alert(fp)
                if stored is None:
                    self.store.clear_due(fp)
                else:
                    candidates.append(stored)
        out = Observation()
        timer = _Input(None, "timer")
        for stored in candidates:
            if stored.alert.status in (PENDING, FIRING):
                out.add(self._evaluate(stored.alert.fingerprint, now, timer, stored, out), timer)
            elif stored.needs_routing:  # written, then the process died before its groups were told
                out.add((stored, None, False), timer)
        if index is not None:
            changing = {s.alert.fingerprint for s in out.to_route} | {s.alert.fingerprint for s, _ in out.to_save}
            for stored in candidates:
                if stored.alert.fingerprint not in changing:
                    self.store.reindex_due(stored, index.get(stored.alert.fingerprint))
        return out

    def commit(self, observed: Observation, now: datetime) -> list[StoredAlert]:
        """Write the changed alerts, before their groups are told (a group must never hear of a
        state a flush cannot read back); returns the written alerts whose groups must now be told.

        An alert another writer changed meanwhile is read, evaluated and written again, and that
        version is the one returned."""
        redo = Observation()
        lost = {s.alert.fingerprint for s in self.store.save_alerts([s for s, _ in observed.to_save])}
        for stored, obs in observed.to_save:
            if stored.alert.fingerprint in lost:
                redo.add(self._apply(stored.alert.fingerprint, now, obs), obs)
            elif stored.timer_due is not None and self.on_timer is not None:
                self.on_timer(stored.timer_due)
        if lost:
            observed.transitions[:] = [t for t in observed.transitions if t.fingerprint not in lost]
            observed.transitions += redo.transitions
        return [s for s in observed.to_route if s.alert.fingerprint not in lost] + redo.to_route

    def mark_routed(self, batch: Sequence[StoredAlert]) -> None:
        """Record in each alert that its groups have been told its change (`routed_seq`); that also
        takes it out of the timer index unless a timer of its own is due."""
        todo = [s for s in batch if s.routed_seq < s.route_seq]
        for stored in todo:
            stored.routed_seq = stored.route_seq
        # the copies just written or read are usually still current: one batched write
        for stored in self.store.save_alerts(todo):
            retry(partial(self._mark_current, stored.alert.fingerprint, stored.route_seq))

    def _mark_current(self, fp: str, target_seq: int) -> None:
        current = self.store.get_alert(fp)
        if current is None or current.routed_seq >= target_seq:
            return  # gone, or marked by another writer
        current.routed_seq = target_seq
        self.store.save_alert(current)

    def _evaluate(self, fp: str, now: datetime, obs: _Input, cached: StoredAlert | None,
                  out: Observation | None = None) -> tuple[StoredAlert | None, Transition | None, bool]:
        """Apply one observation to an alert in memory: (alert, transition, whether to write).
        `cached` (from a scan just made) saves the read; a stale copy only costs a retry. A change on
        top of one its groups never heard (a crash between the alert write and routing) puts the
        alert as stored into `out.unrouted`, so that earlier change is routed before this one."""
        stored = cached if cached is not None else self.store.get_alert(fp)
        earlier = copy.deepcopy(stored) if out is not None and stored is not None and stored.needs_routing else None
        if stored is None and not obs.failing:
            return None, None, False
        if stored is not None and not obs.failing and stored.alert.status in (RESOLVED, INACTIVE):
            return stored, None, False  # still clear: nothing to record
        if stored is None:
            assert obs.finding is not None
            stored = StoredAlert(Alert(fingerprint=fp, rule=obs.finding.rule, resource=obs.finding.resource,
                                       status=INACTIVE, severity=obs.finding.severity, since=now))
        before = stored.snapshot()
        transition = _step(stored, now, obs)
        if earlier is not None and out is not None and stored.route_seq != earlier.route_seq:
            out.unrouted.append(earlier)
        if stored.etag and transition is None:
            after = stored.snapshot()
            if after == before:
                return stored, None, False  # nothing changed: no write (processing twice is a no-op)
            if stored.keep_firing_for <= 0 and _untimed(after) == _untimed(before):
                # Same condition, only the observation times moved: skip the write (a sweep would
                # otherwise rewrite every failing alert). Without keep_firing_for nothing reads them.
                return stored, None, False
        return stored, transition, True

    def _apply(self, fp: str, now: datetime, obs: _Input) -> tuple[StoredAlert | None, Transition | None, bool]:
        """Read, evaluate and write one alert, retried on ETag conflicts (the path after a lost race)."""

        def attempt() -> tuple[StoredAlert | None, Transition | None, bool]:
            stored, transition, write = self._evaluate(fp, now, obs, None)
            if stored is not None and write:
                stored = self.store.save_alert(stored)
            return stored, transition, False

        return retry(attempt)


def _untimed(snapshot: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in snapshot.items() if k not in _OBSERVATION_TIMES}


def _step(stored: StoredAlert, now: datetime, obs: _Input) -> Transition | None:
    """Apply `lifecycle.evaluate` to one stored alert in place; the transition it made, if any."""
    f_s = stored.for_seconds if obs.for_s is None else float(obs.for_s)
    k_s = stored.keep_firing_for if obs.keep_s is None else float(obs.keep_s)
    stored.for_seconds, stored.keep_firing_for = f_s, k_s
    alert, failing, changed_by = stored.alert, obs.failing, obs.changed_by
    prev_status = alert.status
    state, change = evaluate(state_of(alert), failing, now, for_seconds=f_s, keep_firing_for=k_s)
    alert.status, alert.since = state.status, state.since or now
    alert.active_since, alert.last_evaluated = state.active_since, state.last_evaluated
    alert.last_failed, alert.resolved_at = state.last_failed, state.resolved_at
    if obs.finding is not None and failing:
        finding = obs.finding
        alert.severity = finding.severity
        alert.labels = alert_labels(finding)
        alert.annotations = _annotations(finding)
        alert.source, alert.line = finding.source, finding.line
    if change is None:
        if changed_by is not None and failing and alert.changed_by != changed_by:
            alert.changed_by = changed_by
        return None
    why = obs.reason
    if change == FIRING and prev_status == PENDING:
        why = f"failing for {f_s:g}s"
    elif change == RESOLVED and failing is None:
        why = f"clear for keep_firing_for {k_s:g}s"
    elif change == RESOLVED and prev_status == PENDING:
        why = f"{obs.reason} before firing"
    if change in (PENDING, FIRING) and prev_status in (INACTIVE, RESOLVED):
        alert.acknowledged_by = alert.acknowledged_at = None  # a new episode needs a new ack
        stored.closed_by, stored.closed_at = None, None
    if changed_by is not None and (failing or change == RESOLVED):
        alert.changed_by = changed_by
    stored.history.append({"at": now.isoformat(), "event": "transition", "from": prev_status,
                           "to": change, "reason": why, "changed_by": changed_by})
    if change == FIRING or (change == RESOLVED and prev_status == FIRING):
        stored.route_seq += 1
    return Transition(alert.fingerprint, alert.rule, alert.resource, prev_status, change, now, why, changed_by)
