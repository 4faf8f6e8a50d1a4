"""Wake-ups for the Function App, which has no loop to wake: when alert work falls due later (a
group's `group_wait`, a `for`, an outbox retry), one Storage-queue message, invisible until then,
runs the alert tick at that moment. A notice so leaves when its group_wait ends, not at the next
alerts timer; the timer stays as the backstop when a wake message cannot be sent.

The queue trigger (`alerts_wake`) shares the Functions host's base64 message encoding, so the
message is sent base64-encoded like the sweep fan-out's output binding does.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from azure.storage.queue import QueueClient

    from amlguard.config import Settings
    from amlguard.service import Service

__all__ = ["MAX_VISIBILITY_SECONDS", "WakeQueue", "attach", "schedule_next", "wake_queue_from_settings"]

log = logging.getLogger("amlguard.functions.wake")

# Azure Queue storage: a message's visibility timeout is at most seven days.
MAX_VISIBILITY_SECONDS = 7 * 24 * 3600
# After a failed send, wake-ups wait this long before the next try: one event can make several
# groups due, and each send to an unreachable account costs its connection attempts.
RETRY_AFTER = timedelta(seconds=60)


class WakeQueue:
    """Sends one delayed wake message per distinct due second, from this worker. The queue client is
    made by `connect` on the first send: the storage SDK costs a cold start ~0.2 s to import, and
    most invocations (HTTP, sweeps, events that change no alert) never send."""

    def __init__(self, connect: Callable[[], QueueClient], queue_name: str,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._connect = connect
        self._client: QueueClient | None = None
        self.queue_name = queue_name
        self.clock = clock
        self._scheduled: set[datetime] = set()
        self._lock = threading.Lock()
        self._queue_checked = False
        self._down_until: datetime | None = None

    def schedule(self, due: datetime | None) -> bool:
        """Make sure a wake message becomes visible at `due`; False when none was needed (nothing
        due, due now — the caller's own tick handles that — or already scheduled here) or when the
        send failed (logged; the alerts timer then does the work at its next run)."""
        if due is None:
            return False
        now = self.clock()
        if due <= now or (self._down_until is not None and now < self._down_until):
            return False
        # Queue storage keeps a message's next-visible time to the second: one more second so the
        # message never shows before the work is due.
        delay = math.ceil((due - now).total_seconds()) + 1
        key = due.replace(microsecond=0)
        with self._lock:
            self._scheduled = {at for at in self._scheduled if at > now}
            if key in self._scheduled:
                return False
            self._scheduled.add(key)
        body = json.dumps({"due": due.isoformat()})
        try:
            self._send(body, min(delay, MAX_VISIBILITY_SECONDS))
        except Exception as exc:  # storage down or no permission: the alerts timer is the backstop
            with self._lock:
                self._scheduled.discard(key)
                self._down_until = now + RETRY_AFTER
            log.warning("could not schedule an alert wake-up for %s on queue %s (%s: %s); the alerts timer "
                        "(AMLGUARD_ALERTS_SCHEDULE) runs that work instead, and wake-ups pause for %d s",
                        due.isoformat(), self.queue_name, type(exc).__name__, exc,
                        RETRY_AFTER.total_seconds())
            return False
        return True

    def woken(self, body: bytes) -> None:
        """A wake message arrived: its due time may be scheduled again (were the work still not due,
        the next wake-up must not be taken for this one)."""
        try:
            due = datetime.fromisoformat(json.loads(body)["due"]).replace(microsecond=0)
        except (ValueError, KeyError, TypeError):
            return
        with self._lock:
            self._scheduled.discard(due)

    def _send(self, body: str, delay: int) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        with self._lock:
            if self._client is None:
                self._client = self._connect()
            client = self._client
        try:
            client.send_message(body, visibility_timeout=delay)
        except ResourceNotFoundError:
            if self._queue_checked:
                raise
            # infra/ creates the queue; a local or hand-made app may not have it yet
            self._queue_checked = True
            client.create_queue()
            client.send_message(body, visibility_timeout=delay)


def wake_queue_from_settings(settings: Settings) -> WakeQueue | None:
    """The wake queue on the Function App's own storage account (the `AzureWebJobsStorage`
    connection string, or its identity-based `__queueServiceUri` / `__accountName` form), or None
    when neither is set — then delayed alert work waits for the alerts timer, and this says so."""
    env = settings.env
    connection = env.get("AzureWebJobsStorage") or ""
    endpoint = env.get("AzureWebJobsStorage__queueServiceUri") or ""
    account = env.get("AzureWebJobsStorage__accountName") or ""
    if not (connection or endpoint or account):
        log.warning("no AzureWebJobsStorage setting: alert work due later (group_wait, retries) waits for the "
                    "alerts timer (AMLGUARD_ALERTS_SCHEDULE)")
        return None
    name = settings.wake_queue_name

    def connect() -> QueueClient:
        from azure.storage.queue import LinearRetry, QueueClient, TextBase64EncodePolicy

        # One quick retry: the send runs inside an Event Grid invocation, and the alerts timer covers
        # a wake-up that could not be sent (storage's default retries back off for a minute).
        options: dict[str, Any] = {"retry_policy": LinearRetry(backoff=1, retry_total=1), "connection_timeout": 5,
                                   "read_timeout": 10, "message_encode_policy": TextBase64EncodePolicy()}
        if connection:
            return QueueClient.from_connection_string(connection, name, **options)
        from azure.identity import DefaultAzureCredential

        url = endpoint or f"https://{account}.queue.core.windows.net"
        return QueueClient(url, name, credential=DefaultAzureCredential(), **options)

    return WakeQueue(connect, name)


def attach(service: Service, settings: Settings) -> WakeQueue | None:
    """Schedule a wake-up each time the service's alert state makes work due later (a new group's
    group_wait, a `for`); work for a receiver without a notifier wakes nobody."""
    queue = wake_queue_from_settings(settings)
    if queue is not None:
        def on_due(at: datetime, receiver: str | None, deliver_only: bool) -> None:
            if receiver is None or receiver in service.notifiers:
                queue.schedule(at)

        service.alerts.on_due = on_due
    return queue


def schedule_next(service: Service, queue: WakeQueue | None) -> None:
    """After a tick or a delivery, wake again when the next piece of alert work falls due (an
    outbox retry after a failed send is known only then)."""
    if queue is not None:
        queue.schedule(service.alerts.next_due(list(service.notifiers)))
