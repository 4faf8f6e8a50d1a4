"""Azure ML model-monitoring schedules (the `az ml schedule` YAML with `create_monitor:`) as monitor rules.

A team keeps its monitor definitions and gets amlguard's alert lifecycle and routes instead of
Azure ML's emails. Each signal of a schedule becomes one MonitorRules rule, id
`azureml/<schedule>/<signal>`, checked by the same schema and loader as a hand-written one, with the
file's thresholds, trigger times (the rule's `cron`) and data_column_names (a label or id is no
feature; model_performance's join), in Azure ML's vocabulary and defaults (reference-yaml-monitor;
the lookback defaults of concept-model-monitoring, "Lookback window size and offset"); breach
directions are amlguard.monitor.drift's (Azure ML's evaluate_metrics_threshold). What amlguard
cannot honour is reported per signal with the reason (`SignalReport`), never dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from amlguard.monitor.drift.thresholds import SIGNAL_KINDS
from amlguard.policy.documents import API_VERSION, PolicyDocument, Problem
from amlguard.timeparse import cron_problem, format_duration, seconds_or_none
from amlguard.yamlsource import LocatedDocument

__all__ = ["AZUREML_SIGNALS", "UNSUPPORTED_SIGNALS", "SignalReport", "read_schedules", "translate_schedule"]

#: Azure ML signal type -> the amlguard signal that runs it (amlguard.monitor.signals registers each).
AZUREML_SIGNALS: Mapping[str, str] = {"data_drift": "data_drift", "prediction_drift": "prediction_drift",
                                      "data_quality": "data_quality", "model_performance": "model_performance"}
#: Why the other signal types of reference-yaml-monitor cannot run in amlguard.
UNSUPPORTED_SIGNALS: Mapping[str, str] = {
    "feature_attribution_drift": "needs feature importance (normalized_discounted_cumulative_gain) from an "
                                 "explainer trained on the reference data; amlguard trains no models",
    "generation_safety_quality": "needs an LLM judge (GPT-assisted groundedness, relevance, fluency, similarity, "
                                 "coherence through a workspace connection); amlguard calls no models",
    "custom": "runs an Azure ML component (component_id) on Spark; amlguard cannot run Azure ML components",
}
# the collection the data collector writes each type's production data to (production_data.data_context)
_CONTEXT = {name: kind.collection for name, kind in SIGNAL_KINDS.items()}
# metric_thresholds scopes and metric names per type (reference-yaml-monitor; drift names are checked
# against amlguard.monitor.drift.thresholds, which also accepts the YAML's chi_squared_test)
_QUALITY = ("data_type_error_rate", "null_value_rate", "out_of_bounds_rate")
_METRICS: dict[str, dict[str, tuple[str, ...]]] = {
    "data_quality": {"numerical": _QUALITY, "categorical": _QUALITY},
    "model_performance": {"classification": ("accuracy", "precision", "recall"),
                          "regression": ("mae", "mse", "rmse")},
}
# "basic model monitoring": no monitoring_signals means these three on recent past production data
_OUT_OF_BOX = ("data_drift", "prediction_drift", "data_quality")
# data_column_names that name no model input (reference-yaml-monitor; azure.ai.ml's FADColumnNames)
_NOT_FEATURES = ("target", "correlation_id", "prediction", "prediction_probability")
_WEEK_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FREQUENCY = {"minute": 60, "hour": 3600, "day": 86400, "week": 7 * 86400, "month": 30 * 86400}
_ASSET = re.compile(r"^azureml:(?P<name>[^:@/]+):(?P<version>[^:@/]+)$")
_DEPLOYMENT = re.compile(r"^azureml:(?P<endpoint>[^:/]+):(?P<deployment>[^:/]+)$")
#: where the translated rules read: the data collector's folder or container, and local copies of
#: data assets laid out <name>/<version> (a file, or a folder holding one data file)
MDC_ROOT = "{env:AMLGUARD_MDC_ROOT}"
ASSETS_ROOT = "{env:AMLGUARD_DATA_ASSETS}"


@dataclass(frozen=True, slots=True)
class SignalReport:
    """What amlguard does with one signal of a schedule: `rule` runs it (`note`: what differs from
    Azure ML), or `rule` is None and `note` says why it does not run."""

    file: str
    line: int | None
    schedule: str
    signal: str
    type: str
    rule: str | None
    note: str

    def render(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        what = f"runs as {self.rule}" if self.rule else "not run"
        return f"{where}: {self.schedule}/{self.signal} ({self.type}) {what}" + (f": {self.note}" if self.note else "")

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "schedule": self.schedule, "signal": self.signal,
                "type": self.type, "rule": self.rule, "note": self.note}


def _map(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def is_monitor_schedule(value: Any) -> bool:
    """An Azure ML schedule whose action creates a monitor (not an amlguard document)."""
    return isinstance(value, dict) and "create_monitor" in value and "kind" not in value \
        and "apiVersion" not in value


def read_schedules(documents: Iterable[PolicyDocument], problems: list[Problem]
                   ) -> tuple[list[PolicyDocument], list[SignalReport]]:
    """MonitorRules documents translated from the monitor schedules among `documents` (the
    `others` of read_documents: the mappings of the policy folder that are no amlguard documents),
    and the report of every signal."""
    translated: list[PolicyDocument] = []
    reports: list[SignalReport] = []
    for document in documents:
        if is_monitor_schedule(document.doc.value):
            rules, found = translate_schedule(document.doc, document.file, problems)
            reports += found
            if rules is not None:
                translated.append(PolicyDocument(document.file, document.index, rules))
    return translated, reports


class _Schedule:
    """One schedule's translation: problems (bad input) and the rules it yields."""

    def __init__(self, doc: LocatedDocument, file: str, problems: list[Problem]) -> None:
        self.doc, self.file, self.problems = doc, file, problems
        self.name = str(doc.value.get("name") or "").strip()

    def problem(self, path: str, message: str) -> None:
        self.problems.append((self.file, self.doc.line_of(path), path, message))

    def trigger(self, trigger: Any) -> tuple[float | None, str | None, str]:
        """Seconds between runs (also the default lookback), the cron expression (UTC) the rule runs
        at when the trigger has fixed times, and what differs from the trigger."""
        if not isinstance(trigger, dict) or trigger.get("type") not in ("recurrence", "cron"):
            self.problem("trigger", "expected a trigger of type recurrence (frequency, interval) or cron "
                                    "(expression), as Azure ML requires")
            return None, None, ""
        notes = []
        zone = str(trigger.get("time_zone") or trigger.get("timezone") or "UTC")
        if zone.upper() != "UTC":
            notes.append(f"time_zone {zone} is not applied: amlguard reads the trigger's times as UTC")
        if trigger.get("start_time") or trigger.get("end_time"):
            notes.append("start_time / end_time are not applied: amlguard runs the rule from when it loads it")
        if trigger["type"] == "cron":
            expression = " ".join(str(trigger.get("expression") or "").split())
            why = cron_problem(expression)
            if why:
                self.problem("trigger.expression", why)
                return None, None, ""
            minute, hour, day = expression.split()[:3]
            # the lookback when the file gives none: about the time between two runs
            step = {f: 1 if f == "*" else int(f[2:]) if f.startswith("*/") and f[2:].isdigit() else 0
                    for f in (minute, hour)}
            seconds = (60 * step[minute] if step[minute] and hour == "*" else 3600 * step[hour] if step[hour]
                       else 86400 if day == "*" else 30 * 86400)
            return seconds, expression, "; ".join(notes)
        frequency, interval = trigger.get("frequency"), trigger.get("interval", 1)
        if frequency not in _FREQUENCY or isinstance(interval, bool) or not isinstance(interval, int) \
                or interval < 1:
            self.problem("trigger", f"expected frequency {' / '.join(_FREQUENCY)} and a whole interval of at "
                                    f"least 1 (got {frequency!r}, {interval!r})")
            return None, None, ""
        seconds = _FREQUENCY[str(frequency)] * interval
        pattern = _map(trigger.get("schedule") or trigger.get("pattern"))
        cron = _pattern_cron(str(frequency), interval, pattern) if pattern else None
        if pattern and cron is None:
            notes.append(f"evaluated every {format_duration(seconds)} by amlguard's timer, not at the schedule's "
                         "hours / minutes / week_days (kept for a daily, or weekly with week_days, recurrence of "
                         "interval 1)")
        if frequency == "month":
            notes.append("a month counts as 30 days")
        return seconds, cron, "; ".join(notes)

    def data(self, data: Mapping[str, Any], path: str) -> tuple[str | None, str]:
        """The path template of a data input, or (None, why amlguard cannot read it)."""
        raw = str(_map(data.get("input_data")).get("path") or "")
        asset = _ASSET.match(raw)
        if asset:
            return f"{ASSETS_ROOT}/{asset['name']}/{asset['version']}", ""
        if raw and ":" not in raw:  # a local path, relative to this file
            return raw, ""
        return None, (f"{path}.input_data.path {raw or '(none)'}: amlguard reads a data asset from its local "
                      "copy under AMLGUARD_DATA_ASSETS/<name>/<version>; refer to it as azureml:<name>:<version> "
                      "(or give a path relative to this file)")

    def thresholds(self, kind: str, spec: Any, path: str) -> dict[str, dict[str, float | None]]:
        """metric_thresholds as a drift rule's thresholds: given metrics replace the type's defaults,
        as in Azure ML's SDK (one metric per feature type)."""
        from amlguard.errors import ConfigError
        from amlguard.monitor.drift.thresholds import (
            CATEGORICAL_METRICS,
            DEFAULT_THRESHOLDS,
            NUMERICAL_METRICS,
            canonical_metric,
        )

        if spec is None:
            return {}
        scopes = _METRICS.get(kind, {"numerical": NUMERICAL_METRICS, "categorical": CATEGORICAL_METRICS})
        if not isinstance(spec, dict):
            self.problem(path, f"expected a mapping of {' / '.join(scopes)} to {{metric: threshold}}")
            return {}
        out: dict[str, dict[str, float | None]] = {}
        for scope, metrics in spec.items():
            where = f"{path}.{scope}"
            if scope not in scopes or not isinstance(metrics, dict):
                self.problem(where, f"expected one of {', '.join(scopes)}, each a mapping of metric to threshold")
                continue
            layer: dict[str, float | None] = {m: None for m in DEFAULT_THRESHOLDS.get(scope, {})} \
                if kind not in _METRICS else {}
            for metric, value in metrics.items():
                name = str(metric)
                if kind not in _METRICS:
                    try:
                        name = canonical_metric(name)
                    except ConfigError as exc:
                        self.problem(f"{where}.{metric}", str(exc))
                        continue
                if name not in scopes[scope]:
                    self.problem(f"{where}.{metric}", f"{metric} is not a {scope} metric of {kind}; use one of: "
                                                      f"{', '.join(scopes[scope])}")
                elif isinstance(value, bool) or not isinstance(value, int | float):
                    self.problem(f"{where}.{metric}", f"expected a number such as 0.1, got {value!r}")
                else:
                    layer[name] = float(value)
            out[scope] = layer
        return out

    def rule(self, kind: str, signal: str, spec: Mapping[str, Any], every: float,
             select: dict[str, Any]) -> tuple[dict[str, Any] | None, list[str]]:
        """One MonitorRules rule for a signal, and notes; (None, [why]) when amlguard cannot run it."""
        path = f"create_monitor.monitoring_signals.{signal}"
        notes: list[str] = []
        if spec.get("alert_enabled") is False:
            return None, ["alert_enabled is false: Azure ML computes it without alerting; amlguard runs the "
                          "signals that alert (set alert_enabled: true)"]
        for key in ("production_data", "reference_data"):
            given = spec.get(key)
            if given is not None and not isinstance(given, dict | list if key == "production_data" else dict):
                self.problem(f"{path}.{key}", "expected a mapping with input_data (path, type) and data_context")
        given = spec.get("production_data")
        inputs = [p for p in (given if isinstance(given, list) else [given]) if isinstance(p, dict)]
        # a list of inputs: the one of this type's context
        production = next((p for p in inputs if p.get("data_context") == _CONTEXT[kind]), inputs[0] if inputs else {})
        collection = str(production.get("data_context") or _CONTEXT[kind])
        window_spec = _map(production.get("data_window"))
        if window_spec.get("window_start") or window_spec.get("window_end"):
            return None, ["production_data.data_window is a fixed window; amlguard watches a rolling window "
                          "(lookback_window_size)"]
        size = window_spec.get("lookback_window_size") or production.get("data_window_size")
        window = seconds_or_none(size) if size else every  # the production lookback defaults to the frequency
        if window is None or window <= 0:
            self.problem(f"{path}.production_data", f"expected the lookback window as an ISO 8601 duration such "
                                                    f"as P7D, got {size!r}")
            window = every
        if seconds_or_none(window_spec.get("lookback_window_offset") or 0):
            notes.append("production lookback_window_offset is not applied: amlguard's window ends at each run")
        if production.get("input_data"):
            where, why = self.data(production, f"{path}.production_data")
            if where is None:
                return None, [why]
            if str(_map(production["input_data"]).get("type") or "") == "uri_folder":
                current: dict[str, Any] = {"mdc": where, "collection": collection}
                if production.get("pre_processing_component"):
                    notes.append("pre_processing_component is not run: amlguard reads the collector's JSONL in "
                                 "the asset's local copy")
            else:
                current = {"file": where}
                notes.append("production data is a table without time: read whole, not by window")
        else:
            current = {"mdc": MDC_ROOT, "collection": collection}
        reference = _map(spec.get("reference_data"))
        reference_window = _map(reference.get("data_window"))
        if not reference.get("input_data"):  # recent past production data
            baseline: Any = {"mdc": current.get("mdc", MDC_ROOT), "collection": collection}
            for key, given in (("offset", "lookback_window_offset"), ("window", "lookback_window_size")):
                if reference_window.get(given):
                    baseline[key] = reference_window[given]
            notes.append("reference: the collector's data before " + (
                f"the last {reference_window['lookback_window_offset']}" if "offset" in baseline
                else "the last two windows (Azure ML's default offset)"))
        else:
            baseline, why = self.data(reference, f"{path}.reference_data")
            if baseline is None:
                return None, [why]
            if reference_window:
                notes.append("reference_data.data_window is not applied to a data asset: it is read whole")
        drift: dict[str, Any] = {"baseline": baseline, "current": current}
        thresholds = self.thresholds(kind, spec.get("metric_thresholds"), f"{path}.metric_thresholds")
        if thresholds:
            drift["thresholds"] = thresholds
        produced = {k: v for p in inputs for k, v in _column_names(p).items()}
        if kind == "model_performance":
            why = self.performance(drift, produced, _column_names(reference), bool(reference.get("input_data")))
            return (None, [why]) if why else (self.body(kind, signal, select, window, every, drift), notes)
        features = spec.get("features")
        if isinstance(features, list):
            drift["features"] = [str(f) for f in features]
        elif (isinstance(features, dict) and "top_n_feature_importance" in features) or (
                features is None and reference.get("data_context") == "training"):
            notes.append("top_n_feature_importance needs feature importance from the training data; amlguard "
                         "compares every feature found in both data sets")
        elif features not in (None, "all_features"):
            self.problem(f"{path}.features", "expected a list of feature names, all_features or "
                                             "{top_n_feature_importance: N}")
        overrides = spec.get("feature_type_override") or {}
        categorical = [str(f) for f, t in overrides.items() if str(t).lower() == "categorical"] \
            if isinstance(overrides, dict) else []
        if categorical:
            drift["categorical"] = categorical
        # Azure ML compares the columns both data sets share (model_monitor_feature_selector): the
        # reference's label and the ids are never features, nor, for the input signals, the outputs
        keys = ("correlation_id",) if kind == "prediction_drift" else _NOT_FEATURES
        exclude = {n[k] for n in (produced, _column_names(reference)) for k in keys if k in n}
        exclude -= set(drift.get("features", ()))  # a column the file lists is a feature after all
        if exclude:
            drift["exclude"] = sorted(exclude)
        return self.body(kind, signal, select, window, every, drift), notes

    def performance(self, drift: dict[str, Any], produced: Mapping[str, str], referred: Mapping[str, str],
                    asset: bool) -> str:
        """Add model_performance's columns and task to `drift`; or say why the signal cannot run."""
        prediction, actual = produced.get("prediction"), referred.get("target")
        ids = {n["correlation_id"] for n in (produced, referred) if "correlation_id" in n}
        if not (asset and prediction and actual) or len(ids) > 1:
            return ("model_performance needs the ground truth as reference_data (a data asset) with "
                    "data_column_names.target_column, production_data's data_column_names.prediction, and one "
                    "correlation_id column name on both sides, to join them")
        if not drift.get("thresholds"):
            return ("model_performance has no default thresholds in Azure ML; give metric_thresholds "
                    "(classification: accuracy, precision, recall; regression: mae, mse, rmse)")
        drift.update(prediction=prediction, actual=actual, **({"correlation_id": ids.pop()} if ids else {}))
        task = _map(_map(self.doc.value.get("create_monitor")).get("monitoring_target")).get("ml_task")
        if task in ("classification", "regression"):
            drift["task"] = task
        return ""

    def body(self, kind: str, signal: str, select: dict[str, Any], window: float, every: float,
             drift: dict[str, Any]) -> dict[str, Any]:
        what = f"Azure ML monitor signal {signal} ({kind}) of schedule {self.name}"
        return {
            "id": f"azureml/{self.name}/{signal}", "title": f"{self.doc.value.get('display_name') or self.name}: "
                                                          f"{signal}",
            "severity": "medium", "signal": AZUREML_SIGNALS[kind], "kinds": ["online_deployment"], "select": select,
            "window": window, "every": every, "no_data": "keep_state", "drift": drift,
            "description": f"{what}, with its thresholds and trigger, through amlguard's alert routes.",
            "rationale": str(self.doc.value.get("description") or f"Defined in Azure ML model monitoring ({what})."),
            "remediation": "Compare the production window with the reference (`amlguard drift --baseline <reference> "
                           "--current <collector folder>`), check the upstream data, and retrain if the shift is "
                           "real.",
        }


def _column_names(data: Mapping[str, Any]) -> dict[str, str]:
    """An input's data_column_names (on it or on its input_data), keyed without Azure ML's optional
    `_column` suffix (target_column -> target), and the SDK's target_column_name."""
    given = _map(data.get("data_column_names")) or _map(_map(data.get("input_data")).get("data_column_names"))
    named = {str(k).removesuffix("_column"): str(v) for k, v in given.items() if v}
    if data.get("target_column_name"):
        named.setdefault("target", str(data["target_column_name"]))
    return named


def _pattern_cron(frequency: str, interval: int, pattern: Mapping[str, Any]) -> str | None:
    """A recurrence's `schedule:` (hours, minutes, week_days) as a cron expression, when cron can say
    exactly the same: every day, or every week on given days; else None."""
    def values(key: str, top: int) -> str | None:
        given = pattern.get(key)
        items = given if isinstance(given, list) else [given]
        if not items or any(isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= top for v in items):
            return None
        return ",".join(str(v) for v in sorted(set(items)))

    hours, minutes = values("hours", 23), values("minutes", 59)
    days = pattern.get("week_days")
    names = [str(d).strip().lower()[:3] for d in (days if isinstance(days, list) else [days] if days else [])]
    if interval != 1 or hours is None or minutes is None or any(n not in _WEEK_DAYS for n in names) \
            or (frequency, bool(names)) not in (("day", False), ("week", True)):
        return None
    return f"{minutes} {hours} * * {','.join(names) or '*'}"


def translate_schedule(doc: LocatedDocument, file: str, problems: list[Problem]
                       ) -> tuple[LocatedDocument | None, list[SignalReport]]:
    """A MonitorRules document for the signals of one schedule that amlguard runs (its lines point into
    `file`), and a report of every signal. Bad input goes to `problems` (file, line, field, fix)."""
    schedule = _Schedule(doc, file, problems)
    if not schedule.name:
        schedule.problem("name", "a monitor schedule needs `name:`; its rules are named azureml/<name>/<signal>")
        return None, []
    monitor = doc.value.get("create_monitor")
    signals = monitor.get("monitoring_signals") if isinstance(monitor, dict) else None
    if not isinstance(monitor, dict) or not isinstance(signals, dict | None):
        schedule.problem("create_monitor", "expected a monitor definition: monitoring_target and a mapping of "
                                           "monitoring_signals (name: {type: ...})")
        return None, []
    every, cron, trigger_note = schedule.trigger(doc.value.get("trigger"))
    target = _map(monitor.get("monitoring_target"))
    deployment = _DEPLOYMENT.match(str(target.get("endpoint_deployment_id") or ""))
    select = {"allOf": [{"field": "endpoint_name", "equals": deployment["endpoint"]},
                        {"field": "name", "equals": deployment["deployment"]}]} if deployment else None
    out_of_box = signals is None
    rules: list[dict[str, Any]] = []
    lines: dict[str, int] = {}
    reports: list[SignalReport] = []
    for signal, spec in (signals or {kind: {"type": kind} for kind in _OUT_OF_BOX}).items():
        path = "create_monitor" if out_of_box else f"create_monitor.monitoring_signals.{signal}"
        line = doc.line_of(path)
        if not isinstance(spec, dict):
            schedule.problem(path, "expected a signal: a mapping with type: data_drift, prediction_drift, "
                                   "data_quality, ...")
            continue
        kind = str(spec.get("type") or "")
        rule: str | None = None
        if kind in UNSUPPORTED_SIGNALS:
            note = UNSUPPORTED_SIGNALS[kind]
        elif kind not in AZUREML_SIGNALS:
            note = f"unknown signal type {kind!r}; Azure ML's are {', '.join([*AZUREML_SIGNALS, *UNSUPPORTED_SIGNALS])}"
        elif select is None:
            note = (f"monitoring_target.endpoint_deployment_id {target.get('endpoint_deployment_id')!r} is not "
                    "azureml:<endpoint>:<deployment>; amlguard watches online deployments")
        elif every is None:
            continue  # the trigger is a problem already
        else:
            body, notes = schedule.rule(kind, str(signal), spec, every, select)
            note = "; ".join(n for n in [*notes, trigger_note] if n)
            if body is not None:
                lines[f"rules.{len(rules)}"] = line
                rules.append({**body, "cron": cron} if cron else body)
                rule = body["id"]
        reports.append(SignalReport(file, line, schedule.name, str(signal), kind, rule, note))
    if not rules:
        return None, reports
    value = {"apiVersion": API_VERSION, "kind": "MonitorRules", "rules": rules}
    return LocatedDocument(value, doc.line, {"rules": doc.line_of("create_monitor"), **lines}), reports
