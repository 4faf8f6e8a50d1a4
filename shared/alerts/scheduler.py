"""`amlguard serve`'s timers, in-process: sweep, monitor and alerts on their NCRONTAB schedules, and alert
delivery the moment it is due (the loop and its wake-ups: docs/alerts.md, "When a notice leaves")."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from amlguard.alerts.protocols import AlertFacade
from amlguard.alerts.types import Notifier
from amlguard.errors import ConfigError
from amlguard.timeparse import next_cron

if TYPE_CHECKING:
    from amlguard.config import Settings
    from amlguard.service import Service

__all__ = ["Job", "Schedule", "Timers", "build_timers", "start_timers"]

log = logging.getLogger("amlguard.timers")

# Azure Functions' NCRONTAB: {second} {minute} {hour} {day} {month} {day-of-week}, in UTC.
NCRONTAB_FIELDS = ("second", "minute", "hour", "day", "month", "day-of-week")
STOP_POLL_S = 0.5  # the longest the loop sleeps without looking at its stop flag
# When the pipeline still reports work due right after a run (a message for a receiver whose
# send keeps failing inside its backoff window, say), look again after this rather than spin.
MIN_IDLE = timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class Schedule:
    """One NCRONTAB expression with the app setting it came from (for error messages)."""

    setting: str
    expression: str

    @classmethod
    def parse(cls, setting: str, expression: str) -> Schedule:
        """Check an NCRONTAB expression; a ConfigError names the setting and how to fix it."""
        text = (expression or "").strip()
        fix = (f"set {setting} to six fields, {' '.join('{' + f + '}' for f in NCRONTAB_FIELDS)} "
               "(Azure Functions' NCRONTAB, seconds first), e.g. '0 */5 * * * *' for every five minutes")
        count = len(text.split())
        if count != len(NCRONTAB_FIELDS):
            raise ConfigError(f"{setting}={expression!r} has {count} field{'s' * (count != 1)}, not an NCRONTAB "
                              f"schedule; {fix}")
        try:
            next_cron(text, datetime(2026, 1, 1, tzinfo=UTC), seconds_first=True)
        except ValueError as exc:
            raise ConfigError(f"{setting}={expression!r} is not a valid NCRONTAB schedule ({exc}); {fix}") from exc
        return cls(setting, text)

    def next_after(self, at: datetime) -> datetime:
        """The first time strictly after `at` that the schedule fires (UTC, as Azure Functions)."""
        return next_cron(self.expression, at, seconds_first=True)


@dataclass(slots=True)
class Job:
    """A timer: what it runs, on which schedule, and when it runs next."""

    name: str
    schedule: Schedule
    run: Callable[[], object]
    next_at: datetime
    running: bool = field(default=False)


def _in_thread(name: str, work: Callable[[], None]) -> None:
    threading.Thread(target=work, name=f"amlguard-{name}", daemon=True).start()


class Timers:
    """The loop: runs each job on its schedule (in the background, one run at a time, as Azure
    Functions skips a timer whose last run is still going), the alert tick when a group flush or
    an alert timer is due, and delivery alone when only messages are waiting.

    Only the configured `notifiers` wake the loop: messages and groups of receivers without
    settings wait for the alerts schedule. `start_job(name, work)` runs a job; the default is a
    daemon thread, so a long sweep never holds back a notice.
    """

    def __init__(self, alerts: AlertFacade, notifiers: Mapping[str, Notifier], jobs: Sequence[Job], *,
                 alerts_schedule: Schedule, clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 start_job: Callable[[str, Callable[[], None]], None] = _in_thread) -> None:
        self.alerts = alerts
        self.notifiers = notifiers
        self.jobs = list(jobs)
        self.alerts_schedule = alerts_schedule
        self.clock = clock
        self.start_job = start_job
        self._lock = threading.Lock()
        self._wakeup = threading.Event()
        self._stopped = threading.Event()
        self.thread: threading.Thread | None = None  # set by start_timers
        self._tick_at: datetime | None = clock()  # the first run delivers what a restart left queued
        self._deliver_at: datetime | None = None
        self._next_alerts_tick = alerts_schedule.next_after(clock())
        alerts.on_due = self.wake

    def wake(self, at: datetime, receiver: str | None = None, deliver_only: bool = False) -> None:
        """Run the alert tick (or only delivery) at `at`, or at once when that has passed, unless
        it runs sooner. Work for a receiver without a notifier wakes nobody."""
        if receiver is not None and receiver not in self.notifiers:
            return
        with self._lock:
            if deliver_only:
                if self._deliver_at is None or at < self._deliver_at:
                    self._deliver_at = at
            elif self._tick_at is None or at < self._tick_at:
                self._tick_at = at
            self._wakeup.set()

    def next_wake(self) -> datetime:
        """When the loop must run next: the earliest job, alerts schedule or alert work."""
        with self._lock:
            times = [job.next_at for job in self.jobs]
            times += [at for at in (self._next_alerts_tick, self._tick_at, self._deliver_at) if at is not None]
        return min(times)

    def run_due(self) -> datetime:
        """Start the jobs that are due, run the alert tick or delivery when due; returns the next
        wake time."""
        now = self.clock()
        for job in self.jobs:
            if job.next_at <= now:
                job.next_at = job.schedule.next_after(now)
                if job.running:  # the last run is still going: skip this occurrence
                    log.warning("%s timer skipped at %s: its previous run is still going", job.name, now)
                    continue
                job.running = True
                self.start_job(job.name, self._runner(job))
        with self._lock:
            tick = (self._tick_at is not None and self._tick_at <= now) or self._next_alerts_tick <= now
            deliver = tick or (self._deliver_at is not None and self._deliver_at <= now)
            if tick:
                self._tick_at = None
                if self._next_alerts_tick <= now:
                    self._next_alerts_tick = self.alerts_schedule.next_after(now)
            if deliver and self._deliver_at is not None and self._deliver_at <= now:
                self._deliver_at = None
        if deliver:
            try:
                if tick:
                    self.alerts.tick(now)
                self.alerts.deliver(self.notifiers, now=now)
                later = self.alerts.next_due(list(self.notifiers))
            except Exception:  # the loop must survive a bad run; the next one retries
                log.exception("alert tick failed")
                later = now + MIN_IDLE
            if later is not None:
                # work still due right after a run is stuck (a receiver inside its backoff window,
                # a lease held elsewhere): look again shortly rather than spin
                self.wake(later if later > now else now + MIN_IDLE)
        return self.next_wake()

    def _runner(self, job: Job) -> Callable[[], None]:
        def work() -> None:
            try:
                job.run()
            except Exception:  # a timer must survive a bad run; its next schedule retries
                log.exception("%s timer run failed", job.name)
            finally:
                job.running = False
                self._wakeup.set()  # its findings may have made alerts due

        return work

    def run(self) -> None:
        """Loop until `stop()`."""
        while not self._stopped.is_set():
            self._wakeup.clear()
            at = self.run_due()
            delay = (at - self.clock()).total_seconds()
            if delay > 0:
                self._wakeup.wait(min(delay, STOP_POLL_S))

    def stop(self, timeout: float = 5.0) -> None:
        """End the loop and wait for it (a running job finishes in its own thread)."""
        self._stopped.set()
        self._wakeup.set()
        if self.thread is not None:
            self.thread.join(timeout)


def build_timers(service: Service, settings: Settings) -> Timers:
    """The timers `amlguard serve` runs for `settings`: sweep on AMLGUARD_SWEEP_SCHEDULE (off when
    the sweep interval is 0), monitor rules on AMLGUARD_MONITOR_SCHEDULE (when there is Azure
    Monitor data to read), the alert tick on AMLGUARD_ALERTS_SCHEDULE and whenever it is due.
    Sweep and monitor also run once at start, as `serve` always did."""
    sweep = Schedule.parse("AMLGUARD_SWEEP_SCHEDULE", settings.sweep_schedule)
    monitor = Schedule.parse("AMLGUARD_MONITOR_SCHEDULE", settings.monitor_schedule)
    alerts = Schedule.parse("AMLGUARD_ALERTS_SCHEDULE", settings.alerts_schedule)
    now = datetime.now(UTC)
    jobs = []
    if settings.sweep_interval_seconds > 0:
        def run_sweep() -> None:
            log.info("sweep: %s", service.sweep().summary())

        jobs.append(Job("sweep", sweep, run_sweep, now))
    # A snapshot stands in for Azure, so there is no Azure Monitor to ask unless recorded data is
    # replayed; querying anyway would turn every monitor rule into an `error` alert.
    if not settings.snapshot or settings.monitor_example:
        def run_monitor() -> None:
            from amlguard import telemetry
            from amlguard.monitor.runner import run_monitors

            with telemetry.span("monitor"):
                log.info("monitor run: %s", run_monitors(service))

        jobs.append(Job("monitor", monitor, run_monitor, now))
    return Timers(service.alerts, service.notifiers, jobs, alerts_schedule=alerts)


def start_timers(service: Service, settings: Settings) -> Timers:
    """Check the schedules (a ConfigError names a bad one) and run the timers in a background
    thread until `stop()`: `amlguard serve`'s timer loop."""
    timers = build_timers(service, settings)
    timers.thread = threading.Thread(target=timers.run, name="amlguard-timers", daemon=True)
    timers.thread.start()
    return timers
