"""One name -> object registry for every extension point (Cloud Custodian's `c7n/registry.py`); a
second registration of a name is an error, iteration follows registration order (docs/policy.md)."""

from __future__ import annotations

from typing import Generic, TypeVar

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(dict[str, T], Generic[T]):
    """A dict of registered elements; `add` refuses a taken name."""

    def __init__(self, what: str) -> None:
        super().__init__()
        self.what = what  # "operator", "notifier", ...: for the error message

    def add(self, name: str, element: T) -> T:
        """Register `element` under `name`; ValueError when the name is taken."""
        if name in self:
            raise ValueError(f"{self.what} {name!r} is registered twice ({self[name]!r} and {element!r}); "
                             f"give one of them another name")
        self[name] = element
        return element
