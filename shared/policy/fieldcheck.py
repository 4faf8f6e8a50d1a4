"""Warnings of `amlguard policy validate`: a `field:` a rule names that no kind it targets has.
A misspelt field (`instance_typ`) is valid policy and fails every resource; the field catalogue
comes from the inventory's normaliser (amlguard.inventory.catalogue), so it knows each kind's fields."""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from amlguard.policy.conditions import FIELDS_PREFIX, RESOURCE_ATTRIBUTES
from amlguard.policy.documents import Problem, read_documents

__all__ = ["unknown_fields"]


def _fields(node: Any, path: str) -> Iterator[tuple[str, str]]:
    """(dotted path of the `field` key, field name) of every resource field a condition reads; a
    count's where-clause reads the items, not the resource, and is left out."""
    if isinstance(node, dict):
        if isinstance(node.get("field"), str):
            yield f"{path}.field", node["field"]
        count = node.get("count")
        if isinstance(count, dict) and isinstance(count.get("field"), str):
            yield f"{path}.count.field", count["field"]
        for key in ("allOf", "anyOf"):
            for index, child in enumerate(node.get(key) or []):
                yield from _fields(child, f"{path}.{key}.{index}")
        if "not" in node:
            yield from _fields(node["not"], f"{path}.not")


def unknown_fields(path: str | Path) -> list[Problem]:
    """One warning per rule condition naming a field that none of the rule's kinds has."""
    from amlguard.inventory.catalogue import known_fields  # the inventory, only when validating

    catalogue = known_fields()
    warnings: list[Problem] = []
    for document in read_documents(path, problems=[]):
        value = document.doc.value
        if document.kind != "AuditRules" or not isinstance(value, dict):
            continue
        for index, rule in enumerate(value.get("rules") or []):
            if not isinstance(rule, dict) or not isinstance(rule.get("kinds"), list):
                continue
            kinds = [k for k in rule["kinds"] if k in catalogue]
            known = frozenset().union(*(catalogue[k] for k in kinds)) if kinds else frozenset()
            for part in ("applies_when", "require"):
                for where, name in _fields(rule.get(part), f"rules.{index}.{part}"):
                    top = name.removeprefix(FIELDS_PREFIX).split(".", 1)[0]
                    if name in RESOURCE_ATTRIBUTES or top in known or not kinds:
                        continue
                    close = difflib.get_close_matches(top, sorted(known), n=1)
                    hint = f"; did you mean '{close[0]}'?" if close else ""
                    warnings.append((document.file, document.doc.line_of(where), where,
                                     f"no {' or '.join(kinds)} has a field '{top}' (the rule would fail or never "
                                     f"apply to every resource){hint}"))
    return warnings
