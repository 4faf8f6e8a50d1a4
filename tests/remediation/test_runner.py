"""plan / apply against the HTTPS ARM stand-in: dry run, real changes through the SDK's LRO
pollers and the Tags API, the max-resources brake, idempotency and the last-serving guard."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from amlguard.config import Settings
from amlguard.errors import ConfigError
from amlguard.inventory.base import Scope
from amlguard.inventory.live import LiveInventory
from amlguard.model import AuditReport, Finding, Resource
from amlguard.remediation import annotate, apply, parse_max_resources, plan, remediate, remediate_from_args
from tests.standins.arm import SUB, ArmStandin, arm_id
from tests.standins.helpers import FakeCredential, fast_options

WS0 = arm_id(SUB, "rg-ml", "ws-000")
WS1 = arm_id(SUB, "rg-ml", "ws-001")
EP_PUBLIC = [f"{WS0}/onlineEndpoints/ep-000-01", f"{WS1}/onlineEndpoints/ep-001-01"]
RULES = {
    "AMLG-NET-001": {"effect": "remediate", "remediate": {"action": "disable_public_network_access"}},
    "AMLG-NET-002": {"effect": "remediate", "remediate": {"action": "set_traffic_zero"}},
    "AMLG-TAG-001": {"effect": "remediate", "remediate": {"action": "tag", "tags": {"cost-center": "ml-42"}}},
    "AMLG-AUTH-001": {"effect": "alert", "remediate": {"action": "disable_public_network_access"}},
}
WRITES = ("PUT", "PATCH", "POST", "DELETE")


def live(server: ArmStandin) -> LiveInventory:
    return LiveInventory(FakeCredential(), options=fast_options(server))


def resources(server: ArmStandin) -> list[Resource]:
    result = live(server).list(Scope(subscriptions=(SUB,)))
    assert result.errors == []
    return result.resources


def fail(rule: str, resource_id: str) -> Finding:
    return Finding(rule=rule, resource=resource_id, status="fail", severity="high", message=f"{rule} failed",
                   effect=RULES[rule]["effect"])


def writes(server: ArmStandin) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in server.api_requests() if r.method in WRITES]


def stored(server: ArmStandin, resource_id: str) -> dict:
    obj = server.estate.get(resource_id)
    assert obj is not None
    return obj


def test_dry_run_reports_what_would_change_and_changes_nothing(arm_standin: ArmStandin) -> None:
    found = resources(arm_standin)
    planned = plan([fail("AMLG-NET-001", i) for i in EP_PUBLIC], found, RULES)
    records = apply(planned, client_factory=live(arm_standin).clients, dry_run=True, actor="tester")

    assert [(r.status, r.dry_run, r.before, r.after) for r in records] == [
        ("would_change", True, {"public_network_access": "enabled"}, {"public_network_access": "disabled"})] * 2
    assert writes(arm_standin) == []
    assert stored(arm_standin, EP_PUBLIC[0])["properties"]["publicNetworkAccess"] == "Enabled"


def test_live_run_changes_the_endpoint_through_the_lro_and_is_idempotent(arm_standin: ArmStandin) -> None:
    inventory = live(arm_standin)
    planned = plan([fail("AMLG-NET-001", i) for i in EP_PUBLIC], resources(arm_standin), RULES)
    when = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    records = apply(planned, client_factory=inventory.clients, dry_run=False, actor="ops@contoso", now=when)

    assert [r.status for r in records] == ["changed", "changed"]
    assert records[0].actor == "ops@contoso" and records[0].at == "2026-11-26T12:00:00Z"
    assert records[0].before == {"public_network_access": "enabled"}
    assert records[0].after == {"public_network_access": "disabled"}
    for endpoint in EP_PUBLIC:
        assert stored(arm_standin, endpoint)["properties"]["publicNetworkAccess"].lower() == "disabled"
    assert len(arm_standin.requests_to(r"/mfeOperationsStatus/", "GET")) == 2  # the pollers followed the LRO
    assert len([w for w in writes(arm_standin) if w[0] == "PUT"]) == 2

    arm_standin.reset_log()
    again = apply(planned, client_factory=inventory.clients, dry_run=False, actor="ops@contoso")
    assert [r.status for r in again] == ["unchanged", "unchanged"]
    assert writes(arm_standin) == []  # a second run changes nothing


def test_only_rules_with_effect_remediate_act(arm_standin: ArmStandin) -> None:
    planned = plan([fail("AMLG-AUTH-001", EP_PUBLIC[0])], resources(arm_standin), RULES)
    assert planned == []


def test_brake_refuses_the_whole_run(arm_standin: ArmStandin) -> None:
    planned = plan([fail("AMLG-NET-001", i) for i in EP_PUBLIC], resources(arm_standin), RULES)
    records = apply(planned, client_factory=live(arm_standin).clients, dry_run=False, max_resources=1)

    assert {r.status for r in records} == {"refused"}
    assert "would change 2 resources, more than the limit 1" in records[0].message
    assert writes(arm_standin) == []
    percent = apply(planned, client_factory=live(arm_standin).clients, dry_run=False, max_resources="10%",
                    total_resources=14)  # 10% of 14 is 1
    assert {r.status for r in percent} == {"refused"} and writes(arm_standin) == []


@pytest.mark.parametrize(("value", "total", "limit"), [
    (None, 10, None), (3, 10, 3), ("3", 10, 3), ("10%", 200, 20), ("50%", 3, 1), ("0", 5, 0)])
def test_parse_max_resources(value: int | str | None, total: int, limit: int | None) -> None:
    assert parse_max_resources(value, total) == limit


@pytest.mark.parametrize("value", ["ten", "-1", "150%", -2])
def test_parse_max_resources_rejects(value: int | str) -> None:
    with pytest.raises(ConfigError):
        parse_max_resources(value, 10)


def _two_deployments(server: ArmStandin) -> str:
    endpoint = f"{WS0}/onlineEndpoints/ep-000-00"
    server.estate.add_online_deployment(endpoint, "green", egress="Enabled", traffic=20)
    server.estate.objects[endpoint.lower()]["properties"]["traffic"] = {"dep0": 80, "green": 20}
    return endpoint


def test_set_traffic_zero_moves_the_share_to_the_other_deployments(arm_standin: ArmStandin) -> None:
    endpoint = _two_deployments(arm_standin)
    planned = plan([fail("AMLG-NET-002", f"{endpoint}/deployments/green")], resources(arm_standin), RULES)
    assert planned[0].preview.after == {"traffic": {"dep0": 100, "green": 0}}
    records = apply(planned, client_factory=live(arm_standin).clients, dry_run=False)

    assert records[0].status == "changed"
    assert records[0].before["traffic"] == {"dep0": 80, "green": 20}
    assert records[0].after["traffic"] == {"dep0": 100, "green": 0}
    assert stored(arm_standin, endpoint)["properties"]["traffic"] == {"dep0": 100}


def test_last_serving_deployment_is_never_zeroed_by_default(arm_standin: ArmStandin) -> None:
    deployment = f"{EP_PUBLIC[0]}/deployments/dep0"
    found = resources(arm_standin)
    planned = plan([fail("AMLG-NET-002", deployment)], found, RULES)
    records = apply(planned, client_factory=live(arm_standin).clients, dry_run=False)
    assert records[0].status == "refused" and "last deployment serving traffic" in records[0].message
    assert writes(arm_standin) == []

    allowed = {"AMLG-NET-002": {"effect": "remediate",
                                "remediate": {"action": "set_traffic_zero", "allow_last_serving": True}}}
    records = apply(plan([fail("AMLG-NET-002", deployment)], found, allowed),
                    client_factory=live(arm_standin).clients, dry_run=False)
    assert records[0].status == "changed" and records[0].after["traffic"] == {"dep0": 0}
    assert stored(arm_standin, EP_PUBLIC[0])["properties"]["traffic"] == {}


def test_guard_rechecks_fresh_state_at_apply_time(arm_standin: ArmStandin) -> None:
    endpoint = _two_deployments(arm_standin)
    planned = plan([fail("AMLG-NET-002", f"{endpoint}/deployments/green")], resources(arm_standin), RULES)
    # someone moved all traffic to green after the audit: green is now the last serving one
    arm_standin.estate.objects[endpoint.lower()]["properties"]["traffic"] = {"dep0": 0, "green": 100}
    records = apply(planned, client_factory=live(arm_standin).clients, dry_run=False)
    assert records[0].status == "refused" and writes(arm_standin) == []


def test_tag_uses_the_tags_api_and_keeps_other_tags(arm_standin: ArmStandin) -> None:
    deployment = f"{WS0}/onlineEndpoints/ep-000-00/deployments/dep0"
    arm_standin.estate.objects[deployment.lower()]["tags"] = {"team": "fraud"}
    planned = plan([fail("AMLG-TAG-001", deployment)], resources(arm_standin), RULES)
    clients = live(arm_standin).clients
    records = apply(planned, client_factory=clients, dry_run=False)

    assert records[0].status == "changed"
    assert records[0].before == {"tags": {"cost-center": None}}
    assert records[0].after == {"tags": {"cost-center": "ml-42"}}
    assert stored(arm_standin, deployment)["tags"] == {"team": "fraud", "cost-center": "ml-42"}
    assert [m for m, _p in writes(arm_standin)] == ["PATCH"]
    arm_standin.reset_log()
    assert apply(planned, client_factory=clients, dry_run=False)[0].status == "unchanged"
    assert writes(arm_standin) == []


def test_failure_becomes_an_error_finding_naming_the_fix(arm_standin: ArmStandin) -> None:
    arm_standin.inject(path=r"/onlineEndpoints/ep-000-01\?", method="PUT", status=403, times=None,
                       body={"error": {"code": "AuthorizationFailed", "message": "no write"}})
    report = AuditReport(resources=resources(arm_standin), findings=[fail("AMLG-NET-001", i) for i in EP_PUBLIC])
    records = remediate(report, RULES, client_factory=live(arm_standin).clients, dry_run=False, actor="ops")

    assert [r.status for r in records] == ["failed", "changed"]
    broken, fixed = report.findings
    assert broken.status == "error"
    assert "403 Forbidden applying disable_public_network_access" in broken.message
    assert "AzureML Data Scientist" in broken.message
    assert broken.remediation_action is not None and broken.remediation_action["status"] == "failed"
    assert fixed.status == "fail" and fixed.remediation_action is not None
    assert fixed.remediation_action["after"] == {"public_network_access": "disabled"}
    assert fixed.to_json()["remediation_action"]["actor"] == "ops"


@pytest.mark.parametrize("origin", ["yaml", "arm", "cli"])
def test_file_resources_are_not_changed(arm_standin: ArmStandin, origin: str) -> None:
    from_file = Resource(kind="online_endpoint", id=EP_PUBLIC[0], name="ep-000-01", origin=origin, live=True,
                         fields={"public_network_access": "enabled"})
    records = apply(plan([fail("AMLG-NET-001", EP_PUBLIC[0])], [from_file], RULES),
                    client_factory=live(arm_standin).clients, dry_run=False)
    assert records[0].status == "refused" and "read from a file" in records[0].message
    assert writes(arm_standin) == []


def test_cli_hook_annotates_the_report(capsys: pytest.CaptureFixture[str]) -> None:
    resource = Resource(kind="online_endpoint", id=EP_PUBLIC[0], name="ep-000-01",
                        fields={"public_network_access": "enabled"})
    report = AuditReport(resources=[resource], findings=[fail("AMLG-NET-001", EP_PUBLIC[0])])
    args = argparse.Namespace(remediate=True, no_dry_run=False, max_resources=None)
    records = remediate_from_args(args, report, RULES, Settings.from_env({"AMLGUARD_ACTOR": "ci"}))

    assert records[0].status == "would_change" and records[0].actor == "ci"
    assert report.findings[0].remediation_action == records[0].to_json()
    assert "remediation (dry run): 1 would change" in capsys.readouterr().err


def test_annotate_matches_every_rule_that_asked() -> None:
    resource = Resource(kind="online_endpoint", id="/e", name="e", fields={"public_network_access": "enabled"})
    rules = {"A": {"effect": "remediate", "remediate": {"action": "disable_public_network_access"}},
             "B": {"effect": "remediate", "remediate": {"action": "disable_public_network_access"}}}
    findings = [Finding("A", "/e", "fail", "high", "a", effect="remediate"),
                Finding("B", "/e", "fail", "high", "b", effect="remediate")]
    planned = plan(findings, [resource], rules)
    assert len(planned) == 1 and planned[0].rules == ["A", "B"]
    annotate(findings, apply(planned, actor="x"))
    assert all(f.remediation_action and f.remediation_action["status"] == "would_change" for f in findings)


def test_unknown_action_is_refused_by_name() -> None:
    resource = Resource(kind="online_endpoint", id="/e", name="e")
    rules = {"A": {"effect": "remediate", "remediate": {"action": "delete_endpoint"}}}
    records = apply(plan([Finding("A", "/e", "fail", "high", "a", effect="remediate")], [resource], rules))
    assert (records[0].action, records[0].status) == ("delete_endpoint", "refused")
    assert "is not one of disable_local_auth, disable_public_network_access, set_traffic_zero, tag" in records[0].message


class _FakeArm:
    """ARM for the property actions: GET returns the body, PATCH / PUT record the change."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.body, self.calls = body, []

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("property actions go through arm_request, not MLClient")

    def arm_request(self, method: str, path: str, *, api_version: str, body: Any = None) -> Any:
        self.calls.append((method, path, body))
        if method == "GET":
            return json.loads(json.dumps(self.body))
        if method == "PATCH":
            self.body["properties"].update(body["properties"])
        else:
            self.body = body
        return self.body


@pytest.mark.parametrize(("kind", "compute", "action", "prop", "wanted", "method"), [
    ("compute", "cluster", "disable_local_auth", "disableLocalAuth", True, "PUT"),
    ("workspace", None, "disable_public_network_access", "publicNetworkAccess", "Disabled", "PATCH"),
    ("registry", None, "disable_public_network_access", "publicNetworkAccess", "Disabled", "PUT"),
])
def test_arm_property_actions_change_the_live_resource_once(kind: str, compute: str | None, action: str, prop: str,
                                                            wanted: Any, method: str) -> None:
    from amlguard.remediation.actions import ACTIONS

    rid = f"/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/{kind}s/x"
    resource = Resource(kind=kind, id=rid, name="x", compute_type=compute)
    arm = _FakeArm({"id": rid, "location": "westeurope", "properties": {prop: "Enabled" if prop != "disableLocalAuth"
                                                                          else False, "other": 1}})
    first = ACTIONS.get(action)().apply(arm, resource)
    assert first.changed and arm.calls[-1][0] == method and arm.body["properties"][prop] == wanted
    assert arm.body["properties"]["other"] == 1  # the rest of the resource is kept
    second = ACTIONS.get(action)().apply(arm, resource)
    assert not second.changed and arm.calls[-1][0] == "GET"
