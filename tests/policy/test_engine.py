"""Engine semantics: one finding per (rule, resource), exemptions, overrides, placeholders, errors."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from amlguard.errors import ConfigError
from amlguard.inventory.base import InventoryError
from amlguard.model import Resource
from amlguard.policy import load_pack
from amlguard.policy.engine import PolicyPack

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)

RULES = """
apiVersion: amlguard/v1
kind: AuditRules
rules:
  - id: AMLG-NET-001
    title: private endpoints
    severity: high
    kinds: [online_endpoint]
    applies_when: {field: compute_type, notEquals: kubernetes}
    require: {field: public_network_access, equals: disabled, default: enabled}
    effect: alert
    for: 5m
    remediate: {action: disable_public_network_access}
    description: d
    rationale: r
    remediation: set public_network_access disabled
    help_uri: https://example.com/net-001
  - id: AMLG-OPS-001
    title: capacity
    severity: medium
    kinds: [online_deployment]
    parameters:
      min_instances: {type: integer, default: 3}
    require: {field: instance_count, greaterOrEquals: {param: min_instances}}
    overrides:
      - name: tiny
        when: {tag: size, equals: tiny}
        parameters: {min_instances: 0}
    description: d
    rationale: r
    remediation: raise instance_count
  - id: AMLG-TAG-001
    title: tags
    severity: low
    kinds: [online_endpoint, online_deployment]
    parameters:
      required_tags: {default: [owner]}
    require: {field: tags, contains: {param: required_tags}}
    description: d
    rationale: r
    remediation: add tags
overrides:
  - name: dev
    when: {tag: environment, in: [dev, test]}
    parameters: {min_instances: 1}
  - name: prod-env
    environment: prod
    rules: [AMLG-TAG-*]
    parameters: {required_tags: [owner, cost_center]}
exemptions:
  - name: legacy
    rules: [AMLG-NET-001]
    resources: ["*/onlineEndpoints/legacy-*"]
    reason: partner cannot use private link yet
    approver: security@contoso.com
    expires: 2027-01-31
  - name: old-waiver
    rules: [AMLG-NET-001]
    names: [old-*]
    reason: migration
    approver: alice
    expires: 2026-10-01
  - name: by-tag
    tags: {waiver: "sec-*"}
    reason: tagged waiver
    approver: bob
    expires: 2026-12-31T18:00:00Z
"""

WS = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws"


@pytest.fixture()
def pack_dir(tmp_path: Path) -> Path:
    (tmp_path / "rules.yaml").write_text(textwrap.dedent(RULES), encoding="utf-8")
    return tmp_path


def endpoint(name: str, **fields: Any) -> Resource:
    compute = fields.pop("compute_type", "managed")
    extra = {k: fields.pop(k) for k in ("templated", "defaulted", "workspace") if k in fields}
    return Resource(kind="online_endpoint", id=f"{WS}/onlineEndpoints/{name}", name=name, fields=fields,
                    source=f"{name}.yml", line=1, lines={k: 3 for k in fields}, compute_type=compute, **extra)


def deployment(name: str, **fields: Any) -> Resource:
    extra = {k: fields.pop(k) for k in ("templated", "defaulted", "workspace") if k in fields}
    return Resource(kind="online_deployment", id=f"{WS}/onlineEndpoints/ep/deployments/{name}", name=name,
                    fields=fields, source=f"{name}.yml", line=1, lines={k: 5 for k in fields},
                    compute_type="managed", **extra)


def by(findings: list[Any], rule: str, name: str) -> Any:
    (found,) = [f for f in findings if f.rule == rule and f.resource_name == name]
    return found


def test_one_finding_per_rule_and_targeted_resource_in_order(pack_dir: Path) -> None:
    pack = load_pack(pack_dir)
    workspace = Resource(kind="workspace", id=WS, name="ws", fields={})
    resources = [deployment("blue", instance_count=3, tags={"owner": "a"}), workspace,
                 endpoint("ep", public_network_access="disabled", tags={"owner": "a"})]
    findings = pack.evaluate(resources, now=NOW)
    assert [(f.resource_name, f.rule) for f in findings] == [
        ("blue", "AMLG-OPS-001"), ("blue", "AMLG-TAG-001"),  # resource order, then rule id
        ("ep", "AMLG-NET-001"), ("ep", "AMLG-TAG-001")]  # the workspace gets no finding
    assert all(f.status == "pass" for f in findings)


def test_finding_fields_are_filled(pack_dir: Path) -> None:
    pack = load_pack(pack_dir)
    res = endpoint("ep", public_network_access="enabled", tags={"owner": "a"}, workspace="ws")
    f = by(pack.evaluate([res], now=NOW), "AMLG-NET-001", "ep")
    assert (f.status, f.severity, f.effect, f.kind, f.field, f.line, f.source) == (
        "fail", "high", "alert", "online_endpoint", "public_network_access", 3, "ep.yml")
    assert f.message == "public_network_access is 'enabled'; expected 'disabled'"
    assert f.resource == res.id and f.title == "private endpoints" and f.workspace == "ws"
    assert f.remediation == "set public_network_access disabled" and f.tags == {"owner": "a"}
    rule = pack.rule("AMLG-NET-001")
    assert rule.for_seconds == 300 and rule.remediate == {"action": "disable_public_network_access"}
    meta = pack.rules_metadata()["AMLG-NET-001"]
    assert meta["help_uri"] == "https://example.com/net-001" and meta["rationale"] == "r"


def test_absent_field_takes_the_azure_default(pack_dir: Path) -> None:
    f = by(load_pack(pack_dir).evaluate([endpoint("ep")], now=NOW), "AMLG-NET-001", "ep")
    assert f.status == "fail"
    assert f.message == "public_network_access is not set; Azure defaults it to enabled; expected 'disabled'"
    assert f.line == 1  # absent: the resource line


def test_kubernetes_endpoint_is_not_applicable(pack_dir: Path) -> None:
    f = by(load_pack(pack_dir).evaluate([endpoint("k8s", compute_type="kubernetes")], now=NOW),
           "AMLG-NET-001", "k8s")
    assert f.status == "not_applicable"
    assert "compute_type is 'kubernetes'" in f.message


def test_exemption_by_id_glob(pack_dir: Path) -> None:
    f = by(load_pack(pack_dir).evaluate([endpoint("legacy-scoring")], now=NOW), "AMLG-NET-001", "legacy-scoring")
    assert f.status == "exempt"
    assert f.exemption == {"name": "legacy", "reason": "partner cannot use private link yet",
                           "approver": "security@contoso.com", "expires": "2027-01-31"}
    assert "exempt by 'legacy' until 2027-01-31" in f.message
    assert "without it: public_network_access is not set" in f.message


def test_exemption_only_for_listed_rules(pack_dir: Path) -> None:
    findings = load_pack(pack_dir).evaluate([endpoint("legacy-scoring")], now=NOW)
    assert by(findings, "AMLG-TAG-001", "legacy-scoring").status == "fail"


def test_expired_exemption_stops_applying_and_says_so(pack_dir: Path) -> None:
    f = by(load_pack(pack_dir).evaluate([endpoint("old-ep")], now=NOW), "AMLG-NET-001", "old-ep")
    assert f.status == "fail"
    assert f.message.endswith("exemption 'old-waiver' expired on 2026-10-01")
    assert f.exemption is not None and f.exemption["expired"] is True


def test_exemption_expiry_uses_the_injected_clock(pack_dir: Path) -> None:
    pack = load_pack(pack_dir)
    before = datetime(2026, 9, 30, tzinfo=UTC)
    assert by(pack.evaluate([endpoint("old-ep")], now=before), "AMLG-NET-001", "old-ep").status == "exempt"
    # a timestamp expiry is exact to the second
    tagged = endpoint("t", tags={"waiver": "SEC-42", "owner": "a"})
    assert by(pack.evaluate([tagged], now=datetime(2026, 12, 31, 17, 59, tzinfo=UTC)),
              "AMLG-TAG-001", "t").status == "exempt"
    late = by(pack.evaluate([tagged], now=datetime(2026, 12, 31, 18, 0, tzinfo=UTC)), "AMLG-TAG-001", "t")
    assert late.status == "pass" and "exemption 'by-tag' expired on 2026-12-31T18:00:00Z" in late.message


def test_exemption_by_tag_covers_all_rules_when_none_listed(pack_dir: Path) -> None:
    findings = load_pack(pack_dir).evaluate([endpoint("x", tags={"waiver": "sec-1"})], now=NOW)
    assert {f.status for f in findings} == {"exempt"}
    assert by(findings, "AMLG-TAG-001", "x").exemption["approver"] == "bob"


def test_parameter_override_by_resource_tag(pack_dir: Path) -> None:
    pack = load_pack(pack_dir)
    prod = deployment("prod", instance_count=1, tags={"owner": "a"})
    dev = deployment("dev", instance_count=1, tags={"owner": "a", "environment": "dev"})
    findings = pack.evaluate([prod, dev], now=NOW)
    assert by(findings, "AMLG-OPS-001", "prod").status == "fail"
    assert by(findings, "AMLG-OPS-001", "prod").message == "instance_count is 1; expected >= 3"
    assert by(findings, "AMLG-OPS-001", "dev").status == "pass"


def test_parameter_override_by_workspace_tag(pack_dir: Path) -> None:
    pack = load_pack(pack_dir)
    workspace = Resource(kind="workspace", id=WS, name="ws", fields={"tags": {"Environment": "test"}})
    dep = deployment("blue", instance_count=1, tags={"owner": "a"}, workspace="ws")
    assert by(pack.evaluate([workspace, dep], now=NOW), "AMLG-OPS-001", "blue").status == "pass"
    # without the workspace among the resources, its tags can be passed in
    assert by(pack.evaluate([dep], now=NOW), "AMLG-OPS-001", "blue").status == "fail"
    assert by(pack.evaluate([dep], now=NOW, workspace_tags={"ws": {"environment": "dev"}}),
              "AMLG-OPS-001", "blue").status == "pass"


def test_rule_level_override_and_precedence(pack_dir: Path) -> None:
    pack = load_pack(pack_dir, parameters={"min_instances": "2"})
    plain = deployment("plain", instance_count=2, tags={"owner": "a"})
    tiny = deployment("tiny", instance_count=0, tags={"owner": "a", "size": "tiny"})
    dev = deployment("dev", instance_count=1, tags={"owner": "a", "environment": "dev"})
    findings = pack.evaluate([plain, tiny, dev], now=NOW)
    assert by(findings, "AMLG-OPS-001", "plain").status == "pass"  # --param lowered the default to 2
    assert by(findings, "AMLG-OPS-001", "tiny").status == "pass"  # rule-level override: 0
    assert by(findings, "AMLG-OPS-001", "dev").status == "pass"  # tag override beats --param


def test_param_for_one_rule_and_unknown_param(pack_dir: Path) -> None:
    pack = load_pack(pack_dir, parameters={"AMLG-TAG-001.required_tags": "owner,team"})
    f = by(pack.evaluate([endpoint("e", public_network_access="disabled", tags={"owner": "a"})], now=NOW),
           "AMLG-TAG-001", "e")
    assert f.status == "fail" and "(missing 'team')" in f.message
    with pytest.raises(ConfigError, match="no rule declares that parameter"):
        load_pack(pack_dir, parameters={"nope": "1"})
    with pytest.raises(ConfigError, match="expected integer"):
        load_pack(pack_dir, parameters={"min_instances": "many"})


def test_environment_selects_overrides(pack_dir: Path) -> None:
    res = endpoint("e", public_network_access="disabled", tags={"owner": "a"})
    assert by(load_pack(pack_dir).evaluate([res], now=NOW), "AMLG-TAG-001", "e").status == "pass"
    prod = load_pack(pack_dir, environment="prod")
    assert by(prod.evaluate([res], now=NOW), "AMLG-TAG-001", "e").status == "fail"


def test_placeholder_fields_are_named_in_the_message(pack_dir: Path) -> None:
    res = endpoint("t", public_network_access="{{access}}", tags={"owner": "a"},
                   templated={"public_network_access"})
    findings = load_pack(pack_dir).evaluate([res], now=NOW)
    f = by(findings, "AMLG-NET-001", "t")
    assert f.status == "fail"
    assert ("public_network_access is a template placeholder ('{{access}}') and was evaluated as written"
            in f.message)
    assert "placeholder" not in by(findings, "AMLG-TAG-001", "t").message  # that rule does not read it


def test_inventory_errors_become_error_findings_never_passes(pack_dir: Path) -> None:
    pack = load_pack(pack_dir)
    errors = [InventoryError(resource=f"{WS}/onlineEndpoints/broken", message="403 Forbidden: grant Reader",
                             kind="online_endpoint"),
              InventoryError(resource="bad.yml", message="cannot parse")]
    findings = pack.evaluate([], errors=errors, now=NOW)
    known = [f for f in findings if f.resource.endswith("broken")]
    assert sorted(f.rule for f in known) == ["AMLG-NET-001", "AMLG-TAG-001"]
    assert all(f.status == "error" and "403 Forbidden" in f.message for f in known)
    unknown = [f for f in findings if f.resource == "bad.yml"]
    assert sorted(f.rule for f in unknown) == ["AMLG-NET-001", "AMLG-OPS-001", "AMLG-TAG-001"]
    assert {f.status for f in unknown} == {"error"}


def test_a_rule_that_raises_gives_an_error_finding(pack_dir: Path) -> None:
    class Boom(str):  # a value whose comparison blows up
        def casefold(self) -> str:
            raise RuntimeError("boom")

    res = endpoint("w", public_network_access=Boom("enabled"), tags={"owner": "a"})
    findings = pack_dir and load_pack(pack_dir).evaluate([res], now=NOW)
    f = by(findings, "AMLG-NET-001", "w")
    assert f.status == "error"
    assert f.message == "rule could not be evaluated: RuntimeError: boom"
    assert by(findings, "AMLG-TAG-001", "w").status == "pass"  # the other rules still run


def test_pack_api_lookups(pack_dir: Path) -> None:
    pack = load_pack(pack_dir)
    assert [r.id for r in pack.rules] == ["AMLG-NET-001", "AMLG-OPS-001", "AMLG-TAG-001"]
    assert pack.rule("AMLG-OPS-001").parameters["min_instances"].default == 3
    with pytest.raises(KeyError, match="known: AMLG-NET-001"):
        pack.rule("AMLG-NET-999")
    assert isinstance(pack, PolicyPack)


def test_evaluation_is_deterministic_and_repeatable(pack_dir: Path) -> None:
    pack = load_pack(pack_dir)
    resources = [endpoint(f"e{i}", public_network_access="enabled" if i % 2 else "disabled",
                          tags={"environment": "dev"} if i % 3 else {}) for i in range(30)]
    first = [(f.rule, f.resource, f.status, f.message) for f in pack.evaluate(resources, now=NOW)]
    second = [(f.rule, f.resource, f.status, f.message) for f in pack.evaluate(resources, now=NOW)]
    assert first == second and len(first) == 60


@pytest.mark.parametrize("workers", [2, 3])
@pytest.mark.parametrize("child", ["works", "fails"])
def test_evaluating_in_processes_gives_exactly_the_findings_of_one(pack_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  workers: int, child: str) -> None:
    import amlguard.forked as forked

    pack = load_pack(pack_dir)
    # the workspace comes first, in a child's share: its tags select the dev override for
    # deployments of it evaluated in the other processes
    resources = [Resource(kind="workspace", id=WS, name="ws", fields={"tags": {"Environment": "test"}})]
    for i in range(600):
        name = f"legacy-{i}" if i % 7 == 0 else f"ep-{i}"
        resources.append(endpoint(name, public_network_access="enabled" if i % 2 else "disabled", tags={"owner": "a"}))
        resources.append(deployment(f"d{i}", instance_count=i % 4, tags={"owner": "a"},
                                    workspace="ws" if i % 3 == 0 else None))
    errors = [InventoryError(f"{WS}/onlineEndpoints/unreadable", "403", "online_endpoint")]
    one = pack.evaluate(resources, errors=errors, now=NOW)
    if child == "fails":  # the child inherits the patch and exits 1: its share is evaluated here
        def broken(*args: object, **kwargs: object) -> None:
            raise OSError("no room")

        monkeypatch.setattr(forked.pickle, "dumps", broken)
    many = pack.evaluate(resources, errors=errors, now=NOW, workers=workers)
    assert many == one and len(one) == 2402
    assert {f.status for f in many} == {"pass", "fail", "exempt", "error"}
    assert by(many, "AMLG-OPS-001", "d597").status == "pass"  # instance_count 1, the workspace's override
    assert by(many, "AMLG-OPS-001", "d598").status == "fail"  # instance_count 2, no workspace: 3 required
