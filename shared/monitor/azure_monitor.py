"""The one module that talks to Azure Monitor: metrics (getBatch or ARM per resource) and Log Analytics,
returned in the shapes of signals.py (docs/monitoring.md); SDK imports happen on first use."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from amlguard.armid import ArmId
from amlguard.errors import ConfigError, SourceError
from amlguard.monitor.signals import MetricPoint, MetricSeries
from amlguard.timeparse import parse_time as _parse_time

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

__all__ = ["DEFAULT_LOGS_ENDPOINT", "DEFAULT_METRICS_AUDIENCE", "MAX_BATCH_RESOURCES", "MAX_METRICS_PER_CALL",
           "METRICS_TOP", "AzureMonitor", "LogsAnswer", "MetricsAnswer", "MonitorClientSettings", "parse_metric_id",
           "parse_metric_values", "parse_time", "partial_error_text"]

log = logging.getLogger(__name__)

DEFAULT_LOGS_ENDPOINT = "https://api.loganalytics.io"
DEFAULT_METRICS_AUDIENCE = "https://metrics.monitor.azure.com"
#: metrics:getBatch takes at most 50 resource ids per call (azure-facts §4.5)
MAX_BATCH_RESOURCES = 50
#: Azure Monitor metrics REST accepts at most 20 metric names per call
MAX_METRICS_PER_CALL = 20
#: `top` of a query with a dimension filter: the most series returned per resource and metric.
#: Azure's default is 10 and the answer has no next page (../shared/reference/online-endpoint-metrics.md,
#: "Metrics API paging"; REST reference of metrics:getBatch: "valid only if filter is specified"),
#: so a split by deployment x statusCodeClass lost series; 1,000 is far above what one endpoint
#: has, and an answer that reaches it is marked cut (a partial value, never a silent one).
METRICS_TOP = 1000
_METRICS_MARKER = "/providers/microsoft.insights/metrics"


@dataclass(slots=True)
class MetricsAnswer:
    """Series returned for one metrics query; errors of whole resources (lower-cased ARM id -> text:
    the call failed) and of single metrics ((lower-cased id, lower-cased metric) -> text: the
    metric's errorCode was not Success); `cut` the metrics whose series reached `top`, so that
    more may exist (same keys -> text)."""

    series: list[MetricSeries] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    metric_errors: dict[tuple[str, str], str] = field(default_factory=dict)
    cut: dict[tuple[str, str], str] = field(default_factory=dict)

    def mark_cut(self, top: int) -> MetricsAnswer:
        """Record in `cut` every (resource, metric) whose answer holds `top` series."""
        counts = Counter((s.resource_id.lower(), s.metric.lower()) for s in self.series)
        for key, count in counts.items():
            if count >= top:
                self.cut[key] = (f"Azure Monitor returned {count} series, the `top` amlguard asks for: more may "
                                 "exist and the value is computed from these only")
        return self

    def error_for(self, resource_id: str, metric: str) -> str | None:
        """Why `metric` of `resource_id` has no data, when the service said so."""
        key = resource_id.lower()
        return self.metric_errors.get((key, metric.lower())) or self.errors.get(key)


@dataclass(slots=True)
class LogsAnswer:
    """Rows of the first table of a Log Analytics answer; `partial` with the service's error text
    when the service answered with a partial result."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    partial: bool = False
    error: str | None = None


@dataclass(frozen=True, slots=True)
class MonitorClientSettings:
    """Where and how amlguard reaches Azure Monitor (app settings in each field's comment).

    `metrics_endpoint` is the regional metrics data-plane host (https://<region>.metrics.monitor.azure.com)
    or a template with `{region}`; without it every resource is read with one ARM call.
    """

    metrics_endpoint: str | None = None  # AMLGUARD_MONITOR_METRICS_ENDPOINT
    metrics_audience: str = DEFAULT_METRICS_AUDIENCE  # AMLGUARD_MONITOR_METRICS_AUDIENCE
    logs_endpoint: str = DEFAULT_LOGS_ENDPOINT  # AMLGUARD_MONITOR_LOGS_ENDPOINT
    logs_audience: str | None = None  # AMLGUARD_MONITOR_LOGS_AUDIENCE (default: the logs endpoint)
    workspace_id: str | None = None  # AMLGUARD_MONITOR_WORKSPACE_ID (Log Analytics workspace GUID)
    arm_endpoint: str = "https://management.azure.com/"  # AMLGUARD_ARM_ENDPOINT
    arm_audience: str | None = None  # AMLGUARD_ARM_AUDIENCE (default: the ARM endpoint)
    connection_verify: bool | str = True  # AMLGUARD_CA_BUNDLE
    connection_timeout: float = 10.0  # AMLGUARD_CONNECT_TIMEOUT
    read_timeout: float = 60.0  # AMLGUARD_READ_TIMEOUT
    retry_total: int = 5  # AMLGUARD_RETRY_TOTAL
    retry_backoff_factor: float = 0.8  # AMLGUARD_RETRY_BACKOFF
    retry_backoff_max: float = 60.0
    concurrency: int = 8  # AMLGUARD_MONITOR_CONCURRENCY: metrics calls in flight
    batch_size: int = MAX_BATCH_RESOURCES
    top: int = METRICS_TOP  # series per resource and metric asked for when a dimension filter is sent

    def __post_init__(self) -> None:
        for name in ("metrics_endpoint", "logs_endpoint", "arm_endpoint"):
            value = getattr(self, name)
            if value and not value.lower().startswith("https://"):
                raise ConfigError(f"{name} {value!r} must be an https:// URL (tokens are never sent over "
                                  "plain HTTP)")
        if not 1 <= self.batch_size <= MAX_BATCH_RESOURCES:
            raise ConfigError(f"batch_size must be 1..{MAX_BATCH_RESOURCES}, got {self.batch_size}")
        if self.concurrency < 1:
            raise ConfigError(f"concurrency must be at least 1, got {self.concurrency}")
        if self.top < 1:
            raise ConfigError(f"top must be at least 1, got {self.top}")

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> MonitorClientSettings:
        """Settings from app settings / environment variables (names in the field comments)."""
        from amlguard.inventory.config import options_from_env

        options = options_from_env(env)

        def get(name: str) -> str | None:
            return (env.get(name) or "").strip() or None

        concurrency = get("AMLGUARD_MONITOR_CONCURRENCY")
        try:
            workers = int(concurrency) if concurrency else 8
        except ValueError as exc:
            raise ConfigError(f"AMLGUARD_MONITOR_CONCURRENCY={concurrency!r} is not a number; e.g. 8") from exc
        return cls(
            metrics_endpoint=get("AMLGUARD_MONITOR_METRICS_ENDPOINT"),
            metrics_audience=get("AMLGUARD_MONITOR_METRICS_AUDIENCE") or DEFAULT_METRICS_AUDIENCE,
            logs_endpoint=get("AMLGUARD_MONITOR_LOGS_ENDPOINT") or DEFAULT_LOGS_ENDPOINT,
            logs_audience=get("AMLGUARD_MONITOR_LOGS_AUDIENCE"),
            workspace_id=get("AMLGUARD_MONITOR_WORKSPACE_ID"),
            arm_endpoint=options.resource_manager,
            arm_audience=get("AMLGUARD_ARM_AUDIENCE"),
            connection_verify=options.connection_verify,
            connection_timeout=options.connection_timeout,
            read_timeout=options.read_timeout,
            retry_total=options.retry_total,
            retry_backoff_factor=options.retry_backoff_factor,
            retry_backoff_max=options.retry_backoff_max,
            concurrency=workers,
        )

    def client_kwargs(self) -> dict[str, Any]:
        """azure-core transport and retry settings shared by the three clients."""
        return {"connection_verify": self.connection_verify, "connection_timeout": self.connection_timeout,
                "read_timeout": self.read_timeout, "retry_total": self.retry_total,
                "retry_backoff_factor": self.retry_backoff_factor, "retry_backoff_max": self.retry_backoff_max}

    def metrics_endpoint_for(self, region: str | None) -> str | None:
        """The metrics data-plane host for `region`; None when batch queries cannot be used."""
        if not self.metrics_endpoint:
            return None
        if "{region}" in self.metrics_endpoint:
            if not region:
                return None
            return self.metrics_endpoint.replace("{region}", region.replace(" ", "").lower())
        return self.metrics_endpoint


def parse_metric_id(metric_id: str | None) -> str | None:
    """The resource id a metric belongs to: its id up to `/providers/Microsoft.Insights/metrics`."""
    if not metric_id:
        return None
    index = metric_id.lower().find(_METRICS_MARKER)
    return metric_id[:index] if index > 0 else None


def parse_time(text: Any) -> datetime | None:
    """An ISO 8601 time of the REST answers as an aware datetime (naive means UTC); None when empty."""
    return _parse_time(text) if isinstance(text, str) and text else None


def parse_metric_values(resource_id: str,
                        metrics: Sequence[Mapping[str, Any]]) -> tuple[list[MetricSeries], dict[str, str]]:
    """Metric objects of the REST answer (`value` of ARM metrics or of one getBatch entry) as series,
    and the metrics whose `errorCode` is not Success (metric name -> text)."""
    out: list[MetricSeries] = []
    errors: dict[str, str] = {}
    for metric in metrics:
        name = (metric.get("name") or {}).get("value") or ""
        code = metric.get("errorCode")
        if code and str(code).lower() != "success":
            errors[str(name)] = f"{name}: {code} {metric.get('errorMessage') or ''}".strip()
            continue
        owner = parse_metric_id(metric.get("id")) or resource_id
        for ts in metric.get("timeseries") or []:
            dims = {str((m.get("name") or {}).get("value", "")).lower(): str(m.get("value"))
                    for m in ts.get("metadatavalues") or []}
            points = [MetricPoint(parse_time(p.get("timeStamp")), p.get("average"), p.get("minimum"), p.get("maximum"),
                                  p.get("total"), p.get("count")) for p in ts.get("data") or []]
            out.append(MetricSeries(owner, str(name), dims, points))
    return out, errors


def _subscription(resource_id: str) -> str:
    return str(ArmId.require(resource_id, what="monitored resource").subscription)


def _error_text(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    status = getattr(getattr(exc, "response", None), "status_code", None)
    first = str(message).strip().splitlines()[0] if str(message).strip() else type(exc).__name__
    return f"HTTP {status}: {first}" if status else first


class AzureMonitor:
    """Azure Monitor metrics and logs for many resources, counting the calls it makes.

    `query_metrics` sends one `metrics:getBatch` call per 50 resources of a subscription and
    region (MetricsClient) when a metrics endpoint is configured, and one ARM call per resource
    otherwise (MonitorManagementClient); `query_logs` runs KQL on the Log Analytics workspace.
    A failed call is data: its resources get an error text, never an exception.
    """

    def __init__(self, credential: TokenCredential, settings: MonitorClientSettings | None = None) -> None:
        self.credential = credential
        self.settings = settings or MonitorClientSettings()
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._metrics_clients: dict[str, Any] = {}
        self._arm_clients: dict[str, Any] = {}
        self._logs_client: Any = None

    @classmethod
    def from_env(cls, env: Mapping[str, str], credential: TokenCredential | None = None) -> AzureMonitor:
        """Built from app settings with DefaultAzureCredential (or the credential given)."""
        from amlguard.inventory.config import credential_from_env

        return cls(credential or credential_from_env(env), MonitorClientSettings.from_env(env))

    # -- clients ---------------------------------------------------------------------------
    def _metrics_client(self, endpoint: str) -> Any:
        with self._lock:
            client = self._metrics_clients.get(endpoint)
            if client is None:
                from azure.monitor.querymetrics import MetricsClient

                client = MetricsClient(endpoint, self.credential, audience=self.settings.metrics_audience,
                                       **self.settings.client_kwargs())
                self._metrics_clients[endpoint] = client
            return client

    def _arm_client(self, subscription: str) -> Any:
        with self._lock:
            client = self._arm_clients.get(subscription)
            if client is None:
                from azure.mgmt.monitor import MonitorManagementClient

                audience = (self.settings.arm_audience or self.settings.arm_endpoint).rstrip("/")
                client = MonitorManagementClient(self.credential, subscription, base_url=self.settings.arm_endpoint,
                                                 credential_scopes=[f"{audience}/.default"],
                                                 **self.settings.client_kwargs())
                self._arm_clients[subscription] = client
            return client

    def _logs(self) -> Any:
        with self._lock:
            if self._logs_client is None:
                from azure.monitor.query import LogsQueryClient

                kwargs = self.settings.client_kwargs()
                if self.settings.logs_audience:
                    kwargs["audience"] = self.settings.logs_audience
                self._logs_client = LogsQueryClient(self.credential, endpoint=self.settings.logs_endpoint,
                                                    **kwargs)
            return self._logs_client

    def close(self) -> None:
        """Close every client made so far."""
        with self._lock:
            clients = [*self._metrics_clients.values(), *self._arm_clients.values()]
            if self._logs_client is not None:
                clients.append(self._logs_client)
            self._metrics_clients.clear()
            self._arm_clients.clear()
            self._logs_client = None
        for client in clients:
            try:
                client.close()
            except Exception:  # closing is best effort
                log.debug("closing %r failed", client, exc_info=True)

    def __enter__(self) -> AzureMonitor:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- metrics ---------------------------------------------------------------------------
    def query_metrics(self, *, resource_ids: Sequence[str], namespace: str, metric_names: Sequence[str],
                      aggregations: Sequence[str], start: datetime, end: datetime, granularity: timedelta,
                      filter: str | None = None,
                      locations: Mapping[str, str] | None = None) -> MetricsAnswer:
        """Metric series for every resource in `resource_ids` (same namespace), in as few calls as allowed.

        Resources are grouped by subscription and region (`locations`: lower-cased id -> region);
        a group goes through metrics:getBatch in chunks of 50 when the region has a metrics
        endpoint and more than one resource, else through one ARM metrics call per resource.
        """
        answer = MetricsAnswer()
        if not resource_ids or not metric_names:
            return answer
        groups: dict[tuple[str, str | None], list[str]] = {}
        for rid in dict.fromkeys(resource_ids):
            try:
                sub = _subscription(rid)
            except ConfigError as exc:
                answer.errors[rid.lower()] = str(exc)
                continue
            region = (locations or {}).get(rid.lower())
            groups.setdefault((sub, self.settings.metrics_endpoint_for(region)), []).append(rid)
        tasks: list[tuple[str, str | None, list[str]]] = []
        for (sub, endpoint), ids in groups.items():
            if endpoint is not None and len(ids) > 1:
                size = self.settings.batch_size
                tasks += [("batch", endpoint, ids[i:i + size]) for i in range(0, len(ids), size)]
            else:
                tasks += [("arm", sub, [rid]) for rid in ids]
        names = list(dict.fromkeys(metric_names))
        name_chunks = [names[i:i + MAX_METRICS_PER_CALL] for i in range(0, len(names), MAX_METRICS_PER_CALL)]
        work = [(kind, where, ids, chunk) for kind, where, ids in tasks for chunk in name_chunks]
        aggs = list(aggregations)

        def run(item: tuple[str, str | None, list[str], list[str]]) -> MetricsAnswer:
            kind, where, ids, chunk = item
            try:
                if kind == "batch":
                    assert where is not None
                    return self._batch(where, ids, chunk, namespace=namespace, aggregations=aggs, start=start,
                                       end=end, granularity=granularity, filter=filter)
                return self._arm(ids[0], chunk, namespace=namespace, aggregations=aggs, start=start, end=end,
                                 granularity=granularity, filter=filter)
            except Exception as exc:  # a failed call is data for its resources
                text = _error_text(exc)
                log.warning("metrics query for %d resource(s) failed: %s", len(ids), text)
                return MetricsAnswer(errors={rid.lower(): text for rid in ids})

        workers = min(self.settings.concurrency, len(work))
        if workers <= 1:
            results = [run(item) for item in work]
        else:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="amlguard-metrics") as pool:
                results = list(pool.map(run, work))
        for result in results:
            answer.series.extend(result.series)
            for rid, text in result.errors.items():
                answer.errors.setdefault(rid, text)
            answer.metric_errors.update(result.metric_errors)
        return answer.mark_cut(self.settings.top) if filter else answer

    def _batch(self, endpoint: str, ids: list[str], names: list[str], *, namespace: str,
               aggregations: list[str], start: datetime, end: datetime, granularity: timedelta,
               filter: str | None) -> MetricsAnswer:
        """One metrics:getBatch call, sent through MetricsClient's pipeline (credential, retry policy)
        with `send_request` and read straight from the JSON: the SDK's model layer costs ~0.2 ms per
        data point, which for 1,000 deployments is seconds of CPU per run (bench/bench_monitor.py)."""
        import isodate
        from azure.core.exceptions import HttpResponseError
        from azure.core.rest import HttpRequest

        client = self._metrics_client(endpoint)
        with self._lock:
            self.calls["metrics_batch"] += 1
        params = {"api-version": "2024-02-01", "starttime": _iso(start), "endtime": _iso(end),
                  "interval": isodate.duration_isoformat(granularity), "metricnamespace": namespace,
                  "metricnames": ",".join(n.replace(",", "%2") for n in names),
                  "aggregation": ",".join(a.capitalize() for a in aggregations)}
        if filter:
            params.update(filter=filter, top=str(self.settings.top))  # `top` applies to filtered queries only
        request = HttpRequest("POST", f"/subscriptions/{_subscription(ids[0])}/metrics:getBatch", params=params,
                              json={"resourceids": ids})
        response = client.send_request(request)
        if response.status_code != 200:
            raise HttpResponseError(response=response)
        body = response.json()
        if not isinstance(body, dict) or not isinstance(body.get("values"), list):
            raise ValueError("metrics:getBatch answered without a `values` list")
        answer = MetricsAnswer()
        by_lower = {rid.lower(): rid for rid in ids}
        for value in body["values"]:
            rid = by_lower.get(str(value.get("resourceid") or "").lower())
            if rid is None:  # correlate through the metric ids, as the SDK must
                owners = [parse_metric_id(m.get("id")) for m in value.get("value") or []]
                rid = next((by_lower[o.lower()] for o in owners if o and o.lower() in by_lower), None)
            if rid is None:
                continue
            series, errors = parse_metric_values(rid, value.get("value") or [])
            for one in series:
                one.resource_id = rid
            answer.series.extend(series)
            for metric, text in errors.items():
                answer.metric_errors[(rid.lower(), metric.lower())] = text
        return answer

    def _arm(self, rid: str, names: list[str], *, namespace: str, aggregations: list[str], start: datetime,
             end: datetime, granularity: timedelta, filter: str | None) -> MetricsAnswer:
        import isodate

        client = self._arm_client(_subscription(rid))
        with self._lock:
            self.calls["metrics_arm"] += 1
        response = client.metrics.list(
            rid, timespan=f"{_iso(start)}/{_iso(end)}", interval=isodate.duration_isoformat(granularity),
            metricnames=",".join(names), aggregation=",".join(a.capitalize() for a in aggregations),
            filter=filter, top=self.settings.top if filter else None, metricnamespace=namespace)
        answer = MetricsAnswer()
        for metric in response.value or []:
            name = metric.name.value if metric.name is not None else None
            code = getattr(metric, "error_code", None)
            if code and str(code).lower() != "success":
                text = f"{name}: {code} {getattr(metric, 'error_message', '') or ''}".strip()
                answer.metric_errors[(rid.lower(), str(name).lower())] = text
                continue
            for ts in metric.timeseries or []:
                dims = {str(m.name.value).lower(): str(m.value) for m in ts.metadatavalues or [] if m.name}
                answer.series.append(MetricSeries(
                    resource_id=rid, metric=str(name), dimensions=dims,
                    points=[MetricPoint(p.time_stamp, p.average, p.minimum, p.maximum, p.total, p.count)
                            for p in ts.data or []]))
        return answer

    # -- logs ------------------------------------------------------------------------------
    def query_logs(self, query: str, *, start: datetime, end: datetime,
                   workspace_id: str | None = None) -> LogsAnswer:
        """Rows of `query` over [start, end) on the Log Analytics workspace.

        A partial result is kept (`partial` and the error text); a failed query raises
        SourceError naming the workspace and whether a retry may help.
        """
        from azure.core.exceptions import AzureError, HttpResponseError
        from azure.monitor.query import LogsQueryPartialResult

        workspace = workspace_id or self.settings.workspace_id
        if not workspace:
            raise SourceError("no Log Analytics workspace to query: set AMLGUARD_MONITOR_WORKSPACE_ID to the "
                              "workspace id (GUID) that receives the endpoints' diagnostic logs",
                              source="log-analytics")
        with self._lock:
            self.calls["logs"] += 1
        try:
            result = self._logs().query_workspace(workspace, query, timespan=(start, end))
        except HttpResponseError as exc:
            status = getattr(exc, "status_code", None)
            raise SourceError(f"Log Analytics query on workspace {workspace} failed: {_error_text(exc)}",
                              source="log-analytics", resource=workspace,
                              retryable=status is None or status == 429 or status >= 500) from exc
        except (AzureError, ValueError) as exc:  # timeouts, connection errors, malformed answers
            raise SourceError(f"Log Analytics query on workspace {workspace} failed: {_error_text(exc)}",
                              source="log-analytics", resource=workspace, retryable=True) from exc
        if isinstance(result, LogsQueryPartialResult):
            error = result.partial_error
            text = partial_error_text(getattr(error, "code", None), getattr(error, "message", None),
                                      getattr(error, "details", None))
            return _rows(result.partial_data, partial=True, error=text)
        return _rows(result.tables)


def partial_error_text(code: Any, message: Any, details: Any = None) -> str:
    """`Code: message: first detail` of a Log Analytics partial error (the detail usually says what
    was cut: a row limit, a shard, a timeout)."""
    text = f"{code or 'PartialError'}: {str(message or 'partial result').rstrip('.')}"
    first = details[0] if isinstance(details, list) and details else None
    detail = first.get("message") if isinstance(first, dict) else getattr(first, "message", None)
    if detail and str(detail) not in text:
        text += f": {detail}"
    return text


def _rows(tables: Sequence[Any] | None, *, partial: bool = False, error: str | None = None) -> LogsAnswer:
    answer = LogsAnswer(partial=partial, error=error)
    if not tables:
        return answer
    table = tables[0]
    columns = [c if isinstance(c, str) else getattr(c, "name", str(c)) for c in table.columns]
    answer.columns = columns
    answer.rows = [dict(zip(columns, list(row), strict=False)) for row in table.rows]
    return answer


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value.tzinfo is None or value.utcoffset() == timedelta(0) \
        else value.isoformat()
