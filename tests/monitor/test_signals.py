"""Metric signals ask Azure Monitor only for aggregations it publishes: the table in signals.py
against ../shared/reference/online-endpoint-metrics.md, rules refused with the fix, and the default
pack's error-rate and data-collection rules firing on a stand-in that serves only those aggregations."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from amlguard.errors import PolicyError
from amlguard.model import Resource
from amlguard.monitor.azure_monitor import AzureMonitor
from amlguard.monitor.evaluate import evaluate_rules
from amlguard.monitor.rules import load_monitor_rules
from amlguard.monitor.signals import METRIC_AGGREGATIONS, SIGNALS, MetricPoint, MetricSeries, combine, query_aggregation
from tests.monitor.test_azure_monitor import settings
from tests.monitor.test_evaluate import rule
from tests.standins.fixtures import FakeCredential
from tests.standins.monitor import SUB, MonitorStandin

REPO = Path(__file__).resolve().parents[2]
REFERENCE = REPO.parent / "shared" / "reference" / "online-endpoint-metrics.md"
NOW = datetime(2026, 11, 26, 11, 0, tzinfo=UTC)


def published() -> dict[str, dict[str, tuple[str, ...]]]:
    """The two tables of the reference as {endpoint|deployment: {metric: aggregations}}."""
    out: dict[str, dict[str, tuple[str, ...]]] = {}
    level = None
    for line in REFERENCE.read_text(encoding="utf-8").splitlines():
        if line.startswith("## Namespace"):
            level = "deployment" if line.rstrip("`").endswith("/deployments") else "endpoint"
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if level is None or len(cells) != 4 or not cells[0].startswith("`"):
            continue
        names = re.findall(r"`([^`]+)`", cells[0])
        metrics = [names[0]] + [names[0].rsplit("_", 1)[0] + n for n in names[1:]]  # `X_P50` / `_P90` ...
        for metric in metrics:
            out.setdefault(level, {})[metric] = tuple(sorted(a.strip().lower() for a in cells[2].split(",")))
    return out


@pytest.mark.skipif(not REFERENCE.is_file(), reason="../shared/reference is not beside this checkout")
def test_the_aggregation_table_is_the_published_one() -> None:
    ours = {level: {m: tuple(sorted(a)) for m, a in metrics.items()} for level, metrics in METRIC_AGGREGATIONS.items()}
    assert ours == published()


def test_every_metric_signal_asks_for_an_aggregation_its_metric_offers() -> None:
    for spec in (s for s in SIGNALS.values() if s.source == "metrics"):
        assert query_aggregation(spec, spec.aggregation) in METRIC_AGGREGATIONS[spec.namespace][str(spec.metric)]


@pytest.mark.parametrize(("spec", "fix"), [
    ({"aggregation": "total"}, "offers RequestLatency_P95 only as average; use aggregation average"),
    ({"signal": "cpu_utilization", "aggregation": "count", "threshold": 90},
     "CpuUtilizationPercentage only as average, minimum, maximum; use aggregation average / minimum / maximum"),
    ({"signal": "requests_per_minute", "aggregation": "maximum"},
     "use aggregation average, or total (average x minutes of each grain)"),
])
def test_a_rule_asking_for_an_aggregation_azure_does_not_offer_is_refused(tmp_path: Path, spec: dict[str, str],
                                                                          fix: str) -> None:
    with pytest.raises(PolicyError) as info:
        rule(tmp_path, **spec)
    assert "rules.0.aggregation" in info.value.render() and fix in info.value.render()


def test_a_total_of_a_per_minute_rate_is_its_average_times_minutes() -> None:
    spec = SIGNALS["data_collection_errors"]
    per_minute = [MetricPoint(NOW, average=v) for v in (0.5, 1.0, 0.0)]
    assert combine(spec, [MetricSeries("r", spec.metric or "", {}, per_minute)], "total", 60.0) == (1.5, 3)
    five_minutes = [MetricPoint(NOW, average=2.0)]  # 2 errors a minute for a 5-minute grain
    assert combine(spec, [MetricSeries("r", spec.metric or "", {}, five_minutes)], "total", 300.0) == (10.0, 1)


def test_default_error_and_data_collection_rules_fire_on_what_azure_serves(standin: MonitorStandin) -> None:
    """Both rules asked for Total, which Azure does not offer: they could never fire. Now they do."""
    base = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws"
    endpoint = f"{base}/onlineEndpoints/fraud"
    dep = Resource(kind="online_deployment", id=f"{endpoint}/deployments/blue", name="blue", endpoint_name="fraud",
                   workspace="ws", compute_type="managed")
    standin.world.set_metric(endpoint, "RequestsPerMinute", 90.0, {"deployment": "blue", "statusCodeClass": "2xx"})
    standin.world.set_metric(endpoint, "RequestsPerMinute", 10.0, {"deployment": "blue", "statusCodeClass": "5xx"})
    standin.world.set_metric(endpoint, "DataCollectionErrorsPerMinute", 0.2, {"deployment": "blue"})
    rules = [r for r in load_monitor_rules(REPO / "policies" / "monitors.yaml")
             if r.id in ("AMLG-MON-ERR-001", "AMLG-MON-DC-001")]
    with AzureMonitor(FakeCredential(), settings(standin)) as monitor:
        result = evaluate_rules(rules, [dep], monitor, now=NOW)
    got = {e.rule.id: (e.finding.status if e.finding else "kept", e.observation.value) for e in result.evaluated}
    assert got["AMLG-MON-ERR-001"] == ("fail", pytest.approx(0.1))
    assert got["AMLG-MON-DC-001"] == ("fail", pytest.approx(0.2 * 15))  # 15 one-minute grains of 0.2 errors/min
    asked = {c.query.get("aggregation") for c in standin.requests_to(r"/providers/Microsoft\.Insights/metrics$")}
    assert asked == {"Average"}
