"""Value types: conversions applied to a field's value before an operator compares it.

Cloud Custodian's `value_type` idea: a condition can say `value_type: integer` (compare '3' as 3),
`size` (compare a length), `age` (days since a date), `image_registry` (the registry host of a
container image reference) and so on. Each type registers itself here with a one-line
description; the JSON Schema enum and the reference in policies/README.md come from this table.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from amlguard.registry import Registry
from amlguard.timeparse import seconds_or_none, time_or_none

__all__ = ["VALUE_TYPES", "Clock", "ValueType", "register_value_type"]


class Clock(threading.local):
    """A holder for "now" that compiled rules read; the engine sets it once per evaluation.

    Per thread: service threads evaluating one pack at the same time each see their own moment,
    so an evaluation needs no lock.
    """

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class ValueType:
    """A named conversion: `convert(value, clock)`; returns the value unchanged when it cannot."""

    name: str
    description: str
    convert: Callable[[Any, Clock], Any]


VALUE_TYPES: Registry[ValueType] = Registry("value type")


def register_value_type(name: str, description: str) -> Callable[[Callable[[Any, Clock], Any]],
                                                                  Callable[[Any, Clock], Any]]:
    """Decorator: register `fn(value, clock) -> converted` under `name`."""

    def decorate(fn: Callable[[Any, Clock], Any]) -> Callable[[Any, Clock], Any]:
        VALUE_TYPES.add(name, ValueType(name, description, fn))
        return fn

    return decorate


_TRUE = {"true", "yes", "on", "1", "enabled", "enable"}
_FALSE = {"false", "no", "off", "0", "disabled", "disable"}
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


@register_value_type("integer", "whole number; '3' and 3.0 compare as 3")
def _integer(value: Any, clock: Clock) -> Any:
    if isinstance(value, bool):
        return value
    try:
        return int(float(str(value).strip())) if isinstance(value, str) else int(value)
    except (TypeError, ValueError, OverflowError):
        return value


@register_value_type("number", "decimal number; '0.5' compares as 0.5")
def _number(value: Any, clock: Clock) -> Any:
    if isinstance(value, bool):
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


@register_value_type("boolean", "true/false; the strings 'true', 'True', 'enabled', 'yes' count as true "
                                "(Azure ML writes data_collector ... enabled as a string)")
def _boolean(value: Any, clock: Clock) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    text = str(getattr(value, "value", value)).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return value


@register_value_type("string", "the value as text")
def _string(value: Any, clock: Clock) -> Any:
    return value if value is None else str(getattr(value, "value", value))


@register_value_type("normalize", "lower-case snake text: 'AllowOnlyApprovedOutbound' becomes "
                                  "'allow_only_approved_outbound', 'AADToken' becomes 'aad_token', "
                                  "' Disabled ' becomes 'disabled'")
def _normalize(value: Any, clock: Clock) -> Any:
    if value is None or isinstance(value, (bool, int, float, list, dict)):
        return value
    text = str(getattr(value, "value", value)).strip()
    return _CAMEL.sub("_", text).replace("-", "_").replace(" ", "_").lower()


@register_value_type("size", "length of a list, mapping or text (absent counts as 0)")
def _size(value: Any, clock: Clock) -> Any:
    if value is None:
        return 0
    try:
        return len(value)
    except TypeError:
        return value


@register_value_type("keys", "the keys of a mapping as a list (e.g. the names of `tags`)")
def _keys(value: Any, clock: Clock) -> Any:
    if value is None:
        return []
    return list(value) if isinstance(value, dict) else value


@register_value_type("age", "days since the date or timestamp (e.g. a createdAt); negative in the future")
def _age(value: Any, clock: Clock) -> Any:
    when = time_or_none(value)
    return value if when is None else (clock.now - when).total_seconds() / 86400.0


@register_value_type("expiration", "days until the date or timestamp; negative once it has passed")
def _expiration(value: Any, clock: Clock) -> Any:
    when = time_or_none(value)
    return value if when is None else (when - clock.now).total_seconds() / 86400.0


@register_value_type("duration", "seconds in a duration: 10, '10s', '5m', or ISO-8601 'PT10S' (ARM wire form)")
def _duration(value: Any, clock: Clock) -> Any:
    seconds = seconds_or_none(value, "policy")
    return value if seconds is None else seconds


def _split_image(image: str) -> tuple[str, str, str | None]:
    """(registry, repository, tag-or-digest) of an image reference, with Docker's defaults."""
    ref = image.strip()
    digest = None
    if "@" in ref:
        ref, digest = ref.split("@", 1)
    first, _, rest = ref.partition("/")
    # Docker's rule: the first component is a registry host when it has a dot or a port, or is localhost
    if rest and ("." in first or ":" in first or first == "localhost"):
        registry, path = first.lower(), rest
    else:
        registry, path = "docker.io", ref
    tag = None
    if ":" in path.rsplit("/", 1)[-1]:
        path, tag = path.rsplit(":", 1)
    return registry, path, digest or tag


@register_value_type("image_registry", "registry host of a container image reference: "
                                       "'mcr.microsoft.com/azureml/x:1' gives 'mcr.microsoft.com', "
                                       "'python:3.11' gives 'docker.io'")
def _image_registry(value: Any, clock: Clock) -> Any:
    return _split_image(value)[0] if isinstance(value, str) and value.strip() else value


@register_value_type("image_tag", "tag (or digest) of a container image reference; 'latest' when none")
def _image_tag(value: Any, clock: Clock) -> Any:
    if not isinstance(value, str) or not value.strip():
        return value
    return _split_image(value)[2] or "latest"


_ARM_ASSET = re.compile(r"^/subscriptions/[^/]+/resourcegroups/[^/]+/providers/"
                        r"microsoft\.machinelearningservices/(workspaces|registries)/[^/]+/", re.IGNORECASE)


@register_value_type("asset_reference", "how an asset (model, environment) is given: 'registry' "
                                        "(azureml://registries/...), 'workspace' (azureml:name:version, "
                                        "azureml:name@label or an ARM id), 'inline' (a mapping), "
                                        "'local_path' (any other text)")
def _asset_reference(value: Any, clock: Clock) -> Any:
    if value is None:
        return None
    if isinstance(value, dict):
        return "inline"
    if not isinstance(value, str):
        return value
    text = value.strip()
    lowered = text.lower()
    if lowered.startswith("azureml://registries/"):
        return "registry"
    match = _ARM_ASSET.match(text)
    if match:
        return "registry" if match.group(1).lower() == "registries" else "workspace"
    if lowered.startswith("azureml:"):
        return "workspace"
    return "local_path"


_VERSION_PATH = re.compile(r"/(versions|labels)/([^/]+)/?$", re.IGNORECASE)


@register_value_type("asset_version", "the version an asset reference pins: '3' for azureml:name:3 or "
                                      ".../versions/3, '@label' for azureml:name@label or .../labels/label, "
                                      "'latest' when it names neither; inline assets and local paths unchanged")
def _asset_version(value: Any, clock: Clock) -> Any:
    if not isinstance(value, str) or _asset_reference(value, clock) not in ("workspace", "registry"):
        return value
    text = value.strip()
    match = _VERSION_PATH.search(text)
    if match:
        return match.group(2) if match.group(1).lower() == "versions" else f"@{match.group(2)}"
    if text.lower().startswith("azureml:") and not text.lower().startswith("azureml://"):
        body = text[len("azureml:"):]
        if "@" in body:
            return "@" + body.rsplit("@", 1)[1]
        return body.rsplit(":", 1)[1] if ":" in body else "latest"
    return "latest"
