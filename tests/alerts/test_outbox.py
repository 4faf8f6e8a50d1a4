"""Outbox delivery: retries with backoff, circuit breaking, crash safety, order, concurrency."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections import defaultdict
from datetime import timedelta

import pytest

from amlguard.alerts import AlertManager, outbox
from amlguard.alerts.outbox import RetryPolicy, backoff_seconds
from amlguard.alerts.store import StateStore
from amlguard.alerts.types import Notification
from amlguard.errors import NotificationError

from .conftest import FakeClock, StoreFactory
from .fakes import Recorder, down_until, ep_id, finding, router


class Crash(BaseException):
    """Stands for the process dying (not an Exception: nothing may catch it)."""


def manager(store: StateStore, clock: FakeClock, **kwargs: object) -> AlertManager:
    kwargs.setdefault("router", router("team", group_by=("resource",), wait=0, interval=60))
    return AlertManager(store, clock=clock, random=lambda: 0.5, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(("attempts", "rand", "expected"), [
    (1, 0.0, 2.5), (1, 1.0, 5.0), (2, 0.5, 7.5), (3, 0.0, 10.0), (8, 1.0, 600.0), (30, 0.0, 300.0),
])
def test_backoff_is_exponential_capped_with_equal_jitter(attempts: int, rand: float, expected: float) -> None:
    assert backoff_seconds(attempts, RetryPolicy(base=5, cap=600), lambda: rand) == expected


def test_errors_and_timeouts_are_retried_with_backoff(store: StateStore, clock: FakeClock) -> None:
    failures = [NotificationError("502 Bad Gateway"), TimeoutError("read timed out")]
    rec = Recorder(fail=lambda _n: failures.pop(0) if failures else None)
    mgr = manager(store, clock)
    mgr.process([finding()])
    stats = mgr.deliver({"team": rec})
    assert (stats.attempted, stats.failed, stats.queued) == (1, 1, 1)
    [item] = mgr.outbox()
    assert item["last_error"] == "502 Bad Gateway" and item["attempts"] == 1
    clock.advance(3.74)  # first retry after 5 s * (0.5 + 0.5 * 0.5) = 3.75 s
    assert mgr.deliver({"team": rec}).attempted == 0
    clock.advance(0.01)
    assert mgr.deliver({"team": rec}).failed == 1
    assert mgr.outbox()[0]["last_error"] == "TimeoutError: read timed out"
    clock.advance(7.5)
    assert mgr.deliver({"team": rec}).delivered == 1
    assert [n.attempts for n in rec.sent] == [3] and mgr.outbox() == []
    [log] = mgr.notification_log()
    assert (log["outcome"], log["attempts"], log["reason"]) == ("delivered", 3, "first")


def test_receiver_down_for_an_hour_gets_everything_in_order(store: StateStore, clock: FakeClock) -> None:
    start = clock.now
    rec = Recorder(fail=down_until(start + timedelta(hours=1), clock))
    mgr = manager(store, clock)
    expected: dict[str, list[str]] = defaultdict(list)
    # Over the hour, three endpoints flap fail -> pass -> fail ...; every change is a notification.
    for minute in range(0, 60, 4):
        for index, ep in enumerate(("e1", "e2", "e3")):
            failing = (minute // 4 + index) % 2 == 0
            mgr.process([finding(resource=ep_id(ep), status="fail" if failing else "pass")])
        for _ in range(2):
            clock.advance(120)
            mgr.tick()
            mgr.deliver({"team": rec})
    assert rec.sent == [] and rec.calls > 0
    queued = mgr.outbox()
    for item in queued:
        expected[item["alerts"][0]].append(item["status"])
    assert sum(len(v) for v in expected.values()) == len(queued) > 30
    # Back after an hour: within the retry cap (10 min) everything arrives, oldest first.
    for _ in range(8):
        clock.advance(120)
        mgr.deliver({"team": rec})
    assert mgr.outbox() == []
    got: dict[str, list[str]] = defaultdict(list)
    for note in rec.sent:
        got[note.alerts[0].fingerprint].append(note.status)
    assert got == expected
    created = [n.created_at for n in rec.sent]
    assert created == sorted(created)
    assert len({n.idempotency_key for n in rec.sent}) == len(rec.sent)


def test_circuit_breaker_opens_and_half_opens(store: StateStore, clock: FakeClock) -> None:
    policy = RetryPolicy(base=1, cap=1, breaker_window=4, breaker_min_calls=3, breaker_cooldown=60)
    rec = Recorder(fail=lambda _n: NotificationError("503"))
    mgr = manager(store, clock, retry_policy=policy)
    mgr.process([finding()])
    for _ in range(3):
        assert mgr.deliver({"team": rec}).failed == 1
        clock.advance(1)
    assert rec.calls == 3
    stats = mgr.deliver({"team": rec})
    assert stats.skipped_receivers == ["team"] and rec.calls == 3  # open: the receiver is left alone
    clock.advance(59)  # opened at t=2 for 60 s
    mgr.deliver({"team": rec})
    assert rec.calls == 4  # half-open trial failed: open again, for twice as long
    clock.advance(119)
    assert mgr.deliver({"team": rec}).skipped_receivers == ["team"]
    rec.fail = None
    clock.advance(1)
    assert mgr.deliver({"team": rec}).delivered == 1
    breaker = store.get_breaker("team")
    assert breaker is not None and breaker.body["open_until"] is None


def test_a_receiver_failing_one_request_in_five_is_not_cut_off(store: StateStore, clock: FakeClock) -> None:
    calls = [0]

    def every_fifth(_n: Notification) -> BaseException | None:
        calls[0] += 1
        return NotificationError("500") if calls[0] % 5 == 0 else None

    rec = Recorder(fail=every_fifth)
    mgr = manager(store, clock)
    mgr.process([finding(resource=ep_id(f"e{i}")) for i in range(60)])
    for _ in range(12):
        mgr.deliver({"team": rec})
        clock.advance(10)
    assert len({n.alerts[0].resource for n in rec.sent}) == 60  # all delivered, none waited on a breaker
    breaker = store.get_breaker("team")
    assert breaker is not None and breaker.body["open_until"] is None and breaker.body["opens"] == 0


def test_permanent_refusal_is_dead_lettered_and_the_queue_moves_on(store: StateStore, clock: FakeClock) -> None:
    refuse_first = [True]

    def fail(_n: Notification) -> BaseException | None:
        if refuse_first.pop(0) if refuse_first else False:
            return NotificationError("400 payload rejected", retryable=False)
        return None

    rec = Recorder(fail=fail)
    mgr = manager(store, clock)
    mgr.process([finding(resource=ep_id("e1")), finding(resource=ep_id("e2"))])
    stats = mgr.deliver({"team": rec})
    assert (stats.dead, stats.delivered, stats.queued) == (1, 1, 0)
    [dead] = mgr.outbox()
    assert dead["state"] == "dead" and dead["last_error"] == "400 payload rejected"
    outcomes = sorted(e["outcome"] for e in mgr.notification_log())
    assert outcomes == ["delivered", "failed"]
    assert mgr.deliver({"team": rec}).attempted == 0  # dead letters are not retried


def test_messages_older_than_max_age_are_dead_lettered(store: StateStore, clock: FakeClock) -> None:
    mgr = manager(store, clock, retry_policy=RetryPolicy(max_age=3600, cap=60))
    rec = Recorder(fail=lambda _n: NotificationError("503"))
    mgr.process([finding()])
    for _ in range(70):
        clock.advance(60)
        mgr.deliver({"team": rec})
    [item] = mgr.outbox()
    assert item["state"] == "dead" and "undelivered after" in item["last_error"]


def test_unknown_receiver_keeps_its_messages(store: StateStore, clock: FakeClock) -> None:
    mgr = manager(store, clock, router=router("pager"))
    mgr.process([finding()])
    stats = mgr.deliver({"team": Recorder()})
    assert stats.unknown_receivers == ["pager"] and stats.queued == 1
    assert mgr.deliver({"pager": Recorder("pager")}).delivered == 1


def test_messages_for_a_removed_receiver_age_out_visibly(store: StateStore, clock: FakeClock) -> None:
    mgr = manager(store, clock, router=router("pager"), retry_policy=RetryPolicy(max_age=3600))
    mgr.process([finding()])
    clock.advance(3601)
    stats = mgr.deliver({"team": Recorder()})
    assert (stats.dead, stats.queued, stats.unknown_receivers) == (1, 0, [])
    [item] = mgr.outbox()
    assert item["state"] == "dead" and "no notifier named 'pager'" in item["last_error"]


def test_crash_between_send_and_record_repeats_at_most_once(store_factory: StoreFactory,
                                                            clock: FakeClock) -> None:
    received: list[Notification] = []

    def crash_after_send(note: Notification) -> BaseException | None:
        received.append(note)
        return Crash()

    first = store_factory()
    mgr = manager(first, clock)
    mgr.process([finding()])
    with pytest.raises(Crash):
        mgr.deliver({"team": Recorder(fail=crash_after_send)})
    first.close()

    rec = Recorder()
    again = manager(store_factory(), clock)  # the restarted process
    assert again.deliver({"team": rec}).attempted == 0  # the dead sender's lease still holds
    clock.advance(RetryPolicy().lease)
    assert again.deliver({"team": rec}).delivered == 1
    assert again.deliver({"team": rec}).attempted == 0
    clock.advance(600)  # group flushes go on; nothing new to say before repeat_interval
    again.tick()
    assert again.deliver({"team": rec}).attempted == 0
    assert len(received) == 1 and len(rec.sent) == 1
    assert rec.sent[0].idempotency_key == received[0].idempotency_key  # receivers can drop the repeat
    assert rec.sent[0].attempts == 2


@pytest.mark.parametrize("holder", ["restarted with the same pid", "its pid is gone", "another live process",
                                    "another host"])
def test_a_lease_of_a_dead_holder_is_reclaimed_at_once(store_factory: StoreFactory, clock: FakeClock,
                                                       monkeypatch: pytest.MonkeyPatch, holder: str) -> None:
    """Soak (bench_soak.py, SQLite): a notice whose sender was SIGKILLed mid-send held every later
    notice about its alert for the whole 120 s lease. A restarted process on the same host knows
    its previous life is dead: it resends at once. A holder that may still be sending keeps it."""
    received: list[Notification] = []

    def crash_after_send(note: Notification) -> BaseException | None:
        received.append(note)
        return Crash()

    first = store_factory()
    mgr = manager(first, clock)
    mgr.process([finding()])
    dead_pid = _exited_pid()
    previous = {"restarted with the same pid": dict(outbox.OWNER, token="previous-life"),
                "its pid is gone": dict(outbox.OWNER, pid=dead_pid, token="dead"),
                "another live process": dict(outbox.OWNER, pid=os.getppid(), token="live"),
                "another host": dict(outbox.OWNER, host="other-host", token="elsewhere")}[holder]
    monkeypatch.setattr(outbox, "OWNER", previous)
    with pytest.raises(Crash):
        mgr.deliver({"team": Recorder(fail=crash_after_send)})
    first.close()
    monkeypatch.undo()

    rec = Recorder()
    again = manager(store_factory(), clock)  # the restarted process
    stats = again.deliver({"team": rec})
    if holder in ("another live process", "another host"):
        assert stats.attempted == 0  # it may still be sending: its lease holds
        clock.advance(RetryPolicy().lease)
        stats = again.deliver({"team": rec})
    assert stats.delivered == 1 and len(rec.sent) == 1
    assert rec.sent[0].idempotency_key == received[0].idempotency_key  # receivers can drop the repeat
    assert again.deliver({"team": rec}).attempted == 0


def _exited_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_concurrent_deliverers_send_each_message_once(store_factory: StoreFactory, clock: FakeClock) -> None:
    setup = manager(store_factory(), clock)
    setup.process([finding(resource=ep_id(f"e{i}")) for i in range(6)])
    assert len(setup.outbox()) == 6
    lock = threading.Lock()
    sent: list[str] = []

    class Slow:
        name = "team"

        def send(self, note: Notification) -> None:
            time.sleep(0.02)  # widen the window in which the two instances overlap
            with lock:
                sent.append(note.idempotency_key)

    stores = [store_factory(), store_factory()]
    barrier = threading.Barrier(2)

    def run(store: StateStore) -> None:
        mgr = manager(store, clock)
        barrier.wait()
        for _ in range(4):
            mgr.deliver({"team": Slow()})

    threads = [threading.Thread(target=run, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(sent) == 6 and len(set(sent)) == 6
    assert setup.outbox() == []


def test_a_failing_send_holds_back_only_its_own_alerts(store: StateStore, clock: FakeClock) -> None:
    """Order is per alert: e1's failed notice waits and so does e1's resolve behind it, while the
    notices about e2 and e3 (queued after e1's) go out in the same pass."""
    rec = Recorder(fail=lambda n: NotificationError("503") if n.alerts[0].resource == ep_id("e1") else None)
    mgr = manager(store, clock)
    mgr.process([finding(resource=ep_id("e1"))])
    mgr.process([finding(resource=ep_id("e2")), finding(resource=ep_id("e3"))])
    stats = mgr.deliver({"team": rec})
    assert (stats.attempted, stats.delivered, stats.failed) == (3, 2, 1)
    assert sorted(n.alerts[0].resource.rsplit("/", 1)[-1] for n in rec.sent) == ["e2", "e3"]
    clock.advance(61)
    mgr.process([finding(resource=ep_id("e1"), status="pass")])  # e1 resolves while its firing notice waits
    mgr.tick()
    rec.fail = None
    for _ in range(3):
        clock.advance(10)
        mgr.deliver({"team": rec})
    e1 = [n.status for n in rec.sent if n.alerts[0].resource == ep_id("e1")]
    assert e1 == ["firing", "resolved"]  # still in order for that alert


def test_every_failed_send_is_one_warning_with_receiver_status_and_retry_time(
        store: StateStore, clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    from amlguard.alerts.notifiers import ReceiverError

    timeout = ReceiverError("teams receiver 'team' timed out after 10s; will retry", receiver="team")
    timeout.__cause__ = TimeoutError("read timed out")
    failures: list[BaseException] = [
        ReceiverError("answered HTTP 500; will retry", receiver="team", status_code=500),
        timeout,
        ReceiverError("answered HTTP 400; not retried", receiver="team", retryable=False, status_code=400),
    ]
    rec = Recorder(fail=lambda _n: failures.pop(0) if failures else None)
    mgr = manager(store, clock)
    mgr.process([finding()])
    caplog.set_level("DEBUG")
    for _ in range(3):
        mgr.deliver({"team": rec})
        clock.advance(600)
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert [(r.name, r.receiver, r.status, r.attempts) for r in warnings] == [  # type: ignore[attr-defined]
        ("amlguard.alerts.outbox", "team", "HTTP 500", 1),
        ("amlguard.alerts.outbox", "team", "TimeoutError", 2),
        ("amlguard.alerts.outbox", "team", "HTTP 400", 3)]
    first, second, third = (r.getMessage() for r in warnings)
    start = clock.now - timedelta(seconds=1800)
    assert first.startswith("receiver team: send failed (HTTP 500), attempt 1; next attempt at "
                            f"{(start + timedelta(seconds=3.75)).isoformat()} (in 4s)")
    assert "(TimeoutError), attempt 2; next attempt at" in second
    assert third.startswith("receiver team: send failed (HTTP 400), attempt 3; dead-lettered, not retried")
    assert warnings[0].retry_at == (start + timedelta(seconds=3.75)).isoformat()  # type: ignore[attr-defined]
    assert warnings[2].retry_at is None  # type: ignore[attr-defined]


def test_a_retry_after_longer_than_the_backoff_is_honoured(store: StateStore, clock: FakeClock) -> None:
    from amlguard.alerts.notifiers import ReceiverError

    failures = [ReceiverError("HTTP 429", receiver="team", status_code=429, retry_after=120.0)]
    rec = Recorder(fail=lambda _n: failures.pop(0) if failures else None)
    mgr = manager(store, clock)
    mgr.process([finding()])
    assert mgr.deliver({"team": rec}).failed == 1
    clock.advance(119)
    assert mgr.deliver({"team": rec}).attempted == 0
    clock.advance(1)
    assert mgr.deliver({"team": rec}).delivered == 1


OUTBOX_FULL = "AMLG-OUTBOX-FULL"


def _outbox_alerts(mgr: AlertManager) -> list[dict[str, object]]:
    return [a for a in mgr.list_alerts() if a["rule"] == OUTBOX_FULL]


def test_a_full_outbox_drops_its_oldest_counts_them_and_raises_one_alert(
        store: StateStore, clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    down = [True]
    rec = Recorder(fail=lambda _n: NotificationError("503") if down[0] else None)
    mgr = manager(store, clock, retry_policy=RetryPolicy(max_queued=3, max_dead=10))
    mgr.process([finding(resource=ep_id(f"e{i}")) for i in range(1, 6)])
    assert len(mgr.outbox()) == 5
    caplog.set_level("WARNING", logger="amlguard.alerts.outbox")
    stats = mgr.deliver({"team": rec})
    assert (stats.dropped, stats.dropped_dead) == (2, 0)
    dropped = [r for r in caplog.records if "dropped" in r.getMessage()]
    assert [r.getMessage() for r in dropped] == [
        "receiver team: outbox over its cap of 3 queued messages; dropped the 2 oldest (2 in all). "
        "The receiver is failing or too slow; see its send failures, or raise AMLGUARD_OUTBOX_MAX_MESSAGES"]
    [full] = _outbox_alerts(mgr)
    assert (full["status"], full["resource"], full["severity"]) == ("firing", "amlguard://outbox/team", "high")
    assert "dropped the 2 oldest" in str(full["annotations"]["message"])  # type: ignore[index]
    # three endpoint notices are kept, and the meta-alert's own notice joined them
    rules = {a["fingerprint"]: a["rule"] for a in mgr.list_alerts()}
    assert sorted(rules[item["alerts"][0]] for item in mgr.outbox()) == ["AMLG-NET-001"] * 3 + [OUTBOX_FULL]
    clock.advance(600)
    assert mgr.deliver({"team": rec}).dropped == 1  # the meta-alert's notice made it 4
    assert len(_outbox_alerts(mgr)) == 1  # one alert, not one per pass
    breaker = store.get_breaker("team")
    assert breaker is not None and breaker.body["dropped"] == 3
    down[0] = False
    for _ in range(3):
        clock.advance(600)
        mgr.deliver({"team": rec})
    [full] = _outbox_alerts(mgr)
    assert full["status"] == "resolved"


def test_dead_letters_over_their_cap_drop_the_oldest_and_alert(store: StateStore, clock: FakeClock) -> None:
    rec = Recorder(fail=lambda n: None if n.alerts[0].rule == OUTBOX_FULL
                   else NotificationError("400 rejected", retryable=False))
    mgr = manager(store, clock, retry_policy=RetryPolicy(max_queued=100, max_dead=2))
    mgr.process([finding(resource=ep_id(f"e{i}")) for i in range(1, 6)])
    assert mgr.deliver({"team": rec}).dead == 5
    clock.advance(1)
    stats = mgr.deliver({"team": rec})
    assert (stats.dropped, stats.dropped_dead) == (0, 3)
    assert [item["state"] for item in mgr.outbox()] == ["dead", "dead", "queued"]  # + the alert's notice
    [full] = _outbox_alerts(mgr)
    assert full["status"] == "firing" and "dead letters" in str(full["annotations"]["message"])  # type: ignore[index]
