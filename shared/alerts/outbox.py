"""Outbox delivery: at-least-once, in order per receiver, with backoff + jitter and a circuit breaker.

A message is leased (ETag write) before it is sent and deleted only after the send returned, so
a crash between the two resends it once the lease lapses, with the same idempotency key; it is
never lost. Each receiver's queue is read oldest first and stops at the first message that is
not due, so a receiver that was down gets everything, in order, when it returns.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random as _random
import socket
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from amlguard.alerts.records import Conflict, Doc, to_utc
from amlguard.alerts.store import StateStore
from amlguard.alerts.stored import notification_from_json
from amlguard.alerts.types import Notifier
from amlguard.errors import NotificationError
from amlguard.model import Finding
from amlguard.timeparse import time_or_none

__all__ = ["OUTBOX_FULL_RULE", "DeliveryStats", "RetryPolicy", "backoff_seconds", "cap_findings", "deliver"]

OUTBOX_FULL_RULE = "AMLG-OUTBOX-FULL"  # amlguard's own alert: a receiver's outbox or dead letters hit the cap

_log = logging.getLogger(__name__)

# Who holds a lease: this process, on this host. A lease whose holder is known to be dead (same
# host, and its pid is gone or is this process under another token: a restart that got the same
# pid, as pid 1 in a container) is reclaimed at once instead of waiting out its 120 s.
OWNER: dict[str, Any] = {"host": socket.gethostname(), "pid": os.getpid(), "token": uuid.uuid4().hex}


def _holder_dead(owner: Any) -> bool:
    """True only when the lease holder certainly cannot be sending: another host, or a live
    process, or an unknown holder (a lease written before holders were recorded) keeps its lease."""
    if not isinstance(owner, dict) or owner.get("host") != OWNER["host"]:
        return False
    if owner.get("token") == OWNER["token"]:
        return False  # our own lease
    try:
        pid = int(owner.get("pid", 0))
    except (TypeError, ValueError):
        return False
    if pid <= 0:
        return False
    if pid == OWNER["pid"]:
        return True  # our pid, another token: our previous life
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # exists (PermissionError) or cannot tell: keep the lease
        return False
    return False


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Delivery timing. Defaults: 5 s doubling to 10 min; the breaker opens when at least 80% of a
    receiver's last 20 attempts (and at least 10) failed."""

    base: float = 5.0  # first retry delay, seconds
    cap: float = 600.0  # longest delay between attempts
    lease: float = 120.0  # a claimed message is resent after this if its sender vanished
    max_age: float = 72 * 3600.0  # a message still failing after this is dead-lettered (kept, visible)
    breaker_window: int = 20  # the receiver's most recent attempts the failure rate is taken over
    breaker_min_calls: int = 10  # no verdict on fewer attempts than this
    # open at this share of failures: a receiver refusing one request in five (p = 0.2) reaches 80%
    # of 20 with probability ~1e-8; one that is down reaches it after 10 attempts
    breaker_failure_rate: float = 0.8
    breaker_cooldown: float = 60.0  # first open period; doubles per re-open
    breaker_cooldown_cap: float = 900.0
    # Per receiver (AMLGUARD_OUTBOX_MAX_MESSAGES / AMLGUARD_DEAD_LETTER_MAX): above these the oldest
    # are dropped, counted and alerted on (OUTBOX_FULL_RULE). ~10 KB a message: 5000 is ~50 MB.
    max_queued: int = 5000
    max_dead: int = 1000


@dataclass(slots=True)
class DeliveryStats:
    """What one `deliver` pass did."""

    attempted: int = 0
    delivered: int = 0
    failed: int = 0  # retryable failures (the message stays queued)
    dead: int = 0  # refused for good or too old: dead-lettered
    skipped_receivers: list[str] = field(default_factory=list)  # circuit open
    unknown_receivers: list[str] = field(default_factory=list)  # queued messages but no notifier
    queued: int = 0  # messages still waiting after the pass
    dropped: int = 0  # oldest queued messages dropped over a receiver's cap
    dropped_dead: int = 0  # oldest dead letters dropped over a receiver's cap
    full: dict[str, str] = field(default_factory=dict)  # receiver -> why, when its cap was just reached
    drained: list[str] = field(default_factory=list)  # receivers back under their caps

    def to_json(self) -> dict[str, Any]:
        return {"attempted": self.attempted, "delivered": self.delivered, "failed": self.failed,
                "dead": self.dead, "skipped_receivers": self.skipped_receivers,
                "unknown_receivers": self.unknown_receivers, "queued": self.queued,
                "dropped": self.dropped, "dropped_dead": self.dropped_dead}


def cap_findings(stats: DeliveryStats) -> list[Finding]:
    """The OUTBOX_FULL_RULE findings of a delivery pass: fail for a receiver that reached a cap,
    pass for one back under both (the alert manager fires and resolves them like any alert)."""
    out = [Finding(rule=OUTBOX_FULL_RULE, resource=f"amlguard://outbox/{receiver}", status="fail",
                   severity="high", message=why, title="Notifications are being dropped", effect="alert",
                   resource_name=receiver,
                   remediation="Fix the receiver (its send failures are logged as WARNING lines naming it) "
                               "or raise AMLGUARD_OUTBOX_MAX_MESSAGES / AMLGUARD_DEAD_LETTER_MAX.")
           for receiver, why in stats.full.items()]
    out += [Finding(rule=OUTBOX_FULL_RULE, resource=f"amlguard://outbox/{receiver}", status="pass",
                    severity="high", message=f"outbox of receiver {receiver} is under its caps again",
                    effect="alert", resource_name=receiver) for receiver in stats.drained]
    return out


def backoff_seconds(attempts: int, policy: RetryPolicy, rand: Callable[[], float]) -> float:
    """Delay before the next attempt: exponential, capped, with "equal jitter" (half fixed, half random)."""
    raw = min(policy.cap, policy.base * 2.0 ** max(attempts - 1, 0))
    return raw / 2 + rand() * raw / 2


def _log_entry(doc: Doc, outcome: str, error: str | None, attempts: int) -> dict[str, Any]:
    note = doc.body["notification"]
    return {
        "id": note["id"], "receiver": note["receiver"], "group_key": note["group_key"],
        "group_labels": note.get("group_labels", {}), "reason": note["reason"], "status": note["status"],
        "alerts": [a["fingerprint"] for a in note.get("alerts", ())],
        "rules": sorted({a["rule"] for a in note.get("alerts", ())}),
        "idempotency_key": note["idempotency_key"], "created_at": note["created_at"],
        "attempts": attempts, "outcome": outcome, "error": error,
    }


class _Breaker:
    """Per-receiver circuit breaker persisted next to the receiver's queue.

    Opens on a failure rate over the last attempts, not on a run of failures: a receiver that
    refuses one request in five is up and must keep receiving, while one that fails most requests
    is given a rest. After the cooldown one trial goes out (half-open): success closes it, failure
    opens it again for twice as long. Written once per delivery pass, not per attempt.
    """

    def __init__(self, store: StateStore, receiver: str, policy: RetryPolicy) -> None:
        self.store, self.receiver, self.policy = store, receiver, policy
        doc = store.get_breaker(receiver)
        self.body: dict[str, Any] = dict(doc.body) if doc else {"recent": "", "opens": 0, "open_until": None}
        self.etag = doc.etag if doc else None
        self.dirty = False

    def is_open(self, now: datetime) -> bool:
        until = time_or_none(self.body.get("open_until"))
        return until is not None and now < until

    @property
    def half_open(self) -> bool:
        return self.body.get("open_until") is not None

    def save(self) -> None:
        if not self.dirty:
            return
        with contextlib.suppress(Conflict):  # another instance updated it; its view is as good as ours
            self.etag = self.store.save_breaker(self.receiver, self.body, self.etag)
        self.dirty = False

    def success(self) -> None:
        if self.half_open:
            self.body.update(recent="", opens=0, open_until=None)
        else:
            self.body["recent"] = (str(self.body.get("recent", "")) + "0")[-self.policy.breaker_window:]
        self.dirty = True

    def failure(self, now: datetime, error: str) -> None:
        recent = (str(self.body.get("recent", "")) + "1")[-self.policy.breaker_window:]
        self.body.update(recent=recent, last_error=error, last_failure_at=now.isoformat())
        tripped = (len(recent) >= self.policy.breaker_min_calls
                   and recent.count("1") >= self.policy.breaker_failure_rate * len(recent))
        if tripped or self.half_open:
            opens = int(self.body.get("opens", 0))
            cooldown = min(self.policy.breaker_cooldown_cap, self.policy.breaker_cooldown * 2 ** opens)
            self.body.update(opens=opens + 1, recent="", open_until=(now + timedelta(seconds=cooldown)).isoformat())
            _log.warning("receiver %s: circuit open until %s after %s; its messages wait", self.receiver,
                         self.body["open_until"], "a failed trial send" if not tripped else
                         f"{recent.count('1')} of its last {len(recent)} sends failed",
                         extra={"receiver": self.receiver, "retry_at": self.body["open_until"]})
        self.dirty = True


def deliver(store: StateStore, notifiers: Mapping[str, Notifier], *, now: datetime,
            rand: Callable[[], float] | None = None, policy: RetryPolicy | None = None,
            max_items: int = 500) -> DeliveryStats:
    """Send what is due in every receiver's outbox through `notifiers` (receiver name -> Notifier).

    At most `max_items` sends per call. A retryable failure (any exception but a
    `NotificationError(retryable=False)`) schedules a retry and holds back the later messages
    about the same alerts (order per alert); a non-retryable one dead-letters the message and
    moves on. An open circuit stops the receiver for the pass.
    """
    now = to_utc(now)
    policy = policy or RetryPolicy()
    rand = rand or _random.random
    stats = DeliveryStats()
    receivers = sorted(set(store.receivers()) | set(notifiers))
    for receiver in receivers:
        breaker = _Breaker(store, receiver, policy)
        live = _cap(store, receiver, store.outbox(receiver), policy, breaker, stats)
        if receiver not in notifiers:
            # A receiver removed from the config: keep its messages until they age out, then
            # dead-letter them (visible, not silently dropped).
            waiting = 0
            for doc in live:
                created = time_or_none(doc.body["notification"].get("created_at")) or now
                if (now - created).total_seconds() > policy.max_age:
                    _dead(store, receiver, doc, now, f"no notifier named {receiver!r} for "
                          f"{policy.max_age / 3600:.0f} h; add it to alerting.yaml or drop the route",
                          int(doc.body["notification"].get("attempts", 0)))
                    stats.dead += 1
                else:
                    waiting += 1
            if waiting:
                stats.unknown_receivers.append(receiver)
                stats.queued += waiting
            breaker.save()
            continue
        if live and breaker.is_open(now):
            stats.skipped_receivers.append(receiver)
            stats.queued += len(live)
            breaker.save()
            continue
        sent_here = 0
        # Order is kept per alert (and per group), not per receiver: a message that waits or fails
        # holds back the later messages about the same alerts, while messages about other alerts go
        # on. A strict per-receiver queue would let one flaky send stall every alert behind it.
        held_groups: set[str] = set()
        held_alerts: set[str] = set()
        for doc in live:
            if stats.attempted >= max_items:
                break
            note = doc.body["notification"]
            group = str(note.get("group_key", ""))
            alerts = {str(a.get("fingerprint")) for a in note.get("alerts") or ()}
            if group in held_groups or not held_alerts.isdisjoint(alerts):
                continue
            outcome = _attempt(store, notifiers[receiver], receiver, doc, now, policy, rand, breaker) \
                if _due(doc, now) else None
            if outcome is None:  # not due yet, or another instance holds it
                held_groups.add(group)
                held_alerts |= alerts
                continue
            stats.attempted += 1
            if outcome == "delivered":
                stats.delivered += 1
                sent_here += 1
            elif outcome == "dead":
                stats.dead += 1
                sent_here += 1
            else:
                stats.failed += 1
                held_groups.add(group)
                held_alerts |= alerts
                if breaker.is_open(now):
                    break
        breaker.save()
        stats.queued += len(live) - sent_here
    return stats


def _cap(store: StateStore, receiver: str, queue: list[Doc], policy: RetryPolicy, state: _Breaker,
         stats: DeliveryStats) -> list[Doc]:
    """Keep a receiver's queue and dead letters within their caps by dropping the oldest (the newest
    say most about the alerts' state now); count, log and flag it. Returns the live messages kept."""
    live = [doc for doc in queue if doc.body.get("state") != "dead"]
    dead = [doc for doc in queue if doc.body.get("state") == "dead"]
    reasons = []
    for docs, cap, key, what, setting in ((live, policy.max_queued, "dropped", "queued messages",
                                           "AMLGUARD_OUTBOX_MAX_MESSAGES"),
                                          (dead, policy.max_dead, "dropped_dead", "dead letters",
                                           "AMLGUARD_DEAD_LETTER_MAX")):
        over = docs[:max(len(docs) - cap, 0)]
        for doc in over:
            with contextlib.suppress(Conflict):  # another deliverer holds it: it is sent or dropped later
                store.remove_outbox(receiver, doc)
        del docs[:len(over)]
        if over:
            total = int(state.body.get(key, 0)) + len(over)
            state.body[key] = total
            state.dirty = True
            setattr(stats, key, getattr(stats, key) + len(over))
            hint = ("The receiver is failing or too slow; see its send failures" if docs is live else
                    "Fix what the receiver refuses (see the dead letters' errors)")
            _log.warning("receiver %s: outbox over its cap of %d %s; dropped the %d oldest (%d in all). %s, "
                         "or raise %s", receiver, cap, what, len(over), total, hint, setting,
                         extra={"receiver": receiver, key: len(over), f"{key}_total": total})
        if len(docs) >= cap:
            reasons.append(f"{what} of receiver {receiver} reached the cap of {cap}; "
                           f"dropped the {len(over)} oldest ({state.body.get(key, 0)} in all)")
    if bool(reasons) != bool(state.body.get("full")):
        state.body["full"] = bool(reasons)
        state.dirty = True
        if reasons:
            stats.full[receiver] = "; ".join(reasons)
        else:
            stats.drained.append(receiver)
    return live


def _due(doc: Doc, now: datetime) -> bool:
    leased = time_or_none(doc.body.get("leased_until"))
    if leased is not None and leased > now and not _holder_dead(doc.body.get("leased_by")):
        return False
    due = time_or_none(doc.body.get("next_attempt_at"))
    return due is None or due <= now


def _attempt(store: StateStore, notifier: Notifier, receiver: str, doc: Doc, now: datetime,
             policy: RetryPolicy, rand: Callable[[], float], breaker: _Breaker) -> str | None:
    body = doc.body
    note_json = body["notification"]
    created = time_or_none(note_json.get("created_at")) or now
    attempts = int(note_json.get("attempts", 0))
    if (now - created).total_seconds() > policy.max_age:
        _dead(store, receiver, doc, now, f"undelivered after {attempts} attempts over "
              f"{policy.max_age / 3600:.0f} h; last error: {body.get('last_error')}", attempts)
        return "dead"
    # Claim: the lease makes a concurrent deliverer skip this message; a crash lets it lapse.
    attempts += 1
    note_json["attempts"] = attempts
    body["leased_until"] = (now + timedelta(seconds=policy.lease)).isoformat()
    body["leased_by"] = dict(OWNER)
    try:
        doc.etag = store.update_outbox(receiver, doc)
    except Conflict:
        return None
    notification = notification_from_json(note_json)
    try:
        notifier.send(notification)
    except Exception as exc:  # a timeout or any notifier bug must not lose the message
        error = str(exc) if isinstance(exc, NotificationError) else f"{type(exc).__name__}: {exc}"
        status = _failure_status(exc)
        if isinstance(exc, NotificationError) and not exc.retryable:
            _warn(receiver, note_json, status, attempts, None, f"dead-lettered, not retried: {error}")
            _dead(store, receiver, doc, now, error, attempts)
            return "dead"
        delay = max(backoff_seconds(attempts, policy, rand), float(getattr(exc, "retry_after", None) or 0))
        retry_at = now + timedelta(seconds=delay)
        _warn(receiver, note_json, status, attempts, retry_at, f"next attempt at {retry_at.isoformat()} "
              f"(in {delay:.0f}s): {error}")
        _retry_later(store, receiver, doc, now, retry_at, error, breaker)
        return "failed"
    store.log_notification(_log_entry(doc, "delivered", None, attempts), now)
    with contextlib.suppress(Conflict):  # our lease lapsed and another instance resent it (same key)
        store.remove_outbox(receiver, doc)
    breaker.success()
    return "delivered"


def _failure_status(exc: BaseException) -> str:
    """`HTTP 500` when the receiver answered, else what went wrong (`ReadTimeout`, `ConnectError`)."""
    code = getattr(exc, "status_code", None)
    return f"HTTP {code}" if code else type(exc.__cause__ or exc).__name__


def _warn(receiver: str, note: Mapping[str, Any], status: str, attempts: int, retry_at: datetime | None,
          then: str) -> None:
    """The one WARNING line of a failed send: receiver, status, attempt and when it is tried again."""
    _log.warning("receiver %s: send failed (%s), attempt %d; %s", receiver, status, attempts, then,
                 extra={"receiver": receiver, "status": status, "attempts": attempts,
                        "retry_at": retry_at.isoformat() if retry_at else None,
                        "notification": note.get("id"), "idempotency_key": note.get("idempotency_key")})


def _retry_later(store: StateStore, receiver: str, doc: Doc, now: datetime, retry_at: datetime, error: str,
                 breaker: _Breaker) -> None:
    doc.body.update(leased_until=None, last_error=error, next_attempt_at=retry_at.isoformat())
    with contextlib.suppress(Conflict):  # the lease lapsed meanwhile; its new holder decides the retry
        doc.etag = store.update_outbox(receiver, doc)
    breaker.failure(now, error)


def _dead(store: StateStore, receiver: str, doc: Doc, now: datetime, error: str, attempts: int) -> None:
    doc.body.update(state="dead", leased_until=None, last_error=error, dead_at=now.isoformat())
    try:
        doc.etag = store.update_outbox(receiver, doc)
    except Conflict:
        return
    store.log_notification(_log_entry(doc, "failed", error, attempts), now)
