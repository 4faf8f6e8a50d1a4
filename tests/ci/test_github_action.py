"""action.yml, run as the GitHub runner runs a composite action: install amlguard from the action's
checkout into a venv, audit the workspace, write SARIF, annotations, a job summary and outputs."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.ci.conftest import cli_has, git
from tests.ci.runners import GitHubAction

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="session")
def install_outputs(project: Path, runner_temp: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The install step, run once: pip builds amlguard from the action's files (no git metadata;
    the version comes from the tag the workflow pinned)."""
    action = GitHubAction(project, tmp_path_factory.mktemp("install-workspace"), runner_temp, action_ref="v9.8.7")
    result = action.run("install")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "amlguard 9.8.7" in result.stdout
    assert Path(result.outputs["python"]).is_file()
    return result.outputs


@pytest.fixture
def action(project: Path, workspace: Path, runner_temp: Path, install_outputs: dict[str, str]) -> GitHubAction:
    action = GitHubAction(project, workspace, runner_temp, action_ref="v9.8.7")
    action.step_outputs["install"] = install_outputs
    return action


def annotation(command: str) -> dict[str, str]:
    """`::error file=F,line=L,title=T::message` as a dict (properties unescaped)."""
    match = re.match(r"::(\w+) (.*?)::(.*)$", command)
    assert match, command
    props = dict(p.split("=", 1) for p in match.group(2).split(","))
    unescape = {"%0A": "\n", "%0D": "\r", "%3A": ":", "%2C": ",", "%25": "%"}
    out = {k: re.sub("%0A|%0D|%3A|%2C|%25", lambda m: unescape[m.group(0)], v) for k, v in props.items()}
    out["level"] = match.group(1)
    out["message"] = re.sub("%0A|%0D|%25", lambda m: unescape[m.group(0)], match.group(3))
    return out


def test_audit_writes_sarif_annotations_summary_and_outputs(
        action: GitHubAction, workspace: Path, check_sarif: Callable[[Path], dict[str, Any]]) -> None:
    result = action.run("audit", paths="examples/workspace")
    assert result.returncode == 1, result.stderr  # findings at or above high fail the job
    assert result.outputs == {"exit-code": "1", "sarif-file": "amlguard.sarif", "failed": "28", "errors": "0",
                              "unreadable": "0"}
    assert action.action_outputs()["sarif-file"] == "amlguard.sarif"
    log = check_sarif(workspace / "amlguard.sarif")
    (run,) = log["runs"]
    assert run["automationDetails"] == {"id": "amlguard/default/"}
    assert {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in run["results"]} >= {
        "examples/workspace/fraud-scoring/green.yml", "examples/workspace/workspace.yml"}

    notes = [annotation(c) for c in result.commands("::") if not c.startswith("::notice::")]
    assert [n["level"] for n in notes][:6] == ["error"] * 6  # the six high findings fail the gate
    first = notes[0]
    assert first["file"] == "examples/workspace/fraud-scoring/green.yml" and first["line"] == "1"
    assert first["title"] == "AMLG-NET-002 (high): Managed online deployments have no public outbound access"
    assert first["message"].startswith("egress_public_network_access is not set; Azure defaults it to enabled")
    assert "\nfix: Egress cannot be changed on an existing deployment" in first["message"]
    assert all(n["file"].startswith("examples/workspace/") and n["line"].isdigit() for n in notes)

    assert result.summary.startswith("## amlguard audit: failed\n")
    assert "| high | 6 |" in result.summary and "| low | 14 |" in result.summary
    assert "| `AMLG-NET-002` | high | Managed online deployments have no public outbound access | 2 |" in result.summary


def test_soft_fail_reports_without_failing(action: GitHubAction) -> None:
    result = action.run("audit", paths="examples/workspace", **{"soft-fail": "true"})
    assert result.returncode == 0
    assert result.outputs["exit-code"] == "1"
    assert result.commands("::warning::") == [
        "::warning::amlguard: findings at or above the fail-on severity; soft-fail is on, so the job goes on"]
    assert result.summary.startswith("## amlguard audit: findings reported (soft fail: the job does not fail)")


def test_fail_on_and_more_formats(action: GitHubAction, workspace: Path) -> None:
    result = action.run("audit", paths="examples/workspace", **{
        "fail-on": "none", "formats": "junit:reports/amlguard.xml\nhtml:reports/amlguard.html",
        "sarif-file": "out/amlguard.sarif"})
    assert result.returncode == 0, result.stderr
    assert result.outputs["sarif-file"] == "out/amlguard.sarif"
    assert (workspace / "out" / "amlguard.sarif").is_file()
    assert (workspace / "reports" / "amlguard.xml").read_text(encoding="utf-8").startswith("<?xml")
    assert "<!DOCTYPE html>" in (workspace / "reports" / "amlguard.html").read_text(encoding="utf-8")
    assert "Fails at `none` and above." in result.summary
    assert not [c for c in result.commands("::error") if "title=" in c]  # nothing gates: no error annotations


def test_a_configuration_error_fails_even_with_soft_fail(action: GitHubAction) -> None:
    result = action.run("audit", paths="examples/workspace", **{"fail-on": "severe", "soft-fail": "true"})
    assert result.returncode == 2
    assert result.outputs["exit-code"] == "2"
    assert "--fail-on: invalid choice: 'severe'" in result.stderr
    assert result.summary.startswith("## amlguard audit: could not run")
    assert result.commands("::error::") == [
        "::error::amlguard audit stopped on a usage or configuration error; see the messages above"]


def test_inputs_are_never_run_as_shell(action: GitHubAction, workspace: Path) -> None:
    result = action.run("audit", paths='examples/workspace"; touch pwned; echo "', **{"fail-on": "$(touch pwned2)"})
    assert result.returncode == 2
    assert not (workspace / "pwned").exists() and not (workspace / "pwned2").exists()


def test_a_pull_request_annotates_its_changed_files_changed_lines_first(action: GitHubAction, workspace: Path) -> None:
    base = git(workspace, "rev-parse", "HEAD")
    green = workspace / "examples" / "workspace" / "fraud-scoring" / "green.yml"
    lines = green.read_text(encoding="utf-8").splitlines()
    port = next(i for i, line in enumerate(lines) if "port: 80" in line)
    lines[port] = lines[port].replace("port: 80", "port: 81")
    green.write_text("\n".join(lines) + "\n", encoding="utf-8")
    git(workspace, "commit", "-qam", "liveness port")
    action.github["event"] = {"pull_request": {"base": {"sha": base}}}  # the input's default reads it
    result = action.run("audit", paths="examples/workspace")
    notes = [annotation(c) for c in result.commands("::") if not c.startswith("::notice::")]
    assert {n["file"] for n in notes} == {"examples/workspace/fraud-scoring/green.yml"}
    assert notes[0]["line"] == str(port + 1) and notes[0]["title"].startswith("AMLG-PORT-001 (medium)")
    assert "liveness_route.port is 81" in notes[0]["message"]
    assert result.outputs["failed"] == "28"  # the SARIF and the summary still hold every finding


def test_an_unknown_base_annotates_everything_and_says_why(action: GitHubAction) -> None:
    result = action.run("audit", paths="examples/workspace", base="0" * 40)
    assert result.commands("::notice::")[0].startswith(f"::notice::amlguard: cannot diff against {'0' * 40}")
    files = {annotation(c)["file"] for c in result.commands("::") if not c.startswith("::notice::")}
    assert len(files) > 1


def test_default_policies_off_with_a_team_pack(action: GitHubAction, workspace: Path) -> None:
    if not cli_has("--no-default-policies"):
        pytest.skip("needs `amlguard audit --no-default-policies` (the pack-control branch)")
    pack = workspace / "team-pack"
    pack.mkdir()
    (pack / "ports.yaml").write_text((Path(action.action_path) / "policies" / "ports.yaml").read_text(encoding="utf-8"),
                                     encoding="utf-8")
    result = action.run("audit", paths="examples/workspace", policies="team-pack", **{"default-policies": "false"})
    results = json.loads((workspace / "amlguard.sarif").read_text(encoding="utf-8"))["runs"][0]["results"]
    rules = {r["ruleId"] for r in results}
    assert rules and all(rule.startswith("AMLG-PORT-") for rule in rules), result.stderr


@pytest.mark.parametrize(("inputs", "flag"), [
    ({"rules": "AMLG-NET-*"}, "--rule"),
    ({"skip-rules": "AMLG-TAG-001, AMLG-OPS-*"}, "--skip-rule"),
    ({"exclude": "examples/workspace/recommender/**"}, "--exclude"),
])
def test_rule_selection_inputs(action: GitHubAction, workspace: Path, inputs: dict[str, str], flag: str) -> None:
    if not cli_has(flag):
        pytest.skip(f"needs `amlguard audit {flag}` (the pack-control branch)")
    result = action.run("audit", paths="examples/workspace", **inputs)
    assert result.returncode in (0, 1), result.stderr
    results = json.loads((workspace / "amlguard.sarif").read_text(encoding="utf-8"))["runs"][0]["results"]
    rules = {r["ruleId"] for r in results}
    files = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results}
    if flag == "--rule":
        assert rules and all(r.startswith("AMLG-NET-") for r in rules)
    elif flag == "--skip-rule":
        assert rules and not any(r == "AMLG-TAG-001" or r.startswith("AMLG-OPS-") for r in rules)
    else:
        assert files and not any("/recommender/" in f for f in files)


def test_baseline_input(action: GitHubAction, workspace: Path) -> None:
    if not cli_has("--write-baseline"):
        pytest.skip("needs `amlguard audit --baseline/--write-baseline` (the pack-control branch)")
    python = action.step_outputs["install"]["python"]
    subprocess.run([python, "-m", "amlguard.cli", "audit", "examples/workspace", "--write-baseline", "baseline.json",
                    "--fail-on", "none"], cwd=workspace, check=True, capture_output=True)
    result = action.run("audit", paths="examples/workspace", baseline="baseline.json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.outputs["exit-code"] == "0"
