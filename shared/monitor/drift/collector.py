"""Read what Azure ML's model data collector writes: JSON Lines under a local folder or a blob container.

`read_collector` streams a window's files block by block into sinks (a `FeatureSink` of per-feature
accumulators for the drift and data-quality signals, a performance sink for model_performance),
so memory stays bounded whatever the window's size. Each block is parsed by pyarrow's JSON reader
with a schema of only the fields the sinks need; the lines of a block it refuses (a value of an
unexpected type, a malformed line, a payload in another shape, or stored in a separate blob:
`datainblob`, `dataref`) are found by halving it and read record by record instead, with the
same results. `read_mdc_jsonl` returns a small window as columns (notebooks, tests).
"""

from __future__ import annotations

import json
import logging
import mmap
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from amlguard.errors import ConfigError, SourceError
from amlguard.monitor.drift.engine import CurrentColumn, Reference
from amlguard.monitor.drift.io import is_container_url, list_to_numpy
from amlguard.monitor.drift.stats import category_key, is_empty
from amlguard.timeparse import parse_time

__all__ = ["BLOCK_BYTES", "MAX_VALUES", "CollectorStats", "FeatureSink", "MdcTable", "Sink", "read_collector",
           "read_mdc_jsonl"]

log = logging.getLogger(__name__)

# Bytes handed to pyarrow at a time: big enough that its threads share the work, small enough
# that a block and its table stay a few tens of MB.
BLOCK_BYTES = 16 << 20
# Numbers kept per window for the exact drift statistics (8 bytes each) before sampling starts.
MAX_VALUES = 50_000_000
_ARROW_TYPES = {"number": "float64", "integer": "int64", "boolean": "bool_", "string": "string"}
_DIGITS = re.compile(r"^\d+$")


class Sink(Protocol):
    """What a reader feeds: the row fields it needs (name -> pyarrow type) and the rows, as Arrow
    or as Python dicts; `keys` holds each row's correlation id when `needs_keys`."""

    fields: dict[str, Any]
    needs_keys: bool

    def add_arrow(self, rows: Any, keys: Any) -> None: ...

    def add_rows(self, rows: list[dict[str, Any]], keys: list[str | None]) -> None: ...


class FeatureSink:
    """A CurrentColumn per feature, typed by its baseline Reference; at most `max_values` numbers kept
    in all (split evenly between the numerical features), a uniform sample beyond."""

    needs_keys = False

    def __init__(self, references: Mapping[str, Reference], max_values: int = MAX_VALUES) -> None:
        import pyarrow as pa

        numerical = sum(1 for r in references.values() if r.numerical) or 1
        self.columns = {n: CurrentColumn(r, cap=max(max_values // numerical, 1)) for n, r in references.items()}
        self.fields = {n: pa.float64() if r.numerical else getattr(pa, _ARROW_TYPES[r.value_type])()
                       for n, r in references.items()}

    def add_arrow(self, rows: Any, keys: Any) -> None:
        import pyarrow.compute as pc

        for name, column in self.columns.items():
            values = pc.struct_field(rows, name)
            if column.reference.numerical:
                column.add_numbers(values.drop_null().to_numpy(), empty=values.null_count)
                continue
            counts: dict[str, int] = {}
            empty = 0
            for item in pc.value_counts(values).to_pylist():  # distinct values only: cheap in Python
                value, n = item["values"], item["counts"]
                if is_empty(value):
                    empty += n
                else:
                    key = category_key(value)
                    counts[key] = counts.get(key, 0) + n
            column.add_categories(counts, empty)

    def add_rows(self, rows: list[dict[str, Any]], keys: list[str | None]) -> None:
        for name, column in self.columns.items():
            column.add([r.get(name) for r in rows])


@dataclass
class CollectorStats:
    """What a read covered: files, records and rows read; lines and files that could not be read;
    records whose payload was in a separate blob (read, or not, with the first reason)."""

    files: int = 0
    records: int = 0
    rows: int = 0
    bad_lines: int = 0
    in_blob: int = 0
    in_blob_unread: int = 0
    bad_files: list[str] = field(default_factory=list)
    first_problem: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"files": self.files, "records": self.records, "rows": self.rows, "bad_lines": self.bad_lines,
                "in_blob": self.in_blob, "in_blob_unread": self.in_blob_unread, "bad_files": list(self.bad_files)}

    def notes(self, where: str) -> list[str]:
        """One line per thing that was not read, for stderr and findings."""
        out = []
        if self.bad_lines:
            out.append(f"{where}: skipped {self.bad_lines} malformed line(s) (not a JSON object with tabular data)")
        if self.in_blob_unread:
            out.append(f"{where}: {self.in_blob_unread} record(s) whose payload is stored in a separate blob could "
                       f"not be read ({self.first_problem})")
        if self.bad_files:
            out.append(f"{where}: {len(self.bad_files)} unreadable file(s), first {self.bad_files[0]}")
        return out


# ------------------------------------------------------------------------------------------ where
@dataclass(frozen=True)
class _File:
    name: str
    start: datetime | None  # the period its path says it covers, when laid out as the collector does
    length: timedelta | None


class _Store(Protocol):
    where: str

    def files(self, endpoint: str | None, deployment: str | None, collection: str | None,
              t0: datetime | None, t1: datetime | None) -> list[_File]: ...

    def blocks(self, name: str) -> Iterator[bytes | bytearray | memoryview]: ...

    def payload(self, ref: str) -> bytes: ...


class _Folder:
    """A local folder holding the collector's files (a copy of the container, or a mount)."""

    def __init__(self, root: Path) -> None:
        if not root.is_dir():
            raise SourceError(f"{root}: not a folder; pass the folder holding modelDataCollector/... JSONL files, "
                              "or the URL of the blob container the collector writes to", source=str(root))
        self.root = root
        self.where = str(root)

    def files(self, endpoint: str | None, deployment: str | None, collection: str | None,
              t0: datetime | None, t1: datetime | None) -> list[_File]:
        out = []
        for path in sorted(self.root.rglob("*.jsonl")):
            parts = path.resolve().parts
            if _wanted(parts, endpoint, deployment, collection, t0, t1):
                out.append(_File(str(path), *_path_period(parts)[1:]))
        return out

    def blocks(self, name: str) -> Iterator[bytes | bytearray | memoryview]:
        """Whole lines, about BLOCK_BYTES at a time, as views of the file mapped into memory: no copy.
        (The map closes when the last view is released, as pyarrow may still parse the last block.)"""
        with open(name, "rb") as fh:
            if not os.fstat(fh.fileno()).st_size:
                return
            whole = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        start, size = 0, len(whole)
        while start < size:
            cut = whole.find(b"\n", min(start + BLOCK_BYTES, size) - 1) + 1 or size
            yield memoryview(whole)[start:cut]
            start = cut

    def payload(self, ref: str) -> bytes:
        """A separately stored payload, found under the folder by the longest tail of its URL's path."""
        from urllib.parse import unquote, urlsplit

        parts = [unquote(p) for p in (urlsplit(ref).path if is_container_url(ref) else ref).split("/") if p]
        for i in range(len(parts)):
            candidate = self.root.joinpath(*parts[i:])
            if candidate.is_file():
                return candidate.read_bytes()
        raise OSError(f"{ref} is not under {self.root}; copy the blob there with the same path")


class _Container:
    """A blob container (and path) the collector writes to, listed by the narrowest prefixes the filters allow."""

    def __init__(self, url: str, credential: Any, env: Mapping[str, str]) -> None:
        from urllib.parse import urlsplit, urlunsplit

        from azure.storage.blob import ContainerClient

        parts = urlsplit(url)
        path = [p for p in parts.path.split("/") if p]
        account = path[:1] if parts.netloc.startswith(("127.0.0.1", "localhost")) and path else []
        path = path[len(account):]  # Azurite: /ACCOUNT/CONTAINER/...
        if not path:
            raise ConfigError(f"{url}: no container in the URL; use https://ACCOUNT.blob.core.windows.net/CONTAINER"
                              "[/modelDataCollector]")
        self.container_url = urlunsplit((parts.scheme, parts.netloc, "/" + "/".join(account + path[:1]),
                                         parts.query, ""))
        self.where = f"blob container {self.container_url.split('?')[0]}"
        self.url = url
        self.sas = bool(parts.query)
        self.base = "/".join(path[1:]) or "modelDataCollector"  # where the collector writes in the container
        if credential is None and not parts.query:  # a SAS token needs no other credential
            from amlguard.inventory.config import credential_from_env

            credential = credential_from_env(env)
        self.credential = credential
        # the SDK's storage retry waits 15 s, 18 s and 24 s: a monitor run that repeats every few
        # minutes should rather report the failure and try again at its next run
        self.options: dict[str, Any] = {"retry_total": 2, "initial_backoff": 1, "increment_base": 2,
                                        "connection_timeout": 10}
        try:
            self.client = ContainerClient.from_container_url(self.container_url, credential=credential, **self.options)
        except ValueError as exc:  # e.g. a token credential on a plain-HTTP URL
            raise ConfigError(f"{url}: {exc}; use an https:// URL, or add a SAS token allowing read and list "
                              "to the URL") from exc

    def files(self, endpoint: str | None, deployment: str | None, collection: str | None,
              t0: datetime | None, t1: datetime | None) -> list[_File]:
        from azure.core.exceptions import AzureError, ClientAuthenticationError, HttpResponseError

        prefixes = [self.base]
        if endpoint and deployment and collection:
            # the layout's own folders; one prefix per day of a bounded window
            top = "/".join(p for p in (self.base, endpoint, deployment, collection) if p) + "/"
            prefixes = [top]
            if t0 is not None and t1 is not None and t1 > t0:
                first = t0.replace(hour=0, minute=0, second=0, microsecond=0)
                days = (t1 - first).days + 1
                if days <= _MAX_DAY_PREFIXES:
                    prefixes = [f"{top}{(first + timedelta(days=d)):%Y/%m/%d}/" for d in range(days)]
        try:
            names = sorted({blob.name for prefix in prefixes
                            for blob in self.client.list_blobs(name_starts_with=prefix or None)
                            if blob.name.endswith(".jsonl")})
        except (ClientAuthenticationError, HttpResponseError) as exc:
            status = getattr(exc, "status_code", None)
            denied = ("the SAS token in the URL is invalid or expired, or does not allow read and list" if self.sas
                      else "grant the identity the Storage Blob Data Reader role on the container, or use a URL "
                           "with a SAS token allowing read and list")
            hint = ("check the account and container names (the collector writes to the workspace's default "
                    "datastore, workspaceblobstore)" if status == 404 else
                    denied if status in (401, 403) or isinstance(exc, ClientAuthenticationError) else "retry later")
            raise SourceError(f"{self.where}: listing blobs failed ({status} {exc.reason}); {hint}",
                              source=self.url) from exc
        except AzureError as exc:
            raise SourceError(f"{self.where}: cannot reach the storage account ({exc}); check the URL and the "
                              "network", source=self.url) from exc
        return [_File(n, *_path_period(n.split("/"))[1:]) for n in names
                if _wanted(n.split("/"), endpoint, deployment, collection, t0, t1)]

    def blocks(self, name: str) -> Iterator[bytes | bytearray | memoryview]:
        from azure.core.exceptions import AzureError

        try:
            yield from _blocks(self.client.download_blob(name).chunks())
        except AzureError as exc:  # one unreadable blob is skipped and named, like an unreadable file
            raise OSError(str(exc)) from exc

    def payload(self, ref: str) -> bytes:
        from azure.core.exceptions import AzureError
        from azure.storage.blob import BlobClient

        own = self.container_url.split("?")[0] + "/"
        try:
            if ref.startswith(own):
                from urllib.parse import unquote

                blob = self.client.get_blob_client(unquote(ref[len(own):].split("?")[0]))
            else:
                blob = BlobClient.from_blob_url(ref, credential=self.credential, **self.options)
            return bytes(blob.download_blob().readall())
        except (AzureError, ValueError) as exc:
            raise OSError(f"{ref}: {exc}".splitlines()[0]) from exc


def _store(where: str | Path, credential: Any, env: Mapping[str, str]) -> _Store:
    return _Container(str(where), credential, env) if is_container_url(where) else _Folder(Path(where))


# days listed one prefix each (whatever the rolling rate) when the window is known and at most
# this long; else one listing of the collection
_MAX_DAY_PREFIXES = 62


def _as_utc(value: datetime | str | None, what: str) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_time(value)
    except ValueError as exc:
        raise ConfigError(f"{what}: {exc}") from None


def _path_period(parts: Sequence[str]) -> tuple[tuple[str, str, str] | None, datetime | None, timedelta | None]:
    """(endpoint, deployment, collection), and the start and length of the period a file covers,
    when its path (as parts) follows the collector's layout for its rolling rate:
    `{endpoint}/{deployment}/{collection}/yyyy/MM/dd[/HH[/mm]]/{file}` (day, hour or minute)."""
    folders = list(parts[:-1])
    digits = 0
    while digits < min(5, len(folders)) and _DIGITS.match(folders[-1 - digits]):
        digits += 1
    if digits < 3 or len(folders) < digits + 3:
        return None, None, None
    fields = [int(x) for x in folders[len(folders) - digits:]] + [0, 0]  # hour and minute when absent
    try:
        start = datetime(fields[0], fields[1], fields[2], fields[3], fields[4], tzinfo=UTC)
    except ValueError:
        return None, None, None
    length = {3: timedelta(days=1), 4: timedelta(hours=1), 5: timedelta(minutes=1)}[digits]
    names = folders[len(folders) - digits - 3:len(folders) - digits]
    return (names[0], names[1], names[2]), start, length


def _wanted(parts: Sequence[str], endpoint: str | None, deployment: str | None, collection: str | None,
            t0: datetime | None, t1: datetime | None) -> bool:
    names, start, length = _path_period(parts)
    if names is None or start is None or length is None:
        return True  # not the collector's layout: read it, records are filtered by their time
    ep, dep, coll = names
    if (endpoint and ep != endpoint) or (deployment and dep != deployment) or (collection and coll != collection):
        return False
    return not ((t0 and start + length <= t0) or (t1 and start >= t1))


# ------------------------------------------------------------------------------------------ records
def _rows_of(data: Any) -> list[dict[str, Any]] | None:
    """Rows of an MDC `data` value (records, split, columns or one row); None when it is not tabular."""
    if isinstance(data, str | bytes):
        try:
            data = json.loads(data)
        except ValueError:
            return None
    if isinstance(data, list):
        return data if all(isinstance(r, dict) for r in data) else None
    if not isinstance(data, dict):
        return None
    if isinstance(data.get("columns"), list) and isinstance(data.get("data"), list):
        cols = data["columns"]
        if not all(isinstance(r, list) and len(r) == len(cols) for r in data["data"]):
            return None
        return [dict(zip(cols, r, strict=True)) for r in data["data"]]
    values = list(data.values())
    if values and all(isinstance(v, list) for v in values):  # {column: [values]}
        n = len(values[0])
        if any(len(v) != n for v in values):
            return None
        return [{k: data[k][i] for k in data} for i in range(n)]
    if values and all(isinstance(v, dict) for v in values):  # pandas orient="dict": {column: {index: value}}
        index = list(dict.fromkeys(i for v in values for i in v))
        return [{k: data[k].get(i) for k in data} for i in index]
    return [data]


class _Reader:
    """One read of a window: the time filter, the counters, and the two ways a block is parsed."""

    def __init__(self, store: _Store, sinks: Sequence[Sink], t0: datetime | None, t1: datetime | None) -> None:
        self.store, self.sinks, self.t0, self.t1 = store, sinks, t0, t1
        self.stats = CollectorStats()
        self.needs_keys = any(s.needs_keys for s in sinks)
        self.use_arrow = any(s.fields for s in sinks)  # a sink that keeps whole rows reads them as Python
        self._schema: Any = None

    def schema(self) -> Any:
        import pyarrow as pa

        if self._schema is None:
            fields: dict[str, Any] = {}
            for sink in self.sinks:
                for name, typ in sink.fields.items():
                    fields.setdefault(name, typ)
            top = [("data", pa.list_(pa.struct(list(fields.items())))), ("datainblob", pa.string()),
                   ("dataref", pa.string())]
            if self.t0 or self.t1:
                top.append(("time", pa.string()))
            if self.needs_keys:
                top.append(("correlationid", pa.string()))
            self._schema = pa.schema(top)
        return self._schema

    def read(self, file: _File) -> None:
        inside = (file.start is not None and file.length is not None and (not self.t0 or file.start >= self.t0)
                  and (not self.t1 or file.start + file.length <= self.t1))
        timed = bool(self.t0 or self.t1) and not inside  # records are checked only where the period may cross
        # pyarrow parses the next block (without the GIL) while this thread adds the last one's rows
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="mdc-parse") as pool:
            try:
                pending: tuple[bytes | bytearray | memoryview, Future[Any] | None] | None = None
                for block in self.store.blocks(file.name):
                    parsed = pool.submit(self.parse, block) if self.use_arrow else None
                    if pending is not None:
                        self.block(*pending, timed)
                    pending = (block, parsed)
                if pending is not None:
                    self.block(*pending, timed)
            except OSError as exc:
                log.warning("skipping unreadable MDC file %s: %s", file.name, exc)
                self.stats.bad_files.append(file.name)
                return
        self.stats.files += 1

    def block(self, view: bytes | bytearray | memoryview, parsed: Future[Any] | None, timed: bool) -> None:
        """Add a block pyarrow parsed. A block it refuses (a value of another type, a malformed line,
        a payload stored elsewhere or in another shape) is halved, and the halves parsed again,
        until the pieces it still refuses are small enough to read record by record: a few odd
        lines cost a few parses, not the whole block in Python."""
        table = parsed.result() if parsed is not None else None
        if table is not None:
            self.add_table(table, timed)
            return
        block = bytes(view).rstrip(b"\n")
        middle = block.find(b"\n", len(block) // 2) + 1 or block.rfind(b"\n", 0, len(block) // 2) + 1
        if parsed is None or len(block) <= max(BLOCK_BYTES >> 8, 1024) or not middle:  # one line cannot split
            self.python(block.split(b"\n"), timed)
            return
        for half in (block[:middle], block[middle:]):
            if half.strip():
                self.block(half, _done(self.parse(half)), timed)

    def parse(self, block: bytes | bytearray | memoryview) -> Any:
        """The block as a table of the schema's fields; None when pyarrow refuses it (a value of another
        type, a malformed line) or a record's payload is elsewhere."""
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.json as pj

        try:
            table = pj.read_json(pa.BufferReader(pa.py_buffer(block)), read_options=pj.ReadOptions(block_size=1 << 20),
                                 parse_options=pj.ParseOptions(explicit_schema=self.schema(),
                                                               unexpected_field_behavior="ignore"))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return None
        refs = pc.or_(pc.equal(pc.utf8_lower(table.column("datainblob")), "true"),
                      pc.and_(table.column("dataref").is_valid(), table.column("data").is_null()))
        return None if pc.any(refs).as_py() else table

    def add_table(self, table: Any, timed: bool) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        if timed:
            table = table.filter(pa.array([self.in_window(t) for t in table.column("time").to_pylist()]))
        data = table.column("data").combine_chunks()
        self.stats.bad_lines += data.null_count  # no `data`, or null
        self.stats.records += len(data) - data.null_count
        rows = pc.list_flatten(data)
        self.stats.rows += len(rows)
        keys = None
        if self.needs_keys and len(rows):
            parents = pc.list_parent_indices(data)
            lengths = pc.list_value_length(data).fill_null(0).to_numpy()
            first = np.cumsum(lengths) - lengths  # each record's first row among `rows`
            position = np.arange(len(rows)) - first[parents.to_numpy()]
            ids = table.column("correlationid").combine_chunks().take(parents)
            keys = pc.binary_join_element_wise(ids, pa.array(position).cast(pa.string()), "_")
        for sink in self.sinks:
            sink.add_arrow(rows, keys)

    def in_window(self, when: Any) -> bool:
        """A record outside the window is left out; one without a readable time is kept."""
        if not isinstance(when, str):
            return True
        try:
            moment = parse_time(when)
        except ValueError:
            return True
        return not ((self.t0 and moment < self.t0) or (self.t1 and moment >= self.t1))

    def python(self, lines: Iterable[bytes | bytearray], timed: bool) -> None:
        rows: list[dict[str, Any]] = []
        keys: list[str | None] = []
        for line in lines:
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                self.stats.bad_lines += 1
                continue
            if not isinstance(rec, dict):
                self.stats.bad_lines += 1
                continue
            if timed and not self.in_window(rec.get("time")):
                continue
            data = rec.get("data")
            in_blob = str(rec.get("datainblob", "")).lower() == "true"
            ref = data if in_blob else (rec.get("dataref") if data is None else None)
            if in_blob or ref is not None:
                self.stats.in_blob += 1
                try:
                    if not isinstance(ref, str) or not ref:
                        raise ValueError("a record marked datainblob has no blob URL in data")
                    data = _payload(self.store.payload(ref))
                except (OSError, ValueError) as exc:
                    self.stats.in_blob_unread += 1
                    self.stats.first_problem = self.stats.first_problem or str(exc)
                    continue
            got = _rows_of(data)
            if got is None:
                self.stats.bad_lines += 1
                continue
            self.stats.records += 1
            cid = rec.get("correlationid")
            rows.extend(got)
            keys.extend(f"{cid}_{i}" if cid is not None else None for i in range(len(got)))
        self.stats.rows += len(rows)
        if rows:
            for sink in self.sinks:
                sink.add_rows(rows, keys)


def _done(result: Any) -> Future[Any]:
    """`result` as a finished Future (a half parsed in this thread)."""
    future: Future[Any] = Future()
    future.set_result(result)
    return future


def _payload(raw: bytes) -> Any:
    """A separately stored payload: one JSON document, or JSON Lines of rows."""
    try:
        return json.loads(raw)
    except ValueError:
        return [json.loads(line) for line in raw.splitlines() if line.strip()]


def _blocks(chunks: Iterator[bytes]) -> Iterator[bytearray]:
    """Whole lines, about BLOCK_BYTES at a time, from byte chunks of any size (one copy of each byte)."""
    pending = bytearray()
    for chunk in chunks:
        pending += chunk
        if len(pending) >= BLOCK_BYTES:
            cut = pending.rfind(b"\n") + 1
            if cut:
                block, pending = pending, pending[cut:]
                del block[cut:]
                yield block
    if pending.strip():
        yield pending


def read_collector(
    where: str | Path,
    sinks: Sequence[Sink],
    *,
    endpoint: str | None = None,
    deployment: str | None = None,
    collection: str | None = "model_inputs",
    start: datetime | str | None = None,
    end: datetime | str | None = None,
    credential: Any = None,
    env: Mapping[str, str] | None = None,
) -> CollectorStats:
    """Stream the collector's JSONL under `where` into `sinks`; returns what was read.

    `where` is a local folder, or the URL of a blob container (and optional path) where the
    collector writes: `https://ACCOUNT.blob.core.windows.net/CONTAINER[/PATH]`, PATH defaulting
    to `modelDataCollector` as in the workspace's default datastore. A URL with a SAS token is
    used as it is; otherwise `credential` (default: DefaultAzureCredential configured from `env`;
    it needs the Storage Blob Data Reader role on the container).

    Files are found recursively; those laid out as `{endpoint}/{deployment}/{collection}/yyyy/MM/
    dd/HH/*.jsonl` are filtered by the names given and by period; others are read as they are. A
    record is kept when its `time` lies in [start, end) (UTC; naive times are UTC). `data` may be
    a list of row objects, {"columns": [...], "data": [[...]]}, {column: [values]} or one row; a
    payload stored in a separate blob (`datainblob: "true"` with its URL in `data`, or `dataref`)
    is fetched from the same store. A row's correlation id is `{correlationid}_{row index}`, as
    Azure ML's collector preprocessor makes it.
    """
    t0, t1 = _as_utc(start, "start"), _as_utc(end, "end")
    store = _store(where, credential, env or {})
    reader = _Reader(store, sinks, t0, t1)
    for file in store.files(endpoint, deployment, collection, t0, t1):
        reader.read(file)
    for note in reader.stats.notes(store.where):
        log.warning("model data collector: %s", note)
    return reader.stats


class MdcTable(dict[str, np.ndarray]):
    """Columns read from model data collector JSONL, plus what was read and what was skipped."""

    def __init__(self, columns: dict[str, np.ndarray], stats: CollectorStats) -> None:
        super().__init__(columns)
        self._stats = stats
        self.files, self.records, self.rows = stats.files, stats.records, stats.rows
        self.bad_lines, self.in_blob, self.bad_files = stats.bad_lines, stats.in_blob, stats.bad_files

    def stats(self) -> dict[str, Any]:
        return self._stats.to_dict()


class _Columns:
    """A sink that keeps every row's values: the whole window as columns."""

    fields: dict[str, Any] = {}
    needs_keys = False

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def add_arrow(self, rows: Any, keys: Any) -> None:  # never called: with no fields, blocks are read as Python
        self.rows.extend(rows.to_pylist())

    def add_rows(self, rows: list[dict[str, Any]], keys: list[str | None]) -> None:
        self.rows.extend(rows)


def read_mdc_jsonl(
    folder: str | Path,
    *,
    endpoint: str | None = None,
    deployment: str | None = None,
    collection: str | None = "model_inputs",
    start: datetime | str | None = None,
    end: datetime | str | None = None,
    columns: Iterable[str] | None = None,
    credential: Any = None,
    env: Mapping[str, str] | None = None,
) -> MdcTable:
    """The collector's rows under `folder` (see read_collector) as columns: numbers as float64 (nulls as
    NaN), other values as objects. It holds the whole window in memory: for large windows, stream
    into a FeatureSink with read_collector."""
    t0, t1 = _as_utc(start, "start"), _as_utc(end, "end")
    store = _store(folder, credential, env or {})
    sink = _Columns()
    reader = _Reader(store, [sink], t0, t1)
    for file in store.files(endpoint, deployment, collection, t0, t1):
        reader.read(file)
    for note in reader.stats.notes(store.where):
        log.warning("model data collector: %s", note)
    wanted = set(columns) if columns is not None else None
    names = [n for n in dict.fromkeys(k for r in sink.rows for k in r) if wanted is None or n in wanted]
    return MdcTable({n: list_to_numpy([r.get(n) for r in sink.rows]) for n in names}, reader.stats)

