"""Generated Azure ML estates in ARM JSON (Resource Graph result shape) and an `amlguard serve`
launcher, shared by the benchmarks."""

from __future__ import annotations

import contextlib
import json
import os
import random
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]

SUB = "00000000-0000-0000-0000-0000000000b1"


def workspace_id(ws: int) -> str:
    return (f"/subscriptions/{SUB}/resourceGroups/rg-bench/providers/Microsoft.MachineLearningServices/"
            f"workspaces/ws-{ws:03d}")


def estate(workspaces: int, endpoints_per_workspace: int, *, seed: int = 7) -> list[dict[str, Any]]:
    """Workspaces, managed online endpoints and one deployment each; about a third non-compliant."""
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    for w in range(workspaces):
        ws = workspace_id(w)
        rows.append({"id": ws, "name": f"ws-{w:03d}", "type": "Microsoft.MachineLearningServices/workspaces",
                     "location": "westeurope", "tags": {"owner": "bench", "cost_center": "1"},
                     "properties": {"publicNetworkAccess": rng.choice(["Disabled", "Enabled"]),
                                    "managedNetwork": {"isolationMode": "AllowOnlyApprovedOutbound"}}})
        for e in range(endpoints_per_workspace):
            ep = f"{ws}/onlineEndpoints/ep-{e:03d}"
            bad = rng.random() < 0.33
            rows.append({
                "id": ep, "name": f"ep-{e:03d}", "type": "Microsoft.MachineLearningServices/workspaces/onlineEndpoints",
                "location": "westeurope", "tags": {"owner": "bench", "cost_center": "1"},
                "properties": {"authMode": "Key" if bad else "AADToken",
                               "publicNetworkAccess": "Enabled" if bad else "Disabled",
                               "traffic": {"blue": 100}, "provisioningState": "Succeeded"},
            })
            rows.append({
                "id": f"{ep}/deployments/blue", "name": "blue",
                "type": "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments",
                "location": "westeurope", "tags": {"owner": "bench"} if bad else {"owner": "bench", "cost_center": "1"},
                "sku": {"name": "Default", "capacity": 1 if bad else 3},
                "properties": {"endpointComputeType": "Managed", "instanceType": "Standard_DS3_v2",
                               "model": "azureml:m:1", "appInsightsEnabled": not bad,
                               "egressPublicNetworkAccess": "Enabled" if bad else "Disabled",
                               "requestSettings": {"requestTimeout": "PT5S"},
                               "livenessProbe": {"initialDelay": "PT10S", "period": "PT10S"},
                               "readinessProbe": {"initialDelay": "PT10S", "period": "PT10S"},
                               "dataCollector": {"collections": {"model_inputs": {"dataCollectionMode": "Enabled"},
                                                                 "model_outputs": {"dataCollectionMode": "Enabled"}}}},
            })
    return rows


def write_snapshot(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"data": rows}))
    return path


@contextlib.contextmanager
def running_serve(snapshot: Path, workdir: Path, *, token: str, env: dict[str, str] | None = None,
                  timeout: float = 60) -> Iterator[httpx.Client]:
    """`amlguard serve` on a free loopback port over `snapshot`, state under `workdir`; yields an
    authenticated client once /api/health answers, and stops the server afterwards."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    # serve's log goes to a file: a pipe nobody reads fills after 64 KB (one WARNING per failed
    # send soon does that) and then blocks the server's logging, and with it the server.
    log_path = workdir / "serve.log"
    log_file = log_path.open("wb")
    proc = subprocess.Popen([str(ROOT / ".venv" / "bin" / "amlguard"), "serve", "--port", str(port), "--snapshot",
                             str(snapshot), "--state", str(workdir / "state"), "--sweep-interval", "0",
                             "--log-level", "warning"], env={**os.environ, "AMLGUARD_API_TOKEN": token, **(env or {})},
                            cwd=workdir, stdout=subprocess.DEVNULL, stderr=log_file)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=timeout,
                          headers={"Authorization": f"Bearer {token}"}) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if client.get("/api/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise SystemExit(f"amlguard serve did not start: {log_path.read_text(errors='replace')[-2000:]}")
                time.sleep(0.1)
            yield client
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log_file.close()


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a sender killed mid-request resets its connection: expected in the soak


class FlakyReceiver:
    """A webhook receiver on loopback, serving from construction, that refuses a seeded share of
    requests with 500. With `secret`, it counts requests whose HMAC signature does not verify;
    `on_request`, when set, runs before each answer (the soak's kill hook)."""

    def __init__(self, fail_share: float = 0.2, *, secret: str | None = None) -> None:
        self.rng = random.Random(3)
        self.fail_share = fail_share
        self.lock = threading.Lock()
        self.accepted: list[tuple[float, str, dict[str, Any]]] = []
        self.failed = 0
        self.bad_signature = 0
        self.on_request: Any = None
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                if receiver.on_request is not None:
                    receiver.on_request()
                with receiver.lock:
                    if secret is not None:
                        from amlguard.alerts.notifiers.webhook import verify_signature

                        if not verify_signature(secret, self.headers.get("X-Amlguard-Signature"), body):
                            receiver.bad_signature += 1
                    fail = receiver.rng.random() < receiver.fail_share
                    if fail:
                        receiver.failed += 1
                    else:
                        receiver.accepted.append((time.time(), self.headers.get("Idempotency-Key", ""),
                                                  json.loads(body)))
                self.send_response(500 if fail else 200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = QuietServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
