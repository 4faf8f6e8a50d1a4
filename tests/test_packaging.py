"""The installed package is the product: the wheel holds `amlguard` (shared/ and policies/ mapped
to it) and nothing else, and a wheel installed with the pip `python -m venv` bundles into a fresh
venv outside the repository runs `audit`, `policy validate|test` and `drift` on copies of examples/.

Two installs per session, both `--no-compile`: the core (`pip install amlguard`: audit of files,
policy, inventory, every report format; about 5 s) and the whole runtime with the `service`
extra (azure-ai-ml, scipy, pyarrow...; about 30 s on the 2-core machine).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
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


def extra_requirements(extra: str) -> list[str]:
    """The requirements an extra brings, the extras it names (`amlguard[azure,drift]`) spelled out
    in their place, each requirement once."""
    out: list[str] = []
    for line in PYPROJECT["project"]["optional-dependencies"][extra]:
        req = Requirement(line)
        listed = ([r for named in sorted(req.extras) for r in extra_requirements(named)] if req.name == "amlguard"
                  else [str(req)])
        out.extend(r for r in listed if r not in out)
    return out


def test_requirements_txt_is_the_core_and_the_service_extra() -> None:
    lines = [line.strip() for line in (REPO / "requirements.txt").read_text(encoding="utf-8").splitlines()]
    lines = [line for line in lines if line and not line.startswith("#")]
    assert lines[-1] == ".", "requirements.txt must end with `.`: the Functions build installs amlguard from it"
    listed = [str(Requirement(line)) for line in lines[:-1]]
    core = [str(Requirement(dep)) for dep in PYPROJECT["project"]["dependencies"]]
    assert sorted(listed) == sorted(core + [r for r in extra_requirements("service") if r not in core])
    assert len(listed) == len(set(listed))


def test_extras_name_each_other_and_the_dev_extra_has_everything() -> None:
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert set(extras) == {"azure", "drift", "monitor", "service", "dev", "bench"}
    assert set(extra_requirements("monitor")) >= set(extra_requirements("azure")) | set(extra_requirements("drift"))
    assert set(extra_requirements("service")) >= set(extra_requirements("monitor"))
    assert set(extra_requirements("dev")) >= set(extra_requirements("service"))


def test_missing_extra_table_matches_pyproject() -> None:
    """amlguard.extras names, for each module an extra brings, the smallest extra that installs it
    (read from the distributions installed here, where every extra is) and never a core one."""
    from importlib.metadata import files, packages_distributions, requires

    from packaging.utils import canonicalize_name

    from amlguard.extras import EXTRA_OF_MODULE

    def closure(dist: str, seen: set[str]) -> set[str]:
        if canonicalize_name(dist) not in seen:
            seen.add(canonicalize_name(dist))
            for line in requires(dist) or []:
                req = Requirement(line)
                if req.marker is None:
                    closure(req.name, seen)
        return seen

    owners = packages_distributions()

    def providers(module: str) -> set[str]:
        prefix = module.replace(".", "/") + "/"
        return {canonicalize_name(d) for d in owners.get(module.split(".")[0], [])
                if any(str(f).startswith(prefix) for f in files(d) or [])}

    core: set[str] = set()
    for dep in PYPROJECT["project"]["dependencies"]:
        closure(Requirement(dep).name, core)
    installs: dict[str, set[str]] = {}
    for extra in ("azure", "drift", "monitor", "service"):
        installs[extra] = set()
        for req in extra_requirements(extra):
            closure(Requirement(req).name, installs[extra])
    size = {extra: len(extra_requirements(extra)) for extra in installs}
    for module, extra in EXTRA_OF_MODULE.items():
        dists = providers(module)
        assert dists and not dists & core, f"{module}: installed by {sorted(dists)}, which the core has"
        provided = [e for e in installs if dists & installs[e]]
        assert provided and extra == min(provided, key=size.__getitem__), \
            f"{module}: the smallest extra installing it is {min(provided, key=size.__getitem__)}, not {extra}"
    named = {d for module in EXTRA_OF_MODULE for d in providers(module)}
    for extra in installs:  # every requirement an extra lists has a module in the table
        for line in PYPROJECT["project"]["optional-dependencies"][extra]:
            req = Requirement(line)
            assert req.name == "amlguard" or canonicalize_name(req.name) in named, \
                f"{req.name} ({extra}): no module of it in amlguard.extras.EXTRA_OF_MODULE"


# -- (b) the wheel --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`pip wheel --no-deps .` on a copy holding only what the build reads: pyproject.toml, README.md
    (its readme), shared/, policies/. A copy, so that no stale build/ in the work tree leaks in."""
    return build_wheel(copy_sources(tmp_path_factory.mktemp("wheel-src")), tmp_path_factory.mktemp("wheelhouse"))


BUILD_INPUTS = ("pyproject.toml", "README.md", "LICENSE")


def copy_sources(src: Path) -> Path:
    """What the build reads: pyproject.toml, README.md (its readme), LICENSE, shared/, policies/,
    without the version file an editable install writes into shared/."""
    for name in BUILD_INPUTS:
        shutil.copy2(REPO / name, src / name)
    for folder in ("shared", "policies"):
        shutil.copytree(REPO / folder, src / folder,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "_version.py"))
    return src


def build_wheel(src: Path, out: Path) -> Path:
    checked(run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--progress-bar", "off", "-w", out, src],
                cwd=src))
    (built,) = out.glob("amlguard-*.whl")
    return built


def dist_info(names: list[str]) -> str:
    (found,) = {n.split("/")[0] for n in names if n.split("/")[0].endswith(".dist-info")}
    return found


def expected_files() -> set[str]:
    """Every file under shared/ and policies/ but caches, at its installed path, and the version
    file the build writes."""
    files = {"amlguard/_version.py"}
    for name, root in ROOTS.items():
        for path in root.rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc" \
                    and path.name != "_version.py":
                files.add("/".join((*name.split("."), *path.relative_to(root).parts)))
    return files


def test_wheel_holds_amlguard_and_nothing_else(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    info = dist_info(names)
    assert {n.split("/")[0] for n in names} == {"amlguard", info}
    assert f"{info}/licenses/LICENSE" in names
    files = {n for n in names if not n.startswith(info + "/")}
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
    info = dist_info(archive.namelist())
    metadata = archive.read(f"{info}/METADATA").decode()
    requires = [Requirement(line.split(":", 1)[1].strip()) for line in metadata.splitlines()
                if line.startswith("Requires-Dist:")]
    runtime = [str(r) for r in requires if r.marker is None]
    assert runtime == [str(Requirement(d)) for d in PYPROJECT["project"]["dependencies"]]
    for extra, deps in PYPROJECT["project"]["optional-dependencies"].items():
        assert f"Provides-Extra: {extra}" in metadata
        listed = [r for r in requires if r.marker is not None and r.marker.evaluate({"extra": extra})]
        assert sorted(str(r.name) + str(r.specifier) + str(sorted(r.extras)) for r in listed) == \
            sorted(str(Requirement(d).name) + str(Requirement(d).specifier) + str(sorted(Requirement(d).extras))
                   for d in deps)
    assert "License-Expression: MIT" in metadata
    # built outside git: setuptools-scm's fallback, never a version that looks released
    assert re.search(r"^Version: 0\.0\.0\+unknown$", metadata, re.M)
    assert archive.read("amlguard/_version.py").decode().count("0.0.0+unknown") >= 1
    assert archive.read(f"{info}/top_level.txt").decode().split() == ["amlguard"]
    entry_points = archive.read(f"{info}/entry_points.txt").decode()
    assert re.search(r"^amlguard = amlguard\.cli:run$", entry_points, re.M)


# -- (c) installed with the stock pip, outside the repository -------------------------------------


@dataclass(frozen=True)
class Installed:
    venv: Path
    site_packages: Path
    pip_version: str
    seconds: float

    @property
    def amlguard(self) -> Path:
        return self.venv / "bin" / "amlguard"

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"


def install(wheel: Path, venv: Path, extras: str = "") -> Installed:
    """A new venv (the pip `python -m venv` bundles, never upgraded) with the wheel installed,
    with `extras` (e.g. "[service]"); how long `pip install` took is in `seconds`."""
    assert REPO not in venv.parents
    checked(run([sys.executable, "-m", "venv", venv], cwd=venv.parent))
    python = venv / "bin" / "python"
    pip_version = checked(run([python, "-m", "pip", "--version"], cwd=venv.parent)).stdout.split()[1]
    started = time.monotonic()
    checked(run([python, "-m", "pip", "install", "--no-compile", "--progress-bar", "off",
                 f"amlguard{extras} @ {wheel.as_uri()}"], cwd=venv.parent))
    seconds = time.monotonic() - started
    site = checked(run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                       cwd=venv.parent)).stdout.strip()
    return Installed(venv, Path(site), pip_version, seconds)


@pytest.fixture(scope="session")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    """The whole runtime (`amlguard[service]`: what the Function App has); removed after the
    session (about 450 MB)."""
    venv = tmp_path_factory.mktemp("stock-venv") / "venv"
    yield install(wheel, venv, "[service]")
    shutil.rmtree(venv, ignore_errors=True)


@pytest.fixture(scope="session")
def core(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    """`pip install amlguard`: the core alone (about 15 MB besides pip)."""
    venv = tmp_path_factory.mktemp("core-venv") / "venv"
    yield install(wheel, venv)
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


# -- (d) the core install: `pip install amlguard` -------------------------------------------------


def test_core_install_audits_files_in_every_format(core: Installed, examples: Path) -> None:
    assert core.pip_version == checked(run([sys.executable, "-c", "import ensurepip; print(ensurepip.version())"],
                                           cwd=REPO)).stdout.strip()
    for fmt in ("table", "json", "sarif", "junit", "html"):
        result = run([core.amlguard, "audit", "workspace", "--format", fmt, "--output", f"report.{fmt}"],
                     cwd=examples)
        assert result.returncode == 1, result.stderr  # findings at or above --fail-on high
        assert result.stderr.strip() == (f"amlguard: wrote {fmt} report to report.{fmt} "
                                         "(10 resources, 28 failed, 0 errors)")
    assert json.loads((examples / "report.json").read_text(encoding="utf-8"))["summary"] == {
        "resources": 10, "passed": 37, "failed": 28, "exempt": 0, "errors": 0}
    assert json.loads((examples / "report.sarif").read_text(encoding="utf-8"))["runs"][0]["automationDetails"] == {
        "id": "amlguard/default/"}
    pack = core.site_packages / "amlguard" / "policies"
    assert checked(run([core.amlguard, "policy", "validate", pack], cwd=examples)).stdout.strip() == \
        f"{pack}: policy files are valid"
    assert re.search(r"^(\d+)/\1 expectations passed", checked(run([core.amlguard, "policy", "test", pack],
                                                                    cwd=examples)).stdout, re.M)
    assert checked(run([core.amlguard, "inventory", "workspace"], cwd=examples)).stdout.rstrip().endswith(
        "10 resources, 0 diagnostics")
    assert checked(run([core.amlguard, "--version"], cwd=examples)).stdout.strip() == "amlguard 0.0.0+unknown"


@pytest.mark.parametrize(("argv", "module", "extra"), [
    (["drift", "--baseline", "drift/baseline.csv", "--current", "drift/current.csv"], "numpy", "drift"),
    # replaying recorded monitor data reaches a drift rule: one message, not a traceback per rule
    (["monitor", "--example", "monitoring"], "numpy", "drift"),
    (["audit", "--subscription", "00000000-0000-0000-0000-000000000000"], "azure", "azure"),
    (["serve", "--insecure-no-auth"], "uvicorn", "service"),
])
def test_core_install_names_the_extra_a_command_needs(core: Installed, examples: Path, argv: list[str],
                                                      module: str, extra: str) -> None:
    result = run([core.amlguard, *argv], cwd=examples)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.strip() == (
        f"amlguard {argv[0]} needs '{module}', which comes with the `{extra}` extra: pip install "
        f"'amlguard[{extra}]' (the core install, without extras, does: audit and inventory of files, policy "
        "validate|test, every report format)")


def installed_megabytes(install: Installed) -> float:
    """What the install added to site-packages: everything but the pip and setuptools the venv
    comes with."""
    bundled = ("pip", "setuptools", "_distutils_hack", "distutils-precedence.pth")
    total = 0
    for entry in install.site_packages.iterdir():
        if entry.name.split("-")[0] in bundled:
            continue
        files = [entry] if entry.is_file() else [p for p in entry.rglob("*") if p.is_file()]
        total += sum(p.stat().st_size for p in files)
    return total / 2**20


def test_core_install_is_a_small_part_of_the_full_one(core: Installed, installed: Installed) -> None:
    core_mb, full_mb = installed_megabytes(core), installed_megabytes(installed)
    print(f"\ncore install: {core_mb:.1f} MB in {core.seconds:.1f} s; "
          f"with [service]: {full_mb:.1f} MB in {installed.seconds:.1f} s")
    assert core_mb < full_mb / 10, (core_mb, full_mb)
    for heavy in ("azure", "numpy", "scipy", "pyarrow", "fastapi", "uvicorn"):
        assert not (core.site_packages / heavy).exists(), f"{heavy} came with the core install"


# -- (e) the version is the git tag ---------------------------------------------------------------


def test_version_comes_from_the_git_tag(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    copy_sources(src)
    git = ["git", "-c", "user.name=amlguard", "-c", "user.email=amlguard@example.invalid", "-c", "commit.gpgsign=false"]
    for argv in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "release"], ["tag", "v9.8.7"]):
        checked(run([*git, *argv], cwd=src))
    built = build_wheel(src, tmp_path / "wheelhouse")
    assert built.name == "amlguard-9.8.7-py3-none-any.whl"
    assert "__version__ = version = '9.8.7'" in zipfile.ZipFile(built).read("amlguard/_version.py").decode()
