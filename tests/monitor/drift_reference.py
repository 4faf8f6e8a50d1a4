"""A plain scipy implementation of the drift definitions (DESIGN.md contract 4), written independently
of amlguard.monitor.drift so tests and the benchmark can check the fast engine against it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.spatial.distance import jensenshannon
from scipy.stats import chisquare, ks_2samp, wasserstein_distance


def _psi(c1: np.ndarray, c2: np.ndarray) -> float:
    k = len(c1)
    p = (c1 + 1) / (c1.sum() + k)
    q = (c2 + 1) / (c2.sum() + k)
    return float(np.sum((q - p) * np.log(q / p)))


def reference_numerical(baseline: Any, current: Any) -> dict[str, float | None]:
    a = np.asarray(baseline, dtype=float)
    b = np.asarray(current, dtype=float)
    a = a[np.isfinite(a)]
    b = b[np.isfinite(b)]
    if a.size == 0 or b.size == 0:
        return dict.fromkeys(("jensen_shannon_distance", "population_stability_index",
                              "normalized_wasserstein_distance", "two_sample_kolmogorov_smirnov_test"))
    n_bins = math.ceil(math.log2(min(a.size, b.size)) + 1)
    lo = min(a.min(), b.min())
    hi = max(a.max(), b.max())
    edges = np.array([lo, lo + (abs(lo) * 0.01 if lo != 0 else 0.01)]) if lo == hi else np.linspace(lo, hi, n_bins + 1)
    h1, _ = np.histogram(a, bins=edges)
    h2, _ = np.histogram(b, bins=edges)
    std = np.std(a, ddof=1) if a.size > 1 else 0.0
    return {
        "jensen_shannon_distance": float(jensenshannon(h1, h2, base=2)),
        "population_stability_index": _psi(h1, h2),
        "normalized_wasserstein_distance": float(wasserstein_distance(a, b) / max(std, 0.001)),
        "two_sample_kolmogorov_smirnov_test": float(ks_2samp(a, b).pvalue),
    }


def _category(v: Any) -> str | None:
    if v is None or v == "":
        return None
    if isinstance(v, bool | np.bool_):
        return "true" if v else "false"
    if isinstance(v, float | np.floating):
        if not np.isfinite(v):
            return None
        if float(v).is_integer():
            return str(int(v))
    return str(v)


def reference_categorical(baseline: Any, current: Any) -> dict[str, float | None]:
    base = [c for c in map(_category, list(baseline)) if c is not None]
    cur = [c for c in map(_category, list(current)) if c is not None]
    if not base or not cur:
        return dict.fromkeys(("jensen_shannon_distance", "population_stability_index",
                              "pearsons_chi_squared_test"))
    cats = sorted(set(base) | set(cur))
    c1 = np.array([base.count(c) for c in cats], dtype=float)
    c2 = np.array([cur.count(c) for c in cats], dtype=float)
    k = len(cats)
    expected = (c1 + 1) / (c1.sum() + k) * c2.sum()
    chi2_p = 1.0 if k == 1 else float(chisquare(c2, expected).pvalue)
    return {
        "jensen_shannon_distance": float(jensenshannon(c1, c2, base=2)),
        "population_stability_index": _psi(c1, c2),
        "pearsons_chi_squared_test": chi2_p,
    }
