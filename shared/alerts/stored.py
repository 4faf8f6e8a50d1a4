"""Alerts as the state store keeps them: Alert and Notification as JSON documents, and StoredAlert,
an alert with its lifecycle settings, history and routing counters, which says when a timer tick
is due to look at it again."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any

from amlguard.alerts.records import Doc, to_iso
from amlguard.alerts.types import Alert, Notification
from amlguard.timeparse import time_or_none

__all__ = ["ROUTING_GRACE", "StoredAlert", "alert_from_json", "alert_to_json", "notification_from_json",
           "notification_to_json"]

# A change written but not yet routed is due for a timer tick this long after it was made: the
# writer routes it itself within milliseconds, so a tick only picks up what a crash left behind.
ROUTING_GRACE = timedelta(seconds=5)


_ALERT_FIELDS = tuple(f.name for f in fields(Alert))
_ALERT_TIMES = ("since", "active_since", "last_evaluated", "last_failed", "resolved_at", "acknowledged_at")


def alert_to_json(alert: Alert) -> dict[str, Any]:
    """Alert as a JSON-ready dict (ISO times), contract-5 keys first."""
    out: dict[str, Any] = {}
    for f in fields(alert):
        value = getattr(alert, f.name)
        out[f.name] = to_iso(value) if isinstance(value, datetime) else value
    return out


def alert_from_json(data: Mapping[str, Any]) -> Alert:
    """Inverse of `alert_to_json` (unknown keys ignored)."""
    values = {k: v for k, v in data.items() if k in _ALERT_FIELDS}
    for name in _ALERT_TIMES:
        if name in values:
            values[name] = time_or_none(values[name])
    values["labels"] = dict(values.get("labels") or {})
    values["annotations"] = dict(values.get("annotations") or {})
    values["silenced_by"] = list(values.get("silenced_by") or [])
    values["inhibited_by"] = list(values.get("inhibited_by") or [])
    return Alert(**values)


def notification_to_json(note: Notification) -> dict[str, Any]:
    """Notification as a JSON-ready dict (alerts included)."""
    return {
        "id": note.id, "receiver": note.receiver, "group_key": note.group_key,
        "group_labels": dict(note.group_labels), "reason": note.reason, "status": note.status,
        "alerts": [alert_to_json(a) for a in note.alerts], "created_at": to_iso(note.created_at),
        "idempotency_key": note.idempotency_key, "attempts": note.attempts,
        **({"truncated": note.truncated} if note.truncated else {}),
    }


def notification_from_json(data: Mapping[str, Any]) -> Notification:
    """Inverse of `notification_to_json`."""
    created = time_or_none(data["created_at"])
    assert created is not None
    return Notification(
        id=data["id"], receiver=data["receiver"], group_key=data["group_key"],
        group_labels=dict(data.get("group_labels") or {}), reason=data["reason"], status=data["status"],
        alerts=[alert_from_json(a) for a in data.get("alerts") or ()], created_at=created,
        idempotency_key=data["idempotency_key"], attempts=int(data.get("attempts", 0)),
        truncated=int(data.get("truncated", 0)),
    )


@dataclass(slots=True)
class StoredAlert:
    """An alert as persisted: the shared record plus lifecycle settings, history and routing flag."""

    alert: Alert
    history: list[dict[str, Any]] = field(default_factory=list)
    for_seconds: float = 0.0
    keep_firing_for: float = 0.0
    route_seq: int = 0  # bumped by each firing/resolved transition that groups must hear about
    routed_seq: int = 0  # the last route_seq whose groups were updated
    closed_by: str | None = None  # Azure's user state "Closed" (acknowledgement lives on Alert)
    closed_at: datetime | None = None
    etag: str = ""
    saved_due: datetime | None = None  # the timer row as stored with the alert (see StateStore.due_alerts)

    @property
    def due(self) -> datetime | None:
        """When a timer tick may change this alert, or None when only a new evaluation can.

        Pending alerts fire `for` after they became active; firing alerts with keep_firing_for
        resolve that long after they last failed; a change its groups were not told yet is due
        ROUTING_GRACE after it was made (its writer tells them at once, unless it crashed first).
        """
        timer = self.timer_due
        if not self.needs_routing:
            return timer
        routing = self.alert.since + ROUTING_GRACE
        return routing if timer is None else min(routing, timer)

    @property
    def timer_due(self) -> datetime | None:
        """When the lifecycle's own timers (`for`, keep_firing_for) may change this alert: a firing
        alert whose condition still held at its last evaluation waits for the next one instead."""
        alert = self.alert
        if alert.status == "pending" and alert.active_since is not None:
            return alert.active_since + timedelta(seconds=self.for_seconds)
        if (alert.status == "firing" and self.keep_firing_for > 0 and alert.last_failed is not None
                and alert.last_failed != alert.last_evaluated):
            return alert.last_failed + timedelta(seconds=self.keep_firing_for)
        return None

    @property
    def user_state(self) -> str:
        """Azure Monitor's user response: new, acknowledged or closed."""
        if self.closed_by:
            return "closed"
        return "acknowledged" if self.alert.acknowledged_by else "new"

    @property
    def needs_routing(self) -> bool:
        return self.route_seq != self.routed_seq

    def snapshot(self) -> dict[str, Any]:
        """The persisted fields as they are now, to tell whether a change needs a write (cheaper
        than the JSON form: the lifecycle replaces labels and claims, it never edits them in place)."""
        alert = self.alert
        return {**{name: getattr(alert, name) for name in _ALERT_FIELDS}, "history": len(self.history),
                "for_seconds": self.for_seconds, "keep_firing_for": self.keep_firing_for,
                "route_seq": self.route_seq, "routed_seq": self.routed_seq, "closed_by": self.closed_by,
                "closed_at": self.closed_at}

    def to_json(self) -> dict[str, Any]:
        return {"alert": alert_to_json(self.alert), "history": self.history, "for_seconds": self.for_seconds,
                "keep_firing_for": self.keep_firing_for, "route_seq": self.route_seq,
                "routed_seq": self.routed_seq, "closed_by": self.closed_by, "closed_at": to_iso(self.closed_at)}

    @classmethod
    def from_doc(cls, doc: Doc) -> StoredAlert:
        body = doc.body
        stored = cls(alert_from_json(body["alert"]), list(body.get("history") or []),
                     float(body.get("for_seconds", 0.0)), float(body.get("keep_firing_for", 0.0)),
                     int(body.get("route_seq", 0)), int(body.get("routed_seq", 0)), body.get("closed_by"),
                     time_or_none(body.get("closed_at")), doc.etag)
        stored.saved_due = stored.due
        return stored
