"""Azure Monitor stand-in: metrics:getBatch, ARM `providers/Microsoft.Insights/metrics` and the Log
Analytics query API, serving the documented response shapes (azure-facts §4.6) over loopback
HTTPS, with the fault injection of tests/standins/base.py (429 + Retry-After, 5xx, timeouts,
malformed JSON).

The data comes from a `MonitorWorld`: constant metric values per resource / metric / dimension
set (split and aggregated as the filter asks, one point per grain of the requested timespan),
rows of the traffic summary per deployment, custom tables for drift, and an optional partial
error added to every Logs answer. Like Azure, a filtered query gets at most `top` series per
resource and metric (default 10, no next page), and a point carries only the aggregations the
metric offers (../shared/reference/online-endpoint-metrics.md): one asked for outside them is
left out, so a rule that asks for it sees no data.

Run standalone for benchmarks: `python -m tests.standins.monitor --deployments 1000`.
"""

from __future__ import annotations

import argparse
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from amlguard.monitor.signals import METRIC_AGGREGATIONS
from tests.standins.base import Request, Response, StandinServer

__all__ = ["MonitorStandin", "MonitorWorld", "seed_world"]

_ENDPOINT_NS = "microsoft.machinelearningservices/workspaces/onlineendpoints"
_DEPLOYMENT_NS = _ENDPOINT_NS + "/deployments"


@dataclass(slots=True)
class _Series:
    dims: dict[str, str]
    value: float | None  # None: grains without data (aggregation keys omitted)


@dataclass
class MonitorWorld:
    """What the stand-in serves. Keys are lower-cased resource ids."""

    metrics: dict[tuple[str, str], list[_Series]] = field(default_factory=dict)
    regions: dict[str, str] = field(default_factory=dict)
    traffic: list[dict[str, Any]] = field(default_factory=list)
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    partial_error: dict[str, Any] | None = None
    metric_errors: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)  # -> (code, message)
    lock: threading.RLock = field(default_factory=threading.RLock)

    def set_metric(self, resource_id: str, metric: str, value: float | None,
                   dims: dict[str, str] | None = None, region: str = "westeurope") -> None:
        """Serve `value` at every grain for this series (replacing a series with the same dims)."""
        key = (resource_id.lower(), metric.lower())
        with self.lock:
            series = [s for s in self.metrics.get(key, []) if s.dims != (dims or {})]
            series.append(_Series(dict(dims or {}), value))
            self.metrics[key] = series
            self.regions[resource_id.lower()] = region

    def clear_metric(self, resource_id: str, metric: str) -> None:
        with self.lock:
            self.metrics.pop((resource_id.lower(), metric.lower()), None)

    def set_traffic(self, endpoint_id: str, deployment: str, *, requests: int, errors_5xx: int = 0,
                    p50: float = 50.0, p90: float = 80.0, p95: float = 100.0, p99: float = 150.0) -> None:
        """One row of the traffic summary (what the percentile KQL would return for a deployment)."""
        with self.lock:
            self.traffic = [r for r in self.traffic
                            if not (r["ResourceId"] == endpoint_id.lower() and r["DeploymentName"] == deployment)]
            self.traffic.append({"ResourceId": endpoint_id.lower(), "DeploymentName": deployment,
                                 "requests": requests, "errors_5xx": errors_5xx, "p50_ms": p50, "p90_ms": p90,
                                 "p95_ms": p95, "p99_ms": p99})


def _grains(query: dict[str, str]) -> list[datetime]:
    start = datetime.fromisoformat(query["starttime"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(query["endtime"].replace("Z", "+00:00"))
    step = _duration(query.get("interval") or "PT1M")
    out = []
    t = start
    while t < end and len(out) < 1440:
        out.append(t)
        t += step
    return out


def _duration(text: str) -> timedelta:
    m = re.fullmatch(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?", text.upper())
    if not m:
        return timedelta(minutes=1)
    d, h, mi, s = (float(x) if x else 0.0 for x in m.groups())
    return timedelta(days=d, hours=h, minutes=mi, seconds=s)


def _split_dims(filter_text: str | None) -> list[str]:
    if not filter_text:
        return []
    return [m.group(1).lower() for m in re.finditer(r"(\w+)\s+eq\s+'\*'", filter_text)]


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


class MonitorStandin(StandinServer):
    """HTTPS stand-in for Azure Monitor metrics (batch and ARM) and Log Analytics queries."""

    def __init__(self, world: MonitorWorld | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.world = world or MonitorWorld()
        self.queries: list[str] = []  # KQL texts received
        self.add_route("POST", r"/subscriptions/(?P<sub>[^/]+)/metrics:getBatch", self._batch)
        self.add_route("GET", r"(?P<rid>/subscriptions/.+)/providers/Microsoft\.Insights/metrics", self._arm)
        self.add_route("POST", r"/v1/workspaces/(?P<ws>[^/]+)/query", self._logs)

    # -- metrics -------------------------------------------------------------------------------
    def _metric_objects(self, rid: str, query: dict[str, str]) -> list[dict[str, Any]]:
        names = [n for n in (query.get("metricnames") or "").split(",") if n]
        aggregations = [a.strip().lower() for a in (query.get("aggregation") or "average").split(",") if a.strip()]
        filter_text = query.get("filter") or query.get("$filter")
        split = _split_dims(filter_text)
        top = int(query.get("top") or 10) if filter_text else None
        level = "deployment" if (query.get("metricnamespace") or "").lower() == _DEPLOYMENT_NS else "endpoint"
        grains = _grains(query)
        out = []
        with self.world.lock:
            stored = {name: list(self.world.metrics.get((rid.lower(), name.lower()), [])) for name in names}
        for name in names:
            groups: dict[tuple[str, ...], list[_Series]] = {}
            for s in stored[name]:
                key = tuple(s.dims.get(d, s.dims.get(d.lower(), "")) for d in split)
                if split and any(k == "" for k in key):
                    # the series lacks a dimension that was split: Azure answers per known value only
                    key = tuple(_find_dim(s.dims, d) for d in split)
                groups.setdefault(key, []).append(s)
            failed = self.world.metric_errors.get((rid.lower(), name.lower()))
            if failed is not None:
                out.append({"id": f"{rid}/providers/Microsoft.Insights/metrics/{name}",
                            "type": "Microsoft.Insights/metrics", "name": {"value": name, "localizedValue": name},
                            "unit": "Count", "errorCode": failed[0], "errorMessage": failed[1], "timeseries": []})
                continue
            offered = METRIC_AGGREGATIONS[level].get(name, ("average", "minimum", "maximum", "total", "count"))
            timeseries = []
            for key, members in list(groups.items())[:top]:
                values = [m.value for m in members if m.value is not None]
                data = []
                for t in grains:
                    point: dict[str, Any] = {"timeStamp": _iso(t)}
                    if values:
                        agg = {"average": sum(values) / len(values), "minimum": min(values),
                               "maximum": max(values), "total": sum(values), "count": float(len(values))}
                        point.update({a: agg[a] for a in aggregations if a in agg and a in offered})
                    data.append(point)
                timeseries.append({
                    "metadatavalues": [{"name": {"value": d, "localizedValue": d}, "value": v}
                                       for d, v in zip(split, key, strict=True)],
                    "data": data})
            out.append({
                "id": f"{rid}/providers/Microsoft.Insights/metrics/{name}", "type": "Microsoft.Insights/metrics",
                "name": {"value": name, "localizedValue": name}, "displayDescription": "", "unit": "Count",
                "errorCode": "Success", "timeseries": timeseries})
        return out

    def _batch(self, request: Request, _m: re.Match[str]) -> Response:
        body = request.json() or {}
        ids = body.get("resourceids") or []
        if not ids or len(ids) > 50:
            return Response(400, {"error": {"code": "BadRequest", "message": "1..50 resourceids expected"}})
        values = []
        for rid in ids:
            values.append({
                "starttime": request.query.get("starttime"), "endtime": request.query.get("endtime"),
                "interval": request.query.get("interval"), "namespace": request.query.get("metricnamespace"),
                "resourceregion": self.world.regions.get(rid.lower(), "westeurope"), "resourceid": rid,
                "value": self._metric_objects(rid, request.query)})
        return Response(200, {"values": values})

    def _arm(self, request: Request, match: re.Match[str]) -> Response:
        rid = match.group("rid")
        query = dict(request.query)
        if "timespan" in query:
            start, _, end = query["timespan"].partition("/")
            query["starttime"], query["endtime"] = start, end
        return Response(200, {
            "cost": 0, "timespan": query.get("timespan", ""), "interval": query.get("interval", "PT1M"),
            "value": self._metric_objects(rid, query), "namespace": query.get("metricnamespace", ""),
            "resourceregion": self.world.regions.get(rid.lower(), "westeurope")})

    # -- logs ----------------------------------------------------------------------------------
    def _logs(self, request: Request, _m: re.Match[str]) -> Response:
        body = request.json() or {}
        query = str(body.get("query") or "")
        with self._lock:
            self.queries.append(query)
        with self.world.lock:
            if "AmlOnlineEndpointTrafficLog" in query:
                columns = [("ResourceId", "string"), ("DeploymentName", "string"), ("requests", "long"),
                           ("errors_5xx", "long"), ("p50_ms", "real"), ("p90_ms", "real"), ("p95_ms", "real"),
                           ("p99_ms", "real")]
                rows = [[r[c] for c, _ in columns] for r in self.world.traffic]
            else:
                table = re.match(r"\s*([A-Za-z_][A-Za-z0-9_]*)", query)
                data = self.world.tables.get(table.group(1) if table else "", [])
                for column, value in re.findall(r"\|\s*where\s+(\w+)\s*==\s*'([^']*)'", query):
                    data = [r for r in data if str(r.get(column)) == value]
                names = list(dict.fromkeys(k for r in data for k in r))
                project = re.search(r"\|\s*project\s+([\w,\s]+)", query)
                if project:
                    names = [n.strip() for n in project.group(1).split(",") if n.strip()]
                columns = [(n, _kql_type([r.get(n) for r in data])) for n in names]
                rows = [[r.get(n) for n in names] for r in data]
            payload: dict[str, Any] = {"tables": [{
                "name": "PrimaryResult", "columns": [{"name": n, "type": t} for n, t in columns], "rows": rows}]}
            if self.world.partial_error is not None:
                payload["error"] = self.world.partial_error
        return Response(200, payload)


def _find_dim(dims: dict[str, str], name: str) -> str:
    for key, value in dims.items():
        if key.lower() == name.lower():
            return value
    return ""


def _kql_type(values: Iterable[Any]) -> str:
    kinds = {type(v) for v in values if v is not None}
    if kinds <= {int}:
        return "long" if kinds else "string"
    if kinds <= {int, float}:
        return "real"
    if kinds <= {bool}:
        return "bool"
    return "string"


SUB = "00000000-0000-0000-0000-000000000001"


def seed_world(world: MonitorWorld, deployments: int, *, per_endpoint: int = 2, sub: str = SUB,
               slow_every: int = 10) -> list[tuple[str, str]]:
    """`deployments` deployments (per_endpoint per endpoint) with latency, request, CPU, memory and
    capacity metrics; every `slow_every`-th deployment has p95 latency 1500 ms. Returns
    (endpoint id, deployment name) pairs."""
    out = []
    base = f"/subscriptions/{sub}/resourceGroups/rg-bench/providers/Microsoft.MachineLearningServices/workspaces/ws"
    for i in range(deployments):
        ep = f"{base}/onlineEndpoints/ep-{i // per_endpoint:04d}"
        name = f"d{i % per_endpoint}"
        dep = f"{ep}/deployments/{name}"
        slow = slow_every and i % slow_every == 0
        for p, ms in (("P50", 40), ("P90", 80), ("P95", 1500 if slow else 120), ("P99", 2500 if slow else 200)):
            world.set_metric(ep, f"RequestLatency_{p}", ms, {"deployment": name})
        world.set_metric(ep, "RequestsPerMinute", 100, {"deployment": name, "statusCodeClass": "2xx"})
        world.set_metric(ep, "RequestsPerMinute", 1, {"deployment": name, "statusCodeClass": "5xx"})
        world.set_metric(ep, "DataCollectionErrorsPerMinute", 0, {"deployment": name})
        world.set_metric(dep, "CpuUtilizationPercentage", 35)
        world.set_metric(dep, "CpuMemoryUtilizationPercentage", 50)
        world.set_metric(dep, "DeploymentCapacity", 3)
        out.append((ep, name))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the Azure Monitor stand-in")
    parser.add_argument("--deployments", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every request")
    args = parser.parse_args(argv)
    server = MonitorStandin(latency=args.latency)
    seed_world(server.world, args.deployments)
    server.start()
    server.serve_until_interrupted()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

