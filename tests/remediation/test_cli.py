"""`amlguard audit --subscription ... [--remediate]` end to end against the HTTPS stand-in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.standins.arm import SUB, ArmStandin, arm_id
from tests.standins.helpers import FakeCredential

PACK = """\
apiVersion: amlguard/v1
kind: AuditRules
metadata: {name: remediating}
rules:
  - id: AMLG-NET-001
    title: Managed online endpoints are not reachable from the public internet
    severity: high
    kinds: [online_endpoint]
    applies_when: {field: compute_type, notEquals: kubernetes}
    require: {field: public_network_access, equals: disabled, default: enabled}
    effect: remediate
    remediate: {action: disable_public_network_access}
    description: Public endpoints accept scoring requests from any network.
    rationale: Network isolation is the second lock.
    remediation: Set public_network_access to disabled.
"""


@pytest.fixture
def live_env(arm_standin: ArmStandin, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.chdir(tmp_path)  # no stray config.json
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", SUB)
    monkeypatch.setenv("AMLGUARD_ARM_ENDPOINT", arm_standin.url)
    monkeypatch.setenv("AMLGUARD_CA_BUNDLE", str(arm_standin.ca_file))
    monkeypatch.setenv("AMLGUARD_RETRY_BACKOFF", "0.01")
    monkeypatch.setenv("AMLGUARD_ACTOR", "cli-test")
    monkeypatch.setattr("amlguard.inventory.config.credential_from_env", lambda env=None: FakeCredential())
    pack = tmp_path / "pack"
    pack.mkdir()
    (pack / "network.yaml").write_text(PACK)
    return pack


def _audit(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict]:
    from amlguard.cli import main

    code = main(["audit", "--format", "json", *argv])
    return code, json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("mode", ["workspace", "resource-graph", "auto"])
def test_live_audit(live_env: Path, capsys: pytest.CaptureFixture[str], mode: str) -> None:
    code, report = _audit(["--no-default-policies", "--policies", str(live_env), "--inventory", mode], capsys)
    assert code == 1
    assert report["summary"]["resources"] == 14
    failed = sorted(f["resource"].rsplit("/", 1)[-1] for f in report["findings"] if f["status"] == "fail")
    assert failed == ["ep-000-01", "ep-001-01"]


def test_remediate_dry_run_then_for_real(live_env: Path, arm_standin: ArmStandin,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    code, report = _audit(["--no-default-policies", "--policies", str(live_env), "--remediate"], capsys)
    actions = [f["remediation_action"] for f in report["findings"] if f.get("remediation_action")]
    assert [a["status"] for a in actions] == ["would_change", "would_change"]
    assert not [r for r in arm_standin.api_requests() if r.method != "GET" and "ResourceGraph" not in r.path]

    _audit(["--no-default-policies", "--policies", str(live_env), "--remediate", "--no-dry-run", "--max-resources", "1"], capsys)
    assert arm_standin.requests_to(r"/onlineEndpoints/[^/]+$", "PUT") == []  # the brake held

    code, report = _audit(["--no-default-policies", "--policies", str(live_env), "--remediate", "--no-dry-run"], capsys)
    actions = [f["remediation_action"] for f in report["findings"] if f.get("remediation_action")]
    assert [(a["status"], a["actor"]) for a in actions] == [("changed", "cli-test")] * 2
    endpoint = arm_standin.estate.get(arm_id(SUB, "rg-ml", "ws-000", "onlineEndpoints", "ep-000-01"))
    assert endpoint is not None and endpoint["properties"]["publicNetworkAccess"].lower() == "disabled"

    code, report = _audit(["--no-default-policies", "--policies", str(live_env)], capsys)
    assert code == 0 and report["summary"]["failed"] == 0


def test_a_missing_credential_is_one_configuration_error(live_env: Path, arm_standin: ArmStandin,
                                                         capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from azure.core.exceptions import ClientAuthenticationError

    from amlguard.cli import main

    class NoCredential:
        def get_token(self, *scopes: str, **kwargs: object) -> None:
            raise ClientAuthenticationError("DefaultAzureCredential failed to retrieve a token from the included "
                                            "credentials.")

    monkeypatch.setattr("amlguard.inventory.config.credential_from_env", lambda env=None: NoCredential())
    assert main(["audit", "--format", "json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and arm_standin.api_requests() == []  # no sweep, no error finding per resource
    assert captured.err.startswith("amlguard: no Azure credential for the live audit: DefaultAzureCredential failed")
    assert "sign in with `az login`" in captured.err


@pytest.mark.parametrize("mode", ["workspace", "resource-graph"])
def test_a_live_sweep_shows_progress_on_a_terminal_only(live_env: Path, capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    import sys

    from amlguard.cli import main

    argv = ["audit", "--format", "json", "--no-default-policies", "--policies", str(live_env), "--inventory", mode]
    main(argv)
    assert "\r" not in capsys.readouterr().err  # not a terminal: no progress line
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    main(argv)
    monkeypatch.undo()
    out, err = capsys.readouterr()
    assert json.loads(out)["summary"]["resources"] == 14  # stdout holds the report alone
    assert "resources read" in err and err.endswith("\r\x1b[K")  # the line is cleared at the end
