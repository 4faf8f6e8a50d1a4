"""Inventories: where Resources come from (files here; live ARM / Resource Graph beside them).

`load_paths` and `SnapshotInventory` read Azure ML YAML and ARM / `az ml` JSON files;
`amlguard.inventory.normalize` is the one place every source is normalised into a `Resource`.
"""

from amlguard.inventory.base import Inventory, InventoryError, InventoryResult, Scope
from amlguard.inventory.files import SnapshotInventory, load_data, load_paths
from amlguard.inventory.normalize import (
    WorkspaceContext,
    arm_id,
    normalize_enum,
    parse_arm_id,
    resource_from_arm,
    resource_from_yaml,
)

__all__ = [
    "Inventory",
    "InventoryError",
    "InventoryResult",
    "Scope",
    "SnapshotInventory",
    "WorkspaceContext",
    "arm_id",
    "load_data",
    "load_paths",
    "normalize_enum",
    "parse_arm_id",
    "resource_from_arm",
    "resource_from_yaml",
]
