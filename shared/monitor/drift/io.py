"""Read drift inputs as columns: CSV / Parquet / JSON Lines files, only the needed columns.

Columns come back as numpy arrays: numbers as int64/float64 (nulls as NaN), everything else as
object arrays of str / bool / None. pandas is never imported.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from amlguard.errors import ConfigError, SourceError

__all__ = ["DATA_SUFFIXES", "is_container_url", "list_to_numpy", "read_table", "table_columns"]


_PARQUET_SUFFIXES = {".parquet", ".pq", ".parq"}
_JSONL_SUFFIXES = {".jsonl", ".ndjson"}
#: the data files read_table reads by their suffix (a .txt is read as CSV, but is not looked for)
DATA_SUFFIXES = frozenset(_PARQUET_SUFFIXES | _JSONL_SUFFIXES | {".csv", ".tsv"})
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
    """The first line of a reader's error, bounded, with unprintable characters escaped: pyarrow
    quotes the row it stopped on, which for a binary file is raw bytes for the terminal."""
    lines = str(exc).strip().splitlines()
    text = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in lines[0]) if lines else type(exc).__name__
    return text if len(text) <= 200 else f"{text[:200]}..."


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
        return np.asarray(column.to_numpy(zero_copy_only=False), dtype=object)
    if pa.types.is_null(typ):
        return np.full(len(column), None, dtype=object)
    try:  # dates, times, binary: compare as text
        return np.asarray(pc.cast(column, pa.string()).to_pylist(), dtype=object)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # nested values: compare their JSON
        return np.asarray([None if v is None else json.dumps(v, sort_keys=True, default=str)
                           for v in column.to_pylist()], dtype=object)


def is_container_url(where: str | Path) -> bool:
    """True when `where` names a blob container (and path) rather than a local folder."""
    return str(where).startswith(("https://", "http://"))


def list_to_numpy(values: list[Any]) -> np.ndarray:
    """Python values (JSON rows' column) as numpy: one kind -> as `_to_numpy`; mixed kinds (numbers and
    text) -> an object array of the values as they are, so each is typed on its own."""
    import pyarrow as pa

    from amlguard.monitor.drift.stats import object_array

    try:
        return _to_numpy(pa.chunked_array([pa.array(values)]))
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
        return object_array(values)
