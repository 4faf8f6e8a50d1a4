"""Use cases wiring inventory, policy engine and alert state; the only thing triggers call."""

from amlguard.service.core import EventOutcome, Service, build_inventory, scope_for_workspace
from amlguard.service.packs import PackHolder

__all__ = ["EventOutcome", "PackHolder", "Service", "build_inventory", "scope_for_workspace"]
