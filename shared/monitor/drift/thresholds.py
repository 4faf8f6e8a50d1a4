"""Drift metric names, default thresholds (Azure ML's) and the breach rule of each metric.

Kept free of numpy so that policy and monitor-rule code can read the defaults on a cold start.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from amlguard.errors import ConfigError

__all__ = ["BREACH_BELOW", "CATEGORICAL_METRICS", "DEFAULT_THRESHOLDS", "METRIC_ALIASES", "NUMERICAL_METRICS",
           "breached", "canonical_metric", "parse_threshold_overrides", "resolve_thresholds"]

JS = "jensen_shannon_distance"
PSI = "population_stability_index"
NWD = "normalized_wasserstein_distance"
KS = "two_sample_kolmogorov_smirnov_test"
CHI2 = "pearsons_chi_squared_test"

#: Metrics computed for each feature type, in report order (Azure ML model monitoring names).
NUMERICAL_METRICS: tuple[str, ...] = (JS, PSI, NWD, KS)
CATEGORICAL_METRICS: tuple[str, ...] = (JS, PSI, CHI2)

#: Azure ML SDK defaults (azure.ai.ml.entities._monitoring.thresholds): one metric per type.
DEFAULT_THRESHOLDS: Mapping[str, Mapping[str, float]] = MappingProxyType({
    "numerical": MappingProxyType({NWD: 0.1}),
    "categorical": MappingProxyType({JS: 0.1}),
})

#: p-values breach when the value is *below* the threshold; every other metric when above
#: (Azure ML evaluate_metrics_threshold.py). Both comparisons are strict.
BREACH_BELOW: frozenset[str] = frozenset({KS, CHI2})

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
})

_ALL_METRICS = frozenset(NUMERICAL_METRICS) | frozenset(CATEGORICAL_METRICS)


def canonical_metric(name: str) -> str:
    """Return the canonical metric name for `name` (or its alias); ConfigError names the choices."""
    key = name.strip().lower().replace("-", "_")
    key = METRIC_ALIASES.get(key, key)
    if key not in _ALL_METRICS:
        choices = ", ".join(sorted(_ALL_METRICS))
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


def resolve_thresholds(feature: str, ftype: str,
                       overrides: Mapping[str, Mapping[str, float | None]] | None) -> dict[str, float]:
    """Thresholds for one feature: the type's defaults, then `"*"` overrides, then the feature's own.

    Overrides keyed `"*"`, `"numerical"` or `"categorical"` apply to every feature they fit and
    quietly skip metrics that the feature's type does not compute; a metric named for one
    feature that its type does not compute is a ConfigError. A value of None drops the threshold.
    """
    applicable = NUMERICAL_METRICS if ftype == "numerical" else CATEGORICAL_METRICS
    result: dict[str, float | None] = dict(DEFAULT_THRESHOLDS[ftype])
    for scope in ("*", ftype, feature):
        layer = (overrides or {}).get(scope)
        if not layer:
            continue
        for metric_name, value in layer.items():
            metric = canonical_metric(metric_name)
            if metric not in applicable:
                if scope == feature:
                    raise ConfigError(
                        f"threshold {feature}.{metric}: {feature!r} is {ftype} and {metric} is computed "
                        f"only for {'categorical' if ftype == 'numerical' else 'numerical'} features; "
                        f"use one of: {', '.join(applicable)}")
                continue
            result[metric] = None if value is None else float(value)
    return {m: v for m, v in result.items() if v is not None}
