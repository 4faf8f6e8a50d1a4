"""The CLI image: the Dockerfile read as a linter would (pinned base, non-root user, no secrets, a
context holding only what it copies), then built and run where a container engine can.

The build needs the pinned base image. Without registry access, name a local stand-in with
DOCKERFILE_TEST_BASE_IMAGE (any image with python3 >= 3.11 and its venv module, e.g. one made with
debootstrap from Debian bookworm's python3 and python3-venv); the build still installs amlguard's
dependencies from the package index. DOCKERFILE_TEST_ENGINE_ARGS and DOCKERFILE_TEST_RUN_ARGS pass
what a host's engine needs (on a cgroup-v1 host without CAP_SYS_RESOURCE: `--runtime runc` and
`--ulimit nofile=1024:1024 --ulimit nproc=1024:1024`), DOCKERFILE_TEST_BUILD_ARGS what its build
needs to reach the index (a proxy, a CA: `-v /etc/pip.conf:/etc/pip.conf:ro`).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pathspec
import pytest

REPO = Path(__file__).resolve().parents[1]
DOCKERFILE = REPO / "Dockerfile"
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
EXACT_TAG = re.compile(r":\d+\.\d+\.\d+[\w.-]*$")  # python:3.11.11-slim-bookworm, not python:3.11-slim
SECRET_NAME = re.compile(r"(TOKEN|SECRET|PASSWORD|PASSWD|KEY|CONNECTION_STRING|CREDENTIAL)", re.I)


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def build_args() -> dict[str, str]:
    return dict(re.match(r"(\w+)=?(.*)", rest).groups() for word, rest in instructions()  # type: ignore[union-attr]
                if word == "ARG")


def test_every_stage_starts_from_the_pinned_base() -> None:
    base = build_args()["PYTHON_IMAGE"]
    assert DIGEST.search(base) and EXACT_TAG.search(base.split("@")[0]), base
    stages = [rest for word, rest in instructions() if word == "FROM"]
    assert stages and all(re.match(r"\$\{PYTHON_IMAGE\}( AS \w+)?$", stage) for stage in stages), stages


def test_the_image_runs_as_a_non_root_user() -> None:
    final = instructions()[max(i for i, (word, _) in enumerate(instructions()) if word == "FROM"):]
    users = [rest for word, rest in final if word == "USER"]
    assert users, "the final stage must switch to a non-root USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0") and (not user.isdigit() or int(user) >= 1000), user
    assert [rest for word, rest in final if word == "ENTRYPOINT"] == ['["amlguard"]']


def test_no_secret_and_nothing_fetched_from_the_network() -> None:
    for word, rest in instructions():
        if word in ("ENV", "ARG", "LABEL"):
            names = re.findall(r"(\w+)=", rest) or [rest.split()[0]]
            assert not [n for n in names if SECRET_NAME.search(n)], f"{word} {rest}"
        assert word != "ADD", "ADD fetches URLs and unpacks archives; COPY what the context holds"
        assert not re.search(r"\b(curl|wget)\b", rest), f"{word} {rest}"


def test_the_context_holds_what_the_image_copies_and_nothing_secret() -> None:
    """.dockerignore read with gitignore rules, which agree with Docker's on this file."""
    spec = pathspec.GitIgnoreSpec.from_lines((REPO / ".dockerignore").read_text(encoding="utf-8").splitlines())
    copied = [rest.split()[:-1] for word, rest in instructions() if word == "COPY" and "--from=" not in rest]
    for sources in copied:
        for source in sources:
            path = REPO / source
            assert path.exists(), source
            files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
            kept = [f for f in files if not spec.match_file(f.relative_to(REPO).as_posix())]
            assert kept, f"{source} is copied but .dockerignore leaves it out"
    for private in ("local.settings.json", ".azure/config", ".git/config", ".venv/bin/python", ".amlguard/state.db",
                    "tests/test_cli.py", "node_modules/x", "shared/_version.py", "shared/__pycache__/cli.pyc"):
        assert spec.match_file(private), f"{private} would be sent to the image build"


def engine() -> str | None:
    """A container engine that can build here: podman, or docker with a daemon answering."""
    for name in ("podman", "docker"):
        if shutil.which(name) and subprocess.run([name, "info"], capture_output=True, timeout=60).returncode == 0:
            return name
    return None


@pytest.mark.timeout(900)
def test_build_and_run_the_image(tmp_path: Path) -> None:
    tool = engine()
    if tool is None:
        pytest.skip("no container engine here (podman, or docker with a running daemon)")
    engine_args = [tool, *shlex.split(os.environ.get("DOCKERFILE_TEST_ENGINE_ARGS", ""))]
    run_args = shlex.split(os.environ.get("DOCKERFILE_TEST_RUN_ARGS", ""))
    base = os.environ.get("DOCKERFILE_TEST_BASE_IMAGE") or build_args()["PYTHON_IMAGE"]
    have = subprocess.run([tool, "image", "inspect", base], capture_output=True, timeout=60).returncode == 0
    if not have and subprocess.run([tool, "pull", base], capture_output=True, timeout=300).returncode != 0:
        pytest.skip(f"{tool} cannot get the base image {base} (no registry access?); "
                    "set DOCKERFILE_TEST_BASE_IMAGE to a local image with python3 and venv")
    tag = "localhost/amlguard-test:latest"
    build = subprocess.run([*engine_args, "build", *run_args, *shlex.split(os.environ.get("DOCKERFILE_TEST_BUILD_ARGS", "")),
                            "--network", "host", "-t", tag, "--build-arg", f"PYTHON_IMAGE={base}",
                            "--build-arg", "AMLGUARD_VERSION=9.8.7", "."], cwd=REPO, capture_output=True, text=True,
                           timeout=900)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    work = tmp_path / "work"
    shutil.copytree(REPO / "examples" / "workspace", work / "workspace")
    work.chmod(0o777)

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*engine_args, "run", "--rm", *run_args, "--network", "none", "-v", f"{work}:/work",
                               *argv], capture_output=True, text=True, timeout=300)

    assert run(tag, "--version").stdout.strip() == "amlguard 9.8.7"
    assert run("--entrypoint", "id", tag, "-u").stdout.strip() == "10001"
    result = run(tag, "audit", "workspace", "--format", "sarif", "--output", "amlguard.sarif")
    assert result.returncode == 1, result.stderr  # findings at or above high
    assert result.stderr.strip() == "amlguard: wrote sarif report to amlguard.sarif (10 resources, 26 failed, 0 errors)"
    log = json.loads((work / "amlguard.sarif").read_text(encoding="utf-8"))
    assert len(log["runs"][0]["results"]) == 26
    assert sorted(p.name for p in work.iterdir()) == ["amlguard.sarif", "workspace"]  # no cache left in /work
