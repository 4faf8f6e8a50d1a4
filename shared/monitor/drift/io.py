"""Read drift inputs as columns: CSV / Parquet files (only the needed columns) and model data collector JSONL.

Columns come back as numpy arrays: numbers as int64/float64 (nulls as NaN), everything else as
object arrays of str / bool / None. pandas is never imported.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from amlguard.errors import ConfigError, SourceError
from amlguard.timeparse import parse_time

__all__ = ["MdcTable", "is_container_url", "read_mdc_jsonl", "read_table", "table_columns"]

log = logging.getLogger(__name__)

_PARQUET_SUFFIXES = {".parquet", ".pq", ".parq"}
_JSONL_SUFFIXES = {".jsonl", ".ndjson"}
_FIX = "pass a CSV (with a header row), Parquet or JSON Lines file"


def _format_of(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in _PARQUET_SUFFIXES:
        return "parquet"
    if any(s in _JSONL_SUFFIXES for s in suffixes):
        return "jsonl"
    if any(s in {".csv", ".tsv", ".txt"} for s in suffixes):
        return "tsv" if ".tsv" in suffixes else "csv"
    with path.open("rb") as fh:  # no telling suffix: Parquet files start with the magic "PAR1"
        return "parquet" if fh.read(4) == b"PAR1" else "csv"


def _check_file(path: Path, role: str) -> None:
    if not path.exists():
        raise SourceError(f"{role}{path}: file not found; {_FIX}", source=str(path))
    if path.is_dir():
        raise SourceError(f"{role}{path}: is a folder; {_FIX} (a model data collector folder is read "
                          "with read_mdc_jsonl, or `amlguard drift --current FOLDER`)", source=str(path))


def table_columns(path: str | Path) -> list[str]:
    """Column names of a CSV / Parquet / JSONL file, reading as little as the format allows."""
    p = Path(path)
    _check_file(p, "")
    fmt = _format_of(p)
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            return list(pq.read_schema(p).names)
        if fmt == "jsonl":
            return list(_read_arrow(p, fmt, None).column_names)
        import pyarrow.csv as pcsv

        reader = pcsv.open_csv(p, parse_options=_csv_parse_options(fmt))
        names = list(reader.schema.names)
        reader.close()
        return names
    except (OSError, ValueError) as exc:  # pyarrow.ArrowInvalid is a ValueError
        raise SourceError(f"{p}: cannot read as {fmt}: {_short(exc)}; {_FIX}", source=str(p)) from exc


def read_table(path: str | Path, columns: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Read `columns` (default: all) of a CSV / Parquet / JSONL file into {name: numpy array}.

    Only the requested columns are parsed (pyarrow `columns=` / `include_columns=`). A missing file
    is a SourceError naming it; a requested column the file lacks is a ConfigError naming both.
    """
    p = Path(path)
    _check_file(p, "")
    fmt = _format_of(p)
    if columns is not None:
        available = table_columns(p)
        missing = [c for c in columns if c not in available]
        if missing:
            raise ConfigError(f"{p}: no column(s) {', '.join(missing)}; its columns are: "
                              f"{', '.join(available) or '(none)'}")
    try:
        table = _read_arrow(p, fmt, list(columns) if columns is not None else None)
    except (OSError, ValueError) as exc:
        raise SourceError(f"{p}: cannot read as {fmt}: {_short(exc)}; {_FIX}", source=str(p)) from exc
    names = list(columns) if columns is not None else list(table.column_names)
    return {name: _to_numpy(table.column(name)) for name in names}


def _csv_parse_options(fmt: str) -> Any:
    import pyarrow.csv as pcsv

    return pcsv.ParseOptions(delimiter="\t" if fmt == "tsv" else ",")


def _read_arrow(p: Path, fmt: str, columns: list[str] | None) -> Any:
    if fmt == "parquet":
        import pyarrow.parquet as pq

        # One thread: the columns are few row groups of plain numbers, and reader threads cost
        # more in wake-ups than they save (measured on 2 cores).
        return pq.read_table(p, columns=columns, memory_map=True, use_threads=False)
    if fmt == "jsonl":
        import pyarrow.json as pjson

        table = pjson.read_json(p)
        return table.select(columns) if columns is not None else table
    import pyarrow.csv as pcsv

    return pcsv.read_csv(p, parse_options=_csv_parse_options(fmt),
                         convert_options=pcsv.ConvertOptions(include_columns=columns))


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _to_numpy(column: Any) -> np.ndarray:
    """One Arrow column as numpy: numbers stay numbers (nulls -> NaN), the rest str/bool/None objects."""
    import pyarrow as pa
    import pyarrow.compute as pc

    typ = column.type
    if pa.types.is_dictionary(typ):
        column = column.cast(typ.value_type)
        typ = column.type
    if pa.types.is_integer(typ) or pa.types.is_floating(typ):
        if column.null_count:
            return np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64)
        return np.asarray(column.to_numpy())
    if pa.types.is_decimal(typ):
        return np.asarray(column.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
    if pa.types.is_boolean(typ) or pa.types.is_string(typ) or pa.types.is_large_string(typ):
        return np.asarray(column.to_pylist(), dtype=object)
    if pa.types.is_null(typ):
        return np.full(len(column), None, dtype=object)
    try:  # dates, times, binary: compare as text
        return np.asarray(pc.cast(column, pa.string()).to_pylist(), dtype=object)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # nested values: compare their JSON
        return np.asarray([None if v is None else json.dumps(v, sort_keys=True, default=str)
                           for v in column.to_pylist()], dtype=object)


class MdcTable(dict[str, np.ndarray]):
    """Columns read from model data collector JSONL, plus what was read and what was skipped."""

    def __init__(self, columns: dict[str, np.ndarray], *, files: int, records: int, rows: int,
                 bad_lines: int, in_blob: int, bad_files: list[str]) -> None:
        super().__init__(columns)
        self.files = files
        self.records = records
        self.rows = rows
        self.bad_lines = bad_lines
        self.in_blob = in_blob
        self.bad_files = bad_files

    def stats(self) -> dict[str, Any]:
        return {"files": self.files, "records": self.records, "rows": self.rows,
                "bad_lines": self.bad_lines, "in_blob": self.in_blob, "bad_files": list(self.bad_files)}


_DIGITS = re.compile(r"^\d+$")


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


def _rows_of(data: Any) -> list[dict[str, Any]] | None:
    """Rows of an MDC `data` value (records, split, columns or one row); None when it is not tabular."""
    if isinstance(data, str):
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
    """Read model data collector JSONL under `folder` into columns.

    `folder` is a local folder, or the URL of a blob container (and optional path) where the
    collector writes: `https://ACCOUNT.blob.core.windows.net/CONTAINER[/PATH]`, PATH defaulting
    to `modelDataCollector` as in the workspace's default datastore. A
    URL with a SAS token is used as it is; otherwise `credential` (default: DefaultAzureCredential
    configured from `env`, the settings' environment; it needs the Storage Blob Data Reader role on
    the container).

    Files are found recursively; those laid out as `{endpoint}/{deployment}/{collection}/yyyy/MM/dd/HH/
    *.jsonl` are filtered by the names given and by hour; others are read as they are. A record
    is kept when its `time` lies in [start, end) (UTC; naive times are UTC). `data` may be a list
    of row objects, {"columns": [...], "data": [[...]]}, {column: [values]} or a single row.
    Lines that are not JSON objects with tabular `data` are counted in `bad_lines` and skipped;
    records whose payload was stored in a separate blob (`datainblob`) are counted in `in_blob`.
    """
    t0, t1 = _as_utc(start, "start"), _as_utc(end, "end")
    wanted = set(columns) if columns is not None else None
    if is_container_url(folder):
        source = str(folder)
        found = _mdc_blobs(source, endpoint, deployment, collection, t0, t1, credential, env or {})
    else:
        root = Path(folder)
        if not root.is_dir():
            raise SourceError(f"{root}: not a folder; pass the folder holding modelDataCollector/... JSONL files, "
                              "or the URL of the blob container the collector writes to", source=str(root))
        source = str(root)
        found = _mdc_files(root, endpoint, deployment, collection, t0, t1)
    rows: list[dict[str, Any]] = []
    files = records = bad_lines = in_blob = 0
    bad_files: list[str] = []
    for name, read in found:
        try:
            text = read()
        except OSError as exc:
            log.warning("skipping unreadable MDC file %s: %s", name, exc)
            bad_files.append(name)
            continue
        files += 1
        for line in text.splitlines():
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                bad_lines += 1
                continue
            if not isinstance(rec, dict):
                bad_lines += 1
                continue
            if str(rec.get("datainblob", "")).lower() == "true":
                in_blob += 1
                continue
            if (t0 or t1) and isinstance(rec.get("time"), str):
                try:
                    when = _as_utc(rec["time"], "time")
                except ConfigError:
                    when = None
                if when is not None and ((t0 and when < t0) or (t1 and when >= t1)):
                    continue
            got = _rows_of(rec.get("data"))
            if got is None:
                bad_lines += 1
                continue
            records += 1
            rows.extend(got)
    if bad_lines:
        log.warning("model data collector: skipped %d malformed line(s) under %s", bad_lines, source)
    names_seen = list(dict.fromkeys(k for r in rows for k in r))
    if wanted is not None:
        names_seen = [n for n in names_seen if n in wanted]
    cols = {n: _list_to_numpy([r.get(n) for r in rows]) for n in names_seen}
    return MdcTable(cols, files=files, records=records, rows=len(rows), bad_lines=bad_lines,
                    in_blob=in_blob, bad_files=bad_files)


_MdcFile = tuple[str, Callable[[], str]]  # (name for messages, read its text)


def is_container_url(where: str | Path) -> bool:
    """True when `where` names a blob container (and path) rather than a local folder."""
    return str(where).startswith(("https://", "http://"))


def _wanted(parts: Sequence[str], endpoint: str | None, deployment: str | None, collection: str | None,
            t0: datetime | None, t1: datetime | None) -> bool:
    names, start, length = _path_period(parts)
    if names is None or start is None or length is None:
        return True  # not the collector's layout: read it, records are filtered by their time
    ep, dep, coll = names
    if (endpoint and ep != endpoint) or (deployment and dep != deployment) or (collection and coll != collection):
        return False
    return not ((t0 and start + length <= t0) or (t1 and start >= t1))


def _mdc_files(root: Path, endpoint: str | None, deployment: str | None, collection: str | None,
               t0: datetime | None, t1: datetime | None) -> Iterator[_MdcFile]:
    for path in sorted(root.rglob("*.jsonl")):
        if _wanted(path.resolve().parts, endpoint, deployment, collection, t0, t1):
            yield str(path), partial(path.read_text, encoding="utf-8", errors="replace")


# days listed one prefix each (whatever the rolling rate) when the window is known and at most
# this long; else one listing of the collection
_MAX_DAY_PREFIXES = 62


def _mdc_blobs(url: str, endpoint: str | None, deployment: str | None, collection: str | None,
               t0: datetime | None, t1: datetime | None, credential: Any,
               env: Mapping[str, str]) -> Iterator[_MdcFile]:
    """The collector's blobs under `url`, listed by the narrowest prefixes the filters allow."""
    from urllib.parse import urlsplit, urlunsplit

    from azure.core.exceptions import AzureError, ClientAuthenticationError, HttpResponseError
    from azure.storage.blob import ContainerClient

    parts = urlsplit(url)
    path = [p for p in parts.path.split("/") if p]
    if parts.netloc.startswith(("127.0.0.1", "localhost")) and path:  # Azurite: /ACCOUNT/CONTAINER/...
        account, path = path[:1], path[1:]
    else:
        account = []
    if not path:
        raise ConfigError(f"{url}: no container in the URL; use https://ACCOUNT.blob.core.windows.net/CONTAINER"
                          "[/modelDataCollector]")
    container_url = urlunsplit((parts.scheme, parts.netloc, "/" + "/".join(account + path[:1]), parts.query, ""))
    base = "/".join(path[1:]) or "modelDataCollector"  # where the collector writes in the container
    if credential is None and not parts.query:  # a SAS token needs no other credential
        from amlguard.inventory.config import credential_from_env

        credential = credential_from_env(env)
    # the SDK's storage retry waits 15 s, 18 s and 24 s: a monitor run that repeats every few
    # minutes should rather report the failure and try again at its next run
    try:
        client = ContainerClient.from_container_url(container_url, credential=credential, retry_total=2,
                                                    initial_backoff=1, increment_base=2, connection_timeout=10)
    except ValueError as exc:  # e.g. a token credential on a plain-HTTP URL
        raise ConfigError(f"{url}: {exc}; use an https:// URL, or add a SAS token allowing read and list "
                          "to the URL") from exc
    prefixes = [base]
    if endpoint and deployment and collection:
        # the layout's own folders; one prefix per day of a bounded window
        top = "/".join(p for p in (base, endpoint, deployment, collection) if p) + "/"
        prefixes = [top]
        if t0 is not None and t1 is not None and t1 > t0:
            first = t0.replace(hour=0, minute=0, second=0, microsecond=0)
            days = (t1 - first).days + 1
            if days <= _MAX_DAY_PREFIXES:
                prefixes = [f"{top}{(first + timedelta(days=d)):%Y/%m/%d}/" for d in range(days)]
    where = f"blob container {container_url.split('?')[0]}"
    try:
        names = sorted({blob.name for prefix in prefixes
                        for blob in client.list_blobs(name_starts_with=prefix or None)
                        if blob.name.endswith(".jsonl")})
    except (ClientAuthenticationError, HttpResponseError) as exc:
        status = getattr(exc, "status_code", None)
        denied = ("the SAS token in the URL is invalid or expired, or does not allow read and list" if parts.query
                  else "grant the identity the Storage Blob Data Reader role on the container, or use a URL "
                       "with a SAS token allowing read and list")
        hint = ("check the account and container names (the collector writes to the workspace's default "
                "datastore, workspaceblobstore)" if status == 404 else
                denied if status in (401, 403) or isinstance(exc, ClientAuthenticationError) else "retry later")
        raise SourceError(f"{where}: listing blobs failed ({status} {exc.reason}); {hint}", source=url) from exc
    except AzureError as exc:
        raise SourceError(f"{where}: cannot reach the storage account ({exc}); check the URL and the network",
                          source=url) from exc

    def read(name: str) -> str:
        try:
            return client.download_blob(name).readall().decode("utf-8", errors="replace")
        except AzureError as exc:  # one unreadable blob is skipped and named, like an unreadable file
            raise OSError(str(exc)) from exc

    for name in names:
        if _wanted(name.split("/"), endpoint, deployment, collection, t0, t1):
            yield f"{container_url.split('?')[0]}/{name}", partial(read, name)


def _list_to_numpy(values: list[Any]) -> np.ndarray:
    import pyarrow as pa

    try:
        return _to_numpy(pa.chunked_array([pa.array(values)]))
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
        # mixed kinds (numbers and text): keep text, numbers as their text, so they compare as categories
        return np.asarray([v if v is None or isinstance(v, str | bool)
                           else json.dumps(v, sort_keys=True) if isinstance(v, dict | list) else str(v)
                           for v in values], dtype=object)
