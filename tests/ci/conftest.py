"""What the CI integration tests share: the project as a runner downloads it, a workspace (a git
repository holding a copy of examples/), one runner temp folder for the session (the action and
the template install amlguard's core into it once), and the SARIF schema check."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.ci.runners import REPO, copy_project
from tests.conftest import SARIF_SCHEMA

GIT = ["git", "-c", "user.name=ci", "-c", "user.email=ci@example.invalid", "-c", "commit.gpgsign=false"]


def git(cwd: Path, *argv: str) -> str:
    return subprocess.run([*GIT, *argv], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture(scope="session")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_project(tmp_path_factory.mktemp("action") / "amlguard")


@pytest.fixture(scope="session")
def runner_temp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("runner-temp")


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A repository with the example workspace committed: what actions/checkout leaves."""
    root = tmp_path / "repo"
    (root / "examples").mkdir(parents=True)
    subprocess.run(["cp", "-r", str(REPO / "examples" / "workspace"), str(root / "examples")], check=True)
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "endpoints")
    return root


@pytest.fixture(scope="session")
def check_sarif() -> Callable[[Path], dict[str, Any]]:
    """Load a SARIF file and validate it against the OASIS schema in ../shared/reference."""
    if not SARIF_SCHEMA.exists():
        pytest.skip("../shared/reference/schemas is not present")
    import jsonschema

    schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    validator_cls = jsonschema.validators.validator_for(schema)
    validator = validator_cls(schema, format_checker=validator_cls.FORMAT_CHECKER)

    def check(path: Path) -> dict[str, Any]:
        log: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        errors = sorted(validator.iter_errors(log), key=str)
        assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:10])
        return log

    return check


def cli_has(flag: str) -> bool:
    """Whether today's `amlguard audit` takes `flag` (the pack-control flags land with another branch)."""
    import contextlib
    import io

    from amlguard.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        main(["audit", "--help"])
    return flag in out.getvalue()
