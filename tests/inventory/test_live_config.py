"""Scope, credential and client settings for the live inventory: env vars, config.json, CLI flags,
app settings."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from amlguard.config import Settings
from amlguard.errors import ConfigError
from amlguard.inventory.base import Scope
from amlguard.inventory.config import (
    ClientOptions,
    add_live_arguments,
    find_workspace_config,
    inventory_from_args,
    inventory_from_settings,
    make_inventory,
    options_from_env,
    scope_from_env,
    scope_from_settings,
)
from amlguard.inventory.live import LiveInventory
from amlguard.inventory.resourcegraph import ResourceGraphInventory
from tests.standins.helpers import FakeCredential

S1, S2 = "11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222"


@pytest.mark.parametrize(("env", "expected"), [
    ({"AZURE_SUBSCRIPTION_ID": S1}, Scope((S1,))),
    ({"AZURE_SUBSCRIPTION_ID": f"{S1}, {S2}"}, Scope((S1, S2))),
    ({"AMLGUARD_SCOPE_SUBSCRIPTIONS": f"{S2};{S1}", "AZURE_SUBSCRIPTION_ID": S1}, Scope((S2, S1))),
    ({"AZURE_SUBSCRIPTION_ID": S1, "AZURE_RESOURCE_GROUP": "rg", "AZUREML_WORKSPACE_NAME": "ws"},
     Scope((S1,), "rg", "ws")),
    ({"AZURE_SUBSCRIPTION_ID": S1, "AMLGUARD_SCOPE_RESOURCE_GROUP": "a", "AZURE_RESOURCE_GROUP": "b"},
     Scope((S1,), "a")),
    ({}, Scope()),
])
def test_scope_from_env(env: dict[str, str], expected: Scope, tmp_path: Path) -> None:
    assert scope_from_env(env, config_dir=tmp_path) == expected


def test_workspace_config_json_fills_what_env_leaves_out(tmp_path: Path) -> None:
    (tmp_path / ".azureml").mkdir()
    (tmp_path / ".azureml" / "config.json").write_text(json.dumps(
        {"subscription_id": S1, "resource_group": "rg-ml", "workspace_name": "ws-1"}))
    nested = tmp_path / "project" / "src"
    nested.mkdir(parents=True)

    assert scope_from_env({}, config_dir=nested) == Scope((S1,), "rg-ml", "ws-1")
    assert scope_from_env({"AZUREML_WORKSPACE_NAME": "other"}, config_dir=nested) == Scope((S1,), "rg-ml", "other")
    found = find_workspace_config(nested)
    assert found is not None and found["path"].endswith(".azureml/config.json")


def test_broken_config_json_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{nope")
    with pytest.raises(ConfigError, match=r"config\.json: not valid JSON"):
        find_workspace_config(tmp_path)


def test_scope_from_settings() -> None:
    settings = Settings.from_env({"AMLGUARD_SCOPE_SUBSCRIPTIONS": f"{S1},{S2}", "AZURE_RESOURCE_GROUP": "rg"})
    assert scope_from_settings(settings) == Scope((S1, S2), "rg")
    with pytest.raises(ConfigError, match="AMLGUARD_SCOPE_SUBSCRIPTIONS"):
        scope_from_settings(Settings.from_env({}))


def test_options_from_env() -> None:
    options = options_from_env({
        "AMLGUARD_ARM_ENDPOINT": "https://management.usgovcloudapi.net", "AMLGUARD_CONCURRENCY": "8",
        "AMLGUARD_READ_TIMEOUT": "12.5", "AMLGUARD_RETRY_TOTAL": "2", "AMLGUARD_CA_BUNDLE": "/etc/ca.pem",
        "AMLGUARD_INVENTORY": "workspace"})
    assert options.resource_manager == "https://management.usgovcloudapi.net/"
    assert (options.concurrency, options.read_timeout, options.retry_total) == (8, 12.5, 2)
    assert options.connection_verify == "/etc/ca.pem" and options.mode == "workspace"
    assert options_from_env({}) == ClientOptions()
    assert options_from_env({}, concurrency=4, mode=None).concurrency == 4


@pytest.mark.parametrize(("env", "message"), [
    ({"AMLGUARD_CONCURRENCY": "many"}, "AMLGUARD_CONCURRENCY='many' is not a number"),
    ({"AMLGUARD_CONCURRENCY": "0"}, "concurrency must be at least 1"),
    ({"AMLGUARD_INVENTORY": "magic"}, "inventory mode 'magic'"),
    ({"AMLGUARD_ARM_ENDPOINT": "http://insecure"}, "must be an https:// URL"),
])
def test_bad_options_are_config_errors(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        options_from_env(env)


@pytest.mark.parametrize(("cloud", "url"), [
    (None, "https://management.azure.com/"),
    ("AzureChinaCloud", "https://management.chinacloudapi.cn/"),
    ("AzureUSGovernment", "https://management.usgovcloudapi.net/"),
])
def test_named_clouds(cloud: str | None, url: str) -> None:
    assert ClientOptions(cloud=cloud).resource_manager == url


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("paths", nargs="*")
    add_live_arguments(parser)
    return parser.parse_args(argv)


def test_cli_flags_win_over_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    args = _parse(["--subscription", f"{S1},{S2}", "--resource-group", "rg", "--inventory", "workspace",
                   "--concurrency", "3"])
    inventory = inventory_from_args(args, {"AZURE_SUBSCRIPTION_ID": "ignored"}, credential=FakeCredential())
    assert isinstance(inventory, LiveInventory)
    assert inventory.scope == Scope((S1, S2), "rg") and inventory.options.concurrency == 3

    auto = inventory_from_args(_parse([]), {"AZURE_SUBSCRIPTION_ID": S1, "AZUREML_WORKSPACE_NAME": "ws"},
                               credential=FakeCredential())
    assert isinstance(auto, ResourceGraphInventory) and isinstance(auto.fallback, LiveInventory)
    assert auto.scope == Scope((S1,), None, "ws")


def test_cli_without_a_subscription_is_a_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="--subscription"):
        inventory_from_args(_parse([]), {}, credential=FakeCredential())
    with pytest.raises(ConfigError, match="name the resource group"):
        inventory_from_args(_parse(["--subscription", f"{S1},{S2}", "--workspace", "w"]), {},
                            credential=FakeCredential())


def test_inventory_from_settings_and_modes() -> None:
    settings = Settings.from_env({"AZURE_SUBSCRIPTION_ID": S1, "AMLGUARD_INVENTORY": "resource-graph"})
    inventory = inventory_from_settings(settings, credential=FakeCredential())
    assert isinstance(inventory, ResourceGraphInventory) and inventory.fallback is None
    assert isinstance(make_inventory(FakeCredential(), Scope((S1,)), ClientOptions(mode="workspace")),
                      LiveInventory)


def test_default_credential_is_built_lazily() -> None:
    from amlguard.inventory.config import credential_from_env

    credential = credential_from_env({"AZURE_CLIENT_ID": "00000000-0000-0000-0000-0000000000aa"})
    assert type(credential).__name__ == "DefaultAzureCredential"
