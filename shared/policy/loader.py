"""Load a policy folder into a PolicyPack, or refuse it as a whole with every problem listed.

`load_pack(path)` reads every `kind: AuditRules` document under `path` (the bundled pack when
None; several folders are layered into one pack), checks structure against the generated JSON
Schema and meaning (parameters, operands, duplicate ids, exemptions naming unknown rules),
compiles every rule, and raises PolicyError listing each problem as file:line: field: what was
expected. `select_rules` narrows a loaded pack to the rules `--rule` / `--skip-rule` name.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from amlguard.config import default_policies_dir
from amlguard.errors import ConfigError, PolicyError
from amlguard.policy.conditions import CompileContext, compile_condition
from amlguard.policy.documents import (
    PolicyDocument,
    Problem,
    prune_cache,
    read_documents,
    register_document_kind,
    schema_problems,
    validate_documents,
)
from amlguard.policy.engine import Exemption, Override, Parameter, PolicyPack, Rule, glob_any
from amlguard.policy.operators import show
from amlguard.policy.schema import kind_schema
from amlguard.policy.valuetypes import Clock
from amlguard.timeparse import seconds_or_none, time_or_none
from amlguard.yamlsource import LocatedDocument

__all__ = [
    "AuditRulesDocument",
    "coerce_parameter",
    "default_policies_dir",
    "load_pack",
    "parse_audit_rules",
    "parse_param_args",
    "select_rules",
    "validate_dir",
]

_TYPE_OF = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "object"}


class AuditRulesDocument:
    """What one AuditRules document holds once checked."""

    def __init__(self, file: str, doc: LocatedDocument) -> None:
        self.file = file
        self.doc = doc
        self.rules: list[Rule] = []
        self.overrides: list[Override] = []
        self.exemptions: list[Exemption] = []


def _type_matches(type_name: str, value: Any) -> bool:
    if type_name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if type_name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    return _TYPE_OF.get(type(value)) == type_name


def _infer_type(value: Any) -> str:
    return _TYPE_OF.get(type(value), "string")


def parse_audit_rules(doc: LocatedDocument, file: str) -> AuditRulesDocument:
    """Check the meaning of one AuditRules document (already schema-valid) and build its objects."""
    problems: list[Problem] = []
    out = _parse_audit_rules(doc, file, problems)
    if problems:
        raise PolicyError(problems)
    return out


def _parse_audit_rules(doc: LocatedDocument, file: str, problems: list[Problem]) -> AuditRulesDocument:
    """Build what a schema-valid document holds, adding every problem of meaning to `problems`."""

    def problem(path: str, message: str) -> None:
        problems.append((file, doc.line_of(path), path, message))

    out = AuditRulesDocument(file, doc)
    value = doc.value if isinstance(doc.value, dict) else {}
    clock = Clock()
    # each entry is checked on its own: a structurally broken one (already reported by the
    # schema) is skipped, so the problems of meaning in the others are still reported
    for index, spec in enumerate(_entries(value, "rules")):
        try:
            rule = _parse_rule(spec, f"rules.{index}", file, doc, clock, problem)
        except (KeyError, TypeError, AttributeError, ValueError):
            continue
        out.rules.append(rule)
    for oindex, ospec in enumerate(_entries(value, "overrides")):
        try:
            out.overrides.append(_override(ospec, f"overrides.{oindex}", file, doc, problem))
        except (KeyError, TypeError, AttributeError, ValueError):
            continue
    for eindex, espec in enumerate(_entries(value, "exemptions")):
        try:
            exemption = _parse_exemption(espec, f"exemptions.{eindex}", file, doc, problem)
        except (KeyError, TypeError, AttributeError, ValueError):
            continue
        if exemption is not None:
            out.exemptions.append(exemption)
    return out


def _check_remediate(block: dict[str, Any], kinds: tuple[str, ...], path: str, problem: Any) -> None:
    """A `remediate:` block names a registered action, with options it takes, on kinds it changes:
    found when the pack loads, not when the first run would remediate."""
    from amlguard.remediation.actions import ACTIONS

    action = ACTIONS.get(str(block.get("action")))
    if action is None:
        problem(f"{path}.remediate.action", f"unknown remediation action {block.get('action')!r}; "
                                            f"registered: {', '.join(sorted(ACTIONS))}")
        return
    for where, message in action.problems(block, kinds):
        problem(f"{path}.{where}", message)


def _entries(value: dict[str, Any], key: str) -> list[Any]:
    entries = value.get(key)
    return entries if isinstance(entries, list) else []


def _parse_rule(spec: dict[str, Any], path: str, file: str, doc: LocatedDocument, clock: Clock,
                problem: Any) -> Rule:
    parameters: dict[str, Parameter] = {}
    for name, pspec in (spec.get("parameters") or {}).items():
        ptype = pspec.get("type") or _infer_type(pspec.get("default"))
        if not _type_matches(ptype, pspec.get("default")):
            problem(f"{path}.parameters.{name}.default",
                    f"expected {ptype} (the parameter's type), got {show(pspec.get('default'))}")
        parameters[name] = Parameter(name, ptype, pspec.get("default"), str(pspec.get("description", "")))
    effect = spec.get("effect", "audit")
    if effect == "remediate" and not spec.get("remediate"):
        problem(f"{path}.effect", "effect remediate needs a `remediate: {action: ...}` block saying what to do")
    if isinstance(spec.get("remediate"), dict):
        _check_remediate(spec["remediate"], tuple(spec["kinds"]), path, problem)
    for_seconds = seconds_or_none(spec.get("for", 0), "policy")
    if for_seconds is None:
        problem(f"{path}.for", f"expected a duration such as 0s, 5m or PT5M, got {show(spec.get('for'))}")
    rule = Rule(
        id=spec["id"], title=spec["title"], severity=spec["severity"], kinds=tuple(spec["kinds"]),
        require=spec["require"], description=spec["description"], rationale=spec["rationale"],
        remediation=spec["remediation"], applies_when=spec.get("applies_when"), parameters=parameters,
        effect=effect, for_seconds=for_seconds or 0.0, remediate=spec.get("remediate"),
        help_uri=spec.get("help_uri", ""), enabled=spec.get("enabled", True), source=file,
        line=doc.line_of(path), path=path)
    compile_problems: list[tuple[str, str]] = []
    rule.compile(rule.default_parameters(), clock, {}, compile_problems)
    for where, message in compile_problems:
        problem(where, message)
    for oindex, ospec in enumerate(spec.get("overrides") or []):
        override = _override(ospec, f"{path}.overrides.{oindex}", file, doc, problem)
        override.owner = rule.id
        for name in override.parameters:
            if name not in parameters:
                problem(f"{override.path}.parameters.{name}",
                        f"rule {rule.id} has no parameter '{name}'; it declares: "
                        f"{', '.join(parameters) or 'none'}")
        rule.overrides.append(override)
    return rule


def _parse_exemption(espec: dict[str, Any], path: str, file: str, doc: LocatedDocument,
                     problem: Any) -> Exemption | None:
    if not any(espec.get(k) for k in ("resources", "names", "resource_regex", "tags")):
        problem(path, "an exemption needs at least one selector: resources (id globs), names, "
                      "resource_regex or tags")
    expires = time_or_none(espec["expires"])
    if expires is None:
        problem(f"{path}.expires", f"expected a date (2026-12-31) or timestamp, got {show(espec['expires'])}")
    try:
        return Exemption(
            name=espec["name"], reason=espec["reason"], approver=espec["approver"], expires=expires,
            expires_text=str(espec["expires"]), rules=tuple(espec.get("rules") or ()),
            resources=tuple(espec.get("resources") or ()), names=tuple(espec.get("names") or ()),
            resource_regex=espec.get("resource_regex"),
            tags={str(k): str(v) for k, v in (espec.get("tags") or {}).items()},
            source=file, line=doc.line_of(path))
    except ValueError as exc:  # PolicyRegex: not RE2 syntax
        problem(f"{path}.resource_regex", str(exc))
        return None


def _override(spec: dict[str, Any], path: str, file: str, doc: LocatedDocument, problem: Any) -> Override:
    environment = spec.get("environment") or ()
    override = Override(
        parameters=dict(spec["parameters"]), name=str(spec.get("name", "")), when=spec.get("when"),
        environment=(environment,) if isinstance(environment, str) else tuple(environment),
        rules=tuple(spec.get("rules") or ()), source=file, line=doc.line_of(path), path=path)
    if override.when is not None:
        ctx = CompileContext({}, Clock(), {}, "scope")
        compile_condition(override.when, f"{path}.when", ctx)
        for where, message in ctx.problems:
            problem(where, message)
    return override


register_document_kind("AuditRules", lambda: kind_schema("AuditRules"), parse_audit_rules, tolerant=True)


def _assemble(loaded: list[AuditRulesDocument], problems: list[Problem], *,
              parameters: Mapping[str, Any] | None, environment: str | None,
              sources: list[str], pack_of: Mapping[str, Path] | None = None) -> PolicyPack | None:
    """Cross-document checks (duplicate ids, unknown rule references), then the pack."""
    rules: list[Rule] = []
    overrides: list[Override] = []
    exemptions: list[Exemption] = []
    first_seen: dict[str, Rule] = {}
    for part in loaded:
        for rule in part.rules:
            if rule.id in first_seen:
                other = first_seen[rule.id]
                message = f"duplicate rule id {rule.id}; already defined at {other.source}:{other.line}"
                packs = pack_of or {}
                if packs.get(str(rule.source)) != packs.get(str(other.source)):
                    message += (f" in the policy pack {packs.get(str(other.source))}: rule ids are unique across "
                                "the packs loaded together; give your rule an id of its own")
                problems.append((rule.source, rule.line, f"{rule.path}.id", message))
                continue
            first_seen[rule.id] = rule
            rules.append(rule)
        overrides.extend(part.overrides)
        exemptions.extend(part.exemptions)
    by_id = {r.id: r for r in rules}
    for part in loaded:
        named: list[tuple[str, Exemption | Override]] = [
            *((f"exemptions.{i}", e) for i, e in enumerate(part.exemptions)),
            *((f"overrides.{i}", o) for i, o in enumerate(part.overrides))]
        for path, entry in named:  # a glob may match nothing yet; a plain id must name a rule
            for rindex, rule_id in enumerate(entry.rules):
                if not any(ch in rule_id for ch in "*?[") and rule_id not in by_id:
                    problems.append((part.file, part.doc.line_of(f"{path}.rules.{rindex}"), f"{path}.rules.{rindex}",
                                     f"no rule {rule_id} in the pack; expected one of {', '.join(sorted(by_id))}"))
        for index, override in enumerate(part.overrides):
            path = f"overrides.{index}"
            targeted = [r for r in rules if override.targets(r)]
            for name in override.parameters:
                if not any(name in r.parameters for r in targeted):
                    problems.append((part.file, part.doc.line_of(f"{path}.parameters.{name}"),
                                     f"{path}.parameters.{name}",
                                     f"no targeted rule declares parameter '{name}'"))
    # every override value must suit the parameter's type in every rule it reaches
    for rule in rules:
        for override in [o for o in overrides + rule.overrides if o.targets(rule)]:
            for name, value in override.parameters.items():
                param = rule.parameters.get(name)
                if param is not None and not _type_matches(param.type, value):
                    path = f"{override.path}.parameters.{name}"
                    problems.append((override.source, override.line, path,
                                     f"expected {param.type} for {rule.id} parameter '{name}', got {show(value)}"))
    if problems:
        return None
    settings = _check_settings(rules, parameters or {})
    return PolicyPack(rules, exemptions=exemptions, overrides=overrides, parameters=settings,
                      environment=environment, sources=sources)


def coerce_parameter(param: Parameter, value: Any) -> Any:
    """A --param / settings value (often text) as the parameter's declared type."""
    if not isinstance(value, str) or param.type == "string":
        return value
    text = value.strip()
    if param.type == "array" and not text.startswith("["):
        return [item.strip() for item in text.split(",") if item.strip()]
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return value


def _check_settings(rules: list[Rule], parameters: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in parameters.items():
        rule_id, dot, name = key.rpartition(".")
        targets = [r for r in rules if name in r.parameters and (not dot or r.id == rule_id)]
        if not targets:
            known = sorted({f"{r.id}.{p}" for r in rules for p in r.parameters})
            raise ConfigError(f"--param {key}: no rule declares that parameter; known: {', '.join(known)}")
        coerced = coerce_parameter(targets[0].parameters[name], value)
        for rule in targets:
            if not _type_matches(rule.parameters[name].type, coerced):
                raise ConfigError(f"--param {key}={value}: expected {rule.parameters[name].type} "
                                  f"(as {rule.id} declares)")
        out[key] = coerced
    return out


def parse_param_args(args: list[str] | None) -> dict[str, str]:
    """`["min_instances=1", "AMLG-SUP-002.allowed_registries=a,b"]` as a mapping."""
    out: dict[str, str] = {}
    for arg in args or []:
        name, eq, value = arg.partition("=")
        if not eq or not name.strip():
            raise ConfigError(f"--param {arg!r}: expected NAME=VALUE (or RULE-ID.NAME=VALUE)")
        out[name.strip()] = value
    return out


def _check(root: Path, problems: list[Problem], *, every_kind: bool, cache_dir: Path | None = None,
           layered: bool = False) -> tuple[list[PolicyDocument], list[AuditRulesDocument], list[Path]]:
    """What `load_pack` and `amlguard policy validate` both run: read every policy document under
    `root` (a missing or unknown `kind:` is a problem, never a skip), check structure and meaning
    of the AuditRules documents (of every kind with `every_kind`), and refuse a pack without a
    rule (with `layered`, one pack among several: refuse only a folder without AuditRules documents,
    as one holding only exemptions or overrides is useful). Returns the AuditRules documents read,
    those that passed, and the schema marks still to write (see `_schema_checked`); `problems`
    lists the rest."""
    documents = read_documents(root, problems=problems, cache_dir=cache_dir)
    rule_docs = [d for d in documents if d.kind == "AuditRules"]
    marks = [] if every_kind else _schema_checked(rule_docs, cache_dir)
    known = {id(d) for d, mark in zip(rule_docs, marks, strict=False) if mark.exists()}
    fresh = [d for d in (documents if every_kind else rule_docs) if id(d) not in known]
    checked = {id(document): obj for document, obj in validate_documents(fresh, problems)}
    loaded: list[AuditRulesDocument] = []
    for document in rule_docs:
        if id(document) not in known:
            loaded.extend([checked[id(document)]] if id(document) in checked else [])
            continue
        try:  # what validate_documents does once the schema has passed
            loaded.append(parse_audit_rules(document.doc, document.file))
        except PolicyError as exc:
            problems.extend(exc.problems)
    has_rule = bool(rule_docs) if layered else \
        any(_entries(d.doc.value if isinstance(d.doc.value, dict) else {}, "rules") for d in rule_docs)
    if not has_rule and not problems and (rule_docs or not documents or not every_kind):
        # an empty pack would pass every resource: an audit with no rule proves nothing
        found = ("its AuditRules documents list no rule" if rule_docs
                 else "no `kind: AuditRules` documents found" if documents or not every_kind
                 else "no amlguard policy document found")
        problems.append((str(root), None, "", f"no rule in this policy pack: {found}; expected policy YAML with "
                                              "apiVersion: amlguard/v1, kind: AuditRules and a `rules:` list"))
    unwritten = [] if len(known) == len(marks) else marks
    return rule_docs, loaded, unwritten


def _schema_checked(documents: list[PolicyDocument], cache_dir: Path | None) -> list[Path]:
    """Where each document's "passed the schema" mark lives under `cache_dir`/schema-checked (empty:
    no cache).

    The mark's name digests what decides the verdict: the generated schema, the document's value
    (repr tells 'x' from a date and keeps key order), and the folder jsonschema is installed in
    (its mtime changes when any package there, a format checker included, is added or upgraded).
    A process that finds every mark neither imports jsonschema nor runs it: most of the pack's
    load time on a CLI run. Marks are only written for a pack that loaded without a problem.
    """
    spec = importlib.util.find_spec("jsonschema") if cache_dir is not None else None
    if cache_dir is None or spec is None or not spec.origin:
        return []
    try:
        installed = os.stat(Path(spec.origin).parent.parent)
    except OSError:
        return []
    stamp = hashlib.sha256(json.dumps([kind_schema("AuditRules"), installed.st_mtime_ns],
                                      sort_keys=True).encode())
    marks = []
    for document in documents:
        digest = stamp.copy()
        digest.update(repr(document.doc.value).encode("utf-8", "surrogatepass"))
        marks.append(cache_dir / "schema-checked" / digest.hexdigest())
    return marks


def _load(roots: list[Path], problems: list[Problem], *, parameters: Mapping[str, Any] | None,
          environment: str | None, cache_dir: Path | None = None) -> PolicyPack | None:
    loaded: list[AuditRulesDocument] = []
    unwritten: list[Path] = []
    pack_of: dict[str, Path] = {}
    for root in roots:
        _, parts, marks = _check(root, problems, every_kind=False, cache_dir=cache_dir, layered=len(roots) > 1)
        loaded += parts
        unwritten += marks
        pack_of.update((part.file, root) for part in parts)
    if not problems and not any(part.rules for part in loaded):
        problems.append((str(roots[0]), None, "", "no rule in these policy packs: their AuditRules documents "
                                                  "list no rule; add a pack with a `rules:` list"))
    if problems:
        return None
    pack = _assemble(loaded, problems, parameters=parameters, environment=environment,
                     sources=sorted({part.file for part in loaded}), pack_of=pack_of)
    if pack is not None and unwritten:
        with contextlib.suppress(OSError):  # a cache that cannot be written only costs time
            unwritten[0].parent.mkdir(parents=True, exist_ok=True)
            for mark in unwritten:
                mark.touch()
            prune_cache(unwritten[0].parent)
    return pack


def load_pack(path: str | Path | Sequence[str | Path] | None = None, *,
              parameters: Mapping[str, Any] | None = None, environment: str | None = None,
              cache_dir: Path | None = None) -> PolicyPack:
    """Load and compile the policy pack at `path` (None: the bundled pack).

    A list of folders is layered into one pack: their rules side by side (a rule id defined twice
    is refused, naming both places), and exemptions and overrides of one pack may name rules of
    another; a folder among several may hold only exemptions or overrides.

    `parameters` holds --param / settings values (`name` for every rule declaring it, or
    `RULE-ID.name`); `environment` selects overrides written with `environment:`. With
    `cache_dir`, documents that passed the JSON Schema before (same text, same schema, same
    jsonschema) are not checked against it again; every other check runs on every load.
    Raises PolicyError listing every problem when any file is invalid.
    """
    roots = ([default_policies_dir()] if path is None else [Path(path)] if isinstance(path, (str, os.PathLike))
             else [Path(p) for p in path])
    if not roots:
        raise ConfigError("no policy pack to load: name a folder (--policies) or keep the bundled pack")
    problems: list[Problem] = []
    pack = _load(roots, problems, parameters=parameters, environment=environment, cache_dir=cache_dir)
    if pack is None:
        raise PolicyError(sorted(problems, key=_problem_order))
    return pack


def select_rules(pack: PolicyPack, only: Sequence[str] = (), skip: Sequence[str] = ()) -> PolicyPack:
    """`pack` with the rules matching a pattern of `only` (all when empty) and none of `skip`:
    ids or globs (`AMLG-NET-*`), case-insensitive. A pattern matching no rule of the pack raises
    ConfigError: a typo must not quietly audit more, or less, than asked."""
    if not only and not skip:
        return pack

    def matching(pattern: str) -> set[str]:
        glob = glob_any([pattern])
        found = {r.id for r in pack.rules if glob is not None and glob.match(r.id)}
        if not found:
            flag = "--rule" if pattern in only else "--skip-rule"
            raise ConfigError(f"{flag} {pattern}: no rule of the policy pack matches it; its rules are "
                              f"{', '.join(r.id for r in pack.rules)}")
        return found

    kept = set().union(*map(matching, only)) if only else {r.id for r in pack.rules}
    kept -= set().union(set(), *map(matching, skip))
    if not kept:
        raise ConfigError("--rule / --skip-rule leave no rule to audit: an audit with no rule proves nothing")
    return PolicyPack([r for r in pack.rules if r.id in kept], exemptions=pack.exemptions,
                      overrides=pack.overrides, parameters=pack.parameters, environment=pack.environment,
                      sources=pack.sources)


def _problem_order(problem: Problem) -> tuple[str, int, str]:
    return (problem[0] or "", problem[1] or 0, problem[2])


def validate_dir(path: str | Path) -> list[Problem]:
    """Every problem in the policy files under `path` (all kinds), sorted by file and line; empty when valid."""
    root = Path(path)
    problems: list[Problem] = []
    audit_docs, _, _ = _check(root, problems, every_kind=True)
    # cross-file checks (duplicate ids, exemptions naming unknown rules) over every rules file
    # whose structure is sound, even when its meaning is not: each problem is reported once
    schema = kind_schema("AuditRules")
    if audit_docs and all(not schema_problems(d, schema) for d in audit_docs):
        partial = [_parse_audit_rules(d.doc, d.file, []) for d in audit_docs]
        cross: list[Problem] = []
        _assemble(partial, cross, parameters=None, environment=None, sources=[])
        problems.extend(cross)
    return sorted(problems, key=_problem_order)
