"""The normaliser: enum spellings, durations, ARM ids, ARM / `az ml` JSON to canonical fields."""

from __future__ import annotations

import enum
from typing import Any

import pytest

from amlguard.armid import ArmId
from amlguard.inventory.arm import resource_from_arm
from amlguard.inventory.normalize import normalize_enum, resource_from_yaml
from amlguard.inventory.recognize import classify_document
from amlguard.timeparse import seconds_or_none

SUB = "00000000-0000-0000-0000-000000000000"
WS_ID = f"/subscriptions/{SUB}/resourceGroups/rg-ml/providers/Microsoft.MachineLearningServices/workspaces/ws1"
EP_ID = f"{WS_ID}/onlineEndpoints/ep1"
DEP_ID = f"{EP_ID}/deployments/blue"
BEP_ID = f"{WS_ID}/batchEndpoints/bep1"
BDEP_ID = f"{BEP_ID}/deployments/classifier"


class PublicNetworkAccessType(str, enum.Enum):  # noqa: UP042 - the shape of the SDK REST enums
    DISABLED = "Disabled"


@pytest.mark.parametrize(("value", "expected"), [
    ("Disabled", "disabled"),
    ("disabled", "disabled"),
    ("DISABLED", "disabled"),
    ("PublicNetworkAccessType.DISABLED", "disabled"),
    (PublicNetworkAccessType.DISABLED, "disabled"),
    (str(PublicNetworkAccessType.DISABLED), "disabled"),
    ("AADToken", "aad_token"),
    ("aad_token", "aad_token"),
    ("AMLToken", "aml_token"),
    ("Key", "key"),
    ("AllowOnlyApprovedOutbound", "allow_only_approved_outbound"),
    ("allow_only_approved_outbound", "allow_only_approved_outbound"),
    ("AllowInternetOutbound", "allow_internet_outbound"),
    ("SystemAssigned,UserAssigned", "system_assigned,user_assigned"),
    ("SystemAssigned, UserAssigned", "system_assigned,user_assigned"),
    ("FQDN", "fqdn"),
    ("PrivateEndpoint", "private_endpoint"),
    ("UserDelegationSAS", "user_delegation_sas"),
    ("  Enabled ", "enabled"),
    ("allow-internet-outbound", "allow_internet_outbound"),
    (True, "true"),
    (None, ""),
    (3, "3"),
])
def test_normalize_enum_gives_one_spelling(value: Any, expected: str) -> None:
    assert normalize_enum(value) == expected


@pytest.mark.parametrize(("text", "seconds"), [
    ("PT5S", 5.0), ("PT0.5S", 0.5), ("PT5M", 300.0), ("PT1H30M", 5400.0), ("P1DT2H", 93600.0),
    ("pt10s", 10.0), ("P1W", 604800.0), ("00:00:05", 5.0), ("1.02:03:04", 93784.0), (7, 7.0),
    ("PT", None), ("P", None), ("soon", None), (None, None), (True, None),
])
def test_arm_durations(text: Any, seconds: float | None) -> None:
    assert seconds_or_none(text, "wire") == seconds


@pytest.mark.parametrize(("resource_id", "kind"), [
    (WS_ID, "workspace"), (EP_ID, "online_endpoint"), (DEP_ID.lower(), "online_deployment"),
    (BEP_ID, "batch_endpoint"), (BDEP_ID, "batch_deployment"), (EP_ID + "/", "online_endpoint"),
    (f"{WS_ID}/computes/cpu", "compute"), (f"{EP_ID}/deployments/blue/skus", None), ("not an id", None),
])
def test_an_explicit_id_of_the_same_kind_is_the_resource_id(resource_id: str, kind: str | None) -> None:
    """A YAML `id:` is recognised through ArmId (any casing); one of another kind is not the id."""
    doc = {"id": resource_id, "name": "x", "endpoint_name": "e", "instance_type": "t", "auth_mode": "key",
           "key_vault": "kv", "defaults": {}}
    cls = classify_document(dict(doc))
    if kind is None:
        assert cls is None or cls.kind != kind
        res = resource_from_yaml({"name": "x", "auth_mode": "key", "id": resource_id}, source="e.yml")
        assert res is not None and res.id == "e.yml#online_endpoint/x"
        return
    assert cls is not None and cls.kind == kind
    res = resource_from_yaml(doc, source="x.yml")
    assert res is not None and res.kind == kind
    assert res.id == resource_id.rstrip("/")
    parsed = ArmId.require(resource_id)
    assert (res.subscription_id, res.resource_group, res.workspace) == (
        parsed.subscription, parsed.resource_group, parsed.workspace)


# ----------------------------------------------------------------------------------- ARM
def arm_endpoint(**props: Any) -> dict[str, Any]:
    return {"id": EP_ID, "name": "ep1", "type": "Microsoft.MachineLearningServices/workspaces/onlineEndpoints",
            "location": "eastus", "tags": {"Owner": "team-a"},
            "identity": {"type": "SystemAssigned", "principalId": "p", "tenantId": "t"},
            "properties": props}


def test_arm_online_endpoint() -> None:
    res = resource_from_arm(arm_endpoint(
        authMode="AADToken", publicNetworkAccess="Disabled", provisioningState="Succeeded",
        scoringUri="https://ep1.eastus.inference.ml.azure.com/score",
        swaggerUri="https://ep1.eastus.inference.ml.azure.com/swagger.json",
        traffic={"Blue": 100}, mirrorTraffic={"green": 10}, keys={"primaryKey": "secret"}))
    assert res is not None
    assert (res.kind, res.id, res.name, res.compute_type) == ("online_endpoint", EP_ID, "ep1", "managed")
    assert (res.subscription_id, res.resource_group, res.workspace) == (SUB, "rg-ml", "ws1")
    assert res.fields["auth_mode"] == "aad_token"
    assert res.fields["public_network_access"] == "disabled"
    assert res.fields["provisioning_state"] == "succeeded"
    assert res.fields["openapi_uri"].endswith("/swagger.json")
    assert res.fields["scoring_uri"].startswith("https://")
    assert res.fields["traffic"] == {"Blue": 100}  # deployment names are data, not field names
    assert res.fields["mirror_traffic"] == {"green": 10}
    assert res.fields["tags"] == {"Owner": "team-a"}
    assert res.fields["identity"]["type"] == "system_assigned"
    assert "keys" not in res.fields and "secret" not in repr(res.fields)  # never read endpoint keys
    assert res.defaulted == set() and res.live and res.origin == "arm"


def test_arm_kubernetes_endpoint_and_defaults() -> None:
    res = resource_from_arm(arm_endpoint(compute=f"{WS_ID}/computes/k8s"))
    assert res is not None and res.compute_type == "kubernetes"
    assert res.fields["auth_mode"] == "key"
    assert res.defaulted == {"auth_mode"}  # no public_network_access on Kubernetes endpoints


def test_arm_endpoint_compute_type_kubernetes() -> None:
    res = resource_from_arm(arm_endpoint(endpointComputeType="Kubernetes"))
    assert res is not None and res.compute_type == "kubernetes" and "public_network_access" not in res.fields


def test_arm_lines_follow_the_renames() -> None:
    lines = {"properties.authMode": 7, "properties.publicNetworkAccess": 8, "properties.traffic.blue": 9,
             "identity.type": 4}
    res = resource_from_arm(arm_endpoint(authMode="Key", publicNetworkAccess="Enabled", traffic={"blue": 1}),
                            source="snap.json", lines=lines, line=2)
    assert res is not None
    assert res.line_of("auth_mode") == 7
    assert res.line_of("public_network_access") == 8
    assert res.line_of("traffic.blue") == 9
    assert res.line_of("identity.type") == 4
    assert res.line_of("instance_type") == 2 and res.source == "snap.json"


def test_arm_online_deployment_durations_and_collections() -> None:
    res = resource_from_arm({
        "id": DEP_ID, "name": "blue", "type": "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments",
        "sku": {"name": "Default", "capacity": 3},
        "properties": {
            "endpointComputeType": "Managed", "model": "azureml:m:1", "environmentId": "azureml:env:2",
            "codeConfiguration": {"codeId": "azureml:code:1", "scoringScript": "score.py"},
            "instanceType": "Standard_DS3_v2", "appInsightsEnabled": True, "egressPublicNetworkAccess": "Disabled",
            "environmentVariables": {"MY_Var": "1"},
            "requestSettings": {"requestTimeout": "PT1M", "maxQueueWait": "PT0.5S",
                                "maxConcurrentRequestsPerInstance": 2},
            "livenessProbe": {"initialDelay": "PT10S", "period": "PT10S", "timeout": "PT2S",
                              "successThreshold": 1, "failureThreshold": 30},
            "readinessProbe": {"initialDelay": "PT1.5S"},
            "scaleSettings": {"scaleType": "TargetUtilization", "pollingInterval": "PT1S", "minInstances": 1},
            "dataCollector": {"collections": {"model_inputs": {"dataCollectionMode": "Enabled", "dataId": "d"},
                                              "request": {"dataCollectionMode": "Disabled"}},
                              "rollingRate": "Hour", "requestLogging": {"captureHeaders": ["x-id"]}},
        }})
    assert res is not None
    f = res.fields
    assert (res.kind, res.compute_type, res.endpoint_name, res.name) == ("online_deployment", "managed", "ep1", "blue")
    assert f["type"] == "managed" and f["instance_count"] == 3 and f["instance_type"] == "Standard_DS3_v2"
    assert f["environment"] == "azureml:env:2" and f["model"] == "azureml:m:1"
    assert f["code_configuration"] == {"code": "azureml:code:1", "scoring_script": "score.py"}
    assert f["environment_variables"] == {"MY_Var": "1"}
    assert f["app_insights_enabled"] is True and f["egress_public_network_access"] == "disabled"
    assert f["request_settings"] == {"request_timeout_ms": 60000, "max_queue_wait_ms": 500,
                                     "max_concurrent_requests_per_instance": 2}
    assert f["liveness_probe"] == {"initial_delay": 10, "period": 10, "timeout": 2,
                                   "success_threshold": 1, "failure_threshold": 30}
    assert f["readiness_probe"] == {"initial_delay": 1.5}
    assert f["scale_settings"] == {"type": "target_utilization", "polling_interval": 1, "min_instances": 1}
    assert f["data_collector"]["collections"]["model_inputs"] == {"enabled": True, "data": "d"}
    assert f["data_collector"]["collections"]["request"] == {"enabled": False}
    assert f["data_collector"]["rolling_rate"] == "hour"
    assert f["data_collector"]["request_logging"] == {"capture_headers": ["x-id"]}
    assert res.defaulted == set()


def test_arm_kubernetes_deployment_resources() -> None:
    res = resource_from_arm({
        "id": DEP_ID, "type": "microsoft.machinelearningservices/workspaces/onlineendpoints/deployments",
        "properties": {"endpointComputeType": "Kubernetes", "containerResourceRequirements": {
            "containerResourceRequests": {"cpu": "0.5", "memory": "1Gi"},
            "containerResourceLimits": {"cpu": "1", "gpu": "1"}}}})
    assert res is not None and res.compute_type == "kubernetes" and res.fields["type"] == "kubernetes"
    assert res.fields["resources"] == {"requests": {"cpu": "0.5", "memory": "1Gi"},
                                       "limits": {"cpu": "1", "nvidia.com/gpu": "1"}}
    assert "egress_public_network_access" not in res.fields
    assert res.defaulted == {"app_insights_enabled"} and res.fields["app_insights_enabled"] is False


def test_arm_batch_endpoint_and_deployments() -> None:
    endpoint = resource_from_arm({"id": BEP_ID, "type": "Microsoft.MachineLearningServices/workspaces/batchEndpoints",
                                  "properties": {"defaults": {"deploymentName": "classifier"}}})
    assert endpoint is not None and endpoint.kind == "batch_endpoint" and endpoint.compute_type is None
    assert endpoint.fields["defaults"] == {"deployment_name": "classifier"}
    assert endpoint.fields["auth_mode"] == "aad_token" and endpoint.defaulted == {"auth_mode"}
    model = resource_from_arm({
        "id": BDEP_ID, "type": "Microsoft.MachineLearningServices/workspaces/batchEndpoints/deployments",
        "properties": {"model": {"referenceType": "Id", "assetId": "azureml:/models/m/versions/1"},
                       "compute": "cpu-cluster", "miniBatchSize": 10, "outputAction": "AppendRow",
                       "loggingLevel": "Info", "retrySettings": {"maxRetries": 3, "timeout": "PT30S"},
                       "resources": {"instanceCount": 2}}})
    assert model is not None and model.kind == "batch_deployment"
    assert model.fields["type"] == "model" and model.fields["model"] == "azureml:/models/m/versions/1"
    assert model.fields["output_action"] == "append_row" and model.fields["logging_level"] == "info"
    assert model.fields["retry_settings"] == {"max_retries": 3, "timeout": 30}
    assert model.fields["resources"] == {"instance_count": 2} and model.fields["mini_batch_size"] == 10
    pipeline = resource_from_arm({
        "id": BDEP_ID, "type": "Microsoft.MachineLearningServices/workspaces/batchEndpoints/deployments",
        "properties": {"deploymentConfiguration": {"deploymentConfigurationType": "PipelineComponent",
                                                   "componentId": {"id": "azureml:c:1"}}}})
    assert pipeline is not None and pipeline.fields["type"] == "pipeline"


def test_arm_workspace_network() -> None:
    res = resource_from_arm({
        "id": WS_ID, "name": "ws1", "type": "Microsoft.MachineLearningServices/workspaces", "kind": "Hub",
        "properties": {
            "publicNetworkAccess": "Disabled", "friendlyName": "Workspace One", "hbiWorkspace": True,
            "v1LegacyMode": False, "systemDatastoresAuthMode": "Identity",
            "applicationInsights": "/ai", "containerRegistry": "/acr", "keyVault": "/kv", "storageAccount": "/sa",
            "networkAcls": {"defaultAction": "Deny", "ipRules": [{"value": "1.2.3.4"}]},
            "managedNetwork": {"isolationMode": "AllowOnlyApprovedOutbound", "firewallSku": "Standard",
                               "status": {"status": "Active", "sparkReady": False},
                               "outboundRules": {
                                   "pypi": {"type": "FQDN", "destination": "pypi.org", "category": "UserDefined",
                                            "status": "Active"},
                                   "storage": {"type": "PrivateEndpoint", "category": "Required",
                                               "destination": {"serviceResourceId": "/sa",
                                                               "subresourceTarget": "blob", "sparkEnabled": False}}}},
            "privateEndpointConnections": [{"id": f"{WS_ID}/privateEndpointConnections/pe1", "name": "pe1",
                                            "properties": {"privateEndpoint": {"id": "/pe"},
                                                           "privateLinkServiceConnectionState": {"status": "Approved"},
                                                           "provisioningState": "Succeeded"}}],
        }})
    assert res is not None and res.kind == "workspace" and res.workspace == "ws1" and res.id == WS_ID
    f = res.fields
    assert f["public_network_access"] == "disabled" and f["display_name"] == "Workspace One"
    assert f["hbi_workspace"] is True and f["v1_legacy_mode"] is False
    assert f["system_datastores_auth_mode"] == "identity" and f["kind"] == "hub"
    assert (f["application_insights"], f["container_registry"], f["key_vault"], f["storage_account"]) == (
        "/ai", "/acr", "/kv", "/sa")
    assert f["network_acls"] == {"default_action": "deny", "ip_rules": [{"value": "1.2.3.4"}]}
    net = f["managed_network"]
    assert net["isolation_mode"] == "allow_only_approved_outbound" and net["firewall_sku"] == "standard"
    assert net["status"] == {"status": "active", "spark_ready": False}
    assert net["outbound_rules"] == [
        {"name": "pypi", "type": "fqdn", "destination": "pypi.org", "category": "user_defined", "status": "active"},
        {"name": "storage", "type": "private_endpoint", "category": "required",
         "destination": {"service_resource_id": "/sa", "subresource_target": "blob", "spark_enabled": False}}]
    pe = f["private_endpoint_connections"][0]
    assert pe["private_endpoint"] == {"id": "/pe"} and pe["name"] == "pe1"
    assert pe["private_link_service_connection_state"]["status"] == "approved"
    assert pe["provisioning_state"] == "succeeded"
    assert res.defaulted == set()


def test_arm_workspace_defaults_and_resource_graph_row() -> None:
    res = resource_from_arm({"id": WS_ID.lower(), "name": "ws1", "type": "microsoft.machinelearningservices/workspaces",
                             "resourceGroup": "rg-ml", "subscriptionId": SUB, "tenantId": "t", "properties": {}})
    assert res is not None
    assert res.fields["public_network_access"] == "enabled"
    assert res.fields["managed_network"] == {"isolation_mode": "disabled"}
    assert res.defaulted == {"public_network_access", "managed_network.isolation_mode"}
    assert "tenant_id" not in res.fields and "resource_group" not in res.fields


@pytest.mark.parametrize("obj", [
    {"id": f"{WS_ID}/jobs/j1", "type": "Microsoft.MachineLearningServices/workspaces/jobs"},
    {"type": "Microsoft.MachineLearningServices/registries/models", "name": "r/m"},
    {"type": "Microsoft.Storage/storageAccounts", "name": "sa"},
    {"name": "nothing"}, [], "text", None,
])
def test_resource_from_arm_returns_none_for_other_things(obj: Any) -> None:
    assert resource_from_arm(obj) is None


# ---------------------------------------------------------------------- YAML-shaped input
def test_az_ml_show_output_is_read_like_yaml() -> None:
    shown = {"auth_mode": "key", "id": EP_ID, "identity": {"type": "system_assigned"}, "kind": "Managed",
             "location": "eastus", "name": "ep1", "properties": {"azureml.onlineendpointid": "x"},
             "provisioning_state": "Succeeded", "public_network_access": "Enabled", "resourceGroup": "rg-ml",
             "scoring_uri": "https://ep1.eastus.inference.ml.azure.com/score", "traffic": {"blue": 100}}
    res = resource_from_yaml(shown, source="show.json", line=1, lines={"auth_mode": 2}, origin="cli")
    assert res is not None and res.kind == "online_endpoint" and res.id == EP_ID
    assert res.fields["public_network_access"] == "enabled" and res.fields["provisioning_state"] == "succeeded"
    assert res.workspace == "ws1" and res.live and res.origin == "cli"
    assert res.line_of("auth_mode") == 2


def test_az_ml_show_batch_deployment_from_its_id() -> None:
    shown = {"id": BDEP_ID, "name": "classifier", "endpoint_name": "bep1", "type": "model",
             "settings": {"mini_batch_size": 5}, "compute": "azureml:cpu"}
    res = resource_from_yaml(shown, source="s.json", line=1, lines={"settings.mini_batch_size": 3})
    assert res is not None and res.kind == "batch_deployment" and res.fields["mini_batch_size"] == 5
    assert res.line_of("mini_batch_size") == 3 and res.line_of("settings.mini_batch_size") == 3


def test_sdk_to_dict_of_a_kubernetes_deployment() -> None:
    dumped = {"name": "blue", "endpoint_name": "k8s-ep", "type": "kubernetes", "instance_type": "default",
              "resources": {"requests": {"cpu": "0.1"}}, "app_insights_enabled": "True"}
    res = resource_from_yaml(dumped, source=None, line=None, lines=None, context=None)
    assert res is not None and res.compute_type == "kubernetes" and res.fields["app_insights_enabled"] is True
    assert "egress_public_network_access" not in res.fields
    assert res.id == "<memory>#online_deployment/k8s-ep/blue"


def test_context_builds_arm_ids() -> None:
    res = resource_from_yaml({"name": "blue", "endpoint_name": "ep1", "instance_type": "x"}, source="d.yml", line=1,
                             lines={}, context={"subscription_id": SUB, "resource_group": "rg-ml",
                                                "workspace_name": "ws1"})
    assert res is not None and res.id == DEP_ID and res.workspace == "ws1"


@pytest.mark.parametrize(("doc", "kind", "compute"), [
    ({"name": "e", "auth_mode": "key"}, "online_endpoint", "managed"),
    ({"name": "e", "public_network_access": "disabled"}, "online_endpoint", "managed"),
    ({"name": "e", "traffic": {"a": 1}}, "online_endpoint", "managed"),
    ({"name": "e", "compute": "azureml:k8s", "auth_mode": "key"}, "online_endpoint", "kubernetes"),
    ({"name": "e", "defaults": {"deployment_name": "d"}}, "batch_endpoint", None),
    ({"name": "d", "endpoint_name": "e", "model": "azureml:m:1", "instance_type": "x"}, "online_deployment", "managed"),
    ({"name": "d", "endpoint_name": "e", "type": "kubernetes", "model": "m"}, "online_deployment", "kubernetes"),
    ({"name": "d", "endpoint_name": "e", "model": "m", "compute": "c", "mini_batch_size": 3}, "batch_deployment", None),
    ({"name": "d", "endpoint_name": "e", "type": "pipeline", "component": "azureml:c:1"}, "batch_deployment", None),
    ({"name": "d", "endpoint_name": "e", "type": "model", "model": "m", "settings": {}}, "batch_deployment", None),
    ({"name": "w", "managed_network": {"isolation_mode": "allow_only_approved_outbound"}}, "workspace", None),
    ({"name": "w", "storage_account": "/sa", "public_network_access": "Disabled"}, "workspace", None),
    ({"$schema": "https://azuremlschemas.azureedge.net/latest/kubernetesOnlineEndpoint.schema.json", "name": "e"},
     "online_endpoint", "kubernetes"),
    ({"$schema": "https://azuremlschemas.azureedge.net/latest/workspace.schema.json", "name": "w"}, "workspace", None),
    ({"id": BEP_ID, "name": "bep1"}, "batch_endpoint", None),
    ({"$schema": "https://azuremlsdk2.blob.core.windows.net/preview/0.0.1/managedOnlineDeployment.schema.json#",
      "name": "d"}, "online_deployment", "managed"),
    ({"$schema": "file:///C:\\schemas\\batchEndpoint.schema.json?v=1", "name": "e"}, "batch_endpoint", None),
])
def test_recognised_by_schema_id_or_shape(doc: dict[str, Any], kind: str, compute: str | None) -> None:
    cls = classify_document(doc)
    assert cls is not None and (cls.kind, cls.compute) == (kind, compute)


@pytest.mark.parametrize("doc", [
    {"name": "env", "channels": ["conda-forge"], "dependencies": ["python=3.10"]},
    {"$schema": "https://azuremlschemas.azureedge.net/latest/model.schema.json", "name": "m", "path": "./m"},
    {"$schema": "http://azureml/sdk-2-0/ModelVersionPackage.json", "target_environment": "x"},
    {"name": "m", "path": "./model", "version": 1},
    {"type": "command", "command": "python x.py", "environment": "azureml:e:1", "compute": "cpu"},
    {"type": "pipeline", "jobs": {"a": {"type": "command"}}},
    {"name": "c", "type": "command", "inputs": {}, "command": "echo", "environment": "e"},
    {"name": "c", "type": "kubernetes", "instance_type": "x"},  # a Kubernetes compute names its cluster
    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"}},
    {"name": "d", "endpoint_name": "e"},  # nothing a deployment has
    {"name": "d", "type": "azure_sql", "server": "x"},  # no datastore type amlguard knows
    {"auth_mode": "key"},  # unnamed
    {"inputs": {"input_data": {"type": "uri_folder"}}},
    {"engine": "text-embedding-ada-002", "model": "text-embedding-ada-002"},
    ["a", "b"], "text", None, 3,
])
def test_not_resources(doc: Any) -> None:
    assert classify_document(doc) is None
    assert resource_from_yaml(doc, source="x.yml", line=1, lines={}, context=None) is None


@pytest.mark.parametrize(("doc", "defaulted"), [
    ({"name": "e", "auth_mode": "key"}, {"public_network_access"}),
    ({"name": "e", "compute": "k8s", "auth_mode": "key"}, set()),
    ({"name": "e", "traffic": {}}, {"auth_mode", "public_network_access"}),
    ({"name": "e", "defaults": {}}, {"auth_mode"}),
    ({"name": "d", "endpoint_name": "e", "instance_type": "x"}, {"egress_public_network_access",
                                                                "app_insights_enabled"}),
    ({"name": "d", "endpoint_name": "e", "instance_type": "x", "egress_public_network_access": None},
     {"egress_public_network_access", "app_insights_enabled"}),
    ({"name": "w", "key_vault": "kv"}, {"public_network_access", "managed_network.isolation_mode"}),
    ({"name": "w", "key_vault": "kv", "managed_network": {"isolation_mode": "AllowInternetOutbound"}},
     {"public_network_access"}),
])
def test_azure_defaults_are_recorded(doc: dict[str, Any], defaulted: set[str]) -> None:
    res = resource_from_yaml(doc, source="x.yml", line=1, lines={"name": 1}, context=None)
    assert res is not None and res.defaulted == defaulted
    for path in defaulted:
        assert res.get(path) is not None and path not in res.lines and res.line_of(path) == 1
    expected = {"online_endpoint": {"auth_mode": "key", "public_network_access": "enabled"},
                "batch_endpoint": {"auth_mode": "aad_token"},
                "online_deployment": {"egress_public_network_access": "enabled", "app_insights_enabled": False},
                "workspace": {"public_network_access": "enabled", "managed_network.isolation_mode": "disabled"}}
    for path in defaulted:
        assert res.get(path) == expected[res.kind][path]


@pytest.mark.parametrize("spelling", ["Disabled", "disabled", "DISABLED", "PublicNetworkAccessType.DISABLED"])
def test_every_spelling_of_an_enum_compares_equal(spelling: str) -> None:
    endpoint = resource_from_yaml({"name": "e", "public_network_access": spelling, "auth_mode": "AADToken"},
                                  source="e.yml", line=1, lines={})
    arm = resource_from_arm(arm_endpoint(publicNetworkAccess=spelling, authMode="aad_token"))
    assert endpoint is not None and arm is not None
    assert endpoint.fields["public_network_access"] == arm.fields["public_network_access"] == "disabled"
    assert endpoint.fields["auth_mode"] == arm.fields["auth_mode"] == "aad_token"


def test_yaml_values_are_normalised() -> None:
    doc = {"name": "d", "endpoint_name": "e", "instance_type": "x", "egress_public_network_access": "Disabled",
           "app_insights_enabled": "true", "scale_settings": {"type": "Default"},
           "data_collector": {"rolling_rate": "Hour", "collections": {"model_inputs": {"enabled": "True"},
                                                                       "model_outputs": {"enabled": "false"}}}}
    res = resource_from_yaml(doc, source="d.yml", line=1, lines={})
    assert res is not None
    assert res.fields["egress_public_network_access"] == "disabled"
    assert res.fields["app_insights_enabled"] is True
    assert res.get("scale_settings.type") == "default"
    assert res.get("data_collector.rolling_rate") == "hour"
    assert res.get("data_collector.collections.model_inputs.enabled") is True
    assert res.get("data_collector.collections.model_outputs.enabled") is False


def test_workspace_yaml_outbound_rules() -> None:
    doc = {"name": "w", "managed_network": {"isolation_mode": "AllowOnlyApprovedOutbound", "outbound_rules": [
        {"name": "pypi", "type": "FQDN", "destination": "pypi.org", "category": "UserDefined"}]}}
    res = resource_from_yaml(doc, source="w.yml", line=1, lines={})
    assert res is not None and res.kind == "workspace"
    assert res.get("managed_network.isolation_mode") == "allow_only_approved_outbound"
    assert res.get("managed_network.outbound_rules.0") == {"name": "pypi", "type": "fqdn", "destination": "pypi.org",
                                                           "category": "user_defined"}


def test_kind_hint_for_sdk_entities() -> None:
    # BatchEndpoint._to_dict(): nothing in it says "batch"
    dumped = {"name": "bep", "description": "x", "tags": {}, "properties": {}, "auth_mode": "aad_token"}
    guessed = resource_from_yaml(dict(dumped), source=None)
    assert guessed is not None and guessed.kind == "online_endpoint"
    told = resource_from_yaml(dict(dumped), source=None, kind="batch_endpoint")
    assert told is not None and told.kind == "batch_endpoint" and told.defaulted == set()
    assert resource_from_yaml(dict(dumped), source=None, kind="nonsense") is not None
