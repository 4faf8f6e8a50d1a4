"""Event -> delivered notice through `amlguard serve`, with group_wait 0 s and 10 s.

Starts the real CLI (`amlguard serve --snapshot ...`) on loopback with a signed webhook receiver
on loopback, posts one Event Grid delivery per request (ARM writes of non-compliant endpoints,
5 a second, one endpoint each, so every event opens its own notification group), and records
when each event was posted and when its notice reached the receiver. The notice is due when the
group's `group_wait` ends; serve's timer loop is woken by the event, so it must not wait for the
30 s alerts schedule.
Goal (issue "One package, one pipeline"): p99 from event to delivered notice <= group_wait + 2 s.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_alerting import SECRET
from estate import FlakyReceiver, estate, running_serve, write_snapshot

TOKEN = "bench-token-for-local-runs"  # serve wants >= 16 characters
RATE = 5.0  # events per second
SLACK_S = 2.0  # the goal: p99 <= group_wait + this

ALERTING = """\
apiVersion: amlguard/v1
kind: AlertRouting
route:
  receiver: webhook
  group_by: [resource]     # one group per endpoint: each event's notice is its own group's first
  group_wait: {wait}
  group_interval: 5m
  repeat_interval: 4h
receivers:
  - name: webhook
    type: webhook
    url_from_env: BENCH_WEBHOOK_URL
    secret_from_env: BENCH_WEBHOOK_SECRET
"""


def arm_event(event_id: str, resource: str) -> list[dict]:
    return [{"id": event_id, "subject": resource, "topic": "/subscriptions/x/resourceGroups/rg-bench",
             "eventType": "Microsoft.Resources.ResourceWriteSuccess", "eventTime": datetime.now(UTC).isoformat(),
             "dataVersion": "2", "data": {"operationName": "Microsoft.MachineLearningServices/workspaces/"
                                                           "onlineEndpoints/write", "resourceUri": resource}}]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def measure(wait_s: int, resources: list[str], warmup: str, rows: list[dict]) -> dict:
    receiver = FlakyReceiver(0.0, secret=SECRET)
    posted: dict[str, float] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            snapshot = write_snapshot(Path(tmp) / "estate.json", rows)
            (Path(tmp) / "alerting.yaml").write_text(ALERTING.format(wait=f"{wait_s}s"))
            env = {"AMLGUARD_ALERTING": str(Path(tmp) / "alerting.yaml"), "BENCH_WEBHOOK_URL": receiver.url,
                   "BENCH_WEBHOOK_SECRET": SECRET}
            with running_serve(snapshot, Path(tmp), token=TOKEN, env=env) as client:
                client.get("/api/audit", params={"resource": warmup})  # warm: policy pack, inventory, store
                start = time.time()
                for index, resource in enumerate(resources):
                    time.sleep(max(0.0, start + index / RATE - time.time()))
                    posted[resource.lower()] = time.time()
                    response = client.post("/api/events", json=arm_event(f"evt-{wait_s}-{index}", resource))
                    response.raise_for_status()
                    assert response.json()["events"][0]["outcome"] == "audited", response.text
                deadline = time.time() + wait_s + 60
                while time.time() < deadline:
                    with receiver.lock:
                        arrived = {note["alerts"][0]["data"]["essentials"]["alertTargetIDs"][0].lower()
                                   for _, _, note in receiver.accepted}
                    if set(posted) <= arrived:
                        break
                    time.sleep(0.2)
    finally:
        receiver.server.shutdown()
    first: dict[str, float] = {}
    with receiver.lock:
        for at, _key, note in receiver.accepted:
            target = note["alerts"][0]["data"]["essentials"]["alertTargetIDs"][0].lower()
            first.setdefault(target, at)
    latencies = [first[r] - posted[r] for r in posted if r in first]
    missing = len(posted) - len(latencies)
    p50 = statistics.median(latencies) if latencies else float("nan")
    p99 = percentile(latencies, 0.99) if latencies else float("nan")
    ok = not missing and p99 <= wait_s + SLACK_S and min(latencies) >= wait_s - 0.05
    return {"group_wait_s": wait_s, "events": len(posted), "delivered": len(latencies), "missing": missing,
            "p50_s": round(p50, 3), "p99_s": round(p99, 3), "min_s": round(min(latencies, default=0), 3),
            "max_s": round(max(latencies, default=0), 3), "goal_s": wait_s + SLACK_S, "ok": ok}


def main() -> int:
    count = 40 if "--quick" in sys.argv else 100
    rows = estate(workspaces=7, endpoints_per_workspace=100)
    bad = [r["id"] for r in rows if r["type"].endswith("/onlineEndpoints") and r["properties"]["authMode"] == "Key"]
    warmup, pool = bad[0], bad[1:]
    if len(pool) < 2 * count:
        raise SystemExit(f"the estate has {len(pool)} non-compliant endpoints; {2 * count} are needed")
    results = [measure(0, pool[:count], warmup, rows), measure(10, pool[count:2 * count], warmup, rows)]
    for r in results:
        print(f"group_wait {r['group_wait_s']:>2} s: {r['delivered']}/{r['events']} notices, event -> delivered "
              f"p50 {r['p50_s']:.2f} s, p99 {r['p99_s']:.2f} s (min {r['min_s']:.2f}, max {r['max_s']:.2f}); "
              f"goal p99 <= {r['goal_s']:.0f} s: {'met' if r['ok'] else 'MISSED'}")
    ok = all(r["ok"] for r in results)
    print(json.dumps({"runs": results, "ok": ok}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
