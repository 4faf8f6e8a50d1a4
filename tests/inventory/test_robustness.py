"""The reader never raises, whatever the bytes; azure-ai-ml stays out of the file path."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import amlguard.inventory
from amlguard.inventory import load_data, load_paths, resource_from_arm, resource_from_yaml

REPO_ROOT = Path(__file__).resolve().parents[2]

# Fragments that steer generated text into the interesting paths: our keys, placeholders,
# flow collections, tabs, BOMs, document markers, JSON punctuation.
FRAGMENTS = st.sampled_from([
    "$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json\n",
    "$schema: https://azuremlschemas.azureedge.net/latest/workspace.schema.json\n",
    "name: ep\n", "endpoint_name: ep\n", "auth_mode: key\n", "public_network_access: Disabled\n",
    "instance_type: x\n", "type: kubernetes\n", "compute: k8s\n", "settings:\n  mini_batch_size: 3\n",
    "managed_network:\n  outbound_rules: {a: 1}\n", "traffic: {{{{X}}}}\n", "{{NAME}}", "${{a.b}}", "{{", "}}",
    "\t", "---\n", "...\n", "\ufeff", "\r\n", ": ", "- ", "[", "]", "{", "}", "\"", "'", "&a ", "*a ", "!!", "<<: *a\n",
    '{"type": "Microsoft.MachineLearningServices/workspaces/onlineEndpoints", "properties": {"authMode": 1}}',
    '{"data": [', '{"value": [', '"id": "/subscriptions/s/resourceGroups/r/providers/'
    'Microsoft.MachineLearningServices/workspaces/w/onlineEndpoints/e"', "null", "1e5", "\x00", "\x85",
])
TEXT = st.lists(st.one_of(FRAGMENTS, st.text(max_size=20)), max_size=25).map("".join)

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=10)
    | st.sampled_from(["Disabled", "PT5S", "{{X}}", "azureml:m:1", "Kubernetes"]),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["id", "name", "type", "properties", "authMode", "publicNetworkAccess", "identity",
                         "managedNetwork", "outboundRules", "dataCollector", "collections", "requestSettings",
                         "sku", "capacity", "endpoint_name", "settings", "$schema", "compute", "model",
                         "privateEndpointConnections", "userAssignedIdentities", "x"]) | st.text(max_size=5),
        children, max_size=5),
    max_leaves=30)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(TEXT, st.sampled_from(["in.yml", "in.json", "in.txt"]))
def test_reader_never_raises_on_text(text: str, name: str) -> None:
    result = load_data(text, source=name)
    assert all(d.source == name for d in result.diagnostics)
    for resource in result.resources:
        assert resource.kind in {"workspace", "online_endpoint", "online_deployment", "batch_endpoint",
                                 "batch_deployment"}
        assert resource.id and resource.summary()["source"] == name


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.sampled_from(["in.yml", "in.json"]))
def test_reader_never_raises_on_bytes(data: bytes, name: str) -> None:
    load_data(data, source=name)


ARM_TYPE = "Microsoft.MachineLearningServices/workspaces"


@settings(max_examples=300, deadline=None)
@given(JSON_VALUES)
def test_normalisers_never_raise(value: Any) -> None:
    resource_from_arm(value)
    resource_from_yaml(copy.deepcopy(value), source="x", line=1, lines={})
    # the same arbitrary value where each special-cased field is expected
    resource_from_arm({"type": ARM_TYPE, "identity": value, "sku": value, "properties": {
        "managedNetwork": value, "privateEndpointConnections": value, "networkAcls": value}})
    resource_from_arm({"type": f"{ARM_TYPE}/onlineEndpoints/deployments", "name": value, "id": value, "properties": {
        "dataCollector": value, "containerResourceRequirements": value, "requestSettings": value,
        "livenessProbe": value, "codeConfiguration": value, "scaleSettings": value, "model": value}})
    resource_from_arm({"type": f"{ARM_TYPE}/batchEndpoints/deployments", "properties": {
        "model": value, "deploymentConfiguration": value, "retrySettings": value, "defaults": value}})
    resource_from_yaml({"name": "w", "key_vault": "x", "managed_network": copy.deepcopy(value),
                        "identity": copy.deepcopy(value)}, source="x", line=1, lines={})
    resource_from_yaml({"name": "d", "endpoint_name": "e", "type": "model", "settings": copy.deepcopy(value),
                        "data_collector": copy.deepcopy(value)}, source="x", line=1, lines={})
    resource_from_yaml({"name": value, "endpoint_name": value, "instance_type": "x",
                        "data_collector": {"collections": copy.deepcopy(value)}}, source="x", line=1, lines={})
    text = json.dumps(value) if _jsonable(value) else "null"
    load_data(text, source="x.json")


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=True)
    except (TypeError, ValueError):
        return False
    return True


def test_files_on_disk_never_raise(tmp_path: Path) -> None:
    # deep nesting crashes libyaml's recursive composer (a segfault, not an exception) unless
    # the reader refuses it first
    samples = [b"\xff\xfe\x00", b"key: [", b"{" * 5000, b"[" * 100000, b"- " * 60000 + b"x",
               b"auth_mode: key\nx: " + b"[" * 100000, b"a: &a [*a]\n", "name: \u00e9\n".encode("utf-16"),
               b"\xef\xbb\xbf" + b"auth_mode: key\nname: e\n"]
    for index, data in enumerate(samples):
        (tmp_path / f"f{index}.yml").write_bytes(data)
        (tmp_path / f"f{index}.json").write_bytes(data)
    result = load_paths([tmp_path], cwd=tmp_path)
    assert [(r.source, r.name) for r in result.resources] == [("f8.yml", "e")]
    messages = {d.source: (d.line, d.message) for d in result.diagnostics}
    assert messages["f5.yml"][0] == 2 and "nested deeper than 1000" in messages["f5.yml"][1]
    assert "not valid JSON" in messages["f8.json"][1]  # YAML text in a .json file
    assert set(messages) == {"f5.yml", "f5.json", "f8.json"}


def test_the_file_inventory_imports_no_sdk_and_no_pools() -> None:
    code = (
        "import sys, json\n"
        "from amlguard.inventory import load_paths, SnapshotInventory\n"
        "from amlguard.inventory.arm import resource_from_arm\n"
        f"r = load_paths([{str(REPO_ROOT / 'tests' / 'inventory')!r}])\n"
        "SnapshotInventory(['.']).list()\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('azure', 'multiprocessing', 'concurrent')))))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=60, check=True)
    # the file inventory starts fast: no Azure SDK, no process pool, no thread pool on its path
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []


def test_public_names() -> None:
    # ARM ids are amlguard.armid.ArmId values; the inventory exports no id parser of its own
    assert set(amlguard.inventory.__all__) == {
        "load_paths", "load_data", "SnapshotInventory", "resource_from_arm", "resource_from_yaml",
        "WorkspaceContext", "normalize_enum", "Inventory", "InventoryResult", "InventoryError", "Scope"}
    for name in amlguard.inventory.__all__:
        assert hasattr(amlguard.inventory, name), name


def test_inventory_modules_do_not_import_each_other_in_a_cycle() -> None:
    """config builds the live inventories; live and resourcegraph take their options from
    options.py, not from config (imports inside functions count too)."""
    import ast

    folder = REPO_ROOT / "shared" / "inventory"
    graph: dict[str, set[str]] = {}
    for path in folder.glob("*.py"):
        name = f"amlguard.inventory.{path.stem}"
        graph[name] = {node.module for node in ast.walk(ast.parse(path.read_text()))
                       if isinstance(node, ast.ImportFrom) and node.module
                       and node.module.startswith("amlguard.inventory.")}

    def reaches(start: str, target: str, seen: set[str]) -> bool:
        for child in graph.get(start, ()):
            if child == target or (child not in seen and reaches(child, target, seen | {child})):
                return True
        return False

    assert graph["amlguard.inventory.config"] >= {"amlguard.inventory.live", "amlguard.inventory.options"}
    assert [name for name in graph if reaches(name, name, set())] == []
