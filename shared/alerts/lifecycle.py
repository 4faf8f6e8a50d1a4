"""The alert lifecycle and the send decision as small pure functions (no I/O, no clock).

`evaluate` is Prometheus' rule state machine (inactive -> pending -> firing -> resolved with `for`
and `keep_firing_for`); `needs_update` is Alertmanager's `DedupStage.needsUpdate` returning the
reason a group notification is due. The manager wraps both with the state store.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from amlguard.alerts.types import Alert, AlertStatus, NotifyReason
from amlguard.timeparse import parse_time

__all__ = ["NotifyLogEntry", "State", "Transition", "evaluate", "needs_update", "state_of"]

PENDING = AlertStatus.PENDING.value
FIRING = AlertStatus.FIRING.value
RESOLVED = AlertStatus.RESOLVED.value
INACTIVE = AlertStatus.INACTIVE.value


@dataclass(frozen=True, slots=True)
class State:
    """The part of an alert the lifecycle reads and writes.

    `failing` is the condition at the last observation; `tick` re-evaluates timers with it
    (an audit finding stays true until the resource is audited again).
    """

    status: str = INACTIVE
    since: datetime | None = None  # when `status` began
    active_since: datetime | None = None  # first failing observation of this episode
    last_evaluated: datetime | None = None
    last_failed: datetime | None = None
    resolved_at: datetime | None = None
    failing: bool = False


@dataclass(frozen=True, slots=True)
class Transition:
    """One status change of one alert, as recorded in its history and returned to callers."""

    fingerprint: str
    rule: str
    resource: str
    from_status: str  # "inactive" for a new alert
    to_status: str
    at: datetime
    reason: str
    changed_by: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form (ISO times)."""
        return {
            "fingerprint": self.fingerprint,
            "rule": self.rule,
            "resource": self.resource,
            "from": self.from_status,
            "to": self.to_status,
            "at": self.at.isoformat(),
            "reason": self.reason,
            "changed_by": self.changed_by,
        }


def state_of(alert: Alert | None) -> State | None:
    """The lifecycle view of a stored alert (None stays None)."""
    if alert is None:
        return None
    failing = alert.last_failed is not None and alert.last_failed == alert.last_evaluated
    return State(alert.status, alert.since, alert.active_since, alert.last_evaluated, alert.last_failed,
                 alert.resolved_at, failing)


def _elapsed(start: datetime | None, now: datetime, seconds: float) -> bool:
    return start is not None and now - start >= timedelta(seconds=max(seconds, 0.0))


def evaluate(prev: State | None, failing: bool | None, now: datetime, *, for_seconds: float = 0.0,
             keep_firing_for: float = 0.0) -> tuple[State, str | None]:
    """Next state of one alert and the transition name (`pending`, `firing`, `resolved`) or None.

    `failing` is this observation of the condition; None means "no new observation" (a timer
    tick): the last observed condition is reused and `last_evaluated` is left alone.
    Rules: a failing condition starts an episode (pending if `for_seconds` > 0, else firing at
    once); pending becomes firing once the condition has held `for_seconds` since the episode
    began; a pending alert whose condition clears is resolved without ever firing; a firing
    alert resolves only when the condition has been clear for `keep_firing_for` seconds after
    it last held (Prometheus' anti-flapping hysteresis).
    """
    state = prev or State()
    observed = failing is not None
    cond = state.failing if failing is None else failing
    if observed:
        state = replace(state, last_evaluated=now, failing=cond,
                        last_failed=now if cond else state.last_failed)
    if state.status in (INACTIVE, RESOLVED):
        if not (observed and cond):
            return state, None
        if for_seconds > 0:
            return replace(state, status=PENDING, since=now, active_since=now, resolved_at=None), PENDING
        return replace(state, status=FIRING, since=now, active_since=now, resolved_at=None), FIRING
    if state.status == PENDING:
        if not cond:
            return replace(state, status=RESOLVED, since=now, resolved_at=now), RESOLVED
        if _elapsed(state.active_since, now, for_seconds):
            return replace(state, status=FIRING, since=now), FIRING
        return state, None
    # firing
    if cond:
        return state, None
    if keep_firing_for > 0 and not _elapsed(state.last_failed, now, keep_firing_for):
        return state, None
    return replace(state, status=RESOLVED, since=now, resolved_at=now), RESOLVED


@dataclass(frozen=True, slots=True)
class NotifyLogEntry:
    """What was last notified for one (receiver, group): Alertmanager's nflog entry."""

    firing: frozenset[str]
    resolved: frozenset[str]
    at: datetime

    def to_json(self) -> dict[str, Any]:
        return {"firing": sorted(self.firing), "resolved": sorted(self.resolved), "at": self.at.isoformat()}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> NotifyLogEntry | None:
        if not data:
            return None
        return cls(frozenset(data.get("firing", ())), frozenset(data.get("resolved", ())),
                   parse_time(data["at"]))


def needs_update(entry: NotifyLogEntry | None, firing: Collection[str], resolved: Collection[str],
                 now: datetime, *, repeat_interval: float, send_resolved: bool = True) -> NotifyReason | None:
    """Why the group must be notified now, or None; mirrors `DedupStage.needsUpdate`.

    In order: nothing notified before and something firing -> first; a firing alert not in the
    last notification -> new in group (first if the last one had nothing firing); nothing firing
    now but the last notification had firing alerts -> all resolved (regardless of
    `send_resolved`, so the log is cleared); `send_resolved` and newly resolved alerts ->
    resolved; otherwise repeat once `repeat_interval` seconds have passed since the last one.
    """
    firing_set, resolved_set = set(firing), set(resolved)
    if entry is None:
        return NotifyReason.FIRST if firing_set else None
    if not firing_set <= entry.firing:
        return NotifyReason.NEW_IN_GROUP if entry.firing else NotifyReason.FIRST
    if not firing_set:
        return NotifyReason.ALL_RESOLVED if entry.firing else None
    if send_resolved and not resolved_set <= entry.resolved:
        return NotifyReason.RESOLVED
    if entry.at <= now - timedelta(seconds=repeat_interval):
        return NotifyReason.REPEAT
    return None
