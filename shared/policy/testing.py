"""Policy unit tests (`amlguard policy test DIR`), in the spirit of `kyverno test` and `opa test`.

A `kind: PolicyTest` document lists resources (inline, or Azure ML / ARM files read by the file
inventory) and the status each rule must give each resource. The runner loads the pack,
evaluates the resources and reports every expectation that does not hold, with its file and
line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amlguard.errors import ConfigError, PolicyError
from amlguard.inventory.base import InventoryError
from amlguard.model import Finding, Resource
from amlguard.policy.documents import Problem, read_documents, register_document_kind, validate_documents
from amlguard.policy.engine import PolicyPack
from amlguard.policy.loader import load_pack
from amlguard.policy.schema import kind_schema
from amlguard.timeparse import time_or_none
from amlguard.yamlsource import LocatedDocument

__all__ = ["ExpectationResult", "PolicyTestDocument", "format_results", "parse_policy_test", "run_policy_tests"]


@dataclass(slots=True)
class PolicyTestDocument:
    """A checked PolicyTest document."""

    file: str
    doc: LocatedDocument
    name: str
    value: dict[str, Any]


@dataclass(slots=True)
class ExpectationResult:
    """One expected (rule, resource, status) and what the engine said."""

    file: str
    line: int | None
    test: str
    rule: str
    resource: str
    expected: str
    actual: str
    message: str = ""
    ok: bool = False
    why: str = ""


def parse_policy_test(doc: LocatedDocument, file: str) -> PolicyTestDocument:
    """Check a PolicyTest document's meaning (schema-valid already)."""
    value = doc.value
    problems: list[Problem] = []
    names: set[str] = set()
    has_files = False
    for index, spec in enumerate(value["resources"]):
        path = f"resources.{index}"
        if "file" in spec:
            has_files = True
            continue
        if not spec.get("name") or not spec.get("kind"):
            problems.append((file, doc.line_of(path), path, "an inline test resource needs name and kind "
                                                             "(or `file:` pointing at an Azure ML YAML / ARM JSON)"))
            continue
        names.add(spec["name"])
        if spec.get("id"):
            names.add(spec["id"])
    for index, spec in enumerate(value["results"]):
        path = f"results.{index}"
        targets = ([spec["resource"]] if spec.get("resource") else []) + list(spec.get("resources") or [])
        if not targets:
            problems.append((file, doc.line_of(path), path, "expected `resource:` or `resources:` naming a "
                                                             "test resource"))
        for target in targets:
            if target not in names and not has_files:
                problems.append((file, doc.line_of(path), f"{path}.resource",
                                 f"no test resource named '{target}'; defined: {', '.join(sorted(names))}"))
    if value.get("now") is not None and time_or_none(value["now"]) is None:
        problems.append((file, doc.line_of("now"), "now", "expected a date or ISO-8601 timestamp"))
    if problems:
        raise PolicyError(problems)
    return PolicyTestDocument(file, doc, value["name"], value)


register_document_kind("PolicyTest", lambda: kind_schema("PolicyTest"), parse_policy_test)


def _inline_resource(spec: dict[str, Any], index: int, test: PolicyTestDocument) -> Resource:
    prefix = f"resources.{index}.fields."
    lines = {key[len(prefix):]: line for key, line in test.doc.lines.items() if key.startswith(prefix)}
    name = spec["name"]
    fields = dict(spec.get("fields") or {})
    return Resource(kind=spec["kind"], id=spec.get("id") or name, name=name, fields=fields, source=test.file,
                    line=test.doc.line_of(f"resources.{index}"), lines=lines,
                    compute_type=spec.get("compute_type"), workspace=spec.get("workspace"),
                    endpoint_name=spec.get("endpoint_name"), origin="test", live=bool(spec.get("live", False)),
                    defaulted=set(spec.get("defaulted") or ()), templated=set(spec.get("templated") or ()))


def _file_resources(path: Path) -> tuple[list[Resource], list[InventoryError], list[str]]:
    """The resources of a test's `file:` fixture, and what the reader said about it (a file that does
    not exist, cannot be read, or holds no resource)."""
    from amlguard.inventory import load_paths  # the inventory reads files; audit-only loads skip it

    result = load_paths([path])
    return list(result.resources), list(result.errors), [d.message for d in result.diagnostics]


def _matches(finding: Finding, target: str) -> bool:
    return target in (finding.resource, finding.resource_name)


def _has_rules(path: Path, unreadable: list[Problem]) -> bool:
    problems: list[Problem] = []
    found = any(d.kind == "AuditRules" for d in read_documents(path, problems=problems))
    unreadable.extend(problems)
    return found


def _pack_dir(test: PolicyTestDocument, default: Path | None) -> Path:
    if test.value.get("policies"):
        return (Path(test.file).parent / str(test.value["policies"])).resolve()
    # a rules file that cannot be read is that error, not "no policy folder"
    unreadable: list[Problem] = []
    if default is not None and _has_rules(default, unreadable):
        return default
    for parent in Path(test.file).resolve().parents:
        if any(p.suffix in (".yaml", ".yml") for p in parent.iterdir()) and _has_rules_flat(parent, unreadable):
            return parent
        if unreadable:
            break
    if unreadable:
        raise PolicyError(sorted(set(unreadable), key=lambda p: (p[0] or "", p[1] or 0)))
    raise ConfigError(f"{test.file}: no policy folder found; set `policies:` to the folder holding the rules")


def _has_rules_flat(folder: Path, unreadable: list[Problem]) -> bool:
    return any(_has_rules(file, unreadable) for file in sorted(folder.glob("*.y*ml")))


def run_policy_tests(path: str | Path, *, policies: str | Path | None = None
                     ) -> tuple[list[ExpectationResult], list[Problem]]:
    """Run every PolicyTest under `path`; returns (expectation results, invalid-file problems).

    The pack is the test's `policies:` folder, else `policies` / `path` when it holds rules,
    else the nearest parent folder holding rules.
    """
    root = Path(path)
    problems: list[Problem] = []
    documents = [d for d in read_documents(root, problems=problems) if d.kind == "PolicyTest"]
    tests: list[PolicyTestDocument] = [obj for _, obj in validate_documents(documents, problems)]
    results: list[ExpectationResult] = []
    packs: dict[tuple[Path, str, str | None], PolicyPack] = {}
    default = Path(policies) if policies is not None else root if root.is_dir() else root.parent
    for test in tests:
        value = test.value
        pack_dir = _pack_dir(test, default)
        params = {str(k): v for k, v in (value.get("parameters") or {}).items()}
        key = (pack_dir, repr(sorted(params.items())), value.get("environment"))
        if key not in packs:
            try:
                packs[key] = load_pack(pack_dir, parameters=params, environment=value.get("environment"))
            except PolicyError as exc:
                problems.extend(exc.problems)
                continue
        pack = packs[key]
        resources: list[Resource] = []
        errors: list[InventoryError] = []
        for index, spec in enumerate(value["resources"]):
            if "file" in spec:
                found, errs, said = _file_resources(Path(test.file).parent / spec["file"])
                resources.extend(found)
                errors.extend(errs)
                # a fixture not read is a broken test, not one that silently tests less
                problems.extend((test.file, test.doc.line_of(f"resources.{index}.file"), f"resources.{index}.file",
                                 f"{spec['file']}: {message}") for message in said)
            else:
                resources.append(_inline_resource(spec, index, test))
        findings = pack.evaluate(resources, errors=errors, now=time_or_none(value.get("now")),
                                 workspace_tags=value.get("workspace_tags"))
        for index, spec in enumerate(value["results"]):
            targets = ([spec["resource"]] if spec.get("resource") else []) + list(spec.get("resources") or [])
            for target in targets:
                results.append(_check(test, index, spec, target, findings, pack))
    return results, problems


def _check(test: PolicyTestDocument, index: int, spec: dict[str, Any], target: str, findings: list[Finding],
           pack: PolicyPack) -> ExpectationResult:
    rule_id, expected = spec["rule"], spec["status"]
    result = ExpectationResult(test.file, test.doc.line_of(f"results.{index}"), test.name, rule_id, target,
                               expected, "none")
    if rule_id not in {r.id for r in pack.rules}:
        result.why = f"no rule {rule_id} in the pack"
        return result
    found = [f for f in findings if f.rule == rule_id and _matches(f, target)]
    if len(found) > 1:
        result.why = f"{len(found)} findings for one (rule, resource); expected exactly one"
    if found:
        result.actual, result.message = found[0].status, found[0].message
    result.ok = result.actual == expected and not result.why
    contains = spec.get("message_contains")
    if result.ok and contains and contains.casefold() not in result.message.casefold():
        result.ok = False
        result.why = f"message does not contain {contains!r}"
    return result


def format_results(results: list[ExpectationResult], *, verbose: bool = False) -> str:
    """Human report: one line per failed expectation (all with verbose) and a summary line."""
    lines: list[str] = []
    for result in results:
        if result.ok and not verbose:
            continue
        mark = "PASS" if result.ok else "FAIL"
        text = (f"{mark} {result.file}:{result.line}: {result.test}: {result.rule} on {result.resource}: "
                f"expected {result.expected}, got {result.actual}")
        if result.why:
            text += f" ({result.why})"
        if not result.ok and result.message:
            text += f"\n     message: {result.message}"
        lines.append(text)
    passed = sum(1 for r in results if r.ok)
    files = len({r.file for r in results})
    lines.append(f"{passed}/{len(results)} expectations passed in {files} test file(s)")
    return "\n".join(lines)

