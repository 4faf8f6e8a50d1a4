"""The signals of Azure ML model monitoring that amlguard computes from collector data: their metric
names, default thresholds (Azure ML's) and the breach rule of each metric.

`SIGNAL_KINDS` is the registry: per signal kind, the collection it reads, the metrics it judges
per feature type (or per task), and Azure ML's default thresholds; `RULE_OPTIONS_SCHEMA` and
`rule_option_problems` are what a monitor rule may say about them. Kept free of numpy so that
policy and monitor-rule code can read it on a cold start.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from amlguard.errors import ConfigError

__all__ = ["ALL_METRICS", "BREACH_BELOW", "CATEGORICAL_METRICS", "CLASSIFICATION_METRICS", "DATA_QUALITY_METRICS",
           "DEFAULT_THRESHOLDS", "METRIC_ALIASES", "NUMERICAL_METRICS", "REGRESSION_METRICS", "RULE_OPTIONS_SCHEMA",
           "SIGNAL_KINDS", "SignalKind", "breached", "canonical_metric", "parse_threshold_overrides",
           "resolve_thresholds", "rule_option_problems", "signal_kind"]

JS = "jensen_shannon_distance"
PSI = "population_stability_index"
NWD = "normalized_wasserstein_distance"
KS = "two_sample_kolmogorov_smirnov_test"
CHI2 = "pearsons_chi_squared_test"
NULL_RATE = "null_value_rate"
TYPE_ERROR_RATE = "data_type_error_rate"
OUT_OF_BOUNDS_RATE = "out_of_bounds_rate"
ACCURACY = "accuracy"
PRECISION = "precision"
RECALL = "recall"
MAE = "mean_absolute_error"
MSE = "mean_squared_error"
RMSE = "root_mean_squared_error"

#: Metrics computed for each feature type, in report order (Azure ML model monitoring names).
NUMERICAL_METRICS: tuple[str, ...] = (JS, PSI, NWD, KS)
CATEGORICAL_METRICS: tuple[str, ...] = (JS, PSI, CHI2)
#: Data-quality metrics, computed for every feature (definitions: docs/drift.md).
DATA_QUALITY_METRICS: tuple[str, ...] = (NULL_RATE, TYPE_ERROR_RATE, OUT_OF_BOUNDS_RATE)
CLASSIFICATION_METRICS: tuple[str, ...] = (ACCURACY, PRECISION, RECALL)
REGRESSION_METRICS: tuple[str, ...] = (MAE, MSE, RMSE)

#: Azure ML SDK defaults (azure.ai.ml.entities._monitoring.thresholds): one metric per type.
DEFAULT_THRESHOLDS: Mapping[str, Mapping[str, float]] = MappingProxyType({
    "numerical": MappingProxyType({NWD: 0.1}),
    "categorical": MappingProxyType({JS: 0.1}),
})

#: p-values and the classification scores breach when the value is *below* the threshold; every
#: other metric when above (Azure ML evaluate_metrics_threshold.py). Both comparisons are strict.
BREACH_BELOW: frozenset[str] = frozenset({KS, CHI2, ACCURACY, PRECISION, RECALL})

#: Other spellings accepted on input: the Azure ML YAML names and short forms.
METRIC_ALIASES: Mapping[str, str] = MappingProxyType({
    "chi_squared_test": CHI2,
    "pearsons_chi_squared": CHI2,
    "chi2": CHI2,
    "chisquare": CHI2,
    "js": JS,
    "jensen_shannon": JS,
    "psi": PSI,
    "wasserstein": NWD,
    "normalized_wasserstein": NWD,
    "ks": KS,
    "kolmogorov_smirnov": KS,
    "mae": MAE,
    "mse": MSE,
    "rmse": RMSE,
})

ALL_METRICS: frozenset[str] = frozenset(NUMERICAL_METRICS + CATEGORICAL_METRICS + DATA_QUALITY_METRICS
                                        + CLASSIFICATION_METRICS + REGRESSION_METRICS)


@dataclass(frozen=True)
class SignalKind:
    """One signal of Azure ML model monitoring (reference-yaml-monitor) that amlguard computes.

    `metrics` and `defaults` are keyed by feature type (`numerical`, `categorical`) for the
    per-feature signals and by task (`classification`, `regression`) for model_performance;
    `collection` is the model data collector collection read by default.
    """

    name: str
    collection: str
    metrics: Mapping[str, tuple[str, ...]]
    defaults: Mapping[str, Mapping[str, float]]
    description: str

    @property
    def per_feature(self) -> bool:
        return self.name != "model_performance"


_DRIFT = MappingProxyType({"numerical": NUMERICAL_METRICS, "categorical": CATEGORICAL_METRICS})
_QUALITY = MappingProxyType({"numerical": DATA_QUALITY_METRICS, "categorical": DATA_QUALITY_METRICS})
#: Azure ML SDK defaults for data quality (DataQualityMetricsNumerical / ...Categorical): 0.0 each.
_QUALITY_DEFAULTS = MappingProxyType({t: MappingProxyType(dict.fromkeys(DATA_QUALITY_METRICS, 0.0))
                                      for t in ("numerical", "categorical")})

#: The registry of signal kinds. model_performance has no SDK default thresholds: a rule names its own.
SIGNAL_KINDS: Mapping[str, SignalKind] = MappingProxyType({k.name: k for k in (
    SignalKind("data_drift", "model_inputs", _DRIFT, DEFAULT_THRESHOLDS,
               "features of the model inputs whose distribution drifted from the baseline"),
    SignalKind("prediction_drift", "model_outputs", _DRIFT, DEFAULT_THRESHOLDS,
               "model outputs whose distribution drifted from the reference outputs"),
    SignalKind("data_quality", "model_inputs", _QUALITY, _QUALITY_DEFAULTS,
               "features with null values, values of the wrong type or values outside the baseline's range"),
    SignalKind("model_performance", "model_outputs",
               MappingProxyType({"classification": CLASSIFICATION_METRICS, "regression": REGRESSION_METRICS}),
               MappingProxyType({}), "accuracy, precision and recall (classification) or MAE, MSE and RMSE "
                                     "(regression) of the predictions against ground truth"),
)})


def signal_kind(name: str) -> SignalKind:
    """The registered signal kind `name`; ConfigError names the choices."""
    try:
        return SIGNAL_KINDS[name]
    except KeyError:
        raise ConfigError(f"unknown signal {name!r}; use one of: {', '.join(SIGNAL_KINDS)}") from None


def canonical_metric(name: str) -> str:
    """Return the canonical metric name for `name` (or its alias); ConfigError names the choices."""
    key = name.strip().lower().replace("-", "_")
    key = METRIC_ALIASES.get(key, key)
    if key not in ALL_METRICS:
        choices = ", ".join(sorted(ALL_METRICS))
        raise ConfigError(f"unknown drift metric {name!r}; use one of: {choices}")
    return key


def breached(metric: str, value: float | None, threshold: float) -> bool:
    """True when `value` breaches `threshold` in the metric's direction; a missing value never does."""
    if value is None or value != value:  # NaN: no evidence either way
        return False
    return value < threshold if metric in BREACH_BELOW else value > threshold


def parse_threshold_overrides(items: list[str]) -> dict[str, dict[str, float | None]]:
    """Parse CLI `--threshold` items into {feature or "*": {metric: value or None}}.

    Accepted forms: `feature.metric=value`, `metric=value` (every feature the metric applies to),
    and `value` `none`/`off` to drop a default threshold.
    """
    out: dict[str, dict[str, float | None]] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip() or not raw.strip():
            raise ConfigError(f"--threshold {item!r}: expected FEATURE.METRIC=VALUE or METRIC=VALUE, "
                              "e.g. --threshold age.normalized_wasserstein_distance=0.2")
        feature, dot, metric = key.strip().rpartition(".")
        if not dot:
            feature = "*"
        metric = canonical_metric(metric)
        value: float | None
        if raw.strip().lower() in {"none", "off", "null"}:
            value = None
        else:
            try:
                value = float(raw)
            except ValueError:
                raise ConfigError(f"--threshold {item!r}: {raw!r} is not a number; "
                                  "give a number such as 0.1, or 'off' to drop the threshold") from None
            if value != value:
                raise ConfigError(f"--threshold {item!r}: NaN is not a threshold")
        out.setdefault(feature, {})[metric] = value
    return out


def resolve_thresholds(feature: str, ftype: str, overrides: Mapping[str, Mapping[str, float | None]] | None,
                       signal: str = "data_drift") -> dict[str, float]:
    """Thresholds for one feature (or, for model_performance, one task) under `signal`: the
    signal's defaults for the type, then `"*"` overrides, then the type's, then the feature's own.

    Overrides keyed `"*"` or by a type apply to every feature they fit and quietly skip metrics
    that the signal does not judge for that type; a metric named for one feature that it does
    not judge is a ConfigError. A value of None drops the threshold.
    """
    kind = signal_kind(signal)
    applicable = kind.metrics[ftype]
    result: dict[str, float | None] = dict(kind.defaults.get(ftype, {}))
    for scope in ("*", ftype, feature):
        layer = (overrides or {}).get(scope)
        if not layer:
            continue
        for metric_name, value in layer.items():
            metric = canonical_metric(metric_name)
            if metric not in applicable:
                if scope == feature:
                    others = [t for t, ms in kind.metrics.items() if metric in ms]
                    where = (f"only for {' and '.join(others)} features" if others
                             else f"by another signal than {signal}")
                    raise ConfigError(f"threshold {feature}.{metric}: {feature!r} is {ftype} and {metric} is judged "
                                      f"{where}; use one of: {', '.join(applicable)}")
                continue
            result[metric] = None if value is None else float(value)
    return {m: v for m, v in result.items() if v is not None}


#: JSON Schema of what a monitor rule's `drift:` block may add for the collector signals: Azure ML's
#: feature selection, the columns that are no features, and model_performance's columns
#: (reference-yaml-monitor's data_column_names).
RULE_OPTIONS_SCHEMA: Mapping[str, Any] = MappingProxyType({
    "features": {"anyOf": [
        {"type": "array", "items": {"type": "string", "minLength": 1}},
        {"const": "all_features"},
        {"type": "object", "additionalProperties": False, "required": ["top_n_feature_importance"],
         "properties": {"top_n_feature_importance": {"type": "integer", "minimum": 1}}}],
        "x-expected": "a list of features, all_features, or {top_n_feature_importance: N}"},
    "feature_importance": {"anyOf": [{"type": "object", "additionalProperties": {"type": "number"}},
                                     {"type": "string", "minLength": 1}],
                           "description": "{feature: importance}, or a file with columns feature and importance"},
    "exclude": {"type": "array", "items": {"type": "string", "minLength": 1},
                "description": "columns that are no features (the reference's label, ids): never compared"},
    "prediction": {"type": "string", "minLength": 1, "description": "model_performance: the predicted column"},
    "actual": {"type": "string", "minLength": 1,
               "description": "model_performance: the ground truth's column (default: prediction's name)"},
    "correlation_id": {"type": "string", "minLength": 1,
                       "description": "model_performance: the join column (default correlationid)"},
    "task": {"enum": ["classification", "regression"]},
    "positive_label": {"type": ["string", "number", "boolean"]},
})
_PERFORMANCE_OPTIONS = ("prediction", "actual", "correlation_id", "task", "positive_label")


def rule_option_problems(signal: str, spec: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(field, message) for each option of a rule's `drift:` block that `signal` cannot use or misses."""
    problems: list[tuple[str, str]] = []
    if signal == "model_performance":
        if "prediction" not in spec:
            problems.append(("prediction", "model_performance needs `prediction:` (the model output column) and "
                                           "`actual:` (the ground truth column in `baseline:`)"))
        problems += [(k, f"model_performance compares predictions; remove {k}")
                     for k in ("features", "feature_importance", "categorical", "exclude") if k in spec]
        if not any(spec.get("thresholds", {}).values()):
            problems.append(("thresholds", "model_performance has no default thresholds in Azure ML; give some, "
                                           "e.g. thresholds: {classification: {accuracy: 0.9}}"))
    else:
        problems += [(k, f"{k} applies to signal model_performance only; remove it") for k in _PERFORMANCE_OPTIONS
                     if k in spec]
        top_n = isinstance(spec.get("features"), Mapping)
        features = spec.get("features")
        both = [f for f in features if f in (spec.get("exclude") or ())] if isinstance(features, list) else []
        if both:
            problems.append(("exclude", f"{', '.join(both)} is both listed in features and excluded; remove it "
                                        "from one of them"))
        if top_n and "feature_importance" not in spec:
            problems.append(("features", "top_n_feature_importance needs feature_importance: {feature: importance} "
                                         "or a file with columns feature and importance"))
    return problems
