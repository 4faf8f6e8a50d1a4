"""Pins the public names of amlguard.alerts and keeps its import cheap (it is on the cold-start path)."""

from __future__ import annotations

import subprocess
import sys

import amlguard.alerts


def test_public_names() -> None:
    assert sorted(amlguard.alerts.__all__) == [
        "Alert", "AlertFacade", "AlertManager", "AlertStatus", "Conflict", "DeliveryStats", "InhibitRule", "Notification",
        "Notifier", "NotifyLogEntry", "NotifyReason", "RetryPolicy", "Silence", "SilenceError", "State",
        "StateStore", "StateStoreProtocol", "StoredAlert", "Transition", "alert_fingerprint", "alert_labels", "evaluate",
        "fingerprint", "inhibited_by", "needs_update", "open_store", "parse_inhibit_rules",
    ]
    for name in amlguard.alerts.__all__:
        assert getattr(amlguard.alerts, name) is not None


def test_import_does_not_load_azure_sdks() -> None:
    code = ("import sys, amlguard.alerts; "
            "print(sorted(m for m in sys.modules if m.startswith(('azure.data', 'azure.identity', 'httpx'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
