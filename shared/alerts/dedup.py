"""Decide-and-deduplicate stage: one group's flush, `lifecycle.needs_update` turned into the outbox
message(s) and notification-log entry the caller writes with the group in one atomic write."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Collection
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from amlguard.alerts import lifecycle
from amlguard.alerts.lifecycle import NotifyLogEntry, needs_update
from amlguard.alerts.mute import MuteContext
from amlguard.alerts.records import retry
from amlguard.alerts.store import StateStore
from amlguard.alerts.types import Alert, Notification, NotifyReason
from amlguard.timeparse import parse_time

__all__ = ["MAX_ALERTS_PER_MESSAGE", "MAX_PARTS", "Flusher", "decide"]

log = logging.getLogger("amlguard.alerts.manager")

FIRING, PENDING, RESOLVED = lifecycle.FIRING, lifecycle.PENDING, lifecycle.RESOLVED
MAX_ALERTS_PER_MESSAGE = 50  # a bigger group flush is sent as several messages, in order
# One Table batch carries the group write and every part: at most 100 writes and 4 MiB, so at
# most 30 parts of 50 alerts (~2 KB each) per flush.
MAX_PARTS = 30
BULK_MEMBERS = 50  # members due at once above which a flush reads every alert in one scan
# How long a group remembers the change it last heard of an alert that left it: far longer than
# a tick takes to tell it again what a crash left untold (the timer index makes that due in seconds).
SEQ_RETENTION = timedelta(days=1)


def due_at(body: dict[str, Any]) -> datetime | None:
    """When a group body says it flushes next (None: it waits for a new member)."""
    at = body.get("next_flush")
    return parse_time(at) if at else None


def decide(body: dict[str, Any], now: datetime, context: MuteContext,
           outbox_row: Callable[[datetime, str], str]) -> tuple[dict[str, Any], list[Notification]]:
    """Flush one group body at `now`: the updated body (members, nflog, next flush) and the
    messages to enqueue with it (none when receivers need not hear).

    A flush never takes a time before the group's last one: a caller whose `now` was read before
    another thread flushed the group would otherwise queue its message ahead of that flush's (the
    outbox is read in creation order), and the receiver would hear the two changes backwards."""
    body = dict(body)
    last = body.get("last_flush")
    if last and parse_time(last) >= now:
        now = parse_time(last) + timedelta(microseconds=1)
    receiver, group_key, settings = body["receiver"], body["group_key"], body["settings"]
    seqs: dict[str, int] = body.get("seqs") or {}
    entry = NotifyLogEntry.from_json(body.get("nflog"))
    firing: list[Alert] = []
    resolved: list[Alert] = []
    handled: set[str] = set()  # acknowledged or closed by a person
    still_known: set[str] = set()  # muted now, but receivers were told it fires
    done: set[str] = set()
    for fp in body["members"]:
        stored = context.get(fp, at_least=int(seqs.get(fp, 0)))
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
            # Alertmanager #226: a silenced alert that resolves still gets its resolved notice
            # if receivers heard about it firing.
            if not muted or known:
                resolved.append(alert)
    # Muting an alert is not resolving it: receivers that heard it fire keep counting it as
    # firing (so no false "all resolved"), but it is left out of what is sent.
    firing_fps = {a.fingerprint for a in firing} | still_known
    resolved_fps = {a.fingerprint for a in resolved}
    reason = needs_update(entry, firing_fps, resolved_fps, now, repeat_interval=settings["repeat_interval"],
                          send_resolved=settings["send_resolved"])
    if reason == NotifyReason.REPEAT and all(a.fingerprint in handled for a in firing):
        reason = None  # all muted, acknowledged or closed (somebody is on it): no repeat
    notes: list[Notification] = []
    if reason is not None:
        alerts = firing + (resolved if settings["send_resolved"] else [])
        alerts, held = _news_first_up_to_cap(alerts, entry)
        told_firing, told_resolved = firing_fps, resolved_fps
        if held:
            # the log says what receivers were told: a held-back alert keeps the state they last
            # heard, so the next flush sees it as news and sends it
            held_fps = {a.fingerprint for a in held}
            heard = entry.firing if entry is not None else frozenset()
            told_firing = (firing_fps - held_fps) | (heard & held_fps)
            told_resolved = resolved_fps - held_fps
            done -= held_fps  # resolved but not yet told: stays in the group
            log.warning("group %s for receiver %s has %d alerts to send in one flush; %d are sent now and "
                        "the other %d at the next flushes. Group by finer labels (e.g. workspace, rule) in "
                        "alerting.yaml", group_key, receiver, len(alerts) + len(held), len(alerts), len(held))
        body["nflog"] = NotifyLogEntry(frozenset(told_firing), frozenset(told_resolved), now).to_json()
        if alerts:
            notes = _notifications(body, reason, firing, alerts, now, outbox_row, truncated=len(held))
    members = [fp for fp in body["members"] if fp not in done]
    body["members"] = members
    if seqs:
        body["seqs"], body["left"] = _forget_left(seqs, body.get("left") or {}, members, done, now)
    body["last_flush"] = now.isoformat()
    body["next_flush"] = (now + timedelta(seconds=settings["group_interval"])).isoformat() if members else None
    return body, notes


def _forget_left(seqs: dict[str, int], left: dict[str, str], members: list[str], done: set[str],
                 now: datetime) -> tuple[dict[str, int], dict[str, str]]:
    """The group's `seqs` and `left` after a flush: members that left keep their seq for
    SEQ_RETENTION, so that telling the group a change it already flushed (the writer died between
    telling it and recording that in the alert; a tick tells it again) stays a no-op."""
    left = {fp: at for fp, at in left.items() if fp not in members}
    left.update({fp: now.isoformat() for fp in done if fp in seqs and fp not in left})
    cutoff = now - SEQ_RETENTION
    left = {fp: at for fp, at in left.items() if parse_time(at) >= cutoff}
    return {fp: seq for fp, seq in seqs.items() if fp in members or fp in left}, left


class Flusher:
    """Flushes due groups: read, `decide`, then one write of the group with its messages.
    `on_enqueued(at, receiver, True)` hears that a receiver's messages became deliverable.
    Groups of receivers outside `receivers` (None: all) wait: a receiver whose settings went
    missing gets no messages, and its groups resume when it is configured again."""

    def __init__(self, store: StateStore, context: Callable[..., MuteContext],
                 on_enqueued: Callable[[datetime, str, bool], None] | None = None, *,
                 receivers: Collection[str] | None = None) -> None:
        self.store = store
        self.context = context
        self.on_enqueued = on_enqueued
        self.receivers = receivers

    def flush_due(self, now: datetime) -> None:
        """Flush every group whose group_wait / group_interval has ended (a timer tick)."""
        due = [doc for doc in self.store.list_groups() if (at := due_at(doc.body)) is not None and at <= now
               and (self.receivers is None or doc.body["receiver"] in self.receivers)]
        if not due:
            return
        members = sum(len(doc.body.get("members") or ()) for doc in due)
        context = self.context(now, snapshot=members > BULK_MEMBERS)
        for doc in due:
            self.flush(doc.body["receiver"], doc.body["group_key"], now, context)

    def flush(self, receiver: str, group_key: str, now: datetime, context: MuteContext) -> None:
        """One group's flush; a no-op when another instance flushed it first."""

        def attempt() -> list[Notification]:
            doc = self.store.get_group(receiver, group_key)
            at = due_at(doc.body) if doc is not None else None
            if doc is None or at is None or at > now:
                return []
            body, notes = decide(doc.body, now, context, self.store.outbox_row)
            self.store.save_group(receiver, group_key, body, etag=doc.etag, outbox=notes)
            return notes

        if retry(attempt) and self.on_enqueued is not None:
            self.on_enqueued(now, receiver, True)


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


def _notifications(body: dict[str, Any], reason: NotifyReason, firing: list[Alert], alerts: list[Alert],
                   now: datetime, outbox_row: Callable[[datetime, str], str], *,
                   truncated: int = 0) -> list[Notification]:
    """The message(s) for one flush; a group too large for one stored message is split in parts
    (Table entities hold 1 MB; receivers such as Azure Monitor cap payloads at 256 KB).
    `truncated` counts the group's alerts held back for a later flush (Alertmanager's
    `truncatedAlerts`)."""
    receiver, group_key = body["receiver"], body["group_key"]
    # The key is fixed when the message is enqueued, so every resend carries the same one.
    resolved_fps = sorted(a.fingerprint for a in alerts if a.status != FIRING)
    material = "|".join([receiver, group_key, reason.value, ",".join(sorted(a.fingerprint for a in firing)),
                         ",".join(resolved_fps), now.isoformat()])
    key = hashlib.sha256(material.encode()).hexdigest()[:32]
    parts = [alerts[i:i + MAX_ALERTS_PER_MESSAGE] for i in range(0, len(alerts), MAX_ALERTS_PER_MESSAGE)]
    out = []
    for index, part in enumerate(parts):
        part_key = key if len(parts) == 1 else f"{key}-{index + 1:02d}"
        out.append(Notification(id=outbox_row(now, part_key), receiver=receiver, group_key=group_key,
                                group_labels=dict(body["group_labels"]), reason=reason.value,
                                status=FIRING if any(a.status == FIRING for a in part) else RESOLVED,
                                alerts=part, created_at=now, idempotency_key=part_key, truncated=truncated))
    return out
