"""Contract tests every state-store backend passes (SQLite and Azure Table storage via Azurite)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from amlguard.alerts.records import Op
from amlguard.alerts.store import Conflict, StateStore, StoredAlert, open_store
from amlguard.alerts.types import Alert, Notification
from amlguard.errors import ConfigError

from .conftest import T0, StoreFactory

RID = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/w1"


def _alert(fp: str = "fp1", status: str = "firing") -> StoredAlert:
    return StoredAlert(Alert(fingerprint=fp, rule="AMLG-NET-001", resource=RID, status=status, severity="high",
                             since=T0, labels={"rule": "AMLG-NET-001", "workspace": "w1"},
                             annotations={"message": "x" * 70_000}))  # larger than one Table property


def test_mark_event_seen_is_true_once(store: StateStore) -> None:
    assert store.mark_event_seen("evt-1", T0) is True
    assert store.mark_event_seen("evt-1", T0) is False
    assert store.mark_event_seen("evt/2#?", T0) is True  # characters Table keys refuse


def test_mark_event_seen_is_atomic_under_threads(store: StateStore) -> None:
    results: list[bool] = []
    barrier = threading.Barrier(4)

    def worker() -> None:
        barrier.wait()
        results.append(store.mark_event_seen("same-event", T0))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False, False, False, True]


def test_prune_events_forgets_only_old_ids(store: StateStore) -> None:
    store.mark_event_seen("old", T0)
    store.mark_event_seen("new", T0 + timedelta(days=3))
    assert store.prune_events(T0 + timedelta(days=1)) == 1
    assert store.mark_event_seen("old", T0) is True
    assert store.mark_event_seen("new", T0) is False


def test_last_audit_never_moves_backwards(store: StateStore) -> None:
    assert store.last_audit(RID) is None
    store.record_audit(RID, T0 + timedelta(minutes=5), {"failed": 1})
    store.record_audit(RID.upper(), T0, {"failed": 9})  # older (and ARM ids are case-insensitive)
    assert store.last_audit(RID) == T0 + timedelta(minutes=5)
    [record] = store.audit_records(RID)
    assert record["summary"] == {"failed": 1}


def test_runs_are_newest_first_and_filterable(store: StateStore) -> None:
    for i in range(3):
        store.record_run("sweep", T0 + timedelta(hours=i), {"failed": i})
    store.record_run("event", T0 + timedelta(hours=5), {"failed": 7})
    assert [r["summary"]["failed"] for r in store.runs(10)] == [7, 2, 1, 0]
    assert [r["summary"]["failed"] for r in store.runs(2, kind="sweep")] == [2, 1]
    assert store.runs(1)[0]["at"] == (T0 + timedelta(hours=5)).isoformat()


def test_runs_of_one_kind_do_not_page_through_the_others(store: StateStore, monkeypatch: pytest.MonkeyPatch) -> None:
    store.record_run("sweep", T0, {"failed": 1})
    for minute in range(1, 61):  # an hour of five-minute monitor runs after the sweep
        store.record_run("monitor", T0 + timedelta(minutes=minute), {"failed": 0})
    read: list[str] = []
    query = store.backend.query

    def counting_query(pk: str, *args: Any, **kwargs: Any) -> Any:
        docs = query(pk, *args, **kwargs)
        read.extend(doc.rk for doc in docs)
        return docs

    monkeypatch.setattr(store.backend, "query", counting_query)
    assert [r["summary"] for r in store.runs(5, kind="sweep")] == [{"failed": 1}]
    assert len(read) == 1


def test_alert_insert_get_and_etag_conflicts(store: StateStore) -> None:
    saved = store.save_alert(_alert())
    again = store.get_alert("fp1")
    assert again is not None and again.alert == saved.alert and len(again.alert.annotations["message"]) == 70_000
    with pytest.raises(Conflict):
        store.save_alert(_alert())  # insert of an existing fingerprint
    stale = store.get_alert("fp1")
    assert stale is not None
    again.alert.status = "resolved"
    store.save_alert(again)
    stale.alert.status = "pending"
    with pytest.raises(Conflict):
        store.save_alert(stale)
    current = store.get_alert("fp1")
    assert current is not None and current.alert.status == "resolved"
    assert [s.alert.fingerprint for s in store.list_alerts()] == ["fp1"]
    store.delete_alert("fp1")
    assert store.get_alert("fp1") is None


def test_history_is_capped(store: StateStore) -> None:
    stored = _alert()
    stored.history = [{"at": T0.isoformat(), "event": "transition", "n": i} for i in range(600)]
    store.save_alert(stored)
    loaded = store.get_alert("fp1")
    assert loaded is not None and len(loaded.history) == 500 and loaded.history[-1]["n"] == 599


def _note(receiver: str, at: datetime, key: str, store: StateStore) -> Notification:
    return Notification(id=store.outbox_row(at, key), receiver=receiver, group_key="g", group_labels={},
                        reason="first", status="firing", alerts=[_alert().alert], created_at=at,
                        idempotency_key=key)


def test_group_write_and_outbox_commit_together(store: StateStore) -> None:
    store.save_group("team/a", "g", {"receiver": "team/a", "group_key": "g", "members": ["fp1"]}, etag=None)
    doc = store.get_group("team/a", "g")
    assert doc is not None
    note = _note("team/a", T0, "k" * 32, store)
    store.save_group("team/a", "g", {**doc.body, "members": []}, etag=doc.etag, outbox=note)
    assert [d.body["notification"]["idempotency_key"] for d in store.outbox("team/a")] == ["k" * 32]
    # A stale ETag fails the whole batch: neither the group nor a second message is written.
    second = _note("team/a", T0 + timedelta(seconds=1), "m" * 32, store)
    with pytest.raises(Conflict):
        store.save_group("team/a", "g", {**doc.body, "members": ["x"]}, etag=doc.etag, outbox=second)
    assert len(store.outbox("team/a")) == 1
    current = store.get_group("team/a", "g")
    assert current is not None and current.body["members"] == []
    assert store.receivers() == ["team/a"]
    assert [g.body["group_key"] for g in store.list_groups()] == ["g"]


def test_outbox_reads_in_creation_order(store: StateStore) -> None:
    store.save_group("r", "g", {"receiver": "r", "group_key": "g"}, etag=None)
    for i in (3, 1, 2):
        doc = store.get_group("r", "g")
        assert doc is not None
        store.save_group("r", "g", {**doc.body, "n": i}, etag=doc.etag,
                         outbox=_note("r", T0 + timedelta(seconds=i), f"{i}" * 32, store))
    assert [d.body["notification"]["idempotency_key"][0] for d in store.outbox("r")] == ["1", "2", "3"]


def test_notification_log_newest_first(store: StateStore) -> None:
    for i in range(3):
        store.log_notification({"id": f"n{i}", "created_at": (T0 + timedelta(minutes=i)).isoformat()},
                               T0 + timedelta(minutes=i))
    store.log_notification({"id": "n0", "created_at": T0.isoformat(), "outcome": "again"}, T0)
    log = store.notification_log(10)
    assert [e["id"] for e in log] == ["n2", "n1", "n0"] and log[-1]["outcome"] == "again"


def test_reopening_the_store_keeps_everything(store_factory: StoreFactory) -> None:
    first = store_factory()
    first.save_alert(_alert())
    first.mark_event_seen("e1", T0)
    first.record_audit(RID, T0)
    first.put_silence("s1", {"id": "s1"})
    first.close()
    second = store_factory()
    loaded = second.get_alert("fp1")
    assert loaded is not None and loaded.alert.status == "firing"
    assert second.mark_event_seen("e1", T0) is False
    assert second.last_audit(RID) == T0
    assert [d.rk for d in second.list_silence_docs()] == ["s1"]


def test_naive_datetimes_are_taken_as_utc(store: StateStore) -> None:
    store.record_audit(RID, datetime(2026, 3, 1, 12, 0))
    assert store.last_audit(RID) == datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_open_store_defaults_and_errors(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    for name in ("AMLGUARD_STATE_BACKEND", "AMLGUARD_STATE_CONNECTION", "AMLGUARD_STATE_TABLE_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    with open_store() as store:
        assert (tmp_path / ".amlguard" / "amlguard.db").exists()
        assert store.description.startswith("sqlite:")
    with pytest.raises(ConfigError, match="AMLGUARD_STATE_TABLE_ENDPOINT"):
        open_store(backend="table")
    with pytest.raises(ConfigError, match="unknown state backend"):
        open_store(settings={"AMLGUARD_STATE_BACKEND": "redis"})
    with pytest.raises(ConfigError, match="not a valid table name"):
        open_store(backend="table", settings={"AMLGUARD_STATE_CONNECTION": "UseDevelopmentStorage=true",
                                              "AMLGUARD_STATE_TABLE_PREFIX": "bad-name"})


def test_alerts_for_resource_uses_the_index(store: StateStore) -> None:
    store.save_alert(_alert("fp1"))
    other = _alert("fp2")
    other.alert.resource = RID + "/onlineEndpoints/e1"
    store.save_alert(other)
    assert [s.alert.fingerprint for s in store.alerts_for_resource(RID.upper())] == ["fp1"]
    store.delete_alert("fp1")
    assert store.alerts_for_resource(RID) == []


def test_prune_history_drops_only_old_log_entries_and_runs(store: StateStore) -> None:
    for days in (0, 10, 40):
        at = T0 - timedelta(days=days)
        store.log_notification({"id": f"n{days}", "created_at": at.isoformat()}, at)
        store.record_run("sweep", at, {"days": days})
    assert store.prune_history(log_before=T0 - timedelta(days=30), runs_before=T0 - timedelta(days=5)) == 3
    assert [e["id"] for e in store.notification_log()] == ["n0", "n10"]
    assert [r["summary"]["days"] for r in store.runs()] == [0]
    assert [r["summary"]["days"] for r in store.runs(kind="sweep")] == [0]  # the kind's copy went too


def test_table_falls_back_to_the_function_apps_storage_account(monkeypatch: pytest.MonkeyPatch) -> None:
    from amlguard.alerts import store_table

    seen: list[tuple[str, str]] = []

    def fake(endpoint: str, table: str) -> object:
        seen.append((endpoint, table))
        raise RuntimeError("stop here")

    monkeypatch.setattr(store_table.TableBackend, "from_endpoint", staticmethod(fake))
    for name in ("AMLGUARD_STATE_CONNECTION", "AMLGUARD_STATE_TABLE_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(RuntimeError, match="stop here"):
        open_store(backend="table", settings={"AzureWebJobsStorage__accountName": "stfuncapp"})
    assert seen == [("https://stfuncapp.table.core.windows.net", "amlguard")]


def test_table_access_problems_are_config_errors_naming_the_fix(azurite_table: str) -> None:
    from amlguard.alerts.store_table import TableBackend

    wrong_key = azurite_table.replace("AccountKey=Eby8", "AccountKey=AAAA")
    with pytest.raises(ConfigError, match="Storage Table Data Contributor"):
        TableBackend.from_connection_string(wrong_key, "amlguard", retry_total=0)
    closed = azurite_table.rsplit(":", 1)[0].rsplit("127.0.0.1", 1)[0] + "127.0.0.1:9/devstoreaccount1;"
    with pytest.raises(ConfigError, match="cannot reach"):
        TableBackend.from_connection_string(closed, "amlguard", retry_total=0)


def test_audit_records_keep_state_and_list_by_id_prefix(store: StateStore) -> None:
    ws = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/"
    state = {"resource": {"id": f"{ws}w1/onlineEndpoints/e", "kind": "online_endpoint"},
             "findings": [{"rule": "AMLG-NET-001", "message": "x" * 70_000}]}  # past one Table property
    store.record_audit(f"{ws}w1/onlineEndpoints/e", T0, state=state)
    store.record_audit(f"{ws}w1", T0, {"failed": 0})
    store.record_audit(f"{ws}w2/onlineEndpoints/e", T0, state=state)
    inside = store.audit_records(f"{ws}W1".lower())
    assert [r["resource"] for r in inside] == [f"{ws}w1", f"{ws}w1/onlineEndpoints/e"]
    assert inside[1]["state"] == state and "state" not in inside[0]
    assert len(store.audit_records()) == 3


# The longest id ARM allows of a watched type: group 90, workspace, endpoint and deployment names 260.
LONGEST = ("/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/" + "g" * 90
           + "/providers/Microsoft.MachineLearningServices/workspaces/" + "w" * 260 + "/onlineEndpoints/" + "e" * 260
           + "/deployments/" + "d" * 260)


@pytest.mark.parametrize("resource", [LONGEST, LONGEST.replace("e" * 260, "é/" * 130)[:-1] + "x"])
def test_any_valid_arm_id_fits_the_table_key_limit(store: StateStore, resource: str) -> None:
    """Table storage refuses keys over 1 KiB; an audit record and an event id of any valid id still fit,
    stay apart from their neighbours, and are found by a scope prefix."""
    other = resource[:-1] + "z"
    store.record_audit(resource, T0, {"failed": 1})
    store.record_audit(other, T0 + timedelta(seconds=1), {"failed": 2})
    store.record_audit(resource, T0 + timedelta(seconds=2), {"failed": 3})  # replace keeps the key
    prefix = resource[: resource.lower().index("/workspaces/")]
    summaries = {r["resource"]: r["summary"] for r in store.audit_records(prefix)}
    assert summaries == {resource: {"failed": 3}, other: {"failed": 2}}
    assert store.last_audit(resource) == T0 + timedelta(seconds=2)
    assert store.mark_event_seen(resource, T0) is True
    assert store.event_seen(resource) and not store.event_seen(other)
    assert store.prune_events(T0 + timedelta(days=2)) == 1
    assert not store.event_seen(resource)


def test_a_batch_deleting_a_missing_row_writes_the_rest(store: StateStore) -> None:
    """A lone delete of a missing row is no error on either backend; inside a batch it is not one
    either (Table storage fails the whole transaction, so the backend leaves that delete out)."""
    etags = store.backend.write([Op("upsert", "alert", "a", {"n": 1}), Op("delete", "alert", "~gone"),
                                 Op("upsert", "alert", "b", {"n": 2})])
    assert len(etags) == 3 and etags[0] and etags[2]
    assert [d.rk for d in store.backend.query("alert")] == ["a", "b"]
    current = store.backend.get("alert", "a")
    assert current is not None
    with pytest.raises(Conflict):  # any other failure still fails the whole batch
        store.backend.write([Op("delete", "alert", "~gone"), Op("insert", "alert", "b", {"n": 3}),
                             Op("replace", "alert", "a", {"n": 3}, etag=current.etag)])
    assert store.backend.get("alert", "a").body == {"n": 1}  # type: ignore[union-attr]


def test_the_timer_index_is_written_with_its_alert_and_never_listed_as_one(store: StateStore) -> None:
    stored = _alert()
    stored.alert.status, stored.for_seconds = "pending", 60.0
    stored.alert.active_since = T0
    store.save_alert(stored)
    assert store.due_alerts(T0 + timedelta(seconds=60)) == [stored.alert.fingerprint]
    assert [s.alert.fingerprint for s in store.list_alerts()] == [stored.alert.fingerprint]
    stored.alert.status = "firing"
    store.save_alert(stored)
    assert store.due_index() == {} and store.timer_times() == []
    store.delete_alert(stored.alert.fingerprint)
    assert store.list_alerts() == [] and store.due_index() == {}


def test_save_alerts_batches_and_returns_only_those_another_writer_changed(store: StateStore,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import amlguard.alerts.store as store_module

    monkeypatch.setattr(store_module, "BATCH_OPS", 4)  # two alerts with their timer rows per batch
    alerts = [_alert(f"fp{i}", status="pending") for i in range(5)]
    for stored in alerts:
        stored.alert.active_since, stored.for_seconds = T0, 60.0  # each has a timer row
    writes: list[int] = []
    original = store.backend.write

    def counting(ops: list[Op]) -> list[str]:
        writes.append(len(ops))
        return original(ops)

    monkeypatch.setattr(store.backend, "write", counting)
    assert store.save_alerts(alerts) == []
    assert [n for n in writes if n > 1] == [4, 4, 2]  # after the five per-resource index rows
    assert len(store.due_index()) == 5 and all(a.etag for a in alerts)
    other = store.get_alert("fp3")
    assert other is not None
    other.alert.acknowledged_by = "oncall"
    store.save_alert(other)  # another writer wins fp3
    for stored in alerts:
        stored.alert.status = "firing"
    lost = store.save_alerts(alerts)
    assert [s.alert.fingerprint for s in lost] == ["fp3"]
    assert [s.alert.status for s in store.list_alerts()] == ["firing", "firing", "firing", "pending", "firing"]
    assert sorted(store.due_index()) == ["fp3"]
