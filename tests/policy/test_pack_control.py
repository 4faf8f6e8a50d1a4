"""Pack control in `amlguard audit`: layered packs, rule selection, path excludes, inline
suppressions and baselines (issue 14), through the command line as users run it."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from amlguard.cli import main

ENDPOINT = """\
$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineEndpoint.schema.json
name: {name}
auth_mode: aad_token
public_network_access: {access}
tags: {{owner: ml-team, cost_center: "4711"}}
"""

EXTRA_PACK = """\
apiVersion: amlguard/v1
kind: AuditRules
rules:
  - id: {id}
    title: Endpoints say what they are for
    severity: medium
    kinds: [online_endpoint]
    require: {{field: description, exists: true}}
    description: Every online endpoint has a description.
    rationale: An on-call engineer needs to know what an endpoint serves.
    remediation: Add `description:` to the endpoint YAML.
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository folder to audit from: `.git` bounds the search for a project config file."""
    (tmp_path / ".git").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def audit(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any], str]:
    """Exit code, the JSON report and stderr of `amlguard audit --format json ARGV`."""
    code = main(["audit", "--format", "json", *argv], env={})
    captured = capsys.readouterr()
    return code, (json.loads(captured.out) if captured.out else {}), captured.err


def statuses(report: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {(f["rule"], f["resource"].split("#")[-1]): f["status"] for f in report["findings"]}


# ------------------------------------------------------------------------------------ layering
def test_an_extra_pack_adds_a_rule_beside_the_bundled_ones(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(project / "ep.yml", ENDPOINT.format(name="ep", access="disabled"))
    write(project / "team-pack" / "rules.yaml", EXTRA_PACK.format(id="AMLG-OPS-901"))
    code, report, _ = audit(capsys, "ep.yml", "--policies", "team-pack")
    found = statuses(report)
    assert found[("AMLG-OPS-901", "online_endpoint/ep")] == "fail"
    assert found[("AMLG-NET-001", "online_endpoint/ep")] == "pass"  # the bundled pack still applies
    assert code == 0  # the extra rule is medium, below the default --fail-on high

    code, report, _ = audit(capsys, "ep.yml", "--policies", "team-pack", "--no-default-policies")
    assert {rule for rule, _ in statuses(report)} == {"AMLG-OPS-901"}


def test_two_packs_defining_one_rule_id_is_an_error_naming_both(project: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    write(project / "ep.yml", ENDPOINT.format(name="ep", access="disabled"))
    write(project / "team-pack" / "rules.yaml", EXTRA_PACK.format(id="AMLG-NET-001"))
    code, _, err = audit(capsys, "ep.yml", "--policies", "team-pack")
    assert code == 2
    assert "team-pack/rules.yaml:4: rules.0.id: duplicate rule id AMLG-NET-001; already defined at" in err
    assert "network.yaml" in err and "rule ids are unique across the packs loaded together" in err


def test_an_extra_pack_may_hold_only_exemptions_for_bundled_rules(project: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    write(project / "ep.yml", ENDPOINT.format(name="ep", access="enabled"))
    write(project / "waivers" / "exemptions.yaml", """\
apiVersion: amlguard/v1
kind: AuditRules
exemptions:
  - name: demo-endpoint
    rules: [AMLG-NET-001]
    names: [ep]
    reason: a public demo
    approver: security@contoso.com
    expires: 2999-01-01
""")
    code, report, _ = audit(capsys, "ep.yml", "--policies", "waivers")
    assert statuses(report)[("AMLG-NET-001", "online_endpoint/ep")] == "exempt" and code == 0


def test_no_default_policies_needs_a_pack(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(project / "ep.yml", ENDPOINT.format(name="ep", access="enabled"))
    code, _, err = audit(capsys, "ep.yml", "--no-default-policies")
    assert code == 2 and "--no-default-policies leaves no policy pack: add one with --policies PATH" in err


# ------------------------------------------------------------------------------ rule selection
def test_rule_and_skip_rule_take_ids_and_globs(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(project / "ep.yml", ENDPOINT.format(name="ep", access="enabled"))
    code, report, err = audit(capsys, "ep.yml", "--rule", "AMLG-NET-*", "--rule", "amlg-auth-001")
    assert {rule for rule, _ in statuses(report)} == {"AMLG-NET-001", "AMLG-AUTH-001"}  # endpoint rules only
    assert "amlguard: auditing 6 of the pack's" in err  # a narrowed audit says so
    code, report, _ = audit(capsys, "ep.yml", "--skip-rule", "AMLG-NET-*")
    rules = {rule for rule, _ in statuses(report)}
    assert "AMLG-NET-001" not in rules and "AMLG-AUTH-001" in rules and code == 0


@pytest.mark.parametrize(("flag", "pattern"), [("--rule", "AMLG-NETT-*"), ("--skip-rule", "NOPE-1")])
def test_a_rule_pattern_matching_nothing_is_an_error(project: Path, capsys: pytest.CaptureFixture[str],
                                                    flag: str, pattern: str) -> None:
    write(project / "ep.yml", ENDPOINT.format(name="ep", access="enabled"))
    code, _, err = audit(capsys, "ep.yml", flag, pattern)
    assert code == 2 and f"{flag} {pattern}: no rule of the policy pack matches it" in err


# ------------------------------------------------------------------------------------ excludes
def test_exclude_leaves_files_unread_and_says_so(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(project / "deploy" / "ep.yml", ENDPOINT.format(name="ep", access="disabled"))
    write(project / "deploy" / "legacy" / "old.yml", ENDPOINT.format(name="old", access="enabled"))
    write(project / "deploy" / "broken.yml", "name: x\nauth_mode: [\n")  # would be a diagnostic
    code, report, err = audit(capsys, "deploy", "--exclude", "legacy", "--exclude", "broken.yml")
    assert [r["name"] for r in report["resources"]] == ["ep"] and report["diagnostics"] == []
    assert code == 0 and "amlguard: 2 file(s) not read (--exclude)" in err
    # as reported from the working folder too, and a file named on the command line is excluded quietly
    code, report, _ = audit(capsys, "deploy", "deploy/legacy/old.yml", "--exclude", "deploy/legacy/*",
                            "--exclude", "*.yml")
    assert report["resources"] == [] and report["diagnostics"] == [] and code == 0


# ----------------------------------------------------------------------------- inline suppressions
def audit_public_endpoint(project: Path, capsys: pytest.CaptureFixture[str], access_line: str,
                          *argv: str) -> tuple[int, dict[str, Any], dict[str, Any]]:
    """Audit ep.yml, a public endpoint written with `access_line` on line 4: exit code, report and
    the AMLG-NET-001 finding."""
    write(project / "ep.yml", ENDPOINT.format(name="ep", access="enabled").replace(
        "public_network_access: enabled", access_line))
    code, report, _ = audit(capsys, "ep.yml", *argv)
    return code, report, next(f for f in report["findings"] if f["rule"] == "AMLG-NET-001")


def test_an_inline_suppression_exempts_the_finding_on_its_line(project: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    code, _, finding = audit_public_endpoint(project, capsys, "public_network_access: enabled  "
                                             "# amlguard:ignore AMLG-NET-001 reason=\"partner demo\" until=2999-01-31")
    assert finding["status"] == "exempt" and code == 0
    assert finding["exemption"] == {"name": "amlguard:ignore at ep.yml:4", "reason": "partner demo",
                                    "expires": "2999-01-31", "kind": "inline"}
    assert finding["message"].startswith("suppressed at ep.yml:4 until 2999-01-31 (partner demo); without it: ")


def test_a_comment_above_the_document_covers_the_whole_resource(project: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    text = ENDPOINT.format(name="ep", access="enabled").replace("auth_mode: aad_token\n", "")
    write(project / "ep.yml", "# amlguard:ignore AMLG-NET-*, AMLG-AUTH-001 reason=sandbox until=2999-01-01\n"
                              "\n" + text)
    code, report, _ = audit(capsys, "ep.yml")
    found = statuses(report)
    # the NET finding is on its field's line, the AUTH one (auth_mode absent) on the resource's line
    assert found[("AMLG-NET-001", "online_endpoint/ep")] == "exempt"
    assert found[("AMLG-AUTH-001", "online_endpoint/ep")] == "exempt" and code == 0


def test_an_expired_suppression_stops_applying_and_says_so(project: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    code, report, finding = audit_public_endpoint(
        project, capsys, "# amlguard:ignore AMLG-NET-001 reason=migration until=2020-03-31\npublic_network_access: enabled")
    assert finding["status"] == "fail" and code == 1
    assert finding["message"].endswith("; amlguard:ignore at ep.yml:4 expired on 2020-03-31")
    assert report["diagnostics"] == [{"source": "ep.yml", "line": 4, "message": (
        "`# amlguard:ignore AMLG-NET-001` expired on 2020-03-31: the finding applies again; fix the resource, "
        "or renew the suppression with a later until= date")}]


@pytest.mark.parametrize(("comment", "problem"), [
    ("AMLG-NET-001 until=2999-01-01", "it gives no reason="),
    ("AMLG-NET-001 reason=later", "it gives no expiry until=YYYY-MM-DD"),
    ("AMLG-NET-001 reason=later until=soon", "until=soon is not a date (YYYY-MM-DD) or ISO 8601 timestamp"),
    ("AMLG-NETWORK-9 reason=x until=2999-01-01", "no rule of the policy pack matches AMLG-NETWORK-9"),
    ("reason=x until=2999-01-01", "it names no rule"),
])
def test_an_incomplete_suppression_does_not_apply_and_is_a_diagnostic(
        project: Path, capsys: pytest.CaptureFixture[str], comment: str, problem: str) -> None:
    code, report, finding = audit_public_endpoint(
        project, capsys, f"public_network_access: enabled  # amlguard:ignore {comment}", "--fail-on", "none")
    assert finding["status"] == "fail"
    assert [(d["line"], d["message"].split(";")[0]) for d in report["diagnostics"]] == [
        (4, f"`# amlguard:ignore` does not apply: {problem}")]
    assert code == 1  # a diagnostic fails the run (--fail-on-diagnostics)


def test_suppressed_findings_in_sarif_and_junit(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(project / "a.yml", ENDPOINT.format(name="a", access="enabled  # amlguard:ignore AMLG-NET-001 "
                                                                      "reason=demo until=2999-01-01"))
    write(project / "b.yml", ENDPOINT.format(name="b", access="enabled"))
    assert main(["audit", "b.yml", "--write-baseline", "base.json", "--format", "json:-"], env={}) == 0
    code = main(["audit", "a.yml", "b.yml", "--baseline", "base.json", "--format", "sarif:out.sarif",
                 "--format", "junit:out.xml"], env={})
    assert code == 0
    sarif = json.loads((project / "out.sarif").read_text())
    kinds = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]: [s["kind"] for s in r["suppressions"]]
             for r in sarif["runs"][0]["results"] if r["ruleId"] == "AMLG-NET-001"}
    assert kinds == {"a.yml": ["inSource"], "b.yml": ["external"]}
    skipped = {case.get("file"): case.find("skipped").get("message")  # type: ignore[union-attr]
               for case in ET.parse(project / "out.xml").getroot().iter("testcase")
               if case.get("classname") == "AMLG-NET-001"}
    assert skipped == {"a.yml": "suppressed: demo (expires 2999-01-01)",
                       "b.yml": "suppressed: accepted in the baseline base.json"}


# ------------------------------------------------------------------------------------- baselines
def test_a_baseline_run_passes_on_an_unchanged_estate_and_fails_on_a_new_finding(
        project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(project / "estate" / "a.yml", ENDPOINT.format(name="a", access="enabled"))
    write(project / "estate" / "b.yml", ENDPOINT.format(name="b", access="disabled"))
    code, report, err = audit(capsys, "estate", "--write-baseline", "baseline.json")
    assert code == 0 and "amlguard: wrote 1 failed finding(s) to the baseline baseline.json" in err
    baseline = json.loads((project / "baseline.json").read_text())
    assert baseline["version"] == 1
    assert [(e["rule"], e["source"], e["line"]) for e in baseline["findings"]] == [
        ("AMLG-NET-001", "estate/a.yml", 4)]

    code, report, _ = audit(capsys, "estate", "--baseline", "baseline.json")
    assert code == 0 and report["summary"]["failed"] == 0 and report["summary"]["exempt"] == 1

    write(project / "estate" / "c.yml", ENDPOINT.format(name="c", access="enabled"))  # one new finding
    code, report, _ = audit(capsys, "estate", "--baseline", "baseline.json")
    assert code == 1 and [f["resource"] for f in report["findings"] if f["status"] == "fail"] == [
        "estate/c.yml#online_endpoint/c"]


def test_a_changed_resource_is_new_again_and_stale_entries_are_reported(
        project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(project / "a.yml", ENDPOINT.format(name="a", access="enabled"))
    assert main(["audit", "a.yml", "--write-baseline", "baseline.json"], env={}) == 0
    capsys.readouterr()
    write(project / "a.yml", ENDPOINT.format(name="a", access="enabled").replace("4711", "4712"))
    code, report, err = audit(capsys, "a.yml", "--baseline", "baseline.json")
    assert code == 1 and statuses(report)[("AMLG-NET-001", "online_endpoint/a")] == "fail"
    assert "1 entry of the baseline baseline.json match no finding any more" in err


@pytest.mark.parametrize(("content", "message"), [
    (None, "no baseline file baseline.json: write one with `amlguard audit ... --write-baseline baseline.json`"),
    ("{\n  oops", "baseline.json:2: the baseline is not valid JSON"),
    ('{"version": 7, "findings": []}', "baseline.json: not an amlguard baseline of version 1"),
])
def test_a_missing_or_broken_baseline_is_a_configuration_error(
        project: Path, capsys: pytest.CaptureFixture[str], content: str | None, message: str) -> None:
    write(project / "a.yml", ENDPOINT.format(name="a", access="enabled"))
    if content is not None:
        write(project / "baseline.json", content)
    code, _, err = audit(capsys, "a.yml", "--baseline", "baseline.json")
    assert code == 2 and message in err


def test_the_reader_and_the_suppressions_module_agree_on_the_mark() -> None:
    from amlguard.inventory.reader import SUPPRESSION_MARK
    from amlguard.policy.suppressions import MARK

    assert SUPPRESSION_MARK == MARK
