"""Infrastructure as code: ARM deployment templates and Bicep files read into the same Resources
as ARM JSON, values resolved from parameters and variables where they can be, every property
with its line, the rest kept as written and reported as placeholders; a named file that holds
nothing to audit says what it was read as, and the audit exits 2."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from amlguard.cli import main
from amlguard.inventory import load_paths
from amlguard.inventory.armtemplate import expand
from amlguard.inventory.bicep import BicepError, read_bicep
from amlguard.model import Resource

ML = "Microsoft.MachineLearningServices"
SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def by_name(resources: list[Resource]) -> dict[str, Resource]:
    return {r.name: r for r in resources}


def template(resources: Any, **extra: Any) -> str:
    return json.dumps({"$schema": SCHEMA, "contentVersion": "1.0.0.0", **extra, "resources": resources}, indent=2)


# ----------------------------------------------------------------------------- ARM templates
def test_template_parameters_variables_and_child_resources(tmp_path: Path) -> None:
    path = write(tmp_path, "main.json", template([{
        "type": f"{ML}/workspaces", "name": "[parameters('ws')]", "apiVersion": "2024-04-01",
        "properties": {"publicNetworkAccess": "[variables('access')]"},
        "resources": [{"type": "computes", "name": "[concat(parameters('ws'), '-cpu')]", "apiVersion": "2024-04-01",
                       "properties": {"computeType": "AmlCompute", "disableLocalAuth": "[not(parameters('localAuth'))]",
                                      "properties": {"enableNodePublicIp": "[parameters('publicIp')]"}}}]}],
        parameters={"ws": {"type": "string", "defaultValue": "ws1"}, "publicIp": {"type": "bool"},
                    "localAuth": {"type": "bool", "defaultValue": False}},
        variables={"access": "[if(equals(parameters('ws'), 'ws1'), 'Disabled', 'Enabled')]"}))
    write(tmp_path, "main.parameters.json", json.dumps({"parameters": {"publicIp": {"value": False}}}))
    result = load_paths([path], cwd=tmp_path)
    assert result.diagnostics == []
    found = by_name(result.resources)
    ws, cpu = found["ws1"], found["ws1-cpu"]
    assert (ws.kind, ws.fields["public_network_access"]) == ("workspace", "disabled")
    assert (cpu.kind, cpu.compute_type, cpu.workspace) == ("compute", "cluster", "ws1")
    assert cpu.fields["enable_node_public_ip"] is False  # from the parameters file beside the template
    assert cpu.fields["disable_local_auth"] is True and not cpu.templated
    text = path.read_text().splitlines()
    assert "enableNodePublicIp" in text[cpu.line_of("enable_node_public_ip") - 1]
    assert text[cpu.line - 1].strip() == "{" and '"type": "computes"' in text[cpu.line]


def test_opaque_values_stay_as_written_and_are_reported_as_placeholders(tmp_path: Path) -> None:
    path = write(tmp_path, "t.json", template([{
        "type": f"{ML}/workspaces/computes", "name": "ws/cpu", "location": "[resourceGroup().location]",
        "properties": {"computeType": "AmlCompute", "properties": {
            "enableNodePublicIp": "[parameters('publicIp')]", "subnet": {"id": "[variables('subnet')]"}}}}],
        parameters={"publicIp": {"type": "bool"}},
        variables={"subnet": "[resourceId('Microsoft.Network/virtualNetworks/subnets', 'v', 's')]"}))
    (cpu,) = load_paths([path], cwd=tmp_path).resources
    assert cpu.fields["enable_node_public_ip"] == "[parameters('publicIp')]"
    assert {"location", "enable_node_public_ip", "network_settings.subnet"} <= cpu.templated
    (out,) = [f for f in _audit_json(path)["findings"] if f["rule"] == "AMLG-CMP-001"]
    assert out["status"] == "fail" and "template placeholder" in out["message"]


def test_copy_loops_conditions_nested_deployments_and_symbolic_names() -> None:
    doc = {"$schema": SCHEMA, "contentVersion": "1.0.0.0", "languageVersion": "2.0",
           "parameters": {"ws": {"type": "string", "defaultValue": "outer"}},
           "resources": {
               "loop": {"type": f"{ML}/workspaces/computes", "name": "[format('{0}/ci-{1}', parameters('ws'), copyIndex())]",
                        "copy": {"name": "ci", "count": 2}, "properties": {"computeType": "ComputeInstance"}},
               "off": {"type": f"{ML}/workspaces/computes", "name": "outer/off", "condition": "[equals(1, 2)]",
                       "properties": {"computeType": "AmlCompute"}},
               "gone": {"type": f"{ML}/workspaces", "name": "elsewhere", "existing": True},
               "nested": {"type": "Microsoft.Resources/deployments", "name": "inner", "properties": {
                   "expressionEvaluationOptions": {"scope": "inner"},
                   "parameters": {"ws": {"value": "[concat(parameters('ws'), '-inner')]"}},
                   "template": {"$schema": SCHEMA, "contentVersion": "1.0.0.0",
                                "parameters": {"ws": {"type": "string"}},
                                "resources": [{"type": f"{ML}/workspaces", "name": "[parameters('ws')]"}]}}}}}
    declared = expand(doc).resources
    names = [(d.obj["type"].rsplit("/", 1)[-1], d.obj["name"]) for d in declared]
    assert ("computes", "outer/ci-[copyIndex()]") in names and ("workspaces", "outer-inner") in names
    assert not any(n.endswith("off") or n == "elsewhere" for _, n in names)
    (loop,) = [d for d in declared if d.loop]
    assert loop.loop == {"name": "ci", "count": 2} and loop.obj["name"] in loop.opaque


def test_template_without_azure_ml_resources_named_gets_a_reason_and_exit_2(tmp_path: Path, capsys: Any) -> None:
    path = write(tmp_path, "storage.json", template([{"type": "Microsoft.Storage/storageAccounts", "name": "sa"}]))
    result = load_paths([path], cwd=tmp_path)
    (diag,) = result.diagnostics
    assert diag.message.startswith("read as an ARM template: it declares 1 resource(s) of type "
                                   "Microsoft.Storage/storageAccounts, none an Azure ML resource")
    assert main(["audit", str(path), "--format", "json"]) == 2
    assert "nothing was audited" in capsys.readouterr().err
    # --exclude of another file does not excuse it, and --soft-fail (which forgives findings) neither
    other = write(tmp_path, "other.yml", "name: x\n")
    assert main(["audit", str(path), str(other), "--exclude", "other.yml", "--soft-fail", "--format", "json"]) == 2
    assert "1 file(s) not read (--exclude)" in capsys.readouterr().err


def test_a_parameters_file_named_alone_says_so(tmp_path: Path) -> None:
    path = write(tmp_path, "main.parameters.json", json.dumps({
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#",
        "parameters": {"x": {"value": 1}}}))
    (diag,) = load_paths([path], cwd=tmp_path).diagnostics
    assert diag.message.startswith("read as an ARM parameters file")


# ----------------------------------------------------------------------------- Bicep
BICEP = """\
// a workspace and its computes
@description('the workspace')
param wsName string = 'ws-b'
param location string = resourceGroup().location
@secure()
param adminPassword string = 'never-read'
param publicIp bool = true
var prefix = toLower('AML')
var sizes = {
  small: 'Standard_DS3_v2'
}

resource ws 'Microsoft.MachineLearningServices/workspaces@2024-04-01' = {
  name: wsName
  location: location
  identity: { type: 'SystemAssigned' }
  properties: {
    publicNetworkAccess: publicIp
      ? 'Enabled'
      : 'Disabled'
  }

  resource child 'computes' = {
    name: '${prefix}-child'
    properties: {
      computeType: 'ComputeInstance'
      disableLocalAuth: !publicIp
      properties: {
        vmSize: sizes.small
      }
    }
  }
}

resource cluster 'Microsoft.MachineLearningServices/workspaces/computes@2024-04-01' = if (wsName == 'ws-b') {
  parent: ws
  name: '${prefix}-cluster'
  properties: {
    computeType: 'AmlCompute'
    properties: {
      userAccountCredentials: { adminUserName: 'azureuser', adminUserPassword: adminPassword }
      subnet: { id: resourceId('Microsoft.Network/virtualNetworks/subnets', 'v', 's') }
    }
  }
}

resource skipped 'Microsoft.MachineLearningServices/workspaces/computes@2024-04-01' = if (!true) {
  parent: ws
  name: 'never'
  properties: { computeType: 'AmlCompute' }
}

resource many 'Microsoft.MachineLearningServices/workspaces/computes@2024-04-01' = [for i in range(0, 2): {
  parent: ws
  name: 'ci-${i}'
  properties: { computeType: 'ComputeInstance' }
}]

resource other 'Microsoft.Storage/storageAccounts@2023-01-01' existing = {
  name: 'sa'
}

output id string = ws.id
"""


def test_bicep_declarations_resolved_with_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "main.bicep", BICEP)
    result = load_paths([path], cwd=tmp_path)
    assert result.diagnostics == []
    found = by_name(result.resources)
    assert set(found) == {"ws-b", "aml-child", "aml-cluster", "ci-${i}"}
    ws, child, cluster, many = found["ws-b"], found["aml-child"], found["aml-cluster"], found["ci-${i}"]
    assert ws.fields["public_network_access"] == "enabled" and ws.line_of("public_network_access") == 18
    assert (child.compute_type, child.workspace, child.fields["size"]) == ("instance", "ws-b", "Standard_DS3_v2")
    assert child.fields["disable_local_auth"] is False and child.line_of("disable_local_auth") == 27
    assert cluster.fields["ssh_settings"] == {"admin_username": "azureuser"}  # the secure parameter is not read
    assert "never-read" not in json.dumps(cluster.fields)
    assert cluster.fields["network_settings"]["subnet"].startswith("${resourceId(")
    assert "network_settings.subnet" in cluster.templated and "location" in ws.templated
    assert many.fields["copy_loop"] == {"for": "[for i in range(0, 2)]"} and "name" in many.templated
    assert cluster.line == 35 and ws.line == 13


def test_bicep_parameters_beside_the_file(tmp_path: Path) -> None:
    write(tmp_path, "main.bicep", BICEP)
    write(tmp_path, "main.bicepparam", "using 'main.bicep'\nparam publicIp = false\n")
    found = by_name(load_paths([tmp_path / "main.bicep"], cwd=tmp_path).resources)
    assert found["ws-b"].fields["public_network_access"] == "disabled"
    assert found["aml-child"].fields["disable_local_auth"] is True


@pytest.mark.parametrize(("text", "line"), [
    ("resource x 'Microsoft.MachineLearningServices/workspaces@2024-04-01' = {\n  name: 'unclosed\n}\n", 2),
    ("param a string\n/* never closed\nresource x 'Microsoft.MachineLearningServices/workspaces@2024-04-01' = {}\n", 2),
])
def test_unreadable_bicep_is_a_diagnostic_with_its_line(tmp_path: Path, text: str, line: int) -> None:
    path = write(tmp_path, "broken.bicep", text)
    (diag,) = load_paths([tmp_path], cwd=tmp_path).diagnostics
    assert diag.source == path.name and diag.line == line and diag.message.startswith("cannot read this Bicep file")


def test_a_statement_it_cannot_read_is_reported_and_the_rest_is_read(tmp_path: Path) -> None:
    text = ("resource a 'Microsoft.MachineLearningServices/workspaces@2024-04-01' = {\n  name: 'ok'\n}\n"
            "resource b 'Microsoft.MachineLearningServices/workspaces@2024-04-01' = {\n  name: 'bad' 'extra'\n}\n")
    path = write(tmp_path, "partial.bicep", text)
    result = load_paths([path], cwd=tmp_path)
    assert [r.name for r in result.resources] == ["ok"]
    (diag,) = result.diagnostics
    assert diag.line == 5 and "was not read" in diag.message


def test_bicep_without_azure_ml_is_quiet_in_a_folder_and_explained_when_named(tmp_path: Path) -> None:
    write(tmp_path, "infra/storage.bicep", "resource sa 'Microsoft.Storage/storageAccounts@2023-01-01' = {\n"
                                           "  name: 'sa'\n}\n")
    write(tmp_path, "infra/broken.bicep", "param x string = 'unclosed\n")
    write(tmp_path, "infra/endpoint.yml", "$schema: https://azuremlschemas.azureedge.net/latest/"
                                          "managedOnlineEndpoint.schema.json\nname: e\n")
    assert load_paths([tmp_path / "infra"], cwd=tmp_path).diagnostics == []
    (diag,) = load_paths([tmp_path / "infra" / "storage.bicep"], cwd=tmp_path).diagnostics
    assert diag.message.startswith("read as a Bicep file: it declares 1 resource(s) of type "
                                   "Microsoft.Storage/storageAccounts")


@pytest.mark.parametrize("text", [
    "var x = 'a${'b${'c'}'}'\n", "var y = [for i in range(0, 3): i]\nvar z = map([1], n => n + 1)\n",
    "var k = {\n  '${toLower('A')}': {}\n  b: ws::child.name\n}\n", "type t = { a: string }\nfunc f(a int) int => a\n",
    "import * as x from 'x.bicep'\ntargetScope = 'subscription'\nmetadata info = 'x'\n",
])
def test_bicep_syntax_it_sets_aside_parses(text: str) -> None:
    assert read_bicep(text).problems == []


def test_a_name_that_fails_to_evaluate_is_kept_as_written() -> None:
    (declared,) = read_bicep("resource w 'Microsoft.MachineLearningServices/workspaces@2024-04-01' = {\n"
                             "  name: 'ws-${1 / 0}'\n}\n").resources
    assert declared.obj["name"] == "ws-${1 / 0}" and "ws-${1 / 0}" in declared.opaque


def test_bicep_lexing_errors_raise_with_a_line() -> None:
    with pytest.raises(BicepError) as error:
        read_bicep("param a string\nparam b string = 'x\n")
    assert error.value.line == 2


def _audit_json(path: Path) -> dict[str, Any]:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        main(["audit", str(path), "--format", "json", "--fail-on", "none"])
    return dict(json.loads(out.getvalue()))
