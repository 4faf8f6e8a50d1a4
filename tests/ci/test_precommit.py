"""The pre-commit hook (.pre-commit-hooks.yaml), run by pre-commit itself on a temporary repository:
`pre-commit try-repo` with the staged files, and a .pre-commit-config.yaml pinning a tag with args.
pre-commit builds the hook's environment with pip from the package index, once per session."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.ci.conftest import git
from tests.ci.runners import REPO, base_env, copy_project

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="session")
def hook_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """amlguard as a hook repository: its files committed and tagged v9.8.7."""
    repo = copy_project(tmp_path_factory.mktemp("hook-repo") / "amlguard")
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "release")
    git(repo, "tag", "v9.8.7")
    return repo


@pytest.fixture(scope="session")
def pre_commit_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pre-commit-home")


def pre_commit(repo: Path, home: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = base_env(PRE_COMMIT_HOME=str(home), PRE_COMMIT_COLOR="never")
    return subprocess.run([sys.executable, "-m", "pre_commit", *argv], cwd=repo, env=env, capture_output=True,
                          text=True, timeout=600, check=False)


@pytest.fixture
def target(tmp_path: Path) -> Path:
    """A repository about to commit endpoint YAML beside YAML that is not Azure ML's."""
    repo = tmp_path / "project"
    shutil.copytree(REPO / "examples" / "workspace", repo / "ml")
    (repo / ".github" / "workflows").mkdir(parents=True)
    (repo / ".github" / "workflows" / "ci.yml").write_text("name: ci\non: push\njobs: {}\n", encoding="utf-8")
    (repo / "environment.yml").write_text("name: env\ndependencies: [python=3.11]\n", encoding="utf-8")
    git(repo, "init", "-q")
    return repo


def test_try_repo_audits_the_staged_azure_ml_yaml(hook_repo: Path, pre_commit_home: Path, target: Path) -> None:
    git(target, "add", ".github", "environment.yml")
    result = pre_commit(target, pre_commit_home, "try-repo", str(hook_repo), "amlguard-audit", "--verbose")
    if result.returncode not in (0, 1) or "An unexpected error has occurred" in result.stdout + result.stderr:
        pytest.fail(f"pre-commit could not run the hook:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    assert result.returncode == 0, result.stdout
    assert "none of the 2 staged file(s) is an Azure ML resource; nothing to audit" in result.stdout

    git(target, "add", "ml")
    result = pre_commit(target, pre_commit_home, "try-repo", str(hook_repo), "amlguard-audit")
    assert result.returncode == 1, result.stdout
    assert "amlguard audit" in result.stdout and "Failed" in result.stdout
    assert "online_deployment  green  workspace mlw-prod  (ml/fraud-scoring/green.yml:1)" in result.stdout
    assert "10 resources, 37 passed, 28 failed, 0 exempt, 0 errors, 20 not applicable — 0 diagnostics" in result.stdout


def test_config_pins_a_tag_and_passes_options(hook_repo: Path, pre_commit_home: Path, target: Path,
                                              check_sarif: Callable[[Path], dict[str, Any]]) -> None:
    (target / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {hook_repo}\n    rev: v9.8.7\n    hooks:\n      - id: amlguard-audit\n"
        "        args: [--fail-on=none, --format=sarif, --output=amlguard.sarif]\n", encoding="utf-8")
    broken = target / "ml" / "broken-endpoint.yml"
    git(target, "add", "-A")
    result = pre_commit(target, pre_commit_home, "run")
    assert result.returncode == 0, result.stdout + result.stderr
    log = check_sarif(target / "amlguard.sarif")
    # (pre-commit fetches the rev alone, without its tag: setuptools-scm cannot name the version)
    assert len(log["runs"][0]["results"]) == 28

    # a file that looks like an endpoint but is not valid YAML fails the hook, --fail-on none or not
    broken.write_text("$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineEndpoint.schema.json\n"
                      "name: ep\nauth_mode: [key\n", encoding="utf-8")
    git(target, "add", str(broken))
    result = pre_commit(target, pre_commit_home, "run", "--files", str(broken.relative_to(target)))
    assert result.returncode == 1, result.stdout
    report = (target / "amlguard.sarif").read_text(encoding="utf-8")
    assert "ml/broken-endpoint.yml" in report and "not valid YAML" in report
