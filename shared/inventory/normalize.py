"""Turn Azure ML YAML, `az ml ... show` JSON and ARM / Resource Graph JSON into one `Resource`.

Canonical field names are the Azure ML CLI v2 YAML names (snake_case); enum values are
lower-case snake (`Disabled`, `PublicNetworkAccessType.DISABLED` -> `disabled`, `AADToken` ->
`aad_token`); ARM durations become numbers in the YAML unit (ms for request settings, seconds
elsewhere). Every inventory (files, live ARM, Resource Graph) goes through this module, so the
policy engine sees one shape whatever the source. No azure-ai-ml import on this path.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from amlguard.model import NO_PATHS, Kind, Resource

__all__ = [
    "WorkspaceContext",
    "apply_defaults",
    "arm_id",
    "assign_id",
    "camel_to_snake",
    "classify_document",
    "normalize_enum",
    "parse_arm_id",
    "parse_duration",
    "resource_from_arm",
    "resource_from_yaml",
]

_PROVIDER = "microsoft.machinelearningservices"
_KIND_VALUES = frozenset(k.value for k in Kind)

# ------------------------------------------------------------------------------------ enums
_CAMEL_ACRONYM = re.compile(r"([A-Z]+)([A-Z][a-z])")
_CAMEL_WORD = re.compile(r"([a-z0-9])([A-Z])")


@lru_cache(maxsize=4096)
def camel_to_snake(name: str) -> str:
    """`publicNetworkAccess` -> `public_network_access`, `AADToken` -> `aad_token`."""
    if name.islower() or not any(c.isupper() for c in name):
        return name
    return _CAMEL_WORD.sub(r"\1_\2", _CAMEL_ACRONYM.sub(r"\1_\2", name)).lower()


@lru_cache(maxsize=2048)
def _enum_text(text: str) -> str:
    text = text.strip()
    if "," in text:  # "SystemAssigned,UserAssigned" (ManagedServiceIdentityType)
        return ",".join(_enum_text(part) for part in text.split(",") if part.strip())
    if "." in text:
        # str() / f-string of a str Enum in Python 3.11 gives "PublicNetworkAccessType.DISABLED"
        head, _, tail = text.rpartition(".")
        if head[:1].isupper() and head.replace(".", "").isidentifier() and tail.isidentifier():
            text = tail
    text = text.replace("-", "_").replace(" ", "_")
    if text.isupper() or text.islower():
        return text.lower()
    return camel_to_snake(text)


def normalize_enum(value: Any) -> str:
    """One spelling for an enum value from any source: lower-case snake.

    `Disabled`, `disabled`, `DISABLED`, `PublicNetworkAccessType.DISABLED` and the enum member
    itself all give `disabled`; `AADToken` / `aad_token` give `aad_token`;
    `AllowOnlyApprovedOutbound` gives `allow_only_approved_outbound`.
    """
    if isinstance(value, enum.Enum):
        value = value.value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if not isinstance(value, str):
        return str(value).lower()
    return _enum_text(value)


def _enum_or_keep(value: Any) -> Any:
    """Normalise strings and enum members; leave other values (wrong types) for rules to see."""
    if isinstance(value, (str, enum.Enum)):
        return normalize_enum(value)
    return value


_TRUE = {"true": True, "false": False, "yes": True, "no": False, "enabled": True, "disabled": False}


def _bool_or_keep(value: Any) -> Any:
    if isinstance(value, str):
        return _TRUE.get(value.strip().lower(), value)
    return value


# -------------------------------------------------------------------------------- durations
_ISO_DURATION = re.compile(
    r"^\s*(-)?P(?:(\d+(?:\.\d+)?)W)?(?:(\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?\s*$",
    re.IGNORECASE,
)
_TIMESPAN = re.compile(r"^\s*(-)?(?:(\d+)\.)?(\d+):(\d+):(\d+(?:\.\d+)?)\s*$")  # .NET "1.02:03:04.5"


def parse_duration(value: Any) -> float | None:
    """Seconds in an ISO-8601 duration (`PT5M`, `PT0.5S`, `P1DT2H`) or a .NET TimeSpan
    (`00:00:05`); numbers pass through as seconds; None when unreadable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if not isinstance(value, str):
        return None
    match = _ISO_DURATION.match(value)
    if match and any(match.groups()[1:]):
        sign, weeks, days, hours, minutes, seconds = match.groups()
        total = (float(weeks or 0) * 604800 + float(days or 0) * 86400 + float(hours or 0) * 3600
                 + float(minutes or 0) * 60 + float(seconds or 0))
        return -total if sign else total
    match = _TIMESPAN.match(value)
    if match:
        sign, days, hours, minutes, seconds = match.groups()
        total = int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + float(seconds)
        return -total if sign else total
    return None


def _number(value: float) -> int | float:
    return int(value) if value == int(value) else value


def _seconds(value: Any) -> Any:
    parsed = parse_duration(value)
    return value if parsed is None else _number(parsed)


def _millis(value: Any) -> Any:
    parsed = parse_duration(value)
    return value if parsed is None else _number(round(parsed * 1000, 3))


# -------------------------------------------------------------------------------------- ids
_ARM_ID = re.compile(
    r"^/?subscriptions/(?P<subscription>[^/]+)"
    r"(?:/resourcegroups/(?P<resource_group>[^/]+)"
    r"(?:/providers/microsoft\.machinelearningservices/workspaces/(?P<workspace>[^/]+)"
    r"(?:/(?P<etype>onlineendpoints|batchendpoints)/(?P<endpoint>[^/]+)"
    r"(?:/deployments/(?P<deployment>[^/]+))?)?)?)?(?P<rest>/.*)?$",
    re.IGNORECASE,
)

_KIND_SEGMENT = {
    ("onlineendpoints", False): Kind.ONLINE_ENDPOINT.value,
    ("onlineendpoints", True): Kind.ONLINE_DEPLOYMENT.value,
    ("batchendpoints", False): Kind.BATCH_ENDPOINT.value,
    ("batchendpoints", True): Kind.BATCH_DEPLOYMENT.value,
}


def parse_arm_id(resource_id: str) -> dict[str, str | None]:
    """Split an Azure ML ARM id into its parts, case-insensitively; never raises.

    Returns `subscription`, `resource_group`, `workspace`, `endpoint`, `deployment`, `name` (the
    last Azure ML name) and `kind` (a Kind value, or None when the id is not exactly an Azure ML
    workspace / endpoint / deployment, e.g. a compute or a sub-resource path). Parts that are
    absent are None. ARM events spell `resourcegroups` in lower case; that is accepted.
    """
    parts: dict[str, str | None] = dict.fromkeys(
        ("subscription", "resource_group", "workspace", "endpoint", "deployment", "name", "kind"))
    if not isinstance(resource_id, str):
        return parts
    match = _ARM_ID.match(resource_id.strip().rstrip("/"))
    if not match:
        return parts
    for key in ("subscription", "resource_group", "workspace", "endpoint", "deployment"):
        parts[key] = match.group(key)
    if match.group("rest"):
        return parts  # something below or beside what we audit: parts known, no kind
    if parts["endpoint"]:
        etype = (match.group("etype") or "").lower()
        parts["kind"] = _KIND_SEGMENT[(etype, parts["deployment"] is not None)]
        parts["name"] = parts["deployment"] or parts["endpoint"]
    elif parts["workspace"]:
        parts["kind"] = Kind.WORKSPACE.value
        parts["name"] = parts["workspace"]
    return parts


def arm_id(subscription: str, resource_group: str, workspace: str, *, kind: str = "workspace",
           endpoint: str | None = None, deployment: str | None = None) -> str:
    """The ARM id of an Azure ML workspace, endpoint or deployment (azure-facts §2.1)."""
    base = (f"/subscriptions/{subscription}/resourceGroups/{resource_group}"
            f"/providers/Microsoft.MachineLearningServices/workspaces/{workspace}")
    if kind == Kind.WORKSPACE.value:
        return base
    segment = "onlineEndpoints" if kind.startswith("online") else "batchEndpoints"
    if not endpoint:
        raise ValueError(f"an ARM id of a {kind} needs the endpoint name")
    base = f"{base}/{segment}/{endpoint}"
    if kind.endswith("_endpoint"):
        return base
    if not deployment:
        raise ValueError(f"an ARM id of a {kind} needs the deployment name")
    return f"{base}/deployments/{deployment}"


@dataclass(slots=True, frozen=True)
class WorkspaceContext:
    """Where a file's resources live when the file does not say (Azure ML `config.json`)."""

    subscription_id: str | None = None
    resource_group: str | None = None
    workspace: str | None = None

    @classmethod
    def of(cls, value: WorkspaceContext | Mapping[str, Any] | None) -> WorkspaceContext | None:
        """Accept a context, or a mapping shaped like Azure ML's config.json, or None."""
        if value is None or isinstance(value, WorkspaceContext):
            return value
        if not isinstance(value, Mapping):
            return None

        def text(*keys: str) -> str | None:
            for key in keys:
                item = value.get(key)
                if isinstance(item, str) and item.strip():
                    return item.strip()
            return None

        return cls(text("subscription_id", "subscriptionId", "subscription"),
                   text("resource_group", "resourceGroup", "resource_group_name"),
                   text("workspace_name", "workspaceName", "workspace"))


# ----------------------------------------------------------------------------- recognition
_SCHEMAS: dict[str, tuple[str, str | None, str | None]] = {
    # schema file stem (lower case) -> (kind, compute type, batch deployment type)
    "managedonlineendpoint": (Kind.ONLINE_ENDPOINT.value, "managed", None),
    "kubernetesonlineendpoint": (Kind.ONLINE_ENDPOINT.value, "kubernetes", None),
    "managedonlinedeployment": (Kind.ONLINE_DEPLOYMENT.value, "managed", None),
    "kubernetesonlinedeployment": (Kind.ONLINE_DEPLOYMENT.value, "kubernetes", None),
    "batchendpoint": (Kind.BATCH_ENDPOINT.value, None, None),
    "batchdeployment": (Kind.BATCH_DEPLOYMENT.value, None, None),
    "modelbatchdeployment": (Kind.BATCH_DEPLOYMENT.value, None, "model"),
    "pipelinecomponentbatchdeployment": (Kind.BATCH_DEPLOYMENT.value, None, "pipeline"),
    "workspace": (Kind.WORKSPACE.value, None, None),
}

# Keys that only a batch / only an online deployment has (azure-facts §1.3, §1.6).
_BATCH_DEPLOYMENT_KEYS = frozenset({
    "mini_batch_size", "output_action", "output_file_name", "compute", "settings", "job_definition",
    "component", "error_threshold", "retry_settings", "max_concurrency_per_instance", "logging_level",
    "deployment_configuration"})
_ONLINE_DEPLOYMENT_KEYS = frozenset({
    "instance_type", "liveness_probe", "readiness_probe", "request_settings", "scale_settings",
    "app_insights_enabled", "egress_public_network_access", "data_collector", "model_mount_path",
    "private_network_connection"})
_DEPLOYMENT_KEYS = _BATCH_DEPLOYMENT_KEYS | _ONLINE_DEPLOYMENT_KEYS | {
    "model", "environment", "code_configuration", "instance_count", "environment_variables", "resources"}
_ONLINE_ENDPOINT_KEYS = frozenset({"traffic", "mirror_traffic", "public_network_access", "compute"})
_BATCH_ENDPOINT_KEYS = frozenset({"defaults"})
_WORKSPACE_KEYS = frozenset({
    "managed_network", "storage_account", "key_vault", "hbi_workspace", "container_registry",
    "application_insights", "customer_managed_key", "image_build_compute",
    "primary_user_assigned_identity", "enable_data_isolation", "system_datastores_auth_mode",
    "serverless_compute", "provision_network_now", "feature_store_settings", "v1_legacy_mode",
    "allow_public_access_when_behind_vnet", "network_acls", "discovery_url", "mlflow_tracking_uri"})
# Top-level keys that mark a document as something else: conda env, job, component, registry,
# Kubernetes manifest, CI workflow.
_NOT_RESOURCE_KEYS = frozenset({
    "dependencies", "channels", "jobs", "command", "inputs", "outputs", "apiVersion",
    "replication_locations", "trigger", "create_monitor", "steps", "stages"})


@dataclass(slots=True)
class _Class:
    kind: str
    compute: str | None  # "managed" | "kubernetes" | None
    explicit_compute: bool
    batch_type: str | None
    certain: bool  # False: online/batch guessed from shape, may be revised by the file set


def _schema_stem(schema: str) -> str:
    """`https://…/latest/managedOnlineEndpoint.schema.json#x` -> `managedonlineendpoint`."""
    stem = schema.strip().split("#", 1)[0].split("?", 1)[0].replace("\\", "/").rstrip("/")
    stem = stem.rsplit("/", 1)[-1].lower()
    for suffix in (".schema.json", ".json"):
        if stem.endswith(suffix):
            return stem[: -len(suffix)]
    return stem


def classify_document(doc: Any) -> _Class | None:
    """What Azure ML resource a YAML-shaped document is, or None when it is none of ours.

    By `$schema` first (any other schema: not a resource), then by an Azure ML ARM `id`, then
    conservatively by shape.
    """
    if not isinstance(doc, dict):
        return None
    schema = doc.get("$schema")
    if isinstance(schema, str) and schema.strip():
        known = _SCHEMAS.get(_schema_stem(schema))
        if known is None:
            return None
        kind, compute, batch_type = known
        if kind == Kind.BATCH_DEPLOYMENT.value and batch_type is None:
            batch_type = _batch_type(doc)
        if kind == Kind.ONLINE_ENDPOINT.value and compute == "managed" and doc.get("compute"):
            compute = "kubernetes"
        if kind == Kind.ONLINE_DEPLOYMENT.value and isinstance(doc.get("type"), str):
            compute = "kubernetes" if normalize_enum(doc["type"]) == "kubernetes" else compute
        return _Class(kind, compute, compute is not None, batch_type, True)
    ident = doc.get("id")
    if isinstance(ident, str):
        id_kind = parse_arm_id(ident)["kind"]
        if id_kind:
            return _with_compute(id_kind, doc, certain=True)
    keys = doc.keys()
    if not keys.isdisjoint(_NOT_RESOURCE_KEYS):
        return None
    endpoint_name = doc.get("endpoint_name")
    if isinstance(endpoint_name, (str, int)) and not isinstance(endpoint_name, bool):
        if keys.isdisjoint(_DEPLOYMENT_KEYS):
            return None
        dtype = normalize_enum(doc.get("type")) if isinstance(doc.get("type"), str) else None
        if dtype in ("model", "pipeline"):
            return _with_compute(Kind.BATCH_DEPLOYMENT.value, doc, certain=True)
        if dtype in ("managed", "kubernetes"):
            return _with_compute(Kind.ONLINE_DEPLOYMENT.value, doc, certain=True)
        if dtype is not None:
            return None  # a job or component that happens to name an endpoint
        batch = len(keys & _BATCH_DEPLOYMENT_KEYS)
        online = len(keys & _ONLINE_DEPLOYMENT_KEYS)
        if batch > online:
            return _with_compute(Kind.BATCH_DEPLOYMENT.value, doc, certain=True)
        return _with_compute(Kind.ONLINE_DEPLOYMENT.value, doc, certain=online > 0)
    if "type" in doc or not isinstance(doc.get("name"), (str, int)) or isinstance(doc.get("name"), bool):
        return None  # endpoints and workspaces have no `type`; by shape they must be named
    if not keys.isdisjoint(_WORKSPACE_KEYS):
        return _with_compute(Kind.WORKSPACE.value, doc, certain=True)
    if not keys.isdisjoint(_ONLINE_ENDPOINT_KEYS):
        return _with_compute(Kind.ONLINE_ENDPOINT.value, doc, certain=True)
    if not keys.isdisjoint(_BATCH_ENDPOINT_KEYS):
        return _with_compute(Kind.BATCH_ENDPOINT.value, doc, certain=True)
    if "auth_mode" in doc:
        # key / aml_token exist only on online endpoints; aad_token alone could be either
        certain = isinstance(doc["auth_mode"], str) and normalize_enum(doc["auth_mode"]) != "aad_token"
        return _with_compute(Kind.ONLINE_ENDPOINT.value, doc, certain=certain)
    return None


def _batch_type(doc: Mapping[str, Any]) -> str | None:
    value = doc.get("type")
    if isinstance(value, str) and normalize_enum(value) in ("model", "pipeline"):
        return normalize_enum(value)
    return None


def _with_compute(kind: str, doc: Mapping[str, Any], *, certain: bool) -> _Class:
    if kind == Kind.ONLINE_ENDPOINT.value:
        k8s = bool(doc.get("compute"))
        return _Class(kind, "kubernetes" if k8s else "managed", k8s, None, certain)
    if kind == Kind.ONLINE_DEPLOYMENT.value:
        dtype = doc.get("type")
        if isinstance(dtype, str) and normalize_enum(dtype) in ("managed", "kubernetes"):
            return _Class(kind, normalize_enum(dtype), True, None, certain)
        return _Class(kind, "managed", False, None, certain)
    if kind == Kind.BATCH_DEPLOYMENT.value:
        return _Class(kind, None, False, _batch_type(doc), certain)
    return _Class(kind, None, False, None, certain)


# ------------------------------------------------------------------------ value clean-up
_ENUM_PATHS: tuple[tuple[str, ...], ...] = (
    ("auth_mode",), ("public_network_access",), ("egress_public_network_access",),
    ("provisioning_state",), ("output_action",), ("logging_level",), ("system_datastores_auth_mode",),
    ("kind",), ("identity", "type"), ("managed_network", "isolation_mode"),
    ("managed_network", "firewall_sku"), ("scale_settings", "type"), ("data_collector", "rolling_rate"),
    ("settings", "output_action"), ("settings", "logging_level"), ("network_acls", "default_action"),
)
_BOOL_PATHS: tuple[str, ...] = (
    "app_insights_enabled", "hbi_workspace", "enable_data_isolation", "v1_legacy_mode",
    "private_network_connection", "allow_public_access_when_behind_vnet", "provision_network_now")
_RULE_ENUMS = ("type", "category", "status")


def _clean_yaml_values(fields: dict[str, Any], kind: str) -> None:
    """Lower-case snake enums, 'true'/'false' strings as bools, in place (YAML-shaped input)."""
    for path in _ENUM_PATHS:
        parent: Any = fields
        for part in path[:-1]:
            parent = parent.get(part) if isinstance(parent, dict) else None
        if isinstance(parent, dict) and path[-1] in parent:
            parent[path[-1]] = _enum_or_keep(parent[path[-1]])
    if kind in (Kind.ONLINE_DEPLOYMENT.value, Kind.BATCH_DEPLOYMENT.value) and "type" in fields:
        fields["type"] = _enum_or_keep(fields["type"])
    for key in _BOOL_PATHS:
        if key in fields:
            fields[key] = _bool_or_keep(fields[key])
    collector = fields.get("data_collector")
    if isinstance(collector, dict) and isinstance(collector.get("collections"), dict):
        for collection in collector["collections"].values():
            if isinstance(collection, dict) and "enabled" in collection:
                collection["enabled"] = _bool_or_keep(collection["enabled"])
    network = fields.get("managed_network")
    if isinstance(network, dict):
        rules = network.get("outbound_rules")
        if isinstance(rules, dict):  # tolerate the REST-like {name: rule} form in YAML / JSON
            network["outbound_rules"] = rules = [
                {"name": name, **rule} if isinstance(rule, dict) else {"name": name, "destination": rule}
                for name, rule in rules.items()]
        if isinstance(rules, list):
            for rule in rules:
                if isinstance(rule, dict):
                    for key in _RULE_ENUMS:
                        if key in rule:
                            rule[key] = _enum_or_keep(rule[key])
        status = network.get("status")
        if isinstance(status, dict) and "status" in status:
            status["status"] = _enum_or_keep(status["status"])


# ---------------------------------------------------------------------------- defaults
_DEFAULTS: dict[tuple[str, str | None], tuple[tuple[str, Any], ...]] = {
    # (kind, compute type) -> Azure defaults applied when the field is absent (azure-facts §1.2, §1.6, §1.9)
    (Kind.ONLINE_ENDPOINT.value, "managed"): (("auth_mode", "key"), ("public_network_access", "enabled")),
    (Kind.ONLINE_ENDPOINT.value, "kubernetes"): (("auth_mode", "key"),),
    (Kind.ONLINE_DEPLOYMENT.value, "managed"): (
        ("egress_public_network_access", "enabled"), ("app_insights_enabled", False)),
    (Kind.ONLINE_DEPLOYMENT.value, "kubernetes"): (("app_insights_enabled", False),),
    (Kind.BATCH_ENDPOINT.value, None): (("auth_mode", "aad_token"),),
    (Kind.WORKSPACE.value, None): (
        ("public_network_access", "enabled"), ("managed_network.isolation_mode", "disabled")),
}


def apply_defaults(resource: Resource) -> None:
    """Fill absent (or null) fields with the Azure default and list them in `defaulted`.

    Idempotent: defaults from an earlier call are removed first, so a resource whose kind or
    compute type changed (a deployment found to belong to a Kubernetes endpoint) is re-filled.
    """
    for path in resource.defaulted:
        parts = path.split(".")
        parent: Any = resource.fields
        chain = [parent]
        for part in parts[:-1]:
            parent = parent.get(part) if isinstance(parent, dict) else None
            chain.append(parent)
        if isinstance(parent, dict):
            parent.pop(parts[-1], None)
        # drop containers that existed only to hold the default (not written in the source)
        for depth in range(len(parts) - 1, 0, -1):
            container = chain[depth]
            prefix = ".".join(parts[:depth])
            if isinstance(container, dict) and not container and prefix not in resource.lines:
                owner = chain[depth - 1]
                if isinstance(owner, dict):
                    owner.pop(parts[depth - 1], None)
    defaulted: set[str] = set()
    for path, value in _DEFAULTS.get((resource.kind, resource.compute_type), ()):
        parts = path.split(".")
        parent = resource.fields
        for part in parts[:-1]:
            child = parent.get(part)
            if child is None:
                child = parent[part] = {}
            if not isinstance(child, dict):
                parent = None
                break
            parent = child
        if parent is not None and parent.get(parts[-1]) is None:
            parent[parts[-1]] = value
            defaulted.add(path)
    resource.defaulted = frozenset(defaulted) if defaulted else NO_PATHS


# --------------------------------------------------------------------------------- ids
def _local_id(source: str | None, kind: str, name: str, endpoint: str | None) -> str:
    where = source or "<memory>"
    if endpoint and kind in (Kind.ONLINE_DEPLOYMENT.value, Kind.BATCH_DEPLOYMENT.value):
        return f"{where}#{kind}/{endpoint}/{name}"
    return f"{where}#{kind}/{name}"


def _is_templated(text: str | None) -> bool:
    return bool(text) and "{{" in str(text)


def assign_id(resource: Resource, explicit_id: str | None = None) -> None:
    """Give the resource its id: the ARM id it carries, else one built from its workspace
    context, else a local id `{source}#{kind}/{name}` (deployments: `{source}#{kind}/{endpoint}/{name}`;
    a deployment whose YAML leaves the endpoint to `--endpoint-name` gets `{source}#{kind}/{name}`)."""
    if explicit_id:
        parts = parse_arm_id(explicit_id)
        if parts["kind"] == resource.kind:
            resource.id = explicit_id.strip()
            resource.subscription_id = parts["subscription"]
            resource.resource_group = parts["resource_group"]
            resource.workspace = parts["workspace"]
            if resource.kind != Kind.WORKSPACE.value:
                resource.endpoint_name = resource.endpoint_name or parts["endpoint"]
            return
    endpoint = resource.endpoint_name if resource.kind.endswith("_deployment") else resource.name
    if (resource.subscription_id and resource.resource_group and resource.workspace
            and not any(_is_templated(x) for x in (resource.name, endpoint, resource.workspace))
            and (resource.kind == Kind.WORKSPACE.value or endpoint)):
        resource.id = arm_id(resource.subscription_id, resource.resource_group, resource.workspace,
                             kind=resource.kind, endpoint=endpoint,
                             deployment=resource.name if resource.kind.endswith("_deployment") else None)
        return
    resource.id = _local_id(resource.source, resource.kind, resource.name, resource.endpoint_name)


# ---------------------------------------------------------------------- YAML-shaped input
def _text(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (str, int, float)):
        return str(value)
    return None


def _source_stem(source: str | None) -> str:
    if not source:
        return "unnamed"
    base = source.replace("\\", "/").rsplit("/", 1)[-1]
    return base.rsplit(".", 1)[0] or base


def resource_from_yaml(doc: Any, *, source: str | None = None, line: int | None = None,
                       lines: dict[str, int] | None = None,
                       context: WorkspaceContext | Mapping[str, Any] | None = None,
                       origin: str = "yaml", kind: str | None = None) -> Resource | None:
    """A Resource from a YAML-shaped document (CLI v2 YAML, `az ml ... show` JSON, or
    azure-ai-ml `_to_dict()` output), or None when the document is not an Azure ML workspace,
    endpoint or deployment. `doc` is taken over (normalised in place); `lines` maps the
    document's dotted paths to lines; `context` supplies subscription / resource group /
    workspace for ids when the document has no `id`. `kind`, when the caller knows it (an
    entity read from `ml_client.batch_endpoints`), overrides recognition: a batch endpoint's
    `_to_dict()` has nothing that tells it from an online endpoint with `aad_token`.
    """
    return _from_yaml(doc, source=source, line=line, lines=lines, context=context, origin=origin,
                      kind=kind)[0]


def _from_yaml(doc: Any, *, source: str | None, line: int | None, lines: dict[str, int] | None,
               context: WorkspaceContext | Mapping[str, Any] | None,
               origin: str, kind: str | None = None) -> tuple[Resource | None, _Class | None]:
    if kind is not None and kind in _KIND_VALUES and isinstance(doc, dict):
        cls: _Class | None = _with_compute(kind, doc, certain=True)
    else:
        cls = classify_document(doc)
    if cls is None:
        return None, None
    lines = lines if lines is not None else {}
    kind = cls.kind
    _clean_yaml_values(doc, kind)
    if kind == Kind.BATCH_DEPLOYMENT.value:
        if cls.batch_type and doc.get("type") is None:
            doc["type"] = cls.batch_type
        settings = doc.get("settings")
        if isinstance(settings, dict):  # ModelBatchDeployment: settings also readable at the top
            for key, value in settings.items():
                if isinstance(key, str) and key not in doc:
                    doc[key] = value
                    if f"settings.{key}" in lines:
                        lines[key] = lines[f"settings.{key}"]
    name = _text(doc.get("name"))
    endpoint_name = _text(doc.get("endpoint_name")) if kind.endswith("_deployment") else None
    ctx = WorkspaceContext.of(context)
    resource = Resource(
        kind=kind, id="", name=name or _source_stem(source), fields=doc, source=source,
        line=line, lines=lines,
        compute_type=cls.compute if kind in (Kind.ONLINE_ENDPOINT.value, Kind.ONLINE_DEPLOYMENT.value)
        else None,
        workspace=ctx.workspace if ctx else None,
        subscription_id=ctx.subscription_id if ctx else None,
        resource_group=ctx.resource_group if ctx else None,
        endpoint_name=endpoint_name, origin=origin,
        live=origin != "yaml" and _has_service_fields(doc),
    )
    if kind == Kind.WORKSPACE.value:
        resource.workspace = resource.name
        if ctx is None or not ctx.resource_group:
            resource.resource_group = _text(doc.get("resource_group")) or resource.resource_group
    apply_defaults(resource)
    explicit = doc.get("id")
    assign_id(resource, explicit if isinstance(explicit, str) else None)
    return resource, cls


def _has_service_fields(doc: Mapping[str, Any]) -> bool:
    return any(doc.get(key) for key in ("provisioning_state", "scoring_uri", "openapi_uri", "discovery_url"))


# ---------------------------------------------------------------------------- ARM input
_ARM_TYPES = {
    f"{_PROVIDER}/workspaces": Kind.WORKSPACE.value,
    f"{_PROVIDER}/workspaces/onlineendpoints": Kind.ONLINE_ENDPOINT.value,
    f"{_PROVIDER}/workspaces/onlineendpoints/deployments": Kind.ONLINE_DEPLOYMENT.value,
    f"{_PROVIDER}/workspaces/batchendpoints": Kind.BATCH_ENDPOINT.value,
    f"{_PROVIDER}/workspaces/batchendpoints/deployments": Kind.BATCH_DEPLOYMENT.value,
}
# ARM property keys (lower case) that say "this is an ARM object", for objects without `type`.
_ARM_PROPERTY_HINTS = frozenset({
    "authmode", "publicnetworkaccess", "egresspublicnetworkaccess", "endpointcomputetype",
    "provisioningstate", "managednetwork", "scoringuri", "instancetype", "minibatchsize",
    "storageaccount", "keyvault"})
# Top-level ARM keys that say where a resource is, not how it is configured.
_ARM_DROP = frozenset({"type", "etag", "tenantid", "resourcegroup", "subscriptionid", "managedby",
                       "plan", "apiversion", "dependson", "scope", "condition", "copy", "comments"})
# Keys whose children are user data (names, not field names): keep them verbatim.
_OPAQUE = frozenset({"tags", "traffic", "mirrortraffic", "environmentvariables", "properties",
                     "userassignedidentities"})
_SECRET_KEYS = frozenset({"keys", "primarykey", "secondarykey"})  # amlguard never reads endpoint keys


def arm_kind(obj: Mapping[str, Any]) -> str | None:
    """Kind of an ARM object from its `type`, else its `id`; None if not an Azure ML resource we audit."""
    rtype = obj.get("type")
    if isinstance(rtype, str):
        kind = _ARM_TYPES.get(rtype.strip().strip("/").lower())
        if kind or rtype.lower().startswith(_PROVIDER):
            return kind
    ident = obj.get("id")
    return parse_arm_id(ident)["kind"] if isinstance(ident, str) else None


def looks_like_arm(obj: Mapping[str, Any]) -> bool:
    """True for ARM REST / Resource Graph objects (camelCase `properties`), False for
    YAML-shaped objects such as `az ml ... show` output."""
    rtype = obj.get("type")
    if isinstance(rtype, str) and rtype.strip().lower().startswith(_PROVIDER):
        return True
    props = obj.get("properties")
    if isinstance(props, dict) and isinstance(obj.get("id"), str):
        return any(isinstance(k, str) and k.lower() in _ARM_PROPERTY_HINTS for k in props)
    return False


class _Arm:
    """Converts one ARM object to canonical fields, mapping raw line paths to canonical ones."""

    def __init__(self, raw_lines: Mapping[str, int] | None) -> None:
        self.raw = raw_lines or {}
        self.lines: dict[str, int] = {}

    def mark(self, canon: str, raw: str) -> None:
        if self.raw:
            found = self.raw.get(raw)
            if found is not None:
                self.lines[canon] = found

    def generic(self, value: Any, raw: str, canon: str, *, opaque: bool = False) -> Any:
        """camelCase -> snake_case recursively; `opaque` keeps this level's keys (user data)."""
        if isinstance(value, dict):
            out: dict[Any, Any] = {}
            for key, item in value.items():
                name = key if opaque or not isinstance(key, str) else camel_to_snake(key)
                child_raw, child = f"{raw}.{key}", f"{canon}.{name}"
                low = key.lower() if isinstance(key, str) else ""
                if low in _SECRET_KEYS and not opaque:
                    continue
                self.mark(child, child_raw)
                out[name] = self.generic(item, child_raw, child, opaque=low in _OPAQUE and not opaque)
            return out
        if isinstance(value, list):
            result = []
            for index, item in enumerate(value):
                self.mark(f"{canon}.{index}", f"{raw}.{index}")
                result.append(self.generic(item, f"{raw}.{index}", f"{canon}.{index}"))
            return result
        return value

    def put(self, out: dict[str, Any], name: str, value: Any, raw: str, canon_prefix: str = "") -> str:
        canon = f"{canon_prefix}{name}"
        out[name] = value
        self.mark(canon, raw)
        return canon

    # -- special shapes --------------------------------------------------------------------
    def identity(self, value: Any, raw: str) -> Any:
        if not isinstance(value, dict):
            return value
        out: dict[str, Any] = {}
        for key, item in value.items():
            low = key.lower() if isinstance(key, str) else ""
            if low == "type":
                self.put(out, "type", _enum_or_keep(item), f"{raw}.{key}", "identity.")
            elif low == "userassignedidentities" and isinstance(item, dict):
                canon = self.put(out, "user_assigned_identities", [], f"{raw}.{key}", "identity.")
                for index, (rid, detail) in enumerate(item.items()):
                    entry = {"resource_id": rid}
                    if isinstance(detail, dict):
                        entry.update(self.generic(detail, f"{raw}.{key}.{rid}", f"{canon}.{index}"))
                    self.mark(f"{canon}.{index}", f"{raw}.{key}.{rid}")
                    out["user_assigned_identities"].append(entry)
            else:
                name = camel_to_snake(key) if isinstance(key, str) else key
                out[name] = self.generic(item, f"{raw}.{key}", f"identity.{name}")
                self.mark(f"identity.{name}", f"{raw}.{key}")
        return out

    def durations(self, value: Any, raw: str, canon: str, renames: Mapping[str, tuple[str, Any]]) -> Any:
        """Snake-case a settings object, converting the listed duration keys (lower case)."""
        if not isinstance(value, dict):
            return value
        out: dict[str, Any] = {}
        for key, item in value.items():
            low = key.lower() if isinstance(key, str) else ""
            if low in renames:
                name, convert = renames[low]
                out[name] = convert(item)
            elif low in ("scaletype", "type"):  # scaleSettings.scaleType -> scale_settings.type
                name = "type"
                out[name] = _enum_or_keep(item)
            else:
                name = camel_to_snake(key) if isinstance(key, str) else key
                out[name] = self.generic(item, f"{raw}.{key}", f"{canon}.{name}")
            self.mark(f"{canon}.{name}", f"{raw}.{key}")
        return out

    def data_collector(self, value: Any, raw: str) -> Any:
        if not isinstance(value, dict):
            return value
        out: dict[str, Any] = {}
        for key, item in value.items():
            low = key.lower() if isinstance(key, str) else ""
            if low == "collections" and isinstance(item, dict):
                collections: dict[str, Any] = {}
                for cname, coll in item.items():
                    base_raw, base = f"{raw}.{key}.{cname}", f"data_collector.collections.{cname}"
                    self.mark(base, base_raw)
                    if not isinstance(coll, dict):
                        collections[cname] = coll
                        continue
                    entry: dict[str, Any] = {}
                    for ckey, cval in coll.items():
                        clow = ckey.lower() if isinstance(ckey, str) else ""
                        if clow == "datacollectionmode":
                            name, cval = "enabled", (
                                normalize_enum(cval) == "enabled" if isinstance(cval, str) else cval)
                        elif clow == "dataid":
                            name = "data"
                        else:
                            name = camel_to_snake(ckey) if isinstance(ckey, str) else ckey
                        entry[name] = cval
                        self.mark(f"{base}.{name}", f"{base_raw}.{ckey}")
                    collections[cname] = entry
                out["collections"] = collections
                self.mark("data_collector.collections", f"{raw}.{key}")
            elif low == "rollingrate":
                self.put(out, "rolling_rate", _enum_or_keep(item), f"{raw}.{key}", "data_collector.")
            else:
                name = camel_to_snake(key) if isinstance(key, str) else key
                out[name] = self.generic(item, f"{raw}.{key}", f"data_collector.{name}")
                self.mark(f"data_collector.{name}", f"{raw}.{key}")
        return out

    def resources(self, value: Any, raw: str) -> Any:
        if not isinstance(value, dict):
            return value
        out: dict[str, Any] = {}
        names = {"containerresourcerequests": "requests", "containerresourcelimits": "limits"}
        for key, item in value.items():
            low = key.lower() if isinstance(key, str) else ""
            name = names.get(low) or (camel_to_snake(key) if isinstance(key, str) else key)
            self.mark(f"resources.{name}", f"{raw}.{key}")
            if isinstance(item, dict):
                inner: dict[str, Any] = {}
                for rkey, rval in item.items():
                    rname = "nvidia.com/gpu" if str(rkey).lower() == "gpu" else camel_to_snake(str(rkey))
                    inner[rname] = rval
                    self.mark(f"resources.{name}.{rname}", f"{raw}.{key}.{rkey}")
                out[name] = inner
            else:
                out[name] = item
        return out

    def managed_network(self, value: Any, raw: str) -> Any:
        if not isinstance(value, dict):
            return value
        out: dict[str, Any] = {}
        for key, item in value.items():
            low = key.lower() if isinstance(key, str) else ""
            if low == "outboundrules" and isinstance(item, (dict, list)):
                canon = self.put(out, "outbound_rules", [], f"{raw}.{key}", "managed_network.")
                pairs = item.items() if isinstance(item, dict) else (
                    ((r.get("name"), r) if isinstance(r, dict) else (None, r)) for r in item or [])
                for index, (rname, rule) in enumerate(pairs):
                    rule_raw = f"{raw}.{key}.{rname if isinstance(item, dict) else index}"
                    self.mark(f"{canon}.{index}", rule_raw)
                    entry: dict[str, Any] = {"name": rname}
                    if isinstance(rule, dict):
                        for rkey, rval in rule.items():
                            rlow = rkey.lower() if isinstance(rkey, str) else ""
                            rn = camel_to_snake(rkey) if isinstance(rkey, str) else rkey
                            entry[rn] = _enum_or_keep(rval) if rlow in _RULE_ENUMS else self.generic(
                                rval, f"{rule_raw}.{rkey}", f"{canon}.{index}.{rn}")
                            self.mark(f"{canon}.{index}.{rn}", f"{rule_raw}.{rkey}")
                    out["outbound_rules"].append(entry)
            elif low in ("isolationmode", "firewallsku"):
                self.put(out, camel_to_snake(key), _enum_or_keep(item), f"{raw}.{key}", "managed_network.")
            else:
                name = camel_to_snake(key) if isinstance(key, str) else key
                converted = self.generic(item, f"{raw}.{key}", f"managed_network.{name}")
                if low == "status" and isinstance(converted, dict) and "status" in converted:
                    converted["status"] = _enum_or_keep(converted["status"])
                out[name] = converted
                self.mark(f"managed_network.{name}", f"{raw}.{key}")
        return out

    def private_endpoints(self, value: Any, raw: str) -> Any:
        if not isinstance(value, list):
            return value
        out = []
        for index, conn in enumerate(value):
            canon, conn_raw = f"private_endpoint_connections.{index}", f"{raw}.{index}"
            self.mark(canon, conn_raw)
            if not isinstance(conn, dict):
                out.append(conn)
                continue
            entry: dict[str, Any] = {}
            for key, item in conn.items():
                if isinstance(key, str) and key.lower() == "properties" and isinstance(item, dict):
                    # flatten the connection's properties, as the SDK entities do
                    for pkey, pval in item.items():
                        pname = camel_to_snake(pkey) if isinstance(pkey, str) else pkey
                        entry[pname] = self.generic(pval, f"{conn_raw}.{key}.{pkey}", f"{canon}.{pname}")
                        self.mark(f"{canon}.{pname}", f"{conn_raw}.{key}.{pkey}")
                elif not (isinstance(key, str) and key.lower() == "type"):
                    name = camel_to_snake(key) if isinstance(key, str) else key
                    entry[name] = self.generic(item, f"{conn_raw}.{key}", f"{canon}.{name}")
                    self.mark(f"{canon}.{name}", f"{conn_raw}.{key}")
            state = entry.get("private_link_service_connection_state")
            if isinstance(state, dict) and "status" in state:
                state["status"] = _enum_or_keep(state["status"])
            if "provisioning_state" in entry:
                entry["provisioning_state"] = _enum_or_keep(entry["provisioning_state"])
            out.append(entry)
        return out


_PROBE = {"initialdelay": ("initial_delay", _seconds), "period": ("period", _seconds),
          "timeout": ("timeout", _seconds)}
_REQUEST = {"requesttimeout": ("request_timeout_ms", _millis), "maxqueuewait": ("max_queue_wait_ms", _millis)}
_SCALE = {"pollinginterval": ("polling_interval", _seconds)}
_RETRY = {"timeout": ("timeout", _seconds)}
_ARM_ENUM_PROPS = {
    "authmode": "auth_mode", "publicnetworkaccess": "public_network_access",
    "egresspublicnetworkaccess": "egress_public_network_access", "provisioningstate": "provisioning_state",
    "outputaction": "output_action", "logginglevel": "logging_level",
    "systemdatastoresauthmode": "system_datastores_auth_mode"}
_ARM_RENAMES = {"swaggeruri": "openapi_uri", "environmentid": "environment", "friendlyname": "display_name",
                "scoringuri": "scoring_uri", "mirrortraffic": "mirror_traffic"}
_ARM_BOOLS = frozenset({"appinsightsenabled", "hbiworkspace", "enabledataisolation", "v1legacymode",
                        "privatenetworkconnection", "allowpublicaccesswhenbehindvnet"})


def resource_from_arm(obj: Any, *, source: str | None = None, lines: dict[str, int] | None = None,
                      line: int | None = None, origin: str = "arm") -> Resource | None:
    """A Resource from an ARM REST object or a Resource Graph row, or None when `obj` is not an
    Azure ML workspace / endpoint / deployment.

    `lines` maps the object's own dotted paths (`properties.authMode`) to lines; they are
    carried over to the canonical paths (`auth_mode`). Endpoint keys are dropped unread.
    """
    if not isinstance(obj, dict):
        return None
    kind = arm_kind(obj)
    if kind is None:
        return None
    conv = _Arm(lines)
    fields: dict[str, Any] = {}
    props = obj.get("properties")
    for key, value in obj.items():
        if not isinstance(key, str):
            continue
        low = key.lower()
        if low == "properties" or low in _ARM_DROP:
            continue
        if low == "identity":
            conv.put(fields, "identity", conv.identity(value, key), key)
        elif low == "sku" and isinstance(value, dict):
            conv.put(fields, "sku", conv.generic(value, key, "sku"), key)
            capacity = next((v for k, v in value.items() if str(k).lower() == "capacity"), None)
            if capacity is not None and kind.endswith("_deployment"):
                conv.put(fields, "instance_count", capacity, f"{key}.capacity")
        elif low == "kind":
            conv.put(fields, "kind", _enum_or_keep(value), key)
        else:
            name = camel_to_snake(key)
            conv.put(fields, name, conv.generic(value, key, name, opaque=low in _OPAQUE), key)
    if isinstance(props, dict):
        _arm_properties(conv, fields, props, kind)
    compute_type: str | None = None
    if kind == Kind.ONLINE_ENDPOINT.value:
        # OnlineEndpoint._from_rest_object decides by properties.compute (azure-facts §1.2)
        k8s = bool(fields.get("compute")) or fields.get("type") == "kubernetes"
        compute_type = "kubernetes" if k8s else "managed"
    elif kind == Kind.ONLINE_DEPLOYMENT.value:
        compute_type = "kubernetes" if fields.get("type") == "kubernetes" else "managed"
        fields["type"] = compute_type
    elif kind == Kind.BATCH_DEPLOYMENT.value and fields.get("type") not in ("model", "pipeline"):
        config = fields.get("deployment_configuration")
        ctype = config.get("deployment_configuration_type") if isinstance(config, dict) else None
        fields["type"] = "pipeline" if normalize_enum(ctype) == "pipeline_component" else (
            "model" if fields.get("model") else None)
    ident = obj.get("id") if isinstance(obj.get("id"), str) else None
    parts = parse_arm_id(ident) if ident else parse_arm_id("")
    raw_name = fields.get("name")
    name_parts = str(raw_name).split("/") if isinstance(raw_name, (str, int)) else []
    name = parts["name"] or (name_parts[-1] if name_parts else "unnamed")
    endpoint_name = None
    if kind.endswith("_deployment"):
        endpoint_name = parts["endpoint"] or (name_parts[-2] if len(name_parts) >= 2 else None)
    resource = Resource(
        kind=kind, id="", name=name, fields=fields, source=source, line=line, lines=conv.lines,
        compute_type=compute_type, endpoint_name=endpoint_name, origin=origin,
        workspace=name if kind == Kind.WORKSPACE.value else (name_parts[0] if len(name_parts) >= 2 else None),
        subscription_id=_text(obj.get("subscriptionId")),
        resource_group=_text(obj.get("resourceGroup")),
        live=_has_service_fields(fields) or "system_data" in fields,
    )
    if fields.get("name") != name:
        fields["name"] = name
    if endpoint_name and "endpoint_name" not in fields:
        fields["endpoint_name"] = endpoint_name
    apply_defaults(resource)
    assign_id(resource, ident)
    return resource


def _arm_properties(conv: _Arm, fields: dict[str, Any], props: Mapping[str, Any], kind: str) -> None:
    for key, value in props.items():
        if not isinstance(key, str):
            continue
        low, raw = key.lower(), f"properties.{key}"
        if low in _SECRET_KEYS:
            continue
        if low in _ARM_ENUM_PROPS:
            conv.put(fields, _ARM_ENUM_PROPS[low], _enum_or_keep(value), raw)
        elif low in _ARM_RENAMES:
            name = _ARM_RENAMES[low]
            conv.put(fields, name, conv.generic(value, raw, name, opaque=low == "mirrortraffic"), raw)
        elif low in _ARM_BOOLS:
            conv.put(fields, camel_to_snake(key), _bool_or_keep(value), raw)
        elif low == "endpointcomputetype":
            conv.put(fields, "type", _enum_or_keep(value), raw)
        elif low == "containerresourcerequirements":
            conv.put(fields, "resources", conv.resources(value, raw), raw)
        elif low == "requestsettings":
            conv.put(fields, "request_settings", conv.durations(value, raw, "request_settings", _REQUEST), raw)
        elif low in ("livenessprobe", "readinessprobe", "startupprobe"):
            name = camel_to_snake(key)
            conv.put(fields, name, conv.durations(value, raw, name, _PROBE), raw)
        elif low == "scalesettings":
            conv.put(fields, "scale_settings", conv.durations(value, raw, "scale_settings", _SCALE), raw)
        elif low == "retrysettings":
            conv.put(fields, "retry_settings", conv.durations(value, raw, "retry_settings", _RETRY), raw)
        elif low == "datacollector":
            conv.put(fields, "data_collector", conv.data_collector(value, raw), raw)
        elif low == "codeconfiguration" and isinstance(value, dict):
            code = {("code" if str(k).lower() == "codeid" else camel_to_snake(str(k))): v
                    for k, v in value.items()}
            for k in value:
                conv.mark(f"code_configuration.{'code' if str(k).lower() == 'codeid' else camel_to_snake(str(k))}",
                          f"{raw}.{k}")
            conv.put(fields, "code_configuration", code, raw)
        elif low == "managednetwork":
            conv.put(fields, "managed_network", conv.managed_network(value, raw), raw)
        elif low == "privateendpointconnections":
            conv.put(fields, "private_endpoint_connections", conv.private_endpoints(value, raw), raw)
        elif low == "networkacls":
            acls = conv.generic(value, raw, "network_acls")
            if isinstance(acls, dict) and "default_action" in acls:
                acls["default_action"] = _enum_or_keep(acls["default_action"])
            conv.put(fields, "network_acls", acls, raw)
        elif low == "model" and kind == Kind.BATCH_DEPLOYMENT.value and isinstance(value, dict):
            # batch deployments reference models as {"referenceType": "Id", "assetId": ...}
            asset = next((v for k, v in value.items() if str(k).lower() == "assetid"), None)
            conv.put(fields, "model", asset if isinstance(asset, str) else conv.generic(value, raw, "model"), raw)
        elif low == "defaults":
            conv.put(fields, "defaults", conv.generic(value, raw, "defaults"), raw)
        else:
            name = camel_to_snake(key)
            conv.put(fields, name, conv.generic(value, raw, name, opaque=low in _OPAQUE), raw)
