"""Inhibition rules: parsing from alerting.yaml's `inhibit_rules`, and who inhibits whom."""

from __future__ import annotations

import pytest

from amlguard.alerts.inhibit import InhibitRule, inhibited_by, parse_inhibit_rules

PUBLIC_WS = {"source_matchers": ['rule="AMLG-NET-003"'],
             "target_matchers": ['kind=~"online_endpoint|online_deployment"', 'rule=~"AMLG-NET-.*"'],
             "equal": ["workspace"]}

WS = ("ws", {"rule": "AMLG-NET-003", "kind": "workspace", "workspace": "w1"})
EP = ("ep", {"rule": "AMLG-NET-001", "kind": "online_endpoint", "workspace": "w1"})
EP_OTHER = ("ep2", {"rule": "AMLG-NET-001", "kind": "online_endpoint", "workspace": "w2"})
EP_AUTH = ("auth", {"rule": "AMLG-AUTH-001", "kind": "online_endpoint", "workspace": "w1"})


@pytest.mark.parametrize(("target", "sources", "expected"), [
    (EP, [WS], ["ws"]),
    (EP_OTHER, [WS], []),  # equal: [workspace] differs
    (EP_AUTH, [WS], []),  # not a target
    (WS, [WS, EP], []),  # the source itself is not a target
    (EP, [], []),
])
def test_inhibited_by(target: tuple[str, dict[str, str]], sources: list[tuple[str, dict[str, str]]],
                      expected: list[str]) -> None:
    rule = InhibitRule.from_dict(PUBLIC_WS)
    assert inhibited_by(target[0], target[1], sources, [rule]) == expected


def test_missing_equal_label_counts_as_empty() -> None:
    rule = InhibitRule.from_dict({"source_matchers": ['rule="A"'], "target_matchers": ['rule="B"'],
                                  "equal": ["endpoint"]})
    assert inhibited_by("b", {"rule": "B"}, [("a", {"rule": "A"})], [rule]) == ["a"]
    assert inhibited_by("b", {"rule": "B"}, [("a", {"rule": "A", "endpoint": "e"})], [rule]) == []


def test_two_sided_match_cannot_inhibit_itself_or_its_peers() -> None:
    rule = InhibitRule.from_dict({"source_matchers": ['severity="critical"'],
                                  "target_matchers": ['severity=~"critical|high"'], "equal": ["workspace"]})
    a = ("a", {"severity": "critical", "workspace": "w"})
    b = ("b", {"severity": "critical", "workspace": "w"})
    high = ("h", {"severity": "high", "workspace": "w"})
    assert inhibited_by("a", a[1], [a, b], [rule]) == []
    assert inhibited_by("h", high[1], [a, b], [rule]) == ["a", "b"]


def test_legacy_match_forms_and_round_trip() -> None:
    rule = InhibitRule.from_dict({"source_match": {"rule": "A"}, "target_match_re": {"rule": "B.*"},
                                  "equal": ["workspace"], "name": "legacy"})
    assert rule.to_dict() == {"source_matchers": ['rule="A"'], "target_matchers": ['rule=~"B.*"'],
                              "equal": ["workspace"], "name": "legacy"}
    assert InhibitRule.from_dict(rule.to_dict()) == rule


@pytest.mark.parametrize(("data", "message"), [
    ({"target_matchers": ['rule="B"']}, r"inhibit_rules\[3\].source_matchers: give at least one matcher"),
    ({"source_matchers": ['rule="A"']}, "target_matchers"),
    ({"source_matchers": ["rule"], "target_matchers": ['rule="B"']}, r"source_matchers\[0\]"),
    ({"source_matchers": ['rule="A"'], "target_matchers": ['rule="B"'], "equal": "workspace"}, "equal"),
    ("not a mapping", "expected a mapping"),
])
def test_bad_rules_name_the_field(data: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        InhibitRule.from_dict(data, where="inhibit_rules[3]")  # type: ignore[arg-type]


def test_parse_from_loaded_config() -> None:
    rules = parse_inhibit_rules({"route": {}, "inhibit_rules": [PUBLIC_WS]})
    assert len(rules) == 1 and rules[0].equal == ("workspace",)
    assert parse_inhibit_rules(None) == [] and parse_inhibit_rules({"route": {}}) == []
    assert parse_inhibit_rules(rules) == rules


def test_bad_inhibit_rule_in_config_is_a_config_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from types import SimpleNamespace

    from amlguard.alerts import AlertManager, open_store
    from amlguard.errors import ConfigError

    config = SimpleNamespace(file="policies/alerting.yaml", route=None,
                             inhibit_rules=[{"source_matchers": ['rule="A"']}])
    with open_store(tmp_path) as store, pytest.raises(ConfigError, match=r"alerting.yaml: inhibit_rules\[0\]"):
        AlertManager(store, config=config)
