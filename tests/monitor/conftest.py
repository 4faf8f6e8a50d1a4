"""The Azure Monitor stand-in every monitor test area runs against."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.standins.monitor import MonitorStandin


@pytest.fixture
def standin() -> Iterator[MonitorStandin]:
    server = MonitorStandin()
    server.start()
    yield server
    server.stop()
    assert not server.violations, "amlguard asked the monitor stand-in for a secret"
