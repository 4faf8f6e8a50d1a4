"""Hardening issue item 2: a kill -9 between an alert's change and its notification loses nothing.
The alert fired just before the kill; after the restart it resolves before any timer tick; the
receiver must still hear that it fired and that it resolved."""

from __future__ import annotations

from datetime import timedelta

import pytest

from amlguard.alerts import AlertManager, outbox
from amlguard.alerts.store import StateStore
from amlguard.alerts.types import Notification

from .conftest import FakeClock, StoreFactory
from .fakes import Recorder, ep_id, finding, router


class Killed(BaseException):
    """SIGKILL: nothing after the point it lands runs."""


def restart(store_factory: StoreFactory, clock: FakeClock) -> tuple[StateStore, AlertManager]:
    store = store_factory()
    return store, AlertManager(store, clock=clock, router=router("team", wait=0, interval=1))


def test_fired_then_killed_before_delivery_then_resolved_before_a_tick(store_factory: StoreFactory,
                                                                        clock: FakeClock) -> None:
    _, mgr = restart(store_factory, clock)
    mgr.process([finding()], audited=[ep_id()])  # fired; the notice is queued, the process dies
    clock.advance(2.6)
    _, mgr = restart(store_factory, clock)
    mgr.process([finding(status="pass")], audited=[ep_id()], rules=["AMLG-NET-001"])  # resolved first
    rec = Recorder()
    for _ in range(3):
        mgr.tick()
        mgr.deliver({"team": rec})
        clock.advance(2)
    statuses = [n.status for n in rec.sent]
    assert statuses[:1] == ["firing"] and statuses[-1:] == ["resolved"], statuses


def test_saved_but_never_routed_then_resolved_before_a_tick(store_factory: StoreFactory, clock: FakeClock) -> None:
    store, mgr = restart(store_factory, clock)

    def killed(alerts: list[object], now: object) -> None:
        if alerts:
            raise Killed  # the alert is written; the process dies before telling its groups

    mgr.grouper.route = killed  # type: ignore[method-assign,assignment]
    with pytest.raises(Killed):
        mgr.process([finding()], audited=[ep_id()])
    stored = [s for s in store.list_alerts() if s.alert.status == "firing"]
    assert stored and stored[0].needs_routing
    clock.advance(2.6)
    _, mgr = restart(store_factory, clock)
    mgr.process([finding(status="pass")], audited=[ep_id()], rules=["AMLG-NET-001"])
    rec = Recorder()
    for _ in range(3):
        mgr.tick()
        mgr.deliver({"team": rec})
        clock.advance(timedelta(seconds=2).total_seconds())
    statuses = [n.status for n in rec.sent]
    assert statuses[:1] == ["firing"] and statuses[-1:] == ["resolved"], statuses


def test_killed_mid_send_then_resolved_the_resolved_notice_does_not_wait_out_the_dead_lease(
        store_factory: StoreFactory, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    """bench_soak.py (SQLite): the kill landed while the receiver held an alert's firing notice. The
    restarted process left that message leased for 120 s, and every later notice about the alert
    queued behind it; the backlog then drained one send at a time with backoffs after the 20% of
    failed sends, past the bench's wait: history `resolved`, receiver's last notice `firing`."""
    _, mgr = restart(store_factory, clock)
    monkeypatch.setattr(outbox, "OWNER", dict(outbox.OWNER, token="previous-life"))  # the process killed
    mgr.process([finding()], audited=[ep_id()])
    heard: list[Notification] = []

    def killed(note: Notification) -> BaseException:
        heard.append(note)
        return Killed()

    with pytest.raises(Killed):
        mgr.deliver({"team": Recorder(fail=killed)})
    monkeypatch.undo()  # the restart: same host, same pid (pid 1 in a container), a new process
    clock.advance(2)
    _, mgr = restart(store_factory, clock)
    rec = Recorder()
    for status in ("pass", "fail", "pass"):  # it flaps, then stays resolved
        mgr.process([finding(status=status)], audited=[ep_id()], rules=["AMLG-NET-001"])
        for _ in range(2):
            clock.advance(1.1)
            mgr.tick()
            mgr.deliver({"team": rec})
    assert [h["to"] for h in mgr.history(mgr.list_alerts()[0]["fingerprint"])][-1] == "resolved"
    statuses = [n.status for n in heard + rec.sent]
    # well inside the dead sender's 120 s lease, the receiver has heard the alert resolve
    assert statuses[:1] == ["firing"] and statuses[-1:] == ["resolved"], statuses
    assert rec.sent[0].idempotency_key == heard[0].idempotency_key  # the resend, which receivers drop
