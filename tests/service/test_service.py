"""The service end to end: snapshot inventory, the default policy pack, alert state on SQLite."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

from amlguard.events import parse_event_dict
from amlguard.service.core import _audit_state
from tests.service.conftest import BLUE, GREEN, WS, Clock, make_service


def write_event(event_id: str, resource: str, when: str = "2026-11-26T09:00:00Z", *,
                delete: bool = False, upn: str = "ana@contoso.com") -> dict:
    kind = "onlineEndpoints/deployments" if "/deployments/" in resource else "onlineEndpoints"
    op = "delete" if delete else "write"
    return {
        "id": event_id, "subject": resource, "topic": "/subscriptions/x/resourceGroups/rg-ml-prod",
        "eventType": f"Microsoft.Resources.Resource{'Delete' if delete else 'Write'}Success",
        "eventTime": when, "dataVersion": "2",
        "data": {"operationName": f"Microsoft.MachineLearningServices/workspaces/{kind}/{op}",
                 "resourceUri": resource,
                 "claims": {"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn": upn}},
    }


def open_alerts(service) -> dict[tuple[str, str], dict]:
    return {(a["rule"], a["resource"]): a for a in service.alerts.list_alerts(include_resolved=False)}


def test_sweep_raises_one_alert_per_failing_rule_and_resource(service) -> None:
    report = service.sweep()
    failing = {(f.rule, f.resource) for f in report.findings if f.status in ("fail", "error")}
    assert ("AMLG-NET-002", GREEN) in failing
    alerts = open_alerts(service)
    assert set(alerts) == failing
    assert alerts[("AMLG-NET-002", GREEN)]["status"] == "firing"  # no `for`: fires at once
    # a second sweep changes nothing
    service.sweep()
    assert set(open_alerts(service)) == failing
    assert len(service.alerts.list_alerts()) == len(failing)


def test_event_audits_exactly_the_resource_and_records_who(service) -> None:
    outcome = service.handle_event(parse_event_dict(write_event("e1", GREEN)))
    assert outcome.outcome == "audited"
    assert outcome.resource == GREEN
    alerts = open_alerts(service)
    assert alerts and all(resource == GREEN for _, resource in alerts)
    alert = alerts[("AMLG-NET-002", GREEN)]
    assert alert["changed_by"]["upn"] == "ana@contoso.com"


def test_duplicate_and_stale_events_change_nothing(service, clock: Clock) -> None:
    first = service.handle_event(parse_event_dict(write_event("e1", GREEN)))
    assert first.outcome == "audited"
    assert service.handle_event(parse_event_dict(write_event("e1", GREEN))).outcome == "duplicate"
    clock.advance(60)
    service.handle_event(parse_event_dict(write_event("e2", GREEN, "2026-11-26T09:00:30Z")))
    stale = service.handle_event(parse_event_dict(write_event("e3", GREEN, "2026-11-26T08:59:00Z")))
    assert stale.outcome == "stale"


def test_delete_resolves_the_resource_alerts(service, clock: Clock) -> None:
    service.handle_event(parse_event_dict(write_event("e1", GREEN)))
    assert open_alerts(service)
    clock.advance(120)
    outcome = service.handle_event(parse_event_dict(write_event("e2", GREEN, "2026-11-26T09:01:30Z", delete=True)))
    assert outcome.outcome == "resolved"
    assert open_alerts(service) == {}
    statuses = {a["status"] for a in service.alerts.list_alerts()}
    assert statuses == {"resolved"}


def test_resource_the_inventory_cannot_find_is_an_error_not_a_pass(service) -> None:
    missing = f"{WS}/onlineEndpoints/ghost"
    outcome = service.handle_event(parse_event_dict(write_event("e1", missing)))
    # not "audited": nothing was read, and the outcome says why (the error findings say it too)
    assert outcome.outcome == "unreadable" and "was not found by the inventory" in outcome.reason
    assert outcome.failed >= 1
    alerts = open_alerts(service)
    assert alerts and all(resource == missing for _, resource in alerts)
    report, _ = service.audit(missing)
    assert {f.status for f in report.findings} == {"error"}


def test_becoming_compliant_resolves(service, workspace: Path, clock: Clock) -> None:
    service.sweep()
    assert ("AMLG-NET-002", GREEN) in open_alerts(service)
    green = workspace / "fraud-scoring" / "green.yml"
    green.write_text(green.read_text() + "egress_public_network_access: disabled\n")
    service.inventory.reload()
    clock.advance(60)
    service.handle_event(parse_event_dict(write_event("e9", GREEN, "2026-11-26T09:00:30Z")))
    assert ("AMLG-NET-002", GREEN) not in open_alerts(service)


def test_deleted_file_resolves_on_the_next_sweep(service, workspace: Path, clock: Clock) -> None:
    service.sweep()
    assert any(resource == GREEN for _, resource in open_alerts(service))
    (workspace / "fraud-scoring" / "green.yml").unlink()
    service.inventory.reload()
    clock.advance(60)
    service.sweep()
    remaining = {resource for _, resource in open_alerts(service)}
    assert GREEN not in remaining
    assert BLUE in remaining  # the rest of the workspace keeps its alerts (only `latest` image and tags)


def test_state_survives_a_restart(workspace: Path, tmp_path: Path, clock: Clock) -> None:
    state = tmp_path / "state"
    first = make_service(workspace, state, clock)
    first.handle_event(parse_event_dict(write_event("e1", GREEN)))
    before = first.alerts.list_alerts()
    first.close()
    second = make_service(workspace, state, clock)
    try:
        assert second.alerts.list_alerts() == before
        assert second.handle_event(parse_event_dict(write_event("e1", GREEN))).outcome == "duplicate"
    finally:
        second.close()


def test_invalid_policy_edit_keeps_the_last_good_pack(service, tmp_path: Path, repo_root: Path) -> None:
    import shutil

    policies = tmp_path / "policies"
    shutil.copytree(repo_root / "policies", policies)
    from amlguard.service import PackHolder

    holder = PackHolder(policies, check_every=0)
    good = holder.current()
    broken = next(p for p in sorted(policies.glob("*.yaml")) if "AuditRules" in p.read_text())
    broken.write_text(broken.read_text() + "\n  - id: AMLG-BAD\n    severity: catastrophic\n")
    assert holder.current() is good
    assert holder.last_error is not None
    assert "severity" in holder.last_error.render()


def test_a_late_delete_of_a_resource_that_is_gone_still_resolves(service, workspace: Path, clock: Clock) -> None:
    service.handle_event(parse_event_dict(write_event("e1", GREEN)))
    (workspace / "fraud-scoring" / "green.yml").unlink()
    service.inventory.reload()
    clock.advance(30)
    audit = service.handle_event(parse_event_dict(write_event("e2", GREEN, "2026-11-26T09:00:20Z")))
    assert audit.outcome == "unreadable"  # the resource is gone: the audit can only say `error`
    late = service.handle_event(parse_event_dict(write_event("e3", GREEN, "2026-11-26T09:00:10Z", delete=True)))
    assert late.outcome == "resolved"
    assert open_alerts(service) == {}


def test_a_late_delete_of_a_resource_that_exists_again_is_stale(service, clock: Clock) -> None:
    service.handle_event(parse_event_dict(write_event("e1", GREEN)))
    clock.advance(30)
    late = service.handle_event(parse_event_dict(write_event("e2", GREEN, "2026-11-26T08:59:00Z", delete=True)))
    assert late.outcome == "stale"
    assert open_alerts(service)


def _stored(service) -> dict[tuple[str, str], str]:
    report = service.report_from_store()
    return {} if report is None else {(f.rule, f.resource): f.status for f in report.findings}


def test_the_store_keeps_each_resources_last_audit_for_other_instances(service, workspace: Path,
                                                                       clock: Clock) -> None:
    assert service.report_from_store() is None  # nothing audited yet: the dashboard would sweep
    swept = service.sweep()
    assert _stored(service) == {(f.rule, f.resource): f.status for f in swept.findings}
    # an event on one resource updates its part of the stored report only
    green = workspace / "fraud-scoring" / "green.yml"
    green.write_text(green.read_text() + "egress_public_network_access: disabled\n")
    service.inventory.reload()
    clock.advance(60)
    service.handle_event(parse_event_dict(write_event("e1", GREEN, "2026-11-26T09:00:30Z")))
    assert _stored(service)[("AMLG-NET-002", GREEN)] == "pass"
    assert service.last_report is swept  # this instance's own sweep still answers first
    # a deleted resource leaves the stored report
    clock.advance(60)
    service.handle_event(parse_event_dict(write_event("e2", BLUE, "2026-11-26T09:01:30Z", delete=True)))
    assert all(resource != BLUE for _, resource in _stored(service))
    assert {r.id for r in service.report_from_store().resources} == {r.id for r in swept.resources} - {BLUE}


def test_a_sweep_of_a_workspace_forgets_what_it_no_longer_finds(service, workspace: Path, clock: Clock) -> None:
    from amlguard.service.core import scope_for_workspace

    service.sweep()
    (workspace / "fraud-scoring" / "green.yml").unlink()
    service.inventory.reload()
    clock.advance(60)
    service.sweep(scope_for_workspace(WS))  # the queue worker's per-workspace sweep
    assert all(resource != GREEN for _, resource in _stored(service))
    assert any(resource == BLUE for _, resource in _stored(service))
    [record] = service.store.audit_records(GREEN)
    assert record["summary"] == {"gone": True, "reason": "not found in sweep"} and "state" not in record


def test_stored_findings_round_trip_every_field(service, clock: Clock) -> None:
    service.handle_event(parse_event_dict(write_event("e1", GREEN)))
    stored = {f.rule: f for f in service.report_from_store().findings}
    who = stored["AMLG-NET-002"].changed_by
    assert who is not None and who["upn"] == "ana@contoso.com"
    audited, _ = service.audit(GREEN, changed_by=who)  # the same audit again, this time in memory
    assert stored == {f.rule: f for f in audited.findings}
    # an exemption (with its expiry) is kept as the finding had it
    exempt = dataclasses.replace(audited.findings[0], status="exempt",
                                 exemption={"name": "legacy", "reason": "r", "approver": "a", "expires": "2027-01-31"})
    service.store.record_audit(GREEN, clock() + timedelta(seconds=1),
                               state=_audit_state(service.inventory.get(GREEN), [exempt]))
    assert exempt in service.report_from_store().findings


def test_an_unreadable_resource_is_stored_as_its_error_and_bad_records_are_skipped(service, clock: Clock) -> None:
    missing = f"{WS}/onlineEndpoints/ghost"
    service.handle_event(parse_event_dict(write_event("e1", missing)))
    stored = service.report_from_store()
    assert stored is not None and {f.status for f in stored.findings if f.resource == missing} == {"error"}
    assert all(r.id != missing for r in stored.resources)
    service.store.record_audit(f"{WS}/onlineEndpoints/odd", clock(), state={"resource": None, "findings": [{"x": 1}]})
    again = service.report_from_store()
    assert again is not None and len(again.findings) == len(stored.findings)  # the broken record is left out


def test_an_event_whose_effect_was_not_stored_is_redone_on_retry(service, monkeypatch) -> None:
    """Seen is written after the effect: a store failure after the audit leaves the event unseen,
    so Event Grid's retry audits again instead of being dropped as a duplicate."""
    real = service.store.record_audit
    calls = []

    def failing_once(*args, **kwargs):
        calls.append(args[0])
        if len(calls) == 1:
            raise OSError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(service.store, "record_audit", failing_once)
    event = parse_event_dict(write_event("e1", GREEN))
    try:
        service.handle_event(event)
    except OSError:
        pass
    else:
        raise AssertionError("the store failure must reach Event Grid, which retries")
    assert not service.store.event_seen("e1")
    retried = service.handle_event(event)
    assert retried.outcome == "audited" and calls == [GREEN, GREEN]
    assert service.store.event_seen("e1")
    assert service.handle_event(event).outcome == "duplicate"


def test_an_event_writes_the_store_once_per_effect(service) -> None:
    """A write event costs one audit record and one seen mark; the rest are the alert lifecycle's."""
    writes: list[str] = []
    backend = service.store.backend
    real = backend.write

    def counting(ops):
        writes.extend(f"{op.pk}" for op in ops)
        return real(ops)

    backend.write = counting
    service.handle_event(parse_event_dict(write_event("e1", BLUE)))
    assert writes.count("audit") == 1 and writes.count("event") == 1, writes
    assert writes.index("event") == len(writes) - 1  # seen is the last write: the effect is stored first


def test_receivers_without_settings_get_no_messages(service, clock: Clock) -> None:
    """The default alerting.yaml with no receiver variable set: alerts are kept, nothing is queued."""
    service.sweep()
    clock.advance(3600)  # past every group_wait
    service.alerts.tick()
    assert service.alerts.list_alerts(status="firing")
    assert service.alerts.outbox() == [] and list(service.store.receivers()) == []


def test_outbox_caps_come_from_the_settings(workspace: Path, tmp_path: Path, clock: Clock) -> None:
    from amlguard.config import Settings
    from amlguard.service import Service

    settings = dataclasses.replace(Settings.from_env({"AMLGUARD_OUTBOX_MAX_MESSAGES": "7",
                                                      "AMLGUARD_DEAD_LETTER_MAX": "3"}),
                                   snapshot=(str(workspace),), state_dir=tmp_path / "state")
    svc = Service.from_settings(settings, clock=clock)
    try:
        policy = svc.alerts.retry_policy
        assert (policy.max_queued, policy.max_dead) == (7, 3)
    finally:
        svc.close()


def test_an_event_about_a_compute_audits_that_compute(workspace: Path, tmp_path: Path, clock: Clock) -> None:
    (workspace / "compute").mkdir()
    (workspace / "compute" / "gpu.yml").write_text("name: gpu\ntype: amlcompute\nmin_instances: 2\n")
    compute = f"{WS}/computes/gpu"
    service = make_service(workspace, tmp_path / "state", clock)
    try:
        event = {**write_event("c1", compute), "data": {
            "operationName": "Microsoft.MachineLearningServices/workspaces/computes/write", "resourceUri": compute}}
        outcome = service.handle_event(parse_event_dict(event))
        assert (outcome.outcome, outcome.resource) == ("audited", compute)
        rules = {rule for rule, resource in open_alerts(service) if resource == compute}
        assert {"AMLG-CMP-001", "AMLG-CMP-005"} <= rules
        assert "AMLG-CMP-002" not in rules  # no subnet, but the example workspace has a managed network
    finally:
        service.close()


def arm_event(event_id: str, resource: str, operation: str, when: str, *, delete: bool = False) -> dict:
    """An Event Grid ResourceWrite/DeleteSuccess event as ARM sends it for `operation` (write/delete)."""
    return {**write_event(event_id, resource, when, delete=delete),
            "data": {"operationName": f"Microsoft.MachineLearningServices/{operation}/{'delete' if delete else 'write'}",
                     "resourceUri": resource}}


def test_events_about_computes_and_registries_are_audited_and_their_deletes_resolve(
        workspace: Path, tmp_path: Path, clock: Clock) -> None:
    """The event filter (infra/modules/events.bicep) lets compute and registry writes and deletes
    through; the service audits exactly that resource on a write and resolves its alerts on a delete."""
    (workspace / "compute").mkdir()
    (workspace / "compute" / "gpu.yml").write_text("name: gpu\ntype: amlcompute\nmin_instances: 2\n")
    (workspace / "registry").mkdir()
    (workspace / "registry" / "shared.yml").write_text(
        "name: shared-models\nlocation: westeurope\npublic_network_access: enabled\n"
        "replication_locations:\n  - location: westeurope\n")
    compute = f"{WS}/computes/gpu"
    registry = WS.split("/workspaces/")[0] + "/registries/shared-models"
    service = make_service(workspace, tmp_path / "state", clock)
    try:
        for n, (resource, operation, rule) in enumerate([(compute, "workspaces/computes", "AMLG-CMP-005"),
                                                         (registry, "registries", "AMLG-REG-001")]):
            outcome = service.handle_event(parse_event_dict(arm_event(f"w{n}", resource, operation,
                                                                      "2026-11-26T09:00:00Z")))
            assert (outcome.outcome, outcome.resource) == ("audited", resource)
            assert rule in {r for r, res in open_alerts(service) if res == resource}
        assert {res for _, res in open_alerts(service)} == {compute, registry}  # nothing else was audited
        clock.advance(120)
        for n, (resource, operation) in enumerate([(compute, "workspaces/computes"), (registry, "registries")]):
            outcome = service.handle_event(parse_event_dict(arm_event(f"d{n}", resource, operation,
                                                                      "2026-11-26T09:01:30Z", delete=True)))
            assert (outcome.outcome, outcome.resource) == ("resolved", resource)
        assert open_alerts(service) == {}
    finally:
        service.close()
