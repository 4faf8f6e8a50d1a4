"""The one evaluation path: specialised leaf closures, registered operators, thread safety."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from amlguard.model import Finding, Resource
from amlguard.policy import register, register_value_type
from amlguard.policy.conditions import CompileContext, _Leaf, compile_condition
from amlguard.policy.engine import Override, Parameter, PolicyPack, Rule
from amlguard.policy.operators import OPERATORS, show
from amlguard.policy.valuetypes import VALUE_TYPES, Clock

from .test_engine import endpoint

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)

scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 5000), st.floats(allow_nan=False, width=32),
                    st.sampled_from(["disabled", "Disabled", "DISABLED", "enabled", "key", "aad_token",
                                     "AADToken", "aml_token", "", "x-request-id", "5001"]))
values = st.one_of(scalars, st.lists(scalars, max_size=3), st.dictionaries(st.sampled_from(["a", "owner"]), scalars,
                                                                           max_size=2))
OPERANDS: list[tuple[str, Any]] = [
    ("equals", "disabled"), ("equals", True), ("equals", 3), ("equals", 0.5), ("notEquals", "key"),
    ("notEquals", False), ("in", ["aad_token", "aml_token"]), ("notIn", ["disabled"]), ("in", [1, 2]),
    ("exists", True), ("exists", False), ("greaterOrEquals", 1024), ("less", 3), ("lessOrEquals", 0.5),
    ("greater", 0), ("match", "*able*"), ("contains", "owner"), ("regex", "^a"),
]


def rule(rule_id: str, require: dict[str, Any], kinds: tuple[str, ...] = ("online_endpoint",)) -> Rule:
    return Rule(id=rule_id, title="t", severity="high", kinds=kinds, require=require, description="d",
                rationale="r", remediation="f")


@settings(max_examples=300, deadline=None)
@given(value=values, index=st.integers(0, len(OPERANDS) - 1), default=st.sampled_from([None, "enabled", 2]),
       value_type=st.sampled_from([None, "normalize", "integer"]), defaulted=st.booleans(),
       case_sensitive=st.booleans())
def test_top_level_field_closure_equals_the_general_one(value: Any, index: int, default: Any,
                                                        value_type: str | None, defaulted: bool,
                                                        case_sensitive: bool) -> None:
    # a top-level field is read straight from `fields`; every other path goes through a getter
    op, operand = OPERANDS[index]
    spec: dict[str, Any] = {"field": "a", op: operand, "case_sensitive": case_sensitive}
    if default is not None and op != "exists":
        spec["default"] = default
    if value_type is not None and op != "exists":
        spec["value_type"] = value_type
    resource = Resource(kind="online_endpoint", id="x", name="x", fields={"a": value},
                        defaulted={"a"} if defaulted else set())
    ctx = CompileContext({}, Clock(NOW))
    fast = compile_condition(spec, "c", ctx)
    assert isinstance(fast, _Leaf)
    general = _Leaf(op=OPERATORS[op], expected=operand, case_sensitive=case_sensitive, get=fast.get, label="a",
                    path="a", value_type=value_type if op != "exists" else None,
                    default=spec.get("default", _missing()), clock=ctx.clock, presence_ok=True, param_name=None)
    if op != "exists" and value_type is None:
        assert fast.fn.__code__ is not general.fn.__code__  # the specialised closure is the one under test
    assert fast.fn(resource) == general.fn(resource)
    # and the nested path gives the same verdict as the top-level one
    nested = compile_condition({**spec, "field": "n.a"}, "c", ctx)
    assert nested.fn(dataclasses.replace(resource, fields={"n": {"a": value}},
                                         defaulted={"n.a"} if defaulted else set())) == fast.fn(resource)


def _missing() -> Any:
    from amlguard.policy import conditions

    return conditions._MISSING


@pytest.fixture
def starts_with() -> Iterator[str]:
    """A policy-registered operator, removed again so the generated schema stays the committed one."""

    @register("startsWith", schema={"type": "string"}, summary="The text starts with the operand.",
              example="{field: name, startsWith: ml-}", describe=lambda e: f"to start with {show(e)}")
    def _starts_with(expected: Any, case_sensitive: bool) -> Any:
        prefix = str(expected) if case_sensitive else str(expected).casefold()
        return lambda actual: isinstance(actual, str) and (actual if case_sensitive
                                                           else actual.casefold()).startswith(prefix)

    try:
        yield "startsWith"
    finally:
        OPERATORS.pop("startsWith")


def test_a_registered_operator_runs_the_same_closure_as_a_built_in(starts_with: str) -> None:
    ctx = CompileContext({}, Clock(NOW))
    for spec in ({"field": "public_network_access"}, {"field": "a.b", "default": "x"}, {"tag": "owner"}):
        custom = compile_condition({**spec, starts_with: "dis"}, "c", ctx)
        builtin = compile_condition({**spec, "equals": "disabled"}, "c", ctx)
        assert custom.fn.__code__ is builtin.fn.__code__, spec  # no slower path for registered operators
    pack = PolicyPack([rule("AMLG-NET-009", {"field": "public_network_access", starts_with: "Dis"})])
    findings = pack.evaluate([endpoint("a", public_network_access="disabled"),
                              endpoint("b", public_network_access="enabled"), endpoint("c")])
    assert [(f.status, f.message) for f in findings] == [
        ("pass", "compliant: public_network_access startsWith 'Dis'"),
        ("fail", "public_network_access is 'enabled'; expected to start with 'Dis'"),
        ("fail", "public_network_access is not set; expected to start with 'Dis'")]


def test_registering_a_taken_name_is_refused() -> None:
    with pytest.raises(ValueError, match="operator 'equals' is registered twice"):
        register("equals", schema={}, summary="s", example="e", describe=show)(lambda e, c: bool)
    with pytest.raises(ValueError, match="value type 'integer' is registered twice"):
        register_value_type("integer", "again")(lambda v, clock: v)
    assert OPERATORS["equals"].summary.startswith("The value equals")
    assert VALUE_TYPES["integer"].description.startswith("whole number")


def test_concurrent_evaluations_of_one_pack_each_keep_their_clock() -> None:
    # thread A's `age` conversion waits until thread B has evaluated with another `now`; with a
    # clock shared by the pack, A would then read B's moment
    b_done = threading.Event()
    a_converting = threading.Event()

    @register_value_type("age_after_b", "test only: age, once the other thread has evaluated")
    def _age_after_b(value: Any, clock: Clock) -> Any:
        if threading.current_thread().name == "A":
            a_converting.set()
            assert b_done.wait(10)
        return VALUE_TYPES["age"].convert(value, clock)

    try:
        pack = PolicyPack([rule("AMLG-OPS-901", {"field": "created_at", "value_type": "age_after_b",
                                                 "less": 30})])
        resources = [endpoint("e", created_at="2026-11-01T00:00:00Z")]
        results: dict[str, str] = {}

        def run(name: str, now: datetime) -> None:
            results[name] = pack.evaluate(resources, now=now)[0].status

        a = threading.Thread(target=run, args=("A", NOW), name="A")  # 25 days old: pass
        a.start()
        assert a_converting.wait(10)
        run("B", datetime(2027, 6, 1, tzinfo=UTC))  # 212 days old: fail
        b_done.set()
        a.join(10)
        assert results == {"A": "pass", "B": "fail"}
    finally:
        VALUE_TYPES.pop("age_after_b")


def test_concurrent_evaluations_of_one_pack_each_keep_their_workspace_tags() -> None:
    # the override reads the workspace's tags after thread B has evaluated with other tags
    b_done = threading.Event()
    a_selecting = threading.Event()

    @register_value_type("text_after_b", "test only: the text, once the other thread has evaluated")
    def _text_after_b(value: Any, clock: Clock) -> Any:
        if threading.current_thread().name == "A":
            a_selecting.set()
            assert b_done.wait(10)
        return value

    try:
        capacity = dataclasses.replace(
            rule("AMLG-OPS-902", {"field": "instance_count", "greaterOrEquals": {"param": "min_instances"}},
                 ("online_deployment",)),
            parameters={"min_instances": Parameter("min_instances", "integer", 3)},
            overrides=[Override(parameters={"min_instances": 1}, path="rules.0.overrides.0", when={"allOf": [
                {"field": "name", "value_type": "text_after_b", "notEquals": "-"},
                {"tag": "team", "equals": "red"}]})])
        pack = PolicyPack([capacity])
        resources = [Resource(kind="online_deployment", id="d", name="d", workspace="ws",
                              fields={"instance_count": 1})]
        results: dict[str, str] = {}

        def run(name: str, team: str) -> None:
            results[name] = pack.evaluate(resources, workspace_tags={"ws": {"team": team}})[0].status

        a = threading.Thread(target=run, args=("A", "red"), name="A")  # the override applies: pass
        a.start()
        assert a_selecting.wait(10)
        run("B", "blue")  # no override: 1 < 3 fails
        b_done.set()
        a.join(10)
        assert results == {"A": "pass", "B": "fail"}
    finally:
        VALUE_TYPES.pop("text_after_b")


def test_one_resource_that_trips_a_rule_does_not_spoil_the_batch() -> None:
    class Boom(str):
        def casefold(self) -> str:
            raise RuntimeError("boom")

    pack = PolicyPack([rule("AMLG-NET-001", {"field": "public_network_access", "equals": "disabled"})])
    resources = [endpoint(f"e{i}", public_network_access="disabled") for i in range(5)]
    resources[2].fields["public_network_access"] = Boom("enabled")
    findings = pack.evaluate(resources)
    assert [f.status for f in findings] == ["pass", "pass", "error", "pass", "pass"]
    assert findings[2].message == "rule could not be evaluated: RuntimeError: boom"


def test_large_mixed_sweep_keeps_resource_order() -> None:
    rule_a = rule("AMLG-NET-001", {"field": "public_network_access", "equals": "disabled"})
    rule_b = rule("AMLG-OPS-001", {"field": "instance_count", "greaterOrEquals": 3}, ("online_deployment",))
    pack = PolicyPack([rule_b, rule_a])
    resources = []
    for i in range(300):
        if i % 3:
            resources.append(Resource(kind="online_deployment", id=f"d{i}", name=f"d{i}",
                                      fields={"instance_count": i % 5}))
        else:
            resources.append(endpoint(f"e{i}", public_network_access="disabled" if i % 2 else "enabled"))
    findings = pack.evaluate(resources)
    assert [f.resource_name for f in findings] == [r.name for r in resources]
    for f, r in zip(findings, resources, strict=True):
        if r.kind == "online_deployment":
            assert f.status == ("pass" if r.fields["instance_count"] >= 3 else "fail")
        else:
            assert f.status == ("pass" if r.fields["public_network_access"] == "disabled" else "fail")


def test_finding_field_order_the_fast_path_relies_on() -> None:
    # engine.py builds findings positionally; a reordered Finding would scramble them
    assert [f.name for f in dataclasses.fields(Finding)][:18] == [
        "rule", "resource", "status", "severity", "message", "source", "line", "title", "kind",
        "resource_name", "field", "remediation", "effect", "exemption", "changed_by", "remediation_action",
        "workspace", "tags"]
