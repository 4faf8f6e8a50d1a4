"""Silences: label-matcher mutes with a required expiry, a creator and a comment (Alertmanager's model).

Editing a silence that has started expires it and creates a new one that points back at it, so
history is kept; expiring is idempotent. Storage goes through `StateStore` with ETags.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from amlguard.alerts.records import Conflict, retry, to_utc
from amlguard.alerts.routing import Matcher, parse_matcher
from amlguard.alerts.store import StateStore
from amlguard.timeparse import parse_time

__all__ = ["MatcherInput", "Silence", "SilenceError", "add_silence", "edit_silence", "expire_silence", "list_silences",
           "matching_silences", "parse_matchers"]


class SilenceError(ValueError):
    """A silence request that cannot be honoured; the message says what to change."""


# A matcher as text (`rule="AMLG-NET-001"`), parsed, or in the Alertmanager API's mapping form.
MatcherInput = str | Matcher | Mapping[str, Any]


def _matcher_from(value: MatcherInput) -> Matcher:
    if isinstance(value, Matcher):
        return value
    if isinstance(value, str):
        return parse_matcher(value)
    if isinstance(value, Mapping):
        # Alertmanager API form: {"name", "value", "isRegex", "isEqual"}; or {"name", "op", "value"}
        if "op" in value:
            return Matcher.create(str(value["name"]), str(value["op"]), str(value.get("value", "")))
        regex, equal = bool(value.get("isRegex", False)), bool(value.get("isEqual", True))
        op = {(False, True): "=", (False, False): "!=", (True, True): "=~", (True, False): "!~"}[(regex, equal)]
        return Matcher.create(str(value["name"]), op, str(value.get("value", "")))
    raise SilenceError(f"matcher {value!r} is neither 'name=\"value\"' text nor a {{name, op, value}} mapping")


def parse_matchers(values: Iterable[MatcherInput]) -> list[Matcher]:
    """Matchers from text (`rule="AMLG-NET-001"`, `severity=~"critical|high"`) or mappings."""
    out = []
    for value in values:
        try:
            out.append(_matcher_from(value))
        except ValueError as exc:
            raise SilenceError(str(exc)) from exc
    return out


@dataclass(slots=True)
class Silence:
    """One silence; `state(now)` is pending, active or expired."""

    id: str
    matchers: list[Matcher]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    created_at: datetime
    updated_at: datetime
    replaces: str | None = None  # the silence this one superseded by an edit
    replaced_by: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    etag: str = ""

    def state(self, now: datetime) -> str:
        """`pending` before it starts, `active` until it ends, then `expired`."""
        now = to_utc(now)
        if now < self.starts_at:
            return "pending"
        return "active" if now < self.ends_at else "expired"

    def matches(self, labels: Mapping[str, str]) -> bool:
        """True when every matcher holds for these labels."""
        return all(m.matches(labels) for m in self.matchers)

    def to_json(self, now: datetime | None = None) -> dict[str, Any]:
        """JSON-ready form (ISO times; with `status` when `now` is given)."""
        out: dict[str, Any] = {
            "id": self.id, "matchers": [str(m) for m in self.matchers],
            "starts_at": self.starts_at.isoformat(), "ends_at": self.ends_at.isoformat(),
            "created_by": self.created_by, "comment": self.comment,
            "created_at": self.created_at.isoformat(), "updated_at": self.updated_at.isoformat(),
            "replaces": self.replaces, "replaced_by": self.replaced_by, "history": self.history,
        }
        if now is not None:
            out["status"] = self.state(now)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any], etag: str = "") -> Silence:
        def dt(name: str) -> datetime:
            return parse_time(data[name])

        return cls(str(data["id"]), parse_matchers(data.get("matchers") or ()), dt("starts_at"), dt("ends_at"),
                   str(data.get("created_by", "")), str(data.get("comment", "")), dt("created_at"),
                   dt("updated_at"), data.get("replaces"), data.get("replaced_by"),
                   list(data.get("history") or []), etag)


def _validate(matchers: Sequence[Matcher], starts_at: datetime, ends_at: datetime, created_by: str,
              comment: str, now: datetime) -> None:
    if not matchers:
        raise SilenceError("a silence needs at least one matcher, e.g. rule=\"AMLG-NET-001\"")
    if all(m.matches({}) for m in matchers):
        # Alertmanager refuses this too: such a silence would mute every alert.
        raise SilenceError("at least one matcher must not match an empty label (it would silence everything)")
    if ends_at <= now:
        raise SilenceError(f"ends_at {ends_at.isoformat()} is in the past; give a future expiry")
    if ends_at <= starts_at:
        raise SilenceError(f"ends_at {ends_at.isoformat()} must be after starts_at {starts_at.isoformat()}")
    if not created_by.strip():
        raise SilenceError("a silence needs its creator (created_by / --by)")
    if not comment.strip():
        raise SilenceError("a silence needs a comment saying why (comment / --comment)")


def add_silence(store: StateStore, matchers: Iterable[MatcherInput], *, ends_at: datetime, created_by: str,
                comment: str, now: datetime, starts_at: datetime | None = None,
                replaces: str | None = None) -> Silence:
    """Validate and store a new silence; returns it (its `id` is what `expire` takes)."""
    parsed = parse_matchers(matchers)
    now = to_utc(now)
    start = to_utc(starts_at) if starts_at is not None else now
    end = to_utc(ends_at)
    _validate(parsed, start, end, created_by, comment, now)
    silence = Silence(uuid.uuid4().hex, parsed, start, end, created_by.strip(), comment.strip(), now, now,
                      replaces=replaces,
                      history=[{"at": now.isoformat(), "action": "created", "by": created_by.strip()}])
    silence.etag = store.put_silence(silence.id, silence.to_json())
    return silence


def _load(store: StateStore, silence_id: str) -> Silence:
    doc = store.get_silence(silence_id)
    if doc is None:
        raise SilenceError(f"no silence with id {silence_id!r}; `amlguard silence list` shows the ids")
    return Silence.from_json(doc.body, doc.etag)


def expire_silence(store: StateStore, silence_id: str, *, now: datetime, by: str | None = None) -> Silence:
    """End a silence now. Idempotent: an expired silence is returned unchanged."""
    now = to_utc(now)

    def attempt() -> Silence:
        silence = _load(store, silence_id)
        if silence.state(now) == "expired":
            return silence
        start = silence.starts_at if silence.starts_at <= now else now  # a pending one ends before it starts
        done = replace(silence, starts_at=start, ends_at=now, updated_at=now,
                       history=[*silence.history, {"at": now.isoformat(), "action": "expired", "by": by}])
        done.etag = store.put_silence(done.id, done.to_json(), etag=silence.etag)
        return done

    return retry(attempt)


def edit_silence(store: StateStore, silence_id: str, *, now: datetime, by: str,
                 matchers: Iterable[MatcherInput] | None = None, ends_at: datetime | None = None,
                 starts_at: datetime | None = None, comment: str | None = None) -> Silence:
    """Change a silence. A pending one is updated in place; a started one is expired and a new
    silence (with `replaces` pointing back) takes its place, so its history is kept."""
    now = to_utc(now)
    silence = _load(store, silence_id)
    state = silence.state(now)
    if state == "expired":
        raise SilenceError(f"silence {silence_id} has expired; add a new one instead of editing it")
    new_matchers = parse_matchers(matchers) if matchers is not None else silence.matchers
    new_end = to_utc(ends_at) if ends_at is not None else silence.ends_at
    new_comment = comment if comment is not None else silence.comment
    if state == "pending":
        new_start = to_utc(starts_at) if starts_at is not None else silence.starts_at
        _validate(new_matchers, new_start, new_end, by, new_comment, now)
        updated = replace(silence, matchers=new_matchers, starts_at=new_start, ends_at=new_end,
                          comment=new_comment, updated_at=now,
                          history=[*silence.history, {"at": now.isoformat(), "action": "edited", "by": by}])
        try:
            updated.etag = store.put_silence(updated.id, updated.to_json(), etag=silence.etag)
        except Conflict as exc:
            raise SilenceError(f"silence {silence_id} changed meanwhile; list it and edit again") from exc
        return updated
    new_start = max(to_utc(starts_at), now) if starts_at is not None else now
    _validate(new_matchers, new_start, new_end, by, new_comment, now)  # before expiring the old one
    successor = add_silence(store, new_matchers, ends_at=new_end, created_by=by, comment=new_comment,
                            now=now, starts_at=new_start, replaces=silence.id)

    def close_old() -> None:
        old = _load(store, silence_id)
        done = replace(old, ends_at=min(old.ends_at, now), updated_at=now, replaced_by=successor.id,
                       history=[*old.history, {"at": now.isoformat(), "action": "replaced", "by": by,
                                               "replaced_by": successor.id}])
        store.put_silence(done.id, done.to_json(), etag=old.etag)

    retry(close_old)
    return successor


def list_silences(store: StateStore, *, now: datetime, include_expired: bool = True) -> list[Silence]:
    """All silences, newest first (expired ones optional)."""
    out = [Silence.from_json(doc.body, doc.etag) for doc in store.list_silence_docs()]
    if not include_expired:
        out = [s for s in out if s.state(now) != "expired"]
    return sorted(out, key=lambda s: (s.created_at, s.id), reverse=True)


def matching_silences(silences: Iterable[Silence], labels: Mapping[str, str], now: datetime) -> list[str]:
    """Ids of the active silences that mute these labels."""
    return [s.id for s in silences if s.state(now) == "active" and s.matches(labels)]
