"""Queue fan-out: one message per workspace; poison messages carry a reason and are not retried."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from amlguard.config import Settings
from amlguard.inventory.base import Scope
from amlguard.model import AuditReport
from amlguard.service.fanout import PoisonMessage, handle_message, sweep_messages

WS1 = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/a"
WS2 = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/b"


@dataclass
class FakeService:
    settings: Settings = field(default_factory=lambda: Settings.from_env({"AZURE_SUBSCRIPTION_ID": "s1"}))
    fail_times: int = 0
    swept: list[str] = field(default_factory=list)
    scopes: list[Any] = field(default_factory=list)
    ticks: int = 0

    def clock(self) -> datetime:
        return datetime(2026, 11, 26, tzinfo=UTC)

    def fanout(self, scope: Scope | None) -> list[str]:
        self.scopes.append(scope)
        return [WS2, WS1]

    def sweep_workspace(self, workspace: str) -> AuditReport:
        if self.fail_times:
            self.fail_times -= 1
            raise RuntimeError("ARM returned 503")
        self.swept.append(workspace)
        return AuditReport()

    def tick(self) -> None:
        self.ticks += 1


def test_sweep_enqueues_one_message_per_workspace_in_the_configured_scope() -> None:
    service = FakeService()
    messages = [json.loads(m) for m in sweep_messages(service)]
    assert [m["workspace"] for m in messages] == [WS2, WS1]
    assert service.scopes == [Scope(subscriptions=("s1",))]


def test_worker_audits_the_named_workspace() -> None:
    service = FakeService()
    summary = handle_message(service, json.dumps({"workspace": WS1}).encode())
    assert service.swept == [WS1]
    assert summary["resources"] == 0
    assert service.ticks == 1


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "not JSON"),
        (b'{"ws": 1}', "no workspace ARM id"),
        (b'"just a string"', "no workspace ARM id"),
        (b'{"workspace": "/subscriptions/s/resourceGroups/r"}', "no workspace ARM id"),
    ],
)
def test_malformed_messages_are_poisoned_at_once(body: bytes, reason: str) -> None:
    with pytest.raises(PoisonMessage, match=reason) as info:
        handle_message(FakeService(), body, dequeue_count=1)
    assert info.value.body == body.decode()


def test_transient_failure_is_retried_then_poisoned_with_the_last_error() -> None:
    service = FakeService(fail_times=5)
    body = json.dumps({"workspace": WS1})
    for attempt in range(1, 5):
        with pytest.raises(RuntimeError):
            handle_message(service, body, dequeue_count=attempt, max_dequeue=5)
    with pytest.raises(PoisonMessage, match="failed 5 times; last error: ARM returned 503"):
        handle_message(service, body, dequeue_count=5, max_dequeue=5)
