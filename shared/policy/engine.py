"""The policy engine: compiled rules, exemptions, parameter overrides, one-pass evaluation.

A `PolicyPack` holds rules compiled into closures (shared/policy/conditions.py). `evaluate`
groups rules by resource kind and walks the resources once, producing exactly one Finding per
(rule, resource of a targeted kind): pass, fail, exempt, not_applicable or error. Inventory
errors become `error` findings, never passes.
"""

from __future__ import annotations

import contextlib
import fnmatch
import gc
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice, repeat
from typing import Any

from amlguard.inventory.base import InventoryError
from amlguard.model import Finding, Resource, Status
from amlguard.policy.conditions import CompileContext, Node, compile_condition, generate
from amlguard.policy.operators import show
from amlguard.policy.valuetypes import Clock

__all__ = ["Exemption", "Override", "Parameter", "PolicyPack", "Rule"]


@dataclass(slots=True)
class Parameter:
    """A rule parameter: name, type, default, description."""

    name: str
    type: str
    default: Any
    description: str = ""


def _glob_any(patterns: Iterable[str]) -> re.Pattern[str] | None:
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
            self._rules_re = _glob_any(self.rules)
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
    _regex: re.Pattern[str] | None = None
    _tags_re: dict[str, re.Pattern[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._rules_re = _glob_any(self.rules)
        self._ids_re = _glob_any(self.resources)
        self._names_re = _glob_any(self.names)
        self._regex = re.compile(self.resource_regex, re.IGNORECASE) if self.resource_regex else None
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
        if self._regex is not None and not self._regex.search(resource.id or ""):
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
    applies_fn: Callable[[Resource], bool] | None = None
    require_fn: Callable[[Resource], bool] = field(default=bool)

    def __post_init__(self) -> None:
        self.applies_fn = self.applies.fn if self.applies is not None else None
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
    _variants: dict[Any, _Compiled] = field(default_factory=dict, repr=False)

    def default_parameters(self) -> dict[str, Any]:
        return {name: p.default for name, p in self.parameters.items()}

    def compile(self, params: Mapping[str, Any], clock: Clock,
                workspace_tags: dict[str, dict[str, str]] | None = None,
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
        }


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for one generated pass: it allocates a tuple per verdict
    and no cycles, yet each allocation burst would trigger collections that walk every resource."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# the (rule, status) constants of verdict_table: the generated columns give these plain strings
_STATUSES = tuple(status.value for status in Status)


def _kind(resource_kind: Any) -> str:
    return str(getattr(resource_kind, "value", resource_kind))


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
        self._clock = Clock()
        self._lock = threading.Lock()  # compiled closures share the clock: one evaluation at a time
        self._workspace_tags: dict[str, dict[str, str]] = {}
        self._by_id = {r.id: r for r in self.rules}
        self._programs: dict[str, Callable[[list[Resource]], list[tuple[str, ...]]]] = {}
        self._verdicts_fn: Callable[[list[Resource]], list[tuple[str, str, str]]] | None = None
        self._table_fn: Callable[[list[Resource]], list[tuple[tuple[str, str], ...]]] | None = None
        self._raised = False
        self._by_kind: dict[str, list[Rule]] = {}
        for rule in self.rules:
            if rule.enabled:
                for kind in rule.kinds:
                    self._by_kind.setdefault(kind, []).append(rule)
        self._ids = {kind: [r.id for r in rules] for kind, rules in self._by_kind.items()}
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

    def kinds(self) -> set[str]:
        return set(self._by_kind)

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
        compiled = rule._variants.get(override_ids)
        if compiled is None:
            compiled = rule.compile(self.parameters_for(rule, override_ids), self._clock, self._workspace_tags)
            rule._variants[override_ids] = compiled
        return compiled

    def _matching_overrides(self, resource: Resource) -> frozenset[int]:
        return frozenset(i for i, o in enumerate(self._active_overrides)
                         if o.node is None or o.node.fn(resource))

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, resources: Iterable[Resource], *, errors: Iterable[InventoryError] = (),
                 now: datetime | None = None,
                 workspace_tags: Mapping[str, Mapping[str, str]] | None = None) -> list[Finding]:
        """One finding per (rule, resource of a kind the rule targets), by resource order then rule id.

        `now` is the clock for exemption expiry and age value types; `workspace_tags` maps a
        workspace name to its tags for overrides selected by a workspace tag (workspaces among
        `resources` are used automatically).
        """
        with self._lock:
            items = self._prepare(resources, now, workspace_tags)
            findings = self._evaluate(items)
            findings.extend(self._error_findings(errors))
            return findings

    def statuses(self, resources: Iterable[Resource], *, errors: Iterable[InventoryError] = (),
                 now: datetime | None = None,
                 workspace_tags: Mapping[str, Mapping[str, str]] | None = None) -> list[tuple[str, str, str]]:
        """(rule id, resource id, status) in `evaluate`'s order, without building messages.

        The same verdicts as `evaluate` (scope, exemptions, expiry, errors) for callers that only
        gate on them, e.g. "does anything fail at or above high"; several times cheaper.
        """
        with self._lock, _gc_paused():
            items = self._prepare(resources, now, workspace_tags)
            if not self._active_overrides and not any(self._exemptions_by_rule.values()):
                try:  # nothing per resource to adjust: one generated pass straight to the triples
                    out = self._verdicts(items)
                except Exception:  # a rule raised on some resource: the path below isolates it
                    pass
                else:
                    out.extend((f.rule, f.resource, f.status) for f in self._error_findings(errors))
                    return out
            kinds, rows, _matches = self._rows(items)
            its = {kind: iter(kind_rows) for kind, kind_rows in rows.items()}
            ids = self._ids
            # one comprehension over the resources; zip builds the tuples
            out = [t for resource, kind in zip(items, kinds, strict=True) if kind is not None
                   for t in zip(ids[kind], repeat(resource.id), next(its[kind]), strict=False)]
            if self._raised:  # a rule raised on some resource: that verdict is an error
                out = [(r, i, "error" if isinstance(s, Exception) else s) for r, i, s in out]
            out.extend((f.rule, f.resource, f.status) for f in self._error_findings(errors))
            return out

    def verdict_table(self, resources: Iterable[Resource], *, now: datetime | None = None,
                      workspace_tags: Mapping[str, Mapping[str, str]] | None = None
                      ) -> list[tuple[tuple[str, str], ...]]:
        """Per resource, in input order, its (rule id, status) pairs in rule-id order.

        The verdicts of `statuses` laid out as a compliance matrix: row i belongs to resource
        i (a resource no rule targets gets an empty row), and the resource id is not repeated
        in every verdict. Inventory errors are not resources: gate on them separately.
        """
        items = list(resources)
        with self._lock, _gc_paused():
            self._prepare(items, now, workspace_tags)
            if not self._active_overrides and not any(self._exemptions_by_rule.values()):
                try:
                    return self._table(items)
                except Exception:  # a rule raised on some resource: statuses isolates it
                    pass
        triples = iter(self.statuses(items, now=now, workspace_tags=workspace_tags))
        ids = self._ids
        rows: list[tuple[tuple[str, str], ...]] = []
        for resource in items:
            kind = resource.kind if type(resource.kind) is str else _kind(resource.kind)
            rows.append(tuple((rule, status) for rule, _, status in islice(triples, len(ids.get(kind, ())))))
        return rows

    def _prepare(self, resources: Iterable[Resource], now: datetime | None,
                 workspace_tags: Mapping[str, Mapping[str, str]] | None) -> list[Resource]:
        items = list(resources)
        self._clock.now = now if now is not None else datetime.now(UTC)
        if self._clock.now.tzinfo is None:
            self._clock.now = self._clock.now.replace(tzinfo=UTC)
        self._workspace_tags.clear()
        if not self._active_overrides:
            return items  # only override conditions read workspace tags
        for resource in items:
            if _kind(resource.kind) == "workspace" and resource.tags:
                self._workspace_tags[resource.name] = dict(resource.tags)
        for name, tags in (workspace_tags or {}).items():
            self._workspace_tags.setdefault(name, dict(tags))
        return items

    @property
    def _verdicts(self) -> Callable[[list[Resource]], list[tuple[str, str, str]]]:
        """One generated function giving (rule, resource id, status) for every resource in order."""
        if self._verdicts_fn is None:
            self._verdicts_fn = self._generated_pass("triples")
        return self._verdicts_fn

    @property
    def _table(self) -> Callable[[list[Resource]], list[tuple[tuple[str, str], ...]]]:
        """One generated function giving each resource's tuple of (rule, status) pairs."""
        if self._table_fn is None:
            self._table_fn = self._generated_pass("pairs")
        return self._table_fn

    def _generated_pass(self, shape: str) -> Callable[[list[Resource]], list[Any]]:
        """The single generated pass behind `statuses` (shape `triples`) and `verdict_table` (`pairs`).

        Built once per pack from the same rule expressions as `_program`, for when no override
        or exemption can change a verdict afterwards. Each kind's verdicts are one inline tuple
        chosen by the resource's kind, so a resource costs no function call. A pair is one of
        the rule's few (rule, status) constants, picked by a dict lookup on the status: a table
        allocates one tuple per resource, not one per verdict.
        """
        names: dict[str, Any] = {}
        branches = []
        for kind_index, (kind, rules) in enumerate(self._by_kind.items()):
            columns, more = self._columns(kind)
            names.update(more)
            names[f"_kind{kind_index}"] = kind
            items = []
            for index, (rule, column) in enumerate(zip(rules, columns, strict=True)):
                name = f"_rule{kind_index}_{index}"
                if shape == "pairs":
                    names[name] = {status: (rule.id, status) for status in _STATUSES}
                    items.append(f"{name}[{column}]")
                else:
                    names[name] = rule.id
                    items.append(f"({name}, i, {column})")
            branches.append(f"({', '.join(items)},) if k == _kind{kind_index}")
        choice = " else ".join([*branches, "()"])
        # a loop, not a comprehension: the rule expressions use `:=`, which a comprehension's
        # iterable may not contain
        add, read_id = ("append", "") if shape == "pairs" else ("extend", "        i = r.id\n")
        body = (f"def generated(rs):\n    out = []\n    add = out.{add}\n    for r in rs:\n"
                f"        f = r.fields\n{read_id}        k = r.kind\n"
                f"        add({choice})\n    return out\n")
        function: Callable[[list[Resource]], list[Any]] = generate(
            f"<amlguard verdicts as {shape}>", body, names)["generated"]
        return function

    def _program(self, kind: str) -> Callable[[list[Resource]], list[tuple[str, ...]]]:
        """The generated function evaluating every rule of `kind` in ONE pass over its resources.

        Each rule becomes one expression (`'pass' if <require> else 'fail'`, guarded by its
        applies_when), spliced into a single comprehension that yields one tuple of statuses
        per resource, in rule-id order. Built once per kind from the rules' default variants.
        """
        program = self._programs.get(kind)
        if program is None:
            columns, names = self._columns(kind)
            # `for f in [r.fields]` is compiled to a plain assignment (CPython >= 3.9)
            body = f"def program(rs):\n    return [({', '.join(columns)},) for r in rs for f in [r.fields]]\n"
            program = generate(f"<amlguard rules for {kind}>", body, names)["program"]
            self._programs[kind] = program
        return program

    def _columns(self, kind: str) -> tuple[list[str], dict[str, Any]]:
        """One status expression per rule of `kind` (reading `r` and `f = r.fields`), and the names
        they use: `'pass' if <require> else 'fail'`, guarded by the rule's applies_when."""
        names: dict[str, Any] = {}
        columns = []
        for rule in self._by_kind[kind]:
            compiled = rule._variants.get(()) or self._variant(rule, ())
            require, more = compiled.require.code()
            names.update(more)
            column = f"('pass' if {require} else 'fail')"
            if compiled.applies is not None:
                applies, more = compiled.applies.code()
                names.update(more)
                column = f"({column} if {applies} else 'not_applicable')"
            columns.append(column)
        return columns, names

    def _rows(self, items: list[Resource]) -> tuple[list[str | None], dict[str, list[Any]],
                                                     dict[str, list[frozenset[int] | Exception]]]:
        """Statuses of every (rule, resource): one generated pass per kind, then overrides and exemptions.

        Returns the kind of each item (None when no rule targets it), per kind the rows of
        statuses in rule order (a status name, or the exception a rule raised), and per kind
        the override ids each resource matched (empty when the pack has no overrides).
        """
        by_kind = self._by_kind
        kinds = [kind if kind in by_kind else None
                 for kind in [r.kind if type(r.kind) is str else _kind(r.kind) for r in items]]
        rows: dict[str, list[Any]] = {}
        matches: dict[str, list[frozenset[int] | Exception]] = {}
        self._raised = False
        for kind in dict.fromkeys(k for k in kinds if k is not None):
            group = [r for r, k in zip(items, kinds, strict=True) if k == kind]
            rules = by_kind[kind]
            try:
                with _gc_paused():
                    kind_rows: list[Any] = self._program(kind)(group)
            except Exception:  # some resource trips a rule: isolate it, the others keep their verdicts
                kind_rows = [tuple(_one_status(rule._variants[()], r) for rule in rules) for r in group]
                self._raised = any(isinstance(s, Exception) for row in kind_rows for s in row)
            if self._active_overrides:
                matched_list = matches[kind] = [self._safe_overrides(r) for r in group]
                for pos, matched in enumerate(matched_list):
                    if matched:  # parameter overrides: this resource's rules with its own values
                        kind_rows[pos] = row = list(kind_rows[pos])
                        for index, rule in enumerate(rules):
                            if isinstance(matched, Exception):
                                row[index], self._raised = matched, True
                                continue
                            ids = tuple(i for i in self._rule_overrides[rule.id] if i in matched)
                            if ids:
                                row[index] = _one_status(self._variant(rule, ids), group[pos])
                                self._raised = self._raised or isinstance(row[index], Exception)
            if any(self._exemptions_by_rule[rule.id] for rule in rules):
                kind_rows = [self._exempt(rules, row, r) for row, r in zip(kind_rows, group, strict=True)]
            rows[kind] = kind_rows
        return kinds, rows, matches

    def _safe_overrides(self, resource: Resource) -> frozenset[int] | Exception:
        try:
            return self._matching_overrides(resource)
        except Exception as exc:  # an odd resource must not stop the sweep
            return exc

    def _exempt(self, rules: list[Rule], row: Any, resource: Resource) -> Any:
        """`row` with 'exempt' where an unexpired exemption covers the rule and the resource."""
        when = self._clock.now
        out = None
        for index, rule in enumerate(rules):
            exemptions = self._exemptions_by_rule[rule.id]
            if not exemptions or row[index] not in ("pass", "fail"):
                continue
            if any(e.matches(resource) and not e.expired(when) for e in exemptions):
                if out is None:
                    out = list(row)
                out[index] = "exempt"
        return row if out is None else out

    def _compiled_for(self, rule: Rule, matched: frozenset[int] | Exception) -> _Compiled:
        if isinstance(matched, Exception):
            raise matched
        if matched:
            return self._variant(rule, tuple(i for i in self._rule_overrides[rule.id] if i in matched))
        return rule._variants.get(()) or self._variant(rule, ())

    def _evaluate(self, items: list[Resource]) -> list[Finding]:
        findings: list[Finding] = []
        append = findings.append
        exemptions_by_rule = self._exemptions_by_rule
        kinds, rows, matches = self._rows(items)
        its = {kind: iter(kind_rows) for kind, kind_rows in rows.items()}
        matched_its = {kind: iter(kind_matches) for kind, kind_matches in matches.items()}
        empty: frozenset[int] = frozenset()
        by_kind = self._by_kind
        for resource, kind in zip(items, kinds, strict=True):
            if kind is None:
                continue
            row = next(its[kind])
            matched = next(matched_its[kind]) if matched_its else empty
            # passing findings are built here with no further lookups; anything else (failure,
            # scope, exemption, placeholder, error) takes the explaining path
            rid, source, name, workspace = resource.id, resource.source, resource.name, resource.workspace
            lines, rline = resource.lines, resource.line
            tags = resource.fields.get("tags")
            if not isinstance(tags, dict):
                tags = {}
            simple = not resource.templated
            for rule, status in zip(by_kind[kind], row, strict=True):
                if status == "pass" and simple and not exemptions_by_rule[rule.id]:
                    compiled = rule._variants[()] if not matched else self._compiled_for(rule, matched)
                    fieldpath = compiled.primary_field
                    line = lines.get(fieldpath) if fieldpath else rline
                    if line is None:
                        line = resource.line_of(fieldpath) if fieldpath else rline
                    # positional: Finding's field order (shared/model.py) is pinned by a test
                    append(Finding(rule.id, rid, "pass", rule.severity, compiled.pass_message, source, line,
                                   rule.title, kind, name, fieldpath, rule.remediation, rule.effect, None,
                                   None, None, workspace, tags))
                    continue
                try:
                    if isinstance(status, Exception):
                        raise status
                    if status == "fail" and simple and not exemptions_by_rule[rule.id]:
                        compiled = rule._variants[()] if not matched else self._compiled_for(rule, matched)
                        fieldpath, message = compiled.require.explain(resource)
                        fieldpath = fieldpath or compiled.primary_field
                        line = lines.get(fieldpath) if fieldpath else rline
                        if line is None:
                            line = resource.line_of(fieldpath) if fieldpath else rline
                        append(Finding(rule.id, rid, "fail", rule.severity, message, source, line, rule.title,
                                       kind, name, fieldpath, rule.remediation, rule.effect, None, None, None,
                                       workspace, tags))
                        continue
                    append(self._evaluate_one(rule, self._compiled_for(rule, matched), resource))
                except Exception as exc:  # a bug or an odd value must not stop the sweep
                    what = ("parameter overrides could not be selected" if isinstance(matched, Exception)
                            else "rule could not be evaluated")
                    append(self._finding(rule, resource, Status.ERROR.value,
                                         f"{what}: {type(exc).__name__}: {exc}", None, None))
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

    def _evaluate_one(self, rule: Rule, compiled: _Compiled, resource: Resource) -> Finding:
        applies = compiled.applies
        if applies is not None and not applies.fn(resource):
            fieldpath, why = applies.explain(resource)
            # "compute_type is 'kubernetes' (the rule covers: compute_type notEquals 'kubernetes')"
            said = why.split("; expected", 1)[0]
            return self._finding(rule, resource, Status.NOT_APPLICABLE.value,
                                 f"not applicable: {said} (the rule covers: {applies.summary()})",
                                 fieldpath, compiled)
        if compiled.require.fn(resource):
            status, message, fieldpath = Status.PASS.value, compiled.pass_message, compiled.primary_field
        else:
            status = Status.FAIL.value
            fieldpath, message = compiled.require.explain(resource)
            fieldpath = fieldpath or compiled.primary_field
        exemption_record = None
        for exemption in self._exemptions_by_rule[rule.id]:
            if not exemption.matches(resource):
                continue
            if exemption.expired(self._clock.now):
                message += f"; exemption '{exemption.name}' expired on {exemption.expires_text}"
                exemption_record = exemption_record or exemption.record(expired=True)
                continue
            outcome = "the rule passes" if status == Status.PASS.value else f"without it: {message}"
            message = (f"exempt by '{exemption.name}' until {exemption.expires_text} "
                       f"(approved by {exemption.approver}: {exemption.reason}); {outcome}")
            status, exemption_record = Status.EXEMPT.value, exemption.record()
            break
        return self._finding(rule, resource, status, message, fieldpath, compiled, exemption_record)

    def _finding(self, rule: Rule, resource: Resource, status: str, message: str, fieldpath: str | None,
                 compiled: _Compiled | None, exemption: dict[str, Any] | None = None) -> Finding:
        if resource.templated and compiled is not None:
            message += _placeholder_note(resource, compiled.fields)
        line = resource.lines.get(fieldpath) if fieldpath else resource.line
        if line is None:
            line = resource.line_of(fieldpath) if fieldpath else resource.line
        tags = resource.fields.get("tags")
        return Finding(rule.id, resource.id, status, rule.severity, message, resource.source, line, rule.title,
                       _kind(resource.kind), resource.name, fieldpath, rule.remediation, rule.effect, exemption,
                       None, None, resource.workspace, tags if isinstance(tags, dict) else {})


def _one_status(compiled: _Compiled, resource: Resource) -> Any:
    """The status of one resource under one compiled rule, or the exception evaluating it raised."""
    try:
        if compiled.applies_fn is not None and not compiled.applies_fn(resource):
            return "not_applicable"
        return "pass" if compiled.require_fn(resource) else "fail"
    except Exception as exc:
        return exc


def _placeholder_note(resource: Resource, fields: tuple[str, ...]) -> str:
    notes = []
    for path in sorted(resource.templated):
        if any(path == f or path.startswith(f + ".") or f.startswith(path + ".") for f in fields):
            notes.append(f"{path} is a template placeholder ({show(resource.get(path))}) and was evaluated "
                         f"as written")
    return ("; " + "; ".join(notes)) if notes else ""
