"""What a new user gets wrong on the command line gets a clear answer and the right exit code:
a binary file named as YAML, a path that does not exist, `--fail-on HIGH`, a forgotten PATH on a
core install, a snapshot folder that is not there."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from amlguard.cli import main
from amlguard.config import Settings
from amlguard.errors import ConfigError, PolicyError, render_problems
from amlguard.monitor.drift.io import _short
from amlguard.service import build_inventory

from .reports.sample import repo_root


def test_a_binary_file_named_is_no_text_not_yaml_without_a_resource(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "tool.yml").write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 4)
    assert main(["audit", str(tmp_path / "tool.yml"), "--format", "json"], env={}) == 2
    out = capsys.readouterr()
    assert '"message": "not a text file amlguard can read: the file holds NUL bytes: it is not UTF-8 text' in out.out
    assert "nothing was audited" in out.err


@pytest.mark.parametrize(("name", "text", "reason"), [
    ("deep.yml", "a: " + "[" * 1500, "not valid YAML: nested deeper than 1000 levels (line 1), so nothing was read"),
    ("broken.yaml", "a: [1, 2\nb: 3\n", "not valid YAML: "),
    ("broken.json", '{"a": [1, 2}', "not valid JSON (Expecting ',' delimiter: line 1 column 12 (char 11)), so "),
    ("export.txt", '[{"id": 1}', "not valid JSON (Expecting ',' delimiter: line 1 column 11 (char 10)), so "),
])
def test_a_named_file_that_does_not_parse_says_so(tmp_path: Path, name: str, text: str, reason: str) -> None:
    """Inside a folder such a file is skipped quietly (it does not look like Azure ML); named, it is
    the whole audit, and "holds no Azure ML resource" would be the wrong reason."""
    from amlguard.inventory import load_paths

    (tmp_path / name).write_text(text)
    (diagnostic,) = load_paths([str(tmp_path / name)]).diagnostics
    assert diagnostic.message.startswith(reason)
    folder = load_paths([str(tmp_path)]).diagnostics[0].message  # a folder walk skips it quietly (.txt: unseen)
    assert folder.startswith("none of the 1 YAML / JSON / Bicep files" if not name.endswith(".txt") else "no .yml")


def test_a_named_yaml_file_that_parses_holds_no_resource(tmp_path: Path) -> None:
    from amlguard.inventory import load_paths

    (tmp_path / "conda.yml").write_text("name: env\ndependencies: [python=3.11]\n")
    (diagnostic,) = load_paths([str(tmp_path / "conda.yml")]).diagnostics
    assert diagnostic.message.startswith("read as YAML, but it holds no Azure ML resource amlguard audits")


@pytest.mark.parametrize("spelling", ["HIGH", "High", "never", "OFF", "none"])
def test_fail_on_takes_any_case_and_the_never_spellings(spelling: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["audit", str(repo_root() / "examples" / "workspace"), "--fail-on", spelling], env={})
    assert code == (1 if spelling.lower() == "high" else 0)
    assert "invalid choice" not in capsys.readouterr().err


def test_inventory_of_a_missing_path_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inventory", str(tmp_path / "nope")], env={}) == 2
    assert capsys.readouterr().err.strip() == f"amlguard inventory: no such file or folder: {tmp_path / 'nope'}"


def test_inventory_shows_no_line_where_there_is_none(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "conda.yml").write_text("name: env\ndependencies:\n  - python=3.11\n")
    assert main(["inventory", str(tmp_path)], env={}) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"{tmp_path}: none of the 1 YAML / JSON / Bicep files in this folder")
    assert lines[-1] == "0 resources, 1 diagnostics"


def test_a_problem_without_a_line_is_not_given_line_1() -> None:
    assert render_problems([("nope", None, "", "no such file or folder"), ("p.yaml", 7, "rules.0.id", "bad")]) == (
        "nope: no such file or folder\np.yaml:7: rules.0.id: bad")
    assert str(PolicyError([(None, None, "", "empty")])) == "<policy>: empty"


def test_audit_without_a_path_on_a_core_install_asks_for_the_path(monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "azure.core.exceptions", None)  # as if the azure extra were not installed
    assert main(["audit"], env={}) == 2
    assert capsys.readouterr().err.strip() == (
        "amlguard: no PATH given: name the files or folders to audit (`amlguard audit infra/`); without a PATH "
        "amlguard audits live Azure, which needs the `azure` extra: pip install 'amlguard[azure]'")


def test_a_snapshot_that_does_not_exist_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"AMLGUARD_SNAPSHOT \(serve --snapshot\): no such file or folder: "):
        build_inventory(Settings(snapshot=(str(tmp_path / "nope"),)))


def test_serve_with_a_missing_snapshot_exits_2_instead_of_serving_nothing(tmp_path: Path) -> None:
    pytest.importorskip("uvicorn")
    result = subprocess.run([sys.executable, "-m", "amlguard.cli", "serve", "--snapshot", str(tmp_path / "nope"),
                             "--insecure-no-auth", "--port", "0", "--state", str(tmp_path / "state")],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2, result.stderr
    assert "no such file or folder" in result.stderr


def test_a_binary_drift_input_is_not_echoed_to_the_terminal() -> None:
    text = _short(ValueError("CSV parse error: Expected 1 columns, got 3: \x7fELF\x02\x01\x1b[2J" + "x" * 500))
    assert "\x1b" not in text and "\\x1b" in text and "\\x7f" in text
    assert len(text) == 203 and text.endswith("...")
