"""One spelling for the values Azure ML sources spell differently: camelCase keys to snake_case,
enum values to lower-case snake, 'true' / 'enabled' strings of boolean fields to booleans."""

from __future__ import annotations

import enum
import re
from functools import lru_cache
from typing import Any

__all__ = ["bool_or_keep", "camel_to_snake", "enum_or_keep", "normalize_enum"]

_CAMEL_ACRONYM = re.compile(r"([A-Z]+)([A-Z][a-z])")
_CAMEL_WORD = re.compile(r"([a-z0-9])([A-Z])")


@lru_cache(maxsize=4096)
def camel_to_snake(name: str) -> str:
    """`publicNetworkAccess` -> `public_network_access`, `AADToken` -> `aad_token`."""
    if name.islower() or not any(c.isupper() for c in name):
        return name
    return _CAMEL_WORD.sub(r"\1_\2", _CAMEL_ACRONYM.sub(r"\1_\2", name)).lower()


@lru_cache(maxsize=2048)
def _enum_text(text: str) -> str:
    text = text.strip()
    if "," in text:  # "SystemAssigned,UserAssigned" (ManagedServiceIdentityType)
        return ",".join(_enum_text(part) for part in text.split(",") if part.strip())
    if "." in text:
        # str() / f-string of a str Enum in Python 3.11 gives "PublicNetworkAccessType.DISABLED"
        head, _, tail = text.rpartition(".")
        if head[:1].isupper() and head.replace(".", "").isidentifier() and tail.isidentifier():
            text = tail
    text = text.replace("-", "_").replace(" ", "_")
    snake = text.lower() if text.isupper() or text.islower() else camel_to_snake(text)
    return _SPELLINGS.get(snake.replace("_", ""), snake)


# Enum values Azure compares case-insensitively that camelCase splitting gets wrong when written
# in another case (`AllowInternetOutBound` in Azure's own quickstart templates)
_SPELLINGS = {"allowinternetoutbound": "allow_internet_outbound",
              "allowonlyapprovedoutbound": "allow_only_approved_outbound"}


def normalize_enum(value: Any) -> str:
    """One spelling for an enum value from any source: lower-case snake.

    `Disabled`, `disabled`, `DISABLED`, `PublicNetworkAccessType.DISABLED` and the enum member
    itself all give `disabled`; `AADToken` / `aad_token` give `aad_token`;
    `AllowOnlyApprovedOutbound` gives `allow_only_approved_outbound`.
    """
    if isinstance(value, enum.Enum):
        value = value.value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if not isinstance(value, str):
        return str(value).lower()
    return _enum_text(value)


def enum_or_keep(value: Any) -> Any:
    """Normalise strings and enum members; leave other values (wrong types) for rules to see."""
    if isinstance(value, (str, enum.Enum)):
        return normalize_enum(value)
    return value


_TRUE = {"true": True, "false": False, "yes": True, "no": False, "enabled": True, "disabled": False}


def bool_or_keep(value: Any) -> Any:
    if isinstance(value, str):
        return _TRUE.get(value.strip().lower(), value)
    return value
