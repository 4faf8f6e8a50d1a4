"""The typed seams other areas hold the alerts area by: the state store (audit bookkeeping,
event dedupe, runs, metadata) and the alert facade (the pipeline, views and people's actions).

`amlguard.alerts.StateStore` and `amlguard.alerts.AlertManager` implement them; the service,
API, monitor and reports type their fields with these, so a reader (and mypy) can follow an
event from the trigger to its notice without an `Any` in between.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import datetime
from typing import Any, Protocol

from amlguard.alerts.lifecycle import Transition
from amlguard.alerts.outbox import DeliveryStats
from amlguard.alerts.records import Doc
from amlguard.alerts.silences import MatcherInput
from amlguard.alerts.types import AlertView, Notifier
from amlguard.model import Finding

__all__ = ["AlertFacade", "DueListener", "StateStoreProtocol"]

# (when, the receiver it concerns or None for all, whether delivery alone is due)
DueListener = Callable[[datetime, str | None, bool], None]


class StateStoreProtocol(Protocol):
    """What the rest of amlguard keeps in the state store besides alerts."""

    def event_seen(self, event_id: str) -> bool: ...

    def mark_event_seen(self, event_id: str, at: datetime | None = None) -> bool: ...

    def last_audit(self, resource_id: str) -> datetime | None: ...

    def audit_record(self, resource_id: str) -> dict[str, Any] | None: ...

    def audit_records(self, prefix: str = "") -> list[dict[str, Any]]: ...

    def record_audit(self, resource_id: str, at: datetime, summary: dict[str, Any] | None = None, *,
                     state: dict[str, Any] | None = None, event: str | None = None) -> None: ...

    def record_run(self, kind: str, at: datetime, summary: dict[str, Any]) -> None: ...

    def runs(self, limit: int = 100, *, kind: str | None = None) -> list[dict[str, Any]]: ...

    def get_meta(self, name: str) -> Doc | None: ...

    def put_meta(self, name: str, body: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


class AlertFacade(Protocol):
    """The alert pipeline as the service, the API and the CLI call it (`AlertManager`)."""

    on_due: DueListener | None

    def process(self, findings: Iterable[Finding], *, audited: Iterable[str] = (), now: datetime | None = None,
                changed_by: dict[str, Any] | None = None, for_seconds: Mapping[str, float] | None = None,
                keep_firing_for: Mapping[str, float] | None = None,
                rules: Iterable[str] | None = None) -> list[Transition]: ...

    def resolve_resource(self, resource_id: str, *, now: datetime | None = None, reason: str = "deleted",
                         changed_by: dict[str, Any] | None = None) -> list[Transition]: ...

    def tick(self, now: datetime | None = None) -> list[Transition]: ...

    def deliver(self, notifiers: Mapping[str, Notifier], *, now: datetime | None = None,
                max_items: int = 500) -> DeliveryStats: ...

    def next_due(self, receivers: Collection[str] | None = None) -> datetime | None: ...

    def list_alerts(self, *, status: str | None = None, include_resolved: bool = True,
                    now: datetime | None = None) -> list[AlertView]: ...

    def get_alert(self, fp: str, *, now: datetime | None = None) -> AlertView | None: ...

    def history(self, fp: str) -> list[dict[str, Any]]: ...

    def acknowledge(self, fp: str, by: str, comment: str | None = None, *,
                    now: datetime | None = None) -> AlertView: ...

    def close(self, fp: str, by: str, comment: str | None = None, *,
              now: datetime | None = None) -> AlertView: ...

    def add_silence(self, matchers: Iterable[MatcherInput], *, ends_at: datetime, created_by: str, comment: str,
                    starts_at: datetime | None = None, now: datetime | None = None) -> str: ...

    def expire_silence(self, silence_id: str, *, by: str | None = None,
                       now: datetime | None = None) -> dict[str, Any]: ...

    def list_silences(self, *, include_expired: bool = True,
                      now: datetime | None = None) -> list[dict[str, Any]]: ...

    def outbox(self, receiver: str | None = None) -> list[dict[str, Any]]: ...

    def notification_log(self, limit: int = 100) -> list[dict[str, Any]]: ...
