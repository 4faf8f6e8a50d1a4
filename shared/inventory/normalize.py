"""Normalise what was read into one `Resource` (canonical fields and values: docs/inventory.md): `build_*`
normalises the fields, `finish` adds Azure defaults and the id once kind and workspace are settled."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from amlguard.armid import ArmId
from amlguard.inventory import kinds
from amlguard.inventory.recognize import Classification, classify_document, with_compute
from amlguard.inventory.values import bool_or_keep, camel_to_snake, enum_or_keep, normalize_enum
from amlguard.model import KINDS, NO_PATHS, Kind, Resource

__all__ = ["WorkspaceContext", "build_from_yaml", "camel_to_snake", "defaulted_fields", "finish", "normalize_enum",
           "resource_from_yaml"]


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


# ------------------------------------------------------------------------ value clean-up
# top-level key -> the keys below it that hold an enum (empty: the value itself is one)
_ENUMS: dict[str, tuple[str, ...]] = {
    "auth_mode": (), "public_network_access": (), "egress_public_network_access": (), "provisioning_state": (),
    "output_action": (), "logging_level": (), "system_datastores_auth_mode": (), "kind": (),
    "identity": ("type",), "managed_network": ("isolation_mode", "firewall_sku"), "scale_settings": ("type",),
    "data_collector": ("rolling_rate",), "settings": ("output_action", "logging_level"),
    "network_acls": ("default_action",),
}
_BOOLS = frozenset({
    "app_insights_enabled", "hbi_workspace", "enable_data_isolation", "v1_legacy_mode",
    "private_network_connection", "allow_public_access_when_behind_vnet", "provision_network_now"})
_RULE_ENUMS = ("type", "category", "status")


def clean_values(fields: dict[str, Any], kind: str) -> None:
    """Lower-case snake enums, 'true' / 'enabled' strings of boolean fields as booleans, in place:
    the one place values are cleaned, for YAML-shaped and (once renamed) ARM fields alike. Only
    keys the document has are visited: most documents hold few of them."""
    for key in _ENUMS.keys() & fields.keys():
        below = _ENUMS[key]
        if not below:
            fields[key] = enum_or_keep(fields[key])
            continue
        parent = fields[key]
        if isinstance(parent, dict):
            for child in below:
                if child in parent:
                    parent[child] = enum_or_keep(parent[child])
    if "type" in fields and kind in (Kind.ONLINE_DEPLOYMENT, Kind.BATCH_DEPLOYMENT):
        fields["type"] = enum_or_keep(fields["type"])
    for key in _BOOLS.intersection(fields):
        fields[key] = bool_or_keep(fields[key])
    collector = fields.get("data_collector")
    if isinstance(collector, dict) and isinstance(collector.get("collections"), dict):
        for collection in collector["collections"].values():
            if isinstance(collection, dict) and "enabled" in collection:
                collection["enabled"] = bool_or_keep(collection["enabled"])
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
                            rule[key] = enum_or_keep(rule[key])
        status = network.get("status")
        if isinstance(status, dict) and "status" in status:
            status["status"] = enum_or_keep(status["status"])


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
    **kinds.DEFAULTS,  # computes, registries, serverless endpoints, datastores
}


def defaulted_fields(kind: str) -> set[str]:
    """The top-level fields the normaliser fills with an Azure default for `kind` (any compute type)."""
    return {path.split(".", 1)[0] for (k, _), pairs in _DEFAULTS.items() if k == kind for path, _ in pairs}


def apply_defaults(resource: Resource) -> None:
    """Fill absent (or null) fields with the Azure default and list them in `defaulted`.
    Called once, when the resource's kind and compute type are settled."""
    defaulted: set[str] = set()
    for path, value in _DEFAULTS.get((resource.kind, resource.compute_type), ()):
        parts = path.split(".")
        parent: Any = resource.fields
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
    if endpoint and kind in (Kind.ONLINE_DEPLOYMENT, Kind.BATCH_DEPLOYMENT):
        return f"{where}#{kind}/{endpoint}/{name}"
    return f"{where}#{kind}/{name}"


def _is_templated(text: str | None) -> bool:
    return bool(text) and "{{" in str(text)


def take_explicit_id(resource: Resource, explicit: object) -> bool:
    """Give the resource the ARM id it carries (`id:` in YAML, ARM JSON) when that id is an Azure
    ML id of the resource's kind; its subscription, group and workspace come with it."""
    parsed = ArmId.parse(explicit)
    if parsed is None or parsed.kind != resource.kind:
        return False
    resource.id = parsed.text
    resource.subscription_id, resource.resource_group = parsed.subscription, parsed.resource_group
    resource.workspace = parsed.workspace
    if resource.kind != Kind.WORKSPACE:
        resource.endpoint_name = resource.endpoint_name or parsed.endpoint
    return True


def assign_id(resource: Resource) -> None:
    """Give a resource without an explicit id one built from its workspace context, else a local
    id `{source}#{kind}/{name}` (deployments: `{source}#{kind}/{endpoint}/{name}`; a deployment
    whose YAML leaves the endpoint to `--endpoint-name` gets `{source}#{kind}/{name}`)."""
    if resource.kind in kinds.NEW_KINDS:
        resource.id = _new_kind_id(resource) or _local_id(resource.source, resource.kind, resource.name, None)
        return
    deployment = resource.kind.endswith("_deployment")
    endpoint = resource.endpoint_name if deployment else resource.name
    if (resource.subscription_id and resource.resource_group and resource.workspace
            and not any(_is_templated(x) for x in (resource.name, endpoint, resource.workspace))
            and (resource.kind == Kind.WORKSPACE or endpoint)):
        resource.id = ArmId.build(resource.subscription_id, resource.resource_group, resource.workspace,
                                  kind=resource.kind, endpoint=endpoint,
                                  deployment=resource.name if deployment else None).text
        return
    resource.id = _local_id(resource.source, resource.kind, resource.name, resource.endpoint_name)


def _new_kind_id(resource: Resource) -> str | None:
    """The ARM id of a compute, registry, serverless endpoint, datastore or environment version
    when its context is known (a registry needs no workspace; an environment needs its version)."""
    owner = resource.name if resource.kind == Kind.REGISTRY else resource.workspace
    version = text_of(resource.fields.get("version"))
    if (not resource.subscription_id or not resource.resource_group or not owner
            or any(_is_templated(x) for x in (resource.name, owner, version))
            or (resource.kind == Kind.ENVIRONMENT and not version)):
        return None
    return ArmId.build(resource.subscription_id, resource.resource_group, owner, kind=resource.kind,
                       name=resource.name, version=version).text


def finish(resource: Resource) -> Resource:
    """The last step, once kind, compute type and workspace are settled: Azure defaults, and an
    id for a resource that carried none."""
    apply_defaults(resource)
    if not resource.id:
        assign_id(resource)
    return resource


# ---------------------------------------------------------------------- YAML-shaped input
def text_of(value: Any) -> str | None:
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
    azure-ai-ml `_to_dict()` output), or None when the document is not an Azure ML resource
    amlguard audits. `doc` is taken over (normalised in place); `lines` maps the
    document's dotted paths to lines; `context` supplies subscription / resource group /
    workspace for ids when the document has no `id`. `kind`, when the caller knows it (an
    entity read from `ml_client.batch_endpoints`), overrides recognition: a batch endpoint's
    `_to_dict()` has nothing that tells it from an online endpoint with `aad_token`.
    """
    resource = build_from_yaml(doc, source=source, line=line, lines=lines, context=context, origin=origin,
                               kind=kind)[0]
    return finish(resource) if resource is not None else None


def build_from_yaml(doc: Any, *, source: str | None, line: int | None, lines: dict[str, int] | None,
                    context: WorkspaceContext | Mapping[str, Any] | None, origin: str,
                    kind: str | None = None) -> tuple[Resource | None, Classification | None]:
    """The resource with its fields normalised and its explicit id taken, not yet finished,
    and how it was recognised (the file inventory may revise an uncertain guess)."""
    if kind is not None and kind in KINDS and isinstance(doc, dict):
        cls: Classification | None = with_compute(kind, doc, certain=True)
    else:
        cls = classify_document(doc)
    if cls is None:
        return None, None
    lines = lines if lines is not None else {}
    kind = cls.kind
    clean_values(doc, kind)
    if kind in kinds.NEW_KINDS:
        kinds.normalize_yaml(kind, doc, lines, cls.compute)
    if kind == Kind.BATCH_DEPLOYMENT:
        if cls.batch_type and doc.get("type") is None:
            doc["type"] = cls.batch_type
        settings = doc.get("settings")
        if isinstance(settings, dict):  # ModelBatchDeployment: settings also readable at the top
            for key, value in settings.items():
                if isinstance(key, str) and key not in doc:
                    doc[key] = value
                    if f"settings.{key}" in lines:
                        lines[key] = lines[f"settings.{key}"]
    name = text_of(doc.get("name"))
    endpoint_name = text_of(doc.get("endpoint_name")) if kind.endswith("_deployment") else None
    ctx = WorkspaceContext.of(context)
    resource = Resource(
        kind=kind, id="", name=name or _source_stem(source), fields=doc, source=source,
        line=line, lines=lines,
        compute_type=cls.compute if kind in (Kind.ONLINE_ENDPOINT, Kind.ONLINE_DEPLOYMENT, Kind.COMPUTE)
        else None,
        workspace=ctx.workspace if ctx and kind != Kind.REGISTRY else None,
        subscription_id=ctx.subscription_id if ctx else None,
        resource_group=ctx.resource_group if ctx else None,
        endpoint_name=endpoint_name, origin=origin,
        live=origin != "yaml" and has_service_fields(doc),
    )
    if kind == Kind.WORKSPACE:
        resource.workspace = resource.name
        if ctx is None or not ctx.resource_group:
            resource.resource_group = text_of(doc.get("resource_group")) or resource.resource_group
    take_explicit_id(resource, doc.get("id"))
    return resource, cls


def has_service_fields(doc: Mapping[str, Any]) -> bool:
    return any(doc.get(key) for key in ("provisioning_state", "scoring_uri", "openapi_uri", "discovery_url"))
