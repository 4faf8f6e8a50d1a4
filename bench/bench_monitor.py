"""Monitor evaluation of 1,000 deployments in one pass: metrics:getBatch (<= 50 resources per call)
against one ARM metrics call per resource (azure-mgmt-monitor), on the same HTTPS stand-in and data.

The stand-in (tests/standins/monitor.py) runs in its own process with a fixed per-request latency
(`--latency`, default 30 ms, a conservative figure for an Azure Monitor call), so client and server
do not share a GIL. Both passes evaluate the default metric rules (policies/monitors.yaml) on the
same inventory with the same concurrency, and must produce the same findings.

Run: .venv/bin/python bench/bench_monitor.py [--deployments 1000] [--latency 0.03] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from amlguard.model import Resource  # noqa: E402
from amlguard.monitor.azure_monitor import AzureMonitor, MonitorClientSettings  # noqa: E402
from amlguard.monitor.evaluate import evaluate_rules  # noqa: E402
from amlguard.monitor.rules import load_monitor_rules  # noqa: E402
from tests.standins.fixtures import FakeCredential  # noqa: E402
from tests.standins.monitor import SUB  # noqa: E402

NOW = datetime(2026, 11, 26, 11, 0, tzinfo=UTC)


def inventory(deployments: int, per_endpoint: int = 2) -> list[Resource]:
    """The resources tests/standins/monitor.seed_world serves metrics for."""
    base = f"/subscriptions/{SUB}/resourceGroups/rg-bench/providers/Microsoft.MachineLearningServices/workspaces/ws"
    out = []
    for i in range(deployments):
        ep_name = f"ep-{i // per_endpoint:04d}"
        name = f"d{i % per_endpoint}"
        out.append(Resource(kind="online_deployment", id=f"{base}/onlineEndpoints/{ep_name}/deployments/{name}",
                            name=name, endpoint_name=ep_name, workspace="ws", compute_type="managed",
                            fields={"instance_count": 3, "tags": {}}))
    return out


def start_standin(deployments: int, latency: float) -> tuple[subprocess.Popen[str], str, str]:
    proc = subprocess.Popen([sys.executable, "-m", "tests.standins.monitor", "--deployments", str(deployments),
                             "--latency", str(latency)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().split()
    if len(line) != 2:
        proc.kill()
        raise SystemExit(f"the stand-in did not start: {line!r}")
    return proc, line[0], line[1]


def request_count(url: str, ca: str) -> int:
    import httpx

    return int(httpx.get(url + "_standin/requests", verify=ca).json()["count"])


def reset(url: str, ca: str) -> None:
    import httpx

    httpx.delete(url + "_standin/requests", verify=ca)


def one_pass(url: str, ca: str, resources: list[Resource], rules: list[Any], *, batch: bool,
             concurrency: int) -> tuple[float, int, dict[tuple[str, str], tuple[str, float | None]]]:
    settings = MonitorClientSettings(metrics_endpoint=url.rstrip("/") if batch else None, arm_endpoint=url,
                                     connection_verify=ca, concurrency=concurrency, retry_total=3)
    reset(url, ca)
    monitor = AzureMonitor(FakeCredential(), settings)
    started = time.perf_counter()
    result = evaluate_rules(rules, resources, monitor, now=NOW)
    elapsed = time.perf_counter() - started
    monitor.close()
    outcome = {(e.rule.id, e.resource.id): (e.finding.status if e.finding else "kept", e.observation.value)
               for e in result.evaluated}
    return elapsed, request_count(url, ca), outcome


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deployments", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.03, help="stand-in seconds per request")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--quick", action="store_true", help="200 deployments")
    args = parser.parse_args(argv)
    n = 200 if args.quick else args.deployments
    rules = [r for r in load_monitor_rules(ROOT / "policies" / "monitors.yaml") if r.signal.source == "metrics"]
    resources = inventory(n)
    proc, url, ca = start_standin(n, args.latency)
    try:
        batch_time, batch_calls, batch_out = one_pass(url, ca, resources, rules, batch=True,
                                                      concurrency=args.concurrency)
        arm_time, arm_calls, arm_out = one_pass(url, ca, resources, rules, batch=False,
                                                concurrency=args.concurrency)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert batch_out == arm_out, "batch and ARM passes disagree"
    statuses: dict[str, int] = {}
    for status, _ in batch_out.values():
        statuses[status] = statuses.get(status, 0) + 1
    print(f"monitor evaluation: {n} deployments ({n // 2} endpoints), {len(rules)} metric rules, "
          f"{len(batch_out)} checks {statuses}")
    print(f"stand-in latency {args.latency * 1000:.0f} ms per request, client concurrency {args.concurrency}\n")
    print(f"{'mode':<44}{'HTTP calls':>12}{'wall time':>12}")
    print(f"{'amlguard: metrics:getBatch (<=50 ids/call)':<44}{batch_calls:>12}{batch_time:>11.2f}s")
    print(f"{'one ARM metrics call per resource':<44}{arm_calls:>12}{arm_time:>11.2f}s")
    print(f"\nratio ARM / batch: {arm_calls / batch_calls:.1f}x calls, {arm_time / batch_time:.1f}x wall time")
    print("findings identical in both modes: yes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
