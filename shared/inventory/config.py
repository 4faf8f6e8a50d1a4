"""Where the live inventory looks and how it talks to ARM: scope, credential and client settings
from the environment, app settings, a workspace `config.json` or the `amlguard audit` flags.

Names follow what Azure users already set: `AZURE_SUBSCRIPTION_ID` (one or a comma-separated
list), `AZURE_RESOURCE_GROUP`, `AZUREML_WORKSPACE_NAME`, the `config.json` that Azure ML studio
downloads, and `DefaultAzureCredential`'s own variables.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from amlguard.config import Settings, number_setting, split_list
from amlguard.errors import ConfigError
from amlguard.inventory.base import Inventory, Scope
from amlguard.inventory.options import INVENTORY_MODES, ClientOptions

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

    from amlguard.inventory.live import LiveInventory
    from amlguard.inventory.resourcegraph import ResourceGraphInventory

__all__ = ["INVENTORY_MODES", "ClientOptions", "add_live_arguments", "credential_from_env", "find_workspace_config",
           "inventory_from_args", "inventory_from_settings", "make_inventory", "options_from_env", "scope_from_env",
           "scope_from_settings"]


def options_from_env(env: Mapping[str, str], **overrides: Any) -> ClientOptions:
    """Client options from app settings / env vars (names in ClientOptions' comments)."""
    # requests' own variables count too: the sessions amlguard builds do not read the environment
    ca = (env.get("AMLGUARD_CA_BUNDLE") or env.get("REQUESTS_CA_BUNDLE") or env.get("CURL_CA_BUNDLE") or "").strip()
    verify: bool | str = True
    if ca:
        verify = False if ca.lower() in ("0", "false", "no", "off") else ca
    options = ClientOptions(
        arm_endpoint=(env.get("AMLGUARD_ARM_ENDPOINT") or "").strip() or None,
        cloud=(env.get("AMLGUARD_CLOUD") or "").strip() or None,
        connection_verify=verify,
        connection_timeout=number_setting(env, "AMLGUARD_CONNECT_TIMEOUT", 10.0),
        read_timeout=number_setting(env, "AMLGUARD_READ_TIMEOUT", 60.0),
        retry_total=int(number_setting(env, "AMLGUARD_RETRY_TOTAL", 5, int)),
        retry_backoff_factor=number_setting(env, "AMLGUARD_RETRY_BACKOFF", 0.8),
        concurrency=int(number_setting(env, "AMLGUARD_CONCURRENCY", 16, int)),
        mode=(env.get("AMLGUARD_INVENTORY") or "auto").strip().lower(),
        diagnostic_settings=(env.get("AMLGUARD_DIAGNOSTIC_SETTINGS") or "").strip().lower() in (
            "1", "true", "yes", "on"),
    )
    overrides = {k: v for k, v in overrides.items() if v is not None}
    return replace(options, **overrides) if overrides else options


def credential_from_env(env: Mapping[str, str]) -> TokenCredential:
    """`DefaultAzureCredential` (env vars, workload / managed identity, Azure CLI, ...).

    `AZURE_CLIENT_ID` selects a user-assigned managed identity, as azure-identity documents.
    """
    from azure.identity import DefaultAzureCredential

    kwargs: dict[str, Any] = {}
    client_id = (env.get("AZURE_CLIENT_ID") or "").strip()
    if client_id:
        kwargs["managed_identity_client_id"] = client_id
    return DefaultAzureCredential(**kwargs)


def find_workspace_config(start: Path | None = None) -> dict[str, str] | None:
    """The workspace `config.json` as MLClient.from_config looks for it: `config.json` or
    `.azureml/config.json` in the folder or any parent. None when there is none."""
    folder = (start or Path.cwd()).resolve()
    for candidate_dir in (folder, *folder.parents):
        for name in ("config.json", ".azureml/config.json"):
            path = candidate_dir / name
            if not path.is_file():
                continue
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ConfigError(f"{path}: not valid JSON ({exc}); download it again from Azure ML studio "
                                  "or remove it") from exc
            if isinstance(data, dict) and "subscription_id" in data:
                out = {k: str(data[k]) for k in ("subscription_id", "resource_group", "workspace_name")
                       if data.get(k)}
                out["path"] = str(path)
                return out
    return None


def scope_from_env(env: Mapping[str, str], *, config_dir: Path | None = None,
                   use_config_file: bool = True) -> Scope:
    """Scope from the settings (read as `Settings.from_env` reads them), falling back to a workspace
    `config.json` for what they leave out."""
    settings = Settings.from_env(env)
    subs, rg, ws = tuple(settings.subscriptions), settings.resource_group, settings.workspace
    if not subs and use_config_file:
        found = find_workspace_config(config_dir)
        if found:
            subs = (found["subscription_id"],)
            rg = rg or found.get("resource_group")
            ws = ws or found.get("workspace_name")
    return Scope(subscriptions=subs, resource_group=rg, workspace=ws)


def scope_from_settings(settings: Settings) -> Scope:
    """The service's sweep scope from app settings (`AMLGUARD_SCOPE_SUBSCRIPTIONS` or
    `AZURE_SUBSCRIPTION_ID`, `AMLGUARD_SCOPE_RESOURCE_GROUP` / `AZURE_RESOURCE_GROUP`,
    `AZUREML_WORKSPACE_NAME`). Raises ConfigError when no subscription is set."""
    scope = Scope(subscriptions=tuple(settings.subscriptions), resource_group=settings.resource_group,
                  workspace=settings.workspace)
    _require_subscription(scope, "app setting AMLGUARD_SCOPE_SUBSCRIPTIONS (or AZURE_SUBSCRIPTION_ID)")
    return scope


def _require_subscription(scope: Scope, how: str) -> None:
    if not scope.subscriptions:
        raise ConfigError(f"no Azure subscription to audit: set {how} to one or more subscription ids "
                          "(comma separated)")
    if scope.workspace and not scope.resource_group and len(scope.subscriptions) > 1:
        raise ConfigError(f"workspace {scope.workspace!r} given with several subscriptions and no resource "
                          "group: name the resource group too")


def make_inventory(credential: TokenCredential, scope: Scope,
                   options: ClientOptions | None = None) -> LiveInventory | ResourceGraphInventory:
    """The live inventory for `options.mode`: Resource Graph (sweeps) backed by MLClient (single
    resources), or either alone."""
    from amlguard.inventory.live import LiveInventory

    options = options or ClientOptions()
    live = LiveInventory(credential, scope=scope, options=options)
    if options.mode == "workspace":
        return live
    from amlguard.inventory.resourcegraph import ResourceGraphInventory

    return ResourceGraphInventory(credential, scope=scope, options=options,
                                  fallback=live if options.mode == "auto" else None)


def inventory_from_settings(settings: Settings, *, credential: TokenCredential | None = None) -> Inventory:
    """The live inventory the service uses (scope and client options from app settings)."""
    env = settings.env
    scope = scope_from_settings(settings)
    return make_inventory(credential or credential_from_env(env), scope, options_from_env(env))


def add_live_arguments(parser: argparse.ArgumentParser) -> None:
    """The `amlguard audit` options that select a live Azure scope instead of files."""
    group = parser.add_argument_group("live Azure inventory")
    group.add_argument("--subscription", action="append", metavar="ID",
                       help="subscription to audit (repeat or comma-separate; default AZURE_SUBSCRIPTION_ID "
                            "or the workspace config.json)")
    group.add_argument("--resource-group", metavar="NAME", help="narrow to one resource group")
    group.add_argument("--workspace", metavar="NAME", help="narrow to one Azure ML workspace")
    group.add_argument("--inventory", choices=INVENTORY_MODES, default=None,
                       help="how to read the estate: auto (Resource Graph sweep, MLClient reads), "
                            "resource-graph, or workspace (MLClient per workspace); default auto")
    group.add_argument("--concurrency", type=int, metavar="N",
                       help="ARM calls in flight with --inventory workspace (default 16, AMLGUARD_CONCURRENCY)")
    group.add_argument("--arm-endpoint", metavar="URL",
                       help="Resource Manager URL for sovereign clouds (default AMLGUARD_ARM_ENDPOINT or public)")


def inventory_from_args(args: argparse.Namespace, env: Mapping[str, str], *,
                        credential: TokenCredential | None = None) -> LiveInventory | ResourceGraphInventory:
    """The live inventory for `amlguard audit --subscription S [--resource-group G] [--workspace W]`.

    Flags win over env vars, which win over a workspace config.json. Raises ConfigError (exit 2)
    when no subscription can be found.
    """
    base = scope_from_env(env)
    subs = tuple(s for value in (getattr(args, "subscription", None) or []) for s in split_list(value))
    scope = Scope(subscriptions=subs or base.subscriptions,
                  resource_group=getattr(args, "resource_group", None) or base.resource_group,
                  workspace=getattr(args, "workspace", None) or base.workspace)
    _require_subscription(scope, "--subscription (or AZURE_SUBSCRIPTION_ID)")
    options = options_from_env(env, mode=getattr(args, "inventory", None),
                               concurrency=getattr(args, "concurrency", None),
                               arm_endpoint=getattr(args, "arm_endpoint", None))
    return make_inventory(credential or credential_from_env(env), scope, options)
