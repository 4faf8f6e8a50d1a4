"""One entry point per signal of Azure ML model monitoring, computed from the model data collector's
output (or a file, or columns) and a reference dataset: `data_drift`, `prediction_drift`,
`data_quality`, `model_performance`, and `run_signal` to pick one by name.

The registry of signal kinds (their metrics, Azure ML default thresholds and breach directions)
is amlguard.monitor.drift.thresholds.SIGNAL_KINDS; this module reads the inputs, selects the
features as Azure ML does (all, a list, or the top N by importance) and computes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from amlguard.errors import ConfigError
from amlguard.monitor.drift.collector import MAX_VALUES, FeatureSink, read_collector
from amlguard.monitor.drift.engine import DriftReport, compute_drift, profile_baseline
from amlguard.monitor.drift.io import read_table, table_columns
from amlguard.monitor.drift.performance import PerformanceReport, PerformanceSink, load_ground_truth
from amlguard.monitor.drift.thresholds import signal_kind

__all__ = ["Collector", "data_drift", "data_quality", "model_performance", "prediction_drift", "run_signal",
           "select_features"]

Thresholds = Mapping[str, Mapping[str, float | None]]


@dataclass(frozen=True)
class Collector:
    """The current window as the model data collector wrote it: a folder or blob container URL (see
    collector.read_collector), which deployment's files, which collection (default: the signal's),
    and the time window [start, end)."""

    where: str | Path
    endpoint: str | None = None
    deployment: str | None = None
    collection: str | None = None
    start: datetime | str | None = None
    end: datetime | str | None = None
    credential: Any = None
    env: Mapping[str, str] = field(default_factory=dict)

    def read(self, sinks: Sequence[Any], collection: str) -> Any:
        return read_collector(self.where, sinks, endpoint=self.endpoint, deployment=self.deployment,
                              collection=self.collection or collection, start=self.start, end=self.end,
                              credential=self.credential, env=self.env)


Current = Collector | str | Path | Mapping[str, Any]  # collector output, a CSV / Parquet / JSONL file, or columns


def select_features(available: Sequence[str], features: Any = None,
                    feature_importance: Mapping[str, float] | str | Path | None = None,
                    exclude: Sequence[str] = ()) -> list[str]:
    """Azure ML's feature selection over the baseline's columns: None or `all_features` -> all; a list
    -> those; `{"top_n_feature_importance": N}` -> the N most important by `feature_importance`
    ({feature: importance}, or a file with columns feature and importance / metric_value). Columns
    in `exclude` (the label, ids: data_column_names in Azure ML) are never features."""
    if exclude:
        available = [c for c in available if c not in exclude]
        if isinstance(features, list | tuple):
            features = [f for f in features if f not in exclude]
    if features is None or features == "all_features":
        return list(available)
    if isinstance(features, Mapping):
        n = features.get("top_n_feature_importance")
        if not isinstance(n, int) or isinstance(n, bool) or n < 1 or set(features) != {"top_n_feature_importance"}:
            raise ConfigError(f"features {dict(features)}: expected {{top_n_feature_importance: N}} with N >= 1")
        if feature_importance is None:
            raise ConfigError("features: top_n_feature_importance needs feature_importance: a mapping "
                              "{feature: importance} or a file with columns feature and importance")
        scores = _importance(feature_importance)
        ranked = sorted((f for f in available if f in scores), key=lambda f: -scores[f])
        return ranked[:n]
    names = [features] if isinstance(features, str) else list(features)
    missing = [f for f in names if f not in available]
    if missing:
        raise ConfigError(f"feature(s) {', '.join(missing)} not in the baseline; its columns are: "
                          f"{', '.join(available) or '(none)'}")
    return names


def _importance(source: Mapping[str, float] | str | Path) -> dict[str, float]:
    if isinstance(source, Mapping):
        return {str(k): float(v) for k, v in source.items()}
    columns = table_columns(source)
    value = next((c for c in ("importance", "metric_value") if c in columns), None)
    if "feature" not in columns or value is None:
        raise ConfigError(f"{source}: expected columns feature and importance (or metric_value); "
                          f"its columns are: {', '.join(columns)}")
    table = read_table(source, ["feature", value])
    return {str(f): float(v) for f, v in zip(table["feature"].tolist(), table[value].tolist(), strict=True)}


def _baseline(baseline: str | Path | Mapping[str, Any]) -> tuple[list[str], Any]:
    if isinstance(baseline, Mapping):
        return list(baseline), lambda names: {n: baseline[n] for n in names}
    return table_columns(baseline), lambda names: read_table(baseline, names)


def _per_feature(signal: str, baseline: str | Path | Mapping[str, Any], current: Current, *,
                 features: Any = None, feature_importance: Mapping[str, float] | str | Path | None = None,
                 categorical: Sequence[str] = (), thresholds: Thresholds | None = None,
                 max_values: int = MAX_VALUES, exclude: Sequence[str] = ()) -> DriftReport:
    kind = signal_kind(signal)
    available, read = _baseline(baseline)
    names = select_features(available, features, feature_importance, exclude)
    skipped: list[dict[str, str]] = []
    if isinstance(current, Collector):
        base = read(names)
        refs = profile_baseline(base, names, categorical)
        sink = FeatureSink(refs, max_values)
        stats = current.read([sink], kind.collection)
        report = compute_drift(base, sink.columns, features=names, thresholds=thresholds, signal=signal,
                               references=refs)
        report.current_rows = stats.rows
        report.notes = stats.notes(str(current.where))
        return report
    columns = list(current) if isinstance(current, Mapping) else table_columns(current)
    if features is None or features == "all_features":
        present = set(columns)
        skipped = [{"name": c, "reason": "not in current"} for c in names if c not in present]
        skipped += [{"name": c, "reason": "not in baseline"} for c in columns if c not in names]
        names = [c for c in names if c in present]
    if isinstance(current, Mapping):
        base = read(names)
    else:  # both files at once: pyarrow decodes without the GIL
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(read_table, current, names)
            base = read(names)
            current = pending.result()
    report = compute_drift(base, current, features=names, thresholds=thresholds, categorical=categorical,
                           signal=signal)
    report.skipped = [s for s in skipped if s["name"] not in exclude]  # asked out, not missing
    report.current_rows = max((f.counts.get("rows", 0) for f in report.features), default=0)
    return report


def data_drift(baseline: str | Path | Mapping[str, Any], current: Current, **options: Any) -> DriftReport:
    """Drift of the model inputs from the baseline, per feature (JS, PSI, normalized Wasserstein, KS
    and chi-squared, plus the data-quality rates), judged by Azure ML's data_drift defaults.
    Options: features, feature_importance, exclude, categorical, thresholds, max_values."""
    return _per_feature("data_drift", baseline, current, **options)


def prediction_drift(baseline: str | Path | Mapping[str, Any], current: Current, **options: Any) -> DriftReport:
    """The same metrics on the model outputs (collection model_outputs) against reference outputs."""
    return _per_feature("prediction_drift", baseline, current, **options)


def data_quality(baseline: str | Path | Mapping[str, Any], current: Current, **options: Any) -> DriftReport:
    """null_value_rate, data_type_error_rate and out_of_bounds_rate per feature against the baseline's
    types and ranges, judged by Azure ML's data_quality defaults (0.0 each)."""
    return _per_feature("data_quality", baseline, current, **options)


def model_performance(ground_truth: str | Path | Mapping[str, Any], current: Current, *, prediction: str,
                      actual: str | None = None, correlation_id: str = "correlationid", task: str | None = None,
                      positive_label: Any = None, thresholds: Thresholds | None = None) -> PerformanceReport:
    """Predictions (column `prediction` of the model outputs) joined with ground truth (column `actual`,
    default the same name) on the correlation id; see amlguard.monitor.drift.performance."""
    truth = load_ground_truth(ground_truth, actual=actual or prediction, correlation_id=correlation_id, task=task)
    sink = PerformanceSink(truth, prediction=prediction, correlation_id=correlation_id,
                           positive_label=positive_label)
    notes: list[str] = []
    if isinstance(current, Collector):
        stats = current.read([sink], signal_kind("model_performance").collection)
        notes = stats.notes(str(current.where))
    else:
        source = "current columns" if isinstance(current, Mapping) else str(current)
        columns = current if isinstance(current, Mapping) else read_table(current, [prediction, correlation_id])
        sink.add_columns(columns, source)
    return sink.report(thresholds, notes)


_ENTRY_POINTS: dict[str, Callable[..., DriftReport | PerformanceReport]] = {
    "data_drift": data_drift, "prediction_drift": prediction_drift, "data_quality": data_quality,
    "model_performance": model_performance}


def run_signal(signal: str, reference: str | Path | Mapping[str, Any], current: Current,
               **options: Any) -> DriftReport | PerformanceReport:
    """The signal named `signal` (a key of SIGNAL_KINDS) of `current` against `reference` (the baseline,
    or for model_performance the ground truth), with that signal's options."""
    signal_kind(signal)
    return _ENTRY_POINTS[signal](reference, current, **options)
