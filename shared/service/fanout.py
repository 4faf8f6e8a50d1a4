"""Queue fan-out of a sweep: one message per workspace, and the worker's handling of one.

Messages are small JSON objects so that the poison queue stays readable. A message that can
never succeed (not JSON, no workspace id) is poisoned at once with its reason instead of being
retried until the runtime gives up; a transient failure is retried by the runtime and poisoned
with the last error on the final attempt.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

from amlguard.armid import ArmId
from amlguard.inventory.base import Scope
from amlguard.model import Kind

if TYPE_CHECKING:
    from amlguard.service.core import Service

__all__ = ["PoisonMessage", "handle_message", "sweep_messages"]

log = logging.getLogger(__name__)


class PoisonMessage(Exception):
    """The message must go to the poison queue; `reason` says why and what to fix."""

    def __init__(self, body: str, reason: str) -> None:
        self.body = body
        self.reason = reason
        super().__init__(reason)


def sweep_messages(service: Service, *, scope: Scope | None = None, late: bool = False) -> list[str]:
    """One JSON message per workspace in the configured scope."""
    settings = service.settings
    if scope is None and (settings.subscriptions or settings.resource_group or settings.workspace):
        scope = Scope(subscriptions=settings.subscriptions, resource_group=settings.resource_group,
                      workspace=settings.workspace)
    stamp = service.clock().isoformat()
    if late:
        log.warning("sweep timer fired late; sweeping now")
    return [json.dumps({"workspace": ws, "requested_at": stamp}) for ws in service.fanout(scope)]


def handle_message(service: Service, body: bytes | str, *, dequeue_count: int = 1,
                   max_dequeue: int = 5) -> dict[str, int]:
    """Audit the workspace a message names; raises PoisonMessage when it must not be retried."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        payload = json.loads(text)
    except ValueError:
        raise PoisonMessage(text, "message is not JSON; expected {\"workspace\": \"<ARM id>\"}") from None
    workspace = payload.get("workspace") if isinstance(payload, dict) else None
    parsed = ArmId.parse(workspace)
    if parsed is None or parsed.kind != Kind.WORKSPACE.value:
        raise PoisonMessage(text, "message has no workspace ARM id in \"workspace\"")
    try:
        report = service.sweep_workspace(parsed.text)
    except Exception as exc:
        if dequeue_count >= max_dequeue:
            raise PoisonMessage(text, f"failed {dequeue_count} times; last error: {exc}") from exc
        raise  # the runtime retries with its visibility timeout
    service.tick()
    summary: dict[str, int] = report.summary()
    return summary
