"""OpenTelemetry traces, metrics and trace-correlated JSON logs for amlguard.

Importing this module costs nothing beyond the standard library: the OpenTelemetry API loads on
the first span or instrument, and the SDK and the Azure Monitor exporter inside
`setup_telemetry`, which exports to Azure Monitor when `APPLICATIONINSIGHTS_CONNECTION_STRING` is
set, to the console (stderr) when `AMLGUARD_TELEMETRY_CONSOLE=1`, and nowhere otherwise.
"""

from __future__ import annotations

import functools
import json as _json
import logging
import re
import sys
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import attrgetter
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from opentelemetry import metrics, trace
    from opentelemetry.trace import Span

    from amlguard.model import Finding

__all__ = [
    "HTTP_LOGGERS",
    "JsonFormatter",
    "RedactingFilter",
    "TelemetryStatus",
    "TraceContextFilter",
    "configure_logging",
    "record_findings",
    "record_notification",
    "redact",
    "secure_logging",
    "setup_telemetry",
    "span",
    "use_providers",
]

INSTRUMENTATION_NAME = "amlguard"
SERVICE_NAME = "amlguard"
CONNECTION_STRING_ENV = "APPLICATIONINSIGHTS_CONNECTION_STRING"
CONSOLE_ENV = "AMLGUARD_TELEMETRY_CONSOLE"
LOGS_ENV = "AMLGUARD_TELEMETRY_LOGS"
_TRUE = {"1", "true", "yes", "on"}

_log = logging.getLogger(__name__)


class _Instruments:
    """The tracer and metric instruments, bound to one pair of providers."""

    def __init__(self, tracer_provider: trace.TracerProvider | None = None,
                 meter_provider: metrics.MeterProvider | None = None) -> None:
        from opentelemetry import metrics, trace

        # The API's global getters return proxies that bind once a real provider is set, so the
        # default state (no setup) is a cheap no-op that starts exporting after setup_telemetry.
        self.tracer = (tracer_provider.get_tracer(INSTRUMENTATION_NAME) if tracer_provider
                       else trace.get_tracer(INSTRUMENTATION_NAME))
        meter = (meter_provider.get_meter(INSTRUMENTATION_NAME) if meter_provider
                 else metrics.get_meter(INSTRUMENTATION_NAME))
        self.findings = meter.create_counter(
            "amlguard.findings", unit="{finding}", description="Policy findings by rule, status and severity")
        self.notifications = meter.create_counter(
            "amlguard.notifications", unit="{notification}",
            description="Notification attempts by receiver and outcome")
        self.notification_failures = meter.create_counter(
            "amlguard.notification.failures", unit="{notification}",
            description="Failed notification attempts by receiver")
        self.notification_latency = meter.create_histogram(
            "amlguard.notification.duration", unit="s",
            description="Time to deliver one notification attempt to a receiver")


_instruments: _Instruments | None = None
_lock = threading.Lock()


def _get() -> _Instruments:
    global _instruments
    if _instruments is None:
        with _lock:
            if _instruments is None:
                _instruments = _Instruments()
    return _instruments


def use_providers(tracer_provider: trace.TracerProvider | None = None,
                  meter_provider: metrics.MeterProvider | None = None) -> None:
    """Send spans and metrics to these SDK providers instead of the global ones.

    For tests (an InMemorySpanExporter / InMemoryMetricReader) and for hosts that own their
    providers. `use_providers()` with no arguments goes back to the global providers.
    """
    global _instruments
    with _lock:
        _instruments = _Instruments(tracer_provider, meter_provider)


@contextmanager
def span(name: str, **attrs: Any) -> Iterator[Span]:
    """Run a block inside a span named `name` (e.g. "audit", "event", "sweep", "notify").

    Attributes whose value is None are left out; others are converted to str unless they are
    bool/int/float. An exception marks the span as an error, is recorded on it and re-raised.
    """
    from opentelemetry.trace import Status, StatusCode

    tracer = _get().tracer
    with tracer.start_as_current_span(name, attributes=_attributes(attrs),
                                      record_exception=False, set_status_on_exception=False) as current:
        try:
            yield current
        except BaseException as exc:
            current.record_exception(exc)
            current.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"[:200]))
            raise


def _attributes(attrs: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in attrs.items():
        if value is None:
            continue
        out[key if "." in key else f"amlguard.{key}"] = (
            value if isinstance(value, (bool, int, float, str)) else str(value))
    return out


_FINDING_KEY = attrgetter("rule", "status", "severity")


def record_findings(findings: Iterable[Finding]) -> None:
    """Count findings by rule, status and severity."""
    if _instruments is None and "opentelemetry.metrics" not in sys.modules:
        # Nothing can have installed a meter provider before the API was imported, and the API's
        # default provider drops what it is given: skipping is exact, and spares `amlguard audit`
        # the API's import.
        return
    counter = _get().findings
    # counted in C (40k findings in ~5 ms); a field left None is counted as ""
    for (rule, status, severity), count in Counter(map(_FINDING_KEY, findings)).items():
        counter.add(count, {"rule": str(rule or ""), "status": str(status or ""), "severity": str(severity or "")})


def record_notification(receiver: str, ok: bool, latency_s: float, *, kind: str | None = None,
                        retryable: bool | None = None) -> None:
    """Record one notification attempt: latency histogram, outcome counter, failures counter."""
    inst = _get()
    attrs: dict[str, Any] = {"receiver": receiver, "outcome": "success" if ok else "failure"}
    if kind:
        attrs["kind"] = kind
    inst.notification_latency.record(max(0.0, float(latency_s)), attrs)
    inst.notifications.add(1, attrs)
    if not ok:
        failure: dict[str, Any] = {"receiver": receiver, **({"kind": kind} if kind else {})}
        if retryable is not None:
            failure["retryable"] = retryable
        inst.notification_failures.add(1, failure)


# --------------------------------------------------------------------------------------- logging

# Attributes every LogRecord has; anything else on a record came from `extra=` and is emitted.
_STANDARD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message", "asctime", "trace_id", "span_id", "taskName"}


class TraceContextFilter(logging.Filter):
    """Adds `trace_id` / `span_id` (hex, or None outside a span) to every record it sees."""

    def filter(self, record: logging.LogRecord) -> bool:
        from opentelemetry import trace

        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            record.trace_id = format(context.trace_id, "032x")
            record.span_id = format(context.span_id, "016x")
        else:
            record.trace_id = None
            record.span_id = None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, trace_id, span_id, extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "trace_id"):
            TraceContextFilter().filter(record)
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "trace_id": getattr(record, "trace_id", None),
            "span_id": getattr(record, "span_id", None),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_") and key not in out:
                out[key] = value
        if record.exc_info:
            out["exception"] = record.exc_text or self.formatException(record.exc_info)
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return _json.dumps(out, default=str, ensure_ascii=False)


# Loggers of the HTTP stacks: httpx logs every request at INFO with its full URL (for Teams and
# Slack the URL is the credential) and azure-core's HttpLoggingPolicy every request and response.
HTTP_LOGGERS = ("httpx", "httpcore", "azure", "urllib3")

REDACTED = "REDACTED"


class _Patterns:
    """The redaction patterns, compiled on first use: compiling them costs more than the rest of
    this module's import, and a CLI run that logs nothing never needs them."""

    def __init__(self) -> None:
        # A URL: scheme, optional user:password@, host and path, optional query (?...).
        self.url = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)([^\s/?#@'\"<>]*@)?([^\s?#'\"<>]*)(\?[^\s#'\"<>]*)?")
        # Webhook paths that are the credential: Slack's /services/T../B../<token>, Office 365's /webhookb2/...
        self.secret_path = re.compile(r"(?i)(/services/|/webhookb2/).*")
        # key=value secrets outside URLs: SAS and connection strings, form bodies, headers.
        self.secret_pair = re.compile(r"(?i)\b(sig|code|token|access_token|client_secret|secret|password|"
                                      r"AccountKey|SharedAccessKey|SharedAccessSignature)=([^&\s;,'\"]+)")
        self.bearer = re.compile(r"(?i)\bBearer\s+[A-Za-z0-9._~+/=-]+")


@functools.cache
def _patterns() -> _Patterns:
    return _Patterns()


def _redact_url(match: re.Match[str]) -> str:
    scheme, userinfo, rest, query = match.group(1), match.group(2), match.group(3), match.group(4)
    rest = _patterns().secret_path.sub(rf"\1{REDACTED}", rest)
    return f"{scheme}{f'{REDACTED}@' if userinfo else ''}{rest}{f'?{REDACTED}' if query else ''}"


def redact(text: str) -> str:
    """`text` without credentials: URL queries and user:password, Slack / Office webhook paths,
    `sig=` / `code=` / `token=` / AccountKey=... values and bearer tokens become REDACTED."""
    if "://" in text:
        text = _patterns().url.sub(_redact_url, text)
    if "=" in text:
        text = _patterns().secret_pair.sub(rf"\1={REDACTED}", text)
    if "earer" in text:
        text = _patterns().bearer.sub(f"Bearer {REDACTED}", text)
    return text


class RedactingFilter(logging.Filter):
    """Takes credentials out of every record a handler emits: message, exception text and extra
    fields (`redact`). On handlers rather than loggers, so records of every library are covered."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: logging reports it when the record is emitted
            return True
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = _PLAIN.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        for key, value in list(record.__dict__.items()):
            if isinstance(value, str) and key not in _STANDARD_ATTRS:
                setattr(record, key, redact(value))
        return True


_PLAIN = logging.Formatter()


def secure_logging(http_level: int | str = "WARNING") -> None:
    """Quiet the HTTP stacks' request logs to `http_level` and redact credentials in every handler
    on the root logger (ours, or the Azure Functions host's) and in `logging.lastResort`, which
    prints WARNING records when a process (a CLI command) has no handler. Idempotent."""
    level = http_level.upper() if isinstance(http_level, str) else http_level
    for name in HTTP_LOGGERS:
        logging.getLogger(name).setLevel(level)
    handlers = [*logging.getLogger().handlers, *([logging.lastResort] if logging.lastResort else [])]
    for handler in handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())


_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [trace=%(trace_id)s span=%(span_id)s] %(message)s"


def configure_logging(json: bool = True, level: int | str = "INFO", *,
                      stream: TextIO | None = None, http_level: int | str = "WARNING") -> logging.Handler:
    """Install one root handler writing to stderr (or `stream`), JSON lines or text, with trace ids,
    and `secure_logging(http_level)`: HTTP request logs quiet, credentials redacted.

    Idempotent: calling again replaces the handler this function installed earlier and leaves
    handlers installed by others (pytest, Azure Functions' host) alone.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_amlguard", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler._amlguard = True  # type: ignore[attr-defined]
    handler.addFilter(TraceContextFilter())
    handler.setFormatter(JsonFormatter() if json else logging.Formatter(_TEXT_FORMAT))
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    secure_logging(http_level)
    return handler


# ----------------------------------------------------------------------------------------- setup


@dataclass(slots=True)
class TelemetryStatus:
    """What `setup_telemetry` configured (exporters by name) so callers can log it once."""

    exporters: list[str] = field(default_factory=list)  # empty: nothing is exported
    reason: str = ""


_status: TelemetryStatus | None = None


def setup_telemetry(env: Mapping[str, str]) -> TelemetryStatus:
    """Configure global OpenTelemetry providers once; later calls return the first result.

    `env` is the settings mapping (`amlguard.config.Settings.env`): APPLICATIONINSIGHTS_CONNECTION_STRING
    exports to Azure Monitor, AMLGUARD_TELEMETRY_CONSOLE=1 to the console. Python logs are exported
    too unless AMLGUARD_TELEMETRY_LOGS=0 (default off inside Azure Functions, whose host already
    sends them to Application Insights).
    """
    global _status
    with _lock:
        if _status is not None:
            return _status
        connection = env.get(CONNECTION_STRING_ENV) or None
        console = (env.get(CONSOLE_ENV) or "").lower() in _TRUE
        if not connection and not console:
            _status = TelemetryStatus(reason=f"telemetry not exported: set {CONNECTION_STRING_ENV} "
                                             f"or {CONSOLE_ENV}=1")
            return _status
        logs_setting = env.get(LOGS_ENV) or None
        # In Azure Functions the host already ships Python logs to App Insights; exporting them
        # again would duplicate every line, so there logs stay with the host unless asked for.
        export_logs = (logs_setting.lower() in _TRUE if logs_setting is not None
                       else not env.get("FUNCTIONS_WORKER_RUNTIME"))
        _status = _install(connection, console, export_logs,
                           azure_monitor_credential(env) if connection else None)
    global _instruments
    _instruments = None  # re-bind instruments to the new global providers
    _log.info("telemetry exporting to %s", ", ".join(_status.exporters) or "nothing",
              extra={"exporters": _status.exporters})
    return _status


def azure_monitor_credential(env: Mapping[str, str]) -> TokenCredential | None:
    """The Entra credential for Application Insights ingestion, or None for key-based ingestion.

    The deployment disables local (key) auth on Application Insights and sets
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING=Authorization=AAD;ClientId=<uami>; the Functions host
    reads that setting itself, but the Python exporters need the credential handed to them.
    """
    auth = env.get("APPLICATIONINSIGHTS_AUTHENTICATION_STRING") or ""
    parts = dict(part.split("=", 1) for part in auth.split(";") if "=" in part)
    if parts.get("Authorization", "").lower() != "aad":
        return None
    from azure.identity import ManagedIdentityCredential

    client_id = parts.get("ClientId") or env.get("AZURE_CLIENT_ID")
    return ManagedIdentityCredential(client_id=client_id) if client_id else ManagedIdentityCredential()


def _install(connection: str | None, console: bool, export_logs: bool = True,
             credential: TokenCredential | None = None) -> TelemetryStatus:
    # Heavy imports stay here so a cold start that never exports pays nothing for them.
    from opentelemetry._logs import set_logger_provider
    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create({"service.name": SERVICE_NAME, "service.namespace": "amlguard"})
    tracer_provider = TracerProvider(resource=resource)
    logger_provider = LoggerProvider(resource=resource)
    readers: list[MetricReader] = []
    exporters: list[str] = []
    if connection:
        from azure.monitor.opentelemetry.exporter import (
            AzureMonitorLogExporter,
            AzureMonitorMetricExporter,
            AzureMonitorTraceExporter,
        )

        options: dict[str, Any] = {"connection_string": connection}
        if credential is not None:
            options["credential"] = credential
        tracer_provider.add_span_processor(BatchSpanProcessor(AzureMonitorTraceExporter(**options)))
        readers.append(PeriodicExportingMetricReader(
            AzureMonitorMetricExporter(**options), export_interval_millis=60_000))
        if export_logs:
            logger_provider.add_log_record_processor(BatchLogRecordProcessor(AzureMonitorLogExporter(**options)))
        exporters.append("azure_monitor")
    if console:
        from opentelemetry.sdk.metrics.export import ConsoleMetricExporter
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

        # stderr keeps stdout clean for `amlguard audit --format json`
        tracer_provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(out=sys.stderr)))
        readers.append(PeriodicExportingMetricReader(
            ConsoleMetricExporter(out=sys.stderr), export_interval_millis=60_000))
        exporters.append("console")
    # every provider flushes and shuts down at process exit by itself (the SDK's shutdown_on_exit)
    meter_provider = MeterProvider(resource=resource, metric_readers=readers)
    from opentelemetry import metrics, trace

    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(meter_provider)
    if connection and export_logs:
        set_logger_provider(logger_provider)
        # Python logging -> App Insights `traces`, carrying the active span's ids.
        handler = LoggingHandler(level=logging.INFO, logger_provider=logger_provider)
        handler.addFilter(RedactingFilter())
        logging.getLogger().addHandler(handler)
    return TelemetryStatus(exporters=exporters)

