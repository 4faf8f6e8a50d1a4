"""Read drift inputs as columns: CSV / Parquet files (only the needed columns) and model data collector JSONL.

Columns come back as numpy arrays: numbers as int64/float64 (nulls as NaN), everything else as
object arrays of str / bool / None. pandas is never imported.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from shared.errors import ConfigError, SourceError

__all__ = ["MdcTable", "read_mdc_jsonl", "read_table", "table_columns"]

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
_FRACTION = re.compile(r"(\.\d{6})\d+")


def _as_utc(value: datetime | str | None, what: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(_FRACTION.sub(r"\1", value.strip()))
        except ValueError:
            raise ConfigError(f"{what} {value!r} is not an ISO 8601 time; "
                              "use e.g. 2026-01-31T00:00:00Z") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _path_hour(path: Path) -> tuple[tuple[str, str, str] | None, datetime | None]:
    """(endpoint, deployment, collection) and the hour a file sits under, when it follows the MDC layout."""
    parts = path.parts
    if len(parts) < 8:
        return None, None
    yyyy, mm, dd, hh = parts[-5:-1]
    if not all(_DIGITS.match(x) for x in (yyyy, mm, dd, hh)):
        return None, None
    try:
        hour = datetime(int(yyyy), int(mm), int(dd), int(hh), tzinfo=UTC)
    except ValueError:
        return None, None
    return (parts[-8], parts[-7], parts[-6]), hour


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
) -> MdcTable:
    """Read model data collector JSONL under `folder` into columns.

    Files are found recursively; those laid out as `{endpoint}/{deployment}/{collection}/yyyy/MM/dd/HH/
    *.jsonl` are filtered by the names given and by hour; others are read as they are. A record
    is kept when its `time` lies in [start, end) (UTC; naive times are UTC). `data` may be a list
    of row objects, {"columns": [...], "data": [[...]]}, {column: [values]} or a single row.
    Lines that are not JSON objects with tabular `data` are counted in `bad_lines` and skipped;
    records whose payload was stored in a separate blob (`datainblob`) are counted in `in_blob`.
    """
    root = Path(folder)
    if not root.is_dir():
        raise SourceError(f"{root}: not a folder; pass the folder holding modelDataCollector/... JSONL files",
                          source=str(root))
    t0, t1 = _as_utc(start, "start"), _as_utc(end, "end")
    wanted = set(columns) if columns is not None else None
    rows: list[dict[str, Any]] = []
    files = records = bad_lines = in_blob = 0
    bad_files: list[str] = []
    for path in sorted(root.rglob("*.jsonl")):
        names, hour = _path_hour(path.resolve())
        if names is not None:
            ep, dep, coll = names
            if ((endpoint and ep != endpoint) or (deployment and dep != deployment)
                    or (collection and coll != collection)):
                continue
            if hour is not None and ((t0 and hour + timedelta(hours=1) <= t0) or (t1 and hour >= t1)):
                continue
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            log.warning("skipping unreadable MDC file %s: %s", path, exc)
            bad_files.append(str(path))
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
        log.warning("model data collector: skipped %d malformed line(s) under %s", bad_lines, root)
    names_seen = list(dict.fromkeys(k for r in rows for k in r))
    if wanted is not None:
        names_seen = [n for n in names_seen if n in wanted]
    cols = {n: _list_to_numpy([r.get(n) for r in rows]) for n in names_seen}
    return MdcTable(cols, files=files, records=records, rows=len(rows), bad_lines=bad_lines,
                    in_blob=in_blob, bad_files=bad_files)


def _list_to_numpy(values: list[Any]) -> np.ndarray:
    import pyarrow as pa

    try:
        return _to_numpy(pa.chunked_array([pa.array(values)]))
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
        # mixed kinds (numbers and text): keep text, numbers as their text, so they compare as categories
        return np.asarray([v if v is None or isinstance(v, str | bool)
                           else json.dumps(v, sort_keys=True) if isinstance(v, dict | list) else str(v)
                           for v in values], dtype=object)
