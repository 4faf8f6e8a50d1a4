"""Event Grid receiver: one CloudEvent per alert, published to a custom topic with
azure-eventgrid's EventGridPublisherClient; data is the alert in common alert schema shape.

Credential: an access key from an environment variable when one is configured (local runs),
otherwise DefaultAzureCredential (managed identity in Azure; needs the "EventGrid Data Sender"
role on the topic). The endpoint (https://<topic>.<region>-1.eventgrid.azure.net/api/events)
comes from an environment variable.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from amlguard.alerts.notifiers.base import (
    DEFAULT_TIMEOUT_S,
    BaseNotifier,
    ReceiverError,
    classify_status,
    common_alert_schema,
    env_var,
    parse_retry_after,
    register,
    sev,
)
from amlguard.alerts.types import AlertStatus, Notification

if TYPE_CHECKING:  # httpx costs ~0.2 s at import; only senders need it
    import httpx

__all__ = ["EVENT_TYPE_PREFIX", "EventGridNotifier", "cloud_events"]

EVENT_TYPE_PREFIX = "Amlguard.Alert"
DEFAULT_SOURCE = "/amlguard"
# Event Grid custom topics take at most 1 MB per publish request; stay well under it.
MAX_BATCH_BYTES = 768 * 1024


def batches(events: list[Any], limit: int = MAX_BATCH_BYTES) -> list[list[Any]]:
    """Split events into publish requests under `limit` bytes of JSON (at least one event each)."""
    out: list[list[Any]] = []
    size = 0
    for event in events:
        cost = len(json.dumps(event.data, default=str)) + 512  # data + envelope attributes
        if out and size + cost <= limit:
            out[-1].append(event)
            size += cost
        else:
            out.append([event])
            size = cost
    return out


def cloud_events(notification: Notification, source: str = DEFAULT_SOURCE,
                 type_prefix: str = EVENT_TYPE_PREFIX) -> list[Any]:
    """One CloudEvent per alert. Ids derive from the idempotency key, so a resend is deduplicable."""
    from azure.core.messaging import CloudEvent

    events = []
    for alert in notification.alerts:
        resolved = alert.status == AlertStatus.RESOLVED.value
        event_id = hashlib.sha256(f"{notification.idempotency_key}:{alert.fingerprint}".encode()).hexdigest()
        events.append(CloudEvent(
            source=source,
            type=f"{type_prefix}.{'Resolved' if resolved else 'Fired'}",
            subject=alert.resource,
            id=event_id[:32],
            time=notification.created_at,
            data=common_alert_schema(alert, notification),
            datacontenttype="application/json",
            # extension names: lower-case alphanumerics (CloudEvents 1.0); Event Grid filters on them
            extensions={"severity": sev(alert.severity), "rule": alert.rule, "reason": notification.reason},
        ))
    return events


@register("eventgrid")
class EventGridNotifier(BaseNotifier):
    """Publishes alerts as CloudEvents to an Event Grid custom topic."""

    settings_schema = {
        "endpoint_from_env": env_var("Environment variable holding the topic endpoint URL"),
        "key_from_env": env_var("Environment variable holding a topic access key (local runs); "
                                        "when unset, DefaultAzureCredential is used"),
        "source": {"type": "string", "minLength": 1},
        "type_prefix": {"type": "string", "pattern": "^[A-Za-z0-9_.-]+$"},
        "timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": 120},
    }
    required_settings = ("endpoint_from_env",)
    env_settings = ("endpoint_from_env", "key_from_env")

    def __init__(self, name: str, endpoint: str, credential: Any, *, source: str = DEFAULT_SOURCE,
                 type_prefix: str = EVENT_TYPE_PREFIX, timeout: float = DEFAULT_TIMEOUT_S,
                 client: Any = None, **client_kwargs: Any) -> None:
        """`client_kwargs` are azure-core transport options (e.g. `connection_verify` for a
        private CA) applied to every send: azure-eventgrid 4.22 drops constructor kwargs for
        basic topics, so they are passed per call where azure-core honours them."""
        super().__init__(name)
        self.endpoint = endpoint
        self.source = source
        self.type_prefix = type_prefix
        self.timeout = timeout
        self._client_kwargs = client_kwargs
        if client is None:
            from azure.eventgrid import EventGridPublisherClient

            client = EventGridPublisherClient(endpoint, credential, **client_kwargs)
        self._client = client

    @classmethod
    def from_settings(cls, name: str, settings: Mapping[str, Any], env: Mapping[str, str], *,
                      http_client: httpx.Client | None = None) -> EventGridNotifier:
        """Build from alerting.yaml settings; NotConfigured when the endpoint variable is unset."""
        endpoint = cls._env(settings, "endpoint_from_env", env)
        assert endpoint is not None
        key = cls._env(settings, "key_from_env", env, required=False) if settings.get("key_from_env") else None
        if key:
            from azure.core.credentials import AzureKeyCredential

            credential: Any = AzureKeyCredential(key)
        else:
            from azure.identity import DefaultAzureCredential

            credential = DefaultAzureCredential()
        return cls(name, endpoint, credential, source=settings.get("source", DEFAULT_SOURCE),
                   type_prefix=settings.get("type_prefix", EVENT_TYPE_PREFIX),
                   timeout=float(settings.get("timeout", DEFAULT_TIMEOUT_S)))

    def close(self) -> None:
        """Close the publisher client."""
        self._client.close()

    def _deliver(self, notification: Notification) -> None:
        from azure.core.exceptions import (
            AzureError,
            ClientAuthenticationError,
            HttpResponseError,
            ServiceRequestError,
            ServiceResponseError,
        )

        events = cloud_events(notification, self.source, self.type_prefix)
        if not events:
            return
        where = f"eventgrid receiver {self.name!r}"
        try:
            # retry_total=0: one attempt; the delivery loop owns retries and backoff. When a large
            # group needs several requests and one fails, the resend repeats the earlier ones
            # with the same event ids, which subscribers can deduplicate.
            for batch in batches(events):
                self._client.send(batch, retry_total=0, connection_timeout=self.timeout,
                                  read_timeout=self.timeout, **self._client_kwargs)
        except HttpResponseError as exc:
            status = exc.status_code
            if status is None:  # e.g. the credential could not get a token
                raise ReceiverError(f"{where}: authentication failed ({exc.message}); check the "
                                    "managed identity / key and its EventGrid Data Sender role",
                                    receiver=self.name,
                                    retryable=not isinstance(exc, ClientAuthenticationError)) from exc
            headers = getattr(exc.response, "headers", None) or {}
            retryable = classify_status(status)
            raise ReceiverError(
                f"{where}: topic answered HTTP {status} ({(exc.reason or '')[:100]}); "
                + ("will retry" if retryable else "not retried: check the endpoint, key or role assignment"),
                receiver=self.name, retryable=retryable, status_code=status,
                retry_after=parse_retry_after(headers.get("Retry-After"))) from exc
        except (ServiceRequestError, ServiceResponseError) as exc:
            raise ReceiverError(f"{where}: topic unreachable or timed out ({type(exc).__name__}); will retry",
                                receiver=self.name, retryable=True) from exc
        except AzureError as exc:
            raise ReceiverError(f"{where}: {type(exc).__name__}: {exc}", receiver=self.name,
                                retryable=True) from exc
