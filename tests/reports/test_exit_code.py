"""Exit code of `amlguard audit` (DESIGN.md contract 2), table-driven."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from amlguard.errors import ConfigError
from amlguard.model import AuditReport, Diagnostic, Finding
from amlguard.reports import DEFAULT_FAIL_ON, FAIL_ON_CHOICES, exit_code, failing_findings

from .sample import build_report


def report_of(*findings: tuple[str, str]) -> AuditReport:
    return AuditReport(findings=[Finding(rule=f"R{i}", resource="r", status=status, severity=severity, message="")
                                 for i, (status, severity) in enumerate(findings)])


CASES = [
    # (findings as (status, severity), fail_on, expected exit)
    ([], "info", 0),
    ([("pass", "critical")], "info", 0),
    ([("not_applicable", "critical")], "info", 0),
    ([("exempt", "critical")], "info", 0),  # an approved exemption never fails the run
    ([("fail", "critical")], None, 0),  # None: no threshold, never fail
    ([("fail", "critical")], "high", 1),
    ([("fail", "high")], "high", 1),
    ([("fail", "medium")], "high", 0),
    ([("fail", "medium")], "medium", 1),
    ([("fail", "low")], "medium", 0),
    ([("fail", "info")], "low", 0),
    ([("fail", "info")], "info", 1),
    ([("error", "high")], "high", 1),  # could not evaluate is never a pass
    ([("error", "low")], "high", 0),
    ([("fail", "critical")], "none", 0),
    ([("fail", "critical")], "never", 0),
    ([("fail", "critical")], "OFF", 0),
    ([("fail", "HIGH")], "High", 1),  # case-insensitive both ways
    ([("fail", "weird")], "info", 0),  # unknown severity ranks below info
    ([("pass", "high"), ("fail", "low"), ("fail", "critical")], "critical", 1),
]


@pytest.mark.parametrize(("findings", "fail_on", "expected"), CASES)
def test_exit_code(findings: list[tuple[str, str]], fail_on: str | None, expected: int) -> None:
    assert exit_code(report_of(*findings), fail_on) == expected


def test_default_is_high_and_choices() -> None:
    assert DEFAULT_FAIL_ON == "high"
    assert exit_code(report_of(("fail", "high"))) == 1
    assert exit_code(report_of(("fail", "medium"))) == 0
    assert FAIL_ON_CHOICES == ("critical", "high", "medium", "low", "info", "none")


@pytest.mark.parametrize("bad", ["severe", "", "2"])
def test_unknown_fail_on_is_a_config_error(bad: str) -> None:
    with pytest.raises(ConfigError, match="--fail-on"):
        exit_code(AuditReport(), bad)


def test_diagnostics_fail_the_run_unless_turned_off() -> None:
    # an audit whose every file was unreadable used to exit 0 and pass CI
    report = AuditReport(diagnostics=[Diagnostic(source="x.yml", line=1, message="unreadable")])
    assert exit_code(report, "info") == 1
    assert exit_code(report, "none") == 1  # --fail-on is about findings; diagnostics have their own switch
    assert exit_code(report, "info", fail_on_diagnostics=False) == 0
    assert exit_code(AuditReport(), "info") == 0


def test_sample_report() -> None:
    report = build_report()
    assert report.diagnostics and exit_code(report, "none") == 1
    assert [exit_code(report, s, fail_on_diagnostics=False)
            for s in ("critical", "high", "medium", "low", "info", "none")] == [1, 1, 1, 1, 1, 0]
    assert [f.rule for f in failing_findings(report.findings, "critical")] == ["AMLG-PORT-002"]
    assert sorted(f.rule for f in failing_findings(report.findings, "high")) == [
        "AMLG-AUTH-001", "AMLG-NET-001", "AMLG-NET-003", "AMLG-PORT-002"]


def test_audit_that_read_nothing_does_not_pass(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Every file unreadable: the audit used to exit 0 with no finding, and CI passed. Nothing audited
    from the paths named is a configuration error (exit 2), whatever --fail-on and
    --no-fail-on-diagnostics say (DESIGN contract 2, issue 15)."""
    from amlguard.cli import main

    (tmp_path / "endpoint.yml").write_text("auth_mode: [\n")
    monkeypatch.chdir(tmp_path)
    assert main(["audit", ".", "--format", "json"], env={}) == 2
    report = json.loads(capsys.readouterr().out)
    assert report["summary"]["resources"] == 0 and report["diagnostics"][0]["source"] == "endpoint.yml"
    assert main(["audit", ".", "--format", "json", "--no-fail-on-diagnostics", "--fail-on", "none"], env={}) == 2
    # one readable resource among the unreadable: diagnostics decide again
    (tmp_path / "ok.yml").write_text("$schema: https://azuremlschemas.azureedge.net/latest/registry.schema.json\n"
                                     "name: r\nlocation: eastus\npublic_network_access: disabled\n")
    assert main(["audit", ".", "--format", "json", "--no-fail-on-diagnostics"], env={}) == 0
