"""Event Grid receiver: the real azure-eventgrid publisher client against a loopback HTTPS
stand-in of a custom topic (POST /api/events?api-version=2018-01-01, CloudEvents batch)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from azure.core.credentials import AccessToken, AzureKeyCredential

from amlguard.alerts.notifiers import EventGridNotifier, ReceiverError
from amlguard.alerts.notifiers.base import NotConfigured
from tests.standins.receivers import ENDPOINT_ID, ReceiverStandin, sample_alert, sample_notification


@pytest.fixture(scope="module")
def topic() -> Iterator[ReceiverStandin]:
    with ReceiverStandin(eventgrid_key="topic-key") as server:
        yield server


@pytest.fixture(autouse=True)
def _no_faults(topic: ReceiverStandin) -> None:
    topic.clear_faults()


def notifier(topic: ReceiverStandin, credential: Any = None, **kwargs: Any) -> EventGridNotifier:
    return EventGridNotifier("eventgrid", topic.url + "api/events", credential or AzureKeyCredential("topic-key"),
                             connection_verify=str(topic.ca_file), **kwargs)


def test_publishes_one_cloud_event_per_alert(topic: ReceiverStandin) -> None:
    sender = notifier(topic)
    notification = sample_notification(sample_alert(), sample_alert("resolved", rule="AMLG-AUTH-001"),
                                       receiver="eventgrid", key="idem-7")
    sender.send(notification)
    delivery = topic.received("eventgrid")[-1]
    assert delivery.status == 200
    assert delivery.query["api-version"] == "2018-01-01"
    assert delivery.headers["content-type"].startswith("application/cloudevents-batch+json")
    assert delivery.headers["aeg-sas-key"] == "topic-key"
    fired, resolved = delivery.json()
    assert fired["specversion"] == "1.0" and fired["source"] == "/amlguard"
    assert fired["type"] == "Amlguard.Alert.Fired" and resolved["type"] == "Amlguard.Alert.Resolved"
    assert fired["subject"] == ENDPOINT_ID
    assert fired["severity"] == "Sev1" and fired["rule"] == "AMLG-NET-001" and fired["reason"] == "first"
    essentials = fired["data"]["data"]["essentials"]
    assert essentials["monitorCondition"] == "Fired" and essentials["alertTargetIDs"] == [ENDPOINT_ID]
    assert resolved["data"]["data"]["essentials"]["monitorCondition"] == "Resolved"
    assert resolved["data"]["data"]["essentials"]["resolvedDateTime"] == "2026-11-26T12:30:00Z"
    context = fired["data"]["data"]["alertContext"]
    assert context["remediation"] and context["changedByName"] == "Alice Example"
    # a resend carries the same event ids, so subscribers can deduplicate
    sender.send(notification)
    again = topic.received("eventgrid")[-1].json()
    assert [e["id"] for e in again] == [fired["id"], resolved["id"]]
    sender.close()


class StaticToken:
    """A TokenCredential returning a fixed token, standing in for managed identity."""

    def __init__(self) -> None:
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **_: Any) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken("fake-token", int(time.time()) + 3600)


def test_token_credential_uses_the_event_grid_scope(topic: ReceiverStandin) -> None:
    credential = StaticToken()
    notifier(topic, credential).send(sample_notification())
    delivery = topic.received("eventgrid")[-1]
    assert delivery.status == 200 and delivery.headers["authorization"] == "Bearer fake-token"
    assert credential.scopes == [("https://eventgrid.azure.net/.default",)]


@pytest.mark.parametrize(("status", "headers", "retryable", "retry_after"), [
    pytest.param(500, {}, True, None, id="500"),
    pytest.param(503, {"Retry-After": "12"}, True, 12.0, id="503"),
    pytest.param(429, {"Retry-After": "30"}, True, 30.0, id="429"),
    pytest.param(400, {}, False, None, id="400"),
    pytest.param(401, {}, False, None, id="401"),
    pytest.param(403, {}, False, None, id="403"),
    pytest.param(413, {}, False, None, id="413-too-large"),
])
def test_failures_are_classified_and_attempted_once(topic: ReceiverStandin, status: int,
                                                    headers: dict[str, str], retryable: bool,
                                                    retry_after: float | None) -> None:
    before = len(topic.requests_to("/api/events"))
    topic.inject(path="/api/events", status=status, headers=headers,
                 body={"error": {"code": "X", "message": "nope"}})
    with pytest.raises(ReceiverError) as info:
        notifier(topic).send(sample_notification())
    assert info.value.retryable is retryable and info.value.status_code == status
    assert info.value.retry_after == retry_after
    assert len(topic.requests_to("/api/events")) == before + 1  # the SDK's own retries are off


def test_wrong_key_is_not_retryable(topic: ReceiverStandin) -> None:
    with pytest.raises(ReceiverError) as info:
        notifier(topic, AzureKeyCredential("wrong")).send(sample_notification())
    assert info.value.status_code == 401 and info.value.retryable is False


def test_timeout_is_retryable(topic: ReceiverStandin) -> None:
    topic.inject(path="/api/events", delay=1.5)
    started = time.monotonic()
    with pytest.raises(ReceiverError) as info:
        notifier(topic, timeout=0.3).send(sample_notification())
    assert info.value.retryable is True and time.monotonic() - started < 1.4


def test_from_settings_reads_endpoint_and_key_from_env(topic: ReceiverStandin,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    settings = {"endpoint_from_env": "EG_ENDPOINT", "key_from_env": "EG_KEY", "source": "/contoso/amlguard"}
    with pytest.raises(NotConfigured, match="EG_ENDPOINT"):
        EventGridNotifier.from_settings("eg", settings, {})
    # the process-wide CA bundle variable is the ordinary way to trust a private CA
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(topic.ca_file))
    sender = EventGridNotifier.from_settings(
        "eg", settings, {"EG_ENDPOINT": topic.url + "api/events", "EG_KEY": "topic-key"})
    sender.send(sample_notification())
    (event,) = topic.received("eventgrid")[-1].json()
    assert event["source"] == "/contoso/amlguard"


def test_large_groups_are_split_under_the_request_size_limit(topic: ReceiverStandin) -> None:
    from amlguard.alerts.notifiers.eventgrid import MAX_BATCH_BYTES

    alerts = [sample_alert(resource=f"{ENDPOINT_ID}-{i}") for i in range(300)]
    for alert in alerts:
        alert.annotations["message"] = "x" * 4000
    before = len(topic.received("eventgrid"))
    notifier(topic).send(sample_notification(*alerts))
    deliveries = topic.received("eventgrid")[before:]
    assert len(deliveries) > 1 and all(d.status == 200 for d in deliveries)
    assert all(len(d.body) < MAX_BATCH_BYTES + 64 * 1024 for d in deliveries)
    subjects = [e["subject"] for d in deliveries for e in d.json()]
    assert subjects == [a.resource for a in alerts]
