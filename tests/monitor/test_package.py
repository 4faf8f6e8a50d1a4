"""The public names of amlguard.monitor, and that importing it (and the rules) stays cheap."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import amlguard.monitor

REPO = Path(__file__).resolve().parents[2]


def test_public_names_resolve() -> None:
    assert sorted(amlguard.monitor.__all__) == sorted([
        "SIGNALS", "AzureMonitor", "ExampleSource", "LogsAnswer", "MetricSeries", "MetricsAnswer",
        "MonitorClientSettings", "MonitorResult", "MonitorRule", "MonitorSource", "Observation", "SignalSpec",
        "evaluate_rules", "judge", "load_example", "load_monitor_rules", "register_signal", "run", "run_monitors"])
    for name in amlguard.monitor.__all__:
        assert getattr(amlguard.monitor, name) is not None


def test_loading_rules_imports_no_azure_sdk_or_numpy() -> None:
    code = ("import sys; import amlguard.monitor.runner; from amlguard.monitor.rules import load_monitor_pack; "
            "from pathlib import Path; f = Path('../shared/corpus/azureml-monitoring/monitoring/advanced-model-monitoring.yaml'); "
            "load_monitor_pack(['policies', *([f] if f.is_file() else [])]); "
            "bad = [m for m in ('numpy', 'scipy', 'pyarrow', 'azure.monitor.query', 'azure.monitor.querymetrics', "
            "'azure.mgmt.monitor', 'azure.core') if m in sys.modules]; print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
