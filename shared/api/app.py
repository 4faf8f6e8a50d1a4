"""The HTTP app: one FastAPI application served by `amlguard serve` and by the Function App.

Routes (DESIGN.md contract 5): POST /api/events, GET|POST /api/audit, GET /api/alerts,
GET /api/health, GET /api/dashboard, plus acknowledgement and silences. Handlers parse the
request, call the service, and map the result; a bad request gets 400 with a reason, never 500.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import threading
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from fastapi import Body, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, Field, field_validator
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from amlguard import __version__
from amlguard.config import Settings
from amlguard.errors import AmlguardError, PolicyError
from amlguard.events import EventParseError, parse_webhook, rejected_text, watched_id
from amlguard.timeparse import time_or_none

if TYPE_CHECKING:
    from amlguard.service import Service

__all__ = ["create_app"]

log = logging.getLogger("amlguard.api")

_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")
# What Event Grid sends as WebHook-Request-Origin: a host name (eventgrid.azure.net).
_ORIGIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")

_FORMAT_MEDIA = {
    "json": "application/json",
    "sarif": "application/sarif+json",
    "junit": "application/xml",
    "table": "text/plain; charset=utf-8",
    "html": "text/html; charset=utf-8",
}


class BodyLimit:
    """Refuse request bodies over `limit` bytes with 413, with a Content-Length or chunked: the body
    is read (up to the limit) before the app sees it, so the app never meets a half-read body."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_big = {"error": f"request body over {self.limit} bytes; send at most {self.limit} bytes "
                            "(Event Grid: lower preferredBatchSizeInKilobytes)"}
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await _send_json(send, 400, {"error": "Content-Length is not a number"})
                    return
                if declared > self.limit:
                    await _send_json(send, 413, too_big)
                    return
        parts: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: let the app see it
                await self.app(scope, _replay([message]), send)
                return
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > self.limit:
                await _send_json(send, 413, too_big)
                return
            parts.append(chunk)
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay([{"type": "http.request", "body": b"".join(parts), "more_body": False}],
                                      receive), send)


def _replay(messages: list[Message], then: Receive | None = None) -> Receive:
    """A receive() that gives `messages`, then defers to `then` (a disconnect) or waits forever."""
    pending = list(messages)

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        if then is not None:
            return await then()
        return {"type": "http.disconnect"}

    return receive


async def _send_json(send: Send, status: int, payload: dict[str, Any]) -> None:
    body = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class _Body(BaseModel):
    """A JSON request body whose strings are text: a lone UTF-16 surrogate (`\\ud800`) is refused."""

    @field_validator("*")
    @classmethod
    def _text_only(cls, value: Any) -> Any:
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str) and _LONE_SURROGATE.search(item):
                raise ValueError("holds a lone UTF-16 surrogate (\\ud800-\\udfff), which is not text")
        return value


class AuditRequest(_Body):
    """Body of POST /api/audit: one resource, or a scope (all fields optional)."""

    resource: str | None = Field(default=None, description="ARM id of one resource to audit")
    subscription: str | None = None
    resource_group: str | None = None
    workspace: str | None = None


class AckRequest(_Body):
    by: str = Field(min_length=1, max_length=256, description="who acknowledges")
    comment: str | None = Field(default=None, max_length=2000)


class SilenceRequest(_Body):
    matchers: list[str] = Field(min_length=1, description='label matchers, e.g. rule="AMLG-NET-001"')
    ends_at: str = Field(description="ISO-8601 expiry (required: silences must expire)")
    created_by: str = Field(min_length=1, max_length=256)
    comment: str = Field(min_length=1, max_length=2000)
    starts_at: str | None = None


def create_app(settings: Settings, *, service: Service | None = None,
               service_factory: Callable[[], Service] | None = None, require_auth: bool = True,
               deliver_due: Callable[[], None] | None = None) -> FastAPI:
    """Build the app over the settings the edge read (`amlguard serve`, the Function App runtime).
    The service is created on first use so that /api/health stays cheap.

    `require_auth=False` is for the Function App when the host's function keys already guard
    every route but health; locally `amlguard serve` always passes the bearer token.
    `deliver_due` runs after `/api/events` changed an alert: the Function App has no loop for the
    alert manager to wake, so the request delivers what it made due (as the Event Grid trigger
    does); `amlguard serve`'s timer thread is woken instead, and the request does not wait for it.
    """
    token = settings.api_token
    state: dict[str, Service | None] = {"service": service}
    lock = threading.RLock()

    def get_service() -> Service:
        with lock:
            current = state["service"]
            if current is None:
                if service_factory is not None:
                    current = service_factory()
                else:
                    from amlguard.service import Service

                    current = Service.from_settings(settings)
                state["service"] = current
            return current

    app = FastAPI(
        title="amlguard",
        version=__version__,
        description="Policy-as-code governance and SLO / drift monitoring for Azure ML endpoints.",
    )
    app.state.get_service = get_service

    def authorized(request: Request, *, allow_code: bool = False) -> bool:
        if not require_auth:
            return True
        if not token:
            return False
        header = request.headers.get("authorization", "")
        presented = header[7:].strip() if header[:7].lower() == "bearer " else ""
        if presented and hmac.compare_digest(presented.encode(), token.encode()):
            return True
        code = request.query_params.get("code")
        return bool(allow_code and code and hmac.compare_digest(code.encode(), token.encode()))

    @app.middleware("http")
    async def guard(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        path = request.url.path.rstrip("/")
        public = path == "/api/health" or (path in ("/docs", "/openapi.json") and not require_auth)
        if path == "/api/events" and request.method in ("OPTIONS", "POST"):
            public = True  # handshakes are answered in the handler; events are checked there
        if not public and not authorized(request):
            return JSONResponse({"error": "missing or wrong bearer token (Authorization: Bearer <token>)"},
                                status_code=401, headers={"WWW-Authenticate": "Bearer"})
        try:
            return await call_next(request)
        except Exception:  # never leak a traceback; the log has it
            log.exception("unhandled error on %s %s", request.method, path)
            return JSONResponse({"error": "internal error; see the amlguard log"}, status_code=500)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own answer echoes the input, which may not be encodable (a lone surrogate)
        errors = [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
                  for e in exc.errors()]
        return JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(AmlguardError)
    async def amlguard_error(_: Request, exc: AmlguardError) -> JSONResponse:
        status = 422 if isinstance(exc, PolicyError) else 400
        return JSONResponse({"error": str(exc)}, status_code=status)

    @app.get("/api/health", tags=["ops"])
    def health() -> dict[str, Any]:
        """Liveness: no auth, no I/O beyond what is already loaded."""
        current = state["service"]
        body: dict[str, Any] = {"status": "ok", "version": __version__}
        if current is not None:
            error = current.packs.last_error
            body["policies"] = {"valid": error is None, **({"error": error.render()} if error else {})}
            monitor = current.monitor_rules_error  # the last good monitor rules run meanwhile
            body["monitor_rules"] = {"valid": monitor is None, **({"error": monitor} if monitor else {})}
        return body

    @app.options("/api/events", tags=["events"])
    def events_options(request: Request) -> Response:
        """CloudEvents webhook abuse-protection handshake."""
        origin = request.headers.get("webhook-request-origin") or ""
        if not _ORIGIN.fullmatch(origin):
            return JSONResponse({"error": "WebHook-Request-Origin must be the host name of the sender "
                                          "(eventgrid.azure.net), at most 253 characters"}, status_code=400)
        return Response(status_code=200, headers={
            "WebHook-Allowed-Origin": origin, "WebHook-Allowed-Rate": "*", "Allow": "POST, OPTIONS"})

    @app.post("/api/events", tags=["events"])
    async def events(request: Request) -> JSONResponse:
        """Event Grid / CloudEvents deliveries; answers the subscription validation handshake."""
        body = await request.body()
        try:
            delivery = parse_webhook(body, request.headers)
        except EventParseError as exc:
            log.warning("rejected event delivery: %s", exc)
            return JSONResponse({"error": str(exc)}, status_code=400)
        if delivery.validation_code is not None and not delivery.events:
            if delivery.rejected:  # Event Grid sends the handshake alone; anything beside it is said, not handled
                log.warning("subscription validation answered; refused beside it: %s", rejected_text(delivery.rejected))
                return JSONResponse({"validationResponse": delivery.validation_code,
                                     "rejected": [{"event": i, "reason": why} for i, why in delivery.rejected]})
            return JSONResponse({"validationResponse": delivery.validation_code})
        if not authorized(request, allow_code=True):
            return JSONResponse({"error": "missing or wrong token (Authorization: Bearer <token> or ?code=)"},
                                status_code=401)
        cap = settings.max_events_per_request
        if len(delivery.events) > cap:
            return JSONResponse({"error": f"{len(delivery.events)} events in one request; at most {cap} are "
                                          f"accepted: set the Event Grid subscription's maxEventsPerBatch to {cap} "
                                          "or less (or raise AMLGUARD_MAX_EVENTS_PER_REQUEST)"}, status_code=413)
        service_obj = get_service()
        # Events that can never be handled (malformed, outside the configured scope) are refused;
        # the others in the batch are handled all the same. A batch with any refused is answered 400,
        # which Event Grid does not retry but dead-letters whole: the refused events are kept there,
        # and the handled ones, delivered again from it, are duplicates.
        rejected: list[tuple[int | str, str]] = list(delivery.rejected)
        handled = []
        for event in delivery.events:
            outside = None if event.action == "ignore" or event.resource_id is None else \
                service_obj.outside_scope(event.resource_id)
            if outside is not None:
                rejected.append((event.id, outside))
            else:
                handled.append(event)
        if rejected and not handled:
            log.warning("rejected event delivery: %s", rejected_text(rejected))
            return JSONResponse({"error": rejected_text(rejected)}, status_code=400)
        outcomes = []
        changed = False
        for event in handled:
            outcome = await run_in_threadpool(service_obj.handle_event, event)
            log.info("event %s %s: %s %s", event.id, event.event_type, outcome.outcome, outcome.reason,
                     extra={"event_id": event.id, "outcome": outcome.outcome, "resource": outcome.resource})
            outcomes.append(outcome.to_json())
            changed = changed or bool(outcome.transitions)
        if changed and deliver_due is not None:  # a notice due now leaves with this request, not at a timer
            await run_in_threadpool(deliver_due)
        response: dict[str, Any] = {"events": outcomes}
        if delivery.validation_code is not None:
            response["validationResponse"] = delivery.validation_code
        if rejected:
            log.warning("event delivery: %d of %d events refused, the others handled: %s", len(rejected),
                        len(rejected) + len(handled), rejected_text(rejected))
            response["error"] = f"{len(rejected)} event(s) refused, the other {len(handled)} handled: " \
                                f"{rejected_text(rejected)}"
            response["rejected"] = [{"event": where, "reason": why} for where, why in rejected]
            return JSONResponse(response, status_code=400)
        return JSONResponse(response)

    def _audit(fmt: str, req: AuditRequest) -> Response:
        if fmt not in _FORMAT_MEDIA:
            raise HTTPException(400, f"unknown format {fmt!r}; use one of {', '.join(_FORMAT_MEDIA)}")
        from amlguard.inventory.base import Scope
        from amlguard.reports import render

        service_obj = get_service()
        if req.resource is not None:
            try:
                resource = watched_id(req.resource).text
            except EventParseError as exc:
                raise HTTPException(400, f"resource: {exc}") from exc
            outside = service_obj.outside_scope(resource)
            if outside is not None:
                raise HTTPException(404, outside)
            report, _ = service_obj.audit(resource)
        else:
            scope = None
            if req.subscription or req.resource_group or req.workspace:
                scope = Scope(subscriptions=(req.subscription,) if req.subscription else (),
                              resource_group=req.resource_group, workspace=req.workspace)
            report = service_obj.sweep(scope)
        service_obj.tick()
        return Response(render(report, fmt, color=False), media_type=_FORMAT_MEDIA[fmt])

    @app.get("/api/audit", tags=["audit"])
    def audit_get(format: str = Query("json", description="json | sarif | junit | table | html"),
                  resource: str | None = None, subscription: str | None = None,
                  resource_group: str | None = None, workspace: str | None = None) -> Response:
        """Audit on demand: one resource (`resource=`) or everything in scope."""
        return _audit(format, AuditRequest(resource=resource, subscription=subscription,
                                           resource_group=resource_group, workspace=workspace))

    @app.post("/api/audit", tags=["audit"])
    def audit_post(req: AuditRequest = Body(default_factory=AuditRequest),  # noqa: B008
                   format: str = Query("json")) -> Response:
        """Audit on demand with the scope in the body."""
        return _audit(format, req)

    @app.get("/api/alerts", tags=["alerts"])
    def alerts(status: str | None = Query(None, pattern="^(pending|firing|resolved)$"),
               include_resolved: bool = True) -> dict[str, Any]:
        """Current alert states (contract 5 shape), with silences, inhibition and acks."""
        service_obj = get_service()
        items = service_obj.alerts.list_alerts(status=status, include_resolved=include_resolved)
        return {"alerts": items}

    @app.get("/api/alerts/{fingerprint}", tags=["alerts"])
    def alert_detail(fingerprint: str) -> dict[str, Any]:
        service_obj = get_service()
        alert = service_obj.alerts.get_alert(fingerprint)
        if alert is None:
            raise HTTPException(404, f"no alert with fingerprint {fingerprint}")
        return {"alert": alert, "history": service_obj.alerts.history(fingerprint)}

    @app.post("/api/alerts/{fingerprint}/ack", tags=["alerts"])
    def acknowledge(fingerprint: str, req: AckRequest) -> dict[str, Any]:
        service_obj = get_service()
        if service_obj.alerts.get_alert(fingerprint) is None:
            raise HTTPException(404, f"no alert with fingerprint {fingerprint}")
        service_obj.alerts.acknowledge(fingerprint, req.by, req.comment)
        return {"alert": service_obj.alerts.get_alert(fingerprint)}

    @app.get("/api/silences", tags=["alerts"])
    def silences() -> dict[str, Any]:
        service_obj = get_service()
        return {"silences": service_obj.alerts.list_silences()}

    @app.post("/api/silences", tags=["alerts"], status_code=201)
    def add_silence(req: SilenceRequest) -> dict[str, Any]:
        ends_at = time_or_none(req.ends_at)
        starts_at = time_or_none(req.starts_at) if req.starts_at else None
        if ends_at is None or (req.starts_at and starts_at is None):
            raise HTTPException(400, "ends_at / starts_at must be ISO-8601 times, e.g. 2026-12-01T00:00:00Z")
        service_obj = get_service()
        try:
            silence_id = service_obj.alerts.add_silence(req.matchers, ends_at=ends_at,
                                                        created_by=req.created_by, comment=req.comment,
                                                        starts_at=starts_at)
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from exc
        return {"id": silence_id}

    @app.delete("/api/silences/{silence_id}", tags=["alerts"])
    def expire_silence(silence_id: str) -> dict[str, Any]:
        service_obj = get_service()
        try:
            service_obj.alerts.expire_silence(silence_id)
        except (KeyError, ValueError) as exc:  # SilenceError is a ValueError naming the fix
            raise HTTPException(404, str(exc)) from exc
        return {"id": silence_id, "expired": True}

    @app.get("/api/dashboard", tags=["dashboard"], response_class=HTMLResponse)
    def dashboard() -> HTMLResponse:
        """Compliance dashboard (HTML)."""
        from amlguard.reports.dashboard import render_dashboard

        service_obj = get_service()
        return HTMLResponse(render_dashboard(service_obj))

    @app.get("/", include_in_schema=False)
    def root() -> PlainTextResponse:
        return PlainTextResponse("amlguard: see /api/health, /api/audit, /api/alerts, /api/dashboard\n")

    return app


def with_body_limit(app: FastAPI, limit: int) -> ASGIApp:
    return BodyLimit(app, limit)
