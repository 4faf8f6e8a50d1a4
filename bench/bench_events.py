"""1,000 ARM write events through `amlguard serve`: latency from delivery to alert state updated.

Starts the real CLI (`amlguard serve --snapshot ...`) on loopback, posts Event Grid deliveries one
per request (Event Grid's default, no batching) — 20% of them duplicates, all shuffled — and
measures each request's latency: the response is sent after the audit and the alert update are
committed. Then checks that every (rule, resource) pair has exactly one alert.
Goal (service issue): p99 under 50 ms, zero duplicate alerts.
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from estate import estate, running_serve, write_snapshot

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "bench-token-for-local-runs"  # serve wants >= 16 characters



# Events happened in index order, 20 ms apart, starting now (deliveries are shuffled).
T0 = datetime.now(UTC)


def event(event_id: str, resource: str, index: int) -> list[dict]:
    kind = "onlineEndpoints/deployments" if "/deployments/" in resource else (
        "onlineEndpoints" if "/onlineEndpoints/" in resource else "")
    op = f"Microsoft.MachineLearningServices/workspaces/{kind + '/' if kind else ''}write"
    return [{"id": event_id, "subject": resource, "topic": "/subscriptions/x/resourceGroups/rg-bench",
             "eventType": "Microsoft.Resources.ResourceWriteSuccess",
             "eventTime": (T0 + timedelta(milliseconds=20 * index)).isoformat(), "dataVersion": "2",
             "data": {"operationName": op, "resourceUri": resource,
                      "claims": {"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn": "bench@contoso.com"}}}]


def main() -> int:
    total = 200 if "--quick" in sys.argv else 1000
    rng = random.Random(11)
    rows = estate(workspaces=10, endpoints_per_workspace=50)  # 10 + 500 + 500 resources
    ids = [r["id"] for r in rows if "/onlineEndpoints/" in r["id"]]
    unique = int(total * 0.8)
    deliveries = [(f"evt-{i}", rng.choice(ids)) for i in range(unique)]
    deliveries += [rng.choice(deliveries) for _ in range(total - unique)]
    rng.shuffle(deliveries)
    with tempfile.TemporaryDirectory() as tmp:
        snapshot = write_snapshot(Path(tmp) / "estate.json", rows)
        with running_serve(snapshot, Path(tmp), token=TOKEN) as client:
            client.get("/api/audit", params={"resource": ids[0]})  # warm: policy pack, inventory, store
            latencies, outcomes = [], Counter()
            for event_id, resource in deliveries:
                started = time.perf_counter()
                response = client.post("/api/events", json=event(event_id, resource, int(event_id.split("-")[1])))
                latencies.append((time.perf_counter() - started) * 1000)
                response.raise_for_status()
                outcomes[response.json()["events"][0]["outcome"]] += 1
            alerts = client.get("/api/alerts").json()["alerts"]
    pairs = Counter((a["rule"], a["resource"]) for a in alerts)
    duplicates = sum(n - 1 for n in pairs.values() if n > 1)
    fingerprints = Counter(a["fingerprint"] for a in alerts)
    latencies.sort()
    p50 = statistics.median(latencies)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(f"events delivered: {len(deliveries)} ({total - unique} duplicate deliveries), outcomes: {dict(outcomes)}")
    print(f"latency delivery -> alert state updated: p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {latencies[-1]:.1f} ms "
          f"(goal p99 < 50 ms)")
    print(f"alerts: {len(alerts)}, duplicate (rule, resource) alerts: {duplicates}, "
          f"duplicate fingerprints: {sum(n - 1 for n in fingerprints.values() if n > 1)} (goal 0)")
    print(json.dumps({"p50_ms": round(p50, 2), "p99_ms": round(p99, 2), "duplicates": duplicates,
                      "alerts": len(alerts), "outcomes": dict(outcomes)}))
    return 0 if duplicates == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
