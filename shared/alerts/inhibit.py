"""Inhibition rules: a firing source alert mutes matching target alerts that share `equal` labels.

Semantics follow Alertmanager's `inhibit/inhibit.go`: a missing label equals an empty one, and
an alert matching both sides cannot inhibit itself (nor be inhibited by another two-sided
match). Configured in policies/alerting.yaml under `inhibit_rules:`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from amlguard.alerts.routing import Matcher, parse_matcher

__all__ = ["InhibitRule", "inhibited_by", "parse_inhibit_rules"]


def _matchers(data: Mapping[str, Any], key: str, legacy: str, where: str) -> tuple[Matcher, ...]:
    out: list[Matcher] = []
    for index, text in enumerate(data.get(key) or ()):
        try:
            out.append(parse_matcher(str(text)))
        except ValueError as exc:
            raise ValueError(f"{where}.{key}[{index}]: {exc}") from exc
    # Alertmanager's deprecated forms: `source_match: {label: value}` and `source_match_re`.
    for name, value in (data.get(legacy) or {}).items():
        out.append(Matcher.create(str(name), "=", str(value)))
    for name, value in (data.get(f"{legacy}_re") or {}).items():
        try:
            out.append(Matcher.create(str(name), "=~", str(value)))
        except ValueError as exc:
            raise ValueError(f"{where}.{legacy}_re.{name}: {exc}") from exc
    return tuple(out)


@dataclass(frozen=True, slots=True)
class InhibitRule:
    """`source_matchers` alerts that fire mute `target_matchers` alerts with equal `equal` labels."""

    source_matchers: tuple[Matcher, ...]
    target_matchers: tuple[Matcher, ...]
    equal: tuple[str, ...] = ()
    name: str = ""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "inhibit_rules[0]") -> InhibitRule:
        """Build from the YAML mapping `{source_matchers: [...], target_matchers: [...], equal: [...]}`.

        Raises ValueError naming the field (`where` is its path, e.g. `inhibit_rules[2]`).
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"{where}: expected a mapping with source_matchers, target_matchers, equal")
        source = _matchers(data, "source_matchers", "source_match", where)
        target = _matchers(data, "target_matchers", "target_match", where)
        if not source or not target:
            missing = "source_matchers" if not source else "target_matchers"
            raise ValueError(f"{where}.{missing}: give at least one matcher, e.g. rule=\"AMLG-NET-003\"")
        equal = data.get("equal") or ()
        if isinstance(equal, str) or not all(isinstance(e, str) for e in equal):
            raise ValueError(f"{where}.equal: expected a list of label names, e.g. [workspace]")
        return cls(source, target, tuple(equal), str(data.get("name", "")))

    def to_dict(self) -> dict[str, Any]:
        """YAML/JSON form (round-trips through `from_dict`)."""
        out: dict[str, Any] = {"source_matchers": [str(m) for m in self.source_matchers],
                               "target_matchers": [str(m) for m in self.target_matchers],
                               "equal": list(self.equal)}
        if self.name:
            out["name"] = self.name
        return out

    def is_source(self, labels: Mapping[str, str]) -> bool:
        return all(m.matches(labels) for m in self.source_matchers)

    def is_target(self, labels: Mapping[str, str]) -> bool:
        return all(m.matches(labels) for m in self.target_matchers)

    def equal_labels(self, a: Mapping[str, str], b: Mapping[str, str]) -> bool:
        return all(str(a.get(name, "")) == str(b.get(name, "")) for name in self.equal)


def parse_inhibit_rules(config: Mapping[str, Any] | Sequence[Any] | None) -> list[InhibitRule]:
    """Rules from the loaded alerting config (its `inhibit_rules` list) or from the list itself."""
    if config is None:
        return []
    items = config.get("inhibit_rules") or [] if isinstance(config, Mapping) else config
    return [item if isinstance(item, InhibitRule) else InhibitRule.from_dict(item, where=f"inhibit_rules[{i}]")
            for i, item in enumerate(items)]


def inhibited_by(fingerprint: str, labels: Mapping[str, str], sources: Iterable[tuple[str, Mapping[str, str]]],
                 rules: Iterable[InhibitRule]) -> list[str]:
    """Fingerprints of the firing `sources` (fingerprint, labels) that inhibit this alert."""
    found: list[str] = []
    source_list = list(sources)
    for rule in rules:
        if not rule.is_target(labels):
            continue
        two_sided = rule.is_source(labels)
        for source_fp, source_labels in source_list:
            if source_fp == fingerprint or source_fp in found:
                continue
            if not rule.is_source(source_labels) or not rule.equal_labels(labels, source_labels):
                continue
            if two_sided and rule.is_target(source_labels):
                continue  # Alertmanager's excludeTwoSidedMatch
            found.append(source_fp)
    return sorted(found)
