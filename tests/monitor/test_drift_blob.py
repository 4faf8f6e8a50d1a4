"""Model data collector output read straight from blob storage (Azurite), as a Function App reads it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from amlguard.errors import ConfigError, SourceError
from amlguard.monitor.drift import read_mdc_jsonl
from amlguard.monitor.drift.cli import run as run_drift
from tests.azurite import DEV_ACCOUNT, DEV_KEY

HOUR = datetime(2026, 11, 26, 10, tzinfo=UTC)


def _record(rows: list[dict[str, float]], when: datetime, **extra: str) -> str:
    return json.dumps({"specversion": "1.0", "id": "x", "source": "/subscriptions/s", "type": "azureml.inference.inputs",
                       "datacontenttype": "application/json", "time": when.isoformat(), "data": rows, **extra})


@pytest.fixture(scope="module")
def container(azurite_blob: str) -> Iterator[tuple[str, str]]:
    """(container URL, the same with a read + list SAS token) holding a collector's output."""
    from azure.storage.blob import BlobServiceClient, ContainerSasPermissions, generate_container_sas

    service = BlobServiceClient(azurite_blob, credential={"account_name": DEV_ACCOUNT, "account_key": DEV_KEY})
    name = "azureml-blobstore-0001"
    client = service.create_container(name)
    base = "modelDataCollector/fraud-scoring"
    files = {
        f"{base}/blue/model_inputs/2026/11/26/10/a.jsonl": [
            _record([{"x": 1.0}, {"x": 2.0}], HOUR + timedelta(minutes=5)),
            "{not json",
            _record([], HOUR + timedelta(minutes=6), datainblob="true")],
        f"{base}/blue/model_inputs/2026/11/26/11/b.jsonl": [_record([{"x": 3.0}], HOUR + timedelta(minutes=65))],
        f"{base}/blue/model_inputs/2026/11/26/13/c.jsonl": [_record([{"x": 99.0}], HOUR + timedelta(hours=3))],
        f"{base}/blue/model_outputs/2026/11/26/10/d.jsonl": [_record([{"y": 1.0}], HOUR)],
        f"{base}/green/model_inputs/2026/11/26/10/e.jsonl": [_record([{"x": 50.0}], HOUR)],
        f"{base}/blue/model_inputs/2026/11/26/10/notes.txt": ["not a JSONL file"],
        f"{base}/red/model_inputs/2026/11/26/f.jsonl": [  # rolling_rate: day
            _record([{"x": 7.0}], HOUR + timedelta(minutes=30)), _record([{"x": 8.0}], HOUR + timedelta(hours=5))],
    }
    for blob, lines in files.items():
        client.upload_blob(blob, "\n".join(lines).encode())
    sas = generate_container_sas(DEV_ACCOUNT, name, account_key=DEV_KEY,
                                 permission=ContainerSasPermissions(read=True, list=True),
                                 expiry=datetime.now(UTC) + timedelta(hours=2))
    url = f"{azurite_blob}/{name}"
    yield url, f"{url}?{sas}"
    service.delete_container(name)


def test_reads_the_collectors_blobs_for_one_deployment_and_window(container: tuple[str, str]) -> None:
    _, with_sas = container
    base = with_sas.replace("?", "/modelDataCollector?", 1)
    table = read_mdc_jsonl(base, endpoint="fraud-scoring", deployment="blue", start=HOUR,
                           end=HOUR + timedelta(hours=2))
    assert table["x"].tolist() == [1.0, 2.0, 3.0]
    assert (table.files, table.records, table.bad_lines, table.in_blob) == (2, 2, 1, 1)
    # no window: every hour of the collection; no deployment: green too
    assert sorted(read_mdc_jsonl(base, endpoint="fraud-scoring", deployment="blue")["x"].tolist()) == [
        1.0, 2.0, 3.0, 99.0]
    assert sorted(read_mdc_jsonl(base, start=HOUR, end=HOUR + timedelta(hours=1))["x"].tolist()) == [
        1.0, 2.0, 7.0, 50.0]
    # a collector rolling daily: the day's blob, its records filtered by time
    red = read_mdc_jsonl(base, endpoint="fraud-scoring", deployment="red", start=HOUR, end=HOUR + timedelta(hours=1))
    assert red["x"].tolist() == [7.0]


def test_storage_problems_name_the_fix(container: tuple[str, str], azurite_blob: str) -> None:
    url, with_sas = container
    key = {"account_name": DEV_ACCOUNT, "account_key": DEV_KEY}  # any credential the blob SDK takes
    # the container alone: the collector's folder, modelDataCollector, is assumed
    assert read_mdc_jsonl(url, credential=key, endpoint="fraud-scoring", deployment="blue").rows == 4
    missing = url.replace("azureml-blobstore-0001", "no-such-container")
    with pytest.raises(SourceError, match=r"404.*check the account and container names"):
        read_mdc_jsonl(missing, credential=key, endpoint="fraud-scoring", deployment="blue")
    forged = with_sas.replace("sig=", "sig=AAAA")
    with pytest.raises(SourceError, match=r"403.*SAS token in the URL is invalid or expired"):
        read_mdc_jsonl(forged, endpoint="fraud-scoring", deployment="blue")
    closed = "http://127.0.0.1:9/devstoreaccount1/c?sv=2024-01-01&sig=x"
    with pytest.raises(SourceError, match="cannot reach the storage account"):
        read_mdc_jsonl(closed, endpoint="fraud-scoring", deployment="blue")


def test_amlguard_drift_takes_a_container_url(container: tuple[str, str], tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    _, with_sas = container
    baseline = tmp_path / "baseline.csv"
    baseline.write_text("x\n" + "\n".join(str(float(i % 3 + 1)) for i in range(30)) + "\n", encoding="utf-8")
    code = run_drift(["--baseline", str(baseline), "--current", with_sas.replace("?", "/modelDataCollector?", 1),
                      "--endpoint", "fraud-scoring", "--deployment", "blue", "--start", HOUR.isoformat(),
                      "--end", (HOUR + timedelta(hours=2)).isoformat(), "--format", "json"])
    out = json.loads(capsys.readouterr().out)
    assert code in (0, 1) and [f["name"] for f in out["features"]] == ["x"]


def test_a_drift_rule_reads_the_collector_from_blob_storage_like_from_a_folder(azurite_blob: str,
                                                                              tmp_path: Path) -> None:
    from azure.storage.blob import BlobServiceClient, ContainerSasPermissions, generate_container_sas

    from amlguard.monitor.evaluate import evaluate_rules
    from tests.monitor.test_evaluate import REPO, FakeSource, deployment, mdc_drift_rule, rules_from

    drift_dir = REPO / "examples" / "drift"
    service = BlobServiceClient(azurite_blob, credential={"account_name": DEV_ACCOUNT, "account_key": DEV_KEY})
    client = service.create_container("workspaceblobstore-example")
    for path in sorted((drift_dir / "mdc").rglob("*.jsonl")):
        client.upload_blob(path.relative_to(drift_dir / "mdc").as_posix(), path.read_bytes())
    rules = rules_from(tmp_path, mdc_drift_rule(drift_dir))
    blue = deployment("credit-ep", "blue")
    now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)

    def message(where: str, **env: str) -> str | None:
        result = evaluate_rules(rules, [blue], FakeSource(), now=now, env={"MDC": where, **env})
        finding = result.evaluated[0].finding
        return None if finding is None else finding.message

    from_folder = message(str(drift_dir / "mdc"))
    # in Azure the Function App's identity reads it (DefaultAzureCredential); here a SAS token in
    # the URL, which users may paste too
    sas = generate_container_sas(DEV_ACCOUNT, "workspaceblobstore-example", account_key=DEV_KEY,
                                 permission=ContainerSasPermissions(read=True, list=True),
                                 expiry=datetime.now(UTC) + timedelta(hours=1))
    assert from_folder is not None and "features compared on 300 current rows" in from_folder
    assert message(f"{azurite_blob}/workspaceblobstore-example?{sas}") == from_folder


def test_a_url_without_sas_signs_in_with_the_settings_identity(container: tuple[str, str]) -> None:
    # Without a SAS token the reader builds DefaultAzureCredential from the settings' environment;
    # the storage SDK then refuses a token over Azurite's plain HTTP, which must surface as an
    # error that says what to do, not as a crash inside the reader.
    url, _ = container
    with pytest.raises(ConfigError, match=r"Token credential is only supported with HTTPS.*add a SAS token"):
        read_mdc_jsonl(url, env={"AZURE_CLIENT_ID": "00000000-0000-0000-0000-000000000000"})
    assert run_drift(["--baseline", __file__, "--current", url]) == 2
