"""`amlguard inventory`: what the engine sees, for policy authors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from amlguard.inventory.cli import run

ENDPOINT = ("$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineEndpoint.schema.json\n"
            "name: {{EP}}\nauth_mode: AADToken\n")


def test_table_marks_defaults_and_placeholders(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "endpoint.yml").write_text(ENDPOINT)
    monkeypatch.chdir(tmp_path)
    assert run(["."]) == 0
    out = capsys.readouterr().out
    assert 'auth_mode = "aad_token"  (line 3)' in out
    assert 'public_network_access = "enabled"  [azure default]' in out
    assert 'name = "{{EP}}"  (line 2)  [placeholder]' in out
    assert out.rstrip().endswith("1 resources, 0 diagnostics")


def test_json_and_diagnostics_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "endpoint.yml").write_text(ENDPOINT)
    (tmp_path / "broken.yml").write_text("auth_mode: [\n")
    monkeypatch.chdir(tmp_path)
    assert run([".", "--format", "json"]) == 1
    data = json.loads(capsys.readouterr().out)
    (resource,) = data["resources"]
    assert resource["fields"]["auth_mode"] == "aad_token" and resource["defaulted"] == ["public_network_access"]
    assert resource["lines"]["auth_mode"] == 3 and resource["templated"] == ["name"]
    assert data["diagnostics"][0]["source"] == "broken.yml" and data["diagnostics"][0]["line"] == 2


def test_usage_error_is_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run([]) == 2
    assert "PATH" in capsys.readouterr().err
