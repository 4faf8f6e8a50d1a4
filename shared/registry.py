"""One name -> object registry for every extension point (Cloud Custodian's `c7n/registry.py`).

Condition operators, value types and policy document kinds (amlguard.policy), monitor signals,
alert notifiers and remediation actions each keep a `Registry`: elements register under a
name, a second registration of the same name is an error (two modules claiming one name is a
bug, never an override), and iteration follows registration order, which is the order the
generated JSON Schema and policy reference list them in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(dict[str, T], Generic[T]):
    """A dict of registered elements; `add` and the `register` decorator refuse a taken name."""

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

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator form of `add`: `@REGISTRY.register("name")`."""

        def decorate(element: T) -> T:
            return self.add(name, element)

        return decorate
