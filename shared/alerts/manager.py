"""AlertManager: the facade the service, the API and the CLI use over the alert pipeline stages
(observe -> grouping -> dedup -> outbox, then views; docs/alerts.md); `on_due` tells a scheduler when."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from amlguard.alerts.dedup import Flusher, due_at
from amlguard.alerts.grouping import Grouper, Router, RoutingConfig, router_from_config
from amlguard.alerts.inhibit import InhibitRule, parse_inhibit_rules
from amlguard.alerts.lifecycle import Transition
from amlguard.alerts.mute import MuteContext
from amlguard.alerts.observe import Observation, Observer, alert_fingerprint, alert_labels
from amlguard.alerts.outbox import DeliveryStats, RetryPolicy, cap_findings
from amlguard.alerts.outbox import deliver as _deliver
from amlguard.alerts.protocols import DueListener
from amlguard.alerts.records import to_utc
from amlguard.alerts.silences import MatcherInput, add_silence, edit_silence, expire_silence, list_silences
from amlguard.alerts.store import StateStore
from amlguard.alerts.types import AlertView, Notifier
from amlguard.alerts.views import Views, housekeeping, housekeeping_due
from amlguard.errors import ConfigError
from amlguard.model import Finding

__all__ = ["AlertManager", "alert_fingerprint", "alert_labels"]


class AlertManager:
    """The alert state core: process findings, advance timers, notify through the outbox.

    `config` is an AlertingConfig (its `route(labels)` gives the receivers, its `inhibit_rules`
    the inhibition rules); `router` and `inhibit_rules` override it. Without either, alerts are
    tracked but nothing is routed. `clock` and `random` are injectable for tests. `on_due(at,
    receiver, deliver_only)`, when set, hears each time a write makes work due at `at`: a group
    flush or an alert timer (`tick`), or a receiver's messages ready to send (`deliver_only`).
    """

    def __init__(self, store: StateStore, *, config: RoutingConfig | None = None,
                 clock: Callable[[], datetime] | None = None, router: Router | None = None,
                 inhibit_rules: Iterable[InhibitRule | Mapping[str, Any]] | None = None,
                 random: Callable[[], float] | None = None, retry_policy: RetryPolicy | None = None) -> None:
        self.store = store
        self.config = config
        self.clock = clock or (lambda: datetime.now(UTC))
        self.on_due: DueListener | None = None
        rules = inhibit_rules if inhibit_rules is not None else getattr(config, "inhibit_rules", None)
        try:
            self.inhibit_rules = parse_inhibit_rules(list(rules or []))
        except ValueError as exc:
            where = getattr(config, "file", None) or "policies/alerting.yaml"
            raise ConfigError(f"{where}: {exc}; fix that inhibit rule and reload") from exc
        self.random = random
        self.retry_policy = retry_policy or RetryPolicy()
        self._scanned = False  # the first tick scans every alert (see tick)
        self.observer = Observer(store, on_timer=self._due)
        self.grouper = Grouper(store, router or router_from_config(config), self._context, on_scheduled=self._due)
        self.flusher = Flusher(store, self._context, on_enqueued=self._due,
                               receivers=getattr(config, "configured", None))
        self.views = Views(store, self._context)

    def _now(self, now: datetime | None) -> datetime:
        return to_utc(now or self.clock())

    def _context(self, now: datetime, **kwargs: Any) -> MuteContext:
        return MuteContext(self.store, self.inhibit_rules, now, **kwargs)

    def _due(self, at: datetime, receiver: str | None = None, deliver_only: bool = False) -> None:
        if self.on_due is not None:
            self.on_due(at, receiver, deliver_only)

    def _route(self, observed: Observation, now: datetime) -> list[Transition]:
        """Write the alerts, tell their groups, then record in each alert that they were told.

        In that order a flush on another thread or instance can only read a state its group was
        told or is about to be told (and a telling always writes the group, so a flush that read
        the state before loses its ETag race); a crash before the last step leaves the alert in the
        timer index, and the next tick tells the groups again (a no-op if they heard). A change a
        crash kept from the groups goes first, so its notice is not lost under the one that follows."""
        self.grouper.route(observed.unrouted, now)
        written = self.observer.commit(observed, now)
        self.grouper.route(written, now)
        self.observer.mark_routed(written)
        return observed.transitions

    # -- the pipeline ----------------------------------------------------------------------------

    def process(self, findings: Iterable[Finding], *, audited: Iterable[str] = (), now: datetime | None = None,
                changed_by: dict[str, Any] | None = None, for_seconds: Mapping[str, float] | None = None,
                keep_firing_for: Mapping[str, float] | None = None,
                rules: Iterable[str] | None = None) -> list[Transition]:
        """Apply one audit's findings; returns the transitions it caused (idempotent).

        fail/error findings open or keep an alert; pass/not_applicable/exempt resolve it; an open
        alert of a resource in `audited` whose rule was evaluated (`rules`; by default the rules
        that produced any finding in this call) but gave that resource no finding resolves too.
        Alerts of other rules (monitor rules during a policy sweep) are left alone.
        `for_seconds` and `keep_firing_for` map rule id -> seconds (default 0: fire at once,
        resolve at once). Groups due now (group_wait 0) are flushed to the outbox before returning.
        """
        now = self._now(now)
        observed = self.observer.findings(findings, audited=audited, now=now, changed_by=changed_by,
                                          for_seconds=dict(for_seconds or {}),
                                          keep_firing_for=dict(keep_firing_for or {}), rules=rules)
        return self._route(observed, now)

    def resolve_resource(self, resource_id: str, *, now: datetime | None = None, reason: str = "deleted",
                         changed_by: dict[str, Any] | None = None) -> list[Transition]:
        """Resolve every open alert of a resource at once (it was deleted): no hysteresis."""
        now = self._now(now)
        return self._route(self.observer.resolve_resource(resource_id, now=now, reason=reason,
                                                          changed_by=changed_by), now)

    def tick(self, now: datetime | None = None) -> list[Transition]:
        """Advance timers: pending -> firing after `for`, keep_firing_for expiry, unfinished routing,
        group flushes (group_wait / group_interval / repeat_interval), and hourly housekeeping.

        Only alerts in the store's timer index are read, so a tick costs what is due, not what is
        stored; the first tick of a manager and hourly housekeeping scan everything, which also
        repairs the index of a store written before the alert and its timer row went in one batch.
        """
        now = self._now(now)
        scan_all = not self._scanned or housekeeping_due(self.store, now)
        self._scanned = True
        transitions = self._route(self.observer.timers(now, scan_all=scan_all), now)
        self.flusher.flush_due(now)
        housekeeping(self.store, now)
        return transitions

    def deliver(self, notifiers: Mapping[str, Notifier], *, now: datetime | None = None,
                max_items: int = 500) -> DeliveryStats:
        """Drain the outbox through `notifiers` (receiver name -> Notifier); see amlguard.alerts.outbox.
        A receiver reaching its outbox or dead-letter cap fires an AMLG-OUTBOX-FULL alert."""
        now = self._now(now)
        stats = _deliver(self.store, notifiers, now=now, rand=self.random, policy=self.retry_policy,
                         max_items=max_items)
        if stats.full or stats.drained:
            self.process(cap_findings(stats), now=now)
        return stats

    def next_due(self, receivers: Collection[str] | None = None) -> datetime | None:
        """When `tick` + `deliver` next have work: the earliest alert timer, or group flush or
        outbox message of `receivers` (default: every receiver); None when nothing waits."""
        times = self.store.timer_times()
        for name in self.store.receivers() if receivers is None else receivers:
            times += [at for doc in self.store.list_groups(name) if (at := due_at(doc.body)) is not None]
            times += self.store.outbox_times(name)
        return min(times, default=None)

    # -- operators: outbox and log ---------------------------------------------------------------

    def outbox(self, receiver: str | None = None) -> list[dict[str, Any]]:
        """Queued and dead-lettered messages (oldest first per receiver), for operators."""
        return self.views.outbox(receiver)

    def notification_log(self, limit: int = 100) -> list[dict[str, Any]]:
        """Delivered (and dead-lettered) notifications, newest first, each with its reason."""
        return self.store.notification_log(limit)

    # -- views -----------------------------------------------------------------------------------

    def list_alerts(self, *, status: str | None = None, include_resolved: bool = True,
                    now: datetime | None = None) -> list[AlertView]:
        """Alerts as JSON-ready dicts (contract 5 keys first), firing first, then by severity."""
        return self.views.list_alerts(self._now(now), status=status, include_resolved=include_resolved)

    def get_alert(self, fp: str, *, now: datetime | None = None) -> AlertView | None:
        """One alert as in `list_alerts`, with its full history."""
        return self.views.get_alert(fp, self._now(now))

    def history(self, fp: str) -> list[dict[str, Any]]:
        """Every recorded transition and acknowledgement of one alert, oldest first."""
        stored = self.store.get_alert(fp)
        return [] if stored is None else list(stored.history)

    # -- people: acknowledgement and silences ---------------------------------------------------

    def acknowledge(self, fp: str, by: str, comment: str | None = None, *,
                    now: datetime | None = None) -> AlertView:
        """Record that `by` is handling the alert (Azure's New -> Acknowledged). Cleared by a re-fire."""
        return self.views.set_user_state(fp, "acknowledged", by, comment, self._now(now))

    def close(self, fp: str, by: str, comment: str | None = None, *,
              now: datetime | None = None) -> AlertView:
        """Azure's user state Closed: a person says it is dealt with (e.g. an accepted risk). Repeats
        stop; the monitor condition is untouched (resolved notices still go out); a re-fire reopens."""
        return self.views.set_user_state(fp, "closed", by, comment, self._now(now))

    def add_silence(self, matchers: Iterable[MatcherInput], *, ends_at: datetime, created_by: str, comment: str,
                    starts_at: datetime | None = None, now: datetime | None = None) -> str:
        """Create a silence (matchers like `rule="AMLG-NET-001"`); returns its id."""
        return add_silence(self.store, matchers, ends_at=ends_at, created_by=created_by, comment=comment,
                           starts_at=starts_at, now=self._now(now)).id

    def edit_silence(self, silence_id: str, *, by: str, matchers: Iterable[MatcherInput] | None = None,
                     ends_at: datetime | None = None, starts_at: datetime | None = None,
                     comment: str | None = None, now: datetime | None = None) -> str:
        """Change a silence; a started one is replaced by a new id (returned), history kept."""
        return edit_silence(self.store, silence_id, now=self._now(now), by=by, matchers=matchers,
                            ends_at=ends_at, starts_at=starts_at, comment=comment).id

    def expire_silence(self, silence_id: str, *, by: str | None = None,
                       now: datetime | None = None) -> dict[str, Any]:
        """End a silence now (idempotent)."""
        now = self._now(now)
        return expire_silence(self.store, silence_id, now=now, by=by).to_json(now)

    def list_silences(self, *, include_expired: bool = True, now: datetime | None = None) -> list[dict[str, Any]]:
        """Silences, newest first, each with its `status` (pending/active/expired)."""
        now = self._now(now)
        return [s.to_json(now) for s in list_silences(self.store, now=now, include_expired=include_expired)]
