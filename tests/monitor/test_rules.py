"""Monitor rules: the default pack, schema and meaning errors with file/line/field, selectors,
per-resource thresholds and path templates."""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

import pytest

import amlguard.policy
from amlguard.errors import ConfigError, PolicyError
from amlguard.model import Resource
from amlguard.monitor.rules import expand_template, load_monitor_rules
from amlguard.policy.documents import DOCUMENT_KINDS

REPO = Path(__file__).resolve().parents[2]
HEADER = "apiVersion: amlguard/v1\nkind: MonitorRules\nrules:\n"
TEXTS = "    description: d\n    rationale: r\n    remediation: fix it\n"


def deployment(name: str = "blue", endpoint: str = "fraud", **fields: object) -> Resource:
    tags = fields.pop("tags", {})
    return Resource(kind="online_deployment", name=name, endpoint_name=endpoint, workspace="mlw-prod",
                    id=f"/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/"
                       f"mlw-prod/onlineEndpoints/{endpoint}/deployments/{name}",
                    compute_type="managed", fields={"tags": tags, **fields})


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "monitors.yaml"
    path.write_text(HEADER + textwrap.dedent(body), encoding="utf-8")
    return path


def test_default_pack_loads_and_validates_with_the_policy_tooling() -> None:
    rules = load_monitor_rules(REPO / "policies")
    ids = [r.id for r in rules]
    assert {"AMLG-MON-LAT-001", "AMLG-MON-LAT-002", "AMLG-MON-ERR-001", "AMLG-MON-RES-001", "AMLG-MON-RES-002",
            "AMLG-MON-RES-003", "AMLG-MON-CAP-001", "AMLG-MON-DC-001", "AMLG-MON-DRIFT-001"} <= set(ids)
    assert "MonitorRules" in DOCUMENT_KINDS
    out = io.StringIO()
    assert amlguard.policy.run(["validate", str(REPO / "policies")], stdout=out, stderr=io.StringIO()) == 0
    assert "valid" in out.getvalue()
    cap = next(r for r in rules if r.id == "AMLG-MON-CAP-001")
    assert (cap.direction, cap.threshold_field, cap.no_data, cap.window) == ("below", "instance_count", "keep_state",
                                                                             600.0)


def test_example_rules_validate() -> None:
    assert amlguard.policy.run(["validate", str(REPO / "examples" / "monitoring")], stdout=io.StringIO(),
                             stderr=io.StringIO()) == 0


RULE = """\
  - id: AMLG-MON-LAT-009
    title: t
    severity: high
    signal: {signal}
{extra}""" + TEXTS


@pytest.mark.parametrize(("signal", "extra", "field", "message"), [
    ("latency_p95", "", "rules.0.threshold", "required field 'threshold' is missing"),
    ("latency_p42", "    threshold: 1\n", "rules.0.signal", "expected one of"),
    ("latency_p95", "    threshold: 1\n    window: soon\n", "rules.0.window", "duration"),
    ("latency_p95", "    threshold: 1\n    no_data: panic\n", "rules.0.no_data", "alert, ignore, keep_state"),
    ("latency_p95", "    threshold: 1\n    windw: 5m\n", "rules.0.windw", "did you mean 'window'"),
    ("latency_p95", "    threshold: 1\n    window: 1m\n    granularity: 5m\n", "rules.0.granularity",
     "longer than the window"),
    ("cpu_utilization", "    threshold: 1\n    kinds: [online_endpoint]\n", "rules.0.kinds",
     "measured for online_deployment"),
    ("latency_p95", "    threshold: 1\n    drift: {baseline: b.csv, current: {file: c.csv}}\n", "rules.0.drift",
     "only applies to signal data_drift"),
    ("data_drift", "", "rules.0", "needs a `drift:` block"),
    ("data_drift", "    drift: {baseline: b.csv, current: {file: c.csv, mdc: m}}\n", "rules.0.drift.current",
     "exactly one of mdc, file or log_analytics"),
    ("data_drift", "    drift: {baseline: b.csv, current: {file: c.csv}, thresholds: {age: {wobble: 1}}}\n",
     "rules.0.drift.thresholds.age.wobble", "unknown drift metric"),
    ("latency_p95", "    threshold: 1\n    select: {field: name, matches: x}\n", "rules.0.select.matches",
     "unknown field 'matches'"),
    ("latency_p95", "    threshold: {fields: instance_count}\n", "rules.0.threshold", "{field:"),
    ("latency_p95", "    threshold: 1\n    cron: '15 3 * *'\n", "rules.0.cron", "five fields (minute hour day"),
    ("latency_p95", "    threshold: 1\n    cron: '75 3 * * *'\n", "rules.0.cron", "is not a valid cron expression"),
], ids=["no-threshold", "unknown-signal", "bad-window", "bad-no-data", "typo", "grain-over-window", "wrong-kind",
        "drift-on-latency", "drift-missing", "two-currents", "bad-drift-metric", "bad-selector", "bad-threshold",
        "cron-fields", "bad-cron"])
def test_invalid_rules_name_file_line_field_and_fix(tmp_path: Path, signal: str, extra: str, field: str,
                                                    message: str) -> None:
    path = write(tmp_path, RULE.format(signal=signal, extra=extra))
    with pytest.raises(PolicyError) as info:
        load_monitor_rules(path)
    problems = info.value.problems
    assert any(f == field and message in m and file == str(path) and line and line >= 4
               for file, line, f, m in problems), problems
    # the same problems through `amlguard policy validate`
    out = io.StringIO()
    assert amlguard.policy.run(["validate", str(tmp_path)], stdout=out, stderr=io.StringIO()) == 2
    assert f"{path}:" in out.getvalue() and field in out.getvalue()


def test_duplicate_ids_across_files_are_refused(tmp_path: Path) -> None:
    rule = RULE.format(signal="latency_p95", extra="    threshold: 1\n")
    (tmp_path / "a.yaml").write_text(HEADER + rule, encoding="utf-8")
    (tmp_path / "b.yaml").write_text(HEADER + rule, encoding="utf-8")
    with pytest.raises(PolicyError, match="duplicate monitor rule id AMLG-MON-LAT-009"):
        load_monitor_rules(tmp_path)


def test_disabled_rules_are_left_out(tmp_path: Path) -> None:
    path = write(tmp_path, RULE.format(signal="latency_p95", extra="    threshold: 1\n    enabled: false\n"))
    assert load_monitor_rules(path) == []
    assert [r.id for r in load_monitor_rules(path, include_disabled=True)] == ["AMLG-MON-LAT-009"]


@pytest.mark.parametrize(("select", "resource", "selected"), [
    ("{field: name, equals: blue}", deployment("blue"), True),
    ("{field: name, equals: blue}", deployment("green"), False),
    ("{tag: environment, in: [prod, staging]}", deployment(tags={"Environment": "prod"}), True),
    ("{tag: environment, in: [prod, staging]}", deployment(tags={"environment": "dev"}), False),
    ("{field: workspace, equals: mlw-prod}", deployment(), True),
    ("{field: endpoint_name, match: 'fraud*'}", deployment(endpoint="fraud-scoring"), True),
    ("{allOf: [{field: compute_type, equals: managed}, {not: {tag: tier, equals: batch}}]}", deployment(), True),
    (None, deployment(), True),
], ids=["name", "name-miss", "tag", "tag-miss", "workspace", "glob", "logic", "no-selector"])
def test_selectors_reuse_policy_conditions(tmp_path: Path, select: str | None, resource: Resource,
                                           selected: bool) -> None:
    extra = "    threshold: 1\n" + (f"    select: {select}\n" if select else "")
    (rule,) = load_monitor_rules(write(tmp_path, RULE.format(signal="latency_p95", extra=extra)))
    assert rule.selects(resource) is selected
    endpoint = Resource(kind="online_endpoint", id="/x/onlineEndpoints/fraud", name="fraud")
    assert rule.selects(endpoint) is False  # kinds default to online_deployment


@pytest.mark.parametrize(("threshold", "resource", "expected"), [
    ("250", deployment(), 250.0),
    ("{field: instance_count}", deployment(instance_count=3), 3.0),
    ("{field: instance_count}", deployment(), None),
    ("{field: instance_count, default: 1}", deployment(), 1.0),
    ("{field: tags.slo-p95-ms, default: 1000}", deployment(tags={"slo-p95-ms": "400"}), 400.0),
    ("{field: tags.slo-p95-ms, default: 1000}", deployment(tags={"slo-p95-ms": "fast"}), 1000.0),
    ("{field: tags.slo-p95-ms, default: 1000}", deployment(tags={"SLO-P95-MS": "700"}), 700.0),
    ("{field: instance_count, factor: 0.5}", deployment(instance_count=4), 2.0),
], ids=["number", "field", "field-missing", "field-default", "tag", "tag-not-a-number", "tag-case", "factor"])
def test_threshold_from_resource(tmp_path: Path, threshold: str, resource: Resource, expected: float | None) -> None:
    extra = f"    threshold: {threshold}\n"
    (rule,) = load_monitor_rules(write(tmp_path, RULE.format(signal="latency_p95", extra=extra)))
    assert rule.threshold_for(resource) == expected


@pytest.mark.parametrize(("template", "expected"), [
    ("/data/{workspace}/{endpoint}/{deployment}.parquet", "/data/mlw-prod/fraud/blue.parquet"),
    ("{tag:Baseline}", "/mnt/base.csv"),
    ("{env:MDC_ROOT}/x", "/mnt/mdc/x"),
    ("plain.csv", "plain.csv"),
])
def test_expand_template(template: str, expected: str) -> None:
    resource = deployment(tags={"baseline": "/mnt/base.csv"})
    assert expand_template(template, resource, {"MDC_ROOT": "/mnt/mdc"}) == expected


@pytest.mark.parametrize("template", ["{tag:missing}", "{env:UNSET}", "{colour}"])
def test_expand_template_names_what_is_missing(template: str) -> None:
    with pytest.raises(ConfigError, match=template.replace("{", r"\{").replace("}", r"\}")):
        expand_template(template, deployment(), {})
