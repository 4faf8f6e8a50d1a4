"""Azure Monitor receiver: alerts as App Insights custom events (+ a metric), checked with the SDK's
in-memory exporters and with the real Azure Monitor exporter against a loopback ingestion stand-in."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from amlguard.alerts.notifiers import AzureMonitorNotifier, ReceiverError
from amlguard.alerts.notifiers.azure_monitor import CUSTOM_EVENT_ATTRIBUTE, EVENT_NAME
from amlguard.alerts.notifiers.base import NotConfigured
from tests.standins.receivers import ENDPOINT_ID, ReceiverStandin, sample_alert, sample_notification

IKEY = "00000000-0000-0000-0000-0000000000aa"


def test_each_alert_becomes_a_custom_event_and_a_metric_point() -> None:
    logs, reader = InMemoryLogRecordExporter(), InMemoryMetricReader()
    notifier = AzureMonitorNotifier("azure-monitor", log_exporter=logs, metric_reader=reader)
    notifier.send(sample_notification(sample_alert(severity="critical"),
                                      sample_alert("resolved", rule="AMLG-AUTH-001")))
    fired, resolved = (item.log_record for item in logs.get_finished_logs())
    assert fired.attributes[CUSTOM_EVENT_ATTRIBUTE] == EVENT_NAME
    assert fired.attributes["severity"] == "Sev0" and fired.attributes["monitorCondition"] == "Fired"
    assert fired.attributes["resource"] == ENDPOINT_ID
    assert fired.attributes["remediation"].startswith("Set public_network_access")
    assert fired.attributes["changedBy"] == "Alice Example"
    assert fired.attributes["portalUrl"] == "https://portal.azure.com/#@/resource" + ENDPOINT_ID
    assert resolved.attributes["monitorCondition"] == "Resolved"
    assert "AMLG-AUTH-001" in str(resolved.body)
    points = [(dict(p.attributes), p.value)
              for rm in reader.get_metrics_data().resource_metrics for sm in rm.scope_metrics
              for m in sm.metrics if m.name == "amlguard.alert.notifications" for p in m.data.data_points]
    assert ({"alertRule": "AMLG-NET-001", "severity": "Sev0", "monitorCondition": "Fired",
             "workspace": "ws-prod"}, 1) in points
    notifier.close()


class FailingExporter(InMemoryLogRecordExporter):
    def export(self, batch: Any) -> LogRecordExportResult:
        return LogRecordExportResult.FAILURE


def test_an_export_failure_is_a_retryable_error() -> None:
    notifier = AzureMonitorNotifier("azure-monitor", log_exporter=FailingExporter())
    with pytest.raises(ReceiverError) as info:
        notifier.send(sample_notification())
    assert info.value.retryable is True and info.value.receiver == "azure-monitor"


def test_not_configured_without_a_connection_string() -> None:
    with pytest.raises(NotConfigured, match="APPLICATIONINSIGHTS_CONNECTION_STRING"):
        AzureMonitorNotifier.from_settings("azure-monitor", {}, {})


@pytest.fixture()
def ingestion(monkeypatch: pytest.MonkeyPatch) -> Iterator[ReceiverStandin]:
    # No statsbeat, SDK stats or control-plane calls to Microsoft endpoints from a test.
    for name in ("APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL", "APPLICATIONINSIGHTS_SDKSTATS_DISABLED",
                 "APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED"):
        monkeypatch.setenv(name, "true")
    with ReceiverStandin() as server:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(server.ca_file))
        yield server


def test_real_exporter_delivers_custom_events_to_ingestion(ingestion: ReceiverStandin) -> None:
    env = {"APPLICATIONINSIGHTS_CONNECTION_STRING":
           f"InstrumentationKey={IKEY};IngestionEndpoint={ingestion.url}"}
    notifier = AzureMonitorNotifier.from_settings("azure-monitor", {}, env)
    try:
        notifier.send(sample_notification())
        envelopes = [e for d in ingestion.received("track") for e in d.json()]
        events = [e for e in envelopes if e["data"]["baseType"] == "EventData"]
        assert events, envelopes
        data = events[0]["data"]["baseData"]
        assert data["name"] == EVENT_NAME and events[0]["iKey"] == IKEY
        assert data["properties"]["alertRule"] == "AMLG-NET-001"
        assert data["properties"]["severity"] == "Sev1"
    finally:
        notifier.close()


def test_real_exporter_failure_is_retryable(ingestion: ReceiverStandin) -> None:
    ingestion.inject(path="/v2.1/track", status=503, times=None)
    env = {"APPLICATIONINSIGHTS_CONNECTION_STRING":
           f"InstrumentationKey={IKEY};IngestionEndpoint={ingestion.url}"}
    notifier = AzureMonitorNotifier.from_settings("azure-monitor", {"timeout": 2}, env)
    try:
        with pytest.raises(ReceiverError) as info:
            notifier.send(sample_notification())
        assert info.value.retryable is True
    finally:
        ingestion.clear_faults()
        notifier.close()
