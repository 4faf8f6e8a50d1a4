"""One ARM resource id value, parsed once and used by every area (inventory, events, alerts,
notifiers, monitor, reports).

`ArmId.parse` is strict: anchored at `/subscriptions/<id>`, type/name pairs after
`/providers/<Namespace>`, within ARM's length limit. It never raises; `ArmId.require` raises a
`ConfigError` that says what is wrong. Comparisons are case-insensitive, as ARM's are; the text
keeps the case it was given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from amlguard.errors import ConfigError
from amlguard.model import Kind

__all__ = ["MAX_ID_LENGTH", "ML_PROVIDER", "ArmId", "scope_prefix"]

ML_PROVIDER = "Microsoft.MachineLearningServices"
# ARM's request URL limit; no real resource id comes near it (names are at most 260 characters).
MAX_ID_LENGTH = 2048

# a name or type: no `/`, no white space, and none of `\ # ?`, which ARM's URL parsing cannot take
# (its naming rules: "don't use # in a resource name"); a subject carrying them is not a resource
_SEGMENT = r"[^/\s\\#?]+"
_ID = re.compile(
    rf"/subscriptions/(?P<subscription>{_SEGMENT})"
    rf"(?:/resourcegroups/(?P<resource_group>{_SEGMENT}))?"
    rf"(?:/providers/(?P<provider>{_SEGMENT})(?P<pairs>(?:/{_SEGMENT}/{_SEGMENT})+))?",
    re.IGNORECASE,
)

# (type path below the workspace, lower case) -> the amlguard kind it is
_ML_KINDS: dict[tuple[str, ...], str] = {
    ("workspaces",): Kind.WORKSPACE.value,
    ("workspaces", "onlineendpoints"): Kind.ONLINE_ENDPOINT.value,
    ("workspaces", "onlineendpoints", "deployments"): Kind.ONLINE_DEPLOYMENT.value,
    ("workspaces", "batchendpoints"): Kind.BATCH_ENDPOINT.value,
    ("workspaces", "batchendpoints", "deployments"): Kind.BATCH_DEPLOYMENT.value,
    ("workspaces", "computes"): Kind.COMPUTE.value,
    ("workspaces", "serverlessendpoints"): Kind.SERVERLESS_ENDPOINT.value,
    ("workspaces", "datastores"): Kind.DATASTORE.value,
    ("workspaces", "environments", "versions"): Kind.ENVIRONMENT.value,
    ("registries",): Kind.REGISTRY.value,
    ("registries", "environments", "versions"): Kind.ENVIRONMENT.value,
}
# kinds that live directly below a workspace, by name (environments add /versions/<version>)
_CHILD_SEGMENT = {Kind.COMPUTE.value: "computes", Kind.SERVERLESS_ENDPOINT.value: "serverlessEndpoints",
                  Kind.DATASTORE.value: "datastores", Kind.ENVIRONMENT.value: "environments"}
_ENDPOINT_SEGMENT = {Kind.ONLINE_ENDPOINT.value: "onlineEndpoints", Kind.ONLINE_DEPLOYMENT.value: "onlineEndpoints",
                     Kind.BATCH_ENDPOINT.value: "batchEndpoints", Kind.BATCH_DEPLOYMENT.value: "batchEndpoints"}


@dataclass(frozen=True, slots=True, eq=False)
class ArmId:
    """A parsed ARM id: subscription, resource group, provider namespace and (type, name) pairs."""

    text: str
    subscription: str
    resource_group: str | None = None
    provider: str | None = None
    pairs: tuple[tuple[str, str], ...] = ()

    # ---- construction -------------------------------------------------------------------
    @staticmethod
    def parse(text: object) -> ArmId | None:
        """The id, or None when `text` is not a well-formed ARM id (anchored, no `..`, no spaces)."""
        if not isinstance(text, str) or len(text) > MAX_ID_LENGTH:
            return None
        return _parse(text)

    @staticmethod
    def require(text: object, *, what: str = "resource id") -> ArmId:
        """The id, or a ConfigError naming the expected shape."""
        parsed = ArmId.parse(text)
        if parsed is None:
            shown = repr(text)[:120]
            raise ConfigError(f"{what} {shown} is not an ARM resource id; expected "
                              "/subscriptions/<id>/resourceGroups/<group>/providers/<Namespace>/<type>/<name>...")
        return parsed

    @staticmethod
    def build(subscription: str, resource_group: str, workspace: str, *, kind: str = Kind.WORKSPACE.value,
              endpoint: str | None = None, deployment: str | None = None, name: str | None = None,
              version: str | None = None) -> ArmId:
        """The id of an Azure ML workspace, endpoint or deployment (azure-facts §2.1), or of a
        compute, serverless endpoint, datastore or environment version (`name`, `version`) in it;
        a registry's id is `workspace` read as the registry name."""
        if kind == Kind.REGISTRY.value:
            text = (f"/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/{ML_PROVIDER}"
                    f"/registries/{workspace}")
            return ArmId(text, subscription, resource_group, ML_PROVIDER, (("registries", workspace),))
        pairs: list[tuple[str, str]] = [("workspaces", workspace)]
        if kind in _CHILD_SEGMENT:
            if not name:
                raise ValueError(f"an ARM id of a {kind} needs its name")
            pairs.append((_CHILD_SEGMENT[kind], name))
            if kind == Kind.ENVIRONMENT.value:
                if not version:
                    raise ValueError("an ARM id of an environment needs its version")
                pairs.append(("versions", version))
        elif kind != Kind.WORKSPACE.value:
            segment = _ENDPOINT_SEGMENT.get(kind)
            if segment is None:
                raise ValueError(f"no ARM id shape for kind {kind!r}")
            if not endpoint:
                raise ValueError(f"an ARM id of a {kind} needs the endpoint name")
            pairs.append((segment, endpoint))
            if kind.endswith("_deployment"):
                if not deployment:
                    raise ValueError(f"an ARM id of a {kind} needs the deployment name")
                pairs.append(("deployments", deployment))
        text = (f"/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/{ML_PROVIDER}/"
                + "/".join(f"{t}/{n}" for t, n in pairs))
        return ArmId(text, subscription, resource_group, ML_PROVIDER, tuple(pairs))

    # ---- views ----------------------------------------------------------------------------
    def __str__(self) -> str:
        return self.text

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ArmId):
            return self.key == other.key
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.key)

    @property
    def key(self) -> str:
        """The id in lower case: what ARM compares, and what state stores key on."""
        return self.text.lower()

    @property
    def name(self) -> str | None:
        """The last name in the id (the resource's own name)."""
        return self.pairs[-1][1] if self.pairs else self.resource_group

    @property
    def resource_type(self) -> str | None:
        """`Namespace/type/childType`, e.g. Microsoft.MachineLearningServices/workspaces/onlineEndpoints."""
        if not self.provider:
            return None
        return "/".join([self.provider, *(t for t, _ in self.pairs)])

    def _ml(self, index: int) -> str | None:
        if (self.provider or "").lower() != ML_PROVIDER.lower() or len(self.pairs) <= index:
            return None
        return self.pairs[index][1]

    @property
    def workspace(self) -> str | None:
        return self._ml(0) if self.pairs and self.pairs[0][0].lower() == "workspaces" else None

    @property
    def endpoint(self) -> str | None:
        if self.workspace is None or len(self.pairs) < 2:
            return None
        return self.pairs[1][1] if self.pairs[1][0].lower() in ("onlineendpoints", "batchendpoints") else None

    @property
    def deployment(self) -> str | None:
        if self.endpoint is None or len(self.pairs) < 3 or self.pairs[2][0].lower() != "deployments":
            return None
        return self.pairs[2][1]

    @property
    def kind(self) -> str | None:
        """The amlguard kind when the id is exactly an Azure ML resource amlguard audits, else None."""
        if (self.provider or "").lower() != ML_PROVIDER.lower():
            return None
        return _ML_KINDS.get(tuple(t.lower() for t, _ in self.pairs))

    @property
    def workspace_id(self) -> ArmId | None:
        """The id of the workspace this resource lives in (itself for a workspace)."""
        if self.workspace is None:
            return None
        if len(self.pairs) == 1:
            return self
        head = self.text[: self.text.lower().index("/workspaces/") + len("/workspaces/")]
        return ArmId(head + self.pairs[0][1], self.subscription, self.resource_group, self.provider,
                     self.pairs[:1])

    @property
    def short(self) -> str:
        """`endpoint/deployment` for a deployment, else the resource's own name."""
        if self.deployment is not None:
            return f"{self.endpoint}/{self.deployment}"
        return self.name or self.subscription

    def labels(self) -> dict[str, str]:
        """The id's parts as routing labels (subscription, resource_group, workspace, endpoint,
        deployment, workspace_id), only those present."""
        out = {"subscription": self.subscription}
        for key, value in (("resource_group", self.resource_group), ("workspace", self.workspace),
                           ("endpoint", self.endpoint), ("deployment", self.deployment)):
            if value is not None:
                out[key] = value
        ws = self.workspace_id
        if ws is not None:
            out["workspace_id"] = ws.key
        return out


def scope_prefix(subscription: str, resource_group: str | None = None, workspace: str | None = None) -> str:
    """The id prefix of a scope: a subscription, a resource group in it, or an Azure ML workspace in
    that (a workspace without its resource group has no prefix of its own: the group's is given)."""
    out = f"/subscriptions/{subscription}"
    if resource_group:
        out += f"/resourceGroups/{resource_group}"
        if workspace:
            out += f"/providers/{ML_PROVIDER}/workspaces/{workspace}"
    return out


@lru_cache(maxsize=65536)
def _parse(text: str) -> ArmId | None:
    stripped = text.strip()
    if stripped.endswith("/") and len(stripped) > 1:
        stripped = stripped[:-1]
    match = _ID.fullmatch(stripped)
    if match is None:
        return None
    pairs_text = match.group("pairs")
    pairs: tuple[tuple[str, str], ...] = ()
    if pairs_text:
        parts = pairs_text[1:].split("/")
        if any(part in (".", "..") for part in parts):
            return None
        pairs = tuple(zip(parts[0::2], parts[1::2], strict=True))
    if match.group("subscription") in (".", "..") or match.group("resource_group") in (".", ".."):
        return None
    return ArmId(stripped, match.group("subscription"), match.group("resource_group"), match.group("provider"),
                 pairs)
