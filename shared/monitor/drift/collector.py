"""Read what Azure ML's model data collector writes: its JSON Lines records, into the signals' sinks.

Where the files are (a local folder or a blob container, listed by the collector's layout, and
payloads stored in separate blobs) is amlguard.monitor.drift.stores'. `read_collector` streams a
window's files block by block into sinks (a `FeatureSink` of per-feature accumulators for the
drift and data-quality signals, a performance sink for model_performance), so memory stays
bounded whatever the window's size. Each block is parsed by pyarrow's JSON reader with a schema
of only the fields the sinks need; the lines of a block it refuses (a value of an unexpected
type, a malformed line, a payload in another shape, or stored in a separate blob: `datainblob`,
`dataref`) are found by halving it and read record by record instead, with the same results.
`read_mdc_jsonl` returns a small window as columns (notebooks, tests).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from amlguard.errors import ConfigError
from amlguard.monitor.drift.engine import CurrentColumn, Reference
from amlguard.monitor.drift.io import list_to_numpy
from amlguard.monitor.drift.stats import category_key, is_empty
from amlguard.monitor.drift.stores import Store, StoredFile, open_store
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


def _as_utc(value: datetime | str | None, what: str) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_time(value)
    except ValueError as exc:
        raise ConfigError(f"{what}: {exc}") from None


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

    def __init__(self, store: Store, sinks: Sequence[Sink], t0: datetime | None, t1: datetime | None) -> None:
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

    def read(self, file: StoredFile) -> None:
        inside = (file.start is not None and file.length is not None and (not self.t0 or file.start >= self.t0)
                  and (not self.t1 or file.start + file.length <= self.t1))
        timed = bool(self.t0 or self.t1) and not inside  # records are checked only where the period may cross
        # pyarrow parses the next block (without the GIL) while this thread adds the last one's rows
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="mdc-parse") as pool:
            try:
                pending: tuple[bytes | bytearray | memoryview, Future[Any] | None] | None = None
                for block in self.store.blocks(file.name, BLOCK_BYTES):
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
    store = open_store(where, credential, env or {})
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
    sink = _Columns()
    stats = read_collector(folder, [sink], endpoint=endpoint, deployment=deployment, collection=collection,
                           start=start, end=end, credential=credential, env=env)
    wanted = set(columns) if columns is not None else None
    names = [n for n in dict.fromkeys(k for r in sink.rows for k in r) if wanted is None or n in wanted]
    return MdcTable({n: list_to_numpy([r.get(n) for r in sink.rows]) for n in names}, stats)

