"""Soak: `amlguard serve` killed with SIGKILL while events arrive and notices leave (hardening issue).

Three runs, each a stream of ARM write / delete events (a write fires a non-compliant endpoint's
alerts, a delete resolves them) delivered the way Event Grid does (retried until a 2xx; a 400 would
be a bug here) to `amlguard serve` on loopback, with a webhook receiver on loopback that fails 20%
of requests:

1. SQLite state, one instance, SIGKILL during ingest (an event POST in flight) and during delivery
   (the receiver holds a notice when the kill lands), restarted on the same state folder;
2. Azure Table state on Azurite, three instances taking events round robin, random SIGKILLs;
3. Azure Table state behind a proxy answering 503 on one resource's audit row for a while.

Counts, from the server's alert histories and what the receiver accepted (resends with the same
Idempotency-Key count once, as a receiver dedupes them):
- acknowledged without processing: resources whose final alerts disagree with the last event
  acknowledged for them (every acknowledged event must have had its effect);
- lost state changes: alerts whose receiver never heard their first or last state;
- duplicate notices: the same state announced twice in a row under different keys.
`--quick` shortens each run; `--keep` keeps each run's folder (state, serve logs, and flawed.json with the
history and the notices heard of every alert counted lost or duplicated); names select runs (`sqlite`).
"""

from __future__ import annotations

import http.client
import itertools
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from estate import FlakyReceiver, QuietServer, estate, write_snapshot

from amlguard.alerts.store import open_store
from amlguard.timeparse import parse_time

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "bench-soak-token-0123456789"
SECRET = "bench-hmac-secret"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
ALERTING = """\
apiVersion: amlguard/v1
kind: AlertRouting
route:
  receiver: webhook
  group_by: ['...']
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Instance:
    """One `amlguard serve` process that can be SIGKILLed and started again on the same state."""

    def __init__(self, name: str, snapshot: Path, workdir: Path, env: dict[str, str]) -> None:
        self.name, self.snapshot, self.workdir, self.env = name, snapshot, workdir, env
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.peak_kb = 0
        self.kills = 0

    def start(self) -> None:
        port = free_port()
        # the log is a file, not a pipe: an unread pipe blocks the server once it fills
        with open(self.workdir / f"{self.name}.log", "ab") as log:
            self.proc = subprocess.Popen(
                [str(ROOT / ".venv" / "bin" / "amlguard"), "serve", "--port", str(port), "--snapshot",
                 str(self.snapshot), "--state", str(self.workdir / "state"), "--sweep-interval", "0",
                 "--log-level", "warning"],
                env={**os.environ, "AMLGUARD_API_TOKEN": TOKEN, **self.env}, cwd=self.workdir,
                stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2).status_code == 200:
                    self.url = f"http://127.0.0.1:{port}"
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise SystemExit(f"{self.name}: amlguard serve did not start")

    def _sample(self) -> None:
        if self.proc is None:
            return
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    self.peak_kb = max(self.peak_kb, int(line.split()[1]))
        except OSError:
            pass

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self._sample()
            self.url = ""
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            self.kills += 1

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self._sample()
            self.proc.terminate()
            self.proc.wait(timeout=15)


def arm_event(event_id: str, resource: str, delete: bool) -> list[dict[str, Any]]:
    op = f"Microsoft.MachineLearningServices/workspaces/onlineEndpoints/{'delete' if delete else 'write'}"
    return [{"id": event_id, "subject": resource, "topic": "/subscriptions/x/resourceGroups/rg-bench",
             "eventType": f"Microsoft.Resources.Resource{'Delete' if delete else 'Write'}Success",
             "eventTime": datetime.now(UTC).isoformat(), "dataVersion": "2",
             "data": {"operationName": op, "resourceUri": resource}}]


class Driver:
    """Delivers events like Event Grid: each one until some instance answers 2xx."""

    def __init__(self, instances: list[Instance], resources: list[str], seed: int) -> None:
        self.instances = instances
        self.resources = resources
        self.rng = random.Random(seed)
        self.accepted = 0
        # acknowledged with their effect applied: by that delivery (audited / resolved), or by an earlier
        # delivery of the same event that was killed after marking it seen (its retry says duplicate)
        self.processed = 0
        self.outcomes = Counter[str]()
        self.attempts = 0
        self.client_errors: list[str] = []
        self.last: dict[str, bool] = {}  # resource -> was its last acknowledged event a delete
        self.failing: dict[str, int] = {}  # resource -> failing findings of an audit
        self.in_flight = threading.Event()
        self.turn = 0

    def deliver(self, index: int) -> None:
        resource = self.rng.choice(self.resources)
        delete = self.last.get(resource) is False and self.rng.random() < 0.5
        body = arm_event(f"soak-{index}", resource, delete)
        cut_short = False  # an earlier delivery of this event died without an answer
        while True:
            instance = self.instances[self.turn % len(self.instances)]
            self.turn += 1
            if not instance.url:
                time.sleep(0.05)
                continue
            self.attempts += 1
            self.in_flight.set()
            try:
                response = httpx.post(f"{instance.url}/api/events", json=body, timeout=120,
                                      headers={"Authorization": f"Bearer {TOKEN}"})
            except httpx.TransportError:
                cut_short = True
                time.sleep(0.1)
                continue
            finally:
                self.in_flight.clear()
            if 400 <= response.status_code < 500:
                self.client_errors.append(f"{response.status_code} {response.text[:200]}")
                return
            if response.status_code >= 300:
                time.sleep(0.2)
                continue
            outcome = response.json()["events"][0]
            self.accepted += 1
            self.outcomes[outcome["outcome"]] += 1
            self.processed += outcome["outcome"] in ("audited", "unreadable", "resolved") or (
                outcome["outcome"] == "duplicate" and cut_short)
            if outcome["outcome"] == "audited":
                self.failing[resource] = outcome["failed"]
            self.last[resource] = delete
            return


def queued_notices(store: Any) -> dict[str, list[dict[str, Any]]]:
    """Messages still in the webhook receiver's outbox, by alert fingerprint: a notice waiting out its
    retry backoff (the receiver refused it several times) is late, not lost."""
    out: dict[str, list[dict[str, Any]]] = {}
    for doc in store.outbox("webhook"):
        note = doc.body["notification"]
        item = {"status": note["status"], "created": note["created_at"], "attempts": note.get("attempts", 0),
                "next_attempt_at": doc.body.get("next_attempt_at"), "state": doc.body.get("state")}
        for alert in note.get("alerts") or ():
            out.setdefault(alert["fingerprint"], []).append(item)
    return out


def check(client: httpx.Client, driver: Driver, receiver: FlakyReceiver, wait_s: float, store: Any,
          keep: Path | None = None, wait_cap_s: float = 900) -> dict[str, Any]:
    """Compare the final alerts with the last acknowledged events, and the receiver with the histories.

    Waits `wait_s` for every alert's last state to reach the receiver; longer (up to `wait_cap_s`) while
    each one still missing is queued in the outbox for a retry scheduled later (a notice refused several
    times in a row by the 20%-failing receiver backs off for minutes: 5 s doubling, capped at 10 min).
    With `keep`, each flawed alert's history, what the receiver heard of it and what is still queued go
    to flawed.json there."""
    alerts = client.get("/api/alerts").json()["alerts"]
    histories: dict[str, list[str]] = {}
    steps_by_fp: dict[str, list[dict[str, Any]]] = {}
    for alert in alerts:
        steps = client.get(f"/api/alerts/{alert['fingerprint']}").json()["history"]
        steps_by_fp[alert["fingerprint"]] = steps
        histories[alert["fingerprint"]] = [s["to"] for s in steps
                                          if s.get("event") == "transition" and s.get("to") in ("firing", "resolved")]
    unprocessed = 0
    for resource, deleted in driver.last.items():
        firing = sum(1 for a in alerts if a["resource"] == resource and a["status"] == "firing")
        expected = 0 if deleted else driver.failing.get(resource, firing)
        unprocessed += firing != expected
    final = {fp: steps[-1] for fp, steps in histories.items() if steps}
    started = time.monotonic()
    deadline = started + wait_s
    while True:
        with receiver.lock:
            heard: dict[str, list[tuple[str, str]]] = {}
            detail: dict[str, list[dict[str, Any]]] = {}
            keys: set[tuple[str, str]] = set()
            for at, key, note in sorted(receiver.accepted, key=lambda a: a[0]):
                for alert in note["alerts"]:
                    fp = alert["data"]["essentials"]["originAlertId"]
                    if (fp, key) not in keys:
                        keys.add((fp, key))
                        heard.setdefault(fp, []).append((note["status"], key))
                        detail.setdefault(fp, []).append({
                            "accepted": datetime.fromtimestamp(at, UTC).isoformat(), "status": note["status"],
                            "reason": note.get("reason"), "created": note.get("createdAt"), "key": key})
        missing = [fp for fp, status in final.items() if heard.get(fp, [("", "")])[-1][0] != status]
        if not missing:
            break
        if time.monotonic() > deadline:
            queued = queued_notices(store)
            later = [parse_time(m["next_attempt_at"]) for fp in missing for m in queued.get(fp, ())
                     if m["state"] == "queued" and m["next_attempt_at"]]
            if not later or any(fp not in queued for fp in missing):
                break
            retry_in = (max(later) - datetime.now(UTC)).total_seconds() + 15
            deadline = min(max(deadline, time.monotonic() + retry_in), started + wait_cap_s)
            if time.monotonic() > deadline:
                break
        time.sleep(1)
    waited = time.monotonic() - started
    queued = queued_notices(store)
    lost = duplicates = 0
    examples = []
    flawed: dict[str, Any] = {}
    for fp, wanted in histories.items():
        if not wanted:
            continue
        statuses = [s for s, _ in heard.get(fp, [])]
        doubled = sum(1 for a, b in itertools.pairwise(statuses) if a == b)
        missed = not statuses or statuses[0] != wanted[0] or statuses[-1] != wanted[-1]
        if missed:
            waiting = [f"{m['status']} ({m['state']}, {m['attempts']} attempts, next {m['next_attempt_at']})"
                       for m in queued.get(fp, ())]
            examples.append(f"lost: {fp}: history {wanted[-6:]}, heard {statuses[-6:]}"
                            + (f", still queued: {waiting}" if waiting else ""))
        if doubled:
            examples.append(f"duplicate: {fp}: {doubled} repeated, heard {statuses[-6:]}")
        lost += missed
        duplicates += doubled
        if missed or doubled:
            flawed[fp] = {"history": steps_by_fp[fp], "heard": detail.get(fp, []), "queued": queued.get(fp, [])}
    if flawed and keep is not None:
        (keep / "flawed.json").write_text(json.dumps(flawed, indent=1))
    changes = sum(len(steps) for steps in histories.values())
    return {"unprocessed": unprocessed, "lost": lost, "duplicates": duplicates, "changes": changes, "examples": examples,
            "notices": sum(len(v) for v in heard.values()), "waited_s": waited}


def start_azurite(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    proc = subprocess.Popen([str(ROOT / "node_modules" / ".bin" / "azurite-table"), "--tableHost", "127.0.0.1",
                             "--tablePort", str(port), "--location", str(workdir / "azurite"), "--skipApiVersionCheck",
                             "--loose", "--silent", "--disableTelemetry"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc, port
        except OSError:
            time.sleep(0.1)
    raise SystemExit("azurite-table did not start")


def connection(port: int) -> str:
    return (f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AZURITE_KEY};"
            f"TableEndpoint=http://127.0.0.1:{port}/devstoreaccount1;")


class OutageProxy:
    """Forwards to Azurite; answers 503 (Server Busy) to requests naming `row` while `down`."""

    def __init__(self, upstream: int, row: str) -> None:
        self.row, self.down, self.refused = row, False, 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                if proxy.down and proxy.row in self.path:
                    proxy.refused += 1
                    payload = b'{"odata.error":{"code":"ServerBusy","message":{"value":"The server is busy."}}}'
                    self.send_response(503)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                conn = http.client.HTTPConnection("127.0.0.1", upstream, timeout=60)
                conn.request(self.command, self.path, body=body or None,
                             headers={k: v for k, v in self.headers.items() if k.lower() != "host"})
                answer = conn.getresponse()
                data = answer.read()
                self.send_response(answer.status, answer.reason)
                for key, value in answer.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(key, value)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                conn.close()

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_MERGE = _forward

            def log_message(self, *args: object) -> None:
                pass

        self.server = QuietServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.port = self.server.server_address[1]


def run(name: str, *, seconds: float, instances_n: int, table: bool, kill_every: float, outage_s: float,
        workdir: Path, keep: bool = False) -> dict[str, Any]:
    rows = estate(workspaces=2, endpoints_per_workspace=40)
    bad = [r["id"] for r in rows if r["type"].endswith("/onlineEndpoints") and r["properties"]["authMode"] == "Key"]
    snapshot = write_snapshot(workdir / "estate.json", rows)
    (workdir / "alerting.yaml").write_text(ALERTING)
    receiver = FlakyReceiver()
    env = {"AMLGUARD_ALERTING": str(workdir / "alerting.yaml"), "BENCH_WEBHOOK_URL": receiver.url,
           "BENCH_WEBHOOK_SECRET": SECRET, "AMLGUARD_ALERTS_SCHEDULE": "*/1 * * * * *"}
    azurite = proxy = None
    if table:
        azurite, port = start_azurite(workdir)
        if outage_s:
            from amlguard.alerts.store_table import encode_key

            proxy = OutageProxy(port, quote(encode_key(bad[0].lower()), safe=""))
            port = proxy.port
        env |= {"AMLGUARD_STATE_BACKEND": "table", "AMLGUARD_STATE_CONNECTION": connection(port),
                "AMLGUARD_STATE_TABLE_PREFIX": "soak"}
    instances = [Instance(f"{name}-{i}", snapshot, workdir, env) for i in range(instances_n)]
    for instance in instances:
        instance.start()
    # the outage run keeps its few resources busy, so events meet the unavailable row
    driver = Driver(instances, bad[:3] if outage_s else bad[:24], seed=11)
    rng = random.Random(5)
    stop = threading.Event()
    kills = Counter[str]()

    def killer() -> None:
        mode = itertools.cycle(["ingest", "delivery"])
        while not stop.wait(kill_every * (0.5 + rng.random())):
            victim = rng.choice(instances)
            how = next(mode) if instances_n == 1 else "random"
            if how == "delivery":
                state = {"armed": True, "fired": False}
                lock = threading.Lock()

                def hook(victim: Instance = victim, state: dict[str, bool] = state, lock: threading.Lock = lock) -> None:
                    with lock:  # kill at most once, and never after the killer gave up waiting
                        if not state["armed"]:
                            return
                        state["armed"], state["fired"] = False, True
                        victim.kill()

                receiver.on_request = hook
                deadline = time.monotonic() + kill_every
                while time.monotonic() < deadline and not state["fired"]:
                    time.sleep(0.01)
                with lock:
                    state["armed"] = False
                receiver.on_request = None
                if not state["fired"]:
                    continue
            elif how == "ingest":
                driver.in_flight.wait(kill_every)
                time.sleep(rng.random() * 0.03)
                victim.kill()
            else:
                time.sleep(rng.random() * 0.05)
                victim.kill()
            kills[how] += 1
            victim.start()

    def outage() -> None:
        assert proxy is not None
        if stop.wait(seconds * 0.1):
            return
        proxy.down = True
        stop.wait(outage_s)
        proxy.down = False

    threads = [threading.Thread(target=killer, daemon=True)] if kill_every else []
    threads += [threading.Thread(target=outage, daemon=True)] if proxy else []
    for thread in threads:
        thread.start()
    started = time.monotonic()
    index = 0
    while time.monotonic() - started < seconds:
        driver.deliver(index)
        index += 1
    stop.set()
    for thread in threads:
        thread.join(timeout=kill_every + 70)
    ingest_s = time.monotonic() - started
    live = next(i for i in instances if i.url)
    # a notice whose sender was killed mid-send is resent on the next pass: every instance runs on this
    # host, so its lease's holder is known dead (outbox._holder_dead); 150 s also covers a lease that
    # had to run out (RetryPolicy.lease, 120 s). The store is read for what is still queued.
    with httpx.Client(base_url=live.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60) as client, \
            open_store(workdir / "state", settings=env) as store:
        result = check(client, driver, receiver, wait_s=150, store=store, keep=workdir if keep else None)
    for instance in instances:
        instance.stop()
    receiver.server.shutdown()
    if proxy is not None:
        proxy.server.shutdown()
    if azurite is not None:
        azurite.terminate()
        azurite.wait(timeout=10)
    return {"name": name, "seconds": ingest_s, "accepted": driver.accepted, "processed": driver.processed,
            "outcomes": dict(driver.outcomes),
            "attempts": driver.attempts, "client_errors": driver.client_errors, "kills": dict(kills),
            "refused_503": proxy.refused if proxy else 0, "failed_sends": receiver.failed,
            "peak_rss_mb": max(i.peak_kb for i in instances) / 1024, **result}


def main() -> int:
    quick = "--quick" in sys.argv
    keep = "--keep" in sys.argv
    seconds = 25.0 if quick else 75.0
    runs = [
        ("sqlite, 1 instance, kill -9 in ingest and delivery", {"instances_n": 1, "table": False,
                                                                "kill_every": 4.0 if quick else 6.0, "outage_s": 0}),
        ("azurite, 3 instances, kill -9 at random", {"instances_n": 3, "table": True,
                                                     "kill_every": 5.0 if quick else 8.0, "outage_s": 0}),
        ("table, 503 on one resource's row", {"instances_n": 1, "table": True, "kill_every": 0,
                                              "outage_s": 12.0 if quick else 45.0}),
    ]
    selected = [a for a in sys.argv[1:] if not a.startswith("-")]
    results = []
    for name, options in runs:
        if selected and not any(s in name for s in selected):
            continue
        if keep:
            workdir = Path(tempfile.mkdtemp(prefix="amlguard-soak-"))
            print(f"{name}: state, serve logs and flawed.json in {workdir}", file=sys.stderr, flush=True)
            results.append(run(name, seconds=seconds, workdir=workdir, keep=True, **options))  # type: ignore[arg-type]
        else:
            with tempfile.TemporaryDirectory(prefix="amlguard-soak-") as tmp:
                results.append(run(name, seconds=seconds, workdir=Path(tmp), **options))  # type: ignore[arg-type]
        print(f"{name}: done, {results[-1]['accepted']} events accepted", file=sys.stderr, flush=True)
    print(f"{'run':<52} {'s':>5} {'accepted':>8} {'processed':>9} {'kills':>12} {'503s':>5} {'changes':>7} "
          f"{'notices':>7} {'ack w/o proc':>12} {'lost':>4} {'dup':>4} {'peak RSS':>9} {'drain s':>7}")
    bad = False
    for r in results:
        kills = ",".join(f"{k}:{v}" for k, v in sorted(r["kills"].items())) or "-"
        print(f"{r['name']:<52} {r['seconds']:>5.0f} {r['accepted']:>8} {r['processed']:>9} {kills:>12} "
              f"{r['refused_503']:>5} {r['changes']:>7} {r['notices']:>7} {r['unprocessed']:>12} {r['lost']:>4} "
              f"{r['duplicates']:>4} {r['peak_rss_mb']:>7.0f}MB {r['waited_s']:>7.0f}")
        for example in r["examples"][:5]:
            print(f"  {example}")
        if set(r["outcomes"]) - {"audited", "resolved"}:
            print(f"  outcomes: {r['outcomes']}")
        for error in r["client_errors"][:3]:
            print(f"  client error (a bug): {error}")
        bad |= bool(r["unprocessed"] or r["lost"] or r["duplicates"] or r["client_errors"])
    print("goal: 0 acknowledged without processing, 0 lost state changes, 0 duplicate notices, no 4xx")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
