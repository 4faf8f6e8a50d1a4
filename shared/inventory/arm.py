"""ARM REST objects and Resource Graph rows (camelCase, `properties`) to canonical fields: the
CLI v2 YAML names, lower-case snake enums, ARM durations as numbers in the YAML unit, and each
raw path's line carried over to its canonical path."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from amlguard.armid import ArmId
from amlguard.inventory import kinds
from amlguard.inventory.normalize import clean_values, finish, has_service_fields, take_explicit_id, text_of
from amlguard.inventory.recognize import arm_kind
from amlguard.inventory.values import camel_to_snake, enum_or_keep, normalize_enum
from amlguard.model import Kind, Resource
from amlguard.timeparse import seconds_or_none

__all__ = ["build_from_arm", "resource_from_arm"]


def _number(value: float) -> int | float:
    return int(value) if value == int(value) else value


def _seconds(value: Any) -> Any:
    parsed = seconds_or_none(value, "wire")
    return value if parsed is None else _number(parsed)


def _millis(value: Any) -> Any:
    parsed = seconds_or_none(value, "wire")
    return value if parsed is None else _number(round(parsed * 1000, 3))


# Top-level ARM keys that say where a resource is, not how it is configured.
_ARM_DROP = frozenset({"type", "etag", "tenantid", "resourcegroup", "subscriptionid", "managedby",
                       "plan", "apiversion", "dependson", "scope", "condition", "copy", "comments"})
# Keys whose children are user data (names, not field names): keep them verbatim.
_OPAQUE = frozenset({"tags", "traffic", "mirrortraffic", "environmentvariables", "properties",
                     "userassignedidentities", "collections"})
_SECRET_KEYS = frozenset({"keys", "primarykey", "secondarykey"})  # amlguard never reads endpoint keys
# A key's canonical name where it is not the snake_case of the ARM name; or that name and how its
# value converts; or that name and the key each entry of a `{name: entry}` mapping (or list of
# named entries) is given in the list azure-ai-ml makes of it (`{"resource_id": id, ...}`).
Rename = str | tuple[str, Callable[[Any], Any] | str]
_NO_RENAMES: Mapping[str, Rename] = {}


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

    def generic(self, value: Any, raw: str, canon: str, *, opaque: bool = False,
                renames: Mapping[str, Rename] = _NO_RENAMES) -> Any:
        """camelCase -> snake_case recursively; `opaque` keeps this level's keys (user data);
        `renames` maps a lower-case key, at any level below, to its canonical name, or to the name
        and a conversion of its value."""
        if isinstance(value, dict):
            out: dict[Any, Any] = {}
            for key, item in value.items():
                low = key.lower() if isinstance(key, str) else ""
                if low in _SECRET_KEYS and not opaque:
                    continue
                rename = renames.get(low) if renames and not opaque else None
                convert: Callable[[Any], Any] | str | None = None
                if isinstance(rename, tuple):
                    rename, convert = rename
                name = rename or (key if opaque or not isinstance(key, str) else camel_to_snake(key))
                child_raw, child = f"{raw}.{key}", f"{canon}.{name}"
                self.mark(child, child_raw)
                if convert is None or (isinstance(convert, str) and not isinstance(item, (dict, list))):
                    out[name] = self.generic(item, child_raw, child, opaque=low in _OPAQUE and not opaque,
                                             renames=renames)
                elif isinstance(convert, str):
                    out[name] = self.named_list(item, child_raw, child, convert, renames)
                else:
                    out[name] = convert(item)
            return out
        if isinstance(value, list):
            if not self.raw:  # no lines to carry (big JSON): only nested objects need converting
                return [self.generic(item, raw, canon, renames=renames) if isinstance(item, (dict, list)) else item
                        for item in value]
            result = []
            for index, item in enumerate(value):
                self.mark(f"{canon}.{index}", f"{raw}.{index}")
                result.append(self.generic(item, f"{raw}.{index}", f"{canon}.{index}", renames=renames))
            return result
        return value

    def put(self, out: dict[str, Any], name: str, value: Any, raw: str) -> None:
        out[name] = value
        self.mark(name, raw)

    def named_list(self, value: dict[Any, Any] | list[Any], raw: str, canon: str, label: str,
                   renames: Mapping[str, Rename]) -> list[dict[str, Any]]:
        """`{name: entry}` (or a list of entries with a `name`) as `[{label: name, **entry}]`."""
        pairs = value.items() if isinstance(value, dict) else (
            ((r.get("name"), r) if isinstance(r, dict) else (None, r)) for r in value)
        out = []
        for index, (name, entry) in enumerate(pairs):
            entry_raw = f"{raw}.{name if isinstance(value, dict) else index}"
            self.mark(f"{canon}.{index}", entry_raw)
            item: dict[str, Any] = {label: name}
            if isinstance(entry, dict):
                item.update(self.generic(entry, entry_raw, f"{canon}.{index}", renames=renames))
            out.append(item)
        return out

    # -- special shapes --------------------------------------------------------------------
    def private_endpoints(self, value: Any, raw: str) -> Any:
        """Each connection with its `properties` flattened, as the SDK entities have them."""
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
                low = key.lower() if isinstance(key, str) else ""
                if low == "properties" and isinstance(item, dict):
                    entry.update(self.generic(item, f"{conn_raw}.{key}", canon))
                elif low != "type":
                    entry.update(self.generic({key: item}, conn_raw, canon))
            state = entry.get("private_link_service_connection_state")
            if isinstance(state, dict) and "status" in state:
                state["status"] = enum_or_keep(state["status"])
            if "provisioning_state" in entry:
                entry["provisioning_state"] = enum_or_keep(entry["provisioning_state"])
            out.append(entry)
        return out


# Settings objects whose durations are ARM durations (ISO 8601 / TimeSpan) and numbers in the YAML
_PROBE: dict[str, Rename] = {"initialdelay": ("initial_delay", _seconds), "period": ("period", _seconds),
                             "timeout": ("timeout", _seconds)}
_REQUEST: dict[str, Rename] = {"requesttimeout": ("request_timeout_ms", _millis),
                               "maxqueuewait": ("max_queue_wait_ms", _millis)}
_SCALE: dict[str, Rename] = {"pollinginterval": ("polling_interval", _seconds), "scaletype": "type"}
_RETRY: dict[str, Rename] = {"timeout": ("timeout", _seconds)}
# ...and objects whose REST names differ from the YAML's (dataCollectionMode: Enabled is `enabled`,
# cleaned into a boolean with the YAML's values)
_COLLECTOR: dict[str, Rename] = {"datacollectionmode": "enabled", "dataid": "data"}
_RESOURCES: dict[str, Rename] = {"containerresourcerequests": "requests", "containerresourcelimits": "limits",
                                 "gpu": "nvidia.com/gpu"}
_CODE: dict[str, Rename] = {"codeid": "code"}
_IDENTITY: dict[str, Rename] = {"userassignedidentities": ("user_assigned_identities", "resource_id")}
_NETWORK: dict[str, Rename] = {"outboundrules": ("outbound_rules", "name")}
# properties key -> (canonical name, or None for its snake_case; the renames below it)
_SHAPED: dict[str, tuple[str | None, Mapping[str, Rename]]] = {
    "containerresourcerequirements": ("resources", _RESOURCES), "requestsettings": (None, _REQUEST),
    "livenessprobe": (None, _PROBE), "readinessprobe": (None, _PROBE), "startupprobe": (None, _PROBE),
    "scalesettings": (None, _SCALE), "retrysettings": (None, _RETRY), "datacollector": (None, _COLLECTOR),
    "codeconfiguration": (None, _CODE), "managednetwork": (None, _NETWORK)}
_ARM_RENAMES = {"swaggeruri": "openapi_uri", "environmentid": "environment", "friendlyname": "display_name",
                "scoringuri": "scoring_uri", "mirrortraffic": "mirror_traffic"}


def resource_from_arm(obj: Any, *, source: str | None = None, lines: dict[str, int] | None = None,
                      line: int | None = None, origin: str = "arm") -> Resource | None:
    """A Resource from an ARM REST object or a Resource Graph row, or None when `obj` is not an
    Azure ML resource amlguard audits.

    `lines` maps the object's own dotted paths (`properties.authMode`) to lines; they are
    carried over to the canonical paths (`auth_mode`). Endpoint keys are dropped unread.
    """
    resource = build_from_arm(obj, source=source, lines=lines, line=line, origin=origin)
    return finish(resource) if resource is not None else None


def build_from_arm(obj: Any, *, source: str | None = None, lines: dict[str, int] | None = None,
                   line: int | None = None, origin: str = "arm") -> Resource | None:
    """The resource with its fields normalised and its ARM id taken, not yet finished."""
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
            identity = conv.generic(value, key, "identity", renames=_IDENTITY) if isinstance(value, dict) else value
            conv.put(fields, "identity", identity, key)
        elif low == "sku" and isinstance(value, dict):
            conv.put(fields, "sku", conv.generic(value, key, "sku"), key)
            capacity = next((v for k, v in value.items() if str(k).lower() == "capacity"), None)
            if capacity is not None and kind.endswith("_deployment"):
                conv.put(fields, "instance_count", capacity, f"{key}.capacity")
        else:
            name = camel_to_snake(key)
            conv.put(fields, name, conv.generic(value, key, name, opaque=low in _OPAQUE), key)
    compute_type: str | None = None
    if isinstance(props, dict):
        if kind in kinds.NEW_KINDS:
            compute_type = kinds.arm_properties(kind, conv, fields, props)
        else:
            _arm_properties(conv, fields, props, kind)
            if kind == Kind.WORKSPACE:
                kinds.workspace_arm(fields, conv.lines)
    clean_values(fields, kind)  # enums and booleans, as for YAML
    if kind in kinds.NEW_KINDS:
        kinds.normalize_yaml(kind, fields, conv.lines, compute_type, from_arm=True)
    if kind == Kind.ONLINE_ENDPOINT:
        # OnlineEndpoint._from_rest_object decides by properties.compute (azure-facts §1.2)
        k8s = bool(fields.get("compute")) or fields.get("type") == "kubernetes"
        compute_type = "kubernetes" if k8s else "managed"
    elif kind == Kind.ONLINE_DEPLOYMENT:
        compute_type = "kubernetes" if fields.get("type") == "kubernetes" else "managed"
        fields["type"] = compute_type
    elif kind == Kind.BATCH_DEPLOYMENT and fields.get("type") not in ("model", "pipeline"):
        config = fields.get("deployment_configuration")
        ctype = config.get("deployment_configuration_type") if isinstance(config, dict) else None
        fields["type"] = "pipeline" if normalize_enum(ctype) == "pipeline_component" else (
            "model" if fields.get("model") else None)
    parsed = ArmId.parse(obj.get("id"))
    if parsed is not None and parsed.kind is None:
        parsed = None  # not an Azure ML id: it names nothing here
    raw_name = fields.get("name")
    name_parts = str(raw_name).split("/") if isinstance(raw_name, (str, int)) else []
    name = (parsed.name if parsed else None) or (name_parts[-1] if name_parts else "unnamed")
    if kind == Kind.ENVIRONMENT and (len(parsed.pairs) if parsed else len(name_parts)) >= 2:
        # environments/{name}/versions/{version}: the resource is the environment, at a version
        fields.setdefault("version", name)
        name = parsed.pairs[-2][1] if parsed else name_parts[-2]
    endpoint_name = None
    if kind.endswith("_deployment"):
        endpoint_name = (parsed.endpoint if parsed else None) or (name_parts[-2] if len(name_parts) >= 2 else None)
    resource = Resource(
        kind=kind, id="", name=name, fields=fields, source=source, line=line, lines=conv.lines,
        compute_type=compute_type, endpoint_name=endpoint_name, origin=origin,
        workspace=name if kind == Kind.WORKSPACE else (name_parts[0] if len(name_parts) >= 2 else None),
        subscription_id=text_of(obj.get("subscriptionId")),
        resource_group=text_of(obj.get("resourceGroup")),
        live=has_service_fields(fields) or "system_data" in fields,
    )
    if fields.get("name") != name:
        fields["name"] = name
    if endpoint_name and "endpoint_name" not in fields:
        fields["endpoint_name"] = endpoint_name
    take_explicit_id(resource, obj.get("id"))
    return resource


def _arm_properties(conv: _Arm, fields: dict[str, Any], props: Mapping[str, Any], kind: str) -> None:
    for key, value in props.items():
        if not isinstance(key, str):
            continue
        low, raw = key.lower(), f"properties.{key}"
        if low in _SECRET_KEYS:
            continue
        if low in _ARM_RENAMES:
            name = _ARM_RENAMES[low]
            conv.put(fields, name, conv.generic(value, raw, name, opaque=low == "mirrortraffic"), raw)
        elif low == "endpointcomputetype":
            conv.put(fields, "type", enum_or_keep(value), raw)
        elif low in _SHAPED:
            given, renames = _SHAPED[low]
            name = given or camel_to_snake(key)
            shaped = conv.generic(value, raw, name, renames=renames) if isinstance(value, dict) else value
            conv.put(fields, name, shaped, raw)
        elif low == "privateendpointconnections":
            conv.put(fields, "private_endpoint_connections", conv.private_endpoints(value, raw), raw)
        elif low == "model" and kind == Kind.BATCH_DEPLOYMENT and isinstance(value, dict):
            # batch deployments reference models as {"referenceType": "Id", "assetId": ...}
            asset = next((v for k, v in value.items() if str(k).lower() == "assetid"), None)
            conv.put(fields, "model", asset if isinstance(asset, str) else conv.generic(value, raw, "model"), raw)
        else:
            name = camel_to_snake(key)
            conv.put(fields, name, conv.generic(value, raw, name, opaque=low in _OPAQUE), raw)
