"""Alertmanager-style routing tree: which receivers hear about an alert, grouped how, how often.

Semantics follow Alertmanager's `dispatch/route.go`: an alert enters at the root, walks the
children in order, stops at the first matching child unless that child sets `continue: true`,
and falls back to the parent when no child matches. Unset settings are inherited from the parent.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from amlguard.model import SEVERITIES
from amlguard.timeparse import format_duration, parse_duration

__all__ = ["DEFAULT_GROUP_INTERVAL", "DEFAULT_GROUP_WAIT", "DEFAULT_REPEAT_INTERVAL", "GROUP_BY_ALL", "Matcher",
           "Route", "RouteMatch", "parse_matcher", "severity_forms"]

# Alertmanager's documented defaults (docs/configuration.md, `<route>`).
DEFAULT_GROUP_WAIT = timedelta(seconds=30)
DEFAULT_GROUP_INTERVAL = timedelta(minutes=5)
DEFAULT_REPEAT_INTERVAL = timedelta(hours=4)
GROUP_BY_ALL = "..."  # `group_by: ['...']` groups by every label, i.e. disables grouping

_MATCHER_RE = re.compile(
    r"""^\s*(?P<name>[A-Za-z_][A-Za-z0-9_.:\-]*)\s*(?P<op>=~|!~|!=|=)\s*(?P<value>.*?)\s*$""", re.S
)
_OPS = ("=", "!=", "=~", "!~")

_SEV_BY_NAME = {name: f"Sev{index}" for index, name in enumerate(SEVERITIES)}
_NAME_BY_SEV = {sev.lower(): name for name, sev in _SEV_BY_NAME.items()}


def severity_forms(value: str) -> tuple[str, ...]:
    """Both spellings of a severity: `critical` <-> `Sev0` (case-insensitive), else the value itself.

    Routing matches a `severity` matcher against either form, so a policy author can write
    `severity="Sev1"` or `severity="high"` and mean the same thing.
    """
    lowered = value.strip().lower()
    if lowered in _SEV_BY_NAME:
        return (value, lowered, _SEV_BY_NAME[lowered])
    if lowered in _NAME_BY_SEV:
        return (value, _NAME_BY_SEV[lowered], f"Sev{lowered[3:]}")
    return (value,)


@dataclass(frozen=True, slots=True)
class Matcher:
    """One label matcher: `name op value` with op one of `=`, `!=`, `=~`, `!~`.

    Regexes are anchored at both ends as in Alertmanager; a missing label matches as "".
    """

    name: str
    op: str
    value: str
    _regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def create(cls, name: str, op: str, value: str) -> Matcher:
        """Build a matcher, compiling its regex; raises ValueError on a bad op or regex."""
        if op not in _OPS:
            raise ValueError(f"unknown matcher operator {op!r}; use one of = != =~ !~")
        regex = None
        if op in ("=~", "!~"):
            try:
                regex = re.compile(f"^(?:{value})$")
            except re.error as exc:
                raise ValueError(f"invalid regular expression {value!r}: {exc}") from exc
        return cls(name, op, value, regex)

    def _positive(self, candidate: str) -> bool:
        if self._regex is not None:
            return self._regex.match(candidate) is not None
        return candidate == self.value

    def matches(self, labels: Mapping[str, str]) -> bool:
        """True when the labels satisfy this matcher (severity matches on either form)."""
        actual = str(labels.get(self.name, ""))
        if self.name == "severity" and actual:
            candidates: tuple[str, ...] = severity_forms(actual)
            if self._regex is None:  # equality on severity is case-insensitive across forms
                wanted = {form.lower() for form in severity_forms(self.value)}
                hit = any(form.lower() in wanted for form in candidates)
            else:
                hit = any(self._positive(form) for form in candidates)
        else:
            hit = self._positive(actual)
        return hit if self.op in ("=", "=~") else not hit

    def __str__(self) -> str:
        return f'{self.name}{self.op}"{self.value}"'


def parse_matcher(text: str) -> Matcher:
    """Parse an Alertmanager matcher string: `severity=~"critical|high"`, `rule!=AMLG-NET-001`.

    The value may be double-quoted (with `\\"` and `\\\\` escapes) or bare.
    """
    found = _MATCHER_RE.match(text) if isinstance(text, str) else None
    if not found:
        raise ValueError(f"{text!r} is not a matcher; write name=\"value\" with = != =~ or !~")
    value = found["value"]
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = re.sub(r"\\(.)", r"\1", value[1:-1])
    elif value.startswith('"') or value.endswith('"'):
        raise ValueError(f"{text!r} has an unbalanced quote in its value")
    return Matcher.create(found["name"], found["op"], value)


@dataclass(frozen=True, slots=True)
class RouteMatch:
    """Where one alert goes: a receiver plus the grouping and timers of the route that chose it."""

    receiver: str
    group_by: tuple[str, ...]
    group_wait: timedelta
    group_interval: timedelta
    repeat_interval: timedelta
    send_resolved: bool = True
    route_key: str = "{}"  # identifies the route (Alertmanager's Route.Key()); part of group keys

    @property
    def group_wait_s(self) -> float:
        """group_wait in seconds."""
        return self.group_wait.total_seconds()

    @property
    def group_interval_s(self) -> float:
        """group_interval in seconds."""
        return self.group_interval.total_seconds()

    @property
    def repeat_interval_s(self) -> float:
        """repeat_interval in seconds."""
        return self.repeat_interval.total_seconds()

    @property
    def group_all(self) -> bool:
        """True when `group_by: ['...']`: every distinct label set is its own group."""
        return GROUP_BY_ALL in self.group_by

    def group_labels(self, labels: Mapping[str, str]) -> dict[str, str]:
        """The labels that define this alert's group on this route (missing ones omitted)."""
        if self.group_all:
            return dict(sorted(labels.items()))
        return {name: labels[name] for name in self.group_by if name in labels}

    def group_key(self, labels: Mapping[str, str]) -> str:
        """Stable group id: route key plus group labels, as Alertmanager's aggregation group key."""
        rendered = ",".join(f'{k}="{v}"' for k, v in sorted(self.group_labels(labels).items()))
        return f"{self.route_key}:{{{rendered}}}"


@dataclass(slots=True)
class Route:
    """One node of the routing tree with its settings already inherited from its parent."""

    receiver: str
    matchers: tuple[Matcher, ...] = ()
    group_by: tuple[str, ...] = ()
    group_wait: timedelta = DEFAULT_GROUP_WAIT
    group_interval: timedelta = DEFAULT_GROUP_INTERVAL
    repeat_interval: timedelta = DEFAULT_REPEAT_INTERVAL
    continue_: bool = False
    routes: list[Route] = field(default_factory=list)
    key: str = "{}"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], parent: Route | None = None, index: int = 0) -> Route:
        """Build a (sub)tree from its YAML mapping, inheriting unset settings from `parent`.

        Input is assumed schema-valid; bad matchers or durations raise ValueError.
        """
        matchers = tuple(parse_matcher(m) for m in data.get("matchers") or ())

        def timer(name: str, default: timedelta) -> timedelta:
            return parse_duration(data[name], "prometheus") if data.get(name) is not None else default

        inherited = parent or cls(receiver="")
        rendered = "{" + ",".join(str(m) for m in matchers) + "}"
        key = rendered if parent is None else f"{parent.key}/{rendered}/{index}"
        node = cls(
            receiver=data.get("receiver") or inherited.receiver,
            matchers=matchers,
            group_by=tuple(data["group_by"]) if data.get("group_by") is not None else inherited.group_by,
            group_wait=timer("group_wait", inherited.group_wait),
            group_interval=timer("group_interval", inherited.group_interval),
            repeat_interval=timer("repeat_interval", inherited.repeat_interval),
            continue_=bool(data.get("continue", False)),
            key=key,
        )
        node.routes = [cls.from_dict(child, node, i) for i, child in enumerate(data.get("routes") or ())]
        return node

    def matches(self, labels: Mapping[str, str]) -> bool:
        """True when every matcher of this node holds (a node without matchers matches all)."""
        return all(m.matches(labels) for m in self.matchers)

    def match(self, labels: Mapping[str, str]) -> list[Route]:
        """The routes (this node or descendants) an alert with these labels is dispatched to."""
        if not self.matches(labels):
            return []
        found: list[Route] = []
        for child in self.routes:
            hits = child.match(labels)
            found.extend(hits)
            if hits and not child.continue_:
                break
        return found or [self]

    def walk(self) -> Iterable[Route]:
        """This node and all its descendants, depth first."""
        yield self
        for child in self.routes:
            yield from child.walk()

    def to_match(self, send_resolved: bool = True) -> RouteMatch:
        """The RouteMatch this node yields for the given receiver setting."""
        return RouteMatch(
            receiver=self.receiver,
            group_by=self.group_by,
            group_wait=self.group_wait,
            group_interval=self.group_interval,
            repeat_interval=self.repeat_interval,
            send_resolved=send_resolved,
            route_key=self.key,
        )

    def describe(self, depth: int = 0) -> str:
        """Human-readable tree (used by `amlguard alerts routes` style output and docs)."""
        pad = "  " * depth
        matchers = ", ".join(str(m) for m in self.matchers) or "(all)"
        line = (f"{pad}- {matchers} -> {self.receiver} group_by={list(self.group_by)} "
                f"wait={format_duration(self.group_wait)} interval={format_duration(self.group_interval)} "
                f"repeat={format_duration(self.repeat_interval)}{' continue' if self.continue_ else ''}")
        return "\n".join([line, *(child.describe(depth + 1) for child in self.routes)])
