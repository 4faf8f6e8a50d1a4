"""Which optional extra brings a module, so a command run without it says what to install.

`pip install amlguard` is the core: `audit` and `inventory` of files, `policy validate|test` and
every report format. Live Azure, drift, monitoring and the service come with extras
(pyproject.toml); tests/test_packaging.py keeps the table below equal to them.
"""

from __future__ import annotations

__all__ = ["CORE_COMMANDS", "EXTRA_OF_MODULE", "missing_extra_message"]

# import name -> the smallest extra that installs it (the longest matching name wins);
# tests/test_packaging.py checks each against the installed distributions
EXTRA_OF_MODULE: dict[str, str] = {
    "azure.core": "azure",
    "azure.identity": "azure",
    "azure.mgmt.core": "azure",
    "azure.mgmt.resourcegraph": "azure",
    "azure.ai.ml": "azure",
    # azure-ai-ml brings these three too, so `azure` is the smallest extra that has them
    "azure.storage.blob": "azure",
    "azure.monitor.opentelemetry.exporter": "azure",
    "opentelemetry.sdk": "azure",
    "numpy": "drift",
    "scipy": "drift",
    "pyarrow": "drift",
    "azure.mgmt.monitor": "monitor",
    "azure.monitor.query": "monitor",
    "azure.monitor.querymetrics": "monitor",
    "azure.functions": "service",
    "azure.eventgrid": "service",
    "azure.data.tables": "service",
    "fastapi": "service",
    "starlette": "service",
    "pydantic": "service",
    "uvicorn": "service",
    "httpx": "service",
    "azure.storage.queue": "service",
}
# Without any Azure package even the `azure` namespace is missing: the command says which extra.
_EXTRA_OF_COMMAND = {"audit": "azure", "inventory": "azure", "drift": "monitor", "monitor": "monitor",
                     "serve": "service", "alerts": "service", "silence": "service", "routes": "service"}
CORE_COMMANDS = "audit and inventory of files, policy validate|test, every report format"


def _extra_for(module: str, command: str) -> str | None:
    best = ""
    for name in EXTRA_OF_MODULE:
        if (module == name or module.startswith(name + ".")) and len(name) > len(best):
            best = name
    if best:
        return EXTRA_OF_MODULE[best]
    if any(name.startswith(module + ".") for name in EXTRA_OF_MODULE):  # a bare namespace: `azure`
        return _EXTRA_OF_COMMAND.get(command, "service")
    return None


def missing_extra_message(exc: ModuleNotFoundError, command: str) -> str | None:
    """What to tell the user when `command` stopped on `exc`; None when the missing module is no
    optional extra's (a broken install or a bug: the traceback says more than we could)."""
    extra = _extra_for(exc.name or "", command)
    if extra is None:
        return None
    return (f"amlguard {command} needs '{exc.name}', which comes with the `{extra}` extra: "
            f"pip install 'amlguard[{extra}]' (the core install, without extras, does: {CORE_COMMANDS})")
