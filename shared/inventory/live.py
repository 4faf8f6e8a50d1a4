"""The live inventory walk: every workspace and what it holds read through azure-ai-ml's MLClient, many at
once, every failure reported as data (docs/live.md); the clients and raw ARM reads are in armclients.py."""

from __future__ import annotations

import builtins
import logging
import queue
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from amlguard.armid import ML_PROVIDER, ArmId, scope_prefix
from amlguard.errors import ConfigError, SourceError
from amlguard.inventory.arm import resource_from_arm
from amlguard.inventory.armclients import ML_API_VERSION, ArmClients, describe_failure, is_not_found, raw_get, raw_pages
from amlguard.inventory.base import InventoryError, InventoryResult, Scope
from amlguard.inventory.kinds import diagnostic_settings, link_workspaces
from amlguard.inventory.normalize import WorkspaceContext, resource_from_yaml
from amlguard.inventory.options import ClientOptions
from amlguard.model import Kind, Resource

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

# ArmClients, describe_failure and is_not_found live in armclients.py; they are re-exported here,
# where remediation and the benchmarks have always imported them from.
__all__ = ["ArmClients", "LiveInventory", "WorkspaceReader", "attach_diagnostic_settings", "describe_failure",
           "is_not_found"]

log = logging.getLogger(__name__)


# ---- conversion -----------------------------------------------------------------------------
def _finish(resource: Resource, resource_id: str) -> Resource:
    resource.origin = "live"
    resource.live = True
    parsed = ArmId.parse(resource_id)
    if parsed is None:
        return resource
    resource.subscription_id = resource.subscription_id or parsed.subscription
    resource.resource_group = resource.resource_group or parsed.resource_group
    resource.workspace = resource.workspace or parsed.workspace
    if parsed.endpoint and resource.kind in (Kind.ONLINE_DEPLOYMENT.value, Kind.BATCH_DEPLOYMENT.value):
        resource.endpoint_name = resource.endpoint_name or parsed.endpoint
    return resource


def entity_to_resource(entity: Any, kind: str) -> Resource | None:
    """An azure-ai-ml entity read from the service as a normalised live Resource."""
    doc = entity._to_dict()  # the CLI v2 YAML shape (snake_case), what `az ml ... show` prints
    resource_id = str(getattr(entity, "id", None) or doc.get("id") or "")
    doc.setdefault("id", resource_id)
    parsed = ArmId.parse(resource_id)
    context = WorkspaceContext(parsed.subscription, parsed.resource_group, parsed.workspace) if parsed else None
    resource = resource_from_yaml(doc, source=None, context=context, origin="live", kind=kind)
    if resource is None:
        log.debug("azure-ai-ml returned a %s that is not an Azure ML resource: %s", kind, resource_id)
        return None
    return _finish(resource, resource.id or resource_id)


def arm_to_resource(obj: dict[str, Any]) -> Resource | None:
    """ARM JSON (REST or Resource Graph row) as a normalised live Resource."""
    resource = resource_from_arm(obj, source=None, origin="live")
    return _finish(resource, resource.id) if resource is not None else None


# MLClient's operation groups keep the generated REST operations they call; listing through
# them returns the ARM JSON itself. That keeps private endpoint connections and system data,
# gives the same Resource as Resource Graph, and skips the entity round trip, whose marshmallow
# `_to_dict()` costs ~5 ms of CPU per object (half the sweep's CPU at 10,000 resources). The REST
# operations take resource group and workspace per call, so one MLClient per subscription serves
# every workspace (building ~20 service clients per workspace cost seconds at 200 workspaces).
# The public entity API of a per-workspace MLClient is the fallback when an SDK version lays its
# operations out differently.
_REST_OPS: dict[str, tuple[str, str]] = {
    Kind.WORKSPACE.value: ("workspaces", "_operation"),
    Kind.ONLINE_ENDPOINT.value: ("online_endpoints", "_online_operation"),
    Kind.ONLINE_DEPLOYMENT.value: ("online_deployments", "_online_deployment"),
    Kind.BATCH_ENDPOINT.value: ("batch_endpoints", "_batch_operation"),
    Kind.BATCH_DEPLOYMENT.value: ("batch_deployments", "_batch_deployment"),
}


# The workspace's other resources, read through the workspace operation's pipeline at ML_API_VERSION.
_CHILDREN = {Kind.COMPUTE.value: "computes", Kind.DATASTORE.value: "datastores",
             Kind.SERVERLESS_ENDPOINT.value: "serverlessEndpoints"}
_ENTITY_OPS = {Kind.COMPUTE.value: "compute", Kind.DATASTORE.value: "datastores",
               Kind.SERVERLESS_ENDPOINT.value: "serverless_endpoints"}
DIAGNOSTIC_SETTINGS_API = "2021-05-01-preview"  # Microsoft.Insights/diagnosticSettings

_SEGMENTS = {
    Kind.ONLINE_ENDPOINT.value: "onlineEndpoints",
    Kind.ONLINE_DEPLOYMENT.value: "onlineEndpoints/{endpoint}/deployments",
    Kind.BATCH_ENDPOINT.value: "batchEndpoints",
    Kind.BATCH_DEPLOYMENT.value: "batchEndpoints/{endpoint}/deployments",
}


@dataclass(frozen=True, slots=True)
class WorkspaceReader:
    """Reads one workspace's resources through the subscription's MLClient."""

    clients: ArmClients
    subscription: str
    resource_group: str
    workspace: str

    def _rest(self, kind: str) -> Any:
        public, private = _REST_OPS[kind]
        rest = getattr(getattr(self.clients.ml_client(self.subscription), public), private, None)
        return rest if rest is not None and hasattr(rest, "get") else None

    def _entity_ops(self, kind: str) -> Any:
        ml = self.clients.ml_client(self.subscription, self.resource_group, self.workspace)
        return getattr(ml, _REST_OPS[kind][0])

    @property
    def _path(self) -> str:
        return str(ArmId.build(self.subscription, self.resource_group, self.workspace))

    def workspace_resource(self) -> Resource | None:
        """The workspace as full ARM JSON (managed network, private endpoint connections)."""
        rest = self._rest(Kind.WORKSPACE.value)
        if rest is not None:
            return arm_to_resource(raw_get(rest, self._path, api_version=rest._config.api_version))
        return entity_to_resource(self._entity_ops(Kind.WORKSPACE.value).get(self.workspace), Kind.WORKSPACE.value)

    def list(self, kind: str, endpoint: str | None = None) -> list[Resource]:
        """Every endpoint (or every deployment of `endpoint`) of `kind`, following ARM paging
        (`nextLink`) through the REST operation's pipeline."""
        rest = self._rest(kind)
        if rest is not None and hasattr(rest, "list"):
            segment = _SEGMENTS[kind].format(endpoint=endpoint)
            found = (arm_to_resource(item) for item in raw_pages(rest, f"{self._path}/{segment}"))
        else:
            ops = self._entity_ops(kind)
            found = (entity_to_resource(e, kind) for e in (ops.list(endpoint) if endpoint else ops.list()))
        return [r for r in found if r is not None]

    def children(self, kind: str) -> builtins.list[Resource]:
        """The workspace's computes, datastores or serverless endpoints (ARM paging followed)."""
        rest = self._rest(Kind.WORKSPACE.value)
        if rest is not None:
            items = raw_pages(rest, f"{self._path}/{_CHILDREN[kind]}", ML_API_VERSION)
            return [r for r in (arm_to_resource(item) for item in items) if r is not None]
        ops = getattr(self.clients.ml_client(self.subscription, self.resource_group, self.workspace), _ENTITY_OPS[kind])
        return [r for r in (entity_to_resource(e, kind) for e in ops.list()) if r is not None]

    def get(self, kind: str, endpoint: str | None = None, deployment: str | None = None,
            name: str | None = None) -> Resource | None:
        """One resource; raises the SDK's error (ResourceNotFoundError when it is gone)."""
        if kind == Kind.WORKSPACE.value:
            return self.workspace_resource()
        if kind in _CHILDREN:
            rest = self._rest(Kind.WORKSPACE.value)
            if rest is not None:
                path = f"{self._path}/{_CHILDREN[kind]}/{name}"
                return arm_to_resource(raw_get(rest, path, api_version=ML_API_VERSION))
            return entity_to_resource(getattr(self.clients.ml_client(
                self.subscription, self.resource_group, self.workspace), _ENTITY_OPS[kind]).get(name), kind)
        rest = self._rest(kind)
        if rest is not None:
            # onlineEndpoints/{endpoint} or onlineEndpoints/{endpoint}/deployments/{deployment}
            leaf = deployment if deployment else endpoint
            path = f"{self._path}/{_SEGMENTS[kind].format(endpoint=endpoint)}/{leaf}"
            return arm_to_resource(raw_get(rest, path, api_version=rest._config.api_version))
        ops = self._entity_ops(kind)
        return entity_to_resource(ops.get(deployment, endpoint) if deployment else ops.get(endpoint), kind)


# ---- the inventory --------------------------------------------------------------------------
@dataclass(slots=True)
class _Outcome:
    """What one unit of work produced, plus the work it discovered."""

    resources: list[Resource] = field(default_factory=list)
    errors: list[InventoryError] = field(default_factory=list)
    gone: set[str] = field(default_factory=set)  # ids found by a list, deleted before their details
    more: list[Callable[[], _Outcome]] = field(default_factory=list)


class LiveInventory:
    """The Inventory protocol over MLClient: per workspace, the workspace, its online endpoints
    and deployments, its batch endpoints and deployments; `concurrency` calls in flight at most.

    A workspace that cannot be read becomes an InventoryError naming the fix; the sweep goes on.
    `progress`, when set, is told how the sweep is going (`amlguard audit` shows it on a terminal).
    """

    progress: Callable[[str], None] | None = None

    def __init__(self, credential: TokenCredential | None = None, *, scope: Scope | None = None,
                 options: ClientOptions | None = None, clients: ArmClients | None = None) -> None:
        if clients is None:
            if credential is None:
                raise ConfigError("LiveInventory needs a credential or an ArmClients")
            clients = ArmClients(credential, options)
        self.clients = clients
        self.options = clients.options
        self.scope = scope or Scope()

    # -- protocol ---------------------------------------------------------------------------
    def workspaces(self, scope: Scope | None = None) -> builtins.list[str]:
        """Workspace ARM ids in scope; raises SourceError when a subscription cannot be listed."""
        ids, errors = self._discover(scope or self.scope)
        if errors and not ids:
            raise SourceError(errors[0].message, source="azure-ai-ml", resource=errors[0].resource,
                              retryable=errors[0].retryable)
        return ids

    def list(self, scope: Scope | None = None) -> InventoryResult:
        """Every workspace, endpoint and deployment in scope; unreadable ones in `errors`."""
        scope = scope or self.scope
        ids, errors = self._discover(scope)
        tasks = [self._workspace_task(ws_id) for ws_id in ids]
        if not scope.workspace:  # registries live beside workspaces, in the subscription or group
            tasks += [self._registries_task(sub, scope.resource_group) for sub in scope.subscriptions]
        result = self._run(tasks)
        result.errors[:0] = errors
        link_workspaces(result.resources)
        if self.options.diagnostic_settings:
            self._attach_diagnostic_settings(result.resources)
        return result

    def get(self, resource_id: str) -> Resource | None:
        """The resource as ARM has it now; None when it is gone (404). Other failures raise
        SourceError with a message naming the fix."""
        parsed = ArmId.parse(resource_id)
        if parsed is not None and parsed.kind == Kind.REGISTRY.value and parsed.resource_group:
            return self._get_registry(parsed)
        if parsed is None or parsed.resource_group is None or parsed.workspace is None or parsed.kind is None \
                or parsed.kind == Kind.ENVIRONMENT.value:
            raise SourceError(f"{resource_id} is not an Azure ML workspace, endpoint or deployment id; expected "
                              "/subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.MachineLearningServices"
                              "/workspaces/<name>[/onlineEndpoints|batchEndpoints/<name>[/deployments/<name>]]",
                              resource=resource_id)
        reader = WorkspaceReader(self.clients, parsed.subscription, parsed.resource_group, parsed.workspace)
        try:
            resource = reader.get(parsed.kind, parsed.endpoint, parsed.deployment, parsed.name)
            if resource is not None and resource.kind == Kind.COMPUTE.value:
                # whether it needs a subnet depends on its workspace's managed network
                link_workspaces([resource, *filter(None, [reader.workspace_resource()])])
            if resource is not None and self.options.diagnostic_settings:
                self._attach_diagnostic_settings([resource])
            return resource
        except Exception as exc:
            if is_not_found(exc):
                return None
            message, retryable = describe_failure(exc, action="reading", what=resource_id, options=self.options)
            raise SourceError(message, source="azure-ai-ml", resource=resource_id, retryable=retryable) from exc

    def _get_registry(self, parsed: ArmId) -> Resource | None:
        rest = getattr(self.clients.ml_client(parsed.subscription).workspaces, "_operation", None)
        try:
            if rest is None:
                raise SourceError("this azure-ai-ml has no workspace REST operation to read registries with",
                                  resource=parsed.text)
            return arm_to_resource(raw_get(rest, parsed.text, api_version=ML_API_VERSION))
        except SourceError:
            raise
        except Exception as exc:
            if is_not_found(exc):
                return None
            message, retryable = describe_failure(exc, action="reading", what=parsed.text, options=self.options)
            raise SourceError(message, source="azure-ai-ml", resource=parsed.text, retryable=retryable) from exc

    def _attach_diagnostic_settings(self, resources: Iterable[Resource]) -> None:
        """Read the diagnostic settings of workspaces and online endpoints (one ARM call each)."""
        attach_diagnostic_settings(self.clients, resources, self.options.concurrency)

    # -- discovery --------------------------------------------------------------------------
    def _discover(self, scope: Scope) -> tuple[builtins.list[str], builtins.list[InventoryError]]:
        if not scope.subscriptions:
            raise ConfigError("no Azure subscription to audit: pass --subscription or set AZURE_SUBSCRIPTION_ID")
        if scope.workspace and scope.resource_group:
            return [ArmId.build(sub, scope.resource_group, scope.workspace).text for sub in scope.subscriptions], []
        ids: list[str] = []
        errors: list[InventoryError] = []
        for sub in scope.subscriptions:
            where = scope_prefix(sub, scope.resource_group)
            try:
                for ws_id in _list_workspace_ids(self.clients, sub, scope.resource_group):
                    parsed = ArmId.parse(ws_id)
                    if not scope.workspace or (parsed and (parsed.workspace or "").lower() == scope.workspace.lower()):
                        ids.append(ws_id)
            except Exception as exc:
                message, retryable = describe_failure(exc, action="listing workspaces in", what=where,
                                                      options=self.options)
                errors.append(InventoryError(resource=where, message=message, kind=Kind.WORKSPACE.value,
                                             retryable=retryable))
        return ids, errors

    # -- work units -------------------------------------------------------------------------
    def _run(self, tasks: Iterable[Callable[[], _Outcome]]) -> InventoryResult:
        """Run tasks and the tasks they discover with at most `concurrency` in flight."""
        result = InventoryResult()
        gone: set[str] = set()
        # Finished futures arrive on a queue, one at a time: `wait(pending, FIRST_COMPLETED)` locks
        # and unlocks every pending future on each call, and with a thousand deployment listings
        # queued that bookkeeping took a quarter of the sweep's CPU (the GIL the workers need).
        finished: queue.SimpleQueue[Future[_Outcome]] = queue.SimpleQueue()
        in_flight = 0
        with ThreadPoolExecutor(max_workers=self.options.concurrency, thread_name_prefix="amlguard-inv") as pool:

            def submit(task: Callable[[], _Outcome]) -> None:
                nonlocal in_flight
                pool.submit(task).add_done_callback(finished.put)
                in_flight += 1

            for task in tasks:
                submit(task)
            while in_flight:
                outcome = finished.get().result()
                in_flight -= 1
                result.resources.extend(outcome.resources)
                result.errors.extend(outcome.errors)
                gone |= {g.lower() for g in outcome.gone}
                for task in outcome.more:
                    submit(task)
                if self.progress is not None:
                    self.progress(f"{len(result.resources)} resources read, {in_flight} ARM calls in flight")
        if gone:
            result.resources = [r for r in result.resources if r.id.lower() not in gone]
        result.resources.sort(key=lambda r: r.id.lower())
        return result

    def _guard(self, task: Callable[[], _Outcome], *, what: str, resource: str, kind: str,
               gone: str | None = None) -> Callable[[], _Outcome]:
        """Turn any exception of `task` into an error outcome about `resource`; a 404 marks
        `gone` (default `resource`) as deleted between listing and reading."""

        def run() -> _Outcome:
            try:
                return task()
            except Exception as exc:
                if is_not_found(exc):
                    return _Outcome(gone={gone or resource})
                message, retryable = describe_failure(exc, action="reading", what=what, options=self.options)
                log.warning("%s", message)
                return _Outcome(errors=[InventoryError(resource=resource, message=message, kind=kind,
                                                       retryable=retryable)])

        return run

    def _workspace_task(self, ws_id: str) -> Callable[[], _Outcome]:
        parsed = ArmId.parse(ws_id)
        if parsed is None or parsed.kind != Kind.WORKSPACE.value or parsed.resource_group is None:
            message = f"ARM listed {ws_id!r} as a workspace, but that is not a workspace id; it is skipped"
            return lambda: _Outcome(errors=[InventoryError(resource=ws_id, message=message, kind=Kind.WORKSPACE.value)])
        reader = WorkspaceReader(self.clients, parsed.subscription, parsed.resource_group, str(parsed.workspace))
        ws = reader.workspace

        def read() -> _Outcome:
            try:
                workspace = reader.workspace_resource()
            except Exception as exc:
                # A workspace in the listing that answers 404 is not "gone" but unreadable here.
                message, retryable = describe_failure(exc, action="reading", what=f"workspace {ws} ({ws_id})",
                                                      options=self.options)
                log.warning("%s", message)
                return _Outcome(errors=[InventoryError(resource=ws_id, message=message,
                                                       kind=Kind.WORKSPACE.value, retryable=retryable)])
            outcome = _Outcome(resources=[workspace] if workspace else [])
            outcome.more = [
                self._guard(lambda: self._endpoints(reader, online=True), what=f"online endpoints of {ws}",
                            resource=f"{ws_id}/onlineEndpoints", kind=Kind.ONLINE_ENDPOINT.value),
                self._guard(lambda: self._endpoints(reader, online=False), what=f"batch endpoints of {ws}",
                            resource=f"{ws_id}/batchEndpoints", kind=Kind.BATCH_ENDPOINT.value),
            ] + [  # computes, datastores, serverless endpoints: one list call each, in parallel
                self._guard(self._children_task(reader, kind), what=f"{segment} of {ws}",
                            resource=f"{ws_id}/{segment}", kind=kind)
                for kind, segment in _CHILDREN.items()
            ]
            return outcome

        return read

    def _endpoints(self, reader: WorkspaceReader, *, online: bool) -> _Outcome:
        kind = Kind.ONLINE_ENDPOINT.value if online else Kind.BATCH_ENDPOINT.value
        deployments = Kind.ONLINE_DEPLOYMENT.value if online else Kind.BATCH_DEPLOYMENT.value
        outcome = _Outcome(resources=reader.list(kind))
        for resource in outcome.resources:
            outcome.more.append(self._guard(
                self._deployments_task(reader, deployments, resource.name),
                what=f"deployments of endpoint {resource.name} in workspace {reader.workspace}",
                resource=f"{resource.id}/deployments", kind=deployments, gone=resource.id))
        return outcome

    @staticmethod
    def _children_task(reader: WorkspaceReader, kind: str) -> Callable[[], _Outcome]:
        return lambda: _Outcome(resources=reader.children(kind))

    def _registries_task(self, sub: str, resource_group: str | None) -> Callable[[], _Outcome]:
        where = scope_prefix(sub, resource_group)

        def read() -> _Outcome:
            rest = getattr(self.clients.ml_client(sub).workspaces, "_operation", None)
            if rest is None:
                return _Outcome()
            items = raw_pages(rest, f"{where}/providers/Microsoft.MachineLearningServices/registries", ML_API_VERSION)
            return _Outcome(resources=[r for r in (arm_to_resource(item) for item in items) if r is not None])

        return self._guard(read, what=f"registries in {where}", resource=f"{where}/registries",
                           kind=Kind.REGISTRY.value)

    @staticmethod
    def _deployments_task(reader: WorkspaceReader, kind: str, endpoint: str) -> Callable[[], _Outcome]:
        # A 404 here means the endpoint was deleted after it was listed: _guard marks it gone.
        return lambda: _Outcome(resources=reader.list(kind, endpoint))


def attach_diagnostic_settings(clients: ArmClients, resources: Iterable[Resource], concurrency: int) -> None:
    """Give each workspace and online endpoint `diagnostic_settings` as Azure Monitor has them
    (one ARM call each, `concurrency` at a time); one that cannot be read keeps the field unset,
    so the rules that need it say not_applicable rather than pass."""
    wanted = [r for r in resources if r.kind in (Kind.WORKSPACE.value, Kind.ONLINE_ENDPOINT.value)
              and ArmId.parse(r.id) is not None]

    def read(resource: Resource) -> None:
        try:
            body = clients.arm_request("GET", f"{resource.id}/providers/Microsoft.Insights/diagnosticSettings",
                                       api_version=DIAGNOSTIC_SETTINGS_API) or {}
        except Exception as exc:
            message, _ = describe_failure(exc, action="reading the diagnostic settings of", what=resource.id,
                                          options=clients.options, role="Monitoring Reader")
            log.warning("%s", message)
            return
        resource.fields["diagnostic_settings"] = diagnostic_settings(body.get("value") or [])

    if wanted:
        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="amlguard-diag") as pool:
            list(pool.map(read, wanted))


def _list_workspace_ids(clients: ArmClients, sub: str, resource_group: str | None) -> list[str]:
    """ARM ids of the workspaces in a subscription or resource group, from the list pages' JSON
    (as above: the generated `list_by_subscription` deserialises every workspace into models
    first, on the sweep's critical path before any workspace is read)."""
    ml = clients.ml_client(sub)
    rest = getattr(ml.workspaces, "_operation", None)
    if rest is not None:
        items = raw_pages(rest, f"{scope_prefix(sub, resource_group)}/providers/{ML_PROVIDER}/workspaces")
        return [str(ws_id) for ws_id in (item.get("id") for item in items) if ws_id]
    listing = clients.ml_client(sub, resource_group).workspaces.list(
        scope="resource_group" if resource_group else "subscription")
    return [str(ws.id) for ws in listing if getattr(ws, "id", None)]
