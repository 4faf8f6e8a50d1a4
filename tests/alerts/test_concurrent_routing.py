"""`amlguard serve` runs events and the timer (group flushes, delivery) on two threads of one process.

bench_soak.py's SQLite run showed the two interleaving badly. Each test here runs one event's
`process` and, before its k-th store call for every k, lets the timer thread run one tick and one
delivery pass; then the timer alone runs until nothing is left. Whatever k, the receiver must hear
the alert's last state last, and never the same state twice in a row.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from amlguard.alerts import AlertManager
from amlguard.alerts.records import Backend, Doc, Op
from amlguard.alerts.store import StateStore, StoredAlert, open_store
from amlguard.alerts.types import Alert, Notification
from amlguard.errors import NotificationError

from .conftest import T0, FakeClock
from .fakes import Recorder, ep_id, finding, router


class Interleaved:
    """A backend that runs `other()` (the other thread) once, just before the `at`-th call made while
    `counting` is set; the other thread's own calls are not counted."""

    def __init__(self, inner: Backend, at: int, other: Callable[[], None]) -> None:
        self.inner, self.at, self.other = inner, at, other
        self.calls = 0
        self.counting = False
        self.ran = False

    def _step(self) -> None:
        if not self.counting:
            return
        if self.calls == self.at and not self.ran:
            self.ran, self.counting = True, False
            try:
                self.other()
            finally:
                self.counting = True
        self.calls += 1

    def get(self, pk: str, rk: str) -> Doc | None:
        self._step()
        return self.inner.get(pk, rk)

    def query(self, pk: str, prefix: str = "", *, limit: int | None = None, start: str | None = None) -> list[Doc]:
        self._step()
        return self.inner.query(pk, prefix, limit=limit, start=start)

    def write(self, ops: Sequence[Op]) -> list[str]:
        self._step()
        return self.inner.write(ops)

    def close(self) -> None:
        self.inner.close()


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def statuses(notes: list[Notification], fp: str) -> list[str]:
    return [a.status for n in notes for a in n.alerts if a.fingerprint == fp]


def interleave(folder: Path, k: int, *, prelude: Sequence[tuple[float, str]], event: tuple[float, str],
               timer_at: float, timer_sends: bool = True, timer_first: bool = False) -> tuple[bool, list[str], list[str]]:
    """Run `prelude` (time, finding status) one at a time with the timer in between, then `event`
    with the timer's tick and delivery at `timer_at` before the event's k-th store call (with
    `timer_first`, the event before the timer's k-th call). Returns whether the interruption
    happened, the alert's history and what the receiver heard."""
    clock = FakeClock()
    store = open_store(folder)
    mgr = AlertManager(store, clock=clock, random=lambda: 0.0,
                       router=router("team", group_by=("rule", "resource"), wait=0, interval=1))
    heard = Recorder()
    down = Recorder(fail=lambda _n: NotificationError("HTTP 500", receiver="team"))

    def timer(now: datetime, notifier: Any) -> None:
        mgr.tick(now)
        mgr.deliver({"team": notifier}, now=now)

    def observe(status: str) -> None:
        mgr.process([finding(status=status)], audited=[ep_id()], rules=["AMLG-NET-001"])

    for when, status in prelude:
        clock.now = at(when)
        observe(status)
        timer(clock.now, heard)
    notifier = heard if timer_sends else down
    clock.now = at(event[0])
    if timer_first:
        wrapped = Interleaved(store.backend, k, lambda: observe(event[1]))
        store.backend = wrapped
        wrapped.counting = True
        timer(at(timer_at), notifier)
    else:
        wrapped = Interleaved(store.backend, k, lambda: timer(at(timer_at), notifier))
        store.backend = wrapped
        wrapped.counting = True
        observe(event[1])
    wrapped.counting = False
    for step in range(12):  # the timer alone, until every notice has left (backoffs are 2.5 s here)
        timer(at(timer_at + 1.1 * (step + 1)), heard)
    [fp] = [a["fingerprint"] for a in mgr.list_alerts()]
    history = [h["to"] for h in mgr.history(fp) if h.get("to") in ("firing", "resolved")]
    store.close()
    return wrapped.ran, history, statuses(heard.sent, fp)


SCENARIOS = {
    # resolved 0.3 s after its firing notice (the group waits out group_interval), fires again at 0.6 s;
    # the timer flushes the group at 1.1 s
    "refired before the resolved notice": dict(prelude=[(0, "fail"), (0.3, "pass")], event=(0.6, "fail"),
                                               timer_at=1.1),
    # as above, but the receiver refuses the timer's send: the resolved notice waits in the outbox
    "refired, the resolved notice queued": dict(prelude=[(0, "fail"), (0.3, "pass")], event=(0.6, "fail"),
                                                timer_at=1.1, timer_sends=False),
    "resolved while the group waits": dict(prelude=[(0, "fail")], event=(0.6, "pass"), timer_at=1.1),
    "fired again after a told resolve": dict(prelude=[(0, "fail"), (1.1, "pass")], event=(2.0, "fail"),
                                             timer_at=2.2),
}


@pytest.mark.parametrize("timer_first", [False, True], ids=["timer inside the event", "event inside the timer"])
@pytest.mark.parametrize("name", SCENARIOS)
def test_the_timer_between_any_two_store_calls_of_an_event_loses_and_repeats_nothing(
        name: str, timer_first: bool, tmp_path: Path) -> None:
    for k in range(60):
        ran, history, heard = interleave(tmp_path / f"k{k}", k, timer_first=timer_first,
                                         **SCENARIOS[name])  # type: ignore[arg-type]
        if not ran:
            assert k >= 3, "the event made fewer store calls than expected"
            return
        assert heard and heard[-1] == history[-1], (k, history, heard)
        assert all(a != b for a, b in itertools.pairwise(heard)), (k, history, heard)
    pytest.fail("the event made more than 60 store calls")


def test_stale_flush_cannot_drop_a_member_it_was_not_told_about(tmp_path: Path) -> None:
    """The race itself, spelled out: the timer's flush reads the alert as still resolved, while the
    event has already re-fired it; nothing may leave the alert firing outside every group."""
    store: StateStore = open_store(tmp_path)
    clock = FakeClock()
    mgr = AlertManager(store, clock=clock, router=router("team", group_by=("rule", "resource"), wait=0, interval=1))
    for when, status in ((0, "fail"), (0.3, "pass")):
        clock.now = at(when)
        mgr.process([finding(status=status)], audited=[ep_id()], rules=["AMLG-NET-001"])
    clock.now = at(0.6)
    real_save = store.save_alert
    ticked: list[bool] = []

    def save_alert(stored: Any) -> Any:
        if not ticked:
            ticked.append(True)
            mgr.tick(at(1.1))  # the timer thread, between the event's group write and its alert write
        return real_save(stored)

    store.save_alert = save_alert  # type: ignore[method-assign]
    mgr.process([finding()], audited=[ep_id()], rules=["AMLG-NET-001"])
    store.save_alert = real_save  # type: ignore[method-assign]
    mgr.tick(at(2.2))
    [group] = store.list_groups("team")
    [alert] = store.list_alerts()
    assert alert.alert.status == "firing"
    assert group.body["nflog"]["firing"] == [alert.alert.fingerprint], group.body
    store.close()


def test_a_flush_never_takes_a_time_before_the_groups_last_one(tmp_path: Path) -> None:
    """A caller's `now` may have been read before another thread flushed the group: its message must
    still sort after that flush's in the outbox (read in creation order)."""
    from amlguard.alerts.dedup import decide
    from amlguard.alerts.mute import MuteContext

    store = open_store(tmp_path)
    alert = Alert(fingerprint="a", rule="R", resource="/r/a", status="firing", severity="high", since=T0)
    store.save_alert(StoredAlert(alert, route_seq=1, routed_seq=1))
    body: dict[str, Any] = {
        "receiver": "team", "group_key": "g", "group_labels": {}, "members": ["a"], "seqs": {"a": 1},
        "settings": {"group_wait": 0, "group_interval": 1, "repeat_interval": 3600, "send_resolved": True},
        "nflog": None, "next_flush": at(0).isoformat(), "last_flush": at(1.1).isoformat()}
    after, [note] = decide(body, at(0.6), MuteContext(store, [], at(0.6)), store.outbox_row)
    assert note.created_at > at(1.1) and note.id > store.outbox_row(at(1.1), "f" * 32)
    assert after["last_flush"] == note.created_at.isoformat()
    store.close()


def test_telling_a_group_a_change_it_flushed_long_ago_sends_nothing_again(tmp_path: Path) -> None:
    """A tick tells a group again what a killed writer had told it (then died before recording it in
    the alert). The alert has left the group since, and another member's flush replaced the group's
    notification log: the group's `seqs` still know the change was heard, so no second resolved."""
    clock = FakeClock()
    store = open_store(tmp_path)
    mgr = AlertManager(store, clock=clock, router=router("team", group_by=("rule",), wait=0, interval=1))
    rec = Recorder()
    a, b = ep_id("a"), ep_id("b")
    mgr.process([finding(resource=a), finding(resource=b)], audited=[a, b])
    clock.advance(2)
    mgr.process([finding(resource=a, status="pass")], audited=[a], rules=["AMLG-NET-001"])
    resolved = next(s for s in store.list_alerts() if s.alert.resource == a)
    clock.advance(2)
    mgr.tick()  # the group tells a resolved; a leaves it
    clock.advance(2)
    mgr.process([finding(resource=b, status="pass")], audited=[b], rules=["AMLG-NET-001"])
    clock.advance(2)
    mgr.tick()  # b's flush: the notification log no longer names a
    resolved.routed_seq = resolved.route_seq - 1  # as its killed writer left it
    mgr.grouper.route([resolved], clock())
    clock.advance(2)
    mgr.tick()
    mgr.deliver({"team": rec})
    told_a = [al.status for n in rec.sent for al in n.alerts if al.resource == a]
    assert told_a == ["firing", "resolved"], rec.summary()
    store.close()
