"""Table-driven tests of the pure lifecycle (`evaluate`) and the send decision (`needs_update`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from amlguard.alerts.lifecycle import NotifyLogEntry, State, evaluate, needs_update, state_of
from amlguard.alerts.types import Alert, NotifyReason

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


# Each row: a sequence of (t seconds, observation) steps with for / keep_firing_for, and the
# (status, transition) expected after each step. Observation None is a timer tick.
LIFECYCLE = [
    ("fires at once without for", 0, 0,
     [(0, True, "firing", "firing"), (60, True, "firing", None)]),
    ("never seen and clear stays inactive", 0, 0,
     [(0, False, "inactive", None), (10, None, "inactive", None)]),
    ("resolves at once without keep_firing_for", 0, 0,
     [(0, True, "firing", "firing"), (30, False, "resolved", "resolved"), (40, False, "resolved", None)]),
    ("pending until for has elapsed", 300, 0,
     [(0, True, "pending", "pending"), (120, True, "pending", None), (300, True, "firing", "firing")]),
    ("a timer tick promotes pending after for", 300, 0,
     [(0, True, "pending", "pending"), (299, None, "pending", None), (300, None, "firing", "firing")]),
    ("pending that clears resolves without firing", 300, 0,
     [(0, True, "pending", "pending"), (100, False, "resolved", "resolved"), (400, None, "resolved", None)]),
    ("for restarts after a clear", 300, 0,
     [(0, True, "pending", "pending"), (100, False, "resolved", "resolved"), (200, True, "pending", "pending"),
      (450, True, "pending", None), (500, True, "firing", "firing")]),
    ("keep_firing_for holds a flapping alert", 0, 600,
     [(0, True, "firing", "firing"), (60, False, "firing", None), (120, True, "firing", None),
      (500, False, "firing", None), (719, None, "firing", None), (720, None, "resolved", "resolved")]),
    ("keep_firing_for expiry seen at the next observation", 0, 600,
     [(0, True, "firing", "firing"), (60, False, "firing", None), (900, False, "resolved", "resolved")]),
    ("re-fire after resolution starts a new episode", 0, 0,
     [(0, True, "firing", "firing"), (10, False, "resolved", "resolved"), (20, True, "firing", "firing")]),
    ("ticks never resolve a failing firing alert", 0, 60,
     [(0, True, "firing", "firing"), (3600, None, "firing", None)]),
]


@pytest.mark.parametrize(("name", "for_s", "keep_s", "steps"), LIFECYCLE, ids=[row[0] for row in LIFECYCLE])
def test_evaluate(name: str, for_s: float, keep_s: float, steps: list[tuple[float, bool | None, str, str | None]]
                  ) -> None:
    state: State | None = None
    for t, observation, status, transition in steps:
        state, change = evaluate(state, observation, at(t), for_seconds=for_s, keep_firing_for=keep_s)
        assert (state.status, change) == (status, transition), f"{name} at t={t}"


def test_evaluate_records_times() -> None:
    state, _ = evaluate(None, True, at(0), for_seconds=60)
    state, _ = evaluate(state, True, at(30), for_seconds=60)
    assert (state.since, state.active_since, state.last_failed, state.last_evaluated) == (at(0), at(0), at(30), at(30))
    state, _ = evaluate(state, None, at(60), for_seconds=60)
    assert state.status == "firing" and state.since == at(60) and state.active_since == at(0)
    assert state.last_evaluated == at(30)  # a tick is not an observation
    state, _ = evaluate(state, False, at(90), for_seconds=60)
    assert state.resolved_at == at(90) and state.since == at(90) and state.last_failed == at(30)
    state, _ = evaluate(state, True, at(95), for_seconds=0)
    assert state.resolved_at is None and state.active_since == at(95)


def test_evaluate_is_pure() -> None:
    start = State()
    evaluate(start, True, at(0))
    assert start == State()


def test_state_of_reads_the_last_condition() -> None:
    alert = Alert(fingerprint="f", rule="r", resource="x", status="firing", severity="high", since=at(0),
                  last_evaluated=at(10), last_failed=at(10))
    assert state_of(alert) is not None and state_of(alert).failing is True  # type: ignore[union-attr]
    alert.last_evaluated = at(20)
    assert state_of(alert).failing is False  # type: ignore[union-attr]
    assert state_of(None) is None


def entry(firing: set[str], resolved: set[str], t: float = 0) -> NotifyLogEntry:
    return NotifyLogEntry(frozenset(firing), frozenset(resolved), at(t))


# Each row mirrors a branch of Alertmanager's DedupStage.needsUpdate, in its order:
# (case, previous log entry, firing now, resolved now, now (s), send_resolved, expected reason)
DEDUP = [
    ("nothing notified, something firing", None, {"a"}, set(), 0, True, NotifyReason.FIRST),
    ("nothing notified, only resolved", None, set(), {"a"}, 0, True, None),
    ("nothing notified, nothing at all", None, set(), set(), 0, True, None),
    ("a new alert joins a notified group", entry({"a"}, set()), {"a", "b"}, set(), 10, True,
     NotifyReason.NEW_IN_GROUP),
    ("firing again after all resolved", entry(set(), {"a"}), {"a"}, set(), 10, True, NotifyReason.FIRST),
    ("all resolved after firing", entry({"a"}, set()), set(), {"a"}, 10, True, NotifyReason.ALL_RESOLVED),
    ("all resolved even without send_resolved", entry({"a"}, set()), set(), {"a"}, 10, False,
     NotifyReason.ALL_RESOLVED),
    ("fired and resolved unseen within an interval", entry(set(), {"z"}), set(), {"a"}, 10, True, None),
    ("one of two resolved, send_resolved", entry({"a", "b"}, set()), {"a"}, {"b"}, 10, True,
     NotifyReason.RESOLVED),
    ("one of two resolved, no send_resolved", entry({"a", "b"}, set()), {"a"}, {"b"}, 10, False, None),
    ("resolved already notified", entry({"a"}, {"b"}), {"a"}, {"b"}, 10, True, None),
    ("a subset of what was notified is firing", entry({"a", "b"}, set()), {"a"}, set(), 10, True, None),
    ("nothing changed before repeat_interval", entry({"a"}, set()), {"a"}, set(), 3599, True, None),
    ("nothing changed at repeat_interval", entry({"a"}, set()), {"a"}, set(), 3600, True, NotifyReason.REPEAT),
    ("nothing changed after repeat_interval", entry({"a"}, set()), {"a"}, set(), 7200, False,
     NotifyReason.REPEAT),
]


@pytest.mark.parametrize(("case", "prev", "firing", "resolved", "t", "send_resolved", "expected"), DEDUP,
                         ids=[row[0] for row in DEDUP])
def test_needs_update(case: str, prev: NotifyLogEntry | None, firing: set[str], resolved: set[str], t: float,
                      send_resolved: bool, expected: NotifyReason | None) -> None:
    assert needs_update(prev, firing, resolved, at(t), repeat_interval=3600, send_resolved=send_resolved) == expected


def test_notify_log_entry_round_trips() -> None:
    original = entry({"b", "a"}, {"c"}, 5)
    assert NotifyLogEntry.from_json(original.to_json()) == original
    assert NotifyLogEntry.from_json(None) is None


@settings(max_examples=200, deadline=None)
@given(steps=st.lists(st.tuples(st.integers(min_value=0, max_value=900), st.sampled_from([True, False, None])),
                      min_size=1, max_size=30),
       for_s=st.sampled_from([0, 60, 300]), keep_s=st.sampled_from([0, 120, 600]))
def test_lifecycle_invariants(steps: list[tuple[int, bool | None]], for_s: int, keep_s: int) -> None:
    """Whatever the sequence: no firing before `for` has held, a firing alert resolves only once
    keep_firing_for has passed since it last failed, and a firing alert past that is never left
    firing; re-evaluating the same observation at the same time changes nothing."""
    state: State | None = None
    t = 0
    for gap, observation in steps:
        t += gap
        prev = state
        state, change = evaluate(state, observation, at(t), for_seconds=for_s, keep_firing_for=keep_s)
        again, repeat = evaluate(state, observation, at(t), for_seconds=for_s, keep_firing_for=keep_s)
        assert (again, repeat) == (state, None)
        if change == "firing":
            assert state.active_since is not None and at(t) - state.active_since >= timedelta(seconds=for_s)
        if change == "resolved" and prev is not None and prev.status == "firing":
            assert state.last_failed is not None and at(t) - state.last_failed >= timedelta(seconds=keep_s)
        if state.status == "firing" and not state.failing:
            assert state.last_failed is not None and at(t) - state.last_failed < timedelta(seconds=keep_s)
