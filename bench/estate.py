"""Generated Azure ML estates in ARM JSON (Resource Graph result shape) for benchmarks."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

SUB = "00000000-0000-0000-0000-0000000000b1"


def workspace_id(ws: int) -> str:
    return (f"/subscriptions/{SUB}/resourceGroups/rg-bench/providers/Microsoft.MachineLearningServices/"
            f"workspaces/ws-{ws:03d}")


def estate(workspaces: int, endpoints_per_workspace: int, *, seed: int = 7) -> list[dict[str, Any]]:
    """Workspaces, managed online endpoints and one deployment each; about a third non-compliant."""
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    for w in range(workspaces):
        ws = workspace_id(w)
        rows.append({"id": ws, "name": f"ws-{w:03d}", "type": "Microsoft.MachineLearningServices/workspaces",
                     "location": "westeurope", "tags": {"owner": "bench", "cost_center": "1"},
                     "properties": {"publicNetworkAccess": rng.choice(["Disabled", "Enabled"]),
                                    "managedNetwork": {"isolationMode": "AllowOnlyApprovedOutbound"}}})
        for e in range(endpoints_per_workspace):
            ep = f"{ws}/onlineEndpoints/ep-{e:03d}"
            bad = rng.random() < 0.33
            rows.append({
                "id": ep, "name": f"ep-{e:03d}", "type": "Microsoft.MachineLearningServices/workspaces/onlineEndpoints",
                "location": "westeurope", "tags": {"owner": "bench", "cost_center": "1"},
                "properties": {"authMode": "Key" if bad else "AADToken",
                               "publicNetworkAccess": "Enabled" if bad else "Disabled",
                               "traffic": {"blue": 100}, "provisioningState": "Succeeded"},
            })
            rows.append({
                "id": f"{ep}/deployments/blue", "name": "blue",
                "type": "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments",
                "location": "westeurope", "tags": {"owner": "bench"} if bad else {"owner": "bench", "cost_center": "1"},
                "sku": {"name": "Default", "capacity": 1 if bad else 3},
                "properties": {"endpointComputeType": "Managed", "instanceType": "Standard_DS3_v2",
                               "model": "azureml:m:1", "appInsightsEnabled": not bad,
                               "egressPublicNetworkAccess": "Enabled" if bad else "Disabled",
                               "requestSettings": {"requestTimeout": "PT5S"},
                               "livenessProbe": {"initialDelay": "PT10S", "period": "PT10S"},
                               "readinessProbe": {"initialDelay": "PT10S", "period": "PT10S"},
                               "dataCollector": {"collections": {"model_inputs": {"dataCollectionMode": "Enabled"},
                                                                 "model_outputs": {"dataCollectionMode": "Enabled"}}}},
            })
    return rows


def write_snapshot(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"data": rows}))
    return path
