"""run_monitors feeding the alert lifecycle (pending -> firing after `for`, no-data modes, schedules)
against the Azure Monitor stand-in, and the `amlguard monitor` command on the bundled example."""

from __future__ import annotations

import io
import json
import textwrap
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from amlguard.alerts.lifecycle import State, evaluate
from amlguard.alerts.store import open_store
from amlguard.config import Settings
from amlguard.errors import ConfigError
from amlguard.inventory import SnapshotInventory
from amlguard.model import Finding
from amlguard.monitor.azure_monitor import AzureMonitor, MonitorClientSettings
from amlguard.monitor.runner import due_rules, run, run_monitors
from amlguard.service import PackHolder, Service
from tests.standins.fixtures import FakeCredential
from tests.standins.monitor import MonitorStandin

REPO = Path(__file__).resolve().parents[2]
WORKSPACE = REPO / "examples" / "workspace"
EP = ("/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-ml-prod/providers/"
      "Microsoft.MachineLearningServices/workspaces/mlw-prod/onlineEndpoints/fraud-scoring")
BLUE = f"{EP}/deployments/blue"
T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


@dataclass
class LifecycleAlerts:
    """AlertManager.process's contract on the pure lifecycle (amlguard.alerts.lifecycle.evaluate):
    fail / error findings are failing observations, pass / not_applicable clear ones; an alert
    without a finding is left alone (the runner passes no `audited` list)."""

    states: dict[tuple[str, str], State] = field(default_factory=dict)
    severities: dict[tuple[str, str], str] = field(default_factory=dict)
    calls: list[dict[str, Any]] = field(default_factory=list)

    def process(self, findings: list[Finding], *, audited: list[str], now: datetime,
                for_seconds: dict[str, float], changed_by: Any = None) -> list[tuple[str, str, str]]:
        self.calls.append({"findings": findings, "audited": list(audited), "for_seconds": dict(for_seconds)})
        transitions = []
        for f in findings:
            state, change = evaluate(self.states.get((f.rule, f.resource)), f.status in ("fail", "error"), now,
                                     for_seconds=for_seconds.get(f.rule, 0.0))
            self.states[(f.rule, f.resource)] = state
            self.severities[(f.rule, f.resource)] = f.severity
            if change:
                transitions.append((f.rule, f.resource, change))
        return transitions

    def list_alerts(self, *, include_resolved: bool = True) -> list[dict[str, Any]]:
        return [{"rule": rule, "resource": res, "status": st.status, "severity": self.severities[(rule, res)]}
                for (rule, res), st in self.states.items()
                if include_resolved or st.status in ("pending", "firing")]

    def status(self, rule: str, resource: str) -> str:
        state = self.states.get((rule, resource))
        return state.status if state else "inactive"


def monitor_for(server: MonitorStandin) -> AzureMonitor:
    return AzureMonitor(FakeCredential(), MonitorClientSettings(
        metrics_endpoint=server.url.rstrip("/"), logs_endpoint=server.url.rstrip("/"), arm_endpoint=server.url,
        workspace_id="ws-guid", connection_verify=str(server.ca_file), retry_total=1, retry_backoff_factor=0.01))


def rules_file(tmp_path: Path, no_data: str = "keep_state", for_: str = "10m", every: str = "5m",
               keep_firing_for: str = "0s") -> Path:
    path = tmp_path / "rules" / "monitors.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(textwrap.dedent(f"""\
        apiVersion: amlguard/v1
        kind: MonitorRules
        rules:
          - id: AMLG-MON-LAT-001
            title: p95 latency
            severity: high
            signal: latency_p95
            window: 5m
            every: {every}
            threshold: 1000
            for: {for_}
            keep_firing_for: {keep_firing_for}
            no_data: {no_data}
            select: {{field: endpoint_name, equals: fraud-scoring}}
            description: d
            rationale: r
            remediation: scale out
        """), encoding="utf-8")
    return path


def service_with(tmp_path: Path, alerts: Any, rules: Path, clock: list[datetime]) -> Service:
    settings = Settings(policies_dir=REPO / "policies", state_dir=tmp_path / "state",
                        monitor_rules=rules)
    store = open_store(tmp_path / "state")
    return Service(settings=settings, inventory=SnapshotInventory([str(WORKSPACE)]),
                   packs=PackHolder(REPO / "policies"), store=store, alerts=alerts, clock=lambda: clock[0])


# value served for blue's p95 at each 5-minute tick: a number, None (no data) or "error" (503s)
SEQUENCES = {
    "keep_state": ([1500, 1500, 1500, None, "error", 1500, 200],
                   ["pending", "pending", "firing", "firing", "firing", "firing", "resolved"]),
    "ignore": ([1500, 1500, 1500, None, 1500],
               ["pending", "pending", "firing", "resolved", "pending"]),
    "alert": ([None, None, None, 200],
              ["pending", "pending", "firing", "resolved"]),
}


@pytest.mark.parametrize("no_data", sorted(SEQUENCES))
def test_sustained_breach_goes_pending_then_firing_after_for(tmp_path: Path, standin: MonitorStandin,
                                                             no_data: str) -> None:
    values, expected = SEQUENCES[no_data]
    alerts = LifecycleAlerts()
    clock = [T0]
    service = service_with(tmp_path, alerts, rules_file(tmp_path, no_data), clock)
    source = monitor_for(standin)
    seen = []
    for tick, value in enumerate(values):
        clock[0] = T0 + timedelta(minutes=5 * tick)
        standin.clear_faults()
        standin.world.set_metric(EP, "RequestLatency_P95", 300, {"deployment": "green"})
        if value == "error":
            standin.inject(path="metrics", status=503, times=None)
        elif value is None:
            standin.world.set_metric(EP, "RequestLatency_P95", None, {"deployment": "blue"})
        else:
            standin.world.set_metric(EP, "RequestLatency_P95", value, {"deployment": "blue"})
        summary = run_monitors(service, source=source)
        assert summary["due"] == ["AMLG-MON-LAT-001"]
        seen.append(alerts.status("AMLG-MON-LAT-001", BLUE))
        # green is healthy; only the tick whose query failed (an error finding) may start a pending alert
        assert alerts.status("AMLG-MON-LAT-001", f"{EP}/deployments/green") != "firing"
    source.close()
    service.close()
    assert seen == expected
    assert all(call["for_seconds"] == {"AMLG-MON-LAT-001": 600.0} for call in alerts.calls)


def test_keep_state_gives_no_finding(tmp_path: Path, standin: MonitorStandin) -> None:
    alerts = LifecycleAlerts()
    service = service_with(tmp_path, alerts, rules_file(tmp_path, "keep_state"), [T0])
    standin.world.set_metric(EP, "RequestLatency_P95", 300, {"deployment": "green"})
    with monitor_for(standin) as source:
        summary = run_monitors(service, source=source)
    service.close()
    (call,) = alerts.calls
    assert call["audited"] == []  # an audited resource would have its audit alerts resolved too
    # blue kept its state (no finding); green is healthy with no open alert, so its pass finding
    # would change nothing and is not sent
    assert call["findings"] == []
    assert (summary["kept"], summary["passed"], summary["calls"]) == (1, 1, {"metrics_arm": 1})


def test_rules_run_on_their_schedule_and_runs_are_recorded(tmp_path: Path, standin: MonitorStandin) -> None:
    alerts = LifecycleAlerts()
    clock = [T0]
    service = service_with(tmp_path, alerts, rules_file(tmp_path, every="1h"), clock)
    standin.world.set_metric(EP, "RequestLatency_P95", 1500, {"deployment": "blue"})
    with monitor_for(standin) as source:
        first = run_monitors(service, source=source)
        clock[0] = T0 + timedelta(minutes=5)
        early = run_monitors(service, source=source)
        clock[0] = T0 + timedelta(minutes=59, seconds=45)  # a timer tick a little early still runs it
        due = run_monitors(service, source=source)
        forced = run_monitors(service, source=source, force=True)
    assert (first["due"], early["due"], due["due"], forced["due"]) == (
        ["AMLG-MON-LAT-001"], [], ["AMLG-MON-LAT-001"], ["AMLG-MON-LAT-001"])
    assert "failed" not in early and len(alerts.calls) == 3
    runs = service.store.runs(kind="monitor")
    assert len(runs) == 3 and runs[0]["summary"]["failed"] == 1
    service.close()


def test_invalid_rules_keep_the_last_good_ones(tmp_path: Path, standin: MonitorStandin) -> None:
    alerts = LifecycleAlerts()
    rules = rules_file(tmp_path)
    service = service_with(tmp_path, alerts, rules, [T0])
    standin.world.set_metric(EP, "RequestLatency_P95", 1500, {"deployment": "blue"})
    with monitor_for(standin) as source:
        run_monitors(service, source=source)
        rules.write_text(rules.read_text().replace("threshold: 1000", "threshold: fast"), encoding="utf-8")
        summary = run_monitors(service, source=source, force=True)
    service.close()
    assert summary["due"] == ["AMLG-MON-LAT-001"] and summary["failed"] == 1
    assert "rules_error" in summary and "monitors.yaml" in summary["rules_error"]


@pytest.mark.parametrize(("last", "minutes", "every", "due"), [
    (None, 0, 300, True), (0, 4, 300, False), (0, 5, 300, True), (0, 4.6, 300, True),
    (0, 30, 3600, False), (0, 59.6, 3600, True), ("garbage", 0, 300, True),
])
def test_due_rules(tmp_path: Path, last: Any, minutes: float, every: int, due: bool) -> None:
    from amlguard.monitor.rules import load_monitor_rules

    (rule,) = load_monitor_rules(rules_file(tmp_path, every=f"{every}s"))
    history = {} if last is None else {rule.id: last if isinstance(last, str) else T0.isoformat()}
    assert bool(due_rules([rule], history, T0 + timedelta(minutes=minutes))) is due


@pytest.mark.parametrize(("last", "now", "due"), [
    (None, "2026-11-26T10:00:00Z", True),  # never run: at once, as Azure ML's first run
    ("2026-11-26T03:15:02Z", "2026-11-27T03:10:00Z", False),  # `every: 5m` alone would run it
    ("2026-11-26T03:15:02Z", "2026-11-27T03:14:40Z", True),  # a tick a little early is that time's run
    ("2026-11-26T03:14:45Z", "2026-11-26T03:20:00Z", False),  # ... and not run again at the next tick
    ("2026-11-24T03:15:00Z", "2026-11-26T09:00:00Z", True),  # runs missed while stopped: once
], ids=["never", "before", "early-tick", "no-double-run", "missed"])
def test_a_rule_with_cron_runs_at_its_times(tmp_path: Path, last: str | None, now: str, due: bool) -> None:
    from amlguard.monitor.rules import load_monitor_rules

    path = rules_file(tmp_path)
    path.write_text(path.read_text().replace("    every: 5m\n", "    every: 5m\n    cron: '15 3 * * *'\n"))
    (rule,) = load_monitor_rules(path)
    assert rule.cron == "15 3 * * *"
    history = {} if last is None else {rule.id: last}
    assert bool(due_rules([rule], history, datetime.fromisoformat(now))) is due


# ------------------------------------------------------------------------------------------ the CLI
def test_cli_example_shows_a_latency_breach_and_a_drifted_feature() -> None:
    out = io.StringIO()
    code = run(["--example", str(REPO / "examples" / "monitoring")], stdout=out)
    text = out.getvalue()
    assert code == 1
    assert "FAIL    AMLG-MON-LAT-001    fraud-scoring/blue   latency_p95" in text
    assert "latency_p95 1848 ms > 1000 ms over the last 5m" in text
    assert "3 features drifted over the last 24h: age (normalized_wasserstein_distance" in text
    assert "partial results" in text and "no data (state kept)" in text


def test_a_monitor_run_that_checks_nothing_exits_2(tmp_path: Path) -> None:
    """No monitor rules under --rules, or rules that select none of the resources: exit 2 with the
    reason, as an audit of paths holding nothing does, not "0 checks" and exit 0."""
    (tmp_path / "empty").mkdir()
    err = io.StringIO()
    example = str(REPO / "examples" / "monitoring")
    assert run(["--example", example, "--rules", str(tmp_path / "empty")], stdout=io.StringIO(), stderr=err) == 2
    assert f"no monitor rules in {tmp_path / 'empty'}: point --rules" in err.getvalue()
    (tmp_path / "rules.yaml").write_text(textwrap.dedent("""\
        apiVersion: amlguard/v1
        kind: MonitorRules
        rules:
          - {id: AMLG-MON-LAT-901, title: t, severity: high, signal: latency_p95, threshold: 1000,
             description: d, rationale: r, remediation: x, select: {field: endpoint_name, equals: no-such-endpoint}}
        """), encoding="utf-8")
    err = io.StringIO()
    assert run(["--example", example, "--rules", str(tmp_path / "rules.yaml")], stdout=io.StringIO(),
               stderr=err) == 2
    assert "nothing was checked: none of the" in err.getvalue() and "1 monitor rule(s)" in err.getvalue()


def test_cli_example_json() -> None:
    out = io.StringIO()
    assert run(["--example", str(REPO / "examples" / "monitoring"), "--format", "json"], stdout=out) == 1
    payload = json.loads(out.getvalue())
    assert payload["now"] == "2026-11-26T11:00:00+00:00"
    by = {(s["rule"], s["resource"].rsplit("/", 3)[-3] + "/" + s["resource"].rsplit("/", 1)[-1]): s
          for s in payload["signals"]}
    lat = by[("AMLG-MON-LAT-001", "fraud-scoring/blue")]
    assert lat["status"] == "fail" and lat["threshold"] == 1000 and lat["value"] > 1000 and lat["samples"] == 5
    drift = by[("AMLG-MON-DRIFT-101", "fraud-scoring/blue")]
    assert drift["drifted_features"] == ["age", "income", "region"]
    assert {f["name"] for f in drift["features"]} == {"age", "income", "credit_score", "tenure_months", "region",
                                                     "channel"}
    assert by[("AMLG-MON-CAP-001", "recommender/main")]["status"] == "kept"
    assert by[("AMLG-MON-LAT-101", "fraud-scoring/blue")]["partial"] is True
    assert payload["summary"]["failed"] == 6
    assert all(f["status"] in ("pass", "fail", "not_applicable", "error") for f in payload["findings"])


def test_cli_errors_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: amlguard/v1\nkind: MonitorRules\nrules:\n  - id: AMLG-MON-X-1\n", encoding="utf-8")
    err = io.StringIO()
    assert run(["--example", str(REPO / "examples" / "monitoring"), "--rules", str(bad)], stdout=io.StringIO(),
               stderr=err) == 2
    assert f"{bad}:4" in err.getvalue() and "AMLG-MON" in err.getvalue()
    err = io.StringIO()
    assert run(["--example", str(tmp_path)], stdout=io.StringIO(), stderr=err) == 2
    assert "example.yaml" in err.getvalue()
    assert run(["--format", "xml"], stdout=io.StringIO(), stderr=io.StringIO()) == 2


def test_alerts_of_removed_rules_and_unselected_resources_resolve(tmp_path: Path, standin: MonitorStandin) -> None:
    alerts = LifecycleAlerts()
    rules = rules_file(tmp_path, for_="0s")
    service = service_with(tmp_path, alerts, rules, [T0])
    standin.world.set_metric(EP, "RequestLatency_P95", 1500, {"deployment": "blue"})
    gone = f"{EP}/deployments/retired"
    alerts.process([Finding("AMLG-MON-LAT-001", gone, "fail", "high", "old breach"),
                    Finding("AMLG-MON-ERR-009", BLUE, "fail", "high", "rule since deleted"),
                    Finding("AMLG-NET-001", BLUE, "fail", "high", "an audit alert")],
                   audited=[], now=T0, for_seconds={})
    with monitor_for(standin) as source:
        run_monitors(service, source=source)
    service.close()
    assert alerts.status("AMLG-MON-LAT-001", BLUE) == "firing"
    assert alerts.status("AMLG-MON-LAT-001", gone) == "resolved"
    assert alerts.status("AMLG-MON-ERR-009", BLUE) == "resolved"
    assert alerts.status("AMLG-NET-001", BLUE) == "firing"  # audit alerts are not the monitor's to resolve
    messages = {f.resource: f.message for f in alerts.calls[-1]["findings"] if f.status == "not_applicable"}
    assert messages == {gone: "monitor rule AMLG-MON-LAT-001 no longer selects this resource",
                        BLUE: "monitor rule AMLG-MON-ERR-009 was removed or disabled"}


def _real_service(tmp_path: Path, clock: list[datetime], **rules: str) -> tuple[Any, Service]:
    alerts_module = pytest.importorskip("amlguard.alerts")
    if not hasattr(alerts_module, "AlertManager"):
        pytest.skip("amlguard.alerts.AlertManager is not built yet")
    store = open_store(tmp_path / "state")
    manager = alerts_module.AlertManager(store, clock=lambda: clock[0])
    settings = Settings(policies_dir=REPO / "policies", state_dir=tmp_path / "state",
                        monitor_rules=rules_file(tmp_path, **rules))
    service = Service(settings=settings, inventory=SnapshotInventory([str(WORKSPACE)]),
                      packs=PackHolder(REPO / "policies"), store=store, alerts=manager, clock=lambda: clock[0])
    return manager, service


def _status(manager: Any, rule: str, resource: str) -> str:
    alerts = {(a["rule"], a["resource"]): a for a in manager.list_alerts(include_resolved=True)}
    found = alerts.get((rule, resource))
    return str(found["status"]) if found else "inactive"


def test_sustained_breach_fires_after_for_in_the_real_alert_manager(tmp_path: Path,
                                                                   standin: MonitorStandin) -> None:
    """The AlertManager over SQLite (amlguard.alerts.open_store): pending -> firing after `for`, kept
    through a gap in the data, resolved when healthy; the audit alerts of the resource are untouched."""
    clock = [T0]
    manager, service = _real_service(tmp_path, clock)
    manager.process([Finding("AMLG-OPS-002", BLUE, "fail", "low", "app insights off")], audited=[BLUE], now=T0)
    standin.world.set_metric(EP, "RequestLatency_P95", 300, {"deployment": "green"})
    statuses = []
    with monitor_for(standin) as source:
        for tick, value in enumerate([1500, 1500, 1500, None, 200]):
            clock[0] = T0 + timedelta(minutes=5 * tick)
            standin.world.set_metric(EP, "RequestLatency_P95", value, {"deployment": "blue"})
            run_monitors(service, source=source)
            statuses.append(_status(manager, "AMLG-MON-LAT-001", BLUE))
    audit_alert = _status(manager, "AMLG-OPS-002", BLUE)
    service.close()
    assert statuses == ["pending", "pending", "firing", "firing", "resolved"]
    assert audit_alert == "firing"


def test_keep_firing_for_holds_a_flapping_alert(tmp_path: Path, standin: MonitorStandin) -> None:
    clock = [T0]
    manager, service = _real_service(tmp_path, clock, for_="0s", keep_firing_for="10m")
    statuses = []
    with monitor_for(standin) as source:
        for tick, value in enumerate([1500, 200, 1500, 200, 200, 200]):
            clock[0] = T0 + timedelta(minutes=5 * tick)
            standin.world.set_metric(EP, "RequestLatency_P95", value, {"deployment": "blue"})
            run_monitors(service, source=source)
            statuses.append(_status(manager, "AMLG-MON-LAT-001", BLUE))
    service.close()
    assert statuses == ["firing", "firing", "firing", "firing", "resolved", "resolved"]


def test_an_audit_sweep_leaves_monitor_alerts_alone(tmp_path: Path, standin: MonitorStandin) -> None:
    clock = [T0]
    manager, service = _real_service(tmp_path, clock)
    standin.world.set_metric(EP, "RequestLatency_P95", 1500, {"deployment": "blue"})
    with monitor_for(standin) as source:
        for tick in range(3):
            clock[0] = T0 + timedelta(minutes=5 * tick)
            run_monitors(service, source=source)
    assert _status(manager, "AMLG-MON-LAT-001", BLUE) == "firing"
    service.sweep()
    status = _status(manager, "AMLG-MON-LAT-001", BLUE)
    service.close()
    assert status == "firing"


def test_cli_state_feeds_the_alert_lifecycle(tmp_path: Path) -> None:
    alerts_module = pytest.importorskip("amlguard.alerts")
    if not hasattr(alerts_module, "AlertManager"):
        pytest.skip("amlguard.alerts.AlertManager is not built yet")
    out = io.StringIO()
    example = str(REPO / "examples" / "monitoring")
    assert run(["--example", example, "--state", str(tmp_path), "--format", "json"], stdout=out) == 1
    transitions = json.loads(out.getvalue())["transitions"]
    by = {(t["rule"], t["resource"].rsplit("/", 1)[-1]): t["to"] for t in transitions}
    assert by[("AMLG-MON-LAT-001", "blue")] == "pending"  # for: 10m
    assert by[("AMLG-MON-DRIFT-101", "blue")] == "firing"  # no `for`
    store = open_store(tmp_path)
    latest = store.get_meta("monitor-latest")
    store.close()
    assert latest is not None and any(s.get("drifted_features") for s in latest.body["signals"])
    out = io.StringIO()
    run(["--example", example, "--state", str(tmp_path), "--now", "2026-11-26T11:10:00Z"], stdout=out)
    # ten minutes on: the traffic-log breach held for its `for` and fires; the example's metrics end at
    # 11:00, so the metric latency rule has no data, which it ignores (resolved)
    assert "AMLG-MON-LAT-101 on blue -> firing" in out.getvalue()
    assert "AMLG-MON-LAT-001 on blue -> resolved" in out.getvalue()


def test_drift_rule_reads_a_log_analytics_table_through_the_stand_in(
        tmp_path: Path, standin: MonitorStandin, monkeypatch: pytest.MonkeyPatch) -> None:
    import csv

    drift = REPO / "examples" / "drift"
    with (drift / "current.csv").open(encoding="utf-8") as fh:
        rows = [{"DeploymentName": "blue", "age": int(r["age"]), "region": r["region"]} for r in csv.DictReader(fh)]
    standin.world.tables["CreditInputs_CL"] = [*rows, {"DeploymentName": "green", "age": 30, "region": "north"}]
    standin.world.partial_error = {"code": "PartialError", "message": "row limit reached"}
    rules = tmp_path / "drift.yaml"
    rules.write_text(textwrap.dedent(f"""\
        apiVersion: amlguard/v1
        kind: MonitorRules
        rules:
          - id: AMLG-MON-DRIFT-001
            title: drift
            severity: medium
            signal: data_drift
            window: 24h
            select: {{field: endpoint_name, equals: fraud-scoring}}
            drift:
              baseline: {drift}/baseline.csv
              current: {{log_analytics: {{table: CreditInputs_CL, deployment_column: DeploymentName,
                                          columns: [age, region]}}}}
              features: [age, region]
            description: d
            rationale: r
            remediation: x
        """), encoding="utf-8")
    settings = Settings.from_env({"AMLGUARD_MONITOR_WORKSPACE_ID": "ws-guid",
                                  "AMLGUARD_MONITOR_LOGS_ENDPOINT": standin.url.rstrip("/"),
                                  "AMLGUARD_CA_BUNDLE": str(standin.ca_file)})
    monkeypatch.setattr("amlguard.inventory.config.credential_from_env", lambda env=None: FakeCredential())
    out = io.StringIO()
    code = run(["--snapshot", str(WORKSPACE), "--rules", str(rules), "--format", "json",
                "--now", "2026-11-26T11:00:00Z"], stdout=out, settings=settings)
    assert code == 1
    signals = {s["resource"].rsplit("/", 1)[-1]: s for s in json.loads(out.getvalue())["signals"]}
    assert signals["blue"]["status"] == "fail" and signals["blue"]["drifted_features"] == ["age", "region"]
    assert signals["blue"]["partial"] is True and signals["green"]["samples"] == 1
    (query,) = [q for q in standin.queries if "DeploymentName == 'blue'" in q]
    assert query.startswith("CreditInputs_CL\n| where TimeGenerated >= datetime(2026-11-25T11:00:00Z)")


def _dashboard_health(data: Any) -> dict[str, Any]:
    from amlguard.reports import dashboard

    return dashboard._health(data)


def test_a_recorded_example_replays_at_the_service_clock(tmp_path: Path) -> None:
    """AMLGUARD_MONITOR_EXAMPLE: the monitor timer without Azure (local serve, function tests)."""
    alerts = LifecycleAlerts()
    clock = [datetime(2027, 3, 1, 8, 0, tzinfo=UTC)]
    settings = Settings(policies_dir=REPO / "policies", state_dir=tmp_path / "state",
                        monitor_example=str(REPO / "examples" / "monitoring"))
    service = Service(settings=settings, inventory=SnapshotInventory([str(WORKSPACE)]),
                      packs=PackHolder(REPO / "policies"), store=open_store(tmp_path / "state"), alerts=alerts,
                      clock=lambda: clock[0])
    summary = run_monitors(service)
    latest = service.store.get_meta("monitor-latest")  # what the dashboard shows
    from amlguard.reports.dashboard import collect

    health = _dashboard_health(collect(service))
    service.close()
    # the documented `serve --monitor-example` shows the drift panel: the example's drift rule ran
    assert [d["resource"].rsplit("/", 3)[-3::2] for d in health["drift"]] == [["fraud-scoring", "blue"]]
    assert latest is not None and latest.body["at"] == clock[0].isoformat()
    shown = {(s["rule"], s["resource"]): s for s in latest.body["signals"]}
    assert shown[("AMLG-MON-LAT-001", BLUE)]["status"] == "fail" and len(shown) == summary["evaluated"]
    assert alerts.status("AMLG-MON-LAT-001", BLUE) == "pending"
    assert alerts.status("AMLG-MON-RES-001", BLUE) == "pending"
    # LAT-001, LAT-002, RES-001, LAT-101 and DRIFT-101 on blue; ERR-001 on green: the pack's rules and the
    # example's own, whose drift rule reads the recorded collector files at the recording's time
    assert summary["failed"] == 6 and summary["errors"] == 0
    assert shown[("AMLG-MON-DRIFT-101", BLUE)]["drifted_features"] == ["age", "income", "region"]


def test_the_monitor_timer_function_runs_the_monitors(tmp_path: Path) -> None:
    """functions/monitor.py's handler, in a fresh process as the worker runs it, on the replayed example."""
    import os
    import subprocess
    import sys

    code = ("import functions.monitor as m; m.monitor_timer._function._func(None); "
            "from functions.runtime import service; import json; "
            "print(json.dumps(sorted((a['rule'], a['resource'].rsplit('/', 1)[-1], a['status']) "
            "for a in service().alerts.list_alerts())))")
    env = {**os.environ, "AMLGUARD_SNAPSHOT": str(WORKSPACE), "AMLGUARD_STATE_DIR": str(tmp_path),
           "AMLGUARD_MONITOR_EXAMPLE": str(REPO / "examples" / "monitoring")}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                         check=True, timeout=60)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [
        ["AMLG-MON-DRIFT-101", "blue", "firing"], ["AMLG-MON-ERR-001", "green", "pending"],
        ["AMLG-MON-LAT-001", "blue", "pending"], ["AMLG-MON-LAT-002", "blue", "pending"],
        ["AMLG-MON-LAT-101", "blue", "pending"], ["AMLG-MON-RES-001", "blue", "pending"]]


def test_a_rule_never_heard_from_warns_after_an_hour_apart_from_breaches(tmp_path: Path,
                                                                        standin: MonitorStandin) -> None:
    """`no_data: ignore` means "quiet while idle": a signal that never returned a point for a resource
    since amlguard started watching it raises `<rule>:no-data` after AMLGUARD_MONITOR_NO_DATA_AFTER
    (1h by default); its first data resolves it, and a resource once heard from never warns when idle."""
    alerts = LifecycleAlerts()
    clock = [T0]
    service = service_with(tmp_path, alerts, rules_file(tmp_path, "ignore", for_="0s"), clock)
    warning = "AMLG-MON-LAT-001:no-data"
    standin.world.set_metric(EP, "RequestLatency_P95", None, {"deployment": "blue"})  # never any data
    seen: list[tuple[int, str, str, int]] = []
    with monitor_for(standin) as source:
        for minute in range(0, 95, 5):
            clock[0] = T0 + timedelta(minutes=minute)
            standin.clear_faults()
            if minute == 30:  # a failed query is an error finding, never a no-data warning
                standin.inject(path="metrics", status=503, times=None)
            if minute == 80:
                standin.world.set_metric(EP, "RequestLatency_P95", 300, {"deployment": "blue"})
            if minute >= 85:  # idle again: heard from once, so quiet
                standin.world.set_metric(EP, "RequestLatency_P95", None, {"deployment": "blue"})
            green = 300 if minute < 10 else None  # green reports, then goes idle
            standin.world.set_metric(EP, "RequestLatency_P95", green, {"deployment": "green"})
            summary = run_monitors(service, source=source)
            seen.append((minute, alerts.status(warning, BLUE), alerts.status(warning, f"{EP}/deployments/green"),
                         summary["never_heard"]))
    service.close()
    assert [m for m, blue, _, _ in seen if blue == "firing"] == [60, 65, 70, 75]
    assert all(green == "inactive" for _, _, green, _ in seen)
    assert [(m, n) for m, _, _, n in seen if n] == [(60, 1), (65, 1), (70, 1), (75, 1)]
    assert seen[-1][1] == "resolved"
    # the rule itself never breached (only the 503 tick was an error): the warning is a separate alert
    assert not any(f.rule == "AMLG-MON-LAT-001" and f.status == "fail" for c in alerts.calls for f in c["findings"])
    assert alerts.severities[(warning, BLUE)] == "medium"  # a warning, below the rule's high
    fired = next(f for call in alerts.calls for f in call["findings"] if f.rule == warning and f.status == "fail")
    assert "has returned no data for blue since amlguard started watching it 1h ago" in fired.message
    assert "Monitoring Reader" in fired.remediation


def test_the_no_data_warning_can_be_turned_off(tmp_path: Path, standin: MonitorStandin) -> None:
    import dataclasses

    alerts = LifecycleAlerts()
    clock = [T0]
    service = service_with(tmp_path, alerts, rules_file(tmp_path, "ignore"), clock)
    service.settings = dataclasses.replace(service.settings, monitor_no_data_after=0.0)
    standin.world.set_metric(EP, "RequestLatency_P95", None, {"deployment": "blue"})
    with monitor_for(standin) as source:
        for minute in (0, 120):
            clock[0] = T0 + timedelta(minutes=minute)
            run_monitors(service, source=source)
    service.close()
    assert alerts.status("AMLG-MON-LAT-001:no-data", BLUE) == "inactive"
    assert Settings.from_env({"AMLGUARD_MONITOR_NO_DATA_AFTER": "30m"}).monitor_no_data_after == 1800
    with pytest.raises(ConfigError, match="AMLGUARD_MONITOR_NO_DATA_AFTER"):
        Settings.from_env({"AMLGUARD_MONITOR_NO_DATA_AFTER": "soon"})


def test_invalid_monitor_rules_show_in_health_while_the_last_good_ones_run(tmp_path: Path) -> None:
    """An invalid monitor rules file keeps the last good rules (none yet: no monitor runs); the
    service's /api/health says so, as it does for an invalid audit pack, instead of only a log line."""
    import httpx

    from amlguard.api.app import create_app
    from tests.api.conftest import Server

    def health() -> dict[str, Any]:
        with Server(create_app(settings, service=service, require_auth=False)) as server:
            answer: dict[str, Any] = httpx.get(f"{server.url}/api/health", timeout=30).json()
        return answer

    rules = tmp_path / "monitors.yaml"
    rules.write_text("apiVersion: amlguard/v1\nkind: MonitorRules\nrules:\n  - {id: AMLG-MON-X-001, windw: 5m}\n")
    settings = Settings(policies_dir=REPO / "policies", state_dir=tmp_path / "state", monitor_rules=rules)
    service = Service(settings=settings, inventory=SnapshotInventory([str(WORKSPACE)]),
                      packs=PackHolder(REPO / "policies"), store=open_store(tmp_path / "state"),
                      alerts=LifecycleAlerts())
    try:
        summary = run_monitors(service)
        assert summary["rules"] == 0 and "windw" in summary["rules_error"]
        answer = health()
        assert answer["monitor_rules"]["valid"] is False and "windw" in answer["monitor_rules"]["error"]
        rules.write_text((REPO / "policies" / "monitors.yaml").read_text(encoding="utf-8"))
        run_monitors(service)
        assert health()["monitor_rules"] == {"valid": True}
    finally:
        service.close()
