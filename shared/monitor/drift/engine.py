"""Per-feature report of the drift and data-quality signals: type each feature by its baseline, reduce
the current window to what the metrics need, compute them and judge them against thresholds.

`compute_drift` is the one entry point; the CLI, monitor rules and the dashboard all read the
`DriftReport` it returns. A current column is an array (or list), or a `CurrentColumn` that a
streaming reader filled batch by batch (amlguard.monitor.drift.collector).
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from amlguard.errors import ConfigError
from amlguard.monitor.drift.stats import (
    categorical_drift,
    count_categories,
    finite_sorted,
    is_empty,
    numerical_drift,
    object_array,
)
from amlguard.monitor.drift.thresholds import (
    BREACH_BELOW,
    CATEGORICAL_METRICS,
    DATA_QUALITY_METRICS,
    NUMERICAL_METRICS,
    OUT_OF_BOUNDS_RATE,
    breached,
    resolve_thresholds,
    signal_kind,
)

__all__ = ["CurrentColumn", "DriftReport", "FeatureDrift", "Reference", "compute_drift", "profile_baseline"]

# Below this many values in all features together, threads cost more than they save.
_PARALLEL_MIN_VALUES = 200_000
# Categories shown in a JSON histogram; the rest are summed into one "(other)" bar.
MAX_HISTOGRAM_CATEGORIES = 50
# Distinct current categories kept apart beyond the baseline's; later unseen ones share one bucket.
MAX_UNSEEN_CATEGORIES = 100_000
UNSEEN_BUCKET = "(other unseen categories)"


@dataclass
class Reference:
    """What the baseline says about one feature: its type and, for a numerical one, its values
    (`finite`: sorted on first use) and bounds; for a categorical one, its category counts.
    `value_type` is the JSON type its values have (number, integer, boolean, string)."""

    name: str
    numerical: bool
    raw: np.ndarray | None = None
    counts: dict[str, int] = field(default_factory=dict)
    value_type: str = "string"
    lo: float | None = None
    hi: float | None = None

    def finite(self) -> np.ndarray:
        assert self.raw is not None
        return finite_sorted(self.raw)


def profile_baseline(baseline: Mapping[str, Any], names: Iterable[str],
                     categorical: Iterable[str] = ()) -> dict[str, Reference]:
    """A Reference per feature: numerical when every non-empty baseline value is a number (and the
    feature is not forced categorical), else categorical."""
    forced = set(categorical)
    out: dict[str, Reference] = {}
    for name in names:
        values = baseline[name]
        nb = None if name in forced else _numeric_view(values)
        if nb is not None:
            finite = nb[np.isfinite(nb)] if nb.dtype.kind == "f" else nb
            lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (None, None)
            out[name] = Reference(name, True, raw=nb, value_type="number", lo=lo, hi=hi)
        else:
            out[name] = Reference(name, False, counts=count_categories(values), value_type=_value_type(values))
    return out


def _value_type(values: Any) -> str:
    kind = getattr(values, "dtype", np.dtype(object)).kind
    if kind in "iu":
        return "integer"
    if kind in "bf":
        return {"b": "boolean", "f": "number"}[kind]
    kinds = set(map(type, values.tolist() if isinstance(values, np.ndarray) else values)) - {type(None)}
    return "boolean" if kinds == {bool} else "string"


class CurrentColumn:
    """One column of the current window reduced to what its metrics need, fed batch by batch.

    Counts rows, empty values (null, NaN, missing, ""), type errors (for a numerical feature: a
    value that is not a number) and out-of-bounds values (outside the baseline's min..max, or a
    category the baseline lacks); keeps the type-valid finite numbers, or the category counts.
    With `cap`, at most `cap` numbers are kept: beyond it, a uniform sample of them (reservoir,
    seeded), and `sampled` is true. The counts always cover every value.
    """

    def __init__(self, reference: Reference, cap: int | None = None) -> None:
        self.reference = reference
        self.rows = self.empty = self.type_errors = self.out_of_bounds = 0
        self.seen = 0  # type-valid finite numbers
        self.counts: dict[str, int] = dict.fromkeys(reference.counts, 0)
        self._chunks: list[np.ndarray] = []
        self._sample: np.ndarray | None = None
        self._cap = cap
        self._rng = np.random.default_rng(0)

    @property
    def sampled(self) -> bool:
        return self._sample is not None

    def add(self, values: Any) -> None:
        """Add a batch of raw values (array or list): typed here, as the definitions say."""
        if self.reference.numerical:
            self.add_numbers(*_numbers(values))
        else:
            arr = values if isinstance(values, np.ndarray) else object_array(values)
            counts = count_categories(arr)
            self.add_categories(counts, empty=int(arr.size) - sum(counts.values()))

    def add_numbers(self, numbers: np.ndarray, type_errors: int = 0, empty: int = 0) -> None:
        """Add float64 `numbers` (NaN: an empty value), `empty` more empty values and `type_errors`
        values that were not numbers."""
        self.rows += int(numbers.size) + type_errors + empty
        self.type_errors += type_errors
        valid = numbers[~np.isnan(numbers)]
        self.empty += int(numbers.size - valid.size) + empty
        if not valid.size:
            return
        ref, low, high = self.reference, float(valid.min()), float(valid.max())
        if ref.lo is None or ref.hi is None:  # an empty baseline has no range: every value lies outside it
            self.out_of_bounds += int(valid.size)
        elif low < ref.lo or high > ref.hi:  # (min and max first: most batches lie inside the range)
            self.out_of_bounds += int(np.count_nonzero(valid < ref.lo)) + int(np.count_nonzero(valid > ref.hi))
        self._keep(valid if np.isfinite(low) and np.isfinite(high) else valid[np.isfinite(valid)])

    def add_categories(self, counts: Mapping[str, int], empty: int = 0) -> None:
        """Add category counts of non-empty values and `empty` empty values."""
        self.rows += sum(counts.values()) + empty
        self.empty += empty
        mine = self.counts
        for key, n in counts.items():
            if key not in mine and len(mine) - len(self.reference.counts) >= MAX_UNSEEN_CATEGORIES:
                key = UNSEEN_BUCKET
            mine[key] = mine.get(key, 0) + n

    def _keep(self, finite: np.ndarray) -> None:
        first = self.seen
        self.seen += int(finite.size)
        if self._sample is None:
            self._chunks.append(finite.copy() if finite.base is not None else finite)
            if self._cap is None or self.seen <= self._cap:
                return
            # over the cap: a uniform sample of what was kept so far, then reservoir sampling
            kept = np.concatenate(self._chunks)
            self._chunks = []
            self._sample = self._rng.choice(kept, self._cap, replace=False)
            return
        # Algorithm R, one batch at a time: value number t (1-based) replaces slot j, drawn
        # uniformly from [0, t), when j falls inside the sample
        t = np.arange(first + 1, first + finite.size + 1, dtype=np.float64)
        slots = (self._rng.random(finite.size) * t).astype(np.int64)
        take = slots < self._sample.size
        self._sample[slots[take]] = finite[take]

    @property
    def kept(self) -> int:
        """How many numbers the drift statistics use: all type-valid finite ones, or the sample's."""
        return int(self._sample.size) if self._sample is not None else sum(c.size for c in self._chunks)

    def sorted_numbers(self, scratch: threading.local) -> np.ndarray:
        """The kept numbers, sorted, in this thread's array of `scratch` (valid until its next use).

        The batches stay as they are: joining them into a new array per column and freeing them
        left holes between other columns' batches that the heap never gave back, and every new
        array paid a page fault per 4 KiB; one array per thread, reused, does neither.
        """
        parts = [self._sample] if self._sample is not None else self._chunks
        out = _scratch(scratch, sum(p.size for p in parts))
        if parts:
            np.concatenate(parts, out=out)
        out.sort()
        return out

    def unseen(self) -> int:
        """Non-empty categorical values whose category the baseline lacks."""
        return sum(n for k, n in self.counts.items() if k not in self.reference.counts)

    def quality(self) -> dict[str, float]:
        """null_value_rate, data_type_error_rate and out_of_bounds_rate (DESIGN.md contract 4)."""
        present = self.rows - self.empty
        if self.reference.numerical:
            valid, outside = present - self.type_errors, self.out_of_bounds
        else:
            valid, outside = present, self.unseen()
        return {"null_value_rate": _rate(self.empty, self.rows),
                "data_type_error_rate": _rate(self.type_errors, present),
                OUT_OF_BOUNDS_RATE: _rate(outside, valid)}


def _scratch(scratch: threading.local, n: int) -> np.ndarray:
    """A float64 array of `n` values owned by this thread, grown when too small."""
    buffer = getattr(scratch, "buffer", None)
    if buffer is None or buffer.size < n:
        buffer = scratch.buffer = np.empty(n)
    view: np.ndarray = buffer[:n]
    return view


def _rate(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _numbers(values: Any) -> tuple[np.ndarray, int]:
    """Raw values as float64 (NaN: empty) and how many were not numbers (text, booleans, nested)."""
    arr = values if isinstance(values, np.ndarray) else object_array(values)
    if arr.dtype.kind in "iuf":
        return arr.astype(np.float64, copy=False), 0
    if arr.dtype.kind == "b":
        return np.empty(0), int(arr.size)
    if arr.dtype.kind != "O":  # text
        return _numbers(arr.astype(object))
    out = np.empty(arr.size, dtype=np.float64)
    n = errors = 0
    for v in arr.tolist():
        if isinstance(v, int | float) and not isinstance(v, bool):
            out[n] = v
        elif is_empty(v):
            out[n] = np.nan
        else:
            errors += 1
            continue
        n += 1
    return out[:n], errors


@dataclass
class FeatureDrift:
    """Drift of one feature: its metrics, the thresholds applied, and which of them it breached.

    `histogram` is `{"edges", "baseline", "current"}` (counts per bin) for a numerical feature
    and `{"categories", "baseline", "current"}` for a categorical one.
    """

    name: str
    type: str
    metrics: dict[str, float | None]
    thresholds: dict[str, float]
    drifted: bool
    breaches: list[str]
    baseline_count: int
    current_count: int
    histogram: dict[str, Any] = field(default_factory=dict)
    note: str | None = None
    counts: dict[str, int] = field(default_factory=dict)

    def to_dict(self, max_categories: int | None = MAX_HISTOGRAM_CATEGORIES) -> dict[str, Any]:
        """JSON-ready dict; NaN becomes null and long category lists are cut to `max_categories`."""
        out: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "drifted": self.drifted,
            "metrics": {k: _json_float(v) for k, v in self.metrics.items()},
            "thresholds": dict(self.thresholds),
            "breaches": list(self.breaches),
            "baseline_count": self.baseline_count,
            "current_count": self.current_count,
            "histogram": _trim_histogram(self.histogram, max_categories),
            "counts": dict(self.counts),
        }
        if self.note:
            out["note"] = self.note
        return out


@dataclass
class DriftReport:
    """Every compared feature under one per-feature signal; `drifted` is true when any feature breached
    one of the signal's thresholds. `notes` say what of the current window could not be read."""

    features: list[FeatureDrift]
    skipped: list[dict[str, str]] = field(default_factory=list)
    signal: str = "data_drift"
    current_rows: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def drifted(self) -> bool:
        return any(f.drifted for f in self.features)

    @property
    def drifted_features(self) -> list[str]:
        return [f.name for f in self.features if f.drifted]

    @property
    def breaching(self) -> list[str]:
        return self.drifted_features

    @property
    def not_compared(self) -> list[str]:
        """Features a drift signal could not compare: no values on one side once empty values (and,
        in the current window, values of another type) are dropped. Their drift metrics are not
        computed, so they cannot have drifted: a verdict must not count them as compared. Data
        quality measures such a feature (all empty is its finding), so it has none."""
        if self.signal == "data_quality":
            return []
        return [f.name for f in self.features if not (f.baseline_count and f.current_count)]

    @property
    def nothing_compared(self) -> bool:
        """Features were found on both sides, and not one of them could be compared: no verdict."""
        return bool(self.features) and len(self.not_compared) == len(self.features)

    def describe(self) -> str:
        """The breached metrics, feature by feature, and what was compared (for findings)."""
        parts = [f"{f.name} ({m} {f.metrics[m]:.3g} {'<' if m in BREACH_BELOW else '>'} {f.thresholds[m]:g})"
                 for f in self.features if f.drifted for m in f.breaches if f.metrics.get(m) is not None]
        missing = self.not_compared
        compared = f"{len(self.features) - len(missing)} features compared on {self.current_rows} current rows"
        if missing:
            compared += f"; not compared (no values on one side): {', '.join(missing)}"
        return f"{', '.join(parts)}; {compared}" if parts else compared

    def feature(self, name: str) -> FeatureDrift:
        """The result for one feature by name (KeyError if it was not compared)."""
        for f in self.features:
            if f.name == name:
                return f
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """The `amlguard drift --format json` object."""
        return {
            "signal": self.signal,
            "drifted": self.drifted,
            "summary": {"features": len(self.features), "drifted": len(self.drifted_features),
                        "drifted_features": self.drifted_features, "not_compared": self.not_compared},
            "current_rows": self.current_rows,
            "features": [f.to_dict() for f in self.features],
            "skipped": list(self.skipped),
            **({"notes": list(self.notes)} if self.notes else {}),
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)


def compute_drift(
    baseline: Mapping[str, Any],
    current: Mapping[str, Any],
    *,
    features: Sequence[str] | None = None,
    thresholds: Mapping[str, Mapping[str, float | None]] | None = None,
    categorical: Iterable[str] | None = None,
    workers: int | None = None,
    signal: str = "data_drift",
    references: Mapping[str, Reference] | None = None,
) -> DriftReport:
    """Compare `current` with `baseline`, column by column (each a 1-D array, list or CurrentColumn).

    - features: columns to compare (default: every column present on both sides, baseline order;
      the others are listed in `report.skipped`). A named feature missing on a side is a ConfigError.
    - thresholds: {feature | "*" | "numerical" | "categorical": {metric: value or None}} layered
      over the defaults of `signal` (data_drift, prediction_drift or data_quality), which also
      decides which metrics are judged; every feature's metrics hold both the drift and the
      data-quality metrics.
    - categorical: columns to treat as categorical even when numeric.
    - references: baseline profiles already made (profile_baseline) for these features.
    A feature is numerical when every non-empty baseline value is a number (bool counts as
    categorical). NaN, +/-inf, None and "" are left out of the drift statistics; a side left
    empty gives null drift metrics and no drift.
    """
    if not signal_kind(signal).per_feature:
        raise ConfigError(f"{signal} is not a per-feature signal; use compute_model_performance")
    skipped: list[dict[str, str]] = []
    if features is None:
        names = [c for c in baseline if c in current]
        skipped += [{"name": c, "reason": "not in current"} for c in baseline if c not in current]
        skipped += [{"name": c, "reason": "not in baseline"} for c in current if c not in baseline]
    else:
        names = list(dict.fromkeys(features))
        for side, table in (("baseline", baseline), ("current", current)):
            missing = [c for c in names if c not in table]
            if missing:
                raise ConfigError(f"feature(s) {', '.join(missing)} not in the {side} data; "
                                  f"its columns are: {', '.join(map(str, table)) or '(none)'}")
    unknown = [k for k in (thresholds or {}) if k not in ("*", "numerical", "categorical") and k not in names]
    if unknown:
        raise ConfigError(f"threshold given for unknown feature(s) {', '.join(unknown)}; "
                          f"compared features are: {', '.join(names) or '(none)'}")
    refs = dict(references or {})
    refs.update(profile_baseline(baseline, [n for n in names if n not in refs], categorical or ()))
    limits = {n: resolve_thresholds(n, "numerical" if refs[n].numerical else "categorical", thresholds, signal)
              for n in names}

    scratch = threading.local()  # one sort buffer per worker, freed with this call

    def run_one(name: str) -> FeatureDrift:
        column = current[name]
        if not isinstance(column, CurrentColumn):
            values, column = column, CurrentColumn(refs[name])
            column.add(values)
        return _feature(column, limits[name], scratch)

    total = sum(_size(baseline[n]) + _size(current[n]) for n in names)
    if workers is None:
        workers = min(len(names), os.cpu_count() or 1) if total >= _PARALLEL_MIN_VALUES else 1
    if workers <= 1 or len(names) <= 1:
        results = [run_one(n) for n in names]
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="drift") as pool:
            results = list(pool.map(run_one, names))
    return DriftReport(results, skipped, signal=signal)


def _size(values: Any) -> int:
    if isinstance(values, CurrentColumn):
        return values.seen + sum(values.counts.values())
    try:
        return len(values)
    except TypeError:
        return 0


def _numeric_view(values: Any) -> np.ndarray | None:
    """The values as a numeric array, or None when a non-empty value is not a number (bools are not)."""
    arr = values if isinstance(values, np.ndarray) else object_array(values)
    if arr.dtype.kind in "iuf":
        return arr
    if arr.dtype.kind != "O":
        return None
    out = np.empty(arr.size, dtype=np.float64)
    for i, v in enumerate(arr.ravel().tolist()):
        if is_empty(v):
            out[i] = np.nan
        elif isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool | np.bool_):
            out[i] = v
        else:
            return None
    return out


def _feature(column: CurrentColumn, limits: dict[str, float], scratch: threading.local) -> FeatureDrift:
    ref = column.reference
    quality = column.quality()
    counts = {"rows": column.rows, "empty": column.empty, "type_errors": column.type_errors,
              "out_of_bounds": column.out_of_bounds if ref.numerical else column.unseen()}
    if ref.numerical:
        a = ref.finite()
        b = column.sorted_numbers(scratch)
        res = numerical_drift(a, b)
        metrics = {m: res.metrics[m] for m in NUMERICAL_METRICS}
        n1, n2 = int(a.size), int(b.size)
        histogram: dict[str, Any] = {"edges": res.edges, "baseline": res.baseline_counts,
                                     "current": res.current_counts}
    else:
        cb, cc = ref.counts, {k: v for k, v in column.counts.items() if v}
        # Baseline categories by frequency, then the categories only the current window has.
        order = sorted(cb, key=lambda k: (-cb[k], k))
        order += sorted((k for k in cc if k not in cb), key=lambda k: (-cc[k], k))
        cres = categorical_drift(order, [cb.get(k, 0) for k in order], [cc.get(k, 0) for k in order])
        metrics = {m: cres.metrics[m] for m in CATEGORICAL_METRICS}
        n1, n2 = sum(cres.baseline_counts), sum(cres.current_counts)
        histogram = {"categories": cres.categories, "baseline": cres.baseline_counts,
                     "current": cres.current_counts}
    metrics.update((m, quality[m]) for m in DATA_QUALITY_METRICS)
    breaches = [m for m, t in limits.items() if breached(m, metrics.get(m), t)]
    notes = [n for n in (_empty_note(n1, n2), _sample_note(column)) if n]
    return FeatureDrift(
        name=ref.name, type="numerical" if ref.numerical else "categorical", metrics=metrics,
        thresholds=limits, drifted=bool(breaches), breaches=breaches, baseline_count=n1, current_count=n2,
        histogram=histogram, note="; ".join(notes) or None, counts=counts)


def _sample_note(column: CurrentColumn) -> str | None:
    if column.sampled:
        return (f"drift metrics from a uniform sample of {column.kept:,} of the {column.seen:,} current "
                "values (memory budget); the data-quality rates count every value")
    if column.counts.get(UNSEEN_BUCKET):
        return (f"more than {MAX_UNSEEN_CATEGORIES:,} categories the baseline lacks: the rest share one bucket, "
                f"{UNSEEN_BUCKET!r}")
    return None


def _empty_note(n1: int, n2: int) -> str | None:
    if n1 and n2:
        return None
    sides = [s for s, n in (("baseline", n1), ("current", n2)) if n == 0]
    return f"no values in {' and '.join(sides)} after dropping empty values; metrics not computed"


def _json_float(v: float | None) -> float | None:
    if v is None or not math.isfinite(v):
        return None
    return float(v)


def _trim_histogram(hist: dict[str, Any], max_categories: int | None) -> dict[str, Any]:
    cats = hist.get("categories")
    if cats is None or max_categories is None or len(cats) <= max_categories:
        return dict(hist)
    keep = max_categories - 1
    return {
        "categories": [*cats[:keep], "(other)"],
        "baseline": [*hist["baseline"][:keep], sum(hist["baseline"][keep:])],
        "current": [*hist["current"][:keep], sum(hist["current"][keep:])],
        "other_categories": len(cats) - keep,
    }
