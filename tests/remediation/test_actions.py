"""Remediation actions: registry, traffic arithmetic (pure, no Azure)."""

from __future__ import annotations

import pytest

from amlguard.model import Resource
from amlguard.remediation import ACTIONS, zero_traffic
from amlguard.remediation.actions import DisablePublicNetworkAccess, SetTrafficZero, Tag


def test_registry_holds_the_documented_actions() -> None:
    assert set(ACTIONS) >= {"disable_public_network_access", "set_traffic_zero", "tag"}


@pytest.mark.parametrize(("traffic", "deployment", "expected"), [
    ({"blue": 80, "green": 20}, "green", {"blue": 100, "green": 0}),
    ({"blue": 50, "green": 25, "red": 25}, "blue", {"blue": 0, "green": 50, "red": 50}),
    ({"a": 34, "b": 33, "c": 33}, "a", {"a": 0, "b": 50, "c": 50}),
    ({"a": 10, "b": 45, "c": 45}, "a", {"a": 0, "b": 50, "c": 50}),
    ({"a": 1, "b": 2, "c": 97}, "c", {"a": 0, "b": 0, "c": 0} | {"a": 33, "b": 67}),
    ({"blue": 100, "green": 0}, "green", {"blue": 100, "green": 0}),
    ({"blue": 100}, "blue", {"blue": 0}),
])
def test_zero_traffic_keeps_the_total(traffic: dict[str, int], deployment: str, expected: dict[str, int]) -> None:
    out = zero_traffic(traffic, deployment)
    assert out == expected
    assert out[deployment] == 0
    if any(v for k, v in traffic.items() if k != deployment):
        assert sum(out.values()) == sum(traffic.values())


def _endpoint(traffic: dict[str, int]) -> Resource:
    return Resource(kind="online_endpoint", id="/x/onlineEndpoints/ep", name="ep", fields={"traffic": traffic})


def _deployment(name: str) -> Resource:
    return Resource(kind="online_deployment", id=f"/x/onlineEndpoints/ep/deployments/{name}", name=name)


def test_last_serving_deployment_is_refused_unless_allowed() -> None:
    resources = {"/x/onlineendpoints/ep": _endpoint({"blue": 100, "green": 0})}
    assert "last deployment serving traffic" in (SetTrafficZero({}).refuse(_deployment("blue"), resources) or "")
    assert SetTrafficZero({"allow_last_serving": True}).refuse(_deployment("blue"), resources) is None
    assert SetTrafficZero({}).refuse(_deployment("green"), resources) is None  # serves nothing: no-op


@pytest.mark.parametrize(("fields", "changed"), [
    ({"public_network_access": "enabled"}, True),
    ({}, True),  # absent means Azure's default, enabled
    ({"public_network_access": "disabled"}, False),
])
def test_disable_public_network_access_preview(fields: dict[str, str], changed: bool) -> None:
    resource = Resource(kind="online_endpoint", id="/x/onlineEndpoints/ep", name="ep", fields=fields)
    preview = DisablePublicNetworkAccess({}).preview(resource, {})
    assert preview.changed is changed
    assert preview.after == {"public_network_access": "disabled"}


def test_kubernetes_endpoints_are_not_touched() -> None:
    resource = Resource(kind="online_endpoint", id="/x", name="ep", compute_type="kubernetes")
    assert "Kubernetes" in (DisablePublicNetworkAccess({}).refuse(resource, {}) or "")


def test_tag_preview_only_lists_what_differs() -> None:
    resource = Resource(kind="online_endpoint", id="/x", name="ep", fields={"tags": {"owner": "a", "env": "prod"}})
    preview = Tag({"tags": {"owner": "ml-platform", "env": "prod"}}).preview(resource, {})
    assert preview.changed and preview.before == {"tags": {"owner": "a"}}
    assert preview.after == {"tags": {"owner": "ml-platform"}}
    assert not Tag({"tags": {"env": "prod"}}).preview(resource, {}).changed
