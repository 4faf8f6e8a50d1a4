"""Route-and-group stage: changed alerts join the groups of the Alertmanager routes they match, one
write per group, flushing a group due now in that same atomic write (docs/alerts.md).

A group remembers, per member, the alert's `route_seq` it was told (`seqs`). Alerts are written
before their groups are told, so a flush reading a member older than that is reading a stale copy;
and telling a group a change always writes it, so a flush that decided on the state before the
change (another thread, another instance) loses its ETag race and decides again."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Protocol

from amlguard.alerts.dedup import decide, due_at
from amlguard.alerts.inhibit import InhibitRule
from amlguard.alerts.mute import MuteContext, labels_of
from amlguard.alerts.records import retry
from amlguard.alerts.routing import RouteMatch
from amlguard.alerts.store import StateStore
from amlguard.alerts.stored import StoredAlert
from amlguard.alerts.types import Alert, Notification

__all__ = ["Grouper", "Router", "RoutingConfig", "router_from_config"]

Router = Callable[[Alert], Iterable[RouteMatch]]


class RoutingConfig(Protocol):
    """What the alert manager reads of an alerting.yaml (`amlguard.alerts.config.AlertingConfig`)."""

    file: str | None
    inhibit_rules: list[InhibitRule]

    def route(self, labels: Mapping[str, str]) -> list[RouteMatch]: ...


def router_from_config(config: RoutingConfig | None) -> Router | None:
    """The router of an AlertingConfig: each alert's labels through its routing tree."""
    route = getattr(config, "route", None)
    if route is None:
        return None
    return lambda alert: route(labels_of(alert))


def join_changes(body: dict[str, Any], batch: list[StoredAlert]) -> bool:
    """Record in a group body the changes of `batch` it was not told yet: each such alert becomes a
    member (if it is not one) and its `route_seq` is remembered in `seqs`. Returns whether any was."""
    seqs = dict(body.get("seqs") or {})
    left = dict(body.get("left") or {})
    members = list(body["members"])
    told = False
    for stored in batch:
        fp = stored.alert.fingerprint
        if int(seqs.get(fp, -1)) >= stored.route_seq:
            continue  # heard this change or a later one: a retry, or a stale copy
        seqs[fp] = stored.route_seq
        left.pop(fp, None)
        if fp not in members:
            members.append(fp)
        told = True
    if told:
        body["members"], body["seqs"] = members, seqs
        if "left" in body:
            body["left"] = left
    return told


class Grouper:
    """Puts changed alerts into their groups; `on_scheduled(at, receiver, enqueued)` hears when a
    group flushes next, or, with `enqueued`, that its messages are ready now."""

    def __init__(self, store: StateStore, router: Router | None, context: Callable[..., MuteContext], *,
                 on_scheduled: Callable[[datetime, str, bool], None] | None = None) -> None:
        self.store = store
        self.router = router
        self.context = context
        self.on_scheduled = on_scheduled

    def route(self, batch: list[StoredAlert], now: datetime) -> None:
        """Tell the groups of every alert of `batch` its change (flushing those due now). The alerts
        are already written: a group is only ever told a state a flush can read back. Telling a
        group a change it already heard (a retry after a crash) changes nothing."""
        if not batch or self.router is None:
            return
        groups: dict[tuple[str, str], tuple[RouteMatch, list[StoredAlert]]] = {}
        for stored in batch:
            labels = labels_of(stored.alert)
            for match in self.router(stored.alert):
                key = (match.receiver, match.group_key(labels))
                groups.setdefault(key, (match, []))[1].append(stored)
        context: list[MuteContext] = []  # built once, when the first group is due now

        def mute() -> MuteContext:
            if not context:
                context.append(self.context(now, fresh=batch))
            return context[0]

        for (receiver, group_key), (match, members) in groups.items():
            at, enqueued = retry(partial(self._join, receiver, group_key, match, members, now, mute))
            if at is not None and self.on_scheduled is not None:
                self.on_scheduled(at, receiver, enqueued)

    def _join(self, receiver: str, group_key: str, match: RouteMatch, batch: list[StoredAlert], now: datetime,
              mute: Callable[[], MuteContext]) -> tuple[datetime | None, bool]:
        """Tell one group the changes of `batch` it has not heard (adding new members), flushing it
        in the same write when it is due; returns when something becomes due (the next flush, or
        now when messages were enqueued) and whether messages were."""
        doc = self.store.get_group(receiver, group_key)
        settings = {"group_wait": match.group_wait_s, "group_interval": match.group_interval_s,
                    "repeat_interval": match.repeat_interval_s, "send_resolved": match.send_resolved}
        if doc is None:
            body: dict[str, Any] = {
                "receiver": receiver, "group_key": group_key,
                "group_labels": match.group_labels(labels_of(batch[0].alert)),
                "settings": settings, "members": [], "nflog": None, "next_flush": None,
                "created_at": now.isoformat(),
            }
            before: dict[str, Any] | None = None
        else:
            before = doc.body
            body = dict(doc.body)
            body["settings"] = settings
        told = join_changes(body, batch)
        if told and not body.get("next_flush"):
            body["next_flush"] = (now + timedelta(seconds=match.group_wait_s)).isoformat()
        if doc is None and not told:
            return None, False
        at = due_at(body)
        notes: list[Notification] = []
        if at is not None and at <= now:
            body, notes = decide(body, now, mute(), self.store.outbox_row)
            at = now if notes else due_at(body)
        if body != before:
            self.store.save_group(receiver, group_key, body, etag=doc.etag if doc else None, outbox=notes)
        return at, bool(notes)
