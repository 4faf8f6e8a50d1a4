"""Remediation actions a policy rule can name (`remediate: {action: <name>, ...options}`), kept
in a name -> class registry like Cloud Custodian's; each action previews its change from the
audited state and applies it against fresh state through the SDK's long-running-operation
pollers (or the ARM Tags API), so a second run changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from amlguard.armid import ArmId
from amlguard.inventory.values import camel_to_snake
from amlguard.model import Kind, Resource
from amlguard.registry import Registry

if TYPE_CHECKING:
    from azure.ai.ml import MLClient  # imported lazily at run time: it costs ~1 s

__all__ = ["ACTIONS", "Action", "ApplyResult", "ArmWriter", "DisableLocalAuth", "DisablePublicNetworkAccess",
           "SetTrafficZero", "Tag", "register", "zero_traffic"]

ACTIONS: Registry[type[Action]] = Registry("remediation action")


class ArmWriter(Protocol):
    """What actions write through (`amlguard.inventory.live.ArmClients`): an MLClient per workspace,
    and plain ARM calls for what the SDK does not cover (tags)."""

    def __call__(self, subscription: str, resource_group: str | None = None,
                 workspace: str | None = None) -> MLClient: ...

    def arm_request(self, method: str, path: str, *, api_version: str,
                    body: Mapping[str, Any] | None = None) -> dict[str, Any] | None: ...

TAGS_API_VERSION = "2021-04-01"  # Microsoft.Resources/tags
ML_API_VERSION = "2024-04-01"  # Microsoft.MachineLearningServices workspaces, computes, registries (stable)


def register(name: str) -> Callable[[type[Action]], type[Action]]:
    """Class decorator: make an action available to policies under `name`."""

    def decorator(cls: type[Action]) -> type[Action]:
        cls.name = name
        ACTIONS.add(name, cls)
        return cls

    return decorator


@dataclass(slots=True)
class ApplyResult:
    """What applying an action found and did: state before and after, or why it refused."""

    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)
    changed: bool = False
    refused: str | None = None


def _lower(value: Any) -> str | None:
    if value is None:
        return None
    return str(getattr(value, "value", value)).lower()


def _parts(resource: Resource) -> tuple[str, str, str]:
    parsed = ArmId.parse(resource.id)
    if parsed is None or parsed.resource_group is None or parsed.workspace is None:
        raise ValueError(f"{resource.id} is not the ARM id of a live Azure ML resource")
    return parsed.subscription, parsed.resource_group, parsed.workspace


class Action:
    """One remediation. Subclasses set `kinds` and `role` (the Azure role the change needs) and
    implement preview / apply; their options are the rest of the rule's `remediate:` block."""

    name: ClassVar[str] = ""
    kinds: ClassVar[tuple[str, ...]] = ()
    role: ClassVar[str] = "Contributor"
    # option -> the type its value must have; the policy loader refuses any other option
    accepts: ClassVar[dict[str, type]] = {}

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        self.options = {k: v for k, v in dict(options or {}).items() if k != "action"}

    @classmethod
    def problems(cls, options: Mapping[str, Any], rule_kinds: tuple[str, ...]) -> list[tuple[str, str]]:
        """(option path, what is wrong) for a rule's `remediate:` block naming this action: options
        it does not take or of the wrong type, and rule kinds it cannot change."""
        out = [(f"remediate.{key}", f"{cls.name} takes no option {key!r}"
                + (f"; it takes {', '.join(sorted(cls.accepts))}" if cls.accepts else ""))
               for key in options if key != "action" and key not in cls.accepts]
        out += [(f"remediate.{key}", f"{cls.name} option {key} must be a {cls.accepts[key].__name__}")
                for key, value in options.items() if key in cls.accepts and not isinstance(value, cls.accepts[key])]
        other = [k for k in rule_kinds if k not in cls.kinds]
        if other:
            out.append(("remediate.action", f"{cls.name} changes only {', '.join(cls.kinds)}, not {', '.join(other)}: "
                                            "narrow the rule's kinds or pick another action"))
        return out

    def refuse(self, resource: Resource, resources: Mapping[str, Resource]) -> str | None:
        """Why this action must not run on `resource` (planning time), or None."""
        if resource.kind not in self.kinds:
            return f"{self.name} applies to {', '.join(self.kinds)}, not to a {resource.kind}"
        return None

    def preview(self, resource: Resource, resources: Mapping[str, Resource]) -> ApplyResult:
        """The change as the audited state says it would be (dry run)."""
        raise NotImplementedError

    def apply(self, clients: ArmWriter, resource: Resource) -> ApplyResult:
        """Read the resource fresh, change it if it still needs it, return before / after."""
        raise NotImplementedError


def _arm_property(clients: ArmWriter, resource: Resource, name: str, wanted: Any, *, patch: bool) -> ApplyResult:
    """Read `properties.<name>` of the resource fresh through ARM and set it to `wanted` when it
    differs: a PATCH of that one property where the API takes it (workspaces), else a PUT of the
    body just read with it changed (computes, registries: their PATCH takes tags, sku and
    identity only)."""
    body: dict[str, Any] = clients.arm_request("GET", resource.id, api_version=ML_API_VERSION) or {}
    props: dict[str, Any] = body["properties"] if isinstance(body.get("properties"), dict) else {}
    field = camel_to_snake(name)
    current = props.get(name)
    if _lower(current) == _lower(wanted):
        return ApplyResult({field: current}, {field: current})
    if patch:
        updated = clients.arm_request("PATCH", resource.id, api_version=ML_API_VERSION,
                                      body={"properties": {name: wanted}}) or {}
    else:
        body = {k: v for k, v in body.items() if k not in ("id", "name", "type", "systemData")}
        body["properties"] = {**props, name: wanted}
        updated = clients.arm_request("PUT", resource.id, api_version=ML_API_VERSION, body=body) or {}
    after = (updated.get("properties") or {}).get(name, wanted) if isinstance(updated, dict) else wanted
    return ApplyResult({field: current}, {field: after}, True)


@register("disable_local_auth")
class DisableLocalAuth(Action):
    """Set a compute instance's or cluster's disableLocalAuth to true (what Azure Policy a6f9a2d0
    does with its Modify effect)."""

    kinds = (Kind.COMPUTE.value,)
    role = "Contributor (or AzureML Compute Operator) on the workspace"

    def refuse(self, resource: Resource, resources: Mapping[str, Resource]) -> str | None:
        if resource.compute_type not in ("instance", "cluster"):
            return f"disable_local_auth applies to compute instances and clusters, not to a {resource.compute_type}"
        return super().refuse(resource, resources)

    def preview(self, resource: Resource, resources: Mapping[str, Resource]) -> ApplyResult:
        current = resource.get("disable_local_auth") is True
        return ApplyResult({"disable_local_auth": current}, {"disable_local_auth": True}, not current)

    def apply(self, clients: ArmWriter, resource: Resource) -> ApplyResult:
        return _arm_property(clients, resource, "disableLocalAuth", True, patch=False)


@register("disable_public_network_access")
class DisablePublicNetworkAccess(Action):
    """Set public_network_access to disabled on a managed online endpoint, a workspace (as Azure
    Policy a10ee784 does) or a registry."""

    kinds = (Kind.ONLINE_ENDPOINT.value, Kind.WORKSPACE.value, Kind.REGISTRY.value)
    role = "AzureML Data Scientist (or Contributor) on the workspace; Contributor on a workspace or registry"

    def refuse(self, resource: Resource, resources: Mapping[str, Resource]) -> str | None:
        if resource.compute_type == "kubernetes":
            return "a Kubernetes online endpoint has no public network access setting"
        return super().refuse(resource, resources)

    def preview(self, resource: Resource, resources: Mapping[str, Resource]) -> ApplyResult:
        current = _lower(resource.get("public_network_access")) or "enabled"  # Azure's default
        if current == "disabled":
            return ApplyResult({"public_network_access": current}, {"public_network_access": current})
        return ApplyResult({"public_network_access": current}, {"public_network_access": "disabled"}, True)

    def apply(self, clients: ArmWriter, resource: Resource) -> ApplyResult:
        if resource.kind != Kind.ONLINE_ENDPOINT.value:
            return _arm_property(clients, resource, "publicNetworkAccess", "Disabled",
                                 patch=resource.kind == Kind.WORKSPACE.value)
        sub, rg, ws = _parts(resource)
        ml = clients(sub, rg, ws)
        endpoint = ml.online_endpoints.get(resource.name)
        current = _lower(endpoint.public_network_access) or "enabled"
        if current == "disabled":
            return ApplyResult({"public_network_access": current}, {"public_network_access": current})
        endpoint.public_network_access = "disabled"
        updated = ml.online_endpoints.begin_create_or_update(endpoint).result()
        return ApplyResult({"public_network_access": current},
                           {"public_network_access": _lower(updated.public_network_access) or "disabled"}, True)


def zero_traffic(traffic: Mapping[str, int], deployment: str) -> dict[str, int]:
    """`traffic` with `deployment` at 0 and its share moved to the other serving deployments in
    proportion (largest remainder), so the total stays what it was (ARM wants 100 or 0)."""
    taken = int(traffic.get(deployment, 0) or 0)
    out = {name: int(value or 0) for name, value in traffic.items()}
    out[deployment] = 0
    others = {name: value for name, value in out.items() if name != deployment and value > 0}
    if not taken or not others:
        return out
    base = sum(others.values())
    shares = {name: taken * value / base for name, value in others.items()}
    floors = {name: int(share) for name, share in shares.items()}
    left = taken - sum(floors.values())
    for name in sorted(others, key=lambda n: (-(shares[n] - floors[n]), n))[:left]:
        floors[name] += 1
    for name, extra in floors.items():
        out[name] += extra
    return out


@register("set_traffic_zero")
class SetTrafficZero(Action):
    """Move a non-compliant online deployment's traffic (and mirror traffic) to 0, its share going to
    the endpoint's other serving deployments."""

    kinds = (Kind.ONLINE_DEPLOYMENT.value,)
    role = "AzureML Data Scientist (or Contributor) on the workspace"
    accepts = {"allow_last_serving": bool}

    @property
    def allow_last_serving(self) -> bool:
        """Option `allow_last_serving: true`: also zero the last deployment that serves traffic (the
        endpoint then serves nothing)."""
        return bool(self.options.get("allow_last_serving", False))

    def _guard(self, traffic: Mapping[str, int], deployment: str) -> str | None:
        if int(traffic.get(deployment, 0) or 0) <= 0:
            return None
        serving = [name for name, value in traffic.items() if name != deployment and int(value or 0) > 0]
        if not serving and not self.allow_last_serving:
            return (f"{deployment} is the last deployment serving traffic; zeroing it would take the endpoint "
                    "down. Set `allow_last_serving: true` in the rule's remediate block to allow it")
        return None

    def _endpoint_traffic(self, resource: Resource, resources: Mapping[str, Resource]) -> dict[str, int] | None:
        endpoint_id = resource.id.rsplit("/deployments/", 1)[0].lower()
        endpoint = resources.get(endpoint_id)
        traffic = endpoint.get("traffic") if endpoint is not None else None
        return dict(traffic) if isinstance(traffic, dict) else None

    def refuse(self, resource: Resource, resources: Mapping[str, Resource]) -> str | None:
        base = super().refuse(resource, resources)
        if base:
            return base
        traffic = self._endpoint_traffic(resource, resources)
        return self._guard(traffic, resource.name) if traffic is not None else None

    def preview(self, resource: Resource, resources: Mapping[str, Resource]) -> ApplyResult:
        traffic = self._endpoint_traffic(resource, resources)
        if traffic is None:  # endpoint not in the report: the live run reads it
            return ApplyResult({"traffic": None}, {"traffic": {resource.name: 0}}, True)
        after = zero_traffic(traffic, resource.name)
        return ApplyResult({"traffic": traffic}, {"traffic": after}, after != traffic)

    def apply(self, clients: ArmWriter, resource: Resource) -> ApplyResult:
        sub, rg, ws = _parts(resource)
        endpoint_name = resource.endpoint_name or ArmId.require(resource.id).endpoint
        ml = clients(sub, rg, ws)
        endpoint = ml.online_endpoints.get(endpoint_name)
        traffic = {k: int(v or 0) for k, v in (endpoint.traffic or {}).items()}
        mirror = {k: int(v or 0) for k, v in (endpoint.mirror_traffic or {}).items()}
        before = {"traffic": dict(traffic), "mirror_traffic": dict(mirror)}
        refusal = self._guard(traffic, resource.name)
        if refusal:
            return ApplyResult(before, before, refused=refusal)
        after_traffic = zero_traffic(traffic, resource.name)
        after_mirror = {k: v for k, v in mirror.items() if k != resource.name}
        if after_traffic == traffic and after_mirror == mirror:
            return ApplyResult(before, before)
        endpoint.traffic = after_traffic
        endpoint.mirror_traffic = after_mirror
        updated = ml.online_endpoints.begin_create_or_update(endpoint).result()
        new_traffic = {k: int(v or 0) for k, v in (updated.traffic or {}).items()}
        for name in after_traffic:  # the service omits deployments at 0
            new_traffic.setdefault(name, 0)
        return ApplyResult(before, {"traffic": new_traffic,
                                    "mirror_traffic": dict(updated.mirror_traffic or {})}, True)


@register("tag")
class Tag(Action):
    """Add or fix tags through the ARM Tags API (merge; other tags are kept)."""

    kinds = tuple(k.value for k in Kind)
    role = "Tag Contributor on the resource"
    accepts = {"tags": dict}

    @property
    def tags(self) -> dict[str, str]:
        """Option `tags`: the tags to add, or to set when they hold another value."""
        return {str(k): str(v) for k, v in dict(self.options.get("tags") or {}).items()}

    def _diff(self, current: Mapping[str, Any]) -> ApplyResult:
        wanted = {k: v for k, v in self.tags.items() if current.get(k) != v}
        before = {"tags": {k: current.get(k) for k in wanted}}
        return ApplyResult(before, {"tags": wanted}, bool(wanted)) if wanted else ApplyResult(
            {"tags": {k: current.get(k) for k in self.tags}}, {"tags": dict(self.tags)})

    def preview(self, resource: Resource, resources: Mapping[str, Resource]) -> ApplyResult:
        return self._diff(resource.tags)

    def apply(self, clients: ArmWriter, resource: Resource) -> ApplyResult:
        path = f"{resource.id}/providers/Microsoft.Resources/tags/default"
        current = clients.arm_request("GET", path, api_version=TAGS_API_VERSION) or {}
        result = self._diff(dict((current.get("properties") or {}).get("tags") or {}))
        if not result.changed:
            return result
        updated = clients.arm_request("PATCH", path, api_version=TAGS_API_VERSION, body={
            "operation": "Merge", "properties": {"tags": result.after["tags"]}}) or {}
        now = dict((updated.get("properties") or {}).get("tags") or {})
        return ApplyResult(result.before, {"tags": {k: now.get(k) for k in result.after["tags"]}}, True)

