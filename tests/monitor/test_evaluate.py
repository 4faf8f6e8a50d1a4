"""Evaluating monitor rules: judging observations (table-driven), query planning, errors, partial
results and drift rules, with an in-memory signal source."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from amlguard.errors import SourceError
from amlguard.model import Resource
from amlguard.monitor.azure_monitor import LogsAnswer, MetricsAnswer
from amlguard.monitor.evaluate import evaluate_rules, judge, traffic_query
from amlguard.monitor.rules import MonitorRule, load_monitor_rules
from amlguard.monitor.signals import (
    ENDPOINT_NAMESPACE,
    MetricPoint,
    MetricSeries,
    Observation,
    error_rate,
    format_value,
    reduce_points,
)

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 26, 11, 0, tzinfo=UTC)
WS = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws"


def endpoint(name: str) -> Resource:
    return Resource(kind="online_endpoint", id=f"{WS}/onlineEndpoints/{name}", name=name, workspace="ws",
                    compute_type="managed")


def deployment(ep: str, name: str, **fields: Any) -> Resource:
    return Resource(kind="online_deployment", id=f"{WS}/onlineEndpoints/{ep}/deployments/{name}", name=name,
                    endpoint_name=ep, workspace="ws", compute_type="managed", fields=dict(fields))


def rules_from(tmp_path: Path, body: str) -> list[MonitorRule]:
    path = tmp_path / "rules.yaml"
    path.write_text("apiVersion: amlguard/v1\nkind: MonitorRules\nrules:\n" + textwrap.dedent(body), "utf-8")
    return load_monitor_rules(path)


def rule(tmp_path: Path, **spec: Any) -> MonitorRule:
    fields = {"id": "AMLG-MON-LAT-001", "title": "t", "severity": "high", "signal": "latency_p95",
              "threshold": 500, "description": "d", "rationale": "r", "remediation": "scale out"}
    fields.update(spec)
    import yaml

    body = yaml.safe_dump([fields], sort_keys=False)
    return rules_from(tmp_path, textwrap.indent(body, "  "))[0]


def series(rid: str, metric: str, values: Sequence[float | None], aggregation: str = "average",
           **dims: str) -> MetricSeries:
    points = [MetricPoint(NOW - timedelta(minutes=len(values) - i), **({aggregation: v} if v is not None else {}))
              for i, v in enumerate(values)]
    return MetricSeries(rid, metric, {k.lower(): v for k, v in dims.items()}, points)


class FakeSource:
    """Records queries; answers from canned series / rows."""

    def __init__(self, series: Sequence[MetricSeries] = (), errors: Mapping[str, str] | None = None,
                 rows: Sequence[dict[str, Any]] = (), partial: str | None = None, logs_error: str | None = None,
                 tables: Mapping[str, list[dict[str, Any]]] | None = None) -> None:
        self.series = list(series)
        self.errors = dict(errors or {})
        self.rows = list(rows)
        self.partial = partial
        self.logs_error = logs_error
        self.tables = dict(tables or {})
        self.metric_calls: list[dict[str, Any]] = []
        self.log_calls: list[str] = []

    def query_metrics(self, **kwargs: Any) -> MetricsAnswer:
        self.metric_calls.append(kwargs)
        ids = {r.lower() for r in kwargs["resource_ids"]}
        names = {n.lower() for n in kwargs["metric_names"]}
        return MetricsAnswer(
            series=[s for s in self.series if s.resource_id.lower() in ids and s.metric.lower() in names],
            errors={k: v for k, v in self.errors.items() if k in ids})

    def query_logs(self, query: str, *, start: datetime, end: datetime, workspace_id: str | None = None) -> LogsAnswer:
        self.log_calls.append(query)
        if self.logs_error:
            raise SourceError(self.logs_error, source="log-analytics", retryable=True)
        if "AmlOnlineEndpointTrafficLog" in query:
            rows = self.rows
        else:
            rows = self.tables.get(query.split("\n", 1)[0].strip(), [])
        columns = list(dict.fromkeys(k for r in rows for k in r))
        return LogsAnswer(rows=[dict(r) for r in rows], columns=columns, partial=self.partial is not None,
                          error=self.partial)


# ----------------------------------------------------------------------------------- judging (table)
@pytest.mark.parametrize(("spec", "obs", "status", "words"), [
    ({}, Observation(812.0, "ms", samples=5), "fail", ["latency_p95 812 ms > 500 ms over the last 5m",
                                                       "average of 5 1m grains"]),
    ({}, Observation(500.0, "ms", samples=5), "pass", ["500 ms <= 500 ms"]),
    ({"direction": "below", "threshold": 3}, Observation(2.0, samples=1), "fail", ["2 ms < 3 ms", "1 1m grain)"]),
    ({"direction": "below", "threshold": 3}, Observation(3.0, samples=1), "pass", [">= 3"]),
    ({"no_data": "alert"}, Observation(None), "fail", ["no data for latency_p95", "no_data: alert"]),
    ({"no_data": "ignore"}, Observation(None), "not_applicable", ["no data", "ignored"]),
    ({"no_data": "keep_state"}, Observation(None), None, []),
    ({}, Observation(None), None, []),  # keep_state is the default
    ({"no_data": "ignore"}, Observation(None, error="HTTP 503: down"), "error",
     ["could not read latency_p95", "HTTP 503: down"]),
    ({}, Observation(900.0, samples=40, partial=True, error="PartialError: truncated"), "fail",
     ["900 ms > 500 ms", "(partial results: PartialError: truncated)"]),
    ({"threshold": {"field": "instance_count"}, "direction": "below"}, Observation(2.0), "error",
     ["threshold instance_count has no value"]),
    ({"window": "15m", "signal": "cpu_utilization", "aggregation": "maximum", "threshold": 90},
     Observation(91.0, samples=15), "fail", ["over the last 15m (maximum of 15 1m grains)"]),
], ids=["breach", "at-threshold", "below-breach", "below-ok", "nodata-alert", "nodata-ignore", "nodata-keep",
        "nodata-default", "error", "partial", "threshold-field-missing", "window-words"])
def test_judge(tmp_path: Path, spec: dict[str, Any], obs: Observation, status: str | None,
               words: list[str]) -> None:
    r = rule(tmp_path, **spec)
    res = deployment("fraud", "blue", tags={"owner": "payments"})
    found = judge(r, res, obs)
    if status is None:
        assert found is None
        return
    assert found is not None
    assert (found.status, found.rule, found.resource, found.severity, found.effect) == (
        status, "AMLG-MON-LAT-001", res.id, "high", "alert")
    assert found.kind == "online_deployment" and found.resource_name == "blue" and found.workspace == "ws"
    assert found.tags == {"owner": "payments"} and found.remediation == "scale out"
    for word in words:
        assert word in found.message, found.message


# ---------------------------------------------------------------------------------- reductions
@pytest.mark.parametrize(("aggregation", "values", "expected"), [
    ("average", [1, 2, None, 3], (2.0, 3)),
    ("minimum", [5, 2, 9], (2.0, 3)),
    ("maximum", [5, 2, 9], (9.0, 3)),
    ("total", [5, 2, 9], (16.0, 3)),
    ("count", [1, 1], (2.0, 2)),
    ("average", [None, None], (None, 0)),
    ("average", [], (None, 0)),
])
def test_reduce_points(aggregation: str, values: list[float | None], expected: tuple[float | None, int]) -> None:
    assert reduce_points(series("r", "m", values, aggregation).points, aggregation) == expected


def test_error_rate_and_formatting() -> None:
    # RequestsPerMinute comes as Average only: the share is sum(5xx averages) / sum(all averages)
    split = [series("r", "RequestsPerMinute", [98, 97], statusCodeClass="2xx"),
             series("r", "RequestsPerMinute", [2, 3], statusCodeClass="5xx"),
             series("r", "RequestsPerMinute", [0, 0], statusCodeClass="4xx")]
    assert error_rate(split) == (0.025, 2)
    assert error_rate([series("r", "RequestsPerMinute", [0], statusCodeClass="2xx")]) == (None, 0)
    assert error_rate([series("r", "RequestsPerMinute", [5], "total", statusCodeClass="5xx")]) == (None, 0)
    assert [format_value(v, u) for v, u in ((0.025, "ratio"), (93.0, "%"), (1848.4, "ms"), (None, "ms"),
                                            (0.0713, "%"))] == ["2.50%", "93%", "1848 ms", "no data", "0.0713%"]


# ------------------------------------------------------------------------------------- planning
def test_metric_rules_share_calls_and_map_split_series_to_deployments(tmp_path: Path) -> None:
    rules = rules_from(tmp_path, """\
      - {id: AMLG-MON-LAT-001, title: t, severity: high, signal: latency_p95, threshold: 500, description: d,
         rationale: r, remediation: x}
      - {id: AMLG-MON-LAT-002, title: t, severity: medium, signal: latency_p99, threshold: 900, description: d,
         rationale: r, remediation: x, no_data: alert}
      - {id: AMLG-MON-LAT-003, title: t, severity: low, signal: latency_p95, kinds: [online_endpoint],
         threshold: 500, description: d, rationale: r, remediation: x}
      - {id: AMLG-MON-ERR-001, title: t, severity: high, signal: error_rate_5xx, threshold: 0.01,
         description: d, rationale: r, remediation: x}
      - {id: AMLG-MON-RES-001, title: t, severity: low, signal: cpu_utilization, threshold: 90, window: 15m,
         description: d, rationale: r, remediation: x}
      - {id: AMLG-MON-CAP-001, title: t, severity: high, signal: deployment_capacity, direction: below,
         threshold: {field: instance_count}, window: 10m, description: d, rationale: r, remediation: x}
    """)
    a, b = endpoint("a"), endpoint("b")
    a1, a2, b1 = deployment("a", "blue", instance_count=3), deployment("a", "green", instance_count=1), \
        deployment("b", "main", instance_count=2)
    source = FakeSource(series=[
        series(a.id, "RequestLatency_P95", [700, 800, 900], deployment="blue"),
        series(a.id, "RequestLatency_P95", [100, 100, 100], deployment="GREEN"),  # dimension case differs
        series(a.id, "RequestLatency_P99", [950, 950], deployment="blue"),
        series(a.id, "RequestsPerMinute", [100], deployment="blue", statusCodeClass="2xx"),
        series(a.id, "RequestsPerMinute", [5], deployment="blue", statusCodeClass="5xx"),
        series(a.id, "RequestLatency_P95", [300, 300]),  # endpoint-level (no split)
        series(a1.id, "CpuUtilizationPercentage", [95, 96]),
        series(a1.id, "DeploymentCapacity", [3, 2, 3], "minimum"),
        series(a2.id, "DeploymentCapacity", [1, 1], "minimum"),
        series(b1.id, "CpuUtilizationPercentage", [10]),
    ], errors={b.id.lower(): "HTTP 403: AuthorizationFailed"})
    result = evaluate_rules(rules, [a, b, a1, a2, b1], source, now=NOW)
    got = {(e.rule.id, e.resource.name): (e.finding.status if e.finding else "kept") for e in result.evaluated}
    assert got == {
        ("AMLG-MON-LAT-001", "blue"): "fail", ("AMLG-MON-LAT-001", "green"): "pass",
        ("AMLG-MON-LAT-001", "main"): "error",
        ("AMLG-MON-LAT-002", "blue"): "fail", ("AMLG-MON-LAT-002", "green"): "fail",  # no data -> alert
        ("AMLG-MON-LAT-002", "main"): "error",
        ("AMLG-MON-LAT-003", "a"): "pass", ("AMLG-MON-LAT-003", "b"): "error",
        ("AMLG-MON-ERR-001", "blue"): "fail", ("AMLG-MON-ERR-001", "green"): "kept",
        ("AMLG-MON-ERR-001", "main"): "error",
        ("AMLG-MON-RES-001", "blue"): "fail", ("AMLG-MON-RES-001", "green"): "kept",
        ("AMLG-MON-RES-001", "main"): "pass",
        ("AMLG-MON-CAP-001", "blue"): "fail", ("AMLG-MON-CAP-001", "green"): "pass",
        ("AMLG-MON-CAP-001", "main"): "kept",
    }
    # one call per (namespace, split, window, grain): p95 + p99 share the split-by-deployment call
    plans = sorted((c["namespace"].rsplit("/", 1)[-1], c["filter"] or "", tuple(c["metric_names"]),
                    c["end"] - c["start"]) for c in source.metric_calls)
    assert plans == [
        ("deployments", "", ("CpuUtilizationPercentage",), timedelta(minutes=15)),
        ("deployments", "", ("DeploymentCapacity",), timedelta(minutes=10)),
        ("onlineEndpoints", "", ("RequestLatency_P95",), timedelta(minutes=5)),
        ("onlineEndpoints", "deployment eq '*'", ("RequestLatency_P95", "RequestLatency_P99"), timedelta(minutes=5)),
        ("onlineEndpoints", "deployment eq '*' and statusCodeClass eq '*'", ("RequestsPerMinute",),
         timedelta(minutes=5)),
    ]
    split_call = next(c for c in source.metric_calls if c["filter"] == "deployment eq '*'")
    assert split_call["resource_ids"] == [a.id, b.id]  # each endpoint once for its three deployments
    assert split_call["namespace"] == ENDPOINT_NAMESPACE and split_call["end"] == NOW
    err = next(e for e in result.evaluated if e.rule.id == "AMLG-MON-ERR-001" and e.resource.name == "blue")
    assert err.observation.value == pytest.approx(5 / 105)
    cap = next(e for e in result.evaluated if e.rule.id == "AMLG-MON-CAP-001" and e.resource.name == "blue")
    assert cap.finding is not None and "deployment_capacity 2 instances < 3 instances" in cap.finding.message
    summary = result.summary()
    assert (summary["failed"], summary["errors"], summary["kept"]) == (6, 4, 3)
    assert {f.resource for f in result.findings if f.rule == "AMLG-MON-CAP-001"} == {a1.id, a2.id}


def test_log_rules_share_one_query_per_window_and_flag_partial_results(tmp_path: Path) -> None:
    rules = rules_from(tmp_path, """\
      - {id: AMLG-MON-LAT-101, title: t, severity: high, signal: log_latency_p95, threshold: 500, description: d,
         rationale: r, remediation: x}
      - {id: AMLG-MON-ERR-101, title: t, severity: high, signal: log_error_rate_5xx, threshold: 0.01,
         description: d, rationale: r, remediation: x, no_data: ignore}
    """)
    blue, green = deployment("a", "blue"), deployment("a", "green")
    source = FakeSource(rows=[{"ResourceId": f"{WS}/onlineEndpoints/a".lower(), "DeploymentName": "blue",
                               "requests": 200, "errors_5xx": 1, "p95_ms": 740.0}],
                        partial="PartialError: one shard missing")
    result = evaluate_rules(rules, [blue, green], source, now=NOW)
    assert len(source.log_calls) == 1 and source.log_calls[0] == traffic_query(NOW - timedelta(minutes=5), NOW)
    got = {(e.rule.id, e.resource.name): e for e in result.evaluated}
    lat = got[("AMLG-MON-LAT-101", "blue")]
    assert lat.finding is not None and lat.finding.status == "fail"
    assert "740 ms > 500 ms" in lat.finding.message and "200 requests" in lat.finding.message
    assert "partial results: PartialError: one shard missing" in lat.finding.message
    assert lat.to_json()["partial"] is True
    assert got[("AMLG-MON-ERR-101", "blue")].finding.status == "pass"  # type: ignore[union-attr]
    # a partial answer without green says nothing about it: its alerts stay as they are, whatever
    # no_data says (`ignore` resolved a firing alert on a guess)
    assert got[("AMLG-MON-ERR-101", "green")].finding is None
    assert got[("AMLG-MON-LAT-101", "green")].finding is None
    assert result.summary()["partial"] == 4


def test_failed_logs_query_is_an_error_for_its_resources(tmp_path: Path) -> None:
    (r,) = rules_from(tmp_path, """\
      - {id: AMLG-MON-LAT-101, title: t, severity: high, signal: log_latency_p95, threshold: 500, description: d,
         rationale: r, remediation: x}
    """)
    result = evaluate_rules([r], [deployment("a", "blue")], FakeSource(logs_error="Log Analytics said 503"), now=NOW)
    (only,) = result.findings
    assert only.status == "error" and "Log Analytics said 503" in only.message


def mdc_drift_rule(drift_dir: Path, extra: str = "") -> str:
    """AMLG-MON-DRIFT-001 over the example baseline, its current data from the MDC at {env:MDC}."""
    return f"""\
      - id: AMLG-MON-DRIFT-001
        title: t
        severity: medium
        signal: data_drift
        window: 24h
        drift:
          baseline: {drift_dir}/baseline.csv
          current: {{mdc: "{{env:MDC}}"}}{extra}
        description: d
        rationale: r
        remediation: x
"""


def test_drift_rule_reads_baseline_and_current_and_names_drifted_features(tmp_path: Path) -> None:
    drift_dir = REPO / "examples" / "drift"
    thresholds = "\n          thresholds: {region: {jensen_shannon_distance: 0.5}}"
    rules = rules_from(tmp_path, mdc_drift_rule(drift_dir, thresholds) + f"""\
      - id: AMLG-MON-DRIFT-002
        title: t
        severity: medium
        signal: data_drift
        drift:
          baseline: {drift_dir}/baseline.csv
          current: {{file: {drift_dir}/baseline.csv}}
          features: [age, region]
        description: d
        rationale: r
        remediation: x
    """)
    blue = deployment("credit-ep", "blue")
    other = deployment("credit-ep", "green")
    now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    result = evaluate_rules(rules, [blue, other], FakeSource(), now=now, env={"MDC": str(drift_dir / "mdc")})
    got = {(e.rule.id, e.resource.name): e for e in result.evaluated}
    drifted = got[("AMLG-MON-DRIFT-001", "blue")]
    assert drifted.finding is not None and drifted.finding.status == "fail"
    assert drifted.observation.data["drifted_features"] == ["age", "income"]  # region's threshold raised to 0.5
    assert drifted.finding.message.startswith("2 features drifted over the last 24h: age "
                                              "(normalized_wasserstein_distance ")
    assert "6 features compared on 300 current rows" in drifted.finding.message
    assert got[("AMLG-MON-DRIFT-001", "green")].finding is None  # no MDC files for green: keep state
    same = got[("AMLG-MON-DRIFT-002", "blue")]
    assert same.finding is not None and same.finding.status == "pass"
    assert "2 features compared" in same.finding.message
    # a window that ends before the collected hours has no data
    early = evaluate_rules(rules[:1], [blue], FakeSource(), now=datetime(2026, 11, 25, tzinfo=UTC),
                           env={"MDC": str(drift_dir / "mdc")})
    assert early.evaluated[0].finding is None


def test_drift_from_log_analytics_and_missing_inputs(tmp_path: Path) -> None:
    import csv

    drift_dir = REPO / "examples" / "drift"
    with (drift_dir / "current.csv").open(encoding="utf-8") as fh:
        rows = [{"DeploymentName": "blue", "TimeGenerated": "2026-11-26T10:00:00Z", **r} for r in csv.DictReader(fh)]
    for row in rows:
        row["age"] = int(row["age"])
    rules = rules_from(tmp_path, f"""\
      - id: AMLG-MON-DRIFT-001
        title: t
        severity: medium
        signal: data_drift
        drift:
          baseline: {drift_dir}/baseline.csv
          current: {{log_analytics: {{table: ModelInputs_CL, deployment_column: DeploymentName,
                                      columns: [age, region]}}}}
          features: [age, region]
        description: d
        rationale: r
        remediation: x
      - id: AMLG-MON-DRIFT-002
        title: t
        severity: medium
        signal: data_drift
        drift: {{baseline: "{{tag:baseline}}", current: {{file: nowhere.csv}}}}
        description: d
        rationale: r
        remediation: x
    """)
    source = FakeSource(tables={"ModelInputs_CL": [{k: r[k] for k in ("age", "region")} for r in rows]},
                        partial="PartialError: truncated")
    result = evaluate_rules(rules, [deployment("fraud", "blue")], source, now=NOW)
    got = {e.rule.id: e for e in result.evaluated}
    la = got["AMLG-MON-DRIFT-001"]
    assert la.finding is not None and la.finding.status == "fail" and la.observation.partial
    assert "age (normalized_wasserstein_distance" in la.finding.message and "partial results" in la.finding.message
    query = source.log_calls[0]
    assert query.startswith("ModelInputs_CL\n| where TimeGenerated >= datetime(2026-11-26T10:55:00Z) and "
                            "TimeGenerated < datetime(2026-11-26T11:00:00Z)\n")
    assert "| where DeploymentName == 'blue'" in query and "| project age, region" in query
    missing = got["AMLG-MON-DRIFT-002"]
    assert missing.finding is not None and missing.finding.status == "error"
    assert "{tag:baseline}" in missing.finding.message


def test_a_source_that_crashes_gives_error_findings_not_an_exception(tmp_path: Path) -> None:
    class Broken(FakeSource):
        def query_metrics(self, **kwargs: Any) -> MetricsAnswer:
            raise RuntimeError("connection pool exploded")

        def query_logs(self, query: str, *, start: datetime, end: datetime,
                       workspace_id: str | None = None) -> LogsAnswer:
            raise KeyError("tables")

    rules = rules_from(tmp_path, """\
      - {id: AMLG-MON-LAT-001, title: t, severity: high, signal: latency_p95, threshold: 500, description: d,
         rationale: r, remediation: x}
      - {id: AMLG-MON-LAT-101, title: t, severity: high, signal: log_latency_p95, threshold: 500, description: d,
         rationale: r, remediation: x}
    """)
    result = evaluate_rules(rules, [deployment("a", "blue")], Broken(), now=NOW)
    assert [(f.rule, f.status) for f in result.findings] == [("AMLG-MON-LAT-001", "error"),
                                                             ("AMLG-MON-LAT-101", "error")]
    assert "RuntimeError: connection pool exploded" in result.findings[0].message
    assert "KeyError" in result.findings[1].message
