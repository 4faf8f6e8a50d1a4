"""In Azure Functions there is no loop to wake: a notice due at once (group_wait 0) is delivered by
the Event Grid invocation that made it due; a later one waits for the alerts timer."""

from __future__ import annotations

from pathlib import Path

from azure.functions.timer import TimerRequest

from functions import runtime
from tests.alerts.fakes import Recorder, router
from tests.functions.test_invoke import app_settings, grid_event, user_function  # noqa: F401 - fixture
from tests.service.conftest import GREEN


def _route_to(recorder: Recorder, wait: float) -> None:
    service = runtime.service()
    service.alerts.grouper.router = router(recorder.name, wait=wait)
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


def test_a_later_group_wait_waits_for_the_alerts_timer(app_settings: Path) -> None:  # noqa: F811
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
