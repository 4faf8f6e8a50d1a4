"""Event Grid trigger: audit exactly the resource an ARM or Azure ML event is about."""

from __future__ import annotations

import logging

import azure.functions as func

from functions.runtime import deliver_due, service

bp = func.Blueprint()  # type: ignore[no-untyped-call]  # azure-functions ships no annotations here
log = logging.getLogger("amlguard.functions.events")


@bp.function_name("on_resource_event")
@bp.event_grid_trigger(arg_name="event")
def on_resource_event(event: func.EventGridEvent) -> None:
    """The runtime answers the validation handshake and calls this once per event."""
    from amlguard.events import EventParseError, from_function_event

    try:
        parsed = from_function_event(event)
    except EventParseError as exc:  # retrying a malformed event can never succeed
        log.error("dropping malformed event %s: %s", getattr(event, "id", "?"), exc)
        return
    svc = service()
    outcome = svc.handle_event(parsed)  # alert state is updated before this returns
    if outcome.transitions:  # a notice due now (group_wait 0) leaves with this invocation, not at a timer
        deliver_due()  # and a later one (group_wait, a retry) at its time, through the wake queue
    log.info("event %s: %s %s", parsed.id, outcome.outcome, outcome.reason,
             extra={"event_id": parsed.id, "outcome": outcome.outcome, "resource": outcome.resource})
