"""Settings amlguard reads from the environment (app settings in Azure, env vars locally).

One frozen object built once at the edge (CLI `main`, `amlguard serve`, the Function App
runtime) by `Settings.from_env` and passed in: no other module reads os.environ. `SETTINGS` is
the catalogue of every app setting, which the README's settings table must match (a test checks
both ways). Areas with many client knobs (Azure SDK transport, Azure Monitor endpoints, Table
storage) parse their group from `Settings.env`, the mapping captured here, so that tests pass a
mapping instead of patching the environment.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from amlguard.errors import ConfigError
from amlguard.timeparse import seconds_or_none

__all__ = ["SETTINGS", "RemediationSettings", "Setting", "Settings", "default_policies_dir", "number_setting",
           "split_list"]


def default_policies_dir() -> Path:
    """The bundled pack: `amlguard.policies`, installed with the package (a wheel, the Function
    App's `.python_packages`, or an editable install that maps it to the repository's policies/)."""
    from importlib.util import find_spec  # importlib.resources would import zipfile, tempfile... on every start

    spec = find_spec("amlguard.policies")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("the bundled policy pack (amlguard.policies) is missing: reinstall amlguard")
    return Path(next(iter(spec.submodule_search_locations)))


@dataclass(frozen=True, slots=True)
class Setting:
    """One app setting: its name, its default as the README shows it, and the area that reads it."""

    name: str
    default: str
    area: str


# Every app setting amlguard reads. Receiver secrets are not listed: alerting.yaml names the
# variable that holds each one (`url_from_env: TEAMS_WEBHOOK_URL`), and it is looked up in
# `Settings.env` when the receiver is built.
SETTINGS: tuple[Setting, ...] = (
    # what to enforce
    Setting("AMLGUARD_POLICIES", "bundled policies/", "policy"),
    Setting("AMLGUARD_ENVIRONMENT", "", "policy"),
    Setting("AMLGUARD_ALERTING", "policies/alerting.yaml", "alerts"),
    Setting("AMLGUARD_MONITOR_RULES", "AMLGUARD_POLICIES", "monitor"),
    # where
    Setting("AMLGUARD_SNAPSHOT", "", "inventory"),
    Setting("AMLGUARD_SCOPE_SUBSCRIPTIONS", "AZURE_SUBSCRIPTION_ID", "inventory"),
    Setting("AZURE_SUBSCRIPTION_ID", "", "inventory"),
    Setting("AMLGUARD_SCOPE_RESOURCE_GROUP", "AZURE_RESOURCE_GROUP", "inventory"),
    Setting("AZURE_RESOURCE_GROUP", "", "inventory"),
    Setting("AZUREML_WORKSPACE_NAME", "", "inventory"),
    # how to reach Azure
    Setting("AMLGUARD_INVENTORY", "auto", "inventory"),
    Setting("AMLGUARD_ARM_ENDPOINT", "https://management.azure.com/", "inventory"),
    Setting("AMLGUARD_ARM_AUDIENCE", "AMLGUARD_ARM_ENDPOINT", "monitor"),
    Setting("AMLGUARD_CLOUD", "AzureCloud", "inventory"),
    Setting("AMLGUARD_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "inventory"),
    Setting("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "inventory"),
    Setting("CURL_CA_BUNDLE", "", "inventory"),
    Setting("AMLGUARD_CONNECT_TIMEOUT", "10", "inventory"),
    Setting("AMLGUARD_READ_TIMEOUT", "60", "inventory"),
    Setting("AMLGUARD_RETRY_TOTAL", "5", "inventory"),
    Setting("AMLGUARD_RETRY_BACKOFF", "0.8", "inventory"),
    Setting("AMLGUARD_CONCURRENCY", "16", "inventory"),
    Setting("AMLGUARD_DIAGNOSTIC_SETTINGS", "false", "inventory"),
    Setting("AZURE_CLIENT_ID", "", "identity"),
    # Azure Monitor
    Setting("AMLGUARD_MONITOR_EXAMPLE", "", "monitor"),
    Setting("AMLGUARD_MONITOR_METRICS_ENDPOINT", "", "monitor"),
    Setting("AMLGUARD_MONITOR_METRICS_AUDIENCE", "https://metrics.monitor.azure.com", "monitor"),
    Setting("AMLGUARD_MONITOR_LOGS_ENDPOINT", "https://api.loganalytics.io", "monitor"),
    Setting("AMLGUARD_MONITOR_LOGS_AUDIENCE", "AMLGUARD_MONITOR_LOGS_ENDPOINT", "monitor"),
    Setting("AMLGUARD_MONITOR_WORKSPACE_ID", "", "monitor"),
    Setting("AMLGUARD_MONITOR_CONCURRENCY", "8", "monitor"),
    Setting("AMLGUARD_MONITOR_NO_DATA_AFTER", "1h", "monitor"),
    # read by monitor rules through `{env:NAME}` (the default drift rule, Azure ML monitor schedules)
    Setting("AMLGUARD_MDC_ROOT", "", "monitor"),
    Setting("AMLGUARD_DATA_ASSETS", "", "monitor"),
    # state
    Setting("AMLGUARD_STATE_DIR", ".amlguard", "state"),
    Setting("AMLGUARD_OUTBOX_MAX_MESSAGES", "5000", "alerts"),
    Setting("AMLGUARD_DEAD_LETTER_MAX", "1000", "alerts"),
    Setting("AMLGUARD_STATE_BACKEND", "sqlite", "state"),
    Setting("AMLGUARD_STATE_CONNECTION", "", "state"),
    Setting("AMLGUARD_STATE_TABLE_ENDPOINT", "", "state"),
    Setting("AMLGUARD_STATE_TABLE_PREFIX", "amlguard", "state"),
    Setting("AzureWebJobsStorage__tableServiceUri", "", "state"),
    Setting("AzureWebJobsStorage__accountName", "", "state"),
    # schedules
    Setting("AMLGUARD_SWEEP_SCHEDULE", "0 */15 * * * *", "functions"),
    Setting("AMLGUARD_MONITOR_SCHEDULE", "0 */5 * * * *", "functions"),
    Setting("AMLGUARD_ALERTS_SCHEDULE", "*/30 * * * * *", "functions"),
    Setting("AMLGUARD_QUEUE_NAME", "amlguard-sweep", "functions"),
    Setting("AMLGUARD_WAKE_QUEUE_NAME", "amlguard-wake", "functions"),
    Setting("AzureWebJobsStorage", "", "functions"),
    Setting("AzureWebJobsStorage__queueServiceUri", "", "functions"),
    Setting("AMLGUARD_SWEEP_INTERVAL", "900", "serve"),
    # enforcement
    Setting("AMLGUARD_REMEDIATION_ENABLED", "false", "remediation"),
    Setting("AMLGUARD_REMEDIATION_MAX_RESOURCES", "10", "remediation"),
    Setting("AMLGUARD_ACTOR", "the identity, or user@host", "remediation"),
    # HTTP
    Setting("AMLGUARD_API_TOKEN", "", "api"),
    Setting("AMLGUARD_MAX_BODY_BYTES", "1048576", "api"),
    Setting("AMLGUARD_MAX_EVENTS_PER_REQUEST", "100", "api"),
    # telemetry
    Setting("APPLICATIONINSIGHTS_CONNECTION_STRING", "", "telemetry"),
    Setting("APPLICATIONINSIGHTS_AUTHENTICATION_STRING", "", "telemetry"),
    Setting("AMLGUARD_TELEMETRY_CONSOLE", "false", "telemetry"),
    Setting("AMLGUARD_TELEMETRY_LOGS", "on outside Functions", "telemetry"),
    Setting("AMLGUARD_HTTP_LOG_LEVEL", "WARNING", "telemetry"),
    Setting("FUNCTIONS_WORKER_RUNTIME", "", "telemetry"),
    # terminal
    Setting("NO_COLOR", "", "reports"),
    Setting("FORCE_COLOR", "", "reports"),
    Setting("TERM", "", "reports"),
)


def split_list(value: str | None) -> tuple[str, ...]:
    """A list setting or flag: items separated by commas or semicolons, blanks dropped."""
    return tuple(part.strip() for part in (value or "").replace(";", ",").split(",") if part.strip())


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def _brake(env: Mapping[str, str]) -> str:
    raw = (env.get("AMLGUARD_REMEDIATION_MAX_RESOURCES") or "10").strip()
    if not re.fullmatch(r"\d+(\.\d+)?%?", raw) or (raw.endswith("%") and float(raw[:-1]) > 100):
        raise ConfigError(f"app setting AMLGUARD_REMEDIATION_MAX_RESOURCES={raw!r} is not a count (10) or a "
                          "percentage up to 100% (5%); fix it or unset it for the default 10")
    return raw


def _log_level(env: Mapping[str, str], name: str, default: str) -> str:
    raw = (env.get(name) or "").strip().upper() or default
    if raw not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ConfigError(f"app setting {name}={raw!r} is not a log level; use DEBUG, INFO, WARNING or ERROR, "
                          f"or unset it for {default}")
    return raw


def number_setting(env: Mapping[str, str], name: str, default: float,
                   cast: Callable[[str], float] = float) -> float:
    """The number an app setting gives (`cast` it: `int` refuses fractions), `default` when unset;
    a ConfigError naming the setting otherwise. Every area's numeric settings go through it."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        return cast(raw)
    except ValueError as exc:
        raise ConfigError(f"app setting {name}={raw!r} is not a number; unset it or give e.g. {default:g}") from exc


def _count(env: Mapping[str, str], name: str, default: int) -> int:
    value = number_setting(env, name, default)
    if value < 1 or value != int(value):
        raise ConfigError(f"app setting {name}={value:g} is not a positive whole number; unset it or give "
                          f"e.g. {default}")
    return int(value)


def _duration(env: Mapping[str, str], name: str, default: float) -> float:
    raw = (env.get(name) or "").strip()
    seconds = seconds_or_none(raw) if raw else default
    if seconds is None:  # parse_duration refuses negative durations
        raise ConfigError(f"app setting {name}={raw!r} is not a duration; unset it or give e.g. 1h, 30m or 0 (off)")
    return seconds


@dataclass(frozen=True, slots=True)
class RemediationSettings:
    """Background enforcement: off unless enabled; a brake on how many resources one run changes."""

    enabled: bool = False  # AMLGUARD_REMEDIATION_ENABLED
    max_resources: str = "10"  # AMLGUARD_REMEDIATION_MAX_RESOURCES: a count or N% of the audited resources
    actor: str | None = None  # AMLGUARD_ACTOR (default: the managed identity, else user@host)
    client_id: str | None = None  # AZURE_CLIENT_ID, named in the default actor


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything configurable, with the app setting that sets it in the field's comment."""

    policies_dir: Path = field(default_factory=default_policies_dir)  # AMLGUARD_POLICIES
    environment: str | None = None  # AMLGUARD_ENVIRONMENT: which `environment:` overrides apply
    parameters: tuple[str, ...] = ()  # `--param NAME=VALUE` of the CLI (no app setting)
    alerting_file: Path | None = None  # AMLGUARD_ALERTING
    monitor_rules: Path | None = None  # AMLGUARD_MONITOR_RULES (default: policies_dir)
    monitor_example: str | None = None  # AMLGUARD_MONITOR_EXAMPLE: replay recorded Azure Monitor data
    # AMLGUARD_MONITOR_NO_DATA_AFTER: a monitor never heard from for a resource this long warns (0: never)
    monitor_no_data_after: float = 3600.0
    state_dir: Path = Path(".amlguard")  # AMLGUARD_STATE_DIR
    state_backend: str = "sqlite"  # AMLGUARD_STATE_BACKEND: sqlite | table
    snapshot: tuple[str, ...] = ()  # AMLGUARD_SNAPSHOT: paths standing in for the live inventory
    subscriptions: tuple[str, ...] = ()  # AMLGUARD_SCOPE_SUBSCRIPTIONS or AZURE_SUBSCRIPTION_ID
    resource_group: str | None = None  # AMLGUARD_SCOPE_RESOURCE_GROUP or AZURE_RESOURCE_GROUP
    workspace: str | None = None  # AZUREML_WORKSPACE_NAME
    wake_queue_name: str = "amlguard-wake"  # AMLGUARD_WAKE_QUEUE_NAME: delayed alert wake-ups (Functions)
    sweep_schedule: str = "0 */15 * * * *"  # AMLGUARD_SWEEP_SCHEDULE (NCRONTAB)
    monitor_schedule: str = "0 */5 * * * *"  # AMLGUARD_MONITOR_SCHEDULE (NCRONTAB)
    alerts_schedule: str = "*/30 * * * * *"  # AMLGUARD_ALERTS_SCHEDULE (NCRONTAB)
    sweep_interval_seconds: float = 900.0  # AMLGUARD_SWEEP_INTERVAL: 0 turns serve's sweeps off
    remediation: RemediationSettings = field(default_factory=RemediationSettings)
    api_token: str | None = None  # AMLGUARD_API_TOKEN (never logged)
    max_body_bytes: int = 1_048_576  # AMLGUARD_MAX_BODY_BYTES (Event Grid batches are <= 1 MB)
    # AMLGUARD_HTTP_LOG_LEVEL: httpx / azure-core request logs (at INFO they log every request)
    http_log_level: str = "WARNING"
    # per receiver; above it the oldest are dropped, counted and alerted on (AMLG-OUTBOX-FULL)
    outbox_max_messages: int = 5000  # AMLGUARD_OUTBOX_MAX_MESSAGES: queued messages
    dead_letter_max: int = 1000  # AMLGUARD_DEAD_LETTER_MAX: dead letters kept
    max_events_per_request: int = 100  # AMLGUARD_MAX_EVENTS_PER_REQUEST (each event audits one resource)
    # The mapping this object was read from: client knobs of inventory, monitor, state and
    # telemetry, and the receiver secrets alerting.yaml names, are parsed from it by their area.
    env: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read every setting once; `env` defaults to the process environment (the edges only)."""
        env = dict(os.environ if env is None else env)
        subs = split_list(env.get("AMLGUARD_SCOPE_SUBSCRIPTIONS")) or split_list(env.get("AZURE_SUBSCRIPTION_ID"))
        return cls(
            policies_dir=Path(env.get("AMLGUARD_POLICIES") or default_policies_dir()),
            environment=(env.get("AMLGUARD_ENVIRONMENT") or "").strip() or None,
            alerting_file=Path(env["AMLGUARD_ALERTING"]) if env.get("AMLGUARD_ALERTING") else None,
            monitor_rules=Path(env["AMLGUARD_MONITOR_RULES"].strip())
            if (env.get("AMLGUARD_MONITOR_RULES") or "").strip() else None,
            monitor_example=(env.get("AMLGUARD_MONITOR_EXAMPLE") or "").strip() or None,
            monitor_no_data_after=_duration(env, "AMLGUARD_MONITOR_NO_DATA_AFTER", 3600.0),
            state_dir=Path(env.get("AMLGUARD_STATE_DIR") or ".amlguard"),
            state_backend=(env.get("AMLGUARD_STATE_BACKEND") or "sqlite").strip().lower(),
            snapshot=split_list(env.get("AMLGUARD_SNAPSHOT")),
            subscriptions=subs,
            resource_group=(env.get("AMLGUARD_SCOPE_RESOURCE_GROUP") or env.get("AZURE_RESOURCE_GROUP") or "").strip()
            or None,
            workspace=(env.get("AZUREML_WORKSPACE_NAME") or "").strip() or None,
            wake_queue_name=env.get("AMLGUARD_WAKE_QUEUE_NAME") or "amlguard-wake",
            sweep_schedule=env.get("AMLGUARD_SWEEP_SCHEDULE") or "0 */15 * * * *",
            monitor_schedule=env.get("AMLGUARD_MONITOR_SCHEDULE") or "0 */5 * * * *",
            alerts_schedule=env.get("AMLGUARD_ALERTS_SCHEDULE") or "*/30 * * * * *",
            sweep_interval_seconds=number_setting(env, "AMLGUARD_SWEEP_INTERVAL", 900.0),
            remediation=RemediationSettings(
                enabled=_flag(env.get("AMLGUARD_REMEDIATION_ENABLED")),
                max_resources=_brake(env),
                actor=(env.get("AMLGUARD_ACTOR") or "").strip() or None,
                client_id=(env.get("AZURE_CLIENT_ID") or "").strip() or None),
            api_token=env.get("AMLGUARD_API_TOKEN") or None,
            max_body_bytes=int(number_setting(env, "AMLGUARD_MAX_BODY_BYTES", 1_048_576)),
            http_log_level=_log_level(env, "AMLGUARD_HTTP_LOG_LEVEL", "WARNING"),
            outbox_max_messages=_count(env, "AMLGUARD_OUTBOX_MAX_MESSAGES", 5000),
            dead_letter_max=_count(env, "AMLGUARD_DEAD_LETTER_MAX", 1000),
            max_events_per_request=max(1, int(number_setting(env, "AMLGUARD_MAX_EVENTS_PER_REQUEST", 100))),
            env=env,
        )

    @property
    def monitor_rules_path(self) -> Path:
        """Where the monitor rules live: AMLGUARD_MONITOR_RULES, else the policy pack."""
        return self.monitor_rules or self.policies_dir
