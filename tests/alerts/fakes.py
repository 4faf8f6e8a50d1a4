"""Test doubles for the alert tests: findings, a trivial router and notifiers that fail on demand."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from amlguard.alerts.routing import RouteMatch
from amlguard.alerts.types import Alert, Notification
from amlguard.errors import NotificationError
from amlguard.model import Finding

SUB = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.MachineLearningServices"


def ws_id(ws: str = "w1") -> str:
    return f"{SUB}/workspaces/{ws}"


def ep_id(ep: str = "e1", ws: str = "w1") -> str:
    return f"{ws_id(ws)}/onlineEndpoints/{ep}"


def finding(rule: str = "AMLG-NET-001", resource: str | None = None, status: str = "fail",
            severity: str = "high", **extra: object) -> Finding:
    resource = resource or ep_id()
    kind = "workspace" if "/onlineEndpoints/" not in resource else "online_endpoint"
    return Finding(rule=rule, resource=resource, status=status, severity=severity, message=f"{rule} on {resource}",
                   kind=kind, title=f"title of {rule}", **extra)  # type: ignore[arg-type]


def router(*receivers: str, group_by: tuple[str, ...] = ("rule",), wait: float = 0, interval: float = 300,
           repeat: float = 3600, send_resolved: bool = True) -> Callable[[Alert], list[RouteMatch]]:
    """Every alert goes to each receiver, grouped by `group_by`."""
    matches = [RouteMatch(receiver=name, group_by=group_by, group_wait=timedelta(seconds=wait),
                          group_interval=timedelta(seconds=interval), repeat_interval=timedelta(seconds=repeat),
                          send_resolved=send_resolved) for name in receivers or ("team",)]
    return lambda alert: matches


class Recorder:
    """A notifier that records what it is sent; `fail` decides per call whether to raise instead."""

    def __init__(self, name: str = "team", clock: Callable[[], datetime] | None = None,
                 fail: Callable[[Notification], BaseException | None] | None = None) -> None:
        self.name = name
        self.clock = clock
        self.fail = fail
        self.sent: list[Notification] = []
        self.calls = 0

    def send(self, notification: Notification) -> None:
        self.calls += 1
        if self.fail is not None:
            error = self.fail(notification)
            if error is not None:
                raise error
        self.sent.append(notification)

    def summary(self) -> list[tuple[str, str, list[tuple[str, str]]]]:
        """(reason, status, [(rule-ish fingerprint, status)]) per notification received."""
        return [(n.reason, n.status, sorted((a.rule + "@" + a.resource.rsplit("/", 1)[-1], a.status)
                                             for a in n.alerts)) for n in self.sent]


def down_until(until: datetime, clock: Callable[[], datetime]) -> Callable[[Notification], BaseException | None]:
    """Failure mode: a receiver that answers 503 until `until`."""
    return lambda _n: NotificationError("503 Service Unavailable", receiver="team") if clock() < until else None
