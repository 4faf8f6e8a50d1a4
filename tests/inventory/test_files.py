"""The file inventory: every input form, lines, defaults, diagnostics, quiet skipping, walking."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from amlguard.inventory import Scope, SnapshotInventory, load_paths
from amlguard.model import Resource

SUB = "00000000-0000-0000-0000-000000000000"
WS_ID = f"/subscriptions/{SUB}/resourceGroups/rg-ml/providers/Microsoft.MachineLearningServices/workspaces/ws1"
SCHEMA = "https://azuremlschemas.azureedge.net/latest/{}.schema.json"

MANAGED_ENDPOINT = f"""$schema: {SCHEMA.format('managedOnlineEndpoint')}
name: my-endpoint
auth_mode: key
public_network_access: Disabled
tags:
  owner: team-a
"""

MANAGED_DEPLOYMENT = f"""$schema: {SCHEMA.format('managedOnlineDeployment')}
name: blue
endpoint_name: my-endpoint
model: azureml:my-model:1
environment:
  image: mcr.microsoft.com/azureml/minimal-ubuntu22.04-py311-cpu-inference:latest
  inference_config:
    liveness_route: {{port: 5001, path: /health}}
    readiness_route: {{port: 5001, path: /ready}}
    scoring_route:
      port: 80
      path: /score
instance_type: Standard_DS3_v2
instance_count: 1
request_settings:
  request_timeout_ms: 3000
data_collector:
  collections:
    model_inputs:
      enabled: 'true'
"""


def write(folder: Path, name: str, text: str | bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8", newline="")
    return path


def load(tmp_path: Path, *names: str) -> tuple[list[Resource], list[Any]]:
    result = load_paths(list(names) or ["."], cwd=tmp_path)
    assert result.errors == []
    return result.resources, result.diagnostics


def one(tmp_path: Path, name: str, text: str | bytes) -> Resource:
    write(tmp_path, name, text)
    resources, diagnostics = load(tmp_path, name)
    assert diagnostics == []
    assert len(resources) == 1, resources
    return resources[0]


# ------------------------------------------------------------------------------ YAML kinds
def test_managed_endpoint_with_lines(tmp_path: Path) -> None:
    res = one(tmp_path, "endpoint.yml", "# comment\n" + MANAGED_ENDPOINT)
    assert (res.kind, res.name, res.compute_type, res.origin) == ("online_endpoint", "my-endpoint", "managed", "yaml")
    assert res.source == "endpoint.yml" and res.line == 2
    assert res.fields["public_network_access"] == "disabled"
    assert res.line_of("public_network_access") == 5
    assert res.line_of("tags.owner") == 7
    assert res.id == "endpoint.yml#online_endpoint/my-endpoint"
    assert res.defaulted == set() and res.templated == set() and not res.live


def test_managed_deployment_with_defaults_and_lines(tmp_path: Path) -> None:
    res = one(tmp_path, "deployment.yml", MANAGED_DEPLOYMENT)
    assert (res.kind, res.compute_type, res.endpoint_name) == ("online_deployment", "managed", "my-endpoint")
    assert res.id == "deployment.yml#online_deployment/my-endpoint/blue"
    assert res.get("environment.inference_config.scoring_route.port") == 80
    assert res.line_of("environment.inference_config.scoring_route.port") == 11
    assert res.line_of("environment.inference_config.liveness_route.port") == 8
    assert res.get("data_collector.collections.model_inputs.enabled") is True
    assert res.defaulted == {"egress_public_network_access", "app_insights_enabled"}
    assert res.fields["egress_public_network_access"] == "enabled"
    assert res.line_of("egress_public_network_access") == res.line == 1


def test_kubernetes_endpoint_and_deployment(tmp_path: Path) -> None:
    write(tmp_path, "k8s/endpoint.yml", f"$schema: {SCHEMA.format('kubernetesOnlineEndpoint')}\n"
                                        "name: k8s-ep\ncompute: azureml:k8s-compute\nauth_mode: aml_token\n")
    write(tmp_path, "k8s/deployment.yml", f"$schema: {SCHEMA.format('kubernetesOnlineDeployment')}\n"
                                          "name: blue\nendpoint_name: k8s-ep\ntype: kubernetes\nmodel: m\n"
                                          "resources:\n  requests:\n    cpu: '0.1'\n    nvidia.com/gpu: 1\n")
    resources, diagnostics = load(tmp_path)
    assert diagnostics == []
    endpoint, deployment = sorted(resources, key=lambda r: r.kind, reverse=True)
    assert (endpoint.kind, deployment.kind) == ("online_endpoint", "online_deployment")
    assert endpoint.compute_type == deployment.compute_type == "kubernetes"
    assert endpoint.defaulted == set() and "public_network_access" not in endpoint.fields
    assert "egress_public_network_access" not in deployment.fields
    assert deployment.summary()["compute"] == "kubernetes"


def test_deployment_inherits_kubernetes_from_its_endpoint_in_the_file_set(tmp_path: Path) -> None:
    write(tmp_path, "a/endpoint.yml", "name: k8s-ep\ncompute: azureml:k8s\n")
    write(tmp_path, "a/blue.yml", "name: blue\nendpoint_name: k8s-ep\nmodel: azureml:m:1\ninstance_type: small\n")
    write(tmp_path, "b/blue.yml", "name: blue\nendpoint_name: other-ep\nmodel: azureml:m:1\ninstance_type: small\n")
    resources, _ = load(tmp_path)
    by_source = {r.source: r for r in resources}
    assert by_source["a/endpoint.yml"].compute_type == "kubernetes"
    k8s = by_source[os.path.join("a", "blue.yml")]
    assert k8s.compute_type == "kubernetes" and "egress_public_network_access" not in k8s.fields
    assert k8s.defaulted == {"app_insights_enabled"}
    managed = by_source[os.path.join("b", "blue.yml")]
    assert managed.compute_type == "managed" and "egress_public_network_access" in managed.defaulted


def test_batch_endpoint_and_deployments(tmp_path: Path) -> None:
    write(tmp_path, "endpoint.yml", f"$schema: {SCHEMA.format('batchEndpoint')}\nname: bep\n"
                                    "defaults:\n  deployment_name: classifier\n")
    write(tmp_path, "model.yml", f"""$schema: {SCHEMA.format('modelBatchDeployment')}
name: classifier
endpoint_name: bep
type: model
model: azureml:heart@latest
compute: azureml:batch-cluster
resources:
  instance_count: 2
settings:
  max_concurrency_per_instance: 2
  mini_batch_size: 10
  output_action: AppendRow
""")
    write(tmp_path, "pipeline.yml", f"$schema: {SCHEMA.format('pipelineComponentBatchDeployment')}\n"
                                    "name: hello\nendpoint_name: bep\ntype: pipeline\ncomponent: azureml:c@latest\n")
    write(tmp_path, "plain.yml", f"$schema: {SCHEMA.format('batchDeployment')}\nname: old\nendpoint_name: bep\n"
                                 "model: azureml:m:1\ncompute: azureml:cpu\nmini_batch_size: 3\n")
    resources, diagnostics = load(tmp_path)
    assert diagnostics == []
    by_name = {r.name: r for r in resources}
    assert by_name["bep"].kind == "batch_endpoint" and by_name["bep"].fields["auth_mode"] == "aad_token"
    assert by_name["bep"].defaulted == {"auth_mode"} and by_name["bep"].compute_type is None
    model = by_name["classifier"]
    assert model.kind == "batch_deployment" and model.fields["type"] == "model"
    assert model.fields["mini_batch_size"] == 10 and model.get("settings.mini_batch_size") == 10
    assert model.fields["output_action"] == "append_row"
    assert model.line_of("mini_batch_size") == model.line_of("settings.mini_batch_size") == 11
    assert by_name["hello"].fields["type"] == "pipeline"
    assert by_name["old"].kind == "batch_deployment" and by_name["old"].fields.get("type") is None


def test_workspace_yaml(tmp_path: Path) -> None:
    res = one(tmp_path, "workspace.yml", f"""$schema: {SCHEMA.format('workspace')}
name: ws1
location: eastus
public_network_access: Disabled
managed_network:
  isolation_mode: allow_internet_outbound
  outbound_rules:
  - name: pypi
    type: fqdn
    destination: pypi.org
""")
    assert res.kind == "workspace" and res.workspace == "ws1" and res.compute_type is None
    assert res.fields["managed_network"]["isolation_mode"] == "allow_internet_outbound"
    assert res.line_of("managed_network.isolation_mode") == 6
    assert res.line_of("managed_network.outbound_rules.0.destination") == 10
    assert res.defaulted == set()


def test_multi_document_yaml(tmp_path: Path) -> None:
    write(tmp_path, "all.yaml", MANAGED_ENDPOINT + "---\n" + MANAGED_DEPLOYMENT + "---\nchannels: [x]\n")
    resources, diagnostics = load(tmp_path)
    assert diagnostics == [] and [r.kind for r in resources] == ["online_endpoint", "online_deployment"]
    assert resources[1].line == 8
    assert resources[1].line_of("instance_type") == 8 + 12


def test_bom_and_crlf(tmp_path: Path) -> None:
    text = "\ufeff" + MANAGED_ENDPOINT.replace("\n", "\r\n")
    res = one(tmp_path, "bom.yml", text)
    assert res.line == 1 and res.line_of("public_network_access") == 4
    assert res.fields["public_network_access"] == "disabled" and res.name == "my-endpoint"


def test_utf16_with_bom(tmp_path: Path) -> None:
    res = one(tmp_path, "ps.yml", MANAGED_ENDPOINT.encode("utf-16"))
    assert res.name == "my-endpoint" and res.line_of("auth_mode") == 3


def test_templates_are_opaque_strings(tmp_path: Path) -> None:
    res = one(tmp_path, "tpl.yml", """$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json
name: {{deployment_name}}
endpoint_name: "{{ENDPOINT_NAME}}"
model: azureml:minimal:{{MODEL_VERSION}}
environment:
  image: {{ACR_NAME}}.azurecr.io/app:1
  environment_variables:
    "{{KEY}}": value
  inference_config:
    scoring_route: {port: {{PORT}}, path: /score}
instance_type: Standard_DS3_v2
instance_count: 1
command: ${{inputs.x}}
""")
    assert res.kind == "online_deployment" and res.name == "{{deployment_name}}"
    assert res.endpoint_name == "{{ENDPOINT_NAME}}"
    assert res.fields["model"] == "azureml:minimal:{{MODEL_VERSION}}"
    assert res.get("environment.image") == "{{ACR_NAME}}.azurecr.io/app:1"
    assert res.get("environment.inference_config.scoring_route.port") == "{{PORT}}"
    assert res.templated == {"name", "endpoint_name", "model", "environment.image",
                             "environment.environment_variables.{{KEY}}",
                             "environment.inference_config.scoring_route.port"}
    assert res.line_of("model") == 4 and res.line_of("environment.inference_config.scoring_route.port") == 10
    assert res.line_of("environment.environment_variables.{{KEY}}") == 8
    assert res.fields["command"] == "${{inputs.x}}"  # an Azure ML expression, not a placeholder
    assert res.id == "tpl.yml#online_deployment/{{ENDPOINT_NAME}}/{{deployment_name}}"


# ------------------------------------------------------------------------------- JSON forms
ARM_ENDPOINT = {
    "id": f"{WS_ID}/onlineEndpoints/ep1", "name": "ep1",
    "type": "Microsoft.MachineLearningServices/workspaces/onlineEndpoints",
    "properties": {"authMode": "AMLToken", "publicNetworkAccess": "Enabled", "provisioningState": "Succeeded"},
}
ARM_DEPLOYMENT = {
    "id": f"{WS_ID}/onlineEndpoints/ep1/deployments/blue", "name": "blue",
    "type": "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments",
    "sku": {"name": "Default", "capacity": 2},
    "properties": {"endpointComputeType": "Managed", "egressPublicNetworkAccess": "Disabled",
                   "requestSettings": {"requestTimeout": "PT5S"}},
}


def test_arm_single_resource_with_lines(tmp_path: Path) -> None:
    res = one(tmp_path, "ep.json", json.dumps(ARM_ENDPOINT, indent=2))
    assert res.kind == "online_endpoint" and res.id == ARM_ENDPOINT["id"] and res.origin == "arm"
    assert res.fields["auth_mode"] == "aml_token" and res.line == 1
    assert res.line_of("auth_mode") == 6 and res.line_of("public_network_access") == 7
    assert res.workspace == "ws1" and res.resource_group == "rg-ml" and res.subscription_id == SUB


def test_json_is_read_once_as_json_with_its_lines(tmp_path: Path) -> None:
    # values and lines come from one JSON parse: 7e1 is the number JSON says it is (YAML 1.1
    # would read the string "7e1"), and every field, tab-indented or not, has its line
    text = json.dumps({**ARM_DEPLOYMENT, "properties": {**ARM_DEPLOYMENT["properties"], "scaleSettings": {
        "scaleType": "Default", "targetUtilizationPercentage": 7e1}}}, indent="\t")
    res = one(tmp_path, "dep.json", text.replace("70.0", "7e1"))
    assert res.fields["scale_settings"]["target_utilization_percentage"] == 70.0
    lines = text.splitlines()
    assert res.line_of("egress_public_network_access") == next(
        i for i, line in enumerate(lines, 1) if "egressPublicNetworkAccess" in line)
    assert res.line_of("scale_settings.target_utilization_percentage") == next(
        i for i, line in enumerate(lines, 1) if "targetUtilizationPercentage" in line)


def test_arm_array(tmp_path: Path) -> None:
    write(tmp_path, "arr.json", json.dumps([ARM_ENDPOINT, {"id": "x", "type": "Microsoft.Storage/x"},
                                            ARM_DEPLOYMENT], indent=2))
    resources, diagnostics = load(tmp_path)
    assert diagnostics == [] and [r.kind for r in resources] == ["online_endpoint", "online_deployment"]
    dep = resources[1]
    assert dep.fields["request_settings"]["request_timeout_ms"] == 5000 and dep.fields["instance_count"] == 2
    text = (tmp_path / "arr.json").read_text().splitlines()
    assert "requestTimeout" in text[dep.line_of("request_settings.request_timeout_ms") - 1]
    assert '"capacity"' in text[dep.line_of("instance_count") - 1]
    assert text[dep.line - 1].strip() == "{"


@pytest.mark.parametrize("container", ["data", "value"])
def test_resource_graph_and_list_pages(tmp_path: Path, container: str) -> None:
    rows = [dict(ARM_ENDPOINT, type="microsoft.machinelearningservices/workspaces/onlineendpoints",
                 resourceGroup="rg-ml", subscriptionId=SUB), ARM_DEPLOYMENT]
    body = {"count": 2, "totalRecords": 2, container: rows} if container == "data" else {container: rows,
                                                                                         "nextLink": None}
    write(tmp_path, "arg.json", json.dumps(body, indent=1))
    resources, diagnostics = load(tmp_path)
    assert diagnostics == [] and [r.kind for r in resources] == ["online_endpoint", "online_deployment"]
    text = (tmp_path / "arg.json").read_text().splitlines()
    assert "authMode" in text[resources[0].line_of("auth_mode") - 1]
    assert "egressPublicNetworkAccess" in text[resources[1].line_of("egress_public_network_access") - 1]


def test_resource_graph_table_format(tmp_path: Path) -> None:
    columns = [{"name": "id", "type": "string"}, {"name": "type", "type": "string"},
               {"name": "properties", "type": "object"}]
    rows = [[ARM_ENDPOINT["id"], ARM_ENDPOINT["type"], ARM_ENDPOINT["properties"]],
            [ARM_DEPLOYMENT["id"], ARM_DEPLOYMENT["type"], ARM_DEPLOYMENT["properties"]]]
    write(tmp_path, "table.json", json.dumps({"count": 2, "data": {"columns": columns, "rows": rows}}, indent=1))
    resources, diagnostics = load(tmp_path)
    assert diagnostics == [] and [r.kind for r in resources] == ["online_endpoint", "online_deployment"]
    text = (tmp_path / "table.json").read_text().splitlines()
    assert "deployments/blue" in text[resources[1].line - 1]


def test_az_ml_show_output(tmp_path: Path) -> None:
    shown = {"auth_mode": "aad_token", "id": f"{WS_ID}/onlineEndpoints/ep1", "kind": "Managed", "name": "ep1",
             "provisioning_state": "Succeeded", "public_network_access": "Disabled",
             "scoring_uri": "https://ep1.eastus.inference.ml.azure.com/score", "traffic": {}}
    res = one(tmp_path, "show.json", json.dumps(shown, indent=2))
    assert res.origin == "cli" and res.kind == "online_endpoint" and res.id == shown["id"] and res.live
    assert res.fields["public_network_access"] == "disabled" and res.line_of("public_network_access") == 7


def test_az_ml_list_output(tmp_path: Path) -> None:
    listed = [{"name": "blue", "endpoint_name": "ep1", "type": "Managed", "instance_type": "x",
               "egress_public_network_access": "Enabled"},
              {"name": "green", "endpoint_name": "ep1", "type": "Kubernetes", "instance_type": "x"}]
    write(tmp_path, "list.json", json.dumps(listed, indent=2))
    resources, _ = load(tmp_path)
    assert [(r.name, r.compute_type) for r in resources] == [("blue", "managed"), ("green", "kubernetes")]
    assert resources[0].fields["egress_public_network_access"] == "enabled" and resources[1].line == 9


def test_large_json_falls_back_to_resource_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("amlguard.inventory.reader._JSON_LINES_LIMIT", 10)
    write(tmp_path, "big.json", json.dumps({"data": [ARM_ENDPOINT, ARM_DEPLOYMENT]}, indent=2))
    resources, _ = load(tmp_path)
    text = (tmp_path / "big.json").read_text().splitlines()
    assert [r.kind for r in resources] == ["online_endpoint", "online_deployment"]
    assert '"id"' in text[resources[1].line - 1] and "deployments/blue" in text[resources[1].line - 1]


def test_json_with_very_many_values_is_read_without_per_field_lines(tmp_path: Path) -> None:
    """4 MB of `[1,1,...]` in a JSON resource took 7 s and 236 MB to track a line for every item;
    past 200,000 values json.loads reads it and each resource keeps its first line."""
    endpoint = dict(ARM_ENDPOINT, tags={"owner": "a"}, extra=[1] * 250_000)
    write(tmp_path, "big.json", json.dumps([endpoint]).replace('"tags"', '\n"tags"'))
    (resource,) = load(tmp_path)[0]
    assert resource.line == 1 and resource.lines == {}


def test_fields_are_the_same_with_or_without_json_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    endpoint = json.loads(json.dumps(ARM_ENDPOINT))
    endpoint["properties"]["someList"] = [1, "two", {"innerKey": [3, {"deepKey": 4}]}, [5]]
    write(tmp_path, "a.json", json.dumps([endpoint], indent=1))
    tracked = load(tmp_path)[0][0]
    monkeypatch.setattr("amlguard.inventory.reader._JSON_LINES_LIMIT", 10)
    untracked = load(tmp_path)[0][0]
    assert tracked.lines and not untracked.lines
    assert untracked.fields == tracked.fields
    assert tracked.fields["some_list"] == [1, "two", {"inner_key": [3, {"deep_key": 4}]}, [5]]


def test_json_template_placeholders(tmp_path: Path) -> None:
    doc = dict(ARM_ENDPOINT, properties={"authMode": "{{AUTH}}", "publicNetworkAccess": "Disabled"})
    res = one(tmp_path, "t.json", json.dumps(doc))
    assert res.templated == {"auth_mode"} and res.fields["auth_mode"] == "{{auth}}"


def test_unquoted_json_placeholder(tmp_path: Path) -> None:
    res = one(tmp_path, "t.json", '{"name": "blue", "endpoint_name": "ep", "instance_type": "x",\n'
                                  ' "instance_count": {{COUNT}}}')
    assert res.fields["instance_count"] == "{{COUNT}}" and res.templated == {"instance_count"}


# --------------------------------------------------------------------------------- ids
def test_config_json_gives_arm_ids(tmp_path: Path) -> None:
    write(tmp_path, "proj/config.json", json.dumps({"subscription_id": SUB, "resource_group": "rg-ml",
                                                    "workspace_name": "ws1"}))
    write(tmp_path, "proj/endpoints/ep/endpoint.yml", MANAGED_ENDPOINT)
    write(tmp_path, "proj/endpoints/ep/deployment.yml", MANAGED_DEPLOYMENT)
    write(tmp_path, "elsewhere/endpoint.yml", MANAGED_ENDPOINT)
    resources, diagnostics = load(tmp_path)
    assert diagnostics == []
    ids = sorted(r.id for r in resources)
    assert ids == sorted([f"{WS_ID}/onlineEndpoints/my-endpoint",
                          f"{WS_ID}/onlineEndpoints/my-endpoint/deployments/blue",
                          f"elsewhere{os.sep}endpoint.yml#online_endpoint/my-endpoint"])
    dep = next(r for r in resources if r.kind == "online_deployment")
    assert (dep.subscription_id, dep.resource_group, dep.workspace, dep.endpoint_name) == (
        SUB, "rg-ml", "ws1", "my-endpoint")


def test_dot_azureml_config_json(tmp_path: Path) -> None:
    write(tmp_path, ".azureml/config.json", json.dumps({"subscription_id": SUB, "resource_group": "rg-ml",
                                                        "workspace_name": "ws1"}))
    res = one(tmp_path, "endpoint.yml", MANAGED_ENDPOINT)
    assert res.id == f"{WS_ID}/onlineEndpoints/my-endpoint"


def test_config_json_above_the_walked_root_is_found_like_the_sdk_does(tmp_path: Path) -> None:
    # MLClient.from_config searches from the folder upward; so does the audit of a subfolder
    write(tmp_path, "config.json", json.dumps({"subscription_id": SUB, "resource_group": "rg", "workspace_name": "w"}))
    write(tmp_path, "sub/endpoint.yml", MANAGED_ENDPOINT)
    resources, _ = load(tmp_path, "sub")
    assert resources[0].workspace == "w"
    assert resources[0].id.endswith("/workspaces/w/onlineEndpoints/my-endpoint")


def test_config_json_search_stops_at_the_repository_top(tmp_path: Path) -> None:
    write(tmp_path, "config.json", json.dumps({"subscription_id": SUB, "resource_group": "rg", "workspace_name": "w"}))
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    write(tmp_path, "repo/sub/endpoint.yml", MANAGED_ENDPOINT)
    resources, _ = load(tmp_path / "repo", "sub")
    assert resources[0].id == f"sub{os.sep}endpoint.yml#online_endpoint/my-endpoint"


def test_workspace_yaml_in_the_folder_tree_names_the_workspace(tmp_path: Path) -> None:
    write(tmp_path, "workspace.yml", f"$schema: {SCHEMA.format('workspace')}\nname: ws-from-yaml\n")
    write(tmp_path, "endpoints/endpoint.yml", MANAGED_ENDPOINT)
    resources, _ = load(tmp_path)
    endpoint = next(r for r in resources if r.kind == "online_endpoint")
    assert endpoint.workspace == "ws-from-yaml"
    assert endpoint.id == f"endpoints{os.sep}endpoint.yml#online_endpoint/my-endpoint"


def test_duplicate_ids_get_a_suffix(tmp_path: Path) -> None:
    write(tmp_path, "twice.yml", MANAGED_ENDPOINT + "---\n" + MANAGED_ENDPOINT)
    resources, _ = load(tmp_path)
    assert [r.id for r in resources] == ["twice.yml#online_endpoint/my-endpoint",
                                         "twice.yml#online_endpoint/my-endpoint#2"]


def test_sources_relative_to_cwd_or_as_given(tmp_path: Path) -> None:
    write(tmp_path, "repo/a/endpoint.yml", MANAGED_ENDPOINT)
    inside = load_paths([tmp_path / "repo"], cwd=tmp_path / "repo")
    assert inside.resources[0].source == os.path.join("a", "endpoint.yml")
    outside = load_paths(["../a/endpoint.yml"], cwd=tmp_path / "repo" / "a")
    assert outside.resources[0].source == "endpoint.yml"
    away = tmp_path / "elsewhere"
    away.mkdir()
    given = load_paths([os.path.join("..", "repo")], cwd=away)
    assert given.resources[0].source == os.path.join("..", "repo", "a", "endpoint.yml")


# ------------------------------------------------------------------------------ diagnostics
@pytest.mark.parametrize(("name", "text", "line", "words"), [
    ("broken.yml", MANAGED_ENDPOINT + "tags: [unclosed\nname: x\n", 8, "not valid YAML"),
    ("tabs.yml", "name: ep\nauth_mode: key\n\tpublic_network_access: disabled\n", 3, "not valid YAML"),
    ("broken.json", '{\n  "type": "Microsoft.MachineLearningServices/workspaces",\n  "name": ,\n}', 3,
     "not valid JSON"),
    ("tpl.yml", "endpoint_name: {{EP}}\nmodel: [\n", 3, "not valid YAML"),
])
def test_unreadable_files_are_diagnostics_with_lines(tmp_path: Path, name: str, text: str, line: int,
                                                     words: str) -> None:
    write(tmp_path, name, text)
    resources, diagnostics = load(tmp_path)
    assert resources == []
    assert len(diagnostics) == 1
    diag = diagnostics[0]
    assert diag.source == name and diag.line == line and words in diag.message
    assert f"line {line}" in diag.message


def test_undecodable_bytes(tmp_path: Path) -> None:
    write(tmp_path, "bad.yml", b"name: ep\nauth_mode: key\ndescription: caf\xe9\n")
    _, diagnostics = load(tmp_path)
    assert len(diagnostics) == 1 and diagnostics[0].line == 3 and "0xe9" in diagnostics[0].message


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0, reason="root reads everything")
def test_permission_denied(tmp_path: Path) -> None:
    path = write(tmp_path, "secret.yml", MANAGED_ENDPOINT)
    path.chmod(0)
    try:
        _, diagnostics = load(tmp_path)
    finally:
        path.chmod(0o644)
    assert len(diagnostics) == 1 and "cannot read" in diagnostics[0].message


def test_permission_denied_as_root_via_open_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, "secret.yml", MANAGED_ENDPOINT)
    real_open = open

    def deny(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if str(file).endswith("secret.yml"):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr("builtins.open", deny)
    _, diagnostics = load(tmp_path)
    assert len(diagnostics) == 1 and "Permission denied" in diagnostics[0].message
    assert diagnostics[0].source == "secret.yml"


def test_missing_path_is_a_diagnostic(tmp_path: Path) -> None:
    resources, diagnostics = load(tmp_path, "nope.yml")
    assert resources == [] and len(diagnostics) == 1 and diagnostics[0].source == "nope.yml"


@pytest.mark.parametrize(("name", "text"), [
    ("conda.yml", "name: env\nchannels:\n  - conda-forge\ndependencies:\n  - python=3.10\n  - pip:\n    - azureml-defaults\n"),
    ("job.yml", f"$schema: {SCHEMA.format('commandJob')}\ncommand: python x.py\nenvironment: azureml:e:1\n"),
    ("component.yml", f"$schema: {SCHEMA.format('commandComponent')}\nname: c\ntype: command\ncommand: echo\n"),
    ("model.yml", f"$schema: {SCHEMA.format('model')}\nname: m\npath: ./m\nversion: {{{{MODEL_VERSION}}}}\n"),
    ("conda.yml", "name: e\nchannels: [conda-forge]\ndependencies: [python=3.11]\n"),
    ("broken-unrelated.yml", "key: [unclosed\n"),
    ("broken-unrelated.json", "{ // comments are not JSON\n}"),
    ("tsconfig.json", '{"compilerOptions": {"strict": true}}'),
    ("empty.yml", ""),
    ("comments.yml", "# nothing\n"),
    ("scalar.yml", "just text\n"),
    ("list.json", "[1, 2, 3]"),
    ("binary.json", b"\x00\x01\x02\xff\xfe"),
    ("workflow.yml", "on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n"),
])
def test_non_resources_are_skipped_quietly(tmp_path: Path, name: str, text: str | bytes) -> None:
    write(tmp_path, name, text)
    write(tmp_path, "endpoint.yml", MANAGED_ENDPOINT)
    resources, diagnostics = load(tmp_path)
    assert [r.source for r in resources] == ["endpoint.yml"] and diagnostics == []


def test_a_named_file_or_folder_that_yields_nothing_gets_one_diagnostic(tmp_path: Path) -> None:
    write(tmp_path, "envs/conda.yml", "name: env\ndependencies:\n  - python=3.10\n")
    write(tmp_path, "envs/tsconfig.json", '{"compilerOptions": {"strict": true}}')
    write(tmp_path, "ok/endpoint.yml", MANAGED_ENDPOINT)
    (tmp_path / "empty").mkdir()
    resources, diagnostics = load(tmp_path, "envs", "envs/conda.yml", "empty", "ok", "envs/tsconfig.json")
    assert [r.source for r in resources] == [f"ok{os.sep}endpoint.yml"]
    said = {d.source: d.message for d in diagnostics}
    assert list(said) == ["envs", f"envs{os.sep}conda.yml", "empty", f"envs{os.sep}tsconfig.json"]
    assert said[f"envs{os.sep}conda.yml"].startswith("read as YAML, but it holds no Azure ML resource amlguard audits")
    assert said[f"envs{os.sep}tsconfig.json"].startswith("read as JSON, but")
    assert said["envs"].startswith("none of the 2 YAML / JSON / Bicep files in this folder holds an Azure ML resource")
    assert said["empty"].startswith("no .yml, .yaml, .json or .bicep file in this folder")


# ---------------------------------------------------------------------------------- walking
def test_walk_order_and_skipped_folders(tmp_path: Path) -> None:
    for folder in ("b", "a", ".hidden", ".venv", "node_modules", "__pycache__", "a/sub"):
        write(tmp_path, f"{folder}/endpoint.yml", MANAGED_ENDPOINT)
    write(tmp_path, "a/notes.txt", MANAGED_ENDPOINT)
    resources, _ = load(tmp_path)
    assert [r.source for r in resources] == [os.path.join("a", "endpoint.yml"),
                                             os.path.join("a", "sub", "endpoint.yml"),
                                             os.path.join("b", "endpoint.yml")]


def test_explicit_file_with_any_extension(tmp_path: Path) -> None:
    write(tmp_path, "endpoint.txt", MANAGED_ENDPOINT)
    assert len(load(tmp_path, "endpoint.txt")[0]) == 1


@pytest.mark.timeout(20)
def test_symlink_loops_do_not_hang(tmp_path: Path) -> None:
    write(tmp_path, "a/endpoint.yml", MANAGED_ENDPOINT)
    os.symlink(tmp_path, tmp_path / "a" / "loop")
    os.symlink(tmp_path / "a", tmp_path / "again")
    resources, diagnostics = load(tmp_path)
    assert len(resources) == 1 and diagnostics == []


def test_same_file_given_twice_is_read_once(tmp_path: Path) -> None:
    write(tmp_path, "endpoint.yml", MANAGED_ENDPOINT)
    assert len(load(tmp_path, "endpoint.yml", ".", str(tmp_path / "endpoint.yml"))[0]) == 1


# ------------------------------------------------------------------------ SnapshotInventory
def test_snapshot_inventory(tmp_path: Path) -> None:
    other_ws = WS_ID.replace("ws1", "ws2")
    rows = [ARM_ENDPOINT, ARM_DEPLOYMENT, dict(ARM_ENDPOINT, id=f"{other_ws}/onlineEndpoints/ep9", name="ep9"),
            {"id": WS_ID, "name": "ws1", "type": "Microsoft.MachineLearningServices/workspaces", "properties": {}}]
    write(tmp_path, "arg.json", json.dumps({"data": rows}))
    write(tmp_path, "local/endpoint.yml", MANAGED_ENDPOINT)
    write(tmp_path, "local/broken.yml", "auth_mode: [\n")
    inventory = SnapshotInventory([tmp_path], cwd=tmp_path)
    assert len(inventory.list().resources) == 5 and len(inventory.list().diagnostics) == 1
    event_id = ARM_DEPLOYMENT["id"].lower()  # ARM events spell resourcegroups in lower case
    found = inventory.get(event_id)
    assert found is not None and found.name == "blue"
    assert inventory.get(ARM_DEPLOYMENT["id"].upper() + "/") is found
    assert inventory.get(f"{WS_ID}/onlineEndpoints/missing") is None
    scoped = inventory.list(Scope(subscriptions=(SUB.upper(),), workspace="WS1"))
    assert sorted(r.name for r in scoped.resources) == ["blue", "ep1", "my-endpoint", "ws1"]
    assert inventory.list(Scope(resource_group="other")).resources[0].name == "my-endpoint"
    assert inventory.workspaces() == [WS_ID, other_ws]
    assert inventory.workspaces(Scope(workspace="ws2")) == [other_ws]
    write(tmp_path, "local/second.yml", MANAGED_ENDPOINT.replace("my-endpoint", "second"))
    assert len(inventory.list().resources) == 5  # cached
    assert len(inventory.reload().resources) == 6 and inventory.get(
        f"local{os.sep}second.yml#online_endpoint/second") is not None


def test_big_yaml_files_are_prescreened(tmp_path: Path) -> None:
    from amlguard.inventory.reader import _MAYBE_OURS, _PRESCREEN_BYTES
    from amlguard.inventory.recognize import _BATCH_ENDPOINT_KEYS, _ONLINE_ENDPOINT_KEYS, _WORKSPACE_KEYS

    # every key that can make a document ours by shape passes the pre-screen (no drift between them)
    for key in _WORKSPACE_KEYS | _ONLINE_ENDPOINT_KEYS | _BATCH_ENDPOINT_KEYS | {"endpoint_name", "auth_mode"}:
        assert _MAYBE_OURS.search(f"x: 1\n  - {key}: v\n"), key
    filler = "".join(f"item{i}: [{i}, {i + 1}]  # {'-' * 40}\n" for i in range(_PRESCREEN_BYTES // 40))
    write(tmp_path, "data.yml", filler + "broken: [\n")  # big, broken, not ours: never parsed, no word
    write(tmp_path, "endpoints.yml", filler + "---\n" + MANAGED_ENDPOINT)
    resources, diagnostics = load(tmp_path)
    assert diagnostics == [] and [r.source for r in resources] == ["endpoints.yml"]


@pytest.mark.parametrize("workers", [2, 3])
def test_parallel_read_gives_exactly_the_sequential_result(tmp_path: Path, workers: int) -> None:
    # enough files to take the forked path; a broken file and a Kubernetes pair that needs the
    # cross-file pass land in different worker runs, and in this process's own share
    for i in range(450):
        write(tmp_path, f"ep{i:03d}/endpoint.yml", MANAGED_ENDPOINT.replace("my-endpoint", f"ep-{i}"))
    write(tmp_path, "zz-broken/endpoint.yml", f"$schema: {SCHEMA.format('managedOnlineEndpoint')}\nname: [oops\n")
    write(tmp_path, "aa-k8s/endpoint.yml", f"$schema: {SCHEMA.format('kubernetesOnlineEndpoint')}\nname: k\ncompute: c\n")
    write(tmp_path, "zz-k8s/deployment.yml", "name: d\nendpoint_name: k\nmodel: azureml:m:1\ninstance_type: x\n")
    sequential = load_paths(["."], cwd=tmp_path)
    parallel = load_paths(["."], cwd=tmp_path, workers=workers)
    assert [r.summary() for r in parallel.resources] == [r.summary() for r in sequential.resources]
    assert [(r.fields, r.lines) for r in parallel.resources] == [(r.fields, r.lines) for r in sequential.resources]
    assert parallel.diagnostics == sequential.diagnostics and len(parallel.diagnostics) == 1
    deployment = next(r for r in parallel.resources if r.name == "d")
    assert deployment.compute_type == "kubernetes"


@pytest.mark.parametrize("failure", ["no fork", "child dies"])
def test_a_failed_reading_process_leaves_its_files_to_this_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              failure: str) -> None:
    import amlguard.forked as forked

    for i in range(420):
        write(tmp_path, f"ep{i:03d}/endpoint.yml", MANAGED_ENDPOINT.replace("my-endpoint", f"ep-{i}"))
    sequential = load_paths(["."], cwd=tmp_path)

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("no more processes")

    if failure == "no fork":
        monkeypatch.setattr(forked.os, "fork", broken)
    else:  # the child inherits the patch: it fails before sending anything and exits 1
        monkeypatch.setattr(forked.pickle, "dumps", broken)
    parallel = load_paths(["."], cwd=tmp_path, workers=3)
    assert [(r.id, r.fields) for r in parallel.resources] == [(r.id, r.fields) for r in sequential.resources]
    assert parallel.diagnostics == sequential.diagnostics == []


def test_a_key_given_twice_in_a_resource_is_a_diagnostic_naming_both_lines(tmp_path: Path) -> None:
    (tmp_path / "endpoint.yml").write_text(
        "$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineEndpoint.schema.json\n"
        "name: ep\nauth_mode: key\npublic_network_access: disabled\nauth_mode: aad_token\n")
    (tmp_path / "endpoint.json").write_text(
        '{"id": "/subscriptions/s/resourceGroups/r/providers/Microsoft.MachineLearningServices/workspaces/w/'
        'onlineEndpoints/e", "type": "Microsoft.MachineLearningServices/workspaces/onlineEndpoints", "name": "e",\n'
        ' "properties": {"authMode": "Key",\n "authMode": "AADToken"}}\n')
    (tmp_path / "other.yml").write_text("a: 1\na: 2\n")  # not a resource: nothing to say
    result = load_paths([tmp_path])
    said = sorted((Path(d.source).name, d.line, d.message) for d in result.diagnostics)
    assert said == [
        ("endpoint.json", 3, "duplicate key 'properties.authMode' on line 3 (first on line 2); "
                             "only the last value is read: delete one of them"),
        ("endpoint.yml", 5, "duplicate key 'auth_mode' on line 5 (first on line 3); "
                            "only the last value is read: delete one of them"),
    ]
    assert len(result.resources) == 2


def test_objects_of_a_large_json_file_get_their_lines(tmp_path: Path) -> None:
    rows = [{"id": f"/subscriptions/s/resourceGroups/r/providers/Microsoft.MachineLearningServices/workspaces/w/"
                   f"onlineEndpoints/e{i}", "type": "Microsoft.MachineLearningServices/workspaces/onlineEndpoints",
             "name": f"e{i}", "properties": {"authMode": "Key"}} for i in range(3)]
    text = "[\n" + ",\n".join(json.dumps(row) for row in rows) + "\n]\n"
    (tmp_path / "big.json").write_text(text + " " * (64 * 1024 * 1024 // 8))
    result = load_paths([tmp_path / "big.json"])
    assert sorted((r.name, r.line) for r in result.resources) == [("e0", 2), ("e1", 3), ("e2", 4)]


# ------------------------------------------------------------------------------ hostile inputs
def _load_in_child(paths: list[Path], cwd: Path) -> list[tuple[str, Any, str]]:
    """load_paths in a child process with a timeout: a read that blocks (a FIFO) fails the test
    instead of hanging the suite."""
    import subprocess

    code = ("import json, sys; from pathlib import Path; from amlguard.inventory import load_paths; "
            "r = load_paths(sys.argv[1:], cwd=Path.cwd()); "
            "print(json.dumps([[d.source, d.line, d.message] for d in r.diagnostics]))")
    out = subprocess.run([sys.executable, "-c", code, *map(str, paths)], cwd=cwd, capture_output=True, text=True,
                         timeout=30, check=True)
    return [tuple(d) for d in json.loads(out.stdout)]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_is_refused_not_read(tmp_path: Path) -> None:
    """A FIFO named endpoint.yml made audit wait forever for a writer; only regular files are read."""
    os.mkfifo(tmp_path / "endpoint.yml")
    write(tmp_path, "ok.yml", MANAGED_ENDPOINT)
    expected = ("endpoint.yml", None, "not a regular file (a FIFO); amlguard reads only regular files: "
                                      "replace it with the YAML or JSON file itself")
    assert _load_in_child([tmp_path], tmp_path) == [expected]  # inside a folder
    assert _load_in_child([tmp_path / "endpoint.yml"], tmp_path) == [expected]  # named


def test_a_device_is_refused_not_read(tmp_path: Path) -> None:
    result = load_paths(["/dev/zero"], cwd=tmp_path)
    assert [(d.source, d.message.split(";")[0]) for d in result.diagnostics] == [
        ("/dev/zero", "not a regular file (a character device)")]


def test_an_unreadable_folder_is_a_diagnostic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A folder that cannot be listed was skipped without a word (its endpoints never audited)."""
    write(tmp_path / "a", "endpoint.yml", MANAGED_ENDPOINT)
    write(tmp_path / "locked", "endpoint.yml", MANAGED_ENDPOINT)
    real_scandir = os.scandir

    def deny(path: Any) -> Any:
        if str(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", deny)
    resources, diagnostics = load(tmp_path)
    assert [r.source for r in resources] == [os.path.join("a", "endpoint.yml")]
    assert [(d.source, d.line, d.message) for d in diagnostics] == [
        ("locked", None, "cannot list the folder: Permission denied; check that amlguard may read it")]


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-32-le"])
def test_utf16_without_a_bom_is_refused_with_a_diagnostic(tmp_path: Path, encoding: str) -> None:
    """UTF-16LE without a BOM decoded as UTF-8 into text full of NULs, and was skipped silently."""
    write(tmp_path, "endpoint.yml", MANAGED_ENDPOINT.encode(encoding))
    write(tmp_path, "blob.json", b"\x00\x01\x02binary\x00")  # not text, not ours: quiet
    resources, diagnostics = load(tmp_path)
    assert resources == []
    name = encoding.upper().replace("-LE", "LE").replace("-BE", "BE")
    assert [(d.source, d.line, d.message) for d in diagnostics] == [
        ("endpoint.yml", None, f"the file looks like {name} without a byte-order mark (BOM); amlguard reads "
                               "UTF-8, or UTF-16 / UTF-32 that starts with a BOM: save it as UTF-8")]


def test_a_5000_digit_number_is_not_called_nesting(tmp_path: Path) -> None:
    write(tmp_path, "endpoint.json", '{"id": "/subscriptions/s/resourceGroups/r/providers/'
                                     'Microsoft.MachineLearningServices/workspaces/w",\n "properties": {"n": '
                                     + "9" * 5000 + "}}")
    _, diagnostics = load(tmp_path)
    assert [(d.line, d.message) for d in diagnostics] == [
        (2, "not valid JSON: a number with 5,000 digits on line 2 (more than the 4,300 Python reads); "
            "write it as a string")]


def test_a_crowded_yaml_resource_is_a_diagnostic_with_the_limit_and_line(tmp_path: Path) -> None:
    write(tmp_path, "endpoint.yml", MANAGED_ENDPOINT + "extra: [" + ",".join(["1"] * 300_000) + "]\n")
    _, diagnostics = load(tmp_path)
    assert [(d.line, d.message) for d in diagnostics] == [
        (7, "YAML text holds more than 100,000 values (the limit for one file, passed on line 7): split it into "
            "one file per resource, or export it as JSON (`-o json`)")]
