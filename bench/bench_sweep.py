"""Sweep benchmark: amlguard's concurrent per-workspace sweep and its Resource Graph sweep
against a plain sequential MLClient loop, over a seeded HTTPS ARM stand-in that adds a fixed
latency to every call (the stand-in runs in its own process, so its CPU is not the client's).

    .venv/bin/python bench/bench_sweep.py                      # 200 workspaces x 25 endpoints, 50 ms
    .venv/bin/python bench/bench_sweep.py --workspaces 20 --baseline-workspaces 5   # quick look

The baseline is timed on `--baseline-workspaces` workspaces and extrapolated linearly to the
whole estate (a full sequential run would take many minutes); the report says so.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SUB = "00000000-0000-0000-0000-000000000001"


class _Credential:
    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        return AccessToken("bench-token", int(time.time()) + 3600)


class _PeakRss:
    """Samples this process's RSS every 20 ms while running."""

    def __init__(self) -> None:
        import psutil

        self._proc = psutil.Process()
        self.peak = self._proc.memory_info().rss
        self.start = self.peak
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self._proc.memory_info().rss)

    def __enter__(self) -> _PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._proc.memory_info().rss)


def _control(url: str, ca: str, method: str, path: str, body: Any = None) -> Any:
    import requests

    response = requests.request(method, url.rstrip("/") + path, json=body, verify=ca, timeout=60)
    response.raise_for_status()
    return response.json() if response.content else None


def start_standin(args: argparse.Namespace) -> tuple[subprocess.Popen[str], str, str]:
    cmd = [sys.executable, "-m", "tests.standins.arm", "--workspaces", str(args.workspaces),
           "--online-endpoints", str(args.endpoints), "--deployments", "1", "--batch-endpoints", "0",
           "--latency", str(args.latency), "--page-size", "100", "--rg-quota", "100000"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().split()
    if len(line) != 2:
        proc.kill()
        raise SystemExit(f"stand-in did not start: {line}")
    return proc, line[0], line[1]


def run(args: argparse.Namespace) -> dict[str, Any]:
    from amlguard.inventory.base import Scope
    from amlguard.inventory.config import ClientOptions
    from amlguard.inventory.live import ArmClients, LiveInventory
    from amlguard.inventory.resourcegraph import ResourceGraphInventory

    proc, url, ca = start_standin(args)
    out: dict[str, Any] = {"estate": {"workspaces": args.workspaces, "online_endpoints_per_workspace": args.endpoints,
                                      "deployments_per_endpoint": 1, "latency_ms": args.latency * 1000}}
    try:
        import azure.ai.ml  # noqa: F401  (import cost kept out of every timing)

        scope = Scope(subscriptions=(SUB,))
        options = ClientOptions(arm_endpoint=url, connection_verify=ca, concurrency=args.concurrency,
                                read_timeout=60.0)

        # 1. amlguard's concurrent per-workspace sweep
        _control(url, ca, "DELETE", "/_standin/requests")
        inventory = LiveInventory(_Credential(), options=options)
        with _PeakRss() as rss:
            started, cpu = time.perf_counter(), time.process_time()
            result = inventory.list(scope)
            sweep_s, sweep_cpu = time.perf_counter() - started, time.process_time() - cpu
        calls = _control(url, ca, "GET", "/_standin/requests")["count"]
        out["amlguard_concurrent"] = {
            "seconds": round(sweep_s, 2), "resources": len(result.resources), "errors": len(result.errors),
            "arm_calls": calls, "concurrency": args.concurrency, "client_cpu_seconds": round(sweep_cpu, 2),
            # CPU per call compares runs on a loaded machine better than seconds do (the sweep is CPU-bound)
            "client_cpu_ms_per_call": round(sweep_cpu * 1000 / max(calls, 1), 2),
            "peak_rss_mb": round(rss.peak / 2**20, 1), "rss_growth_mb": round((rss.peak - rss.start) / 2**20, 1),
        }
        print(json.dumps({"amlguard_concurrent": out["amlguard_concurrent"]}), file=sys.stderr)

        # 2. the same estate through Resource Graph
        _control(url, ca, "DELETE", "/_standin/requests")
        del result
        gc.collect()  # the first sweep's garbage is not the second one's cost
        graph = ResourceGraphInventory(clients=ArmClients(_Credential(), options))
        with _PeakRss() as rss:
            started, cpu = time.perf_counter(), time.process_time()
            fast = graph.list(scope)
            graph_s, graph_cpu = time.perf_counter() - started, time.process_time() - cpu
        out["resource_graph"] = {
            "seconds": round(graph_s, 2), "resources": len(fast.resources), "errors": len(fast.errors),
            "calls": graph.stats.calls, "client_cpu_seconds": round(graph_cpu, 2),
            "peak_rss_mb": round(rss.peak / 2**20, 1),
        }
        print(json.dumps({"resource_graph": out["resource_graph"]}), file=sys.stderr)

        # 3. a plain sequential MLClient loop, timed on a subset and extrapolated
        from azure.ai.ml import MLClient

        subset = min(args.baseline_workspaces, args.workspaces)
        cloud = {"cloud": f"bench:{url}", "cloud_metadata": {
            "azure_portal": "https://portal.azure.com/", "resource_manager": url,
            "active_directory": "https://login.microsoftonline.com/", "aml_resource_id": "https://ml.azure.com/",
            "storage_endpoint": "core.windows.net", "registry_discovery_endpoint": url}}
        _control(url, ca, "DELETE", "/_standin/requests")
        count = 0
        started = time.perf_counter()
        for w in range(subset):
            ml = MLClient(_Credential(), SUB, "rg-ml", f"ws-{w:03d}", connection_verify=ca,
                          enable_telemetry=False, show_progress=False, **cloud)
            ml.workspaces.get(f"ws-{w:03d}")
            count += 1
            for endpoint in ml.online_endpoints.list():
                count += 1 + sum(1 for _ in ml.online_deployments.list(endpoint.name))
            for endpoint in ml.batch_endpoints.list():
                count += 1 + sum(1 for _ in ml.batch_deployments.list(endpoint.name))
        base_s = time.perf_counter() - started
        base_calls = _control(url, ca, "GET", "/_standin/requests")["count"]
        scale = args.workspaces / subset
        out["sequential_mlclient"] = {
            "timed_workspaces": subset, "seconds_timed": round(base_s, 2), "resources_timed": count,
            "arm_calls_timed": base_calls, "extrapolated": scale != 1,
            "seconds_full_estate": round(base_s * scale, 1),
        }
        out["speedup_concurrent_vs_sequential"] = round(base_s * scale / sweep_s, 1)
        out["speedup_resource_graph_vs_concurrent"] = round(sweep_s / graph_s, 1)
        out["load_average_1m"] = round(os.getloadavg()[0], 1)
        out["process_max_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workspaces", type=int, default=200)
    parser.add_argument("--endpoints", type=int, default=25, help="online endpoints per workspace (1 deployment each)")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds the stand-in adds to every ARM call")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--baseline-workspaces", type=int, default=10)
    args = parser.parse_args(argv)
    print(json.dumps(run(args), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
