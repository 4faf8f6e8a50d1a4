"""Use cases wiring inventory, policy engine and alert state; the only thing triggers call.

The names load on first use: `amlguard audit` imports `amlguard.service.pipeline` alone, and the
service's state, events and alert machinery would add to every CLI run's start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from amlguard.lazy import lazy_getattr

if TYPE_CHECKING:
    from amlguard.service.core import EventOutcome, Service, build_inventory, scope_for_workspace
    from amlguard.service.packs import PackHolder

__all__ = ["EventOutcome", "PackHolder", "Service", "build_inventory", "scope_for_workspace"]
__getattr__ = lazy_getattr(__name__, {"EventOutcome": "core", "Service": "core", "build_inventory": "core",
                                      "scope_for_workspace": "core", "PackHolder": "packs"}, globals())
