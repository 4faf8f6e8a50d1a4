"""Inventories: where Resources come from (files here; live ARM / Resource Graph beside them).

`load_paths` and `SnapshotInventory` read Azure ML YAML and ARM / `az ml` JSON files;
`resource_from_yaml` (normalize.py) and `resource_from_arm` (arm.py) are the one way every
source becomes a `Resource`. ARM ids are `amlguard.armid.ArmId` values.
"""

from amlguard.inventory.arm import resource_from_arm
from amlguard.inventory.base import Inventory, InventoryError, InventoryResult, Scope
from amlguard.inventory.files import SnapshotInventory, load_data, load_paths
from amlguard.inventory.normalize import WorkspaceContext, normalize_enum, resource_from_yaml

__all__ = ["Inventory", "InventoryError", "InventoryResult", "Scope", "SnapshotInventory", "WorkspaceContext",
           "load_data", "load_paths", "normalize_enum", "resource_from_arm", "resource_from_yaml"]
