"""The ARM plumbing the live inventories share: SDK clients on one keep-alive transport with the
configured timeouts, retries and cloud (`ArmClients`), ARM JSON read as is through MLClient's own
generated operations, and failure messages that name the fix (docs/live.md)."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from amlguard.inventory.options import ClientOptions

if TYPE_CHECKING:
    from azure.ai.ml import MLClient
    from azure.core.credentials import TokenCredential

__all__ = ["ML_API_VERSION", "ArmClients", "describe_failure", "is_not_found", "raw_get", "raw_pages"]

# The workspace's computes, datastores and serverless endpoints and the registries beside it are read
# through the workspace operation's pipeline at the stable API version that has them all
# (azure-rest-api-specs Microsoft.MachineLearningServices 2024-04-01).
ML_API_VERSION = "2024-04-01"


# ---- errors that name the fix -----------------------------------------------------------------
def is_not_found(exc: BaseException) -> bool:
    """True for an ARM 404: the resource is gone, which is not an error."""
    return getattr(exc, "status_code", None) == 404 or type(exc).__name__ == "ResourceNotFoundError"


def describe_failure(exc: BaseException, *, action: str, what: str, options: ClientOptions | None = None,
                     role: str = "Reader") -> tuple[str, bool]:
    """A message for a failed ARM call that says what happened and what to do, and whether a
    later retry may help. `action` is e.g. "reading", `what` e.g. "workspace ws-1"."""
    options = options or ClientOptions()
    status = getattr(exc, "status_code", None)
    if status is None:
        response = getattr(exc, "response", None)
        status = getattr(response, "status_code", None)
    code = ""
    error = getattr(exc, "error", None)
    if error is not None and getattr(error, "code", None):
        code = f" ({error.code})"
    name = type(exc).__name__
    if name == "DecodeError" or isinstance(exc, ValueError):
        return (f"Azure Resource Manager sent a response that is not valid JSON {action} {what}: "
                f"{_short(exc)}; usually transient, the next sweep retries it", True)
    if status == 401:
        return (f"401 Unauthorized {action} {what}{code}: the credential was rejected; check `az login`, the "
                "managed identity, or AZURE_TENANT_ID / AZURE_CLIENT_ID", False)
    if status == 403:
        return (f"403 Forbidden {action} {what}{code}: grant the amlguard identity {role} on it (or on its "
                "resource group or subscription)", False)
    if status == 404:
        return f"404 Not Found {action} {what}{code}: it no longer exists or the id is wrong", False
    if status == 429:
        return (f"429 Too Many Requests {action} {what}: still throttled after {options.retry_total} retries "
                "that honoured Retry-After; lower AMLGUARD_CONCURRENCY or sweep less often", True)
    if isinstance(status, int) and status >= 500:
        return (f"{status} from Azure Resource Manager {action} {what}{code} after {options.retry_total} "
                "retries: a transient service error; the next sweep retries it", True)
    if isinstance(status, int):
        return f"HTTP {status} {action} {what}{code}: {_short(exc)}", False
    if name in ("ServiceResponseTimeoutError", "ServiceResponseError", "ReadTimeout") or "timed out" in str(exc):
        return (f"no answer within {options.read_timeout:g}s {action} {what} (after retries): raise "
                "AMLGUARD_READ_TIMEOUT or check the network path to Azure Resource Manager", True)
    if name in ("ServiceRequestError", "ServiceRequestTimeoutError", "ConnectionError"):
        return (f"could not connect to {options.resource_manager} {action} {what}: {_short(exc)}; check "
                "network, proxy and AMLGUARD_ARM_ENDPOINT", True)
    if name == "ClientAuthenticationError" or "CredentialUnavailable" in name:
        return (f"no Azure credential {action} {what}: {_short(exc)}; run `az login`, or set up a managed "
                "identity / AZURE_CLIENT_ID", False)
    return f"{name} {action} {what}: {_short(exc)}", False


def _short(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---- clients ------------------------------------------------------------------------------------
class ArmClients:
    """Builds the SDK clients amlguard uses, all on one keep-alive transport with the same
    timeouts, retry policy and cloud. `ml_client(sub, rg, ws)` is cached per key (the sweep uses
    one per subscription); calling the object is the `client_factory` remediation takes.
    azure-ai-ml (~1 s, ~100 MB) is imported when the first MLClient is built, not before."""

    def __init__(self, credential: TokenCredential, options: ClientOptions | None = None) -> None:
        self.credential = credential
        self.options = options or ClientOptions()
        self._lock = threading.RLock()
        self._ml: dict[tuple[str, str | None, str | None], MLClient] = {}
        self._transport: Any = None
        self._arm: Any = None

    @property
    def transport(self) -> Any:
        """A shared azure-core RequestsTransport sized for the configured concurrency."""
        with self._lock:
            if self._transport is None:
                import requests
                from azure.core.pipeline.transport import RequestsTransport

                session = requests.Session()
                # Each in-flight call holds a connection; without a big enough pool urllib3 drops
                # and re-handshakes TLS on every call above 10 concurrent ones.
                adapter = requests.adapters.HTTPAdapter(pool_connections=4,
                                                        pool_maxsize=max(10, self.options.concurrency * 2))
                session.mount("https://", adapter)
                # requests re-reads proxy variables and ~/.netrc on every call when trust_env is
                # on (~1 ms of CPU each); all calls go to one host, so resolve them once here.
                kwargs = self.options.transport_kwargs()
                session.trust_env = False
                session.proxies.update(requests.utils.get_environ_proxies(self.options.resource_manager))
                self._transport = RequestsTransport(session=session, session_owner=False, **kwargs)
            return self._transport

    def _cloud_kwargs(self) -> dict[str, Any]:
        options = self.options
        if options.arm_endpoint:
            # A custom cloud as MLClient documents for sovereign clouds: its name is derived from
            # the endpoint so two endpoints never collide in the SDK's process-wide cloud table.
            # Only resource_manager is used by the calls amlguard makes; the credential brings
            # its own authority (AZURE_AUTHORITY_HOST).
            arm = options.resource_manager
            return {"cloud": f"amlguard:{arm}", "cloud_metadata": {
                "azure_portal": "https://portal.azure.com/", "resource_manager": arm,
                "active_directory": "https://login.microsoftonline.com/",
                "aml_resource_id": "https://ml.azure.com/", "storage_endpoint": "core.windows.net",
                "registry_discovery_endpoint": arm,
            }}
        if options.cloud:
            return {"cloud": options.cloud}
        return {}

    def sdk_kwargs(self) -> dict[str, Any]:
        """Keyword arguments every azure-core based client accepts: transport and retry policy."""
        kwargs: dict[str, Any] = {"transport": self.transport, **self.options.retry_kwargs()}
        if self.options.polling_interval is not None:
            kwargs["polling_interval"] = self.options.polling_interval
        return kwargs

    def ml_client(self, subscription: str, resource_group: str | None = None,
                  workspace: str | None = None) -> MLClient:
        """An MLClient for the workspace, or for the subscription / resource group (whose REST
        operations take the workspace per call). Built once per key: each builds ~20 service
        clients (5-50 ms)."""
        key = (subscription.lower(), (resource_group or "").lower() or None, (workspace or "").lower() or None)
        with self._lock:
            client = self._ml.get(key)
        if client is not None:
            return client
        from azure.ai.ml import MLClient

        kwargs = {**self.sdk_kwargs(), **self._cloud_kwargs()}
        with self._lock:  # MLClient records the cloud in os.environ; build one at a time
            client = self._ml.get(key)
            if client is None:
                client = MLClient(self.credential, subscription_id=subscription,
                                  resource_group_name=resource_group, workspace_name=workspace,
                                  enable_telemetry=False, show_progress=False, **kwargs)
                self._ml[key] = client
        return client

    def arm_kwargs(self) -> dict[str, Any]:
        """base_url / credential_scopes for azure-mgmt clients (Resource Graph) on this cloud."""
        return {"base_url": self.options.resource_manager, "credential_scopes": [self.options.token_scope],
                **self.sdk_kwargs()}

    def arm_request(self, method: str, path: str, *, api_version: str,
                    body: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
        """One ARM call (`path` is a resource id plus suffix) through an azure-mgmt-core pipeline
        with the same transport, retry policy and token scope. Returns the parsed JSON body;
        raises azure-core's HttpResponseError on failure."""
        from azure.core.rest import HttpRequest

        with self._lock:
            if self._arm is None:
                from azure.core.pipeline import policies
                from azure.mgmt.core import ARMPipelineClient
                from azure.mgmt.core.policies import ARMChallengeAuthenticationPolicy

                options = self.options
                self._arm = ARMPipelineClient(base_url=options.resource_manager, transport=self.transport, policies=[
                    policies.RequestIdPolicy(), policies.HeadersPolicy(),
                    policies.UserAgentPolicy(sdk_moniker="amlguard"), policies.ContentDecodePolicy(),
                    policies.RetryPolicy(**options.retry_kwargs()),
                    ARMChallengeAuthenticationPolicy(self.credential, options.token_scope),
                    policies.HttpLoggingPolicy(),
                ])
            client = self._arm
        url = f"{self.options.resource_manager.rstrip('/')}{path}"
        request = HttpRequest(method, url, params={"api-version": api_version}, json=body)
        response = client.send_request(request)
        response.raise_for_status()
        answer: dict[str, Any] | None = response.json() if response.content else None
        return answer

    def __call__(self, subscription: str, resource_group: str | None = None,
                 workspace: str | None = None) -> MLClient:
        return self.ml_client(subscription, resource_group, workspace)


# ---- ARM JSON through MLClient's generated operations -------------------------------------------
def raw_get(rest: Any, url: str, *, api_version: str | None) -> dict[str, Any]:
    """GET through a generated REST operation's own pipeline (MLClient's transport, retry policy
    and credential) and return the ARM JSON as is: deserialising into the SDK's models and back
    with `as_dict()` cost more CPU than the rest of the sweep."""
    from azure.core.rest import HttpRequest

    if url.startswith("/"):
        url = rest._config.base_url.rstrip("/") + url
    request = HttpRequest("GET", url, params={"api-version": api_version} if api_version else None)
    response = rest._client.send_request(request)
    response.raise_for_status()
    body = response.json() if response.content else {}
    if not isinstance(body, dict):
        raise ValueError(f"ARM answered GET {url} with {type(body).__name__}, expected a JSON object")
    return body


def raw_pages(rest: Any, path: str, api_version: str | None = None) -> Iterator[dict[str, Any]]:
    """The items of an ARM list at `path`, following `nextLink` (which carries its own query)."""
    page = raw_get(rest, path, api_version=api_version or rest._config.api_version)
    while True:
        for item in page.get("value") or []:
            if isinstance(item, dict):
                yield item
        next_link = page.get("nextLink")
        if not next_link:
            return
        page = raw_get(rest, str(next_link), api_version=None)
