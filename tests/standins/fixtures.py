"""pytest fixtures for the HTTPS stand-ins; load with `pytest_plugins = ["tests.standins.fixtures"]`.

Every stand-in started through `standin_registry` is checked at the end of its test and again at
the end of the session: a request for endpoint keys or tokens fails the run.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
from azure.core.credentials import AccessToken

from tests.standins.arm import SUB, ArmStandin, Estate, seed_estate
from tests.standins.base import StandinServer

__all__ = ["FakeCredential", "arm_options", "arm_standin", "fast_options", "standin_registry"]


class FakeCredential:
    """A TokenCredential with a static token; records the scopes it was asked for."""

    def __init__(self) -> None:
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **_kwargs: Any) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken("standin-token", int(time.time()) + 3600)

    def get_token_info(self, *scopes: str, **_kwargs: Any) -> Any:
        from azure.core.credentials import AccessTokenInfo

        self.scopes.append(scopes)
        return AccessTokenInfo("standin-token", int(time.time()) + 3600)


def _assert_no_secret_requests(servers: list[StandinServer]) -> None:
    violations = [v for server in servers for v in server.violations]
    assert not violations, "amlguard asked a stand-in for a secret: " + "; ".join(violations)


@pytest.fixture(scope="session")
def standin_registry() -> Iterator[list[StandinServer]]:
    """Every stand-in of the session; asserts at teardown that none was asked for a secret."""
    servers: list[StandinServer] = []
    yield servers
    _assert_no_secret_requests(servers)


@pytest.fixture(autouse=False)
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
    standin_registry.append(server)
    server.start()
    yield server
    server.stop()
    _assert_no_secret_requests([server])


def fast_options(server: StandinServer, **overrides: Any) -> Any:
    """ClientOptions pointing at `server` with small retry backoff (constructor settings)."""
    from shared.inventory.config import ClientOptions

    values: dict[str, Any] = {
        "arm_endpoint": server.url, "connection_verify": str(server.ca_file), "retry_total": 3,
        "retry_backoff_factor": 0.01, "retry_backoff_max": 0.05, "connection_timeout": 2.0,
        "read_timeout": 2.0, "polling_interval": 0.01, "concurrency": 4,
    }
    values.update(overrides)
    return ClientOptions(**values)


@pytest.fixture
def arm_options(arm_standin: ArmStandin) -> Any:
    return fast_options(arm_standin)


SUBSCRIPTION = SUB
