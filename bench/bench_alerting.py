"""10,000 ARM events through `amlguard serve` with a webhook receiver that fails 20% of requests.

1,000 resources; 30% of the deliveries are duplicates; all shuffled; one in ten events is a
delete (which resolves that resource's alerts). The webhook route groups by every label, so each
alert state change (firing, resolved) is its own notification. The receiver answers 500 to a
seeded 20% of requests and records the rest with their Idempotency-Key.

Checks (alerting issue): exactly one notification per alert state change after retries (unique
idempotency keys == firing + resolved transitions in the alerts' histories), zero lost.
Reports throughput and the p99 from a state change to its successful delivery.
"""

from __future__ import annotations

import itertools
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
from estate import FlakyReceiver, estate, running_serve, write_snapshot

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "bench-token-for-local-runs"  # serve wants >= 16 characters
SECRET = "bench-hmac-secret"

ALERTING = """\
apiVersion: amlguard/v1
kind: AlertRouting
route:
  receiver: webhook
  group_by: ['...']        # one notification per alert: each state change is countable
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1000h
receivers:
  - name: webhook
    type: webhook
    url_from_env: BENCH_WEBHOOK_URL
    secret_from_env: BENCH_WEBHOOK_SECRET
    send_resolved: true
"""



# Events happened in index order, 20 ms apart, starting now (deliveries are shuffled).
T0 = datetime.now(UTC)


def arm_event(event_id: str, resource: str, index: int, delete: bool) -> list[dict]:
    kind = "onlineEndpoints/deployments" if "/deployments/" in resource else (
        "onlineEndpoints" if "/onlineEndpoints/" in resource else "")
    op = f"Microsoft.MachineLearningServices/workspaces/{kind + '/' if kind else ''}{'delete' if delete else 'write'}"
    return [{"id": event_id, "subject": resource, "topic": "/subscriptions/x/resourceGroups/rg-bench",
             "eventType": f"Microsoft.Resources.Resource{'Delete' if delete else 'Write'}Success",
             "eventTime": (T0 + timedelta(milliseconds=20 * index)).isoformat(),
             "dataVersion": "2", "data": {"operationName": op, "resourceUri": resource}}]


def main() -> int:
    quick = "--quick" in sys.argv
    total = 2000 if quick else 10_000
    rng = random.Random(17)
    rows = estate(workspaces=10, endpoints_per_workspace=50)  # 10 workspaces, 500 endpoints, 500 deployments
    ids = [r["id"] for r in rows if "/onlineEndpoints/" in r["id"]]
    unique = int(total * 0.7)
    deliveries = []
    for i in range(unique):
        delete = rng.random() < 0.1
        deliveries.append((f"evt-{i}", rng.choice(ids), i, delete))
    deliveries += [rng.choice(deliveries) for _ in range(total - unique)]
    rng.shuffle(deliveries)

    receiver = FlakyReceiver(0.2, secret=SECRET)
    with tempfile.TemporaryDirectory() as tmp:
        snapshot = write_snapshot(Path(tmp) / "estate.json", rows)
        (Path(tmp) / "alerting.yaml").write_text(ALERTING)
        env = {"AMLGUARD_ALERTING": str(Path(tmp) / "alerting.yaml"), "BENCH_WEBHOOK_URL": receiver.url,
               "BENCH_WEBHOOK_SECRET": SECRET}
        try:
            with running_serve(snapshot, Path(tmp), token=TOKEN, env=env) as client:
                outcomes: Counter[str] = Counter()
                started = time.perf_counter()
                for event_id, resource, second, delete in deliveries:
                    response = client.post("/api/events", json=arm_event(event_id, resource, second, delete))
                    response.raise_for_status()
                    outcomes[response.json()["events"][0]["outcome"]] += 1
                ingest_s = time.perf_counter() - started
                alerts = client.get("/api/alerts").json()["alerts"]
                changes = []  # (fingerprint, status, at) of every firing / resolved transition
                for alert in alerts:
                    for step in client.get(f"/api/alerts/{alert['fingerprint']}").json()["history"]:
                        if step.get("event") == "transition" and step.get("to") in ("firing", "resolved"):
                            changes.append((alert["fingerprint"], step["to"], step["at"]))
                # wait until each alert's last state has reached the receiver (retries, backoff)
                final = {}
                for fp, status, _at in sorted(changes, key=lambda c: c[2]):
                    final[fp] = status
                wait_deadline = time.monotonic() + 600
                while time.monotonic() < wait_deadline:
                    with receiver.lock:
                        last: dict[str, str] = {}
                        for _, _, note in sorted(receiver.accepted, key=lambda a: a[0]):
                            for a in note["alerts"]:
                                last[a["data"]["essentials"]["originAlertId"]] = note["status"]
                    if all(last.get(fp) == status for fp, status in final.items()):
                        break
                    time.sleep(1)
                drained_s = time.perf_counter() - started
        finally:
            receiver.server.shutdown()

    with receiver.lock:
        accepted = sorted(receiver.accepted, key=lambda a: a[0])
    # Per alert: the state changes in its history, and the distinct notifications received
    # (a resend after a failed attempt carries the same idempotency key and is not counted twice).
    history: dict[str, list[tuple[str, float]]] = {}
    for fp, status, at in sorted(changes, key=lambda c: c[2]):
        history.setdefault(fp, []).append((status, datetime.fromisoformat(at).timestamp()))
    received: dict[str, list[tuple[str, float, str]]] = {}
    seen_keys: set[tuple[str, str]] = set()
    for at, key, note in accepted:
        for alert in note["alerts"]:
            fp = alert["data"]["essentials"]["originAlertId"]
            if (fp, key) not in seen_keys:
                seen_keys.add((fp, key))
                received.setdefault(fp, []).append((note["status"], at, key))
    # Per alert, what receivers must see (Alertmanager semantics): the first state, the last
    # state, no state twice in a row; a flap undone before the group's next flush (a change and
    # the change back) is folded into one notice, so history and notices differ by pairs.
    lost, collapsed, duplicated, out_of_order, latencies = [], 0, [], [], []
    for fp, steps in history.items():
        got = received.get(fp, [])
        statuses = [s for s, _, _ in got]
        wanted = [s for s, _ in steps]
        if any(a == b for a, b in itertools.pairwise(statuses)):
            duplicated.append(fp)
        if not statuses or statuses[0] != wanted[0] or (len(wanted) - len(statuses)) % 2 or len(statuses) > len(wanted):
            lost.append((fp, wanted, statuses))
            continue
        if statuses[-1] != wanted[-1]:
            out_of_order.append(fp)
        collapsed += len(wanted) - len(statuses)
        latencies.append(got[0][1] - steps[0][1])  # first notice: its change is never folded
        if len(got) > 1 and len(got) == len(steps):
            latencies.extend(g[1] - h[1] for g, h in zip(got[1:], steps[1:], strict=True))
    latencies.sort()
    counts = Counter(status for _, status, _ in changes)
    p50 = statistics.median(latencies) if latencies else float("nan")
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else float("nan")
    repeats = len(accepted) - len({key for _, key, _ in accepted})
    unexpected = [fp for fp in received if fp not in history]
    print(f"events: {total} delivered ({total - unique} duplicates, ~10% deletes), outcomes {dict(outcomes)}")
    print(f"ingest: {ingest_s:.1f} s = {total / ingest_s:.0f} events/s (one client, sequential)")
    print(f"alert state changes: {len(changes)} ({counts['firing']} firing, {counts['resolved']} resolved) "
          f"on {len(history)} alerts")
    print(f"receiver: {len(accepted)} accepted, {receiver.failed} refused (20% injected), "
          f"{repeats} resends of an already-accepted idempotency key, {receiver.bad_signature} bad signatures")
    print(f"one notification per change: lost {len(lost)}, repeated {len(duplicated)}, last state wrong "
          f"{len(out_of_order)}, unexpected {len(unexpected)}; {collapsed} changes of flaps undone before "
          f"the group's next flush folded into one notice (as Alertmanager does)")
    print(f"state change -> delivered: p50 {p50:.2f} s, p99 {p99:.2f} s, max {latencies[-1] if latencies else 0:.2f} s;"
          f" everything delivered {drained_s:.1f} s after the first event")
    for item in lost[:10]:
        print("  lost:", item)
    ok = not lost and not duplicated and not unexpected and not out_of_order
    print(json.dumps({"events": total, "changes": len(changes), "lost": len(lost), "repeated": len(duplicated),
                      "collapsed": collapsed,
                      "p50_s": round(p50, 3), "p99_s": round(p99, 3), "ingest_events_per_s": round(total / ingest_s),
                      "ok": ok}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
