"""AlertManager: turns audit findings into persisted alerts and grouped, deduplicated notifications.

The pure decisions live in `lifecycle` (state machine, send decision); this module does the I/O
around them: read-modify-write of alerts with ETags, group bookkeeping per receiver, silences and
inhibition at flush time, the outbox, and the JSON views the HTTP API returns.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from amlguard.alerts import lifecycle
from amlguard.alerts.inhibit import InhibitRule, inhibited_by, parse_inhibit_rules
from amlguard.alerts.lifecycle import NotifyLogEntry, Transition, evaluate, needs_update, state_of
from amlguard.alerts.outbox import DeliveryStats, RetryPolicy
from amlguard.alerts.outbox import deliver as _deliver
from amlguard.alerts.silences import (
    Silence,
    add_silence,
    edit_silence,
    expire_silence,
    list_silences,
    matching_silences,
)
from amlguard.alerts.store import (
    Conflict,
    StateStore,
    StoredAlert,
    alert_to_json,
    retry,
    to_utc,
)
from amlguard.alerts.types import Alert, Notification, Notifier, NotifyReason, fingerprint
from amlguard.errors import ConfigError
from amlguard.model import Finding, Status, severity_rank
from amlguard.timeparse import parse_time

__all__ = ["AlertManager", "alert_fingerprint", "alert_labels"]

log = logging.getLogger(__name__)

FAILING = {Status.FAIL.value, Status.ERROR.value}
PENDING, FIRING, RESOLVED = lifecycle.PENDING, lifecycle.FIRING, lifecycle.RESOLVED
HOUSEKEEPING_EVERY = timedelta(hours=1)
EVENT_RETENTION = timedelta(days=2)  # Event Grid retries for up to 24 h
RESOLVED_RETENTION = timedelta(days=30)  # Azure Monitor keeps alert instances 30 days
SILENCE_RETENTION = timedelta(days=5)  # Alertmanager's default --data.retention is 120 h
LOG_RETENTION = timedelta(days=30)  # notification log and dead letters
RUN_RETENTION = timedelta(days=90)  # audit runs behind the compliance-over-time chart
RECENT_HISTORY = 10
BULK_THRESHOLD = 50  # findings or audited resources above which process() scans alerts once
MAX_ALERTS_PER_MESSAGE = 50  # a bigger group flush is sent as several messages, in order
# One Table batch carries the group write and every part: at most 100 writes and 4 MiB, so at
# most 30 parts of 50 alerts (~2 KB each) per flush.
MAX_PARTS = 30
_ARM_PARTS = {
    "subscriptions": "subscription", "resourcegroups": "resource_group", "workspaces": "workspace",
    "onlineendpoints": "endpoint", "batchendpoints": "endpoint", "deployments": "deployment",
}
_LABEL_RE = re.compile(r"[^A-Za-z0-9_]")
_STATUS_ORDER = {FIRING: 0, PENDING: 1, RESOLVED: 2}

Router = Callable[[Alert], Iterable[Any]]


def alert_fingerprint(rule: str, resource: str) -> str:
    """Fingerprint of the alert for (rule, resource); ARM ids compare case-insensitively."""
    return fingerprint({"rule": rule, "resource": resource.lower()})


def _arm_labels(resource_id: str) -> dict[str, str]:
    parts = [p for p in resource_id.split("/") if p]
    out: dict[str, str] = {}
    for key, value in itertools.pairwise(parts):
        name = _ARM_PARTS.get(key.lower())
        if name and name not in out:
            out[name] = value
    if "workspace" in out:
        head = resource_id.lower().split("/workspaces/")[0]
        out["workspace_id"] = f"{head}/workspaces/{out['workspace'].lower()}"
    return out


def alert_labels(finding: Finding) -> dict[str, str]:
    """Routing labels of a finding's alert: rule, resource, severity, kind, workspace, endpoint,
    deployment, subscription, resource_group, finding_status and `tag_<name>` per resource tag."""
    labels = {"rule": finding.rule, "resource": finding.resource, "severity": finding.severity,
              "finding_status": finding.status}
    if finding.kind:
        labels["kind"] = finding.kind
    labels.update(_arm_labels(finding.resource))
    if finding.workspace:
        labels["workspace"] = finding.workspace
    for key, value in (finding.tags or {}).items():
        labels[f"tag_{_LABEL_RE.sub('_', str(key))}"] = str(value)
    return {k: str(v) for k, v in labels.items() if v not in (None, "")}


def _annotations(finding: Finding) -> dict[str, str]:
    out = {"title": finding.title, "message": finding.message, "remediation": finding.remediation,
           "resource_name": finding.resource_name, "field": finding.field or ""}
    return {k: v for k, v in out.items() if v}


def _seconds(value: Any) -> float:
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value or 0)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


class AlertManager:
    """The alert state core: process findings, advance timers, notify through the outbox.

    `config` is the routing engineer's AlertingConfig (its `route(alert)` gives the receivers,
    its `inhibit_rules` the inhibition rules); `router` and `inhibit_rules` override it. Without
    either, alerts are tracked but nothing is routed. `clock` and `random` are injectable for tests.
    """

    def __init__(self, store: StateStore, *, config: Any | None = None,
                 clock: Callable[[], datetime] | None = None, router: Router | None = None,
                 inhibit_rules: Iterable[InhibitRule | Mapping[str, Any]] | None = None,
                 random: Callable[[], float] | None = None, retry_policy: RetryPolicy | None = None) -> None:
        self.store = store
        self.config = config
        self._scanned = False  # the first tick scans every alert (see tick)
        self.clock = clock or (lambda: datetime.now(UTC))
        self.router = router or _router_from_config(config)
        rules = inhibit_rules if inhibit_rules is not None else getattr(config, "inhibit_rules", None)
        try:
            self.inhibit_rules = parse_inhibit_rules(list(rules or []))
        except ValueError as exc:
            where = getattr(config, "file", None) or "policies/alerting.yaml"
            raise ConfigError(f"{where}: {exc}; fix that inhibit rule and reload") from exc
        self.random = random
        self.retry_policy = retry_policy or RetryPolicy()

    def _now(self, now: datetime | None) -> datetime:
        return to_utc(now or self.clock())

    # -- evaluation ----------------------------------------------------------------------------

    def process(self, findings: Iterable[Finding], *, audited: Iterable[str] = (), now: datetime | None = None,
                changed_by: dict[str, Any] | None = None, for_seconds: Mapping[str, float] | None = None,
                keep_firing_for: Mapping[str, float] | None = None,
                rules: Iterable[str] | None = None) -> list[Transition]:
        """Apply one audit's findings; returns the transitions it caused (idempotent).

        fail/error findings open or keep an alert; pass/not_applicable/exempt resolve it; an open
        alert of a resource in `audited` whose rule was evaluated (`rules`; by default the rules
        that produced any finding in this call) but gave that resource no finding resolves too.
        Alerts of other rules (monitor rules during a policy sweep) are left alone.
        `for_seconds` and `keep_firing_for` map rule id -> seconds (default 0: fire at once,
        resolve at once). Notifications due now are enqueued before returning.
        """
        now = self._now(now)
        for_map, keep_map = dict(for_seconds or {}), dict(keep_firing_for or {})
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
        transitions: list[Transition] = []
        defer: list[StoredAlert] = []
        for fp, (finding, failing) in observed.items():
            if known is not None and fp not in known and not failing:
                continue  # compliant and never alerted: nothing to read or write
            step = self._observe(
                fp, now, failing=failing, finding=finding, changed_by=finding.changed_by or changed_by,
                reason="failed" if failing else finding.status,
                for_s=for_map.get(finding.rule), keep_s=keep_map.get(finding.rule),
                cached=known.get(fp) if known is not None else None, defer=defer)
            if step:
                transitions.append(step)
        if known is not None:
            candidates = [s for s in known.values() if s.alert.resource.lower() in audited_ids]
        else:
            candidates = [s for r in audited_ids.values() for s in self.store.alerts_for_resource(r)]
        for stored in candidates:
            alert = stored.alert
            if (alert.fingerprint in observed or alert.status not in (PENDING, FIRING)
                    or alert.rule not in evaluated):
                continue
            step = self._observe(alert.fingerprint, now, failing=False, finding=None, changed_by=changed_by,
                                 reason="no finding", for_s=for_map.get(alert.rule),
                                 keep_s=keep_map.get(alert.rule), cached=stored, defer=defer)
            if step:
                transitions.append(step)
        self._flush_groups(self._route_many(defer, now), now)
        return transitions

    def resolve_resource(self, resource_id: str, *, now: datetime | None = None, reason: str = "deleted",
                         changed_by: dict[str, Any] | None = None) -> list[Transition]:
        """Resolve every open alert of a resource at once (it was deleted): no hysteresis."""
        now = self._now(now)
        transitions = []
        defer: list[StoredAlert] = []
        for stored in self.store.alerts_for_resource(resource_id):
            alert = stored.alert
            if alert.status in (PENDING, FIRING):
                step = self._observe(alert.fingerprint, now, failing=False, finding=None, changed_by=changed_by,
                                     reason=reason, for_s=None, keep_s=0.0, cached=stored, defer=defer)
                if step:
                    transitions.append(step)
        self._flush_groups(self._route_many(defer, now), now)
        return transitions

    def tick(self, now: datetime | None = None) -> list[Transition]:
        """Advance timers: pending -> firing after `for`, keep_firing_for expiry, unfinished routing,
        group flushes (group_wait / group_interval / repeat_interval), and hourly housekeeping.

        Only alerts in the store's timer index are read, so a tick costs what is due, not what is
        stored; the first tick of a manager and hourly housekeeping scan everything, which also
        repairs a timer row lost to a crash between the alert write and the index write.
        """
        now = self._now(now)
        if not self._scanned or self._housekeeping_due(now):
            candidates = self.store.list_alerts()
            self._scanned = True
        else:
            candidates = []
            for fp in self.store.due_alerts(now):
                stored = self.store.get_alert(fp)
                if stored is None:
                    self.store.clear_due(fp)
                else:
                    candidates.append(stored)
        transitions = []
        defer: list[StoredAlert] = []
        for stored in candidates:
            alert = stored.alert
            if alert.status in (PENDING, FIRING):
                step = self._observe(alert.fingerprint, now, failing=None, finding=None, changed_by=None,
                                     reason="timer", for_s=None, keep_s=None, cached=stored, defer=defer)
                if step:
                    transitions.append(step)
                    continue
            if stored.needs_routing:
                defer.append(stored)
        self._route_many(defer, now)
        self._flush_due(now)
        self._housekeeping(now)
        return transitions

    def _housekeeping_due(self, now: datetime) -> bool:
        meta = self.store.get_meta("housekeeping")
        last = meta.body.get("at") if meta else None
        return not last or parse_time(last) + HOUSEKEEPING_EVERY <= now

    def _observe(self, fp: str, now: datetime, *, failing: bool | None, finding: Finding | None,
                 changed_by: dict[str, Any] | None, reason: str, for_s: float | None,
                 keep_s: float | None, cached: StoredAlert | None = None,
                 defer: list[StoredAlert] | None = None) -> Transition | None:
        """Read-modify-write one alert with the lifecycle; retried on ETag conflicts.

        `cached` (from a scan just made) saves the first read; a stale copy only costs a retry.
        Alerts that need routing are appended to `defer` (routed in one batch) or routed now.
        """
        first = [cached]

        def attempt() -> tuple[StoredAlert | None, Transition | None]:
            stored = first.pop() if first and first[0] is not None else self.store.get_alert(fp)
            first.clear()
            if stored is None and not failing:
                return None, None
            if stored is not None and not failing and stored.alert.status in (RESOLVED, lifecycle.INACTIVE):
                return stored, None  # still clear: nothing to record
            if stored is None:
                assert finding is not None
                alert = Alert(fingerprint=fp, rule=finding.rule, resource=finding.resource,
                              status=lifecycle.INACTIVE, severity=finding.severity, since=now)
                stored = StoredAlert(alert)
            before = stored.to_json()
            f_s = stored.for_seconds if for_s is None else float(for_s)
            k_s = stored.keep_firing_for if keep_s is None else float(keep_s)
            stored.for_seconds, stored.keep_firing_for = f_s, k_s
            prev_status = stored.alert.status
            state, change = evaluate(state_of(stored.alert), failing, now, for_seconds=f_s, keep_firing_for=k_s)
            alert = stored.alert
            alert.status, alert.since = state.status, state.since or now
            alert.active_since, alert.last_evaluated = state.active_since, state.last_evaluated
            alert.last_failed, alert.resolved_at = state.last_failed, state.resolved_at
            if finding is not None and failing:
                alert.severity = finding.severity
                alert.labels = alert_labels(finding)
                alert.annotations = _annotations(finding)
                alert.source, alert.line = finding.source, finding.line
            transition = None
            if change is not None:
                why = reason
                if change == FIRING and prev_status == PENDING:
                    why = f"failing for {f_s:g}s"
                elif change == RESOLVED and failing is None:
                    why = f"clear for keep_firing_for {k_s:g}s"
                elif change == RESOLVED and prev_status == PENDING:
                    why = f"{reason} before firing"
                if change in (PENDING, FIRING) and prev_status in (lifecycle.INACTIVE, RESOLVED):
                    alert.acknowledged_by = alert.acknowledged_at = None  # a new episode needs a new ack
                    stored.closed_by, stored.closed_at = None, None
                if changed_by is not None and (failing or change == RESOLVED):
                    alert.changed_by = changed_by
                transition = Transition(fp, alert.rule, alert.resource, prev_status, change, now, why,
                                        changed_by)
                stored.history.append({"at": now.isoformat(), "event": "transition", "from": prev_status,
                                       "to": change, "reason": why, "changed_by": changed_by})
                if change == FIRING or (change == RESOLVED and prev_status == FIRING):
                    stored.route_seq += 1
            elif changed_by is not None and failing and alert.changed_by != changed_by:
                alert.changed_by = changed_by
            after = stored.to_json()
            if stored.etag and after == before:
                return stored, None  # nothing changed: no write (processing twice is a no-op)
            if stored.etag and change is None and k_s <= 0 and _untimed(after) == _untimed(before):
                # Same condition, only the observation times moved: skip the write (a sweep would
                # otherwise rewrite every failing alert). Without keep_firing_for nothing reads them.
                return stored, None
            return self.store.save_alert(stored), transition

        stored, transition = retry(attempt)
        if stored is not None and stored.needs_routing:
            if defer is not None:
                defer.append(stored)
            else:
                self._flush_groups(self._route_many([stored], now), now)
        return transition

    # -- routing and groups ----------------------------------------------------------------------

    def _route_many(self, batch: list[StoredAlert], now: datetime) -> list[tuple[str, str]]:
        """Put firing/resolved alerts into their groups (one write per group), then mark them routed.
        Returns the (receiver, group key) of groups that are due to flush now (group_wait 0)."""
        due: list[tuple[str, str]] = []
        if not batch:
            return due
        if self.router is not None:
            groups: dict[tuple[str, str], tuple[Any, list[Alert]]] = {}
            for stored in batch:
                for match in self.router(stored.alert):
                    labels = _labels(stored.alert)
                    key = (str(match.receiver), _group_key(match, labels, _group_labels(match, labels)))
                    groups.setdefault(key, (match, []))[1].append(stored.alert)
            for match, alerts in groups.values():
                flush_at = self._join_group(match, alerts, now)
                if flush_at is not None and flush_at <= now:
                    due.append((str(match.receiver), _group_key(match, _labels(alerts[0]),
                                                                _group_labels(match, _labels(alerts[0])))))
        for stored in batch:
            self._mark_routed(stored)
        return due

    def _mark_routed(self, stored: StoredAlert) -> None:
        target_seq = stored.route_seq
        if stored.etag and stored.routed_seq < target_seq:
            stored.routed_seq = target_seq
            try:
                self.store.save_alert(stored)  # usually our own write's ETag: one request
                return
            except Conflict:
                pass

        def mark() -> None:
            current = self.store.get_alert(stored.alert.fingerprint)
            if current is None or current.routed_seq >= target_seq:
                return
            current.routed_seq = target_seq
            self.store.save_alert(current)

        retry(mark)

    def _join_group(self, match: Any, alerts: list[Alert], now: datetime) -> datetime | None:
        """Add alerts to their group; returns when the group flushes next."""
        receiver = str(match.receiver)
        labels = _labels(alerts[0])
        group_labels = _group_labels(match, labels)
        group_key = _group_key(match, labels, group_labels)
        fps = [a.fingerprint for a in alerts]
        settings: dict[str, Any] = {
            "group_wait": _seconds(getattr(match, "group_wait", 30)),
            "group_interval": _seconds(getattr(match, "group_interval", 300)),
            "repeat_interval": _seconds(getattr(match, "repeat_interval", 4 * 3600)),
            "send_resolved": bool(getattr(match, "send_resolved", True)),
        }

        def attempt() -> datetime | None:
            doc = self.store.get_group(receiver, group_key)
            if doc is None:
                body: dict[str, Any] = {
                    "receiver": receiver, "group_key": group_key, "group_labels": group_labels,
                    "settings": settings, "members": fps, "nflog": None,
                    "next_flush": (now + timedelta(seconds=settings["group_wait"])).isoformat(),
                    "created_at": now.isoformat(),
                }
                self.store.save_group(receiver, group_key, body, etag=None)
                return now + timedelta(seconds=settings["group_wait"])
            body = dict(doc.body)
            before = dict(body)
            new = [fp for fp in fps if fp not in body["members"]]
            if new:
                body["members"] = [*body["members"], *new]
            body["settings"] = settings
            if not body.get("next_flush"):
                body["next_flush"] = (now + timedelta(seconds=settings["group_wait"])).isoformat()
            if body != before:
                self.store.save_group(receiver, group_key, body, etag=doc.etag)
            return parse_time(body["next_flush"])

        return retry(attempt)

    def _flush_groups(self, groups: list[tuple[str, str]], now: datetime) -> None:
        """Flush the groups an update just made due; the timer (tick) flushes the rest."""
        if groups:
            context = _MuteContext(self, now)
            for receiver, group_key in dict.fromkeys(groups):
                self._flush(receiver, group_key, now, context)

    def _flush_due(self, now: datetime) -> None:
        due = [doc for doc in self.store.list_groups()
               if doc.body.get("next_flush") and parse_time(doc.body["next_flush"]) <= now]
        if not due:
            return
        members = sum(len(doc.body.get("members") or ()) for doc in due)
        context = _MuteContext(self, now, snapshot=members > BULK_THRESHOLD)
        for doc in due:
            self._flush(doc.body["receiver"], doc.body["group_key"], now, context)

    def _flush(self, receiver: str, group_key: str, now: datetime, context: _MuteContext) -> None:
        """One aggregation-group flush: dedup decision, outbox message, log update (atomically)."""

        def attempt() -> None:
            doc = self.store.get_group(receiver, group_key)
            if doc is None or not doc.body.get("next_flush"):
                return
            body = dict(doc.body)
            if parse_time(body["next_flush"]) > now:
                return  # another instance flushed it first
            settings = body["settings"]
            entry = NotifyLogEntry.from_json(body.get("nflog"))
            firing: list[Alert] = []
            resolved: list[Alert] = []
            handled: set[str] = set()  # acknowledged or closed by a person
            still_known: set[str] = set()  # muted now, but receivers were told it fires
            done: set[str] = set()
            for fp in body["members"]:
                stored = context.get(fp)
                if stored is None:
                    done.add(fp)
                    continue
                alert = context.annotate(stored.alert)
                if stored.user_state != "new":
                    handled.add(fp)
                muted = bool(alert.silenced_by or alert.inhibited_by)
                known = entry is not None and fp in entry.firing
                if alert.status == FIRING:
                    if not muted:
                        firing.append(alert)
                    elif known:
                        still_known.add(fp)
                else:
                    # resolved, or pending again after resolving (receivers saw it resolve)
                    if alert.status == PENDING:
                        alert = replace(alert, status=RESOLVED)
                    done.add(fp)  # Alertmanager drops resolved alerts from the group after a flush
                    # Alertmanager #226: a silenced alert that resolves still gets its resolved
                    # notice if receivers heard about it firing.
                    if not muted or known:
                        resolved.append(alert)
            # Muting an alert is not resolving it: receivers that heard it fire keep counting it
            # as firing (so no false "all resolved"), but it is left out of what is sent.
            firing_fps = {a.fingerprint for a in firing} | still_known
            resolved_fps = {a.fingerprint for a in resolved}
            reason = needs_update(entry, firing_fps, resolved_fps, now,
                                  repeat_interval=settings["repeat_interval"],
                                  send_resolved=settings["send_resolved"])
            if reason == NotifyReason.REPEAT and all(a.fingerprint in handled for a in firing):
                reason = None  # all muted, acknowledged or closed (somebody is on it): no repeat
            notes: list[Notification] = []
            if reason is not None:
                alerts = firing + (resolved if settings["send_resolved"] else [])
                alerts, held = _news_first_up_to_cap(alerts, entry)
                told_firing, told_resolved = firing_fps, resolved_fps
                if held:
                    # the log says what receivers were told: a held-back alert keeps the state they
                    # last heard, so the next flush sees it as news and sends it
                    held_fps = {a.fingerprint for a in held}
                    heard = entry.firing if entry is not None else frozenset()
                    told_firing = (firing_fps - held_fps) | (heard & held_fps)
                    told_resolved = resolved_fps - held_fps
                    done -= held_fps  # resolved but not yet told: stays in the group
                    log.warning("group %s for receiver %s has %d alerts to send in one flush; %d are sent now "
                                "and the other %d at the next flushes. Group by finer labels (e.g. workspace, "
                                "rule) in alerting.yaml", group_key, receiver, len(alerts) + len(held),
                                len(alerts), len(held))
                body["nflog"] = NotifyLogEntry(frozenset(told_firing), frozenset(told_resolved), now).to_json()
                if alerts:
                    notes = _notifications(receiver, group_key, body["group_labels"], reason, firing, alerts,
                                           now, self.store, truncated=len(held))
            members = [fp for fp in body["members"] if fp not in done]
            body["members"] = members
            body["last_flush"] = now.isoformat()
            body["next_flush"] = (now + timedelta(seconds=settings["group_interval"])).isoformat() \
                if members else None
            self.store.save_group(receiver, group_key, body, etag=doc.etag, outbox=notes)

        retry(attempt)

    # -- delivery --------------------------------------------------------------------------------

    def deliver(self, notifiers: Mapping[str, Notifier], *, now: datetime | None = None,
                max_items: int = 500) -> DeliveryStats:
        """Drain the outbox through `notifiers` (receiver name -> Notifier); see amlguard.alerts.outbox."""
        return _deliver(self.store, notifiers, now=self._now(now), rand=self.random, policy=self.retry_policy,
                        max_items=max_items)

    def outbox(self, receiver: str | None = None) -> list[dict[str, Any]]:
        """Queued and dead-lettered messages (oldest first per receiver), for operators."""
        names = [receiver] if receiver else self.store.receivers()
        out = []
        for name in names:
            for doc in self.store.outbox(name):
                item = dict(doc.body)
                note = item.pop("notification")
                item.update(id=note["id"], receiver=name, reason=note["reason"], status=note["status"],
                            idempotency_key=note["idempotency_key"], attempts=note.get("attempts", 0),
                            created_at=note["created_at"], alerts=[a["fingerprint"] for a in note["alerts"]])
                out.append(item)
        return out

    def notification_log(self, limit: int = 100) -> list[dict[str, Any]]:
        """Delivered (and dead-lettered) notifications, newest first, each with its reason."""
        return self.store.notification_log(limit)

    # -- views -----------------------------------------------------------------------------------

    def list_alerts(self, *, status: str | None = None, include_resolved: bool = True,
                    now: datetime | None = None) -> list[dict[str, Any]]:
        """Alerts as JSON-ready dicts (contract 5 keys first), firing first, then by severity."""
        context = _MuteContext(self, self._now(now))
        out = []
        for stored in self.store.list_alerts():
            alert = stored.alert
            if alert.status == lifecycle.INACTIVE:
                continue
            if (status and alert.status != status) or (not include_resolved and alert.status == RESOLVED):
                continue
            out.append(_view(stored, context.annotate(alert)))
        out.sort(key=lambda a: (_STATUS_ORDER.get(a["status"], 3), severity_rank(a["severity"]),
                                -_ts(a["since"]), a["fingerprint"]))
        return out

    def summary(self, *, now: datetime | None = None) -> dict[str, int]:
        """Counts for dashboards and health: alerts by status and user state, outbox backlog."""
        alerts = self.list_alerts(now=now)
        out = {"firing": 0, "pending": 0, "resolved": 0, "acknowledged": 0, "closed": 0, "muted": 0,
               "outbox_queued": 0, "outbox_dead": 0}
        for alert in alerts:
            out[alert["status"]] = out.get(alert["status"], 0) + 1
            if alert["status"] != RESOLVED:
                out["acknowledged"] += alert["user_state"] == "acknowledged"
                out["closed"] += alert["user_state"] == "closed"
                out["muted"] += alert["muted"]
        for item in self.outbox():
            out["outbox_dead" if item.get("state") == "dead" else "outbox_queued"] += 1
        return out

    def get_alert(self, fp: str, *, now: datetime | None = None) -> dict[str, Any] | None:
        """One alert as in `list_alerts`, with its full history."""
        stored = self.store.get_alert(fp)
        if stored is None:
            return None
        view = _view(stored, _MuteContext(self, self._now(now)).annotate(stored.alert))
        view["history"] = list(stored.history)
        return view

    def history(self, fp: str) -> list[dict[str, Any]]:
        """Every recorded transition and acknowledgement of one alert, oldest first."""
        stored = self.store.get_alert(fp)
        return [] if stored is None else list(stored.history)

    # -- people: acknowledgement and silences ---------------------------------------------------

    def acknowledge(self, fp: str, by: str, comment: str | None = None, *,
                    now: datetime | None = None) -> dict[str, Any]:
        """Record that `by` is handling the alert (Azure's New -> Acknowledged). Cleared by a re-fire."""
        if not by or not by.strip():
            raise ValueError("acknowledge needs who acknowledges (by)")
        now = self._now(now)

        def attempt() -> StoredAlert:
            stored = self.store.get_alert(fp)
            if stored is None:
                raise KeyError(f"no alert with fingerprint {fp!r}; `GET /api/alerts` lists them")
            stored.alert.acknowledged_by, stored.alert.acknowledged_at = by.strip(), now
            stored.history.append({"at": now.isoformat(), "event": "acknowledged", "by": by.strip(),
                                   "comment": comment, "status": stored.alert.status})
            return self.store.save_alert(stored)

        stored = retry(attempt)
        return _view(stored, _MuteContext(self, now).annotate(stored.alert))

    def close(self, fp: str, by: str, comment: str | None = None, *,
              now: datetime | None = None) -> dict[str, Any]:
        """Azure's user state Closed: a person says it is dealt with (e.g. an accepted risk). Repeats
        stop; the monitor condition is untouched (resolved notices still go out); a re-fire reopens."""
        if not by or not by.strip():
            raise ValueError("close needs who closes it (by)")
        now = self._now(now)

        def attempt() -> StoredAlert:
            stored = self.store.get_alert(fp)
            if stored is None:
                raise KeyError(f"no alert with fingerprint {fp!r}; `GET /api/alerts` lists them")
            stored.closed_by, stored.closed_at = by.strip(), now
            stored.history.append({"at": now.isoformat(), "event": "closed", "by": by.strip(),
                                   "comment": comment, "status": stored.alert.status})
            return self.store.save_alert(stored)

        stored = retry(attempt)
        return _view(stored, _MuteContext(self, now).annotate(stored.alert))

    def add_silence(self, matchers: Iterable[Any], *, ends_at: datetime, created_by: str, comment: str,
                    starts_at: datetime | None = None, now: datetime | None = None) -> str:
        """Create a silence (matchers like `rule="AMLG-NET-001"`); returns its id."""
        return add_silence(self.store, matchers, ends_at=ends_at, created_by=created_by, comment=comment,
                           starts_at=starts_at, now=self._now(now)).id

    def edit_silence(self, silence_id: str, *, by: str, matchers: Iterable[Any] | None = None,
                     ends_at: datetime | None = None, starts_at: datetime | None = None,
                     comment: str | None = None, now: datetime | None = None) -> str:
        """Change a silence; a started one is replaced by a new id (returned), history kept."""
        return edit_silence(self.store, silence_id, now=self._now(now), by=by, matchers=matchers,
                            ends_at=ends_at, starts_at=starts_at, comment=comment).id

    def expire_silence(self, silence_id: str, *, by: str | None = None,
                       now: datetime | None = None) -> dict[str, Any]:
        """End a silence now (idempotent)."""
        now = self._now(now)
        return expire_silence(self.store, silence_id, now=now, by=by).to_json(now)

    def list_silences(self, *, include_expired: bool = True, now: datetime | None = None) -> list[dict[str, Any]]:
        """Silences, newest first, each with its `status` (pending/active/expired)."""
        now = self._now(now)
        return [s.to_json(now) for s in list_silences(self.store, now=now, include_expired=include_expired)]

    # -- housekeeping ----------------------------------------------------------------------------

    def _housekeeping(self, now: datetime) -> None:
        meta = self.store.get_meta("housekeeping")
        last = meta.body.get("at") if meta else None
        if last and parse_time(last) + HOUSEKEEPING_EVERY > now:
            return
        self.store.put_meta("housekeeping", {"at": now.isoformat()})
        self.store.prune_events(now - EVENT_RETENTION)
        for stored in self.store.list_alerts():
            alert = stored.alert
            if (alert.status == RESOLVED and not stored.needs_routing and alert.resolved_at is not None
                    and alert.resolved_at + RESOLVED_RETENTION < now):
                self.store.delete_alert(alert.fingerprint)
        for silence in list_silences(self.store, now=now):
            if silence.ends_at + SILENCE_RETENTION < now:
                self.store.delete_silence(silence.id)
        self.store.prune_history(log_before=now - LOG_RETENTION, runs_before=now - RUN_RETENTION)
        for receiver in self.store.receivers():
            for doc in self.store.outbox(receiver):
                dead_at = doc.body.get("dead_at")
                if dead_at and parse_time(dead_at) + LOG_RETENTION < now:
                    self.store.remove_outbox(receiver, doc)


class _MuteContext:
    """Silences and firing alerts loaded once, to compute silenced_by / inhibited_by at `now`."""

    def __init__(self, manager: AlertManager, now: datetime, *, snapshot: bool = False) -> None:
        self.now = now
        self.store = manager.store
        self.silences: list[Silence] = list_silences(manager.store, now=now, include_expired=False)
        self.rules = manager.inhibit_rules
        self.sources: list[tuple[str, dict[str, str]]] = []
        # One scan instead of a read per group member when many are due (Table storage latency);
        # a copy a moment old is fine: the next flush sees later changes.
        self.alerts: dict[str, StoredAlert] | None = None
        if snapshot or self.rules:
            scanned = manager.store.list_alerts()
            self.sources = [(s.alert.fingerprint, s.alert.labels) for s in scanned if s.alert.status == FIRING]
            if snapshot:
                self.alerts = {s.alert.fingerprint: s for s in scanned}

    def get(self, fp: str) -> StoredAlert | None:
        """An alert from the snapshot, else from the store."""
        if self.alerts is not None and fp in self.alerts:
            return self.alerts[fp]
        return self.store.get_alert(fp)

    def annotate(self, alert: Alert) -> Alert:
        labels = _labels(alert)
        return replace(alert, silenced_by=matching_silences(self.silences, labels, self.now),
                       inhibited_by=inhibited_by(alert.fingerprint, labels, self.sources, self.rules))


def _router_from_config(config: Any) -> Router | None:
    """Routing from the AlertingConfig of amlguard.alerts.config: `config.route(labels) -> [RouteMatch]`."""
    route = getattr(config, "route", None) if config is not None else None
    if route is None:
        return None
    if hasattr(route, "match") and hasattr(route, "to_match"):  # a bare amlguard.alerts.routing.Route tree
        tree = route
        return lambda alert: [node.to_match() for node in tree.match(_labels(alert))]
    if callable(route):
        return lambda alert: list(route(_labels(alert)))
    return None


def _untimed(doc: dict[str, Any]) -> dict[str, Any]:
    alert = {k: v for k, v in doc["alert"].items() if k not in ("last_evaluated", "last_failed")}
    return {**doc, "alert": alert}


def _labels(alert: Alert) -> dict[str, str]:
    return alert.labels or {"rule": alert.rule, "resource": alert.resource, "severity": alert.severity}


def _group_labels(match: Any, labels: Mapping[str, str]) -> dict[str, str]:
    if hasattr(match, "group_labels"):
        return dict(match.group_labels(labels))
    group_by = tuple(getattr(match, "group_by", ()) or ())
    if "..." in group_by:
        return dict(sorted(labels.items()))
    return {name: labels[name] for name in group_by if name in labels}


def _group_key(match: Any, labels: Mapping[str, str], group_labels: Mapping[str, str]) -> str:
    if hasattr(match, "group_key"):
        return str(match.group_key(labels))
    rendered = ",".join(f'{k}="{v}"' for k, v in sorted(group_labels.items()))
    return f"{getattr(match, 'route_key', '{}')}:{{{rendered}}}"


def _news_first_up_to_cap(alerts: list[Alert], entry: NotifyLogEntry | None) -> tuple[list[Alert], list[Alert]]:
    """(alerts to send in this flush, alerts held back for the next): at most MAX_PARTS messages.

    When a group has more, alerts whose state receivers have not heard yet go first, in group
    order, so that every change reaches them over the next flushes (nothing is dropped).
    """
    cap = MAX_PARTS * MAX_ALERTS_PER_MESSAGE
    if len(alerts) <= cap:
        return alerts, []
    heard_firing = entry.firing if entry is not None else frozenset()
    heard_resolved = entry.resolved if entry is not None else frozenset()

    def heard(alert: Alert) -> bool:
        return alert.fingerprint in (heard_firing if alert.status == FIRING else heard_resolved)

    ordered = sorted(alerts, key=heard)  # stable: news first, each part in group order
    return ordered[:cap], ordered[cap:]


def _notifications(receiver: str, group_key: str, group_labels: Mapping[str, str], reason: NotifyReason,
                   firing: list[Alert], alerts: list[Alert], now: datetime, store: StateStore, *,
                   truncated: int = 0) -> list[Notification]:
    """The message(s) for one flush; a group too large for one stored message is split in parts
    (Table entities hold 1 MB; receivers such as Azure Monitor cap payloads at 256 KB).
    `truncated` counts the group's alerts held back for a later flush (Alertmanager's
    `truncatedAlerts`)."""
    # The key is fixed when the message is enqueued, so every resend carries the same one.
    resolved_fps = sorted(a.fingerprint for a in alerts if a.status != FIRING)
    material = "|".join([receiver, group_key, reason.value, ",".join(sorted(a.fingerprint for a in firing)),
                         ",".join(resolved_fps), now.isoformat()])
    key = hashlib.sha256(material.encode()).hexdigest()[:32]
    parts = [alerts[i:i + MAX_ALERTS_PER_MESSAGE] for i in range(0, len(alerts), MAX_ALERTS_PER_MESSAGE)]
    out = []
    for index, part in enumerate(parts):
        part_key = key if len(parts) == 1 else f"{key}-{index + 1:02d}"
        out.append(Notification(id=store.outbox_row(now, part_key), receiver=receiver, group_key=group_key,
                                group_labels=dict(group_labels), reason=reason.value,
                                status=FIRING if any(a.status == FIRING for a in part) else RESOLVED,
                                alerts=part, created_at=now, idempotency_key=part_key, truncated=truncated))
    return out


def _ts(value: str | None) -> float:
    return parse_time(value).timestamp() if value else 0.0


def _view(stored: StoredAlert, alert: Alert) -> dict[str, Any]:
    data = alert_to_json(alert)
    out: dict[str, Any] = {key: data.pop(key) for key in
                           ("fingerprint", "rule", "resource", "status", "severity", "since")}
    out.update(data)
    out["user_state"] = stored.user_state
    out["closed_by"] = stored.closed_by
    out["closed_at"] = _iso(stored.closed_at)
    out["muted"] = bool(alert.silenced_by or alert.inhibited_by)
    out["for_seconds"] = stored.for_seconds
    out["keep_firing_for"] = stored.keep_firing_for
    out["history_count"] = len(stored.history)
    out["recent_history"] = stored.history[-RECENT_HISTORY:]
    return out

