"""The azd postdeploy hook (infra/hooks/postdeploy.sh), run with stand-in `azd`, `az` and `sleep`
commands on PATH that record their arguments: it re-provisions once with the event
subscriptions on, after the Event Grid trigger is indexed."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from ._repo import INFRA

HOOK = INFRA / "hooks" / "postdeploy.sh"
SH = shutil.which("sh")

pytestmark = pytest.mark.skipif(SH is None, reason="no POSIX sh")


def _stub(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text(f"#!/bin/sh\necho \"{name} $*\" >> \"$CALLS\"\n{body}\n", encoding="utf-8")
    path.chmod(0o755)


def _run(tmp_path: Path, *, az_failures: int | None, already: str = "") -> tuple[int, list[str], str]:
    """Run the hook; `az_failures` None means no az on PATH, else how often `az` fails first."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls.log"
    calls.touch()
    counter = tmp_path / "az.count"
    counter.write_text("0", encoding="utf-8")
    _stub(bin_dir, "azd", "exit 0")
    _stub(bin_dir, "sleep", "exit 0")
    if az_failures is not None:
        _stub(
            bin_dir,
            "az",
            f'n=$(cat "{counter}"); n=$((n + 1)); echo "$n" > "{counter}"; [ "$n" -gt {az_failures} ]',
        )
    env = {
        # Only the stand-ins and the shell's basic tools: no real azd/az can be reached.
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "CALLS": str(calls),
        "AZURE_RESOURCE_GROUP": "rg-test",
        "AZURE_FUNCTION_APP_NAME": "func-amlguard-abc",
    }
    if already:
        env["AMLGUARD_DEPLOY_EVENT_SUBSCRIPTION"] = already
    if az_failures is None and shutil.which("az", path=env["PATH"]):
        pytest.skip("a real az is on /usr/bin; cannot test the no-az path")
    result = subprocess.run(
        [str(SH), str(HOOK)], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    return result.returncode, calls.read_text(encoding="utf-8").splitlines(), result.stderr


def test_reprovisions_with_event_subscriptions_once_the_trigger_is_indexed(tmp_path: Path) -> None:
    code, calls, _ = _run(tmp_path, az_failures=2)
    assert code == 0
    shows = [c for c in calls if c.startswith("az functionapp function show")]
    assert len(shows) == 3
    assert "--function-name on_resource_event" in shows[0]
    assert "--resource-group rg-test --name func-amlguard-abc" in shows[0]
    assert calls.count("sleep 30") == 2
    assert calls[-2:] == ["azd env set AMLGUARD_DEPLOY_EVENT_SUBSCRIPTION true", "azd provision --no-prompt"]


def test_does_nothing_when_event_subscriptions_are_already_provisioned(tmp_path: Path) -> None:
    code, calls, _ = _run(tmp_path, az_failures=0, already="true")
    assert code == 0
    assert calls == []


def test_gives_up_with_the_manual_command_when_the_trigger_never_appears(tmp_path: Path) -> None:
    code, calls, stderr = _run(tmp_path, az_failures=1000)
    assert code == 1
    assert len([c for c in calls if c.startswith("az ")]) == 20
    assert not any(c.startswith("azd") for c in calls), "must not provision against a missing function"
    assert "azd env set AMLGUARD_DEPLOY_EVENT_SUBSCRIPTION true && azd provision" in stderr


def test_provisions_without_waiting_when_the_azure_cli_is_absent(tmp_path: Path) -> None:
    code, calls, _ = _run(tmp_path, az_failures=None)
    assert code == 0
    assert calls == ["azd env set AMLGUARD_DEPLOY_EVENT_SUBSCRIPTION true", "azd provision --no-prompt"]


def test_hook_is_executable_and_passes_sh_syntax_check() -> None:
    assert os.access(HOOK, os.X_OK)
    subprocess.run([str(SH), "-n", str(HOOK)], check=True, timeout=30)


# ------------------------------------------------------------------ prepackage: the version stamp
STAMP = INFRA / "hooks" / "stamp_version.py"
GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "commit.gpgsign=false"]


def _stamp(repo: Path) -> str:
    done = subprocess.run(["python3", str(STAMP)], cwd=repo, capture_output=True, text=True, check=True)
    assert done.returncode == 0, done.stderr
    return (repo / "PKG-INFO").read_text(encoding="utf-8")


def _commit(repo: Path, name: str) -> str:
    (repo / name).write_text(name, encoding="utf-8")
    subprocess.run([*GIT, "add", name], cwd=repo, check=True)
    subprocess.run([*GIT, "commit", "-qm", name], cwd=repo, check=True)
    return subprocess.run([*GIT, "rev-parse", "--short", "HEAD"], cwd=repo, capture_output=True, text=True,
                          check=True).stdout.strip()


def test_prepackage_stamps_the_version_setuptools_scm_would_give(tmp_path: Path) -> None:
    subprocess.run([*GIT, "init", "-q", str(tmp_path)], check=True)
    sha = _commit(tmp_path, "a")
    assert f"Version: 0.0.1.dev1+g{sha}\n" in _stamp(tmp_path)  # no release tag yet
    subprocess.run([*GIT, "tag", "v1.4.0"], cwd=tmp_path, check=True)
    assert _stamp(tmp_path) == "Metadata-Version: 2.1\nName: amlguard\nVersion: 1.4.0\n"
    sha = _commit(tmp_path, "b")
    assert f"Version: 1.4.1.dev1+g{sha}\n" in _stamp(tmp_path)


def test_prepackage_outside_git_writes_nothing_and_says_so(tmp_path: Path) -> None:
    done = subprocess.run(["python3", str(STAMP)], cwd=tmp_path, capture_output=True, text=True, check=False,
                          env={**os.environ, "GIT_CEILING_DIRECTORIES": str(tmp_path.parent)})
    assert done.returncode == 0 and "0.0.0+unknown" in done.stderr
    assert not (tmp_path / "PKG-INFO").exists()
