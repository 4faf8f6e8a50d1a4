"""The live dashboard: built from a real Service (snapshot inventory, SQLite state) and served by the HTTP app."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from amlguard.config import Settings
from amlguard.model import AuditReport
from amlguard.reports.dashboard import (
    MONITOR_META,
    DashboardData,
    alert_state,
    collect,
    record_monitor_signals,
    render_dashboard,
    render_dashboard_data,
)
from amlguard.service import Service

from .sample import build_report, repo_root
from .test_html import by_attr, parse_strict, rows, scripts

START = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
BOB = {"upn": "bob@contoso.com", "object_id": "0000-1111"}


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def service(tmp_path: Path) -> Iterator[tuple[Service, Clock]]:
    clock = Clock()
    root = repo_root()
    settings = dataclasses.replace(Settings.from_env({}), snapshot=(str(root / "examples" / "workspace"),),
                                   state_dir=tmp_path / "state", policies_dir=root / "policies")
    svc = Service.from_settings(settings, clock=clock)
    try:
        yield svc, clock
    finally:
        svc.close()


def _monitor_signals() -> tuple[Any, datetime]:
    """Signals as `run_monitors` evaluates them on the bundled example (metrics, logs and drift)."""
    from amlguard.inventory import load_paths
    from amlguard.monitor.evaluate import evaluate_rules
    from amlguard.monitor.example import load_example
    from amlguard.monitor.rules import load_monitor_rules

    example = load_example(repo_root() / "examples" / "monitoring")
    snapshot = example.snapshot if isinstance(example.snapshot, (list, tuple)) else [example.snapshot]
    resources = [r for r in load_paths(list(snapshot)).resources if r.kind in ("online_deployment", "online_endpoint")]
    return evaluate_rules(load_monitor_rules(example.rules), resources, example.source, now=example.now), example.now


def test_dashboard_of_a_live_service(service: tuple[Service, Clock]) -> None:
    svc, clock = service
    for _ in range(3):
        svc.sweep()
        clock.now += timedelta(hours=6)
    recommender = next(r for r in svc.latest_report().resources if r.name == "recommender")
    svc.audit(recommender.id, changed_by=BOB)  # an event attributed to bob
    first = svc.alerts.list_alerts()[0]
    svc.alerts.acknowledge(first["fingerprint"], "alice@contoso.com", "on it", now=clock.now)

    text = render_dashboard(svc)
    doc = parse_strict(text)
    counts = by_attr(doc, "data-count")
    summary = svc.latest_report().summary()
    for key in ("resources", "passed", "failed", "exempt", "errors"):
        assert int(counts[key]) == summary[key], key
    assert len(rows(doc)) == summary["resources"]

    alerts = svc.alerts.list_alerts()
    alert_rows = [el for el in doc.iter() if el.get("data-fingerprint")]
    assert {el.get("data-fingerprint") for el in alert_rows} == {a["fingerprint"] for a in alerts}
    assert int(counts["firing"]) == sum(1 for a in alerts if alert_state(a) == "firing")
    acked = next(el for el in alert_rows if el.get("data-fingerprint") == first["fingerprint"])
    assert acked.get("data-state") == "acknowledged"
    assert "alice@contoso.com" in "".join(acked.itertext())
    bob_rows = [el for el in alert_rows if "bob@contoso.com" in "".join(el.itertext())]
    assert bob_rows, "who changed the recommender endpoint is shown on its alerts"
    assert all("recommender" in "".join(el.itertext()) for el in bob_rows)

    trend = next(el for el in doc.iter() if el.get("id") == "trend-chart")
    assert trend.get("data-runs") == "3"
    assert "No monitoring data yet" in text


def test_monitor_signals_from_the_store(service: tuple[Service, Clock]) -> None:
    svc, _ = service
    svc.sweep()
    result, at = _monitor_signals()
    data = record_monitor_signals(svc.store, result, at)  # as the monitor run stores them
    text = render_dashboard(svc)
    doc = parse_strict(text)
    assert "No monitoring data yet" not in text
    latency = next(el for el in doc.iter() if el.get("id") == "latency")
    latency_rows = [el for el in latency.iter() if el.tag.endswith("tr") and el.get("data-status")]
    assert len(latency_rows) == sum(1 for s in data["signals"] if s["unit"] == "ms")
    breached = [el for el in latency_rows if el.get("data-status") == "fail"]
    assert breached and all("fraud-scoring/blue" in "".join(el.itertext()) for el in breached)
    features = {el.get("data-feature"): el.get("data-drifted") for el in doc.iter() if el.get("data-feature")}
    drift = next(s for s in data["signals"] if s["signal"] == "data_drift")
    assert features == {f["name"]: str(f["drifted"]).lower() for f in drift["features"]}


def test_a_failing_source_is_named_not_fatal(service: tuple[Service, Clock]) -> None:
    svc, _ = service
    svc.sweep()

    class Broken:
        def list_alerts(self, **_: Any) -> list[dict[str, Any]]:
            raise RuntimeError("table storage unreachable")

    svc.alerts = Broken()
    data = collect(svc)
    assert data.problems == ["alerts could not be read: table storage unreachable"]
    text = render_dashboard_data(data)
    parse_strict(text)
    assert "table storage unreachable" in text


def test_empty_state_renders() -> None:
    text = render_dashboard_data(DashboardData(report=AuditReport(), generated_at=START))
    doc = parse_strict(text)
    assert by_attr(doc, "data-count")["resources"] == "0"
    assert "No audit history yet" in text and "No alerts" in text and "No monitoring data yet" in text


@pytest.mark.parametrize(("alert", "expected"), [
    ({"status": "firing"}, "firing"),
    ({"status": "pending"}, "pending"),
    ({"status": "firing", "acknowledged_by": "alice"}, "acknowledged"),
    ({"status": "firing", "silenced_by": ["s1"], "acknowledged_by": "alice"}, "silenced"),
    ({"status": "resolved", "silenced_by": ["s1"]}, "resolved"),
])
def test_alert_state(alert: dict[str, Any], expected: str) -> None:
    assert alert_state(alert) == expected


def test_hostile_alert_and_signal_text_is_escaped() -> None:
    evil = "<script>alert(1)</script>"
    alert = {"fingerprint": "f1", "rule": evil, "resource": f"/x/{evil}", "status": "firing", "severity": "high",
             "since": START.isoformat(), "changed_by": {"upn": evil}, "annotations": {"title": evil},
             "history": [{"at": START.isoformat(), "event": "transition", "from": "inactive", "to": "firing",
                          "reason": evil, "changed_by": {"upn": evil}},
                         {"at": START.isoformat(), "event": "acknowledged", "by": evil, "comment": evil}]}
    signals = [{"rule": "M", "resource": f"/d/{evil}", "signal": evil, "unit": "ms", "value": 5, "threshold": 1,
                "status": "fail"},
               {"rule": "D", "resource": f"/d/{evil}", "signal": "data_drift", "unit": "features", "value": 1,
                "status": "fail", "features": [{"name": evil, "type": "categorical", "drifted": True,
                                                "metrics": {evil: 1.0}, "thresholds": {}, "breaches": [evil],
                                                "histogram": {"categories": [evil], "baseline": [1], "current": [2]},
                                                "note": evil}]}]
    data = DashboardData(report=build_report(), alerts=[alert], monitor={"at": None, "signals": signals},
                         runs=[{"kind": "sweep", "at": START.isoformat(), "summary": {"passed": 1, "failed": 1}}],
                         generated_at=START + timedelta(hours=1))
    text = render_dashboard_data(data)
    doc = parse_strict(text)
    assert "<script>alert" not in text
    assert len(scripts(doc)) == 1


def test_get_api_dashboard(service: tuple[Service, Clock]) -> None:
    import asyncio

    import httpx

    from amlguard.api.app import create_app

    svc, _ = service
    settings = dataclasses.replace(svc.settings, api_token="s3cret-token")
    app = create_app(settings, service=svc)

    async def get(headers: dict[str, str]) -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://amlguard") as client:
            return await client.get("/api/dashboard", headers=headers)

    assert asyncio.run(get({})).status_code == 401
    response = asyncio.run(get({"Authorization": "Bearer s3cret-token"}))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    doc = parse_strict(response.text)
    assert int(by_attr(doc, "data-count")["resources"]) == svc.latest_report().summary()["resources"]

    async def audit_html() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://amlguard") as client:
            return await client.get("/api/audit", params={"format": "html"},
                                    headers={"Authorization": "Bearer s3cret-token"})

    report = asyncio.run(audit_html())  # the static report on demand, as `--format html` writes it
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
    assert int(by_attr(parse_strict(report.text), "data-count")["failed"]) == svc.latest_report().summary()["failed"]



def test_record_monitor_signals_merges_runs_by_rule(service: tuple[Service, Clock]) -> None:
    svc, clock = service
    latency = {"rule": "LAT", "resource": "/d/a", "signal": "latency_p95", "unit": "ms", "value": 10, "status": "pass"}
    drift = {"rule": "DRIFT", "resource": "/d/a", "signal": "data_drift", "unit": "features", "value": 0,
             "status": "pass", "features": []}
    record_monitor_signals(svc.store, [latency, drift], clock.now)
    clock.now += timedelta(minutes=5)  # only the latency rule is due now, and /d/b is new
    body = record_monitor_signals(svc.store, [{**latency, "value": 20}, {**latency, "resource": "/d/b"}], clock.now)
    stored = svc.store.get_meta(MONITOR_META).body
    assert stored == body
    by_key = {(s["rule"], s["resource"]): s for s in stored["signals"]}
    assert set(by_key) == {("DRIFT", "/d/a"), ("LAT", "/d/a"), ("LAT", "/d/b")}
    assert by_key[("LAT", "/d/a")]["value"] == 20
    assert by_key[("DRIFT", "/d/a")]["at"] == START.isoformat()  # kept from the earlier run
    assert stored["at"] == clock.now.isoformat()
    clock.now += timedelta(minutes=5)  # /d/a is no longer selected by the latency rule
    record_monitor_signals(svc.store, [{**latency, "resource": "/d/b"}], clock.now)
    keys = {(s["rule"], s["resource"]) for s in svc.store.get_meta(MONITOR_META).body["signals"]}
    assert keys == {("DRIFT", "/d/a"), ("LAT", "/d/b")}


def test_dashboard_of_5000_resources_renders_quickly() -> None:
    import time

    from tests.browser.large import large_alerts, large_report

    report = large_report()
    alerts = large_alerts(report, START)
    runs = [{"kind": "sweep", "at": (START + timedelta(hours=i)).isoformat(),
             "summary": {"resources": 5000, "passed": 10000 + i, "failed": 14000 - i, "exempt": 0, "errors": 0}}
            for i in range(500)]
    data = DashboardData(report=report, alerts=alerts, runs=runs, generated_at=START + timedelta(days=30))
    started = time.perf_counter()
    text = render_dashboard_data(data)
    elapsed = time.perf_counter() - started
    print(f"\ndashboard of 5,000 resources, {len(alerts)} alerts, 500 runs: {elapsed:.2f} s, {len(text) / 1e6:.1f} MB")
    assert elapsed < 30  # generous: ~2 s on the shared build machine
    # (strict parsing of 7 MB with html5lib takes longer than the rendering; the small pages are parsed above)
    firing = re.search(r'data-count="firing">([\d,]+)<', text)
    assert firing and int(firing.group(1).replace(",", "")) == sum(1 for a in alerts if a["status"] == "firing")
    assert text.count("data-fingerprint=") == 500  # the most urgent, not all
    assert f"showing the 500 most urgent of {len(alerts)}" in text


def test_malformed_stored_documents_do_not_break_the_page() -> None:
    """Run summaries, alerts and signals are stored documents: wrong types degrade to blanks, never a 500."""
    signals = [
        {"rule": "L", "resource": "/d/x", "signal": "latency_p95", "unit": "ms", "value": "slow", "threshold": None,
         "status": "fail"},
        {"rule": "L", "resource": None, "signal": "latency_p99", "unit": "ms", "value": float("nan"),
         "threshold": "1s", "status": None},
        {"rule": "U", "resource": "/d/x", "signal": "cpu", "unit": "%", "value": True, "threshold": [1]},
        {"rule": "D", "resource": "/d/x", "signal": "data_drift", "unit": "features", "samples": "many",
         "features": [{"name": None, "drifted": "yes", "metrics": {"psi": "high", "js": None},
                       "thresholds": {"psi": "0.2"}, "histogram": {"edges": [0, None, "x"], "baseline": ["1", None],
                                                                   "current": [-3, "y"]},
                       "baseline_count": "lots"},
                      "not a feature"]},
        "not a signal",
    ]
    runs = [{"kind": "sweep", "at": "yesterday", "summary": {"passed": 1}},
            {"kind": "sweep", "at": START.isoformat(), "summary": {"passed": "3", "failed": None, "errors": "x"}},
            {"kind": "sweep", "at": (START + timedelta(hours=1)).isoformat(), "summary": "broken"}]
    alerts = [{"fingerprint": "f", "rule": None, "resource": None, "status": "firing", "severity": None,
               "since": "not a time", "history": [{"at": None}, {"at": "garbage"}, {"at": START.isoformat()}],
               "changed_by": {"weird": ["list"]}}]
    text = render_dashboard_data(DashboardData(report=build_report(), alerts=alerts, runs=runs, generated_at=START,
                                               monitor={"at": "later", "signals": signals}))
    parse_strict(text)
    assert 'id="latency"' in text and 'data-feature=""' in text and 'id="trend-chart" data-runs="1"' in text


def _broken(*_: Any, **__: Any) -> Any:
    raise RuntimeError("Resource Graph throttled")


def test_an_instance_that_did_not_sweep_answers_from_the_store(service: tuple[Service, Clock]) -> None:
    svc, _ = service
    swept = svc.sweep()
    svc.last_report = None  # another Function App instance: the sweep ran elsewhere
    svc.inventory.list = _broken  # type: ignore[method-assign]  # it must not sweep again
    data = collect(svc)
    assert data.problems == []

    def verdicts(report: Any) -> list[tuple[str, str, str, str, int | None]]:
        return sorted((f.rule, f.resource, f.status, f.message, f.line) for f in report.findings)

    assert verdicts(data.report) == verdicts(swept) and data.report.findings
    assert sorted(r.summary()["id"] for r in data.report.resources) == sorted(r.id for r in swept.resources)
    parse_strict(render_dashboard_data(data))


def test_a_failing_sweep_still_shows_the_alert_state(service: tuple[Service, Clock]) -> None:
    svc, clock = service
    svc.sweep()
    svc.last_report = None
    for record in svc.store.audit_records():  # nothing stored to answer from: the dashboard sweeps
        svc.store.record_audit(record["resource"], clock() + timedelta(seconds=1), {"gone": True})
    svc.inventory.list = _broken  # type: ignore[method-assign]
    data = collect(svc)
    assert data.problems == ["the audit could not run: Resource Graph throttled"]
    assert data.alerts and data.runs
    text = render_dashboard_data(data)
    parse_strict(text)
    assert "Resource Graph throttled" in text
