"""The interface every inventory implements: snapshot files, azure-ai-ml, Resource Graph.

The service asks an inventory two questions: "what is this resource now" (`get`) and "what is
in this scope" (`list`). A resource that cannot be read is not a pass: `list` reports it in
`InventoryResult.errors` so the engine can emit `error` findings for it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from amlguard.model import Diagnostic, Resource

__all__ = ["Inventory", "InventoryError", "InventoryResult", "Scope"]


@dataclass(slots=True, frozen=True)
class Scope:
    """What to sweep: subscriptions, optionally narrowed to a resource group and workspace."""

    subscriptions: tuple[str, ...] = ()
    resource_group: str | None = None
    workspace: str | None = None


@dataclass(slots=True)
class InventoryError:
    """A resource or workspace that could not be read: becomes an `error` finding."""

    resource: str  # ARM id (or file path) of what could not be read
    message: str  # what went wrong and what to do about it
    kind: str | None = None  # resource kind when known
    retryable: bool = False


@dataclass(slots=True)
class InventoryResult:
    resources: list[Resource] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    errors: list[InventoryError] = field(default_factory=list)


class Inventory(Protocol):
    """Answers what a resource is now and what a scope holds."""

    def get(self, resource_id: str) -> Resource | None:
        """The resource as it is now, or None when it does not exist (deleted)."""
        ...

    def list(self, scope: Scope | None = None) -> InventoryResult:
        """Every resource in scope, plus diagnostics and per-resource errors."""
        ...

    def workspaces(self, scope: Scope | None = None) -> Iterable[str]:
        """ARM ids of the workspaces in scope (the unit of queue fan-out)."""
        ...
