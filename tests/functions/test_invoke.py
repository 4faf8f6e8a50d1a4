"""The registered functions invoked the documented way: real azure.functions event, timer and
queue objects, the service built from app settings (snapshot inventory, SQLite state)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
from azure.functions.queue import QueueMessage
from azure.functions.timer import TimerRequest

from functions import runtime
from tests.functions.test_indexing import indexed
from tests.service.conftest import GREEN, WS


class Out:
    """An output binding as the worker passes it: `set` records what the function sends."""

    def __init__(self) -> None:
        self.value: Any = None

    def set(self, value: Any) -> None:
        self.value = value

    def get(self) -> Any:
        return self.value


def user_function(name: str) -> Any:
    return next(f for f in indexed() if f.get_function_name() == name).get_user_function()


@pytest.fixture
def app_settings(tmp_path: Path, repo_root: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    shutil.copytree(repo_root / "examples" / "workspace", tmp_path / "workspace")
    monkeypatch.setenv("AMLGUARD_SNAPSHOT", str(tmp_path / "workspace"))
    monkeypatch.setenv("AMLGUARD_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", "00000000-0000-0000-0000-000000000001")
    runtime.reset()
    yield tmp_path
    runtime.reset()


def grid_event(event_id: str, resource: str, *, delete: bool = False) -> func.EventGridEvent:
    kind = "onlineEndpoints/deployments" if "/deployments/" in resource else "onlineEndpoints"
    return func.EventGridEvent(
        id=event_id, topic="/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-ml-prod",
        subject=resource, event_type=f"Microsoft.Resources.Resource{'Delete' if delete else 'Write'}Success",
        event_time=datetime.now(UTC), data_version="2",
        data={"operationName": f"Microsoft.MachineLearningServices/workspaces/{kind}/{'delete' if delete else 'write'}",
              "resourceUri": resource,
              "claims": {"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn": "ana@contoso.com"}})


def firing() -> list[dict[str, Any]]:
    return runtime.service().alerts.list_alerts(status="firing")


def test_event_grid_trigger_audits_the_resource_and_dedupes(app_settings: Path) -> None:
    on_event = user_function("on_resource_event")
    on_event(grid_event("e1", GREEN))
    alerts = firing()
    assert alerts and {a["resource"] for a in alerts} == {GREEN}
    assert all(a["changed_by"]["upn"] == "ana@contoso.com" for a in alerts)
    before = runtime.service().alerts.list_alerts()
    on_event(grid_event("e1", GREEN))  # Event Grid delivers at least once
    assert runtime.service().alerts.list_alerts() == before
    on_event(grid_event("e2", GREEN, delete=True))
    assert firing() == []


def test_event_grid_trigger_ignores_other_events(app_settings: Path) -> None:
    event = func.EventGridEvent(id="x", topic="t", subject="/subscriptions/s/resourceGroups/r/providers/"
                                "Microsoft.Storage/storageAccounts/a", event_type="Microsoft.Storage.BlobCreated",
                                event_time=datetime.now(UTC), data_version="1", data={})
    user_function("on_resource_event")(event)
    assert runtime.service().alerts.list_alerts() == []


def test_timer_fans_out_and_the_queue_worker_audits(app_settings: Path) -> None:
    out = Out()
    user_function("sweep_timer")(TimerRequest(past_due=False), out)
    messages = [json.loads(m) for m in out.get()]
    assert [m["workspace"] for m in messages] == [WS]
    poison = Out()
    message = QueueMessage(id="m1", body=json.dumps(messages[0]).encode(), dequeue_count=1)
    user_function("audit_workspace")(message, poison)
    assert poison.get() is None
    assert {a["resource"] for a in firing()} >= {GREEN, WS}


def test_queue_worker_poisons_a_bad_message_with_its_reason(app_settings: Path) -> None:
    poison = Out()
    user_function("audit_workspace")(QueueMessage(id="m2", body=b"{not json", dequeue_count=1), poison)
    assert json.loads(poison.get()) == {"message": "{not json", "id": "m2",
                                        "reason": "message is not JSON; expected {\"workspace\": \"<ARM id>\"}"}


def test_alerts_timer_runs(app_settings: Path) -> None:
    user_function("on_resource_event")(grid_event("e1", GREEN))
    user_function("alerts_timer")(TimerRequest(past_due=False))  # no receivers configured: nothing sent, no error
    assert firing()


def test_the_worker_settings_secure_the_hosts_log_handler() -> None:
    import io
    import logging

    from amlguard import telemetry

    stream = io.StringIO()
    host = logging.StreamHandler(stream)  # stands for the Python worker's handler to the host
    root = logging.getLogger()
    httpx_level = logging.getLogger("httpx").level
    root.addHandler(host)
    try:
        runtime.reset()
        runtime.settings()
        logging.getLogger("httpx").info("HTTP Request: POST https://h/x?sig=s3cr3t")
        logging.getLogger("amlguard.test").warning("to https://h/x?sig=s3cr3t")
    finally:
        root.removeHandler(host)
        logging.getLogger("httpx").setLevel(httpx_level)
        runtime.reset()
    assert stream.getvalue() == "to https://h/x?REDACTED\n"
    assert any(isinstance(f, telemetry.RedactingFilter) for f in host.filters)
