"""Routes of DESIGN.md contract 5 over a real socket: auth, handshakes, events, audit, alerts."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest

from tests.api.conftest import TOKEN
from tests.service.conftest import GREEN, WS
from tests.service.test_service import write_event


def test_health_is_anonymous(anon: httpx.Client) -> None:
    response = anon.get("/api/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


@pytest.mark.parametrize("path", ["/api/audit", "/api/alerts", "/api/dashboard", "/api/silences"])
@pytest.mark.parametrize("header", [None, "Bearer wrong", "Basic dGVzdA==", f"bearer  {TOKEN}x"])
def test_every_other_route_needs_the_token(anon: httpx.Client, path: str, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = anon.get(path, headers=headers)
    assert response.status_code == 401
    assert "token" in response.json()["error"]


def test_audit_returns_the_cli_json(client: httpx.Client) -> None:
    response = client.get("/api/audit")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"summary", "resources", "findings", "diagnostics"}
    assert body["summary"]["resources"] == len(body["resources"]) == 10
    net002 = [f for f in body["findings"] if f["rule"] == "AMLG-NET-002" and f["resource"] == GREEN]
    assert net002 and net002[0]["status"] == "fail"


def test_audit_sarif_and_one_resource(client: httpx.Client) -> None:
    sarif = client.get("/api/audit", params={"format": "sarif"})
    assert sarif.status_code == 200
    assert sarif.json()["version"] == "2.1.0"
    one = client.post("/api/audit", json={"resource": GREEN})
    assert {f["resource"] for f in one.json()["findings"]} == {GREEN}
    assert client.get("/api/audit", params={"format": "yaml"}).status_code in (400, 422)


def test_event_grid_validation_handshake_without_token(anon: httpx.Client) -> None:
    body = [{"id": "v1", "topic": "t", "subject": "", "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
             "eventTime": "2026-11-26T09:00:00Z", "data": {"validationCode": "abc-123"}, "dataVersion": "2"}]
    response = anon.post("/api/events", json=body, headers={"aeg-event-type": "SubscriptionValidation"})
    assert response.status_code == 200
    assert response.json() == {"validationResponse": "abc-123"}


def test_cloudevents_options_handshake(anon: httpx.Client) -> None:
    response = anon.options("/api/events", headers={"WebHook-Request-Origin": "eventgrid.azure.net"})
    assert response.status_code == 200
    assert response.headers["WebHook-Allowed-Origin"] == "eventgrid.azure.net"


def test_events_need_the_token_and_accept_it_as_code(anon: httpx.Client) -> None:
    event = [write_event("e1", GREEN)]
    assert anon.post("/api/events", json=event).status_code == 401
    assert anon.post("/api/events", json=event, params={"code": "nope"}).status_code == 401
    response = anon.post("/api/events", json=event, params={"code": TOKEN})
    assert response.status_code == 200
    assert response.json()["events"][0]["outcome"] == "audited"


def test_event_flow_duplicates_out_of_order_and_delete(client: httpx.Client) -> None:
    batch = [write_event("e1", GREEN), write_event("e1", GREEN)]
    outcomes = [e["outcome"] for e in client.post("/api/events", json=batch).json()["events"]]
    assert outcomes == ["audited", "duplicate"]
    alerts = client.get("/api/alerts").json()["alerts"]
    assert alerts and {a["resource"] for a in alerts} == {GREEN}
    required = {"fingerprint", "rule", "resource", "status", "severity", "since"}
    assert all(required <= set(a) for a in alerts)
    assert len({a["fingerprint"] for a in alerts}) == len(alerts)
    late = client.post("/api/events", json=[write_event("e0", GREEN, "2026-01-01T00:00:00Z")]).json()
    assert late["events"][0]["outcome"] == "stale"
    gone = client.post("/api/events", json=[write_event("e2", GREEN, "2099-01-01T00:00:00Z", delete=True)]).json()
    assert gone["events"][0]["outcome"] == "resolved"
    assert client.get("/api/alerts", params={"status": "firing"}).json()["alerts"] == []


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{oops", 400),
        (b"", 400),
        (b'[{"id": 1}]', 400),
        (json.dumps([{"id": "u1", "subject": "/x", "eventType": "Contoso.Custom.Thing", "eventTime": "2026-11-26T00:00:00Z",
                      "data": {}}]).encode(), 200),
    ],
)
def test_bad_event_bodies(client: httpx.Client, body: bytes, status: int) -> None:
    response = client.post("/api/events", content=body, headers={"content-type": "application/json"})
    assert response.status_code == status
    if status == 200:
        assert response.json()["events"][0]["outcome"] == "ignored"
    else:
        assert response.json()["error"]


def test_oversized_body_is_refused(client: httpx.Client) -> None:
    response = client.post("/api/events", content=b"[" + b" " * 70_000 + b"]",
                           headers={"content-type": "application/json"})
    assert response.status_code == 413


def test_ack_and_silence_through_the_api(client: httpx.Client) -> None:
    client.post("/api/events", json=[write_event("e1", GREEN)])
    alert = client.get("/api/alerts").json()["alerts"][0]
    acked = client.post(f"/api/alerts/{alert['fingerprint']}/ack", json={"by": "oncall@contoso.com"})
    assert acked.status_code == 200
    assert acked.json()["alert"]["acknowledged_by"] == "oncall@contoso.com"
    assert client.post("/api/alerts/nope/ack", json={"by": "x"}).status_code == 404
    silence = client.post("/api/silences", json={
        "matchers": [f'resource="{GREEN}"'], "ends_at": "2099-01-01T00:00:00Z",
        "created_by": "oncall@contoso.com", "comment": "canary being replaced"})
    assert silence.status_code == 201
    listed = client.get("/api/silences").json()["silences"]
    assert [s["id"] for s in listed] == [silence.json()["id"]]
    no_expiry = client.post("/api/silences", json={"matchers": ["rule=x"], "created_by": "a", "comment": "b"})
    assert no_expiry.status_code == 422


def test_workspace_resource_ids_in_events_audit_the_workspace(client: httpx.Client) -> None:
    event = write_event("w1", WS)
    event["data"]["operationName"] = "Microsoft.MachineLearningServices/workspaces/write"
    outcome = client.post("/api/events", json=[event]).json()["events"][0]
    assert outcome["outcome"] == "audited"
    assert outcome["failed"] >= 1  # the example workspace allows public network access


def test_serve_refuses_to_start_without_a_token(tmp_path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "amlguard.cli", "serve", "--port", "0"], capture_output=True,
                            text=True, env=env, cwd=tmp_path, timeout=60)
    assert result.returncode == 2
    assert "AMLGUARD_API_TOKEN" in result.stderr
    public = subprocess.run([sys.executable, "-m", "amlguard.cli", "serve", "--host", "0.0.0.0", "--insecure-no-auth"],
                            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert public.returncode == 2
    assert "loopback" in public.stderr
