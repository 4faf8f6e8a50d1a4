"""Routing tree: matchers, first-match-wins with `continue`, inheritance of timers and group_by,
Alertmanager defaults, severity matched on either spelling (critical <-> Sev0)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import yaml

from amlguard.alerts.routing import (
    DEFAULT_GROUP_INTERVAL,
    DEFAULT_GROUP_WAIT,
    DEFAULT_REPEAT_INTERVAL,
    Route,
    parse_matcher,
    severity_forms,
)
from amlguard.timeparse import parse_duration


@pytest.mark.parametrize(("text", "name", "op", "value"), [
    ('severity="critical"', "severity", "=", "critical"),
    ("severity=critical", "severity", "=", "critical"),
    ('rule!="AMLG-NET-001"', "rule", "!=", "AMLG-NET-001"),
    ('severity=~"critical|high"', "severity", "=~", "critical|high"),
    ('workspace!~"dev-.*"', "workspace", "!~", "dev-.*"),
    ('  tag_team = "risk"  ', "tag_team", "=", "risk"),
    ('msg="say \\"hi\\""', "msg", "=", 'say "hi"'),
    ('empty=""', "empty", "=", ""),
    ('url="a=b"', "url", "=", "a=b"),
])
def test_parse_matcher(text: str, name: str, op: str, value: str) -> None:
    matcher = parse_matcher(text)
    assert (matcher.name, matcher.op, matcher.value) == (name, op, value)


@pytest.mark.parametrize("text", ["severity", "=critical", 'severity=~"(unclosed"', 'a="b', "1abc=x", ""])
def test_parse_matcher_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_matcher(text)


@pytest.mark.parametrize(("matcher", "labels", "expected"), [
    ('severity="critical"', {"severity": "critical"}, True),
    ('severity="critical"', {"severity": "high"}, False),
    # severity matches on either form, both ways, case-insensitively for equality
    ('severity="Sev0"', {"severity": "critical"}, True),
    ('severity="sev1"', {"severity": "high"}, True),
    ('severity="high"', {"severity": "Sev1"}, True),
    ('severity=~"Sev[01]"', {"severity": "high"}, True),
    ('severity=~"Sev[01]"', {"severity": "medium"}, False),
    ('severity=~"critical|high"', {"severity": "Sev0"}, True),
    ('severity!="Sev0"', {"severity": "critical"}, False),
    ('severity!="Sev0"', {"severity": "low"}, True),
    ('severity!~"Sev[34]"', {"severity": "info"}, False),
    ('severity!~"Sev[34]"', {"severity": "high"}, True),
    # regexes are anchored like Alertmanager's
    ('rule=~"AMLG-NET"', {"rule": "AMLG-NET-001"}, False),
    ('rule=~"AMLG-NET-.*"', {"rule": "AMLG-NET-001"}, True),
    # a missing label matches as ""
    ('tag_team=""', {}, True),
    ('tag_team!=""', {}, False),
    ('tag_team=~".*"', {}, True),
    ('tag_team!="risk"', {}, True),
    ('workspace!~"dev-.*"', {"workspace": "prod-eu"}, True),
])
def test_matcher_matches(matcher: str, labels: dict[str, str], expected: bool) -> None:
    assert parse_matcher(matcher).matches(labels) is expected


def test_severity_forms() -> None:
    assert set(severity_forms("critical")) == {"critical", "Sev0"}
    assert set(severity_forms("Sev4")) == {"Sev4", "info"}
    assert severity_forms("weird") == ("weird",)


@pytest.mark.parametrize(("text", "expected"), [
    ("30s", timedelta(seconds=30)), ("5m", timedelta(minutes=5)), ("4h", timedelta(hours=4)),
    ("1h30m", timedelta(minutes=90)), ("2d", timedelta(days=2)), ("1w", timedelta(weeks=1)),
    ("500ms", timedelta(milliseconds=500)),
])
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text, "prometheus") == expected


@pytest.mark.parametrize("text", ["30", "", "5 m", "1.5h", "m", "4hours", "-1s"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text, "prometheus")


TREE = yaml.safe_load("""
receiver: default
group_by: [rule, workspace]
group_wait: 1m
routes:
  - matchers: ['severity=~"critical|high"']
    receiver: pager
    group_wait: 10s
    repeat_interval: 1h
    continue: true
    routes:
      - matchers: ['workspace=~"dev-.*"']
        receiver: dev-pager
        group_by: ['...']
  - matchers: ['severity=~"critical|high"']
    receiver: teams
  - matchers: ['tag_team="risk"']
    receiver: risk-team
    group_interval: 10m
  - matchers: ['rule=~"AMLG-NET-.*"', 'workspace!="sandbox"']
    receiver: network
    continue: true
  - matchers: ['rule=~"AMLG-NET-.*"']
    receiver: network-audit
""")

S, M, H = (lambda n: timedelta(seconds=n)), (lambda n: timedelta(minutes=n)), (lambda n: timedelta(hours=n))

# labels -> [(receiver, group_by, group_wait, group_interval, repeat_interval)]
ROUTING_TABLE = [
    pytest.param({"severity": "critical", "workspace": "prod"},
                 [("pager", ("rule", "workspace"), S(10), M(5), H(1)),
                  ("teams", ("rule", "workspace"), M(1), M(5), H(4))],
                 id="continue-then-first-match"),
    pytest.param({"severity": "high", "workspace": "dev-1"},
                 [("dev-pager", ("...",), S(10), M(5), H(1)),
                  ("teams", ("rule", "workspace"), M(1), M(5), H(4))],
                 id="child-inherits-timers-overrides-group_by"),
    pytest.param({"severity": "Sev1", "workspace": "prod"},
                 [("pager", ("rule", "workspace"), S(10), M(5), H(1)),
                  ("teams", ("rule", "workspace"), M(1), M(5), H(4))],
                 id="sev-form-label"),
    pytest.param({"severity": "low", "tag_team": "risk", "rule": "AMLG-NET-001"},
                 [("risk-team", ("rule", "workspace"), M(1), M(10), H(4))],
                 id="first-match-stops"),
    pytest.param({"severity": "low", "rule": "AMLG-NET-002", "workspace": "prod"},
                 [("network", ("rule", "workspace"), M(1), M(5), H(4)),
                  ("network-audit", ("rule", "workspace"), M(1), M(5), H(4))],
                 id="continue-on-later-route"),
    pytest.param({"severity": "low", "rule": "AMLG-NET-002", "workspace": "sandbox"},
                 [("network-audit", ("rule", "workspace"), M(1), M(5), H(4))],
                 id="negative-matcher"),
    pytest.param({"severity": "info", "rule": "AMLG-OPS-001"},
                 [("default", ("rule", "workspace"), M(1), M(5), H(4))],
                 id="fallback-to-root"),
]


@pytest.mark.parametrize(("labels", "expected"), ROUTING_TABLE)
def test_route_tree(labels: dict[str, str], expected: list[tuple]) -> None:
    root = Route.from_dict(TREE)
    got = [node.to_match() for node in root.match(labels)]
    assert [(m.receiver, m.group_by, m.group_wait, m.group_interval, m.repeat_interval) for m in got] == expected


def test_defaults_are_alertmanagers() -> None:
    root = Route.from_dict({"receiver": "r", "routes": [{"receiver": "child", "matchers": ["a=b"]}]})
    for node in root.walk():
        assert (node.group_wait, node.group_interval, node.repeat_interval) == (
            DEFAULT_GROUP_WAIT, DEFAULT_GROUP_INTERVAL, DEFAULT_REPEAT_INTERVAL) == (S(30), M(5), H(4))
        assert node.group_by == ()
    assert [n.receiver for n in root.match({"a": "b"})] == ["child"]
    assert [n.receiver for n in root.match({"a": "c"})] == ["r"]


def test_child_without_receiver_inherits_parent_receiver() -> None:
    root = Route.from_dict({"receiver": "r", "routes": [{"matchers": ["a=b"], "group_wait": "1s"}]})
    (match,) = [n.to_match() for n in root.match({"a": "b"})]
    assert (match.receiver, match.group_wait) == ("r", S(1))


def test_group_labels_and_keys() -> None:
    root = Route.from_dict(TREE)
    labels = {"severity": "critical", "workspace": "prod", "rule": "AMLG-NET-001", "resource": "/x"}
    pager, teams = (n.to_match() for n in root.match(labels))
    assert pager.group_labels(labels) == {"rule": "AMLG-NET-001", "workspace": "prod"}
    assert pager.group_key(labels) != teams.group_key(labels)  # same labels, different routes
    assert pager.group_key(labels) == pager.group_key(dict(reversed(list(labels.items()))))
    other = {**labels, "resource": "/y"}
    assert pager.group_key(other) == pager.group_key(labels)  # resource is not a group label
    dev = root.match({**labels, "workspace": "dev-1"})[0].to_match()
    assert dev.group_all and dev.group_labels(labels) == dict(sorted(labels.items()))
    assert dev.group_key(other) != dev.group_key(labels)  # '...' = one group per label set
    assert pager.repeat_interval_s == 3600 and pager.group_wait_s == 10 and pager.group_interval_s == 300


def test_missing_group_label_is_left_out() -> None:
    match = Route.from_dict({"receiver": "r", "group_by": ["rule", "endpoint"]}).to_match()
    assert match.group_labels({"rule": "X"}) == {"rule": "X"}


def test_describe_lists_every_route() -> None:
    text = Route.from_dict(TREE).describe()
    assert text.count("\n") == 6 and "dev-pager" in text and "continue" in text
