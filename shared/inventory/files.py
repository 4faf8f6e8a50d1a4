"""Inventory from files: walk folders, read Azure ML YAML and ARM / `az ml` JSON into Resources.

One pass per file reads it (walk.py, reader.py): decode, parse, recognise, normalise the fields.
Then what one file cannot know alone is settled across the file set (a workspace YAML nearby,
whether an ambiguous deployment belongs to a batch endpoint, whether an endpoint is Kubernetes),
and each resource is finished once: Azure defaults and ids. `SnapshotInventory` serves a set of
files through the Inventory protocol, so `amlguard serve --snapshot` and tests stand in for the
live inventory.
"""

from __future__ import annotations

import builtins
import os
import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from amlguard.armid import ArmId
from amlguard.inventory.base import InventoryResult, Scope
from amlguard.inventory.kinds import link_workspaces
from amlguard.inventory.normalize import finish
from amlguard.inventory.reader import Item, Reader, read_files
from amlguard.inventory.walk import File, collect, under
from amlguard.model import Diagnostic, Kind, Resource

__all__ = ["SnapshotInventory", "load_data", "load_paths"]


# ------------------------------------------------------------------------- cross-file pass
def _same(a: str | None, b: str | None) -> bool:
    return a is None or b is None or a.lower() == b.lower()


def _resolve(items: list[Item]) -> None:
    """Settle what one file cannot know alone (the workspace a workspace YAML nearby names,
    whether an ambiguous deployment belongs to a batch endpoint, whether an endpoint is
    Kubernetes), then finish every resource: defaults and ids, once."""
    workspaces = [i for i in items if i.resource.kind == Kind.WORKSPACE and i.resource.origin == "yaml"]
    if workspaces:
        for item in items:
            res = item.resource
            if res.kind in (Kind.WORKSPACE, Kind.REGISTRY) or res.workspace or item.explicit_id:
                continue
            nearest = _nearest_workspace(item, workspaces)
            if nearest is not None:
                res.workspace = nearest.workspace
                res.subscription_id = res.subscription_id or nearest.subscription_id
                res.resource_group = res.resource_group or nearest.resource_group

    endpoints: dict[str, list[Item]] = defaultdict(list)
    deployments: dict[str, list[Item]] = defaultdict(list)
    for item in items:
        res = item.resource
        if res.kind.endswith("_endpoint"):
            endpoints[res.name.lower()].append(item)
        elif res.endpoint_name:
            deployments[res.endpoint_name.lower()].append(item)

    for item in items:
        res, cls = item.resource, item.cls
        if cls is None:
            continue
        if not cls.certain and res.kind == Kind.ONLINE_DEPLOYMENT:
            kinds = {m.resource.kind for m in _matches(item, endpoints.get((res.endpoint_name or "").lower(), []))}
            if kinds == {Kind.BATCH_ENDPOINT.value}:
                res.kind, res.compute_type = Kind.BATCH_DEPLOYMENT.value, None
        elif not cls.certain and res.kind == Kind.ONLINE_ENDPOINT:
            kinds = {m.resource.kind for m in _matches(item, deployments.get(res.name.lower(), []))}
            if kinds == {Kind.BATCH_DEPLOYMENT.value}:
                res.kind, res.compute_type = Kind.BATCH_ENDPOINT.value, None
        if (res.kind == Kind.ONLINE_DEPLOYMENT and not cls.explicit_compute
                and res.compute_type == "managed"):
            found = [m.resource for m in _matches(item, endpoints.get((res.endpoint_name or "").lower(), []))
                     if m.resource.kind == Kind.ONLINE_ENDPOINT]
            if found and all(e.compute_type == "kubernetes" for e in found):
                res.compute_type = "kubernetes"
    for item in items:
        finish(item.resource)


def _nearest_workspace(item: Item, workspaces: list[Item]) -> Resource | None:
    best: list[Item] = []
    best_depth = -1
    for ws in workspaces:
        if under(item.folder, ws.folder) and under(ws.folder, item.root):
            depth = ws.folder.count(os.sep)
            if depth > best_depth:
                best, best_depth = [ws], depth
            elif depth == best_depth:
                best.append(ws)
    return best[0].resource if len(best) == 1 else None


def _matches(item: Item, candidates: list[Item]) -> list[Item]:
    """Counterparts (endpoint of a deployment or deployments of an endpoint) in the file set:
    same workspace when both know it; those in the same folder win; a templated name matches
    only within its folder."""
    res = item.resource
    usable = [c for c in candidates if c is not item and _same(c.resource.workspace, res.workspace)]
    local = [c for c in usable if c.folder == item.folder]
    if local:
        return local
    name = res.endpoint_name if res.kind.endswith("_deployment") else res.name
    return [] if "{{" in (name or "") else usable


def _unique_ids(resources: list[Resource]) -> None:
    seen: dict[str, int] = {}
    for res in resources:
        key = res.id.lower()
        count = seen.get(key, 0) + 1
        seen[key] = count
        if count > 1:
            res.id = f"{res.id}#{count}"
            seen[res.id.lower()] = 1


def load_paths(paths: Sequence[str | os.PathLike[str]], *, cwd: Path | None = None,
               workers: int = 1, exclude: Callable[[File], bool] | None = None) -> InventoryResult:
    """Read files and folders into Resources; never raises on file content.

    Folders are walked recursively (`*.yml`, `*.yaml`, `*.json`; hidden folders, `.venv`,
    `node_modules`, `__pycache__` skipped) in sorted order. Sources are reported relative to
    `cwd` (default: the working folder) when under it, else as given. `workers` > 1 reads large
    file sets in that many forked processes (the CLI does; a threaded server must not fork).
    Files for which `exclude` is true are not read (`audit --exclude`).
    """
    base = os.path.abspath(os.fspath(cwd) if cwd is not None else os.getcwd())
    reader = Reader()
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    files, config_dirs, named = collect(paths, base, reader.diagnostics)
    if exclude is not None:  # a named path whose every file is excluded was left out on purpose: no diagnostic
        excluded, verdicts = exclude, dict[str, bool]()

        def keep(file: File) -> bool:  # asked once per file, though a file may be named twice
            if file.path not in verdicts:
                verdicts[file.path] = excluded(file)
            return not verdicts[file.path]

        files = [file for file in files if keep(file)]
        named = [(display, folder, kept) for display, folder, found in named
                 if (kept := [file for file in found if keep(file)]) or not found]
    reader.config_dirs.update(config_dirs)
    read_files(files, reader, workers)
    quiet = dict(reader.quiet)
    result = _settle(reader)
    said = {r.source for r in result.resources} | {d.source for d in result.diagnostics}
    for display, folder, found in named:
        if display not in said and not said.intersection(file.display for file in found):
            # templates and Bicep (iac.py), or why the reader skipped it: no text, or text that does not
            # parse (inside a folder such files are skipped quietly; named, they are the whole audit)
            reason = None if folder or not found else why_nothing(found[0].path) or quiet.get(found[0].path)
            result.diagnostics.append(Diagnostic(display, None, reason or _nothing_read(display, folder, len(found))))
    return result


def why_nothing(path: str) -> str | None:
    """What a named file that gave nothing was read as, when iac.py knows more (templates, Bicep)."""
    from amlguard.inventory.iac import why_nothing as explain

    return explain(path)


def _nothing_read(display: str, folder: bool, count: int) -> str:
    """Why a file or folder named by the user gave nothing to audit (DESIGN contract 2)."""
    skipped = ("amlguard reads Azure ML workspaces, endpoints, deployments, computes, registries, serverless "
               "endpoints, datastores and environments (YAML, ARM or `az ml` JSON, ARM templates, Bicep); conda "
               "environments, jobs, components, models and other files are skipped")
    if not folder:
        kind = "JSON" if display.lower().endswith(".json") else "YAML"
        return f"read as {kind}, but it holds no Azure ML resource amlguard audits: {skipped}"
    if not count:
        return ("no .yml, .yaml, .json or .bicep file in this folder (hidden folders, .venv, venv, node_modules, "
                "site-packages and __pycache__ are not searched); nothing to audit")
    return f"none of the {count} YAML / JSON / Bicep files in this folder holds an Azure ML resource: {skipped}"


def load_data(data: bytes | str, *, source: str = "<input>") -> InventoryResult:
    """Read one YAML / JSON text given in memory (an HTTP upload, stdin) like a file named
    `source` (its extension picks JSON or YAML; otherwise the first character does)."""
    reader = Reader()
    raw = data.encode("utf-8") if isinstance(data, str) else data
    reader.read(File(source, source, ""), raw)
    return _settle(reader)


def _settle(reader: Reader) -> InventoryResult:
    _resolve(reader.items)
    resources = [item.resource for item in reader.items]
    link_workspaces(resources)  # computes in a workspace read beside them learn its managed network
    _unique_ids(resources)
    return InventoryResult(resources=resources, diagnostics=reader.diagnostics, errors=[])


def _key(resource_id: str) -> str:
    return resource_id.strip().rstrip("/").lower()


@dataclass
class SnapshotInventory:
    """The Inventory protocol over files (YAML folders, ARM JSON, Resource Graph results).

    Reads on first use and caches; `reload()` reads again. `get` matches ids
    case-insensitively (ARM events spell `resourcegroups` in lower case).
    """

    paths: Sequence[str | os.PathLike[str]]
    cwd: Path | None = None
    _result: InventoryResult | None = field(default=None, init=False, repr=False)
    _index: dict[str, Resource] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.paths, (str, os.PathLike)):
            self.paths = [self.paths]

    def reload(self) -> InventoryResult:
        """Read the files again (after they changed) and return what they hold."""
        result = load_paths(list(self.paths), cwd=self.cwd)
        index = {_key(r.id): r for r in result.resources}
        with self._lock:
            self._result, self._index = result, index
        return result

    def _loaded(self) -> InventoryResult:
        result = self._result
        return result if result is not None else self.reload()

    @property
    def resources(self) -> builtins.list[Resource]:
        return list(self._loaded().resources)

    def get(self, resource_id: str) -> Resource | None:
        """The resource with this id (ARM or local id, any casing), or None."""
        self._loaded()
        return self._index.get(_key(resource_id)) if isinstance(resource_id, str) else None

    def list(self, scope: Scope | None = None) -> InventoryResult:
        """Resources in scope (a resource that does not know its subscription, group or
        workspace is kept), with every diagnostic of the snapshot."""
        result = self._loaded()
        return InventoryResult(resources=[r for r in result.resources if _in_scope(r, scope)],
                               diagnostics=list(result.diagnostics), errors=[])

    def workspaces(self, scope: Scope | None = None) -> builtins.list[str]:
        """ARM ids of the workspaces the snapshot's resources belong to (sorted, unique)."""
        out: dict[str, str] = {}
        for res in self._loaded().resources:
            if res.subscription_id and res.resource_group and res.workspace and _in_scope(res, scope):
                ws = ArmId.build(res.subscription_id, res.resource_group, res.workspace)
                out.setdefault(ws.key, ws.text)
        return sorted(out.values(), key=str.lower)


def _in_scope(res: Resource, scope: Scope | None) -> bool:
    if scope is None:
        return True
    if scope.subscriptions and res.subscription_id and res.subscription_id.lower() not in {
            s.lower() for s in scope.subscriptions}:
        return False
    return _same(res.resource_group, scope.resource_group) and _same(res.workspace, scope.workspace)
