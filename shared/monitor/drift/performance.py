"""The model_performance signal: predictions joined with ground truth on the correlation id, then
accuracy, precision and recall (classification) or MAE, MSE and RMSE (regression).

Ground truth is a file with one row per id (Azure ML's `reference_data` with `data_context:
ground_truth`); predictions stream in from the collector's model_outputs (a `PerformanceSink`) or
come as columns. The join is pyarrow's `index_in`, batch by batch, so memory is bounded by the
ground truth, whatever the window's size.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from amlguard.errors import ConfigError
from amlguard.monitor.drift.io import read_table
from amlguard.monitor.drift.stats import category_key, is_empty
from amlguard.monitor.drift.thresholds import (
    ACCURACY,
    MAE,
    MSE,
    PRECISION,
    RECALL,
    RMSE,
    breached,
    resolve_thresholds,
)

__all__ = ["GroundTruth", "PerformanceReport", "PerformanceSink", "load_ground_truth"]

TASKS = ("classification", "regression")


@dataclass
class GroundTruth:
    """Ground truth indexed by correlation id (text, unique), with the task its labels imply."""

    keys: Any  # pyarrow string array
    actual: Any  # pyarrow array, aligned with keys
    task: str
    source: str


def load_ground_truth(path: str | Path | Mapping[str, Any], *, actual: str, correlation_id: str = "correlationid",
                      task: str | None = None) -> GroundTruth:
    """Read the ground truth's id and actual columns. The task is `task`, else regression when the
    actual values are numbers and not all whole, else classification. A repeated id is a ConfigError."""
    import pyarrow as pa

    source = str(path) if not isinstance(path, Mapping) else "ground truth columns"
    if isinstance(path, Mapping):
        missing = [c for c in (correlation_id, actual) if c not in path]
        if missing:
            raise ConfigError(f"{source}: no column(s) {', '.join(missing)}; its columns are: {', '.join(path)}")
        cols = {c: np.asarray(path[c]) for c in (correlation_id, actual)}
    else:
        cols = read_table(path, [correlation_id, actual])
    keys = [None if is_empty(k) else category_key(k) for k in cols[correlation_id].tolist()]
    repeated = [k for k, n in Counter(k for k in keys if k is not None).items() if n > 1]
    if repeated:
        rows = [i + 1 for i, k in enumerate(keys) if k == repeated[0]]
        raise ConfigError(f"{source}: column {correlation_id}: id {repeated[0]!r} is on data rows "
                          f"{', '.join(map(str, rows[:5]))} ({len(repeated)} id(s) repeated); ground truth needs one "
                          "row per id: remove or merge the duplicates")
    values = cols[actual]
    if task is None:
        numbers = values[np.isfinite(values)] if values.dtype.kind == "f" else None
        task = "regression" if numbers is not None and np.any(numbers != np.round(numbers)) else "classification"
    if task not in TASKS:
        raise ConfigError(f"task {task!r}: use classification or regression (Azure ML's monitoring_target.ml_task)")
    return GroundTruth(pa.array(keys, pa.string()), _to_arrow(values.tolist()), task, source)


def _to_arrow(values: list[Any]) -> Any:
    """Python values as one pyarrow array; mixed kinds as text (each value typed again when counted)."""
    import pyarrow as pa

    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return pa.array([None if is_empty(v) else (v if isinstance(v, str) else category_key(v)) for v in values],
                        pa.string())


@dataclass
class PerformanceReport:
    """Metrics of the joined rows, the thresholds applied and those breached; rows without ground truth
    (`unmatched`) or without a usable prediction or actual value (`invalid`) are counted, not used."""

    task: str
    metrics: dict[str, float | None]
    thresholds: dict[str, float]
    breaches: list[str]
    rows: int
    unmatched: int
    invalid: int
    labels: list[str] = field(default_factory=list)
    positive_label: str | None = None
    notes: list[str] = field(default_factory=list)
    signal: str = "model_performance"

    @property
    def breaching(self) -> list[str]:
        return list(self.breaches)

    def describe(self) -> str:
        shown = ", ".join(f"{m} {v:.4g}" for m, v in self.metrics.items() if v is not None) or "no metrics"
        return (f"{self.task}: {shown} on {self.rows} joined rows ({self.unmatched} without ground truth, "
                f"{self.invalid} without a usable value)")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "signal": self.signal, "task": self.task, "breached": bool(self.breaches),
            "metrics": {k: (v if v is None or math.isfinite(v) else None) for k, v in self.metrics.items()},
            "thresholds": dict(self.thresholds), "breaches": list(self.breaches),
            "rows": self.rows, "unmatched": self.unmatched, "invalid": self.invalid}
        if self.task == "classification":
            out["labels"] = list(self.labels)
            out["positive_label"] = self.positive_label
        if self.notes:
            out["notes"] = list(self.notes)
        return out


class PerformanceSink:
    """Joins predictions with ground truth as rows stream in and accumulates what the metrics need:
    counts of (predicted, actual) label pairs, or sums of errors.

    A row's id is its `correlation_id` column when it has one, else `{correlationid}_{row index}` of
    its collector record.
    """

    def __init__(self, truth: GroundTruth, *, prediction: str, correlation_id: str = "correlationid",
                 positive_label: Any = None) -> None:
        import pyarrow as pa

        self.truth, self.prediction, self.correlation_id = truth, prediction, correlation_id
        self.positive_label = None if positive_label is None else category_key(positive_label)
        self.needs_keys = True
        kind = truth.actual.type
        typ = pa.float64() if truth.task == "regression" or pa.types.is_floating(kind) else (
            kind if pa.types.is_boolean(kind) or pa.types.is_integer(kind) else pa.string())
        self.fields = {prediction: typ, correlation_id: pa.string()}
        self.unmatched = self.invalid = self.rows = 0
        self.labels: dict[str, int] = {}
        self.pairs: Counter[tuple[int, int]] = Counter()
        self.abs_error = self.sq_error = 0.0

    def add_arrow(self, rows: Any, keys: Any) -> None:
        import pyarrow.compute as pc

        own = pc.struct_field(rows, self.correlation_id)
        self.add(pc.struct_field(rows, self.prediction), own if keys is None else pc.coalesce(own, keys))

    def add_rows(self, rows: list[dict[str, Any]], keys: list[str | None]) -> None:
        import pyarrow as pa

        own = [r.get(self.correlation_id) for r in rows]
        ids = [category_key(o) if not is_empty(o) else k for o, k in zip(own, keys, strict=True)]
        self.add(_to_arrow([r.get(self.prediction) for r in rows]), pa.array(ids, pa.string()))

    def add_columns(self, columns: Mapping[str, Any], source: str) -> None:
        """Predictions and ids as whole columns (a file, a Log Analytics result)."""
        import pyarrow as pa

        missing = [c for c in (self.prediction, self.correlation_id) if c not in columns]
        if missing:
            raise ConfigError(f"{source}: no column(s) {', '.join(missing)} to join with the ground truth; its "
                              f"columns are: {', '.join(columns)}")
        ids = [None if is_empty(k) else category_key(k) for k in list(columns[self.correlation_id])]
        self.add(_to_arrow(list(np.asarray(columns[self.prediction]).tolist())), pa.array(ids, pa.string()))

    def add(self, predicted: Any, keys: Any) -> None:
        """Join a batch of predictions with the ground truth by their ids and accumulate the matches."""
        import pyarrow.compute as pc

        where = pc.index_in(keys, value_set=self.truth.keys)
        found = where.is_valid()
        self.unmatched += where.null_count
        predicted = predicted.filter(found)
        actual = self.truth.actual.take(where.filter(found))
        if self.truth.task == "regression":
            p, a = _floats(predicted), _floats(actual)
            ok = ~(np.isnan(p) | np.isnan(a))
            self.invalid += int(ok.size - np.count_nonzero(ok))
            error = p[ok] - a[ok]
            self.rows += int(error.size)
            self.abs_error += float(np.abs(error).sum())
            self.sq_error += float((error * error).sum())
            return
        p, a = self._codes(predicted), self._codes(actual)
        ok = (p >= 0) & (a >= 0)
        self.invalid += int(ok.size - np.count_nonzero(ok))
        self.rows += int(np.count_nonzero(ok))
        pair, n = np.unique(p[ok] * (1 << 32) + a[ok], return_counts=True)
        for code, count in zip(pair.tolist(), n.tolist(), strict=True):
            self.pairs[(code >> 32, code & 0xFFFFFFFF)] += count

    def _codes(self, values: Any) -> np.ndarray:
        """Label numbers (this sink's own, by category text) of a batch; -1 for an empty value."""
        import pyarrow.compute as pc

        encoded = pc.dictionary_encode(values)
        table = [-1 if is_empty(v) or (isinstance(v, float) and not math.isfinite(v))
                 else self.labels.setdefault(category_key(v), len(self.labels))
                 for v in encoded.dictionary.to_pylist()]
        lut = np.array([*table, -1], dtype=np.int64)  # the last entry: null
        codes: np.ndarray = lut[encoded.indices.fill_null(len(table)).to_numpy(zero_copy_only=False)]
        return codes

    def report(self, thresholds: Mapping[str, Mapping[str, float | None]] | None = None,
               notes: list[str] | None = None) -> PerformanceReport:
        """The metrics, judged against `thresholds` ({task | "*": {metric: value}}) in Azure ML's directions."""
        task = self.truth.task
        metrics: dict[str, float | None]
        labels: list[str] = []
        positive = None
        if task == "regression":
            n = self.rows
            mse = self.sq_error / n if n else None
            metrics = {MAE: self.abs_error / n if n else None, MSE: mse,
                       RMSE: math.sqrt(mse) if mse is not None else None}
        else:
            metrics, labels, positive = self._classification()
        limits = resolve_thresholds(task, task, thresholds, "model_performance")
        breaches = [m for m, t in limits.items() if breached(m, metrics.get(m), t)]
        return PerformanceReport(task, metrics, limits, breaches, self.rows, self.unmatched, self.invalid,
                                 labels, positive, list(notes or []))

    def _classification(self) -> tuple[dict[str, float | None], list[str], str | None]:
        """Accuracy, and precision and recall of the positive label (0/1, false/true or the one given), or
        their unweighted mean over the labels of the joined rows (scikit-learn's average="macro")."""
        names = sorted(self.labels, key=self.labels.__getitem__)
        k = len(names)
        matrix = np.zeros((k, k), dtype=np.int64)  # [predicted, actual]
        for (p, a), count in self.pairs.items():
            matrix[p, a] += count
        hits = np.diag(matrix).astype(np.float64)
        predicted, actual = matrix.sum(axis=1), matrix.sum(axis=0)
        present = (predicted + actual) > 0
        labels = sorted(n for n, seen in zip(names, present.tolist(), strict=True) if seen)
        positive = self.positive_label or _binary_positive(set(labels))
        if not self.rows:
            return {ACCURACY: None, PRECISION: None, RECALL: None}, labels, positive
        with np.errstate(divide="ignore", invalid="ignore"):  # a label never predicted (or never true): 0
            precision = np.where(predicted > 0, hits / predicted, 0.0)
            recall = np.where(actual > 0, hits / actual, 0.0)
        accuracy = float(hits.sum() / self.rows)
        if positive is not None:
            i = self.labels.get(positive)
            return ({ACCURACY: accuracy, PRECISION: float(precision[i]) if i is not None else 0.0,
                     RECALL: float(recall[i]) if i is not None else 0.0}, labels, positive)
        return ({ACCURACY: accuracy, PRECISION: float(precision[present].mean()),
                 RECALL: float(recall[present].mean())}, labels, positive)


def _binary_positive(labels: set[str]) -> str | None:
    """The positive label of 0/1 or false/true labels (as scikit-learn's pos_label=1); None for others."""
    if labels and labels <= {"0", "1"}:
        return "1"
    if labels and labels <= {"false", "true"}:
        return "true"
    return None


def _floats(values: Any) -> np.ndarray:
    """A batch as float64 with NaN where a value is empty or not a number."""
    import pyarrow as pa

    if pa.types.is_integer(values.type) or pa.types.is_floating(values.type):
        out: np.ndarray = np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float64)
        return out
    return np.array([v if isinstance(v, int | float) and not isinstance(v, bool) else np.nan
                     for v in values.to_pylist()], dtype=np.float64)
