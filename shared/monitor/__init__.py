"""Monitoring: SLO signals from Azure Monitor (metrics and logs), monitor rules, and drift statistics.

Importing this package is cheap (no Azure SDK, no numpy); names load on first use.
`run_monitors(service)` is what the monitor timer calls; `run(argv)` is `amlguard monitor`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from amlguard.lazy import lazy_getattr

if TYPE_CHECKING:
    from amlguard.monitor.azure_monitor import AzureMonitor, LogsAnswer, MetricsAnswer, MonitorClientSettings
    from amlguard.monitor.evaluate import MonitorResult, MonitorSource, evaluate_rules, judge
    from amlguard.monitor.example import ExampleSource, load_example
    from amlguard.monitor.rules import MonitorRule, load_monitor_rules
    from amlguard.monitor.runner import run, run_monitors
    from amlguard.monitor.signals import SIGNALS, MetricSeries, Observation, SignalSpec, register_signal

__all__ = ["SIGNALS", "AzureMonitor", "ExampleSource", "LogsAnswer", "MetricSeries", "MetricsAnswer",
           "MonitorClientSettings", "MonitorResult", "MonitorRule", "MonitorSource", "Observation", "SignalSpec",
           "evaluate_rules", "judge", "load_example", "load_monitor_rules", "register_signal", "run", "run_monitors"]

_LAZY = {
    "AzureMonitor": "azure_monitor", "LogsAnswer": "azure_monitor", "MetricsAnswer": "azure_monitor",
    "MonitorClientSettings": "azure_monitor",
    "MonitorResult": "evaluate", "MonitorSource": "evaluate", "evaluate_rules": "evaluate", "judge": "evaluate",
    "ExampleSource": "example", "load_example": "example",
    "MonitorRule": "rules", "load_monitor_rules": "rules",
    "run": "runner", "run_monitors": "runner",
    "SIGNALS": "signals", "MetricSeries": "signals", "Observation": "signals", "SignalSpec": "signals",
    "register_signal": "signals",
}


__getattr__ = lazy_getattr(__name__, _LAZY, globals())
