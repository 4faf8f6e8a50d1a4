"""ARM + Resource Graph stand-in for Azure ML: workspaces, online/batch endpoints and their
deployments, computes, datastores, serverless endpoints, registries and diagnostic settings, with
ARM paging (`nextLink`), PUT/PATCH as long-running operations
(`Azure-AsyncOperation`), Resource Graph queries with `$skipToken` paging and the user-quota
throttling headers, and the cloud metadata document (`/metadata/endpoints`).

Run it standalone for benchmarks (`python -m tests.standins.arm --workspaces 200 ...`); it prints
its URL and the CA file on stdout.
"""

from __future__ import annotations

import argparse
import copy
import itertools
import re
import threading
import time
from collections.abc import Iterable
from typing import Any

from tests.standins.base import Request, Response, StandinServer

__all__ = ["ML", "ArmStandin", "Estate", "arm_id", "seed_estate"]

ML = "Microsoft.MachineLearningServices"
SUB = "00000000-0000-0000-0000-000000000001"
_WS = rf"/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/{re.escape(ML)}/workspaces/(?P<ws>[^/]+)"
_EP_KIND = r"(?P<kind>onlineEndpoints|batchEndpoints)"
_TYPES = {
    "workspaces": f"{ML}/workspaces",
    "onlineendpoints": f"{ML}/workspaces/onlineEndpoints",
    "batchendpoints": f"{ML}/workspaces/batchEndpoints",
    "onlineendpoints/deployments": f"{ML}/workspaces/onlineEndpoints/deployments",
    "batchendpoints/deployments": f"{ML}/workspaces/batchEndpoints/deployments",
    "computes": f"{ML}/workspaces/computes",
    "datastores": f"{ML}/workspaces/datastores",
    "serverlessendpoints": f"{ML}/workspaces/serverlessEndpoints",
    "registries": f"{ML}/registries",
}
_CHILD_KIND = r"(?P<child>computes|datastores|serverlessEndpoints)"
_REGISTRIES = rf"/subscriptions/(?P<sub>[^/]+)(?:/resourceGroups/(?P<rg>[^/]+))?/providers/{re.escape(ML)}/registries"


def arm_id(sub: str, rg: str, ws: str, *children: str) -> str:
    """ARM id of a workspace or of a child (`"onlineEndpoints", "ep", "deployments", "blue"`)."""
    base = f"/subscriptions/{sub}/resourceGroups/{rg}/providers/{ML}/workspaces/{ws}"
    return base + "".join(f"/{c}" for c in children)


def _system_data() -> dict[str, Any]:
    return {
        "createdBy": "alice@contoso.com", "createdByType": "User", "createdAt": "2026-01-05T10:00:00Z",
        "lastModifiedBy": "alice@contoso.com", "lastModifiedByType": "User",
        "lastModifiedAt": "2026-01-05T10:00:00Z",
    }


class Estate:
    """The stand-in's state: ARM JSON objects keyed by lower-cased id, in insertion order."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.objects: dict[str, dict[str, Any]] = {}
        self._children: dict[str, dict[str, None]] = {}  # "parent/segment" -> child keys, in order
        self.forbidden: set[str] = set()  # lower-cased workspace ids that answer 403
        self.diagnostics: dict[str, list[dict[str, Any]]] = {}  # lower-cased resource id -> its diagnostic settings

    def put(self, obj: dict[str, Any]) -> dict[str, Any]:
        key = obj["id"].lower()
        with self._lock:
            self.objects[key] = obj
            self._children.setdefault(key.rsplit("/", 1)[0], {})[key] = None
        return obj

    def get(self, resource_id: str) -> dict[str, Any] | None:
        with self._lock:
            obj = self.objects.get(resource_id.lower())
            return copy.deepcopy(obj) if obj is not None else None

    def delete(self, resource_id: str) -> None:
        prefix = resource_id.lower()
        with self._lock:
            for key in [k for k in self.objects if k == prefix or k.startswith(prefix + "/")]:
                del self.objects[key]
                self._children.get(key.rsplit("/", 1)[0], {}).pop(key, None)

    def children(self, parent_id: str, segment: str) -> list[dict[str, Any]]:
        """Direct children of `parent_id` under `segment` (e.g. onlineEndpoints)."""
        with self._lock:
            keys = list(self._children.get(f"{parent_id.lower()}/{segment.lower()}", {}))
            return [copy.deepcopy(self.objects[k]) for k in keys]

    def all(self, *, copy_objects: bool = True) -> list[dict[str, Any]]:
        with self._lock:
            values = list(self.objects.values())
        return [copy.deepcopy(v) for v in values] if copy_objects else values

    # ---- builders ---------------------------------------------------------------------------
    def add_workspace(self, sub: str, rg: str, name: str, *, public_network_access: str = "Disabled",
                      isolation_mode: str = "AllowOnlyApprovedOutbound", location: str = "westeurope",
                      tags: dict[str, str] | None = None, private_endpoints: int = 1) -> dict[str, Any]:
        wid = arm_id(sub, rg, name)
        pecs = [{
            "id": f"{wid}/privateEndpointConnections/pe-{i}",
            "name": f"pe-{i}",
            "type": f"{ML}/workspaces/privateEndpointConnections",
            "properties": {
                "privateEndpoint": {"id": f"/subscriptions/{sub}/resourceGroups/{rg}/providers/"
                                          f"Microsoft.Network/privateEndpoints/pe-{name}-{i}"},
                "privateLinkServiceConnectionState": {"status": "Approved", "description": "auto"},
                "provisioningState": "Succeeded",
            },
        } for i in range(private_endpoints)]
        return self.put({
            "id": wid, "name": name, "type": _TYPES["workspaces"], "location": location,
            "tags": dict(tags or {"owner": "ml-platform"}), "kind": "Default",
            "identity": {"type": "SystemAssigned", "principalId": "11111111-1111-1111-1111-111111111111",
                         "tenantId": "22222222-2222-2222-2222-222222222222"},
            "sku": {"name": "Basic", "tier": "Basic"},
            "systemData": _system_data(),
            "properties": {
                "friendlyName": name,
                "workspaceId": f"ws-{abs(hash(wid)) % 10**8:08d}",
                "publicNetworkAccess": public_network_access,
                "managedNetwork": {
                    "isolationMode": isolation_mode,
                    "outboundRules": {
                        "pypi": {"type": "FQDN", "destination": "pypi.org", "category": "UserDefined",
                                 "status": "Active"},
                    },
                    "status": {"status": "Active", "sparkReady": False},
                },
                "privateEndpointConnections": pecs,
                "provisioningState": "Succeeded",
                "storageAccount": f"/subscriptions/{sub}/resourceGroups/{rg}/providers/"
                                  f"Microsoft.Storage/storageAccounts/st{name.replace('-', '')[:18]}",
                "discoveryUrl": f"https://{location}.api.azureml.ms/discovery",
                "hbiWorkspace": False,
            },
        })

    def add_compute(self, ws_id: str, name: str, *, compute_type: str = "AmlCompute", node_public_ip: bool = False,
                    subnet: bool = True, disable_local_auth: bool = True, min_nodes: int = 0) -> dict[str, Any]:
        props: dict[str, Any] = {"vmSize": "Standard_DS3_v2", "enableNodePublicIp": node_public_ip}
        if subnet:
            props["subnet"] = {"id": f"{ws_id.split('/providers/')[0]}/providers/Microsoft.Network/virtualNetworks/"
                                     "ml-vnet/subnets/training"}
        if compute_type == "AmlCompute":
            props["scaleSettings"] = {"minNodeCount": min_nodes, "maxNodeCount": 4}
            props["remoteLoginPortPublicAccess"] = "Disabled"
        else:
            props["idleTimeBeforeShutdown"] = "PT60M"
            props["osImageMetadata"] = {"isLatestOsImageVersion": True}
        return self.put({
            "id": f"{ws_id}/computes/{name}", "name": name, "type": _TYPES["computes"], "location": "westeurope",
            "identity": {"type": "SystemAssigned"}, "systemData": _system_data(),
            "properties": {"computeType": compute_type, "disableLocalAuth": disable_local_auth,
                           "provisioningState": "Succeeded", "properties": props},
        })

    def add_registry(self, sub: str, rg: str, name: str, *, public_network_access: str = "Disabled") -> dict[str, Any]:
        return self.put({
            "id": f"/subscriptions/{sub}/resourceGroups/{rg}/providers/{ML}/registries/{name}", "name": name,
            "type": _TYPES["registries"], "location": "westeurope", "tags": {"owner": "ml-platform"},
            "systemData": _system_data(),
            "properties": {"publicNetworkAccess": public_network_access, "regionDetails": [{"location": "westeurope"}],
                           "provisioningState": "Succeeded"},
        })

    def add_online_endpoint(self, ws_id: str, name: str, *, public_network_access: str = "Disabled",
                            auth_mode: str = "AADToken", traffic: dict[str, int] | None = None,
                            tags: dict[str, str] | None = None, kubernetes: bool = False) -> dict[str, Any]:
        eid = f"{ws_id}/onlineEndpoints/{name}"
        props: dict[str, Any] = {
            "authMode": auth_mode, "description": f"endpoint {name}", "properties": {},
            "scoringUri": f"https://{name}.westeurope.inference.ml.azure.com/score",
            "swaggerUri": f"https://{name}.westeurope.inference.ml.azure.com/swagger.json",
            "provisioningState": "Succeeded", "traffic": dict(traffic or {}), "mirrorTraffic": {},
            "publicNetworkAccess": public_network_access,
        }
        if kubernetes:
            props["compute"] = f"{ws_id}/computes/k8s-compute"
        return self.put({
            "id": eid, "name": name, "type": _TYPES["onlineendpoints"], "location": "westeurope",
            "tags": dict(tags or {"owner": "ml-platform"}), "kind": "Kubernetes" if kubernetes else "Managed",
            "identity": {"type": "SystemAssigned", "principalId": "33333333-3333-3333-3333-333333333333",
                         "tenantId": "22222222-2222-2222-2222-222222222222"},
            "systemData": _system_data(), "properties": props,
        })

    def add_online_deployment(self, endpoint_id: str, name: str, *, egress: str = "Disabled",
                              instance_type: str = "Standard_DS3_v2", instance_count: int = 1,
                              tags: dict[str, str] | None = None, traffic: int | None = None) -> dict[str, Any]:
        did = f"{endpoint_id}/deployments/{name}"
        obj = self.put({
            "id": did, "name": name, "type": _TYPES["onlineendpoints/deployments"], "location": "westeurope",
            "tags": dict(tags or {}), "kind": "Managed", "systemData": _system_data(),
            "sku": {"name": "Default", "tier": "Standard", "capacity": instance_count},
            "properties": {
                "endpointComputeType": "Managed", "description": f"deployment {name}", "properties": {},
                "model": f"{endpoint_id.split('/onlineEndpoints/')[0]}/models/m/versions/1",
                "instanceType": instance_type, "appInsightsEnabled": True,
                "egressPublicNetworkAccess": egress,
                "scaleSettings": {"scaleType": "Default"},
                "requestSettings": {"requestTimeout": "PT5S", "maxConcurrentRequestsPerInstance": 1,
                                    "maxQueueWait": "PT0.5S"},
                "livenessProbe": {"initialDelay": "PT10S", "period": "PT10S", "timeout": "PT2S",
                                  "successThreshold": 1, "failureThreshold": 30},
                "readinessProbe": {"initialDelay": "PT10S", "period": "PT10S", "timeout": "PT2S",
                                   "successThreshold": 1, "failureThreshold": 30},
                "provisioningState": "Succeeded",
            },
        })
        if traffic is not None:
            endpoint = self.objects[endpoint_id.lower()]
            endpoint["properties"]["traffic"][name] = traffic
        return obj

    def add_batch_endpoint(self, ws_id: str, name: str, *, default_deployment: str | None = None,
                           tags: dict[str, str] | None = None) -> dict[str, Any]:
        eid = f"{ws_id}/batchEndpoints/{name}"
        return self.put({
            "id": eid, "name": name, "type": _TYPES["batchendpoints"], "location": "westeurope",
            "tags": dict(tags or {"owner": "ml-platform"}), "systemData": _system_data(),
            "identity": {"type": "SystemAssigned"},
            "properties": {
                "authMode": "AADToken", "description": f"batch {name}", "properties": {},
                "scoringUri": f"https://{name}.westeurope.inference.ml.azure.com/jobs",
                "defaults": {"deploymentName": default_deployment} if default_deployment else {},
                "provisioningState": "Succeeded",
            },
        })

    def add_batch_deployment(self, endpoint_id: str, name: str) -> dict[str, Any]:
        did = f"{endpoint_id}/deployments/{name}"
        return self.put({
            "id": did, "name": name, "type": _TYPES["batchendpoints/deployments"], "location": "westeurope",
            "tags": {}, "systemData": _system_data(),
            "properties": {
                "compute": f"{endpoint_id.split('/batchEndpoints/')[0]}/computes/cpu-cluster",
                "model": {"referenceType": "Id",
                          "assetId": f"{endpoint_id.split('/batchEndpoints/')[0]}/models/m/versions/1"},
                "description": f"batch deployment {name}", "properties": {},
                "errorThreshold": -1, "loggingLevel": "Info", "maxConcurrencyPerInstance": 1,
                "miniBatchSize": 10, "outputAction": "AppendRow", "outputFileName": "predictions.csv",
                "resources": {"instanceCount": 1}, "retrySettings": {"maxRetries": 3, "timeout": "PT30S"},
                "provisioningState": "Succeeded",
            },
        })


def seed_estate(estate: Estate | None = None, *, subscriptions: Iterable[str] = (SUB,),
                resource_group: str = "rg-ml", workspaces: int = 2, online_endpoints: int = 2,
                deployments: int = 1, batch_endpoints: int = 1, noncompliant_every: int = 2) -> Estate:
    """Fill an estate: every `noncompliant_every`-th endpoint is public with key auth and its
    deployments have public egress; every workspace alternates public access likewise."""
    estate = estate or Estate()
    for sub in subscriptions:
        for w in range(workspaces):
            bad_ws = noncompliant_every and w % noncompliant_every == 1
            ws = estate.add_workspace(sub, resource_group, f"ws-{w:03d}",
                                      public_network_access="Enabled" if bad_ws else "Disabled",
                                      isolation_mode="Disabled" if bad_ws else "AllowOnlyApprovedOutbound")
            for e in range(online_endpoints):
                bad = noncompliant_every and e % noncompliant_every == 1
                ep = estate.add_online_endpoint(ws["id"], f"ep-{w:03d}-{e:02d}",
                                                public_network_access="Enabled" if bad else "Disabled",
                                                auth_mode="Key" if bad else "AADToken")
                for d in range(deployments):
                    estate.add_online_deployment(ep["id"], f"dep{d}", egress="Enabled" if bad else "Disabled",
                                                 traffic=100 if d == 0 else 0)
            for b in range(batch_endpoints):
                bep = estate.add_batch_endpoint(ws["id"], f"bep-{w:03d}-{b:02d}", default_deployment="main")
                estate.add_batch_deployment(bep["id"], "main")
    return estate


def _error(status: int, code: str, message: str) -> Response:
    return Response(status, {"error": {"code": code, "message": message}})


def _not_found(path: str) -> Response:
    return _error(404, "ResourceNotFound", f"The Resource '{path}' was not found.")


class ArmStandin(StandinServer):
    """ARM for Azure ML plus Resource Graph over HTTPS on loopback.

    `page_size` sets ARM list pages (nextLink); `rg_page_size` Resource Graph pages
    ($skipToken); `rg_quota` / `rg_quota_window` emulate the per-user quota (the
    `x-ms-user-quota-*` headers, 429 once exhausted).
    """

    def __init__(self, estate: Estate | None = None, *, page_size: int = 100, rg_page_size: int = 1000,
                 rg_quota: int = 15, rg_quota_window: float = 5.0, latency: float = 0.0) -> None:
        super().__init__(latency=latency)
        self.estate = estate if estate is not None else Estate()
        self.page_size = page_size
        self.rg_page_size = rg_page_size
        self.rg_quota = rg_quota
        self.rg_quota_window = rg_quota_window
        self._rg_window_start = time.monotonic()
        self._rg_used = 0
        self._ops: dict[str, str] = {}  # async operation id -> resource id
        self._rg_cache: dict[Any, list[dict[str, Any]]] = {}  # the last query's rows, for its pages
        self._op_ids = itertools.count(1)
        self._op_lock = threading.Lock()
        self._routes_for_arm()

    # ---- routes -----------------------------------------------------------------------------
    def _routes_for_arm(self) -> None:
        a = self.add_route
        a("GET", r"/metadata/endpoints", self._metadata)
        a("POST", r"/providers/Microsoft\.ResourceGraph/resources", self._resource_graph)
        a("GET", rf"/subscriptions/(?P<sub>[^/]+)/providers/{re.escape(ML)}/workspaces", self._list_workspaces)
        a("GET", rf"/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/{re.escape(ML)}/workspaces",
          self._list_workspaces)
        a("GET", _WS, self._get_workspace)
        a("GET", _WS + "/" + _EP_KIND, self._list_children)
        a("GET", _WS + "/" + _EP_KIND + r"/(?P<ep>[^/]+)", self._get)
        a("PUT", _WS + "/" + _EP_KIND + r"/(?P<ep>[^/]+)", self._put)
        a("PATCH", _WS + "/" + _EP_KIND + r"/(?P<ep>[^/]+)", self._patch)
        a("GET", _WS + "/" + _EP_KIND + r"/(?P<ep>[^/]+)/deployments", self._list_children)
        a("GET", _WS + "/" + _EP_KIND + r"/(?P<ep>[^/]+)/deployments/(?P<dep>[^/]+)", self._get)
        a("PUT", _WS + "/" + _EP_KIND + r"/(?P<ep>[^/]+)/deployments/(?P<dep>[^/]+)", self._put)
        a("PATCH", _WS + "/" + _EP_KIND + r"/(?P<ep>[^/]+)/deployments/(?P<dep>[^/]+)", self._patch)
        a("GET", _WS + "/" + _CHILD_KIND, self._list_children)
        a("GET", _WS + "/" + _CHILD_KIND + r"/(?P<name>[^/]+)", self._get)
        a("PUT", _WS + "/" + _CHILD_KIND + r"/(?P<name>[^/]+)", self._replace)
        a("GET", _REGISTRIES, self._list_registries)
        a("GET", _REGISTRIES + r"/(?P<name>[^/]+)", self._get)
        a("PUT", _REGISTRIES + r"/(?P<name>[^/]+)", self._replace)
        a("GET", r"(?P<rid>/subscriptions/.+)/providers/Microsoft\.Insights/diagnosticSettings",
          self._diagnostic_settings)
        tags = r"(?P<rid>/subscriptions/.+)/providers/Microsoft\.Resources/tags/default"
        a("GET", tags, self._get_tags)
        a("PATCH", tags, self._patch_tags)
        a("GET", rf"/subscriptions/(?P<sub>[^/]+)/providers/{re.escape(ML)}/locations/(?P<loc>[^/]+)"
                 r"/mfeOperationsStatus/(?P<op>[^/]+)", self._operation_status)

    def _forbidden(self, path: str) -> Response | None:
        low = path.lower()
        for ws in self.estate.forbidden:
            if low == ws or low.startswith(ws + "/"):
                return _error(403, "AuthorizationFailed",
                              "The client 'amlguard' does not have authorization to perform action "
                              f"'{ML}/workspaces/read' over scope '{path}'.")
        return None

    def _metadata(self, request: Request, _m: re.Match[str]) -> Response:
        base = request.base_url + "/"
        return Response(200, [{
            "name": "AmlguardStandin", "portal": "https://portal.standin.azure.example/",
            "resourceManager": base, "authentication": {
                "loginEndpoint": "https://login.standin.example/", "audiences": [base], "tenant": "common",
                "identityProvider": "AAD"},
            "suffixes": {"storage": "core.standin.example", "keyVaultDns": "vault.standin.example"},
        }])

    def _page(self, request: Request, items: list[dict[str, Any]]) -> Response:
        start = int(request.query.get("$skiptoken") or request.query.get("$skipToken") or 0)
        page = items[start:start + self.page_size]
        body: dict[str, Any] = {"value": page}
        if start + self.page_size < len(items):
            api = request.query.get("api-version", "")
            body["nextLink"] = (f"{request.base_url}{request.path}?api-version={api}"
                                f"&$skiptoken={start + self.page_size}")
        return Response(200, body)

    def _list_workspaces(self, request: Request, m: re.Match[str]) -> Response:
        sub = m.group("sub").lower()
        rg = (m.groupdict().get("rg") or "").lower()
        items = [copy.deepcopy(o) for o in self.estate.all(copy_objects=False)
                 if o["type"].lower() == _TYPES["workspaces"].lower()
                 and o["id"].lower().startswith(f"/subscriptions/{sub}/")
                 and (not rg or f"/resourcegroups/{rg}/" in o["id"].lower())]
        return self._page(request, items)

    def _get_workspace(self, request: Request, _m: re.Match[str]) -> Response:
        denied = self._forbidden(request.path)
        if denied:
            return denied
        obj = self.estate.get(request.path)
        return Response(200, obj) if obj else _not_found(request.path)

    def _list_children(self, request: Request, _m: re.Match[str]) -> Response:
        denied = self._forbidden(request.path)
        if denied:
            return denied
        parent, segment = request.path.rsplit("/", 1)
        if self.estate.get(parent) is None:
            return _not_found(parent)
        return self._page(request, self.estate.children(parent, segment))

    def _get(self, request: Request, _m: re.Match[str]) -> Response:
        denied = self._forbidden(request.path)
        if denied:
            return denied
        obj = self.estate.get(request.path)
        return Response(200, obj) if obj else _not_found(request.path)

    def _list_registries(self, request: Request, m: re.Match[str]) -> Response:
        sub, rg = m.group("sub").lower(), (m.group("rg") or "").lower()
        items = [copy.deepcopy(o) for o in self.estate.all(copy_objects=False)
                 if o["type"].lower() == _TYPES["registries"].lower()
                 and o["id"].lower().startswith(f"/subscriptions/{sub}/")
                 and (not rg or f"/resourcegroups/{rg}/" in o["id"].lower())]
        return self._page(request, items)

    def _replace(self, request: Request, _m: re.Match[str]) -> Response:
        """PUT of a compute, datastore, serverless endpoint or registry: the body replaces it (sync)."""
        existing = self.estate.get(request.path)
        if existing is None:
            return _not_found(request.path)
        incoming = request.json() or {}
        obj = {**existing, **{k: v for k, v in incoming.items() if k not in ("id", "name", "type")}}
        self.estate.put(obj)
        return Response(200, obj)

    def _diagnostic_settings(self, _request: Request, m: re.Match[str]) -> Response:
        rid = m.group("rid")
        if self.estate.get(rid) is None:
            return _not_found(rid)
        return Response(200, {"value": copy.deepcopy(self.estate.diagnostics.get(rid.lower(), []))})

    def _accepted(self, request: Request, m: re.Match[str], obj: dict[str, Any]) -> Response:
        with self._op_lock:
            op = f"op-{next(self._op_ids)}"
            self._ops[op] = obj["id"]
        status_url = (f"{request.base_url}/subscriptions/{m.group('sub')}/providers/{ML}/locations/"
                      f"{obj.get('location', 'westeurope')}/mfeOperationsStatus/{op}"
                      f"?api-version={request.query.get('api-version', '')}")
        body = copy.deepcopy(obj)
        body["properties"]["provisioningState"] = "Updating"
        return Response(201, body, {"Azure-AsyncOperation": status_url})

    def _put(self, request: Request, m: re.Match[str]) -> Response:
        denied = self._forbidden(request.path)
        if denied:
            return denied
        incoming = request.json() or {}
        existing = self.estate.get(request.path)
        if (existing is None and m.groupdict().get("dep")
                and self.estate.get(request.path.rsplit("/deployments/", 1)[0]) is None):
            return _not_found(request.path)
        obj = existing or {"id": request.path, "name": m.group("dep") or m.group("ep"),
                           "type": self._type_of(m), "systemData": _system_data()}
        for key in ("location", "tags", "kind", "identity", "sku"):
            if key in incoming:
                obj[key] = incoming[key]
        props = dict(incoming.get("properties") or {})
        # read-only and write-only fields: the service keeps its own, never echoes keys
        props.pop("keys", None)
        for ro in ("scoringUri", "swaggerUri", "provisioningState"):
            if existing and ro in existing.get("properties", {}):
                props[ro] = existing["properties"][ro]
        props["provisioningState"] = "Succeeded"
        obj["properties"] = props
        obj["systemData"] = {**obj.get("systemData", {}), "lastModifiedBy": "amlguard",
                             "lastModifiedByType": "Application"}
        self.estate.put(obj)
        return self._accepted(request, m, obj)

    def _patch(self, request: Request, m: re.Match[str]) -> Response:
        denied = self._forbidden(request.path)
        if denied:
            return denied
        obj = self.estate.get(request.path)
        if obj is None:
            return _not_found(request.path)
        incoming = request.json() or {}
        if "tags" in incoming:
            obj["tags"] = incoming["tags"]
        for key, value in (incoming.get("properties") or {}).items():
            if key != "keys":
                obj["properties"][key] = value
        if "sku" in incoming:
            obj["sku"] = {**obj.get("sku", {}), **incoming["sku"]}
        self.estate.put(obj)
        return self._accepted(request, m, obj)

    def _tags_body(self, obj: dict[str, Any]) -> dict[str, Any]:
        return {"id": f"{obj['id']}/providers/Microsoft.Resources/tags/default", "name": "default",
                "type": "Microsoft.Resources/tags", "properties": {"tags": dict(obj.get("tags") or {})}}

    def _get_tags(self, _request: Request, m: re.Match[str]) -> Response:
        denied = self._forbidden(m.group("rid"))
        if denied:
            return denied
        obj = self.estate.get(m.group("rid"))
        return Response(200, self._tags_body(obj)) if obj else _not_found(m.group("rid"))

    def _patch_tags(self, request: Request, m: re.Match[str]) -> Response:
        """The Tags API (Microsoft.Resources/tags/default): Merge, Replace or Delete."""
        denied = self._forbidden(m.group("rid"))
        if denied:
            return denied
        obj = self.estate.get(m.group("rid"))
        if obj is None:
            return _not_found(m.group("rid"))
        body = request.json() or {}
        operation = str(body.get("operation") or "").lower()
        tags = dict((body.get("properties") or {}).get("tags") or {})
        current = dict(obj.get("tags") or {})
        if operation == "merge":
            current.update(tags)
        elif operation == "replace":
            current = tags
        elif operation == "delete":
            current = {k: v for k, v in current.items() if k not in tags}
        else:
            return _error(400, "InvalidTagOperation", f"operation {operation!r} is not Merge, Replace or Delete")
        obj["tags"] = current
        self.estate.put(obj)
        return Response(200, self._tags_body(obj))

    def _operation_status(self, _request: Request, m: re.Match[str]) -> Response:
        with self._op_lock:
            rid = self._ops.get(m.group("op"))
        if rid is None:
            return _not_found(m.group(0))
        return Response(200, {"id": m.group(0), "name": m.group("op"), "status": "Succeeded"})

    @staticmethod
    def _type_of(m: re.Match[str]) -> str:
        kind = m.group("kind").lower()
        return _TYPES[f"{kind}/deployments" if m.groupdict().get("dep") else kind]

    # ---- Resource Graph ---------------------------------------------------------------------
    def _rg_headers(self, remaining: int) -> dict[str, str]:
        resets = max(0.0, self.rg_quota_window - (time.monotonic() - self._rg_window_start))
        hh, rem = divmod(resets, 3600)
        mm, ss = divmod(rem, 60)
        return {"x-ms-user-quota-remaining": str(max(remaining, 0)),
                "x-ms-user-quota-resets-after": f"{int(hh):02d}:{int(mm):02d}:{ss:06.3f}"}

    def _resource_graph(self, request: Request, _m: re.Match[str]) -> Response:
        with self._op_lock:
            now = time.monotonic()
            if now - self._rg_window_start >= self.rg_quota_window:
                self._rg_window_start, self._rg_used = now, 0
            self._rg_used += 1
            remaining = self.rg_quota - self._rg_used
            headers = self._rg_headers(remaining)
        if remaining < 0:
            return Response(429, {"error": {"code": "RateLimiting", "message": "quota exceeded"}}, headers)
        body = request.json() or {}
        query = str(body.get("query") or "")
        subs = {s.lower() for s in body.get("subscriptions") or []}
        options = body.get("options") or {}
        key = (query, tuple(sorted(subs)), len(self.estate.objects))
        with self._op_lock:
            matched = self._rg_cache.get(key)
        if matched is None or options.get("$skipToken") is None:  # a new query reads fresh state
            matched = [o for o in self.estate.all(copy_objects=False) if self._rg_match(o, query, subs)]
            matched.sort(key=lambda o: o["id"].lower())
            with self._op_lock:
                self._rg_cache = {key: matched}
        top = min(int(options.get("$top") or self.rg_page_size), self.rg_page_size)
        start = int(options.get("$skipToken") or 0) + int(options.get("$skip") or 0)
        page = [self._rg_row(o) for o in matched[start:start + top]]
        out: dict[str, Any] = {"totalRecords": len(matched), "count": len(page), "resultTruncated": "false",
                               "data": page, "facets": []}
        if start + top < len(matched):
            out["$skipToken"] = str(start + top)
        return Response(200, out, headers)

    @staticmethod
    def _rg_row(obj: dict[str, Any]) -> dict[str, Any]:
        parts = obj["id"].split("/")
        row = {k: obj.get(k) for k in ("id", "name", "type", "location", "tags", "kind", "identity", "sku",
                                       "properties")}
        row["type"] = obj["type"].lower()  # Resource Graph lower-cases types
        row["subscriptionId"] = parts[2]
        row["resourceGroup"] = parts[4].lower()
        row["properties"] = copy.deepcopy(obj.get("properties") or {})
        return row

    @staticmethod
    def _rg_match(obj: dict[str, Any], query: str, subs: set[str]) -> bool:
        """A tiny reading of the KQL amlguard sends: type list, resourceGroup and id filters."""
        rid = obj["id"].lower()
        if subs and rid.split("/")[2] not in subs:
            return False
        types = re.search(r"type\s+in~\s*\(([^)]*)\)", query, re.IGNORECASE)
        if types:
            wanted = {t.strip().strip("'\"").lower() for t in types.group(1).split(",")}
            if obj["type"].lower() not in wanted:
                return False
        rg = re.search(r"resourceGroup\s*=~\s*'([^']*)'", query, re.IGNORECASE)
        if rg and f"/resourcegroups/{rg.group(1).lower()}/" not in rid:
            return False
        for line in query.splitlines():
            clause = line.strip()
            both = re.fullmatch(r"\|\s*where\s+id\s+(=~|endswith)\s+'([^']*)'\s+or\s+id\s+(startswith|contains)"
                                r"\s+'([^']*)'", clause, re.IGNORECASE)
            if both:
                a, b = both.group(2).lower(), both.group(4).lower()
                first = rid == a if both.group(1) == "=~" else rid.endswith(a)
                second = rid.startswith(b) if both.group(3).lower() == "startswith" else b in rid
                if not (first or second):
                    return False
                continue
            one = re.fullmatch(r"\|\s*where\s+id\s*=~\s*'([^']*)'", clause, re.IGNORECASE)
            if one and rid != one.group(1).lower():
                return False
        return True


def main(argv: list[str] | None = None) -> int:
    """Serve a seeded estate until interrupted; prints `URL CAFILE` on one line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--workspaces", type=int, default=2)
    parser.add_argument("--online-endpoints", type=int, default=2)
    parser.add_argument("--deployments", type=int, default=1)
    parser.add_argument("--batch-endpoints", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every ARM call")
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--rg-quota", type=int, default=1000)
    args = parser.parse_args(argv)
    estate = seed_estate(workspaces=args.workspaces, online_endpoints=args.online_endpoints,
                         deployments=args.deployments, batch_endpoints=args.batch_endpoints)
    server = ArmStandin(estate, page_size=args.page_size, rg_quota=args.rg_quota, latency=args.latency)
    server.start(args.port)
    server.serve_until_interrupted()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
