"""What an object read from a file is: an Azure ML workspace, endpoint, deployment, compute,
registry, serverless endpoint, datastore or environment (and which kind, compute type and batch
type), or none of ours. YAML-shaped documents are recognised by
`$schema`, then an ARM `id`, then conservatively by shape; ARM objects by `type`, then `id`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from amlguard.armid import ML_PROVIDER, ArmId
from amlguard.inventory import kinds
from amlguard.inventory.values import normalize_enum
from amlguard.model import Kind

__all__ = ["ARM_TYPES", "KIND_KEYS", "SHAPE_KEYS", "Classification", "arm_kind", "classify_document", "looks_like_arm",
           "with_compute"]

_PROVIDER = ML_PROVIDER.lower()

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
# kind -> the keys that say a document is of that kind (for the field catalogue, catalogue.py)
KIND_KEYS: dict[str, frozenset[str]] = {
    Kind.WORKSPACE.value: _WORKSPACE_KEYS, Kind.ONLINE_ENDPOINT.value: _ONLINE_ENDPOINT_KEYS,
    Kind.BATCH_ENDPOINT.value: _BATCH_ENDPOINT_KEYS, Kind.ONLINE_DEPLOYMENT.value: _DEPLOYMENT_KEYS,
    Kind.BATCH_DEPLOYMENT.value: _DEPLOYMENT_KEYS}
# Keys that make a named document without `$schema` ours by its shape (see classify_document).
SHAPE_KEYS = _WORKSPACE_KEYS | _ONLINE_ENDPOINT_KEYS | _BATCH_ENDPOINT_KEYS | {"endpoint_name", "auth_mode",
                                                                           "replication_locations"}
# Top-level keys that mark a document as something else: conda env, job, component, Kubernetes
# manifest, CI workflow.
_NOT_RESOURCE_KEYS = frozenset({
    "dependencies", "channels", "jobs", "command", "inputs", "outputs", "apiVersion",
    "trigger", "create_monitor", "steps", "stages"})


@dataclass(slots=True)
class Classification:
    """What a document is, and how sure: the file set may revise an uncertain online / batch guess."""

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


def classify_document(doc: Any) -> Classification | None:
    """What Azure ML resource a YAML-shaped document is, or None when it is none of ours.

    By `$schema` first (any other schema: not a resource), then by an Azure ML ARM `id`, then
    conservatively by shape.
    """
    if not isinstance(doc, dict):
        return None
    schema = doc.get("$schema")
    if isinstance(schema, str) and schema.strip():
        stem = _schema_stem(schema)
        known = _SCHEMAS.get(stem)
        if known is None:
            other = kinds.SCHEMAS.get(stem)  # compute, registry, datastore, environment, ...
            return Classification(other[0], other[1], True, None, True) if other else None
        kind, compute, batch_type = known
        if kind == Kind.BATCH_DEPLOYMENT and batch_type is None:
            batch_type = _batch_type(doc)
        if kind == Kind.ONLINE_ENDPOINT and compute == "managed" and doc.get("compute"):
            compute = "kubernetes"
        if kind == Kind.ONLINE_DEPLOYMENT and isinstance(doc.get("type"), str):
            compute = "kubernetes" if normalize_enum(doc["type"]) == "kubernetes" else compute
        return Classification(kind, compute, compute is not None, batch_type, True)
    ident = doc.get("id")
    if isinstance(ident, str):
        parsed = ArmId.parse(ident)
        id_kind = parsed.kind if parsed is not None else None
        if id_kind:
            return with_compute(id_kind, doc, certain=True)
    keys = doc.keys()
    if not keys.isdisjoint(_NOT_RESOURCE_KEYS):
        return None
    endpoint_name = doc.get("endpoint_name")
    if isinstance(endpoint_name, (str, int)) and not isinstance(endpoint_name, bool):
        if keys.isdisjoint(_DEPLOYMENT_KEYS):
            return None
        dtype = normalize_enum(doc.get("type")) if isinstance(doc.get("type"), str) else None
        if dtype in ("model", "pipeline"):
            return with_compute(Kind.BATCH_DEPLOYMENT.value, doc, certain=True)
        if dtype in ("managed", "kubernetes"):
            return with_compute(Kind.ONLINE_DEPLOYMENT.value, doc, certain=True)
        if dtype is not None:
            return None  # a job or component that happens to name an endpoint
        batch = len(keys & _BATCH_DEPLOYMENT_KEYS)
        online = len(keys & _ONLINE_DEPLOYMENT_KEYS)
        if batch > online:
            return with_compute(Kind.BATCH_DEPLOYMENT.value, doc, certain=True)
        return with_compute(Kind.ONLINE_DEPLOYMENT.value, doc, certain=online > 0)
    if not isinstance(doc.get("name"), (str, int)) or isinstance(doc.get("name"), bool):
        return None  # by shape a resource must be named
    other = kinds.classify_shape(doc)
    if other is not None:
        return Classification(other[0], other[1], True, None, True)
    if "type" in doc:
        return None  # endpoints and workspaces have no `type`
    if not keys.isdisjoint(_WORKSPACE_KEYS):
        return with_compute(Kind.WORKSPACE.value, doc, certain=True)
    if not keys.isdisjoint(_ONLINE_ENDPOINT_KEYS):
        return with_compute(Kind.ONLINE_ENDPOINT.value, doc, certain=True)
    if not keys.isdisjoint(_BATCH_ENDPOINT_KEYS):
        return with_compute(Kind.BATCH_ENDPOINT.value, doc, certain=True)
    if "auth_mode" in doc:
        # key / aml_token exist only on online endpoints; aad_token alone could be either
        certain = isinstance(doc["auth_mode"], str) and normalize_enum(doc["auth_mode"]) != "aad_token"
        return with_compute(Kind.ONLINE_ENDPOINT.value, doc, certain=certain)
    return None


def _batch_type(doc: Mapping[str, Any]) -> str | None:
    value = doc.get("type")
    batch_type: str | None = normalize_enum(value) if isinstance(value, str) else None
    return batch_type if batch_type in ("model", "pipeline") else None


def with_compute(kind: str, doc: Mapping[str, Any], *, certain: bool) -> Classification:
    if kind == Kind.ONLINE_ENDPOINT:
        k8s = bool(doc.get("compute"))
        return Classification(kind, "kubernetes" if k8s else "managed", k8s, None, certain)
    if kind == Kind.ONLINE_DEPLOYMENT:
        dtype = doc.get("type")
        if isinstance(dtype, str) and normalize_enum(dtype) in ("managed", "kubernetes"):
            return Classification(kind, normalize_enum(dtype), True, None, certain)
        return Classification(kind, "managed", False, None, certain)
    if kind == Kind.BATCH_DEPLOYMENT:
        return Classification(kind, None, False, _batch_type(doc), certain)
    if kind == Kind.COMPUTE:
        return Classification(kind, kinds.compute_type_of(doc.get("type")), True, None, certain)
    return Classification(kind, None, False, None, certain)


# ---------------------------------------------------------------------------- ARM objects
ARM_TYPES = {  # ARM type (lower case) -> kind
    f"{_PROVIDER}/workspaces": Kind.WORKSPACE.value,
    f"{_PROVIDER}/workspaces/onlineendpoints": Kind.ONLINE_ENDPOINT.value,
    f"{_PROVIDER}/workspaces/onlineendpoints/deployments": Kind.ONLINE_DEPLOYMENT.value,
    f"{_PROVIDER}/workspaces/batchendpoints": Kind.BATCH_ENDPOINT.value,
    f"{_PROVIDER}/workspaces/batchendpoints/deployments": Kind.BATCH_DEPLOYMENT.value,
    **kinds.ARM_TYPES,
}
# ARM property keys (lower case) that say "this is an ARM object", for objects without `type`.
_ARM_PROPERTY_HINTS = frozenset({
    "authmode", "publicnetworkaccess", "egresspublicnetworkaccess", "endpointcomputetype",
    "provisioningstate", "managednetwork", "scoringuri", "instancetype", "minibatchsize",
    "storageaccount", "keyvault", "computetype", "datastoretype", "regiondetails"})


def arm_kind(obj: Mapping[str, Any]) -> str | None:
    """Kind of an ARM object from its `type`, else its `id`; None if not an Azure ML resource we audit."""
    rtype = obj.get("type")
    if isinstance(rtype, str):
        kind = ARM_TYPES.get(rtype.strip().strip("/").lower())
        if kind or rtype.lower().startswith(_PROVIDER):
            return kind
    parsed = ArmId.parse(obj.get("id"))
    return parsed.kind if parsed is not None else None


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
