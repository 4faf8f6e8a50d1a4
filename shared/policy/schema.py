"""The JSON Schema of amlguard policy files and the policy reference, generated from the registries.

`generate_schema()` builds the schema from the operator and value-type registries;
`python -m amlguard.policy.gen_docs` writes it to policies/schema/amlguard-policy.schema.json and
refreshes the generated sections of policies/README.md (operators, value types, rule table).
Tests fail when the committed files differ from what this module generates.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from amlguard.model import KINDS, SEVERITIES
from amlguard.policy.operators import OPERATORS
from amlguard.policy.valuetypes import VALUE_TYPES
from amlguard.timeparse import duration_pattern

if TYPE_CHECKING:  # the loader imports this module: the rule table takes rules the caller loaded
    from amlguard.policy.engine import Rule

__all__ = ["EFFECTS", "RULE_ID_PATTERN", "SCHEMA_ID", "generate_reference", "generate_schema", "kind_schema",
           "render_readme", "write_generated"]

SCHEMA_ID = "https://amlguard.dev/schemas/amlguard-policy.schema.json"
RULE_ID_PATTERN = r"^AMLG-(NET|AUTH|PORT|OPS|TAG|SUP|CMP|REG|WS)-[0-9]{3}$"
EFFECTS = ("audit", "alert", "remediate")
PARAMETER_TYPES = ("string", "integer", "number", "boolean", "array", "object")
DURATION_PATTERN = duration_pattern("policy")
_STRINGS = {"type": "array", "items": {"type": "string", "minLength": 1}}


def _condition_schema() -> dict[str, Any]:
    ops: dict[str, Any] = {}
    for name, op in OPERATORS.items():
        fragment = dict(op.schema)
        description = fragment.pop("description", op.summary)
        ops[name] = {"description": description,
                     "anyOf": [fragment or {}, {"$ref": "#/$defs/paramRef"}]}
    properties: dict[str, Any] = {
        "allOf": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/condition"},
                  "description": "every condition holds"},
        "anyOf": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/condition"},
                  "description": "at least one condition holds"},
        "not": {"$ref": "#/$defs/condition", "description": "the condition does not hold"},
        "field": {"type": "string", "minLength": 1,
                  "description": "dotted path of a resource field (canonical snake_case, e.g. "
                                 "environment.inference_config.scoring_route.port) or a resource attribute "
                                 "(kind, compute_type, live, name, id, workspace, endpoint_name, origin)"},
        "tag": {"type": "string", "minLength": 1, "description": "a tag name (case-insensitive)"},
        "value": {"description": "a literal or {param: name}; compare a parameter itself"},
        "count": {"type": "object", "additionalProperties": False, "required": ["field"],
                  "properties": {"field": {"type": "string", "minLength": 1,
                                           "description": "path of a list (or mapping: its values)"},
                                 "where": {"$ref": "#/$defs/condition",
                                           "description": "condition on each item; fields are relative "
                                                          "to the item, '@' is the item itself"}},
                  "description": "number of items (matching `where`) in a list or mapping"},
        "value_type": {"enum": list(VALUE_TYPES), "description": "convert the value before comparing"},
        "default": {"description": "value used when the field is absent (the Azure default)"},
        "case_sensitive": {"type": "boolean", "description": "compare text case-sensitively (default false)"},
    }
    properties.update(ops)
    return {
        "type": "object",
        "minProperties": 1,
        "additionalProperties": False,
        "properties": properties,
        "x-expected": "allOf, anyOf, not, or field / tag / value / count with one operator ("
                      + ", ".join(OPERATORS) + ") and optionally value_type, default, case_sensitive",
    }


def _defs() -> dict[str, Any]:
    return {
        "paramRef": {"type": "object", "additionalProperties": False, "required": ["param"],
                     "properties": {"param": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"}},
                     "description": "the value of a rule parameter: {param: name}"},
        "condition": _condition_schema(),
        "parameter": {
            "type": "object", "additionalProperties": False, "required": ["default"],
            "properties": {"type": {"enum": list(PARAMETER_TYPES)},
                           "default": {"description": "value used unless an override or --param sets one"},
                           "description": {"type": "string"}},
        },
        "parameters": {"type": "object", "propertyNames": {"pattern": "^[a-z][a-z0-9_]*$",
                                                             "x-expected": "snake_case parameter names"},
                       "additionalProperties": {"$ref": "#/$defs/parameter"}},
        "override": {
            "type": "object", "additionalProperties": False, "required": ["parameters"],
            "properties": {
                "name": {"type": "string"},
                "when": {"$ref": "#/$defs/condition",
                         "description": "condition on the resource; `tag:` also reads the workspace's tags"},
                "environment": {"anyOf": [{"type": "string"}, _STRINGS],
                                "description": "applies when amlguard runs with this --environment"},
                "rules": {**_STRINGS, "description": "rule ids or globs (default: every rule declaring the "
                                                     "parameters)"},
                "parameters": {"type": "object", "minProperties": 1},
            },
        },
        "exemption": {
            "type": "object", "additionalProperties": False,
            "required": ["name", "reason", "approver", "expires"],
            "properties": {
                "name": {"type": "string", "minLength": 1},
                "rules": {**_STRINGS, "description": "rule ids or globs (omit for every rule)"},
                "resources": {**_STRINGS, "description": "globs on the resource id (case-insensitive)"},
                "names": {**_STRINGS, "description": "globs on the resource name"},
                "resource_regex": {"type": "string", "format": "regex"},
                "tags": {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]},
                         "description": "every listed tag must have this value (globs allowed)"},
                "reason": {"type": "string", "minLength": 1},
                "approver": {"type": "string", "minLength": 1},
                "expires": {"type": "string",
                            "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([Tt ][0-9:.]+([Zz]|[+-][0-9:]+)?)?$",
                            "x-expected": "a date (2026-12-31) or timestamp (2026-12-31T18:00:00Z)"},
            },
        },
        "rule": {
            "type": "object", "additionalProperties": False,
            "required": ["id", "title", "severity", "kinds", "require", "description", "rationale", "remediation"],
            "properties": {
                "id": {"type": "string", "pattern": RULE_ID_PATTERN,
                       "x-expected": "an id AMLG-{NET,AUTH,PORT,OPS,TAG,SUP,CMP,REG,WS}-NNN, e.g. AMLG-NET-001"},
                "title": {"type": "string", "minLength": 1},
                "severity": {"enum": list(SEVERITIES)},
                "kinds": {"type": "array", "minItems": 1, "uniqueItems": True, "items": {"enum": list(KINDS)}},
                "applies_when": {"$ref": "#/$defs/condition",
                                 "description": "scope: when false the finding is not_applicable"},
                "require": {"$ref": "#/$defs/condition", "description": "the compliance condition"},
                "parameters": {"$ref": "#/$defs/parameters"},
                "overrides": {"type": "array", "items": {"$ref": "#/$defs/override"}},
                "effect": {"enum": list(EFFECTS), "default": "audit"},
                "for": {"anyOf": [{"type": "string", "pattern": DURATION_PATTERN}, {"type": "number", "minimum": 0}],
                        "x-expected": "a duration such as 0s, 90s, 5m, 1h or PT5M",
                        "description": "how long a failure must last before its alert fires"},
                "remediate": {"type": "object", "required": ["action"],
                              "properties": {"action": {"type": "string", "minLength": 1}},
                              "description": "what remediation does when effect is remediate"},
                "description": {"type": "string", "minLength": 1},
                "rationale": {"type": "string", "minLength": 1},
                "remediation": {"type": "string", "minLength": 1},
                "help_uri": {"type": "string", "format": "uri"},
                "enabled": {"type": "boolean", "default": True},
            },
        },
        "AuditRules": {
            "type": "object", "additionalProperties": False, "required": ["apiVersion", "kind"],
            "properties": {
                "apiVersion": {"const": "amlguard/v1"},
                "kind": {"const": "AuditRules"},
                "metadata": {"type": "object"},
                "rules": {"type": "array", "items": {"$ref": "#/$defs/rule"}},
                "overrides": {"type": "array", "items": {"$ref": "#/$defs/override"}},
                "exemptions": {"type": "array", "items": {"$ref": "#/$defs/exemption"}},
            },
        },
        "testResource": {
            "type": "object", "additionalProperties": False,
            "properties": {
                "file": {"type": "string", "description": "an Azure ML YAML or ARM JSON file (relative)"},
                "name": {"type": "string"}, "id": {"type": "string"}, "kind": {"enum": list(KINDS)},
                "compute_type": {"enum": [*_compute_types(), None]},
                "workspace": {"type": "string"}, "endpoint_name": {"type": "string"},
                "live": {"type": "boolean"}, "fields": {"type": "object"},
                "defaulted": _STRINGS, "templated": _STRINGS,
            },
        },
        "PolicyTest": {
            "type": "object", "additionalProperties": False,
            "required": ["apiVersion", "kind", "name", "resources", "results"],
            "properties": {
                "apiVersion": {"const": "amlguard/v1"},
                "kind": {"const": "PolicyTest"},
                "name": {"type": "string", "minLength": 1},
                "policies": {"type": "string", "description": "policy folder relative to this file"},
                "now": {"type": "string", "description": "the clock for exemption expiry"},
                "environment": {"type": "string"},
                "parameters": {"type": "object"},
                "workspace_tags": {"type": "object", "additionalProperties": {"type": "object"}},
                "resources": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/testResource"}},
                "results": {"type": "array", "minItems": 1, "items": {
                    "type": "object", "additionalProperties": False, "required": ["rule", "status"],
                    "properties": {
                        "rule": {"type": "string"},
                        "resource": {"type": "string"},
                        "resources": _STRINGS,
                        "status": {"enum": ["pass", "fail", "exempt", "not_applicable", "error", "none"]},
                        "message_contains": {"type": "string"},
                    }}},
            },
        },
    }


def _compute_types() -> list[str]:
    """Endpoints' and deployments' compute types, then the computes' (amlguard.inventory.kinds)."""
    from amlguard.inventory.kinds import COMPUTE_TYPES

    return ["managed", "kubernetes", *sorted({ctype for _, ctype in COMPUTE_TYPES.values()} - {"kubernetes"})]


def generate_schema() -> dict[str, Any]:
    """The JSON Schema of amlguard policy files (AuditRules and PolicyTest documents)."""
    defs = _defs()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "amlguard policy file",
        "description": "Generated from the amlguard operator registry by `python -m amlguard.policy.gen_docs`; "
                       "do not edit.",
        "type": "object",
        "required": ["apiVersion", "kind"],
        "properties": {"apiVersion": {"const": "amlguard/v1"}, "kind": {"enum": ["AuditRules", "PolicyTest"]}},
        "allOf": [
            {"if": {"properties": {"kind": {"const": name}}, "required": ["kind"]},
             "then": {"$ref": f"#/$defs/{name}"}}
            for name in ("AuditRules", "PolicyTest")
        ],
        "$defs": defs,
    }


def kind_schema(kind: str) -> dict[str, Any]:
    """A schema validating one document of `kind` (AuditRules or PolicyTest)."""
    full = generate_schema()
    return {"$schema": full["$schema"], "$defs": full["$defs"], "$ref": f"#/$defs/{kind}"}


# ---------------------------------------------------------------------------------- reference docs
def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def generate_reference() -> str:
    """Markdown tables of operators and value types (the generated part of policies/README.md)."""
    lines = ["### Operators", "", "| operator | operand | meaning | example |", "|---|---|---|---|"]
    for name, op in OPERATORS.items():
        operand = op.schema.get("type") or ("glob or list of globs" if "anyOf" in op.schema else "any value")
        if isinstance(operand, list):
            operand = " or ".join(operand)
        lines.append(f"| `{name}` | {_md(str(operand))} | {_md(op.summary)} | `{_md(op.example)}` |")
    lines += ["", "Every operand may be a parameter reference `{param: name}`.", "",
              "### Value types", "", "| value_type | converts the value to |", "|---|---|"]
    for name, vt in VALUE_TYPES.items():
        lines.append(f"| `{name}` | {_md(vt.description)} |")
    return "\n".join(lines) + "\n"


def _rule_table(rules: Iterable[Rule]) -> str:
    rules = list(rules)
    lines = ["| id | severity | kinds | effect | title |", "|---|---|---|---|---|"]
    for rule in rules:
        lines.append(f"| [{rule.id}](#{rule.id.lower()}) | {rule.severity} | {', '.join(rule.kinds)} | "
                     f"{rule.effect} | {_md(rule.title)} |")
    lines.append("")
    for rule in rules:
        params = ""
        if rule.parameters:
            params = "\n\n**Parameters:** " + "; ".join(
                f"`{p.name}` (default `{json.dumps(p.default)}`)" + (f": {p.description}" if p.description else "")
                for p in rule.parameters.values())
        lines += [f"#### {rule.id}", "", f"**{_md(rule.title)}** — {rule.severity}, {', '.join(rule.kinds)}",
                  "", rule.description.strip(), "", f"*Why:* {rule.rationale.strip()}", "",
                  f"*Fix:* {rule.remediation.strip()}{params}", ""]
    return "\n".join(lines)


_SECTION = re.compile(r"(<!-- BEGIN GENERATED: (?P<name>[a-z]+) -->\n)(.*?)(<!-- END GENERATED: (?P=name) -->)",
                      re.DOTALL)


def render_readme(text: str, rules: Iterable[Rule]) -> str:
    """`text` with its generated sections (`operators`, `rules`: the table of `rules`) refreshed."""
    generators: dict[str, Callable[[], str]] = {"operators": generate_reference,
                                                "rules": lambda: _rule_table(rules)}

    def fill(match: re.Match[str]) -> str:
        generator = generators.get(match.group("name"))
        if generator is None:
            return match.group(0)
        return match.group(1) + generator() + match.group(4)

    return _SECTION.sub(fill, text)


def write_generated(policies: Path, rules: Iterable[Rule]) -> list[Path]:
    """Write the schema file and refresh policies/README.md (rule table: `rules`); returns the paths."""
    schema_path = policies / "schema" / "amlguard-policy.schema.json"
    schema_path.parent.mkdir(parents=True, exist_ok=True)
    schema_path.write_text(json.dumps(generate_schema(), indent=2, sort_keys=False) + "\n", encoding="utf-8")
    written = [schema_path]
    readme = policies / "README.md"
    if readme.exists():
        readme.write_text(render_readme(readme.read_text(encoding="utf-8"), rules), encoding="utf-8")
        written.append(readme)
    return written
