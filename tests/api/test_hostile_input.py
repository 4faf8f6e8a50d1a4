"""Hostile HTTP input (hardening issue items 5, 6, 10): every malformed body is a 400 with a reason,
every oversized one a 413, ids outside the watched types or the configured scope are refused, and
the unauthenticated handshakes answer only well-formed codes and origins. Never a 500."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from amlguard.api.app import create_app, with_body_limit
from amlguard.config import Settings
from tests.api.conftest import TOKEN, Server
from tests.service.conftest import GREEN, WS
from tests.service.test_service import write_event

ML = "/providers/Microsoft.MachineLearningServices/workspaces/x"


def post_events(client: httpx.Client, body: bytes | str) -> httpx.Response:
    data = body.encode() if isinstance(body, str) else body
    return client.post("/api/events", content=data, headers={"content-type": "application/json"})


def event_text(subject: str = GREEN, **extra: Any) -> str:
    return json.dumps([{**write_event("h1", subject), **extra}])


@pytest.mark.parametrize("body", [
    '[{"id": "h1", "eventType": "X", "subject": "/s", "data": {"n": ' + "9" * 5000 + "}}]",
    "[" * 1200 + "]" * 1200,
    '[{"id": "h1", "eventType": "X", "subject": "/s", "data": ' + '{"a": ' * 1100 + "1" + "}" * 1100 + "}]",
    event_text().replace('"ana@contoso.com"', '"\\ud800"'),
    event_text().replace('"id": "h1"', '"id": "\\udfff"'),
    event_text(subject=GREEN + "\ud800"),
    json.dumps([write_event("h1", "garbage/x" + ML)]),
    json.dumps([write_event("h1", "https://evil.example" + ML)]),
    json.dumps([write_event("h1", "../../etc/passwd" + ML)]),
    json.dumps([write_event("h1", WS.replace("mlw-prod", "e" * 1100))]),
    json.dumps([write_event("h1", "/subscriptions/x/resourceGroups/r/providers/Microsoft.MachineLearningServices/"
                                  "workspaces/w/onlineEndpoints/" + "e" * 1100)]),
    json.dumps([write_event("h1", GREEN) | {"id": "i" * 1000}]),
], ids=["5000-digit int", "1200-deep array", "1100-deep object", "surrogate in claims", "surrogate in id",
        "surrogate in subject", "garbage prefix", "url prefix", "dot-dot prefix", "name over 260",
        "endpoint name of 1100", "id of 1000"])
def test_malformed_event_bodies_are_400_with_a_reason(client: httpx.Client, body: str) -> None:
    response = post_events(client, body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]
    assert client.get("/api/alerts").json()["alerts"] == []  # nothing was audited


def test_a_chunked_body_over_the_limit_is_413(client: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        yield b"["
        for _ in range(2048):
            yield b" " * 1024
        yield b"]"

    response = client.post("/api/events", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert "bytes" in response.json()["error"]
    small = client.post("/api/events", content=iter([event_text().encode()]),
                        headers={"content-type": "application/json"})
    assert small.status_code == 200, small.text


def test_too_many_events_in_one_request_is_413(client: httpx.Client) -> None:
    ghosts = [{"id": f"g{i}", "subject": f"{WS}/onlineEndpoints/ghost-{i}", "eventTime": "2026-11-26T09:00:00Z",
               "eventType": "Microsoft.Resources.ResourceWriteSuccess", "data": {}} for i in range(101)]
    response = client.post("/api/events", json=ghosts)
    assert response.status_code == 413
    assert "maxEventsPerBatch" in response.json()["error"]
    assert client.get("/api/alerts").json()["alerts"] == []


@pytest.mark.parametrize("resource", [
    "garbage/x" + ML, "https://evil.example" + ML, "../../etc/passwd" + ML, "anything at all",
    "/subscriptions/s/resourceGroups/r/providers/Microsoft.Storage/storageAccounts/x",
])
def test_audit_of_a_malformed_resource_is_400(client: httpx.Client, resource: str) -> None:
    response = client.get("/api/audit", params={"resource": resource})
    assert response.status_code == 400, response.text
    assert "ARM id" in response.json()["detail"]
    assert client.post("/api/audit", json={"resource": resource}).status_code == 400
    assert client.get("/api/alerts").json()["alerts"] == []


@pytest.mark.parametrize("body", [
    {"by": "\ud800"}, {"by": "ops", "comment": "x\udfffy"},
])
def test_a_lone_surrogate_in_an_ack_is_400(client: httpx.Client, body: dict[str, str]) -> None:
    client.post("/api/events", json=[write_event("e1", GREEN)])
    fp = client.get("/api/alerts").json()["alerts"][0]["fingerprint"]
    data = json.dumps(body).encode()  # ensure_ascii: the surrogate travels as \\ud800
    response = client.post(f"/api/alerts/{fp}/ack", content=data, headers={"content-type": "application/json"})
    assert response.status_code in (400, 422), response.text


@pytest.mark.parametrize("ends_at", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "not a time"])
def test_a_silence_ending_beyond_utc_is_400(client: httpx.Client, ends_at: str) -> None:
    response = client.post("/api/silences", json={"matchers": ['rule="AMLG-NET-001"'], "ends_at": ends_at,
                                                  "created_by": "ops", "comment": "c"})
    assert response.status_code == 400, response.text
    assert "ends_at" in response.json()["detail"]


@pytest.mark.parametrize("code", ["x" * 900_000, "<html><script>alert(1)</script></html>", "a b", ""],
                         ids=["900 KB", "html", "space", "empty"])
def test_the_validation_handshake_answers_only_well_formed_codes(anon: httpx.Client, code: str) -> None:
    body = [{"id": "v1", "topic": "t", "subject": "", "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
             "eventTime": "2026-11-26T09:00:00Z", "data": {"validationCode": code}, "dataVersion": "2"}]
    response = anon.post("/api/events", json=body)
    assert response.status_code in (400, 413)
    assert "validationResponse" not in response.text


def test_the_validation_handshake_answers_a_guid(anon: httpx.Client) -> None:
    code = "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"
    body = [{"id": "v1", "topic": "t", "subject": "", "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
             "eventTime": "2026-11-26T09:00:00Z", "data": {"validationCode": code}, "dataVersion": "2"}]
    assert anon.post("/api/events", json=body).json() == {"validationResponse": code}


@pytest.mark.parametrize("origin", ["a" * 60_000, "<script>", "evil.example, other.example", ""],
                         ids=["60 KB", "html", "list", "empty"])
def test_the_options_handshake_answers_only_a_well_formed_origin(anon: httpx.Client, origin: str) -> None:
    response = anon.options("/api/events", headers={"WebHook-Request-Origin": origin})
    assert response.status_code == 400
    assert "WebHook-Allowed-Origin" not in response.headers


# -- the configured scope -------------------------------------------------------------------------

@pytest.fixture
def scoped(settings: Settings) -> Iterator[httpx.Client]:
    narrow = dataclasses.replace(settings, subscriptions=("00000000-0000-0000-0000-000000000001",),
                                 resource_group="rg-ml-prod")
    app = create_app(narrow)
    with Server(with_body_limit(app, narrow.max_body_bytes)) as running, httpx.Client(
            base_url=running.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30) as c:
        yield c
    app.state.get_service().close()


OUTSIDE = GREEN.replace("rg-ml-prod", "rg-elsewhere")


def test_events_outside_the_configured_scope_are_400(scoped: httpx.Client) -> None:
    response = scoped.post("/api/events", json=[write_event("o1", OUTSIDE)])
    assert response.status_code == 400
    assert "scope" in response.json()["error"]
    inside = scoped.post("/api/events", json=[write_event("i1", GREEN)])
    assert inside.json()["events"][0]["outcome"] == "audited"


def test_audit_outside_the_configured_scope_is_404(scoped: httpx.Client) -> None:
    response = scoped.get("/api/audit", params={"resource": OUTSIDE})
    assert response.status_code == 404
    assert "scope" in response.json()["detail"]
    assert scoped.get("/api/audit", params={"resource": GREEN}).status_code == 200


@pytest.mark.parametrize("token", ["x", "   ", "short-token-15ch", "sixteen chars ok", "tab\tinside-the-token"],
                         ids=["1 char", "spaces", "15 chars", "space inside", "tab inside"])
def test_serve_refuses_a_weak_token(tmp_path, token: str) -> None:  # type: ignore[no-untyped-def]
    import subprocess
    import sys

    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "AMLGUARD_API_TOKEN": token[:15] if "15" in token else token}
    result = subprocess.run([sys.executable, "-m", "amlguard.cli", "serve", "--port", "0"], capture_output=True,
                            text=True, env=env, cwd=tmp_path, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "AMLGUARD_API_TOKEN" in result.stderr and "16" in result.stderr
    assert token.strip() not in result.stderr or not token.strip()  # the token itself is never printed


def test_a_bad_event_beside_good_ones_does_not_lose_them(scoped: httpx.Client) -> None:
    """One malformed or out-of-scope event in a batch is refused on its own; the good ones are handled.
    The answer is 400 (Event Grid dead-letters the whole batch, keeping the refused events; the
    handled ones, delivered again from there, are duplicates), saying which were refused and why."""
    broken = write_event("b1", GREEN)
    del broken["subject"]
    batch = [write_event("g1", GREEN), broken, write_event("o1", OUTSIDE), "not an event"]
    response = scoped.post("/api/events", json=batch)
    assert response.status_code == 400, response.text
    body = response.json()
    assert [e["outcome"] for e in body["events"]] == ["audited"]
    assert [r["event"] for r in body["rejected"]] == [1, 3, "o1"]
    assert "subject" in body["rejected"][0]["reason"] and "scope" in body["rejected"][2]["reason"]
    assert body["error"].startswith("3 event(s) refused, the other 1 handled: event 1: ")
    again = scoped.post("/api/events", json=[write_event("g1", GREEN)])  # the dead letter, replayed
    assert again.json()["events"][0]["outcome"] == "duplicate"


def test_something_malformed_beside_the_validation_handshake_is_said(anon: httpx.Client) -> None:
    code = "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"
    body = [{"id": "v1", "topic": "t", "subject": "", "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
             "eventTime": "2026-11-26T09:00:00Z", "data": {"validationCode": code}, "dataVersion": "2"}, 42]
    assert anon.post("/api/events", json=body).json() == {
        "validationResponse": code, "rejected": [{"event": 1, "reason": "a int, expected a JSON object"}]}
