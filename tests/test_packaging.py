"""The installed package is the product: the wheel holds `amlguard` (shared/ and policies/ mapped
to it) and nothing else, and a wheel installed with the pip `python -m venv` bundles into a fresh
venv outside the repository runs `audit`, `policy validate|test` and `drift` on copies of examples/.

The install pulls the whole runtime dependency set (azure-ai-ml, scipy, pyarrow...): one venv per
session, `--no-compile`; about 30 s on the 2-core machine.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
# import name -> folder in the repository (pyproject's package-dir)
ROOTS = {"amlguard": REPO / "shared", "amlguard.policies": REPO / "policies"}

pytestmark = pytest.mark.timeout(900)


def clean_env(**extra: str) -> dict[str, str]:
    """The caller's environment without what would let the repository or its venv leak in."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AMLGUARD_", "PYTHON", "APPLICATIONINSIGHTS_")) and k != "VIRTUAL_ENV"}
    env.update(extra)
    return env


def run(argv: list[str | Path], *, cwd: Path, timeout: float = 600, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in argv], cwd=cwd, env=clean_env(**env), capture_output=True, text=True,
                          timeout=timeout, check=False)


def checked(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, f"{result.args} exited {result.returncode}:\n{result.stdout[-3000:]}\n" \
                                   f"{result.stderr[-6000:]}"
    return result


# -- (a) the packages list is the folders on disk -------------------------------------------------


def package_folders() -> dict[str, Path]:
    """Every folder under shared/ and policies/ that Python imports as a package, by its installed name."""
    found: dict[str, Path] = {}
    for name, root in ROOTS.items():
        for init in root.rglob("__init__.py"):
            if "__pycache__" in init.parts:
                continue
            rel = init.parent.relative_to(root).parts
            found[".".join((name, *rel))] = init.parent
    return found


def test_pyproject_packages_are_the_package_folders() -> None:
    setuptools = PYPROJECT["tool"]["setuptools"]
    assert setuptools["package-dir"] == {"amlguard": "shared", "amlguard.policies": "policies"}
    assert sorted(setuptools["packages"]) == sorted(package_folders())


def test_no_module_lies_outside_a_package() -> None:
    """setuptools drops a .py file in a folder without __init__.py without a word."""
    packages = set(package_folders().values())
    for root in ROOTS.values():
        for module in root.rglob("*.py"):
            if "__pycache__" not in module.parts:
                assert module.parent in packages, f"{module.relative_to(REPO)} is in no package"


def test_requirements_txt_is_pyproject_dependencies_plus_the_project() -> None:
    lines = [line.strip() for line in (REPO / "requirements.txt").read_text(encoding="utf-8").splitlines()]
    lines = [line for line in lines if line and not line.startswith("#")]
    assert lines[-1] == ".", "requirements.txt must end with `.`: the Functions build installs amlguard from it"
    listed = [str(Requirement(line)) for line in lines[:-1]]
    assert listed == [str(Requirement(dep)) for dep in PYPROJECT["project"]["dependencies"]]


# -- (b) the wheel --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`pip wheel --no-deps .` on a copy holding only what the build reads: pyproject.toml, README.md
    (its readme), shared/, policies/. A copy, so that no stale build/ in the work tree leaks in."""
    src = tmp_path_factory.mktemp("wheel-src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    for folder in ("shared", "policies"):
        shutil.copytree(REPO / folder, src / folder, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp_path_factory.mktemp("wheelhouse")
    checked(run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--progress-bar", "off", "-w", out, src],
                cwd=src))
    (built,) = out.glob("amlguard-*.whl")
    return built


def expected_files() -> set[str]:
    """Every file under shared/ and policies/ but caches, at its installed path."""
    files = set()
    for name, root in ROOTS.items():
        for path in root.rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                files.add("/".join((*name.split("."), *path.relative_to(root).parts)))
    return files


def test_wheel_holds_amlguard_and_nothing_else(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    dist_info = f"amlguard-{PYPROJECT['project']['version']}.dist-info"
    assert {n.split("/")[0] for n in names} == {"amlguard", dist_info}
    files = {n for n in names if not n.startswith(dist_info + "/")}
    assert files == expected_files()
    # what the issue names, spelled out
    for required in ("amlguard/py.typed", "amlguard/policies/README.md",
                     "amlguard/policies/schema/amlguard-policy.schema.json",
                     "amlguard/reports/assets/report.css", "amlguard/reports/assets/report.js",
                     "amlguard/policies/network.yaml", "amlguard/policies/alerting.yaml",
                     "amlguard/policies/monitors.yaml", "amlguard/cli.py"):
        assert required in files
    assert {n.split("/")[1] for n in files if n.count("/") > 1} >= {"policies", "reports", "policy"}
    assert not any(n.startswith(("shared/", "functions/", "tests/", "policies/")) for n in names)


def test_wheel_metadata(wheel: Path) -> None:
    archive = zipfile.ZipFile(wheel)
    dist_info = f"amlguard-{PYPROJECT['project']['version']}.dist-info"
    metadata = archive.read(f"{dist_info}/METADATA").decode()
    requires = [Requirement(line.split(":", 1)[1].strip()) for line in metadata.splitlines()
                if line.startswith("Requires-Dist:")]
    runtime = [str(r) for r in requires if r.marker is None]
    assert runtime == [str(Requirement(d)) for d in PYPROJECT["project"]["dependencies"]]
    assert archive.read(f"{dist_info}/top_level.txt").decode().split() == ["amlguard"]
    entry_points = archive.read(f"{dist_info}/entry_points.txt").decode()
    assert re.search(r"^amlguard = amlguard\.cli:main$", entry_points, re.M)


# -- (c) installed with the stock pip, outside the repository -------------------------------------


@dataclass(frozen=True)
class Installed:
    venv: Path
    site_packages: Path
    pip_version: str

    @property
    def amlguard(self) -> Path:
        return self.venv / "bin" / "amlguard"

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"


@pytest.fixture(scope="session")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    """A new venv (the pip `python -m venv` bundles, never upgraded) with the wheel installed;
    removed after the session (about 450 MB)."""
    venv = tmp_path_factory.mktemp("stock-venv") / "venv"
    assert REPO not in venv.parents
    checked(run([sys.executable, "-m", "venv", venv], cwd=venv.parent))
    python = venv / "bin" / "python"
    pip_version = checked(run([python, "-m", "pip", "--version"], cwd=venv.parent)).stdout.split()[1]
    checked(run([python, "-m", "pip", "install", "--no-compile", "--progress-bar", "off", wheel], cwd=venv.parent))
    site = checked(run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                       cwd=venv.parent)).stdout.strip()
    yield Installed(venv, Path(site), pip_version)
    shutil.rmtree(venv, ignore_errors=True)


@pytest.fixture
def examples(tmp_path: Path) -> Path:
    """A copy of examples/ in a folder of its own: the working directory of every command below."""
    shutil.copytree(REPO / "examples", tmp_path / "examples")
    return tmp_path / "examples"


def test_installed_with_the_bundled_pip(installed: Installed) -> None:
    bundled = checked(run([sys.executable, "-c", "import ensurepip; print(ensurepip.version())"], cwd=REPO))
    assert installed.pip_version == bundled.stdout.strip()


def test_site_packages_gets_amlguard_only(installed: Installed) -> None:
    record = next(installed.site_packages.glob("amlguard-*.dist-info")) / "RECORD"
    tops = {line.split(",")[0].split("/")[0] for line in record.read_text().splitlines()}
    assert {t for t in tops if t != ".."} == {"amlguard", record.parent.name}
    for generic in ("shared", "functions", "tests", "policies"):
        assert not (installed.site_packages / generic).exists()
    probe = ("import importlib.util as u, json; from amlguard.config import default_policies_dir; "
             "print(json.dumps([u.find_spec('shared') is None, u.find_spec('functions') is None, "
             "str(default_policies_dir())]))")
    no_shared, no_functions, pack = json.loads(checked(run([installed.python, "-c", probe],
                                                           cwd=installed.venv)).stdout)
    assert no_shared and no_functions
    assert Path(pack) == installed.site_packages / "amlguard" / "policies"


def test_audit(installed: Installed, examples: Path) -> None:
    result = run([installed.amlguard, "audit", "workspace"], cwd=examples)
    assert result.returncode == 1, result.stderr  # findings at or above --fail-on high
    assert result.stderr == ""
    assert "10 resources, 37 passed, 28 failed, 0 exempt, 0 errors, 20 not applicable" in result.stdout
    assert "(workspace/fraud-scoring/green.yml:1)" in result.stdout
    # the same words the repository's own CLI prints for the same folder
    repo = run([sys.executable, "-m", "amlguard.cli", "audit", "workspace"], cwd=examples)
    assert (repo.returncode, repo.stdout) == (result.returncode, result.stdout)


def test_audit_html_inlines_the_bundled_assets(installed: Installed, examples: Path) -> None:
    result = run([installed.amlguard, "audit", "workspace", "--format", "html", "--output", "report.html",
                  "--fail-on", "none"], cwd=examples)
    assert result.returncode == 0, result.stderr
    html = (examples / "report.html").read_text(encoding="utf-8")
    css = (REPO / "shared" / "reports" / "assets" / "report.css").read_text(encoding="utf-8")
    assert f"<style>{css}</style>" in html


def test_policy_validate_and_test(installed: Installed, examples: Path) -> None:
    pack = installed.site_packages / "amlguard" / "policies"
    result = run([installed.amlguard, "policy", "validate", pack], cwd=examples)
    assert (result.returncode, result.stdout.strip()) == (0, f"{pack}: policy files are valid")
    result = run([installed.amlguard, "policy", "validate", "monitoring"], cwd=examples)
    assert (result.returncode, result.stdout.strip()) == (0, "monitoring: policy files are valid")
    broken = examples / "monitoring" / "monitors.yaml"
    broken.write_text(broken.read_text(encoding="utf-8").replace("severity: medium", "severity: severe", 1),
                      encoding="utf-8")
    result = run([installed.amlguard, "policy", "validate", "monitoring"], cwd=examples)
    assert result.returncode == 2
    assert re.match(r"monitoring/monitors\.yaml:\d+: rules\.0\.severity: expected one of critical, high, medium, "
                    r"low, info \(got 'severe'\)", result.stdout), result.stdout
    result = run([installed.amlguard, "policy", "test", pack], cwd=examples)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"^(\d+)/\1 expectations passed in \d+ test file\(s\)$", result.stdout, re.M), result.stdout


def test_drift(installed: Installed, examples: Path) -> None:
    from tests.monitor.test_drift_cli import GOLDEN, _assert_same

    argv: list[str | Path] = [installed.amlguard, "drift", "--baseline", "drift/baseline.csv", "--current", "drift/current.csv"]
    result = run([*argv, "--format", "json"], cwd=examples)
    assert result.returncode == 0, result.stderr
    _assert_same(json.loads(result.stdout), json.loads(GOLDEN.read_text(encoding="utf-8")))
    result = run([*argv, "--fail-on-drift"], cwd=examples)
    assert result.returncode == 1, result.stderr
    assert "3 of 6 feature(s) drifted: age, income, region" in result.stdout
