"""Table-driven tests of every operator, value type and logic node, through the engine."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from amlguard.model import Finding, Resource
from amlguard.policy.engine import Parameter, PolicyPack, Rule
from amlguard.policy.operators import OPERATORS

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def finding(require: dict[str, Any], fields: dict[str, Any], *, applies: dict[str, Any] | None = None,
            params: dict[str, Any] | None = None, **resource: Any) -> Finding:
    """Evaluate one ad-hoc rule on one resource and return the single finding."""
    rule = Rule(id="AMLG-OPS-900", title="t", severity="low", kinds=("online_deployment",), require=require,
                applies_when=applies, description="d", rationale="r", remediation="fix it",
                parameters={k: Parameter(k, "array" if isinstance(v, list) else "string", v)
                            for k, v in (params or {}).items()})
    pack = PolicyPack([rule])
    res = Resource(kind="online_deployment", id="/x/deployments/blue", name="blue", fields=fields,
                   source="d.yml", line=1, lines={k: i + 2 for i, k in enumerate(fields)}, **resource)
    (out,) = pack.evaluate([res], now=NOW)
    return out


# operator, operand, field value (None = absent), expected status, message fragment (fail only)
CASES: list[tuple[str, Any, Any, str, str]] = [
    ("equals", "disabled", "disabled", "pass", ""),
    ("equals", "disabled", "Disabled", "pass", ""),  # case-insensitive for enums
    ("equals", "disabled", "DISABLED", "pass", ""),
    ("equals", "disabled", "enabled", "fail", "x is 'enabled'; expected 'disabled'"),
    ("equals", "disabled", None, "fail", "x is not set; expected 'disabled'"),
    ("equals", True, True, "pass", ""),
    ("equals", True, 1, "fail", "expected true"),  # true does not equal 1
    ("equals", 3, 3.0, "pass", ""),
    ("equals", 3, "3", "fail", "x is '3'; expected 3"),
    ("equals", ["a", "B"], ["A", "b"], "pass", ""),
    ("notEquals", "key", "aad_token", "pass", ""),
    ("notEquals", "key", "KEY", "fail", "expected not 'key'"),
    ("notEquals", "key", None, "pass", ""),  # absent is not equal (Azure Policy semantics)
    ("in", ["aad_token", "aml_token"], "AML_TOKEN", "pass", ""),
    ("in", ["aad_token", "aml_token"], "key", "fail", "x is 'key'; expected one of ['aad_token', 'aml_token']"),
    ("in", ["aad_token"], None, "fail", "x is not set"),
    ("in", [1, 2], True, "fail", ""),  # a bool is not the number 1
    ("notIn", ["disabled"], "allow_internet_outbound", "pass", ""),
    ("notIn", ["disabled"], "Disabled", "fail", "expected none of ['disabled']"),
    ("notIn", ["disabled"], None, "pass", ""),
    ("exists", True, "x", "pass", ""),
    ("exists", True, None, "fail", "x is not set; expected it to be set"),
    ("exists", False, None, "pass", ""),
    ("exists", False, 5, "fail", "x is set to 5; expected it not to be set"),
    ("match", "mcr.microsoft.com/*", "MCR.microsoft.com/azureml/x:1", "pass", ""),
    ("match", ["*.azurecr.io/*", "mcr.microsoft.com/*"], "acr1.azurecr.io/img:1", "pass", ""),
    ("match", "*.azurecr.io/*", "docker.io/nginx", "fail", "expected to match '*.azurecr.io/*'"),
    ("match", "a*", None, "fail", "x is not set"),
    ("match", "a*", 5, "fail", ""),
    ("notMatch", "*:latest", "img:1.2", "pass", ""),
    ("notMatch", "*:latest", "img:latest", "fail", "expected not to match '*:latest'"),
    ("regex", "^https://", "https://ep.westeurope.inference.ml.azure.com/score", "pass", ""),
    ("regex", "^https://", "http://10.0.0.4/score", "fail", "expected to match regex '^https://'"),
    ("regex", "^HTTPS://", "https://x", "pass", ""),  # case-insensitive by default
    ("notRegex", "(?i)test", "prod-ep", "pass", ""),
    ("notRegex", "test", "my-test-ep", "fail", "not to match regex"),
    ("less", 90000, 5000, "pass", ""),
    ("less", 5000, 5000, "fail", "x is 5000; expected < 5000"),
    ("lessOrEquals", 5000, 5000, "pass", ""),
    ("lessOrEquals", 5000, 5001, "fail", "expected <= 5000"),
    ("greater", 1, 2, "pass", ""),
    ("greater", 1, 1, "fail", "expected > 1"),
    ("greaterOrEquals", 3, 3, "pass", ""),
    ("greaterOrEquals", 3, 2, "fail", "x is 2; expected >= 3"),
    ("greaterOrEquals", 3, "3", "fail", "x is '3'; expected >= 3"),  # text is not a number
    ("greaterOrEquals", 3, None, "fail", "x is not set; expected >= 3"),
    ("greaterOrEquals", 1, True, "fail", ""),  # a bool is not a number
    ("contains", "owner", {"Owner": "team-a"}, "pass", ""),  # tag names are case-insensitive
    ("contains", ["owner", "cost_center"], {"owner": "a"}, "fail", "(missing 'cost_center')"),
    ("contains", "x-request-id", ["X-Request-Id", "traceparent"], "pass", ""),
    ("contains", "score", "/score/v1", "pass", ""),
    ("contains", "owner", None, "fail", "x is not set"),
    ("notContains", "AZUREML_DEBUG", {"LOG": "1"}, "pass", ""),
    ("notContains", ["a", "b"], ["b"], "fail", "(has 'b')"),
    ("notContains", "a", None, "pass", ""),
]


@pytest.mark.parametrize(("op", "operand", "value", "status", "fragment"), CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_operator(op: str, operand: Any, value: Any, status: str, fragment: str) -> None:
    fields = {} if value is None else {"x": value}
    out = finding({"field": "x", op: operand}, fields)
    assert out.status == status, out.message
    assert fragment in out.message
    if status == "fail":
        assert out.field == "x"
        assert out.line == (2 if value is not None else 1)  # the field's line, else the resource's


def test_every_registered_operator_has_a_case() -> None:
    assert {c[0] for c in CASES} == set(OPERATORS)


def test_case_sensitive_opt_in() -> None:
    assert finding({"field": "x", "equals": "Disabled", "case_sensitive": True}, {"x": "disabled"}).status == "fail"
    assert finding({"field": "x", "in": ["A"], "case_sensitive": True}, {"x": "A"}).status == "pass"


# value_type, operator, operand, field value, expected status, fragment
VALUE_TYPE_CASES: list[tuple[str, str, Any, Any, str, str]] = [
    ("integer", "greaterOrEquals", 3, "3", "pass", ""),
    ("integer", "greaterOrEquals", 1024, "80", "fail", "x is '80' (integer: 80); expected >= 1024"),
    ("number", "lessOrEquals", 0.5, "0.25", "pass", ""),
    ("boolean", "equals", True, "true", "pass", ""),
    ("boolean", "equals", True, "True", "pass", ""),
    ("boolean", "equals", True, "false", "fail", "(boolean: false)"),
    ("string", "equals", "3", 3, "pass", ""),
    ("normalize", "equals", "allow_only_approved_outbound", "AllowOnlyApprovedOutbound", "pass", ""),
    ("normalize", "in", ["aad_token"], "AADToken", "pass", ""),
    ("size", "greaterOrEquals", 1, [{"id": "pe1"}], "pass", ""),
    ("size", "equals", 0, None, "pass", ""),
    ("keys", "contains", "owner", {"owner": "a"}, "pass", ""),
    ("age", "greater", 30, "2026-01-01T00:00:00Z", "pass", ""),
    ("age", "greater", 30, "2026-11-20", "fail", "(age: 6.5)"),
    ("expiration", "less", 0, "2026-11-01", "pass", ""),
    ("duration", "lessOrEquals", 10, "PT10S", "pass", ""),
    ("duration", "greaterOrEquals", 60, "5m", "pass", ""),
    ("image_registry", "match", ["mcr.microsoft.com", "*.azurecr.io"], "myacr.azurecr.io/a/b:1", "pass", ""),
    ("image_registry", "match", ["mcr.microsoft.com"], "python:3.11", "fail", "(image_registry: 'docker.io')"),
    ("image_registry", "match", ["localhost:5000"], "localhost:5000/a", "pass", ""),
    ("image_tag", "notIn", ["latest"], "mcr.microsoft.com/a:1.2", "pass", ""),
    ("image_tag", "notIn", ["latest"], "mcr.microsoft.com/a", "fail", "(image_tag: 'latest')"),
    ("image_tag", "notIn", ["latest"], "a/b@sha256:abc", "pass", ""),
    ("asset_reference", "in", ["workspace", "registry"], "azureml:my-model:1", "pass", ""),
    ("asset_reference", "in", ["workspace", "registry"], "azureml:my-model@latest", "pass", ""),
    ("asset_reference", "in", ["workspace", "registry"],
     "azureml://registries/azureml/models/phi/versions/3", "pass", ""),
    ("asset_reference", "in", ["workspace", "registry"],
     "/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/w/models/m/versions/1",
     "pass", ""),
    ("asset_reference", "in", ["workspace", "registry"], "./model", "fail", "(asset_reference: 'local_path')"),
    ("asset_reference", "in", ["workspace", "registry"], {"path": "model/"}, "fail", "(asset_reference: 'inline')"),
    ("asset_version", "notIn", ["latest", "@latest"], "azureml:m:3", "pass", ""),
    ("asset_version", "notIn", ["latest", "@latest"], "azureml:m@latest", "fail", "(asset_version: '@latest')"),
    ("asset_version", "notIn", ["latest", "@latest"], "azureml:m", "fail", "(asset_version: 'latest')"),
    ("asset_version", "notIn", ["latest", "@latest"], "azureml://registries/r/models/m/versions/7", "pass", ""),
    ("asset_version", "notIn", ["latest", "@latest"], "azureml://registries/r/models/m/labels/latest", "fail",
     "(asset_version: '@latest')"),
    ("asset_version", "equals", "./model", "./model", "pass", ""),  # not a reference: unchanged
]


@pytest.mark.parametrize(("vt", "op", "operand", "value", "status", "fragment"), VALUE_TYPE_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(VALUE_TYPE_CASES)])
def test_value_type(vt: str, op: str, operand: Any, value: Any, status: str, fragment: str) -> None:
    fields = {} if value is None else {"x": value}
    out = finding({"field": "x", "value_type": vt, op: operand}, fields)
    assert out.status == status, out.message
    assert fragment in out.message


# logic: condition, fields, expected status, fragment
LOGIC_CASES: list[tuple[dict[str, Any], dict[str, Any], str, str]] = [
    ({"allOf": [{"field": "a", "equals": 1}, {"field": "b", "equals": 2}]}, {"a": 1, "b": 2}, "pass", ""),
    ({"allOf": [{"field": "a", "equals": 1}, {"field": "b", "equals": 2}]}, {"a": 1, "b": 3},
     "fail", "b is 3; expected 2"),
    ({"anyOf": [{"field": "a", "equals": 1}, {"field": "b", "equals": 2}]}, {"a": 0, "b": 2}, "pass", ""),
    ({"anyOf": [{"field": "a", "equals": 1}, {"field": "b", "equals": 2}]}, {"a": 0, "b": 0},
     "fail", "none of the alternatives holds: a is 0; expected 1; or b is 0; expected 2"),
    ({"not": {"field": "a", "equals": "key"}}, {"a": "key"}, "fail", "a is 'key'; expected not 'key'"),
    ({"not": {"field": "a", "equals": "key"}}, {"a": "aad_token"}, "pass", ""),
    ({"not": {"not": {"field": "a", "exists": True}}}, {"a": 1}, "pass", ""),
    ({"not": {"anyOf": [{"field": "a", "equals": 1}, {"field": "b", "equals": 2}]}}, {"a": 0, "b": 2},
     "fail", "b is 2; expected not 2"),
    ({"allOf": [{"field": "a", "equals": 1}, {"field": "b", "equals": 2}, {"field": "c", "equals": 3},
                {"field": "d", "equals": 4}]}, {"a": 1, "b": 2, "c": 3, "d": 5}, "fail", "d is 5"),
    # count over a list with a where-clause (fields relative to the item)
    ({"count": {"field": "rules", "where": {"field": "type", "equals": "fqdn"}}, "greaterOrEquals": 2},
     {"rules": [{"type": "FQDN"}, {"type": "fqdn"}, {"type": "private_endpoint"}]}, "pass", ""),
    ({"count": {"field": "rules", "where": {"field": "type", "equals": "fqdn"}}, "equals": 0},
     {"rules": [{"type": "fqdn"}]}, "fail",
     "the number of rules items where item type equals 'fqdn' is 1; expected 0"),
    ({"count": {"field": "routes"}, "equals": 3}, {"routes": {"a": {}, "b": {}, "c": {}}}, "pass", ""),
    ({"count": {"field": "routes", "where": {"field": "port", "less": 1024}}, "equals": 0},
     {"routes": {"live": {"port": 80}, "score": {"port": 5001}}}, "fail", "is 1; expected 0"),
    ({"count": {"field": "hdrs", "where": {"field": "@", "match": "x-*"}}, "equals": 1},
     {"hdrs": ["x-request-id", "traceparent"]}, "pass", ""),
    ({"count": {"field": "missing"}, "equals": 0}, {}, "pass", ""),
    # value subject reads a constant / parameter, tag subject reads tags
    ({"value": 5, "greater": 3}, {}, "pass", ""),
    ({"tag": "Owner", "exists": True}, {"tags": {"owner": "a"}}, "pass", ""),
    ({"tag": "owner", "equals": "team-a"}, {"tags": {"owner": "team-b"}}, "fail", "tag 'owner' is 'team-b'"),
    # default applies the Azure default when the field is absent, and the message says so
    ({"field": "p", "equals": "disabled", "default": "enabled"}, {}, "fail",
     "p is not set; Azure defaults it to enabled; expected 'disabled'"),
    ({"field": "p", "equals": "enabled", "default": "enabled"}, {}, "pass", ""),
]


@pytest.mark.parametrize(("condition", "fields", "status", "fragment"), LOGIC_CASES,
                         ids=[f"logic-{i}" for i in range(len(LOGIC_CASES))])
def test_logic(condition: dict[str, Any], fields: dict[str, Any], status: str, fragment: str) -> None:
    out = finding(condition, fields)
    assert out.status == status, out.message
    assert fragment in out.message


def test_resource_attributes_are_fields() -> None:
    out = finding({"field": "compute_type", "equals": "managed"}, {}, compute_type="kubernetes")
    assert out.status == "fail"
    assert "compute_type is 'kubernetes'" in out.message
    assert finding({"field": "live", "equals": True}, {}, live=True).status == "pass"


def test_defaulted_field_message_and_exists() -> None:
    """A value the inventory filled from the Azure default is named as such and is not 'set'."""
    fields = {"public_network_access": "enabled"}
    out = finding({"field": "public_network_access", "equals": "disabled"}, fields,
                  defaulted={"public_network_access"})
    assert out.message == ("public_network_access is not set; Azure defaults it to enabled; "
                           "expected 'disabled'")
    assert out.line == 2  # the resource line map still points at it when the inventory gives one
    out = finding({"field": "request_settings.request_timeout_ms", "exists": True},
                  {"request_settings": {"request_timeout_ms": 5000}}, defaulted={"request_settings"})
    assert out.status == "fail"
    assert "Azure defaults it to 5000" in out.message


def test_parameter_reference() -> None:
    out = finding({"field": "auth_mode", "in": {"param": "allowed"}}, {"auth_mode": "key"},
                  params={"allowed": ["aad_token"]})
    assert out.status == "fail"
    assert "expected one of ['aad_token']" in out.message


def test_empty_allow_list_branch_is_not_in_the_message() -> None:
    condition = {"anyOf": [{"value": {"param": "ports"}, "value_type": "size", "equals": 0},
                           {"field": "port", "in": {"param": "ports"}}]}
    assert finding(condition, {"port": 8080}, params={"ports": []}).status == "pass"
    out = finding(condition, {"port": 8080}, params={"ports": [5001]})
    assert out.status == "fail"
    assert out.message == "port is 8080; expected one of [5001]"


def test_applies_when_false_is_not_applicable_with_reason() -> None:
    out = finding({"field": "a", "equals": 1}, {"a": 2}, applies={"field": "compute_type", "notEquals": "kubernetes"},
                  compute_type="kubernetes")
    assert out.status == "not_applicable"
    assert out.message.startswith("not applicable: compute_type is 'kubernetes'")


def test_a_catastrophic_regex_runs_in_linear_time() -> None:
    """`^(a+)+$` passed validate and hung audit on a 35-character value (Python's backtracking
    re: ~2^35 steps). Run in a child process so a regression fails instead of hanging the suite."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        from tests.policy.test_conditions import finding
        out = finding({"field": "x", "regex": "^(a+)+$"}, {"x": "a" * 35 + "!"})
        assert out.status == "fail", out
        out = finding({"field": "x", "notRegex": "^(a|aa)+$"}, {"x": "a" * 5000 + "!"})
        assert out.status == "pass", out
    """)
    subprocess.run([sys.executable, "-c", code], check=True, timeout=20)


def test_a_huge_value_is_an_error_not_a_long_match() -> None:
    from amlguard.policy.operators import REGEX_TEXT_LIMIT

    out = finding({"field": "x", "regex": "x"}, {"x": "a" * (REGEX_TEXT_LIMIT + 1)})
    assert out.status == "error" and f"longer than the {REGEX_TEXT_LIMIT:,} characters" in out.message
