"""Telemetry: spans and metrics recorded through the SDK's in-memory exporters, JSON log lines
carrying the active trace ids, cheap import, and setup for console / Azure Monitor export."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from amlguard import telemetry
from amlguard.model import Finding, Severity, Status

REPO = Path(__file__).resolve().parents[1]


class Recorded:
    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.reader = InMemoryMetricReader()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def points(self, name: str) -> list[tuple[dict[str, Any], Any]]:
        data = self.reader.get_metrics_data()
        out = []
        for rm in data.resource_metrics if data else []:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    if metric.name == name:
                        for point in metric.data.data_points:
                            value = getattr(point, "value", None)
                            if value is None:  # histogram
                                value = (point.count, point.sum)
                            out.append((dict(point.attributes), value))
        return out


@pytest.fixture()
def recorded() -> Iterator[Recorded]:
    rec = Recorded()
    telemetry.use_providers(rec.tracer_provider, rec.meter_provider)
    yield rec
    telemetry.use_providers()
    rec.meter_provider.shutdown()
    rec.tracer_provider.shutdown()


def test_span_records_attributes_and_nesting(recorded: Recorded) -> None:
    with telemetry.span("sweep", scope="sub-1", resources=3, skipped=None) as outer:
        with telemetry.span("audit", resource="/subscriptions/x", **{"http.method": "POST"}):
            pass
        assert outer.is_recording()
    audit, sweep = recorded.spans.get_finished_spans()
    assert (audit.name, sweep.name) == ("audit", "sweep")
    assert audit.parent is not None and audit.parent.span_id == sweep.context.span_id
    assert dict(sweep.attributes) == {"amlguard.scope": "sub-1", "amlguard.resources": 3}
    assert audit.attributes["http.method"] == "POST"  # dotted keys are kept as given


def test_span_marks_errors_and_reraises(recorded: Recorded) -> None:
    with pytest.raises(ValueError, match="boom"), telemetry.span("event", event_id="e1"):
        raise ValueError("boom")
    (span,) = recorded.spans.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR and "boom" in span.status.description
    assert span.events[0].name == "exception"


def test_record_findings_counts_by_rule_status_severity(recorded: Recorded) -> None:
    findings = [Finding("AMLG-NET-001", "/r1", "fail", "high", "m"), Finding("AMLG-NET-001", "/r2", "fail", "high", "m"),
                Finding("AMLG-NET-001", "/r3", "pass", "high", "m"),
                Finding("AMLG-AUTH-001", "/r4", "error", "critical", "m")]
    telemetry.record_findings(findings)
    points = recorded.points("amlguard.findings")
    assert ({"rule": "AMLG-NET-001", "status": "fail", "severity": "high"}, 2) in points
    assert ({"rule": "AMLG-NET-001", "status": "pass", "severity": "high"}, 1) in points
    assert ({"rule": "AMLG-AUTH-001", "status": "error", "severity": "critical"}, 1) in points


def test_record_findings_of_finding_objects_only(recorded: Recorded) -> None:
    findings = [Finding("AMLG-NET-001", f"/r{i}", Status.FAIL, Severity.HIGH, "m") for i in range(3)]
    findings.append(Finding("AMLG-NET-001", "/r", "fail", "high", "m"))
    findings.append(Finding("", "/r", "pass", None, "m"))  # type: ignore[arg-type]
    telemetry.record_findings(iter(findings))
    assert sorted(recorded.points("amlguard.findings"), key=str) == [
        ({"rule": "", "status": "pass", "severity": ""}, 1),
        ({"rule": "AMLG-NET-001", "status": "fail", "severity": "high"}, 4)]


def test_record_notification_latency_and_failures(recorded: Recorded) -> None:
    telemetry.record_notification("teams", True, 0.25)
    telemetry.record_notification("teams", False, 1.5, retryable=True)
    latency = recorded.points("amlguard.notification.duration")
    assert ({"receiver": "teams", "outcome": "success"}, (1, 0.25)) in latency
    assert ({"receiver": "teams", "outcome": "failure"}, (1, 1.5)) in latency
    assert recorded.points("amlguard.notification.failures") == [({"receiver": "teams", "retryable": True}, 1)]


def test_notifiers_trace_and_measure_every_send(recorded: Recorded) -> None:
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter

    from amlguard.alerts.notifiers import AzureMonitorNotifier
    from tests.standins.receivers import sample_notification

    notifier = AzureMonitorNotifier("azure-monitor", log_exporter=InMemoryLogRecordExporter())
    notifier.send(sample_notification(key="k-1"))
    (span,) = [s for s in recorded.spans.get_finished_spans() if s.name == "notify"]
    assert span.attributes["amlguard.receiver"] == "azure-monitor"
    assert span.attributes["amlguard.kind"] == "azure_monitor"
    assert span.attributes["amlguard.idempotency_key"] == "k-1"
    assert [(a, v) for a, v in recorded.points("amlguard.notifications")] == [
        ({"receiver": "azure-monitor", "outcome": "success", "kind": "azure_monitor"}, 1)]
    notifier.close()


def test_json_log_lines_carry_trace_ids(recorded: Recorded) -> None:
    stream = io.StringIO()
    handler = telemetry.configure_logging(json=True, level="DEBUG", stream=stream)
    try:
        log = logging.getLogger("amlguard.test")
        log.info("outside")
        with telemetry.span("audit") as current:
            log.warning("audited %s", "r1", extra={"resource": "/r1", "findings": 2})
            context = current.get_span_context()
        try:
            raise RuntimeError("bad")
        except RuntimeError:
            log.exception("failed")
    finally:
        logging.getLogger().removeHandler(handler)
    outside, inside, failed = (json.loads(line) for line in stream.getvalue().splitlines())
    assert outside["trace_id"] is None and outside["span_id"] is None
    assert inside["trace_id"] == format(context.trace_id, "032x")
    assert inside["span_id"] == format(context.span_id, "016x")
    assert inside["message"] == "audited r1" and inside["level"] == "WARNING"
    assert inside["logger"] == "amlguard.test" and inside["time"].endswith("Z")
    assert inside["resource"] == "/r1" and inside["findings"] == 2
    assert "RuntimeError: bad" in failed["exception"]


def test_configure_logging_is_idempotent_and_has_a_text_mode() -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    first = telemetry.configure_logging(json=True, stream=stream)
    second = telemetry.configure_logging(json=False, level=logging.INFO, stream=stream)
    try:
        assert first not in root.handlers and second in root.handlers
        logging.getLogger("x").info("plain")
        assert "INFO x [trace=None span=None] plain" in stream.getvalue()
    finally:
        root.removeHandler(second)


def _run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items()
             if k not in ("APPLICATIONINSIGHTS_CONNECTION_STRING", "AMLGUARD_TELEMETRY_CONSOLE")}
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, env={**clean, **env}, text=True,
                          capture_output=True, timeout=60, check=False)


def test_import_is_cheap() -> None:
    result = _run("import sys, amlguard.telemetry\n"
                  "heavy = [m for m in sys.modules if m.startswith(('opentelemetry.sdk', 'azure.monitor'))]\n"
                  "print(heavy)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_setup_without_settings_exports_nothing_and_is_idempotent() -> None:
    result = _run("from amlguard import telemetry as t\n"
                  "a = t.setup_telemetry({}); b = t.setup_telemetry({'AMLGUARD_TELEMETRY_CONSOLE': '1'})\n"
                  "print(a is b, bool(a.exporters), a.reason)\n"
                  "from opentelemetry import trace; print(type(trace.get_tracer_provider()).__name__)")
    assert result.returncode == 0, result.stderr
    first, provider = result.stdout.strip().splitlines()
    assert first.startswith("True False telemetry not exported")
    assert provider == "ProxyTracerProvider"


def test_console_flag_prints_spans_to_stderr() -> None:
    result = _run("import os\nfrom amlguard import telemetry as t\n"
                  "print(t.setup_telemetry(os.environ).exporters)\n"
                  "with t.span('sweep', scope='s1'): pass\n", AMLGUARD_TELEMETRY_CONSOLE="1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['console']"  # stdout stays clean for JSON reports
    assert '"name": "sweep"' in result.stderr and '"amlguard.scope": "s1"' in result.stderr


def test_connection_string_exports_to_azure_monitor(tmp_path: Path) -> None:
    from tests.standins.receivers import ReceiverStandin

    with ReceiverStandin() as ingestion:
        result = _run(
            "import logging\n"
            "import os\nfrom amlguard import telemetry as t\n"
            "print(t.setup_telemetry(os.environ).exporters)\n"
            "with t.span('audit', resource='/r1'):\n"
            "    logging.getLogger('amlguard.x').warning('inside the audit')\n"
            "from amlguard.model import Finding\n"
            "t.record_findings([Finding('AMLG-NET-001', '/r1', 'fail', 'high', 'm')])\n",
            APPLICATIONINSIGHTS_CONNECTION_STRING=(
                f"InstrumentationKey=00000000-0000-0000-0000-0000000000bb;IngestionEndpoint={ingestion.url}"),
            REQUESTS_CA_BUNDLE=str(ingestion.ca_file), APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL="true",
            APPLICATIONINSIGHTS_SDKSTATS_DISABLED="true", APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED="true",
            TMPDIR=str(tmp_path))
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "['azure_monitor']"
        envelopes = [e for d in ingestion.received("track") for e in d.json()]
    kinds = {e["data"]["baseType"] for e in envelopes}
    assert {"RequestData", "MessageData", "MetricData"} <= kinds or {"RemoteDependencyData", "MessageData",
                                                                     "MetricData"} <= kinds, kinds
    message = next(e for e in envelopes if e["data"]["baseType"] == "MessageData"
                   and e["data"]["baseData"]["message"] == "inside the audit")
    span = next(e for e in envelopes if e["data"]["baseType"] in ("RequestData", "RemoteDependencyData"))
    assert message["tags"]["ai.operation.id"] == span["tags"]["ai.operation.id"]  # log joined to its trace
    metric = next(e for e in envelopes if e["data"]["baseType"] == "MetricData"
                  and e["data"]["baseData"]["metrics"][0]["name"] == "amlguard.findings")
    assert metric["data"]["baseData"]["properties"]["rule"] == "AMLG-NET-001"


def test_inside_azure_functions_logs_stay_with_the_host(tmp_path: Path) -> None:
    result = _run("import logging\n"
                  "import os\nfrom amlguard import telemetry as t\n"
                  "t.setup_telemetry(os.environ)\n"
                  "print(any(type(h).__name__ == 'LoggingHandler' for h in logging.getLogger().handlers))",
                  APPLICATIONINSIGHTS_CONNECTION_STRING="InstrumentationKey=00000000-0000-0000-0000-0000000000cc;"
                                                        "IngestionEndpoint=https://127.0.0.1:9/",
                  FUNCTIONS_WORKER_RUNTIME="python", APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL="true",
                  APPLICATIONINSIGHTS_SDKSTATS_DISABLED="true", APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED="true",
                  TMPDIR=str(tmp_path))  # the exporter keeps retries under tempfile.gettempdir()
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


@pytest.fixture()
def http_loggers() -> Iterator[None]:
    """Restore the HTTP stacks' logger levels and root handler filters a test changed."""
    levels = {name: logging.getLogger(name).level for name in telemetry.HTTP_LOGGERS}
    filters = {h: list(h.filters) for h in logging.getLogger().handlers}
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
    for handler, kept in filters.items():
        handler.filters[:] = kept


def _logged(http_level: str = "WARNING") -> tuple[io.StringIO, logging.Handler]:
    stream = io.StringIO()
    return stream, telemetry.configure_logging(json=True, level="DEBUG", stream=stream, http_level=http_level)


def test_http_request_logs_are_quiet_by_default(http_loggers: None) -> None:
    stream, handler = _logged()
    try:
        logging.getLogger("httpx").info('HTTP Request: POST https://x.example/hook?sig=s3cr3t "HTTP/1.1 500"')
        logging.getLogger("azure.core.pipeline.policies.http_logging_policy").info("Request URL: 'https://t'")
        logging.getLogger("httpcore.connection").debug("connect_tcp.started")
        logging.getLogger("httpx").warning("kept")
    finally:
        logging.getLogger().removeHandler(handler)
    assert [json.loads(line)["message"] for line in stream.getvalue().splitlines()] == ["kept"]


def test_http_logs_when_asked_for_carry_no_query(http_loggers: None) -> None:
    stream, handler = _logged(http_level="INFO")
    try:
        logging.getLogger("httpx").info('HTTP Request: %s %s "%s"', "POST",
                                        "https://prod.logic.azure.com/workflows/1/invoke?api-version=1&sig=s3cr3t",
                                        "HTTP/1.1 500")
    finally:
        logging.getLogger().removeHandler(handler)
    (line,) = stream.getvalue().splitlines()
    assert json.loads(line)["message"] == ('HTTP Request: POST https://prod.logic.azure.com/workflows/1/invoke'
                                           '?REDACTED "HTTP/1.1 500"')


@pytest.mark.parametrize(("text", "expected"), [
    ("POST https://h.example/p?code=abc&x=1 failed", "POST https://h.example/p?REDACTED failed"),
    ("to https://hooks.slack.com/services/T0/B0/XyZ", "to https://hooks.slack.com/services/REDACTED"),
    ("https://127.0.0.1:8443/slack/services/T0/B0/XyZ?x=1", "https://127.0.0.1:8443/slack/services/REDACTED?REDACTED"),
    ("https://contoso.webhook.office.com/webhookb2/a@b/IncomingWebhook/c/d",
     "https://contoso.webhook.office.com/webhookb2/REDACTED"),
    ("https://u:pw@h.example/p", "https://REDACTED@h.example/p"),
    ("AccountName=a;AccountKey=abc==;EndpointSuffix=x", "AccountName=a;AccountKey=REDACTED;EndpointSuffix=x"),
    ("sv=2021&sig=abc%2B&se=1", "sv=2021&sig=REDACTED&se=1"),
    ("Authorization: Bearer eyJ0.eyJ1.sig", "Authorization: Bearer REDACTED"),
    ("group_key={}:{rule=x} idempotency_key=abc", "group_key={}:{rule=x} idempotency_key=abc"),
    ("plain text", "plain text"),
])
def test_redact(text: str, expected: str) -> None:
    assert telemetry.redact(text) == expected


def test_every_record_is_redacted_message_exception_and_extras(http_loggers: None) -> None:
    stream, handler = _logged()
    log = logging.getLogger("amlguard.test")
    try:
        log.warning("send to %s failed", "https://h.example/hook?sig=s3cr3t", extra={"url": "https://h/x?code=c0de"})
        try:
            raise RuntimeError("connect to https://h.example/hook?sig=s3cr3t refused")
        except RuntimeError:
            log.exception("failed")
    finally:
        logging.getLogger().removeHandler(handler)
    output = stream.getvalue()
    assert "s3cr3t" not in output and "c0de" not in output
    first, second = (json.loads(line) for line in output.splitlines())
    assert first["message"] == "send to https://h.example/hook?REDACTED failed"
    assert first["url"] == "https://h/x?REDACTED"
    assert "RuntimeError: connect to https://h.example/hook?REDACTED refused" in second["exception"]


def test_secure_logging_covers_handlers_installed_by_the_host(http_loggers: None) -> None:
    stream = io.StringIO()
    host = logging.StreamHandler(stream)  # e.g. the Azure Functions worker's handler
    root = logging.getLogger()
    root.addHandler(host)
    try:
        telemetry.secure_logging("WARNING")
        telemetry.secure_logging("WARNING")
        logging.getLogger("amlguard.test").warning("https://h/x?sig=s3cr3t")
    finally:
        root.removeHandler(host)
    assert stream.getvalue() == "https://h/x?REDACTED\n"
    assert sum(isinstance(f, telemetry.RedactingFilter) for f in host.filters) == 1
    assert logging.getLogger("httpx").level == logging.WARNING
