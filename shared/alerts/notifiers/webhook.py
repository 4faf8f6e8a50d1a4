"""Generic webhook receiver: JSON (common alert schema per alert) with an idempotency key and an
HMAC-SHA256 signature the receiver verifies with `verify_signature`.

Signature header (Stripe's scheme): `X-Amlguard-Signature: t=<unix seconds>,v1=<hex>` where
`<hex>` is HMAC-SHA256(secret, "<t>." + raw body). Several `v1=` entries appear while secrets
are rotated (the env var may hold several secrets separated by commas).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from amlguard.alerts.notifiers.base import (
    DEFAULT_TIMEOUT_S,
    HttpNotifier,
    common_alert_schema,
    env_var,
    register,
    status_counts,
)
from amlguard.alerts.types import Notification

if TYPE_CHECKING:  # httpx costs ~0.2 s at import; only senders need it
    import httpx

__all__ = [
    "IDEMPOTENCY_HEADER",
    "SIGNATURE_HEADER",
    "WebhookNotifier",
    "sign",
    "signature_header",
    "verify_signature",
    "webhook_body",
]

SIGNATURE_HEADER = "X-Amlguard-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
DEFAULT_TOLERANCE_S = 300  # Stripe's default: 5 minutes of clock skew / replay window


def sign(secret: str | bytes, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of `<timestamp>.<body>` with `secret`."""
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


def signature_header(secrets: list[str], body: bytes, timestamp: int | None = None) -> str:
    """The `X-Amlguard-Signature` value: `t=<unix>,v1=<hex>[,v1=<hex>...]` (one v1 per secret)."""
    stamp = int(time.time()) if timestamp is None else timestamp
    return ",".join([f"t={stamp}", *(f"v1={sign(s, stamp, body)}" for s in secrets)])


def verify_signature(secret: str | bytes, header: str | None, body: bytes,
                     tolerance: float = DEFAULT_TOLERANCE_S, *, now: float | None = None) -> bool:
    """For receivers: True when `header` carries a valid v1 signature of `body` made within `tolerance`.

    Pass the raw request body (bytes as received, before any JSON parsing). Rejects a missing or
    malformed header, a timestamp older or newer than `tolerance` seconds (replay protection;
    0 or a negative value disables the check) and any body change. Compares in constant time.
    """
    if not header or not isinstance(body, (bytes, bytearray)):
        return False
    stamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            try:
                stamp = int(value)
            except ValueError:
                return False
        elif key == "v1" and value:
            candidates.append(value)
    if stamp is None or not candidates:
        return False
    if tolerance > 0 and abs((time.time() if now is None else now) - stamp) > tolerance:
        return False
    expected = sign(secret, stamp, bytes(body))
    return any(hmac.compare_digest(expected, candidate) for candidate in candidates)


def webhook_body(notification: Notification) -> dict[str, Any]:
    """The JSON document POSTed: notification envelope plus one common-schema entry per alert."""
    firing, resolved = status_counts(notification)
    common = _common_labels(notification)
    return {
        "version": "1",
        "source": "amlguard",
        "id": notification.id,
        "idempotencyKey": notification.idempotency_key,
        "receiver": notification.receiver,
        "status": notification.status,
        "reason": notification.reason,
        "groupKey": notification.group_key,
        "groupLabels": dict(notification.group_labels),
        "commonLabels": common,
        "createdAt": notification.created_at.isoformat(),
        "counts": {"firing": firing, "resolved": resolved},
        # Alertmanager's name: alerts of the group not in this message (they follow at the next flush)
        "truncatedAlerts": notification.truncated,
        "alerts": [common_alert_schema(alert, notification) for alert in notification.alerts],
    }


def _common_labels(notification: Notification) -> dict[str, str]:
    if not notification.alerts:
        return {}
    first = notification.alerts[0].labels
    return {k: v for k, v in first.items() if all(a.labels.get(k) == v for a in notification.alerts[1:])}


@register("webhook")
class WebhookNotifier(HttpNotifier):
    """POSTs a signed JSON document to any HTTPS endpoint."""

    settings_schema = {
        "url_from_env": env_var("Environment variable / app setting holding the receiver URL"),
        "url": {"type": "string", "format": "uri",
                "description": "Receiver URL written in the file (no credentials in it); "
                               "use url_from_env when the URL carries a token"},
        "secret_from_env": env_var("Environment variable holding the HMAC secret "
                                           "(comma-separated while rotating)"),
        "headers_from_env": {"type": "object",
                             "additionalProperties": env_var("Environment variable holding the header value"),
                             "description": "Extra request headers, each read from an environment variable"},
        "timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": 120},
    }
    required_settings = ("secret_from_env",)
    env_settings = ("url_from_env", "secret_from_env")

    def __init__(self, name: str, url: str, secrets: list[str], *, timeout: float = DEFAULT_TIMEOUT_S,
                 headers: Mapping[str, str] | None = None, http_client: httpx.Client | None = None) -> None:
        super().__init__(name, url, timeout=timeout, http_client=http_client)
        if not secrets:
            raise ValueError("a webhook receiver needs at least one HMAC secret")
        self.secrets = secrets
        self.headers = dict(headers or {})

    @classmethod
    def from_settings(cls, name: str, settings: Mapping[str, Any], env: Mapping[str, str], *,
                      http_client: httpx.Client | None = None) -> WebhookNotifier:
        """Build from alerting.yaml settings; NotConfigured when URL or secret variables are unset."""
        url = cls._env(settings, "url_from_env", env) if settings.get("url_from_env") else settings.get("url")
        secret = cls._env(settings, "secret_from_env", env)
        assert url and secret
        headers = {}
        for header, var in (settings.get("headers_from_env") or {}).items():
            value = cls._env({f"headers_from_env.{header}": var}, f"headers_from_env.{header}", env)
            assert value is not None
            headers[header] = value
        secrets = [s.strip() for s in secret.split(",") if s.strip()]
        return cls(name, url, secrets, timeout=float(settings.get("timeout", DEFAULT_TIMEOUT_S)),
                   headers=headers, http_client=http_client)

    def _deliver(self, notification: Notification) -> None:
        body = json.dumps(webhook_body(notification), ensure_ascii=False, separators=(",", ":")).encode()
        self.post(body, {
            **self.headers,
            IDEMPOTENCY_HEADER: notification.idempotency_key,
            SIGNATURE_HEADER: signature_header(self.secrets, body),
            "User-Agent": "amlguard-webhook/1",
        })
