"""Coverage of the default pack by its own PolicyTests (policies/tests): every audit rule has, from
every source kind that can express it, a resource the tests expect to pass and one they expect to
fail, and those expectations hold. What a source cannot express is listed below with the reason."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from amlguard.inventory import load_paths
from amlguard.inventory.armtemplate import is_template
from amlguard.model import Kind, Resource
from amlguard.policy import load_pack
from amlguard.policy.documents import read_documents, validate_documents
from amlguard.policy.testing import PolicyTestDocument, run_policy_tests
from amlguard.yamlsource import load_documents

POLICIES = Path(__file__).resolve().parents[2] / "policies"

# The source kinds `amlguard audit` reads (DESIGN.md contract 2).
YAML_SCHEMA, YAML_SHAPE = "YAML with $schema", "YAML without $schema"
ARM_JSON, GRAPH, SHOW = "ARM JSON", "Resource Graph JSON", "az ml show JSON"
TEMPLATE, BICEP = "ARM template", "Bicep"
SOURCES = (YAML_SCHEMA, YAML_SHAPE, ARM_JSON, GRAPH, SHOW, TEMPLATE, BICEP)
FILE_SOURCES = frozenset(SOURCES)
IAC = frozenset({TEMPLATE, BICEP})
YAML = frozenset({YAML_SCHEMA, YAML_SHAPE})
SERVICE = frozenset({ARM_JSON, GRAPH, SHOW})  # what the service returns: read-only properties included

# Resource kinds a source cannot hold at all.
KIND_GAPS: dict[tuple[str, str], str] = {
    (GRAPH, Kind.DATASTORE.value): "Resource Graph's resources table does not list workspaces/datastores",
    (GRAPH, Kind.ENVIRONMENT.value): "Resource Graph's resources table does not list environment versions",
}

# Rules a source cannot express at all, with the reason.
_READ_ONLY = "a read-only property: only the service reports it, so CLI YAML and infrastructure as code cannot hold it"
_NO_CLI_WS = "not in azure-ai-ml's WorkspaceSchema: CLI YAML cannot set it and `az ml workspace show` does not print it"
_MONITOR = ("diagnostic settings are a separate Microsoft.Insights resource the live inventory reads from Azure "
            "Monitor; no file holds them with the resource (inline live resources in workspace_test.yaml cover it)")
_BY_ID = ("the deployment names its environment by id (ARM environmentId, `show` output); an inline environment's "
          "image and inference routes exist only in CLI YAML")
RULE_GAPS: dict[tuple[str, str], str] = {
    **{(rule, source): _MONITOR for rule in ("AMLG-WS-007", "AMLG-OPS-006") for source in SOURCES},
    **{(rule, source): f"private endpoint connections are {_READ_ONLY}"
       for rule in ("AMLG-NET-005", "AMLG-WS-006") for source in YAML | IAC},
    **{(rule, SHOW): "azure-ai-ml's WorkspaceSchema has no private endpoint connections, so `az ml workspace show` "
                     "prints none" for rule in ("AMLG-NET-005", "AMLG-WS-006")},
    **{("AMLG-PORT-002", source): f"the scoring URI is {_READ_ONLY}" for source in YAML | IAC},
    **{("AMLG-CMP-007", source): f"osImageMetadata is {_READ_ONLY}" for source in YAML | IAC},
    **{(rule, source): _BY_ID for rule in ("AMLG-PORT-001", "AMLG-SUP-002", "AMLG-SUP-003")
       for source in FILE_SOURCES - YAML},
    **{(rule, source): f"v1_legacy_mode / allow_public_access_when_behind_vnet are {_NO_CLI_WS}"
       for rule in ("AMLG-WS-003", "AMLG-WS-004") for source in YAML | {SHOW}},
    **{("AMLG-SUP-006", source): "azure-ai-ml's ServerlessEndpoint has no content safety setting"
       for source in YAML | {SHOW}},
}
# One status a source cannot express, with the reason.
STATUS_GAPS: dict[tuple[str, str, str], str] = {
    **{("AMLG-SUP-001", source, "fail"): "ARM takes the model as an asset id: the CLI registers a local model before "
                                         "it creates the deployment, so ARM files and the service hold only workspace "
                                         "or registry references" for source in FILE_SOURCES - YAML},
}


def source_kind(path: Path, resource: Resource) -> str:
    """Which of SOURCES a resource read from `path` came from."""
    if path.suffix == ".bicep":
        return BICEP
    if path.suffix in (".yml", ".yaml"):
        schemas = {"$schema" in doc.value for doc in load_documents(path.read_text())
                   if isinstance(doc.value, dict)}
        assert len(schemas) == 1, f"{path}: split YAML documents with and without $schema into two fixtures"
        return YAML_SCHEMA if schemas == {True} else YAML_SHAPE
    value = json.loads(path.read_text())
    if is_template(value):
        return TEMPLATE
    if isinstance(value, dict) and "data" in value:
        return GRAPH
    return SHOW if resource.origin == "cli" else ARM_JSON


def _tests() -> list[PolicyTestDocument]:
    problems: list[Any] = []
    documents = [d for d in read_documents(POLICIES / "tests", problems=problems) if d.kind == "PolicyTest"]
    tests = [obj for _, obj in validate_documents(documents, problems)]
    assert not problems
    return tests


def _sources_by_target(test: PolicyTestDocument) -> dict[str, set[str]]:
    """Test resource name or id -> the source kinds of the resources it names ("inline" for those
    written in the PolicyTest itself)."""
    found: dict[str, set[str]] = defaultdict(set)
    for spec in test.value["resources"]:
        if "file" not in spec:
            for key in (spec["name"], spec.get("id")):
                if key:
                    found[key].add("inline")
            continue
        path = Path(test.file).parent / spec["file"]
        for resource in load_paths([path]).resources:
            kind = source_kind(path, resource)
            for key in (resource.name, resource.id):
                if key:
                    found[key].add(kind)
    return found


def coverage() -> dict[tuple[str, str], set[str]]:
    """(rule, source kind) -> the statuses (pass / fail) held expectations show for it."""
    results, problems = run_policy_tests(POLICIES / "tests", policies=POLICIES)
    assert not problems
    by_test = {(t.file, t.name): _sources_by_target(t) for t in _tests()}
    covered: dict[tuple[str, str], set[str]] = defaultdict(set)
    for result in results:
        if result.ok and result.expected in ("pass", "fail"):
            for source in by_test[(result.file, result.test)].get(result.resource, ()):
                covered[(result.rule, source)].add(result.expected)
    return covered


def expressible(rule_kinds: frozenset[str] | tuple[str, ...], source: str) -> bool:
    return any((source, kind) not in KIND_GAPS for kind in rule_kinds)


@pytest.fixture(scope="module")
def covered() -> dict[tuple[str, str], set[str]]:
    return coverage()


def test_every_rule_passes_and_fails_from_every_source_that_can_express_it(
        covered: dict[tuple[str, str], set[str]]) -> None:
    gaps = []
    for rule in load_pack(POLICIES).rules:
        for source in SOURCES:
            if not expressible(tuple(rule.kinds), source) or (rule.id, source) in RULE_GAPS:
                continue
            missing = {status for status in ("pass", "fail") if (rule.id, source, status) not in STATUS_GAPS}
            missing -= covered.get((rule.id, source), set())
            if missing:
                gaps.append(f"{rule.id} from {source}: no expected {' / '.join(sorted(missing))}")
    assert not gaps, (f"{len(gaps)} gaps; add a fixture and a result to policies/tests/, or list the "
                      "combination in RULE_GAPS with the reason:\n" + "\n".join(gaps))


def test_what_is_listed_as_inexpressible_is_not_covered(covered: dict[tuple[str, str], set[str]]) -> None:
    """An allow-list entry that the tests do cover is stale: remove it."""
    stale = [f"{rule} from {source}" for (rule, source) in RULE_GAPS
             if covered.get((rule, source), set()) >= {"pass", "fail"}]
    stale += [f"{rule} {status} from {source}" for (rule, source, status) in STATUS_GAPS
              if status in covered.get((rule, source), set())]
    assert not stale, "covered after all, remove from RULE_GAPS / STATUS_GAPS: " + ", ".join(stale)


def test_every_rule_named_in_the_gaps_exists() -> None:
    ids = {rule.id for rule in load_pack(POLICIES).rules}
    assert {rule for rule, _ in RULE_GAPS} | {rule for rule, _, _ in STATUS_GAPS} <= ids
