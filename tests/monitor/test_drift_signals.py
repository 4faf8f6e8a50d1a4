"""The collector-data signals (data_quality, prediction_drift, model_performance) against references written
here with plain Python, numpy and scipy, on generated collector output with nulls, values of the wrong
type, categories the reference lacks, every payload shape, payloads in separate blobs and a time
window; each in a local folder and in Azurite blob storage."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from amlguard.errors import ConfigError
from amlguard.monitor.drift import collector
from amlguard.monitor.drift.signals import Collector, data_quality, model_performance, prediction_drift
from tests.azurite import DEV_ACCOUNT, DEV_KEY

from .drift_reference import reference_categorical, reference_numerical

TOL = 1e-9
QUALITY = ("null_value_rate", "data_type_error_rate", "out_of_bounds_rate")
HOUR = datetime(2026, 11, 26, 10, tzinfo=UTC)
START, END = HOUR + timedelta(minutes=30), HOUR + timedelta(hours=2)  # the first hour's folder straddles START
EP, DEP = "credit-ep", "blue"
MISSING = object()  # a row without the key at all


# ------------------------------------------------------------------------------------------ data
def _inputs(rng: np.random.Generator, n: int, dirty: bool) -> list[dict[str, Any]]:
    """Rows of model inputs; `dirty` ones carry values pyarrow cannot type (so the Python path reads them)."""
    rows = []
    for i in range(n):
        row: dict[str, Any] = {
            "amount": [None, MISSING][i % 2] if i % 13 == 0 else float(rng.normal(120, 30)) if i % 3 else int(
                rng.integers(50, 200)),
            "age": int(rng.integers(18, 95)) if i % 17 else 120,  # 120: outside the reference's range
            "region": ["north", "south", "east", "zone-9", ""][i % 5] if i % 11 else None,  # zone-9: unseen
            "member": [True, False][i % 2] if i % 7 else None,
        }
        if dirty:
            row["amount"] = ["12.5", True, {"v": 1}, None, float(rng.normal(120, 30))][i % 5]
            row["region"] = [3, "north", 4.0, [1, 2], "west"][i % 5]  # numbers and a list are categories too
            row["member"] = ["yes", True, None][i % 3]
        rows.append({k: v for k, v in row.items() if v is not MISSING})
    return rows


def _outputs(rng: np.random.Generator, n: int, dirty: bool) -> list[dict[str, Any]]:
    rows = []
    for i in range(n):
        score = float(rng.beta(2, 5)) if i % 9 else None
        label = ["approve", "deny", "review", "escalate"][int(rng.integers(0, 4))] if i % 10 else ""
        row = {"score": score, "label": label, "cls": int(rng.integers(0, 2)), "kind": ["a", "b", "c"][i % 3],
               "estimate": float(rng.normal(50, 10))}
        if dirty:
            row.update(score=["high", 0.5, False][i % 3], cls=["1", 0, None][i % 3], label=7 if i % 2 else "deny")
        rows.append(row)
    return rows


def _records(rows: list[dict[str, Any]], when: datetime, prefix: str, rng: np.random.Generator) -> list[dict[str, Any]]:
    out, i = [], 0
    while i < len(rows):
        k = int(rng.integers(1, 5))
        out.append({"specversion": "1.0", "id": f"{prefix}{i}", "type": "azureml.inference.model_inputs",
                    "time": (when + timedelta(seconds=i)).isoformat().replace("+00:00", "Z"),
                    "data": rows[i:i + k], "correlationid": f"{prefix}{i}", "xrequestid": f"{prefix}{i}"})
        i += k
    return out


class Window:
    """A collector's output for one deployment: files per collection, and the rows a reader must count."""

    def __init__(self, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.files: dict[str, bytes] = {}
        self.rows: dict[str, list[tuple[str, dict[str, Any]]]] = {"model_inputs": [], "model_outputs": []}
        for collection, make in (("model_inputs", _inputs), ("model_outputs", _outputs)):
            early = _records(make(rng, 60, False), HOUR + timedelta(minutes=5), "e", rng)  # before START
            clean = _records(make(rng, 500, False), HOUR + timedelta(minutes=40), "c", rng)
            later = _records(make(rng, 400, False), HOUR + timedelta(minutes=70), "l", rng)
            dirty = _records(make(rng, 120, True), HOUR + timedelta(minutes=80), "d", rng)
            split = make(rng, 6, False)
            payload = make(rng, 9, False)
            by_ref = make(rng, 4, False)
            base = f"modelDataCollector/{EP}/{DEP}/{collection}/2026/11/26"
            blob = f"{base}/11/payload-{collection}.json"
            ref_blob = f"{base}/11/ref-{collection}.json"
            self.files[blob] = json.dumps(payload).encode()
            self.files[ref_blob] = json.dumps(by_ref).encode()
            columns = sorted({k for r in split for k in r})
            extra = [
                {"time": "2026-11-26T11:30:00Z", "correlationid": "s0", "data": {"columns": columns,
                 "data": [[r.get(c) for c in columns] for r in split]}},
                {"time": "2026-11-26T11:31:00Z", "correlationid": "p0", "datainblob": "true",
                 "data": f"https://stmlprod.blob.core.windows.net/azureml-blobstore-x/{blob}"},
                {"time": "2026-11-26T11:32:00Z", "correlationid": "r0", "dataref": f"URL/{ref_blob}"},
                {"time": "2026-11-26T11:33:00Z", "correlationid": "m0", "datainblob": "true",
                 "data": "https://stmlprod.blob.core.windows.net/azureml-blobstore-x/missing.json"},
            ]
            self.files[f"{base}/10/a.jsonl"] = _lines(early + clean) + b"{not json\n"
            self.files[f"{base}/11/b.jsonl"] = _lines(later)
            self.files[f"{base}/11/c.jsonl"] = _lines(dirty + extra) + b'["not", "an", "object"]\n'
            self.files[f"modelDataCollector/{EP}/green/{collection}/2026/11/26/11/x.jsonl"] = _lines(later[:3])
            kept = clean + later + dirty
            self.rows[collection] = [(f"{r['correlationid']}_{j}", row) for r in kept for j, row in enumerate(r["data"])]
            self.rows[collection] += [(f"s0_{j}", row) for j, row in enumerate(split)]
            self.rows[collection] += [(f"p0_{j}", row) for j, row in enumerate(payload)]
            self.rows[collection] += [(f"r0_{j}", row) for j, row in enumerate(by_ref)]
        self.baseline_inputs = {
            "amount": np.concatenate([rng.normal(110, 30, 300), [np.nan] * 5]),
            "age": np.concatenate([rng.integers(18, 90, 300), [40] * 5]).astype(np.int64),
            "region": np.array(["north", "south", "east", "west", None] * 61, dtype=object),
            "member": np.array([True, False, None] * 101 + [True, False], dtype=object),
        }
        self.baseline_outputs = {"score": rng.beta(2, 4, 400), "label": np.array(["approve", "deny", "review"] * 133
                                                                               + ["deny"], dtype=object)}

    def current(self, collection: str, name: str) -> list[Any]:
        return [row.get(name, None) for _, row in self.rows[collection]]


def _lines(records: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


@pytest.fixture(scope="module")
def window() -> Window:
    return Window(20261126)


@pytest.fixture(scope="module")
def azurite_container(azurite_blob: str, window: Window) -> Iterator[str]:
    from azure.storage.blob import BlobServiceClient, ContainerSasPermissions, generate_container_sas

    service = BlobServiceClient(azurite_blob, credential={"account_name": DEV_ACCOUNT, "account_key": DEV_KEY})
    name = "azureml-blobstore-signals"
    client = service.create_container(name)
    container = f"{azurite_blob}/{name}".encode()
    for blob, body in window.files.items():  # the collector's payload URLs point into this container
        client.upload_blob(blob, body.replace(b"https://stmlprod.blob.core.windows.net/azureml-blobstore-x",
                                              container).replace(b"URL", container))
    sas = generate_container_sas(DEV_ACCOUNT, name, account_key=DEV_KEY,
                                 permission=ContainerSasPermissions(read=True, list=True),
                                 expiry=datetime.now(UTC) + timedelta(hours=2))
    yield f"{azurite_blob}/{name}?{sas}"
    service.delete_container(name)


@pytest.fixture(params=["folder", "blob"])
def where(request: pytest.FixtureRequest, window: Window, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The window in a local folder (payload URLs resolved under it) or in Azurite (URLs rewritten to it)."""
    if request.param == "folder":
        root = tmp_path_factory.mktemp("collector")
        for blob, body in window.files.items():
            path = root / blob
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(body.replace(b"URL/", b"https://stmlprod.blob.core.windows.net/azureml-blobstore-x/"))
        return str(root)
    return str(request.getfixturevalue("azurite_container"))


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Blocks of a few KB, so one file spans several and both parsers take part; records which parsed each."""
    monkeypatch.setattr(collector, "BLOCK_BYTES", 4096)
    used: list[str] = []
    arrow, python = collector._Reader.add_table, collector._Reader.python
    monkeypatch.setattr(collector._Reader, "add_table", lambda self, *a: (used.append("arrow"), arrow(self, *a))[1])
    monkeypatch.setattr(collector._Reader, "python", lambda self, *a: (used.append("python"), python(self, *a))[1])
    yield used


def _source(where: str, collection: str | None = None) -> Collector:
    return Collector(where, endpoint=EP, deployment=DEP, collection=collection, start=START, end=END)


# ------------------------------------------------------------------------------------------ references
def _is_empty(v: Any) -> bool:
    return v is None or v == "" or (isinstance(v, float) and math.isnan(v))


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, list | dict):
        return json.dumps(v, sort_keys=True)
    return str(v)


def _quality(baseline: Any, current: list[Any]) -> dict[str, float]:
    """DESIGN.md contract 4, value by value."""
    base = [v for v in np.asarray(baseline).tolist() if not _is_empty(v)]
    numerical = all(_is_number(v) for v in base)
    present = [v for v in current if not _is_empty(v)]
    rate = lambda a, b: a / b if b else 0.0  # noqa: E731
    if numerical:
        finite = [v for v in base if math.isfinite(v)]
        valid = [v for v in present if _is_number(v)]
        outside = [v for v in valid if v < min(finite) or v > max(finite)]
        errors = len(present) - len(valid)
    else:
        seen = {_text(v) for v in base}
        valid, errors = present, 0
        outside = [v for v in present if _text(v) not in seen]
    return {"null_value_rate": rate(len(current) - len(present), len(current)),
            "data_type_error_rate": rate(errors, len(present)), "out_of_bounds_rate": rate(len(outside), len(valid))}


def _drift(baseline: Any, current: list[Any]) -> dict[str, float | None]:
    base = [v for v in np.asarray(baseline).tolist() if not _is_empty(v)]
    if all(_is_number(v) for v in base):
        return reference_numerical(base, [float(v) for v in current if _is_number(v)])
    return reference_categorical([_text(v) for v in base], [_text(v) for v in current if not _is_empty(v)])


def _close(got: dict[str, Any], want: dict[str, Any], where: str) -> None:
    for metric, value in want.items():
        if value is None:
            assert got[metric] is None, (where, metric)
        else:
            assert got[metric] == pytest.approx(value, rel=TOL, abs=TOL), (where, metric, got[metric], value)


# ------------------------------------------------------------------------------------------ tests
def test_data_quality_equals_the_definitions(window: Window, where: str, small_blocks: list[str]) -> None:
    report = data_quality(window.baseline_inputs, _source(where))
    assert {"arrow", "python"} <= set(small_blocks)  # both parsers read part of the window
    assert report.current_rows == len(window.rows["model_inputs"]) == 1039
    assert report.notes and "could not be read" in " ".join(report.notes)  # the missing payload, said aloud
    for feature in report.features:
        want = _quality(window.baseline_inputs[feature.name], window.current("model_inputs", feature.name))
        _close(feature.metrics, want, feature.name)
        assert feature.thresholds == dict.fromkeys(want, 0.0)  # Azure ML's data-quality defaults
        assert feature.drifted == any(v > 0 for v in want.values())
        _close(feature.metrics, _drift(window.baseline_inputs[feature.name],
                                       window.current("model_inputs", feature.name)), feature.name)
    assert report.feature("amount").type == "numerical" and report.feature("member").type == "categorical"
    assert report.feature("amount").metrics["data_type_error_rate"] > 0
    assert report.feature("region").metrics["out_of_bounds_rate"] > 0


def test_prediction_drift_reads_model_outputs_and_equals_scipy(window: Window, where: str) -> None:
    report = prediction_drift(window.baseline_outputs, _source(where))
    assert [f.name for f in report.features] == ["score", "label"]
    for feature in report.features:
        current = window.current("model_outputs", feature.name)
        _close(feature.metrics, _drift(window.baseline_outputs[feature.name], current), feature.name)
        _close(feature.metrics, _quality(window.baseline_outputs[feature.name], current), feature.name)
    assert report.feature("score").thresholds == {"normalized_wasserstein_distance": 0.1}
    assert report.feature("label").thresholds == {"jensen_shannon_distance": 0.1}


def _truth(window: Window, column: str, tmp_path: Path, make: Any) -> tuple[Path, dict[str, Any]]:
    """Ground truth for 85% of the rows (some empty), as a CSV file; and the same as a dict."""
    rng = np.random.default_rng(7)
    truth: dict[str, Any] = {}
    for key, row in window.rows["model_outputs"]:
        if rng.random() < 0.85:
            truth[key] = None if rng.random() < 0.03 else make(row.get(column), rng)
    path = tmp_path / "truth.csv"
    path.write_text("correlationid,actual\n" + "".join(f"{k},{'' if v is None else v}\n" for k, v in truth.items()))
    return path, truth


def _performance(window: Window, column: str, truth: dict[str, Any], task: str) -> dict[str, float]:
    pairs = [(row.get(column), truth[key]) for key, row in window.rows["model_outputs"] if key in truth]
    if task == "regression":
        ok = [(float(p), float(a)) for p, a in pairs if _is_number(p) and a is not None]
        e = np.array([p - a for p, a in ok])
        return {"mean_absolute_error": float(np.mean(np.abs(e))), "mean_squared_error": float(np.mean(e ** 2)),
                "root_mean_squared_error": float(np.sqrt(np.mean(e ** 2)))}
    ok = [(_text(p), _text(a)) for p, a in pairs if not _is_empty(p) and a is not None]
    y_pred, y_true = np.array([p for p, _ in ok]), np.array([a for _, a in ok])
    labels = sorted(set(y_pred) | set(y_true))
    precision = [np.sum((y_pred == c) & (y_true == c)) / max(np.sum(y_pred == c), 1) for c in labels]
    recall = [np.sum((y_pred == c) & (y_true == c)) / max(np.sum(y_true == c), 1) for c in labels]
    if set(labels) <= {"0", "1"}:
        i = labels.index("1")
        precision, recall = [precision[i]], [recall[i]]
    return {"accuracy": float(np.mean(y_pred == y_true)), "precision": float(np.mean(precision)),
            "recall": float(np.mean(recall))}


@pytest.mark.parametrize(("task", "column", "make"), [
    ("classification", "cls", lambda p, rng: int(rng.integers(0, 2)) if rng.random() < 0.3 else p),  # binary 0/1
    ("classification", "label", lambda p, rng: ["approve", "deny", "review"][int(rng.integers(0, 3))]),  # macro
    ("regression", "estimate", lambda p, rng: round(float(p) + float(rng.normal(0, 3)), 6)),
])
def test_model_performance_joins_on_the_correlation_id_and_equals_the_formulas(
        window: Window, where: str, tmp_path: Path, task: str, column: str, make: Any) -> None:
    path, truth = _truth(window, column, tmp_path, make)
    report = model_performance(path, _source(where), prediction=column, actual="actual",
                               thresholds={"*": {"accuracy": 0.99, "mae": 0.5}})
    assert report.task == task
    want = _performance(window, column, truth, task)
    _close(report.metrics, want, column)
    joined = sum(1 for key, _ in window.rows["model_outputs"] if key in truth)
    assert report.rows + report.invalid == joined
    assert report.unmatched == len(window.rows["model_outputs"]) - joined
    assert report.breaches == (["accuracy"] if task == "classification" else ["mean_absolute_error"])


def test_model_performance_from_columns_and_errors(tmp_path: Path) -> None:
    truth = tmp_path / "truth.csv"
    truth.write_text("id,y\na,1\nb,0\nc,1\n")
    report = model_performance(truth, {"id": ["a", "b", "c", "z"], "pred": [1, 1, 1, 0]}, prediction="pred",
                               actual="y", correlation_id="id")
    assert report.metrics == {"accuracy": 2 / 3, "precision": 2 / 3, "recall": 1.0}
    assert (report.rows, report.unmatched, report.positive_label) == (3, 1, "1")
    truth.write_text("id,y\na,1\nb,0\na,1\n")
    with pytest.raises(ConfigError, match=r"truth\.csv: column id: id 'a' is on data rows 1, 3"):
        model_performance(truth, {"id": ["a"], "pred": [1]}, prediction="pred", actual="y", correlation_id="id")
    truth.write_text("id,y\na,1\n")
    with pytest.raises(ConfigError, match=r"no column\(s\) pred to join"):
        model_performance(truth, {"id": ["a"]}, prediction="pred", actual="y", correlation_id="id")


def test_numbers_beyond_the_budget_are_sampled_and_the_rates_still_count_every_value(window: Window,
                                                                                     where: str) -> None:
    from amlguard.monitor.drift.signals import data_drift

    exact = data_drift(window.baseline_inputs, _source(where))
    capped = data_drift(window.baseline_inputs, _source(where), max_values=200)  # 100 per numerical feature
    for name in ("amount", "age"):
        small, full = capped.feature(name), exact.feature(name)
        assert small.current_count == 100 < full.current_count
        assert "uniform sample of 100" in (small.note or "")
        assert {m: small.metrics[m] for m in QUALITY} == {m: full.metrics[m] for m in QUALITY}
    assert capped.feature("region").metrics == exact.feature("region").metrics  # categories are counts: exact



@pytest.mark.parametrize(("options", "selected"), [
    ({}, ["amount", "age", "region", "member", "is_fraud"]),  # all: the label too, null in every current row
    ({"features": "all_features", "exclude": ["is_fraud"]}, ["amount", "age", "region", "member"]),
    ({"features": ["region", "amount"]}, ["region", "amount"]),
    ({"features": {"top_n_feature_importance": 2}, "exclude": ["is_fraud"],
      "feature_importance": {"is_fraud": 9.0, "member": 0.2, "age": 0.7, "region": 0.4, "amount": 0.1}},
     ["age", "region"]),
], ids=["all", "all-but-the-label", "list", "top-n"])
def test_feature_selection_on_the_collector_equals_the_definitions(window: Window, where: str,
                                                                   options: dict[str, Any],
                                                                   selected: list[str]) -> None:
    """Azure ML's feature selection over a training reference (with its label), each selected feature's
    values against the references, in a folder and in blob storage."""
    from amlguard.monitor.drift.signals import data_drift

    training = {**window.baseline_inputs, "is_fraud": np.array([0, 1] * 152 + [1])}
    report = data_drift(training, _source(where), **options)
    assert [f.name for f in report.features] == selected
    for feature in report.features:
        current = window.current("model_inputs", feature.name)
        _close(feature.metrics, _quality(training[feature.name], current), feature.name)
        _close(feature.metrics, _drift(training[feature.name], current), feature.name)


class _Keyed:
    """A sink keeping one field per row id, parsed by pyarrow where it can (the payload-blob records force
    their blocks through the record-by-record path)."""

    needs_keys = True

    def __init__(self, name: str) -> None:
        import pyarrow as pa

        self.name, self.fields, self.got = name, {name: pa.float64()}, {}

    def add_arrow(self, rows: Any, keys: Any) -> None:
        import pyarrow.compute as pc

        if keys is not None:  # None: a block without rows
            self.got.update(zip(keys.to_pylist(), pc.struct_field(rows, self.name).to_pylist(), strict=True))

    def add_rows(self, rows: list[dict[str, Any]], keys: list[str | None]) -> None:
        self.got.update((k, r.get(self.name)) for k, r in zip(keys, rows, strict=True))


def test_payloads_stored_in_separate_blobs_are_fetched(window: Window, where: str) -> None:
    """`datainblob` (the URL in data) and `dataref` records: their rows read from the same store, under
    their record's correlation id; a payload that is gone is counted, named and skipped."""
    sink = _Keyed("score")
    stats = collector.read_collector(where, [sink], endpoint=EP, deployment=DEP, collection="model_outputs",
                                     start=START, end=END)
    assert (stats.in_blob, stats.in_blob_unread) == (3, 1) and "missing.json" in stats.first_problem
    assert sink.got == {key: row.get("score") for key, row in window.rows["model_outputs"]}
    fetched = {key for key in sink.got if key.startswith(("p0_", "r0_"))}
    assert len(fetched) == 9 + 4  # every row of both payloads


def test_feature_selection_all_a_list_or_the_top_n_by_importance(tmp_path: Path) -> None:
    from amlguard.monitor.drift.signals import select_features

    columns = ["a", "b", "c", "d"]
    assert select_features(columns) == select_features(columns, "all_features") == columns
    assert select_features(columns, ["c", "a"]) == ["c", "a"]
    assert select_features(columns, exclude=["b"]) == ["a", "c", "d"]  # a label, an id: never a feature
    assert select_features(columns, ["c", "a"], exclude=["a"]) == ["c"]
    top = {"top_n_feature_importance": 2}
    assert select_features(columns, top, {"a": 0.1, "b": 0.7, "d": 0.4, "zz": 9.0}) == ["b", "d"]
    importance = tmp_path / "importance.csv"
    importance.write_text("feature,metric_value\na,3\nb,1\nc,2\n")  # Azure ML's feature-importance output
    assert select_features(columns, top, importance) == ["a", "c"]
    assert select_features(columns, top, importance, exclude=["a"]) == ["c", "b"]  # the next most important
    with pytest.raises(ConfigError, match="needs feature_importance"):
        select_features(columns, top)
    with pytest.raises(ConfigError, match=r"expected \{top_n_feature_importance: N\} with N >= 1"):
        select_features(columns, {"top_n_feature_importance": 0}, {"a": 1})
    with pytest.raises(ConfigError, match=r"feature\(s\) q not in the baseline"):
        select_features(columns, ["a", "q"])
    importance.write_text("name,score\na,1\n")
    with pytest.raises(ConfigError, match="expected columns feature and importance"):
        select_features(columns, top, importance)
