"""Route-and-group stage: changed alerts join the groups of the Alertmanager routes they match, one
write per group, flushing a group due now in that same atomic write (docs/alerts.md)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Protocol

from amlguard.alerts.dedup import decide, due_at
from amlguard.alerts.mute import MuteContext, labels_of
from amlguard.alerts.records import retry
from amlguard.alerts.routing import RouteMatch
from amlguard.alerts.store import StateStore, StoredAlert
from amlguard.alerts.types import Alert, Notification

__all__ = ["Grouper", "Router", "RoutingConfig", "router_from_config"]

Router = Callable[[Alert], Iterable[RouteMatch]]


class RoutingConfig(Protocol):
    """What the alert manager reads of an alerting.yaml (`amlguard.alerts.config.AlertingConfig`)."""

    file: str | None
    inhibit_rules: list[dict[str, Any]]

    def route(self, labels: Mapping[str, str]) -> list[RouteMatch]: ...


def router_from_config(config: RoutingConfig | None) -> Router | None:
    """The router of an AlertingConfig: each alert's labels through its routing tree."""
    route = getattr(config, "route", None)
    if route is None:
        return None
    return lambda alert: route(labels_of(alert))


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
        """Join every alert of `batch` to its groups (flushing those due now) and mark it routed in
        memory. The groups are written before the alerts: should the alert write be lost, the
        notice went out once and the next observation finds the group already told."""
        if not batch:
            return
        if self.router is not None:
            groups: dict[tuple[str, str], tuple[RouteMatch, list[Alert]]] = {}
            for stored in batch:
                labels = labels_of(stored.alert)
                for match in self.router(stored.alert):
                    key = (match.receiver, match.group_key(labels))
                    groups.setdefault(key, (match, []))[1].append(stored.alert)
            context: list[MuteContext] = []  # built once, when the first group is due now

            def mute() -> MuteContext:
                if not context:
                    context.append(self.context(now, fresh=batch))
                return context[0]

            for (receiver, group_key), (match, alerts) in groups.items():
                at, enqueued = retry(partial(self._join, receiver, group_key, match, alerts, now, mute))
                if at is not None and self.on_scheduled is not None:
                    self.on_scheduled(at, receiver, enqueued)
        for stored in batch:
            stored.routed_seq = stored.route_seq  # written with the alert (Observer.commit)

    def _join(self, receiver: str, group_key: str, match: RouteMatch, alerts: list[Alert], now: datetime,
              mute: Callable[[], MuteContext]) -> tuple[datetime | None, bool]:
        """Add alerts to one group, flushing it in the same write when it is due; returns when
        something becomes due (the next flush, or now when messages were enqueued) and whether
        messages were."""
        doc = self.store.get_group(receiver, group_key)
        settings = {"group_wait": match.group_wait_s, "group_interval": match.group_interval_s,
                    "repeat_interval": match.repeat_interval_s, "send_resolved": match.send_resolved}
        fps = [a.fingerprint for a in alerts]
        if doc is None:
            body: dict[str, Any] = {
                "receiver": receiver, "group_key": group_key, "group_labels": match.group_labels(labels_of(alerts[0])),
                "settings": settings, "members": fps, "nflog": None,
                "next_flush": (now + timedelta(seconds=match.group_wait_s)).isoformat(),
                "created_at": now.isoformat(),
            }
            before: dict[str, Any] | None = None
        else:
            before = doc.body
            body = dict(doc.body)
            new = [fp for fp in fps if fp not in body["members"]]
            if new:
                body["members"] = [*body["members"], *new]
            body["settings"] = settings
            if not body.get("next_flush"):
                body["next_flush"] = (now + timedelta(seconds=match.group_wait_s)).isoformat()
        at = due_at(body)
        notes: list[Notification] = []
        if at is not None and at <= now:
            body, notes = decide(body, now, mute(), self.store.outbox_row)
            at = now if notes else due_at(body)
        if body != before:
            self.store.save_group(receiver, group_key, body, etag=doc.etag if doc else None, outbox=notes)
        return at, bool(notes)
