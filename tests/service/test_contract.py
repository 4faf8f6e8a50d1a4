"""One pipeline behind every trigger: the same pack, environment, exemptions and resources give the
same findings through `amlguard audit`, `/api/audit`, Event Grid events (to the service and to
`/api/events`) and a sweep."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from amlguard.api.app import create_app
from amlguard.cli import main
from amlguard.config import Settings
from amlguard.events import parse_event_dict
from amlguard.model import Finding
from amlguard.service import Service
from tests.api.conftest import Server
from tests.service.test_service import write_event

TOKEN = "contract-token-7f1d"
GREEN_GLOB = "*/onlineEndpoints/fraud-scoring/deployments/green"

OVERRIDES = """\
apiVersion: amlguard/v1
kind: AuditRules
metadata: {name: prod-overrides}
overrides:
  - name: prod-needs-a-data-classification
    environment: prod
    rules: [AMLG-TAG-001]
    parameters: {required_tags: [owner, cost_center, data_classification]}
"""

EXEMPTIONS = f"""\
apiVersion: amlguard/v1
kind: AuditRules
metadata: {{name: exemptions}}
exemptions:
  - name: green-egress-until-the-migration
    rules: [AMLG-NET-002]
    resources: ["{GREEN_GLOB}"]
    reason: the partner feed moves behind private link in Q1
    approver: security@contoso.com
    expires: 2099-12-31
"""

Row = tuple[str, str, str, str, Any]


def rows(findings: list[Finding] | list[dict[str, Any]]) -> Counter[Row]:
    """(rule, resource, status, message, line) of every finding, whatever carried it, counted: a
    trigger that gave a finding twice differs."""
    return Counter((item["rule"], item["resource"], item["status"], item["message"], item.get("line"))
                   for item in (f if isinstance(f, dict) else f.to_json() for f in findings))


@pytest.fixture
def estate(tmp_path: Path, repo_root: Path) -> dict[str, str]:
    """The environment every trigger reads: a pack with a prod override and an exemption."""
    workspace = tmp_path / "workspace"
    shutil.copytree(repo_root / "examples" / "workspace", workspace)
    pack = tmp_path / "pack"
    shutil.copytree(repo_root / "policies", pack)
    (pack / "overrides.yaml").write_text(OVERRIDES, encoding="utf-8")
    (pack / "exemptions.yaml").write_text(EXEMPTIONS, encoding="utf-8")
    endpoint = workspace / "recommender" / "endpoint.yml"  # and an inline suppression in a resource's file
    endpoint.write_text(f"# amlguard:ignore AMLG-TAG-001 reason=tags are set by the platform team "
                        f"until=2099-01-01\n{endpoint.read_text(encoding='utf-8')}", encoding="utf-8")
    return {"AMLGUARD_POLICIES": str(pack), "AMLGUARD_ENVIRONMENT": "prod", "AMLGUARD_SNAPSHOT": str(workspace),
            "AMLGUARD_API_TOKEN": TOKEN}


def test_cli_http_events_and_sweep_give_identical_findings(estate: dict[str, str], tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    # CLI: `amlguard audit PATH --format json`, settings from the environment it is given
    assert main(["audit", estate["AMLGUARD_SNAPSHOT"], "--format", "json", "--fail-on", "none"], env=estate) == 0
    cli = json.loads(capsys.readouterr().out)
    expected = rows(cli["findings"])

    # the verdicts the environment and the exemption decide are in it, so the comparison means something
    tags = {r for r in expected if r[0] == "AMLG-TAG-001" and r[2] == "fail"}
    assert tags and all("data_classification" in r[3] for r in tags)
    assert any(r[0] == "AMLG-NET-002" and r[1].endswith("/deployments/green") and r[2] == "exempt" for r in expected)
    assert any(r[0] == "AMLG-TAG-001" and r[2] == "exempt" and r[3].startswith("suppressed at ") for r in expected)

    # HTTP: GET /api/audit on the app `amlguard serve` runs
    settings = Settings.from_env({**estate, "AMLGUARD_STATE_DIR": str(tmp_path / "http")})
    with Server(create_app(settings)) as server:
        answer = httpx.get(f"{server.url}/api/audit", params={"format": "json"},
                           headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)
    assert answer.status_code == 200
    assert rows(answer.json()["findings"]) == expected

    # Event Grid: one write event per resource, then what the service recorded for each; delivered
    # to the service, and posted to `/api/events` as an Event Grid webhook subscription posts them
    for leg in ("service", "webhook"):
        events = Service.from_settings(Settings.from_env({**estate, "AMLGUARD_STATE_DIR": str(tmp_path / leg)}))
        try:
            sent = [write_event(f"e{i}", resource["id"]) for i, resource in enumerate(cli["resources"])]
            if leg == "service":
                outcomes = [events.handle_event(parse_event_dict(event)).outcome for event in sent]
            else:
                with Server(create_app(settings, service=events)) as server:
                    answer = httpx.post(f"{server.url}/api/events", json=sent, timeout=60,
                                        headers={"Authorization": f"Bearer {TOKEN}", "aeg-event-type": "Notification"})
                assert answer.status_code == 200, answer.text
                outcomes = [o["outcome"] for o in answer.json()["events"]]
            assert outcomes == ["audited"] * len(sent)
            stored = events.report_from_store()
            assert stored is not None and rows(stored.findings) == expected, leg
        finally:
            events.close()

    # the timer sweep
    sweeper = Service.from_settings(Settings.from_env({**estate, "AMLGUARD_STATE_DIR": str(tmp_path / "sweep")}))
    try:
        assert rows(sweeper.sweep().findings) == expected
    finally:
        sweeper.close()


def test_without_the_environment_the_override_does_not_apply(estate: dict[str, str], tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """The control: the same run outside prod does not ask for the data_classification tag."""
    estate = {k: v for k, v in estate.items() if k != "AMLGUARD_ENVIRONMENT"}
    main(["audit", estate["AMLGUARD_SNAPSHOT"], "--format", "json", "--fail-on", "none"], env=estate)
    findings = json.loads(capsys.readouterr().out)["findings"]
    assert not any("data_classification" in f["message"] for f in findings if f["rule"] == "AMLG-TAG-001")
    service = Service.from_settings(Settings.from_env({**estate, "AMLGUARD_STATE_DIR": str(tmp_path / "s")}))
    try:
        assert rows(service.sweep().findings) == rows(findings)
    finally:
        service.close()
