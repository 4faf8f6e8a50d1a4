"""What people see and do: alert views for the API and CLI, acknowledgement and closing, the
outbox and notification log for operators, and retention housekeeping."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from amlguard.alerts import lifecycle
from amlguard.alerts.mute import MuteContext
from amlguard.alerts.records import retry, to_iso, to_utc
from amlguard.alerts.silences import list_silences
from amlguard.alerts.store import StateStore
from amlguard.alerts.stored import StoredAlert
from amlguard.alerts.types import Alert, AlertView
from amlguard.model import severity_rank
from amlguard.timeparse import parse_time

__all__ = ["Views", "housekeeping"]

FIRING, PENDING, RESOLVED = lifecycle.FIRING, lifecycle.PENDING, lifecycle.RESOLVED
RECENT_HISTORY = 10
_STATUS_ORDER = {FIRING: 0, PENDING: 1, RESOLVED: 2}
HOUSEKEEPING_EVERY = timedelta(hours=1)
EVENT_RETENTION = timedelta(days=2)  # Event Grid retries for up to 24 h
RESOLVED_RETENTION = timedelta(days=30)  # Azure Monitor keeps alert instances 30 days
SILENCE_RETENTION = timedelta(days=5)  # Alertmanager's default --data.retention is 120 h
LOG_RETENTION = timedelta(days=30)  # notification log and dead letters
RUN_RETENTION = timedelta(days=90)  # audit runs behind the compliance-over-time chart


class Views:
    """Read models and the user-state commands (Azure's New -> Acknowledged -> Closed)."""

    def __init__(self, store: StateStore, context: Callable[..., MuteContext]) -> None:
        self.store = store
        self.context = context

    def list_alerts(self, now: datetime, *, status: str | None = None,
                    include_resolved: bool = True) -> list[AlertView]:
        context = self.context(now)
        out = []
        for stored in self.store.list_alerts():
            alert = stored.alert
            if alert.status == lifecycle.INACTIVE:
                continue
            if (status and alert.status != status) or (not include_resolved and alert.status == RESOLVED):
                continue
            out.append(view(stored, context.annotate(alert)))
        out.sort(key=lambda a: (_STATUS_ORDER.get(a["status"], 3), severity_rank(a["severity"]),
                                -_ts(a["since"]), a["fingerprint"]))
        return out

    def get_alert(self, fp: str, now: datetime) -> AlertView | None:
        stored = self.store.get_alert(fp)
        if stored is None:
            return None
        out = view(stored, self.context(now).annotate(stored.alert))
        out["history"] = list(stored.history)
        return out

    def set_user_state(self, fp: str, event: str, by: str, comment: str | None, now: datetime) -> AlertView:
        """Record `acknowledged` or `closed` by `by` on the alert and in its history."""
        if not by or not by.strip():
            raise ValueError(f"{'acknowledge' if event == 'acknowledged' else 'close'} needs who does it (by)")
        who = by.strip()

        def attempt() -> StoredAlert:
            stored = self.store.get_alert(fp)
            if stored is None:
                raise KeyError(f"no alert with fingerprint {fp!r}; `amlguard alerts list` (or `GET /api/alerts`) "
                               "shows them")
            if event == "acknowledged":
                stored.alert.acknowledged_by, stored.alert.acknowledged_at = who, now
            else:
                stored.closed_by, stored.closed_at = who, now
            stored.history.append({"at": now.isoformat(), "event": event, "by": who, "comment": comment,
                                   "status": stored.alert.status})
            return self.store.save_alert(stored)

        stored = retry(attempt)
        return view(stored, self.context(now).annotate(stored.alert))

    def outbox(self, receiver: str | None = None) -> list[dict[str, Any]]:
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


def view(stored: StoredAlert, alert: Alert) -> AlertView:
    """One alert as the API returns it: contract-5 keys first, then state, mutes and history."""
    return AlertView(
        fingerprint=alert.fingerprint, rule=alert.rule, resource=alert.resource, status=alert.status,
        severity=alert.severity, since=to_utc(alert.since).isoformat(), labels=alert.labels,
        annotations=alert.annotations, active_since=to_iso(alert.active_since),
        last_evaluated=to_iso(alert.last_evaluated), last_failed=to_iso(alert.last_failed),
        resolved_at=to_iso(alert.resolved_at), changed_by=alert.changed_by, acknowledged_by=alert.acknowledged_by,
        acknowledged_at=to_iso(alert.acknowledged_at), silenced_by=alert.silenced_by,
        inhibited_by=alert.inhibited_by, source=alert.source, line=alert.line, user_state=stored.user_state,
        closed_by=stored.closed_by, closed_at=to_iso(stored.closed_at),
        muted=bool(alert.silenced_by or alert.inhibited_by), for_seconds=stored.for_seconds,
        keep_firing_for=stored.keep_firing_for, history_count=len(stored.history),
        recent_history=stored.history[-RECENT_HISTORY:])


def _ts(value: str | None) -> float:
    return parse_time(value).timestamp() if value else 0.0


def housekeeping_due(store: StateStore, now: datetime) -> bool:
    """True when the last housekeeping is an hour old (or never ran)."""
    meta = store.get_meta("housekeeping")
    last = meta.body.get("at") if meta else None
    return not last or parse_time(last) + HOUSEKEEPING_EVERY <= now


def housekeeping(store: StateStore, now: datetime) -> None:
    """Hourly retention: event ids, long-resolved alerts, expired silences, logs, dead letters."""
    if not housekeeping_due(store, now):
        return
    store.put_meta("housekeeping", {"at": now.isoformat()})
    store.prune_events(now - EVENT_RETENTION)
    for stored in store.list_alerts():
        alert = stored.alert
        if (alert.status == RESOLVED and not stored.needs_routing and alert.resolved_at is not None
                and alert.resolved_at + RESOLVED_RETENTION < now):
            store.delete_alert(alert.fingerprint)
    for silence in list_silences(store, now=now):
        if silence.ends_at + SILENCE_RETENTION < now:
            store.delete_silence(silence.id)
    store.prune_history(log_before=now - LOG_RETENTION, runs_before=now - RUN_RETENTION)
    for receiver in store.receivers():
        for doc in store.outbox(receiver):
            dead_at = doc.body.get("dead_at")
            if dead_at and parse_time(dead_at) + LOG_RETENTION < now:
                store.remove_outbox(receiver, doc)
