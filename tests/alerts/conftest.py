"""Fixtures for the alert state tests: a fake clock, and a state store on SQLite and on Azurite."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from amlguard.alerts.store import StateStore, open_store

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class FakeClock:
    """A settable clock: `clock()` returns the time, `clock.advance(seconds)` moves it."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


StoreFactory = Callable[[], StateStore]


@pytest.fixture(params=["sqlite", "table"])
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """Opens (and re-opens, to simulate a restart) one state store on each backend."""
    opened: list[StateStore] = []
    if request.param == "sqlite":
        def factory() -> StateStore:
            opened.append(open_store(tmp_path / "state"))
            return opened[-1]
    else:
        connection = request.getfixturevalue("azurite_table")
        table = f"t{uuid.uuid4().hex[:16]}"

        def factory() -> StateStore:
            opened.append(open_store(backend="table", settings={
                "AMLGUARD_STATE_CONNECTION": connection, "AMLGUARD_STATE_TABLE_PREFIX": table}))
            return opened[-1]
    yield factory
    for store in opened:
        store.close()


@pytest.fixture
def store(store_factory: StoreFactory) -> StateStore:
    return store_factory()
