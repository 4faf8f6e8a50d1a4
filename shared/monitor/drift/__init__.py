"""Data drift statistics with Azure ML model monitoring's definitions, and the `amlguard drift` command.

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
    breached,
    parse_threshold_overrides,
    resolve_thresholds,
)

if TYPE_CHECKING:
    from amlguard.monitor.drift.cli import run
    from amlguard.monitor.drift.engine import DriftReport, FeatureDrift, compute_drift
    from amlguard.monitor.drift.io import MdcTable, read_mdc_jsonl, read_table, table_columns

__all__ = ["BREACH_BELOW", "CATEGORICAL_METRICS", "DEFAULT_THRESHOLDS", "NUMERICAL_METRICS", "DriftReport",
           "FeatureDrift", "MdcTable", "breached", "compute_drift", "parse_threshold_overrides", "read_mdc_jsonl",
           "read_table", "resolve_thresholds", "run", "table_columns"]

_LAZY = {
    "DriftReport": "engine",
    "FeatureDrift": "engine",
    "compute_drift": "engine",
    "MdcTable": "io",
    "read_mdc_jsonl": "io",
    "read_table": "io",
    "table_columns": "io",
    "run": "cli",
}


__getattr__ = lazy_getattr(__name__, _LAZY, globals())
