"""The bundled pack on real-world Azure ML YAML (the corpus) and on normalised ARM objects."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from amlguard.inventory import load_paths, resource_from_arm
from amlguard.policy import load_pack

WS = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws"


def test_corpus_gets_one_finding_per_rule_and_resource_and_no_errors(corpus_dir: Path) -> None:
    result = load_paths([corpus_dir])
    assert result.resources
    pack = load_pack()
    findings = pack.evaluate(result.resources, errors=result.errors)
    per_pair = Counter((f.rule, f.resource) for f in findings)
    assert set(per_pair.values()) == {1}
    for resource in result.resources:
        expected = {r.id for r in pack.rules if resource.kind in r.kinds}
        assert {rule for rule, res in per_pair if res == resource.id} == expected
    assert not [f for f in findings if f.status == "error"]
    for finding in findings:
        assert finding.source and finding.line and finding.message
    # Kubernetes endpoints are out of scope for the public-network rule, never a pass or fail
    k8s = [f for f in findings if f.rule == "AMLG-NET-001" and "kubernetes" in (f.source or "")]
    assert k8s and {f.status for f in k8s} == {"not_applicable"}
    # templated deployment files are evaluated as written, and the message says so
    assert any("template placeholder" in f.message for f in findings)


def test_arm_objects_from_the_service() -> None:
    endpoint = {"id": f"{WS}/onlineEndpoints/churn", "name": "churn", "location": "westeurope",
                "type": "Microsoft.MachineLearningServices/workspaces/onlineEndpoints", "tags": {"owner": "a"},
                "properties": {"authMode": "AADToken", "publicNetworkAccess": "Disabled",
                               "scoringUri": "https://churn.westeurope.inference.ml.azure.com/score",
                               "provisioningState": "Succeeded"}}
    deployment = {"id": f"{WS}/onlineEndpoints/churn/deployments/blue", "name": "blue",
                  "type": "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments",
                  "sku": {"name": "Default", "capacity": 1},
                  "properties": {"endpointComputeType": "Managed", "egressPublicNetworkAccess": "Enabled",
                                 "instanceType": "Standard_DS3_v2", "appInsightsEnabled": True,
                                 "model": "azureml://registries/azureml/models/phi/versions/1",
                                 "requestSettings": {"requestTimeout": "PT5S"}}}
    resources = [resource_from_arm(endpoint, origin="live"), resource_from_arm(deployment, origin="live")]
    assert all(r is not None for r in resources)
    findings = {(f.rule, f.resource_name): f for f in load_pack().evaluate([r for r in resources if r])}
    assert findings[("AMLG-NET-001", "churn")].status == "pass"
    assert findings[("AMLG-AUTH-001", "churn")].status == "pass"
    assert findings[("AMLG-NET-002", "blue")].status == "fail"
    assert findings[("AMLG-NET-002", "blue")].message == ("egress_public_network_access is 'enabled'; "
                                                          "expected 'disabled'")
    assert findings[("AMLG-OPS-001", "blue")].message == "instance_count is 1; expected >= 3"
    assert findings[("AMLG-OPS-002", "blue")].status == "pass"
    assert findings[("AMLG-SUP-001", "blue")].status == "pass"
    port = findings[("AMLG-PORT-002", "churn")]
    assert port.status == ("pass" if resources[0] and resources[0].live else "not_applicable")
