"""Loopback stand-ins for alert receivers: a Teams Workflows webhook, a Slack incoming webhook, a
generic signed-webhook receiver that verifies the HMAC like a real one would, an Event Grid custom
topic (POST /api/events?api-version=2018-01-01, CloudEvents batch) and Application Insights
ingestion (POST /v2.1/track). Each records what arrived; faults come from StandinServer.inject.
"""

from __future__ import annotations

import gzip
import json
import re
import threading
from dataclasses import dataclass
from typing import Any

from amlguard.alerts.notifiers.webhook import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, verify_signature
from tests.standins.base import Request, Response, StandinServer

__all__ = ["Delivery", "ReceiverStandin"]


@dataclass(slots=True)
class Delivery:
    """One request a receiver accepted (or rejected, with the status it answered)."""

    kind: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    status: int

    def json(self) -> Any:
        return json.loads(self.body)


class ReceiverStandin(StandinServer):
    """All alert receivers on one HTTPS loopback server with a throwaway CA (`ca_file`)."""

    def __init__(self, *, webhook_secret: str = "s3cret-for-tests", eventgrid_key: str = "eg-key",
                 tolerance: float = 300) -> None:
        super().__init__(secret_guard=False)
        self.webhook_secret = webhook_secret
        self.eventgrid_key = eventgrid_key
        self.tolerance = tolerance
        self.deliveries: list[Delivery] = []
        self.seen_keys: set[str] = set()
        self._record_lock = threading.Lock()
        self.add_route("POST", r"/teams/.*", self._teams)
        self.add_route("POST", r"/slack/.*", self._slack)
        self.add_route("POST", r"/webhook", self._webhook)
        self.add_route("POST", r"/api/events", self._eventgrid)
        self.add_route("POST", r"/v2\.1/track", self._track)

    def received(self, kind: str) -> list[Delivery]:
        """Deliveries of one kind (teams, slack, webhook, eventgrid, track) in arrival order."""
        with self._record_lock:
            return [d for d in self.deliveries if d.kind == kind]

    def _record(self, kind: str, request: Request, status: int, body: bytes | None = None) -> None:
        with self._record_lock:
            self.deliveries.append(Delivery(kind, request.path, request.query, request.headers,
                                            request.body if body is None else body, status))

    def _teams(self, request: Request, _m: re.Match[str]) -> Response:
        # Workflows answer 202 Accepted; they reject anything that is not an Adaptive Card message.
        body = request.json()
        ok = (body.get("type") == "message" and body.get("attachments")
              and body["attachments"][0].get("contentType") == "application/vnd.microsoft.card.adaptive")
        status = 202 if ok else 400
        self._record("teams", request, status)
        return Response(status, None if ok else {"error": "not an adaptive card message"})

    def _slack(self, request: Request, _m: re.Match[str]) -> Response:
        body = request.json()
        ok = isinstance(body.get("blocks"), list) and bool(body.get("text"))
        status = 200 if ok else 400
        self._record("slack", request, status)
        return Response(status, "ok" if ok else "invalid_blocks", {"Content-Type": "text/plain"})

    def _webhook(self, request: Request, _m: re.Match[str]) -> Response:
        signature = request.headers.get(SIGNATURE_HEADER.lower())
        if not verify_signature(self.webhook_secret, signature, request.body, self.tolerance):
            self._record("webhook", request, 401)
            return Response(401, {"error": "bad signature"})
        key = request.headers.get(IDEMPOTENCY_HEADER.lower(), "")
        duplicate = key in self.seen_keys
        self.seen_keys.add(key)
        self._record("webhook", request, 200)
        return Response(200, {"duplicate": duplicate})

    def _eventgrid(self, request: Request, _m: re.Match[str]) -> Response:
        auth_ok = (request.headers.get("aeg-sas-key") == self.eventgrid_key
                   or request.headers.get("authorization", "").startswith("Bearer "))
        if not auth_ok:
            self._record("eventgrid", request, 401)
            return Response(401, {"error": {"code": "Unauthorized", "message": "bad key"}})
        if request.query.get("api-version") != "2018-01-01" or not request.headers.get(
                "content-type", "").startswith("application/cloudevents-batch+json"):
            self._record("eventgrid", request, 400)
            return Response(400, {"error": {"code": "BadRequest", "message": "wrong api-version or type"}})
        self._record("eventgrid", request, 200)
        return Response(200, None)

    def _track(self, request: Request, _m: re.Match[str]) -> Response:
        body = request.body
        if request.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        items = json.loads(body)
        self._record("track", request, 200, body)
        return Response(200, {"itemsReceived": len(items), "itemsAccepted": len(items), "errors": []})


ENDPOINT_ID = ("/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-ml/providers/"
               "Microsoft.MachineLearningServices/workspaces/ws-prod/onlineEndpoints/fraud-scorer")


def sample_alert(status: str = "firing", *, rule: str = "AMLG-NET-001", severity: str = "high",
                 resource: str = ENDPOINT_ID, **labels: str) -> Any:
    """An alert as the lifecycle would hand it to a receiver."""
    from datetime import UTC, datetime

    from amlguard.alerts.types import Alert, fingerprint

    ident = {"rule": rule, "resource": resource}
    return Alert(
        fingerprint=fingerprint(ident), rule=rule, resource=resource, status=status, severity=severity,
        since=datetime(2026, 11, 26, 12, 0, tzinfo=UTC),
        labels={**ident, "severity": severity, "workspace": "ws-prod", "resource_name": "fraud-scorer",
                "tag_team": "risk", **labels},
        annotations={"title": "Managed online endpoint allows public network access",
                     "message": "public_network_access is enabled; the endpoint is reachable from the internet",
                     "remediation": "Set public_network_access: disabled and use a private endpoint.",
                     "runbook_url": "https://example.invalid/runbooks/AMLG-NET-001"},
        active_since=datetime(2026, 11, 26, 11, 58, tzinfo=UTC),
        resolved_at=datetime(2026, 11, 26, 12, 30, tzinfo=UTC) if status == "resolved" else None,
        changed_by={"name": "Alice Example", "upn": "alice@contoso.com"},
    )


def sample_notification(*alerts: Any, receiver: str = "teams", reason: str = "first",
                        key: str = "idem-0001") -> Any:
    """A notification about `alerts` (one firing alert by default)."""
    from datetime import UTC, datetime

    from amlguard.alerts.types import Notification

    items = list(alerts) or [sample_alert()]
    firing = any(a.status != "resolved" for a in items)
    return Notification(id=f"n-{key}", receiver=receiver, group_key='{}:{rule="AMLG-NET-001"}',
                        group_labels={"rule": items[0].rule, "workspace": "ws-prod"}, reason=reason,
                        status="firing" if firing else "resolved", alerts=items,
                        created_at=datetime(2026, 11, 26, 12, 1, tzinfo=UTC), idempotency_key=key)
