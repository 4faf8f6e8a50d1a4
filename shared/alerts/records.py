"""What a state-store backend is: documents addressed by (partition, row) with ETags, and atomic
batches of writes inside one partition (what Azure Table storage offers).

The backends (`store_sqlite`, `store_table`) and the store built on them (`store`) all import
this module and nothing of each other, so no backend import runs back into the store.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol, TypeVar

__all__ = ["Backend", "Conflict", "Doc", "Op", "dumps", "iter_chunks", "retry", "to_iso", "to_utc"]

T = TypeVar("T")


class Conflict(Exception):
    """An optimistic write lost: the row exists (insert) or its ETag changed (replace/delete)."""


@dataclass(slots=True)
class Doc:
    """One stored document with the ETag to write it back conditionally."""

    pk: str
    rk: str
    body: dict[str, Any]
    etag: str = ""


@dataclass(slots=True)
class Op:
    """One write in an atomic batch. `etag` makes replace/delete conditional; insert fails if present."""

    action: Literal["insert", "replace", "upsert", "delete"]
    pk: str
    rk: str
    body: dict[str, Any] | None = None
    etag: str | None = None


class Backend(Protocol):
    """Document storage with ETags; `write` is atomic and all its ops share one partition."""

    def get(self, pk: str, rk: str) -> Doc | None: ...

    def query(self, pk: str, prefix: str = "", *, limit: int | None = None,
              start: str | None = None) -> list[Doc]:
        """Documents of one partition in row-key order: those starting with `prefix`, from `start` on."""
        ...

    def write(self, ops: Sequence[Op]) -> list[str]: ...

    def close(self) -> None: ...


def to_utc(value: datetime) -> datetime:
    """Aware UTC datetime (naive values are taken as UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def to_iso(value: datetime | None) -> str | None:
    """ISO 8601 text of `value` in UTC (naive values are taken as UTC); None stays None."""
    return None if value is None else to_utc(value).isoformat()


def retry(attempt: Callable[[], T], *, tries: int = 20) -> T:
    """Run an optimistic read-modify-write until it does not hit a Conflict."""
    for _ in range(tries - 1):
        try:
            return attempt()
        except Conflict:
            continue
    return attempt()


def iter_chunks(text: str, size: int) -> Iterator[str]:
    """Split `text` into pieces of at most `size` characters (Table string properties are capped)."""
    for start in range(0, len(text), size):
        yield text[start:start + size]


def dumps(body: Mapping[str, Any]) -> str:
    """Compact, deterministic JSON for stored documents."""
    return json.dumps(body, separators=(",", ":"), sort_keys=True, default=str)
