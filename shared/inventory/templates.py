"""Read `{{placeholder}}` templates: swap each token for an opaque string so the YAML parses,
then put the original text back and record which fields hold a placeholder.

`${{parent.inputs.x}}` (Azure ML pipeline expressions) is valid YAML and not a placeholder.
Tokens never span lines, so line numbers are unchanged by the swap.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

__all__ = ["PLACEHOLDER", "has_placeholder", "placeholder_paths", "restore", "restore_lines", "string_paths",
           "substitute"]

PLACEHOLDER = re.compile(r"(?<!\$)\{\{[^{}\r\n]*\}\}")
_MARK = "__amlg_ph_{}__"
_MARK_RE = re.compile(r"__amlg_ph_(\d+)__")


def has_placeholder(text: str) -> bool:
    """True when `text` holds a `{{...}}` token (not an Azure ML `${{...}}` expression)."""
    return "{{" in text and PLACEHOLDER.search(text) is not None


def substitute(text: str) -> tuple[str, list[str]]:
    """Replace every placeholder with a plain-scalar marker; returns the text and the tokens."""
    tokens: list[str] = []

    def swap(match: re.Match[str]) -> str:
        tokens.append(match.group(0))
        return _MARK.format(len(tokens) - 1)

    return PLACEHOLDER.sub(swap, text), tokens


def _put_back(text: str, tokens: list[str]) -> str:
    def back(match: re.Match[str]) -> str:
        index = int(match.group(1))
        return tokens[index] if index < len(tokens) else match.group(0)

    return _MARK_RE.sub(back, text)


def restore(value: Any, tokens: list[str], depth: int = 0) -> Any:
    """Put the original tokens back into `value` (keys and strings)."""
    if depth > 200:
        return value
    if isinstance(value, str):
        return _put_back(value, tokens) if "__amlg_ph_" in value else value
    if isinstance(value, dict):
        return {(_put_back(key, tokens) if isinstance(key, str) and "__amlg_ph_" in key else key):
                restore(item, tokens, depth + 1) for key, item in value.items()}
    if isinstance(value, list):
        return [restore(item, tokens, depth + 1) for item in value]
    return value


def placeholder_paths(value: Any) -> set[str]:
    """Dotted paths of the strings (and keys) in `value` that hold a placeholder."""
    return string_paths(value, has_placeholder)


def string_paths(value: Any, matches: Callable[[str], bool], path: str = "", depth: int = 0) -> set[str]:
    """Dotted paths of the strings (and keys) in `value` that `matches` accepts: the fields a
    resource has only once it is deployed (a `{{placeholder}}`, a template expression)."""
    found: set[str] = set()
    if depth > 200:
        return found
    if isinstance(value, str):
        if matches(value):
            found.add(path)
    elif isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and matches(key):
                found.add(child)
            found |= string_paths(item, matches, child, depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found |= string_paths(item, matches, f"{path}.{index}" if path else str(index), depth + 1)
    return found


def restore_lines(lines: dict[str, int], tokens: list[str]) -> dict[str, int]:
    """The line map with markers in its paths turned back into the original tokens."""
    if not tokens:
        return lines
    return {(_put_back(path, tokens) if "__amlg_ph_" in path else path): line for path, line in lines.items()}
