"""The signals of Azure ML model monitoring computed from the model data collector's output — data drift,
prediction drift, data quality, model performance — with Azure ML's definitions, and `amlguard drift`.

Importing this package is cheap: numpy, pyarrow and scipy load on first use of a function.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from amlguard.lazy import lazy_getattr
from amlguard.monitor.drift.thresholds import (
    BREACH_BELOW,
    CATEGORICAL_METRICS,
    DEFAULT_THRESHOLDS,
    NUMERICAL_METRICS,
    SIGNAL_KINDS,
    SignalKind,
    breached,
    parse_threshold_overrides,
    resolve_thresholds,
)

if TYPE_CHECKING:
    from amlguard.monitor.drift.cli import run
    from amlguard.monitor.drift.collector import FeatureSink, MdcTable, read_collector, read_mdc_jsonl
    from amlguard.monitor.drift.engine import CurrentColumn, DriftReport, FeatureDrift, compute_drift
    from amlguard.monitor.drift.io import read_table, table_columns
    from amlguard.monitor.drift.performance import PerformanceReport
    from amlguard.monitor.drift.signals import (
        Collector,
        data_drift,
        data_quality,
        model_performance,
        prediction_drift,
        run_signal,
        select_features,
    )

__all__ = ["BREACH_BELOW", "CATEGORICAL_METRICS", "DEFAULT_THRESHOLDS", "NUMERICAL_METRICS", "SIGNAL_KINDS",
           "Collector", "CurrentColumn", "DriftReport", "FeatureDrift", "FeatureSink", "MdcTable", "PerformanceReport",
           "SignalKind", "breached", "compute_drift", "data_drift", "data_quality", "model_performance",
           "parse_threshold_overrides", "prediction_drift", "read_collector", "read_mdc_jsonl", "read_table",
           "resolve_thresholds", "run", "run_signal", "select_features", "table_columns"]

_LAZY = {
    "CurrentColumn": "engine",
    "DriftReport": "engine",
    "FeatureDrift": "engine",
    "compute_drift": "engine",
    "FeatureSink": "collector",
    "MdcTable": "collector",
    "read_collector": "collector",
    "read_mdc_jsonl": "collector",
    "read_table": "io",
    "table_columns": "io",
    "PerformanceReport": "performance",
    **dict.fromkeys(("Collector", "data_drift", "data_quality", "model_performance", "prediction_drift",
                     "run_signal", "select_features"), "signals"),
    "run": "cli",
}


__getattr__ = lazy_getattr(__name__, _LAZY, globals())
