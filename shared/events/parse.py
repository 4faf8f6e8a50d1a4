"""Parse Event Grid deliveries (Event Grid schema and CloudEvents 1.0) into `ParsedEvent`s.

Accepts raw webhook bodies (single event, batch array, structured CloudEvents) and the
`azure.functions` trigger objects alike, recognises the two handshakes, and decides what each
event asks of amlguard: audit a resource (write), resolve its alerts (delete), or nothing.
Nothing here does I/O; the service acts on the result.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from amlguard.armid import ArmId
from amlguard.model import Kind
from amlguard.timeparse import time_or_none

__all__ = [
    "EventParseError",
    "ParsedEvent",
    "WebhookDelivery",
    "from_function_event",
    "parse_event_dict",
    "parse_webhook",
    "rejected_text",
    "watched_id",
]

VALIDATION_EVENT = "microsoft.eventgrid.subscriptionvalidationevent"
WRITE_EVENT = "microsoft.resources.resourcewritesuccess"
DELETE_EVENT = "microsoft.resources.resourcedeletesuccess"
MODEL_DEPLOYED_EVENT = "microsoft.machinelearningservices.modeldeployed"
# ServiceComputeType of v1 web services (ACI, AKS: the event schema's examples, azure-facts §3.2)
_V1_SERVICE_COMPUTE = frozenset({"ACI", "AKS"})

_OPERATION = re.compile(
    r"^microsoft\.machinelearningservices/(?:workspaces"
    r"(?:/(?:onlineendpoints|batchendpoints)(?:/deployments)?|/computes|/serverlessendpoints|/datastores)?"
    r"|registries)/(write|delete)$",
    re.IGNORECASE,
)
_UPN_CLAIMS = (
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn",
    "upn",
    "unique_name",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
)
_OID_CLAIM = "http://schemas.microsoft.com/identity/claims/objectidentifier"
# ARM's limits: a resource group name is at most 90 characters, a resource name at most 260 (Azure ML's
# own are shorter: workspace 33, endpoint and deployment 32); no real id is near MAX_ID_LENGTH.
MAX_NAME_LENGTH = 260
_MAX_GROUP_LENGTH = 90
MAX_EVENT_ID_LENGTH = 256
# Event Grid's validation code is a GUID; the URL is https on Event Grid's own host.
_VALIDATION_CODE = re.compile(r"[A-Za-z0-9-]{1,128}")
_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class EventParseError(ValueError):
    """The delivery is not a well-formed Event Grid or CloudEvents body; says what is wrong."""


def watched_id(text: object) -> ArmId:
    """The ARM id of an Azure ML resource amlguard audits (workspace, online or batch endpoint or
    deployment), anchored at /subscriptions and within ARM's name limits; EventParseError otherwise."""
    shown = repr(text)[:160] + ("..." if len(repr(text)) > 160 else "")
    parsed = ArmId.parse(text.rstrip("/") if isinstance(text, str) else text)
    if parsed is None or parsed.kind is None:
        raise EventParseError(
            f"{shown} is not the ARM id of an Azure ML workspace, endpoint or deployment; expected "
            "/subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.MachineLearningServices/"
            "workspaces/<name>[/onlineEndpoints|batchEndpoints/<name>[/deployments/<name>]]")
    if len(parsed.resource_group or "") > _MAX_GROUP_LENGTH or any(
            len(name) > MAX_NAME_LENGTH for _, name in parsed.pairs):
        raise EventParseError(f"{shown} has a name longer than ARM allows ({_MAX_GROUP_LENGTH} characters for a "
                              f"resource group, {MAX_NAME_LENGTH} for a resource)")
    return parsed


@dataclass(slots=True)
class ParsedEvent:
    """One event and what it asks for. `action` is audit | delete | ignore."""

    id: str
    event_type: str
    schema: str  # eventgrid | cloudevents
    time: datetime | None
    subject: str
    topic: str
    action: str
    resource_id: str | None = None
    changed_by: dict[str, Any] | None = None
    reason: str = ""  # why an event is ignored
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class WebhookDelivery:
    """A parsed webhook POST: either a validation handshake or a list of events, with the events of
    the batch that can never be handled (malformed) as (their index in the body, why)."""

    events: list[ParsedEvent] = field(default_factory=list)
    validation_code: str | None = None
    rejected: list[tuple[int, str]] = field(default_factory=list)


def _loads_maybe(value: Any) -> Any:
    # The 2018-01-01 ARM event schema types claims/authorization/httpRequest as strings,
    # while real deliveries carry objects: accept both.
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _parse_time(value: Any) -> datetime | None:
    return time_or_none(value)  # aware UTC; None for an unreadable time or one UTC cannot hold


def _ci_get(mapping: Mapping[str, Any], *keys: str) -> Any:
    lowered = {str(k).lower(): v for k, v in mapping.items()}
    for key in keys:
        if key.lower() in lowered:
            return lowered[key.lower()]
    return None


def _changed_by(data: Mapping[str, Any]) -> dict[str, Any] | None:
    claims = _loads_maybe(_ci_get(data, "claims")) or {}
    http_request = _loads_maybe(_ci_get(data, "httpRequest")) or {}
    authorization = _loads_maybe(_ci_get(data, "authorization")) or {}
    who: dict[str, Any] = {}
    if isinstance(claims, Mapping):
        upn = _ci_get(claims, *_UPN_CLAIMS)
        if upn:
            who["upn"] = upn
        for key, out in (("name", "name"), ("appid", "app_id"), ("ipaddr", "ip"), (_OID_CLAIM, "object_id")):
            value = _ci_get(claims, key)
            if value:
                who[out] = value
    if isinstance(http_request, Mapping):
        ip = _ci_get(http_request, "clientIpAddress")
        if ip:
            who["ip"] = ip
    if isinstance(authorization, Mapping):
        evidence = _loads_maybe(_ci_get(authorization, "evidence")) or {}
        if isinstance(evidence, Mapping):
            principal_type = _ci_get(evidence, "principalType")
            if principal_type:
                who["principal_type"] = principal_type
            if "object_id" not in who and _ci_get(evidence, "principalId"):
                who["object_id"] = _ci_get(evidence, "principalId")
    if not who:
        return None
    who["display"] = who.get("upn") or who.get("name") or who.get("app_id") or who.get("object_id")
    return who


def _classify(event: ParsedEvent) -> ParsedEvent:
    """Decide what an event asks of amlguard; every ignore carries a reason for the log."""
    etype = event.event_type.lower()
    data = event.data
    if etype in (WRITE_EVENT, DELETE_EVENT):
        resource_id = _ci_get(data, "resourceUri") or event.subject
        operation = _ci_get(data, "operationName") or ""
        event.resource_id = str(resource_id) if resource_id else None
        event.changed_by = _changed_by(data)
        watched_by_op = bool(operation and _OPERATION.match(str(operation)))
        parsed = ArmId.parse(event.resource_id.rstrip("/")) if event.resource_id else None
        if parsed is not None and parsed.kind is None and not watched_by_op:
            event.action = "ignore"  # another resource of the subscription (a storage account, a job)
            event.reason = f"not an Azure ML workspace, endpoint or deployment ({operation or event.subject})"
        elif parsed is None and not watched_by_op and "/microsoft.machinelearningservices/" not in (
                event.resource_id or "").lower():
            event.action = "ignore"
            event.reason = f"not an Azure ML workspace, endpoint or deployment ({operation or event.subject})"
        else:  # about an Azure ML resource: its id must be one, well formed
            event.resource_id = watched_id(event.resource_id).text
            event.action = "delete" if etype == DELETE_EVENT else "audit"
        return event
    if etype == MODEL_DEPLOYED_EVENT:
        service = _ci_get(data, "ServiceName")
        compute = str(_ci_get(data, "ServiceComputeType") or "").strip()
        workspace = event.topic.rstrip("/")
        parsed = ArmId.parse(workspace)
        event.action = "ignore"
        if compute.upper() in _V1_SERVICE_COMPUTE or not compute:
            # azure-facts §3.2: ModelDeployed is v1-era (ServiceComputeType ACI / AKS web services);
            # an online endpoint of that name does not exist, and its own ARM write event audits it
            event.reason = (f"ModelDeployed about {service or 'a service'} with ServiceComputeType "
                            f"{compute or '(none)'}: a v1 web service, not an online endpoint; online endpoints "
                            "are audited from their ARM write events")
        elif service and parsed is not None and parsed.kind == Kind.WORKSPACE.value:
            event.resource_id = watched_id(f"{workspace}/onlineEndpoints/{service}").text
            event.action = "audit"
        else:
            event.reason = "ModelDeployed event without a service name or workspace topic"
        return event
    event.action = "ignore"
    event.reason = f"event type {event.event_type} is not one amlguard acts on"
    return event


def parse_event_dict(raw: Mapping[str, Any]) -> ParsedEvent:
    """One event in either schema. Raises EventParseError when required fields are missing."""
    if not isinstance(raw, Mapping):
        raise EventParseError(f"each event must be a JSON object, got {type(raw).__name__}")
    if len(str(raw.get("id") or "")) > MAX_EVENT_ID_LENGTH:
        raise EventParseError(f"event id is longer than {MAX_EVENT_ID_LENGTH} characters; Event Grid ids are GUIDs")
    if "specversion" in raw:
        missing = [k for k in ("id", "type", "source") if not raw.get(k)]
        if missing:
            raise EventParseError(f"CloudEvent is missing required attribute(s): {', '.join(missing)}")
        data = _loads_maybe(raw.get("data"))
        event = ParsedEvent(
            id=str(raw["id"]),
            event_type=str(raw["type"]),
            schema="cloudevents",
            time=_parse_time(raw.get("time")),
            subject=str(raw.get("subject") or ""),
            topic=str(raw["source"]),
            action="ignore",
            data=dict(data) if isinstance(data, Mapping) else {},
        )
    else:
        missing = [k for k in ("id", "eventType", "subject") if not raw.get(k)]
        if missing:
            raise EventParseError(
                f"Event Grid event is missing required field(s): {', '.join(missing)} "
                "(expected id, eventType, subject, eventTime, data)"
            )
        data = _loads_maybe(raw.get("data"))
        event = ParsedEvent(
            id=str(raw["id"]),
            event_type=str(raw["eventType"]),
            schema="eventgrid",
            time=_parse_time(raw.get("eventTime")),
            subject=str(raw["subject"]),
            topic=str(raw.get("topic") or ""),
            action="ignore",
            data=dict(data) if isinstance(data, Mapping) else {},
        )
    return _classify(event)


def parse_webhook(body: bytes | str, headers: Mapping[str, str] | None = None) -> WebhookDelivery:
    """Parse a webhook POST body: a handshake, one event, a batch, or structured CloudEvents.

    Raises EventParseError (answered with 400) when the body is not JSON or holds no event that can
    be handled. A malformed event beside good ones is listed in `rejected`: the good ones are handled.
    """
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise EventParseError("body is not UTF-8 text; send application/json") from exc
    if not body.strip():
        raise EventParseError("empty body; expected a JSON event or array of events")
    try:
        payload = json.loads(body)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise EventParseError(f"body is not valid JSON ({exc.msg} at {where})") from exc
    except RecursionError:
        raise EventParseError("body is nested too deeply; events are a few levels of JSON objects") from None
    except ValueError as exc:  # an integer of more digits than Python converts
        raise EventParseError(f"body holds a number amlguard will not read ({exc})") from None
    if _SURROGATE_ESCAPE.search(body) and _has_lone_surrogate(payload):
        raise EventParseError("body holds a lone UTF-16 surrogate (\\ud800-\\udfff), which is not text; "
                              "send UTF-8 JSON")
    items = payload if isinstance(payload, list) else [payload]
    if not items:
        raise EventParseError("empty event array")
    delivery = WebhookDelivery()
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            delivery.rejected.append((index, f"a {type(item).__name__}, expected a JSON object"))
            continue
        etype = str(item.get("eventType") or item.get("type") or "").lower()
        if etype == VALIDATION_EVENT:
            data = _loads_maybe(item.get("data")) or {}
            code = data.get("validationCode") if isinstance(data, Mapping) else None
            if not code:
                raise EventParseError("SubscriptionValidationEvent without data.validationCode")
            if not isinstance(code, str) or not _VALIDATION_CODE.fullmatch(code):
                raise EventParseError("data.validationCode is not an Event Grid validation code (a GUID: "
                                      "letters, digits and '-', at most 128)")
            delivery.validation_code = code
            continue
        try:
            delivery.events.append(parse_event_dict(item))
        except EventParseError as exc:
            delivery.rejected.append((index, str(exc)))
    if delivery.rejected and not delivery.events and delivery.validation_code is None:
        raise EventParseError(rejected_text(delivery.rejected))
    return delivery


def rejected_text(rejected: Sequence[tuple[int | str, str]]) -> str:
    """`event N: why` for the first few rejected events of a batch, and how many more there are."""
    shown = "; ".join(f"event {where}: {why}" for where, why in rejected[:3])
    return shown + (f"; and {len(rejected) - 3} more" if len(rejected) > 3 else "")


def _has_lone_surrogate(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _LONE_SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def from_function_event(event: Any) -> ParsedEvent:
    """Convert an `azure.functions.EventGridEvent` or `azure.functions.CloudEvent`."""
    if hasattr(event, "event_type"):  # func.EventGridEvent
        raw: dict[str, Any] = {
            "id": event.id,
            "eventType": event.event_type,
            "subject": event.subject,
            "topic": getattr(event, "topic", "") or "",
            "data": event.get_json(),
        }
        parsed = parse_event_dict(raw)
        parsed.time = _parse_time(event.event_time)  # the binding already parsed it to a datetime
        return parsed
    raw = {
        "specversion": getattr(event, "specversion", "1.0") or "1.0",
        "id": event.id,
        "type": event.type,
        "source": event.source,
        "subject": getattr(event, "subject", None),
        "data": event.get_json(),
    }
    parsed = parse_event_dict(raw)
    parsed.time = _parse_time(getattr(event, "time", None))
    return parsed
