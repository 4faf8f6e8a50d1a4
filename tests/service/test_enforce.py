"""Background enforcement: with AMLGUARD_REMEDIATION_ENABLED, events and sweeps remediate with the
CLI's semantics (dry run otherwise, the max-resources brake, a record of every change, a re-audit
that resolves the alert), against the ARM stand-in."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from amlguard.config import Settings
from amlguard.events import parse_event_dict
from amlguard.service import Service
from amlguard.service.core import BRAKE_RULE
from tests.remediation.test_cli import PACK
from tests.service.test_service import write_event
from tests.standins.arm import SUB, ArmStandin, arm_id
from tests.standins.helpers import FakeCredential

EP = arm_id(SUB, "rg-ml", "ws-000", "onlineEndpoints", "ep-000-01")  # public in the seeded estate
OTHER = arm_id(SUB, "rg-ml", "ws-001", "onlineEndpoints", "ep-001-01")  # public too
ENDPOINT_WRITES = r"/onlineEndpoints/[^/]+$"


@pytest.fixture
def env(arm_standin: ArmStandin, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    monkeypatch.chdir(tmp_path)  # no stray config.json
    monkeypatch.setattr("amlguard.inventory.config.credential_from_env", lambda env: FakeCredential())
    pack = tmp_path / "pack"
    pack.mkdir()
    (pack / "network.yaml").write_text(PACK)
    return {"AZURE_SUBSCRIPTION_ID": SUB, "AMLGUARD_ARM_ENDPOINT": arm_standin.url,
            "AMLGUARD_CA_BUNDLE": str(arm_standin.ca_file), "AMLGUARD_RETRY_BACKOFF": "0.01",
            "AMLGUARD_INVENTORY": "workspace", "AMLGUARD_POLICIES": str(pack), "AMLGUARD_ACTOR": "svc-test",
            "AMLGUARD_STATE_DIR": str(tmp_path / "state"), "AMLGUARD_REMEDIATION_ENABLED": "true"}


@pytest.fixture
def open_service() -> Iterator[list[Service]]:
    opened: list[Service] = []
    yield opened
    for service in opened:
        service.close()


def service_for(env: dict[str, str], opened: list[Service], **changes: str) -> Service:
    service = Service.from_settings(Settings.from_env({**env, **changes}))
    opened.append(service)
    return service


def alerts_of(service: Service, rule: str) -> dict[str, dict]:
    return {a["resource"]: a for a in service.alerts.list_alerts() if a["rule"] == rule}


def test_an_event_about_a_public_endpoint_is_fixed_reaudited_and_its_alert_resolved(
        env: dict[str, str], arm_standin: ArmStandin, open_service: list[Service]) -> None:
    service = service_for(env, open_service)
    outcome = service.handle_event(parse_event_dict(write_event("e1", EP)))
    assert outcome.outcome == "audited"

    (write,) = arm_standin.requests_to(ENDPOINT_WRITES, "PUT")
    assert write.path.lower().endswith("/ep-000-01")
    assert arm_standin.estate.get(EP)["properties"]["publicNetworkAccess"].lower() == "disabled"
    requests = arm_standin.api_requests()
    after = requests[requests.index(write) + 1:]
    assert any(r.method == "GET" and r.path.lower().endswith("/ep-000-01") for r in after)  # the re-audit

    alert = alerts_of(service, "AMLG-NET-001")[EP]
    assert alert["status"] == "resolved"
    assert [h["to"] for h in service.alerts.history(alert["fingerprint"])][-2:] == ["firing", "resolved"]
    (finding,) = service.report_from_store().findings
    assert finding.status == "pass"
    record = finding.remediation_action
    assert record is not None and (record["status"], record["actor"], record["dry_run"]) == (
        "changed", "svc-test", False)
    assert (record["before"], record["after"]) == ({"public_network_access": "enabled"},
                                                   {"public_network_access": "disabled"})

    service.handle_event(parse_event_dict(write_event("e2", EP, "2026-12-31T00:00:00Z")))
    assert len(arm_standin.requests_to(ENDPOINT_WRITES, "PUT")) == 1  # compliant now: nothing to change


def test_without_the_setting_an_event_is_a_dry_run(env: dict[str, str], arm_standin: ArmStandin,
                                                   open_service: list[Service]) -> None:
    service = service_for(env, open_service, AMLGUARD_REMEDIATION_ENABLED="false")
    service.handle_event(parse_event_dict(write_event("e1", EP)))
    assert arm_standin.requests_to(ENDPOINT_WRITES, "PUT") == []
    assert alerts_of(service, "AMLG-NET-001")[EP]["status"] == "firing"
    (finding,) = service.report_from_store().findings
    assert finding.status == "fail" and finding.remediation_action is not None
    assert (finding.remediation_action["status"], finding.remediation_action["dry_run"]) == ("would_change", True)


def test_a_sweep_over_the_brake_changes_nothing_and_raises_one_alert_saying_why(
        env: dict[str, str], arm_standin: ArmStandin, open_service: list[Service]) -> None:
    service = service_for(env, open_service, AMLGUARD_REMEDIATION_MAX_RESOURCES="1")
    report = service.sweep()
    assert arm_standin.requests_to(ENDPOINT_WRITES, "PUT") == []
    brake = alerts_of(service, BRAKE_RULE)
    assert len(brake) == 1
    (alert,) = brake.values()
    assert alert["status"] == "firing"
    detail = service.alerts.get_alert(alert["fingerprint"])
    assert detail is not None and "would change 2 resources, more than the limit 1" in str(detail)
    refused = [f.remediation_action for f in report.findings if f.remediation_action]
    assert [r["status"] for r in refused] == ["refused", "refused"]
    assert {a for a, v in alerts_of(service, "AMLG-NET-001").items() if v["status"] == "firing"} == {EP, OTHER}

    # the next sweep with room for both changes both, and every alert resolves
    roomy = service_for(env, open_service, AMLGUARD_REMEDIATION_MAX_RESOURCES="2")
    roomy.sweep()
    assert len(arm_standin.requests_to(ENDPOINT_WRITES, "PUT")) == 2
    assert {a["status"] for a in roomy.alerts.list_alerts()} == {"resolved"}
    assert alerts_of(roomy, BRAKE_RULE)[alert["resource"]]["status"] == "resolved"
