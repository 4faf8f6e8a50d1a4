"""Timing of the alert state core: a 1,000-endpoint x 7-rule sweep, an event audit, a tick.

Run: `.venv/bin/python tests/alerts/bench_alerts.py` (SQLite); with an Azurite started by
`scripts/azurite.sh start` and AMLGUARD_TEST_AZURITE_TABLE exported, Table storage too.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parents[1]), str(HERE)]

from fakes import ep_id, finding, router  # noqa: E402

from amlguard.alerts import AlertManager, StateStore, open_store  # noqa: E402


def run(store: StateStore, label: str) -> None:
    t = datetime(2026, 3, 1, tzinfo=UTC)
    mgr = AlertManager(store, router=router("team", group_by=("workspace",)), random=lambda: 0.5)
    rules = [f"AMLG-R-{i}" for i in range(7)]
    resources = [ep_id(f"e{i}", f"w{i % 20}") for i in range(1000)]
    findings = [finding(rule, res, status="fail" if (i + j) % 10 == 0 else "pass")
                for i, res in enumerate(resources) for j, rule in enumerate(rules)]
    t0 = time.perf_counter()
    mgr.process(findings, audited=resources, now=t)
    t1 = time.perf_counter()
    mgr.process(findings, audited=resources, now=t + timedelta(minutes=5))
    t2 = time.perf_counter()
    one = [f for f in findings if f.resource == resources[3]]
    mgr.process(one, audited=[resources[3]], now=t + timedelta(minutes=6))
    t3 = time.perf_counter()
    mgr.tick(now=t + timedelta(minutes=10))
    t4 = time.perf_counter()
    mgr.list_alerts(now=t + timedelta(minutes=10))
    t5 = time.perf_counter()
    failing = sum(f.status == "fail" for f in findings)
    print(f"{label}: findings={len(findings)} alerts={failing} first sweep {t1 - t0:.2f}s, "
          f"repeat sweep {t2 - t1:.2f}s, event audit (1 resource) {1000 * (t3 - t2):.0f} ms, "
          f"tick {t4 - t3:.2f}s, list_alerts {t5 - t4:.2f}s")


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        store = open_store(folder)
        run(store, "sqlite")
        store.close()
    connection = os.environ.get("AMLGUARD_TEST_AZURITE_TABLE")
    if connection:
        store = open_store(backend="table", settings={"AMLGUARD_STATE_CONNECTION": connection,
                                                      "AMLGUARD_STATE_TABLE_PREFIX": f"bench{int(time.time())}"})
        run(store, "table (Azurite)")
        store.close()


if __name__ == "__main__":
    main()
