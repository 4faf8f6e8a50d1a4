"""Structural tests of infra/: parse every Bicep file with pycep (Checkov's own parser) and pin
the resources, identities, role definitions and scopes, Event Grid filters and app settings."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from pycep import BicepParser

from ._repo import INFRA, REPO

MODULES = INFRA / "modules"
BICEP_FILES = sorted(INFRA.rglob("*.bicep"))

# Built-in role definition GUIDs (the same in every tenant).
READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
MONITORING_READER = "43d0d8ad-25c7-4714-9337-8ba259a9fe05"
LOG_ANALYTICS_READER = "73c42c96-874c-492b-b04d-ab87d138a893"
STORAGE_BLOB_DATA_OWNER = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
STORAGE_BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
STORAGE_QUEUE_DATA_CONTRIBUTOR = "974c5e8b-45b9-4653-ba55-5f855dd0fb88"
STORAGE_TABLE_DATA_CONTRIBUTOR = "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3"
MONITORING_METRICS_PUBLISHER = "3913510d-42f4-4e42-8a64-420c390055eb"
ALLOWED_ROLE_GUIDS = {
    READER,
    MONITORING_READER,
    LOG_ANALYTICS_READER,
    STORAGE_BLOB_DATA_OWNER,
    STORAGE_BLOB_DATA_CONTRIBUTOR,
    STORAGE_QUEUE_DATA_CONTRIBUTOR,
    STORAGE_TABLE_DATA_CONTRIBUTOR,
    MONITORING_METRICS_PUBLISHER,
}
FORBIDDEN_ROLE_GUIDS = {
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner",
    "b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor",
    "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9": "User Access Administrator",
    "f58310d9-a9f6-439a-9e8d-f62e7b41a168": "Role Based Access Control Administrator",
    "f6c7c914-8db3-469d-8ca1-694a8f32e121": "AzureML Data Scientist",
}

# data.operationName values (reference/azure-facts.md §2.5 and §3.3) for the Azure ML resources
# amlguard audits: workspaces, online/batch endpoints and their deployments, computes, serverless
# endpoints, datastores and registries, write and delete.
EXPECTED_OPERATIONS = {
    f"Microsoft.MachineLearningServices/{resource}/{verb}"
    for resource in (
        "workspaces",
        "workspaces/onlineEndpoints",
        "workspaces/onlineEndpoints/deployments",
        "workspaces/batchEndpoints",
        "workspaces/batchEndpoints/deployments",
        "workspaces/computes",
        "workspaces/serverlessEndpoints",
        "workspaces/datastores",
        "registries",
    )
    for verb in ("write", "delete")
}

REMEDIATION_ACTIONS = [
    "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/write",
    "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments/write",
    "Microsoft.MachineLearningServices/workspaces/batchEndpoints/write",
    "Microsoft.MachineLearningServices/workspaces/batchEndpoints/deployments/write",
    "Microsoft.MachineLearningServices/workspaces/write",
    "Microsoft.MachineLearningServices/registries/write",
    "Microsoft.MachineLearningServices/workspaces/computes/write",
]

# Settings Flex Consumption deprecates (functions-app-settings.md, "Flex Consumption plan
# deprecations"): runtime and deployment come from functionAppConfig instead.
FLEX_DEPRECATED_SETTINGS = {
    "ENABLE_ORYX_BUILD",
    "FUNCTIONS_EXTENSION_VERSION",
    "FUNCTIONS_WORKER_RUNTIME",
    "FUNCTIONS_WORKER_RUNTIME_VERSION",
    "FUNCTIONS_MAX_HTTP_CONCURRENCY",
    "FUNCTIONS_WORKER_PROCESS_COUNT",
    "FUNCTIONS_WORKER_DYNAMIC_CONCURRENCY_ENABLED",
    "SCM_DO_BUILD_DURING_DEPLOYMENT",
    "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
    "WEBSITE_CONTENTOVERVNET",
    "WEBSITE_CONTENTSHARE",
    "WEBSITE_DNS_SERVER",
    "WEBSITE_MAX_DYNAMIC_APPLICATION_SCALE_OUT",
    "WEBSITE_NODE_DEFAULT_VERSION",
    "WEBSITE_RUN_FROM_PACKAGE",
    "WEBSITE_SKIP_CONTENTSHARE_VALIDATION",
    "WEBSITE_VNET_ROUTE_ALL",
}
FLEX_DEPRECATED_SITE_PROPERTIES = {
    "alwaysOn",
    "containerSize",
    "ftpsState",
    "isReserved",
    "javaVersion",
    "linuxFxVersion",
    "netFrameworkVersion",
    "powerShellVersion",
    "functionAppScaleLimit",
    "preWarmedInstanceCount",
    "use32BitWorkerProcess",
    "vnetRouteAllEnabled",
    "windowsFxVersion",
}

EXPECTED_APP_SETTINGS = {
    "AzureWebJobsStorage__accountName",
    "AzureWebJobsStorage__credential",
    "AzureWebJobsStorage__clientId",
    "AzureWebJobsStorage__blobServiceUri",
    "AzureWebJobsStorage__queueServiceUri",
    "AzureWebJobsStorage__tableServiceUri",
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
    "AZURE_CLIENT_ID",
    "AMLGUARD_SCOPE_SUBSCRIPTIONS",
    "AMLGUARD_SCOPE_RESOURCE_GROUP",
    "AMLGUARD_STATE_BACKEND",
    "AMLGUARD_WAKE_QUEUE_NAME",
    "AMLGUARD_STATE_TABLE_ENDPOINT",
    "AMLGUARD_STATE_TABLE_PREFIX",
    "AMLGUARD_QUEUE_NAME",
    "AMLGUARD_SWEEP_SCHEDULE",
    "AMLGUARD_MONITOR_SCHEDULE",
    "AMLGUARD_ALERTS_SCHEDULE",
    "AMLGUARD_REMEDIATION_ENABLED",
}

GUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)


_ACCESSORS = {"property_accessor": ".", "nested_resource_accessor": "::"}


def _normalise(node: Any) -> Any:
    """Fold pycep >= 0.5's accessor operators back into the dotted strings 0.4 produces
    (`a.b.c`, `a::b::c`), so the assertions hold with either parser version."""
    if isinstance(node, list):
        return [_normalise(item) for item in node]
    if not isinstance(node, dict):
        return node
    folded = {key: _normalise(value) for key, value in node.items()}
    operator = folded.get("operator")
    if len(folded) == 1 and isinstance(operator, dict) and operator.get("type") in _ACCESSORS:
        left, right = operator["operands"]["operand_1"], operator["operands"]["operand_2"]
        if isinstance(left, str) and isinstance(right, str):
            return f"{left}{_ACCESSORS[operator['type']]}{right}"
    return folded


@cache
def parse(relative: str) -> dict[str, Any]:
    """The pycep JSON of one Bicep file under infra/."""
    parsed: dict[str, Any] = _normalise(dict(BicepParser().parse(file_path=INFRA / relative)))
    return parsed


def body(entry: dict[str, Any]) -> dict[str, Any]:
    """The declared body of a resource or module, unwrapping `if (...)` and `[for ...]`."""
    config: dict[str, Any] = entry["config"]
    while "loop_type" in config or "condition" in config:
        config = config["config"]
    return config


def condition(entry: dict[str, Any]) -> Any:
    """The `if (...)` expression of a resource or module, or None when it is unconditional."""
    return entry["config"].get("condition")


def variable(template: dict[str, Any], name: str) -> Any:
    return template["variables"][name]["value"]


def param_default(template: dict[str, Any], name: str) -> Any:
    return template["parameters"][name]["default"]


def resources_of_type(template: dict[str, Any], arm_type: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["resources"].items() if r["type"] == arm_type}


def decorator_args(template: dict[str, Any], param: str, decorator: str) -> Any:
    for item in template["parameters"][param]["decorators"]:
        if item["type"] == decorator:
            return item["argument"]
    raise KeyError(f"{param} has no @{decorator}")


def role_guid(template: dict[str, Any], role_definition_id: Any) -> str:
    """The GUID behind `subscriptionResourceId('Microsoft.Authorization/roleDefinitions', x)`."""
    function = role_definition_id["function"]
    assert function["type"] == "subscription_resource_id"
    assert function["parameters"]["resource_type"] == "Microsoft.Authorization/roleDefinitions"
    name = function["parameters"]["resource_name_1"]
    return str(variable(template, name)) if name in template["variables"] else str(name)


# --- parsing ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: str(p.relative_to(INFRA)))
def test_every_bicep_file_parses(path: Path) -> None:
    parsed = parse(str(path.relative_to(INFRA)))
    assert parsed["resources"] or parsed.get("modules"), f"{path} declares nothing"


def test_every_module_reference_points_at_a_file() -> None:
    for path in BICEP_FILES:
        template = parse(str(path.relative_to(INFRA)))
        for name, module in template.get("modules", {}).items():
            target = path.parent / module["detail"]["path"]
            assert target.is_file(), f"{path.name}: module {name} -> {target} does not exist"


MODULE_CALLS = [
    (path, name)
    for path in BICEP_FILES
    for name in parse(str(path.relative_to(INFRA))).get("modules", {})
]
OUTPUT_REF_RE = re.compile(r"\b([A-Za-z_]\w*)(?:\[\w+\])?\.outputs\.([A-Za-z_]\w*)")


def _module_target(path: Path, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    template = parse(str(path.relative_to(INFRA)))
    module = template["modules"][name]
    target = path.parent / module["detail"]["path"]
    return body(module), parse(str(target.relative_to(INFRA)))


@pytest.mark.parametrize(("path", "name"), MODULE_CALLS, ids=lambda v: v.name if isinstance(v, Path) else v)
def test_module_call_matches_the_module_parameters(path: Path, name: str) -> None:
    # What `bicep build` would reject (unknown or missing parameter), checked without a compiler.
    call, target = _module_target(path, name)
    declared = target["parameters"]
    passed = set(call.get("params", {}))
    assert passed <= set(declared), f"{path.name}: {name} passes unknown {passed - set(declared)}"
    required = {p for p, spec in declared.items() if spec.get("default") is None}
    assert required <= passed, f"{path.name}: {name} misses {required - passed}"


@pytest.mark.parametrize(("path", "name"), MODULE_CALLS, ids=lambda v: v.name if isinstance(v, Path) else v)
def test_module_scope_matches_its_target_scope(path: Path, name: str) -> None:
    call, target = _module_target(path, name)
    target_scope = target["globals"].get("scope", {}).get("value", "resourceGroup")
    scope: Any = call.get("scope")
    if target_scope == "subscription":
        assert scope["function"]["type"] == "subscription", f"{name} must be deployed to a subscription"
    else:
        assert target_scope == "resourceGroup"
        assert scope == "rg" or scope["function"]["type"] == "resource_group", f"{name} needs a resource group"


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: str(p.relative_to(INFRA)))
def test_module_output_references_exist(path: Path) -> None:
    template = parse(str(path.relative_to(INFRA)))
    modules = template.get("modules", {})
    for module_name, output in OUTPUT_REF_RE.findall(json.dumps(template)):
        assert module_name in modules, f"{path.name}: {module_name}.outputs.{output} names no module"
        _, target = _module_target(path, module_name)
        assert output in target["outputs"], f"{path.name}: {module_name} has no output {output}"


def test_main_is_subscription_scoped_and_creates_the_resource_group() -> None:
    main = parse("main.bicep")
    assert main["globals"]["scope"]["value"] == "subscription"
    groups = resources_of_type(main, "Microsoft.Resources/resourceGroups")
    assert list(groups) == ["rg"]
    outside_group = {"scopes", "remediationRole"}  # per watched subscription / first watched one
    for name, module in main["modules"].items():
        if name not in outside_group:
            assert body(module)["scope"] == "rg", f"module {name} must deploy into the amlguard group"
    assert body(main["modules"]["scopes"])["scope"]["function"]["type"] == "subscription"
    assert body(main["modules"]["remediationRole"])["scope"]["function"]["type"] == "subscription"


# --- Flex Consumption Function App -----------------------------------------------------------


def test_plan_is_flex_consumption() -> None:
    function = parse("modules/function.bicep")
    plan = body(function["resources"]["plan"])
    assert function["resources"]["plan"]["type"] == "Microsoft.Web/serverfarms"
    assert plan["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    assert plan["properties"]["reserved"] is True


def test_function_app_runs_python_311_from_an_identity_read_blob_container() -> None:
    function = parse("modules/function.bicep")
    site = body(function["resources"]["functionApp"])
    assert site["kind"] == "functionapp,linux"
    assert site["identity"]["type"] == "UserAssigned"
    assert site["properties"]["httpsOnly"] is True
    assert site["properties"]["siteConfig"]["minTlsVersion"] == "1.2"
    config = site["properties"]["functionAppConfig"]
    assert config["runtime"] == {"name": "python", "version": "3.11"}
    storage = config["deployment"]["storage"]
    assert storage["type"] == "blobContainer"
    assert storage["authentication"] == {
        "type": "UserAssignedIdentity",
        "userAssignedIdentityResourceId": "identityId",
    }
    assert set(config["scaleAndConcurrency"]) == {"maximumInstanceCount", "instanceMemoryMB"}
    assert decorator_args(function, "instanceMemoryMB", "allowed") == [2048, 4096]


def test_function_app_sets_no_property_flex_consumption_deprecates() -> None:
    site = body(parse("modules/function.bicep")["resources"]["functionApp"])
    used = set(site["properties"]) | set(site["properties"]["siteConfig"])
    assert not used & FLEX_DEPRECATED_SITE_PROPERTIES


def _app_settings() -> dict[str, Any]:
    """name -> value of every app setting: the platform pairs plus what main.bicep passes."""
    function = parse("modules/function.bicep")
    settings: dict[str, Any] = {}
    for pair in variable(function, "platformAppSettings"):
        assert set(pair) == {"name", "value"}
        assert pair["name"] not in settings, f"duplicate app setting {pair['name']}"
        settings[pair["name"]] = pair["value"]
    main_function = body(parse("main.bicep")["modules"]["function"])
    for name, value in main_function["params"]["amlguardSettings"].items():
        assert name not in settings, f"duplicate app setting {name}"
        settings[name] = value
    return settings


def test_site_app_settings_are_the_platform_pairs_plus_the_amlguard_object() -> None:
    function = parse("modules/function.bicep")
    site = body(function["resources"]["functionApp"])
    assert site["properties"]["siteConfig"]["appSettings"] == "appSettings"
    merged = variable(function, "appSettings")["function"]
    assert merged["type"] == "concat"
    assert list(merged["parameters"].values()) == ["platformAppSettings", "amlguardAppSettings"]
    # `[for setting in items(amlguardSettings): ...]`: one name/value pair per key.
    amlguard = variable(function, "amlguardAppSettings")
    assert amlguard["loop_type"] == {
        "type": "object",
        "detail": {"item_name": "setting", "object_name": "amlguardSettings"},
    }
    assert amlguard["config"] == {"name": "setting.key", "value": "setting.value"}


def test_app_settings_are_exactly_the_ones_the_app_reads() -> None:
    assert set(_app_settings()) == EXPECTED_APP_SETTINGS


def test_host_storage_is_identity_based() -> None:
    settings = _app_settings()
    assert "AzureWebJobsStorage" not in settings, "a connection string would carry an account key"
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    assert settings["AzureWebJobsStorage__clientId"] == "identityClientId"
    assert settings["AZURE_CLIENT_ID"] == "identityClientId"
    assert not set(settings) & FLEX_DEPRECATED_SETTINGS


def test_application_insights_ingestion_needs_the_identity() -> None:
    settings = _app_settings()
    assert settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"] == "Authorization=AAD;ClientId=${identityClientId}"
    monitoring = parse("modules/monitoring.bicep")
    insights = body(monitoring["resources"]["applicationInsights"])
    assert insights["properties"]["DisableLocalAuth"] is True
    assert insights["properties"]["WorkspaceResourceId"] == "logAnalytics.id"
    workspace = body(monitoring["resources"]["logAnalytics"])
    assert workspace["properties"]["features"]["disableLocalAuth"] is True


def test_amlguard_settings_values() -> None:
    main = parse("main.bicep")
    settings = _app_settings()
    assert settings["AMLGUARD_STATE_BACKEND"] == "table"
    assert settings["AMLGUARD_QUEUE_NAME"] == "queueName"
    assert variable(main, "queueName") == "amlguard-sweep"
    assert settings["AMLGUARD_STATE_TABLE_ENDPOINT"].startswith("https://${storage.outputs.storageAccountName}.table.")
    assert settings["AMLGUARD_SWEEP_SCHEDULE"] == "sweepSchedule"
    assert settings["AMLGUARD_MONITOR_SCHEDULE"] == "monitorSchedule"
    assert settings["AMLGUARD_ALERTS_SCHEDULE"] == "alertsSchedule"
    remediation = settings["AMLGUARD_REMEDIATION_ENABLED"]["operator"]
    assert remediation["type"] == "conditional"
    assert remediation["operands"] == {
        "condition": "enableRemediation",
        "true_value": "true",
        "false_value": "false",
    }
    assert param_default(main, "enableRemediation") is False


# --- secrets ---------------------------------------------------------------------------------

SECRET_PATTERNS = {
    "list*() call (listKeys, listSecrets, listConnectionStrings...)": re.compile(r"\blist[A-Z]\w*\s*\("),
    "storage account key": re.compile(r"AccountKey|accountKey|primaryKey|secondaryKey", re.IGNORECASE),
    "shared access signature": re.compile(r"SharedAccessSignature|sig=|SharedAccessKey", re.IGNORECASE),
    "storage connection string": re.compile(r"DefaultEndpointsProtocol", re.IGNORECASE),
    "function or host key": re.compile(r"listkeys|functionKeys|masterKey|systemKeys", re.IGNORECASE),
}


@pytest.mark.parametrize(
    "path", [*BICEP_FILES, INFRA / "main.parameters.json"], ids=lambda p: str(p.relative_to(INFRA))
)
def test_no_secret_or_key_appears_in_infra(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for what, pattern in SECRET_PATTERNS.items():
        match = pattern.search(text)
        assert match is None, f"{path.name}: {what}: {match.group(0) if match else ''!r}"
    assert "@secure()" not in text, f"{path.name}: amlguard infra takes no secret parameters"


def test_no_app_setting_carries_a_key() -> None:
    for name, value in _app_settings().items():
        if name == "APPLICATIONINSIGHTS_CONNECTION_STRING":
            # Names the ingestion endpoint; with local auth disabled it authorises nothing.
            assert value == "applicationInsights.properties.ConnectionString"
            continue
        assert "key" not in json.dumps(value).lower(), f"{name} = {value!r}"


# --- storage ---------------------------------------------------------------------------------


def test_storage_account_is_hardened() -> None:
    storage = parse("modules/storage.bicep")
    props = body(storage["resources"]["storage"])["properties"]
    assert props["supportsHttpsTrafficOnly"] is True
    assert props["minimumTlsVersion"] == "TLS1_2"
    assert props["allowBlobPublicAccess"] is False
    assert props["allowSharedKeyAccess"] is False
    assert props["defaultToOAuthAuthentication"] is True


def test_storage_account_name_is_valid_and_geo_redundant_by_default() -> None:
    main = parse("main.bicep")
    name = body(main["modules"]["storage"])["params"]["storageAccountName"]
    assert name == "stamlg${resourceToken}"
    token = variable(main, "resourceToken")["function"]
    assert token["type"] == "to_lower"  # uniqueString() gives 13 characters: 6 + 13 <= 24
    (argument,) = token["parameters"].values()
    assert argument["function"]["type"] == "unique_string"
    assert param_default(main, "storageSkuName") == "Standard_GRS"
    assert body(main["modules"]["storage"])["params"]["skuName"] == "storageSkuName"
    assert body(main["modules"]["function"])["params"]["zoneRedundant"] == "zoneRedundant"
    assert param_default(main, "zoneRedundant") is False


def test_storage_holds_queue_poison_queue_table_and_containers() -> None:
    storage = parse("modules/storage.bicep")
    queues = {body(r)["name"] for r in resources_of_type(
        storage, "Microsoft.Storage/storageAccounts/queueServices/queues").values()}
    assert queues == {"queueName", "${queueName}-poison", "wakeQueueName", "${wakeQueueName}-poison"}
    tables = resources_of_type(storage, "Microsoft.Storage/storageAccounts/tableServices/tables")
    assert [body(t)["name"] for t in tables.values()] == ["stateTableName"]
    containers = resources_of_type(storage, "Microsoft.Storage/storageAccounts/blobServices/containers")
    assert {body(c)["name"] for c in containers.values()} == {"deploymentContainerName", "deadLetterContainerName"}
    for container in containers.values():
        assert body(container)["properties"]["publicAccess"] == "None"
    main_storage = body(parse("main.bicep")["modules"]["storage"])["params"]
    assert main_storage["queueName"] == "queueName"  # amlguard-sweep, poison amlguard-sweep-poison
    assert main_storage["wakeQueueName"] == "wakeQueueName"  # amlguard-wake (functions/wake.py)
    assert variable(parse("main.bicep"), "wakeQueueName") == "amlguard-wake"
    assert main_storage["deadLetterContainerName"] == "deadLetterContainerName"


# --- role assignments ------------------------------------------------------------------------

# (module, resource, role GUID, scope, principal): every assignment the template makes inside
# the amlguard resource group.
APP_RBAC_EXPECTED = [
    ("appBlobOwner", STORAGE_BLOB_DATA_OWNER, "storage", "appPrincipalId"),
    ("appQueueContributor", STORAGE_QUEUE_DATA_CONTRIBUTOR, "storage", "appPrincipalId"),
    ("appTableContributor", STORAGE_TABLE_DATA_CONTRIBUTOR, "storage", "appPrincipalId"),
    ("appMetricsPublisher", MONITORING_METRICS_PUBLISHER, "applicationInsights", "appPrincipalId"),
    (
        "eventGridDeadLetterWriter",
        STORAGE_BLOB_DATA_CONTRIBUTOR,
        "storage::blobService::deadLetterContainer",
        "eventGridPrincipalId",
    ),
]


@pytest.mark.parametrize(("resource", "role", "scope", "principal"), APP_RBAC_EXPECTED)
def test_resource_group_role_assignment(resource: str, role: str, scope: str, principal: str) -> None:
    rbac = parse("modules/app-rbac.bicep")
    assignment = body(rbac["resources"][resource])
    assert role_guid(rbac, assignment["properties"]["roleDefinitionId"]) == role
    assert assignment["scope"] == scope
    assert assignment["properties"]["principalId"] == principal
    assert assignment["properties"]["principalType"] == "ServicePrincipal"


def test_resource_group_assignments_are_only_the_expected_ones() -> None:
    rbac = parse("modules/app-rbac.bicep")
    assignments = resources_of_type(rbac, "Microsoft.Authorization/roleAssignments")
    assert set(assignments) == {row[0] for row in APP_RBAC_EXPECTED}


def test_scope_gets_reader_monitoring_reader_and_log_analytics_reader() -> None:
    main = parse("main.bicep")
    assert variable(main, "readRoleIds") == ["readerRoleId", "monitoringReaderRoleId", "logAnalyticsReaderRoleId"]
    assert [variable(main, v) for v in variable(main, "readRoleIds")] == [
        READER,
        MONITORING_READER,
        LOG_ANALYTICS_READER,
    ]
    # Remediation adds the custom role, and only when enabled.
    scope_roles = variable(main, "scopeRoleIds")["operator"]
    assert scope_roles["type"] == "conditional"
    assert scope_roles["operands"]["condition"] == "enableRemediation"
    assert scope_roles["operands"]["false_value"] == "readRoleIds"
    added = scope_roles["operands"]["true_value"]["function"]
    assert added["type"] == "concat"
    assert list(added["parameters"].values()) == ["readRoleIds", ["remediationRoleGuid"]]
    scopes = body(main["modules"]["scopes"])
    assert scopes["params"]["roleDefinitionIds"] == "scopeRoleIds"
    assert scopes["params"]["principalId"] == "identity.outputs.appIdentityPrincipalId"


def test_scope_roles_land_on_the_subscription_or_the_resource_group() -> None:
    scope = parse("modules/scope.bicep")
    assert scope["globals"]["scope"]["value"] == "subscription"
    on_subscription = scope["resources"]["subscriptionAssignments"]
    assert condition(on_subscription) == "watchWholeSubscription"
    assert "scope" not in body(on_subscription)  # the module's subscription
    on_group = scope["modules"]["resourceGroupAssignments"]
    assert condition(on_group) == {"operator": {"type": "not", "operands": {"bool_value": "watchWholeSubscription"}}}
    group_rbac = parse("modules/scope-rbac-rg.bicep")
    assignment = body(group_rbac["resources"]["assignments"])
    assert "scope" not in assignment  # the resource group the module is deployed to
    assert assignment["properties"]["principalType"] == "ServicePrincipal"


def test_no_owner_contributor_or_other_broad_role_anywhere() -> None:
    for path in BICEP_FILES:
        text = path.read_text(encoding="utf-8")
        for guid, role in FORBIDDEN_ROLE_GUIDS.items():
            assert guid not in text.lower(), f"{path.name} references {role}"
        for match in GUID_RE.findall(text):
            assert match.lower() in ALLOWED_ROLE_GUIDS, f"{path.name}: unexpected GUID {match}"


def test_remediation_role_is_custom_conditional_and_exact() -> None:
    main = parse("main.bicep")
    module = main["modules"]["remediationRole"]
    assert condition(module) == "enableRemediation"
    params = body(module)["params"]
    assert params["actions"] == "remediationActions"
    assert params["assignableScopes"] == "remediationScopes"
    actions = variable(main, "remediationActions")
    assert actions == REMEDIATION_ACTIONS
    assert not any("*" in action for action in actions)
    assert not any(action.endswith(("/delete", "/action")) for action in actions)
    scopes = variable(main, "remediationScopes")
    assert scopes["loop_type"]["detail"]["array_name"] == "scopeSubscriptionIds"

    role_template = parse("modules/remediation-role.bicep")
    role = role_template["resources"]["remediationRole"]
    assert role["type"] == "Microsoft.Authorization/roleDefinitions"
    props = body(role)["properties"]
    assert props["type"] == "CustomRole"
    (permission,) = props["permissions"]
    assert permission == {"actions": "actions", "notActions": [], "dataActions": [], "notDataActions": []}
    assert props["assignableScopes"] == "assignableScopes"


# --- Event Grid ------------------------------------------------------------------------------


def test_system_topic_watches_subscription_or_resource_group() -> None:
    events = parse("modules/events.bicep")
    assert decorator_args(events, "topicType", "allowed") == [
        "Microsoft.Resources.Subscriptions",
        "Microsoft.Resources.ResourceGroups",
    ]
    topic = body(events["resources"]["systemTopic"])
    assert events["resources"]["systemTopic"]["type"] == "Microsoft.EventGrid/systemTopics"
    assert topic["location"] == "global"
    assert topic["properties"] == {"source": "source", "topicType": "topicType"}
    assert topic["identity"]["type"] == "UserAssigned"
    scope = parse("modules/scope.bicep")
    params = body(scope["modules"]["events"])["params"]
    assert params["topicType"]["operator"]["operands"] == {
        "condition": "watchWholeSubscription",
        "true_value": "Microsoft.Resources.Subscriptions",
        "false_value": "Microsoft.Resources.ResourceGroups",
    }


def test_event_subscription_targets_the_event_grid_trigger() -> None:
    events = parse("modules/events.bicep")
    subscription = events["resources"]["eventSubscription"]
    assert subscription["type"] == "Microsoft.EventGrid/systemTopics/eventSubscriptions"
    assert condition(subscription) == "deployEventSubscription"
    destination = body(subscription)["properties"]["destination"]
    assert destination["endpointType"] == "AzureFunction"
    assert destination["properties"]["resourceId"] == "${functionAppId}/functions/${functionName}"
    assert param_default(events, "functionName") == "on_resource_event"
    assert body(parse("main.bicep")["modules"]["scopes"])["params"]["functionAppId"] == (
        "function.outputs.functionAppId"
    )


def test_event_subscription_filters_azure_ml_writes_and_deletes() -> None:
    events = parse("modules/events.bicep")
    event_filter = body(events["resources"]["eventSubscription"])["properties"]["filter"]
    assert event_filter["includedEventTypes"] == [
        "Microsoft.Resources.ResourceWriteSuccess",
        "Microsoft.Resources.ResourceDeleteSuccess",
    ]
    (advanced,) = event_filter["advancedFilters"]
    assert advanced["operatorType"] == "StringIn"
    assert advanced["key"] == "data.operationName"
    values = variable(events, advanced["values"])
    assert set(values) == EXPECTED_OPERATIONS
    assert len(values) == len(set(values)) <= 25  # Event Grid's limit for one StringIn filter


def test_event_subscription_retries_then_dead_letters_with_identity() -> None:
    events = parse("modules/events.bicep")
    props = body(events["resources"]["eventSubscription"])["properties"]
    assert props["retryPolicy"] == {
        "maxDeliveryAttempts": "maxDeliveryAttempts",
        "eventTimeToLiveInMinutes": "eventTimeToLiveInMinutes",
    }
    assert (decorator_args(events, "maxDeliveryAttempts", "min_value"),
            decorator_args(events, "maxDeliveryAttempts", "max_value")) == (1, 30)
    assert (decorator_args(events, "eventTimeToLiveInMinutes", "min_value"),
            decorator_args(events, "eventTimeToLiveInMinutes", "max_value")) == (1, 1440)
    dead_letter = props["deadLetterWithResourceIdentity"]
    assert dead_letter["identity"] == {"type": "UserAssigned", "userAssignedIdentity": "eventGridIdentityId"}
    assert dead_letter["deadLetterDestination"] == {
        "endpointType": "StorageBlob",
        "properties": {
            "resourceId": "deadLetterStorageAccountId",
            "blobContainerName": "deadLetterContainerName",
        },
    }
    assert "deadLetterDestination" not in props, "key-based dead-lettering must not be configured"


# --- azd wiring and outputs ------------------------------------------------------------------


def test_main_outputs_what_a_user_needs() -> None:
    outputs = parse("main.bicep")["outputs"]
    for name in (
        "AZURE_RESOURCE_GROUP",
        "AZURE_FUNCTION_APP_NAME",
        "AZURE_FUNCTION_URL",
        "AMLGUARD_SYSTEM_TOPICS",
        "AMLGUARD_IDENTITY_CLIENT_ID",
        "AMLGUARD_IDENTITY_PRINCIPAL_ID",
        "AMLGUARD_DEADLETTER_CONTAINER",
        "AMLGUARD_REMEDIATION_ROLE_NAME",  # the rollback in docs/deployment.md needs it
    ):
        assert name in outputs, name
    assert outputs["AZURE_FUNCTION_URL"]["value"] == "https://${function.outputs.defaultHostName}/api"


def test_parameters_file_matches_main_bicep() -> None:
    parameters = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    declared = parse("main.bicep")["parameters"]
    # Every parameter is reachable through an azd env variable, with the Bicep default as fallback.
    assert set(parameters) == set(declared)
    env_ref = re.compile(r"^\$\{([A-Z][A-Z0-9_]*)(?:=(.*))?\}$")
    for name, entry in parameters.items():
        match = env_ref.match(entry["value"])
        assert match, f"{name}: {entry['value']!r} is not an azd ${{VAR=default}} reference"
        default = declared[name].get("default")
        if match.group(2) is not None and default is not None and not isinstance(default, dict):
            expected = str(default).lower() if isinstance(default, bool) else str(default)
            assert match.group(2) == expected, f"{name}: env default {match.group(2)!r} != Bicep {expected!r}"
    assert parameters["deployEventSubscription"]["value"] == "${AMLGUARD_DEPLOY_EVENT_SUBSCRIPTION=false}"
    assert parameters["enableRemediation"]["value"] == "${AMLGUARD_ENABLE_REMEDIATION=false}"


def test_azure_yaml_deploys_the_function_and_runs_the_event_hook() -> None:
    project = yaml.safe_load((REPO / "azure.yaml").read_text(encoding="utf-8"))
    assert project["infra"] == {"provider": "bicep", "path": "infra", "module": "main"}
    (name, service), = project["services"].items()
    assert service == {"project": ".", "language": "python", "host": "function"}
    # azd finds the app to deploy by the azd-service-name tag.
    site = body(parse("modules/function.bicep")["resources"]["functionApp"])
    assert site["tags"]["function"]["parameters"]["arg_2"] == {"'azd-service-name'": name}
    hook = project["hooks"]["postdeploy"]
    for platform in ("posix", "windows"):
        script = REPO / hook[platform]["run"]
        assert script.is_file(), script
        text = script.read_text(encoding="utf-8")
        assert "AMLGUARD_DEPLOY_EVENT_SUBSCRIPTION" in text
        assert "azd provision --no-prompt" in text
