"""A command stopped by a missing optional dependency names the extra that brings it."""

from __future__ import annotations

import pytest

from amlguard.extras import missing_extra_message


@pytest.mark.parametrize(("module", "command", "extra"), [
    ("numpy", "drift", "drift"),
    ("scipy.stats", "monitor", "drift"),
    ("azure.monitor.query", "monitor", "monitor"),
    ("azure.identity", "audit", "azure"),
    ("azure.functions", "serve", "service"),
    ("uvicorn", "serve", "service"),
    ("opentelemetry.sdk.trace", "serve", "azure"),
    # no Azure package at all: the namespace itself is missing; the command says which extra
    ("azure", "audit", "azure"),
    ("azure", "inventory", "azure"),
    ("azure", "drift", "monitor"),
    ("azure", "serve", "service"),
])
def test_the_message_names_the_extra(module: str, command: str, extra: str) -> None:
    message = missing_extra_message(ModuleNotFoundError(f"No module named '{module}'", name=module), command)
    assert message == (f"amlguard {command} needs '{module}', which comes with the `{extra}` extra: "
                       f"pip install 'amlguard[{extra}]' (the core install, without extras, does: audit and inventory "
                       "of files, policy validate|test, every report format)")


@pytest.mark.parametrize("module", ["yaml", "jsonschema", "amlguard.nothing", "azurex", "numpyish", ""])
def test_a_module_no_extra_brings_is_left_to_the_traceback(module: str) -> None:
    """A core module missing is a broken install, not an extra to suggest."""
    assert missing_extra_message(ModuleNotFoundError("missing", name=module or None), "audit") is None
