"""Read one file: decode it, parse it (YAML with line numbers; JSON), find the Azure ML objects
it holds and build each into a Resource that is normalised but not yet finished (the file set
settles kinds, workspaces and ids; see files.py). Only an unreadable file that looks like Azure
ML becomes a diagnostic. Large file sets are read in forked processes (amlguard.forked).
"""

from __future__ import annotations

import codecs
import json
import os
import re
import stat
import sys
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from amlguard.inventory.arm import build_from_arm
from amlguard.inventory.armtemplate import is_template
from amlguard.inventory.normalize import WorkspaceContext, build_from_yaml
from amlguard.inventory.recognize import SHAPE_KEYS, Classification, arm_kind, classify_document, looks_like_arm
from amlguard.inventory.templates import has_placeholder, placeholder_paths, restore, restore_lines, substitute
from amlguard.inventory.walk import File, under
from amlguard.model import Diagnostic, Resource
from amlguard.yamlsource import Duplicate, LocatedDocument, YamlSourceError, load_documents, load_json

if TYPE_CHECKING:
    from amlguard.policy.suppressions import Suppression

__all__ = ["Item", "Reader", "read_files", "read_text"]

_MAX_BYTES = 64 * 1024 * 1024  # larger files are data, not resource definitions
_JSON_LINES_LIMIT = 4 * 1024 * 1024  # ~1 s of line tracking; above it JSON resources get their first line only
# ...and so do files with more values than this (commas counted: strings may overcount, which only
# costs lines): a line per value is a dict entry per value, 7 s and 236 MB for 4 MB of `[1,1,...]`
_JSON_LINES_VALUES = 200_000
_CONFIG_NAMES = ("config.json", os.path.join(".azureml", "config.json"))

# Text that marks a file as meant to be Azure ML: one of our $schema URLs, an Azure ML ARM type,
# or an endpoint-ish key. Broken files without any of these are not ours and stay quiet.
_AML_HINT = re.compile(
    r"azuremlschemas\.azureedge\.net/[^\s\"']*(?:endpoint|deployment|workspace|compute|instance|registry"
    r"|environment|blob|file|gen1|gen2)\.schema"
    r"|microsoft\.machinelearningservices/(?:workspaces|registries)"
    r"|^[ \t-]*[\"']?(?:endpoint_name|auth_mode|public_network_access|egress_public_network_access"
    r"|instance_type|managed_network|scoring_route)[\"']?[ \t]*:"
    r"|\"(?:authMode|publicNetworkAccess|egressPublicNetworkAccess|endpointComputeType)\"\s*:",
    re.IGNORECASE | re.MULTILINE,
)


# Without one of these, no document in a text can be one of ours (see classify_document): an
# Azure ML schema, type or id, or a key that makes a document ours by its shape. A big YAML file
# without them (an OpenAPI spec, a dataset) is skipped unparsed; a JSON file without them is read
# by json.loads alone, with no line tracking.
_PRESCREEN_BYTES = 256 * 1024
# amlguard.policy.suppressions.MARK: a file without it costs one substring search, no import
SUPPRESSION_MARK = "amlguard:ignore"
_KEYS = "|".join(sorted(SHAPE_KEYS))
_MAYBE_OURS = re.compile(rf"(?:endpoint|deployment|workspace|compute|instance|registry|environment|blob|file|gen1"
                         rf"|gen2)\.schema|machinelearningservices"
                         rf"|^[ \t-]*[\"']?(?:{_KEYS})[\"']?[ \t]*:", re.IGNORECASE | re.MULTILINE)
_MAYBE_OURS_JSON = re.compile(rf"machinelearningservices|\"\$schema\"|\"(?:{_KEYS})\"\s*:", re.IGNORECASE)


_LONG_NUMBER = re.compile(rf"\d{{{sys.get_int_max_str_digits() + 1},}}")


def _looks_azure_ml(text: str) -> bool:
    return _AML_HINT.search(text) is not None


@dataclass(slots=True)
class Item:
    """A resource read from a file, with what the cross-file pass needs to settle it."""

    resource: Resource
    cls: Classification | None  # how a YAML-shaped document was recognised (None: ARM)
    folder: str
    root: str
    explicit_id: bool  # it carries its own ARM id


# ------------------------------------------------------------------------------ reading
def read_text(data: bytes) -> tuple[str | None, int | None, str | None]:
    """Decode file bytes: UTF-8 (with or without BOM), or UTF-16/32 with a BOM (PowerShell's
    `Out-File` default). Returns (text, None, None) or (None, line, what is wrong)."""
    boms = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
            (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
    encoding = next((name for bom, name in boms if data.startswith(bom)), "utf-8")
    if encoding == "utf-8" and b"\x00" in data[:4096]:  # NUL is valid UTF-8, but text never holds it
        guess = _bomless_encoding(data)
        return None, None, (f"the file looks like {guess[0]} without a byte-order mark (BOM); amlguard reads "
                            "UTF-8, or UTF-16 / UTF-32 that starts with a BOM: save it as UTF-8" if guess else
                            "the file holds NUL bytes: it is not UTF-8 text; save it as UTF-8")
    try:
        return data.decode(encoding), None, None
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return None, line, (f"cannot decode the file: byte 0x{data[exc.start]:02x} on line {line} is not "
                            f"valid {encoding.upper()}; save the file as UTF-8")


def _bomless_encoding(data: bytes) -> tuple[str, str] | None:
    """(name, codec) of UTF-16 / UTF-32 text without a BOM, told by where its NUL bytes fall
    (mostly-ASCII text has a NUL in every other / three of every four bytes), or None."""
    sample = data[:4096]
    for name, codec, width, nul_at in (("UTF-32LE", "utf-32-le", 4, (1, 2, 3)), ("UTF-32BE", "utf-32-be", 4, (0, 1, 2)),
                                       ("UTF-16LE", "utf-16-le", 2, (1,)), ("UTF-16BE", "utf-16-be", 2, (0,))):
        units = len(sample) // width
        if units and all(sample[i::width][:units].count(0) >= 0.9 * units for i in nul_at):
            return name, codec
    return None


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


class Reader:
    """Reads files one by one; collects resources (with what the cross-file pass needs)."""

    def __init__(self) -> None:
        self.items: list[Item] = []
        self.diagnostics: list[Diagnostic] = []
        # files skipped without a diagnostic (no text, or text that does not parse, and nothing that
        # looks like Azure ML), with why: a folder's other files are skipped quietly, but a file
        # named on its own that gives nothing is told this reason (files.load_paths)
        self.quiet: list[tuple[str, str]] = []
        self._contexts: dict[str, WorkspaceContext | None] = {}
        self.config_dirs: dict[str, bool] = {}  # walked folders: whether config.json may be there
        self._suppressions: tuple[Suppression, ...] = ()  # of the YAML file being read

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
            inside = folder != root and under(folder, root)
            if parent != folder and (inside or not os.path.isdir(os.path.join(folder, ".git"))):
                found = self.context(parent, root)
        self._contexts[folder] = found
        return found

    def diagnose(self, file: File, line: int | None, message: str) -> None:
        self.diagnostics.append(Diagnostic(file.display, line, message))

    def skip(self, file: File, why: str) -> None:
        """`file` gives nothing, and inside a folder nobody needs to hear why (see `quiet`)."""
        self.quiet.append((file.path, why))

    def read(self, file: File, data: bytes | None = None) -> None:
        try:
            self._read(file, data)
        except Exception as exc:  # a bug must not stop the audit of every other file
            self.diagnose(file, None, f"amlguard could not read this file ({type(exc).__name__}: {exc}); "
                                      "please report it with the file attached")

    def _read(self, file: File, data: bytes | None) -> None:
        if data is None:
            try:
                # non-blocking: opening a FIFO would otherwise wait for a writer, forever
                with open(file.path, "rb", opener=_open_nonblocking) as fh:
                    info = os.fstat(fh.fileno())
                    if not stat.S_ISREG(info.st_mode):
                        self.diagnose(file, None, f"not a regular file ({_file_type(info.st_mode)}); amlguard "
                                                  "reads only regular files: replace it with the YAML or JSON "
                                                  "file itself")
                        return
                    # read(n) allocates n bytes up front (an mmap, mremap and munmap per file when n
                    # is the size limit): ask for what the file holds, plus one byte to see growth
                    size = info.st_size
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
            guess = _bomless_encoding(data) if bad_line is None else None
            if _looks_azure_ml(data.decode(guess[1] if guess else "utf-8", "replace")):
                self.diagnose(file, bad_line, problem or "cannot decode the file; save it as UTF-8")
            else:
                self.skip(file, f"not a text file amlguard can read: {problem}")
            return
        if text.startswith("\ufeff"):
            text = text[1:]
        lower = file.path.lower()
        if lower.endswith(".bicep"):  # infrastructure as code: a module of its own (iac.py)
            from amlguard.inventory.iac import read_bicep_file

            self._add_declared(file, read_bicep_file(file, text, lambda line, msg: self.diagnose(file, line, msg)))
            return
        is_json = lower.endswith(".json") or (
            not lower.endswith((".yml", ".yaml")) and text.lstrip()[:1] in ("{", "["))
        folder = os.path.dirname(file.path)
        self._suppressions = ()
        if is_json:
            self._read_json(file, text, folder)
        else:
            self._read_yaml(file, text, folder)

    def _add(self, file: File, folder: str, obj: dict[str, Any], *, line: int | None,
             lines: dict[str, int] | None, templated: bool, origin_yaml: str) -> None:
        cls: Classification | None = None
        if looks_like_arm(obj):
            resource = build_from_arm(obj, source=file.display, lines=lines, line=line)
        else:
            resource, cls = build_from_yaml(obj, source=file.display, line=line, lines=lines,
                                            context=self.context(folder, file.root), origin=origin_yaml)
        if resource is None:
            return
        resource.suppressions = self._suppressions
        if templated:  # paths after normalisation, so ARM and YAML name them alike
            resource.templated = placeholder_paths(resource.fields)
        self.items.append(Item(resource, cls, folder, file.root, bool(resource.id)))

    def _add_declared(self, file: File, resources: list[Resource]) -> None:
        """Resources an ARM template or Bicep file declares (read by iac.py)."""
        folder = os.path.dirname(file.path)
        self.items.extend(Item(resource, None, folder, file.root, bool(resource.id)) for resource in resources)

    def _read_yaml(self, file: File, text: str, folder: str) -> None:
        if len(text) > _PRESCREEN_BYTES and _MAYBE_OURS.search(text) is None:
            return
        if SUPPRESSION_MARK in text:
            from amlguard.policy.suppressions import parse_suppressions

            self._suppressions = parse_suppressions(text, file.display)
        tokens: list[str] = []
        parse_text = text
        if "{{" in text:
            parse_text, tokens = substitute(text)
        try:
            documents = load_documents(parse_text)
        except YamlSourceError as exc:
            if _looks_azure_ml(text):
                if str(exc).startswith("not valid YAML"):
                    where = f" (line {exc.line}, column {exc.column})" if exc.line and exc.column else (
                        f" (line {exc.line})" if exc.line else "")
                    self.diagnose(file, exc.line, f"{exc}{where}; fix the YAML syntax there")
                else:  # a limit: the message names it, where it was passed and what to do
                    self.diagnose(file, exc.line, str(exc))
            else:
                self.skip(file, f"{exc}{f' (line {exc.line})' if exc.line else ''}, so nothing was read from it")
            return
        templated = bool(tokens) or has_placeholder(text)
        for document in documents:
            before = len(self.items)
            self._read_yaml_document(file, folder, document, tokens, templated)
            self._report_duplicates(file, before, document.duplicates)

    def _report_duplicates(self, file: File, before: int, duplicates: list[Duplicate]) -> None:
        """A key given twice in a document that held a resource: the value read is the last one,
        which can hide a setting (`auth_mode: key` above `auth_mode: aad_token`), so say so."""
        if len(self.items) > before:
            for duplicate in duplicates:
                self.diagnose(file, duplicate.line, duplicate.message())

    def _read_yaml_document(self, file: File, folder: str, document: LocatedDocument, tokens: list[str],
                            templated: bool) -> None:
        value, lines = document.value, document.lines
        if tokens:
            value = restore(value, tokens)
            lines = restore_lines(lines, tokens)
        container, objects = _candidates(value)
        if len(objects) == 1 and objects[0][0] == "":
            self._add(file, folder, objects[0][1], line=document.line, lines=lines,
                      templated=templated, origin_yaml="yaml")
            return
        per_item = _split_lines(lines, container) if objects else {}
        base = f"{container}." if container else ""
        for index, obj in objects:
            self._add(file, folder, obj, line=lines.get(f"{base}{index}", document.line),
                      lines=per_item.get(index, {}), templated=templated, origin_yaml="yaml")

    def _read_json(self, file: File, text: str, folder: str) -> None:
        # One parse: values and lines together for a file that may hold a resource; json.loads
        # alone for other JSON, for files too big to track lines in, and to say what is wrong.
        lines: dict[str, int] | None = None
        duplicates: list[Duplicate] = []
        try:
            if (len(text) > _JSON_LINES_LIMIT or text.count(",") > _JSON_LINES_VALUES
                    or _MAYBE_OURS_JSON.search(text) is None):
                raise ValueError("no line tracking")
            document = load_json(text)
            value, lines, duplicates = document.value, document.lines, document.duplicates
        except (ValueError, RecursionError):
            try:
                value = json.loads(text)
            except (ValueError, RecursionError) as exc:
                self._json_error(file, text, folder, exc)
                return
        if is_template(value):
            from amlguard.inventory.iac import read_template  # infrastructure as code: iac.py

            declared = read_template(file, value, lines, lambda line, msg: self.diagnose(file, line, msg))
            self._add_declared(file, declared)
            return
        container, objects = _candidates(value)
        wanted = [(index, obj) for index, obj in objects if _is_resource(obj)]
        if not wanted:
            return
        templated = has_placeholder(text)
        base = f"{container}." if container else ""
        table = isinstance(value, dict) and isinstance(value.get(container), dict)  # rows: no per-field lines
        per_item = _split_lines(lines, container) if lines is not None and not table else None
        search = (0, 1)  # where the last object was found, and its line: lines counted once, forward
        before = len(self.items)
        for index, obj in wanted:
            obj_lines: dict[str, int] | None
            line: int | None
            if index == "":
                obj_lines, line = lines, _line_of_offset(text, len(text) - len(text.lstrip()))
            elif per_item is not None and lines is not None:
                obj_lines, line = per_item.get(index, {}), lines.get(f"{base}{index}")
            else:
                obj_lines = None
                line, search = _find_object_line(text, obj, search)
            self._add(file, folder, obj, line=line, lines=obj_lines, templated=templated, origin_yaml="cli")
        self._report_duplicates(file, before, duplicates)

    def _json_error(self, file: File, text: str, folder: str, exc: BaseException) -> None:
        if has_placeholder(text):  # unquoted {{TOKEN}} in JSON: read it as YAML (a superset)
            self._read_yaml(file, text, folder)
        elif _looks_azure_ml(text):
            long_number = _LONG_NUMBER.search(text) if "digits" in str(exc) else None
            if isinstance(exc, json.JSONDecodeError):
                self.diagnose(file, exc.lineno, f"not valid JSON: {exc.msg} (line {exc.lineno}, column "
                                                f"{exc.colno}); fix the JSON syntax there")
            elif long_number is not None:  # Python refuses to read ints this long (CVE-2020-10735)
                line = _line_of_offset(text, long_number.start())
                self.diagnose(file, line, f"not valid JSON: a number with {len(long_number.group()):,} digits on "
                                          f"line {line} (more than the {sys.get_int_max_str_digits():,} Python "
                                          "reads); write it as a string")
            elif isinstance(exc, RecursionError):
                self.diagnose(file, None, "not valid JSON: nested too deeply")
            else:
                self.diagnose(file, None, f"not valid JSON: {exc}")
        else:
            self.skip(file, f"not valid JSON ({exc}), so nothing was read from it")


def _open_nonblocking(path: str, flags: int) -> int:
    return os.open(path, flags | getattr(os, "O_NONBLOCK", 0))


def _file_type(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a folder")):
        if test(mode):
            return name
    return "not a plain file"


def _find_object_line(text: str, obj: dict[str, Any], start: tuple[int, int]) -> tuple[int | None, tuple[int, int]]:
    """Line of an object in a big JSON file, found by its id (or name) text after the previous
    one, counting newlines only from there (recounting from the top made 80k objects quadratic);
    returns (line, where to search next)."""
    offset, line = start
    for key in ("id", "name"):
        needle = obj.get(key)
        if isinstance(needle, str) and needle:
            position = text.find(json.dumps(needle), offset)
            if position >= 0:
                found = line + text.count("\n", offset, position)
                return found, (position + 1, found)
    return None, start


# ------------------------------------------------------------------------------ many files
# Below this many files a second process costs more than it saves.
_PARALLEL_MIN_FILES = 400
# Pickling a share's items costs about this fraction of reading them (5,000 small endpoint and
# deployment files: 15 us a file against 92 us to read it, 9 us more to unpickle)
_PICKLE_COST = 0.16


def read_files(files: list[File], reader: Reader, workers: int) -> None:
    """Read every file into `reader`; with workers > 1, large file sets in forked processes
    (amlguard.forked). Results are joined in file order, so items and diagnostics are exactly
    the sequential ones."""
    from amlguard.forked import spread

    for items, diagnostics, quiet in spread(partial(_read_share, reader), files, workers,
                                            minimum=_PARALLEL_MIN_FILES, extra=_PICKLE_COST):
        reader.items.extend(items)
        reader.diagnostics.extend(diagnostics)
        reader.quiet.extend(quiet)


def _read_share(reader: Reader, files: Sequence[File]
                ) -> tuple[list[Item], list[Diagnostic], list[tuple[str, str]]]:
    """What reading `files` adds to `reader`, taken back out of it."""
    items, diagnostics, quiet = len(reader.items), len(reader.diagnostics), len(reader.quiet)
    for file in files:
        reader.read(file)
    read = reader.items[items:], reader.diagnostics[diagnostics:], reader.quiet[quiet:]
    del reader.items[items:], reader.diagnostics[diagnostics:], reader.quiet[quiet:]
    return read
