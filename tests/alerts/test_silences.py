"""Silences: validation, matchers, expiry, edits that keep history, idempotent expire."""

from __future__ import annotations

from datetime import timedelta

import pytest

from amlguard.alerts.silences import (
    SilenceError,
    add_silence,
    edit_silence,
    expire_silence,
    list_silences,
    matching_silences,
    parse_matchers,
)
from amlguard.alerts.store import StateStore

from .conftest import T0

LABELS = {"rule": "AMLG-NET-001", "severity": "high", "workspace": "w1", "endpoint": "scoring-prod"}
HOUR = timedelta(hours=1)


@pytest.mark.parametrize(("matchers", "hit"), [
    (['rule="AMLG-NET-001"'], True),
    (['rule="AMLG-NET-002"'], False),
    (['rule!="AMLG-NET-002"', 'workspace="w1"'], True),
    (['endpoint=~"scoring-.*"'], True),
    (['endpoint=~"scoring"'], False),  # regexes are anchored
    (['endpoint!~"scoring-.*"', 'rule="AMLG-NET-001"'], False),
    (['severity="Sev1"'], True),  # Sev1 is high
    ([{"name": "workspace", "value": "w.", "isRegex": True, "isEqual": True}], True),
    ([{"name": "rule", "op": "!=", "value": "AMLG-NET-001"}, 'workspace="w1"'], False),
])
def test_matchers(store: StateStore, matchers: list[object], hit: bool) -> None:
    silence = add_silence(store, matchers, ends_at=T0 + HOUR, created_by="ops", comment="why", now=T0)
    assert silence.matches(LABELS) is hit
    assert matching_silences([silence], LABELS, T0) == ([silence.id] if hit else [])


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"matchers": []}, "at least one matcher"),
    ({"matchers": ['rule=~".*"']}, "silence everything"),
    ({"matchers": ["no operator"]}, "not a matcher"),
    ({"matchers": ['rule=~"("']}, "regular expression"),
    ({"ends_at": T0 - HOUR}, "in the past"),
    ({"starts_at": T0 + 2 * HOUR}, "must be after starts_at"),
    ({"created_by": " "}, "creator"),
    ({"comment": ""}, "comment"),
])
def test_invalid_silences_are_refused(store: StateStore, kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"matchers": ['rule="AMLG-NET-001"'], "ends_at": T0 + HOUR, "created_by": "ops",
                               "comment": "maintenance", "now": T0}
    args.update(kwargs)
    with pytest.raises(SilenceError, match=message):
        add_silence(store, **args)  # type: ignore[arg-type]
    assert list_silences(store, now=T0) == []


def test_silence_states_follow_the_clock(store: StateStore) -> None:
    silence = add_silence(store, ['rule="X"'], starts_at=T0 + HOUR, ends_at=T0 + 2 * HOUR, created_by="ops",
                          comment="window", now=T0)
    assert [silence.state(T0 + d) for d in (timedelta(0), HOUR, 2 * HOUR)] == ["pending", "active", "expired"]
    assert matching_silences([silence], {"rule": "X"}, T0) == []
    assert list_silences(store, now=T0 + 3 * HOUR, include_expired=False) == []


def test_expire_is_idempotent(store: StateStore) -> None:
    silence = add_silence(store, ['rule="X"'], ends_at=T0 + HOUR, created_by="ops", comment="c", now=T0)
    done = expire_silence(store, silence.id, now=T0 + timedelta(minutes=5), by="ops")
    assert done.ends_at == T0 + timedelta(minutes=5) and done.state(T0 + timedelta(minutes=5)) == "expired"
    again = expire_silence(store, silence.id, now=T0 + timedelta(minutes=9), by="ops")
    assert again.ends_at == done.ends_at and len(again.history) == 2
    with pytest.raises(SilenceError, match="no silence"):
        expire_silence(store, "nope", now=T0)


def test_expiring_a_pending_silence_ends_it_before_it_starts(store: StateStore) -> None:
    silence = add_silence(store, ['rule="X"'], starts_at=T0 + HOUR, ends_at=T0 + 2 * HOUR, created_by="ops",
                          comment="c", now=T0)
    done = expire_silence(store, silence.id, now=T0)
    assert done.starts_at == done.ends_at == T0


def test_editing_a_started_silence_replaces_it_and_keeps_history(store: StateStore) -> None:
    old = add_silence(store, ['rule="X"'], ends_at=T0 + HOUR, created_by="ana", comment="deploy", now=T0)
    later = T0 + timedelta(minutes=10)
    new = edit_silence(store, old.id, now=later, by="bo", ends_at=T0 + 3 * HOUR, comment="deploy, longer")
    assert new.id != old.id and new.replaces == old.id and new.created_by == "bo"
    assert (new.starts_at, new.ends_at, new.comment) == (later, T0 + 3 * HOUR, "deploy, longer")
    by_id = {s.id: s for s in list_silences(store, now=later)}
    assert by_id[old.id].state(later) == "expired" and by_id[old.id].replaced_by == new.id
    assert [h["action"] for h in by_id[old.id].history] == ["created", "replaced"]
    with pytest.raises(SilenceError, match="has expired"):
        edit_silence(store, old.id, now=later, by="bo", comment="again")


def test_editing_a_pending_silence_updates_in_place(store: StateStore) -> None:
    old = add_silence(store, ['rule="X"'], starts_at=T0 + HOUR, ends_at=T0 + 2 * HOUR, created_by="ana",
                      comment="window", now=T0)
    new = edit_silence(store, old.id, now=T0, by="ana", matchers=['rule="Y"'])
    assert new.id == old.id and [str(m) for m in new.matchers] == ['rule="Y"']
    assert len(list_silences(store, now=T0)) == 1


def test_edit_validates_before_expiring_the_old_one(store: StateStore) -> None:
    old = add_silence(store, ['rule="X"'], ends_at=T0 + HOUR, created_by="ana", comment="c", now=T0)
    with pytest.raises(SilenceError, match="in the past"):
        edit_silence(store, old.id, now=T0 + timedelta(minutes=1), by="bo", ends_at=T0)
    [only] = list_silences(store, now=T0)
    assert only.state(T0 + timedelta(minutes=1)) == "active"


def test_silences_round_trip_through_json(store: StateStore) -> None:
    silence = add_silence(store, ['endpoint=~"a|b"', 'rule!="X"'], ends_at=T0 + HOUR, created_by="ops",
                          comment="c", now=T0)
    [loaded] = list_silences(store, now=T0)
    assert loaded.to_json(T0) == silence.to_json(T0) and loaded.to_json(T0)["status"] == "active"
    assert [str(m) for m in parse_matchers(loaded.to_json()["matchers"])] == ['endpoint=~"a|b"', 'rule!="X"']
