"""Read-only checks against a real Azure subscription (`pytest -m live`).

Skipped unless AZURE_SUBSCRIPTION_ID is set and DefaultAzureCredential can get a token. Needs
only Reader on the subscription (or on AZURE_RESOURCE_GROUP / the workspace). Nothing here
writes, and a hook on the shared transport checks that no call asks for keys or tokens.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from amlguard.inventory.base import Scope
from amlguard.inventory.config import ClientOptions, options_from_env, scope_from_env
from amlguard.inventory.live import ArmClients, LiveInventory
from amlguard.inventory.resourcegraph import ResourceGraphInventory
from amlguard.model import KINDS

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not os.environ.get("AZURE_SUBSCRIPTION_ID"),
                       reason="set AZURE_SUBSCRIPTION_ID (and sign in: az login) to run live checks"),
    pytest.mark.timeout(600),
]

SECRET_SEGMENTS = ("/listkeys", "/token", "/regeneratekeys")


@pytest.fixture(scope="module")
def clients() -> Iterator[tuple[ArmClients, list[str]]]:
    from azure.identity import DefaultAzureCredential

    options: ClientOptions = options_from_env()
    credential = DefaultAzureCredential()
    try:
        credential.get_token(options.resource_manager.rstrip("/") + "/.default")
    except Exception as exc:  # no usable credential here: skip, do not fail
        pytest.skip(f"no Azure credential: {type(exc).__name__}")
    arm = ArmClients(credential, options)
    urls: list[str] = []

    def record(response: Any, *_args: Any, **_kwargs: Any) -> None:
        urls.append(response.request.method + " " + response.request.url)

    arm.transport.session.hooks["response"].append(record)
    yield arm, urls
    asked = [u for u in urls if any(seg in u.lower().split("?")[0] for seg in SECRET_SEGMENTS)]
    assert not asked, f"amlguard asked Azure for secrets: {asked}"
    assert all(u.startswith("GET ") or "Microsoft.ResourceGraph" in u for u in urls), "a live test wrote"


@pytest.fixture(scope="module")
def scope() -> Scope:
    return scope_from_env(use_config_file=False)


def test_resource_graph_finds_the_estate(clients: tuple[ArmClients, list[str]], scope: Scope) -> None:
    inventory = ResourceGraphInventory(clients=clients[0])
    result = inventory.list(scope)
    assert result.errors == [], [e.message for e in result.errors]
    assert all(r.kind in KINDS and r.id.lower().startswith("/subscriptions/") for r in result.resources)
    assert inventory.stats.calls >= 1


def test_per_workspace_sweep_reads_a_workspace(clients: tuple[ArmClients, list[str]], scope: Scope) -> None:
    inventory = LiveInventory(clients=clients[0])
    workspaces = inventory.workspaces(scope)
    if not workspaces:
        pytest.skip("no Azure ML workspace in scope")
    one = inventory.list(Scope(subscriptions=scope.subscriptions, resource_group=workspaces[0].split("/")[4],
                               workspace=workspaces[0].split("/")[-1]))
    for error in one.errors:  # an unreadable part is reported with its fix, never silently
        assert "grant" in error.message or "retries" in error.message or "no answer" in error.message
    assert any(r.kind == "workspace" for r in one.resources) or one.errors
    for resource in one.resources[:3]:
        again = inventory.get(resource.id)
        assert again is not None and again.id.lower() == resource.id.lower()
