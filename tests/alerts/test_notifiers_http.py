"""Teams, Slack and the signed webhook against real loopback HTTPS receivers that record what
arrived; error classification for 5xx, 429 + Retry-After, 408, 4xx, timeouts and refused connections."""

from __future__ import annotations

import json
import socket
import ssl
import time
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from amlguard.alerts.notifiers import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    ReceiverError,
    SlackNotifier,
    TeamsNotifier,
    WebhookNotifier,
    verify_signature,
)
from amlguard.alerts.notifiers.base import parse_retry_after, portal_url
from amlguard.alerts.notifiers.webhook import sign, signature_header
from amlguard.errors import NotificationError
from tests.standins.receivers import ENDPOINT_ID, ReceiverStandin, sample_alert, sample_notification

SECRET = "s3cret-for-tests"


@pytest.fixture(scope="module")
def receiver() -> Iterator[ReceiverStandin]:
    with ReceiverStandin(webhook_secret=SECRET) as server:
        yield server


@pytest.fixture()
def client(receiver: ReceiverStandin) -> Iterator[httpx.Client]:
    receiver.clear_faults()
    with httpx.Client(verify=ssl.create_default_context(cafile=str(receiver.ca_file))) as http:
        yield http


def test_teams_posts_an_adaptive_card_message(receiver: ReceiverStandin, client: httpx.Client) -> None:
    notifier = TeamsNotifier.from_settings("teams", {"url_from_env": "TEAMS_URL"},
                                           {"TEAMS_URL": receiver.url + "teams/workflows/abc?sig=x"},
                                           http_client=client)
    notifier.send(sample_notification(sample_alert(), sample_alert("resolved", rule="AMLG-AUTH-001")))
    delivery = receiver.received("teams")[-1]
    assert delivery.status == 202 and delivery.query == {"sig": "x"}
    assert delivery.headers["content-type"] == "application/json"
    body = delivery.json()
    assert body["type"] == "message" and len(body["attachments"]) == 1
    attachment = body["attachments"][0]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    assert card["body"][0]["text"].startswith("[FIRING:1] AMLG-NET-001")
    text = json.dumps(card)
    assert "Set public_network_access: disabled" in text  # remediation
    assert "Alice Example" in text  # change author
    assert "fraud-scorer" in text and "high (Sev1)" in text
    urls = [a["url"] for c in card["body"] if c["type"] == "Container"
            for item in c["items"] if item["type"] == "ActionSet" for a in item["actions"]]
    assert "https://portal.azure.com/#@/resource" + ENDPOINT_ID in urls
    assert "https://example.invalid/runbooks/AMLG-NET-001" in urls


def test_teams_card_caps_large_groups(receiver: ReceiverStandin, client: httpx.Client) -> None:
    alerts = [sample_alert(resource=f"{ENDPOINT_ID}-{i}") for i in range(25)]
    TeamsNotifier("teams", receiver.url + "teams/x", http_client=client).send(sample_notification(*alerts))
    card = receiver.received("teams")[-1].json()["attachments"][0]["content"]
    assert sum(1 for c in card["body"] if c["type"] == "Container") == 10
    assert any("15 more alert" in c.get("text", "") for c in card["body"])


def test_slack_posts_block_kit(receiver: ReceiverStandin, client: httpx.Client) -> None:
    alert = sample_alert(severity="critical")
    alert.annotations["message"] = "a <b> & c"
    SlackNotifier("slack", receiver.url + "slack/services/T/B/X", http_client=client).send(
        sample_notification(alert, receiver="slack"))
    delivery = receiver.received("slack")[-1]
    assert delivery.status == 200
    body = delivery.json()
    assert body["text"].startswith("[FIRING:1]")
    kinds = [b["type"] for b in body["blocks"]]
    assert kinds[0] == "header" and "section" in kinds and "divider" in kinds
    section = next(b for b in body["blocks"] if b["type"] == "section")
    assert f"<https://portal.azure.com/#@/resource{ENDPOINT_ID}|fraud-scorer>" in section["text"]["text"]
    assert "a &lt;b&gt; &amp; c" in section["text"]["text"]  # mrkdwn escaping
    assert any("critical (Sev0)" in f["text"] for f in section["fields"])
    assert any("Alice Example" in f["text"] for f in section["fields"])
    context = json.dumps([b for b in body["blocks"] if b["type"] == "context"])
    assert "Remediation" in context


def test_webhook_is_signed_and_carries_an_idempotency_key(receiver: ReceiverStandin,
                                                          client: httpx.Client) -> None:
    notifier = WebhookNotifier.from_settings(
        "hook", {"url_from_env": "HOOK_URL", "secret_from_env": "HOOK_SECRET",
                 "headers_from_env": {"X-Tenant": "TENANT"}},
        {"HOOK_URL": receiver.url + "webhook", "HOOK_SECRET": SECRET, "TENANT": "contoso"}, http_client=client)
    notification = sample_notification(sample_alert(), receiver="hook", key="idem-42")
    notifier.send(notification)
    notifier.send(notification)  # a resend after a crash: same key, receiver can drop it
    first, second = receiver.received("webhook")[-2:]
    assert first.status == second.status == 200  # the receiver verified the HMAC
    assert first.headers[IDEMPOTENCY_HEADER.lower()] == "idem-42" == first.json()["idempotencyKey"]
    assert first.headers["x-tenant"] == "contoso"
    assert receiver.seen_keys >= {"idem-42"}
    body = first.json()
    (entry,) = body["alerts"]
    assert entry["schemaId"] == "azureMonitorCommonAlertSchema"
    essentials, context = entry["data"]["essentials"], entry["data"]["alertContext"]
    assert essentials["severity"] == "Sev1" and essentials["monitorCondition"] == "Fired"
    assert essentials["alertTargetIDs"] == [ENDPOINT_ID] and essentials["alertRule"] == "AMLG-NET-001"
    assert essentials["targetResourceType"] == "Microsoft.MachineLearningServices/workspaces/onlineEndpoints"
    assert essentials["targetResourceGroup"] == "rg-ml"
    assert essentials["investigationLink"] == portal_url(ENDPOINT_ID)
    assert context["remediation"].startswith("Set public_network_access") and context["changedByName"] == \
        "Alice Example"
    assert entry["data"]["customProperties"] == {"tag_team": "risk"}


def test_tampered_webhook_body_is_rejected_by_the_receiver(receiver: ReceiverStandin,
                                                           client: httpx.Client) -> None:
    body = b'{"status":"firing"}'
    header = signature_header([SECRET], body)
    tampered = b'{"status":"resolved"}'
    response = client.post(receiver.url + "webhook", content=tampered,
                           headers={SIGNATURE_HEADER: header, IDEMPOTENCY_HEADER: "k"})
    assert response.status_code == 401 and receiver.received("webhook")[-1].status == 401
    # and a notifier with the wrong secret gets a non-retryable error
    wrong = WebhookNotifier("hook", receiver.url + "webhook", ["not-the-secret"], http_client=client)
    with pytest.raises(ReceiverError) as info:
        wrong.send(sample_notification(receiver="hook"))
    assert info.value.status_code == 401 and info.value.retryable is False


NOW = 1_800_000_000


@pytest.mark.parametrize(("secret", "header", "body", "now", "ok"), [
    (SECRET, f"t={NOW},v1={sign(SECRET, NOW, b'x')}", b"x", NOW, True),
    (SECRET, f"t={NOW},v1={sign(SECRET, NOW, b'x')}", b"y", NOW, False),  # body changed
    ("other", f"t={NOW},v1={sign(SECRET, NOW, b'x')}", b"x", NOW, False),  # wrong secret
    (SECRET, f"t={NOW},v1={sign(SECRET, NOW, b'x')}", b"x", NOW + 301, False),  # too old (replay)
    (SECRET, f"t={NOW},v1={sign(SECRET, NOW, b'x')}", b"x", NOW - 301, False),  # from the future
    (SECRET, f"t={NOW + 1},v1={sign(SECRET, NOW, b'x')}", b"x", NOW, False),  # timestamp swapped
    (SECRET, f"t={NOW},v1=deadbeef,v1={sign(SECRET, NOW, b'x')}", b"x", NOW, True),  # rotation
    (SECRET, f"v1={sign(SECRET, NOW, b'x')}", b"x", NOW, False),  # no timestamp
    (SECRET, f"t={NOW}", b"x", NOW, False),  # no signature
    (SECRET, "t=abc,v1=00", b"x", NOW, False),
    (SECRET, "", b"x", NOW, False),
    (SECRET, None, b"x", NOW, False),
])
def test_verify_signature(secret: str, header: str | None, body: bytes, now: int, ok: bool) -> None:
    assert verify_signature(secret, header, body, 300, now=now) is ok


def test_signature_header_signs_with_every_secret_while_rotating() -> None:
    header = signature_header(["old", "new"], b"{}", timestamp=NOW)
    assert verify_signature("old", header, b"{}", now=NOW) and verify_signature("new", header, b"{}", now=NOW)
    assert header.count("v1=") == 2


# (status, headers, retryable, retry_after)
FAILURES = [
    pytest.param(500, {}, True, None, id="500"),
    pytest.param(503, {"Retry-After": "7"}, True, 7.0, id="503-retry-after"),
    pytest.param(429, {"Retry-After": "30"}, True, 30.0, id="429-retry-after"),
    pytest.param(429, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, True, 0.0, id="429-date-in-past"),
    pytest.param(408, {}, True, None, id="408"),
    pytest.param(400, {}, False, None, id="400"),
    pytest.param(403, {}, False, None, id="403"),
    pytest.param(404, {}, False, None, id="404"),
    pytest.param(410, {}, False, None, id="410-gone"),
]


@pytest.mark.parametrize(("status", "headers", "retryable", "retry_after"), FAILURES)
@pytest.mark.parametrize("kind", ["teams", "slack", "webhook"])
def test_failures_are_classified(receiver: ReceiverStandin, client: httpx.Client, kind: str, status: int,
                                 headers: dict[str, str], retryable: bool, retry_after: float | None) -> None:
    notifier = {"teams": lambda: TeamsNotifier("t", receiver.url + "teams/x?sig=SECRETSIG", http_client=client),
                "slack": lambda: SlackNotifier("s", receiver.url + "slack/x", http_client=client),
                "webhook": lambda: WebhookNotifier("w", receiver.url + "webhook", [SECRET], http_client=client)}[kind]()
    receiver.inject(status=status, headers=headers, body={"error": "nope"}, path=f"/{kind}")
    with pytest.raises(NotificationError) as info:
        notifier.send(sample_notification())
    error = info.value
    assert isinstance(error, ReceiverError) and error.retryable is retryable
    assert error.status_code == status and error.retry_after == retry_after
    assert error.receiver == notifier.name and f"HTTP {status}" in str(error)
    assert "SECRETSIG" not in str(error)  # the URL (a credential) never appears in errors


def test_timeout_is_retryable(receiver: ReceiverStandin, client: httpx.Client) -> None:
    receiver.inject(path="/webhook", delay=1.0)
    notifier = WebhookNotifier("w", receiver.url + "webhook", [SECRET], timeout=0.2, http_client=client)
    started = time.monotonic()
    with pytest.raises(ReceiverError, match="timed out") as info:
        notifier.send(sample_notification())
    assert info.value.retryable is True and info.value.status_code is None
    assert time.monotonic() - started < 0.9  # one attempt, bounded by the timeout


def test_dropped_connection_is_retryable(receiver: ReceiverStandin, client: httpx.Client) -> None:
    receiver.inject(path="/slack", drop=True)
    with pytest.raises(ReceiverError) as info:
        SlackNotifier("s", receiver.url + "slack/x", http_client=client).send(sample_notification())
    assert info.value.retryable is True


def test_refused_connection_is_retryable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    notifier = TeamsNotifier("t", f"http://127.0.0.1:{port}/teams", timeout=2)
    try:
        with pytest.raises(ReceiverError, match="could not be reached") as info:
            notifier.send(sample_notification())
    finally:
        notifier.close()
    assert info.value.retryable is True


def test_exactly_one_attempt_per_send(receiver: ReceiverStandin, client: httpx.Client) -> None:
    before = len(receiver.requests_to("/teams/once"))
    receiver.inject(status=503, path="/teams/once")
    with pytest.raises(ReceiverError):
        TeamsNotifier("t", receiver.url + "teams/once", http_client=client).send(sample_notification())
    assert len(receiver.requests_to("/teams/once")) == before + 1


@pytest.mark.parametrize(("value", "expected"), [
    ("120", 120.0), ("0", 0.0), ("-5", 0.0), ("99999", 3600.0), ("soon", None), ("", None), (None, None),
    ("Thu, 01 Jan 2026 00:01:40 GMT", 100.0),
])
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, now=1767225600.0) == expected


def test_portal_url_only_for_arm_ids() -> None:
    assert portal_url(ENDPOINT_ID) == "https://portal.azure.com/#@/resource" + ENDPOINT_ID
    assert portal_url("examples/endpoint.yaml") is None


def test_public_names_are_pinned() -> None:
    import amlguard.alerts.notifiers as notifiers

    assert set(notifiers.__all__) == {
        "IDEMPOTENCY_HEADER", "SIGNATURE_HEADER", "AzureMonitorNotifier", "BaseNotifier", "EventGridNotifier",
        "HttpNotifier", "NotConfigured", "ReceiverError", "SlackNotifier", "TeamsNotifier", "WebhookNotifier",
        "common_alert_schema", "notifier_kinds", "portal_url", "register", "verify_signature"}
    assert set(notifiers.notifier_kinds()) == {"teams", "slack", "webhook", "eventgrid", "azure_monitor"}
    assert issubclass(ReceiverError, NotificationError)


@settings(max_examples=200, deadline=None)
@given(body=st.binary(min_size=1, max_size=512), secret=st.text(min_size=1, max_size=40),
       flip=st.integers(min_value=0))
def test_signature_round_trip_and_any_change_is_detected(body: bytes, secret: str, flip: int) -> None:
    header = signature_header([secret], body, timestamp=NOW)
    assert verify_signature(secret, header, body, now=NOW)
    index = flip % len(body)
    tampered = body[:index] + bytes([body[index] ^ 0x01]) + body[index + 1:]
    assert not verify_signature(secret, header, tampered, now=NOW)
