"""Evaluate monitor rules once: as few Azure Monitor queries as possible (docs/monitoring.md, "How
queries are made"), one value per window, judged into Findings; a failed query is an `error` finding."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from amlguard.errors import AmlguardError, SourceError
from amlguard.extras import missing_extra_message
from amlguard.model import Finding, Resource, Status
from amlguard.monitor.azure_monitor import LogsAnswer, MetricsAnswer
from amlguard.monitor.drift.thresholds import SIGNAL_KINDS
from amlguard.monitor.rules import MonitorRule, expand_template
from amlguard.monitor.signals import (
    DEPLOYMENT_NAMESPACE,
    ENDPOINT_NAMESPACE,
    MetricSeries,
    Observation,
    combine,
    deployment_id,
    format_value,
    query_aggregation,
)
from amlguard.timeparse import format_duration, seconds_or_none

__all__ = ["MonitorResult", "MonitorSource", "evaluate_rules", "judge", "traffic_query"]

log = logging.getLogger(__name__)


class MonitorSource(Protocol):
    """Where signals come from: Azure Monitor (AzureMonitor) or bundled example files."""

    def query_metrics(self, *, resource_ids: Sequence[str], namespace: str, metric_names: Sequence[str],
                      aggregations: Sequence[str], start: datetime, end: datetime, granularity: timedelta,
                      filter: str | None = None,
                      locations: Mapping[str, str] | None = None) -> MetricsAnswer: ...

    def query_logs(self, query: str, *, start: datetime, end: datetime,
                   workspace_id: str | None = None) -> LogsAnswer: ...


@dataclass(slots=True)
class Evaluated:
    """One (rule, resource) outcome: the observation and the finding (None: keep state)."""

    rule: MonitorRule
    resource: Resource
    observation: Observation
    finding: Finding | None

    def to_json(self) -> dict[str, Any]:
        obs = self.observation
        out: dict[str, Any] = {
            "rule": self.rule.id, "resource": self.resource.id, "signal": self.rule.signal.name,
            "value": obs.value, "unit": obs.unit or self.rule.signal.unit,
            "threshold": obs.threshold, "window": format_duration(self.rule.window),
            "aggregation": self.rule.aggregation if self.rule.signal.source == "metrics" else None,
            "samples": obs.samples, "status": self.finding.status if self.finding else "kept",
        }
        if obs.partial:
            out["partial"] = True
        if obs.error:
            out["error"] = obs.error
        if obs.data:
            out.update(obs.data)
        return out


@dataclass(slots=True)
class MonitorResult:
    """Everything one evaluation produced."""

    evaluated: list[Evaluated] = field(default_factory=list)
    resources: list[Resource] = field(default_factory=list)
    never_heard: int = 0  # `no_data` warnings raised (amlguard.monitor.runner.never_heard)

    @property
    def findings(self) -> list[Finding]:
        return [e.finding for e in self.evaluated if e.finding is not None]

    def summary(self) -> dict[str, int]:
        counts = {"resources": len({e.resource.id for e in self.evaluated}), "evaluated": len(self.evaluated),
                  "passed": 0, "failed": 0, "errors": 0, "not_applicable": 0, "kept": 0, "partial": 0}
        key = {"pass": "passed", "fail": "failed", "error": "errors", "not_applicable": "not_applicable"}
        for e in self.evaluated:
            counts[key[e.finding.status] if e.finding else "kept"] += 1
            counts["partial"] += int(e.observation.partial)
        counts["never_heard"] = self.never_heard
        return counts



# ------------------------------------------------------------------------------------------ judging
def judge(rule: MonitorRule, resource: Resource, obs: Observation) -> Finding | None:
    """The finding for one observation, or None when no data means "keep the alert as it is"."""
    window = format_duration(rule.window)
    signal = rule.signal.name
    unit = obs.unit or rule.signal.unit
    partial = f" (partial results: {obs.error})" if obs.partial else ""

    def finding(status: Status, message: str) -> Finding:
        return Finding(rule=rule.id, resource=resource.id, status=status.value, severity=rule.severity,
                       message=message, source=resource.source, line=resource.line, title=rule.title,
                       kind=resource.kind, resource_name=resource.name,
                       remediation=rule.remediation, effect="alert", workspace=resource.workspace,
                       tags=dict(resource.tags))

    if obs.value is None and obs.error is not None and not obs.partial:
        return finding(Status.ERROR, f"could not read {signal} for {resource.name} over the last {window}: "
                                     f"{obs.error}")
    if obs.value is None:
        what = f"no data for {signal} on {resource.name} over the last {window}{partial}"
        if obs.partial:
            # a partial answer without this resource says nothing about it: whatever no_data says,
            # its alert stays as it is (`ignore` would resolve it, `alert` raise one, on a guess)
            return None
        if rule.no_data == "alert":
            return finding(Status.FAIL, f"{what}; the rule treats missing data as a breach (no_data: alert)")
        if rule.no_data == "ignore":
            return finding(Status.NOT_APPLICABLE, f"{what}; ignored (no_data: ignore)")
        return None
    threshold = obs.threshold if obs.threshold is not None else rule.threshold_for(resource)
    obs.threshold = threshold
    if threshold is None:
        return finding(Status.ERROR, f"{signal} is {format_value(obs.value, unit)} but the threshold "
                                     f"{rule.describe_threshold()} has no value on {resource.name}; set the "
                                     "field or give `threshold: {field: ..., default: N}`")
    if rule.signal.source == "drift":
        return _judge_drift(rule, obs, finding, window, threshold, partial)
    how = _how(rule, obs)
    value_text = format_value(obs.value, unit)
    limit_text = format_value(threshold, unit)
    detail = f"; {obs.detail}" if obs.detail else ""
    if rule.breached(obs.value, threshold):
        sign = ">" if rule.direction == "above" else "<"
        return finding(Status.FAIL, f"{signal} {value_text} {sign} {limit_text} over the last {window}"
                                    f"{how}{detail}{partial}")
    sign = "<=" if rule.direction == "above" else ">="
    return finding(Status.PASS, f"{signal} {value_text} {sign} {limit_text} over the last {window}{how}"
                                f"{detail}{partial}")


def _judge_drift(rule: MonitorRule, obs: Observation, finding: Callable[[Status, str], Finding], window: str,
                 threshold: float, partial: str) -> Finding:
    assert obs.value is not None
    count = int(obs.value)
    if rule.breached(obs.value, threshold):
        noun = obs.unit[:-1] if count == 1 else obs.unit
        return finding(Status.FAIL, f"{count} {noun} {obs.data.get('verb', 'drifted')} over the last {window}: "
                                    f"{obs.detail}{partial}")
    what = "no drift beyond the thresholds" if rule.signal.name == "data_drift" else \
        f"no {rule.signal.name} threshold breached"
    return finding(Status.PASS, f"{what} over the last {window} ({obs.detail}){partial}")


def _how(rule: MonitorRule, obs: Observation) -> str:
    if rule.signal.source == "metrics":
        grain = format_duration(rule.granularity)
        asked = query_aggregation(rule.signal, rule.aggregation)
        via = "" if asked == rule.aggregation else f" from Azure's {asked}"
        return f" ({rule.aggregation} of {obs.samples} {grain} grain{'s' if obs.samples != 1 else ''}{via})"
    if rule.signal.source == "logs":
        return f" ({obs.samples} request{'s' if obs.samples != 1 else ''} in the traffic log)"
    return ""


# ------------------------------------------------------------------------------------------ planning
@dataclass(slots=True)
class _Target:
    rule: MonitorRule
    resource: Resource
    query_id: str  # resource queried (the endpoint for endpoint metrics)
    deployment: str | None  # deployment dimension value to pick, when split


def _endpoint_of(resource: Resource) -> str:
    if resource.kind == "online_deployment":
        head, sep, _ = resource.id.rpartition("/deployments/")
        return head if sep else resource.id
    return resource.id


def _metric_targets(rule: MonitorRule, resource: Resource) -> tuple[str, str, tuple[str, ...], _Target]:
    signal = rule.signal
    dims: tuple[str, ...] = ()
    if signal.namespace == "deployment":
        namespace, query_id, pick = DEPLOYMENT_NAMESPACE, resource.id, None
    else:
        namespace = ENDPOINT_NAMESPACE
        query_id = _endpoint_of(resource)
        pick = resource.name if resource.kind == "online_deployment" else None
        if pick is not None:
            dims = ("deployment",)
    dims = dims + signal.split_by
    return namespace, query_id, dims, _Target(rule, resource, query_id, pick)


def _location(resource: Resource, by_id: Mapping[str, Resource]) -> str | None:
    loc = resource.fields.get("location")
    if isinstance(loc, str) and loc:
        return loc
    parent = by_id.get(_endpoint_of(resource).lower())
    loc = parent.fields.get("location") if parent is not None else None
    return loc if isinstance(loc, str) and loc else None


def _select(rules: Iterable[MonitorRule], resources: Sequence[Resource]) -> list[tuple[MonitorRule, Resource]]:
    out = []
    for rule in rules:
        for resource in resources:
            try:
                if rule.selects(resource):
                    out.append((rule, resource))
            except Exception as exc:  # a selector must never stop the run
                log.warning("selector of %s failed on %s: %s", rule.id, resource.id, exc)
    return out


def evaluate_rules(rules: Sequence[MonitorRule], resources: Sequence[Resource], source: MonitorSource, *,
                   now: datetime, env: Mapping[str, str] | None = None) -> MonitorResult:
    """Evaluate `rules` on the `resources` they select, with signals from `source`, at `now`."""
    pairs = _select(rules, resources)
    result = MonitorResult(resources=list(resources))
    observations: dict[tuple[str, str], Observation] = {}
    by_id = {r.id.lower(): r for r in resources}
    _metrics(pairs, source, now, observations, by_id)
    _logs(pairs, source, now, observations)
    _drift(pairs, source, now, observations, env)
    for rule, resource in pairs:
        obs = observations.get((rule.id, resource.id)) or Observation(None, error="not evaluated")
        try:
            found = judge(rule, resource, obs)
        except Exception as exc:  # judging bad data must not stop the run
            found = judge(rule, resource, Observation(None, error=f"evaluation failed: {exc}"))
        result.evaluated.append(Evaluated(rule, resource, obs, found))
    return result


def _metrics(pairs: Sequence[tuple[MonitorRule, Resource]], source: MonitorSource, now: datetime,
             observations: dict[tuple[str, str], Observation], by_id: Mapping[str, Resource]) -> None:
    groups: dict[tuple[str, tuple[str, ...], float, float], dict[str, Any]] = {}
    for rule, resource in pairs:
        if rule.signal.source != "metrics":
            continue
        namespace, query_id, dims, target = _metric_targets(rule, resource)
        group = groups.setdefault((namespace, dims, rule.window, rule.granularity),
                                  {"ids": {}, "metrics": set(), "aggregations": set(), "targets": [],
                                   "locations": {}})
        group["ids"][query_id.lower()] = query_id
        loc = _location(resource, by_id)
        if loc:
            group["locations"][query_id.lower()] = loc
        group["metrics"].add(rule.signal.metric)
        group["aggregations"].add(query_aggregation(rule.signal, rule.aggregation))
        group["targets"].append(target)
    for (namespace, dims, window, grain), group in groups.items():
        filter_text = " and ".join(f"{d} eq '*'" for d in dims) or None
        try:
            answer = source.query_metrics(
                resource_ids=sorted(group["ids"].values()), namespace=namespace,
                metric_names=sorted(group["metrics"]), aggregations=sorted(group["aggregations"]),
                start=now - timedelta(seconds=window), end=now, granularity=timedelta(seconds=grain),
                filter=filter_text, locations=group["locations"])
        except Exception as exc:  # a failed query is data for the resources it covered
            if not isinstance(exc, AmlguardError):
                log.exception("metrics query for %s failed", namespace)
            answer = MetricsAnswer(errors={k: _text(exc) for k in group["ids"]})
        index: dict[tuple[str, str], list[MetricSeries]] = {}
        for series in answer.series:
            index.setdefault((series.resource_id.lower(), series.metric.lower()), []).append(series)
        for target in group["targets"]:
            rule = target.rule
            key = target.query_id.lower()
            found = index.get((key, str(rule.signal.metric).lower()), [])
            if target.deployment is not None:
                wanted = target.deployment.lower()
                found = [s for s in found if s.dimensions.get("deployment", "").lower() == wanted]
            error = answer.error_for(key, str(rule.signal.metric))
            if error is not None and not found:
                obs = Observation(None, unit=rule.signal.unit, error=error)
            else:
                value, samples = combine(rule.signal, found, rule.aggregation, rule.granularity)
                cut = answer.cut.get((key, str(rule.signal.metric).lower()))
                obs = Observation(value, unit=rule.signal.unit, samples=samples, partial=cut is not None, error=cut)
            observations[(rule.id, target.resource.id)] = obs


def traffic_query(start: datetime, end: datetime) -> str:
    """KQL: per-deployment request count, 5xx count and latency percentiles from the traffic log
    (azure-facts §4.4; TotalDurationMs is the client-observed time)."""
    return (
        "AmlOnlineEndpointTrafficLog\n"
        f"| where TimeGenerated >= datetime({_kql_time(start)}) and TimeGenerated < datetime({_kql_time(end)})\n"
        "| summarize requests = count(), errors_5xx = countif(ResponseCode >= 500),\n"
        "            p50_ms = percentile(TotalDurationMs, 50), p90_ms = percentile(TotalDurationMs, 90),\n"
        "            p95_ms = percentile(TotalDurationMs, 95), p99_ms = percentile(TotalDurationMs, 99)\n"
        "  by ResourceId = tolower(_ResourceId), DeploymentName"
    )


def _kql_time(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _logs(pairs: Sequence[tuple[MonitorRule, Resource]], source: MonitorSource, now: datetime,
          observations: dict[tuple[str, str], Observation]) -> None:
    windows: dict[float, list[tuple[MonitorRule, Resource]]] = {}
    for rule, resource in pairs:
        if rule.signal.source == "logs":
            windows.setdefault(rule.window, []).append((rule, resource))
    for window, items in windows.items():
        start = now - timedelta(seconds=window)
        try:
            answer = source.query_logs(traffic_query(start, now), start=start, end=now)
        except Exception as exc:  # a failed query is data for the resources it covered
            if not isinstance(exc, AmlguardError):
                log.exception("traffic log query failed")
            for rule, resource in items:
                observations[(rule.id, resource.id)] = Observation(None, unit=rule.signal.unit, error=_text(exc))
            continue
        rows: dict[str, dict[str, Any]] = {}
        for row in answer.rows:
            rid = row.get("ResourceId") or row.get("_ResourceId")
            name = row.get("DeploymentName")
            if rid and name:
                rows[deployment_id(str(rid), str(name)).lower()] = row
        for rule, resource in items:
            found = rows.get(resource.id.lower())
            value: float | None = None
            samples = 0
            if found is not None:
                row = found
                requests = float(row.get("requests") or 0)
                samples = int(requests)
                column = rule.signal.log_column
                if column == "error_rate_5xx":
                    value = float(row.get("errors_5xx") or 0) / requests if requests > 0 else None
                elif column == "requests":
                    value = requests
                elif row.get(column or "") is not None:
                    value = float(row[column or ""])
            observations[(rule.id, resource.id)] = Observation(
                value, unit=rule.signal.unit, samples=samples, partial=answer.partial,
                error=answer.error if answer.partial else None)


def _drift(pairs: Sequence[tuple[MonitorRule, Resource]], source: MonitorSource, now: datetime,
           observations: dict[tuple[str, str], Observation], env: Mapping[str, str] | None) -> None:
    baselines: dict[tuple[str, tuple[str, ...] | None, tuple[str, ...]], Any] = {}
    for rule, resource in pairs:
        if rule.signal.source != "drift" or rule.drift is None:
            continue
        try:
            observations[(rule.id, resource.id)] = _drift_one(rule, resource, source, now, env, baselines)
        except Exception as exc:  # one unreadable baseline must not stop the other rules
            if isinstance(exc, ModuleNotFoundError) and missing_extra_message(exc, "monitor") is not None:
                raise  # no drift extra: every drift rule would fail alike; the command says what to install
            if not isinstance(exc, AmlguardError | OSError | ValueError):
                log.exception("drift rule %s on %s failed", rule.id, resource.id)
            observations[(rule.id, resource.id)] = Observation(None, unit="features", error=_text(exc))


def _path(text: str, rule: MonitorRule, resource: Resource, env: Mapping[str, str] | None) -> str:
    from pathlib import Path

    from amlguard.monitor.drift.io import is_container_url

    assert rule.drift is not None
    text = expand_template(text, resource, env or {})
    if is_container_url(text):  # where the data collector writes, read as it is
        return text
    expanded = Path(text)
    return str(expanded if expanded.is_absolute() else rule.drift.base_dir / expanded)


def _data_file(path: str) -> str:
    """`path`, or the one data file in the folder it names (a data asset's local copy: an MLTable
    folder or uri_folder next to its data)."""
    from pathlib import Path

    from amlguard.monitor.drift.io import DATA_SUFFIXES

    folder = Path(path)
    if not folder.is_dir():
        return path
    found = sorted(str(p) for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in DATA_SUFFIXES)
    if len(found) != 1:
        raise SourceError(f"{path}: a folder with {len(found)} CSV / Parquet / JSONL files; amlguard reads a "
                          "data asset's local copy as one such file: keep one there, or name the file",
                          source=path)
    return found[0]


def _drift_one(rule: MonitorRule, resource: Resource, source: MonitorSource, now: datetime,
               env: Mapping[str, str] | None, baselines: dict[Any, Any]) -> Observation:
    """One collector signal (data_drift, prediction_drift, data_quality, model_performance) of one resource."""
    from amlguard.monitor.drift import read_mdc_jsonl, read_table, table_columns
    from amlguard.monitor.drift.engine import DriftReport
    from amlguard.monitor.drift.signals import Collector, run_signal

    spec = rule.drift
    assert spec is not None
    # a replayed recording (ExampleSource with an anchor) holds collector files up to its own time
    now = getattr(source, "anchor", None) or now
    start = now - timedelta(seconds=rule.window)
    endpoint = resource.endpoint_name if resource.kind == "online_deployment" else resource.name
    deployment = resource.name if resource.kind == "online_deployment" else None
    collection = spec.current.get("collection")  # None: the signal's own (inputs, or outputs for predictions)
    exclude = tuple(spec.options.get("exclude") or ())  # the label and ids: never read as features
    baseline: Mapping[str, Any]
    if isinstance(spec.baseline, str):
        baseline_path = _data_file(_path(spec.baseline, rule, resource, env))
        key = (baseline_path, spec.features, exclude)
        if key not in baselines:
            columns = list(spec.features) if spec.features else (
                [c for c in table_columns(baseline_path) if c not in exclude] if exclude else None)
            baselines[key] = read_table(baseline_path, columns)
        baseline = baselines[key]
    else:  # recent past production data: Azure ML's reference offset defaults to twice the window
        past = spec.baseline
        until = now - timedelta(seconds=seconds_or_none(past.get("offset")) or 2 * rule.window)
        span = seconds_or_none(past.get("window"))
        baseline = read_mdc_jsonl(
            _path(past["mdc"], rule, resource, env), endpoint=endpoint, deployment=deployment,
            collection=past.get("collection") or collection or SIGNAL_KINDS[rule.signal.name].collection,
            start=until - timedelta(seconds=span) if span else None, end=until, columns=spec.features, env=env)
        baseline = {k: v for k, v in baseline.items() if k not in exclude}
    partial = False
    error: str | None = None
    kind = spec.current_kind
    current: Any
    if kind == "mdc":
        current = Collector(_path(spec.current["mdc"], rule, resource, env), endpoint=endpoint, deployment=deployment,
                            collection=collection, start=start, end=now, env=env or {})
    elif kind == "file":
        current = _path(spec.current["file"], rule, resource, env)
    else:
        answer = source.query_logs(_inputs_query(spec.current["log_analytics"], resource, start, now),
                                   start=start, end=now)
        partial, error = answer.partial, answer.error
        current = {c: [row.get(c) for row in answer.rows] for c in answer.columns
                   if c not in ("TimeGenerated", spec.current["log_analytics"].get("time_column"))}
        if not answer.rows:
            return Observation(None, unit=rule.signal.unit, partial=partial, error=error if partial else None)
    if not any(len(v) for v in baseline.values()):  # nothing to compare with
        return Observation(None, unit=rule.signal.unit, partial=partial, error=error if partial else None)
    options = dict(spec.options)
    if rule.signal.name != "model_performance":
        options.update(categorical=list(spec.categorical),
                       features=list(spec.features) if spec.features else options.get("features"))
    result = run_signal(rule.signal.name, baseline, current, thresholds=spec.thresholds or None, **options)
    rows = result.current_rows if isinstance(result, DriftReport) else result.rows
    if rows == 0:
        return Observation(None, unit=rule.signal.unit, partial=partial, error=error if partial else None)
    if isinstance(result, DriftReport) and result.nothing_compared:
        return Observation(None, unit=rule.signal.unit, partial=partial,
                           error=f"no feature could be compared ({', '.join(result.not_compared)}: no values in the "
                                 "baseline or the current window once empty values, and values of another type, "
                                 "are dropped)")
    detail = "; ".join([result.describe(), *result.notes])
    if isinstance(result, DriftReport):
        data: dict[str, Any] = {"drifted_features": result.drifted_features,
                                "features": [f.to_dict(max_categories=10) for f in result.features]}
        if rule.signal.name == "data_quality":
            data["verb"] = "breached data-quality thresholds"
    else:
        data = {**result.to_dict(), "verb": "breached their thresholds"}
    return Observation(float(len(result.breaching)), unit=rule.signal.unit, samples=rows, partial=partial,
                       error=error if partial else None, detail=detail, data=data)


def _inputs_query(spec: Mapping[str, Any], resource: Resource, start: datetime, end: datetime) -> str:
    """KQL over a custom table of model inputs for one deployment's window."""
    time_column = spec.get("time_column") or "TimeGenerated"
    lines = [str(spec["table"]),
             f"| where {time_column} >= datetime({_kql_time(start)}) and {time_column} < datetime({_kql_time(end)})"]
    if spec.get("endpoint_column"):
        endpoint = resource.endpoint_name if resource.kind == "online_deployment" else resource.name
        lines.append(f"| where {spec['endpoint_column']} == '{_kql_string(endpoint or '')}'")
    if spec.get("deployment_column") and resource.kind == "online_deployment":
        lines.append(f"| where {spec['deployment_column']} == '{_kql_string(resource.name)}'")
    if spec.get("columns"):
        lines.append("| project " + ", ".join(spec["columns"]))
    lines.append(f"| take {int(spec.get('max_rows') or 100000)}")
    return "\n".join(lines)


def _text(exc: BaseException) -> str:
    """An exception as finding text: our own errors already say what to fix; others get their type."""
    if isinstance(exc, AmlguardError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _kql_string(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")
