"""Regenerate the bundled monitoring example: metrics.json (a metrics:getBatch answer), logs.json (a Logs
query answer with a partial error) and the model data collector copy under mdc/.

The story, for the deployments of examples/workspace at 2026-11-26T11:00Z:
- fraud-scoring/blue: p95 ~1840 ms and p99 ~2900 ms (latency SLO breach), CPU ~93%;
- fraud-scoring/green: 3% of requests answered 5xx;
- recommender/main: healthy, but no DeploymentCapacity data (state kept) and no GPU metric;
- edge-vision/v2 (Kubernetes): healthy latency.
The model inputs of fraud-scoring/blue are examples/drift's current window (income and age drift).
Run: .venv/bin/python examples/monitoring/make_data.py
"""

from __future__ import annotations

import json
import math
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from amlguard.monitor.signals import METRIC_AGGREGATIONS

HERE = Path(__file__).resolve().parent
NOW = datetime(2026, 11, 26, 11, 0, tzinfo=UTC)
GRAINS = 20  # one-minute grains before NOW: enough for the 15-minute windows
WS = ("/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-ml-prod/providers/"
      "Microsoft.MachineLearningServices/workspaces/mlw-prod")
ENDPOINT_NS = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints"
DEPLOYMENT_NS = ENDPOINT_NS + "/deployments"
STEADY = {"DeploymentCapacity", "DataCollectionErrorsPerMinute"}  # counts do not wobble

# deployment -> (endpoint, p50, p90, p95, p99, requests/min, 5xx/min, cpu %, memory %, capacity or None)
DEPLOYMENTS = {
    ("fraud-scoring", "blue"): (180, 900, 1840, 2900, 420, 2, 93, 71, 3),
    ("fraud-scoring", "green"): (60, 190, 310, 600, 97, 3, 41, 48, 1),
    ("recommender", "main"): (35, 80, 120, 210, 1200, 0, 38, 55, None),
    ("edge-vision", "v2"): (90, 170, 240, 390, 60, 0, None, None, None),
}


def _wobble(value: float, i: int, amplitude: float = 0.03) -> float:
    # deterministic +-3% variation so the series look like data, not constants
    return round(value * (1 + amplitude * math.sin(i * 1.7)), 3)


def _points(value: float | None, offered: tuple[str, ...], steady: bool = False) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for i in range(GRAINS):
        t = NOW - timedelta(minutes=GRAINS - i)
        point: dict[str, object] = {"timeStamp": t.strftime("%Y-%m-%dT%H:%M:%SZ")}
        if value is not None:  # only the aggregations Azure Monitor offers for the metric
            point.update(dict.fromkeys(offered, value if steady else _wobble(value, i)))
        out.append(point)
    return out


def _metric(resource_id: str, name: str, unit: str, series: list[tuple[dict[str, str], float | None]]) -> dict:
    offered = METRIC_AGGREGATIONS["deployment" if "/deployments/" in resource_id else "endpoint"][name]
    return {
        "id": f"{resource_id}/providers/Microsoft.Insights/metrics/{name}", "type": "Microsoft.Insights/metrics",
        "name": {"value": name, "localizedValue": name}, "displayDescription": "", "unit": unit,
        "errorCode": "Success",
        "timeseries": [{"metadatavalues": [{"name": {"value": k, "localizedValue": k}, "value": v}
                                           for k, v in dims.items()],
                        "data": _points(value, offered, steady=name in STEADY)}
                       for dims, value in series],
    }


def _entry(resource_id: str, namespace: str, metrics: list[dict]) -> dict:
    return {"starttime": (NOW - timedelta(minutes=GRAINS)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "endtime": NOW.strftime("%Y-%m-%dT%H:%M:%SZ"), "interval": "PT1M", "namespace": namespace,
            "resourceregion": "westeurope", "resourceid": resource_id, "value": metrics}


def metrics() -> dict:
    values = []
    for endpoint in sorted({e for e, _ in DEPLOYMENTS}):
        eid = f"{WS}/onlineEndpoints/{endpoint}"
        mine = {d: v for (e, d), v in DEPLOYMENTS.items() if e == endpoint}
        ms = []
        for index, p in enumerate(("P50", "P90", "P95", "P99")):
            ms.append(_metric(eid, f"RequestLatency_{p}", "MilliSeconds",
                              [({"deployment": d}, float(v[index])) for d, v in mine.items()]))
        ms.append(_metric(eid, "RequestsPerMinute", "Count", [
            (dims, value) for d, v in mine.items()
            for dims, value in (({"deployment": d, "statusCodeClass": "2xx"}, float(v[4] - v[5])),
                                ({"deployment": d, "statusCodeClass": "5xx"}, float(v[5])))]))
        ms.append(_metric(eid, "DataCollectionErrorsPerMinute", "Count",
                          [({"deployment": d}, 0.0) for d in mine]))
        values.append(_entry(eid, ENDPOINT_NS, ms))
        for d, v in mine.items():
            did = f"{eid}/deployments/{d}"
            dm = []
            if v[6] is not None:
                dm.append(_metric(did, "CpuUtilizationPercentage", "Percent", [({}, float(v[6]))]))
                dm.append(_metric(did, "CpuMemoryUtilizationPercentage", "Percent", [({}, float(v[7]))]))
            if v[8] is not None:
                dm.append(_metric(did, "DeploymentCapacity", "Count", [({}, float(v[8]))]))
            values.append(_entry(did, DEPLOYMENT_NS, dm))
    return {"values": values}


def logs() -> dict:
    rows = []
    for (endpoint, d), v in DEPLOYMENTS.items():
        requests = v[4] * 5
        rows.append([f"{WS}/onlineEndpoints/{endpoint}".lower(), d, requests, v[5] * 5,
                     float(v[0]) + 12, float(v[1]) + 15, float(v[2]) + 20, float(v[3]) + 30])
    columns = [("ResourceId", "string"), ("DeploymentName", "string"), ("requests", "long"), ("errors_5xx", "long"),
               ("p50_ms", "real"), ("p90_ms", "real"), ("p95_ms", "real"), ("p99_ms", "real")]
    return {"tables": [{"name": "PrimaryResult", "columns": [{"name": n, "type": t} for n, t in columns],
                        "rows": rows}],
            "error": {"code": "PartialError", "message": "There were some errors when processing your query.",
                      "details": [{"code": "EngineError", "message": "Query result set has exceeded the internal "
                                   "record count limit; results of one shard are missing"}]}}


def mdc() -> None:
    source_root = HERE.parent / "drift" / "mdc" / "modelDataCollector" / "credit-ep" / "blue"
    target_root = HERE / "mdc" / "modelDataCollector" / "fraud-scoring" / "blue"
    shutil.rmtree(HERE / "mdc", ignore_errors=True)
    for path in sorted(source_root.rglob("*.jsonl")):
        target = target_root / path.relative_to(source_root)
        target.parent.mkdir(parents=True, exist_ok=True)
        lines = []
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            record["source"] = f"{WS}/onlineEndpoints/fraud-scoring/deployments/blue"
            lines.append(json.dumps(record, separators=(",", ":")))
        target.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    # one resource per line: small, and diffs stay readable
    entries = [json.dumps(v, separators=(",", ":")) for v in metrics()["values"]]
    (HERE / "metrics.json").write_text('{"values": [\n' + ",\n".join(entries) + "\n]}\n", encoding="utf-8")
    (HERE / "logs.json").write_text(json.dumps(logs(), indent=1) + "\n", encoding="utf-8")
    mdc()


if __name__ == "__main__":
    main()
