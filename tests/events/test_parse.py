"""Event Grid / CloudEvents parsing: both schemas, handshakes, classification, attribution."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import azure.functions as func
import pytest

from amlguard.events import EventParseError, from_function_event, parse_event_dict, parse_webhook

WS = "/subscriptions/sub-1/resourceGroups/rg-ml/providers/Microsoft.MachineLearningServices/workspaces/ws1"
EP = f"{WS}/onlineEndpoints/fraud"
DEP = f"{EP}/deployments/blue"


def arm_event(event_type: str = "Microsoft.Resources.ResourceWriteSuccess", subject: str = EP,
              operation: str = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/write",
              event_id: str = "e1", **data_extra: object) -> dict:
    return {
        "id": event_id,
        "topic": "/subscriptions/sub-1/resourceGroups/rg-ml",
        "subject": subject,
        "eventType": event_type,
        "eventTime": "2026-11-26T10:00:00.1234567Z",
        "dataVersion": "2",
        "metadataVersion": "1",
        "data": {
            "operationName": operation,
            "resourceUri": subject,
            "status": "Succeeded",
            "claims": {
                "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn": "ana@contoso.com",
                "appid": "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
                "ipaddr": "203.0.113.7",
            },
            "httpRequest": {"clientIpAddress": "203.0.113.8", "method": "PUT"},
            **data_extra,
        },
    }


@pytest.mark.parametrize(
    ("event_type", "subject", "operation", "action"),
    [
        ("Microsoft.Resources.ResourceWriteSuccess", EP, "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/write", "audit"),
        ("Microsoft.Resources.ResourceWriteSuccess", DEP, "microsoft.machinelearningservices/workspaces/onlineendpoints/deployments/write", "audit"),
        ("Microsoft.Resources.ResourceDeleteSuccess", DEP, "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments/delete", "delete"),
        ("Microsoft.Resources.ResourceWriteSuccess", WS, "Microsoft.MachineLearningServices/workspaces/write", "audit"),
        ("Microsoft.Resources.ResourceWriteSuccess", f"{WS}/batchEndpoints/b1/deployments/d1", "Microsoft.MachineLearningServices/workspaces/batchEndpoints/deployments/write", "audit"),
        ("MICROSOFT.RESOURCES.RESOURCEWRITESUCCESS", EP.upper(), "MICROSOFT.MACHINELEARNINGSERVICES/WORKSPACES/ONLINEENDPOINTS/WRITE", "audit"),
        # the workspace's other resources (issue 15): computes, registries, serverless endpoints, datastores
        ("Microsoft.Resources.ResourceWriteSuccess", f"{WS}/computes/cpu", "Microsoft.MachineLearningServices/workspaces/computes/write", "audit"),
        ("Microsoft.Resources.ResourceDeleteSuccess", f"{WS}/computes/cpu", "Microsoft.MachineLearningServices/workspaces/computes/delete", "delete"),
        ("Microsoft.Resources.ResourceWriteSuccess", "/subscriptions/sub-1/resourceGroups/rg-ml/providers/Microsoft.MachineLearningServices/registries/shared", "Microsoft.MachineLearningServices/registries/write", "audit"),
        ("Microsoft.Resources.ResourceWriteSuccess", f"{WS}/serverlessEndpoints/llama", "Microsoft.MachineLearningServices/workspaces/serverlessEndpoints/write", "audit"),
        # not ours: storage accounts, jobs, keys
        ("Microsoft.Resources.ResourceWriteSuccess", "/subscriptions/s/resourceGroups/r/providers/Microsoft.Storage/storageAccounts/a", "Microsoft.Storage/storageAccounts/write", "ignore"),
        ("Microsoft.Resources.ResourceWriteSuccess", f"{WS}/jobs/j1", "Microsoft.MachineLearningServices/workspaces/jobs/write", "ignore"),
        ("Microsoft.Resources.ResourceActionSuccess", EP, "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/listKeys/action", "ignore"),
        ("Microsoft.Resources.ResourceWriteFailure", EP, "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/write", "ignore"),
    ],
)
def test_arm_events_are_classified(event_type: str, subject: str, operation: str, action: str) -> None:
    event = parse_event_dict(arm_event(event_type, subject, operation))
    assert event.action == action
    if action != "ignore":
        assert event.resource_id == subject
    else:
        assert event.reason


def test_attribution_prefers_upn_and_request_ip() -> None:
    event = parse_event_dict(arm_event())
    assert event.changed_by is not None
    assert event.changed_by["upn"] == "ana@contoso.com"
    assert event.changed_by["display"] == "ana@contoso.com"
    assert event.changed_by["app_id"] == "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
    assert event.changed_by["ip"] == "203.0.113.8"  # httpRequest wins over the token's ipaddr


def test_claims_given_as_json_strings_are_read() -> None:
    raw = arm_event()
    raw["data"]["claims"] = json.dumps({"name": "Deploy Bot", "appid": "app-123"})
    raw["data"]["httpRequest"] = json.dumps({"clientIpAddress": "198.51.100.1"})
    event = parse_event_dict(raw)
    assert event.changed_by == {"name": "Deploy Bot", "app_id": "app-123", "ip": "198.51.100.1",
                                "display": "Deploy Bot"}


def test_seven_digit_event_time_is_parsed_as_utc() -> None:
    event = parse_event_dict(arm_event())
    assert event.time == datetime(2026, 11, 26, 10, 0, 0, 123456, tzinfo=UTC)


def test_cloudevents_structured_single_event() -> None:
    body = {
        "specversion": "1.0", "id": "ce-1", "type": "Microsoft.Resources.ResourceDeleteSuccess",
        "source": "/subscriptions/sub-1/resourceGroups/rg-ml", "subject": EP, "time": "2026-11-26T10:00:00Z",
        "data": {"operationName": "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/delete",
                 "resourceUri": EP},
    }
    delivery = parse_webhook(json.dumps(body).encode())
    assert [e.action for e in delivery.events] == ["delete"]
    assert delivery.events[0].schema == "cloudevents"


def _model_deployed(compute: str | None) -> dict[str, object]:
    data = {"ServiceName": "fraud", "ModelIds": "fraud:3", "ServiceTags": {}, "ServiceProperties": {}}
    if compute is not None:
        data["ServiceComputeType"] = compute
    return {"id": "m1", "topic": WS, "subject": "endpoints/fraud", "eventType":
            "Microsoft.MachineLearningServices.ModelDeployed", "eventTime": "2026-11-26T10:00:00Z", "data": data,
            "dataVersion": "", "metadataVersion": "1"}


def test_batch_of_events_and_model_deployed() -> None:
    delivery = parse_webhook(json.dumps([arm_event(), _model_deployed("Managed")]))
    assert [e.action for e in delivery.events] == ["audit", "audit"]
    assert delivery.events[1].resource_id == f"{WS}/onlineEndpoints/fraud"


@pytest.mark.parametrize("compute", ["ACI", "aks", None])
def test_model_deployed_about_a_v1_web_service_is_ignored_with_the_reason(compute: str | None) -> None:
    """Azure's example ModelDeployed has ServiceComputeType ACI: a v1 web service. Reading its name as an
    online endpoint audited an endpoint that does not exist (and fired alerts about it)."""
    (event,) = parse_webhook(json.dumps(_model_deployed(compute))).events
    assert (event.action, event.resource_id) == ("ignore", None)
    assert f"ServiceComputeType {compute or '(none)'}: a v1 web service, not an online endpoint" in event.reason
    assert "audited from their ARM write events" in event.reason


def test_subscription_validation_handshake() -> None:
    body = [{"id": "v", "topic": "t", "subject": "", "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
             "eventTime": "2026-11-26T10:00:00Z", "data": {"validationCode": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6",
                                                            "validationUrl": "https://rp-westeurope.eventgrid.azure.net:553/x"},
             "dataVersion": "2", "metadataVersion": "1"}]
    delivery = parse_webhook(json.dumps(body))
    assert delivery.validation_code == "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"
    assert delivery.events == []


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"", "empty body"),
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe\x00", "not UTF-8"),
        (b"[]", "empty event array"),
        (b"[1, 2]", "expected a JSON object"),
        (b'[{"eventType": "x"}]', "missing required field(s): id, subject"),
        (b'{"specversion": "1.0", "id": "1"}', "missing required attribute(s): type, source"),
        (b'[{"eventType": "Microsoft.EventGrid.SubscriptionValidationEvent", "data": {}}]', "validationCode"),
    ],
)
def test_malformed_bodies_say_what_is_wrong(body: bytes, expected: str) -> None:
    with pytest.raises(EventParseError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        parse_webhook(body)


def test_unknown_event_types_are_ignored_with_a_reason() -> None:
    raw = arm_event(event_type="Microsoft.Storage.BlobCreated")
    event = parse_event_dict(raw)
    assert event.action == "ignore"
    assert "Microsoft.Storage.BlobCreated" in event.reason


def test_function_event_grid_event_object() -> None:
    raw = arm_event()
    event = func.EventGridEvent(id=raw["id"], data=raw["data"], topic=raw["topic"], subject=raw["subject"],
                                event_type=raw["eventType"], event_time=datetime(2026, 11, 26, 10, tzinfo=UTC),
                                data_version="2")
    parsed = from_function_event(event)
    assert parsed.action == "audit"
    assert parsed.resource_id == EP
    assert parsed.time == datetime(2026, 11, 26, 10, tzinfo=UTC)
    assert parsed.changed_by and parsed.changed_by["upn"] == "ana@contoso.com"


def test_the_service_audits_nothing_for_an_aci_model_deployed(tmp_path: Path) -> None:
    """Azure's own ModelDeployed example (ServiceComputeType ACI) against the example workspace: ignored,
    with the reason, and no alert about an online endpoint that does not exist."""
    import dataclasses

    from amlguard.config import Settings
    from amlguard.service import Service

    repo = Path(__file__).resolve().parents[2]
    workspace = ("/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-ml-prod/providers/"
                 "Microsoft.MachineLearningServices/workspaces/mlw-prod")
    event = {**_model_deployed("ACI"), "topic": workspace}
    settings = dataclasses.replace(Settings.from_env({}), snapshot=(str(repo / "examples" / "workspace"),),
                                   state_dir=tmp_path)
    service = Service.from_settings(settings)
    try:
        (parsed,) = parse_webhook(json.dumps(event)).events
        outcome = service.handle_event(parsed)
        alerts = service.alerts.list_alerts()
    finally:
        service.close()
    assert (outcome.outcome, outcome.findings) == ("ignored", 0)
    assert "a v1 web service" in outcome.reason
    assert alerts == []
