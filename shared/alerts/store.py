"""The alert state store: every record kind amlguard keeps, over documents with ETags and
single-partition batches that SQLite and Azure Table storage both offer (docs/alerts.md, "State stores")."""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from amlguard.alerts.records import Backend, Conflict, Doc, Op, dumps, retry, to_iso, to_utc
from amlguard.alerts.stored import (
    StoredAlert,
    alert_from_json,
    alert_to_json,
    notification_from_json,
    notification_to_json,
)
from amlguard.alerts.types import Notification
from amlguard.errors import ConfigError
from amlguard.timeparse import time_or_none

__all__ = ["Backend", "Conflict", "Doc", "Op", "StateStore", "StoredAlert", "alert_from_json", "alert_to_json",
           "notification_from_json", "notification_to_json", "open_store", "to_utc"]

HISTORY_LIMIT = 500  # transitions kept per alert (the entity stays far below Table's 1 MB)
# The timer index: one row per alert a tick must look at, in the alerts' own partition (so it is
# written in one atomic batch with its alert), under row keys that sort after every fingerprint.
DUE_ROW = "~due-"
# One batch (Table storage: an entity-group transaction) holds at most 100 writes and 4 MiB; the
# bodies are sent as UTF-16, so 1.5 M characters of alert JSON leave room for the envelope.
BATCH_OPS = 100
BATCH_CHARS = 1_500_000


def _run_partition(kind: str) -> str:
    return f"run.{kind}"


def _inverted(at: datetime) -> str:
    """Row-key prefix that sorts newest first (Table storage only sorts ascending)."""
    micros = int(to_utc(at).timestamp() * 1_000_000)
    return f"{10**17 - micros:017d}"


def _ordered(at: datetime) -> str:
    return f"{int(to_utc(at).timestamp() * 1_000_000):017d}"


def _hash(text: str, size: int = 32) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:size]


def receiver_partition(receiver: str) -> str:
    """The partition holding one receiver's groups, outbox and circuit breaker."""
    return f"rcv:{receiver}"


# ---------------------------------------------------------------------------------------------
# The store


class StateStore:
    """Everything amlguard persists about alerts and audits, over one `Backend`.

    Writes that must not be lost or duplicated are single-document or single-partition ETag
    writes, so concurrent Function instances (or threads) cannot both win.
    """

    def __init__(self, backend: Backend, *, description: str = "") -> None:
        self.backend = backend
        self.description = description

    def close(self) -> None:
        """Release the backend's connections."""
        self.backend.close()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- Event Grid dedupe and audit bookkeeping --------------------------------------------

    def event_seen(self, event_id: str) -> bool:
        """True when `mark_event_seen` recorded this event id (its effect is in the store)."""
        return self.backend.get("event", str(event_id)) is not None

    def mark_event_seen(self, event_id: str, at: datetime | None = None) -> bool:
        """Record an event id; True if it was new (atomic: of two racing callers one gets True)."""
        at = to_utc(at or datetime.now(UTC))
        try:
            self.backend.write([Op("insert", "event", str(event_id), {"at": to_iso(at)})])
        except Conflict:
            return False
        return True

    def prune_events(self, older_than: datetime) -> int:
        """Forget event ids seen before `older_than` (Event Grid retries for at most 24 h)."""
        cutoff = to_utc(older_than)
        removed = 0
        for doc in self.backend.query("event"):
            seen = time_or_none(doc.body.get("at"))
            if seen is not None and seen < cutoff:
                try:
                    self.backend.write([Op("delete", doc.pk, doc.rk, etag=doc.etag)])
                    removed += 1
                except Conflict:
                    pass
        return removed

    @staticmethod
    def _audit_key(resource_id: str) -> str:
        return resource_id.lower()  # ARM ids are case-insensitive

    def last_audit(self, resource_id: str) -> datetime | None:
        """When `resource_id` was last audited, or None."""
        record = self.audit_record(resource_id)
        return None if record is None else time_or_none(record.get("at"))

    def audit_record(self, resource_id: str) -> dict[str, Any] | None:
        """The last audit record of `resource_id`: `resource`, `at`, `summary`, the `state` found and
        the `event` whose handling wrote it (None for sweeps and on-demand audits)."""
        doc = self.backend.get("audit", self._audit_key(resource_id))
        return None if doc is None else dict(doc.body)

    def audit_records(self, prefix: str = "") -> list[dict[str, Any]]:
        """Every audit record whose (lower-cased) resource id starts with `prefix`, by id."""
        prefix = prefix.lower()
        return [dict(doc.body) for doc in self.backend.query("audit", prefix)
                if str(doc.body.get("resource") or "").lower().startswith(prefix)]

    def record_audit(self, resource_id: str, at: datetime, summary: dict[str, Any] | None = None, *,
                     state: dict[str, Any] | None = None, event: str | None = None) -> None:
        """Remember the audit time of a resource (and, in `state`, what the audit found: the
        resource's summary and its findings; in `event`, the event whose handling audited it); an
        older time never replaces a newer one."""
        body: dict[str, Any] = {"resource": resource_id, "at": to_iso(at), "summary": summary}
        if state is not None:
            body["state"] = state
        if event is not None:
            body["event"] = event

        def attempt() -> None:
            doc = self.backend.get("audit", self._audit_key(resource_id))
            if doc is None:
                self.backend.write([Op("insert", "audit", self._audit_key(resource_id), body)])
                return
            current = time_or_none(doc.body.get("at"))
            if current is not None and current > to_utc(at):
                return
            self.backend.write([Op("replace", doc.pk, doc.rk, body, etag=doc.etag)])

        retry(attempt)

    def record_run(self, kind: str, at: datetime, summary: dict[str, Any]) -> None:
        """Append one audit/sweep run (feeds the compliance-over-time chart).

        Written twice under one row key: to `run` (every kind, newest first) and to the kind's own
        partition, so that the sweep chart reads its last runs without paging through the
        monitor runs of the same days.
        """
        rk = f"{_inverted(at)}-{uuid.uuid4().hex[:8]}"
        body = {"kind": kind, "at": to_iso(at), "summary": summary}
        self.backend.write([Op("insert", _run_partition(kind), rk, body)])
        self.backend.write([Op("insert", "run", rk, body)])

    def runs(self, limit: int = 100, *, kind: str | None = None) -> list[dict[str, Any]]:
        """The most recent runs, newest first: `{"kind", "at", "summary"}`."""
        docs = self.backend.query("run" if kind is None else _run_partition(kind), limit=limit)
        return [dict(doc.body) for doc in docs[:limit]]

    # -- alerts -------------------------------------------------------------------------------

    def get_alert(self, fp: str) -> StoredAlert | None:
        """One stored alert with its ETag."""
        doc = self.backend.get("alert", fp)
        return None if doc is None else StoredAlert.from_doc(doc)

    def list_alerts(self) -> list[StoredAlert]:
        """Every stored alert (any status)."""
        return [StoredAlert.from_doc(doc) for doc in self.backend.query("alert") if not doc.rk.startswith(DUE_ROW)]

    @staticmethod
    def _resource_partition(resource_id: str) -> str:
        return f"byres:{_hash(resource_id.lower())}"

    def alerts_for_resource(self, resource_id: str) -> list[StoredAlert]:
        """Every stored alert of one resource (ARM ids compare case-insensitively), via an index."""
        out = []
        for doc in self.backend.query(self._resource_partition(resource_id)):
            stored = self.get_alert(doc.rk)
            if stored is not None and stored.alert.resource.lower() == resource_id.lower():
                out.append(stored)
        return out

    def save_alert(self, stored: StoredAlert) -> StoredAlert:
        """Insert (no ETag) or conditionally replace (ETag); raises Conflict when another writer won."""
        ops = self._alert_ops(stored)
        self._saved(stored, self.backend.write(ops)[0])
        return stored

    def save_alerts(self, batch: Sequence[StoredAlert]) -> list[StoredAlert]:
        """Save several alerts in as few requests as a batch holds (a sweep changes hundreds: one
        request each made Table storage the bottleneck). Returns the alerts another writer changed
        first, left unwritten; the others are saved as by `save_alert`."""
        lost: list[StoredAlert] = []
        chunk: list[tuple[StoredAlert, list[Op]]] = []
        count = size = 0

        def flush() -> None:
            ops = [op for _, alert_ops in chunk for op in alert_ops]
            try:
                etags = self.backend.write(ops) if ops else []
            except Conflict:  # one of them lost its race: find which, writing one alert's ops at a time
                for stored, alert_ops in chunk:
                    try:
                        self._saved(stored, self.backend.write(alert_ops)[0])
                    except Conflict:
                        lost.append(stored)
                return
            position = 0
            for stored, alert_ops in chunk:
                self._saved(stored, etags[position])
                position += len(alert_ops)

        for stored in batch:
            alert_ops = self._alert_ops(stored)
            weight = len(dumps(alert_ops[0].body or {}))
            if chunk and (count + len(alert_ops) > BATCH_OPS or size + weight > BATCH_CHARS):
                flush()
                chunk, count, size = [], 0, 0
            chunk.append((stored, alert_ops))
            count += len(alert_ops)
            size += weight
        flush()
        return lost

    def _alert_ops(self, stored: StoredAlert) -> list[Op]:
        """The writes saving one alert: the alert, and its timer row when that changes (in one batch,
        so a tick finds every alert whose timer or unfinished routing is due, whatever write a crash
        cut short). A new alert's per-resource index row is written first, here: an index row without
        its alert is harmless (readers skip it), an alert missing from the index would be invisible
        to its resource."""
        stored.history = stored.history[-HISTORY_LIMIT:]
        action: Literal["insert", "replace"] = "replace" if stored.etag else "insert"
        fp = stored.alert.fingerprint
        if action == "insert":
            self.backend.write([Op("upsert", self._resource_partition(stored.alert.resource), fp,
                                   {"resource": stored.alert.resource})])
        ops = [Op(action, "alert", fp, stored.to_json(), etag=stored.etag or None)]
        due = stored.due
        if due != stored.saved_due:
            ops.append(Op("upsert", "alert", DUE_ROW + fp, {"at": to_iso(due)}) if due is not None
                       else Op("delete", "alert", DUE_ROW + fp))
        return ops

    @staticmethod
    def _saved(stored: StoredAlert, etag: str) -> None:
        stored.etag = etag
        stored.saved_due = stored.due

    def due_index(self) -> dict[str, Doc]:
        """The timer index, by fingerprint: each row says when its alert is due (`at`)."""
        return {doc.rk[len(DUE_ROW):]: doc for doc in self.backend.query("alert", DUE_ROW)}

    def due_alerts(self, now: datetime) -> list[str]:
        """Fingerprints of alerts a timer tick must look at now (a small index, not every alert)."""
        cutoff = to_utc(now)
        return [fp for fp, doc in self.due_index().items()
                if (at := time_or_none(doc.body.get("at"))) is None or at <= cutoff]

    def timer_times(self) -> list[datetime]:
        """When each alert in the timer index is due (a scheduler sleeps until the earliest)."""
        return [at for doc in self.due_index().values() if (at := time_or_none(doc.body.get("at"))) is not None]

    def reindex_due(self, stored: StoredAlert, row: Doc | None) -> bool:
        """Make an alert's timer row say what the alert as read says (a full scan's repair of an
        index written by an older version), conditional on the row as read in `row` before the
        alert was: a writer that changed either since wins. Returns whether a row was written."""
        fp = stored.alert.fingerprint
        due = stored.due
        if row is None and due is None:
            return False
        if row is not None and time_or_none(row.body.get("at")) == due:
            return False
        if due is None:
            assert row is not None
            op = Op("delete", "alert", DUE_ROW + fp, etag=row.etag)
        elif row is None:
            op = Op("insert", "alert", DUE_ROW + fp, {"at": to_iso(due)})
        else:
            op = Op("replace", "alert", DUE_ROW + fp, {"at": to_iso(due)}, etag=row.etag)
        try:
            self.backend.write([op])
        except Conflict:
            return False
        return True

    def clear_due(self, fp: str) -> None:
        """Drop the timer row of an alert that no longer exists."""
        self.backend.write([Op("delete", "alert", DUE_ROW + fp)])

    def delete_alert(self, fp: str) -> None:
        """Forget an alert entirely (garbage collection of long-resolved alerts)."""
        stored = self.get_alert(fp)
        self.backend.write([Op("delete", "alert", fp), Op("delete", "alert", DUE_ROW + fp)])
        if stored is not None:
            self.backend.write([Op("delete", self._resource_partition(stored.alert.resource), fp)])

    # -- silences -----------------------------------------------------------------------------

    def get_silence(self, silence_id: str) -> Doc | None:
        """The silence document (see amlguard.alerts.silences.Silence.to_json) with its ETag."""
        return self.backend.get("silence", silence_id)

    def list_silence_docs(self) -> list[Doc]:
        """Every stored silence document."""
        return self.backend.query("silence")

    def put_silence(self, silence_id: str, body: dict[str, Any], *, etag: str | None = None) -> str:
        """Insert a new silence (no ETag) or replace one conditionally; returns the new ETag."""
        op = Op("replace", "silence", silence_id, body, etag=etag) if etag else Op("insert", "silence",
                                                                                  silence_id, body)
        return self.backend.write([op])[0]

    def delete_silence(self, silence_id: str) -> None:
        """Remove a silence document (garbage collection after retention)."""
        self.backend.write([Op("delete", "silence", silence_id)])

    # -- groups, outbox, circuit breakers (one partition per receiver) -----------------------

    def receivers(self) -> list[str]:
        """Receiver names that have ever had a notification group."""
        return [str(doc.body["name"]) for doc in self.backend.query("receiver")]

    def _register_receiver(self, receiver: str) -> None:
        if self.backend.get("receiver", _hash(receiver)) is None:
            self.backend.write([Op("upsert", "receiver", _hash(receiver), {"name": receiver})])

    @staticmethod
    def group_row(group_key: str) -> str:
        return f"g-{_hash(group_key)}"

    def get_group(self, receiver: str, group_key: str) -> Doc | None:
        """A notification group (members, timers, last notification) with its ETag."""
        return self.backend.get(receiver_partition(receiver), self.group_row(group_key))

    def list_groups(self, receiver: str | None = None) -> list[Doc]:
        """Groups of one receiver, or of every receiver."""
        names = [receiver] if receiver is not None else self.receivers()
        return [doc for name in names for doc in self.backend.query(receiver_partition(name), "g-")]

    def save_group(self, receiver: str, group_key: str, body: dict[str, Any], *, etag: str | None,
                   outbox: Notification | Sequence[Notification] | None = None) -> str:
        """Write a group (insert when `etag` is None) and, atomically with it, enqueue `outbox`
        (one message or the parts of a split one; at most 99, a Table batch holds 100 writes)."""
        if etag is None:
            self._register_receiver(receiver)
        pk = receiver_partition(receiver)
        ops = [Op("replace", pk, self.group_row(group_key), body, etag=etag) if etag
               else Op("insert", pk, self.group_row(group_key), body)]
        notes = [outbox] if isinstance(outbox, Notification) else list(outbox or ())
        for note in notes:
            item = {"notification": notification_to_json(note), "next_attempt_at": to_iso(note.created_at),
                    "leased_until": None, "last_error": None, "state": "queued"}
            ops.append(Op("insert", pk, note.id, item))
        return self.backend.write(ops)[0]

    @staticmethod
    def outbox_row(created_at: datetime, idempotency_key: str) -> str:
        """Outbox row keys sort by creation time, so a receiver's queue reads in order."""
        return f"o-{_ordered(created_at)}-{idempotency_key}"

    def outbox(self, receiver: str, *, limit: int | None = None) -> list[Doc]:
        """A receiver's queued (and dead-lettered) messages, oldest first."""
        return self.backend.query(receiver_partition(receiver), "o-", limit=limit)

    def outbox_times(self, receiver: str) -> list[datetime]:
        """When each queued message of a receiver may next be attempted: its retry time, its
        lease's end and the end of an open circuit, whichever is last (dead letters: never)."""
        breaker = self.get_breaker(receiver)
        open_until = time_or_none(breaker.body.get("open_until")) if breaker is not None else None
        out = []
        for doc in self.outbox(receiver):
            if doc.body.get("state") == "dead":
                continue
            times = [time_or_none(doc.body.get(k)) for k in ("next_attempt_at", "leased_until")] + [open_until]
            out.append(max(t for t in times if t is not None) if any(times) else time_or_none(
                doc.body["notification"]["created_at"]) or datetime.now(UTC))
        return out

    def update_outbox(self, receiver: str, doc: Doc) -> str:
        """Conditionally rewrite an outbox item (lease, attempt count, backoff)."""
        return self.backend.write([Op("replace", receiver_partition(receiver), doc.rk, doc.body,
                                      etag=doc.etag)])[0]

    def remove_outbox(self, receiver: str, doc: Doc) -> None:
        """Delete a delivered outbox item (conditional: only the lease holder's version)."""
        self.backend.write([Op("delete", receiver_partition(receiver), doc.rk, etag=doc.etag)])

    def get_breaker(self, receiver: str) -> Doc | None:
        """The receiver's circuit-breaker document."""
        return self.backend.get(receiver_partition(receiver), "breaker")

    def save_breaker(self, receiver: str, body: dict[str, Any], etag: str | None) -> str:
        """Write the breaker (unconditional when `etag` is None)."""
        op = Op("replace", receiver_partition(receiver), "breaker", body, etag=etag) if etag else \
            Op("upsert", receiver_partition(receiver), "breaker", body)
        return self.backend.write([op])[0]

    # -- notification log ---------------------------------------------------------------------

    def log_notification(self, entry: dict[str, Any], at: datetime) -> None:
        """Record one delivery outcome at `at`; keyed by the notification's creation time and id,
        so a redelivery after a crash rewrites the same row instead of adding one."""
        created = time_or_none(entry.get("created_at")) or at
        rk = f"{_inverted(created)}-{_hash(str(entry.get('id')), 16)}"
        self.backend.write([Op("upsert", "nlog", rk, {**entry, "at": to_iso(at)})])

    def prune_history(self, *, log_before: datetime, runs_before: datetime) -> int:
        """Delete notification-log entries and audit runs older than the cutoffs (newest-first keys
        make the old ones one range, so this never scans what it keeps)."""
        removed = 0
        for pk, cutoff in (("nlog", log_before), ("run", runs_before)):
            for doc in self.backend.query(pk, start=_inverted(cutoff)):
                if pk == "run":  # its copy in the kind's partition first: never a copy without an original
                    with contextlib.suppress(Conflict):  # already gone
                        self.backend.write([Op("delete", _run_partition(str(doc.body.get("kind"))), doc.rk)])
                self.backend.write([Op("delete", pk, doc.rk)])
                removed += 1
        return removed

    def notification_log(self, limit: int = 100) -> list[dict[str, Any]]:
        """The notification log, newest first."""
        return [dict(doc.body) for doc in self.backend.query("nlog", limit=limit)]

    # -- small metadata -------------------------------------------------------------------------

    def get_meta(self, name: str) -> Doc | None:
        return self.backend.get("meta", name)

    def put_meta(self, name: str, body: dict[str, Any]) -> None:
        self.backend.write([Op("upsert", "meta", name, body)])


# ---------------------------------------------------------------------------------------------
# Opening a store


def _setting(settings: Mapping[str, str] | None, name: str) -> str | None:
    return (settings or {}).get(name) or None


def open_store(state_dir: str | Path | None = None, *, backend: str | None = None,
               settings: Mapping[str, str] | None = None) -> StateStore:
    """Open the state store: SQLite file `{state_dir}/amlguard.db` (default `.amlguard/`) or Table storage.

    The backend comes from `backend`, else the setting AMLGUARD_STATE_BACKEND (`sqlite`/`table`),
    else SQLite. Table storage reads AMLGUARD_STATE_CONNECTION (a connection string, for local
    development) or AMLGUARD_STATE_TABLE_ENDPOINT (with DefaultAzureCredential, as in Azure),
    and AMLGUARD_STATE_TABLE_PREFIX (table name, default `amlguard`); with neither, the Function
    App's own account from AzureWebJobsStorage__tableServiceUri / __accountName. Settings are looked
    up in `settings` (`amlguard.config.Settings.env`).
    """
    kind = (backend or _setting(settings, "AMLGUARD_STATE_BACKEND") or "sqlite").strip().lower()
    if kind == "sqlite":
        from amlguard.alerts.store_sqlite import SqliteBackend

        folder = Path(state_dir) if state_dir is not None else Path(".amlguard")
        path = folder / "amlguard.db"
        return StateStore(SqliteBackend(path), description=f"sqlite:{path}")
    if kind in ("table", "tables", "azure-table"):
        from amlguard.alerts.store_table import TableBackend

        prefix = _setting(settings, "AMLGUARD_STATE_TABLE_PREFIX") or "amlguard"
        connection = _setting(settings, "AMLGUARD_STATE_CONNECTION")
        endpoint = _setting(settings, "AMLGUARD_STATE_TABLE_ENDPOINT")
        if not connection and not endpoint:
            # Fall back to the Function App's own storage account (identity-based AzureWebJobsStorage).
            endpoint = _setting(settings, "AzureWebJobsStorage__tableServiceUri")
            account = _setting(settings, "AzureWebJobsStorage__accountName")
            if not endpoint and account:
                endpoint = f"https://{account}.table.core.windows.net"
        if connection:
            table = TableBackend.from_connection_string(connection, prefix)
        elif endpoint:
            table = TableBackend.from_endpoint(endpoint, prefix)
        else:
            raise ConfigError(
                "state backend 'table' needs AMLGUARD_STATE_TABLE_ENDPOINT (e.g. "
                "https://<account>.table.core.windows.net, used with the managed identity) or "
                "AMLGUARD_STATE_CONNECTION (a storage connection string); set one in the app settings")
        return StateStore(table, description=f"table:{table.table_name}")
    raise ConfigError(f"unknown state backend {kind!r} (AMLGUARD_STATE_BACKEND); use 'sqlite' or 'table'")
