"""The policy engine: compiled rules, exemptions, parameter overrides and the one-pass `evaluate`
that gives one Finding per (rule, resource of a targeted kind) (docs/policy.md, "How it runs")."""

from __future__ import annotations

import fnmatch
import operator
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from functools import partial
from typing import Any

from amlguard.inventory.base import InventoryError
from amlguard.model import Finding, Resource, Status
from amlguard.policy.conditions import CompileContext, Node, WorkspaceTags, compile_condition
from amlguard.policy.operators import PolicyRegex, show
from amlguard.policy.valuetypes import Clock

__all__ = ["Exemption", "Override", "Parameter", "PolicyPack", "Rule", "glob_any"]


@dataclass(slots=True)
class Parameter:
    """A rule parameter: name, type, default, description."""

    name: str
    type: str
    default: Any
    description: str = ""


def glob_any(patterns: Iterable[str]) -> re.Pattern[str] | None:
    """One case-insensitive pattern matching any of the shell-style globs (`AMLG-NET-*`), or None for
    no glob: how rule ids, resource ids and names are selected everywhere in a pack."""
    parts = [fnmatch.translate(p) for p in patterns]
    return re.compile("|".join(f"(?:{p})" for p in parts), re.IGNORECASE) if parts else None


@dataclass(slots=True)
class Override:
    """Parameter values applied when a resource (or its workspace) matches `when`.

    `environment` matches the environment the pack was loaded for; `rules` narrows which rules
    it touches (ids or globs; default every rule that declares one of the parameters).
    """

    parameters: dict[str, Any]
    name: str = ""
    when: dict[str, Any] | None = None
    environment: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()
    source: str | None = None
    line: int | None = None
    path: str = ""  # dotted path in its document, for messages
    owner: str | None = None  # the rule id for an override written inside a rule
    node: Node | None = None  # compiled `when`
    _rules_re: re.Pattern[str] | None = None

    def targets(self, rule: Rule) -> bool:
        if self.owner is not None and self.owner != rule.id:
            return False
        if not any(name in rule.parameters for name in self.parameters):
            return False
        if not self.rules:
            return True
        if self._rules_re is None:
            self._rules_re = glob_any(self.rules)
        return bool(self._rules_re and self._rules_re.match(rule.id))


@dataclass(slots=True)
class Exemption:
    """A waiver: rules (ids or globs, empty = all) for resources matched by id, name, regex or tag."""

    name: str
    reason: str
    approver: str
    expires: datetime | None
    expires_text: str
    rules: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    resource_regex: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    source: str | None = None
    line: int | None = None
    _rules_re: re.Pattern[str] | None = None
    _ids_re: re.Pattern[str] | None = None
    _names_re: re.Pattern[str] | None = None
    _regex: PolicyRegex | None = None
    _tags_re: dict[str, re.Pattern[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._rules_re = glob_any(self.rules)
        self._ids_re = glob_any(self.resources)
        self._names_re = glob_any(self.names)
        self._regex = PolicyRegex(self.resource_regex, case_sensitive=False) if self.resource_regex else None
        self._tags_re = {k.casefold(): re.compile(fnmatch.translate(str(v)), re.IGNORECASE)
                         for k, v in self.tags.items()}

    def covers_rule(self, rule_id: str) -> bool:
        return self._rules_re is None or self._rules_re.match(rule_id) is not None

    def matches(self, resource: Resource) -> bool:
        """Every selector given must match (id globs, name globs, id regex, tag values)."""
        if self._ids_re is not None and not self._ids_re.match(resource.id or ""):
            return False
        if self._names_re is not None and not self._names_re.match(resource.name or ""):
            return False
        if self._regex is not None and not self._regex.search(resource.id or ""):  # RE2: linear time
            return False
        if self._tags_re:
            tags = {str(k).casefold(): str(v) for k, v in resource.tags.items()}
            for key, pattern in self._tags_re.items():
                value = tags.get(key)
                if value is None or not pattern.match(value):
                    return False
        return True

    def expired(self, now: datetime) -> bool:
        return self.expires is not None and now >= self.expires

    def record(self, *, expired: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "reason": self.reason, "approver": self.approver,
                               "expires": self.expires_text}
        if expired:
            out["expired"] = True
        return out


@dataclass(slots=True)
class _Compiled:
    """One rule compiled for one parameter set."""

    applies: Node | None
    require: Node
    primary_field: str | None
    fields: tuple[str, ...]
    pass_message: str
    require_fn: Callable[[Resource], bool] = field(default=bool)

    def __post_init__(self) -> None:
        self.require_fn = self.require.fn


@dataclass(slots=True)
class Rule:
    """A policy rule as loaded; `compile(params)` gives the closures the engine runs."""

    id: str
    title: str
    severity: str
    kinds: tuple[str, ...]
    require: dict[str, Any]
    description: str
    rationale: str
    remediation: str
    applies_when: dict[str, Any] | None = None
    parameters: dict[str, Parameter] = field(default_factory=dict)
    overrides: list[Override] = field(default_factory=list)
    effect: str = "audit"
    for_seconds: float = 0.0
    remediate: dict[str, Any] | None = None
    help_uri: str = ""
    enabled: bool = True
    source: str | None = None
    line: int | None = None
    path: str = ""  # dotted path in its document (rules.3)

    def default_parameters(self) -> dict[str, Any]:
        return {name: p.default for name, p in self.parameters.items()}

    def compile(self, params: Mapping[str, Any], clock: Clock,
                workspace_tags: WorkspaceTags | None = None,
                problems: list[tuple[str, str]] | None = None) -> _Compiled:
        """Compile applies_when and require for `params`; problems go to `problems` if given."""
        ctx = CompileContext(params, clock, workspace_tags or {}, "resource")
        applies = compile_condition(self.applies_when, f"{self.path}.applies_when", ctx) \
            if self.applies_when is not None else None
        require = compile_condition(self.require, f"{self.path}.require", ctx)
        if problems is not None:
            problems.extend(ctx.problems)
        require_fields = require.fields()
        read = tuple(dict.fromkeys((applies.fields() if applies else []) + require_fields))
        return _Compiled(applies, require, require_fields[0] if require_fields else None, read,
                         f"compliant: {require.summary()}")

    def metadata(self) -> dict[str, Any]:
        """What reports, SARIF, alerts and the dashboard show about the rule."""
        return {
            "id": self.id, "title": self.title, "severity": self.severity, "kinds": list(self.kinds),
            "effect": self.effect, "for_seconds": self.for_seconds, "remediate": self.remediate,
            "description": self.description, "rationale": self.rationale, "remediation": self.remediation,
            "help_uri": self.help_uri,
            "parameters": {name: p.default for name, p in self.parameters.items()},
            "source": self.source,  # the policy file: SARIF names the pack after its folder
        }


def _kind(resource_kind: Any) -> str:
    return str(getattr(resource_kind, "value", resource_kind))


class _ThreadTags(threading.local):
    """Workspace name -> tags of the evaluation running in this thread.

    Override `when` conditions are compiled once per pack and read workspace tags through this
    view, so concurrent evaluations of one pack (service threads) never see each other's.
    """

    tags: Mapping[str, Mapping[str, str]] = {}  # until this thread's first evaluation sets them

    def get(self, name: str, /) -> Mapping[str, str] | None:
        return self.tags.get(name)


_NO_OVERRIDES: frozenset[int] = frozenset()


class PolicyPack:
    """Loaded, validated rules with their exemptions and overrides, ready to evaluate."""

    def __init__(self, rules: list[Rule], *, exemptions: list[Exemption] | None = None,
                 overrides: list[Override] | None = None, parameters: Mapping[str, Any] | None = None,
                 environment: str | None = None, sources: list[str] | None = None) -> None:
        self.rules: list[Rule] = sorted(rules, key=lambda r: r.id)
        self.exemptions: list[Exemption] = list(exemptions or [])
        self.overrides: list[Override] = list(overrides or [])
        self.parameters: dict[str, Any] = dict(parameters or {})  # --param / settings values
        self.environment = environment
        self.sources = list(sources or [])
        self._clock = Clock()  # per thread: concurrent evaluations need no lock
        self._workspace_tags = _ThreadTags()
        self._by_id = {r.id: r for r in self.rules}
        # (rule id, override ids) -> the rule compiled with those overrides' parameter values
        self._variants: dict[tuple[str, tuple[int, ...]], _Compiled] = {}
        self._by_kind: dict[str, list[Rule]] = {}
        for rule in self.rules:
            if rule.enabled:
                for kind in rule.kinds:
                    self._by_kind.setdefault(kind, []).append(rule)
        # overrides that can apply at all in this environment, pack-wide first then per rule
        self._active_overrides: list[Override] = [
            o for o in self.overrides + [o for r in self.rules for o in r.overrides]
            if not o.environment or (environment is not None and environment in o.environment)]
        for override in self._active_overrides:
            if override.when is not None and override.node is None:
                ctx = CompileContext({}, self._clock, self._workspace_tags, "scope")
                override.node = compile_condition(override.when, f"{override.path}.when", ctx)
        self._rule_overrides: dict[str, list[int]] = {
            rule.id: [i for i, o in enumerate(self._active_overrides) if o.targets(rule)]
            for rule in self.rules}
        self._exemptions_by_rule: dict[str, list[Exemption]] = {
            rule.id: [e for e in self.exemptions if e.covers_rule(rule.id)] for rule in self.rules}
        # per kind, each rule with its default variant, whether an exemption may touch it, and the
        # finding fields it fixes (unpacked locals cost less than attribute reads per finding)
        self._plans: dict[str, list[tuple[Rule, _Compiled, bool, str, str, str, str, str]]] = {
            kind: [(rule, self._variant(rule, ()), bool(self._exemptions_by_rule[rule.id]), rule.id, rule.severity,
                    rule.title, rule.remediation, rule.effect) for rule in rules]
            for kind, rules in self._by_kind.items()}

    # ------------------------------------------------------------------ lookups
    def rule(self, rule_id: str) -> Rule:
        """The rule with this id; KeyError names the known ids when there is none."""
        try:
            return self._by_id[rule_id]
        except KeyError:
            raise KeyError(f"no rule {rule_id!r}; known: {', '.join(self._by_id)}") from None

    def rules_metadata(self) -> dict[str, dict[str, Any]]:
        """rule id -> title, description, rationale, remediation, severity, help_uri (for SARIF)."""
        return {rule.id: rule.metadata() for rule in self.rules}

    # ------------------------------------------------------------------ parameters
    def parameters_for(self, rule: Rule, override_ids: tuple[int, ...] = ()) -> dict[str, Any]:
        """Defaults, then --param / settings values, then matching overrides (most specific wins)."""
        params = rule.default_parameters()
        for key, value in self.parameters.items():
            rule_id, dot, name = key.rpartition(".")
            if dot and rule_id != rule.id:
                continue
            if name in params:
                params[name] = value
        for index in override_ids:
            for name, value in self._active_overrides[index].parameters.items():
                if name in params:
                    params[name] = value
        return params

    def _variant(self, rule: Rule, override_ids: tuple[int, ...]) -> _Compiled:
        compiled = self._variants.get((rule.id, override_ids))
        if compiled is None:
            compiled = rule.compile(self.parameters_for(rule, override_ids), self._clock, self._workspace_tags)
            self._variants[(rule.id, override_ids)] = compiled
        return compiled

    def _compiled_for(self, rule: Rule, matched: frozenset[int] | Exception) -> _Compiled:
        if isinstance(matched, Exception):
            raise matched
        return self._variant(rule, tuple(i for i in self._rule_overrides[rule.id] if i in matched))

    def _matching_overrides(self, resource: Resource) -> frozenset[int] | Exception:
        try:
            return frozenset(i for i, o in enumerate(self._active_overrides) if o.node is None or o.node.fn(resource))
        except Exception as exc:  # an odd resource must not stop the sweep: its findings say why
            return exc

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, resources: Iterable[Resource], *, errors: Iterable[InventoryError] = (),
                 now: datetime | None = None, workspace_tags: Mapping[str, Mapping[str, str]] | None = None,
                 workers: int = 1) -> list[Finding]:
        """One finding per (rule, resource of a kind the rule targets), by resource order then rule id.

        `now` is the clock for exemption expiry and age value types; `workspace_tags` maps a
        workspace name to its tags for overrides selected by a workspace tag (workspaces among
        `resources` are used automatically). `workers` > 1 evaluates many resources in forked
        processes (amlguard.forked: only a single-threaded process, the CLI, may ask for it).
        """
        items = list(resources)
        when = now if now is not None else datetime.now(UTC)
        self._clock.now = when if when.tzinfo is not None else when.replace(tzinfo=UTC)
        overriding = bool(self._active_overrides)
        if overriding:  # only override conditions read workspace tags
            tags_by_workspace = {r.name: dict(r.tags) for r in items if _kind(r.kind) == "workspace" and r.tags}
            for name, given in (workspace_tags or {}).items():
                tags_by_workspace.setdefault(name, dict(given))
            self._workspace_tags.tags = tags_by_workspace
        if workers < 2:
            findings = self._findings(items, overriding)
        else:
            from amlguard.forked import spread

            findings = [finding for share in spread(partial(self._findings, overriding=overriding), items, workers,
                                                    minimum=_PARALLEL_MIN_RESOURCES, extra=_SEND_COST, send=_plain,
                                                    receive=_findings_of) for finding in share]
        findings.extend(self._error_findings(errors))
        return findings

    def _findings(self, items: Sequence[Resource], overriding: bool) -> list[Finding]:
        findings: list[Finding] = []
        append = findings.append
        plans = self._plans
        for resource in items:
            kind = resource.kind if type(resource.kind) is str else _kind(resource.kind)
            plan = plans.get(kind)
            if plan is None:
                continue
            matched = self._matching_overrides(resource) if overriding else _NO_OVERRIDES
            rid, source, name, workspace = resource.id, resource.source, resource.name, resource.workspace
            rline, lines = resource.line, resource.lines
            tags = resource.fields.get("tags")
            if not isinstance(tags, dict):
                tags = {}
            templated = resource.templated
            for rule, compiled, exemptable, rule_id, severity, title, remediation, effect in plan:
                try:
                    if matched:
                        compiled = self._compiled_for(rule, matched)
                    exemption, applies = None, compiled.applies
                    if applies is not None and not applies.fn(resource):
                        fieldpath, why = applies.explain(resource)
                        # "compute_type is 'kubernetes' (the rule covers: compute_type notEquals 'kubernetes')"
                        status, said = "not_applicable", why.split("; expected", 1)[0]
                        message = f"not applicable: {said} (the rule covers: {applies.summary()})"
                    # the verdict first; a pass takes the words the compiled rule prepared
                    elif compiled.require_fn(resource):
                        status, message, fieldpath = "pass", compiled.pass_message, compiled.primary_field
                    else:
                        fieldpath, message = compiled.require.explain(resource)
                        status, fieldpath = "fail", fieldpath or compiled.primary_field
                    if exemptable and status != "not_applicable":
                        status, message, exemption = self._exempt(rule, resource, status, message)
                    if templated:
                        message += _placeholder_note(resource, compiled.fields)
                    # positional: Finding's field order (shared/model.py) is pinned by a test
                    line = rline if fieldpath is None or not lines else _line(resource, fieldpath)
                    append(Finding(rule_id, rid, status, severity, message, source, line, title, kind, name,
                                   fieldpath, remediation, effect, exemption, None, None, workspace, tags))
                except Exception as exc:  # a bug or an odd value must not stop the sweep
                    what = ("parameter overrides could not be selected" if isinstance(matched, Exception)
                            else "rule could not be evaluated")
                    append(self._error(rule, resource, f"{what}: {type(exc).__name__}: {exc}"))
        return findings

    def _error_findings(self, errors: Iterable[InventoryError]) -> list[Finding]:
        out = []
        for error in errors:
            targeted = [r for r in self.rules if r.enabled and (error.kind is None or error.kind in r.kinds)]
            for rule in targeted:
                out.append(Finding(rule=rule.id, resource=error.resource, status=Status.ERROR.value,
                                   severity=rule.severity, message=f"could not be read: {error.message}",
                                   source=None, line=None, title=rule.title, kind=error.kind or "",
                                   resource_name=error.resource.rstrip("/").rsplit("/", 1)[-1],
                                   remediation=rule.remediation, effect=rule.effect))
        return out

    def _exempt(self, rule: Rule, resource: Resource, status: str, message: str
                ) -> tuple[str, str, dict[str, Any] | None]:
        """The finding's status, message and exemption record once the rule's exemptions are applied."""
        record = None
        for exemption in self._exemptions_by_rule[rule.id]:
            if not exemption.matches(resource):
                continue
            if exemption.expired(self._clock.now):
                message += f"; exemption '{exemption.name}' expired on {exemption.expires_text}"
                record = record or exemption.record(expired=True)
                continue
            outcome = "the rule passes" if status == Status.PASS.value else f"without it: {message}"
            return (Status.EXEMPT.value, f"exempt by '{exemption.name}' until {exemption.expires_text} "
                    f"(approved by {exemption.approver}: {exemption.reason}); {outcome}", exemption.record())
        return status, message, record

    def _error(self, rule: Rule, resource: Resource, message: str) -> Finding:
        tags = resource.fields.get("tags")
        return Finding(rule.id, resource.id, Status.ERROR.value, rule.severity, message, resource.source,
                       resource.line, rule.title, _kind(resource.kind), resource.name, None, rule.remediation,
                       rule.effect, None, None, None, resource.workspace, tags if isinstance(tags, dict) else {})


# Below this many resources a second process costs more than it saves.
_PARALLEL_MIN_RESOURCES = 1000
# A child sends its findings as tuples, and this process meanwhile pays for the pages the two
# share (copy on write): children take this fraction less (the best of 0.2-0.9 on 5,000 small
# endpoint and deployment files: 106 ms against 132 ms in one process)
_SEND_COST = 0.5
_FINDING_VALUES = operator.attrgetter(*(f.name for f in fields(Finding)))


def _plain(findings: list[Finding]) -> list[tuple[Any, ...]]:
    """Findings as tuples of their fields: a tenth of the cost of pickling the objects."""
    return list(map(_FINDING_VALUES, findings))


def _findings_of(values: list[tuple[Any, ...]]) -> list[Finding]:
    return [Finding(*value) for value in values]


def _line(resource: Resource, fieldpath: str | None) -> int | None:
    """The line of `fieldpath` (or of its nearest written parent), else the resource's line."""
    lines: dict[str, int] = resource.lines
    line: int | None = resource.line
    if fieldpath is not None and lines:  # ARM and Resource Graph resources have no field lines
        line = lines.get(fieldpath)
        if line is None:
            line = resource.line_of(fieldpath)
    return line


def _placeholder_note(resource: Resource, fields: tuple[str, ...]) -> str:
    notes = []
    for path in sorted(resource.templated):
        if any(path == f or path.startswith(f + ".") or f.startswith(path + ".") for f in fields):
            notes.append(f"{path} is a template placeholder ({show(resource.get(path))}) and was evaluated "
                         f"as written")
    return ("; " + "; ".join(notes)) if notes else ""
