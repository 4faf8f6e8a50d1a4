"""Thresholds: Azure ML defaults, breach direction per metric, overrides and their errors."""

from __future__ import annotations

import numpy as np
import pytest

from amlguard.errors import ConfigError
from amlguard.monitor.drift import (
    BREACH_BELOW,
    DEFAULT_THRESHOLDS,
    breached,
    compute_drift,
    parse_threshold_overrides,
    resolve_thresholds,
)


def test_defaults_are_azure_ml_sdk_defaults() -> None:
    assert dict(DEFAULT_THRESHOLDS["numerical"]) == {"normalized_wasserstein_distance": 0.1}
    assert dict(DEFAULT_THRESHOLDS["categorical"]) == {"jensen_shannon_distance": 0.1}
    assert {"two_sample_kolmogorov_smirnov_test", "pearsons_chi_squared_test", "accuracy", "precision",
            "recall"} == BREACH_BELOW


@pytest.mark.parametrize(("metric", "value", "threshold", "expected"), [
    ("normalized_wasserstein_distance", 0.11, 0.1, True),
    ("normalized_wasserstein_distance", 0.1, 0.1, False),  # strict, as Azure ML
    ("jensen_shannon_distance", 0.05, 0.1, False),
    ("population_stability_index", 0.3, 0.25, True),
    ("two_sample_kolmogorov_smirnov_test", 0.01, 0.05, True),
    ("two_sample_kolmogorov_smirnov_test", 0.05, 0.05, False),
    ("pearsons_chi_squared_test", 0.5, 0.05, False),
    ("pearsons_chi_squared_test", None, 0.05, False),
    ("jensen_shannon_distance", float("nan"), 0.1, False),
])
def test_breach_direction(metric: str, value: float | None, threshold: float, expected: bool) -> None:
    assert breached(metric, value, threshold) is expected


def test_override_layers_and_aliases() -> None:
    overrides = parse_threshold_overrides(["psi=0.2", "age.ks=0.01", "age.wasserstein=off",
                                           "region.chi_squared_test=0.05"])
    assert overrides == {"*": {"population_stability_index": 0.2},
                         "age": {"two_sample_kolmogorov_smirnov_test": 0.01,
                                 "normalized_wasserstein_distance": None},
                         "region": {"pearsons_chi_squared_test": 0.05}}
    assert resolve_thresholds("age", "numerical", overrides) == {
        "population_stability_index": 0.2, "two_sample_kolmogorov_smirnov_test": 0.01}
    assert resolve_thresholds("region", "categorical", overrides) == {
        "jensen_shannon_distance": 0.1, "population_stability_index": 0.2, "pearsons_chi_squared_test": 0.05}
    # "*" skips metrics a type does not compute; a named feature does not
    assert resolve_thresholds("x", "categorical", {"*": {"ks": 0.05}}) == {"jensen_shannon_distance": 0.1}
    with pytest.raises(ConfigError, match="'x' is categorical"):
        resolve_thresholds("x", "categorical", {"x": {"ks": 0.05}})


@pytest.mark.parametrize(("item", "message"), [
    ("psi", "expected FEATURE.METRIC=VALUE"),
    ("age.psi=", "expected FEATURE.METRIC=VALUE"),
    ("age.nope=1", "unknown drift metric 'nope'"),
    ("age.psi=lots", "'lots' is not a number"),
    ("age.psi=nan", "NaN is not a threshold"),
])
def test_override_errors(item: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_threshold_overrides([item])


def test_compute_drift_api_thresholds_features_and_skipped() -> None:
    rng = np.random.default_rng(3)
    base = {"a": rng.normal(size=500), "b": rng.normal(size=500), "only_base": np.ones(500)}
    cur = {"a": rng.normal(0.3, 1, 400), "b": rng.normal(size=400), "only_cur": np.ones(400)}
    report = compute_drift(base, cur, thresholds={"a": {"normalized_wasserstein_distance": 5.0}})
    assert [f.name for f in report.features] == ["a", "b"]
    assert report.skipped == [{"name": "only_base", "reason": "not in current"},
                              {"name": "only_cur", "reason": "not in baseline"}]
    assert report.feature("a").drifted is False
    assert compute_drift(base, cur, features=["b"]).to_dict()["summary"]["features"] == 1
    with pytest.raises(ConfigError, match="only_base not in the current data"):
        compute_drift(base, cur, features=["only_base"])
    with pytest.raises(ConfigError, match="unknown feature"):
        compute_drift(base, cur, thresholds={"zzz": {"psi": 0.1}})


def test_to_json_has_no_nan_and_caps_categories() -> None:
    import json

    base = {"id": np.array([f"u{i}" for i in range(200)], dtype=object), "e": np.array([np.nan, np.nan])}
    cur = {"id": np.array([f"u{i}" for i in range(100, 300)], dtype=object), "e": np.array([1.0])}
    doc = json.loads(compute_drift(base, cur).to_json())
    hist = doc["features"][0]["histogram"]
    assert len(hist["categories"]) == 50 and hist["categories"][-1] == "(other)"
    assert hist["other_categories"] == 251
    assert sum(hist["baseline"]) == 200 and sum(hist["current"]) == 200
    assert doc["features"][1]["metrics"]["jensen_shannon_distance"] is None
