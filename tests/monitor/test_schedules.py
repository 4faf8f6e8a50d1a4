"""Azure ML monitor schedules as input: every corpus file loads, the signals amlguard can honour run
against generated collector data with the file's thresholds, the rest are reported per signal."""

from __future__ import annotations

import io
import json
import random
import shutil
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from amlguard.config import Settings
from amlguard.errors import PolicyError
from amlguard.inventory import SnapshotInventory
from amlguard.model import Resource
from amlguard.monitor.evaluate import evaluate_rules
from amlguard.monitor.rules import load_monitor_pack
from amlguard.monitor.runner import run, run_monitors
from amlguard.service import PackHolder, Service
from tests.monitor.test_runner import LifecycleAlerts

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO.parent / "shared" / "corpus" / "azureml-monitoring" / "monitoring"
needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not beside this checkout")
NOW = datetime(2026, 11, 26, 11, 0, tzinfo=UTC)
FRAUD = "fraud_detection_model_monitoring"
# signal -> (type, the rule it runs as or None, words of the note)
EXPECTED: dict[str, dict[str, tuple[str, str | None, str]]] = {
    "advanced-model-monitoring.yaml": {
        "advanced_data_drift": ("data_drift", f"azureml/{FRAUD}/advanced_data_drift",
                                "top_n_feature_importance needs feature importance"),
        "advanced_data_quality": ("data_quality", f"azureml/{FRAUD}/advanced_data_quality", ""),
        "feature_attribution_drift_signal": ("feature_attribution_drift", None, "amlguard trains no models"),
    },
    "custom-monitoring.yaml": {"customSignal": ("custom", None, "cannot run Azure ML components")},
    "generation-safety-quality-monitoring.yaml": {
        "testSignal": ("generation_safety_quality", None, "needs an LLM judge")},
    "model-monitoring-with-collected-data.yaml": {
        "advanced_data_drift": ("data_drift", f"azureml/{FRAUD}/advanced_data_drift",
                                "pre_processing_component is not run"),
        "advanced_prediction_drift": ("prediction_drift", f"azureml/{FRAUD}/advanced_prediction_drift",
                                      "pre_processing_component is not run"),
    },
    "out-of-box-monitoring.yaml": {
        "data_drift": ("data_drift", "azureml/credit_default_model_monitoring/data_drift",
                       "reference: the collector's data before the last two windows"),
        "prediction_drift": ("prediction_drift", "azureml/credit_default_model_monitoring/prediction_drift",
                             "reference: the collector's data before the last two windows"),
        "data_quality": ("data_quality", "azureml/credit_default_model_monitoring/data_quality",
                         "reference: the collector's data before the last two windows"),
    },
}


@needs_corpus
def test_the_corpus_is_the_five_files_expected() -> None:
    assert sorted(p.name for p in CORPUS.glob("*.yaml")) == sorted(EXPECTED)


@needs_corpus
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_corpus_schedule_loads_and_reports_each_signal(name: str) -> None:
    pack = load_monitor_pack(CORPUS / name)
    got = {r.signal: (r.type, r.rule, r.note) for r in pack.signals}
    assert set(got) == set(EXPECTED[name])
    for signal, (kind, rule, words) in EXPECTED[name].items():
        assert got[signal][:2] == (kind, rule)
        assert words in got[signal][2], got[signal][2]
    assert [r.id for r in pack.rules] == [rule for _, rule, _ in EXPECTED[name].values() if rule]
    assert all(r.line and r.file == str(CORPUS / name) for r in pack.signals)


@needs_corpus
def test_the_advanced_drift_signal_keeps_its_thresholds_target_and_schedule() -> None:
    rule, _quality = load_monitor_pack(CORPUS / "advanced-model-monitoring.yaml").rules
    assert (rule.signal.name, rule.every, rule.window, rule.severity) == ("data_drift", 86400.0, 86400.0, "medium")
    assert rule.cron == "15 3 * * *"  # daily at 03:15, as the trigger's schedule says
    assert rule.drift is not None
    assert rule.drift.options == {"exclude": ["DEFAULT_NEXT_MONTH"]}  # the reference's target_column
    # given metrics replace the type's default (Azure ML's SDK: one metric per feature type)
    assert rule.drift.thresholds == {"numerical": {"normalized_wasserstein_distance": None,
                                                   "jensen_shannon_distance": 0.01},
                                     "categorical": {"jensen_shannon_distance": None,
                                                     "pearsons_chi_squared_test": 0.02}}
    assert rule.drift.baseline == "{env:AMLGUARD_DATA_ASSETS}/credit-reference/1"
    assert rule.drift.current == {"mdc": "{env:AMLGUARD_MDC_ROOT}", "collection": "model_inputs"}
    main = Resource(kind="online_deployment", id="/x/onlineEndpoints/credit-default/deployments/main", name="main",
                    endpoint_name="credit-default")
    other = Resource(kind="online_deployment", id="/x/onlineEndpoints/credit-default/deployments/blue", name="blue",
                     endpoint_name="credit-default")
    assert rule.selects(main) and not rule.selects(other)


# ------------------------------------------------------------------------------- generated collector data
def _collector(root: Path, endpoint: str, deployment: str, hours: dict[datetime, list[dict[str, Any]]],
               collection: str = "model_inputs") -> None:
    """Model data collector JSONL, laid out as the collector writes it (one file per hour)."""
    for hour, rows in hours.items():
        folder = root / "modelDataCollector" / endpoint / deployment / collection / hour.strftime("%Y/%m/%d/%H")
        folder.mkdir(parents=True, exist_ok=True)
        record = {"specversion": "1.0", "id": hour.isoformat(), "type": f"azureml.inference.{collection}",
                  "datacontenttype": "application/json", "time": hour.strftime("%Y-%m-%dT%H:%M:%SZ"), "data": rows}
        (folder / "instance-0.jsonl").write_text(json.dumps(record) + "\n", encoding="utf-8")


def _rows(n: int, shift: float, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [{"LIMIT_BAL": round(rng.gauss(50_000 + shift, 10_000), 1), "AGE": 20 + i % 40,
             "SEX": "F" if i % 3 else "M"} for i in range(n)]


def _deployment(tmp_path: Path) -> Path:
    snapshot = tmp_path / "snapshot" / "main.yaml"
    snapshot.parent.mkdir()
    snapshot.write_text(textwrap.dedent("""\
        $schema: https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json
        name: main
        endpoint_name: credit-default
        model: azureml:credit-default:1
        instance_type: Standard_DS3_v2
        instance_count: 2
        """), encoding="utf-8")
    return snapshot


@needs_corpus
def test_data_drift_of_a_corpus_schedule_runs_on_collector_data_with_its_thresholds(tmp_path: Path) -> None:
    """advanced-model-monitoring.yaml unchanged: the training reference as a local copy of the data asset
    credit-reference:1, the last day of collector data for credit-default/main, alerts through the
    service's alert pipeline; the signals it cannot run are in the run's summary."""
    pack_dir = tmp_path / "pack"
    pack_dir.mkdir()
    shutil.copy(CORPUS / "advanced-model-monitoring.yaml", pack_dir)
    reference = tmp_path / "assets" / "credit-reference" / "1"
    reference.mkdir(parents=True)
    (reference / "MLTable").write_text("paths:\n  - file: ./data.csv\n", encoding="utf-8")
    rows = _rows(400, 0, seed=1)
    (reference / "data.csv").write_text("LIMIT_BAL,AGE,SEX,DEFAULT_NEXT_MONTH\n" + "".join(
        f"{r['LIMIT_BAL']},{r['AGE']},{r['SEX']},{i % 2}\n" for i, r in enumerate(rows)), encoding="utf-8")
    current = _rows(400, 30_000, seed=2)  # LIMIT_BAL moved; AGE and SEX as in training
    _collector(tmp_path / "mdc", "credit-default", "main",
               {NOW - timedelta(hours=h + 1): current[h * 100:(h + 1) * 100] for h in range(4)})
    env = {"AMLGUARD_MDC_ROOT": str(tmp_path / "mdc"), "AMLGUARD_DATA_ASSETS": str(tmp_path / "assets")}
    settings = Settings(policies_dir=REPO / "policies", state_dir=tmp_path / "state", monitor_rules=pack_dir, env=env)
    alerts = LifecycleAlerts()
    from amlguard.alerts.store import open_store

    service = Service(settings=settings, inventory=SnapshotInventory([str(_deployment(tmp_path))]),
                      packs=PackHolder(REPO / "policies"), store=open_store(tmp_path / "state"), alerts=alerts,
                      clock=lambda: NOW)
    try:
        summary = run_monitors(service, source=_NoAzure())
    finally:
        service.close()
    rule = f"azureml/{FRAUD}/advanced_data_drift"
    assert summary["due"] == [rule, f"azureml/{FRAUD}/advanced_data_quality"] and summary["failed"] == 1
    assert [s.split(": ", 1)[1] for s in summary["not_run"]] == [
        f"{FRAUD}/feature_attribution_drift_signal (feature_attribution_drift) not run: needs feature importance "
        "(normalized_discounted_cumulative_gain) from an explainer trained on the reference data; amlguard "
        "trains no models"]
    (finding,) = [f for call in alerts.calls for f in call["findings"] if f.status == "fail"]
    assert (finding.rule, finding.status, finding.severity) == (rule, "fail", "medium")
    assert finding.message.startswith("1 feature drifted over the last 24h: LIMIT_BAL (jensen_shannon_distance ")
    # the reference's target column (DEFAULT_NEXT_MONTH, data_column_names.target_column) is no feature
    assert "> 0.01)" in finding.message and "3 features compared on 400 current rows" in finding.message
    assert alerts.status(rule, finding.resource) == "firing"


def _inputs(n: int, seed: int) -> list[dict[str, Any]]:
    """Model inputs with nulls, a number sent as text and a category the reference lacks."""
    rng = random.Random(seed)
    return [{"LIMIT_BAL": None if i % 9 == 0 else "n/a" if i % 23 == 0 else round(rng.gauss(50_000, 10_000), 1),
             "AGE": 20 + i % 40, "SEX": "X" if i % 31 == 0 else "F" if i % 3 else "M",
             "EDUCATION": None if i % 13 == 0 else 1 + i % 4} for i in range(n)]


def _outputs(n: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [{"is_fraud": int(rng.random() < 0.2), "is_fraud_probability": round(rng.random(), 4)} for _ in range(n)]


def _csv(folder: Path, rows: list[dict[str, Any]]) -> None:
    """A data asset's local copy: an MLTable folder next to its CSV."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "MLTable").write_text("paths:\n  - file: ./data.csv\n", encoding="utf-8")
    names = list(rows[0])
    (folder / "data.csv").write_text(",".join(names) + "\n" + "".join(
        ",".join("" if r[c] is None else str(r[c]) for c in names) + "\n" for r in rows), encoding="utf-8")


@needs_corpus
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_honoured_corpus_signal_runs_on_generated_collector_data(tmp_path: Path, name: str) -> None:
    """Each corpus file unchanged: every signal it runs reads generated collector data (the last day, and
    for a recent-past reference the days before) and a local copy of each data asset it names, and
    compares exactly the features the file asks for: never the reference's label."""
    pack = load_monitor_pack(CORPUS / name)
    assert len(pack.rules) == sum(1 for _, rule, _ in EXPECTED[name].values() if rule)
    env = {"AMLGUARD_MDC_ROOT": str(tmp_path / "mdc"), "AMLGUARD_DATA_ASSETS": str(tmp_path / "assets")}
    deployments = [("credit-default", "main"), ("fraud-detection-endpoint", "fraud-detection-deployment")]
    hours = [NOW - timedelta(hours=h + 1) for h in range(72)]
    inputs, outputs = ["LIMIT_BAL", "AGE", "SEX", "EDUCATION"], ["is_fraud", "is_fraud_probability"]
    for rule in pack.rules:
        assert rule.drift is not None
        roots = {rule.drift.current["mdc"]} | ({rule.drift.baseline["mdc"]} if isinstance(rule.drift.baseline, dict)
                                               else set())
        for root in roots:  # the collector's folder, or a uri_folder asset's local copy
            where = Path(root.replace("{env:AMLGUARD_MDC_ROOT}", env["AMLGUARD_MDC_ROOT"])
                         .replace("{env:AMLGUARD_DATA_ASSETS}", env["AMLGUARD_DATA_ASSETS"]))
            for ep, dep in deployments:
                _collector(where, ep, dep, {h: _inputs(30, i) for i, h in enumerate(hours)})
                _collector(where, ep, dep, {h: _outputs(30, i) for i, h in enumerate(hours)}, "model_outputs")
        if isinstance(rule.drift.baseline, str):  # a data asset: training data keeps its label
            labels = rule.drift.options.get("exclude", ())
            rows = _outputs(300, 99) if rule.signal.name == "prediction_drift" else [
                {**r, **dict.fromkeys(labels, i % 2)} for i, r in enumerate(_inputs(300, 98))]
            _csv(Path(rule.drift.baseline.replace("{env:AMLGUARD_DATA_ASSETS}", env["AMLGUARD_DATA_ASSETS"])), rows)
    resources = [Resource(kind="online_deployment", id=f"/x/onlineEndpoints/{ep}/deployments/{dep}", name=dep,
                          endpoint_name=ep) for ep, dep in deployments]
    result = evaluate_rules(pack.rules, resources, _NoAzure(), now=NOW, env=env)
    assert len(result.evaluated) == len(pack.rules)  # each on the one deployment it names
    for evaluated in result.evaluated:
        obs, rule = evaluated.observation, evaluated.rule
        assert obs.error is None and obs.value is not None and obs.samples == 24 * 30, (rule.id, obs)
        assert rule.drift is not None
        wanted = list(rule.drift.features or (outputs if rule.signal.name == "prediction_drift" else inputs))
        assert [f["name"] for f in obs.data["features"]] == wanted, rule.id
        assert evaluated.finding is not None and evaluated.finding.status in ("pass", "fail")


class _NoAzure:
    """A MonitorSource for rules that read only collector files: any Azure Monitor call is a bug."""

    def query_metrics(self, **_: Any) -> Any:
        raise AssertionError("a drift rule queried Azure Monitor metrics")

    def query_logs(self, *_: Any, **__: Any) -> Any:
        raise AssertionError("a drift rule queried Log Analytics")


@needs_corpus
def test_out_of_box_monitoring_compares_with_recent_past_production(tmp_path: Path) -> None:
    """No monitoring_signals: Azure ML's basic monitoring on recent past production data. The reference is
    the collector's data that ends twice the window (2 days) before the run; default thresholds apply."""
    rule = load_monitor_pack(CORPUS / "out-of-box-monitoring.yaml").rules[0]
    day = timedelta(days=1)
    hours = {NOW - 3 * day + timedelta(hours=h): _rows(50, 0, seed=h) for h in range(8)}  # the reference
    hours.update({NOW - day / 2 + timedelta(hours=h): _rows(50, 40_000, seed=100 + h) for h in range(8)})
    hours[NOW - day - timedelta(hours=12)] = _rows(50, 90_000, seed=7)  # between the two: in neither window
    _collector(tmp_path / "mdc", "credit-default", "main", hours)
    main = Resource(kind="online_deployment", id="/subscriptions/s/x/onlineEndpoints/credit-default/deployments/main",
                    name="main", endpoint_name="credit-default")
    result = evaluate_rules([rule], [main], _NoAzure(), now=NOW, env={"AMLGUARD_MDC_ROOT": str(tmp_path / "mdc")})
    (evaluated,) = result.evaluated
    assert evaluated.finding is not None and evaluated.finding.status == "fail"
    assert evaluated.observation.data["drifted_features"] == ["LIMIT_BAL"]
    assert evaluated.observation.samples == 400  # the last day only
    assert "normalized_wasserstein_distance" in evaluated.finding.message  # Azure ML's numerical default


# ------------------------------------------------------------------------------------------- reporting
@needs_corpus
def test_the_cli_lists_what_runs_and_what_does_not(tmp_path: Path) -> None:
    out = io.StringIO()
    args = ["--rules", str(CORPUS / "advanced-model-monitoring.yaml"), "--snapshot", str(_deployment(tmp_path)),
            "--now", "2026-11-26T11:00:00Z"]
    settings = Settings(policies_dir=REPO / "policies", env={"AMLGUARD_MDC_ROOT": str(tmp_path)})
    run(args, stdout=out, settings=settings)
    text = out.getvalue()
    assert "\nAzure ML monitor signals:\n" in text
    assert f"advanced-model-monitoring.yaml:27: {FRAUD}/advanced_data_drift (data_drift) runs as " \
           f"azureml/{FRAUD}/advanced_data_drift" in text
    assert f"advanced-model-monitoring.yaml:63: {FRAUD}/feature_attribution_drift_signal " \
           "(feature_attribution_drift) not run: needs feature importance" in text
    out = io.StringIO()
    run([*args, "--format", "json"], stdout=out, settings=settings)
    listed = {s["signal"]: s for s in json.loads(out.getvalue())["azureml_signals"]}
    assert listed["advanced_data_quality"]["rule"] == f"azureml/{FRAUD}/advanced_data_quality"
    assert listed["advanced_data_quality"]["line"] == 45
    assert listed["feature_attribution_drift_signal"]["rule"] is None


@needs_corpus
def test_prediction_drift_runs_with_the_files_metrics_and_thresholds() -> None:
    """prediction_drift is translated with the file's metric names and thresholds, on the outputs."""
    pack = load_monitor_pack(CORPUS / "model-monitoring-with-collected-data.yaml")
    rule = next(r for r in pack.rules if r.signal.name == "prediction_drift")
    assert rule.id == f"azureml/{FRAUD}/advanced_prediction_drift" and rule.drift is not None
    assert rule.drift.current == {"mdc": "{env:AMLGUARD_DATA_ASSETS}/my_production_inference_data_model_outputs/1",
                                  "collection": "model_outputs"}
    assert rule.drift.baseline == "{env:AMLGUARD_DATA_ASSETS}/my_model_validation_data/1"
    assert rule.drift.thresholds == {"categorical": {"jensen_shannon_distance": None,
                                                     "pearsons_chi_squared_test": 0.02}}
    assert not pack.not_run


SCHEDULE = """\
$schema: http://azureml/sdk-2-0/Schedule.json
name: s
trigger: {trigger}
create_monitor:
  monitoring_target: {{endpoint_deployment_id: "{target}"}}
  monitoring_signals:
    drift:
      type: data_drift
      metric_thresholds: {thresholds}
"""


@pytest.mark.parametrize(("trigger", "target", "thresholds", "line", "field", "words"), [
    ("{type: recurrence, frequency: day, interval: 1}", "azureml:ep:d", "{numerical: {jensen_shannon_distance: high}}",
     9, "create_monitor.monitoring_signals.drift.metric_thresholds.numerical.jensen_shannon_distance",
     "expected a number such as 0.1, got 'high'"),
    ("{type: recurrence, frequency: day, interval: 1}", "azureml:ep:d", "{numerical: {chi_squared_test: 0.1}}",
     9, "create_monitor.monitoring_signals.drift.metric_thresholds.numerical.chi_squared_test",
     "not a numerical metric of data_drift"),
    ("{type: recurrence, frequency: fortnight, interval: 1}", "azureml:ep:d", "{}", 3, "trigger",
     "expected frequency minute / hour / day / week / month"),
])
def test_bad_schedules_name_file_line_field_and_fix(tmp_path: Path, trigger: str, target: str, thresholds: str,
                                                    line: int, field: str, words: str) -> None:
    path = tmp_path / "monitor.yaml"
    path.write_text(SCHEDULE.format(trigger=trigger, target=target, thresholds=thresholds), encoding="utf-8")
    with pytest.raises(PolicyError) as info:
        load_monitor_pack(path)
    assert f"{path}:{line}: {field}: " in info.value.render() and words in info.value.render()


def test_a_schedule_without_an_endpoint_deployment_is_reported_not_dropped(tmp_path: Path) -> None:
    path = tmp_path / "monitor.yaml"
    path.write_text(SCHEDULE.format(trigger="{type: cron, expression: '*/30 * * * *'}", target="azureml:model:3",
                                    thresholds="{}").replace("endpoint_deployment_id", "model_id"), encoding="utf-8")
    (report,) = load_monitor_pack(path).signals
    assert (report.rule, report.line) == (None, 7)
    assert "endpoint_deployment_id None is not azureml:<endpoint>:<deployment>" in report.note
    path.write_text(SCHEDULE.format(trigger="{type: cron, expression: '*/30 * * * *'}", target="azureml:ep:d",
                                    thresholds="{}"), encoding="utf-8")
    (rule,) = load_monitor_pack(path).rules
    assert (rule.every, rule.window) == (1800.0, 1800.0)


@pytest.mark.parametrize("signal", [
    "{type: data_drift, production_data: text, reference_data: 5}",
    "{type: data_drift, production_data: {input_data: text, data_window: 7}, reference_data: {input_data: [1]}}",
    "{type: data_drift, production_data: [{}, 3], features: 12, feature_type_override: [a]}",
    "{type: data_drift, production_data: {data_window_size: soon}, metric_thresholds: [1, 2]}",
    "{type: data_quality, metric_thresholds: {numerical: {null_value_rate: x}, other: 3}}",
    "{type: 7}", "[not, a, signal]",
], ids=["scalars", "wrong-types", "list-items", "bad-window", "quality", "type-number", "list"])
def test_malformed_signals_are_problems_or_reports_never_crashes(tmp_path: Path, signal: str) -> None:
    path = tmp_path / "monitor.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: s
        trigger: {{type: recurrence, frequency: hour, interval: 2}}
        create_monitor:
          monitoring_target: {{endpoint_deployment_id: "azureml:ep:d"}}
          monitoring_signals:
            broken: {signal}
        """), encoding="utf-8")
    try:
        pack = load_monitor_pack(path)
    except PolicyError as exc:
        assert all(p[0] == str(path) and p[1] for p in exc.problems), exc.render()
    else:
        assert [r.signal for r in pack.signals] == ["broken"]


# ------------------------------------------------------------------------------------------- triggers
@pytest.mark.parametrize(("trigger", "every", "cron", "words"), [
    ("{type: recurrence, frequency: day, interval: 1, schedule: {hours: 3, minutes: 15}}", 86400, "15 3 * * *", ""),
    ("{type: recurrence, frequency: week, interval: 1, schedule: {hours: [22, 20], minutes: [0, 30], "
     "week_days: [monday, friday]}}", 7 * 86400, "0,30 20,22 * * mon,fri", ""),
    ("{type: recurrence, frequency: hour, interval: 6}", 6 * 3600, None, ""),  # no times: every 6h from the start
    ("{type: recurrence, frequency: day, interval: 2, schedule: {hours: 3, minutes: 15}}", 2 * 86400, None,
     "evaluated every 2d by amlguard's timer, not at the schedule's hours / minutes / week_days"),
    ("{type: recurrence, frequency: week, interval: 1, schedule: {hours: 3, minutes: 0}}", 7 * 86400, None,
     "not at the schedule's hours"),  # which day of the week: not said
    ("{type: cron, expression: '15 3 * * 1-5'}", 86400, "15 3 * * 1-5", ""),
    ("{type: cron, expression: '0 */6 * * *', time_zone: Pacific Standard Time}", 6 * 3600, "0 */6 * * *",
     "time_zone Pacific Standard Time is not applied: amlguard reads the trigger's times as UTC"),
    ("{type: recurrence, frequency: day, interval: 1, start_time: '2026-12-01T00:00:00'}", 86400, None,
     "start_time / end_time are not applied"),
], ids=["daily-at", "weekly-on-days", "hourly", "every-2-days-at", "weekly-no-days", "cron", "time-zone", "start"])
def test_the_trigger_is_honoured_or_reported_per_signal(tmp_path: Path, trigger: str, every: int, cron: str | None,
                                                        words: str) -> None:
    """Fixed times become the rule's cron (UTC); what cron cannot say the same is run every N and said."""
    path = tmp_path / "monitor.yaml"
    path.write_text(SCHEDULE.format(trigger=trigger, target="azureml:ep:d", thresholds="{}"), encoding="utf-8")
    pack = load_monitor_pack(path)
    (rule,), (report,) = pack.rules, pack.signals
    assert (rule.every, rule.cron) == (every, cron)
    assert words in report.note if words else not any(w in report.note for w in ("timer", "not applied", "time"))


def test_a_bad_cron_expression_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "monitor.yaml"
    path.write_text(SCHEDULE.format(trigger="{type: cron, expression: '15 25 * * *'}", target="azureml:ep:d",
                                    thresholds="{}"), encoding="utf-8")
    with pytest.raises(PolicyError) as info:
        load_monitor_pack(path)
    assert f"{path}:3: trigger.expression: '15 25 * * *' is not a valid cron expression" in info.value.render()


# ------------------------------------------------------------------------------- data_column_names
COLUMNS = """\
name: s
trigger: {type: recurrence, frequency: day, interval: 1}
create_monitor:
  monitoring_target: {endpoint_deployment_id: "azureml:ep:d", ml_task: classification}
  monitoring_signals:
    signal:
      type: %s
      production_data:
        - input_data: {path: azureml:outputs:1, type: uri_folder}
          data_context: model_outputs
          data_column_names: {prediction: is_fraud, prediction_probability: p_fraud, correlation_id: cid}
        - input_data: {path: azureml:inputs:1, type: uri_folder}
          data_context: model_inputs
      reference_data:
        input_data: {path: azureml:training:1, type: mltable}
        data_context: training
        data_column_names: {target_column: is_fraud}
%s"""


@pytest.mark.parametrize(("kind", "extra", "options"), [
    ("data_drift", "", {"exclude": ["cid", "is_fraud", "p_fraud"]}),
    ("data_quality", "      features: [age, cid]\n", {"exclude": ["is_fraud", "p_fraud"]}),  # listed: a feature
    ("prediction_drift", "", {"exclude": ["cid"]}),  # the outputs are what it compares
    ("model_performance", "      metric_thresholds: {classification: {accuracy: 0.9}}\n",
     {"prediction": "is_fraud", "actual": "is_fraud", "correlation_id": "cid", "task": "classification"}),
])
def test_data_column_names_are_no_features_and_join_model_performance(tmp_path: Path, kind: str, extra: str,
                                                                     options: dict[str, Any]) -> None:
    path = tmp_path / "monitor.yaml"
    path.write_text(COLUMNS % (kind, extra), encoding="utf-8")
    (rule,) = load_monitor_pack(path).rules
    assert rule.drift is not None and rule.drift.options == options
    assert rule.drift.current["collection"] == ("model_outputs" if kind in ("prediction_drift", "model_performance")
                                                else "model_inputs")


@pytest.mark.parametrize(("change", "words"), [
    (("prediction: is_fraud, ", ""), "needs the ground truth as reference_data (a data asset) with "
                                     "data_column_names.target_column, production_data's data_column_names.prediction"),
    (("{target_column: is_fraud}", "{target_column: is_fraud, correlation_id: request}"), "one correlation_id"),
    (("metric_thresholds: {classification: {accuracy: 0.9}}", "alert_enabled: true"), "give metric_thresholds"),
])
def test_a_model_performance_signal_amlguard_cannot_join_is_reported(tmp_path: Path, change: tuple[str, str],
                                                                     words: str) -> None:
    path = tmp_path / "monitor.yaml"
    text = COLUMNS % ("model_performance", "      metric_thresholds: {classification: {accuracy: 0.9}}\n")
    path.write_text(text.replace(*change), encoding="utf-8")
    pack = load_monitor_pack(path)
    (report,) = pack.signals
    assert not pack.rules and report.rule is None and words in report.note, report.note
