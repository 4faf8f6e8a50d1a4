"""ResourceGraphInventory against the HTTPS stand-in: $skipToken paging, quota pacing, faults,
and the same resources as the per-workspace path."""

from __future__ import annotations

import pytest

from amlguard.errors import ConfigError
from amlguard.inventory.base import Scope
from amlguard.inventory.live import LiveInventory
from amlguard.inventory.resourcegraph import ResourceGraphInventory, build_query, parse_resets_after
from tests.standins.arm import SUB, ArmStandin, arm_id
from tests.standins.helpers import FakeCredential, fast_options

SCOPE = Scope(subscriptions=(SUB,))
WS0 = arm_id(SUB, "rg-ml", "ws-000")
GRAPH = r"/providers/Microsoft\.ResourceGraph/resources$"
COMPARED = ("public_network_access", "auth_mode", "egress_public_network_access", "tags", "traffic",
            "managed_network.isolation_mode", "instance_type", "instance_count")


def graph(server: ArmStandin, **kwargs: object) -> ResourceGraphInventory:
    options = kwargs.pop("options", None) or fast_options(server)
    return ResourceGraphInventory(FakeCredential(), options=options, **kwargs)  # type: ignore[arg-type]


def test_one_paged_query_finds_the_whole_estate(arm_standin: ArmStandin) -> None:
    inv = graph(arm_standin)
    result = inv.list(SCOPE)

    assert result.errors == []
    assert len(result.resources) == 14
    calls = arm_standin.requests_to(GRAPH, "POST")
    assert len(calls) == inv.stats.calls == 4  # 14 rows, pages of 4
    assert arm_standin.requests_to(r"/workspaces/") == []  # no per-workspace calls at all


def test_same_resources_and_fields_as_the_per_workspace_path(arm_standin: ArmStandin) -> None:
    fast = {r.id.lower(): r for r in graph(arm_standin).list(SCOPE).resources}
    slow = {r.id.lower(): r for r in LiveInventory(FakeCredential(),
                                                   options=fast_options(arm_standin)).list(SCOPE).resources}
    assert fast.keys() == slow.keys()
    for rid, resource in fast.items():
        assert resource.kind == slow[rid].kind
        for path in COMPARED:
            assert resource.get(path) == slow[rid].get(path), (rid, path)


def test_quota_headers_pace_the_next_page(arm_standin: ArmStandin) -> None:
    arm_standin.rg_quota, arm_standin.rg_quota_window = 2, 0.5
    arm_standin._rg_used, arm_standin._rg_window_start = 0, 0.0  # a fresh window on first call
    inv = graph(arm_standin)
    result = inv.list(SCOPE)

    assert result.errors == [] and len(result.resources) == 14
    calls = arm_standin.requests_to(GRAPH, "POST")
    assert [c.status for c in calls] == [200, 200, 200, 200]  # never throttled
    assert inv.stats.throttle_waits >= 1
    assert calls[2].started - calls[0].started >= 0.45  # waited for the quota window to reset


def test_429_with_retry_after_is_retried(arm_standin: ArmStandin) -> None:
    arm_standin.inject(path=r"ResourceGraph", method="POST", status=429, headers={"Retry-After": "0.4"})
    result = graph(arm_standin).list(SCOPE)

    calls = arm_standin.requests_to(GRAPH, "POST")
    assert result.errors == [] and len(result.resources) == 14
    assert calls[0].status == 429 and calls[1].started - calls[0].ended >= 0.35


def test_forbidden_subscription_is_an_error_per_subscription(arm_standin: ArmStandin) -> None:
    arm_standin.inject(path=r"ResourceGraph", method="POST", status=403, times=None,
                       body={"error": {"code": "AuthorizationFailed", "message": "no"}})
    other = "00000000-0000-0000-0000-000000000002"
    result = graph(arm_standin).list(Scope(subscriptions=(SUB, other)))

    assert [e.resource for e in result.errors] == [f"/subscriptions/{SUB}", f"/subscriptions/{other}"]
    assert "grant the amlguard identity Reader" in result.errors[0].message
    assert result.resources == []


def test_failure_mid_paging_keeps_rows_read_and_reports_the_error(arm_standin: ArmStandin) -> None:
    arm_standin.inject(path=r"ResourceGraph", method="POST", status=200, body="{not json", after=1)
    result = graph(arm_standin).list(SCOPE)

    assert len(result.resources) == 4
    assert [e.resource for e in result.errors] == [f"/subscriptions/{SUB}"]
    assert "not valid JSON" in result.errors[0].message


@pytest.mark.parametrize(("scope", "expected"), [
    (Scope(subscriptions=(SUB,), resource_group="rg-ml"), 14),
    (Scope(subscriptions=(SUB,), resource_group="other-rg"), 0),
    (Scope(subscriptions=(SUB,), resource_group="rg-ml", workspace="ws-001"), 7),
    (Scope(subscriptions=(SUB,), workspace="ws-000"), 7),
])
def test_scope_narrows_the_query(arm_standin: ArmStandin, scope: Scope, expected: int) -> None:
    resources = graph(arm_standin).list(scope).resources
    assert len(resources) == expected
    if scope.workspace:
        assert {r.workspace for r in resources} == {scope.workspace}


def test_workspaces_and_get(arm_standin: ArmStandin) -> None:
    inv = graph(arm_standin)
    assert [w.lower() for w in inv.workspaces(SCOPE)] == [WS0.lower(), arm_id(SUB, "rg-ml", "ws-001").lower()]
    endpoint = f"{WS0}/onlineEndpoints/ep-000-01"
    resource = inv.get(endpoint)
    assert resource is not None and resource.fields["public_network_access"] == "enabled"
    assert inv.get(f"{WS0}/onlineEndpoints/missing") is None


def test_get_goes_to_arm_when_a_fallback_is_given(arm_standin: ArmStandin) -> None:
    live = LiveInventory(FakeCredential(), options=fast_options(arm_standin))
    inv = ResourceGraphInventory(fallback=live)
    endpoint = f"{WS0}/onlineEndpoints/ep-000-00"
    assert inv.get(endpoint) is not None
    assert arm_standin.requests_to(GRAPH) == []
    assert arm_standin.requests_to(r"/onlineEndpoints/ep-000-00$", "GET")


def test_query_text_and_unsafe_names() -> None:
    query = build_query(Scope(subscriptions=(SUB,), resource_group="rg-ml", workspace="ws-1"))
    assert "| where resourceGroup =~ 'rg-ml'" in query
    assert "| order by id asc" in query
    with pytest.raises(ConfigError, match="cannot have"):
        build_query(Scope(subscriptions=(SUB,), resource_group="x' or 1==1 //"))


def test_one_query_names_every_indexed_type_and_no_other() -> None:
    """Computes, registries and serverless endpoints ride in the same `type in~` list as the
    workspaces and endpoints (so they cost no extra call); datastores and environment versions,
    which Resource Graph's table reference does not list, are not asked for."""
    query = build_query(Scope(subscriptions=(SUB,)))
    [types] = [line for line in query.splitlines() if line.startswith("| where type in~ (")]
    asked = {t.strip(" '").lower() for t in types.removeprefix("| where type in~ (").removesuffix(")").split(",")}
    ml = "microsoft.machinelearningservices"
    assert asked == {f"{ml}/workspaces", f"{ml}/workspaces/onlineendpoints", f"{ml}/workspaces/onlineendpoints/deployments",
                     f"{ml}/workspaces/batchendpoints", f"{ml}/workspaces/batchendpoints/deployments",
                     f"{ml}/workspaces/computes", f"{ml}/workspaces/serverlessendpoints", f"{ml}/registries"}
    assert query.count("| where type in~") == 1


@pytest.mark.parametrize(("header", "seconds"), [
    ("00:00:05", 5.0), ("00:01:00.5", 60.5), ("01:00:00", 3600.0), (None, 0.0), ("garbage", 0.0),
])
def test_parse_resets_after(header: str | None, seconds: float) -> None:
    assert parse_resets_after(header) == pytest.approx(seconds)
