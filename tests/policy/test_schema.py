"""The committed JSON Schema and policy reference are exactly what the registries generate."""

from __future__ import annotations

import json
from pathlib import Path

from jsonschema import Draft202012Validator

from amlguard.policy.loader import default_policies_dir, load_pack
from amlguard.policy.operators import OPERATORS
from amlguard.policy.schema import generate_reference, generate_schema, render_readme
from amlguard.policy.valuetypes import VALUE_TYPES
from amlguard.yamlsource import load_documents

POLICIES = default_policies_dir()
FIX = "run `python -m amlguard.policy.gen_docs` and commit the result"


def test_committed_schema_is_the_generated_one() -> None:
    committed = json.loads((POLICIES / "schema" / "amlguard-policy.schema.json").read_text(encoding="utf-8"))
    assert committed == generate_schema(), FIX


def test_readme_generated_sections_are_up_to_date() -> None:
    text = (POLICIES / "README.md").read_text(encoding="utf-8")
    assert render_readme(text, load_pack(POLICIES).rules) == text, FIX


def test_schema_is_valid_and_covers_every_operator_and_value_type() -> None:
    schema = generate_schema()
    Draft202012Validator.check_schema(schema)
    condition = schema["$defs"]["condition"]["properties"]
    assert set(OPERATORS) <= set(condition)
    assert condition["value_type"]["enum"] == list(VALUE_TYPES)
    reference = generate_reference()
    for name in OPERATORS:
        assert f"| `{name}` |" in reference
    for name in VALUE_TYPES:
        assert f"| `{name}` |" in reference


def test_the_whole_file_schema_accepts_the_default_pack_and_rejects_a_bad_rule() -> None:
    validator = Draft202012Validator(generate_schema())
    files = sorted(POLICIES.glob("*.yaml")) + sorted((POLICIES / "tests").glob("*.yaml"))
    checked = 0
    for path in files:
        for doc in load_documents(path.read_text(encoding="utf-8")):
            if doc.value.get("kind") in ("AuditRules", "PolicyTest"):
                assert not list(validator.iter_errors(doc.value)), path
                checked += 1
    assert checked >= 10
    bad = {"apiVersion": "amlguard/v1", "kind": "AuditRules",
           "rules": [{"id": "AMLG-NET-001", "title": "t", "severity": "high", "kinds": ["online_endpoint"],
                      "require": {"field": "x", "equalz": 1}, "description": "d", "rationale": "r",
                      "remediation": "f"}]}
    assert list(validator.iter_errors(bad))


def test_schema_file_is_referenced_by_the_pack_files() -> None:
    for path in sorted(Path(POLICIES).glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        if "\nkind: AuditRules" not in text:
            continue  # AlertRouting / MonitorRules files belong to other areas
        assert text.splitlines()[0] == "# yaml-language-server: $schema=schema/amlguard-policy.schema.json", path
