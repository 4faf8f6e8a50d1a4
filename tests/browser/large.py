"""A large synthetic estate for scale tests: endpoints and deployments evaluated by the default policy pack."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from amlguard.model import AuditReport, Resource
from amlguard.policy import load_pack

SUB = "/subscriptions/00000000-0000-0000-0000-0000000000aa/resourceGroups/rg-{g}/providers/Microsoft.MachineLearningServices"


def large_report(n: int = 5000) -> AuditReport:
    """`n` endpoints and deployments over 20 workspaces, evaluated by the default policy pack."""
    resources = []
    for i in range(n):
        ws = f"mlw-{i % 20:02d}"
        base = f"{SUB.format(g=i % 5)}/workspaces/{ws}/onlineEndpoints/ep-{i // 2:05d}"
        tags = {"owner": f"team-{i % 7}"} | ({"cost_center": str(i)} if i % 3 else {})
        if i % 2 == 0:
            fields: dict[str, Any] = {"auth_mode": ("key", "aad_token", "aml_token")[i % 3],
                                      "public_network_access": "enabled" if i % 4 == 0 else "disabled", "tags": tags}
            resources.append(Resource(kind="online_endpoint", id=base, name=f"ep-{i // 2:05d}", fields=fields,
                                      workspace=ws, compute_type="managed", source=f"eps/ep-{i // 2:05d}/endpoint.yml",
                                      line=1))
        else:
            fields = {"egress_public_network_access": "enabled" if i % 5 == 0 else "disabled",
                      "instance_count": 1 + i % 4, "app_insights_enabled": i % 6 != 1, "tags": tags,
                      "model": f"azureml:model-{i % 9}:{i % 4 + 1}"}
            resources.append(Resource(kind="online_deployment", id=f"{base}/deployments/blue", name="blue",
                                      fields=fields, workspace=ws, endpoint_name=f"ep-{i // 2:05d}",
                                      compute_type="managed", source=f"eps/ep-{i // 2:05d}/blue.yml", line=1))
    pack = load_pack(None)
    return AuditReport(resources=resources, findings=pack.evaluate(resources), rules=pack.rules_metadata())


def large_alerts(report: AuditReport, start: datetime) -> list[dict[str, Any]]:
    """One firing alert per failing finding, as AlertManager.list_alerts() shows them."""
    out = []
    for i, finding in enumerate(f for f in report.findings if f.status == "fail"):
        at = (start + timedelta(minutes=i % 600)).isoformat()
        out.append({"fingerprint": f"fp{i:06d}", "rule": finding.rule, "resource": finding.resource,
                    "status": "firing" if i % 10 else "pending", "severity": finding.severity, "since": at,
                    "active_since": at, "changed_by": {"upn": f"user{i % 13}@contoso.com"} if i % 4 == 0 else None,
                    "history": [{"at": at, "event": "transition", "from": "inactive", "to": "firing",
                                 "reason": "failed", "changed_by": None}]})
    return out
