"""Drift metrics of amlguard.monitor.drift against a plain scipy implementation of the same definitions."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from amlguard.monitor.drift import compute_drift
from amlguard.monitor.drift.stats import bin_edges, finite_sorted, ks_pvalue, sturges_bins

from .drift_reference import reference_categorical, reference_numerical

TOL = 1e-9


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _close(got: dict[str, float | None], want: dict[str, float | None]) -> None:
    quality = {"null_value_rate", "data_type_error_rate", "out_of_bounds_rate"}
    assert set(got) == set(want) | quality
    for metric, expected in want.items():
        value = got[metric]
        if expected is None:
            assert value is None, metric
            continue
        assert value is not None, metric
        assert math.isfinite(value), metric
        assert value == pytest.approx(expected, abs=TOL, rel=TOL), (metric, value, expected)


# (case id, baseline, current): seeded data with known shifts and awkward shapes
NUMERICAL_CASES = [
    ("no_shift", _rng(1).normal(0, 1, 3000), _rng(2).normal(0, 1, 2500)),
    ("mean_shift", _rng(3).normal(0, 1, 3000), _rng(4).normal(0.5, 1, 3000)),
    ("scale_change", _rng(5).normal(10, 2, 4000), _rng(6).normal(10, 3, 3500)),
    ("integer_ties", _rng(7).poisson(4, 2000), _rng(8).poisson(4.4, 1800)),
    ("few_values", _rng(9).integers(0, 3, 900).astype(float), _rng(10).integers(0, 4, 700).astype(float)),
    ("nans_and_inf", np.where(_rng(11).random(1500) < 0.1, np.nan, _rng(12).normal(size=1500)),
     np.concatenate([_rng(13).normal(0.2, 1, 1200), [np.nan, np.inf, -np.inf]])),
    ("constant_positive", np.full(50, 3.5), np.full(40, 3.5)),
    ("constant_zero", np.zeros(10), np.zeros(7)),
    ("constant_negative", np.full(5, -2.0), np.full(9, -2.0)),
    ("n1_vs_n1", np.array([1.0]), np.array([2.0])),
    ("n1_vs_n1_equal", np.array([1.0]), np.array([1.0])),
    ("n1_vs_n2", np.array([0.5]), np.array([0.1, 0.9])),
    ("n2_vs_n3", np.array([0.0, 1.0]), np.array([0.5, 2.0, 3.0])),
    ("n3_vs_n7", _rng(14).normal(size=3), _rng(15).normal(1, 1, 7)),
    ("equal_sizes_exact", _rng(16).normal(size=500), _rng(17).normal(0.1, 1, 500)),
    ("exact_limit_10000", _rng(18).normal(size=10_000), _rng(19).normal(0.02, 1, 9_000)),
    ("asymptotic_above_10000", _rng(20).normal(size=12_000), _rng(21).normal(0.02, 1, 11_000)),
    ("asymptotic_moderate_d", _rng(22).normal(size=40_000), _rng(23).normal(0.03, 1, 40_000)),
    ("disjoint", _rng(24).normal(0, 1, 300), _rng(25).normal(100, 1, 200)),
    ("lognormal_tail", _rng(26).lognormal(0, 2, 5000), _rng(27).lognormal(0.1, 2, 5000)),
    ("huge_scale", _rng(28).normal(1e12, 1e9, 800), _rng(29).normal(1e12, 1.1e9, 900)),
]


@pytest.mark.parametrize("piece", [None, 7], ids=["one_merge", "merged_in_pieces"])
@pytest.mark.parametrize(("baseline", "current"), [c[1:] for c in NUMERICAL_CASES],
                         ids=[c[0] for c in NUMERICAL_CASES])
def test_numerical_metrics_equal_scipy_reference(baseline: np.ndarray, current: np.ndarray, piece: int | None,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    if piece:  # large windows are merged in pieces cut between runs of equal values
        monkeypatch.setattr("amlguard.monitor.drift.stats._MERGE_PIECE", piece)
    report = compute_drift({"x": baseline}, {"x": current}, workers=1)
    feature = report.feature("x")
    assert feature.type == "numerical"
    _close(feature.metrics, reference_numerical(baseline, current))
    assert feature.baseline_count == int(np.isfinite(baseline).sum())
    assert feature.current_count == int(np.isfinite(current).sum())
    assert sum(feature.histogram["baseline"]) == feature.baseline_count
    assert sum(feature.histogram["current"]) == feature.current_count


CATEGORICAL_CASES = [
    ("stable", _rng(30).choice(["a", "b", "c"], 2000, p=[0.5, 0.3, 0.2]),
     _rng(31).choice(["a", "b", "c"], 1500, p=[0.5, 0.3, 0.2])),
    ("new_category", _rng(32).choice(["a", "b", "c"], 2000),
     _rng(33).choice(["a", "b", "c", "d"], 1000, p=[0.3, 0.3, 0.2, 0.2])),
    ("lost_category", _rng(34).choice(["x", "y", "z"], 500), _rng(35).choice(["x", "y"], 400)),
    ("with_empty", np.array(["a", "", None, "b", "a", "c", None], dtype=object),
     np.array(["a", "b", "", "b", None, "d"], dtype=object)),
    ("single_category", np.array(["only"] * 5, dtype=object), np.array(["only"] * 3, dtype=object)),
    ("tiny", np.array(["a"], dtype=object), np.array(["b", "a"], dtype=object)),
    ("booleans", _rng(36).random(300) < 0.3, _rng(37).random(200) < 0.6),
]


@pytest.mark.parametrize(("baseline", "current"), [c[1:] for c in CATEGORICAL_CASES],
                         ids=[c[0] for c in CATEGORICAL_CASES])
def test_categorical_metrics_equal_scipy_reference(baseline: np.ndarray, current: np.ndarray) -> None:
    feature = compute_drift({"c": baseline}, {"c": current}).feature("c")
    assert feature.type == "categorical"
    _close(feature.metrics, reference_categorical(baseline, current))


def test_forced_categorical_integer_column_matches_reference() -> None:
    base = _rng(40).integers(1, 6, 1000)
    cur = np.where(_rng(41).random(800) < 0.05, np.nan, _rng(42).integers(1, 7, 800).astype(float))
    feature = compute_drift({"k": base}, {"k": cur}, categorical=["k"]).feature("k")
    assert feature.type == "categorical"
    assert "6" in feature.histogram["categories"] and "6.0" not in feature.histogram["categories"]
    _close(feature.metrics, reference_categorical(base, cur))


def test_numbers_in_lists_with_none_are_numerical() -> None:
    base = [1.0, None, 2.5, 3, 4.0]
    cur = [2.0, 3.5, None, 5]
    feature = compute_drift({"v": base}, {"v": cur}).feature("v")
    assert feature.type == "numerical"
    want = reference_numerical([1.0, np.nan, 2.5, 3, 4.0], [2.0, 3.5, np.nan, 5])
    _close(feature.metrics, want)


def test_the_baseline_types_a_feature_and_current_text_is_a_type_error() -> None:
    feature = compute_drift({"v": np.array([1, 2, 2, 3])},
                            {"v": np.array([1.5, "2", "x", None, True], dtype=object)}).feature("v")
    assert feature.type == "numerical"
    assert feature.counts == {"rows": 5, "empty": 1, "type_errors": 3, "out_of_bounds": 0}
    assert feature.metrics["data_type_error_rate"] == 0.75 and feature.current_count == 1
    text = compute_drift({"v": np.array(["1", "2", "2", "3"], dtype=object)},
                         {"v": np.array([1, 2, "x"], dtype=object)}).feature("v")
    assert text.type == "categorical"
    assert text.histogram["categories"] == ["2", "1", "3", "x"]
    assert text.histogram["baseline"] == [2, 1, 1, 0]
    assert text.histogram["current"] == [1, 1, 0, 1]
    assert text.metrics["out_of_bounds_rate"] == pytest.approx(1 / 3)


def test_empty_side_gives_null_metrics_and_no_drift() -> None:
    feature = compute_drift({"x": np.array([1.0, 2.0])}, {"x": np.array([np.nan, np.nan])}).feature("x")
    assert all(feature.metrics[m] is None for m in ("jensen_shannon_distance", "population_stability_index",
                                                    "normalized_wasserstein_distance",
                                                    "two_sample_kolmogorov_smirnov_test"))
    assert feature.metrics["null_value_rate"] == 1.0
    assert feature.drifted is False and feature.current_count == 0
    assert "current" in (feature.note or "")


@pytest.mark.parametrize(("n", "bins"), [(1, 1), (2, 2), (3, 3), (4, 3), (5, 4), (1000, 11), (500_000, 20)])
def test_sturges_on_smaller_sample(n: int, bins: int) -> None:
    assert sturges_bins(n) == bins


def test_bin_edges_equal_width_and_last_edge_is_max() -> None:
    edges = bin_edges(0.1, 0.7, 3)
    assert edges[0] == 0.1 and edges[-1] == 0.7
    assert np.allclose(np.diff(edges), 0.2)
    assert bin_edges(2.0, 2.0, 5).tolist() == [2.0, 2.02]
    assert bin_edges(0.0, 0.0, 5).tolist() == [0.0, 0.01]
    assert bin_edges(-4.0, -4.0, 5).tolist() == [-4.0, -3.96]


def test_histogram_counts_follow_numpy_edge_rule() -> None:
    a = np.array([0.0, 1.0, 1.0, 2.0, 3.0, 4.0, 4.0])
    b = np.array([0.0, 4.0])
    feature = compute_drift({"x": a}, {"x": b}).feature("x")
    edges = np.array(feature.histogram["edges"])
    assert feature.histogram["baseline"] == np.histogram(a, edges)[0].tolist()
    assert feature.histogram["current"] == np.histogram(b, edges)[0].tolist()


def test_finite_sorted_drops_nan_and_inf() -> None:
    got = finite_sorted(np.array([3.0, np.nan, -np.inf, 1.0, np.inf, 2.0]))
    assert got.tolist() == [1.0, 2.0, 3.0]
    assert finite_sorted(np.array([np.nan])).size == 0


def test_ks_pvalue_large_prime_sizes_exact() -> None:
    from scipy.stats import ks_2samp

    a = _rng(50).normal(size=9_973)
    b = _rng(51).normal(0.05, 1, 9_967)
    res = ks_2samp(a, b)
    assert ks_pvalue(float(res.statistic), a.size, b.size) == pytest.approx(res.pvalue, abs=TOL)


def test_ks_pvalue_falls_back_to_asymptotic_when_exact_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    # scipy switches to kstwo when its exact computation overflows; force that path in both.
    import scipy.stats._stats_py as stats_py
    from scipy.stats import ks_2samp

    real = stats_py._attempt_exact_2kssamp

    def failing(n1: int, n2: int, g: int, d: float, alternative: str) -> tuple[bool, float, float]:
        _, d, _ = real(n1, n2, g, d, alternative)
        return False, d, float("nan")

    monkeypatch.setattr(stats_py, "_attempt_exact_2kssamp", failing)
    a = _rng(52).normal(size=700)
    b = _rng(53).normal(0.2, 1, 650)
    with pytest.warns(RuntimeWarning, match="Exact calculation unsuccessful"):
        want = ks_2samp(a, b).pvalue
    got = compute_drift({"x": a}, {"x": b}).feature("x").metrics["two_sample_kolmogorov_smirnov_test"]
    assert got == pytest.approx(want, abs=TOL)


def test_known_shift_drifts_and_no_shift_does_not() -> None:
    rng = _rng(60)
    baseline = {"same": rng.normal(size=5000), "shifted": rng.normal(size=5000),
                "scaled": rng.normal(size=5000),
                "cat_same": rng.choice(["a", "b"], 5000), "cat_new": rng.choice(["a", "b"], 5000)}
    current = {"same": rng.normal(size=4000), "shifted": rng.normal(0.5, 1, 4000),
               "scaled": rng.normal(0, 2, 4000),
               "cat_same": rng.choice(["a", "b"], 4000),
               "cat_new": rng.choice(["a", "b", "c"], 4000, p=[0.3, 0.3, 0.4])}
    report = compute_drift(baseline, current)
    flags = {f.name: f.drifted for f in report.features}
    assert flags == {"same": False, "shifted": True, "scaled": True, "cat_same": False, "cat_new": True}
    assert report.drifted is True
    assert report.feature("shifted").breaches == ["normalized_wasserstein_distance"]
    assert report.feature("cat_new").breaches == ["jensen_shannon_distance"]


def test_parallel_and_serial_give_identical_results() -> None:
    rng = _rng(70)
    base = {f"f{i}": rng.normal(size=60_000) for i in range(4)}
    cur = {f"f{i}": rng.normal(0.01 * i, 1, 50_000) for i in range(4)}
    serial = compute_drift(base, cur, workers=1).to_dict()
    parallel = compute_drift(base, cur, workers=2).to_dict()
    assert serial == parallel


@pytest.mark.parametrize(("en", "d"), [(20_000, 0.02), (20_000, 0.027), (20_000, 0.04), (20_000, 0.1),
                                       (60_000, 0.016), (60_000, 0.0155)])
def test_tiny_asymptotic_p_values_stay_within_tolerance(en: int, d: float) -> None:
    # p-values that the DKW-Massart bound puts below 1e-12 are reported as 0 without scipy's tail sum
    from scipy.stats import kstwo

    got = ks_pvalue(d, 2 * en, 2 * en)
    want = float(kstwo.sf(d, en))
    assert abs(got - want) <= 1e-12
    if 2 * math.exp(-2 * en * d * d) < 1e-12:
        assert got == 0.0 and want < 1e-12
    else:
        assert got == want


@pytest.mark.parametrize(("n1", "n2", "d"), [
    (20_000, 20_000, 0.0105), (20_000, 20_000, 0.02), (40_000, 40_000, 0.0061), (40_000, 40_000, 0.0078),
    (120_000, 120_000, 0.0062), (120_000, 120_000, 0.003), (20_000, 10, 0.3), (12_000, 300, 0.09),
])
def test_asymptotic_p_value_is_kstwo_sf(n1: int, n2: int, d: float) -> None:
    # the smirnov band is called directly (GIL-free) and the Pelz-Good band computed here; every
    # value must still be kstwo.sf's (the smirnov band bit for bit)
    from scipy.stats import kstwo

    en = round(n1 * n2 / (n1 + n2))
    want = float(kstwo.sf(d, en))
    got = ks_pvalue(d, n1, n2)
    if want < 1e-12:
        assert abs(got - want) <= 1e-12
    elif en * d * d >= 2.2:
        assert got == want
    else:
        assert abs(got - want) <= 1e-14


def test_pelz_good_band_is_kstwo_sf_without_importing_scipy_stats() -> None:
    # Where kstwo.sf uses the Pelz-Good expansion, ks_pvalue computes it itself (scipy.stats takes
    # ~0.8 s to import); the values must be kstwo.sf's to the last few bits, over the band (samples
    # above 10,000 rows, where ks_2samp is asymptotic).
    from scipy.stats import kstwo

    rng = _rng(90)
    checked = 0
    for _ in range(3000):
        en = int(rng.choice([rng.integers(5_001, 100_001), rng.integers(100_001, 5_000_000)]))
        d = math.sqrt(rng.uniform(1e-4, 2.2) / en)
        if not (1 < en * d < en - 1 and (en > 100_000 or en * d ** 1.5 > 1.4)):
            continue
        got = ks_pvalue(d, 2 * en, 2 * en)
        assert abs(got - float(kstwo.sf(d, en))) <= 1e-14, (en, d)
        checked += 1
    assert checked > 2000
    probe = ("import sys; from amlguard.monitor.drift.stats import ks_pvalue; "
             "p = ks_pvalue(0.002, 500_000, 500_000); assert 0.2 < p < 0.3, p; "
             "assert 'scipy.stats' not in sys.modules, 'scipy.stats was imported'")
    subprocess.run([sys.executable, "-c", probe], check=True, cwd=Path(__file__).resolve().parents[2])
