"""Monitor rules (`kind: MonitorRules` policy documents): which deployments, which signal, window,
aggregation, threshold, `for` and what no data means; loaded, validated and compiled here.

The document kind registers itself with amlguard.policy at import, so `amlguard policy validate
policies/` checks monitor rules with the same schema tooling (file, line, field, the fix) as
audit rules. Selectors use amlguard.policy's condition language (`field`, `tag`, `allOf`, ...).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from amlguard.errors import ConfigError, PolicyError
from amlguard.model import SEVERITIES, Resource
from amlguard.monitor.drift.thresholds import RULE_OPTIONS_SCHEMA, SIGNAL_KINDS, rule_option_problems
from amlguard.monitor.signals import AGGREGATIONS, SIGNALS, SignalSpec, query_aggregation
from amlguard.policy.conditions import CompileContext, Node, compile_condition
from amlguard.policy.documents import (
    PolicyDocument,
    Problem,
    read_documents,
    register_document_kind,
    validate_documents,
)
from amlguard.policy.operators import show
from amlguard.policy.schema import DURATION_PATTERN
from amlguard.policy.valuetypes import Clock
from amlguard.timeparse import cron_problem, seconds_or_none
from amlguard.yamlsource import LocatedDocument

if TYPE_CHECKING:
    from amlguard.monitor.schedules import SignalReport

__all__ = ["MONITOR_RULE_ID_PATTERN", "NEVER_HEARD_SUFFIX", "NO_DATA_MODES", "DriftSpec", "MonitorPack", "MonitorRule",
           "expand_template", "load_monitor_pack", "load_monitor_rules", "monitor_rule_of",
           "monitor_rules_schema", "parse_monitor_rules"]

# AMLG-MON-<AREA>-NNN, or azureml/<schedule>/<signal> for a signal of an Azure ML monitor schedule
MONITOR_RULE_ID_PATTERN = r"^(AMLG-MON-[A-Z]{2,8}-[0-9]{3}|azureml/[^/\s]+/[^/\s]+)$"
#: The rule id of a monitor rule's `no_data` warning (never heard from), beside its breach alert.
NEVER_HEARD_SUFFIX = ":no-data"
NO_DATA_MODES = ("alert", "ignore", "keep_state")
DIRECTIONS = ("above", "below")
_DURATION = {"anyOf": [{"type": "string", "pattern": DURATION_PATTERN}, {"type": "number", "minimum": 0}],
             "x-expected": "a duration such as 30s, 5m, 1h or PT5M"}
_STRINGS = {"type": "array", "items": {"type": "string", "minLength": 1}}


def _drift_schema() -> dict[str, Any]:
    return {
        "type": "object", "additionalProperties": False, "required": ["baseline", "current"],
        "properties": {
            "baseline": {"anyOf": [
                {"type": "string", "minLength": 1,
                 "description": "CSV / Parquet / JSONL file (or a data asset's local copy: a folder holding one "
                                "such file); relative to this file; may use {endpoint}, {deployment}, "
                                "{workspace}, {tag:NAME}, {env:NAME}"},
                {"type": "object", "additionalProperties": False, "required": ["mdc"],
                 "description": "recent past production data: the collector's data that ends `offset` before "
                                "the run (default twice the window, Azure ML's) and spans `window` (default: all)",
                 "properties": {"mdc": {"type": "string", "minLength": 1},
                                "collection": {"type": "string", "minLength": 1},
                                "offset": _DURATION, "window": _DURATION}}],
                "x-expected": "a file, or {mdc: folder, offset: 48h, window: 7d} for recent past production data"},
            "current": {
                "type": "object", "additionalProperties": False, "minProperties": 1, "maxProperties": 2,
                "x-expected": "one of mdc (a model data collector folder or container URL), file, or log_analytics "
                              "(a custom table of model inputs), and optionally collection",
                "properties": {
                    "mdc": {"type": "string", "minLength": 1,
                            "description": "folder holding modelDataCollector/{endpoint}/{deployment}/... "
                                           "JSONL, or the URL of the blob container (and path) the "
                                           "collector writes to"},
                    "collection": {"type": "string", "minLength": 1, "description": "default model_inputs"},
                    "file": {"type": "string", "minLength": 1},
                    "log_analytics": {
                        "type": "object", "additionalProperties": False, "required": ["table"],
                        "properties": {
                            "table": {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_]*$",
                                      "x-expected": "a Log Analytics table name such as ModelInputs_CL"},
                            "time_column": {"type": "string", "default": "TimeGenerated"},
                            "deployment_column": {"type": "string"},
                            "endpoint_column": {"type": "string"},
                            "columns": _STRINGS,
                            "max_rows": {"type": "integer", "minimum": 1},
                        },
                    },
                },
            },
            "categorical": _STRINGS,
            **RULE_OPTIONS_SCHEMA,
            "thresholds": {"type": "object", "additionalProperties": {
                "type": "object", "additionalProperties": {"type": ["number", "null"]}},
                "description": "{feature | '*' | numerical | categorical: {metric: value or null}}"},
        },
    }


def _rule_schema() -> dict[str, Any]:
    return {
        "type": "object", "additionalProperties": False,
        "required": ["id", "title", "severity", "signal", "description", "rationale", "remediation"],
        "properties": {
            "id": {"type": "string", "pattern": MONITOR_RULE_ID_PATTERN,
                   "x-expected": "an id AMLG-MON-<AREA>-NNN, e.g. AMLG-MON-LAT-001"},
            "title": {"type": "string", "minLength": 1},
            "severity": {"enum": list(SEVERITIES)},
            "signal": {"enum": sorted(SIGNALS), "description": "what to watch (see docs/monitoring.md)"},
            "kinds": {"type": "array", "minItems": 1, "uniqueItems": True,
                      "items": {"enum": ["online_deployment", "online_endpoint"]}},
            "select": {"$ref": "#/$defs/condition",
                       "description": "which resources: a condition on name, tags, workspace, fields"},
            "window": {**_DURATION, "description": "the lookback the value is computed over (default 5m)"},
            "every": {**_DURATION, "description": "how often the rule is evaluated (default 5m)"},
            "cron": {"type": "string", "minLength": 1,
                     "description": "when the rule is evaluated instead of every `every`: a five-field cron "
                                    "expression in UTC, run at the first monitor tick at or after each time"},
            "granularity": {**_DURATION, "description": "metric time grain queried (default 1m)"},
            "aggregation": {"enum": list(AGGREGATIONS),
                            "description": "how the window's grains become one value (default: the signal's)"},
            "threshold": {"anyOf": [
                {"type": "number"},
                {"type": "object", "additionalProperties": False, "required": ["field"],
                 "properties": {"field": {"type": "string", "minLength": 1}, "default": {"type": "number"},
                                "factor": {"type": "number"}}}],
                "x-expected": "a number, or {field: <resource field such as instance_count>}"},
            "direction": {"enum": list(DIRECTIONS), "description": "breach when the value is above (default) "
                                                                   "or below the threshold"},
            "for": {**_DURATION, "description": "how long a breach must last before its alert fires"},
            "keep_firing_for": {**_DURATION, "description": "how long a firing alert stays firing after the "
                                                            "breach clears (hysteresis against flapping)"},
            "no_data": {"enum": list(NO_DATA_MODES),
                        "description": "alert: treat as a breach; ignore: not_applicable (resolves); "
                                       "keep_state: leave the alert as it is (default)"},
            "drift": _drift_schema(),
            "description": {"type": "string", "minLength": 1},
            "rationale": {"type": "string", "minLength": 1},
            "remediation": {"type": "string", "minLength": 1},
            "help_uri": {"type": "string", "format": "uri"},
            "enabled": {"type": "boolean", "default": True},
        },
    }


def monitor_rules_schema() -> dict[str, Any]:
    """The JSON Schema of one `kind: MonitorRules` document (conditions from amlguard.policy)."""
    from amlguard.policy.schema import generate_schema

    defs = dict(generate_schema()["$defs"])
    defs["monitorRule"] = _rule_schema()
    defs["MonitorRules"] = {
        "type": "object", "additionalProperties": False, "required": ["apiVersion", "kind", "rules"],
        "properties": {
            "apiVersion": {"const": "amlguard/v1"},
            "kind": {"const": "MonitorRules"},
            "metadata": {"type": "object"},
            "rules": {"type": "array", "items": {"$ref": "#/$defs/monitorRule"}},
        },
    }
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$defs": defs,
            "$ref": "#/$defs/MonitorRules"}


@dataclass(slots=True)
class DriftSpec:
    """Where a drift rule reads its baseline and current window, and how it judges features."""

    baseline: str | dict[str, Any]  # a file, or the collector's recent past ({mdc, collection, offset, window})
    current: dict[str, Any]
    base_dir: Path
    features: tuple[str, ...] | None = None
    categorical: tuple[str, ...] = ()
    thresholds: dict[str, dict[str, float | None]] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)  # feature selection, model_performance's columns

    @property
    def current_kind(self) -> str:
        return next(k for k in ("mdc", "file", "log_analytics") if k in self.current)


@dataclass(slots=True)
class MonitorRule:
    """One compiled monitor rule."""

    id: str
    title: str
    severity: str
    signal: SignalSpec
    kinds: tuple[str, ...]
    description: str
    rationale: str
    remediation: str
    window: float = 300.0
    every: float = 300.0
    cron: str | None = None  # when set, the rule runs at these times (UTC) instead of every `every`
    granularity: float = 60.0
    aggregation: str = "average"
    threshold: float | None = None
    threshold_field: str | None = None
    threshold_default: float | None = None
    threshold_factor: float = 1.0
    direction: str = "above"
    for_seconds: float = 0.0
    keep_firing_for: float = 0.0
    no_data: str = "keep_state"
    select_node: Node | None = None
    drift: DriftSpec | None = None
    help_uri: str = ""
    enabled: bool = True
    source: str | None = None
    line: int | None = None

    def selects(self, resource: Resource) -> bool:
        """True when the rule watches `resource` (kind and selector)."""
        if resource.kind not in self.kinds:
            return False
        return self.select_node is None or bool(self.select_node.fn(resource))

    def threshold_for(self, resource: Resource) -> float | None:
        """The threshold for `resource`: the number, or the resource field times `factor`."""
        if self.threshold_field is None:
            return self.threshold
        raw = resource.get(self.threshold_field)
        if raw is None and self.threshold_field.startswith("tags."):  # Azure tag names ignore case
            wanted = self.threshold_field[5:].casefold()
            raw = next((v for k, v in resource.tags.items() if k.casefold() == wanted), None)
        if isinstance(raw, bool) or not isinstance(raw, int | float | str):
            raw = None
        try:
            value = float(raw) if raw is not None else self.threshold_default
        except ValueError:
            value = self.threshold_default
        return None if value is None else value * self.threshold_factor

    def breached(self, value: float, threshold: float) -> bool:
        """Strict comparison in the rule's direction (Azure Monitor's GreaterThan / LessThan)."""
        return value > threshold if self.direction == "above" else value < threshold

    def describe_threshold(self) -> str:
        if self.threshold_field is None:
            return show(self.threshold)
        factor = f" x {self.threshold_factor:g}" if self.threshold_factor != 1.0 else ""
        return f"{self.threshold_field}{factor}"


def monitor_rule_of(alert_rule: str) -> str | None:
    """The monitor rule an alert's rule id belongs to (its breach or its `no_data` warning); None
    for audit rules."""
    base = alert_rule.removesuffix(NEVER_HEARD_SUFFIX)
    return base if re.match(MONITOR_RULE_ID_PATTERN, base) else None


def _duration(spec: Mapping[str, Any], key: str, default: float, path: str, problem: Any) -> float:
    if key not in spec:
        return default
    seconds = seconds_or_none(spec[key], "policy")
    if seconds is None:
        problem(f"{path}.{key}", f"expected a duration such as 30s, 5m or PT5M, got {show(spec[key])}")
        return default
    return seconds


def parse_monitor_rules(doc: LocatedDocument, file: str) -> list[MonitorRule]:
    """Check the meaning of one MonitorRules document (already schema-valid) and compile its rules."""
    problems: list[Problem] = []

    def problem(path: str, message: str) -> None:
        problems.append((file, doc.line_of(path), path, message))

    out: list[MonitorRule] = []
    base_dir = Path(file).resolve().parent
    for index, spec in enumerate(doc.value.get("rules") or []):
        path = f"rules.{index}"
        signal = SIGNALS[spec["signal"]]
        kinds = tuple(spec.get("kinds") or ("online_deployment",))
        wrong = [k for k in kinds if k not in signal.kinds]
        if wrong:
            problem(f"{path}.kinds", f"signal {signal.name} is measured for {', '.join(signal.kinds)}; "
                                     f"remove {', '.join(wrong)}")
        window = _duration(spec, "window", 300.0, path, problem)
        every = _duration(spec, "every", 300.0, path, problem)
        granularity = _duration(spec, "granularity", 60.0, path, problem)
        for_seconds = _duration(spec, "for", 0.0, path, problem)
        keep_firing_for = _duration(spec, "keep_firing_for", 0.0, path, problem)
        if window <= 0:
            problem(f"{path}.window", "the window must be longer than 0s")
        why = cron_problem(spec["cron"]) if "cron" in spec else None
        if why:
            problem(f"{path}.cron", why)
        if signal.source == "metrics" and granularity > window:
            problem(f"{path}.granularity", f"granularity ({show(spec.get('granularity'))}) is longer than the "
                                           "window; use a grain no longer than the window (1m is usual)")
        if signal.source == "metrics":
            try:
                query_aggregation(signal, spec.get("aggregation") or signal.aggregation)
            except ValueError as exc:
                problem(f"{path}.aggregation", str(exc))
        threshold = spec.get("threshold")
        drift = spec.get("drift")
        if signal.source == "drift":
            if drift is None:
                problem(path, f"signal {signal.name} needs a `drift:` block with baseline and current")
        else:
            if drift is not None:
                problem(f"{path}.drift", "`drift:` only applies to signal data_drift and the other collector signals "
                                         f"({', '.join(k for k in SIGNAL_KINDS if k != 'data_drift')}; this rule "
                                         f"watches {signal.name}); remove it")
            if threshold is None:
                problem(f"{path}.threshold", "required field 'threshold' is missing; give a number (in "
                                             f"{signal.unit or 'the signal unit'}) or {{field: instance_count}}")
        select_node: Node | None = None
        if spec.get("select") is not None:
            ctx = CompileContext({}, Clock(), {}, "resource")
            select_node = compile_condition(spec["select"], f"{path}.select", ctx)
            for where, message in ctx.problems:
                problem(where, message)
        rule = MonitorRule(
            id=spec["id"], title=spec["title"], severity=spec["severity"], signal=signal, kinds=kinds,
            description=spec["description"], rationale=spec["rationale"], remediation=spec["remediation"],
            window=window, every=every, cron=" ".join(spec["cron"].split()) if "cron" in spec else None,
            granularity=granularity,
            aggregation=spec.get("aggregation") or signal.aggregation,
            direction=spec.get("direction", "above"), for_seconds=for_seconds, keep_firing_for=keep_firing_for,
            no_data=spec.get("no_data", "keep_state"), select_node=select_node,
            help_uri=spec.get("help_uri", ""), enabled=spec.get("enabled", True), source=file,
            line=doc.line_of(path))
        if isinstance(threshold, dict):
            rule.threshold_field = threshold["field"]
            rule.threshold_default = threshold.get("default")
            rule.threshold_factor = float(threshold.get("factor", 1.0))
        elif threshold is not None:
            rule.threshold = float(threshold)
        elif signal.source == "drift":
            rule.threshold = 0.0  # any drifted feature breaches
        if drift is not None and signal.source == "drift":
            rule.drift = _drift(drift, base_dir, f"{path}.drift", problem, signal.name)
        out.append(rule)
    if problems:
        raise PolicyError(problems)
    return out


def _drift(spec: Mapping[str, Any], base_dir: Path, path: str, problem: Any, signal: str) -> DriftSpec:
    current = dict(spec["current"])
    sources = [k for k in ("mdc", "file", "log_analytics") if k in current]
    if len(sources) != 1:
        problem(f"{path}.current", "expected exactly one of mdc, file or log_analytics "
                                   f"(found {', '.join(sources) or 'none'})")
    if "collection" in current and "mdc" not in current:
        problem(f"{path}.current.collection", "collection applies to an mdc folder only")
    thresholds = {str(k): dict(v) for k, v in (spec.get("thresholds") or {}).items()}
    from amlguard.monitor.drift.thresholds import canonical_metric

    baseline = spec["baseline"]
    if isinstance(baseline, dict):
        for key in ("offset", "window"):
            _duration(baseline, key, 0.0, f"{path}.baseline", problem)
    for feature, metrics in thresholds.items():
        for metric in metrics:
            try:
                canonical_metric(metric)
            except ConfigError as exc:
                problem(f"{path}.thresholds.{feature}.{metric}", str(exc))
    for where, message in rule_option_problems(signal, spec):
        problem(f"{path}.{where}", message)
    listed = isinstance(spec.get("features"), list)
    options = {k: spec[k] for k in RULE_OPTIONS_SCHEMA if k in spec and not (k == "features" and listed)}
    return DriftSpec(baseline=spec["baseline"], current=current, base_dir=base_dir,
                     features=tuple(spec["features"]) if listed and spec["features"] else None,
                     categorical=tuple(spec.get("categorical") or ()), thresholds=thresholds, options=options)


register_document_kind("MonitorRules", monitor_rules_schema, parse_monitor_rules)

_TEMPLATE = re.compile(r"\{(?P<key>[a-z_]+)(?::(?P<arg>[^}]+))?\}")


def expand_template(template: str, resource: Resource, env: Mapping[str, str]) -> str:
    """`template` with {endpoint}, {deployment}, {workspace}, {name}, {tag:NAME} and {env:NAME} filled
    in for `resource`; ConfigError names a placeholder that has no value."""

    def value(match: re.Match[str]) -> str:
        key, arg = match.group("key"), match.group("arg")
        found: Any
        if key == "tag" and arg:
            found = next((v for k, v in resource.tags.items() if k.casefold() == arg.casefold()), None)
        elif key == "env" and arg:
            found = env.get(arg)
        elif key == "endpoint":
            found = resource.endpoint_name if resource.kind.endswith("deployment") else resource.name
        elif key == "deployment":
            found = resource.name if resource.kind.endswith("deployment") else None
        elif key in ("workspace", "name"):
            found = getattr(resource, key)
        else:
            raise ConfigError(f"unknown placeholder {match.group(0)} in {template!r}; use {{endpoint}}, "
                              "{deployment}, {workspace}, {name}, {tag:NAME} or {env:NAME}")
        if not found:
            raise ConfigError(f"{match.group(0)} in {template!r} has no value for {resource.name} "
                              f"({resource.id}); set the tag / setting or change the rule")
        return str(found)

    return _TEMPLATE.sub(value, template)


@dataclass(slots=True)
class MonitorPack:
    """The monitor rules under a path, and what amlguard does with each signal of the Azure ML monitor
    schedules among them (runs it as a rule, or why not: amlguard.monitor.schedules)."""

    rules: list[MonitorRule]
    signals: list[SignalReport] = field(default_factory=list)

    @property
    def not_run(self) -> list[SignalReport]:
        return [r for r in self.signals if r.rule is None]


def load_monitor_rules(path: str | Path | Sequence[str | Path] | None = None, *,
                       include_disabled: bool = False) -> list[MonitorRule]:
    """The rules of `load_monitor_pack`."""
    return load_monitor_pack(path, include_disabled=include_disabled).rules


def load_monitor_pack(path: str | Path | Sequence[str | Path] | None = None, *,
                      include_disabled: bool = False) -> MonitorPack:
    """Every MonitorRules rule under `path` (a file, a folder, or a list of them; default the
    bundled policies/; the service passes `Settings.monitor_rules_path`), and the signals of Azure
    ML monitor schedules (`create_monitor:`) there, translated by amlguard.monitor.schedules.

    Raises PolicyError listing every problem (file, line, field, fix) when a file is invalid or
    two rules share an id: the caller keeps its last good rules.
    """
    from amlguard.monitor.schedules import read_schedules

    if path is None:
        from amlguard.config import default_policies_dir

        roots = [default_policies_dir()]
    elif isinstance(path, str | Path):
        roots = [Path(path)]
    else:
        roots = [Path(p) for p in path]
    problems: list[Problem] = []
    others: list[PolicyDocument] = []
    documents = [d for root in roots for d in read_documents(root, problems=problems, others=others)
                 if d.kind == "MonitorRules"]
    schedules, signals = read_schedules(others, problems)
    loaded = validate_documents([*documents, *schedules], problems)
    rules: list[MonitorRule] = []
    seen: dict[str, MonitorRule] = {}
    for _doc, parsed in loaded:
        for rule in parsed or []:
            if rule.id in seen:
                other = seen[rule.id]
                problems.append((rule.source, rule.line, "id", f"duplicate monitor rule id {rule.id}; already "
                                                               f"defined at {other.source}:{other.line}"))
                continue
            seen[rule.id] = rule
            rules.append(rule)
    if problems:
        raise PolicyError(sorted(problems, key=lambda p: (p[0] or "", p[1] or 0, p[2])))
    return MonitorPack(rules if include_disabled else [r for r in rules if r.enabled], signals)
