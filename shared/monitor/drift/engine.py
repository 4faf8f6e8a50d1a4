"""Per-feature drift report: pick each feature's type, compute its metrics, judge them against thresholds.

`compute_drift` is the one entry point; the CLI, monitor rules and the dashboard all read the
`DriftReport` it returns.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from amlguard.errors import ConfigError
from amlguard.monitor.drift.stats import categorical_drift, count_categories, finite_sorted, numerical_drift
from amlguard.monitor.drift.thresholds import CATEGORICAL_METRICS, NUMERICAL_METRICS, breached, resolve_thresholds

__all__ = ["DriftReport", "FeatureDrift", "compute_drift"]

# Below this many values in all features together, threads cost more than they save.
_PARALLEL_MIN_VALUES = 200_000
# Categories shown in a JSON histogram; the rest are summed into one "(other)" bar.
MAX_HISTOGRAM_CATEGORIES = 50


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
        }
        if self.note:
            out["note"] = self.note
        return out


@dataclass
class DriftReport:
    """Drift of every compared feature; `drifted` is true when any feature breached a threshold."""

    features: list[FeatureDrift]
    skipped: list[dict[str, str]] = field(default_factory=list)

    @property
    def drifted(self) -> bool:
        return any(f.drifted for f in self.features)

    @property
    def drifted_features(self) -> list[str]:
        return [f.name for f in self.features if f.drifted]

    def feature(self, name: str) -> FeatureDrift:
        """The result for one feature by name (KeyError if it was not compared)."""
        for f in self.features:
            if f.name == name:
                return f
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """The `amlguard drift --format json` object."""
        return {
            "drifted": self.drifted,
            "summary": {"features": len(self.features), "drifted": len(self.drifted_features),
                        "drifted_features": self.drifted_features},
            "features": [f.to_dict() for f in self.features],
            "skipped": list(self.skipped),
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
) -> DriftReport:
    """Compare `current` with `baseline`, column by column (each a 1-D array or list).

    - features: columns to compare (default: every column present on both sides, baseline order;
      the others are listed in `report.skipped`). A named feature missing on a side is a ConfigError.
    - thresholds: {feature | "*" | "numerical" | "categorical": {metric: value or None}} layered
      over DEFAULT_THRESHOLDS (see thresholds.resolve_thresholds).
    - categorical: columns to treat as categorical even when numeric.
    A column is numerical when both sides hold numbers (bool counts as categorical). NaN, +/-inf,
    None and "" are dropped per feature; a side left empty gives null metrics and no drift.
    """
    forced = set(categorical or ())
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

    plans: list[tuple[str, np.ndarray | None, np.ndarray | None, dict[str, float]]] = []
    for name in names:
        nb = nc = None
        if name not in forced:
            nb = _numeric_view(baseline[name])
            nc = _numeric_view(current[name]) if nb is not None else None
        ftype = "numerical" if nb is not None and nc is not None else "categorical"
        plans.append((name, nb, nc, resolve_thresholds(name, ftype, thresholds)))

    def run_one(plan: tuple[str, np.ndarray | None, np.ndarray | None, dict[str, float]]) -> FeatureDrift:
        name, nb, nc, limits = plan
        if nb is not None and nc is not None:
            return _numerical_feature(name, nb, nc, limits)
        return _categorical_feature(name, baseline[name], current[name], limits)

    total = sum(_size(baseline[n]) + _size(current[n]) for n in names)
    if workers is None:
        workers = min(len(plans), os.cpu_count() or 1) if total >= _PARALLEL_MIN_VALUES else 1
    if workers <= 1 or len(plans) <= 1:
        results = [run_one(p) for p in plans]
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="drift") as pool:
            if any(p[1] is not None and p[2] is not None for p in plans):
                # scipy.stats takes ~0.5 s to import; let one worker pay it while the other sorts.
                pool.submit(_warm_scipy_stats)
            results = list(pool.map(run_one, plans))
    return DriftReport(results, skipped)


def _warm_scipy_stats() -> None:
    import scipy.stats  # noqa: F401


def _size(values: Any) -> int:
    try:
        return len(values)
    except TypeError:
        return 0


def _numeric_view(values: Any) -> np.ndarray | None:
    """The values as a numeric array, or None when the column is not numbers (bools are not)."""
    arr = values if isinstance(values, np.ndarray) else np.asarray(values)
    if arr.dtype.kind in "iuf":
        return arr
    if arr.dtype.kind != "O":
        return None
    out = np.empty(arr.size, dtype=np.float64)
    for i, v in enumerate(arr.ravel().tolist()):
        if v is None:
            out[i] = np.nan
        elif isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool | np.bool_):
            out[i] = v
        else:
            return None
    return out


def _judge(metrics: Mapping[str, float | None], limits: Mapping[str, float]) -> list[str]:
    return [m for m, t in limits.items() if breached(m, metrics.get(m), t)]


def _numerical_feature(name: str, nb: np.ndarray, nc: np.ndarray, limits: dict[str, float]) -> FeatureDrift:
    a = finite_sorted(nb)
    b = finite_sorted(nc)
    res = numerical_drift(a, b)
    breaches = _judge(res.metrics, limits)
    return FeatureDrift(
        name=name, type="numerical", metrics={m: res.metrics[m] for m in NUMERICAL_METRICS},
        thresholds=limits, drifted=bool(breaches), breaches=breaches,
        baseline_count=int(a.size), current_count=int(b.size),
        histogram={"edges": res.edges, "baseline": res.baseline_counts, "current": res.current_counts},
        note=_empty_note(int(a.size), int(b.size)),
    )


def _categorical_feature(name: str, base_values: Any, cur_values: Any,
                         limits: dict[str, float]) -> FeatureDrift:
    cb = count_categories(base_values)
    cc = count_categories(cur_values)
    # Baseline categories by frequency, then the categories only the current window has.
    order = sorted(cb, key=lambda k: (-cb[k], k))
    order += sorted((k for k in cc if k not in cb), key=lambda k: (-cc[k], k))
    res = categorical_drift(order, [cb.get(k, 0) for k in order], [cc.get(k, 0) for k in order])
    breaches = _judge(res.metrics, limits)
    n1, n2 = sum(res.baseline_counts), sum(res.current_counts)
    return FeatureDrift(
        name=name, type="categorical", metrics={m: res.metrics[m] for m in CATEGORICAL_METRICS},
        thresholds=limits, drifted=bool(breaches), breaches=breaches,
        baseline_count=n1, current_count=n2,
        histogram={"categories": res.categories, "baseline": res.baseline_counts,
                   "current": res.current_counts},
        note=_empty_note(n1, n2),
    )


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
