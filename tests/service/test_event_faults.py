"""Hardening issue item 1: an event is recorded as seen only with its effect, so Event Grid's retry
after any failure (here: Table storage answering 503 on the resource's own audit row) redoes the work."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.core.pipeline.transport import RequestsTransport

from amlguard.alerts.store_table import TableBackend, encode_key
from amlguard.config import Settings
from amlguard.events import parse_event_dict
from amlguard.service import Service
from tests.service.conftest import GREEN, Clock
from tests.service.test_service import write_event


class RowOutage(RequestsTransport):
    """Answers 503 (as Table storage does when a partition server is busy) for requests naming `row`."""

    def __init__(self, row: str) -> None:
        super().__init__()
        self.row = row
        self.down = False
        self.refused = 0

    def send(self, request: Any, **kwargs: Any) -> Any:
        if self.down and self.row in request.url:
            self.refused += 1
            request.url = request.url.replace("/devstoreaccount1/", "/devstoreaccount1/outage-")  # never stored
            response = super().send(request, **kwargs)
            response.status_code = 503
            response.reason = "Server Busy"
            return response
        return super().send(request, **kwargs)


@pytest.fixture
def table_service(workspace: Path, clock: Clock, azurite_table: str) -> Iterator[tuple[Service, RowOutage]]:
    from urllib.parse import quote

    table = f"t{uuid.uuid4().hex[:16]}"
    env = {"AMLGUARD_STATE_CONNECTION": azurite_table, "AMLGUARD_STATE_TABLE_PREFIX": table}
    settings = dataclasses.replace(Settings.from_env(env), snapshot=(str(workspace),), state_backend="table")
    service = Service.from_settings(settings, clock=clock)
    outage = RowOutage(quote(encode_key(GREEN.lower()), safe=""))
    service.store.backend = TableBackend.from_connection_string(azurite_table, table, transport=outage,
                                                                retry_total=0)
    yield service, outage
    service.close()


def test_a_503_on_the_resources_row_leaves_the_event_unseen_until_a_retry_succeeds(table_service) -> None:
    service, outage = table_service
    event = parse_event_dict(write_event("e503", GREEN))
    outage.down = True
    for _ in range(3):  # Event Grid retries while the row is unavailable
        with pytest.raises(HttpResponseError):
            service.handle_event(event)
        assert not service.store.event_seen("e503")
    assert outage.refused >= 3
    outage.down = False
    retried = service.handle_event(event)
    assert retried.outcome == "audited"
    assert service.store.event_seen("e503")
    assert service.store.last_audit(GREEN) is not None
    firing = [a for a in service.alerts.list_alerts() if a["resource"] == GREEN and a["status"] == "firing"]
    assert firing and len({a["fingerprint"] for a in firing}) == len(firing)
    assert service.handle_event(event).outcome == "duplicate"


def test_a_503_on_the_resources_row_during_a_delete_leaves_the_event_unseen(table_service) -> None:
    service, outage = table_service
    assert service.handle_event(parse_event_dict(write_event("w1", GREEN))).outcome == "audited"
    delete = parse_event_dict(write_event("d1", GREEN, "2099-01-01T00:00:00Z", delete=True))
    outage.down = True
    with pytest.raises(HttpResponseError):
        service.handle_event(delete)
    assert not service.store.event_seen("d1")
    outage.down = False
    assert service.handle_event(delete).outcome == "resolved"
    assert [a for a in service.alerts.list_alerts() if a["status"] == "firing"] == []


class Killed(BaseException):
    """SIGKILL: nothing after the point it lands runs."""


@pytest.mark.parametrize("delete", [False, True])
def test_killed_after_the_audit_record_before_the_event_is_seen_the_redelivery_redoes_the_work(
        service: Service, clock: Clock, monkeypatch: pytest.MonkeyPatch, delete: bool) -> None:
    """bench_soak.py's kill during ingest: the audit (or deletion) was recorded, the process died before
    marking the event seen. The redelivery's time is older than that audit record, but the record is
    the event's own: it is handled again (idempotently), not dropped as stale."""
    assert service.handle_event(parse_event_dict(write_event("w0", GREEN))).outcome == "audited"
    clock.advance(60)
    event = parse_event_dict(write_event("e1", GREEN, "2026-11-26T09:01:00Z", delete=delete))
    clock.advance(1)  # the audit runs a moment after the event happened
    real_mark = service.store.mark_event_seen

    def killed(event_id: str, at: Any = None) -> bool:
        raise Killed

    monkeypatch.setattr(service.store, "mark_event_seen", killed)
    with pytest.raises(Killed):
        service.handle_event(event)
    monkeypatch.setattr(service.store, "mark_event_seen", real_mark)
    assert not service.store.event_seen("e1")
    clock.advance(30)
    retried = service.handle_event(event)
    assert retried.outcome == ("resolved" if delete else "audited"), retried
    assert service.store.event_seen("e1")
    assert service.handle_event(event).outcome == "duplicate"
    later = parse_event_dict(write_event("e0", GREEN, "2026-11-26T09:00:30Z"))
    assert service.handle_event(later).outcome == "stale"  # an older event of another id still is
