"""The generated fast paths agree with the plain closures and with evaluate()."""

from __future__ import annotations

import dataclasses
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from amlguard.model import Finding, Resource
from amlguard.policy import load_pack
from amlguard.policy.conditions import CompileContext, _Leaf, compile_condition
from amlguard.policy.engine import PolicyPack, Rule
from amlguard.policy.operators import OPERATORS
from amlguard.policy.valuetypes import Clock

from .test_engine import RULES, deployment, endpoint

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


@settings(max_examples=300, deadline=None)
@given(value=values, index=st.integers(0, len(OPERANDS) - 1), depth=st.sampled_from([1, 2, 3]),
       default=st.sampled_from([None, "enabled", 2]), value_type=st.sampled_from([None, "normalize", "integer"]),
       defaulted=st.booleans(), case_sensitive=st.booleans())
def test_generated_leaf_equals_plain_closure(value: Any, index: int, depth: int, default: Any,
                                             value_type: str | None, defaulted: bool, case_sensitive: bool) -> None:
    op, operand = OPERANDS[index]
    path = ".".join(["a", "b", "c"][:depth])
    spec: dict[str, Any] = {"field": path, op: operand, "case_sensitive": case_sensitive}
    if default is not None and op != "exists":
        spec["default"] = default
    if value_type is not None and op != "exists":
        spec["value_type"] = value_type
    fields: dict[str, Any] = {}
    cursor = fields
    parts = path.split(".")
    for part in parts[:-1]:
        cursor = cursor.setdefault(part, {})
    cursor[parts[-1]] = value
    resource = Resource(kind="online_endpoint", id="x", name="x", fields=fields,
                        defaulted={path} if defaulted else set())
    ctx = CompileContext({}, Clock(NOW))
    fused = compile_condition(spec, "c", ctx)
    assert isinstance(fused, _Leaf) and fused.expr is not None
    plain = _Leaf(op=OPERATORS[op], expected=operand, case_sensitive=case_sensitive, get=fused.get,
                  label=path, path=path, value_type=spec.get("value_type"), default=spec.get("default", _missing()),
                  clock=ctx.clock, presence_ok=True, param_name=None)
    assert plain.expr is None
    assert fused.fn(resource) == plain.fn(resource)


def _missing() -> Any:
    from amlguard.policy import conditions

    return conditions._MISSING


def _pack(tmp_path: Path) -> PolicyPack:
    (tmp_path / "rules.yaml").write_text(RULES, encoding="utf-8")
    return load_pack(tmp_path)


def test_statuses_match_evaluate(tmp_path: Path) -> None:
    pack = _pack(tmp_path)
    resources = [
        endpoint("ep", public_network_access="disabled", tags={"owner": "a"}),
        endpoint("legacy-x"), endpoint("old-y"), endpoint("k8s", compute_type="kubernetes"),
        endpoint("tagged", tags={"waiver": "sec-1"}),
        deployment("d1", instance_count=1, tags={"environment": "dev", "owner": "a"}),
        deployment("d2", instance_count=1, tags={"size": "tiny"}),
        deployment("d3", instance_count="many", tags={"owner": "b"}),
        endpoint("t", public_network_access="{{x}}", templated={"public_network_access"}),
        Resource(kind="workspace", id="ws", name="ws", fields={"tags": {"environment": "test"}}),
    ]
    for now in (NOW, datetime(2026, 9, 1, tzinfo=UTC)):
        findings = pack.evaluate(resources, now=now)
        assert pack.statuses(resources, now=now) == [(f.rule, f.resource, f.status) for f in findings]


def test_one_resource_that_trips_a_rule_does_not_spoil_the_batch() -> None:
    class Boom(str):
        def casefold(self) -> str:
            raise RuntimeError("boom")

    rule = Rule(id="AMLG-NET-001", title="t", severity="high", kinds=("online_endpoint",),
                require={"field": "public_network_access", "equals": "disabled"}, description="d",
                rationale="r", remediation="f")
    pack = PolicyPack([rule])
    resources = [endpoint(f"e{i}", public_network_access="disabled") for i in range(5)]
    resources[2].fields["public_network_access"] = Boom("enabled")
    assert [s for _, _, s in pack.statuses(resources)] == ["pass", "pass", "error", "pass", "pass"]
    assert [f.status for f in pack.evaluate(resources)] == ["pass", "pass", "error", "pass", "pass"]


def test_large_mixed_sweep_keeps_resource_order() -> None:
    rule_a = Rule(id="AMLG-NET-001", title="t", severity="high", kinds=("online_endpoint",),
                  require={"field": "public_network_access", "equals": "disabled"}, description="d",
                  rationale="r", remediation="f")
    rule_b = Rule(id="AMLG-OPS-001", title="t", severity="low", kinds=("online_deployment",),
                  require={"field": "instance_count", "greaterOrEquals": 3}, description="d", rationale="r",
                  remediation="f")
    pack = PolicyPack([rule_b, rule_a])
    resources = []
    for i in range(300):
        if i % 3:
            resources.append(deployment(f"d{i}", instance_count=i % 5))
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
    # engine.py builds passing findings positionally; a reordered Finding would scramble them
    assert [f.name for f in dataclasses.fields(Finding)][:18] == [
        "rule", "resource", "status", "severity", "message", "source", "line", "title", "kind",
        "resource_name", "field", "remediation", "effect", "exemption", "changed_by", "remediation_action",
        "workspace", "tags"]


def test_policy_text_is_never_pasted_into_generated_code() -> None:
    hostile = "x') or __import__('os') or exit(3) or ('"  # no dots: a dot would split the path
    rule = Rule(id="AMLG-OPS-999", title="t", severity="low", kinds=("online_endpoint",),
                require={"allOf": [{"field": hostile, "equals": hostile}, {"tag": hostile, "in": [hostile]}]},
                description="d", rationale="r", remediation="f")
    pack = PolicyPack([rule])
    resource = Resource(kind="online_endpoint", id="e", name="e", fields={hostile: hostile, "tags": {hostile: hostile}})
    assert pack.statuses([resource]) == [("AMLG-OPS-999", "e", "pass")]
    assert pack.evaluate([Resource(kind="online_endpoint", id="f", name="f", fields={})])[0].status == "fail"


def test_statuses_takes_the_single_generated_pass_when_nothing_adjusts_verdicts() -> None:
    rules = [Rule(id="AMLG-NET-001", title="t", severity="high", kinds=("online_endpoint",),
                  applies_when={"field": "compute_type", "notEquals": "kubernetes"},
                  require={"field": "public_network_access", "equals": "disabled"}, description="d",
                  rationale="r", remediation="f"),
             Rule(id="AMLG-OPS-001", title="t", severity="medium", kinds=("online_deployment",),
                  require={"field": "instance_count", "greaterOrEquals": 3}, description="d",
                  rationale="r", remediation="f"),
             Rule(id="AMLG-TAG-001", title="t", severity="low", kinds=("online_endpoint", "online_deployment"),
                  require={"tag": "owner", "exists": True}, description="d", rationale="r", remediation="f")]
    pack = PolicyPack(rules)
    resources = [endpoint("a", public_network_access="disabled", tags={"Owner": "x"}),
                 deployment("d", instance_count=1), endpoint("k", compute_type="kubernetes"),
                 Resource(kind="workspace", id="ws", name="ws")]
    expected = [(f.rule, f.resource, f.status) for f in pack.evaluate(resources)]
    assert pack.statuses(resources) == expected
    assert pack._verdicts_fn is not None  # the generated pass ran (no silent fallback)
    assert pack._verdicts(resources) == expected


def _table_from_statuses(pack: PolicyPack, resources: list[Resource], **kwargs: Any) -> list[list[tuple[str, str]]]:
    rows: dict[str, list[tuple[str, str]]] = {r.id: [] for r in resources}
    for rule, resource_id, status in pack.statuses(resources, **kwargs):
        rows[resource_id].append((rule, status))
    return [rows[r.id] for r in resources]


def test_verdict_table_is_statuses_row_by_resource(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(textwrap.dedent(RULES), encoding="utf-8")
    resources = [endpoint("a", public_network_access="disabled", tags={"owner": "x"}),
                 deployment("d", instance_count=1, tags={"environment": "dev"}),
                 Resource(kind="workspace", id="ws", name="ws"),
                 endpoint("legacy-1"), endpoint("k", compute_type="kubernetes"),
                 endpoint("w", tags={"waiver": "sec-1"}), deployment("e", instance_count="three")]
    with_adjustments = load_pack(tmp_path)  # overrides and exemptions: the general path
    plain = PolicyPack([dataclasses.replace(r, overrides=[]) for r in with_adjustments.rules])  # generated pass
    for pack in (with_adjustments, plain):
        table = pack.verdict_table(resources, now=NOW)
        assert [list(row) for row in table] == _table_from_statuses(pack, resources, now=NOW)
        assert table[2] == ()  # no rule targets a workspace: an empty row keeps positions aligned
    assert plain._table_fn is not None
    exempt = with_adjustments.verdict_table(resources, now=NOW)[3]
    assert ("AMLG-NET-001", "exempt") in exempt
    # the generated table shares its (rule, status) pairs instead of allocating one per verdict
    again = plain.verdict_table(resources, now=NOW)
    assert again[0][0] is plain.verdict_table(resources, now=NOW)[0][0]


def test_verdict_table_isolates_a_rule_that_raises() -> None:
    class Boom(dict[str, Any]):
        def get(self, *args: Any) -> Any:
            raise RuntimeError("unreadable")

    rule = Rule(id="AMLG-NET-001", title="t", severity="high", kinds=("online_endpoint",),
                require={"field": "public_network_access", "equals": "disabled"}, description="d",
                rationale="r", remediation="f")
    pack = PolicyPack([rule])
    resources = [endpoint("ok", public_network_access="disabled"),
                 Resource(kind="online_endpoint", id="bad", name="bad", fields=Boom())]
    assert pack.verdict_table(resources) == [(("AMLG-NET-001", "pass"),), (("AMLG-NET-001", "error"),)]
