"""Mute stage: which silences and inhibition rules mute an alert at a given time.

Loaded once per flush or view (silences and firing alerts), then asked per alert, as
Alertmanager's inhibit and silence stages sit in front of its dedup stage.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime

from amlguard.alerts import lifecycle
from amlguard.alerts.inhibit import InhibitRule, inhibited_by
from amlguard.alerts.silences import Silence, list_silences, matching_silences
from amlguard.alerts.store import StateStore
from amlguard.alerts.stored import StoredAlert
from amlguard.alerts.types import Alert

__all__ = ["MuteContext", "labels_of"]


def labels_of(alert: Alert) -> dict[str, str]:
    """An alert's routing labels (identity labels for an alert stored without any)."""
    return alert.labels or {"rule": alert.rule, "resource": alert.resource, "severity": alert.severity}


class MuteContext:
    """Silences and firing alerts as of `now`, to compute silenced_by / inhibited_by.

    `snapshot` loads every alert once (a flush of many groups reads members from it instead of
    one read each: Table storage latency); `fresh` are alerts this process has just written.
    """

    def __init__(self, store: StateStore, rules: list[InhibitRule], now: datetime, *, snapshot: bool = False,
                 fresh: Iterable[StoredAlert] = ()) -> None:
        self.now = now
        self.store = store
        self.rules = rules
        self.silences: list[Silence] = list_silences(store, now=now, include_expired=False)
        self.sources: list[tuple[str, dict[str, str]]] = []
        self.alerts: dict[str, StoredAlert] = {}
        fresh_by_fp = {s.alert.fingerprint: s for s in fresh}
        if snapshot or rules:
            scanned = {s.alert.fingerprint: s for s in store.list_alerts()} | fresh_by_fp
            self.sources = [(fp, s.alert.labels) for fp, s in scanned.items() if s.alert.status == lifecycle.FIRING]
            if snapshot:
                self.alerts = scanned
        self.alerts.update(fresh_by_fp)

    def get(self, fp: str, *, at_least: int = 0) -> StoredAlert | None:
        """An alert from the snapshot or the fresh ones, else from the store; read again when the
        copy held is older than change `at_least` (its group was told a later one: another thread
        or instance wrote the alert since the snapshot)."""
        found = self.alerts.get(fp)
        return found if found is not None and found.route_seq >= at_least else self.store.get_alert(fp)

    def annotate(self, alert: Alert) -> Alert:
        """A copy of the alert with the silences and inhibiting alerts that mute it now."""
        labels = labels_of(alert)
        return replace(alert, silenced_by=matching_silences(self.silences, labels, self.now),
                       inhibited_by=inhibited_by(alert.fingerprint, labels, self.sources, self.rules))
