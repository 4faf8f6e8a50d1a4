"""Helpers for tests that use the stand-ins: a fake credential and client options pointing at a
stand-in (importable from test modules; the fixtures live in `tests.standins.fixtures`)."""

from __future__ import annotations

import time
from typing import Any

from azure.core.credentials import AccessToken

from tests.standins.base import StandinServer

__all__ = ["FakeCredential", "fast_options"]


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


def fast_options(server: StandinServer, **overrides: Any) -> Any:
    """ClientOptions pointing at `server` with small retry backoff (constructor settings)."""
    from amlguard.inventory.config import ClientOptions

    values: dict[str, Any] = {
        "arm_endpoint": server.url, "connection_verify": str(server.ca_file), "retry_total": 3,
        "retry_backoff_factor": 0.01, "retry_backoff_max": 0.05, "connection_timeout": 2.0,
        "read_timeout": 2.0, "polling_interval": 0.01, "concurrency": 4,
    }
    values.update(overrides)
    return ClientOptions(**values)
