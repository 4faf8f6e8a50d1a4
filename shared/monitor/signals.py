"""Monitor signals: the registry of what a rule can watch, the neutral shapes queries return, and
the pure functions that reduce a window of data to one observed value and judge it.

Nothing here talks to Azure (shared/monitor/azure_monitor.py does) and nothing imports numpy:
a signal names its Azure Monitor metric (namespace, metric, dimension filter, aggregation) or
its Log Analytics column, and the runner plans one query for many resources from it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from amlguard.monitor.drift.thresholds import SIGNAL_KINDS
from amlguard.registry import Registry

__all__ = ["AGGREGATIONS", "DEPLOYMENT_NAMESPACE", "ENDPOINT_NAMESPACE", "METRIC_AGGREGATIONS", "SIGNALS",
           "MetricPoint", "MetricSeries", "Observation", "SignalSpec", "combine", "deployment_id", "error_rate",
           "format_value", "query_aggregation", "reduce_points", "register_signal"]

ENDPOINT_NAMESPACE = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints"
DEPLOYMENT_NAMESPACE = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments"
#: How a window of per-grain values becomes one value (Azure Monitor's time aggregations).
AGGREGATIONS = ("average", "minimum", "maximum", "total", "count")

_AVG = ("average",)
_MMA = ("average", "minimum", "maximum")
#: The aggregations Azure Monitor offers for each platform metric of the two namespaces (`endpoint`,
#: `deployment`), as published in the supported-metrics lists (../shared/reference/
#: online-endpoint-metrics.md; tests/monitor/test_signals.py compares the two). No metric offers
#: Total or Count: a total of a per-minute rate is computed from its per-grain Average.
METRIC_AGGREGATIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "endpoint": {
        "ConnectionsActive": _AVG, "DataCollectionErrorsPerMinute": _MMA, "DataCollectionEventsPerMinute": _MMA,
        "NetworkBytes": _AVG, "NewConnectionsPerSecond": _AVG, "RequestLatency": _AVG,
        **{f"RequestLatency_P{p}": _AVG for p in (50, 90, 95, 99)}, "RequestsPerMinute": _AVG,
    },
    "deployment": {
        **{m: _MMA for m in ("CpuMemoryUtilizationPercentage", "CpuUtilizationPercentage",
                             "DataCollectionErrorsPerMinute", "DataCollectionEventsPerMinute", "DeploymentCapacity",
                             "DiskUtilization", "GpuEnergyJoules", "GpuMemoryUtilizationPercentage",
                             "GpuUtilizationPercentage")},
        **{f"RequestLatency_P{p}": _AVG for p in (50, 90, 95, 99)}, "RequestsPerMinute": _AVG,
    },
}


@dataclass(frozen=True, slots=True)
class MetricPoint:
    """One time grain of one metric time series; aggregations the service did not send are None."""

    timestamp: datetime | None
    average: float | None = None
    minimum: float | None = None
    maximum: float | None = None
    total: float | None = None
    count: float | None = None

    def get(self, aggregation: str) -> float | None:
        value = getattr(self, aggregation)
        return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


@dataclass(slots=True)
class MetricSeries:
    """One time series of one metric of one queried resource (ARM id as queried, lower-cased
    dimension names)."""

    resource_id: str
    metric: str
    dimensions: dict[str, str] = field(default_factory=dict)
    points: list[MetricPoint] = field(default_factory=list)
    error: str | None = None  # the metric's own errorCode / message when not Success


@dataclass(slots=True)
class Observation:
    """What one rule observed on one resource in one window.

    `value` None with no `error` means no data. `partial` marks a value computed from a Log
    Analytics partial result (`error` then holds the service's message); `detail` is extra text
    for the finding (drifted features).
    """

    value: float | None
    unit: str = ""
    samples: int = 0
    partial: bool = False
    error: str | None = None
    detail: str = ""
    threshold: float | None = None  # when the threshold is resolved per resource
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def no_data(self) -> bool:
        return self.value is None and self.error is None


@dataclass(frozen=True, slots=True)
class SignalSpec:
    """A signal a monitor rule may name.

    Metric signals: `namespace` is `endpoint` or `deployment`; for a deployment target on an
    endpoint metric the series are split by the `deployment` dimension. `split_by` adds more
    dimensions to split (statusCodeClass for error rates); `combine` turns the series of one
    resource into a value (`value`: reduce the single series; `error_rate`: 5xx share of
    requests). Log signals name the column of the traffic summary query. `drift` signals compare
    model inputs with a baseline.
    """

    name: str
    source: str  # metrics | logs | drift
    description: str
    unit: str = ""
    metric: str | None = None
    namespace: str = "endpoint"  # endpoint | deployment (metrics only)
    aggregation: str = "average"
    split_by: tuple[str, ...] = ()
    combine: str = "value"  # value | error_rate
    log_column: str | None = None
    kinds: tuple[str, ...] = ("online_deployment",)


SIGNALS: Registry[SignalSpec] = Registry("monitor signal")


def register_signal(spec: SignalSpec) -> SignalSpec:
    """Make `signal: <name>` known to monitor rules (and to their JSON Schema); a taken name is a ValueError."""
    SIGNALS.add(spec.name, spec)
    return spec


_BOTH = ("online_deployment", "online_endpoint")
for _p in (50, 90, 95, 99):
    register_signal(SignalSpec(
        f"latency_p{_p}", "metrics", f"RequestLatency_P{_p}: {_p}th percentile request latency (ms) of the "
        "endpoint, split by deployment", unit="ms", metric=f"RequestLatency_P{_p}", kinds=_BOTH))
register_signal(SignalSpec(
    "requests_per_minute", "metrics", "RequestsPerMinute: requests served per minute", unit="req/min",
    metric="RequestsPerMinute", kinds=_BOTH))
register_signal(SignalSpec(
    "error_rate_5xx", "metrics", "share of requests answered with a 5xx status (RequestsPerMinute split by "
    "statusCodeClass: the sums of its per-minute averages), 0..1", unit="ratio", metric="RequestsPerMinute",
    aggregation="total",
    split_by=("statusCodeClass",), combine="error_rate", kinds=_BOTH))
register_signal(SignalSpec(
    "data_collection_errors", "metrics", "DataCollectionErrorsPerMinute: model data collector errors (a total is "
    "the sum of average x minutes of each grain)",
    unit="errors", metric="DataCollectionErrorsPerMinute", aggregation="total", kinds=_BOTH))
for _name, _metric, _what in (
        ("cpu_utilization", "CpuUtilizationPercentage", "CPU utilisation (%) of the deployment's instances"),
        ("memory_utilization", "CpuMemoryUtilizationPercentage", "memory utilisation (%) of the instances"),
        ("gpu_utilization", "GpuUtilizationPercentage", "GPU utilisation (%) of the instances"),
        ("gpu_memory_utilization", "GpuMemoryUtilizationPercentage", "GPU memory utilisation (%)"),
        ("disk_utilization", "DiskUtilization", "disk utilisation (%) of the instances")):
    register_signal(SignalSpec(_name, "metrics", f"{_metric}: {_what}", unit="%", metric=_metric,
                               namespace="deployment"))
register_signal(SignalSpec(
    "deployment_capacity", "metrics", "DeploymentCapacity: the deployment's instance capacity as Azure Monitor "
    "reports it; rules compare its lowest value in the window with instance_count", unit="instances",
    metric="DeploymentCapacity", namespace="deployment", aggregation="minimum"))
# Traffic-log signals (AmlOnlineEndpointTrafficLog through Log Analytics): client-observed time.
for _p in (50, 90, 95, 99):
    register_signal(SignalSpec(
        f"log_latency_p{_p}", "logs", f"{_p}th percentile of TotalDurationMs in AmlOnlineEndpointTrafficLog",
        unit="ms", log_column=f"p{_p}_ms"))
register_signal(SignalSpec(
    "log_error_rate_5xx", "logs", "share of ResponseCode >= 500 in AmlOnlineEndpointTrafficLog, 0..1",
    unit="ratio", log_column="error_rate_5xx"))
register_signal(SignalSpec(
    "log_requests", "logs", "requests in AmlOnlineEndpointTrafficLog over the window", unit="requests",
    log_column="requests"))
register_signal(SignalSpec(
    "data_drift", "drift", "features of the model inputs that drifted from the baseline (Azure ML metrics "
    "and default thresholds, amlguard.monitor.drift)", unit="features"))
# The other collector signals of Azure ML model monitoring, read like data_drift from a `drift:` block.
for _kind in ("prediction_drift", "data_quality", "model_performance"):
    register_signal(SignalSpec(_kind, "drift", SIGNAL_KINDS[_kind].description,
                               unit="metrics" if _kind == "model_performance" else "features"))


def deployment_id(endpoint_id: str, deployment: str) -> str:
    """ARM id of a deployment of the endpoint `endpoint_id`."""
    return f"{endpoint_id.rstrip('/')}/deployments/{deployment}"


def reduce_points(points: Iterable[MetricPoint], aggregation: str) -> tuple[float | None, int]:
    """One value for a window of points, and how many grains had data.

    average: mean of the per-grain averages; minimum / maximum: of the per-grain minimums /
    maximums; total and count: sums. Grains without the aggregation are skipped (Azure omits
    the keys when a grain has no data).
    """
    values = [v for v in (p.get(aggregation) for p in points) if v is not None]
    if not values:
        return None, 0
    if aggregation == "average":
        return sum(values) / len(values), len(values)
    if aggregation == "minimum":
        return min(values), len(values)
    if aggregation == "maximum":
        return max(values), len(values)
    return float(sum(values)), len(values)


def query_aggregation(spec: SignalSpec, aggregation: str) -> str:
    """The aggregation to ask Azure Monitor for so that a window reduces with `aggregation`.

    The same one when the metric offers it; Average for the `total` of a per-minute rate (the
    window's total is then the sum of average x grain minutes). ValueError says which
    aggregations the metric offers when none serves.
    """
    offered = METRIC_AGGREGATIONS.get(spec.namespace, {}).get(str(spec.metric), ())
    if aggregation in offered:
        return aggregation
    if aggregation == "total" and "average" in offered and str(spec.metric).endswith("PerMinute"):
        return "average"
    totals = ", or total (average x minutes of each grain)" if str(spec.metric).endswith("PerMinute") else ""
    raise ValueError(f"Azure Monitor offers {spec.metric!s} only as {', '.join(offered) or 'nothing'}; use "
                     f"aggregation {' / '.join(offered)}{totals}")


def _window_value(points: Sequence[MetricPoint], spec: SignalSpec, aggregation: str,
                 grain_seconds: float) -> tuple[float | None, int]:
    """One value for a window of one series, from the aggregation `query_aggregation` asked for."""
    if query_aggregation(spec, aggregation) == aggregation:
        return reduce_points(points, aggregation)
    mean, grains = reduce_points(points, "average")  # total of a per-minute rate: sum of rate x minutes
    return (None if mean is None else mean * grains * grain_seconds / 60.0), grains


def _is_5xx(value: str | None) -> bool:
    # statusCodeClass values are not documented; accept "5xx", "5XX" and "5"
    return bool(value) and str(value).strip().lower().startswith("5")


def error_rate(series: Sequence[MetricSeries], dimension: str = "statuscodeclass") -> tuple[float | None, int]:
    """5xx share of requests across series split by status code class.

    RequestsPerMinute is offered only as Average: each grain's average x its minutes is the
    requests of that grain, and with one grain size for every series the minutes cancel, so the
    share is the sum of the 5xx series' averages over the sum of all averages.
    """
    errors = total = 0.0
    grains = 0
    for s in series:
        values = [v for v in (p.get("average") for p in s.points) if v is not None]
        if not values:
            continue
        value = sum(values)
        grains = max(grains, len(values))
        total += value
        if _is_5xx(s.dimensions.get(dimension)):
            errors += value
    if total <= 0:
        return None, 0
    return errors / total, grains


def combine(spec: SignalSpec, series: Sequence[MetricSeries], aggregation: str,
            grain_seconds: float = 60.0) -> tuple[float | None, int]:
    """The value of one resource from its series of one signal."""
    if spec.combine == "error_rate":
        return error_rate(series)
    if not series:
        return None, 0
    # several series for one resource (e.g. an unexpected extra dimension): pool their points
    points = series[0].points if len(series) == 1 else [p for s in series for p in s.points]
    return _window_value(points, spec, aggregation, grain_seconds)


def format_value(value: float | None, unit: str) -> str:
    """A value for messages: `412 ms`, `3.2%` for ratios, `87.5%`."""
    if value is None:
        return "no data"
    if unit == "ratio":
        return f"{value * 100:.2f}%"
    text = f"{value:.0f}" if abs(value) >= 100 or float(value).is_integer() else f"{value:.3g}"
    if unit == "%":
        return f"{text}%"
    return f"{text} {unit}".rstrip()
