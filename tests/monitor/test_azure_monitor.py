"""AzureMonitor against the HTTPS stand-in: batch and ARM metrics, Logs queries, partial results,
throttling, server errors, timeouts, malformed answers and no data."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from amlguard.errors import ConfigError, SourceError
from amlguard.model import Resource
from amlguard.monitor.azure_monitor import AzureMonitor, MonitorClientSettings, parse_metric_id
from amlguard.monitor.evaluate import evaluate_rules
from amlguard.monitor.rules import load_monitor_rules
from amlguard.monitor.signals import DEPLOYMENT_NAMESPACE, ENDPOINT_NAMESPACE
from tests.standins.fixtures import FakeCredential
from tests.standins.monitor import SUB, MonitorStandin, seed_world

NOW = datetime(2026, 11, 26, 11, 0, tzinfo=UTC)
START = NOW - timedelta(minutes=5)
GRAIN = timedelta(minutes=1)


def settings(server: MonitorStandin, **overrides: Any) -> MonitorClientSettings:
    values: dict[str, Any] = {
        "metrics_endpoint": server.url.rstrip("/"), "logs_endpoint": server.url.rstrip("/"),
        "arm_endpoint": server.url, "workspace_id": "11111111-2222-3333-4444-555555555555",
        "connection_verify": str(server.ca_file), "retry_total": 2, "retry_backoff_factor": 0.01,
        "retry_backoff_max": 0.05, "connection_timeout": 2.0, "read_timeout": 1.0,
    }
    values.update(overrides)
    return MonitorClientSettings(**values)


def latency(monitor: AzureMonitor, ids: list[str]) -> Any:
    return monitor.query_metrics(resource_ids=ids, namespace=ENDPOINT_NAMESPACE, metric_names=["RequestLatency_P95"],
                                 aggregations=["average"], start=START, end=NOW, granularity=GRAIN,
                                 filter="deployment eq '*'")


def endpoints(pairs: list[tuple[str, str]]) -> list[str]:
    return sorted({e for e, _ in pairs})


def test_batch_calls_carry_at_most_50_resources(standin: MonitorStandin) -> None:
    ids = endpoints(seed_world(standin.world, 240, per_endpoint=2))  # 120 endpoints
    credential = FakeCredential()
    with AzureMonitor(credential, settings(standin)) as monitor:
        answer = latency(monitor, ids)
    assert set(credential.scopes) == {("https://metrics.monitor.azure.com/.default",)}  # the public audience
    calls = standin.requests_to(r"metrics:getBatch", "POST")
    assert len(calls) == 3  # 50 + 50 + 20
    assert monitor.calls["metrics_batch"] == 3 and monitor.calls["metrics_arm"] == 0
    assert not answer.errors
    assert len(answer.series) == 240  # one series per deployment dimension value
    slow = [s for s in answer.series if s.points[0].average == 1500]
    assert len(slow) == 24 and all(s.dimensions["deployment"] == "d0" for s in slow)
    assert calls[0].query["metricnamespace"] == ENDPOINT_NAMESPACE
    assert calls[0].query["filter"] == "deployment eq '*'"
    assert calls[0].query["interval"] == "PT1M"


def test_single_resource_and_unconfigured_batch_use_arm(standin: MonitorStandin) -> None:
    pairs = seed_world(standin.world, 4, per_endpoint=1)
    deployments = [f"{e}/deployments/{d}" for e, d in pairs]
    credential = FakeCredential()
    with AzureMonitor(credential, settings(standin, arm_audience="https://management.usgovcloudapi.net")) as monitor:
        one = latency(monitor, endpoints(pairs)[:1])
    assert monitor.calls == {"metrics_arm": 1}
    assert credential.scopes == [("https://management.usgovcloudapi.net/.default",)]
    assert [s.points[-1].average for s in one.series] == [1500.0]
    with AzureMonitor(FakeCredential(), settings(standin, metrics_endpoint=None)) as monitor:
        answer = monitor.query_metrics(
            resource_ids=deployments, namespace=DEPLOYMENT_NAMESPACE,
            metric_names=["CpuUtilizationPercentage", "DeploymentCapacity"], aggregations=["average", "minimum"],
            start=START, end=NOW, granularity=GRAIN)
    assert monitor.calls == {"metrics_arm": 4}
    assert len(standin.requests_to(r"/providers/Microsoft\.Insights/metrics$", "GET")) == 5
    by = {(s.resource_id, s.metric): s for s in answer.series}
    assert by[(deployments[0], "DeploymentCapacity")].points[0].minimum == 3
    assert by[(deployments[0], "CpuUtilizationPercentage")].points[0].average == 35


def test_region_template_groups_by_region(standin: MonitorStandin) -> None:
    ids = endpoints(seed_world(standin.world, 6, per_endpoint=1))
    locations = {rid.lower(): ("westeurope" if i < 4 else "eastus") for i, rid in enumerate(ids)}
    cfg = settings(standin, metrics_endpoint=standin.url.rstrip("/") + "/{region}")
    assert cfg.metrics_endpoint_for("West Europe").endswith("/westeurope")
    assert cfg.metrics_endpoint_for(None) is None
    monitor = AzureMonitor(FakeCredential(), cfg)
    # the stand-in serves one host: the region path makes the batch route miss, so only count calls
    monitor.query_metrics(resource_ids=ids, namespace=ENDPOINT_NAMESPACE, metric_names=["RequestLatency_P95"],
                          aggregations=["average"], start=START, end=NOW, granularity=GRAIN, locations=locations)
    monitor.close()
    assert monitor.calls == {"metrics_batch": 2}


def test_throttling_is_retried_after_retry_after(standin: MonitorStandin) -> None:
    ids = endpoints(seed_world(standin.world, 4, per_endpoint=1))
    standin.inject(path="metrics:getBatch", status=429, headers={"Retry-After": "1"}, times=1,
                   body={"error": {"code": "TooManyRequests", "message": "slow down"}})
    with AzureMonitor(FakeCredential(), settings(standin)) as monitor:
        answer = latency(monitor, ids)
    calls = standin.requests_to(r"metrics:getBatch")
    assert [c.status for c in calls] == [429, 200]
    assert calls[1].started - calls[0].started >= 0.9  # Retry-After honoured by azure-core's RetryPolicy
    assert not answer.errors and len(answer.series) == 4


@pytest.mark.parametrize(("fault", "expected"), [
    ({"status": 503, "body": {"error": {"code": "ServiceUnavailable", "message": "down"}}, "times": None}, "503"),
    ({"status": 200, "body": "{not json", "times": None}, ""),
    ({"delay": 1.5, "times": None}, "timed out"),
    ({"status": 403, "body": {"error": {"code": "AuthorizationFailed", "message": "no Monitoring Reader"}}},
     "AuthorizationFailed"),
], ids=["5xx", "malformed-json", "timeout", "forbidden"])
def test_failed_metric_calls_become_errors_for_their_resources(standin: MonitorStandin, fault: dict[str, Any],
                                                              expected: str) -> None:
    ids = endpoints(seed_world(standin.world, 4, per_endpoint=1))
    standin.inject(path="metrics:getBatch", **fault)
    with AzureMonitor(FakeCredential(), settings(standin)) as monitor:
        answer = latency(monitor, ids)
    assert answer.series == []
    assert set(answer.errors) == {rid.lower() for rid in ids}
    assert all(expected.lower() in text.lower() for text in answer.errors.values()), answer.errors


def test_grains_without_data_have_no_value(standin: MonitorStandin) -> None:
    pairs = seed_world(standin.world, 2, per_endpoint=2)
    endpoint = pairs[0][0]
    standin.world.set_metric(endpoint, "RequestLatency_P95", None, {"deployment": "d1"})
    with AzureMonitor(FakeCredential(), settings(standin)) as monitor:
        answer = latency(monitor, [endpoint, endpoint])  # duplicates are queried once
    assert monitor.calls == {"metrics_arm": 1}
    by = {s.dimensions["deployment"]: s for s in answer.series}
    assert by["d0"].points[0].average == 1500
    assert all(p.average is None for p in by["d1"].points)


def test_logs_query_rows_and_scopes(standin: MonitorStandin) -> None:
    pairs = seed_world(standin.world, 2, per_endpoint=2)
    standin.world.set_traffic(pairs[0][0], "d0", requests=200, errors_5xx=4, p95=930.0)
    credential = FakeCredential()
    with AzureMonitor(credential, settings(standin, logs_audience="https://api.loganalytics.azure.com")) as monitor:
        answer = monitor.query_logs("AmlOnlineEndpointTrafficLog | summarize count()", start=START, end=NOW)
    assert not answer.partial and answer.error is None
    assert answer.rows == [{"ResourceId": pairs[0][0].lower(), "DeploymentName": "d0", "requests": 200,
                            "errors_5xx": 4, "p50_ms": 50.0, "p90_ms": 80.0, "p95_ms": 930.0, "p99_ms": 150.0}]
    (request,) = standin.requests_to(r"/v1/workspaces/11111111-2222-3333-4444-555555555555/query", "POST")
    assert ("https://api.loganalytics.azure.com/.default",) in credential.scopes
    assert request.headers["authorization"] == "Bearer standin-token"


def test_logs_partial_result_is_kept_and_flagged(standin: MonitorStandin) -> None:
    pairs = seed_world(standin.world, 1)
    standin.world.set_traffic(pairs[0][0], "d0", requests=10)
    standin.world.partial_error = {"code": "PartialError", "message": "result set truncated",
                                   "details": [{"code": "EngineError", "message": "one shard missing"}]}
    with AzureMonitor(FakeCredential(), settings(standin)) as monitor:
        answer = monitor.query_logs("AmlOnlineEndpointTrafficLog", start=START, end=NOW)
    assert answer.partial is True
    assert answer.error == "PartialError: result set truncated: one shard missing"
    assert len(answer.rows) == 1


@pytest.mark.parametrize(("fault", "retryable"), [
    ({"status": 500, "times": None}, True),
    ({"status": 400, "body": {"error": {"code": "BadArgumentError", "message": "syntax error"}}}, False),
    ({"delay": 1.5, "times": None}, True),
], ids=["5xx", "bad-query", "timeout"])
def test_failed_logs_query_raises_source_error(standin: MonitorStandin, fault: dict[str, Any],
                                               retryable: bool) -> None:
    standin.inject(path="/query", **fault)
    with AzureMonitor(FakeCredential(), settings(standin)) as monitor, pytest.raises(SourceError) as info:
        monitor.query_logs("AmlOnlineEndpointTrafficLog", start=START, end=NOW)
    assert "11111111-2222-3333-4444-555555555555" in str(info.value)
    assert info.value.retryable is retryable


def test_logs_without_workspace_says_which_setting() -> None:
    monitor = AzureMonitor(FakeCredential(), MonitorClientSettings())
    with pytest.raises(SourceError, match="AMLGUARD_MONITOR_WORKSPACE_ID"):
        monitor.query_logs("x", start=START, end=NOW)


def test_settings_from_env_and_https_only() -> None:
    cfg = MonitorClientSettings.from_env({
        "AMLGUARD_MONITOR_METRICS_ENDPOINT": "https://westeurope.metrics.monitor.azure.com",
        "AMLGUARD_MONITOR_WORKSPACE_ID": "ws-guid", "AMLGUARD_CA_BUNDLE": "/tmp/ca.pem",
        "AMLGUARD_MONITOR_CONCURRENCY": "3"})
    assert cfg.metrics_endpoint == "https://westeurope.metrics.monitor.azure.com"
    assert cfg.logs_endpoint == "https://api.loganalytics.io"
    assert cfg.workspace_id == "ws-guid" and cfg.connection_verify == "/tmp/ca.pem" and cfg.concurrency == 3
    assert cfg.arm_endpoint == "https://management.azure.com/"
    with pytest.raises(ConfigError, match="https"):
        MonitorClientSettings(logs_endpoint="http://127.0.0.1:1")
    with pytest.raises(ConfigError, match="AMLGUARD_MONITOR_CONCURRENCY"):
        MonitorClientSettings.from_env({"AMLGUARD_MONITOR_CONCURRENCY": "many"})


@pytest.mark.parametrize(("metric_id", "expected"), [
    ("/subscriptions/s/resourceGroups/r/providers/X/workspaces/w/onlineEndpoints/e/providers/Microsoft.Insights/"
     "metrics/RequestLatency_P95", "/subscriptions/s/resourceGroups/r/providers/X/workspaces/w/onlineEndpoints/e"),
    ("/subscriptions/s/x/providers/microsoft.insights/metrics/A", "/subscriptions/s/x"),
    ("no-marker", None),
    (None, None),
])
def test_parse_metric_id(metric_id: str | None, expected: str | None) -> None:
    assert parse_metric_id(metric_id) == expected


@pytest.mark.parametrize("batch", [True, False], ids=["getBatch", "arm"])
def test_a_metric_error_code_is_an_error_for_that_resource(standin: MonitorStandin, batch: bool) -> None:
    ids = endpoints(seed_world(standin.world, 2, per_endpoint=1))
    standin.world.metric_errors[(ids[0].lower(), "requestlatency_p95")] = ("InvalidDimension", "no such dimension")
    cfg = settings(standin) if batch else settings(standin, metrics_endpoint=None)
    with AzureMonitor(FakeCredential(), cfg) as monitor:
        answer = latency(monitor, ids)
    assert answer.errors == {}
    assert answer.metric_errors == {(ids[0].lower(), "requestlatency_p95"):
                                    "RequestLatency_P95: InvalidDimension no such dimension"}
    assert answer.error_for(ids[0], "RequestLatency_P95") == "RequestLatency_P95: InvalidDimension no such dimension"
    assert answer.error_for(ids[0], "RequestLatency_P99") is None
    assert [s.resource_id for s in answer.series] == [ids[1]]



# ---------------------------------------------------------------------- every series a filter matches
SPLIT = "deployment eq '*' and statusCodeClass eq '*'"
ERR_RULE = Path(__file__).resolve().parents[2] / "policies" / "monitors.yaml"


def _forty_series(standin: MonitorStandin) -> list[Resource]:
    """Two endpoints with 20 deployments x {2xx, 5xx} each: 40 RequestsPerMinute series per endpoint.
    Deployment d19 of each answers half its requests with 5xx."""
    base = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws"
    deployments = []
    for ep in ("busy", "calm"):
        endpoint = f"{base}/onlineEndpoints/{ep}"
        for i in range(20):
            name, errors = f"d{i:02d}", (50.0 if i == 19 else 0.0)
            for status, value in (("2xx", 100.0 - errors), ("5xx", errors)):
                standin.world.set_metric(endpoint, "RequestsPerMinute", value,
                                         {"deployment": name, "statusCodeClass": status})
            deployments.append(Resource(kind="online_deployment", id=f"{endpoint}/deployments/{name}", name=name,
                                        endpoint_name=ep, workspace="ws"))
    return deployments


def _error_rule() -> list[Any]:
    return [r for r in load_monitor_rules(ERR_RULE) if r.id == "AMLG-MON-ERR-001"]


@pytest.mark.parametrize("batch", [True, False], ids=["getBatch", "arm"])
def test_forty_deployment_by_status_class_series_all_arrive(standin: MonitorStandin, batch: bool) -> None:
    deployments = _forty_series(standin)
    endpoint = deployments[0].id.rpartition("/deployments/")[0]
    # Azure's default: a filtered query without `top` gets 10 series
    raw = httpx.get(f"{standin.url}{endpoint.lstrip('/')}/providers/Microsoft.Insights/metrics", verify=ssl.create_default_context(
        cafile=str(standin.ca_file)), params={"metricnames": "RequestsPerMinute", "aggregation": "Average", "$filter": SPLIT,
                                  "timespan": "2026-11-26T10:55:00Z/2026-11-26T11:00:00Z"})
    assert len(raw.json()["value"][0]["timeseries"]) == 10
    cfg = settings(standin) if batch else settings(standin, metrics_endpoint=None)
    with AzureMonitor(FakeCredential(), cfg) as monitor:
        answer = monitor.query_metrics(resource_ids=[endpoint], namespace=ENDPOINT_NAMESPACE,
                                       metric_names=["RequestsPerMinute"], aggregations=["average"], start=START,
                                       end=NOW, granularity=GRAIN, filter=SPLIT)
        result = evaluate_rules(_error_rule(), deployments, monitor, now=NOW)
    assert len(answer.series) == 40 and not answer.cut
    calls = [c for c in standin.requests_to(r"metrics:getBatch" if batch else r"/providers/Microsoft\.Insights/metrics$")
             if "api-version" in c.query]  # amlguard's, not the raw one above
    assert calls and all(c.query["top"] == "1000" for c in calls)
    status = {(e.resource.endpoint_name, e.resource.name): e.finding.status for e in result.evaluated if e.finding}
    assert status == {(ep, f"d{i:02d}"): "fail" if i == 19 else "pass" for ep in ("busy", "calm") for i in range(20)}
    # the 5xx share of d19 from RequestsPerMinute's averages (Azure offers no Total for it)
    d19 = next(e for e in result.evaluated if e.resource.name == "d19")
    assert d19.observation.value == pytest.approx(0.5)
    assert {c.query["aggregation"] for c in calls} == {"Average"}


def test_an_answer_that_reaches_top_is_marked_cut(standin: MonitorStandin) -> None:
    deployments = _forty_series(standin)
    with AzureMonitor(FakeCredential(), settings(standin, top=30)) as monitor:
        result = evaluate_rules(_error_rule(), deployments, monitor, now=NOW)
    assert result.summary()["partial"] == 40  # every deployment's value came from a cut answer
    healthy = next(e for e in result.evaluated if e.finding and e.finding.status == "pass")
    assert "returned 30 series, the `top` amlguard asks for: more may exist" in healthy.finding.message
