"""AlertManager over a real store (SQLite and Azurite): findings -> alerts -> grouped notifications."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from amlguard.alerts import AlertManager, alert_fingerprint
from amlguard.alerts.store import StateStore

from .conftest import T0, FakeClock, StoreFactory
from .fakes import Recorder, ep_id, finding, router, ws_id

CONTRACT_KEYS = ["fingerprint", "rule", "resource", "status", "severity", "since"]


def manager(store: StateStore, clock: FakeClock, **kwargs: object) -> AlertManager:
    kwargs.setdefault("router", router("team"))
    return AlertManager(store, clock=clock, random=lambda: 0.5, **kwargs)  # type: ignore[arg-type]


def test_failed_finding_fires_at_once_with_contract_shape(store: StateStore, clock: FakeClock) -> None:
    mgr = manager(store, clock)
    f = finding(tags={"owner team": "ml"}, changed_by={"upn": "dev@contoso.com"})
    transitions = mgr.process([f], audited=[f.resource])
    assert [(t.from_status, t.to_status, t.reason) for t in transitions] == [("inactive", "firing", "failed")]
    [alert] = mgr.list_alerts()
    assert list(alert)[:6] == CONTRACT_KEYS
    assert alert["fingerprint"] == alert_fingerprint("AMLG-NET-001", ep_id())
    assert (alert["status"], alert["severity"], alert["since"]) == ("firing", "high", T0.isoformat())
    assert alert["labels"]["workspace"] == "w1" and alert["labels"]["endpoint"] == "e1"
    assert alert["labels"]["tag_owner_team"] == "ml" and alert["labels"]["finding_status"] == "fail"
    assert alert["changed_by"] == {"upn": "dev@contoso.com"}
    assert alert["silenced_by"] == [] and alert["inhibited_by"] == [] and alert["acknowledged_by"] is None
    assert alert["recent_history"][0]["to"] == "firing"
    # the view is AlertView exactly: every Alert field (a field added to Alert must be added there),
    # then the stored state; `history` only where one alert is shown whole
    from dataclasses import fields

    from amlguard.alerts.types import Alert, AlertView

    assert list(alert) == [name for name in AlertView.__annotations__ if name != "history"]
    assert [f.name for f in fields(Alert)] == list(alert)[:len(fields(Alert))]
    assert alert["annotations"]["title"] == "title of AMLG-NET-001"


def test_processing_twice_changes_nothing(store: StateStore, clock: FakeClock) -> None:
    mgr = manager(store, clock)
    findings = [finding(), finding("AMLG-AUTH-001")]
    assert len(mgr.process(findings, audited=[ep_id()])) == 2
    before = (mgr.list_alerts(), mgr.outbox())
    assert mgr.process(findings, audited=[ep_id()]) == []
    assert (mgr.list_alerts(), mgr.outbox()) == before
    assert len(before[1]) == 2  # one notification per group (grouped by rule)


def test_for_keeps_alert_pending_until_tick(store: StateStore, clock: FakeClock) -> None:
    mgr = manager(store, clock)
    mgr.process([finding()], audited=[ep_id()], for_seconds={"AMLG-NET-001": 600})
    assert [a["status"] for a in mgr.list_alerts()] == ["pending"] and mgr.outbox() == []
    clock.advance(599)
    assert mgr.tick() == []
    clock.advance(1)
    [step] = mgr.tick()
    assert (step.from_status, step.to_status, step.reason) == ("pending", "firing", "failing for 600s")
    assert [n["reason"] for n in mgr.outbox()] == ["first"]


def test_compliant_or_missing_findings_resolve_only_audited_resources(store: StateStore, clock: FakeClock) -> None:
    mgr = manager(store, clock)
    mgr.process([finding(resource=ep_id("e1")), finding(resource=ep_id("e2")), finding("AMLG-AUTH-001")],
                audited=[ep_id("e1"), ep_id("e2")])
    clock.advance(60)
    # e1 passes NET-001; AUTH-001 (evaluated) gives e1 no finding this time; e2 was not audited.
    steps = mgr.process([finding(resource=ep_id("e1"), status="pass")], audited=[ep_id("e1")],
                        rules=["AMLG-NET-001", "AMLG-AUTH-001"])
    assert sorted((t.rule, t.to_status, t.reason) for t in steps) == [
        ("AMLG-AUTH-001", "resolved", "no finding"), ("AMLG-NET-001", "resolved", "pass")]
    status = {(a["rule"], a["resource"]): a["status"] for a in mgr.list_alerts()}
    assert status[("AMLG-NET-001", ep_id("e2"))] == "firing"
    assert mgr.list_alerts(include_resolved=False)[0]["resource"] == ep_id("e2")
    # exempt and not_applicable resolve too; an unknown pass is a no-op
    steps = mgr.process([finding(resource=ep_id("e2"), status="exempt"), finding(resource=ep_id("e9"), status="pass")])
    assert [(t.resource, t.reason) for t in steps] == [(ep_id("e2"), "exempt")]


def test_error_findings_fire_like_failures(store: StateStore, clock: FakeClock) -> None:
    mgr = manager(store, clock)
    [step] = mgr.process([finding(status="error")])
    assert step.to_status == "firing"
    assert mgr.list_alerts()[0]["labels"]["finding_status"] == "error"


def test_deleted_resource_resolves_despite_keep_firing_for(store: StateStore, clock: FakeClock) -> None:
    mgr = manager(store, clock)
    mgr.process([finding(), finding("AMLG-AUTH-001")], keep_firing_for={"AMLG-NET-001": 3600})
    clock.advance(5)
    steps = mgr.resolve_resource(ep_id().upper(), changed_by={"upn": "ops@contoso.com"})
    assert sorted((t.rule, t.reason) for t in steps) == [("AMLG-AUTH-001", "deleted"), ("AMLG-NET-001", "deleted")]
    assert {a["status"] for a in mgr.list_alerts()} == {"resolved"}
    assert mgr.list_alerts()[0]["changed_by"] == {"upn": "ops@contoso.com"}


def test_keep_firing_for_absorbs_flapping(store: StateStore, clock: FakeClock) -> None:
    mgr = manager(store, clock)
    keep = {"AMLG-NET-001": 600}
    mgr.process([finding()], keep_firing_for=keep)
    clock.advance(60)
    assert mgr.process([finding(status="pass")], keep_firing_for=keep) == []
    clock.advance(60)
    assert mgr.process([finding()], keep_firing_for=keep) == []
    clock.advance(60)
    mgr.process([finding(status="pass")], keep_firing_for=keep)
    clock.advance(539)  # 10 min after the condition last held (t=120) is t=720
    assert mgr.tick() == []
    clock.advance(1)
    [step] = mgr.tick()
    assert step.to_status == "resolved" and step.reason == "clear for keep_firing_for 600s"
    history = mgr.history(alert_fingerprint("AMLG-NET-001", ep_id()))
    assert [h["to"] for h in history] == ["firing", "resolved"]


def test_restart_changes_nothing(store_factory: StoreFactory, clock: FakeClock) -> None:
    first = store_factory()
    mgr = manager(first, clock)
    mgr.process([finding(), finding("AMLG-AUTH-001", status="pass")], for_seconds={"AMLG-NET-001": 300})
    clock.advance(300)
    mgr.tick()
    before = (mgr.list_alerts(), mgr.outbox(), mgr.list_silences())
    first.close()
    again = manager(store_factory(), clock)
    assert (again.list_alerts(), again.outbox(), again.list_silences()) == before
    assert again.tick() == [] and again.process([finding()]) == []
    assert again.outbox() == before[1]


def test_acknowledgement_is_recorded_cleared_by_refire_and_stops_repeats(store: StateStore,
                                                                         clock: FakeClock) -> None:
    mgr = manager(store, clock, router=router("team", repeat=3600, interval=300))
    rec = Recorder()
    mgr.process([finding()])
    fp = alert_fingerprint("AMLG-NET-001", ep_id())
    view = mgr.acknowledge(fp, "oncall@contoso.com", "looking")
    assert (view["acknowledged_by"], view["acknowledged_at"], view["user_state"]) == (
        "oncall@contoso.com", T0.isoformat(), "acknowledged")
    assert mgr.history(fp)[-1] == {"at": T0.isoformat(), "event": "acknowledged", "by": "oncall@contoso.com",
                                   "comment": "looking", "status": "firing"}
    for _ in range(24):  # two hours of group_interval ticks: the repeat is held back while acknowledged
        clock.advance(300)
        mgr.tick()
    mgr.deliver({"team": rec})
    assert [n.reason for n in rec.sent] == ["first"]
    mgr.process([finding(status="pass")])
    clock.advance(10)
    mgr.process([finding()])
    alert = mgr.get_alert(fp)
    assert alert is not None and alert["acknowledged_by"] is None and alert["user_state"] == "new"


def test_group_wait_interval_and_repeat(store: StateStore, clock: FakeClock) -> None:
    mgr = manager(store, clock, router=router("team", group_by=("workspace",), wait=30, interval=300,
                                              repeat=3600))
    rec = Recorder()

    def flush(seconds: float) -> list[tuple[str, str, list[tuple[str, str]]]]:
        clock.advance(seconds)
        mgr.tick()
        mgr.deliver({"team": rec})
        out = rec.summary()
        rec.sent.clear()
        return out

    mgr.process([finding(resource=ep_id("e1"))])
    clock.advance(10)
    mgr.process([finding(resource=ep_id("e2"))])
    assert flush(19) == []  # group_wait not over yet
    assert flush(1) == [("first", "firing", [("AMLG-NET-001@e1", "firing"), ("AMLG-NET-001@e2", "firing")])]
    mgr.process([finding(resource=ep_id("e3"))])
    assert flush(299) == []  # a newcomer waits for the group's next interval
    assert flush(1) == [("new_in_group", "firing", [("AMLG-NET-001@e1", "firing"), ("AMLG-NET-001@e2", "firing"),
                                                   ("AMLG-NET-001@e3", "firing")])]
    mgr.process([finding(resource=ep_id("e1"), status="pass")])
    assert flush(300) == [("resolved", "firing", [("AMLG-NET-001@e1", "resolved"), ("AMLG-NET-001@e2", "firing"),
                                                 ("AMLG-NET-001@e3", "firing")])]
    assert flush(300 * 11) == []  # 55 min since the last notification
    assert flush(300) == [("repeat", "firing", [("AMLG-NET-001@e2", "firing"), ("AMLG-NET-001@e3", "firing")])]
    mgr.process([finding(resource=ep_id("e2"), status="pass"), finding(resource=ep_id("e3"), status="pass")])
    assert flush(300) == [("all_resolved", "resolved", [("AMLG-NET-001@e2", "resolved"),
                                                       ("AMLG-NET-001@e3", "resolved")])]
    assert flush(3600 * 5) == []  # an idle group says nothing more
    mgr.process([finding(resource=ep_id("e1"))])
    assert flush(30) == [("first", "firing", [("AMLG-NET-001@e1", "firing")])]


def test_alert_resolving_within_group_wait_is_never_sent(store: StateStore, clock: FakeClock) -> None:
    mgr = manager(store, clock, router=router("team", wait=30))
    rec = Recorder()
    mgr.process([finding()])
    clock.advance(10)
    mgr.process([finding(status="pass")])
    clock.advance(30)
    mgr.tick()
    mgr.deliver({"team": rec})
    assert rec.sent == []


def test_send_resolved_false_sends_no_resolved_notice(store: StateStore, clock: FakeClock) -> None:
    mgr = manager(store, clock, router=router("team", send_resolved=False))
    rec = Recorder()
    mgr.process([finding()])
    clock.advance(300)
    mgr.process([finding(status="pass")])
    clock.advance(300)
    mgr.tick()
    mgr.deliver({"team": rec})
    assert [n.reason for n in rec.sent] == ["first"]


def test_each_receiver_gets_its_own_copy(store: StateStore, clock: FakeClock) -> None:
    mgr = manager(store, clock, router=router("a", "b"))
    a, b = Recorder("a"), Recorder("b")
    mgr.process([finding()])
    stats = mgr.deliver({"a": a, "b": b})
    assert stats.delivered == 2 and len(a.sent) == len(b.sent) == 1
    assert a.sent[0].idempotency_key != b.sent[0].idempotency_key
    log = mgr.notification_log()
    assert sorted(e["receiver"] for e in log) == ["a", "b"]
    assert {e["reason"] for e in log} == {"first"} and log[0]["rules"] == ["AMLG-NET-001"]


def test_silence_mutes_but_resolved_notice_still_goes_out(store: StateStore, clock: FakeClock) -> None:
    """Alertmanager #226: a silenced alert that was notified firing still gets its resolved notice."""
    mgr = manager(store, clock)
    rec = Recorder()
    mgr.process([finding(resource=ep_id("e1"))])
    mgr.deliver({"team": rec})
    mgr.add_silence(['endpoint=~"e.*"'], ends_at=T0 + timedelta(hours=2), created_by="ops", comment="maint")
    clock.advance(60)
    mgr.process([finding(resource=ep_id("e2"))])  # silenced from the start
    [e2] = [a for a in mgr.list_alerts() if a["resource"] == ep_id("e2")]
    assert e2["silenced_by"] and e2["muted"] is True
    clock.advance(300)
    mgr.tick()
    mgr.deliver({"team": rec})
    assert [n.reason for n in rec.sent] == ["first"]  # e2 muted: nothing new
    mgr.process([finding(resource=ep_id("e1"), status="pass"), finding(resource=ep_id("e2"), status="pass")])
    clock.advance(300)
    mgr.tick()
    mgr.deliver({"team": rec})
    assert rec.summary()[1:] == [("all_resolved", "resolved", [("AMLG-NET-001@e1", "resolved")])]
    assert rec.sent[1].alerts[0].silenced_by  # the notice says it was silenced


def test_silence_expiry_lets_notifications_through(store: StateStore, clock: FakeClock) -> None:
    mgr = manager(store, clock)
    rec = Recorder()
    sid = mgr.add_silence(['rule="AMLG-NET-001"'], ends_at=T0 + timedelta(minutes=10), created_by="ops",
                          comment="deploying")
    mgr.process([finding()])
    mgr.deliver({"team": rec})
    assert rec.sent == []
    clock.advance(300)
    mgr.expire_silence(sid, by="ops")
    clock.advance(300)
    mgr.tick()
    mgr.deliver({"team": rec})
    assert [n.reason for n in rec.sent] == ["first"]


def test_workspace_alert_inhibits_its_endpoints(store: StateStore, clock: FakeClock) -> None:
    rules = [{"source_matchers": ['rule="AMLG-NET-003"'], "target_matchers": ['rule=~"AMLG-NET-00[12]"'],
              "equal": ["workspace"]}]
    mgr = manager(store, clock, inhibit_rules=rules)
    rec = Recorder()
    mgr.process([finding("AMLG-NET-003", resource=ws_id("w1"), severity="critical"),
                 finding(resource=ep_id("e1", "w1")), finding(resource=ep_id("e2", "w2"))])
    mgr.deliver({"team": rec})
    ws_fp = alert_fingerprint("AMLG-NET-003", ws_id("w1"))
    by_resource = {a["resource"]: a for a in mgr.list_alerts()}
    assert by_resource[ep_id("e1", "w1")]["inhibited_by"] == [ws_fp]
    assert by_resource[ep_id("e2", "w2")]["inhibited_by"] == []
    assert by_resource[ws_id("w1")]["inhibited_by"] == []
    sent = {(a.rule, a.resource) for n in rec.sent for a in n.alerts}
    assert (("AMLG-NET-001", ep_id("e1", "w1")) not in sent and ("AMLG-NET-001", ep_id("e2", "w2")) in sent
            and ("AMLG-NET-003", ws_id("w1")) in sent)
    # the workspace is fixed: its endpoint alert is no longer inhibited and goes out
    clock.advance(60)
    mgr.process([finding("AMLG-NET-003", resource=ws_id("w1"), status="pass")])
    clock.advance(300)
    mgr.tick()
    mgr.deliver({"team": rec})
    assert any(a.resource == ep_id("e1", "w1") for a in rec.sent[-1].alerts)


def test_concurrent_managers_do_not_duplicate(store_factory: StoreFactory, clock: FakeClock) -> None:
    """Two instances (threads, separate connections / clients) process the same event at once."""
    stores = [store_factory(), store_factory()]
    findings = [finding(resource=ep_id(f"e{i}")) for i in range(5)]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run(store: StateStore) -> None:
        try:
            mgr = manager(store, clock)
            barrier.wait()
            mgr.process(findings, audited=[f.resource for f in findings])
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    mgr = manager(stores[0], clock)
    alerts = mgr.list_alerts()
    assert len(alerts) == 5 and all(len(a["recent_history"]) == 1 for a in alerts)
    rec = Recorder()
    mgr.deliver({"team": rec})
    assert [n.reason for n in rec.sent] == ["first"] and len(rec.sent[0].alerts) == 5


def test_a_large_sweep_scans_once_and_behaves_the_same(store: StateStore, clock: FakeClock) -> None:
    mgr = manager(store, clock)
    rec = Recorder()
    resources = [ep_id(f"e{i}") for i in range(70)]
    failing = [finding(resource=r) for r in resources[:55]]  # one group of 55: flushed from a snapshot
    passing = [finding(resource=r, status="pass") for r in resources[55:]]
    assert len(mgr.process(failing + passing, audited=resources)) == 55
    assert mgr.process(failing + passing, audited=resources) == []
    clock.advance(60)
    # e0 passes now, e1 gives no finding, the rest keep failing
    steps = mgr.process([finding(resource=resources[0], status="pass"), *failing[2:], *passing],
                        audited=resources)
    assert sorted((t.resource.rsplit("/", 1)[-1], t.reason) for t in steps) == [("e0", "pass"), ("e1", "no finding")]
    assert len(mgr.list_alerts(status="firing")) == 53
    clock.advance(240)
    mgr.tick()
    mgr.deliver({"team": rec})
    # 55 alerts go out as two parts of one message each time (50 + 5)
    assert [(n.reason, len(n.alerts)) for n in rec.sent] == [("first", 50), ("first", 5), ("resolved", 50),
                                                             ("resolved", 5)]
    assert sorted(a.status for n in rec.sent[2:] for a in n.alerts)[-2:] == ["resolved", "resolved"]


def test_refailing_with_for_before_the_flush_still_sends_the_resolved_notice(store: StateStore,
                                                                            clock: FakeClock) -> None:
    mgr = manager(store, clock, router=router("team", interval=300))
    rec = Recorder()
    mgr.process([finding()])
    mgr.deliver({"team": rec})
    clock.advance(60)
    mgr.process([finding(status="pass")])
    clock.advance(60)
    mgr.process([finding()], for_seconds={"AMLG-NET-001": 3600})  # pending again, before the group's tick
    clock.advance(180)
    mgr.tick()
    mgr.deliver({"team": rec})
    assert [(n.reason, n.status, [a.status for a in n.alerts]) for n in rec.sent] == [
        ("first", "firing", ["firing"]), ("all_resolved", "resolved", ["resolved"])]
    assert [a["status"] for a in mgr.list_alerts()] == ["pending"] and mgr.outbox() == []


def test_housekeeping_forgets_old_state_hourly(store: StateStore, clock: FakeClock) -> None:
    mgr = manager(store, clock)
    store.mark_event_seen("evt", clock.now)
    mgr.process([finding()])
    mgr.deliver({"team": Recorder()})
    sid = mgr.add_silence(['rule="X"'], ends_at=clock.now + timedelta(hours=1), created_by="a", comment="c")
    clock.advance(1)
    mgr.process([finding(status="pass")])
    mgr.tick()
    assert store.mark_event_seen("evt") is False
    clock.advance(31 * 86400)
    mgr.tick()
    assert mgr.list_alerts() == [] and mgr.list_silences() == [] and mgr.notification_log() == []
    assert store.mark_event_seen("evt") is True
    assert sid not in {s["id"] for s in mgr.list_silences()}


def test_rules_not_evaluated_keep_their_alerts(store: StateStore, clock: FakeClock) -> None:
    """A policy sweep must not resolve monitor alerts (latency, drift) of the resources it audits."""
    mgr = manager(store, clock)
    mgr.process([finding("AMLG-MON-LAT-001"), finding("AMLG-NET-001")])
    clock.advance(60)
    steps = mgr.process([finding("AMLG-NET-001", status="pass"), finding("AMLG-AUTH-001", status="pass")],
                        audited=[ep_id()])  # evaluated rules default to those with findings
    assert [(t.rule, t.to_status) for t in steps] == [("AMLG-NET-001", "resolved")]
    assert mgr.process([], audited=[ep_id()]) == []  # nothing evaluated: nothing resolves by absence
    [step] = mgr.process([], audited=[ep_id()], rules=["AMLG-MON-LAT-001"])
    assert (step.rule, step.reason) == ("AMLG-MON-LAT-001", "no finding")


def test_a_huge_group_is_sent_in_ordered_parts(store: StateStore, clock: FakeClock) -> None:
    mgr = manager(store, clock)
    rec = Recorder()
    mgr.process([finding(resource=ep_id(f"e{i:03d}")) for i in range(120)])
    assert mgr.deliver({"team": rec}).delivered == 3
    assert [len(n.alerts) for n in rec.sent] == [50, 50, 20]
    keys = [n.idempotency_key for n in rec.sent]
    assert keys == sorted(keys) and len({k[:32] for k in keys}) == 1  # one flush, parts in order
    assert {n.reason for n in rec.sent} == {"first"}


def test_close_stops_repeats_keeps_resolved_notice_and_reopens_on_refire(store: StateStore,
                                                                         clock: FakeClock) -> None:
    mgr = manager(store, clock, router=router("team", repeat=600, interval=300))
    rec = Recorder()
    mgr.process([finding()])
    fp = alert_fingerprint("AMLG-NET-001", ep_id())
    view = mgr.close(fp, "lead@contoso.com", "accepted risk until the VNet migration")
    assert (view["user_state"], view["closed_by"], view["closed_at"]) == ("closed", "lead@contoso.com",
                                                                         T0.isoformat())
    for _ in range(4):
        clock.advance(300)
        mgr.tick()
    assert [a["user_state"] for a in mgr.list_alerts()] == ["closed"]
    mgr.process([finding(status="pass")])
    clock.advance(300)
    mgr.tick()
    mgr.deliver({"team": rec})
    assert [n.reason for n in rec.sent] == ["first", "all_resolved"]
    clock.advance(10)
    mgr.process([finding()])
    alert = mgr.get_alert(fp)
    assert alert is not None and (alert["user_state"], alert["closed_by"]) == ("new", None)
    assert [h.get("event") for h in alert["history"]] == ["transition", "closed", "transition", "transition"]


def test_a_group_over_the_flush_cap_sends_the_rest_at_the_next_flushes(store: StateStore, clock: FakeClock,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from amlguard.alerts import dedup

    monkeypatch.setattr(dedup, "MAX_PARTS", 2)  # a flush carries at most 2 x 50 alerts
    mgr = manager(store, clock, router=router("team", interval=300))
    rec = Recorder()
    resources = [ep_id(f"e{i:03d}") for i in range(130)]
    mgr.process([finding(resource=r) for r in resources], audited=resources)
    mgr.deliver({"team": rec})
    first = [a.resource for n in rec.sent for a in n.alerts]
    assert len(first) == 100 and {n.truncated for n in rec.sent} == {30}
    clock.advance(300)
    mgr.tick()
    mgr.deliver({"team": rec})
    second = rec.sent[2:]
    # the 30 receivers have not heard of go first; the message carries the whole group again
    assert [n.reason for n in second] == ["new_in_group", "new_in_group"] and {n.truncated for n in second} == {30}
    sent_now = [a.resource for n in second for a in n.alerts]
    assert set(sent_now[:30]) == set(resources) - set(first)
    assert set(first) | set(sent_now) == set(resources)  # every alert reached the receiver
    # all resolve at once: 130 resolved notices over two flushes, none dropped
    clock.advance(60)
    mgr.process([finding(resource=r, status="pass") for r in resources], audited=resources)
    for _ in range(3):
        clock.advance(300)
        mgr.tick()
    mgr.deliver({"team": rec})
    resolved = [a.resource for n in rec.sent[4:] for a in n.alerts if a.status == "resolved"]
    assert sorted(resolved) == sorted(resources) and len(resolved) == 130
    assert mgr.tick() == [] and store.list_groups()[0].body["members"] == []


def test_a_receiver_that_loses_its_settings_gets_no_more_messages(store: StateStore, clock: FakeClock) -> None:
    """Its groups stay (they resume when it is configured again) but flush nothing meanwhile."""
    from pathlib import Path

    from amlguard.alerts.config import load_alerting

    config = load_alerting(Path(__file__).resolve().parents[2] / "policies" / "alerting.yaml")
    before = AlertManager(store, config=config.with_receivers({"teams", "eventgrid"}), clock=clock)
    before.process([finding(severity="high")])
    clock.advance(60)
    before.tick()
    assert before.deliver({"teams": Recorder("teams"), "eventgrid": Recorder("eventgrid")}).delivered == 2
    after = AlertManager(store, config=config.with_receivers({"eventgrid"}), clock=clock)  # TEAMS_WEBHOOK_URL unset
    clock.advance(2 * 3600)  # past teams' repeat_interval (1h)
    after.tick()
    assert after.outbox("teams") == []
