"""SQLite backend of the state store: one WAL-mode file, one table of documents with ETags.

Each batch runs in a `BEGIN IMMEDIATE` transaction, so ETag checks and writes are atomic across
threads and processes sharing the file.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path

from amlguard.alerts.records import Conflict, Doc, Op, dumps

__all__ = ["SqliteBackend"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (
    pk   TEXT NOT NULL,
    rk   TEXT NOT NULL,
    etag TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (pk, rk)
) WITHOUT ROWID
"""


class SqliteBackend:
    """Documents in `path` (created with its folder); safe to share between threads."""

    def __init__(self, path: str | Path, *, timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN/COMMIT ourselves; busy timeout covers other writers.
        self._conn = sqlite3.connect(self.path, timeout=timeout, isolation_level=None,
                                     check_same_thread=False)
        self._lock = threading.RLock()
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute(_SCHEMA)

    def get(self, pk: str, rk: str) -> Doc | None:
        with self._lock:
            row = self._conn.execute("SELECT etag, body FROM docs WHERE pk = ? AND rk = ?", (pk, rk)).fetchone()
        return None if row is None else Doc(pk, rk, json.loads(row[1]), row[0])

    def query(self, pk: str, prefix: str = "", *, limit: int | None = None, start: str | None = None) -> list[Doc]:
        sql = "SELECT rk, etag, body FROM docs WHERE pk = ? AND rk >= ?"
        args: list[object] = [pk, max(prefix, start or "")]
        if prefix:
            sql += " AND rk < ?"
            args.append(prefix[:-1] + chr(ord(prefix[-1]) + 1))
        sql += " ORDER BY rk"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        with self._lock:
            rows = self._conn.execute(sql, args).fetchall()
        return [Doc(pk, rk, json.loads(body), etag) for rk, etag, body in rows]

    def write(self, ops: Sequence[Op]) -> list[str]:
        etags: list[str] = []
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                for op in ops:
                    etags.append(self._apply(op))
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
        return etags

    def _apply(self, op: Op) -> str:
        cur = self._conn.execute("SELECT etag FROM docs WHERE pk = ? AND rk = ?", (op.pk, op.rk)).fetchone()
        current = None if cur is None else cur[0]
        if op.action == "delete":
            # deleting a missing row is not an error (as in Table storage)
            if op.etag is not None and current is not None and current != op.etag:
                raise Conflict(f"{op.pk}/{op.rk} changed before delete")
            self._conn.execute("DELETE FROM docs WHERE pk = ? AND rk = ?", (op.pk, op.rk))
            return ""
        etag = uuid.uuid4().hex
        body = dumps(op.body or {})
        if op.action == "insert" and current is not None:
            raise Conflict(f"{op.pk}/{op.rk} already exists")
        if op.action == "replace" and (current is None or (op.etag is not None and current != op.etag)):
            raise Conflict(f"{op.pk}/{op.rk} changed since it was read")
        self._conn.execute("INSERT OR REPLACE INTO docs (pk, rk, etag, body) VALUES (?, ?, ?, ?)",
                           (op.pk, op.rk, etag, body))
        return etag

    def close(self) -> None:
        with self._lock:
            self._conn.close()
