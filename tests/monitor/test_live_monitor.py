"""Monitor rules against a real subscription's Azure Monitor (`pytest -m live`), read-only.

Skipped unless AZURE_SUBSCRIPTION_ID is set and DefaultAzureCredential can get a token. Needs
Reader + Monitoring Reader; set AMLGUARD_MONITOR_METRICS_ENDPOINT (e.g.
https://{region}.metrics.monitor.azure.com) to exercise metrics:getBatch, and
AMLGUARD_MONITOR_WORKSPACE_ID to include the traffic-log rules.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from amlguard.monitor.azure_monitor import AzureMonitor
from amlguard.monitor.evaluate import evaluate_rules
from amlguard.monitor.rules import load_monitor_rules

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not os.environ.get("AZURE_SUBSCRIPTION_ID"),
                       reason="set AZURE_SUBSCRIPTION_ID (and sign in: az login) to run live checks"),
    pytest.mark.timeout(600),
]

REPO = Path(__file__).resolve().parents[2]


def test_default_metric_rules_evaluate_on_the_live_estate() -> None:
    from amlguard.config import Settings
    from amlguard.service import build_inventory

    monitor = AzureMonitor.from_env()
    try:
        monitor.credential.get_token("https://management.azure.com/.default")
    except Exception as exc:  # no usable credential here: skip, do not fail
        pytest.skip(f"no Azure credential: {type(exc).__name__}")
    resources = [r for r in build_inventory(Settings.from_env()).list(None).resources
                 if r.kind == "online_deployment"][:100]
    if not resources:
        pytest.skip("no online deployments in scope")
    rules = [r for r in load_monitor_rules(REPO / "policies" / "monitors.yaml") if r.signal.source == "metrics"]
    with monitor:
        result = evaluate_rules(rules, resources, monitor, now=datetime.now(UTC))
    errors = [f.message for f in result.findings if f.status == "error"]
    assert not errors, errors[:5]
    assert result.summary()["evaluated"] == len(result.evaluated) > 0
