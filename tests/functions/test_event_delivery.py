"""In Azure Functions there is no loop to wake: a notice due at once (group_wait 0) is delivered by
the Event Grid invocation that made it due; a later one by a wake message on a Storage queue that
becomes visible when its group_wait ends (Azurite's Queue service here), or else by the alerts timer."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest
from azure.functions.timer import TimerRequest

from functions import runtime
from tests.alerts.fakes import Recorder, router
from tests.functions.test_invoke import app_settings, grid_event, user_function  # noqa: F401 - fixture
from tests.service.conftest import GREEN


def _route_to(recorder: Recorder, wait: float) -> None:
    service = runtime.service()
    service.alerts.grouper.router = router(recorder.name, wait=wait)
    service.alerts.flusher.receivers = {recorder.name}  # configured: timer flushes reach it
    service.notifiers = {recorder.name: recorder}


def test_group_wait_zero_is_delivered_by_the_event_invocation(app_settings: Path) -> None:  # noqa: F811
    recorder = Recorder()
    _route_to(recorder, wait=0)
    user_function("on_resource_event")(grid_event("e1", GREEN))
    assert recorder.sent and {n.reason for n in recorder.sent} == {"first"}
    assert {a.resource for n in recorder.sent for a in n.alerts} == {GREEN}
    sent = len(recorder.sent)
    user_function("on_resource_event")(grid_event("e1", GREEN))  # a redelivery changes nothing
    assert len(recorder.sent) == sent


def test_group_wait_zero_is_delivered_by_an_event_delivery_to_the_http_route(app_settings: Path) -> None:  # noqa: F811
    """Event Grid may deliver to `/api/events` (a webhook subscription) instead of the trigger: the
    request that made a notice due sends it, as the trigger does, not the alerts timer 30 s later."""
    import asyncio

    import azure.functions as func

    recorder = Recorder()
    _route_to(recorder, wait=0)
    event = grid_event("h1", GREEN)
    body = json.dumps([{"id": event.id, "topic": event.topic, "subject": event.subject,
                        "eventType": event.event_type, "eventTime": event.event_time.isoformat(),
                        "dataVersion": "2", "data": event.get_json()}]).encode()
    request = func.HttpRequest("POST", "http://localhost/api/events", body=body,
                               headers={"aeg-event-type": "Notification", "content-type": "application/json"})
    response = asyncio.run(user_function("http_app_func")(request, None))
    assert response.status_code == 200, response.get_body()
    assert json.loads(response.get_body())["events"][0]["outcome"] == "audited"
    assert recorder.sent and {n.reason for n in recorder.sent} == {"first"}
    assert {a.resource for n in recorder.sent for a in n.alerts} == {GREEN}


def test_a_later_group_wait_waits_for_the_alerts_timer_without_a_queue(app_settings: Path) -> None:  # noqa: F811
    recorder = Recorder()
    _route_to(recorder, wait=3600)
    user_function("on_resource_event")(grid_event("e1", GREEN))
    assert recorder.sent == []
    user_function("alerts_timer")(TimerRequest(past_due=False))
    assert recorder.sent == []  # group_wait has not ended


def test_a_failed_invocation_leaves_the_event_unseen_for_the_retry(app_settings: Path, monkeypatch) -> None:  # noqa: F811
    """The trigger path records seen only with the effect: a store failure fails the invocation (Event
    Grid retries it) and the retry audits instead of answering duplicate."""
    import pytest

    store = runtime.service().store
    real = store.record_audit
    failures = iter([OSError("storage unavailable")])

    def flaky(*args, **kwargs):  # type: ignore[no-untyped-def]
        error = next(failures, None)
        if error is not None:
            raise error
        return real(*args, **kwargs)

    monkeypatch.setattr(store, "record_audit", flaky)
    with pytest.raises(OSError):
        user_function("on_resource_event")(grid_event("e9", GREEN))
    assert not store.event_seen("e9")
    user_function("on_resource_event")(grid_event("e9", GREEN))
    assert store.event_seen("e9") and store.last_audit(GREEN) is not None


def test_a_later_group_wait_is_delivered_by_the_wake_message_when_it_ends(
        app_settings: Path, azurite_queue: str, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    from azure.functions.queue import QueueMessage
    from azure.storage.queue import QueueClient

    monkeypatch.setenv("AzureWebJobsStorage", azurite_queue)
    monkeypatch.setenv("AMLGUARD_WAKE_QUEUE_NAME", "wake-group-wait")
    runtime.reset()
    recorder = Recorder()
    _route_to(recorder, wait=2)
    started = time.monotonic()
    user_function("on_resource_event")(grid_event("e1", GREEN))  # opens one group per failing rule
    assert recorder.sent == []
    queue = QueueClient.from_connection_string(azurite_queue, "wake-group-wait")
    assert queue.get_queue_properties().approximate_message_count == 1  # the groups share one due time: one wake
    assert list(queue.receive_messages()) == []  # invisible until the group_wait ends

    message = None
    while message is None and time.monotonic() - started < 15:
        time.sleep(0.2)
        message = next(iter(queue.receive_messages(visibility_timeout=30)), None)
    assert message is not None, "the wake message never became visible"
    assert time.monotonic() - started >= 1.5
    body = base64.b64decode(message.content)  # the Functions host's default queue encoding
    assert json.loads(body)["due"]
    user_function("alerts_wake")(QueueMessage(id=message.id, body=body))
    assert {n.reason for n in recorder.sent} == {"first"}
    assert GREEN in {a.resource for n in recorder.sent for a in n.alerts}


def test_a_wake_message_that_cannot_be_sent_leaves_the_work_to_the_alerts_timer(
        app_settings: Path, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
        caplog: pytest.LogCaptureFixture) -> None:
    # nothing listens on this port: the send fails, the event is still handled and says what happens next
    monkeypatch.setenv("AzureWebJobsStorage", "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
                       "AccountKey=a2V5;QueueEndpoint=http://127.0.0.1:9/devstoreaccount1;")
    runtime.reset()
    recorder = Recorder()
    _route_to(recorder, wait=3600)
    started = time.monotonic()
    with caplog.at_level("WARNING", logger="amlguard.functions.wake"):
        user_function("on_resource_event")(grid_event("e1", GREEN))
    assert recorder.sent == [] and runtime.service().store.event_seen("e1")
    failed = [r for r in caplog.records if "could not schedule an alert wake-up" in r.getMessage()]
    assert len(failed) == 1 and "alerts timer" in failed[0].getMessage()  # then it pauses: one try, not one a group
    assert time.monotonic() - started < 10
