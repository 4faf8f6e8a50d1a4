"""Records shared by the alert lifecycle, the state stores, routing and the notifiers.

An alert is identified by a fingerprint of its identifying labels (rule, resource) as in
Alertmanager; a notification is one message to one receiver about one group of alerts, with the
reason it was sent. Kept free of I/O so every other alerts module can import it.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NotRequired, Protocol, TypedDict

__all__ = ["Alert", "AlertStatus", "AlertView", "Notification", "Notifier", "NotifyReason", "fingerprint"]


class AlertStatus(enum.StrEnum):
    """Monitor condition of an alert (Prometheus / Alertmanager states)."""

    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"


class NotifyReason(enum.StrEnum):
    """Why a notification was sent (mirrors Alertmanager's DedupStage reasons)."""

    FIRST = "first"
    NEW_IN_GROUP = "new_in_group"
    RESOLVED = "resolved"
    ALL_RESOLVED = "all_resolved"
    REPEAT = "repeat"


def fingerprint(labels: dict[str, str]) -> str:
    """Stable id of an alert from its identifying labels (sorted name/value pairs).

    Alertmanager hashes `name 0xff value 0xff` over sorted labels with xxhash64; sha256 keeps
    us dependency-free and is as stable. 16 hex characters are plenty for uniqueness here.
    """
    digest = hashlib.sha256()
    for name in sorted(labels):
        digest.update(name.encode())
        digest.update(b"\xff")
        digest.update(str(labels[name]).encode())
        digest.update(b"\xff")
    return digest.hexdigest()[:16]


@dataclass(slots=True)
class Alert:
    """One alert instance: identity (labels), state, and what people need to act on it."""

    fingerprint: str
    rule: str
    resource: str
    status: str  # an AlertStatus value
    severity: str  # critical/high/medium/low/info (Sev0..Sev4 via amlguard.model.Severity)
    since: datetime  # when the current status began
    labels: dict[str, str] = field(default_factory=dict)  # identifying + routing labels
    annotations: dict[str, str] = field(default_factory=dict)  # title, message, remediation, links
    active_since: datetime | None = None  # first time the condition held in this episode
    last_evaluated: datetime | None = None
    last_failed: datetime | None = None  # last evaluation where the condition held
    resolved_at: datetime | None = None
    changed_by: dict[str, Any] | None = None  # who made the change (event claims)
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    silenced_by: list[str] = field(default_factory=list)  # silence ids
    inhibited_by: list[str] = field(default_factory=list)  # fingerprints of inhibiting alerts
    source: str | None = None  # file/line when the finding came from a file
    line: int | None = None


class AlertView(TypedDict):
    """One alert as the API, the CLI and the dashboard read it (contract 5 keys first): `Alert`'s
    fields in JSON form (ISO times), then its user state, mutes, `for` timers and recent history;
    `history` (every entry) where one alert is shown whole."""

    fingerprint: str
    rule: str
    resource: str
    status: str
    severity: str
    since: str
    labels: dict[str, str]
    annotations: dict[str, str]
    active_since: str | None
    last_evaluated: str | None
    last_failed: str | None
    resolved_at: str | None
    changed_by: dict[str, Any] | None
    acknowledged_by: str | None
    acknowledged_at: str | None
    silenced_by: list[str]
    inhibited_by: list[str]
    source: str | None
    line: int | None
    user_state: str
    closed_by: str | None
    closed_at: str | None
    muted: bool
    for_seconds: float
    keep_firing_for: float
    history_count: int
    recent_history: list[dict[str, Any]]
    history: NotRequired[list[dict[str, Any]]]


@dataclass(slots=True)
class Notification:
    """One message to one receiver about one group of alerts.

    `idempotency_key` is stable for (receiver, group, state change), so a resend after a crash
    carries the same key and receivers can drop repeats.
    """

    id: str
    receiver: str
    group_key: str
    group_labels: dict[str, str]
    reason: str  # a NotifyReason value
    status: str  # "firing" if any alert in it is firing, else "resolved"
    alerts: list[Alert]
    created_at: datetime
    idempotency_key: str
    attempts: int = 0
    truncated: int = 0  # alerts of the group held back for a later flush (the group was too large)


class Notifier(Protocol):
    """A receiver kind (Teams, Slack, webhook, Event Grid, Azure Monitor)."""

    name: str

    def send(self, notification: Notification) -> None:
        """Deliver or raise amlguard.errors.NotificationError (retryable or not)."""
        ...
