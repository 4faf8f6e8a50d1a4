"""The project config file of `amlguard audit` (.amlguard.yaml, [tool.amlguard]): where it is
found, what it sets, that flags win, and errors that name file, line and key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from amlguard.cli import main
from amlguard.errors import ConfigError
from amlguard.projectconfig import find_config, read_config

ENDPOINT = ("$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineEndpoint.schema.json\n"
            "name: ep\nauth_mode: aad_token\npublic_network_access: disabled\n")  # fails only AMLG-TAG-001 (low)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / ".git").mkdir()
    (tmp_path / "deploy" / "prod").mkdir(parents=True)
    (tmp_path / "deploy" / "prod" / "ep.yml").write_text(ENDPOINT)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_found_upward_from_the_audited_path_and_not_past_the_repository(repo: Path, tmp_path: Path) -> None:
    assert find_config(repo / "deploy" / "prod" / "ep.yml") is None
    (repo / "pyproject.toml").write_text("[project]\nname = 'x'\n")  # no [tool.amlguard]: not a config
    assert find_config(repo / "deploy" / "prod") is None
    (repo / "pyproject.toml").write_text("[tool.amlguard]\nfail_on = 'low'\n")
    assert find_config(repo / "deploy" / "prod") == Path("pyproject.toml")  # shown from the working folder
    (repo / "deploy" / ".amlguard.yaml").write_text("fail_on: medium\n")
    assert find_config(repo / "deploy" / "prod" / "ep.yml") == Path("deploy/.amlguard.yaml")


def test_the_file_sets_what_the_flags_leave_unset(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / ".amlguard.yaml").write_text("fail_on: low\nformat: [json]\nskip_rule: [AMLG-NET-*]\n")
    assert main(["audit", "deploy"], env={}) == 1  # the low TAG failure gates at fail_on: low
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert "amlguard: settings from .amlguard.yaml" in err
    assert not [f for f in report["findings"] if f["rule"].startswith("AMLG-NET-")]
    # a flag wins over the file: --fail-on high, a table
    assert main(["audit", "deploy", "--fail-on", "high", "--format", "table"], env={}) == 0
    assert capsys.readouterr().out.startswith("online_endpoint  ep")


def test_pyproject_tool_table_and_paths_relative_to_the_file(repo: Path, capsys: pytest.CaptureFixture[str],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    (repo / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.amlguard]\nformat = ["json:reports/amlguard.json"]\n'
        'write_baseline = "b.json"\n')
    monkeypatch.chdir(repo / "deploy")
    assert main(["audit", "prod"], env={}) == 2
    assert f"{repo / 'pyproject.toml'}:6: [tool.amlguard] write_baseline: not an amlguard audit setting" \
        in capsys.readouterr().err  # above the working folder: shown whole
    (repo / "pyproject.toml").write_text('[tool.amlguard]\nformat = ["json:reports/amlguard.json"]\n'
                                         'param = {required_tags = ["owner"]}\n')
    (repo / "reports").mkdir()
    assert main(["audit", "prod"], env={}) == 0
    report = json.loads((repo / "reports" / "amlguard.json").read_text())  # beside pyproject.toml, not cwd
    tags = next(f for f in report["findings"] if f["rule"] == "AMLG-TAG-001")
    assert tags["message"] == "tags is not set; expected to contain ['owner']"


@pytest.mark.parametrize(("text", "message"), [
    ("fail_on: medium\nfail-on: low\n", ".amlguard.yaml:2: fail-on: not an amlguard audit setting; write fail_on"),
    ("show_fix: yes please\n", ".amlguard.yaml:1: show_fix: expected true or false, got 'yes please'"),
    ("fail_on: severe\n", ".amlguard.yaml:1: fail_on: expected one of critical, high, medium, low, info, none"),
    ("rule: {a: 1}\n", ".amlguard.yaml:1: rule: expected a list of text, got {'a': 1}"),
    ("- fail_on\n", ".amlguard.yaml: expected a mapping of settings (e.g. `fail_on: medium`), got list"),
    ("fail_on: [\n", ".amlguard.yaml:2: not valid YAML"),
])
def test_a_bad_setting_names_file_line_and_key(repo: Path, text: str, message: str) -> None:
    (repo / ".amlguard.yaml").write_text(text)
    with pytest.raises(ConfigError) as caught:
        read_config(Path(".amlguard.yaml"))
    assert str(caught.value).startswith(message)


def test_an_explicit_config_file(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "deploy", "--config", "none.yaml"], env={}) == 2
    assert "--config none.yaml: no such file" in capsys.readouterr().err
    (repo / "ci.yaml").write_text("soft_fail: true\nfail_on: info\n")
    assert main(["audit", "deploy", "--config", "ci.yaml"], env={}) == 0
