"""Azure Monitor receiver: each alert becomes an Application Insights custom event (OpenTelemetry
log record) plus a metric point, so an Azure Monitor log-search or metric alert rule with an
Action Group can page, email and text.

Configured when APPLICATIONINSIGHTS_CONNECTION_STRING (or the variable named in
`connection_string_from_env`) is set; otherwise reported as not configured.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from amlguard.alerts.notifiers.base import (
    BaseNotifier,
    ReceiverError,
    alert_summary,
    env_var,
    register,
)
from amlguard.alerts.types import AlertStatus, Notification

if TYPE_CHECKING:  # httpx costs ~0.2 s at import; only senders need it
    import httpx

__all__ = ["EVENT_NAME", "AzureMonitorNotifier"]

EVENT_NAME = "AmlguardAlert"
METRIC_NAME = "amlguard.alert.notifications"
# The Azure Monitor exporter turns a log record with this attribute into a customEvents row.
CUSTOM_EVENT_ATTRIBUTE = "microsoft.custom_event.name"


class _RecordingExporter:
    """Wraps a LogRecordExporter to remember the result of the last export (one attempt)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.last_ok: bool | None = None

    def export(self, batch: Sequence[Any]) -> Any:
        from opentelemetry.sdk._logs.export import LogRecordExportResult

        try:
            result = self.inner.export(batch)
        except Exception:
            self.last_ok = False
            return LogRecordExportResult.FAILURE
        self.last_ok = result == LogRecordExportResult.SUCCESS
        return result

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return bool(self.inner.force_flush(timeout_millis))

    def shutdown(self) -> None:
        self.inner.shutdown()


@register("azure_monitor")
class AzureMonitorNotifier(BaseNotifier):
    """Emits alerts as App Insights custom events and metrics for Azure Monitor alert rules."""

    settings_schema = {
        "connection_string_from_env": env_var(
            "Environment variable holding the Application Insights connection string "
            "(default APPLICATIONINSIGHTS_CONNECTION_STRING)"),
        "event_name": {"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9_.-]*$"},
        "timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": 120},
    }
    env_settings = ("connection_string_from_env",)

    def __init__(self, name: str, *, log_exporter: Any, metric_reader: Any = None,
                 event_name: str = EVENT_NAME, timeout: float = 10.0) -> None:
        """`log_exporter` is any OpenTelemetry LogRecordExporter (the Azure Monitor one in
        production); `metric_reader` an optional MetricReader for the alert counter."""
        from opentelemetry.sdk._logs import LoggerProvider
        from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.resources import Resource

        super().__init__(name)
        self.event_name = event_name
        self.timeout = timeout
        resource = Resource.create({"service.name": "amlguard"})
        self._exporter = _RecordingExporter(log_exporter)
        self._send_lock = threading.Lock()  # last_ok is per attempt; the outbox may send concurrently
        # Simple (synchronous) processor: the export happens inside send(), so its outcome is
        # this attempt's outcome and the outbox can retry a failure.
        self._logs = LoggerProvider(resource=resource)
        self._logs.add_log_record_processor(SimpleLogRecordProcessor(self._exporter))  # type: ignore[arg-type]
        self._logger = self._logs.get_logger("amlguard.alerts")
        self._meters = MeterProvider(resource=resource, metric_readers=[metric_reader] if metric_reader else [])
        self._counter = self._meters.get_meter("amlguard.alerts").create_counter(
            METRIC_NAME, unit="{alert}", description="Alert notifications by rule, severity and condition")

    @classmethod
    def from_settings(cls, name: str, settings: Mapping[str, Any], env: Mapping[str, str], *,
                      http_client: httpx.Client | None = None) -> AzureMonitorNotifier:
        """Build with the Azure Monitor exporters; NotConfigured without a connection string."""
        key = "connection_string_from_env"
        connection = cls._env({key: settings.get(key, "APPLICATIONINSIGHTS_CONNECTION_STRING")}, key, env)
        timeout = float(settings.get("timeout", 10.0))
        from azure.monitor.opentelemetry.exporter import (
            AzureMonitorLogExporter,
            AzureMonitorMetricExporter,
        )
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

        # Offline storage off and retry_total=0: one attempt per send, the outbox retries.
        from amlguard.telemetry import azure_monitor_credential

        options: dict[str, Any] = {"connection_string": connection, "disable_offline_storage": True,
                                   "timeout": timeout, "retry_total": 0}
        credential = azure_monitor_credential(env)
        if credential is not None:  # Application Insights with local auth disabled (Entra ingestion)
            options["credential"] = credential
        reader = PeriodicExportingMetricReader(AzureMonitorMetricExporter(**options),
                                               export_interval_millis=60_000)
        return cls(name, log_exporter=AzureMonitorLogExporter(**options), metric_reader=reader,
                   event_name=settings.get("event_name", EVENT_NAME), timeout=timeout)

    def close(self) -> None:
        """Flush metrics and shut the private providers down."""
        self._meters.shutdown()
        self._logs.shutdown()

    def _deliver(self, notification: Notification) -> None:
        with self._send_lock:
            self._emit(notification)

    def _emit(self, notification: Notification) -> None:
        from opentelemetry._logs import SeverityNumber

        for alert in notification.alerts:
            facts = alert_summary(alert)
            resolved = alert.status == AlertStatus.RESOLVED.value
            condition = "Resolved" if resolved else "Fired"
            attributes = {
                CUSTOM_EVENT_ATTRIBUTE: self.event_name,
                "alertRule": alert.rule,
                "severity": facts["azure_severity"],
                "amlguardSeverity": alert.severity,
                "monitorCondition": condition,
                "status": alert.status,
                "resource": alert.resource,
                "resourceName": facts["resource_name"],
                "workspace": facts["workspace"] or "",
                "title": facts["title"],
                "message": facts["message"],
                "remediation": facts["remediation"],
                "changedBy": facts["changed_by"] or "",
                "portalUrl": facts["portal_url"] or "",
                "fingerprint": alert.fingerprint,
                "reason": notification.reason,
                "receiver": notification.receiver,
                "groupKey": notification.group_key,
                "idempotencyKey": notification.idempotency_key,
            }
            self._exporter.last_ok = None
            self._logger.emit(
                body=f"{condition}: {alert.rule} {facts['title']} on {facts['resource_name']}",
                severity_number=SeverityNumber.INFO if resolved else SeverityNumber.WARN,
                severity_text="INFO" if resolved else "WARNING",
                attributes=attributes,
            )
            if self._exporter.last_ok is not True:
                raise ReceiverError(f"azure_monitor receiver {self.name!r}: Application Insights did not "
                                    "accept the alert event; will retry", receiver=self.name, retryable=True)
            self._counter.add(1, {"alertRule": alert.rule, "severity": facts["azure_severity"],
                                  "monitorCondition": condition, "workspace": facts["workspace"] or ""})
        # The metric is exported by its periodic reader (every 60 s, and at close()); the custom
        # event above is what alert rules key on, so a send never waits on a metrics export.
