"""Ticks read only the alerts a timer can change (the store's timer index), not every alert."""

from __future__ import annotations

from amlguard.alerts import AlertManager
from amlguard.alerts.store import StateStore

from .conftest import FakeClock
from .fakes import Recorder, ep_id, finding, router


def manager(store: StateStore, clock: FakeClock) -> AlertManager:
    return AlertManager(store, clock=clock, random=lambda: 0.5, router=router("team"))


class Counting:
    """Counts full scans of the alert partition on a real store."""

    def __init__(self, store: StateStore) -> None:
        self.store = store
        self.scans = 0
        original = store.list_alerts

        def list_alerts() -> list:
            self.scans += 1
            return original()

        store.list_alerts = list_alerts  # type: ignore[method-assign]


def test_ticks_after_the_first_read_only_due_alerts(store: StateStore, clock: FakeClock) -> None:
    counting = Counting(store)
    mgr = manager(store, clock)
    firing = [finding("AMLG-AUTH-001", resource=ep_id(f"e{i}")) for i in range(30)]
    pending = finding("AMLG-NET-001")
    mgr.process([*firing, pending], audited=[f.resource for f in [*firing, pending]],
                for_seconds={"AMLG-NET-001": 300})
    mgr.tick()  # first tick of this manager: one full scan
    scans = counting.scans
    assert store.due_alerts(clock()) == []  # the pending alert is due only in 300 s
    clock.advance(60)
    mgr.tick()
    assert counting.scans == scans  # nothing due: no scan
    clock.advance(240)
    assert len(store.due_alerts(clock())) == 1
    [step] = mgr.tick()
    assert (step.resource, step.to_status) == (pending.resource, "firing")
    assert counting.scans == scans
    assert store.due_alerts(clock()) == []  # firing without keep_firing_for needs no timer


def test_a_lost_timer_row_is_repaired_by_the_first_tick(store: StateStore, clock: FakeClock) -> None:
    mgr = manager(store, clock)
    f = finding("AMLG-NET-001")
    mgr.process([f], audited=[f.resource], for_seconds={"AMLG-NET-001": 60})
    [fp] = [a["fingerprint"] for a in mgr.list_alerts()]
    store.clear_due(fp)  # as if the process died between the alert write and the index write
    clock.advance(61)
    restarted = manager(store, clock)
    [step] = restarted.tick()
    assert step.to_status == "firing"


def test_keep_firing_for_is_timed(store: StateStore, clock: FakeClock) -> None:
    mgr = manager(store, clock)
    f = finding("AMLG-NET-001")
    mgr.process([f], audited=[f.resource], keep_firing_for={"AMLG-NET-001": 120})
    mgr.tick()
    clock.advance(10)
    mgr.process([], audited=[f.resource], rules=["AMLG-NET-001"])  # condition cleared
    assert store.due_alerts(clock()) == []  # resolves 120 s after it last failed, not before
    clock.advance(111)
    assert len(store.due_alerts(clock())) == 1
    steps = mgr.tick()
    assert [s.to_status for s in steps] == ["resolved"]
    assert store.due_alerts(clock()) == []


def test_a_firing_alert_still_failing_waits_for_its_next_evaluation_not_for_a_timer(
        store: StateStore, clock: FakeClock) -> None:
    """keep_firing_for only counts once the condition clears: while the last evaluation failed, no tick
    can resolve it, so it is not in the timer index (it was, from last_failed + keep_firing_for on,
    and the serve loop then ran a tick every second for nothing)."""
    mgr = manager(store, clock)
    f = finding("AMLG-NET-001")
    mgr.process([f], audited=[f.resource], keep_firing_for={"AMLG-NET-001": 120})
    mgr.deliver({"team": Recorder()})
    clock.advance(600)
    assert store.due_alerts(clock()) == [] and store.timer_times() == []
    assert mgr.tick() == []
