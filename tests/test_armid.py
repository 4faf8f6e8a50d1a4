"""The one ARM id value: strict parsing, Azure ML kinds, case-insensitive identity."""

import pytest

from amlguard.armid import MAX_ID_LENGTH, ArmId
from amlguard.errors import ConfigError

SUB = "00000000-0000-0000-0000-000000000001"
WS = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws"


@pytest.mark.parametrize(("text", "kind", "name", "short"), [
    (WS, "workspace", "ws", "ws"),
    (f"{WS}/onlineEndpoints/ep", "online_endpoint", "ep", "ep"),
    (f"{WS}/onlineEndpoints/ep/deployments/blue", "online_deployment", "blue", "ep/blue"),
    (f"{WS}/batchEndpoints/b", "batch_endpoint", "b", "b"),
    (f"{WS}/batchendpoints/b/deployments/d1", "batch_deployment", "d1", "b/d1"),
    (WS.replace("resourceGroups", "resourcegroups").lower(), "workspace", "ws", "ws"),
    (f"{WS}/computes/cpu", "compute", "cpu", "cpu"),
    (f"{WS}/jobs/j1", None, "j1", "j1"),
    (f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/sa", None, "sa", "sa"),
    (f"/subscriptions/{SUB}/resourceGroups/rg", None, "rg", "rg"),
])
def test_parse_kinds_and_names(text, kind, name, short):
    parsed = ArmId.parse(text)
    assert parsed is not None
    assert (parsed.kind, parsed.name, parsed.short) == (kind, name, short)
    assert str(parsed) == text


@pytest.mark.parametrize("text", [
    "", "garbage", f"garbage{WS}", f"https://evil.example{WS}", f"../../etc/passwd{WS}",
    f"{WS}/onlineEndpoints", f"{WS}/onlineEndpoints/../x", f"/subscriptions/{SUB}/resourceGroups/r g",
    "/subscriptions//resourceGroups/rg", "/" + "x" * MAX_ID_LENGTH, None, 42,
    f"{WS}/onlineEndpoints/a\\b", f"{WS}/onlineEndpoints/a#b", f"{WS}/onlineEndpoints/a?code=x",
])
def test_malformed_ids_are_refused(text):
    assert ArmId.parse(text) is None
    with pytest.raises(ConfigError, match="not an ARM resource id"):
        ArmId.require(text)


def test_identity_is_case_insensitive_and_keeps_the_given_text():
    upper, lower = ArmId.parse(WS), ArmId.parse(WS.lower())
    assert upper == lower and hash(upper) == hash(lower) and {upper, lower} == {upper}
    assert str(upper) == WS and upper.key == WS.lower()


def test_parts_labels_and_workspace_id():
    dep = ArmId.require(f"{WS}/onlineEndpoints/ep/deployments/blue")
    assert (dep.subscription, dep.resource_group, dep.workspace, dep.endpoint, dep.deployment) == (
        SUB, "rg", "ws", "ep", "blue")
    assert dep.resource_type == "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments"
    assert dep.workspace_id == ArmId.require(WS)
    assert dep.labels() == {"subscription": SUB, "resource_group": "rg", "workspace": "ws", "endpoint": "ep",
                            "deployment": "blue", "workspace_id": WS.lower()}


@pytest.mark.parametrize(("kind", "suffix"), [
    ("workspace", ""), ("online_endpoint", "/onlineEndpoints/ep"),
    ("online_deployment", "/onlineEndpoints/ep/deployments/d"), ("batch_endpoint", "/batchEndpoints/ep"),
    ("batch_deployment", "/batchEndpoints/ep/deployments/d"),
])
def test_build_round_trips(kind, suffix):
    built = ArmId.build(SUB, "rg", "ws", kind=kind, endpoint="ep", deployment="d")
    assert str(built) == WS + suffix
    assert ArmId.require(str(built)).kind == kind


def test_build_needs_the_names_of_its_parents():
    with pytest.raises(ValueError, match="endpoint name"):
        ArmId.build(SUB, "rg", "ws", kind="online_endpoint")
    with pytest.raises(ValueError, match="deployment name"):
        ArmId.build(SUB, "rg", "ws", kind="batch_deployment", endpoint="ep")


def test_scope_prefix_is_the_longest_id_a_scope_names() -> None:
    from amlguard.armid import scope_prefix

    assert scope_prefix("s1") == "/subscriptions/s1"
    assert scope_prefix("s1", "rg") == "/subscriptions/s1/resourceGroups/rg"
    workspace = scope_prefix("s1", "rg", "ws")
    assert workspace == "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws"
    assert workspace == ArmId.build("s1", "rg", "ws").text
    assert scope_prefix("s1", None, "ws") == "/subscriptions/s1"  # a workspace's group is part of its id
