"""templates/amlguard-audit.yml, its script steps run as the Azure Pipelines agent runs them; the
publish tasks' inputs point at what the audit step wrote."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from junitparser import JUnitXml

from tests.ci.runners import AzurePipelinesTemplate

pytestmark = pytest.mark.timeout(600)


def template_for(project: Path, sources: Path, agent_temp: Path) -> AzurePipelinesTemplate:
    return AzurePipelinesTemplate(project / "templates" / "amlguard-audit.yml", sources, agent_temp,
                                  python=sys._base_executable)


@pytest.fixture(scope="session")
def installed_template(project: Path, runner_temp: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The install step, once: `package` names the project folder, as a pinned requirement would."""
    template = template_for(project, tmp_path_factory.mktemp("install-sources"), runner_temp)
    result = template.run("Install amlguard", package=str(project))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert re.search(r"^amlguard \S+$", result.stdout, re.M)
    return runner_temp


@pytest.fixture
def template(project: Path, workspace: Path, installed_template: Path) -> AzurePipelinesTemplate:
    return template_for(project, workspace, installed_template)


def issue(command: str) -> dict[str, str]:
    match = re.match(r"##vso\[task\.logissue (.*?)\](.*)$", command)
    assert match, command
    props = dict(p.split("=", 1) for p in match.group(1).split(";") if p)
    return {**props, "message": match.group(2).replace("%0A", "\n").replace("%AZP25", "%")}


def test_audit_publishes_junit_and_sarif(template: AzurePipelinesTemplate, workspace: Path,
                                         check_sarif: Callable[[Path], dict[str, Any]]) -> None:
    params = {"paths": "examples/workspace"}
    result = template.run("amlguard audit", **params)
    assert result.returncode == 1, result.stderr  # findings at or above high fail the build
    steps = {s.get("displayName"): s for s in template.steps(params)}

    junit_task = steps["Publish amlguard findings to the Tests tab"]
    assert junit_task["task"] == "PublishTestResults@2" and junit_task["condition"] == "succeededOrFailed()"
    junit = JUnitXml.fromfile(junit_task["inputs"]["testResultsFiles"])
    cases = [case for suite in junit for case in suite]
    assert sum(1 for case in cases if not case.is_passed and not case.is_skipped) == 28

    artifact = steps["Publish SARIF (CodeAnalysisLogs)"]
    assert artifact["inputs"]["ArtifactName"] == "CodeAnalysisLogs"
    log = check_sarif(Path(artifact["inputs"]["PathtoPublish"]) / "amlguard.sarif")
    assert log["runs"][0]["automationDetails"] == {"id": "amlguard/default/"}

    issues = [issue(c) for c in result.commands("##vso[task.logissue")]
    assert len(issues) == 28
    first = issues[0]
    assert first["type"] == "error" and first["code"] == "AMLG-NET-002"
    assert first["sourcepath"] == str(workspace / "examples/workspace/fraud-scoring/green.yml")
    assert first["linenumber"] == "1"
    assert first["message"].startswith("AMLG-NET-002 (high) Managed online deployments have no public outbound access: ")
    assert "\nfix: Egress cannot be changed" in first["message"]
    assert {i["type"] for i in issues if "(low)" in i["message"]} == {"warning"}

    (upload,) = result.commands("##vso[task.uploadsummary]")
    summary = Path(upload.removeprefix("##vso[task.uploadsummary]")).read_text(encoding="utf-8")
    assert summary.startswith("## amlguard audit: failed") and "| high | 6 |" in summary
    assert result.commands("##vso[task.setvariable") == [
        "##vso[task.setvariable variable=exitCode;isoutput=true]1",
        "##vso[task.setvariable variable=failed;isoutput=true]28",
        "##vso[task.setvariable variable=errors;isoutput=true]0"]


def test_soft_fail_completes_with_issues(template: AzurePipelinesTemplate) -> None:
    result = template.run("amlguard audit", paths="examples/workspace", softFail=True)
    assert result.returncode == 0
    assert result.commands("##vso[task.complete") == [
        "##vso[task.complete result=SucceededWithIssues]findings at or above the fail-on severity (soft fail)"]


def test_fail_on_medium_gates_medium_findings(template: AzurePipelinesTemplate) -> None:
    result = template.run("amlguard audit", paths="examples/workspace", failOn="medium", softFail=False)
    assert result.returncode == 1
    kinds = {(i["message"].split(" ")[1], i["type"]) for i in map(issue, result.commands("##vso[task.logissue"))}
    assert kinds == {("(high)", "error"), ("(medium)", "error"), ("(low)", "warning")}


def test_a_configuration_error_fails_the_step(template: AzurePipelinesTemplate) -> None:
    result = template.run("amlguard audit", paths="no/such/folder", softFail=True)
    assert result.returncode == 2
    assert "no such file or folder: no/such/folder" in result.stderr
    assert result.commands("##vso[task.logissue")[-1] == (
        "##vso[task.logissue type=error]amlguard audit stopped on a usage or configuration error; see the messages above")


def test_default_policies_parameter_is_a_boolean(template: AzurePipelinesTemplate) -> None:
    steps = {s.get("displayName"): s for s in template.steps({"defaultPolicies": False})}
    assert steps["amlguard audit"]["env"]["INPUT_DEFAULT_POLICIES"] == "False"  # the module reads it as false
