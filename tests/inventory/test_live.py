"""LiveInventory (MLClient per workspace) against the HTTPS ARM stand-in, faults included."""

from __future__ import annotations

from collections import Counter

import pytest

from amlguard.errors import SourceError
from amlguard.inventory.base import Scope
from amlguard.inventory.live import LiveInventory, describe_failure
from tests.standins.arm import ML, SUB, ArmStandin, arm_id
from tests.standins.helpers import FakeCredential, fast_options

SCOPE = Scope(subscriptions=(SUB,))
WS0 = arm_id(SUB, "rg-ml", "ws-000")
WS1 = arm_id(SUB, "rg-ml", "ws-001")


def inventory(server: ArmStandin, **overrides: object) -> LiveInventory:
    return LiveInventory(FakeCredential(), options=fast_options(server, **overrides))


def kinds(result_resources: list) -> Counter[str]:
    return Counter(r.kind for r in result_resources)


def test_lists_every_workspace_endpoint_and_deployment(arm_standin: ArmStandin) -> None:
    result = inventory(arm_standin).list(SCOPE)

    assert result.errors == []
    assert kinds(result.resources) == {"workspace": 2, "online_endpoint": 4, "online_deployment": 4,
                                       "batch_endpoint": 2, "batch_deployment": 2}
    by_id = {r.id.lower(): r for r in result.resources}
    public = by_id[f"{WS0}/onlineEndpoints/ep-000-01".lower()]
    assert public.fields["public_network_access"] == "enabled"
    assert public.fields["auth_mode"] == "key"
    assert public.origin == "live" and public.live and public.workspace == "ws-000"
    private = by_id[f"{WS0}/onlineEndpoints/ep-000-00".lower()]
    assert private.fields["public_network_access"] == "disabled"
    deployment = by_id[f"{WS0}/onlineEndpoints/ep-000-01/deployments/dep0".lower()]
    assert deployment.fields["egress_public_network_access"] == "enabled"
    assert deployment.endpoint_name == "ep-000-01"
    workspace = by_id[WS1.lower()]
    assert workspace.fields["public_network_access"] == "enabled"
    assert workspace.fields["managed_network"]["isolation_mode"] == "disabled"
    assert workspace.fields["private_endpoint_connections"][0]["name"] == "pe-0"


def test_follows_next_link_pages(arm_standin: ArmStandin) -> None:
    for i in range(2, 5):  # 5 endpoints with pages of 2: three pages
        arm_standin.estate.add_online_endpoint(WS0, f"extra-{i}")
    result = inventory(arm_standin).list(Scope(subscriptions=(SUB,), resource_group="rg-ml", workspace="ws-000"))

    listed = arm_standin.requests_to(r"/workspaces/ws-000/onlineEndpoints$")
    assert [r.query.get("$skiptoken") for r in listed] == [None, "2", "4"]
    assert kinds(result.resources)["online_endpoint"] == 5


def test_token_is_asked_for_the_configured_resource_manager(arm_standin: ArmStandin) -> None:
    credential = FakeCredential()
    LiveInventory(credential, options=fast_options(arm_standin)).list(SCOPE)
    assert {scopes for scopes in credential.scopes} == {(arm_standin.url.rstrip("/") + "/.default",)}


def test_429_retry_after_is_honoured(arm_standin: ArmStandin) -> None:
    arm_standin.inject(path=r"/workspaces/ws-000/onlineEndpoints\?", method="GET", status=429,
                       headers={"Retry-After": "0.6"}, body={"error": {"code": "TooManyRequests"}})
    result = inventory(arm_standin).list(SCOPE)

    assert result.errors == []
    calls = arm_standin.requests_to(r"/workspaces/ws-000/onlineEndpoints$")
    assert [c.status for c in calls[:2]] == [429, 200]
    assert calls[1].started - calls[0].ended >= 0.55  # the retry waited what Retry-After said


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_retried(arm_standin: ArmStandin, status: int) -> None:
    arm_standin.inject(path=r"/workspaces/ws-001\?", method="GET", status=status, times=2)
    result = inventory(arm_standin).list(SCOPE)

    assert result.errors == []
    assert [c.status for c in arm_standin.requests_to(r"/workspaces/ws-001$")] == [status, status, 200]
    assert kinds(result.resources)["workspace"] == 2


def test_persistent_server_error_becomes_an_error_and_the_sweep_goes_on(arm_standin: ArmStandin) -> None:
    arm_standin.inject(path=r"/workspaces/ws-001\?", method="GET", status=503, times=None)
    result = inventory(arm_standin, retry_total=1).list(SCOPE)

    assert [(e.resource, e.kind, e.retryable) for e in result.errors] == [(WS1, "workspace", True)]
    assert "503" in result.errors[0].message and "next sweep" in result.errors[0].message
    assert all(r.workspace == "ws-000" for r in result.resources) and len(result.resources) == 7


def test_slow_workspace_times_out_into_an_error(arm_standin: ArmStandin) -> None:
    arm_standin.inject(path=r"/workspaces/ws-001\?", method="GET", delay=1.0, times=None)
    result = inventory(arm_standin, read_timeout=0.3, retry_total=1).list(SCOPE)

    assert [e.resource for e in result.errors] == [WS1]
    assert "no answer within 0.3s" in result.errors[0].message
    assert result.errors[0].retryable
    assert len(arm_standin.requests_to(r"/workspaces/ws-001$")) == 2  # first try + one retry
    assert {r.workspace for r in result.resources} == {"ws-000"}


def test_malformed_json_becomes_an_error(arm_standin: ArmStandin) -> None:
    arm_standin.inject(path=r"/workspaces/ws-000/batchEndpoints\?", method="GET", status=200,
                       body="{\"value\": [ {broken", times=None)
    result = inventory(arm_standin).list(SCOPE)

    assert [(e.resource, e.kind) for e in result.errors] == [(f"{WS0}/batchEndpoints", "batch_endpoint")]
    assert "not valid JSON" in result.errors[0].message
    assert kinds(result.resources) == {"workspace": 2, "online_endpoint": 4, "online_deployment": 4,
                                       "batch_endpoint": 1, "batch_deployment": 1}


def test_forbidden_workspace_is_an_error_naming_the_fix(arm_standin: ArmStandin) -> None:
    arm_standin.estate.forbidden.add(WS1.lower())
    result = inventory(arm_standin).list(SCOPE)

    assert len(result.errors) == 1
    error = result.errors[0]
    assert error.resource == WS1 and error.kind == "workspace" and not error.retryable
    assert error.message.startswith("403 Forbidden reading workspace ws-001")
    assert "grant the amlguard identity Reader" in error.message
    assert len(arm_standin.requests_to(r"/workspaces/ws-001$")) == 1  # 403 is not retried
    assert {r.workspace for r in result.resources} == {"ws-000"}


def test_endpoint_deleted_between_list_and_read_is_gone_not_an_error(arm_standin: ArmStandin) -> None:
    ep = f"{WS0}/onlineEndpoints/ep-000-01"
    arm_standin.inject(path=r"/onlineEndpoints/ep-000-01/deployments\?", method="GET", status=404,
                       body={"error": {"code": "ResourceNotFound", "message": "gone"}})
    result = inventory(arm_standin).list(SCOPE)

    assert result.errors == []
    ids = {r.id.lower() for r in result.resources}
    assert ep.lower() not in ids
    assert f"{WS0}/onlineEndpoints/ep-000-00".lower() in ids


def test_get_reads_each_kind_and_none_when_deleted(arm_standin: ArmStandin) -> None:
    inv = inventory(arm_standin)
    ep = f"{WS0}/onlineEndpoints/ep-000-01"
    cases = {
        WS0: "workspace",
        ep: "online_endpoint",
        f"{ep}/deployments/dep0": "online_deployment",
        f"{WS0}/batchEndpoints/bep-000-00": "batch_endpoint",
        f"{WS0}/batchEndpoints/bep-000-00/deployments/main": "batch_deployment",
    }
    for resource_id, kind in cases.items():
        resource = inv.get(resource_id)
        assert resource is not None and resource.kind == kind and resource.id.lower() == resource_id.lower()
    arm_standin.estate.delete(ep)
    assert inv.get(ep) is None
    assert inv.get(f"{ep}/deployments/dep0") is None


def test_get_of_a_forbidden_workspace_raises_with_the_fix(arm_standin: ArmStandin) -> None:
    arm_standin.estate.forbidden.add(WS1.lower())
    with pytest.raises(SourceError, match="grant the amlguard identity Reader") as info:
        inventory(arm_standin).get(f"{WS1}/onlineEndpoints/ep-001-00")
    assert info.value.retryable is False


def test_workspaces_in_scope(arm_standin: ArmStandin) -> None:
    inv = inventory(arm_standin)
    assert [w.lower() for w in inv.workspaces(SCOPE)] == [WS0.lower(), WS1.lower()]
    assert [w.lower() for w in inv.workspaces(Scope(subscriptions=(SUB,), workspace="ws-001"))] == [WS1.lower()]
    assert inv.workspaces(Scope(subscriptions=(SUB,), resource_group="rg-ml", workspace="ws-000")) == [WS0]


def test_concurrency_is_bounded(arm_standin: ArmStandin) -> None:
    arm_standin.latency = 0.05
    inventory(arm_standin, concurrency=3).list(SCOPE)
    assert 1 < arm_standin.max_in_flight() <= 3


def test_secret_requests_are_refused_and_recorded(arm_standin: ArmStandin) -> None:
    import requests

    for path in ("/onlineEndpoints/ep-000-00/listKeys", "/onlineEndpoints/ep-000-00/TOKEN"):
        response = requests.post(f"{arm_standin.url.rstrip('/')}{WS0}{path}?api-version=2023-10-01",
                                 verify=str(arm_standin.ca_file), timeout=5)
        assert response.status_code == 403
    assert len(arm_standin.violations) == 2
    arm_standin.violations.clear()  # this test asked on purpose; the fixture checks the rest


def test_sweep_never_asks_for_a_secret(arm_standin: ArmStandin) -> None:
    inv = inventory(arm_standin)
    inv.list(SCOPE)
    inv.get(f"{WS0}/onlineEndpoints/ep-000-00")
    paths = [r.path.lower() for r in arm_standin.api_requests()]
    assert paths and not any(p.endswith(("/listkeys", "/token")) for p in paths)
    assert arm_standin.violations == []


@pytest.mark.parametrize(("status", "expected", "retryable"), [
    (401, "401 Unauthorized reading workspace w", False),
    (403, "403 Forbidden reading workspace w: grant the amlguard identity Reader", False),
    (429, "429 Too Many Requests reading workspace w", True),
    (502, "502 from Azure Resource Manager reading workspace w", True),
])
def test_failure_messages_name_the_fix(status: int, expected: str, retryable: bool) -> None:
    class Failure(Exception):
        status_code = status

    message, is_retryable = describe_failure(Failure("x"), action="reading", what="workspace w")
    assert message.startswith(expected) and is_retryable is retryable


def test_dropped_connection_is_retried(arm_standin: ArmStandin) -> None:
    arm_standin.inject(path=r"/workspaces/ws-000/batchEndpoints\?", method="GET", drop=True)
    result = inventory(arm_standin).list(SCOPE)

    assert result.errors == []
    assert kinds(result.resources)["batch_endpoint"] == 2
    assert len(arm_standin.requests_to(r"/workspaces/ws-000/batchEndpoints$")) == 2


def test_an_entity_is_the_kind_its_operations_say() -> None:
    # BatchEndpoint._to_dict() has nothing that tells it from an online endpoint with aad_token;
    # the operation group it came from does
    from amlguard.inventory.live import entity_to_resource

    class Entity:
        id = None

        def _to_dict(self) -> dict[str, object]:
            return {"name": "scorer", "auth_mode": "aad_token"}

    resource = entity_to_resource(Entity(), "batch_endpoint")
    assert resource is not None and resource.kind == "batch_endpoint" and resource.origin == "live"
    assert resource.fields["auth_mode"] == "aad_token" and not resource.defaulted


def test_every_call_is_one_list_page_or_one_read(arm_standin: ArmStandin) -> None:
    """The sweep's cost in calls: one per list page (workspaces, endpoints, deployments, computes,
    datastores, serverless endpoints, registries) and one GET per workspace, none repeated."""
    arm_standin.estate.add_workspace(SUB, "rg-ml", "ws-002")  # three workspaces: two pages of two
    result = inventory(arm_standin).list(SCOPE)

    assert result.errors == []
    calls = [(r.method, r.path.lower(), r.query.get("$skiptoken")) for r in arm_standin.api_requests()]
    assert [c for c, n in Counter(calls).items() if n > 1] == []
    assert len(arm_standin.requests_to(rf"/subscriptions/{SUB}/providers/{ML}/workspaces$")) == 2
    # ws-000 and ws-001: GET, 2 endpoint lists, 3 deployment lists, 3 child lists; ws-002 has no endpoints
    assert len(calls) == 2 + 9 + 9 + 6 + 1


def test_progress_is_told_until_nothing_is_in_flight(arm_standin: ArmStandin) -> None:
    inv = inventory(arm_standin)
    seen: list[str] = []
    inv.progress = seen.append
    result = inv.list(SCOPE)
    assert len(seen) == len(arm_standin.api_requests()) - 1  # one per finished task: every call but the listing
    assert seen[-1] == f"{len(result.resources)} resources read, 0 ARM calls in flight"
