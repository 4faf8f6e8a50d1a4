"""The normalised records every part of amlguard exchanges: Resource, Finding, Diagnostic.

Every inventory (files, azure-ai-ml, Resource Graph) produces `Resource` objects; the policy
engine reads only them and produces `Finding` objects; reports, alerts and the dashboard read
findings. Field names are canonical snake_case (the Azure ML CLI v2 YAML names) and enum values
are lower-case snake (`disabled`, `aad_token`, `allow_only_approved_outbound`).
"""

from __future__ import annotations

import dataclasses
import enum
from collections import Counter
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

__all__ = ["KINDS", "NO_PATHS", "SEVERITIES", "AuditReport", "Diagnostic", "Finding", "Kind", "Resource", "Severity",
           "Status", "severity_rank"]


class Kind(enum.StrEnum):
    """Resource kinds amlguard audits (contract 2 of DESIGN.md)."""

    WORKSPACE = "workspace"
    ONLINE_ENDPOINT = "online_endpoint"
    ONLINE_DEPLOYMENT = "online_deployment"
    BATCH_ENDPOINT = "batch_endpoint"
    BATCH_DEPLOYMENT = "batch_deployment"
    COMPUTE = "compute"
    REGISTRY = "registry"
    SERVERLESS_ENDPOINT = "serverless_endpoint"
    DATASTORE = "datastore"
    ENVIRONMENT = "environment"


KINDS: tuple[str, ...] = tuple(k.value for k in Kind)


class Status(enum.StrEnum):
    """Outcome of one rule on one resource."""

    PASS = "pass"
    FAIL = "fail"
    EXEMPT = "exempt"
    NOT_APPLICABLE = "not_applicable"
    ERROR = "error"


class Severity(enum.StrEnum):
    """Rule severity, most severe first; maps onto Azure Monitor Sev0..Sev4."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def azure_sev(self) -> str:
        """The Azure Monitor severity name (Sev0 is the most severe)."""
        return f"Sev{SEVERITIES.index(self.value)}"


SEVERITIES: tuple[str, ...] = tuple(s.value for s in Severity)


def severity_rank(severity: str) -> int:
    """0 for critical .. 4 for info; unknown severities rank below info."""
    try:
        return SEVERITIES.index(severity.lower())
    except ValueError:
        return len(SEVERITIES)


_MISSING = object()


NO_PATHS: frozenset[str] = frozenset()  # the shared empty `defaulted` / `templated`


if TYPE_CHECKING:
    from amlguard.policy.suppressions import Suppression


@dataclass(slots=True)
class Resource:
    """One Azure ML resource (workspace, endpoint, deployment, compute, registry, ...), normalised.

    `fields` holds canonical snake_case keys with nested dicts/lists as in the CLI v2 YAML
    (e.g. `public_network_access`, `environment.inference_config.scoring_route.port`,
    `data_collector.collections.model_inputs.enabled`). Enum values are lower-case snake;
    booleans are bools; durations are numbers in the YAML unit (ms or seconds).

    `lines` maps dotted field paths to the 1-based line in `source` where the field is
    written; `line` is the resource's first line (used when a field is absent).
    `defaulted` lists the dotted paths whose value was filled in from the Azure default
    because the source did not set them; `templated` lists the paths whose value holds a
    `{{placeholder}}` token.
    """

    kind: str
    id: str
    name: str
    fields: dict[str, Any] = field(default_factory=dict)
    source: str | None = None
    line: int | None = None
    lines: dict[str, int] = field(default_factory=dict)
    # endpoints and deployments: "managed" | "kubernetes"; computes: their type ("instance", "cluster",
    # "kubernetes", "virtual_machine", "databricks", "hdinsight", "synapse_spark", "serverless", ...)
    compute_type: str | None = None
    workspace: str | None = None  # workspace name when known
    subscription_id: str | None = None
    resource_group: str | None = None
    endpoint_name: str | None = None  # for deployments
    origin: str = "yaml"  # yaml | arm | cli | live
    # most resources have neither: they share one empty frozenset, not an empty set each (216
    # bytes apiece, and another object for every check of a defaulted path to touch)
    defaulted: AbstractSet[str] = NO_PATHS
    templated: AbstractSet[str] = NO_PATHS
    live: bool = False  # True when read from the service (scoring URIs, private endpoints known)
    # `# amlguard:ignore` comments of its YAML file (amlguard.policy.suppressions), shared by every
    # resource of that file; applied after evaluation by every trigger's pipeline
    suppressions: tuple[Suppression, ...] = ()

    @property
    def tags(self) -> dict[str, str]:
        tags = self.fields.get("tags")
        return tags if isinstance(tags, dict) else {}

    def get(self, path: str, default: Any = None) -> Any:
        """Value at a dotted path (`a.b.c`; list indexes as numbers), or `default`."""
        value: Any = self.fields
        for part in path.split("."):
            if isinstance(value, dict):
                value = value.get(part, _MISSING)
            elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
                value = value[int(part)]
            else:
                return default
            if value is _MISSING:
                return default
        return value

    def line_of(self, path: str) -> int | None:
        """Line of the field at `path`, of its nearest written parent, else the resource line."""
        lines = self.lines
        while True:  # called for every finding: no list of parts, one lookup per level
            line = lines.get(path)
            if line is not None:
                return line
            if "." not in path:
                return self.line
            path = path.rpartition(".")[0]

    def summary(self) -> dict[str, Any]:
        """The entry for the report's `resources` list (contract 2)."""
        out: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "name": self.name,
            "source": self.source,
            "line": self.line,
        }
        if self.compute_type == "kubernetes" or (self.kind == Kind.COMPUTE and self.compute_type):
            out["compute"] = self.compute_type
        if self.workspace:
            out["workspace"] = self.workspace
        return out


# plain strings: reading an Enum member's .value costs a descriptor call per finding
_NEEDS_FIX = frozenset((Status.FAIL.value, Status.ERROR.value))


@dataclass(slots=True)
class Finding:
    """The outcome of one rule on one resource, with everything needed to act on it."""

    rule: str
    resource: str  # Resource.id
    status: str  # a Status value
    severity: str  # a Severity value
    message: str
    source: str | None = None
    line: int | None = None
    title: str = ""
    kind: str = ""
    resource_name: str = ""
    field: str | None = None  # dotted path the message is about
    remediation: str = ""
    effect: str = "audit"  # audit | alert | remediate
    exemption: dict[str, Any] | None = None  # reason, approver, expires when exempt
    changed_by: dict[str, Any] | None = None  # who made the change (from an event's claims)
    remediation_action: dict[str, Any] | None = None  # what remediation did or would do
    workspace: str | None = None
    # `field` is shadowed by the attribute above inside this class body
    tags: dict[str, str] = dataclasses.field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The finding as it appears in the JSON report (contract 2 keys first)."""
        out: dict[str, Any] = {
            "rule": self.rule,
            "resource": self.resource,
            "status": self.status,
            "severity": self.severity,
            "message": self.message,
            "source": self.source,
            "line": self.line,
        }
        if self.title:
            out["title"] = self.title
        if self.field:
            out["field"] = self.field
        if self.remediation and self.status in _NEEDS_FIX:
            out["remediation"] = self.remediation
        if self.exemption:
            out["exemption"] = self.exemption
        if self.changed_by:
            out["changed_by"] = self.changed_by
        if self.remediation_action:
            out["remediation_action"] = self.remediation_action
        return out


@dataclass(slots=True, frozen=True)
class Diagnostic:
    """A file that could not be read (contract 2 `diagnostics`)."""

    source: str
    line: int | None
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "line": self.line, "message": self.message}


@dataclass(slots=True)
class AuditReport:
    """What one audit produced: the resources seen, one finding per (rule, resource), and
    the files that could not be read. `rules` maps rule id to its metadata (title,
    description, rationale, remediation, severity, help_uri) for SARIF / HTML reports."""

    resources: list[Resource] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    rules: dict[str, dict[str, Any]] = field(default_factory=dict)

    def summary(self) -> dict[str, int]:
        tally = Counter(f.status for f in self.findings)
        return {"resources": len(self.resources), "passed": tally["pass"], "failed": tally["fail"],
                "exempt": tally["exempt"], "errors": tally["error"]}

    def to_json(self) -> dict[str, Any]:
        """The JSON report of contract 2."""
        return {"summary": self.summary(), "resources": [r.summary() for r in self.resources],
                "findings": [f.to_json() for f in self.findings],
                "diagnostics": [d.to_json() for d in self.diagnostics]}
