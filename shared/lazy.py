"""Module-level `__getattr__` that imports a package's public names on first use.

Packages whose names pull in numpy, pyarrow or the Azure SDKs export them through this, so that
importing the package (on a Function App cold start, say) costs nothing until a name is used.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_getattr"]


def lazy_getattr(package: str, names: Mapping[str, str], namespace: dict[str, Any]) -> Callable[[str], Any]:
    """A `__getattr__` for `package`: `names` maps a public name to the submodule defining it;
    the value is cached in `namespace` (the package's globals) after the first lookup."""

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        namespace[name] = value
        return value

    return __getattr__
