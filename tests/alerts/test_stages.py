"""The alert pipeline stage by stage: observe (lifecycle in memory, then commit), route and
group (join + flush in one write), decide (the send decision on a group body), and what one
event costs in state-store writes."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from amlguard.alerts import AlertManager, alert_fingerprint
from amlguard.alerts.dedup import decide
from amlguard.alerts.grouping import Grouper
from amlguard.alerts.lifecycle import NotifyLogEntry
from amlguard.alerts.mute import MuteContext
from amlguard.alerts.observe import Observer
from amlguard.alerts.records import Op
from amlguard.alerts.store import StateStore, StoredAlert
from amlguard.alerts.types import Alert

from .conftest import T0, FakeClock
from .fakes import Recorder, ep_id, finding, router


class Writes:
    """Counts the backend writes of a store (each is one request to Table storage)."""

    def __init__(self, store: StateStore) -> None:
        self.calls: list[list[tuple[str, str]]] = []
        original = store.backend.write

        def write(ops: list[Op]) -> list[str]:
            self.calls.append([(op.action, op.pk.split(":")[0]) for op in ops])
            return original(ops)

        store.backend.write = write  # type: ignore[method-assign]


# -- observe -------------------------------------------------------------------------------------

def settle(store: StateStore, observer: Observer, status: str, now: datetime) -> None:
    """Observe, write, tell the (unrouted) groups, record that they were told: what the manager does."""
    observed = observer.findings([finding(status=status)], audited=[], now=now, changed_by=None, for_seconds={},
                                 keep_firing_for={}, rules=None)
    written = observer.commit(observed, now)
    Grouper(store, None, lambda at, **kw: MuteContext(store, [], at, **kw)).route(written, now)
    observer.mark_routed(written)


@pytest.mark.parametrize(("before", "status", "for_s", "to", "writes"), [
    (None, "fail", 0, "firing", True),
    (None, "fail", 60, "pending", True),
    (None, "pass", 0, None, False),  # never alerted and compliant: nothing to read or write
    ("firing", "fail", 0, None, False),  # still failing: only observation times move, no write
    ("firing", "pass", 0, "resolved", True),
    ("firing", "error", 0, None, True),  # the finding changed (labels): written, no transition
    ("resolved", "pass", 0, None, False),
    ("resolved", "fail", 0, "firing", True),
])
def test_observe_table(store: StateStore, clock: FakeClock, before: str | None, status: str, for_s: float,
                       to: str | None, writes: bool) -> None:
    observer = Observer(store)
    if before is not None:
        settle(store, observer, "fail", T0)
        if before == "resolved":
            settle(store, observer, "pass", T0)
    now = T0 + timedelta(seconds=30)
    observed = observer.findings([finding(status=status)], audited=[], now=now, changed_by=None,
                                 for_seconds={"AMLG-NET-001": for_s}, keep_firing_for={}, rules=None)
    assert [t.to_status for t in observed.transitions] == ([to] if to else [])
    assert bool(observed.to_save) == writes
    stored_before = store.get_alert(alert_fingerprint("AMLG-NET-001", ep_id()))
    observer.commit(observed, now)
    stored = store.get_alert(alert_fingerprint("AMLG-NET-001", ep_id()))
    if to:
        assert stored is not None and stored.alert.status == to
        assert stored_before is None or stored_before.etag != stored.etag


def test_commit_after_another_writer_won_evaluates_again(store: StateStore) -> None:
    observer = Observer(store)
    settle(store, observer, "fail", T0)
    now = T0 + timedelta(seconds=10)
    observed = observer.findings([finding(status="pass")], audited=[], now=now, changed_by=None, for_seconds={},
                                 keep_firing_for={}, rules=None)
    # meanwhile another instance acknowledges the alert (a write that changes its ETag)
    other = store.get_alert(alert_fingerprint("AMLG-NET-001", ep_id()))
    assert other is not None
    other.alert.acknowledged_by = "oncall"
    store.save_alert(other)
    [stored] = observer.commit(observed, now)  # the version written, whose groups must now be told
    assert stored.alert.status == "resolved" and stored.alert.acknowledged_by == "oncall"  # both kept
    assert [t.to_status for t in observed.transitions] == ["resolved"]


# -- route and group -----------------------------------------------------------------------------

def _firing(store: StateStore, fp_resource: str = ep_id()) -> StoredAlert:
    observer = Observer(store)
    observed = observer.findings([finding(resource=fp_resource)], audited=[], now=T0, changed_by=None,
                                 for_seconds={}, keep_firing_for={}, rules=None)
    [stored] = observed.to_route
    return stored


@pytest.mark.parametrize(("wait", "outbox", "scheduled"), [
    (0, 1, [(T0, "team", True)]),  # messages ready now: delivery alone is due
    (10, 0, [(T0 + timedelta(seconds=10), "team", False)]),  # the group flushes when group_wait ends
])
def test_joining_a_group_due_now_flushes_in_the_same_write(store: StateStore, wait: float, outbox: int,
                                                           scheduled: list[tuple[datetime, str, bool]]) -> None:
    heard: list[tuple[datetime, str, bool]] = []
    stored = _firing(store)
    grouper = Grouper(store, router("team", wait=wait), lambda now, **kw: MuteContext(store, [], now, **kw),
                      on_scheduled=lambda *args: heard.append(args))
    writes = Writes(store)
    grouper.route([stored], T0)
    group_writes = [call for call in writes.calls if any(pk == "rcv" for _, pk in call)]
    assert len(group_writes) == 1 and len(group_writes[0]) == 1 + outbox  # the group (+ its message)
    assert len(store.outbox("team")) == outbox and heard == scheduled
    [group] = store.list_groups("team")
    assert group.body["seqs"] == {stored.alert.fingerprint: stored.route_seq}  # the change it was told
    assert stored.needs_routing  # until the alert write that follows (Observer.mark_routed) records it
    writes.calls.clear()
    grouper.route([stored], T0)  # told again (a tick after a crash): nothing changes
    assert writes.calls == []


# -- decide --------------------------------------------------------------------------------------

def _alert(fp: str, status: str) -> StoredAlert:
    return StoredAlert(Alert(fingerprint=fp, rule="R", resource=f"/r/{fp}", status=status, severity="high", since=T0))


class Context:
    """A MuteContext stand-in with fixed alerts and nothing muted."""

    def __init__(self, alerts: dict[str, StoredAlert]) -> None:
        self.alerts = alerts

    def get(self, fp: str, *, at_least: int = 0) -> StoredAlert | None:
        return self.alerts.get(fp)

    def annotate(self, alert: Alert) -> Alert:
        return alert


@pytest.mark.parametrize(("members", "nflog", "reason", "left"), [
    ({"a": "firing"}, None, "first", ["a"]),
    ({"a": "firing", "b": "firing"}, (["a"], []), "new_in_group", ["a", "b"]),
    ({"a": "firing"}, (["a"], []), None, ["a"]),  # nothing new, repeat not due
    ({"a": "resolved"}, (["a"], []), "all_resolved", []),
    ({"a": "firing", "b": "resolved"}, (["a", "b"], []), "resolved", ["a"]),
    ({"a": "resolved"}, None, None, []),  # resolved within group_wait: never sent
])
def test_decide_table(members: dict[str, str], nflog: tuple[list[str], list[str]] | None, reason: str | None,
                      left: list[str]) -> None:
    body: dict[str, Any] = {
        "receiver": "team", "group_key": "{}:{}", "group_labels": {}, "members": list(members),
        "settings": {"group_wait": 0, "group_interval": 300, "repeat_interval": 3600, "send_resolved": True},
        "nflog": None if nflog is None else NotifyLogEntry(frozenset(nflog[0]), frozenset(nflog[1]), T0).to_json(),
        "next_flush": T0.isoformat()}
    now = T0 + timedelta(seconds=60)
    context = Context({fp: _alert(fp, status) for fp, status in members.items()})
    after, notes = decide(body, now, context, lambda at, key: f"o-{key}")  # type: ignore[arg-type]
    assert [n.reason for n in notes] == ([reason] if reason else [])
    assert after["members"] == left
    assert after["next_flush"] == ((now + timedelta(seconds=300)).isoformat() if left else None)


# -- one event, end to end -----------------------------------------------------------------------

def test_writes_per_event(store: StateStore, clock: FakeClock) -> None:
    mgr = AlertManager(store, clock=clock, router=router("team", wait=0))
    mgr.process([finding("AMLG-AUTH-001")])  # the receiver is registered once, by an earlier alert
    writes = Writes(store)
    mgr.process([finding()], audited=[ep_id()])
    assert writes.calls == [
        [("upsert", "byres")],  # the per-resource index
        [("insert", "alert"), ("upsert", "alert")],  # the alert, and its timer row: unrouted for now
        [("insert", "rcv"), ("insert", "rcv")],  # the group told, with its outbox message
        [("replace", "alert"), ("delete", "alert")],  # the alert routed, out of the timer index
    ]
    writes.calls.clear()
    clock.advance(60)
    mgr.process([finding(status="pass")], audited=[ep_id()], rules=["AMLG-NET-001"])
    # the group hears now and sends the resolved notice at its next flush
    assert writes.calls == [[("replace", "alert"), ("upsert", "alert")], [("replace", "rcv")],
                            [("replace", "alert"), ("delete", "alert")]]
    writes.calls.clear()
    clock.advance(60)
    mgr.process([finding(status="pass")], audited=[ep_id()], rules=["AMLG-NET-001"])
    assert writes.calls == []  # nothing new: nothing written


class Killed(BaseException):
    """SIGKILL: nothing after the point it lands runs."""


def test_killed_after_telling_the_groups_another_instances_tick_finishes_and_sends_nothing_twice(
        store: StateStore, clock: FakeClock) -> None:
    other = AlertManager(store, clock=clock, router=router("team", wait=0))
    other.tick()  # its first tick (a full scan) is behind it: from now on it reads the timer index
    mgr = AlertManager(store, clock=clock, router=router("team", wait=0))

    def killed(_: list[StoredAlert]) -> None:
        raise Killed

    mgr.observer.mark_routed = killed  # type: ignore[method-assign,assignment]
    with pytest.raises(Killed):
        mgr.process([finding()])
    [stored] = store.list_alerts()
    assert stored.needs_routing and len(mgr.outbox()) == 1  # the notice is queued; the alert says untold
    clock.advance(1)
    other.tick()
    assert store.list_alerts()[0].needs_routing  # its writer may still be at it: left alone for ROUTING_GRACE
    clock.advance(5)
    other.tick()
    [stored] = store.list_alerts()
    assert not stored.needs_routing and store.due_alerts(clock()) == []
    rec = Recorder()
    other.deliver({"team": rec})
    assert [n.reason for n in rec.sent] == ["first"]
