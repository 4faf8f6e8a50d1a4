"""pytest fixtures for the HTTPS stand-ins (registered for every test by tests/conftest.py).

Every stand-in started through `standin_registry` is checked at the end of its test and again at
the end of the session: a request for endpoint keys or tokens fails the run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.standins.arm import ArmStandin, Estate, seed_estate
from tests.standins.base import STARTED, StandinServer
from tests.standins.helpers import FakeCredential, fast_options

__all__ = ["FakeCredential", "arm_standin", "fast_options", "standin_registry"]


def _assert_no_secret_requests(servers: list[StandinServer]) -> None:
    violations = [v for server in servers for v in server.violations]
    assert not violations, "amlguard asked a stand-in for a secret: " + "; ".join(violations)


@pytest.fixture(scope="session", autouse=True)
def standin_registry() -> Iterator[list[StandinServer]]:
    """Every stand-in started in the session (whoever started it); asserts at the end of the
    session that none was asked for a secret."""
    yield STARTED
    _assert_no_secret_requests(STARTED)


@pytest.fixture
def _restore_cloud_env() -> Iterator[None]:
    # MLClient records the cloud it was built for in os.environ (AZUREML_CURRENT_CLOUD).
    before = os.environ.get("AZUREML_CURRENT_CLOUD")
    yield
    if before is None:
        os.environ.pop("AZUREML_CURRENT_CLOUD", None)
    else:
        os.environ["AZUREML_CURRENT_CLOUD"] = before


@pytest.fixture
def arm_standin(standin_registry: list[StandinServer], _restore_cloud_env: None) -> Iterator[ArmStandin]:
    """An ARM + Resource Graph stand-in with a small seeded estate (2 workspaces x 2 online
    endpoints x 1 deployment + 1 batch endpoint with 1 deployment each), pages of 2."""
    server = ArmStandin(seed_estate(Estate(), workspaces=2, online_endpoints=2), page_size=2,
                        rg_page_size=4, rg_quota=1000)
    server.start()
    yield server
    server.stop()
    _assert_no_secret_requests([server])

