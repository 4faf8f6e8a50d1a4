"""What every receiver shares: the registry, one-attempt HTTP delivery with error classification,
and the payload pieces (common alert schema, portal links, remediation, change author).

A notifier makes exactly one attempt per `send` and raises `ReceiverError` (a
`NotificationError`) saying whether a retry may help and, when the receiver said so, after how
many seconds (`retry_after`); the delivery loop owns retries, backoff and circuit breaking.
"""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

from amlguard import telemetry
from amlguard.alerts.types import Alert, AlertStatus, Notification
from amlguard.armid import ArmId
from amlguard.errors import NotificationError
from amlguard.model import Severity
from amlguard.registry import Registry

if TYPE_CHECKING:  # httpx costs ~0.2 s at import; only senders need it
    import httpx

__all__ = [
    "BaseNotifier",
    "HttpNotifier",
    "NotConfigured",
    "ReceiverError",
    "alert_summary",
    "changed_by_text",
    "common_alert_schema",
    "env_var",
    "notifier_kinds",
    "portal_url",
    "register",
    "sev",
]

_log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 10.0
MAX_RETRY_AFTER_S = 3600.0  # a receiver asking for more than an hour is treated as an hour
PORTAL = "https://portal.azure.com/#@/resource"


class ReceiverError(NotificationError):
    """A failed delivery attempt, classified.

    `retryable` (from NotificationError) says whether trying again may succeed; `retry_after`
    is the delay in seconds the receiver asked for (Retry-After header), else None;
    `status_code` is the HTTP status when there was a response.
    """

    def __init__(self, message: str, *, receiver: str | None = None, retryable: bool = True,
                 retry_after: float | None = None, status_code: int | None = None) -> None:
        super().__init__(message, receiver=receiver, retryable=retryable)
        self.retry_after = retry_after
        self.status_code = status_code


class NotConfigured(Exception):  # a state, not a failure: the receiver is skipped
    """A receiver's settings point at an environment variable that is not set."""


_REGISTRY: Registry[type[BaseNotifier]] = Registry("notifier")


def register(kind: str) -> Callable[[type[BaseNotifier]], type[BaseNotifier]]:
    """Class decorator: make a notifier available as `type: <kind>` in alerting.yaml."""

    def wrap(cls: type[BaseNotifier]) -> type[BaseNotifier]:
        cls.kind = kind
        _REGISTRY.add(kind, cls)
        return cls

    return wrap


def notifier_kinds() -> dict[str, type[BaseNotifier]]:
    """Registered receiver kinds (type name -> class), importing the built-in ones."""
    from amlguard.alerts import notifiers  # noqa: F401 - importing registers the built-ins

    return dict(_REGISTRY)


def env_var(description: str) -> dict[str, Any]:
    """JSON Schema of a setting that names an environment variable / app setting."""
    return {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$", "description": description,
            "x-expected": "an environment variable name such as TEAMS_WEBHOOK_URL (the value itself "
                          "belongs in the app setting, not in this file)"}


class BaseNotifier:
    """A receiver instance. Subclasses set `kind`, `settings_schema` and implement `_deliver`."""

    kind: ClassVar[str] = ""
    # JSON Schema properties of this kind's settings (merged into the alerting.yaml schema)
    settings_schema: ClassVar[dict[str, Any]] = {}
    required_settings: ClassVar[tuple[str, ...]] = ()
    # settings that hold an environment variable *name*; a literal secret is never accepted
    env_settings: ClassVar[tuple[str, ...]] = ()

    def __init__(self, name: str) -> None:
        self.name = name

    @classmethod
    def from_settings(cls, name: str, settings: Mapping[str, Any], env: Mapping[str, str], *,
                      http_client: httpx.Client | None = None) -> BaseNotifier:
        """Build from validated settings; raise NotConfigured when a referenced env var is unset."""
        raise NotImplementedError

    @staticmethod
    def _env(settings: Mapping[str, Any], key: str, env: Mapping[str, str], *,
             required: bool = True) -> str | None:
        var = settings.get(key)
        if not var:
            return None
        value = env.get(str(var), "")
        if not value.strip():
            if required:
                raise NotConfigured(f"{key}: environment variable {var} is not set")
            return None
        return value.strip()

    def send(self, notification: Notification) -> None:
        """Deliver once, inside a `notify` span, recording latency and outcome metrics."""
        started = time.perf_counter()
        with telemetry.span("notify", receiver=self.name, kind=self.kind,
                            reason=notification.reason, status=notification.status,
                            alerts=len(notification.alerts), group_key=notification.group_key,
                            idempotency_key=notification.idempotency_key):
            try:
                self._deliver(notification)
            except NotificationError as exc:
                telemetry.record_notification(self.name, False, time.perf_counter() - started,
                                              kind=self.kind, retryable=exc.retryable)
                raise
            except Exception as exc:  # a bug in a payload builder must not be retried forever
                telemetry.record_notification(self.name, False, time.perf_counter() - started,
                                              kind=self.kind, retryable=False)
                raise ReceiverError(f"{self.kind} receiver {self.name!r} failed: "
                                    f"{type(exc).__name__}: {exc}", receiver=self.name,
                                    retryable=False) from exc
            telemetry.record_notification(self.name, True, time.perf_counter() - started, kind=self.kind)

    def _deliver(self, notification: Notification) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Release connections this notifier owns (not an injected client)."""


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP-date (RFC 9110 §10.2.3); None if absent/bad."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return min(max(0.0, seconds), MAX_RETRY_AFTER_S)


def classify_status(status: int) -> bool:
    """True when an HTTP failure status is worth retrying: 408, 429 and 5xx."""
    return status in (408, 425, 429) or status >= 500


class HttpNotifier(BaseNotifier):
    """A receiver reached by one HTTPS POST (Teams, Slack, generic webhook)."""

    def __init__(self, name: str, url: str, *, timeout: float = DEFAULT_TIMEOUT_S,
                 http_client: httpx.Client | None = None) -> None:
        super().__init__(name)
        self.url = url
        self.timeout = timeout
        self._owns_client = http_client is None
        if http_client is None:
            import httpx

            http_client = httpx.Client(follow_redirects=False)
        self._client = http_client

    def close(self) -> None:
        """Close the HTTP client when this notifier created it."""
        if self._owns_client:
            self._client.close()

    @classmethod
    def from_settings(cls, name: str, settings: Mapping[str, Any], env: Mapping[str, str], *,
                      http_client: httpx.Client | None = None) -> Any:
        """Build a receiver whose only secret is its URL (`url_from_env`); NotConfigured when unset."""
        url = cls._env(settings, "url_from_env", env)
        assert url is not None
        return cls(name, url, timeout=float(settings.get("timeout", DEFAULT_TIMEOUT_S)), http_client=http_client)

    def post(self, body: bytes, headers: Mapping[str, str]) -> httpx.Response:
        """POST once with a timeout; raise a classified ReceiverError on any failure.

        The URL is never put in an error message: for Teams and Slack it *is* the credential.
        """
        import httpx

        where = f"{self.kind} receiver {self.name!r}"
        try:
            response = self._client.post(self.url, content=body,
                                         headers={"Content-Type": "application/json", **headers},
                                         timeout=self.timeout)
        except httpx.TimeoutException as exc:
            raise ReceiverError(f"{where} timed out after {self.timeout:g}s; will retry",
                                receiver=self.name, retryable=True) from exc
        except httpx.TransportError as exc:
            raise ReceiverError(f"{where} could not be reached ({type(exc).__name__}); will retry",
                                receiver=self.name, retryable=True) from exc
        if 200 <= response.status_code < 300:
            return response
        retryable = classify_status(response.status_code)
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        snippet = response.text[:200].strip().replace("\n", " ")
        fix = ("will retry" if retryable else
               "not retried: check the receiver's URL, credentials and payload settings")
        raise ReceiverError(f"{where} answered HTTP {response.status_code}"
                            f"{f' ({snippet})' if snippet else ''}; {fix}",
                            receiver=self.name, retryable=retryable, retry_after=retry_after,
                            status_code=response.status_code)


# ------------------------------------------------------------------------------ payload helpers


def sev(severity: str) -> str:
    """`critical` -> `Sev0` ... `info` -> `Sev4`; an unknown or already-Sev value passes through."""
    try:
        return Severity(severity.lower()).azure_sev
    except ValueError:
        return severity


def portal_url(resource: str) -> str | None:
    """Azure portal link for an ARM resource id; None for anything else (a file path)."""
    if resource.lower().startswith("/subscriptions/"):
        return PORTAL + quote(resource, safe="/-_.~")
    return None


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


_CLAIM_KEYS = ("name", "display_name", "upn", "unique_name",
               "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn",
               "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
               "email", "principal_name", "appid", "app_id", "principal_id", "object_id",
               "http://schemas.microsoft.com/identity/claims/objectidentifier", "caller")


def changed_by_text(alert: Alert) -> str | None:
    """Who made the change, from the event claims on the alert, or None when unknown."""
    claims = alert.changed_by
    if not claims:
        return None
    for key in _CLAIM_KEYS:
        value = claims.get(key)
        if value:
            return str(value)
    return None


def alert_title(alert: Alert) -> str:
    """One-line headline: the rule title when there is one, else the rule id."""
    return alert.annotations.get("title") or alert.annotations.get("summary") or alert.rule


def resource_name(alert: Alert) -> str:
    """Short name of the alert's resource (last ARM id segment or file name)."""
    return alert.labels.get("resource_name") or alert.resource.rstrip("/").rsplit("/", 1)[-1]


def alert_summary(alert: Alert) -> dict[str, Any]:
    """The facts every receiver shows, in one place so Teams, Slack and webhooks agree."""
    return {
        "rule": alert.rule,
        "title": alert_title(alert),
        "status": alert.status,
        "severity": alert.severity,
        "azure_severity": sev(alert.severity),
        "resource": alert.resource,
        "resource_name": resource_name(alert),
        "workspace": alert.labels.get("workspace"),
        "message": alert.annotations.get("message") or alert.annotations.get("description") or "",
        "remediation": alert.annotations.get("remediation") or "",
        "changed_by": changed_by_text(alert),
        "portal_url": portal_url(alert.resource),
        "runbook_url": alert.annotations.get("runbook_url") or alert.annotations.get("link"),
        "since": _iso(alert.since),
        "source": alert.source,
        "line": alert.line,
    }


def common_alert_schema(alert: Alert, notification: Notification) -> dict[str, Any]:
    """One alert in Azure Monitor's common alert schema shape (`essentials` + `alertContext`).

    Action Groups, Logic Apps and Event Grid subscribers that already parse Azure Monitor alerts
    can read these without a translation layer. `alertContext` carries amlguard's own fields.
    """
    summary = alert_summary(alert)
    resolved = alert.status == AlertStatus.RESOLVED.value
    resource = alert.resource
    arm = ArmId.parse(resource)
    essentials = {
        "alertId": f"/amlguard/alerts/{alert.fingerprint}",
        "alertRule": alert.rule,
        "severity": summary["azure_severity"],
        "signalType": alert.labels.get("signal_type", "Log"),
        "monitorCondition": "Resolved" if resolved else "Fired",
        "monitoringService": "amlguard",
        "alertTargetIDs": [resource],
        "configurationItems": [summary["resource_name"]],
        "originAlertId": alert.fingerprint,
        "firedDateTime": _iso(alert.active_since or alert.since),
        "resolvedDateTime": _iso(alert.resolved_at) if resolved else None,
        "description": summary["message"] or summary["title"],
        "essentialsVersion": "1.0",
        "alertContextVersion": "1.0",
        "targetResourceType": arm.resource_type if arm else None,
        "targetResourceGroup": arm.resource_group if arm else None,
        "investigationLink": summary["portal_url"],
    }
    context = {
        "rule": alert.rule,
        "title": summary["title"],
        "status": alert.status,
        "severity": alert.severity,
        "resource": resource,
        "workspace": summary["workspace"],
        "message": summary["message"],
        "remediation": summary["remediation"],
        "changedBy": alert.changed_by,
        "changedByName": summary["changed_by"],
        "portalUrl": summary["portal_url"],
        "runbookUrl": summary["runbook_url"],
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "source": alert.source,
        "line": alert.line,
        "acknowledgedBy": alert.acknowledged_by,
        "notification": {
            "id": notification.id,
            "receiver": notification.receiver,
            "reason": notification.reason,
            "groupKey": notification.group_key,
            "idempotencyKey": notification.idempotency_key,
        },
    }
    return {
        "schemaId": "azureMonitorCommonAlertSchema",
        "data": {
            "essentials": essentials,
            "alertContext": context,
            "customProperties": {k: v for k, v in alert.labels.items() if k.startswith("tag_")} or None,
        },
    }


def status_counts(notification: Notification) -> tuple[int, int]:
    """(firing, resolved) alert counts in a notification."""
    firing = sum(1 for a in notification.alerts if a.status != AlertStatus.RESOLVED.value)
    return firing, len(notification.alerts) - firing


def headline(notification: Notification) -> str:
    """`[FIRING:2] AMLG-NET-001 public network access ...` like Alertmanager's default title."""
    firing, resolved = status_counts(notification)
    state = f"FIRING:{firing}" if firing else f"RESOLVED:{resolved}"
    first = notification.alerts[0] if notification.alerts else None
    what = alert_title(first) if first else notification.group_key
    if first and first.rule not in what:
        what = f"{first.rule} {what}"
    more = len({a.rule for a in notification.alerts}) > 1
    return f"[{state}] {what}{' (+ other rules)' if more else ''}"
