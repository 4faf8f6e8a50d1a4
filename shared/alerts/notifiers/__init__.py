"""Receivers for alert notifications: Teams, Slack, generic webhook, Event Grid, Azure Monitor.

Each makes one delivery attempt per `send(notification)` and raises `ReceiverError` (a
`amlguard.errors.NotificationError` with `retryable`, `retry_after` seconds and `status_code`).
Kinds register themselves with `@register("kind")`; alerting.yaml's schema is built from them.
"""

from amlguard.alerts.notifiers.azure_monitor import AzureMonitorNotifier
from amlguard.alerts.notifiers.base import (
    BaseNotifier,
    HttpNotifier,
    NotConfigured,
    ReceiverError,
    common_alert_schema,
    notifier_kinds,
    portal_url,
    register,
)
from amlguard.alerts.notifiers.eventgrid import EventGridNotifier
from amlguard.alerts.notifiers.slack import SlackNotifier
from amlguard.alerts.notifiers.teams import TeamsNotifier
from amlguard.alerts.notifiers.webhook import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    WebhookNotifier,
    verify_signature,
)

__all__ = [
    "IDEMPOTENCY_HEADER",
    "SIGNATURE_HEADER",
    "AzureMonitorNotifier",
    "BaseNotifier",
    "EventGridNotifier",
    "HttpNotifier",
    "NotConfigured",
    "ReceiverError",
    "SlackNotifier",
    "TeamsNotifier",
    "WebhookNotifier",
    "common_alert_schema",
    "notifier_kinds",
    "portal_url",
    "register",
    "verify_signature",
]
