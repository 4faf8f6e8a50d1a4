"""Reading drift inputs: CSV / Parquet columns (only those asked for) and model data collector JSONL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from amlguard.errors import ConfigError, SourceError
from amlguard.monitor.drift import read_mdc_jsonl, read_table, table_columns


def _write_csv(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_types_nulls_and_empty_strings(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "d.csv", "n,f,s,b,d\n1,1.5,x,true,2024-01-01\n,2.5,,false,\n3,,y,,2024-01-03\n")
    cols = read_table(path)
    assert list(cols) == ["n", "f", "s", "b", "d"]
    assert cols["n"].dtype == np.float64 and np.isnan(cols["n"][1])
    assert np.isnan(cols["f"][2])
    assert cols["s"].tolist() == ["x", "", "y"]
    assert cols["b"].tolist() == [True, False, None]
    assert cols["d"].tolist() == ["2024-01-01", None, "2024-01-03"]


def test_integer_column_without_nulls_stays_integer(tmp_path: Path) -> None:
    cols = read_table(_write_csv(tmp_path / "i.csv", "k\n1\n2\n3\n"))
    assert cols["k"].dtype == np.int64


def test_csv_reads_only_requested_columns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write_csv(tmp_path / "d.csv", "a,b,c\n1,2,3\n4,5,6\n")
    seen: list[Any] = []
    real = pcsv.read_csv

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs["convert_options"].include_columns)
        return real(*args, **kwargs)

    monkeypatch.setattr(pcsv, "read_csv", spy)
    cols = read_table(path, ["c", "a"])
    assert list(cols) == ["c", "a"]
    assert cols["c"].tolist() == [3, 6]
    assert seen == [["c", "a"]]


def test_parquet_reads_only_requested_columns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"a": [1.0, 2.0], "b": ["x", "y"], "c": [None, 3]}), path)
    seen: list[Any] = []
    real = pq.read_table

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs.get("columns"))
        return real(*args, **kwargs)

    monkeypatch.setattr(pq, "read_table", spy)
    cols = read_table(path, ["b", "c"])
    assert seen == [["b", "c"]]
    assert cols["b"].tolist() == ["x", "y"]
    assert np.isnan(cols["c"][0]) and cols["c"][1] == 3.0
    assert table_columns(path) == ["a", "b", "c"]


def test_parquet_detected_without_suffix(tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    pq.write_table(pa.table({"x": [1, 2]}), path)
    assert read_table(path)["x"].tolist() == [1, 2]


def test_missing_column_names_file_and_columns(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "d.csv", "a,b\n1,2\n")
    with pytest.raises(ConfigError, match=r"d\.csv: no column\(s\) zz; its columns are: a, b"):
        read_table(path, ["a", "zz"])


def test_missing_file_and_garbage_file(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"nope\.csv: file not found"):
        read_table(tmp_path / "nope.csv")
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not parquet at all")
    with pytest.raises(SourceError, match=r"bad\.parquet: cannot read as parquet"):
        read_table(bad)


def _mdc_file(root: Path, endpoint: str, deployment: str, collection: str, hour: str, lines: list[str]) -> Path:
    folder = root / "modelDataCollector" / endpoint / deployment / collection / "2026" / "11" / "26" / hour
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "abc123.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _record(data: Any, time: str = "2026-11-26T10:15:00.1234567Z", **extra: Any) -> str:
    return json.dumps({"specversion": "1.0", "id": "e1", "type": "azureml.inference.model_inputs",
                       "time": time, "data": data, **extra})


def test_mdc_shapes_bad_lines_blob_records_and_filters(tmp_path: Path) -> None:
    _mdc_file(tmp_path, "ep", "blue", "model_inputs", "10", [
        _record([{"x": 1.0, "c": "a"}, {"x": 2.0, "c": "b"}]),  # records
        _record({"columns": ["x", "c"], "data": [[3.0, "a"], [None, "c"]]}),  # pandas split
        _record({"x": [5.0, 6.0], "c": ["b", "b"]}),  # columns
        _record({"x": 7.0, "c": "a", "extra": 1}),  # a single row
        _record(json.dumps([{"x": 8.0, "c": "a"}])),  # data as a JSON string
        "{not json",
        json.dumps(["not", "an", "object"]),
        _record("plain text payload"),
        _record(None, datainblob="true", path="some/blob"),
        "",
    ])
    _mdc_file(tmp_path, "ep", "green", "model_inputs", "10", [_record([{"x": 100.0, "c": "z"}])])
    _mdc_file(tmp_path, "ep", "blue", "model_outputs", "10", [_record([{"y": 1}])])
    _mdc_file(tmp_path, "ep", "blue", "model_inputs", "13", [_record([{"x": 50.0, "c": "q"}],
                                                                   time="2026-11-26T13:05:00Z")])
    table = read_mdc_jsonl(tmp_path, endpoint="ep", deployment="blue", end="2026-11-26T12:00:00Z")
    assert table.stats() == {"files": 1, "records": 5, "rows": 8, "bad_lines": 3, "in_blob": 1, "in_blob_unread": 1,
                             "bad_files": []}
    assert table["x"].tolist()[:3] == [1.0, 2.0, 3.0] and np.isnan(table["x"][3])
    assert table["x"].tolist()[4:] == [5.0, 6.0, 7.0, 8.0]
    assert table["c"].tolist() == ["a", "b", "a", "c", "b", "b", "a", "a"]
    assert table["extra"].tolist()[6] == 1.0

    everything = read_mdc_jsonl(tmp_path, collection="model_inputs")
    assert everything.rows == 10  # blue (both hours) and green
    late = read_mdc_jsonl(tmp_path, deployment="blue", start="2026-11-26T13:00:00+00:00")
    assert late["x"].tolist() == [50.0]


def test_mdc_record_time_filter_inside_an_hour(tmp_path: Path) -> None:
    _mdc_file(tmp_path, "ep", "blue", "model_inputs", "10", [
        _record([{"x": 1.0}], time="2026-11-26T10:05:00Z"),
        _record([{"x": 2.0}], time="2026-11-26T10:45:00Z"),
    ])
    table = read_mdc_jsonl(tmp_path, start="2026-11-26T10:30:00Z", end="2026-11-26T11:00:00Z")
    assert table["x"].tolist() == [2.0]


def test_mdc_mixed_value_kinds_keep_their_own_type(tmp_path: Path) -> None:
    _mdc_file(tmp_path, "ep", "blue", "model_inputs", "10", [_record([{"v": 1}, {"v": "one"}])])
    assert read_mdc_jsonl(tmp_path)["v"].tolist() == [1, "one"]  # a number and a text: typed one by one


def test_mdc_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="not a folder"):
        read_mdc_jsonl(tmp_path / "missing")
    with pytest.raises(ConfigError, match="not an ISO 8601 time"):
        read_mdc_jsonl(tmp_path, start="yesterday")


def test_gzipped_csv_and_tsv(tmp_path: Path) -> None:
    import gzip

    with gzip.open(tmp_path / "d.csv.gz", "wt", encoding="utf-8") as fh:
        fh.write("a,b\n1,x\n2,y\n")
    (tmp_path / "d.tsv").write_text("a\tb\n1\tx\n", encoding="utf-8")
    assert table_columns(tmp_path / "d.csv.gz") == ["a", "b"]
    assert read_table(tmp_path / "d.csv.gz", ["b"])["b"].tolist() == ["x", "y"]
    assert read_table(tmp_path / "d.tsv")["b"].tolist() == ["x"]


@pytest.mark.parametrize("rolling", ["day", "hour", "minute"])
def test_mdc_layout_of_every_rolling_rate_is_filtered_by_name_and_period(tmp_path: Path, rolling: str) -> None:
    period = {"day": ["26"], "hour": ["26", "10"], "minute": ["26", "10", "05"]}[rolling]

    def put(deployment: str, records: list[str]) -> None:
        folder = tmp_path.joinpath("modelDataCollector", "ep", deployment, "model_inputs", "2026", "11", *period)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "i.jsonl").write_text("\n".join(records) + "\n", encoding="utf-8")

    put("blue", [_record([{"x": 1.0}], time="2026-11-26T10:05:30Z")])
    put("green", [_record([{"x": 2.0}], time="2026-11-26T10:05:30Z")])
    assert read_mdc_jsonl(tmp_path, deployment="blue")["x"].tolist() == [1.0]  # green's folder is left out
    inside = read_mdc_jsonl(tmp_path, deployment="blue", start="2026-11-26T10:00:00Z", end="2026-11-26T11:00:00Z")
    assert inside.files == 1 and inside["x"].tolist() == [1.0]
    after = read_mdc_jsonl(tmp_path, deployment="blue", start="2026-11-27T00:00:00Z")
    assert after.files == 0  # the whole period lies before the window: not even opened
