"""The condition operators, each registered with its JSON-schema fragment and documentation.

Cloud Custodian style (`c7n/registry.py`): `@register("equals", ...)` puts an operator in
`OPERATORS`; the policy JSON Schema and the operator table in policies/README.md are generated
from this registry (shared/policy/schema.py), so the docs cannot drift from the code.

An operator's `build(expected, case_sensitive)` runs once, when a rule is compiled, and returns
a predicate `actual -> bool` that runs per resource. Absent values arrive as None; each
operator decides what None means (Azure Policy semantics: a missing field is not equal to
anything, so `notEquals`/`notIn`/`notContains`/`notMatch` hold for it).
"""

from __future__ import annotations

import fnmatch
import json
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import re2

from amlguard.registry import Registry

__all__ = ["OPERATORS", "REGEX_TEXT_LIMIT", "Operator", "PolicyRegex", "Predicate", "register", "show"]

Predicate = Callable[[Any], bool]


@dataclass(frozen=True, slots=True)
class Operator:
    """One condition operator: how to build its predicate, its operand schema, its docs."""

    name: str
    build: Callable[[Any, bool], Predicate]
    schema: dict[str, Any]
    summary: str
    example: str
    describe: Callable[[Any], str]
    # explain(actual, expected) adds a detail to a failure message (e.g. which tags are missing)
    detail: Callable[[Any, Any], str | None] | None = None
    # exists reads "is the field written" rather than its value (defaults do not count as set)
    presence: bool = False
    # check(name, operand) names what is wrong with an operand the JSON Schema cannot judge (a
    # parameter's value, a regex's syntax); None when it is fine
    check: Callable[[str, Any], str | None] | None = None


OPERATORS: Registry[Operator] = Registry("operator")


def register(name: str, *, schema: dict[str, Any], summary: str, example: str,
             describe: Callable[[Any], str], detail: Callable[[Any, Any], str | None] | None = None,
             presence: bool = False, check: Callable[[str, Any], str | None] | None = None
             ) -> Callable[[Callable[[Any, bool], Predicate]], Callable[[Any, bool], Predicate]]:
    """Decorator registering `build(expected, case_sensitive) -> predicate` as operator `name`.

    The compiler calls `build` once per condition and runs the predicate it returns on every
    resource, for built-in and registered operators alike: a fast operator is one whose build
    returns a cheap predicate (see `_equals`).
    """

    def decorate(build: Callable[[Any, bool], Predicate]) -> Callable[[Any, bool], Predicate]:
        OPERATORS.add(name, Operator(name, build, schema, summary, example, describe, detail, presence, check))
        return build

    return decorate


def show(value: Any) -> str:
    """A value as a policy author would write it: 'text', 3, true, null, ['a', 'b']."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return f"'{str.__str__(value)}'"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(show(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {show(v)}" for k, v in value.items()) + "}"
    return str(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _key(value: Any, case_sensitive: bool) -> Any:
    """A hashable comparison key: text folded unless case-sensitive, bools apart from 0/1."""
    if isinstance(value, str):
        return str.__str__(value) if case_sensitive else value.casefold()
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, (list, dict)):
        return ("json", json.dumps(_fold_deep(value, case_sensitive), sort_keys=True, default=str))
    return value


def _fold_deep(value: Any, case_sensitive: bool) -> Any:
    if isinstance(value, str):
        return value if case_sensitive else value.casefold()
    if isinstance(value, list):
        return [_fold_deep(v, case_sensitive) for v in value]
    if isinstance(value, dict):
        return {str(k): _fold_deep(v, case_sensitive) for k, v in value.items()}
    return value


def _list_operand(name: str, expected: Any) -> str | None:
    return None if isinstance(expected, list) else f"'{name}' takes a list of values; got {show(expected)}"


def _glob_operand(name: str, expected: Any) -> str | None:
    if isinstance(expected, str) or (isinstance(expected, list) and all(isinstance(p, str) for p in expected)):
        return None
    return f"'{name}' takes a glob or a list of globs; got {show(expected)}"


# The longest text a policy regex is matched against. RE2 runs in time linear in the text, so
# this bounds every evaluation (~1 ms here); Azure ML values are names, URIs and image
# references, a few hundred characters at most.
REGEX_TEXT_LIMIT = 100_000


class PolicyRegex:
    """A regular expression from a policy, compiled by RE2: matching takes time linear in the
    text whatever the pattern (`^(a+)+$` cannot backtrack for hours as with Python's `re`), and
    texts longer than REGEX_TEXT_LIMIT are refused rather than matched. The syntax is Python's
    without what needs backtracking (lookarounds, backreferences); ValueError says which."""

    __slots__ = ("_compiled", "pattern")

    def __init__(self, pattern: str, *, case_sensitive: bool = True) -> None:
        options = re2.Options()
        options.log_errors = False  # the error is ours to report, not stderr's
        options.case_sensitive = case_sensitive
        self.pattern = pattern
        try:
            self._compiled = re2.compile(pattern, options)
        except re2.error as exc:
            reason = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
            raise ValueError(f"invalid regular expression {show(pattern)}: {reason}; amlguard matches regexes "
                             "in linear time (RE2), so lookarounds such as (?=...) and backreferences such as "
                             "\\1 are not available, and \\Z is written $") from exc

    def search(self, text: str) -> bool:
        """Whether the pattern occurs in `text`; ValueError for a text over REGEX_TEXT_LIMIT."""
        if len(text) > REGEX_TEXT_LIMIT:
            raise ValueError(f"the value is {len(text):,} characters, longer than the {REGEX_TEXT_LIMIT:,} "
                             f"characters a policy regex is matched against; {show(self.pattern)} was not run")
        return self._compiled.search(text) is not None


def _regex_operand(name: str, expected: Any) -> str | None:
    if not isinstance(expected, str):
        return f"'{name}' takes a regular expression; got {show(expected)}"
    try:
        PolicyRegex(expected)
    except ValueError as exc:
        return str(exc)
    return None


def _number_operand(name: str, expected: Any) -> str | None:
    return None if _is_number(expected) else f"'{name}' compares with a number; got {show(expected)}"


def _negation(build: Callable[[Any, bool], Predicate]) -> Callable[[Any, bool], Predicate]:
    """The operator that holds exactly when `build`'s does not (an absent field included)."""

    def negated(expected: Any, case_sensitive: bool) -> Predicate:
        holds = build(expected, case_sensitive)
        return lambda actual: not holds(actual)

    return negated


# ---------------------------------------------------------------------------------- equality
@register("equals", schema={"description": "the value to compare with (text compares case-insensitively)"},
          summary="The value equals the operand. Text compares case-insensitively (`Disabled` equals "
                  "`disabled`, as in Azure Policy) unless the condition sets `case_sensitive: true`; "
                  "`true` does not equal `1`. An absent field equals nothing (use `default:` or `exists`).",
          example="{field: public_network_access, equals: disabled}",
          describe=show)
def _equals(expected: Any, case_sensitive: bool) -> Predicate:
    if isinstance(expected, str):
        if case_sensitive:
            text = str.__str__(expected)
            return lambda actual: isinstance(actual, str) and str.__str__(actual) == text
        folded = expected.casefold()
        # normalised sources already give the canonical text: the plain comparison settles most
        return lambda actual: actual == folded or (isinstance(actual, str) and actual.casefold() == folded)
    if isinstance(expected, bool):
        return lambda actual: isinstance(actual, bool) and actual is expected
    if _is_number(expected):
        return lambda actual: _is_number(actual) and actual == expected
    if expected is None:
        return lambda actual: actual is None
    want = _key(expected, case_sensitive)
    return lambda actual: actual is not None and _key(actual, case_sensitive) == want


register("notEquals", schema={"description": "the value the field must not have"},
         summary="The value does not equal the operand (same comparison as `equals`); "
                 "an absent field is not equal.",
         example="{field: auth_mode, notEquals: key}",
         describe=lambda e: f"not {show(e)}")(_negation(_equals))


@register("in", schema={"type": "array", "description": "the allowed values"},
          summary="The value is one of the listed values (case-insensitive text).",
          example="{field: auth_mode, in: [aad_token, aml_token]}",
          describe=lambda e: f"one of {show(e)}", check=_list_operand)
def _in(expected: Any, case_sensitive: bool) -> Predicate:
    allowed = frozenset(_key(v, case_sensitive) for v in expected or [])
    if allowed and not case_sensitive and all(isinstance(v, str) for v in expected):
        # text only: the same answer as the general key, without a function call per value
        return lambda actual: isinstance(actual, str) and (actual in allowed or actual.casefold() in allowed)
    return lambda actual: actual is not None and _key(actual, case_sensitive) in allowed


register("notIn", schema={"type": "array", "description": "the forbidden values"},
         summary="The value is none of the listed values; an absent field is not in the list.",
         example="{field: managed_network.isolation_mode, notIn: [disabled]}",
         describe=lambda e: f"none of {show(e)}", check=_list_operand)(_negation(_in))


@register("exists", schema={"type": "boolean", "description": "true: the field must be set; false: unset"},
          summary="`exists: true` holds when the field is written in the source (or returned by the "
                  "service) with a non-null value. A value the inventory filled in from the Azure "
                  "default (listed in Resource.defaulted) does not count as set.",
          example="{field: request_settings.request_timeout_ms, exists: true}",
          describe=lambda e: "to be set" if e else "not to be set", presence=True,
          check=lambda name, e: None if isinstance(e, bool) else f"'exists' takes true or false; got {show(e)}")
def _exists(expected: Any, case_sensitive: bool) -> Predicate:
    want = bool(expected)
    return lambda present: present is want


# ---------------------------------------------------------------------------------- patterns
def _globs(expected: Any) -> list[str]:
    return [expected] if isinstance(expected, str) else [str(p) for p in expected or []]


def _glob_regex(expected: Any, case_sensitive: bool) -> re.Pattern[str]:
    parts = [fnmatch.translate(p) for p in _globs(expected)] or ["(?!)"]
    return re.compile("|".join(f"(?:{p})" for p in parts), 0 if case_sensitive else re.IGNORECASE)


_GLOB_SCHEMA: dict[str, Any] = {
    "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}],
    "description": "a glob (`*`, `?`, `[abc]`) or a list of globs (any may match)",
}


@register("match", schema=_GLOB_SCHEMA,
          summary="The text matches a glob (`*` any run, `?` one character), case-insensitively; "
                  "with a list, any of the globs.",
          example="{field: environment.image, value_type: image_registry, match: ['mcr.microsoft.com', "
                  "'*.azurecr.io']}",
          describe=lambda e: f"to match {show(e)}", check=_glob_operand)
def _match(expected: Any, case_sensitive: bool) -> Predicate:
    pattern = _glob_regex(expected, case_sensitive)
    return lambda actual: isinstance(actual, str) and pattern.match(actual) is not None


register("notMatch", schema=_GLOB_SCHEMA,
         summary="The text matches none of the globs; an absent field does not match.",
         example="{field: environment.image, notMatch: '*:latest'}",
         describe=lambda e: f"not to match {show(e)}", check=_glob_operand)(_negation(_match))


@register("regex", schema={"type": "string", "format": "regex",
                           "description": "a regular expression (RE2: Python syntax without lookarounds "
                                          "or backreferences), searched in the text"},
          summary="The text contains a match of the regular expression (Python syntax, searched like "
                  "`re.search`; anchor with `^...$` for a whole-value match). Case-insensitive unless "
                  "`case_sensitive: true`. Matched by RE2 in time linear in the text, so no pattern can "
                  "hang an audit: lookarounds and backreferences are refused when the pack loads, and a "
                  "value over 100,000 characters gives an `error` finding instead of a match.",
          example="{field: scoring_uri, regex: '^https://'}",
          describe=lambda e: f"to match regex {show(e)}", check=_regex_operand)
def _regex(expected: Any, case_sensitive: bool) -> Predicate:
    search = PolicyRegex(str(expected), case_sensitive=case_sensitive).search
    return lambda actual: isinstance(actual, str) and search(actual)


register("notRegex", schema={"type": "string", "format": "regex",
                             "description": "a regular expression (RE2, as for regex) that must not match"},
         summary="The text does not contain a match of the regular expression.",
         example="{field: name, notRegex: '(?i)test'}",
         describe=lambda e: f"not to match regex {show(e)}", check=_regex_operand)(_negation(_regex))


# ---------------------------------------------------------------------------------- ordering
_NUMBER_SCHEMA: dict[str, Any] = {"type": "number", "description": "the bound to compare with"}


def _ordered(compare: Callable[[Any, Any], bool]) -> Callable[[Any, bool], Predicate]:
    def build(expected: Any, case_sensitive: bool) -> Predicate:
        # inline number test: this predicate runs once per resource and rule
        return lambda actual: (isinstance(actual, (int, float)) and actual.__class__ is not bool
                               and compare(actual, expected))

    return build


register("less", schema=_NUMBER_SCHEMA, summary="The number is below the operand.",
         example="{field: request_settings.request_timeout_ms, less: 90000}",
         describe=lambda e: f"< {show(e)}", check=_number_operand)(_ordered(operator.lt))
register("lessOrEquals", schema=_NUMBER_SCHEMA, summary="The number is at most the operand.",
         example="{field: liveness_probe.timeout, lessOrEquals: 10}",
         describe=lambda e: f"<= {show(e)}", check=_number_operand)(_ordered(operator.le))
register("greater", schema=_NUMBER_SCHEMA, summary="The number is above the operand.",
         example="{field: instance_count, greater: 1}",
         describe=lambda e: f"> {show(e)}", check=_number_operand)(_ordered(operator.gt))
register("greaterOrEquals", schema=_NUMBER_SCHEMA,
         summary="The number is at least the operand. Text is not a number: add `value_type: integer` "
                 "to compare '3' as 3.",
         example="{field: instance_count, greaterOrEquals: {param: min_instances}}",
         describe=lambda e: f">= {show(e)}", check=_number_operand)(_ordered(operator.ge))


# ---------------------------------------------------------------------------------- membership
def _contains_one(actual: Any, item: Any, case_sensitive: bool) -> bool:
    if isinstance(actual, str):
        if not isinstance(item, str):
            return False
        return item in actual if case_sensitive else item.casefold() in actual.casefold()
    if isinstance(actual, dict):
        want = _key(item, case_sensitive)
        return any(_key(k, case_sensitive) == want for k in actual)
    if isinstance(actual, (list, tuple, set, frozenset)):
        want = _key(item, case_sensitive)
        return any(_key(v, case_sensitive) == want for v in actual)
    return False


def _missing_detail(actual: Any, expected: Any) -> str | None:
    items = expected if isinstance(expected, list) else [expected]
    missing = [i for i in items if not _contains_one(actual, i, False)]
    return f"missing {', '.join(show(m) for m in missing)}" if missing and actual is not None else None


def _present_detail(actual: Any, expected: Any) -> str | None:
    items = expected if isinstance(expected, list) else [expected]
    found = [i for i in items if _contains_one(actual, i, False)]
    return f"has {', '.join(show(m) for m in found)}" if found else None


@register("contains", schema={"description": "an item (or a list of items, all required) the value must "
                                             "contain"},
          summary="A list holds the item, a mapping has the key, or a text holds the substring "
                  "(case-insensitive). With a list operand every item must be there; the failure "
                  "message names the missing ones.",
          example="{field: tags, contains: {param: required_tags}}",
          describe=lambda e: f"to contain {show(e)}", detail=_missing_detail)
def _contains(expected: Any, case_sensitive: bool) -> Predicate:
    items = expected if isinstance(expected, list) else [expected]
    return lambda actual: actual is not None and all(_contains_one(actual, i, case_sensitive) for i in items)


@register("notContains", schema={"description": "an item (or a list of items) the value must not contain"},
          summary="The value contains none of the items; an absent field contains nothing.",
          example="{field: environment_variables, notContains: AZUREML_DEBUG}",
          describe=lambda e: f"not to contain {show(e)}", detail=_present_detail)
def _not_contains(expected: Any, case_sensitive: bool) -> Predicate:
    items = expected if isinstance(expected, list) else [expected]
    return lambda actual: actual is None or not any(_contains_one(actual, i, case_sensitive) for i in items)
