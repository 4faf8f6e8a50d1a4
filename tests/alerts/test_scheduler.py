"""serve's timers: NCRONTAB schedules, and notices that leave when their group's group_wait ends
(not at the next alerts tick). The clock is injected and jobs run inline: no sleeps."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from amlguard.alerts import AlertManager
from amlguard.alerts.scheduler import Job, Schedule, Timers, build_timers
from amlguard.alerts.store import StateStore
from amlguard.config import Settings
from amlguard.errors import ConfigError

from .conftest import T0, FakeClock
from .fakes import Recorder, finding, router

EVERY_30S = Schedule.parse("AMLGUARD_ALERTS_SCHEDULE", "*/30 * * * * *")


@pytest.mark.parametrize(("expression", "after", "expected"), [
    ("*/30 * * * * *", "12:00:05", "12:00:30"),
    ("0 */15 * * * *", "12:00:00", "12:15:00"),
    ("0 */5 * * * *", "12:07:59", "12:10:00"),
    ("15 0 * * * *", "12:00:15", "13:00:15"),  # seconds come first, as in Azure Functions
    ("0 30 9 * * 1-5", "12:00:00", "2026-03-02 09:30:00"),  # 2026-03-01 is a Sunday
    ("0 0 0 * * SUN", "12:00:00", "2026-03-08 00:00:00"),
])
def test_ncrontab_next_time(expression: str, after: str, expected: str) -> None:
    start = datetime.fromisoformat(f"2026-03-01 {after}+00:00")
    wanted = datetime.fromisoformat(expected + "+00:00" if " " in expected else f"2026-03-01 {expected}+00:00")
    assert Schedule.parse("AMLGUARD_SWEEP_SCHEDULE", expression).next_after(start) == wanted


@pytest.mark.parametrize(("expression", "message"), [
    ("*/5 * * * *", r"AMLGUARD_MONITOR_SCHEDULE='\*/5 \* \* \* \*' has 5 fields, not an NCRONTAB schedule"),
    ("00:05:00", "has 1 field, not"),
    ("", "has 0 fields"),
    ("0 */5 * * 13 *", "is not a valid NCRONTAB schedule"),
    ("0 */5 * * * funday", "is not a valid NCRONTAB schedule"),
])
def test_invalid_schedule_names_the_setting_and_the_fix(expression: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        Schedule.parse("AMLGUARD_MONITOR_SCHEDULE", expression)
    assert "set AMLGUARD_MONITOR_SCHEDULE to six fields" in str(caught.value)
    assert "'0 */5 * * * *'" in str(caught.value)


def test_serve_refuses_a_bad_schedule_before_starting(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = Settings.from_env({"AMLGUARD_ALERTS_SCHEDULE": "*/30 * * * *", "AMLGUARD_STATE_DIR": str(tmp_path)})
    with pytest.raises(ConfigError, match="AMLGUARD_ALERTS_SCHEDULE"):
        build_timers(None, settings)  # type: ignore[arg-type]  # fails before the service is touched


class Delivery:
    """AlertManager + a Recorder noting the clock time of each send, driven by Timers."""

    def __init__(self, store: StateStore, clock: FakeClock, *, wait: float, jobs: list[Job] | None = None) -> None:
        self.clock = clock
        self.manager = AlertManager(store, clock=clock, random=lambda: 0.5, router=router("team", wait=wait))
        self.sent_at: list[datetime] = []
        recorder = Recorder()
        original = recorder.send

        def send(note: object) -> None:
            self.sent_at.append(clock())
            original(note)  # type: ignore[arg-type]

        recorder.send = send  # type: ignore[method-assign]
        self.recorder = recorder
        self.timers = Timers(self.manager, {"team": recorder}, jobs or [], alerts_schedule=EVERY_30S, clock=clock,
                             start_job=lambda name, work: work())
        self.timers.run_due()  # the start-up tick

    def run_until(self, until: datetime) -> None:
        """What the loop does: sleep to the next wake time, run, until `until`."""
        while (at := self.timers.next_wake()) <= until:
            self.clock.now = max(self.clock.now, at)
            self.timers.run_due()
        self.clock.now = until


@pytest.mark.parametrize(("wait", "event_at", "delivered_at"), [
    (0, 1, 1),  # group_wait 0: right after the event is handled
    (10, 1, 11),  # when group_wait ends, not at the alerts tick at 30 s
    (10, 25, 35),  # and not at the tick at 30 s either
    (45, 2, 47),
])
def test_notice_leaves_when_group_wait_ends(store: StateStore, clock: FakeClock, wait: float, event_at: float,
                                            delivered_at: float) -> None:
    run = Delivery(store, clock, wait=wait)
    run.run_until(T0 + timedelta(seconds=event_at))
    run.manager.process([finding()])  # an event: its audit found a failure
    run.run_until(T0 + timedelta(seconds=120))
    assert run.sent_at == [T0 + timedelta(seconds=delivered_at)]
    assert [n.reason for n in run.recorder.sent] == ["first"]


def test_woken_by_an_event_while_sleeping_toward_a_later_tick(store: StateStore, clock: FakeClock) -> None:
    run = Delivery(store, clock, wait=5)
    assert run.timers.next_wake() == T0 + timedelta(seconds=30)  # nothing due: the alerts schedule
    clock.advance(3)
    run.manager.process([finding()])
    assert run.timers.next_wake() == T0 + timedelta(seconds=8)
    clock.advance(4)
    run.timers.run_due()
    assert run.sent_at == []  # not early
    clock.advance(1)
    run.timers.run_due()
    assert run.sent_at == [T0 + timedelta(seconds=8)]


def test_a_change_in_a_notified_group_leaves_when_group_interval_ends(store: StateStore, clock: FakeClock) -> None:
    run = Delivery(store, clock, wait=0)  # group_interval 300 s (fakes.router)
    run.manager.process([finding()])
    run.timers.run_due()
    clock.advance(7)
    run.manager.process([finding(status="pass")])
    assert run.timers.next_wake() == T0 + timedelta(seconds=30)  # the alerts schedule comes first
    run.run_until(T0 + timedelta(seconds=400))
    assert [n.status for n in run.recorder.sent] == ["firing", "resolved"]
    assert run.sent_at == [T0, T0 + timedelta(seconds=300)]  # Alertmanager: at the group's next flush
    # the group is empty now: nothing wakes the loop before the alerts schedule
    assert run.timers.next_wake() == T0 + timedelta(seconds=420)


def test_messages_for_unconfigured_receivers_do_not_wake_the_loop(store: StateStore, clock: FakeClock) -> None:
    manager = AlertManager(store, clock=clock, router=router("team", "not-configured"))
    manager.process([finding()])
    assert manager.next_due() == T0  # both receivers' messages are ready
    timers = Timers(manager, {"team": Recorder()}, [], alerts_schedule=EVERY_30S, clock=clock)
    timers.run_due()
    assert manager.next_due(["team"]) == T0 + timedelta(seconds=300)  # the group's next flush
    assert timers.next_wake() == T0 + timedelta(seconds=30)


def test_a_failing_receiver_is_retried_at_its_backoff_not_in_a_spin(store: StateStore, clock: FakeClock) -> None:
    from amlguard.errors import NotificationError

    manager = AlertManager(store, clock=clock, random=lambda: 0.0, router=router("team"))
    failing = Recorder(fail=lambda note: NotificationError("down", receiver="team", retryable=True))
    timers = Timers(manager, {"team": failing}, [], alerts_schedule=EVERY_30S, clock=clock)
    manager.process([finding()])
    timers.run_due()
    assert failing.calls == 1
    # equal jitter with random 0: the first retry is 2.5 s later
    assert timers.next_wake() == T0 + timedelta(seconds=2.5)


def test_jobs_run_on_their_schedule_one_run_at_a_time(store: StateStore, clock: FakeClock) -> None:
    started: list[Callable[[], None]] = []
    runs: list[datetime] = []
    sweep = Job("sweep", Schedule.parse("AMLGUARD_SWEEP_SCHEDULE", "0 */15 * * * *"),
                lambda: runs.append(clock()), next_at=T0)
    manager = AlertManager(store, clock=clock)
    timers = Timers(manager, {}, [sweep], alerts_schedule=EVERY_30S, clock=clock,
                    start_job=lambda name, work: started.append(work))
    timers.run_due()
    assert len(started) == 1 and sweep.running and sweep.next_at == T0 + timedelta(minutes=15)
    clock.now = T0 + timedelta(minutes=15)
    timers.run_due()
    assert len(started) == 1  # still running: this occurrence is skipped, as Azure Functions does
    started[0]()
    assert runs == [T0 + timedelta(minutes=15)] and not sweep.running
    assert sweep.next_at == T0 + timedelta(minutes=30)


def test_the_loop_stops(store: StateStore) -> None:
    manager = AlertManager(store)
    timers = Timers(manager, {}, [], alerts_schedule=EVERY_30S)
    timers.thread = threading.Thread(target=timers.run)
    timers.thread.start()
    timers.stop()
    assert not timers.thread.is_alive()
    assert manager.on_due is not None


def test_serve_timers_follow_the_settings(tmp_path) -> None:  # type: ignore[no-untyped-def]
    class FakeService:
        def __init__(self) -> None:
            self.alerts = AlertManager(open_store_for(tmp_path))
            self.notifiers: dict[str, object] = {}

        def sweep(self) -> object:
            raise AssertionError("not run here")

        def tick(self) -> None:
            return None

    def open_store_for(path):  # type: ignore[no-untyped-def]
        from amlguard.alerts import open_store

        return open_store(path)

    settings = Settings.from_env({"AMLGUARD_SWEEP_SCHEDULE": "0 0 * * * *", "AMLGUARD_SNAPSHOT": "x.json"})
    service = FakeService()
    timers = build_timers(service, settings)  # type: ignore[arg-type]
    assert [(j.name, j.schedule.expression) for j in timers.jobs] == [("sweep", "0 0 * * * *")]
    assert timers.alerts_schedule.expression == "*/30 * * * * *"
    monitoring = Settings.from_env({"AMLGUARD_SNAPSHOT": "x.json", "AMLGUARD_MONITOR_EXAMPLE": "dir",
                                    "AMLGUARD_SWEEP_INTERVAL": "0"})
    assert [j.name for j in build_timers(service, monitoring).jobs] == ["monitor"]  # type: ignore[arg-type]
    service.alerts.store.close()  # type: ignore[attr-defined]


def test_utc_now_is_aware() -> None:
    assert Schedule.parse("X", "0 0 * * * *").next_after(datetime(2026, 1, 1, 0, 30, tzinfo=UTC)).tzinfo is not None


def test_groups_due_a_moment_apart_each_leave_on_time(store: StateStore, clock: FakeClock) -> None:
    from .fakes import ep_id

    run = Delivery(store, clock, wait=10)  # group_by rule: one group per rule
    clock.advance(1)
    run.manager.process([finding("AMLG-NET-001", resource=ep_id("e1"))])
    clock.now += timedelta(milliseconds=200)
    run.manager.process([finding("AMLG-AUTH-001", resource=ep_id("e2"))])
    run.run_until(T0 + timedelta(seconds=60))
    assert run.sent_at == [T0 + timedelta(seconds=11), T0 + timedelta(seconds=11, milliseconds=200)]


class Stuck:
    """An alert facade whose work stays due whatever a run does (e.g. more than one pass can send)."""

    def __init__(self, clock: FakeClock, stuck: bool = True) -> None:
        self.clock = clock
        self.stuck = stuck
        self.on_due = None
        self.runs: list[str] = []

    def tick(self, now: datetime | None = None) -> list[object]:
        self.runs.append("tick")
        return []

    def deliver(self, notifiers: object, *, now: datetime | None = None) -> None:
        self.runs.append("deliver")

    def next_due(self, receivers: object = None) -> datetime | None:
        return self.clock() - timedelta(seconds=5) if self.stuck else None


def test_work_still_due_after_a_run_is_looked_at_again_shortly_not_in_a_spin(clock: FakeClock) -> None:
    alerts = Stuck(clock)
    timers = Timers(alerts, {"team": Recorder()}, [], alerts_schedule=EVERY_30S, clock=clock)  # type: ignore[arg-type]
    timers.run_due()
    assert alerts.runs == ["tick", "deliver"]
    assert timers.next_wake() == T0 + timedelta(seconds=1)


def test_messages_ready_now_are_delivered_without_a_tick(clock: FakeClock) -> None:
    alerts = Stuck(clock, stuck=False)
    timers = Timers(alerts, {"team": Recorder()}, [], alerts_schedule=EVERY_30S, clock=clock)  # type: ignore[arg-type]
    timers.run_due()
    clock.advance(5)
    timers.wake(clock(), "team", True)  # a group due at once enqueued its message
    timers.wake(clock(), "unconfigured", False)  # nobody can send this: no wake-up for it
    alerts.runs.clear()
    timers.run_due()
    assert alerts.runs == ["deliver"]
    assert timers.next_wake() == T0 + timedelta(seconds=30)
