"""A hand-built AuditReport that exercises every report feature (the golden files' input).

Covers every status and severity, a diagnostic, a live resource without a file, a Kubernetes
endpoint, an exemption with reason / approver / expiry (a `datetime.date`, as YAML gives it),
unicode, XML-special and control characters in messages.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from amlguard.model import AuditReport, Diagnostic, Finding, Resource

TOOL_VERSION = "9.9.9"
LIVE_ID = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-ml"
    "/providers/Microsoft.MachineLearningServices/workspaces/ml-prod/onlineEndpoints/churn-live"
)


def repo_root() -> Path:
    """The folder holding pyproject.toml above this file."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").exists():
            return parent
    raise RuntimeError("pyproject.toml not found above tests/")


RULES: dict[str, dict[str, object]] = {
    "AMLG-NET-001": {
        "title": "Managed online endpoint: public network access disabled",
        "description": "A managed online endpoint must not accept scoring traffic from the public internet.",
        "rationale": "A public scoring URI exposes the model to anyone holding a key or token.",
        "remediation": "Set `public_network_access: disabled` on the endpoint and score through a "
        "private endpoint of the workspace.",
        "severity": "high",
        "help_uri": "https://learn.microsoft.com/azure/machine-learning/concept-secure-online-endpoint",
        "kinds": ["online_endpoint"],
        "effect": "alert",
    },
    "AMLG-NET-002": {
        "title": "Managed online deployment: egress public network access disabled",
        "description": "A managed online deployment must not reach the public internet.",
        "rationale": "Outbound access lets a compromised scoring container exfiltrate data.",
        "remediation": "Set `egress_public_network_access: disabled` on the deployment.",
        "severity": "high",
        "help_uri": "https://learn.microsoft.com/azure/machine-learning/concept-secure-online-endpoint",
        "kinds": ["online_deployment"],
        "effect": "audit",
    },
    "AMLG-NET-003": {
        "title": "Workspace: public network access disabled",
        "description": "The workspace must only be reachable through private endpoints.",
        "rationale": "A public workspace exposes its studio, APIs and data stores to the internet.",
        "remediation": "Set `public_network_access: disabled` on the workspace.\n"
        "Then add a private endpoint for each network that needs access.",
        "severity": "high",
        "help_uri": "https://learn.microsoft.com/azure/machine-learning/how-to-configure-private-link",
        "kinds": ["workspace"],
        "effect": "audit",
    },
    "AMLG-NET-004": {
        "title": "Workspace: managed network isolation enabled",
        "description": "The workspace managed network isolation mode is not `disabled`.",
        "rationale": "Without managed network isolation, compute egress is uncontrolled.",
        "remediation": "Set `managed_network.isolation_mode: allow_only_approved_outbound`.",
        "severity": "medium",
        "help_uri": "https://learn.microsoft.com/azure/machine-learning/how-to-managed-network",
        "kinds": ["workspace"],
        "effect": "audit",
    },
    "AMLG-AUTH-001": {
        "title": "Online endpoint: token authentication",
        "description": "The endpoint auth mode is `aad_token` or `aml_token`.",
        "rationale": "Keys never expire and are shared; tokens expire and name the caller.",
        "remediation": "Set `auth_mode: aad_token` and grant callers the scoring role.",
        "severity": "high",
        "help_uri": "https://learn.microsoft.com/azure/machine-learning/how-to-authenticate-online-endpoint",
        "kinds": ["online_endpoint", "batch_endpoint"],
        "effect": "alert",
    },
    "AMLG-PORT-001": {
        "title": "Online deployment: inference routes on unprivileged ports",
        "description": "Every inference route of a custom container uses a port >= 1024.",
        "rationale": "Privileged ports need root in the container.",
        "remediation": "Move liveness, readiness and scoring routes to a port >= 1024 (e.g. 8080).",
        "severity": "medium",
        "help_uri": "",
        "kinds": ["online_deployment"],
        "effect": "audit",
    },
    "AMLG-PORT-002": {
        "title": "Live online endpoint: HTTPS scoring URI",
        "description": "The scoring URI of a live endpoint uses HTTPS.",
        "rationale": "Plain HTTP sends tokens and payloads in clear text.",
        "remediation": "Recreate the endpoint; Azure ML managed endpoints serve HTTPS only.",
        "severity": "critical",
        "help_uri": "https://learn.microsoft.com/azure/machine-learning/concept-endpoints-online",
        "kinds": ["online_endpoint"],
        "effect": "alert",
    },
    "AMLG-OPS-001": {
        "title": "Online deployment: request logging enabled",
        "description": "App Insights request logging is on.",
        "rationale": "Without request logs an incident cannot be investigated.",
        "remediation": "Set `app_insights_enabled: true`.",
        "severity": "low",
        "help_uri": "",
        "kinds": ["online_deployment"],
        "effect": "audit",
    },
    "AMLG-TAG-001": {
        "title": "Resource carries an owner tag",
        "description": "Every resource has an `owner` tag.",
        "rationale": "Alerts need someone to go to.",
        "remediation": "Add `tags: {owner: team@contoso.com}`.",
        "severity": "info",
        "help_uri": "",
        "kinds": ["workspace", "online_endpoint"],
        "effect": "audit",
    },
}


def _f(rule: str, res: Resource, status: str, message: str, line: int | None = None, **kw: object) -> Finding:
    meta = RULES[rule]
    return Finding(
        rule=rule,
        resource=res.id,
        status=status,
        severity=str(meta["severity"]),
        message=message,
        source=res.source,
        line=line if line is not None else res.line,
        title=str(meta["title"]),
        kind=res.kind,
        resource_name=res.name,
        remediation=str(meta["remediation"]),
        effect=str(meta["effect"]),
        workspace=res.workspace,
        **kw,  # type: ignore[arg-type]
    )


def build_report() -> AuditReport:
    """The fixed report behind tests/reports/golden/*."""
    ws = Resource(kind="workspace", id="workspaces/prod.yml#ml-prod", name="ml-prod",
                  source="workspaces/prod.yml", line=1, lines={"public_network_access": 4})
    ep = Resource(kind="online_endpoint", id="endpoints/credit/endpoint.yml#credit-scoring",
                  name="credit-scoring", source="endpoints/credit/endpoint.yml", line=1, workspace="ml-prod",
                  compute_type="managed")
    dep = Resource(kind="online_deployment", id="endpoints/credit/blue.yml#credit-scoring/blue", name="blue",
                   source="endpoints/credit/blue.yml", line=1, endpoint_name="credit-scoring",
                   workspace="ml-prod", compute_type="managed")
    k8s = Resource(kind="online_endpoint", id="endpoints/fraud-k8s.yml#fraud-k8s", name="fraud-k8s",
                   source="endpoints/fraud-k8s.yml", line=2, compute_type="kubernetes")
    live = Resource(kind="online_endpoint", id=LIVE_ID, name="churn-live", workspace="ml-prod",
                    origin="live", live=True, compute_type="managed")

    findings = [
        _f("AMLG-NET-003", ws, "fail", "public_network_access is 'enabled'; it must be 'disabled'.", 4,
           field="public_network_access"),
        _f("AMLG-NET-004", ws, "pass", "managed_network.isolation_mode is allow_only_approved_outbound."),
        _f("AMLG-TAG-001", ws, "fail", "tag 'owner' is missing."),
        _f("AMLG-NET-001", ep, "fail",
           "public_network_access is absent; the Azure default is 'enabled'.", field="public_network_access"),
        _f("AMLG-AUTH-001", ep, "pass", "auth_mode is aad_token."),
        _f("AMLG-PORT-002", ep, "not_applicable", "scoring URI is only known for live endpoints."),
        _f("AMLG-TAG-001", ep, "exempt", "tag 'owner' is missing.",
           exemption={"reason": "Owned by the platform team until hand-over (ticket #42)",
                      "approver": "jane.doe@contoso.com", "expires": dt.date(2026, 12, 31)}),
        _f("AMLG-NET-002", dep, "exempt", "egress_public_network_access is 'enabled'.", 9,
           field="egress_public_network_access",
           exemption={"reason": "Pulls a licence from vendor <licensing> & \"phones home\"",
                      "approver": "sec-team", "expires": "2027-01-15"}),
        _f("AMLG-PORT-001", dep, "fail",
           "liveness_route.port 80 < 1024 & not in the allow-list [\"8080\", '8443'].", 14,
           field="environment.inference_config.liveness_route.port"),
        _f("AMLG-OPS-001", dep, "fail",
           "app_insights_enabled is false — request logs for 'Überweisung ✓ 日本語' are lost.\x1b[31m", 11,
           field="app_insights_enabled"),
        _f("AMLG-NET-001", k8s, "not_applicable", "Kubernetes online endpoints have no public_network_access."),
        _f("AMLG-AUTH-001", k8s, "pass", "auth_mode is aml_token."),
        _f("AMLG-PORT-002", k8s, "not_applicable", "scoring URI is only known for live endpoints."),
        _f("AMLG-NET-001", live, "pass", "public_network_access is disabled."),
        _f("AMLG-AUTH-001", live, "error",
           "workspace ml-prod unreachable: 403 AuthorizationFailed (Zugriff verweigert — Reader fehlt)."),
        _f("AMLG-PORT-002", live, "fail",
           "scoring_uri http://churn-live.westeurope.inference.ml.azure.com/score is not HTTPS."),
    ]
    diagnostics = [
        Diagnostic(source="endpoints/broken.yml", line=7,
                   message="could not parse YAML: mapping values are not allowed here"),
    ]
    return AuditReport(resources=[ws, ep, dep, k8s, live], findings=findings, diagnostics=diagnostics,
                       rules={k: dict(v) for k, v in RULES.items()})
