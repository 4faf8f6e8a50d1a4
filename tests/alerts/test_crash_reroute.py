"""Hardening issue item 2: a kill -9 between an alert's change and its notification loses nothing.
The alert fired just before the kill; after the restart it resolves before any timer tick; the
receiver must still hear that it fired and that it resolved."""

from __future__ import annotations

from datetime import timedelta

from amlguard.alerts import AlertManager
from amlguard.alerts.store import StateStore

from .conftest import FakeClock, StoreFactory
from .fakes import Recorder, ep_id, finding, router


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
    real_route = mgr.grouper.route
    mgr.grouper.route = lambda alerts, now: None  # type: ignore[method-assign,assignment]  # killed before telling groups
    mgr.process([finding()], audited=[ep_id()])
    mgr.grouper.route = real_route  # type: ignore[method-assign]
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
