"""Inventory from files: walk folders, read Azure ML YAML and ARM / `az ml` JSON into Resources.

Only an unreadable file that looks like Azure ML becomes a diagnostic; everything else that is
not a workspace, endpoint or deployment (conda envs, models, jobs, components...) is skipped
without a word. `SnapshotInventory` serves a set of files through the Inventory protocol, so
`amlguard serve --snapshot` and tests stand in for the live inventory.
"""

from __future__ import annotations

import builtins
import codecs
import json
import logging
import os
import re
import stat
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from amlguard.inventory.base import InventoryResult, Scope
from amlguard.inventory.normalize import (
    WorkspaceContext,
    _Class,
    _from_yaml,
    apply_defaults,
    arm_id,
    arm_kind,
    assign_id,
    classify_document,
    looks_like_arm,
    resource_from_arm,
)
from amlguard.inventory.templates import has_placeholder, placeholder_paths, restore, restore_lines, substitute
from amlguard.model import Diagnostic, Kind, Resource
from amlguard.yamlsource import YamlSourceError, load_documents

__all__ = ["SnapshotInventory", "load_data", "load_paths", "read_text"]

log = logging.getLogger(__name__)

_EXTENSIONS = (".yml", ".yaml", ".json")
_SKIP_DIRS = frozenset({".venv", "venv", "node_modules", "__pycache__", "site-packages"})
_MAX_BYTES = 64 * 1024 * 1024  # larger files are data, not resource definitions
_JSON_LINES_LIMIT = 4 * 1024 * 1024  # ~2 s of line tracking; above it JSON resources get their first line only
_MAX_DEPTH = 200
_CONFIG_NAMES = ("config.json", os.path.join(".azureml", "config.json"))

# Text that marks a file as meant to be Azure ML: one of our $schema URLs, an Azure ML ARM type,
# or an endpoint-ish key. Broken files without any of these are not ours and stay quiet.
_AML_HINT = re.compile(
    r"azuremlschemas\.azureedge\.net/[^\s\"']*(?:endpoint|deployment|workspace)\.schema"
    r"|microsoft\.machinelearningservices/workspaces"
    r"|^[ \t-]*[\"']?(?:endpoint_name|auth_mode|public_network_access|egress_public_network_access"
    r"|instance_type|managed_network|scoring_route)[\"']?[ \t]*:"
    r"|\"(?:authMode|publicNetworkAccess|egressPublicNetworkAccess|endpointComputeType)\"\s*:",
    re.IGNORECASE | re.MULTILINE,
)


# Without one of these, no document in a YAML text can be one of ours (see classify_document):
# lets a big data file (OpenAPI spec, dataset) be skipped without parsing it.
_PRESCREEN_BYTES = 256 * 1024
_MAYBE_OURS = re.compile(
    r"(?:endpoint|deployment|workspace)\.schema|machinelearningservices"
    r"|^[ \t-]*[\"']?(?:endpoint_name|auth_mode|traffic|mirror_traffic|public_network_access|compute|defaults"
    r"|managed_network|storage_account|key_vault|hbi_workspace|container_registry|application_insights"
    r"|customer_managed_key|image_build_compute|primary_user_assigned_identity|enable_data_isolation"
    r"|system_datastores_auth_mode|serverless_compute|provision_network_now|feature_store_settings"
    r"|v1_legacy_mode|allow_public_access_when_behind_vnet|network_acls|discovery_url|mlflow_tracking_uri)"
    r"[\"']?[ \t]*:",
    re.IGNORECASE | re.MULTILINE,
)


def _looks_azure_ml(text: str) -> bool:
    return _AML_HINT.search(text) is not None


@dataclass(slots=True)
class _File:
    path: str  # absolute
    display: str  # as reported: relative to cwd when under it, else as given
    root: str  # absolute folder where the search for config.json stops


@dataclass(slots=True)
class _Item:
    resource: Resource
    cls: _Class | None
    folder: str
    root: str
    explicit_id: bool


# ------------------------------------------------------------------------------ reading
def read_text(data: bytes) -> tuple[str | None, int | None, str | None]:
    """Decode file bytes: UTF-8 (with or without BOM), or UTF-16/32 with a BOM (PowerShell's
    `Out-File` default). Returns (text, None, None) or (None, line, what is wrong)."""
    boms = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
            (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
    encoding = next((name for bom, name in boms if data.startswith(bom)), "utf-8")
    try:
        return data.decode(encoding), None, None
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return None, line, (f"cannot decode the file: byte 0x{data[exc.start]:02x} on line {line} is not "
                            f"valid {encoding.upper()}; save the file as UTF-8")


def _line_of_offset(text: str, offset: int) -> int:
    return text.count("\n", 0, max(offset, 0)) + 1


def _candidates(value: Any) -> tuple[str, list[tuple[str, Any]]]:
    """The objects a parsed document holds: itself, an array's items, or the rows of a Resource
    Graph result (`{"data": [...]}`) / an ARM list page (`{"value": [...]}`).
    Returns (container path, [(index, object)])."""
    if isinstance(value, list):
        return "", [(str(i), item) for i, item in enumerate(value) if isinstance(item, dict)]
    if isinstance(value, dict):
        if "$schema" not in value and "type" not in value and "id" not in value:
            for key in ("data", "value"):
                inner = value.get(key)
                if isinstance(inner, list):
                    return key, [(str(i), item) for i, item in enumerate(inner) if isinstance(item, dict)]
                if isinstance(inner, dict) and isinstance(inner.get("columns"), list) and isinstance(
                        inner.get("rows"), list):  # Resource Graph's older "table" result format
                    names = [c.get("name") if isinstance(c, dict) else c for c in inner["columns"]]
                    rows = [dict(zip(names, row, strict=False)) for row in inner["rows"] if isinstance(row, list)]
                    return key, [(str(i), row) for i, row in enumerate(rows)]
        return "", [("", value)]
    return "", []


def _split_lines(lines: dict[str, int], container: str) -> dict[str, dict[str, int]]:
    """Per-item line maps of an array at `container` (one pass, paths made item-relative)."""
    prefix = f"{container}." if container else ""
    size = len(prefix)
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for path, line in lines.items():
        if prefix and not path.startswith(prefix):
            continue
        index, sep, rest = path[size:].partition(".")
        if sep:
            out[index][rest] = line
    return out


def _is_resource(obj: dict[str, Any]) -> bool:
    if looks_like_arm(obj):
        return arm_kind(obj) is not None
    return classify_document(obj) is not None


class _Reader:
    """Reads files one by one; collects resources (with what the cross-file pass needs)."""

    def __init__(self) -> None:
        self.items: list[_Item] = []
        self.diagnostics: list[Diagnostic] = []
        self._contexts: dict[str, WorkspaceContext | None] = {}
        self.config_dirs: dict[str, bool] = {}  # walked folders: whether config.json may be there

    # -- workspace context (Azure ML config.json in the folder or a parent, up to a repository's top)
    def context(self, folder: str, root: str) -> WorkspaceContext | None:
        if not root:  # text given in memory: no folder to look in
            return None
        if folder in self._contexts:
            return self._contexts[folder]
        found: WorkspaceContext | None = None
        names = _CONFIG_NAMES if self.config_dirs.get(folder, True) else ()
        for name in names:
            candidate = os.path.join(folder, name)
            if os.path.isfile(candidate):
                try:
                    with open(candidate, "rb") as fh:
                        data = json.loads(fh.read(1024 * 1024))
                except (OSError, ValueError, RecursionError):
                    continue
                ctx = WorkspaceContext.of(data) if isinstance(data, dict) else None
                if ctx and (ctx.subscription_id or ctx.workspace):
                    found = ctx
                    break
        if found is None:
            parent = os.path.dirname(folder)
            # Within the walked tree, always climb; above it, climb like the Azure ML SDK's
            # config.json search (from the folder upward) but stop at a repository's top.
            inside = folder != root and _under(folder, root)
            if parent != folder and (inside or not os.path.isdir(os.path.join(folder, ".git"))):
                found = self.context(parent, root)
        self._contexts[folder] = found
        return found

    def diagnose(self, file: _File, line: int | None, message: str) -> None:
        self.diagnostics.append(Diagnostic(file.display, line, message))

    def read(self, file: _File, data: bytes | None = None) -> None:
        try:
            self._read(file, data)
        except Exception as exc:  # a bug must not stop the audit of every other file
            self.diagnose(file, None, f"amlguard could not read this file ({type(exc).__name__}: {exc}); "
                                      "please report it with the file attached")

    def _read(self, file: _File, data: bytes | None) -> None:
        if data is None:
            try:
                with open(file.path, "rb") as fh:
                    # read(n) allocates n bytes up front (an mmap, mremap and munmap per file when n
                    # is the size limit): ask for what the file holds, plus one byte to see growth
                    size = os.fstat(fh.fileno()).st_size
                    data = fh.read(size + 1 if 0 < size <= _MAX_BYTES else _MAX_BYTES + 1)
                    if len(data) == size + 1:  # it grew while we read: the rest, up to the limit
                        data += fh.read(_MAX_BYTES + 1 - len(data))
            except OSError as exc:
                self.diagnose(file, None, f"cannot read the file: {exc.strerror or exc}; check that it exists "
                                          "and that amlguard may read it")
                return
        if len(data) > _MAX_BYTES:
            if _looks_azure_ml(data[:65536].decode("utf-8", "replace")):
                self.diagnose(file, None, f"file is larger than {_MAX_BYTES // (1024 * 1024)} MB; split it "
                                          "into one file per resource or per Resource Graph page")
            return
        text, bad_line, problem = read_text(data)
        if text is None:
            if _looks_azure_ml(data.decode("utf-8", "replace")):
                self.diagnose(file, bad_line, problem or "cannot decode the file; save it as UTF-8")
            return
        if text.startswith("\ufeff"):
            text = text[1:]
        lower = file.path.lower()
        is_json = lower.endswith(".json") or (
            not lower.endswith((".yml", ".yaml")) and text.lstrip()[:1] in ("{", "["))
        folder = os.path.dirname(file.path)
        if is_json:
            self._read_json(file, text, folder)
        else:
            self._read_yaml(file, text, folder)

    def _add(self, file: _File, folder: str, obj: dict[str, Any], *, line: int | None,
             lines: dict[str, int] | None, templated: bool, origin_yaml: str) -> None:
        if looks_like_arm(obj):
            resource = resource_from_arm(obj, source=file.display, lines=lines, line=line)
            cls = None
        else:
            resource, cls = _from_yaml(obj, source=file.display, line=line, lines=lines,
                                       context=self.context(folder, file.root), origin=origin_yaml)
        if resource is None:
            return
        if templated:  # paths after normalisation, so ARM and YAML name them alike
            resource.templated = placeholder_paths(resource.fields)
        explicit = isinstance(obj.get("id"), str) and resource.id.lower() == str(obj["id"]).strip().lower()
        self.items.append(_Item(resource, cls, folder, file.root, explicit))

    def _read_yaml(self, file: _File, text: str, folder: str) -> None:
        if len(text) > _PRESCREEN_BYTES and _MAYBE_OURS.search(text) is None:
            return
        tokens: list[str] = []
        parse_text = text
        if "{{" in text:
            parse_text, tokens = substitute(text)
        try:
            documents = load_documents(parse_text)
        except YamlSourceError as exc:
            if _looks_azure_ml(text):
                where = f" (line {exc.line}, column {exc.column})" if exc.line else ""
                self.diagnose(file, exc.line, f"{exc}{where}; fix the YAML syntax there")
            return
        templated = bool(tokens) or has_placeholder(text)
        for document in documents:
            value, lines = document.value, document.lines
            if tokens:
                value = restore(value, tokens, set())
                lines = restore_lines(lines, tokens)
            container, objects = _candidates(value)
            if len(objects) == 1 and objects[0][0] == "":
                self._add(file, folder, objects[0][1], line=document.line, lines=lines,
                          templated=templated, origin_yaml="yaml")
                continue
            per_item = _split_lines(lines, container) if objects else {}
            base = f"{container}." if container else ""
            for index, obj in objects:
                self._add(file, folder, obj, line=lines.get(f"{base}{index}", document.line),
                          lines=per_item.get(index, {}), templated=templated, origin_yaml="yaml")

    def _read_json(self, file: _File, text: str, folder: str) -> None:
        try:
            value = json.loads(text)
        except (ValueError, RecursionError) as exc:
            if has_placeholder(text):  # unquoted {{TOKEN}} in JSON: read it as YAML (a superset)
                self._read_yaml(file, text, folder)
                return
            if _looks_azure_ml(text):
                if isinstance(exc, json.JSONDecodeError):
                    self.diagnose(file, exc.lineno, f"not valid JSON: {exc.msg} (line {exc.lineno}, column "
                                                    f"{exc.colno}); fix the JSON syntax there")
                else:
                    self.diagnose(file, None, "not valid JSON: nested too deeply")
            return
        container, objects = _candidates(value)
        wanted = [(index, obj) for index, obj in objects if _is_resource(obj)]
        if not wanted:
            return
        lines: dict[str, int] | None = None
        if len(text) <= _JSON_LINES_LIMIT:
            try:
                documents = load_documents(text)
                lines = documents[0].lines if documents else None
            except YamlSourceError:
                lines = None  # valid JSON that PyYAML's 1.1 reader rejects (tabs): first lines only
        templated = has_placeholder(text)
        base = f"{container}." if container else ""
        table = isinstance(value, dict) and isinstance(value.get(container), dict)  # rows: no per-field lines
        per_item = _split_lines(lines, container) if lines is not None and not table else None
        search_from = 0
        for index, obj in wanted:
            obj_lines: dict[str, int] | None
            line: int | None
            if index == "":
                obj_lines, line = lines, _line_of_offset(text, len(text) - len(text.lstrip()))
            elif per_item is not None and lines is not None:
                obj_lines, line = per_item.get(index, {}), lines.get(f"{base}{index}")
            else:
                obj_lines = None
                line, search_from = _find_object_line(text, obj, search_from)
            self._add(file, folder, obj, line=line, lines=obj_lines, templated=templated, origin_yaml="cli")


def _find_object_line(text: str, obj: dict[str, Any], start: int) -> tuple[int | None, int]:
    """Line of an object in a big JSON file, found by its id (or name) text; (line, next start)."""
    for key in ("id", "name"):
        needle = obj.get(key)
        if isinstance(needle, str) and needle:
            position = text.find(json.dumps(needle), start)
            if position >= 0:
                return _line_of_offset(text, position), position + 1
    return None, start


# -------------------------------------------------------------------------------- walking
def _display(absolute: str, given: str, cwd: str) -> str:
    if absolute == cwd:
        return "."
    if absolute.startswith(cwd.rstrip(os.sep) + os.sep):
        return os.path.relpath(absolute, cwd)
    return os.path.normpath(given)


class _Walker:
    """Lists YAML / JSON files under folders, sorted, skipping hidden folders, virtualenvs,
    node_modules and __pycache__. A folder (or file) reached twice — two arguments, a
    directory symlink, a symlink loop — is listed once. Records which folders hold an Azure
    ML config.json, so finding a file's workspace costs no extra system calls."""

    def __init__(self) -> None:
        self.visited: set[tuple[int, int]] = set()
        self.seen_files: set[tuple[int, int]] = set()
        self.config_dirs: dict[str, bool] = {}  # folder -> holds config.json or .azureml/

    def add_file(self, path: str) -> bool:
        """False when this file (by device and inode) was listed already."""
        try:
            info = os.stat(path)
        except OSError:
            return True  # unreadable: let the reader report it
        key = (info.st_dev, info.st_ino)
        if key in self.seen_files:
            return False
        self.seen_files.add(key)
        return True

    def walk(self, top: str, display: str) -> Iterator[tuple[str, str]]:
        try:
            info = os.stat(top)
        except OSError:
            return
        yield from self._inner(top, display, info.st_dev, info.st_ino, 0)

    def _inner(self, folder: str, shown: str, device: int, inode: int, depth: int) -> Iterator[tuple[str, str]]:
        key = (device, inode)
        if key in self.visited or depth > _MAX_DEPTH:
            return
        self.visited.add(key)
        try:
            with os.scandir(folder) as scan:
                entries = sorted(scan, key=lambda e: e.name)
        except OSError:
            return
        self.config_dirs[folder] = any(e.name in ("config.json", ".azureml") for e in entries)
        for entry in entries:
            name = entry.name
            try:
                is_dir = entry.is_dir()
                if is_dir:
                    if name.startswith(".") or name in _SKIP_DIRS:
                        continue
                    # a plain subfolder shares its parent's device (a mount point inside the tree
                    # could alias an inode; accepted); d_ino needs no system call
                    if entry.is_symlink():
                        target = os.stat(entry.path)
                        child_device, child_inode = target.st_dev, target.st_ino
                    else:
                        child_device, child_inode = device, entry.inode()
                elif not name.lower().endswith(_EXTENSIONS):
                    continue
                elif entry.is_symlink():
                    if not self.add_file(entry.path):
                        continue
                elif (device, entry.inode()) in self.seen_files:
                    continue
                else:
                    self.seen_files.add((device, entry.inode()))
            except OSError:
                continue
            shown_child = name if shown == "." else os.path.join(shown, name)
            if is_dir:
                yield from self._inner(entry.path, shown_child, child_device, child_inode, depth + 1)
            else:
                yield entry.path, shown_child


def _collect(paths: Iterable[str | os.PathLike[str]], cwd: str, reader: _Reader) -> list[_File]:
    files: list[_File] = []
    walker = _Walker()
    for given_path in paths:
        given = os.fspath(given_path)
        absolute = os.path.normpath(os.path.join(cwd, os.path.expanduser(given)))
        display = _display(absolute, given, cwd)
        try:
            info = os.stat(absolute)
        except OSError as exc:
            reader.diagnostics.append(Diagnostic(display, None, f"cannot read {given}: "
                                                 f"{exc.strerror or exc}; check the path"))
            continue
        if stat.S_ISDIR(info.st_mode):
            files.extend(_File(path, shown, absolute) for path, shown in walker.walk(absolute, display))
        elif walker.add_file(absolute):
            files.append(_File(absolute, display, os.path.dirname(absolute)))
    reader.config_dirs.update(walker.config_dirs)
    return files


# ------------------------------------------------------------------------- cross-file pass
def _same(a: str | None, b: str | None) -> bool:
    return a is None or b is None or a.lower() == b.lower()


def _under(folder: str, ancestor: str) -> bool:
    return folder == ancestor or folder.startswith(ancestor.rstrip(os.sep) + os.sep)


def _resolve(items: list[_Item]) -> None:
    """What one file cannot know alone: the workspace a workspace YAML nearby names, whether an
    ambiguous deployment belongs to a batch endpoint, whether an endpoint is Kubernetes."""
    workspaces = [i for i in items if i.resource.kind == Kind.WORKSPACE.value and i.resource.origin == "yaml"]
    if workspaces:
        for item in items:
            res = item.resource
            if res.kind == Kind.WORKSPACE.value or res.workspace or item.explicit_id:
                continue
            nearest = _nearest_workspace(item, workspaces)
            if nearest is not None:
                res.workspace = nearest.workspace
                res.subscription_id = res.subscription_id or nearest.subscription_id
                res.resource_group = res.resource_group or nearest.resource_group

    endpoints: dict[str, list[_Item]] = defaultdict(list)
    deployments: dict[str, list[_Item]] = defaultdict(list)
    for item in items:
        res = item.resource
        if res.kind.endswith("_endpoint"):
            endpoints[res.name.lower()].append(item)
        elif res.endpoint_name:
            deployments[res.endpoint_name.lower()].append(item)

    changed: list[_Item] = []
    for item in items:
        res, cls = item.resource, item.cls
        if cls is None:
            continue
        if not cls.certain and res.kind == Kind.ONLINE_DEPLOYMENT.value:
            kinds = {m.resource.kind for m in _matches(item, endpoints.get((res.endpoint_name or "").lower(), []))}
            if kinds == {Kind.BATCH_ENDPOINT.value}:
                res.kind, res.compute_type = Kind.BATCH_DEPLOYMENT.value, None
                changed.append(item)
        elif not cls.certain and res.kind == Kind.ONLINE_ENDPOINT.value:
            kinds = {m.resource.kind for m in _matches(item, deployments.get(res.name.lower(), []))}
            if kinds == {Kind.BATCH_DEPLOYMENT.value}:
                res.kind, res.compute_type = Kind.BATCH_ENDPOINT.value, None
                changed.append(item)
        if (res.kind == Kind.ONLINE_DEPLOYMENT.value and not cls.explicit_compute
                and res.compute_type == "managed"):
            found = [m.resource for m in _matches(item, endpoints.get((res.endpoint_name or "").lower(), []))
                     if m.resource.kind == Kind.ONLINE_ENDPOINT.value]
            if found and all(e.compute_type == "kubernetes" for e in found):
                res.compute_type = "kubernetes"
                changed.append(item)
    for item in changed:
        apply_defaults(item.resource)
    for item in items:
        if not item.explicit_id:
            assign_id(item.resource)


def _nearest_workspace(item: _Item, workspaces: list[_Item]) -> Resource | None:
    best: list[_Item] = []
    best_depth = -1
    for ws in workspaces:
        if _under(item.folder, ws.folder) and _under(ws.folder, item.root):
            depth = ws.folder.count(os.sep)
            if depth > best_depth:
                best, best_depth = [ws], depth
            elif depth == best_depth:
                best.append(ws)
    return best[0].resource if len(best) == 1 else None


def _matches(item: _Item, candidates: list[_Item]) -> list[_Item]:
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


# ------------------------------------------------------------------------------ public
# Below this many files a second process costs more than it saves.
_PARALLEL_MIN_FILES = 400


def _read_chunk(job: tuple[list[_File], dict[str, bool]]) -> tuple[list[_Item], list[Diagnostic]]:
    """Worker side of a parallel read: the items and diagnostics of a run of files, in order."""
    files, config_dirs = job
    reader = _Reader()
    reader.config_dirs.update(config_dirs)
    for file in files:
        reader.read(file)
    return reader.items, reader.diagnostics


def _read_files(files: list[_File], reader: _Reader, workers: int) -> None:
    """Read every file into `reader`; with workers > 1, in forked processes over contiguous runs of
    files so that items and diagnostics come back in exactly the sequential order."""
    import multiprocessing

    if workers > 1 and len(files) >= _PARALLEL_MIN_FILES and "fork" in multiprocessing.get_all_start_methods():
        # this process reads the last share itself instead of waiting: one process fewer to fork,
        # and that share's Resources are never pickled across
        own = len(files) // workers
        forked = files[:len(files) - own]
        runs = (workers - 1) * 4  # more runs than workers evens out slow files
        size = -(-len(forked) // runs)
        jobs = [(forked[i:i + size], reader.config_dirs) for i in range(0, len(forked), size)]
        had_items, had_diagnostics = len(reader.items), len(reader.diagnostics)
        try:
            with multiprocessing.get_context("fork").Pool(workers - 1) as pool:
                results = pool.imap(_read_chunk, jobs)  # queued at once: the workers start now
                for file in files[len(files) - own:]:
                    reader.read(file)
                own_items, own_diagnostics = reader.items[had_items:], reader.diagnostics[had_diagnostics:]
                del reader.items[had_items:], reader.diagnostics[had_diagnostics:]
                for items, diagnostics in results:
                    reader.items.extend(items)
                    reader.diagnostics.extend(diagnostics)
                reader.items.extend(own_items)
                reader.diagnostics.extend(own_diagnostics)
            return
        except (OSError, multiprocessing.ProcessError) as exc:  # no processes to be had: read here
            log.debug("parallel read unavailable (%s); reading in this process", exc)
            del reader.items[had_items:], reader.diagnostics[had_diagnostics:]
    for file in files:
        reader.read(file)


def load_paths(paths: Sequence[str | os.PathLike[str]], *, cwd: Path | None = None,
               workers: int = 1) -> InventoryResult:
    """Read files and folders into Resources; never raises on file content.

    Folders are walked recursively (`*.yml`, `*.yaml`, `*.json`; hidden folders, `.venv`,
    `node_modules`, `__pycache__` skipped) in sorted order. Sources are reported relative to
    `cwd` (default: the working folder) when under it, else as given. `workers` > 1 reads large
    file sets in that many forked processes (the CLI does; a threaded server must not fork).
    """
    base = os.path.abspath(os.fspath(cwd) if cwd is not None else os.getcwd())
    reader = _Reader()
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    _read_files(_collect(paths, base, reader), reader, workers)
    _resolve(reader.items)
    resources = [item.resource for item in reader.items]
    _unique_ids(resources)
    return InventoryResult(resources=resources, diagnostics=reader.diagnostics, errors=[])


def load_data(data: bytes | str, *, source: str = "<input>") -> InventoryResult:
    """Read one YAML / JSON text given in memory (an HTTP upload, stdin) like a file named
    `source` (its extension picks JSON or YAML; otherwise the first character does)."""
    reader = _Reader()
    raw = data.encode("utf-8") if isinstance(data, str) else data
    reader.read(_File(source, source, ""), raw)
    _resolve(reader.items)
    resources = [item.resource for item in reader.items]
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
                ws = arm_id(res.subscription_id, res.resource_group, res.workspace)
                out.setdefault(ws.lower(), ws)
        return sorted(out.values(), key=str.lower)


def _in_scope(res: Resource, scope: Scope | None) -> bool:
    if scope is None:
        return True
    if scope.subscriptions and res.subscription_id and res.subscription_id.lower() not in {
            s.lower() for s in scope.subscriptions}:
        return False
    return _same(res.resource_group, scope.resource_group) and _same(res.workspace, scope.workspace)
