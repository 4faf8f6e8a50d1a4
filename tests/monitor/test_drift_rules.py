"""Monitor rules for the collector signals beside data_drift: prediction_drift, data_quality and
model_performance, loaded, validated and evaluated on a collector folder like data_drift rules."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from amlguard.errors import PolicyError
from amlguard.monitor.evaluate import evaluate_rules
from amlguard.monitor.rules import load_monitor_rules

from .test_drift_signals import Window
from .test_evaluate import FakeSource, deployment

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
RULE = """\
  - id: AMLG-MON-{id}
    title: t
    severity: medium
    signal: {signal}
    window: 24h
    drift:
      baseline: {baseline}
      current: {{mdc: "{{env:MDC}}"}}
{extra}
    description: d
    rationale: r
    remediation: x
"""


def _rules(tmp_path: Path, *rules: dict[str, str]) -> Path:
    body = "".join(RULE.format(**{"extra": "", **r}) for r in rules)
    path = tmp_path / "rules.yaml"
    path.write_text("apiVersion: amlguard/v1\nkind: MonitorRules\nrules:\n" + body, "utf-8")
    return path


def _extra(text: str) -> str:
    return textwrap.indent(textwrap.dedent(text).strip("\n"), "      ")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A collector folder (inputs and outputs of credit-ep/blue), baselines and ground truth."""
    window = Window(11)
    root = tmp_path_factory.mktemp("signals")
    for blob, body in window.files.items():
        path = root / "mdc" / blob
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body.replace(b"URL/", b"https://stmlprod.blob.core.windows.net/azureml-blobstore-x/"))
    pq.write_table(pa.table(window.baseline_inputs), root / "inputs.parquet")
    pq.write_table(pa.table(window.baseline_outputs), root / "outputs.parquet")
    keys = [key for key, _ in window.rows["model_outputs"]]
    (root / "truth.csv").write_text("correlationid,label\n" + "".join(f"{k},approve\n" for k in keys[::2]))
    return root


def test_each_collector_signal_is_a_rule_with_its_own_findings(folder: Path, tmp_path: Path) -> None:
    path = _rules(
        tmp_path,
        {"id": "DQ-001", "signal": "data_quality", "baseline": str(folder / "inputs.parquet"),
         "extra": _extra("""
            thresholds: {"*": {null_value_rate: 0.5, data_type_error_rate: 0.5, out_of_bounds_rate: 0.25}}""")},
        {"id": "PRED-001", "signal": "prediction_drift", "baseline": str(folder / "outputs.parquet")},
        {"id": "PERF-001", "signal": "model_performance", "baseline": str(folder / "truth.csv"),
         "extra": _extra("""
            prediction: label
            thresholds: {classification: {accuracy: 0.9}}""")},
        {"id": "PERF-002", "signal": "model_performance", "baseline": str(folder / "truth.csv"),
         "extra": _extra("""
            prediction: label
            thresholds: {"*": {accuracy: 0.05}}""")},
    )
    rules = load_monitor_rules(path)
    result = evaluate_rules(rules, [deployment("credit-ep", "blue"), deployment("credit-ep", "idle")], FakeSource(),
                            now=NOW, env={"MDC": str(folder / "mdc")})
    got = {(e.rule.id, e.resource.name): e for e in result.evaluated}
    quality = got[("AMLG-MON-DQ-001", "blue")]
    assert quality.finding is not None and quality.finding.status == "fail"
    assert quality.observation.data["drifted_features"] == ["region"]  # 30% of its values are unseen categories
    assert quality.finding.message.startswith("1 feature breached data-quality thresholds over the last 24h: region "
                                              "(out_of_bounds_rate 0.")
    assert "could not be read" in quality.finding.message  # the payload blob that is missing, said in the finding
    prediction = got[("AMLG-MON-PRED-001", "blue")]
    assert prediction.observation.data["drifted_features"] == ["score", "label"]
    assert prediction.finding is not None and "2 features drifted" in prediction.finding.message
    performance = got[("AMLG-MON-PERF-001", "blue")]
    assert performance.finding is not None and performance.finding.status == "fail"
    assert performance.finding.message.startswith("1 metric breached their thresholds over the last 24h: "
                                                  "classification: accuracy 0.")
    assert performance.observation.data["breaches"] == ["accuracy"]
    passing = got[("AMLG-MON-PERF-002", "blue")]
    assert passing.finding is not None and passing.finding.status == "pass"
    assert passing.finding.message.startswith("no model_performance threshold breached over the last 24h")
    assert got[("AMLG-MON-DQ-001", "idle")].observation.no_data  # no collector files for this deployment


@pytest.mark.parametrize(("signal", "extra", "field", "message"), [
    ("model_performance", "thresholds: {classification: {accuracy: 0.9}}", "rules.0.drift.prediction",
     "needs `prediction:`"),
    ("model_performance", "prediction: y", "rules.0.drift.thresholds", "no default thresholds"),
    ("model_performance", "prediction: y\nfeatures: [a]\nthresholds: {'*': {accuracy: 0.9}}",
     "rules.0.drift.features", "remove features"),
    ("data_quality", "prediction: y", "rules.0.drift.prediction", "applies to signal model_performance only"),
    ("data_drift", "features: {top_n_feature_importance: 3}", "rules.0.drift.features", "needs feature_importance"),
    ("data_drift", "features: {top_n: 3}", "rules.0.drift.features", "all_features"),
    ("model_performance", "prediction: y\nexclude: [a]\nthresholds: {'*': {accuracy: 0.9}}",
     "rules.0.drift.exclude", "remove exclude"),
    ("data_quality", "features: [a, b]\nexclude: [b]", "rules.0.drift.exclude",
     "b is both listed in features and excluded; remove it from one of them"),
])
def test_invalid_signal_options_name_the_field_and_the_fix(tmp_path: Path, signal: str, extra: str, field: str,
                                                           message: str) -> None:
    path = _rules(tmp_path, {"id": "SIG-001", "signal": signal, "baseline": "b.csv", "extra": _extra(extra)})
    with pytest.raises(PolicyError) as info:
        load_monitor_rules(path)
    assert any(f == field and message in m for _, _, f, m in info.value.problems), info.value.problems


def test_feature_selection_options_reach_the_signal(tmp_path: Path) -> None:
    path = _rules(tmp_path, {"id": "DQ-002", "signal": "data_quality", "baseline": "b.csv", "extra": _extra("""
        features: {top_n_feature_importance: 2}
        feature_importance: {age: 0.9, amount: 0.5, region: 0.1}""")})
    spec = load_monitor_rules(path)[0].drift
    assert spec is not None and spec.features is None
    assert spec.options == {"features": {"top_n_feature_importance": 2},
                            "feature_importance": {"age": 0.9, "amount": 0.5, "region": 0.1}}


def test_excluded_columns_are_read_from_neither_side(folder: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A reference's label (Azure ML's data_column_names.target_column) is no feature: with `exclude` it
    is neither read from the baseline nor compared; without, it is a feature the collector never has."""
    import amlguard.monitor.drift as drift

    labelled = pa.table({**pq.read_table(folder / "inputs.parquet").to_pydict(), "is_fraud": [0, 1] * 152 + [0]})
    pq.write_table(labelled, tmp_path / "training.parquet")
    path = _rules(
        tmp_path,
        {"id": "DQ-003", "signal": "data_quality", "baseline": str(tmp_path / "training.parquet")},
        {"id": "DQ-004", "signal": "data_quality", "baseline": str(tmp_path / "training.parquet"),
         "extra": _extra("exclude: [is_fraud]")},
        {"id": "DQ-005", "signal": "data_quality", "baseline": '{mdc: "{env:MDC}", offset: 1m, window: 24h}',
         "extra": _extra("exclude: [member]")},
    )
    read: list[list[str] | None] = []
    real = drift.read_table
    monkeypatch.setattr(drift, "read_table", lambda file, columns=None: (read.append(columns), real(file, columns))[1])
    result = evaluate_rules(load_monitor_rules(path), [deployment("credit-ep", "blue")], FakeSource(), now=NOW,
                            env={"MDC": str(folder / "mdc")})
    got = {e.rule.id: e.observation for e in result.evaluated}
    names = {rule: [f["name"] for f in obs.data["features"]] for rule, obs in got.items()}
    assert names["AMLG-MON-DQ-003"] == ["amount", "age", "region", "member", "is_fraud"]
    assert "is_fraud" in got["AMLG-MON-DQ-003"].data["drifted_features"]  # null in every current row
    assert names["AMLG-MON-DQ-004"] == ["amount", "age", "region", "member"]
    assert "4 features compared" in (got["AMLG-MON-DQ-004"].detail or "")
    assert read == [None, ["amount", "age", "region", "member"]]  # the label was not even read
    assert names["AMLG-MON-DQ-005"] == ["amount", "age", "region"]  # recent past production data too


def test_a_drift_rule_with_no_feature_to_compare_is_an_error_not_a_pass(folder: Path, tmp_path: Path) -> None:
    """A baseline whose columns the collector never has (or that holds only empty values) gives no
    drift metric at all: an error finding that says so, not "no drift" on zero features compared."""
    pq.write_table(pa.table({"height": [1.0, 2.0, 3.0], "colour": ["red", "blue", "red"]}), tmp_path / "other.parquet")
    pq.write_table(pa.table({"amount": pa.array([None, None, None], pa.float64()), "age": [30, 40, 50]}),
                   tmp_path / "partly.parquet")
    path = _rules(tmp_path, {"id": "DD-201", "signal": "data_drift", "baseline": str(tmp_path / "other.parquet")},
                  {"id": "DD-202", "signal": "data_drift", "baseline": str(tmp_path / "partly.parquet")})
    result = evaluate_rules(load_monitor_rules(path), [deployment("credit-ep", "blue")], FakeSource(), now=NOW,
                            env={"MDC": str(folder / "mdc")})
    got = {e.rule.id: e for e in result.evaluated}
    nothing = got["AMLG-MON-DD-201"].finding
    assert nothing is not None and nothing.status == "error"
    assert "no feature could be compared (height, colour: no values in the baseline or the current window" in (
        nothing.message)
    partly = got["AMLG-MON-DD-202"]
    assert partly.finding is not None and partly.finding.status in ("pass", "fail")
    assert "1 features compared" in partly.finding.message
    assert "not compared (no values on one side): amount" in partly.finding.message
