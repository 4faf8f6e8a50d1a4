"""Drift statistics with Azure ML model monitoring's definitions, computed from sorted arrays
(how, and the scipy reference they are checked against: docs/drift.md, "Performance")."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from amlguard.monitor.drift.thresholds import CHI2, JS, KS, NWD, PSI

__all__ = ["CategoricalResult", "NumericalResult", "bin_edges", "categorical_drift", "category_key",
           "count_categories", "finite_sorted", "is_empty", "ks_pvalue", "numerical_drift", "object_array",
           "sturges_bins"]

# scipy.stats.ks_2samp(method='auto') is exact up to this many rows in the larger sample.
_KS_MAX_AUTO_N = 10_000
# Asymptotic KS p-values provably below this are reported as 0.0 (see ks_pvalue).
_KS_TINY_P = 1e-12
# Values merged at a time by _merged_cdf_stats (each takes ~60 bytes of temporaries).
_MERGE_PIECE = 1 << 20
# Long enough for numpy to run a ufunc loop without the GIL (its threshold is 500 elements).
_GIL_FREE_LOOP = 512
# Azure ML's floor on the baseline standard deviation for the normalised Wasserstein distance.
_STD_FLOOR = 0.001


@dataclass(frozen=True)
class NumericalResult:
    """Metrics and the shared histogram of one numerical feature."""

    metrics: dict[str, float | None]
    edges: list[float]
    baseline_counts: list[int]
    current_counts: list[int]
    ks_statistic: float | None


@dataclass(frozen=True)
class CategoricalResult:
    """Metrics and per-category counts of one categorical feature."""

    metrics: dict[str, float | None]
    categories: list[str]
    baseline_counts: list[int]
    current_counts: list[int]


def finite_sorted(values: np.ndarray) -> np.ndarray:
    """Sort a numeric array once and drop NaN and +/-inf (NaN sorts last, -inf first, +inf before NaN)."""
    s = np.sort(np.asarray(values, dtype=np.float64), kind="quicksort")
    if s.size == 0:
        return s
    lo = 0 if s[0] != -np.inf else int(np.searchsorted(s, -np.inf, side="right"))
    last = s[-1]
    hi = s.size if (last == last and last != np.inf) else int(np.searchsorted(s, np.inf, side="left"))
    return s[lo:hi]


def sturges_bins(n_smaller: int) -> int:
    """Bin count by Sturges' rule on the smaller sample: ceil(log2(n) + 1), as Azure ML computes it."""
    return max(1, math.ceil(math.log2(n_smaller) + 1)) if n_smaller > 0 else 1


def bin_edges(lo: float, hi: float, n_bins: int) -> np.ndarray:
    """Equal-width edges over [lo, hi]: lo + i*(hi - lo)/n_bins, the last edge exactly hi.

    When lo == hi there is one bin. Azure ML makes it [v, v*1.01]; that is empty or reversed
    for v <= 0, so here it is [v, v + 0.01*|v|], and [0, 0.01] for v == 0 (same bin for v > 0).
    """
    if lo == hi:
        return np.array([lo, lo + (abs(lo) * 0.01 if lo != 0 else 0.01)])
    return np.linspace(lo, hi, n_bins + 1)


def _histogram_sorted(s: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts per bin of sorted `s`, with np.histogram's edge rule (half-open bins, last one closed)."""
    idx = np.empty(edges.size, dtype=np.int64)
    idx[:-1] = np.searchsorted(s, edges[:-1], side="left")
    idx[-1] = np.searchsorted(s, edges[-1], side="right")
    return np.diff(idx)


def _js_distance(c1: np.ndarray, c2: np.ndarray) -> float:
    """Jensen-Shannon distance, log base 2, on the proportions of two count vectors."""
    p = c1 / c1.sum()
    q = c2 / c2.sum()
    m = (p + q) / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        # x*log(x/m) with 0*log(0) = 0, as scipy.special.rel_entr; m > 0 wherever x > 0.
        left = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0) / m), 0.0)
        right = np.where(q > 0, q * np.log(np.where(q > 0, q, 1.0) / m), 0.0)
    js = (float(left.sum()) + float(right.sum())) / math.log(2.0)
    return math.sqrt(max(js / 2.0, 0.0))


def _psi(c1: np.ndarray, c2: np.ndarray) -> float:
    """PSI with Azure ML's Laplace smoothing: +1 on every bin, proportions over (N + bins)."""
    k = c1.size
    p = (c1 + 1.0) / (c1.sum() + k)
    q = (c2 + 1.0) / (c2.sum() + k)
    return float(np.sum((q - p) * np.log(q / p)))


def _runs(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values of sorted `s` and how often each occurs."""
    if s.size == 0:
        return s, np.empty(0, dtype=np.int64)
    first = np.empty(s.size, dtype=bool)
    first[0] = True
    np.not_equal(s[1:], s[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    return s[starts], np.diff(starts, append=s.size)


def _merged_cdf_stats(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Two-sided KS statistic and Wasserstein-1 distance of two sorted finite samples.

    Merges the distinct values of both (ties: baseline first) and reads both empirical CDFs off
    the merge with cumulative counts; at the end of each run of equal values these are exactly
    the `searchsorted(..., 'right')` CDFs that scipy's ks_2samp and wasserstein_distance use.
    Merging distinct values with their counts makes tied data (integers, rounded values) cheap;
    the merge goes in pieces of about _MERGE_PIECE values, cut between distinct values, so its
    temporaries stay a few tens of MB whatever the sizes.
    """
    n1, n2 = a.size, b.size
    (av, ac), (bv, bc) = _runs(a), _runs(b)
    before_a, before_b = np.concatenate([[0], np.cumsum(ac)]), np.concatenate([[0], np.cumsum(bc)])
    cuts = np.unique((bv if bv.size >= av.size else av)[_MERGE_PIECE::_MERGE_PIECE])
    ia = np.concatenate([[0], np.searchsorted(av, cuts), [av.size]])
    ib = np.concatenate([[0], np.searchsorted(bv, cuts), [bv.size]])
    wasserstein, max_s, min_s = 0.0, -np.inf, np.inf
    last: tuple[float, float] | None = None  # value and CDF difference at the end of the previous piece
    for a0, a1, b0, b1 in zip(ia[:-1].tolist(), ia[1:].tolist(), ib[:-1].tolist(), ib[1:].tolist(), strict=True):
        if a1 - a0 + b1 - b0 == 0:
            continue
        both = np.concatenate([av[a0:a1], bv[b0:b1]])
        # A stable argsort of two sorted runs is a single linear merge (timsort), and it says
        # which side each merged value came from.
        order = np.argsort(both, kind="stable")
        merged = both[order]
        counts = np.concatenate([ac[a0:a1], np.zeros(b1 - b0, dtype=np.int64)])[order]
        cum_a = np.cumsum(counts)
        cum_a += before_a[a0]
        counts = np.concatenate([np.zeros(a1 - a0, dtype=np.int64), bc[b0:b1]])[order]
        cum_b = np.cumsum(counts)
        cum_b += before_b[b0]
        del both, order, counts
        cdiff = cum_a / n1
        cdiff -= cum_b / n2
        deltas = np.diff(merged)
        # Wasserstein: sum |F_a - F_b| * width between consecutive distinct values, the terms
        # scipy sums (its terms inside a tie run have width 0). (Not `@`: BLAS ddot spins up its
        # own threads on top of ours.)
        if last is not None:
            wasserstein += abs(last[1]) * (float(merged[0]) - last[0])
        terms = np.abs(cdiff[:-1])
        terms *= deltas
        wasserstein += float(terms.sum())
        # A value on both sides appears twice in a row: its first copy is not the end of the run.
        run_end = np.empty(merged.size, dtype=bool)
        np.not_equal(deltas, 0.0, out=run_end[:-1])
        run_end[-1] = True  # the next piece starts with a larger value
        max_s = max(max_s, float(np.max(cdiff, where=run_end, initial=-np.inf)))
        min_s = min(min_s, float(np.min(cdiff, where=run_end, initial=np.inf)))
        last = (float(merged[-1]), float(cdiff[-1]))
    min_s = min(max(-min_s, 0.0), 1.0)
    ks_d = min_s if min_s > max_s else max_s
    return ks_d, wasserstein


def ks_pvalue(d: float, n1: int, n2: int, a: np.ndarray | None = None, b: np.ndarray | None = None) -> float:
    """Two-sided p-value of the two-sample KS statistic `d`, as scipy.stats.ks_2samp(method='auto').

    scipy is exact when the larger sample has at most 10,000 rows and falls back to the
    asymptotic kstwo distribution when the exact computation fails or the samples are larger;
    this follows the same selection and calls the same scipy functions.
    """
    if max(n1, n2) <= _KS_MAX_AUTO_N:
        try:
            from scipy.stats._stats_py import _attempt_exact_2kssamp
        except ImportError:  # private helper moved: let the public function decide
            if a is None or b is None:
                raise
            from scipy.stats import ks_2samp

            return float(ks_2samp(a, b).pvalue)
        success, d, prob = _attempt_exact_2kssamp(n1, n2, math.gcd(n1, n2), d, "two-sided")
        if success:
            return float(np.clip(prob, 0.0, 1.0))
    m, n = sorted([float(n1), float(n2)], reverse=True)
    en = float(np.round(m * n / (m + n)))
    # scipy's kstwo.sf sums the exact tail (scipy.special.smirnov), ~0.4 s per call at 250k
    # effective rows. Where the Dvoretzky-Kiefer-Wolfowitz-Massart bound P(D >= d) <=
    # 2*exp(-2*en*d^2) already puts the p-value below _KS_TINY_P, 0.0 is within that of it.
    if 2.0 * math.exp(-2.0 * en * d * d) < _KS_TINY_P:
        return 0.0
    nx2 = en * d * d
    if en > 140 and 1.0 < en * d < en - 1 and d < 0.5 and 2.2 <= nx2 < 370.0:
        # In this band kstwo.sf is exactly 2 * scipy.special.smirnov(en, d) (scipy.stats._ksstats
        # ._kolmogn, large-n survival branch), a tail sum of ~en terms that holds the GIL for
        # ~0.4 s when called on a scalar. numpy releases the GIL for ufunc loops over more than
        # 500 elements, so pad the call with trivial entries (x >= 1 returns at once) and let the
        # other threads sort meanwhile. tests/monitor pin this to kstwo.sf.
        from scipy import special

        n_arr = np.ones(_GIL_FREE_LOOP)
        x_arr = np.full(_GIL_FREE_LOOP, 2.0)
        n_arr[0], x_arr[0] = en, d
        return float(np.clip(2.0 * special.smirnov(n_arr, x_arr)[0], 0.0, 1.0))
    if en > 140 and 1.0 < en * d < en - 1 and d < 0.5 and nx2 < 2.2 and (en > 100_000 or en * d ** 1.5 > 1.4):
        # Where kstwo.sf uses the Pelz-Good expansion (Simard & L'Ecuyer 2011), compute it here:
        # importing scipy.stats for it costs ~0.8 s of GIL-holding work, a third of a 500k-row run.
        return _pelz_good_sf(en, d)
    from scipy.stats import kstwo

    return float(np.clip(kstwo.sf(d, en), 0.0, 1.0))


def _pelz_good_sf(n: float, x: float) -> float:
    """P(D_n >= x) for the one-sample two-sided KS statistic by Pelz and Good's (1976) expansion
    P(D_n < x) ~ K0(z) + K1(z)/n^0.5 + K2(z)/n + K3(z)/n^1.5, z = x*sqrt(n), each K a series as
    Simard & L'Ecuyer (2011) write it, summed to ceil(16z/pi) terms as scipy's kstwo does."""
    z = x * math.sqrt(n)
    z2 = z * z
    if math.pi ** 2 / (8.0 * z2) > 708.0:  # every term underflows: P(D_n < x) = 0
        return 1.0
    terms = math.ceil(16.0 * z / math.pi)
    half = (np.arange(terms) + 0.5) * math.pi  # pi * (k + 1/2), k = 0, 1, ...
    h2 = half * half
    h4 = h2 * h2
    odd = np.exp(-h2 / (2.0 * z2))
    whole = np.arange(1, terms + 1) * math.pi  # pi * k, k = 1, 2, ...
    w2 = whole * whole
    even = np.exp(-w2 / (2.0 * z2))
    z4, z6 = z2 * z2, z2 * z2 * z2
    root = math.sqrt(math.pi / 2.0)
    k0 = 2.0 * root / z * float(np.sum(odd))
    k1 = root / (3.0 * z4) * float(np.sum((h2 - z2) * odd))
    k2 = (root / (36.0 * z6 * z) * float(np.sum((6.0 * z6 + 2.0 * z4 + (2.0 * z4 - 5.0 * z2) * h2
                                                  + (1.0 - 2.0 * z2) * h4) * odd))
          - root / (18.0 * z2 * z) * float(np.sum(w2 * even)))
    k3 = (root / (3240.0 * z6 * z4) * float(np.sum(((5.0 - 30.0 * z2) * h4 * h2 + (212.0 * z4 - 60.0 * z2) * h4
                                                    + (135.0 * z4 - 96.0 * z6) * h2 - 30.0 * z6 - 90.0 * z4 * z4)
                                                   * odd))
          + root / (108.0 * z6) * float(np.sum((3.0 * z2 - w2) * w2 * even)))
    root_n = math.sqrt(n)
    below = k0 + k1 / root_n + k2 / n + k3 / (n * root_n)
    return min(max(1.0 - below, 0.0), 1.0)


def numerical_drift(a: np.ndarray, b: np.ndarray) -> NumericalResult:
    """All numerical metrics of baseline `a` vs current `b`, both sorted with non-finite values dropped."""
    n1, n2 = int(a.size), int(b.size)
    if n1 == 0 or n2 == 0:
        empty: dict[str, float | None] = {JS: None, PSI: None, NWD: None, KS: None}
        return NumericalResult(empty, [], [], [], None)
    lo = min(float(a[0]), float(b[0]))
    hi = max(float(a[-1]), float(b[-1]))
    edges = bin_edges(lo, hi, sturges_bins(min(n1, n2)))
    c1 = _histogram_sorted(a, edges)
    c2 = _histogram_sorted(b, edges)
    std = float(np.std(a, ddof=1)) if n1 > 1 else 0.0  # sample std; undefined for one row -> floor
    ks_d, wasserstein = _merged_cdf_stats(a, b)
    metrics: dict[str, float | None] = {
        JS: _js_distance(c1, c2),
        PSI: _psi(c1, c2),
        NWD: wasserstein / max(std, _STD_FLOOR),
        KS: ks_pvalue(ks_d, n1, n2, a, b),
    }
    return NumericalResult(metrics, edges.tolist(), c1.tolist(), c2.tolist(), ks_d)


def _chi2_pvalue(observed: np.ndarray, expected: np.ndarray) -> float:
    """Pearson chi-squared p-value, as scipy.stats.chisquare(observed, expected)."""
    from scipy import special

    stat = float(np.sum((observed - expected) ** 2 / expected))
    dof = observed.size - 1
    if dof < 1:  # one category in both samples: nothing differs (scipy says nan here)
        return 1.0
    return float(special.chdtrc(dof, stat))


def categorical_drift(categories: Sequence[str], c1: Sequence[int] | np.ndarray,
                      c2: Sequence[int] | np.ndarray) -> CategoricalResult:
    """Categorical metrics from counts over the union of categories (same order in both)."""
    base = np.asarray(c1, dtype=np.float64)
    cur = np.asarray(c2, dtype=np.float64)
    n1, n2 = float(base.sum()), float(cur.sum())
    metrics: dict[str, float | None]
    if n1 == 0 or n2 == 0:
        metrics = {JS: None, PSI: None, CHI2: None}
    else:
        k = base.size
        expected = (base + 1.0) / (n1 + k) * n2  # smoothed baseline proportions x current count
        metrics = {JS: _js_distance(base, cur), PSI: _psi(base, cur), CHI2: _chi2_pvalue(cur, expected)}
    return CategoricalResult(metrics, list(categories), [int(x) for x in base], [int(x) for x in cur])


def count_categories(values: Any) -> dict[str, int]:
    """Count non-empty values by their string form; None, NaN, +/-inf and "" are dropped.

    Integral floats count as integers ("3", not "3.0"), so a column read with nulls (float) and
    the same column without (int) give the same categories; nested values count as their JSON.
    """
    arr = values if isinstance(values, np.ndarray) else object_array(values)
    if arr.dtype.kind in "iub":
        uniq, counts = np.unique(arr, return_counts=True)
        return {category_key(u): int(c) for u, c in zip(uniq.tolist(), counts.tolist(), strict=True)}
    if arr.dtype.kind == "f":
        arr = arr[np.isfinite(arr)]
        if arr.size and np.all(arr == np.round(arr)) and np.all(np.abs(arr) < 2**53):
            arr = arr.astype(np.int64)
        uniq, counts = np.unique(arr, return_counts=True)
        return {category_key(u): int(c) for u, c in zip(uniq.tolist(), counts.tolist(), strict=True)}
    out: dict[str, int] = {}
    if arr.dtype.kind == "U":
        uniq, counts = np.unique(arr, return_counts=True)
        for u, c in zip(uniq.tolist(), counts.tolist(), strict=True):
            if u != "":
                out[u] = int(c)
        return out
    from collections import Counter

    items = arr.ravel().tolist()
    try:
        raw = Counter(items)  # count the values first, then key each distinct one
    except TypeError:  # nested values (dicts, lists) are not hashable: key every value
        raw = Counter(category_key(v) for v in items if not is_empty(v))
    for value, n in raw.items():
        if not (is_empty(value) or (isinstance(value, float) and not math.isfinite(value))):
            key = category_key(value)
            out[key] = out.get(key, 0) + n
    return out


def object_array(values: Any) -> np.ndarray:
    """`values` as a 1-D object array (np.asarray would turn equal-length lists into a 2-D array)."""
    items = list(values)
    arr = np.empty(len(items), dtype=object)
    arr[:] = items
    return arr


def is_empty(value: Any) -> bool:
    """True for what counts as no value: None, NaN and ""."""
    return value is None or (isinstance(value, float) and value != value) or (isinstance(value, str) and not value)


def category_key(value: Any) -> str:
    """The category a non-empty value counts as: its text, with true/false and integral floats as integers."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)
