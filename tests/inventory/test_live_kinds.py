"""The workspace's other kinds read live from the HTTPS ARM stand-in: computes, datastores and
serverless endpoints per workspace, registries per subscription, all but datastores through
Resource Graph in one paged query; a single compute read fresh for an event knows its workspace's managed
network; diagnostic settings when asked for."""

from __future__ import annotations

import math

from amlguard.inventory.base import Scope
from amlguard.inventory.live import LiveInventory
from amlguard.inventory.resourcegraph import ResourceGraphInventory
from amlguard.policy import load_pack
from tests.standins.arm import ML, SUB, ArmStandin, arm_id
from tests.standins.helpers import FakeCredential, fast_options

SCOPE = Scope(subscriptions=(SUB,))
WS0, WS1 = arm_id(SUB, "rg-ml", "ws-000"), arm_id(SUB, "rg-ml", "ws-001")
GRAPH = r"/providers/Microsoft\.ResourceGraph/resources$"


def seed_kinds(server: ArmStandin) -> None:
    estate = server.estate
    # ws-000 has a managed network (AllowOnlyApprovedOutbound); ws-001 has none (Disabled)
    estate.add_compute(WS0, "managed-cpu", subnet=False)
    estate.add_compute(WS1, "open-gpu", subnet=False, node_public_ip=True, disable_local_auth=False, min_nodes=2)
    estate.add_compute(WS1, "ci-ana", compute_type="ComputeInstance")
    estate.add_registry(SUB, "rg-ml", "shared-models", public_network_access="Enabled")
    # a serverless endpoint as ARM lists it (Microsoft.MachineLearningServices 2024-04-01 ServerlessEndpoint)
    estate.put({"id": f"{WS0}/serverlessEndpoints/llama-key", "name": "llama-key",
                "type": f"{ML}/workspaces/serverlessEndpoints", "location": "westeurope",
                "sku": {"name": "Consumption"}, "properties": {
                    "authMode": "Key", "provisioningState": "Succeeded",
                    "modelSettings": {"modelId": "azureml://registries/azureml-meta/models/Meta-Llama-3-8B-Instruct"},
                    "inferenceEndpoint": {"uri": "https://llama-key.westeurope.models.ai.azure.com"}}})


def by_name(resources: list) -> dict:
    return {r.name: r for r in resources}


def test_live_sweep_reads_computes_and_registries_with_their_workspace_network(arm_standin: ArmStandin) -> None:
    seed_kinds(arm_standin)
    result = LiveInventory(FakeCredential(), options=fast_options(arm_standin)).list(SCOPE)
    assert result.errors == []
    found = by_name(result.resources)
    managed, gpu, ci, registry = found["managed-cpu"], found["open-gpu"], found["ci-ana"], found["shared-models"]
    assert (managed.kind, managed.compute_type, managed.workspace, managed.live) == ("compute", "cluster", "ws-000", True)
    assert managed.fields["workspace_managed_network"] == "allow_only_approved_outbound"
    assert gpu.fields["workspace_managed_network"] == "disabled"
    assert (ci.compute_type, ci.fields["os_image_metadata"]["is_latest_os_image_version"]) == ("instance", True)
    assert (registry.kind, registry.workspace, registry.fields["public_network_access"]) == ("registry", None,
                                                                                              "enabled")
    findings = {(f.rule, f.resource_name): f.status for f in load_pack().evaluate(result.resources)}
    assert findings[("AMLG-CMP-002", "managed-cpu")] == "pass"  # in the workspace's managed network
    assert findings[("AMLG-CMP-002", "open-gpu")] == "fail"
    assert findings[("AMLG-CMP-001", "open-gpu")] == findings[("AMLG-CMP-006", "open-gpu")] == "fail"
    assert findings[("AMLG-REG-001", "shared-models")] == "fail"
    assert (found["llama-key"].kind, found["llama-key"].fields["auth_mode"]) == ("serverless_endpoint", "key")
    assert findings[("AMLG-AUTH-003", "llama-key")] == "fail"
    # one list of computes, datastores and serverless endpoints per workspace; registries once
    assert len(arm_standin.requests_to(r"/computes$")) == 2
    assert len(arm_standin.requests_to(rf"/providers/{ML}/registries$")) == 1


def test_resource_graph_reads_computes_registries_and_serverless_endpoints_in_one_call_per_page(arm_standin: ArmStandin) -> None:
    seed_kinds(arm_standin)
    inv = ResourceGraphInventory(FakeCredential(), options=fast_options(arm_standin))
    result = inv.list(SCOPE)
    assert result.errors == []
    kinds = [r.kind for r in result.resources]
    assert (kinds.count("compute"), kinds.count("registry"), kinds.count("serverless_endpoint")) == (3, 1, 1)
    assert len(kinds) == 19  # the 14 of the seeded estate and the 5 above
    # the same one query, one call per page of 4, as for the 14 resources alone
    assert len(arm_standin.requests_to(GRAPH, "POST")) == inv.stats.calls == math.ceil(19 / arm_standin.rg_page_size)
    assert inv.stats.rows == 19
    assert arm_standin.requests_to(r"/workspaces/") == []  # no per-workspace calls at all
    managed = by_name(result.resources)["managed-cpu"]
    assert managed.fields["workspace_managed_network"] == "allow_only_approved_outbound"
    slow = by_name(LiveInventory(FakeCredential(), options=fast_options(arm_standin)).list(SCOPE).resources)
    for name in ("managed-cpu", "open-gpu", "ci-ana", "shared-models", "llama-key"):
        fast = by_name(result.resources)[name]
        assert fast.id.lower() == slow[name].id.lower(), name
        # a Resource Graph row has no systemData and empty kind / sku / tags as null: the rest is the same
        same = {k: v for k, v in slow[name].fields.items() if k != "system_data"}
        assert {k: v for k, v in fast.fields.items() if v is not None} == same, name


def test_a_compute_read_for_an_event_knows_its_workspace(arm_standin: ArmStandin) -> None:
    seed_kinds(arm_standin)
    inv = LiveInventory(FakeCredential(), options=fast_options(arm_standin))
    compute = inv.get(f"{WS0}/computes/managed-cpu")
    assert compute is not None and compute.fields["workspace_managed_network"] == "allow_only_approved_outbound"
    registry = inv.get(f"/subscriptions/{SUB}/resourceGroups/rg-ml/providers/{ML}/registries/shared-models")
    assert registry is not None and registry.kind == "registry"
    assert inv.get(f"{WS0}/computes/gone") is None  # 404: deleted, not an error


def test_diagnostic_settings_are_read_when_asked_for(arm_standin: ArmStandin) -> None:
    endpoint = f"{WS0}/onlineEndpoints/ep-000-00"
    arm_standin.estate.diagnostics[WS0.lower()] = [{"name": "to-law", "properties": {
        "workspaceId": "/subscriptions/x/law", "logs": [{"categoryGroup": "allLogs", "enabled": True}],
        "metrics": [{"category": "AllMetrics", "enabled": True}]}}]
    arm_standin.estate.diagnostics[endpoint.lower()] = [{"name": "traffic", "properties": {
        "logs": [{"category": "AmlOnlineEndpointTrafficLog", "enabled": True},
                 {"category": "AmlOnlineEndpointConsoleLog", "enabled": False}]}}]
    plain = by_name(LiveInventory(FakeCredential(), options=fast_options(arm_standin)).list(SCOPE).resources)
    assert "diagnostic_settings" not in plain["ws-000"].fields
    inv = LiveInventory(FakeCredential(), options=fast_options(arm_standin, diagnostic_settings=True))
    found = by_name(inv.list(SCOPE).resources)
    assert found["ws-000"].fields["diagnostic_settings"] == [{
        "name": "to-law", "enabled_logs": ["allLogs"], "enabled_metrics": ["AllMetrics"],
        "destinations": {"workspace_id": "/subscriptions/x/law"}}]
    assert found["ws-001"].fields["diagnostic_settings"] == []
    findings = {(f.rule, f.resource_name): f.status for f in load_pack().evaluate(list(found.values()))}
    assert findings[("AMLG-WS-007", "ws-000")] == "pass" and findings[("AMLG-WS-007", "ws-001")] == "fail"
    assert findings[("AMLG-OPS-006", "ep-000-00")] == "fail"  # the console log is off
    assert findings[("AMLG-OPS-006", "ep-001-00")] == "fail"  # no setting at all
