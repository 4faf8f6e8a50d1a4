"""Settings amlguard reads from the environment (app settings in Azure, env vars locally).

One frozen object built once per process, so handlers never read os.environ directly and tests
pass a mapping instead of patching the environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Settings", "default_policies_dir"]


def default_policies_dir() -> Path:
    """The bundled pack: `amlguard.policies`, installed with the package (a wheel, the Function
    App's `.python_packages`, or an editable install that maps it to the repository's policies/)."""
    from importlib.resources import files

    return Path(str(files("amlguard.policies")))


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").replace(";", ",").split(",") if part.strip())


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything configurable, with the app setting that sets it in the field's comment."""

    policies_dir: Path = field(default_factory=default_policies_dir)  # AMLGUARD_POLICIES
    alerting_file: Path | None = None  # AMLGUARD_ALERTING
    state_dir: Path = Path(".amlguard")  # AMLGUARD_STATE_DIR
    state_backend: str = "sqlite"  # AMLGUARD_STATE_BACKEND: sqlite | table
    snapshot: tuple[str, ...] = ()  # AMLGUARD_SNAPSHOT: paths standing in for the live inventory
    subscriptions: tuple[str, ...] = ()  # AMLGUARD_SCOPE_SUBSCRIPTIONS or AZURE_SUBSCRIPTION_ID
    resource_group: str | None = None  # AMLGUARD_SCOPE_RESOURCE_GROUP or AZURE_RESOURCE_GROUP
    workspace: str | None = None  # AZUREML_WORKSPACE_NAME
    queue_name: str = "amlguard-sweep"  # AMLGUARD_QUEUE_NAME
    sweep_schedule: str = "0 */15 * * * *"  # AMLGUARD_SWEEP_SCHEDULE (NCRONTAB)
    monitor_schedule: str = "0 */5 * * * *"  # AMLGUARD_MONITOR_SCHEDULE (NCRONTAB)
    alerts_schedule: str = "*/30 * * * * *"  # AMLGUARD_ALERTS_SCHEDULE (NCRONTAB)
    sweep_interval_seconds: float = 900.0  # AMLGUARD_SWEEP_INTERVAL (amlguard serve's timer)
    remediation_enabled: bool = False  # AMLGUARD_REMEDIATION_ENABLED
    api_token: str | None = None  # AMLGUARD_API_TOKEN (never logged)
    max_body_bytes: int = 1_048_576  # AMLGUARD_MAX_BODY_BYTES (Event Grid batches are <= 1 MB)
    env: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        subs = _split(env.get("AMLGUARD_SCOPE_SUBSCRIPTIONS")) or _split(env.get("AZURE_SUBSCRIPTION_ID"))
        interval = env.get("AMLGUARD_SWEEP_INTERVAL", "").strip()
        return cls(
            policies_dir=Path(env.get("AMLGUARD_POLICIES") or default_policies_dir()),
            alerting_file=Path(env["AMLGUARD_ALERTING"]) if env.get("AMLGUARD_ALERTING") else None,
            state_dir=Path(env.get("AMLGUARD_STATE_DIR") or ".amlguard"),
            state_backend=(env.get("AMLGUARD_STATE_BACKEND") or "sqlite").strip().lower(),
            snapshot=_split(env.get("AMLGUARD_SNAPSHOT")),
            subscriptions=subs,
            resource_group=env.get("AMLGUARD_SCOPE_RESOURCE_GROUP") or env.get("AZURE_RESOURCE_GROUP"),
            workspace=env.get("AZUREML_WORKSPACE_NAME") or None,
            queue_name=env.get("AMLGUARD_QUEUE_NAME") or "amlguard-sweep",
            sweep_schedule=env.get("AMLGUARD_SWEEP_SCHEDULE") or "0 */15 * * * *",
            monitor_schedule=env.get("AMLGUARD_MONITOR_SCHEDULE") or "0 */5 * * * *",
            alerts_schedule=env.get("AMLGUARD_ALERTS_SCHEDULE") or "*/30 * * * * *",
            sweep_interval_seconds=float(interval) if interval else 900.0,
            remediation_enabled=_flag(env.get("AMLGUARD_REMEDIATION_ENABLED")),
            api_token=env.get("AMLGUARD_API_TOKEN") or None,
            max_body_bytes=int(env.get("AMLGUARD_MAX_BODY_BYTES") or 1_048_576),
            env=env,
        )
