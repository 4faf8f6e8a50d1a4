"""How amlguard's Azure SDK clients connect (`ClientOptions`). Its own module so that the live
inventories (live.py, resourcegraph.py) and config.py, which builds them, import it without
importing each other."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from amlguard.errors import ConfigError

__all__ = ["INVENTORY_MODES", "ClientOptions"]

# auto: Resource Graph for sweeps, MLClient for single resources (fresh reads for events);
# resource-graph: Resource Graph only; workspace: MLClient per workspace only.
INVENTORY_MODES = ("auto", "resource-graph", "workspace")


@dataclass(frozen=True, slots=True)
class ClientOptions:
    """How amlguard's Azure SDK clients connect. Every field is a plain SDK setting (azure-core
    transport and retry policy, MLClient cloud); nothing here exists only for tests.

    `arm_endpoint` points the clients at another Resource Manager (sovereign or air-gapped
    clouds, `AMLGUARD_ARM_ENDPOINT`); `connection_verify` is a CA bundle path for it (or False).
    Retries use azure-core's RetryPolicy, which honours `Retry-After` on 429 and 503.
    """

    arm_endpoint: str | None = None  # AMLGUARD_ARM_ENDPOINT, e.g. https://management.usgovcloudapi.net/
    cloud: str | None = None  # AMLGUARD_CLOUD: AzureCloud | AzureChinaCloud | AzureUSGovernment
    connection_verify: bool | str = True  # AMLGUARD_CA_BUNDLE
    connection_timeout: float = 10.0  # AMLGUARD_CONNECT_TIMEOUT (seconds)
    read_timeout: float = 60.0  # AMLGUARD_READ_TIMEOUT (seconds)
    retry_total: int = 5  # AMLGUARD_RETRY_TOTAL
    retry_backoff_factor: float = 0.8  # AMLGUARD_RETRY_BACKOFF (azure-core default)
    retry_backoff_max: float = 60.0
    polling_interval: float | None = None  # LRO poll interval when the service sends no Retry-After
    concurrency: int = 16  # AMLGUARD_CONCURRENCY: ARM calls in flight in the per-workspace sweep
    mode: str = "auto"  # AMLGUARD_INVENTORY: auto | resource-graph | workspace
    # AMLGUARD_DIAGNOSTIC_SETTINGS: read each workspace's and online endpoint's diagnostic settings
    # (one more ARM call each) for the rules on resource logs (AMLG-WS-007, AMLG-OPS-006)
    diagnostic_settings: bool = False

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ConfigError(f"concurrency must be at least 1, got {self.concurrency}")
        if self.mode not in INVENTORY_MODES:
            raise ConfigError(f"inventory mode {self.mode!r} is not one of {', '.join(INVENTORY_MODES)}")
        if self.arm_endpoint and not self.arm_endpoint.lower().startswith("https://"):
            raise ConfigError(f"ARM endpoint {self.arm_endpoint!r} must be an https:// URL "
                              "(bearer tokens are never sent over plain HTTP)")

    @property
    def resource_manager(self) -> str:
        """The Resource Manager base URL with a trailing slash."""
        if self.arm_endpoint:
            return self.arm_endpoint.rstrip("/") + "/"
        clouds = {"azurechinacloud": "https://management.chinacloudapi.cn/",
                  "azureusgovernment": "https://management.usgovcloudapi.net/"}
        return clouds.get((self.cloud or "").lower(), "https://management.azure.com/")

    @property
    def token_scope(self) -> str:
        """The scope of a token for that Resource Manager (`https://management.azure.com/.default`)."""
        return self.resource_manager.rstrip("/") + "/.default"

    def transport_kwargs(self) -> dict[str, Any]:
        return {"connection_verify": self.connection_verify, "connection_timeout": self.connection_timeout,
                "read_timeout": self.read_timeout}

    def retry_kwargs(self) -> dict[str, Any]:
        return {"retry_total": self.retry_total, "retry_backoff_factor": self.retry_backoff_factor,
                "retry_backoff_max": self.retry_backoff_max}
