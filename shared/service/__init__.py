"""Use cases wiring inventory, policy engine and alert state; the only thing triggers call.

The names load on first use: `amlguard audit` imports `amlguard.service.pipeline` alone, and the
service's state, events and alert machinery would add to every CLI run's start-up.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from amlguard.service.core import EventOutcome, Service, build_inventory, scope_for_workspace
    from amlguard.service.packs import PackHolder

__all__ = ["EventOutcome", "PackHolder", "Service", "build_inventory", "scope_for_workspace"]
_HOME = {"PackHolder": "amlguard.service.packs"}


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module(_HOME.get(name, "amlguard.service.core")), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
