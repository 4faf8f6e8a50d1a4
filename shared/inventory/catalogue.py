"""The fields each kind of resource can have, as the normaliser knows them: what a policy author may
name in `field:` (`amlguard policy validate` warns on a name no targeted kind has). Built from the
tables the inventory recognises and normalises documents with, so it grows with them."""

from __future__ import annotations

from functools import lru_cache

from amlguard.inventory import kinds, normalize, recognize
from amlguard.model import KINDS, Kind

__all__ = ["COMMON_FIELDS", "known_fields"]

# Fields any resource can carry: the ARM envelope (id, name, location, tags, identity, sku, kind,
# systemData), the service's read-only state, and what the inventory adds (copy_loop from a
# template's copy loop)
COMMON_FIELDS = frozenset({
    "$schema", "id", "name", "description", "tags", "properties", "identity", "location", "kind", "sku",
    "system_data", "provisioning_state", "copy_loop"})

# What the normaliser writes for each existing kind beyond the keys that recognise it (the
# service-only fields the ARM converter keeps, the live inventory's diagnostic settings)
_ADDED: dict[str, frozenset[str]] = {
    Kind.WORKSPACE.value: frozenset({"display_name", "friendly_name", "private_endpoint_connections", "workspace_id",
                                     "public_network_access", "diagnostic_settings", "resource_group",
                                     "shared_private_link_resources", "service_managed_resources_settings",
                                     "storage_hns_enabled", "tenant_id", "soft_delete_retention_in_days",
                                     "ip_allowlist", "enable_software_bill_of_materials", "associated_workspaces",
                                     "hub_resource_id", "workspace_hub_config", "encryption"}),
    Kind.ONLINE_ENDPOINT.value: frozenset({"auth_mode", "scoring_uri", "openapi_uri", "diagnostic_settings"}),
    Kind.BATCH_ENDPOINT.value: frozenset({"auth_mode", "scoring_uri", "openapi_uri"}),
    Kind.ONLINE_DEPLOYMENT.value: frozenset({"endpoint_name", "type", "startup_probe", "endpoint_compute_type"}),
    Kind.BATCH_DEPLOYMENT.value: frozenset({"endpoint_name", "type"}),
}


@lru_cache(maxsize=1)
def known_fields() -> dict[str, frozenset[str]]:
    """kind -> the top-level field names a resource of that kind can have."""
    new = kinds.catalogue()
    out: dict[str, frozenset[str]] = {}
    for kind in KINDS:
        names = set(COMMON_FIELDS) | recognize.KIND_KEYS.get(kind, frozenset()) | _ADDED.get(kind, frozenset())
        out[kind] = frozenset(names | new.get(kind, frozenset()) | normalize.defaulted_fields(kind))
    return out
