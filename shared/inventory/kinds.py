"""The workspace's other resources — computes, registries, serverless endpoints, datastores and
environments: how each is recognised, how its ARM JSON becomes the CLI v2 YAML fields, what a
YAML file leaves to Azure, and which fields each kind has (the catalogue `policy validate` reads).

Sources of the field names, values and defaults: azure-ai-ml 1.35 marshmallow schemas and
entities (`azure/ai/ml/_schema/compute/*.py`, `entities/_compute/*.py`, `_schema/registry`,
`_schema/_datastore`, `_schema/assets/environment.py`, `entities/_autogen_entities` for
serverless endpoints) and the ARM REST shapes (azure-rest-api-specs
`Microsoft.MachineLearningServices/stable/2024-04-01`); docs/inventory.md lists them per kind.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from amlguard.inventory.values import bool_or_keep, camel_to_snake, enum_or_keep, normalize_enum
from amlguard.model import Kind, Resource
from amlguard.timeparse import seconds_or_none

__all__ = ["ARM_TYPES", "COMPUTE_TYPES", "DEFAULTS", "NEW_KINDS", "SCHEMAS", "arm_properties", "catalogue",
           "classify_shape", "compute_type_of", "diagnostic_settings", "link_workspaces", "normalize_yaml",
           "workspace_arm"]

NEW_KINDS = frozenset({Kind.COMPUTE.value, Kind.REGISTRY.value, Kind.SERVERLESS_ENDPOINT.value,
                       Kind.DATASTORE.value, Kind.ENVIRONMENT.value})

# `type:` of a compute YAML, or ARM `properties.computeType` (lower case) -> (YAML type, compute type)
COMPUTE_TYPES: dict[str, tuple[str, str]] = {
    "amlcompute": ("amlcompute", "cluster"), "computeinstance": ("computeinstance", "instance"),
    "kubernetes": ("kubernetes", "kubernetes"), "virtualmachine": ("virtualmachine", "virtual_machine"),
    "synapsespark": ("synapsespark", "synapse_spark"), "databricks": ("databricks", "databricks"),
    "hdinsight": ("hdinsight", "hdinsight"), "aks": ("aks", "aks"), "datafactory": ("datafactory", "data_factory"),
    "datalakeanalytics": ("datalakeanalytics", "data_lake_analytics"),
}
# datastore `type:` (YAML) <- ARM `properties.datastoreType`
_DATASTORE_TYPES = {"azureblob": "azure_blob", "azurefile": "azure_file", "azuredatalakegen1": "azure_data_lake_gen1",
                    "azuredatalakegen2": "azure_data_lake_gen2", "onelake": "one_lake"}

# $schema file stem (lower case) -> (kind, compute type)
SCHEMAS: dict[str, tuple[str, str | None]] = {
    "amlcompute": (Kind.COMPUTE.value, "cluster"), "computeinstance": (Kind.COMPUTE.value, "instance"),
    "kubernetescompute": (Kind.COMPUTE.value, "kubernetes"), "vmcompute": (Kind.COMPUTE.value, "virtual_machine"),
    "synapsesparkcompute": (Kind.COMPUTE.value, "synapse_spark"),
    "registry": (Kind.REGISTRY.value, None), "environment": (Kind.ENVIRONMENT.value, None),
    "serverlessendpoint": (Kind.SERVERLESS_ENDPOINT.value, None),
    "azureblob": (Kind.DATASTORE.value, None), "azurefile": (Kind.DATASTORE.value, None),
    "azuredatalakegen1": (Kind.DATASTORE.value, None), "azuredatalakegen2": (Kind.DATASTORE.value, None),
    "onelakedatastore": (Kind.DATASTORE.value, None),
}

_ML = "microsoft.machinelearningservices"
ARM_TYPES: dict[str, str] = {  # ARM type (lower case) -> kind
    f"{_ML}/workspaces/computes": Kind.COMPUTE.value,
    f"{_ML}/registries": Kind.REGISTRY.value,
    f"{_ML}/workspaces/serverlessendpoints": Kind.SERVERLESS_ENDPOINT.value,
    f"{_ML}/workspaces/datastores": Kind.DATASTORE.value,
    f"{_ML}/workspaces/environments/versions": Kind.ENVIRONMENT.value,
    f"{_ML}/registries/environments/versions": Kind.ENVIRONMENT.value,
}

# Azure's value when the source leaves a field out: (kind, compute type) -> ((path, value), ...)
DEFAULTS: dict[tuple[str, str | None], tuple[tuple[str, Any], ...]] = {
    # AmlCompute / ComputeInstance entities: enable_node_public_ip=True, min_instances=0,
    # idle_time_before_scale_down=120; ARM disableLocalAuth absent is not true (Azure Policy
    # e96a9a5f flags it), so local auth stays on
    (Kind.COMPUTE.value, "cluster"): (("enable_node_public_ip", True), ("min_instances", 0),
                                      ("idle_time_before_scale_down", 120), ("disable_local_auth", False)),
    (Kind.COMPUTE.value, "instance"): (("enable_node_public_ip", True), ("disable_local_auth", False)),
    # RegistrySchema / REST Registry: public access unless disabled
    (Kind.REGISTRY.value, None): (("public_network_access", "enabled"),),
    # ServerlessEndpoint entity: auth_mode defaults to key
    (Kind.SERVERLESS_ENDPOINT.value, None): (("auth_mode", "key"),),
    # no credentials: the datastore is identity-based (the CLI's NoneCredentialConfiguration)
    (Kind.DATASTORE.value, None): (("credentials.type", "none"),),
}

_SECRETS = frozenset({"adminuserpassword", "password", "privatekeydata", "databricksaccesstoken", "accountkey",
                      "sastoken", "clientsecret", "certificate", "secrets", "account_key", "sas_token",
                      "client_secret", "admin_password"})


# ------------------------------------------------------------------------- recognition
def compute_type_of(value: Any) -> str | None:
    """`cluster` for `type: amlcompute` or ARM `computeType: AmlCompute`, and so on; None if unknown."""
    if not isinstance(value, str):
        return None
    known = COMPUTE_TYPES.get(value.strip().replace("_", "").replace("-", "").lower())
    return known[1] if known else None


def classify_shape(doc: Mapping[str, Any]) -> tuple[str, str | None] | None:
    """(kind, compute type) of a named YAML document without `$schema` that is a compute
    (`type: amlcompute` ...), a datastore (`type: azure_blob` ...), a registry
    (`replication_locations`), a serverless endpoint (`model_id`) or an environment (`image` or
    `build`, no `type`); else None."""
    dtype = doc.get("type")
    if isinstance(dtype, str):
        ctype = compute_type_of(dtype)
        if ctype == "kubernetes" and not ({"resource_id", "namespace"} & doc.keys()):
            return None  # `type: kubernetes` alone is a deployment's; a Kubernetes compute names its cluster
        if ctype is not None:
            return Kind.COMPUTE.value, ctype
        if normalize_enum(dtype) in _DATASTORE_TYPES.values():
            return Kind.DATASTORE.value, None
        return None
    if isinstance(doc.get("replication_locations"), list):
        return Kind.REGISTRY.value, None
    if isinstance(doc.get("model_id"), str):  # ServerlessEndpoint: name, model_id, auth_mode
        return Kind.SERVERLESS_ENDPOINT.value, None
    if ("image" in doc or isinstance(doc.get("build"), dict)) and not ({"command", "dependencies"} & doc.keys()):
        return Kind.ENVIRONMENT.value, None
    return None


# ------------------------------------------------------------------------- YAML-shaped fields
def normalize_yaml(kind: str, doc: dict[str, Any], lines: dict[str, int], compute_type: str | None, *,
                   from_arm: bool = False) -> None:
    """Clean the values of a YAML-shaped document of a new kind in place (enums lower-case snake,
    booleans, durations in the YAML unit) and, for YAML, record what `az ml ... create` derives
    from it (ARM says it itself)."""
    if kind == Kind.COMPUTE.value:
        _compute_yaml(doc, lines, compute_type, derive=not from_arm)
    elif kind == Kind.DATASTORE.value:
        _datastore_credentials(doc)
    for key in ("public_network_access", "auth_mode", "tier", "provisioning_state", "os_type", "type"):
        if key in doc and not (kind == Kind.COMPUTE.value and key == "type"):
            doc[key] = enum_or_keep(doc[key])
    identity = doc.get("identity")
    if isinstance(identity, dict) and "type" in identity:
        identity["type"] = enum_or_keep(identity["type"])
    safety = doc.get("content_safety")
    if isinstance(safety, dict) and "content_safety_status" in safety:
        safety["content_safety_status"] = enum_or_keep(safety["content_safety_status"])


_COMPUTE_BOOLS = ("enable_node_public_ip", "ssh_public_access_enabled", "disable_local_auth", "enable_sso",
                  "enable_root_access", "enable_os_patching", "release_quota_on_stop", "isolated_network")


def _compute_yaml(doc: dict[str, Any], lines: dict[str, int], compute_type: str | None, *, derive: bool) -> None:
    if isinstance(doc.get("type"), str):
        known = COMPUTE_TYPES.get(doc["type"].strip().replace("_", "").lower())
        doc["type"] = known[0] if known else doc["type"].strip().lower()
    for key in _COMPUTE_BOOLS:
        if key in doc:
            doc[key] = bool_or_keep(doc[key])
    ssh = doc.get("ssh_settings")
    if isinstance(ssh, dict) and ssh.get("admin_password"):
        ssh["admin_password"] = "<redacted>"  # its presence matters (an admin login), never its value
    shutdown = doc.get("idle_time_before_shutdown")
    if "idle_time_before_shutdown_minutes" not in doc and isinstance(shutdown, str):
        seconds = seconds_or_none(shutdown, "wire")  # the deprecated ISO 8601 form, "PT30M"
        if seconds is not None:
            doc["idle_time_before_shutdown_minutes"] = int(seconds // 60)
            if "idle_time_before_shutdown" in lines:
                lines["idle_time_before_shutdown_minutes"] = lines["idle_time_before_shutdown"]
    if "disable_local_auth" in doc or not derive:
        return
    # The YAML has no disableLocalAuth: `az ml compute create` sends it from the SSH settings
    # (AmlCompute._to_rest_object: not ssh_settings; ComputeInstance: not ssh_public_access_enabled
    # once SSH is configured, else true). Record what it sends, on the line that decides it.
    if compute_type == "cluster":
        doc["disable_local_auth"] = not ssh
        where = "ssh_settings"
    elif compute_type == "instance":
        public = doc.get("ssh_public_access_enabled")
        doc["disable_local_auth"] = True if public is None and ssh is None else public is not True
        where = "ssh_public_access_enabled" if "ssh_public_access_enabled" in doc else "ssh_settings"
    else:
        return
    if where in lines:
        lines["disable_local_auth"] = lines[where]


def _datastore_credentials(doc: dict[str, Any]) -> None:
    """`credentials` as its kind (account_key, sas, service_principal, certificate, none) plus
    the non-secret parts; secret values are dropped unread."""
    creds = doc.get("credentials")
    if not isinstance(creds, dict):
        return
    keys = {str(k).lower() for k in creds}
    if "type" in creds or "credentials_type" in creds:
        kind = normalize_enum(creds.get("type", creds.get("credentials_type")))
    elif "account_key" in keys:
        kind = "account_key"
    elif "sas_token" in keys:
        kind = "sas"
    elif "certificate" in keys or "thumbprint" in keys:
        kind = "certificate"
    elif "client_secret" in keys or "client_id" in keys:
        kind = "service_principal"
    else:
        kind = "none" if not creds else "unknown"
    doc["credentials"] = {"type": kind, **{k: v for k, v in creds.items()
                                           if str(k).lower() not in _SECRETS and k not in ("type", "credentials_type")}}


# ------------------------------------------------------------------------- ARM properties
class _Converter(Protocol):
    """What arm.py's converter offers: canonical lines of raw paths, snake_casing with lines."""

    lines: dict[str, int]

    def mark(self, canon: str, raw: str) -> None: ...
    def generic(self, value: Any, raw: str, canon: str, *, opaque: bool = False) -> Any: ...


def _seconds(value: Any) -> Any:
    parsed = seconds_or_none(value, "wire")
    return value if parsed is None else int(parsed) if parsed == int(parsed) else parsed


def _public_access(value: Any) -> Any:
    """remoteLoginPortPublicAccess / sshPublicAccess as `ssh_public_access_enabled` (NotSpecified: absent)."""
    text = normalize_enum(value)
    return {"enabled": True, "disabled": False}.get(text, _ABSENT if text == "not_specified" else value)


_ABSENT: Any = object()
_Rename = tuple[str, Callable[[Any], Any] | None]

# ARM `properties.properties` of a compute (lower-case key) -> (canonical path, value conversion)
_COMPUTE_INNER: dict[str, _Rename] = {
    "vmsize": ("size", None), "virtualmachinesize": ("size", None), "vmpriority": ("tier", enum_or_keep),
    "remoteloginportpublicaccess": ("ssh_public_access_enabled", _public_access),
    "enablenodepublicip": ("enable_node_public_ip", bool_or_keep),
    "idletimebeforeshutdown": ("idle_time_before_shutdown_minutes",
                               lambda v: (lambda s: v if s is None else int(s // 60))(seconds_or_none(v, "wire"))),
    "subnet": ("network_settings.subnet", lambda v: v.get("id", v) if isinstance(v, dict) else v),
    "osimagemetadata": ("os_image_metadata", None), "customservices": ("custom_applications", None),
}
_COMPUTE_NESTED: dict[str, dict[str, _Rename]] = {
    "scalesettings": {"minnodecount": ("min_instances", None), "maxnodecount": ("max_instances", None),
                      "nodeidletimebeforescaledown": ("idle_time_before_scale_down", _seconds)},
    "sshsettings": {"sshpublicaccess": ("ssh_public_access_enabled", _public_access),
                    "adminpublickey": ("ssh_settings.ssh_key_value", None),
                    "adminusername": ("ssh_settings.admin_username", None), "sshport": ("ssh_settings.ssh_port", None)},
    "useraccountcredentials": {"adminusername": ("ssh_settings.admin_username", None),
                               "adminusersshpublickey": ("ssh_settings.ssh_key_value", None)},
    "administratoraccount": {"username": ("ssh_settings.admin_username", None),
                             "publickeydata": ("ssh_settings.ssh_key_value", None)},
    "personalcomputeinstancesettings": {"assigneduser": ("create_on_behalf_of", lambda v: _assigned_user(v))},
}


def _assigned_user(value: Any) -> Any:
    """personalComputeInstanceSettings.assignedUser {objectId, tenantId} as the YAML's
    create_on_behalf_of {user_object_id, user_tenant_id}."""
    if not isinstance(value, dict):
        return value
    return {f"user_{camel_to_snake(str(k))}": v for k, v in value.items()}
# ARM `properties` of each kind (lower-case key) -> canonical path
_TOP: dict[str, dict[str, _Rename]] = {
    Kind.COMPUTE.value: {"computelocation": ("location", None), "resourceid": ("resource_id", None),
                         "disablelocalauth": ("disable_local_auth", bool_or_keep)},
    Kind.REGISTRY.value: {"regiondetails": ("replication_locations", None),
                          "registryprivateendpointconnections": ("private_endpoint_connections", None)},
    Kind.SERVERLESS_ENDPOINT.value: {"modelsettings": ("model_id", lambda v: next(
        (x for k, x in v.items() if str(k).lower() == "modelid"), v) if isinstance(v, dict) else v)},
    Kind.DATASTORE.value: {"datastoretype": ("type", lambda v: _DATASTORE_TYPES.get(normalize_enum(v).replace("_", ""),
                                                                                   normalize_enum(v)))},
    Kind.ENVIRONMENT.value: {"condafile": ("conda_file", None)},
}


def _snake(value: Any) -> Any:
    if isinstance(value, dict):
        return {camel_to_snake(str(k)): _snake(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_snake(v) for v in value]
    return value


def _set(out: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    for part in parents:
        child = out.get(part)
        if not isinstance(child, dict):
            child = out[part] = {}
        out = child
    out[leaf] = value


def _take(conv: _Converter, out: dict[str, Any], key: str, value: Any, raw: str, table: Mapping[str, _Rename],
          *, nested: bool = False) -> None:
    """One ARM key into `out`: renamed by `table`, flattened when it is one of the compute blocks
    the YAML spreads over several fields, else snake_cased; secrets are skipped unread. Inside
    such a block (`nested`) only the keys the table names are read."""
    low = key.lower()
    if low in _SECRETS:
        return
    if low in table:
        path, convert = table[low]
        value = convert(value) if convert is not None else conv.generic(value, raw, path)
        if value is not _ABSENT:
            _set(out, path, value)
            conv.mark(path, raw)
            if nested and path not in conv.lines:  # the block came whole from a variable: its line
                conv.mark(path, raw.rpartition(".")[0])
    elif not nested and table is _COMPUTE_INNER and low in _COMPUTE_NESTED and isinstance(value, dict):
        for inner, item in value.items():
            if isinstance(inner, str):
                _take(conv, out, inner, item, f"{raw}.{inner}", _COMPUTE_NESTED[low], nested=True)
    elif not nested:
        name = camel_to_snake(key)
        out[name] = conv.generic(value, raw, name)
        conv.mark(name, raw)


def arm_properties(kind: str, conv: _Converter, fields: dict[str, Any], props: Mapping[str, Any]) -> str | None:
    """Put an ARM object's `properties` of a new kind into `fields` as CLI v2 YAML names (lines
    carried over through `conv`); returns the compute type (computes) or None."""
    table = _TOP.get(kind, {})
    compute_type = None
    for key, value in props.items():
        if not isinstance(key, str):
            continue
        low, raw = key.lower(), f"properties.{key}"
        if kind == Kind.COMPUTE.value and low == "computetype":
            known = COMPUTE_TYPES.get(str(value).lower()) if isinstance(value, str) else None
            fields["type"] = known[0] if known else value
            compute_type = known[1] if known else None
            conv.mark("type", raw)
        elif kind == Kind.COMPUTE.value and low == "properties" and isinstance(value, dict):
            for inner, item in value.items():
                if isinstance(inner, str):
                    _take(conv, fields, inner, item, f"{raw}.{inner}", _COMPUTE_INNER)
        elif kind == Kind.DATASTORE.value and low == "credentials" and isinstance(value, dict):
            creds = {("type" if str(k).lower() == "credentialstype" else camel_to_snake(str(k))): v
                     for k, v in value.items() if str(k).lower() not in _SECRETS}
            fields["credentials"] = creds
            conv.mark("credentials", raw)
            for k in value:
                name = "type" if str(k).lower() == "credentialstype" else camel_to_snake(str(k))
                conv.mark(f"credentials.{name}", f"{raw}.{k}")
        elif kind == Kind.SERVERLESS_ENDPOINT.value and low == "contentsafety" and isinstance(value, dict):
            # the REST examples spell it contentsafetyStatus; the spec contentSafetyStatus
            fields["content_safety"] = {("content_safety_status" if str(k).lower() == "contentsafetystatus"
                                         else camel_to_snake(str(k))): v for k, v in value.items()}
            conv.mark("content_safety", raw)
            for k in value:
                if str(k).lower() == "contentsafetystatus":
                    conv.mark("content_safety.content_safety_status", f"{raw}.{k}")
        else:
            _take(conv, fields, key, value, raw, table)
    if kind == Kind.ENVIRONMENT.value and isinstance(fields.get("build"), dict):
        build = fields["build"]
        if "context_uri" in build:  # BuildContext.contextUri is the YAML's build.path
            build["path"] = build.pop("context_uri")
    if kind == Kind.SERVERLESS_ENDPOINT.value and isinstance(fields.get("auth_mode"), str):
        fields["auth_mode"] = normalize_enum(fields["auth_mode"])  # Key / AAD / KeyAndAAD
    if kind == Kind.REGISTRY.value and isinstance(fields.get("private_endpoint_connections"), list):
        # flattened and named as a workspace's are (registryPrivateLinkServiceConnectionState: its state)
        for conn in fields["private_endpoint_connections"]:
            inner = conn.pop("properties", None) if isinstance(conn, dict) else None
            if isinstance(inner, dict):
                for key, value in _snake(inner).items():
                    conn[key.removeprefix("registry_")] = value
            state = conn.get("private_link_service_connection_state") if isinstance(conn, dict) else None
            if isinstance(state, dict) and "status" in state:
                state["status"] = enum_or_keep(state["status"])
    return compute_type


def workspace_arm(fields: dict[str, Any], lines: dict[str, int]) -> None:
    """A workspace's ARM names that its YAML spells differently: `encryption` (status and key
    vault properties) is the YAML's `customer_managed_key` {key_vault, key_uri} when enabled;
    `serverlessComputeSettings` is `serverless_compute` {custom_subnet, no_public_ip}."""
    encryption = fields.get("encryption")
    if isinstance(encryption, dict):
        key = encryption.get("key_vault_properties")
        if normalize_enum(encryption.get("status")) == "enabled" and isinstance(key, dict):
            fields["customer_managed_key"] = {"key_vault": key.get("key_vault_arm_id"),
                                              "key_uri": key.get("key_identifier")}
            for canon, raw in (("customer_managed_key", "encryption"),
                               ("customer_managed_key.key_vault", "encryption.key_vault_properties.key_vault_arm_id"),
                               ("customer_managed_key.key_uri", "encryption.key_vault_properties.key_identifier")):
                if raw in lines:
                    lines[canon] = lines[raw]
    serverless = fields.pop("serverless_compute_settings", None)
    if isinstance(serverless, dict):
        fields["serverless_compute"] = {k.removeprefix("serverless_compute_"): v for k, v in serverless.items()}
        if "serverless_compute_settings" in lines:
            lines["serverless_compute"] = lines["serverless_compute_settings"]


def diagnostic_settings(settings: list[Any]) -> list[dict[str, Any]]:
    """ARM diagnostic settings (Microsoft.Insights/diagnosticSettings) as what the rules read:
    name, the enabled log categories and category groups, the enabled metrics, where they go."""
    out = []
    for setting in settings:
        if not isinstance(setting, dict):
            continue
        props: dict[str, Any] = setting["properties"] if isinstance(setting.get("properties"), dict) else {}

        def enabled(entries: Any) -> list[str]:
            names = ((e.get("category") or e.get("categoryGroup"), e.get("enabled")) for e in entries or []
                     if isinstance(e, dict))
            return [str(name) for name, on in names if name and on is True]

        out.append({"name": setting.get("name"), "enabled_logs": enabled(props.get("logs")),
                    "enabled_metrics": enabled(props.get("metrics")),
                    "destinations": {camel_to_snake(k): v for k, v in props.items()
                                     if k in ("workspaceId", "storageAccountId", "eventHubAuthorizationRuleId",
                                              "marketplacePartnerId") and v}})
    return out


# ------------------------------------------------------------------------- across resources
def link_workspaces(resources: list[Resource]) -> None:
    """Give each compute read with its workspace `workspace_managed_network`: the workspace's
    managed network isolation mode (a compute in a managed network needs no subnet of its own).
    A compute whose workspace was not read keeps the field unset."""
    modes: dict[tuple[str, str | None, str | None], Any] = {}
    for res in resources:
        if res.kind == Kind.WORKSPACE:
            mode = res.get("managed_network.isolation_mode")
            for key in _workspace_keys(res.name, res.subscription_id, res.resource_group):
                modes.setdefault(key, mode)
    if not modes:
        return
    for res in resources:
        if res.kind == Kind.COMPUTE and res.workspace and "workspace_managed_network" not in res.fields:
            key = (res.workspace.lower(), (res.subscription_id or "").lower() or None,
                   (res.resource_group or "").lower() or None)
            if key in modes and modes[key] is not None:
                res.fields["workspace_managed_network"] = modes[key]


def _workspace_keys(name: str, subscription: str | None, group: str | None) -> list[tuple[str, str | None, str | None]]:
    """A workspace is found by name alone, or with its subscription and group when the compute knows them."""
    sub, rg = (subscription or "").lower() or None, (group or "").lower() or None
    keys: list[tuple[str, str | None, str | None]] = [(name.lower(), None, None)]
    if sub and rg:
        keys.append((name.lower(), sub, rg))
    return keys


# ------------------------------------------------------------------------- the catalogue
# Fields of each new kind a rule may name (top level; nested paths below a listed object are free):
# the YAML schema's fields plus what the ARM shape adds (docs/inventory.md).
_CATALOGUE: dict[str, frozenset[str]] = {
    Kind.COMPUTE.value: frozenset({
        "name", "id", "type", "description", "location", "tags", "identity", "size", "tier", "min_instances",
        "max_instances", "idle_time_before_scale_down", "ssh_public_access_enabled", "ssh_settings",
        "network_settings", "enable_node_public_ip", "idle_time_before_shutdown",
        "idle_time_before_shutdown_minutes", "schedules", "os_image_metadata", "resource_id", "namespace",
        "disable_local_auth", "enable_sso", "enable_root_access", "enable_os_patching", "release_quota_on_stop",
        "custom_applications", "setup_scripts", "create_on_behalf_of", "isolated_network", "provisioning_state",
        "provisioning_errors", "state", "created_on", "modified_on", "is_attached_compute", "os_type",
        "workspace_managed_network", "properties", "system_data", "sku"}),
    Kind.REGISTRY.value: frozenset({
        "name", "id", "description", "tags", "location", "public_network_access", "replication_locations",
        "intellectual_property", "container_registry", "identity", "kind", "sku", "managed_resource_group",
        "mlflow_registry_uri", "discovery_url", "private_endpoint_connections", "system_data"}),
    Kind.SERVERLESS_ENDPOINT.value: frozenset({
        "name", "id", "description", "tags", "location", "auth_mode", "model_id", "content_safety",
        "provisioning_state", "scoring_uri", "headers", "properties", "offer", "inference_endpoint",
        "endpoint_state", "capacity_reservation", "identity", "kind", "sku", "system_data"}),
    Kind.DATASTORE.value: frozenset({
        "name", "id", "description", "tags", "type", "account_name", "container_name", "file_share_name",
        "filesystem", "store_name", "endpoint", "protocol", "credentials", "one_lake_workspace_name", "artifact",
        "service_data_access_auth_identity", "is_default", "properties", "resource_group", "subscription_id",
        "system_data"}),
    Kind.ENVIRONMENT.value: frozenset({
        "name", "id", "version", "description", "tags", "image", "conda_file", "build", "inference_config",
        "os_type", "properties", "datastore", "auto_rebuild", "is_archived", "is_anonymous", "environment_type",
        "stage", "intellectual_property", "system_data"}),
}


def catalogue() -> dict[str, frozenset[str]]:
    """kind -> the top-level fields a resource of that kind can have (new kinds)."""
    return dict(_CATALOGUE)

