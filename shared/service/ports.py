"""What the service needs of the alert state: the store and the alert manager, as Protocols.

The service and the triggers type against these rather than against `amlguard.alerts` classes,
so that an event can be followed to its notice in an IDE while the alerts area stays free to
reshape its internals (`amlguard.alerts.StateStore` and `AlertManager` satisfy them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from amlguard.alerts import DeliveryStats, Notifier, Transition
    from amlguard.alerts.store import Doc
    from amlguard.model import Finding

__all__ = ["AlertSink", "AuditStore"]


class AuditStore(Protocol):
    """Event dedupe, the last audit of every resource, run history and small metadata."""

    def event_seen(self, event_id: str) -> bool: ...

    def mark_event_seen(self, event_id: str, at: datetime | None = None) -> bool: ...

    def last_audit(self, resource_id: str) -> datetime | None: ...

    def record_audit(self, resource_id: str, at: datetime, summary: dict[str, Any] | None = None, *,
                     state: dict[str, Any] | None = None) -> None: ...

    def audit_records(self, prefix: str = "") -> list[dict[str, Any]]: ...

    def record_run(self, kind: str, at: datetime, summary: dict[str, Any]) -> None: ...

    def runs(self, limit: int = 100, *, kind: str | None = None) -> list[dict[str, Any]]: ...

    def get_meta(self, name: str) -> Doc | None: ...

    def put_meta(self, name: str, body: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


class AlertSink(Protocol):
    """The alert lifecycle's entry points: findings in, transitions and notices out."""

    def process(self, findings: Iterable[Finding], *, audited: Iterable[str] = (), now: datetime | None = None,
                changed_by: dict[str, Any] | None = None, for_seconds: Mapping[str, float] | None = None,
                keep_firing_for: Mapping[str, float] | None = None,
                rules: Iterable[str] | None = None) -> list[Transition]: ...

    def resolve_resource(self, resource_id: str, *, now: datetime | None = None, reason: str = "deleted",
                         changed_by: dict[str, Any] | None = None) -> list[Transition]: ...

    def tick(self, now: datetime | None = None) -> list[Transition]: ...

    def deliver(self, notifiers: Mapping[str, Notifier], *, now: datetime | None = None,
                max_items: int = 500) -> DeliveryStats: ...

    def list_alerts(self, *, status: str | None = None, include_resolved: bool = True,
                    now: datetime | None = None) -> list[dict[str, Any]]: ...

    def get_alert(self, fp: str, *, now: datetime | None = None) -> dict[str, Any] | None: ...

    def history(self, fp: str) -> list[dict[str, Any]]: ...

    def acknowledge(self, fp: str, by: str, comment: str | None = None, *,
                    now: datetime | None = None) -> dict[str, Any]: ...

    def list_silences(self, *, include_expired: bool = True, now: datetime | None = None) -> list[dict[str, Any]]: ...

    def add_silence(self, matchers: Iterable[Any], *, ends_at: datetime, created_by: str, comment: str,
                    starts_at: datetime | None = None, now: datetime | None = None) -> str: ...

    def expire_silence(self, silence_id: str, *, by: str | None = None,
                       now: datetime | None = None) -> dict[str, Any]: ...
