"""The workspace's other kinds (amlguard.inventory.kinds): computes, registries, serverless
endpoints, datastores and environments, read from CLI YAML (with and without $schema), ARM JSON,
Resource Graph rows and `az ml ... show` output into the same canonical fields."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from amlguard.inventory import load_data, load_paths, resource_from_arm, resource_from_yaml
from amlguard.inventory.recognize import classify_document
from amlguard.model import Resource

SUB, RG, WS = "00000000-0000-0000-0000-000000000001", "ml-rg", "ws-prod"
WS_ID = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.MachineLearningServices/workspaces/{WS}"
SCHEMA = "https://azuremlschemas.azureedge.net/latest/{}.schema.json"


def one(text: str, source: str = "x.yml") -> Resource:
    result = load_data(text, source=source)
    assert result.diagnostics == []
    (res,) = result.resources
    return res


# ------------------------------------------------------------------------------ recognition
@pytest.mark.parametrize(("doc", "kind", "compute"), [
    ({"$schema": SCHEMA.format("amlCompute"), "name": "c"}, "compute", "cluster"),
    ({"$schema": SCHEMA.format("computeInstance"), "name": "i"}, "compute", "instance"),
    ({"$schema": SCHEMA.format("vmCompute"), "name": "v", "type": "virtualmachine"}, "compute", "virtual_machine"),
    ({"name": "c", "type": "amlcompute"}, "compute", "cluster"),  # azureml-examples cluster-minimal.yml
    ({"name": "s", "type": "synapsespark", "resource_id": "/subscriptions/x"}, "compute", "synapse_spark"),
    ({"name": "k", "type": "kubernetes", "resource_id": "/subscriptions/x", "namespace": "ml"}, "compute", "kubernetes"),
    ({"id": f"{WS_ID}/computes/ci", "name": "ci", "type": "computeinstance"}, "compute", "instance"),
    ({"$schema": SCHEMA.format("registry"), "name": "r", "location": "eastus"}, "registry", None),
    ({"name": "r", "location": "eastus", "replication_locations": [{"location": "eastus"}]}, "registry", None),
    ({"$schema": SCHEMA.format("environment"), "name": "e", "image": "x"}, "environment", None),
    ({"name": "e", "image": "mcr.microsoft.com/x", "conda_file": "conda.yml"}, "environment", None),
    ({"name": "e", "build": {"path": "docker-context"}}, "environment", None),
    ({"$schema": SCHEMA.format("azureBlob"), "name": "d", "type": "azure_blob"}, "datastore", None),
    ({"name": "d", "type": "azure_data_lake_gen2", "account_name": "a", "filesystem": "f"}, "datastore", None),
])
def test_recognised_from_schema_id_or_shape(doc: dict[str, Any], kind: str, compute: str | None) -> None:
    cls = classify_document(doc)
    assert cls is not None and (cls.kind, cls.compute) == (kind, compute)


# ------------------------------------------------------------------------------ computes
def test_cluster_yaml_fields_defaults_and_derived_local_auth() -> None:
    res = one("$schema: " + SCHEMA.format("amlCompute") + "\nname: ssh-example\ntype: AmlCompute\n"
              "size: STANDARD_DS3_v2\nmin_instances: 0\nssh_settings:\n  admin_username: u\n"
              "  admin_password: hunter2\n")
    assert (res.kind, res.compute_type, res.name, res.id) == ("compute", "cluster", "ssh-example",
                                                            "x.yml#compute/ssh-example")
    assert res.fields["type"] == "amlcompute"
    # what `az ml compute create` sends for this YAML: local auth stays on with an admin login
    assert res.fields["disable_local_auth"] is False and res.line_of("disable_local_auth") == 6
    assert res.fields["ssh_settings"]["admin_password"] == "<redacted>"
    assert res.defaulted == {"enable_node_public_ip", "idle_time_before_scale_down"}
    assert res.fields["enable_node_public_ip"] is True and res.summary()["compute"] == "cluster"


@pytest.mark.parametrize(("yaml_tail", "disabled"), [
    ("", True), ("ssh_public_access_enabled: false\n", True), ("ssh_public_access_enabled: true\n", False),
])
def test_instance_local_auth_follows_public_ssh(yaml_tail: str, disabled: bool) -> None:
    res = one("name: i\ntype: computeinstance\n" + yaml_tail)
    assert res.fields["disable_local_auth"] is disabled


def test_deprecated_iso_idle_shutdown_is_read_in_minutes() -> None:
    res = one("name: i\ntype: computeinstance\nidle_time_before_shutdown: PT45M\n")
    assert res.fields["idle_time_before_shutdown_minutes"] == 45 and res.line_of("idle_time_before_shutdown_minutes") == 3


ARM_CLUSTER = {
    "id": f"{WS_ID}/computes/gpu", "name": "gpu", "type": "Microsoft.MachineLearningServices/workspaces/computes",
    "location": "westeurope", "identity": {"type": "SystemAssigned"},
    "properties": {
        "computeType": "AmlCompute", "disableLocalAuth": True, "computeLocation": "westeurope",
        "properties": {
            "vmSize": "Standard_NC6", "vmPriority": "LowPriority", "enableNodePublicIp": False,
            "scaleSettings": {"minNodeCount": 0, "maxNodeCount": 2, "nodeIdleTimeBeforeScaleDown": "PT5M"},
            "remoteLoginPortPublicAccess": "Disabled", "subnet": {"id": "/subscriptions/x/subnets/s"},
            "userAccountCredentials": {"adminUserName": "azureuser", "adminUserPassword": "secret"}}}}


def test_arm_compute_reads_into_the_yaml_names() -> None:
    res = resource_from_arm(json.loads(json.dumps(ARM_CLUSTER)))
    assert res is not None and (res.kind, res.compute_type, res.workspace, res.id) == (
        "compute", "cluster", WS, ARM_CLUSTER["id"])
    f = res.fields
    assert (f["type"], f["size"], f["tier"], f["min_instances"], f["max_instances"]) == (
        "amlcompute", "Standard_NC6", "low_priority", 0, 2)
    assert f["idle_time_before_scale_down"] == 300 and f["ssh_public_access_enabled"] is False
    assert f["network_settings"] == {"subnet": "/subscriptions/x/subnets/s"}
    assert f["ssh_settings"] == {"admin_username": "azureuser"}  # the password is never read
    assert f["disable_local_auth"] is True and f["identity"]["type"] == "system_assigned"
    assert "secret" not in json.dumps(f)


def test_arm_not_specified_ssh_is_absent_and_local_auth_defaults_off() -> None:
    obj = json.loads(json.dumps(ARM_CLUSTER))
    del obj["properties"]["disableLocalAuth"]
    obj["properties"]["properties"]["remoteLoginPortPublicAccess"] = "NotSpecified"
    res = resource_from_arm(obj)
    assert res is not None and "ssh_public_access_enabled" not in res.fields
    assert res.fields["disable_local_auth"] is False and "disable_local_auth" in res.defaulted


def test_arm_instance_with_lines_from_a_file(tmp_path: Path) -> None:
    doc = {"id": f"{WS_ID}/computes/ci", "name": "ci", "type": "Microsoft.MachineLearningServices/workspaces/computes",
           "properties": {"computeType": "ComputeInstance", "properties": {
               "sshSettings": {"sshPublicAccess": "Enabled", "adminPublicKey": "ssh-rsa A"},
               "idleTimeBeforeShutdown": "PT30M",
               "osImageMetadata": {"isLatestOsImageVersion": False},
               "personalComputeInstanceSettings": {"assignedUser": {"objectId": "o", "tenantId": "t"}}}}}
    path = tmp_path / "ci.json"
    path.write_text(json.dumps(doc, indent=2))
    (res,) = load_paths([path], cwd=tmp_path).resources
    assert res.compute_type == "instance" and res.fields["ssh_public_access_enabled"] is True
    assert res.fields["idle_time_before_shutdown_minutes"] == 30
    assert res.fields["os_image_metadata"]["is_latest_os_image_version"] is False
    assert res.fields["create_on_behalf_of"] == {"user_object_id": "o", "user_tenant_id": "t"}
    text = path.read_text().splitlines()
    assert "sshPublicAccess" in text[res.line_of("ssh_public_access_enabled") - 1]
    assert "idleTimeBeforeShutdown" in text[res.line_of("idle_time_before_shutdown_minutes") - 1]


def test_resource_graph_rows_and_az_ml_show_give_the_same_fields() -> None:
    row = {**json.loads(json.dumps(ARM_CLUSTER)), "type": "microsoft.machinelearningservices/workspaces/computes",
           "subscriptionId": SUB, "resourceGroup": RG}
    graph = one(json.dumps({"data": [row]}), source="rows.json")
    show = one(json.dumps({"id": ARM_CLUSTER["id"], "name": "gpu", "type": "amlcompute", "size": "Standard_NC6",
                           "tier": "low_priority", "min_instances": 0, "max_instances": 2,
                           "idle_time_before_scale_down": 300, "ssh_public_access_enabled": False,
                           "enable_node_public_ip": False, "identity": {"type": "system_assigned"},
                           "network_settings": {"subnet": "/subscriptions/x/subnets/s"}}), source="show.json")
    for key in ("type", "size", "min_instances", "ssh_public_access_enabled", "enable_node_public_ip", "network_settings"):
        assert graph.fields[key] == show.fields[key], key
    assert graph.id == show.id == ARM_CLUSTER["id"]


def test_computes_learn_their_workspace_managed_network(tmp_path: Path) -> None:
    (tmp_path / "workspace.yml").write_text("$schema: " + SCHEMA.format("workspace") + "\nname: ws\n"
                                            "managed_network:\n  isolation_mode: allow_only_approved_outbound\n")
    (tmp_path / "compute").mkdir()
    (tmp_path / "compute" / "cluster.yml").write_text("name: c\ntype: amlcompute\n")
    result = load_paths([tmp_path], cwd=tmp_path)
    compute = next(r for r in result.resources if r.kind == "compute")
    assert compute.workspace == "ws" and compute.fields["workspace_managed_network"] == "allow_only_approved_outbound"


def test_compute_id_from_the_workspace_context(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"subscription_id": SUB, "resource_group": RG,
                                                      "workspace_name": WS}))
    (tmp_path / "c.yml").write_text("name: cpu\ntype: amlcompute\n")
    (res,) = load_paths([tmp_path], cwd=tmp_path).resources
    assert res.id == f"{WS_ID}/computes/cpu"


def test_yaml_and_in_memory_docs_agree() -> None:
    res = resource_from_yaml({"name": "c", "type": "amlcompute", "enable_node_public_ip": "false"}, source="c.yml")
    assert res is not None and res.fields["enable_node_public_ip"] is False


# ------------------------------------------------------------------------------ the other kinds
def test_registry_datastore_environment_serverless_from_yaml() -> None:
    registry = one("name: r\nlocation: eastus\nreplication_locations:\n  - location: eastus\n")
    assert (registry.kind, registry.workspace, registry.fields["public_network_access"]) == ("registry", None,
                                                                                               "enabled")
    assert registry.defaulted == {"public_network_access"}
    store = one("$schema: " + SCHEMA.format("azureDataLakeGen2") + "\nname: d\ntype: azure_data_lake_gen2\n"
                "account_name: a\nfilesystem: f\ncredentials:\n  tenant_id: t\n  client_id: c\n  client_secret: s3cr3t\n")
    assert store.fields["credentials"] == {"type": "service_principal", "tenant_id": "t", "client_id": "c"}
    credless = one("name: d\ntype: azure_blob\naccount_name: a\ncontainer_name: c\n")
    assert credless.fields["credentials"] == {"type": "none"} and "credentials.type" in credless.defaulted
    env = one("name: e\nversion: 2\nimage: mcr.microsoft.com/x:1\n")
    assert (env.kind, env.fields["image"]) == ("environment", "mcr.microsoft.com/x:1")
    serverless = one("name: s\nmodel_id: azureml://registries/r/models/m\n")
    assert (serverless.kind, serverless.fields["auth_mode"]) == ("serverless_endpoint", "key")


def test_registry_and_environment_ids_from_context(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"subscription_id": SUB, "resource_group": RG,
                                                      "workspace_name": WS}))
    (tmp_path / "registry.yml").write_text("name: shared\nlocation: eastus\nreplication_locations: []\n")
    (tmp_path / "env.yml").write_text("name: env\nversion: 3\nimage: x:1\n")
    (tmp_path / "env-unversioned.yml").write_text("name: env2\nimage: x:1\n")
    found = {r.name: r for r in load_paths([tmp_path], cwd=tmp_path).resources}
    assert found["shared"].id == (f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/"
                                  "Microsoft.MachineLearningServices/registries/shared")
    assert found["env"].id == f"{WS_ID}/environments/env/versions/3"
    assert found["env2"].id == "env-unversioned.yml#environment/env2"  # no version: no ARM id


def test_arm_shapes_of_the_other_kinds() -> None:
    registry = resource_from_arm({"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices"
                                        "/registries/r", "type": "Microsoft.MachineLearningServices/registries",
                                  "properties": {"publicNetworkAccess": "Disabled", "regionDetails": [],
                                                 "registryPrivateEndpointConnections": [{"properties": {
                                                     "registryPrivateLinkServiceConnectionState": {
                                                         "status": "Approved"}}}]}})
    assert registry is not None and registry.fields["public_network_access"] == "disabled"
    assert registry.fields["private_endpoint_connections"] == [
        {"private_link_service_connection_state": {"status": "approved"}}]
    store = resource_from_arm({"id": f"{WS_ID}/datastores/d", "type": "Microsoft.MachineLearningServices/workspaces/"
                               "datastores", "properties": {"datastoreType": "AzureDataLakeGen2", "filesystem": "f",
                                                            "credentials": {"credentialsType": "ServicePrincipal",
                                                                            "clientId": "c", "secrets": {"x": 1}}}})
    assert store is not None and store.fields["type"] == "azure_data_lake_gen2"
    assert store.fields["credentials"] == {"type": "service_principal", "client_id": "c"}
    env = resource_from_arm({"id": f"{WS_ID}/environments/e/versions/5", "type": "Microsoft.MachineLearningServices/"
                             "workspaces/environments/versions", "properties": {"image": "x:1", "build": {
                                 "contextUri": "https://x/ctx", "dockerfilePath": "Dockerfile"}}})
    assert env is not None and (env.name, env.fields["version"], env.fields["build"]) == (
        "e", "5", {"path": "https://x/ctx", "dockerfile_path": "Dockerfile"})
    serverless = resource_from_arm({"id": f"{WS_ID}/serverlessEndpoints/s", "type": "Microsoft.MachineLearningServices"
                                    "/workspaces/serverlessEndpoints", "properties": {
                                        "authMode": "KeyAndAAD", "modelSettings": {"modelId": "m"},
                                        "contentSafety": {"contentsafetyStatus": "Enabled"}}})
    assert serverless is not None and (serverless.fields["auth_mode"], serverless.fields["model_id"],
                                       serverless.fields["content_safety"]) == (
        "key_and_aad", "m", {"content_safety_status": "enabled"})
