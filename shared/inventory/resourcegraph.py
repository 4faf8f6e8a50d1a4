"""Inventory through Azure Resource Graph: one paged query for every workspace, endpoint and
deployment, paced by the quota headers (docs/live.md); single resources read fresh through `fallback`."""

from __future__ import annotations

import builtins
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from amlguard.armid import ArmId
from amlguard.errors import ConfigError, SourceError
from amlguard.inventory.armclients import ArmClients, describe_failure
from amlguard.inventory.base import InventoryError, InventoryResult, Scope
from amlguard.inventory.kinds import link_workspaces
from amlguard.inventory.live import LiveInventory, arm_to_resource, attach_diagnostic_settings
from amlguard.inventory.options import ClientOptions
from amlguard.inventory.recognize import ARM_TYPES
from amlguard.model import Kind, Resource
from amlguard.timeparse import seconds_or_none

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

__all__ = ["AML_TYPES", "QueryStats", "ResourceGraphInventory", "build_query", "parse_resets_after"]

log = logging.getLogger(__name__)

# kind -> type: the Azure ML types asked for in the one query. Resource Graph's table reference
# (learn.microsoft.com/azure/governance/resource-graph/reference/supported-tables-resources, the
# `resources` table) lists registries, workspaces, online and batch endpoints and deployments and
# workspaces/serverlessendpoints. It lists neither workspaces/datastores nor environment versions,
# so those stay out (only the per-workspace sweep reads datastores). It does not list
# workspaces/computes either, but that page says it is no longer kept up to date: computes stay in
# the same query, where they cost no extra call if Resource Graph returns them.
AML_TYPES: dict[str, str] = {kind: arm_type for arm_type, kind in ARM_TYPES.items()
                             if kind not in (Kind.DATASTORE, Kind.ENVIRONMENT)}
PAGE_SIZE = 1000  # Resource Graph's maximum $top
MAX_SUBSCRIPTIONS = 1000  # subscriptions per request the API accepts
_SAFE = re.compile(r"^[A-Za-z0-9_.()\-/]+$")  # ARM names and ids; nothing that could close a KQL string


def _literal(value: str, what: str) -> str:
    if not _SAFE.match(value):
        raise ConfigError(f"{what} {value!r} has characters an Azure resource name cannot have")
    return f"'{value}'"


def build_query(scope: Scope, kinds: tuple[str, ...] = tuple(AML_TYPES), *, resource_id: str | None = None) -> str:
    """The KQL amlguard sends: the Azure ML types, narrowed by resource group, workspace or id."""
    types = ", ".join(f"'{AML_TYPES[k]}'" for k in kinds)
    lines = ["resources", f"| where type in~ ({types})"]
    if resource_id:
        lines.append(f"| where id =~ {_literal(resource_id, 'resource id')}")
    else:
        if scope.resource_group:
            lines.append(f"| where resourceGroup =~ {_literal(scope.resource_group, 'resource group')}")
        if scope.workspace:
            name = _literal(scope.workspace, "workspace")[1:-1]
            # the workspace and everything below it, whatever its resource group
            ws = f"/providers/microsoft.machinelearningservices/workspaces/{name}"
            if scope.resource_group and len(scope.subscriptions) == 1:
                ws_id = f"/subscriptions/{scope.subscriptions[0]}/resourcegroups/{scope.resource_group}{ws}"
                lines.append(f"| where id =~ '{ws_id}' or id startswith '{ws_id}/'")
            else:
                lines.append(f"| where id endswith '{ws}' or id contains '{ws}/'")
    lines.append("| project id, name, type, location, tags, kind, identity, sku, properties, "
                 "subscriptionId, resourceGroup")
    lines.append("| order by id asc")
    return "\n".join(lines)


def parse_resets_after(value: str | None) -> float:
    """Seconds from `x-ms-user-quota-resets-after` (a TimeSpan, `hh:mm:ss`); 0 if absent or unreadable."""
    return max(seconds_or_none(value, "wire") or 0.0, 0.0)


@dataclass(slots=True)
class QueryStats:
    """What the last queries cost: calls, rows, seconds spent waiting for quota."""

    calls: int = 0
    rows: int = 0
    throttle_waits: int = 0
    waited_seconds: float = 0.0


class ResourceGraphInventory:
    """The Inventory protocol over Resource Graph; `get` reads ARM through `fallback` (fresh)
    when given one, else queries Resource Graph by id. `progress`, when set, is told the rows
    read after each page (`amlguard audit` shows it on a terminal)."""

    progress: Callable[[str], None] | None = None

    def __init__(self, credential: TokenCredential | None = None, *, scope: Scope | None = None,
                 options: ClientOptions | None = None, clients: ArmClients | None = None,
                 fallback: LiveInventory | None = None, page_size: int = PAGE_SIZE,
                 quota_floor: int = 1) -> None:
        if clients is None:
            if fallback is not None:
                clients = fallback.clients
            elif credential is None:
                raise ConfigError("ResourceGraphInventory needs a credential or an ArmClients")
            else:
                clients = ArmClients(credential, options)
        self.clients = clients
        self.options = clients.options
        self.scope = scope or Scope()
        self.fallback = fallback
        self.page_size = max(1, min(page_size, PAGE_SIZE))
        self.quota_floor = quota_floor  # wait for the reset when fewer calls than this remain
        self.stats = QueryStats()
        self._client: Any = None
        self._lock = threading.Lock()
        self._not_before = 0.0  # monotonic time before which the quota says not to call

    def _graph(self) -> Any:
        with self._lock:
            if self._client is None:
                from azure.mgmt.resourcegraph import ResourceGraphClient

                self._client = ResourceGraphClient(self.clients.credential, **self.clients.arm_kwargs())
            return self._client

    # -- querying ---------------------------------------------------------------------------
    def _pace(self, headers: Any) -> None:
        remaining = headers.get("x-ms-user-quota-remaining")
        try:
            left = int(remaining) if remaining is not None else None
        except ValueError:
            left = None
        if left is not None and left < self.quota_floor:
            wait = parse_resets_after(headers.get("x-ms-user-quota-resets-after"))
            self._not_before = max(self._not_before, time.monotonic() + wait)

    def _wait_for_quota(self) -> None:
        delay = self._not_before - time.monotonic()
        if delay > 0:
            log.info("Resource Graph quota used up; waiting %.2fs for it to reset", delay)
            self.stats.throttle_waits += 1
            self.stats.waited_seconds += delay
            time.sleep(delay)

    def rows(self, query: str, subscriptions: tuple[str, ...]) -> Iterator[dict[str, Any]]:
        """Every row of `query` over `subscriptions`, page by page ($skipToken)."""
        from azure.mgmt.resourcegraph.models import QueryRequest, QueryRequestOptions

        client = self._graph()
        for start in range(0, max(len(subscriptions), 1), MAX_SUBSCRIPTIONS):
            chunk = list(subscriptions[start:start + MAX_SUBSCRIPTIONS])
            skip_token: str | None = None
            while True:
                self._wait_for_quota()
                request = QueryRequest(subscriptions=chunk, query=query, options=QueryRequestOptions(
                    top=self.page_size, skip_token=skip_token, result_format="objectArray"))
                response, headers = client.resources(
                    request, cls=lambda pipeline, body, _h: (body, pipeline.http_response.headers))
                self.stats.calls += 1
                self._pace(headers)
                data = response.data if isinstance(response.data, list) else []
                self.stats.rows += len(data)
                if self.progress is not None:
                    self.progress(f"Resource Graph: {self.stats.rows} resources read in {self.stats.calls} pages")
                yield from (row for row in data if isinstance(row, dict))
                if str(response.result_truncated).lower() == "true":
                    raise SourceError("Resource Graph truncated the result; narrow the scope (resource group) "
                                      "or let amlguard page it (the query must be ordered)",
                                      source="resource-graph", retryable=False)
                skip_token = response.skip_token
                if not skip_token:
                    break

    def _query(self, scope: Scope, kinds: tuple[str, ...], convert: Callable[[dict[str, Any]], Any],
               ) -> tuple[builtins.list[Any], builtins.list[InventoryError]]:
        if not scope.subscriptions:
            raise ConfigError("no Azure subscription to audit: pass --subscription or set AZURE_SUBSCRIPTION_ID")
        out: list[Any] = []
        errors: list[InventoryError] = []
        try:
            for row in self.rows(build_query(scope, kinds), tuple(scope.subscriptions)):
                item = convert(row)
                if item is not None:
                    out.append(item)
        except ConfigError:
            raise
        except Exception as exc:
            message, retryable = describe_failure(exc, action="querying Resource Graph over",
                                                  what=", ".join(scope.subscriptions), options=self.options)
            errors = [InventoryError(resource=f"/subscriptions/{sub}", message=message, retryable=retryable)
                      for sub in scope.subscriptions]
        return out, errors

    # -- protocol ---------------------------------------------------------------------------
    def list(self, scope: Scope | None = None) -> InventoryResult:
        """Every workspace, endpoint, deployment, compute, serverless endpoint and registry in scope;
        a failed query is an error per subscription (resources already read are kept)."""
        resources, errors = self._query(scope or self.scope, tuple(AML_TYPES), arm_to_resource)
        resources.sort(key=lambda r: r.id.lower())
        link_workspaces(resources)
        if self.options.diagnostic_settings:  # not in Resource Graph: one ARM call per workspace / endpoint
            attach_diagnostic_settings(self.clients, resources, self.options.concurrency)
        return InventoryResult(resources=resources, errors=errors)

    def workspaces(self, scope: Scope | None = None) -> builtins.list[str]:
        ids, errors = self._query(scope or self.scope, (Kind.WORKSPACE.value,),
                                  lambda row: str(row.get("id") or "") or None)
        if errors and not ids:
            raise SourceError(errors[0].message, source="resource-graph", resource=errors[0].resource,
                              retryable=errors[0].retryable)
        return sorted(ids, key=str.lower)

    def get(self, resource_id: str) -> Resource | None:
        """Fresh from ARM through the fallback when there is one, else from Resource Graph."""
        if self.fallback is not None:
            return self.fallback.get(resource_id)
        parsed = ArmId.parse(resource_id)
        if parsed is None or parsed.kind not in AML_TYPES:
            raise SourceError(f"{resource_id} is not the id of an Azure ML resource Resource Graph holds (workspace, "
                              "endpoint, deployment, compute, serverless endpoint, registry)", resource=resource_id)
        try:
            rows = list(self.rows(build_query(Scope(), (parsed.kind,), resource_id=parsed.text),
                                  (parsed.subscription,)))
        except Exception as exc:
            message, retryable = describe_failure(exc, action="querying Resource Graph for", what=resource_id,
                                                  options=self.options)
            raise SourceError(message, source="resource-graph", resource=resource_id, retryable=retryable) from exc
        return arm_to_resource(rows[0]) if rows else None
