"""SARIF 2.1.0: schema-valid, GitHub code scanning shaped."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from amlguard.model import AuditReport, Diagnostic, Finding, Resource
from amlguard.reports import render
from amlguard.reports.sarif import SECURITY_SEVERITY, artifact_location, fingerprint, is_security_rule

from .sample import LIVE_ID, TOOL_VERSION, build_report, repo_root

SCHEMA = repo_root() / ".." / "shared" / "reference" / "schemas" / "sarif-schema-2.1.0.json"
LEVELS = {"none", "note", "warning", "error"}


def sarif(report: AuditReport | None = None, **kw: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(render(report or build_report(), "sarif", tool_version=TOOL_VERSION, **kw))
    return data


def check_structure(log: dict[str, Any]) -> None:
    """What a SARIF consumer (and GitHub) relies on; runs even without the OASIS schema."""
    assert log["version"] == "2.1.0"
    assert log["$schema"].endswith("sarif-schema-2.1.0.json")
    assert len(log["runs"]) == 1
    run = log["runs"][0]
    driver = run["tool"]["driver"]
    assert driver["name"] == "amlguard" and driver["version"]
    ids = [r["id"] for r in driver["rules"]]
    assert len(ids) == len(set(ids))
    for rule in driver["rules"]:
        assert rule["shortDescription"]["text"] and rule["fullDescription"]["text"]
        assert rule["help"]["text"] and rule["help"]["markdown"]
        assert rule["defaultConfiguration"]["level"] in LEVELS
        # GitHub treats a rule with a security-severity as a security rule: both or neither
        assert ("security" in rule["properties"]["tags"]) == ("security-severity" in rule["properties"])
    suppressed_flags = set()
    for result in run["results"]:
        assert ids[result["ruleIndex"]] == result["ruleId"]
        assert result["level"] in LEVELS
        assert isinstance(result["message"]["text"], str) and result["message"]["text"]
        assert result["locations"], "every result has a location"
        for loc in result["locations"]:
            assert loc.get("physicalLocation") or loc.get("logicalLocations")
            phys = loc.get("physicalLocation")
            if phys:
                uri = phys["artifactLocation"]["uri"]
                assert "\\" not in uri and " " not in uri
                if "region" in phys:
                    assert phys["region"]["startLine"] >= 1
        assert all(isinstance(v, str) and v for v in result["partialFingerprints"].values())
        suppressed_flags.add("suppressions" in result)
    # SARIF 3.27.23: suppressions on every result of a run or on none
    assert len(suppressed_flags) <= 1
    assert isinstance(run["invocations"][0]["executionSuccessful"], bool)


def test_structure_always_checked() -> None:
    check_structure(sarif())


@pytest.mark.skipif(not SCHEMA.exists(), reason="../shared/reference/schemas not present")
@pytest.mark.parametrize("include_exempt", [True, False])
def test_validates_against_oasis_schema(include_exempt: bool) -> None:
    import jsonschema

    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    validator_cls = jsonschema.validators.validator_for(schema)  # draft-04 per its $schema
    validator_cls.check_schema(schema)
    validator = validator_cls(schema, format_checker=validator_cls.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(sarif(include_exempt=include_exempt)), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:10])


@pytest.mark.skipif(not SCHEMA.exists(), reason="../shared/reference/schemas not present")
def test_empty_report_validates() -> None:
    import jsonschema

    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    log = sarif(AuditReport())
    jsonschema.validators.validator_for(schema)(schema).validate(log)
    assert log["runs"][0]["results"] == []


def test_every_rule_declared_even_without_results() -> None:
    rules = sarif()["runs"][0]["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules][:3] == ["AMLG-NET-001", "AMLG-NET-002", "AMLG-NET-003"]
    assert "AMLG-NET-004" in {r["id"] for r in rules}  # only passed, still declared


def test_rule_help_and_security_severity() -> None:
    rules = {r["id"]: r for r in sarif()["runs"][0]["tool"]["driver"]["rules"]}
    net1 = rules["AMLG-NET-001"]
    assert net1["shortDescription"]["text"] == "Managed online endpoint: public network access disabled"
    assert net1["fullDescription"]["text"].startswith("A managed online endpoint must not")
    assert "A public scoring URI exposes" in net1["help"]["text"]
    assert "Set `public_network_access: disabled`" in net1["help"]["markdown"]
    assert net1["helpUri"].startswith("https://learn.microsoft.com/")
    assert "helpUri" not in rules["AMLG-PORT-001"]  # empty help_uri is left out
    expected = {"critical": ("9.5", "error"), "high": ("8.0", "error"), "medium": ("5.5", "warning"),
                "low": ("3.0", "note"), "info": ("0.0", "note")}
    for rule in rules.values():
        sev = rule["properties"]["severity"]
        if "security" in rule["properties"]["tags"]:
            assert rule["properties"]["security-severity"] == expected[sev][0] == SECURITY_SEVERITY[sev]
        assert rule["defaultConfiguration"]["level"] == expected[sev][1]


def test_only_network_auth_port_and_supply_chain_rules_are_security_rules() -> None:
    rules = {r["id"]: r["properties"] for r in sarif()["runs"][0]["tool"]["driver"]["rules"]}
    security = {rid for rid, props in rules.items() if "security" in props["tags"]}
    assert security == {rid for rid in rules if rid.split("-")[1] in {"NET", "AUTH", "PORT", "SUP"}}
    assert security and security != set(rules)  # the sample has both kinds
    for rid, props in rules.items():
        assert "azure-ml" in props["tags"]
        assert ("security-severity" in props) == (rid in security)
        assert props["problem.severity"] in {"error", "warning", "recommendation"}
    assert is_security_rule("ACME-SUP-7") and not is_security_rule("AMLG-MON-DRIFT-001")
    assert not is_security_rule("NET") and not is_security_rule("AMLG-OPS-001")


def test_automation_id_names_the_pack(tmp_path: Path) -> None:
    from amlguard.config import default_policies_dir
    from amlguard.policy import load_pack
    from amlguard.reports.sarif import automation_id

    def category(report: AuditReport) -> str:
        (run,) = sarif(report)["runs"]
        assert run["automationDetails"]["id"] == automation_id(report)
        return str(run["automationDetails"]["id"])

    bundled = load_pack(None)
    assert category(AuditReport(rules=bundled.rules_metadata())) == "amlguard/default/"
    team = tmp_path / "team-pack"
    team.mkdir()
    shutil.copy(default_policies_dir() / "ports.yaml", team / "ports.yaml")
    team_rules = load_pack(team).rules_metadata()
    assert category(AuditReport(rules=team_rules)) == "amlguard/team-pack/"
    both = {**bundled.rules_metadata(), **{f"X{k}": v for k, v in team_rules.items()}}
    assert category(AuditReport(rules=both)) == "amlguard/default+team-pack/"
    assert category(build_report()) == "amlguard/"  # rules without a policy file: no pack to name


def test_results_only_for_fail_error_and_exempt() -> None:
    results = sarif()["runs"][0]["results"]
    statuses = sorted(r["properties"]["status"] for r in results)
    assert statuses == ["error", "exempt", "exempt", "fail", "fail", "fail", "fail", "fail", "fail"]
    without_exempt = sarif(include_exempt=False)["runs"][0]["results"]
    assert all(r["properties"]["status"] != "exempt" for r in without_exempt)
    assert len(without_exempt) == 7


def test_exempt_result_is_an_accepted_external_suppression() -> None:
    results = sarif()["runs"][0]["results"]
    net2 = next(r for r in results if r["ruleId"] == "AMLG-NET-002")
    (suppression,) = net2["suppressions"]
    assert suppression["kind"] == "external" and suppression["status"] == "accepted"
    assert suppression["justification"].startswith('Pulls a licence from vendor <licensing> & "phones home"')
    assert suppression["properties"] == {"reason": 'Pulls a licence from vendor <licensing> & "phones home"',
                                         "approver": "sec-team", "expires": "2027-01-15"}
    assert all(r["suppressions"] == [] for r in results if r["properties"]["status"] != "exempt")


def test_file_location_has_relative_uri_and_line() -> None:
    results = sarif()["runs"][0]["results"]
    port1 = next(r for r in results if r["ruleId"] == "AMLG-PORT-001")
    phys = port1["locations"][0]["physicalLocation"]
    assert phys["artifactLocation"] == {"uri": "endpoints/credit/blue.yml", "uriBaseId": "%SRCROOT%"}
    assert phys["region"] == {"startLine": 14}
    assert port1["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] == (
        "endpoints/credit/blue.yml#credit-scoring/blue")
    assert port1["level"] == "warning"  # medium


def test_live_resource_has_only_a_logical_location() -> None:
    results = sarif()["runs"][0]["results"]
    live = [r for r in results if r["properties"]["resource"] == LIVE_ID]
    assert {r["ruleId"] for r in live} == {"AMLG-PORT-002", "AMLG-AUTH-001"}
    for result in live:
        (loc,) = result["locations"]
        assert "physicalLocation" not in loc
        assert loc["logicalLocations"] == [{"name": "churn-live", "fullyQualifiedName": LIVE_ID, "kind": "resource"}]
    error = next(r for r in live if r["properties"]["status"] == "error")
    assert error["message"]["text"].startswith("Could not evaluate AMLG-AUTH-001: workspace ml-prod unreachable")


def test_fingerprints_are_stable_and_distinct() -> None:
    results = sarif()["runs"][0]["results"]
    prints = [r["partialFingerprints"]["amlguardFinding/v1"] for r in results]
    assert len(set(prints)) == len(prints)
    assert fingerprint("AMLG-NET-001", "x") == fingerprint("AMLG-NET-001", "x")
    assert fingerprint("AMLG-NET-001", "x") != fingerprint("AMLG-NET-00", "1x")
    # moving the finding to another line keeps its fingerprint
    report = build_report()
    for f in report.findings:
        f.line = (f.line or 0) + 10
    moved = sarif(report)["runs"][0]["results"]
    assert [r["partialFingerprints"] for r in moved] == [r["partialFingerprints"] for r in results]


def test_diagnostics_are_tool_notifications() -> None:
    invocation = sarif()["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is True
    (note,) = invocation["toolExecutionNotifications"]
    assert note["level"] == "error"
    assert note["message"]["text"] == "could not parse YAML: mapping values are not allowed here"
    assert note["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "endpoints/broken.yml", "uriBaseId": "%SRCROOT%"}, "region": {"startLine": 7}}


@pytest.mark.parametrize(
    ("source", "srcroot", "expected"),
    [
        ("endpoints/a.yml", None, {"uri": "endpoints/a.yml", "uriBaseId": "%SRCROOT%"}),
        ("./endpoints/a.yml", None, {"uri": "endpoints/a.yml", "uriBaseId": "%SRCROOT%"}),
        ("endpoints\\win\\a.yml", None, {"uri": "endpoints/win/a.yml", "uriBaseId": "%SRCROOT%"}),
        ("my endpoints/ü.yml", None, {"uri": "my%20endpoints/%C3%BC.yml", "uriBaseId": "%SRCROOT%"}),
        ("/repo/endpoints/a.yml", "/repo", {"uri": "endpoints/a.yml", "uriBaseId": "%SRCROOT%"}),
        ("/repo/endpoints/a.yml", "/repo/", {"uri": "endpoints/a.yml", "uriBaseId": "%SRCROOT%"}),
        ("/elsewhere/a.yml", "/repo", {"uri": "file:///elsewhere/a.yml"}),
        ("/abs/a.yml", None, {"uri": "file:///abs/a.yml"}),
        ("C:\\work\\a.yml", None, {"uri": "file:///C:/work/a.yml"}),
        ("https://example.com/a.json", None, {"uri": "https://example.com/a.json"}),
    ],
)
def test_artifact_location(source: str, srcroot: str | None, expected: dict[str, str]) -> None:
    assert artifact_location(source, srcroot) == expected


def test_srcroot_is_recorded(tmp_path: Path) -> None:
    res = Resource(kind="workspace", id="w", name="w", source=str(tmp_path / "ws.yml"), line=3)
    report = AuditReport(resources=[res], findings=[
        Finding(rule="R", resource="w", status="fail", severity="high", message="m", source=res.source, line=3)])
    run = sarif(report, srcroot=str(tmp_path))["runs"][0]
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == tmp_path.as_uri() + "/"
    assert run["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"] == {
        "uri": "ws.yml", "uriBaseId": "%SRCROOT%"}


def test_rules_without_metadata_and_odd_values_still_render() -> None:
    report = AuditReport(
        findings=[Finding(rule="CUSTOM-1", resource="r", status="fail", severity="weird", message="",
                          source="a.yml", line=0)],
        diagnostics=[Diagnostic(source="b.yml", line=None, message="")],
    )
    log = sarif(report)
    check_structure(log)
    (rule,) = log["runs"][0]["tool"]["driver"]["rules"]
    assert rule["id"] == "CUSTOM-1" and rule["shortDescription"]["text"] == "CUSTOM-1"
    (result,) = log["runs"][0]["results"]
    assert result["level"] == "warning"
    assert result["message"]["text"] == "CUSTOM-1"
    assert "region" not in result["locations"][0]["physicalLocation"]  # line 0 is not a line


def test_semantic_version_only_when_semver() -> None:
    assert sarif()["runs"][0]["tool"]["driver"]["semanticVersion"] == TOOL_VERSION
    log = json.loads(render(build_report(), "sarif", tool_version="dev"))
    assert "semanticVersion" not in log["runs"][0]["tool"]["driver"]
